"""Run untrusted Python in a fresh, isolated, wall-clock-limited process.

What it does. One zygote per process (``_sandbox_runner.py``, started lazily,
pre-imports nothing heavy) lives in its own user, mount, network, IPC and UTS
namespaces, chrooted into a read-only tmpfs root that holds only the Python
prefix and the shared libraries. Each ``run()`` asks it to fork a new process
tree in a fresh PID namespace with a private 64 MB tmpfs as /tmp: the user's
code runs as an unprivileged uid in its own session, with rlimits (CPU, address
space, processes, file size, open files, no core), a scrubbed environment,
stdin from /dev/null and stdout/stderr captured at the fd level up to a byte
cap. The test harness runs in a second process under another uid, calls the
user's functions over a socket with plain values only, and writes per-test
records carrying a per-run nonce to a pipe the user's process never holds.
This module reads those records; ``verifiers.program`` turns them into a
verdict. The parent kills the run's PID 1 through a pidfd when the wall clock
runs out, which kills every process in the namespace, daemons included.

Isolation levels (``isolation_level()``, logged once at start):
- ``namespaces``: as above, when the process is root (user code as a mapped,
  unprivileged uid; the harness as another).
- ``namespaces-single-uid``: an unprivileged host with user namespaces; user
  code and harness share one uid, the harness is not dumpable (no ptrace, no
  /proc/pid/mem), so the user's code can at worst kill it, which fails the run.
- ``none`` (fallback, logged as a warning): no namespaces (e.g. a container
  whose seccomp profile blocks ``unshare``). Rlimits, a fresh session, a
  scrubbed environment and a per-run temp dir only: the host file system is
  readable and writable wherever the uid may, the network is reachable, and a
  daemon that calls setsid escapes the kill until its CPU limit. Force it with
  ``RLDISTILL_SANDBOX=none`` (and the middle level with
  ``RLDISTILL_SANDBOX=namespaces-single-uid``, e.g. to test it as root).

Not covered at any level: kernel exploits and side channels; denial of service
through the shared CPU (runs are limited in time, not in share); reading world-
readable files of the Python installation and shared libraries (they are bound
read-only so that Python works); the user's code seeing its own inputs.

Run ``python -m verifiers.sandbox`` to print the active level.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("rldistill.sandbox")

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_runner.py")
ZYGOTE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp"}
LIB_DIRS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32", "/lib", "/lib64", "/lib32", "/libx32")
KILL_GRACE = 2.0  # seconds to wait for a killed namespace's pipes to close


@dataclass(frozen=True)
class Limits:
    """Per-run limits. ``timeout`` is wall-clock seconds for the whole run (load + all tests)."""

    timeout: float = 10.0
    mem_mb: int = 1024
    nproc: int = 32
    fsize_mb: int = 16
    tmpfs_mb: int = 64
    out_cap: int = 64 << 10  # bytes kept of the user's stdout / stderr (and of each stdio case)
    records_cap: int = 32 << 20


@dataclass
class RunResult:
    records: list = field(default_factory=list)  # harness records with the right nonce, in order
    done: bool = False  # the harness wrote its closing record
    timed_out: bool = False
    elapsed: float = 0.0
    stdout: bytes = b""
    stderr: bytes = b""
    level: str = ""
    error: str = ""  # a failure of the sandbox itself (never of the user's code)


def _binds() -> list:
    """What the read-only root needs: the Python installation and the shared libraries."""
    cands = list(LIB_DIRS) + [sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix]
    out, dirs = [], []
    for p in sorted({os.path.abspath(c) for c in cands if c}, key=len):
        if not os.path.lexists(p) or p == "/" or p.startswith("/tmp/") or p.startswith("/proc"):
            continue
        if os.path.islink(p):
            out.append(["link", p, os.readlink(p)])
        elif os.path.isdir(p) and not any(p.startswith(d + "/") for d in dirs):
            dirs.append(p)
            out.append(["bind", p, None])
    return out


def _site_dirs() -> list:
    import site

    dirs = site.getsitepackages() + [site.getusersitepackages()]
    return [d for d in dirs if os.path.isdir(d) and not d.startswith("/tmp/")]


class Zygote:
    """The per-process fork server. ``send`` is thread-safe; the zygote never blocks on a run."""

    def __init__(self, level: str):
        self.owner = os.getpid()
        self.uids = (65534, 65533) if level == "none" and os.geteuid() == 0 else ()
        self.lock = threading.Lock()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        python = os.path.realpath(sys.executable)
        self.proc = subprocess.Popen(
            [python, "-I", "-S", "-B", RUNNER, str(child.fileno()), level],
            pass_fds=[child.fileno()], env=ZYGOTE_ENV, cwd="/", stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        child.close()
        self.sock = parent
        self.sock.settimeout(30)
        try:
            self.level = self._handshake(level)
        except BaseException:
            self.close()
            raise
        finally:
            self.proc.stderr.close()
        self.sock.settimeout(None)

    def _recv(self):
        data = self.sock.recv(1 << 16)
        if not data:
            err = self.proc.stderr.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"sandbox zygote exited during start-up: {err}")
        return json.loads(data)

    def _handshake(self, level):
        self.sock.send(json.dumps({"binds": _binds(), "site": _site_dirs()}).encode())
        if level != "none":
            msg = self._recv()
            if "error" in msg:
                raise RuntimeError(msg["error"])
            pid = int(msg["unshared"])
            if os.geteuid() == 0 and level != "namespaces-single-uid":
                # User code and harness get their own host uids, unique to this process, so
                # their RLIMIT_NPROC counts are theirs and no host file is owned by them.
                base = 2_000_000_000 + (os.getpid() % 10_000_000) * 2
                self.uids = (base, base + 1)
                for kind in ("uid_map", "gid_map"):
                    with open(f"/proc/{pid}/{kind}", "w") as f:
                        f.write(f"0 0 1\n1000 {base} 1\n1001 {base + 1} 1\n")
                self.sock.send(b'{"mapped": true}')
            else:
                self.sock.send(json.dumps({"self_map": True, "uid": os.geteuid(), "gid": os.getegid()}).encode())
        msg = self._recv()
        if "error" in msg:
            raise RuntimeError(msg["error"])
        return msg["ready"]

    def alive(self) -> bool:
        return self.proc.poll() is None and os.getpid() == self.owner

    def send(self, req: dict, fds: list) -> None:
        with self.lock:
            socket.send_fds(self.sock, [json.dumps(req).encode()], fds)

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()


_ZYGOTE: Zygote | None = None
_ZLOCK = threading.Lock()
_LOGGED = set()


def _reset_after_fork():
    global _ZYGOTE, _ZLOCK
    _ZYGOTE, _ZLOCK = None, threading.Lock()  # a forked child starts its own zygote


os.register_at_fork(after_in_child=_reset_after_fork)


def _zygote() -> Zygote:
    global _ZYGOTE
    with _ZLOCK:
        if _ZYGOTE is not None and _ZYGOTE.alive():
            return _ZYGOTE
        if _ZYGOTE is not None and os.getpid() == _ZYGOTE.owner:
            _ZYGOTE.close()
        wanted = os.environ.get("RLDISTILL_SANDBOX", "namespaces")
        try:
            _ZYGOTE = Zygote(wanted if wanted in ("none", "namespaces-single-uid") else "namespaces")
        except Exception as e:  # noqa: BLE001 - fall back, loudly
            if wanted == "none":
                raise
            if "fallback" not in _LOGGED:
                _LOGGED.add("fallback")
                log.warning("sandbox: namespaces unavailable (%s); falling back to rlimits only. "
                            "Untrusted code can read host files and reach the network.", e)
            _ZYGOTE = Zygote("none")
        if _ZYGOTE.level not in _LOGGED:
            _LOGGED.add(_ZYGOTE.level)
            log.info("sandbox isolation level: %s", _ZYGOTE.level)
        return _ZYGOTE


def isolation_level() -> str:
    """The level the sandbox runs at on this host (starts the zygote if needed)."""
    return _zygote().level


def sandbox_uids() -> tuple:
    """Host uids that the user's code and the harness run as (empty where they share the caller's)."""
    return _zygote().uids


def shutdown() -> None:
    """Stop this process's zygote (runs in flight end under their own backstop)."""
    global _ZYGOTE
    with _ZLOCK:
        if _ZYGOTE is not None and os.getpid() == _ZYGOTE.owner:
            _ZYGOTE.close()
        _ZYGOTE = None


def run(code: str, spec: dict, *, mode: str = "function", setup: str = "", limits: Limits = Limits()) -> RunResult:
    """Run ``code`` against ``spec`` (tests or stdin inputs, read only by the harness).

    ``spec`` for ``mode="function"``: ``{"kind": "asserts"|"check", "tests": [src, ...],
    "prelude": src, "entry_point": name, "expected": n}``; for ``mode="stdio"``:
    ``{"inputs": [str, ...]}``. ``setup`` runs in the user's process after ``code``.
    """
    t0 = time.monotonic()
    z = _zygote()
    workdir = None
    if z.level == "none":
        workdir = tempfile.mkdtemp(prefix="rldistill-sbx-")
        os.chmod(workdir, 0o777)
    req = {
        "code": code, "setup": setup, "mode": mode, "timeout": limits.timeout,
        "cpu": max(1, int(limits.timeout + 0.999)), "mem_mb": limits.mem_mb, "nproc": limits.nproc,
        "fsize_mb": limits.fsize_mb, "tmpfs_mb": limits.tmpfs_mb, "out_cap": limits.out_cap, "workdir": workdir,
    }
    nonce = secrets.token_hex(16)
    spec_bytes = json.dumps(dict(spec, nonce=nonce)).encode()
    pipes = [os.pipe() for _ in range(4)]  # stdout, stderr, records, spec
    (out_r, out_w), (err_r, err_w), (res_r, res_w), (spec_r, spec_w) = pipes
    try:
        try:
            z.send(req, [out_w, err_w, res_w, spec_r])
        except OSError:
            z = _zygote()  # it died since the check: one retry on a fresh one
            z.send(req, [out_w, err_w, res_w, spec_r])
    except Exception as e:  # noqa: BLE001
        for r, w in pipes:
            os.close(r)
            os.close(w)
        return RunResult(error=f"sandbox: {e}", level=z.level, elapsed=time.monotonic() - t0)
    for fd in (out_w, err_w, res_w, spec_r):
        os.close(fd)
    result = RunResult(level=z.level)
    try:
        _pump(result, out_r, err_r, res_r, spec_w, spec_bytes, t0 + limits.timeout, limits, nonce, z)
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    result.elapsed = time.monotonic() - t0
    return result


def _kill(pid, pidfd, level):
    if pidfd is not None:
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if level == "none" and pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _pump(result, out_r, err_r, res_r, spec_w, spec, deadline, limits, nonce, z):
    """Feed the spec, drain the three pipes with caps, kill at the deadline."""
    sel = selectors.DefaultSelector()
    bufs = {out_r: bytearray(), err_r: bytearray(), res_r: bytearray()}
    caps = {out_r: limits.out_cap, err_r: limits.out_cap, res_r: limits.records_cap}
    for fd in bufs:
        sel.register(fd, selectors.EVENT_READ)
    os.set_blocking(spec_w, False)
    sel.register(spec_w, selectors.EVENT_WRITE)
    pid = pidfd = None
    killed_at = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if killed_at is None and now >= deadline:
                result.timed_out = True
                killed_at = now
                if pid is None:  # no run started: the zygote itself is stuck
                    z.proc.kill()
                _kill(pid, pidfd, z.level)
            if killed_at is not None and now > killed_at + KILL_GRACE:
                result.error = result.error or "pipes still open after kill"
                break
            wait = (deadline if killed_at is None else killed_at + KILL_GRACE) - now
            for key, _ in sel.select(timeout=max(0.0, wait)):
                fd = key.fd
                if fd == spec_w:
                    try:
                        spec = spec[os.write(spec_w, spec[: 1 << 16]):]
                    except OSError:  # the harness is gone
                        spec = b""
                    if not spec:
                        sel.unregister(spec_w)
                        os.close(spec_w)
                        spec_w = None
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    sel.unregister(fd)
                    continue
                buf = bufs[fd]
                if len(buf) < caps[fd]:
                    buf += chunk[: caps[fd] - len(buf)]
                if fd == res_r and pid is None and b"\n" in buf:
                    pid = json.loads(bytes(buf[: buf.index(b"\n")]))["pid"]
                    try:
                        pidfd = os.pidfd_open(pid)
                    except ProcessLookupError:
                        pidfd = None  # already finished
    finally:
        sel.close()
        for fd in (out_r, err_r, res_r, spec_w):
            if fd is not None:
                os.close(fd)
        if pidfd is not None:
            os.close(pidfd)
    result.stdout, result.stderr = bytes(bufs[out_r]), bytes(bufs[err_r])
    _parse_records(result, bytes(bufs[res_r]), nonce)


def _parse_records(result, raw, nonce):
    lines = raw.split(b"\n")
    for line in lines[1:]:  # the first is the zygote's pid line
        if not line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            result.error = "malformed record"
            return
        if type(rec) is not dict or rec.get("nonce") != nonce:
            result.error = "record with a wrong nonce"
            return
        if rec.get("done") is True:
            result.done = True
            return
        result.records.append(rec)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(isolation_level())
