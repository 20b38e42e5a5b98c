"""Run untrusted Python in a fresh, isolated, wall-clock-limited process.

What it does. One zygote per process (``_sandbox_runner.py``, started lazily,
pre-imports the standard-library modules solutions use most) lives in its own
user, mount, network, IPC and UTS namespaces, chrooted into a read-only tmpfs
root that holds only the Python prefix and the shared libraries. It starts
slots; this module keeps a pool of them (one per concurrent run, plus a spare)
and hands each ``run()`` an idle one. A slot is a PID namespace with a private
tmpfs as /tmp (64 MB by default) whose PID 1 forks one fresh process per run,
ahead of time, plus a harness process outside that namespace. The run's
process gets the code straight from this module: it runs as an unprivileged
uid in its own session, with rlimits (CPU, address space, processes, file
size, open files, no core), a scrubbed environment, stdin from /dev/null and
stdout/stderr captured at the fd level up to a byte cap. The harness, under
another uid, calls the user's functions over a socket with plain values only,
and writes per-test records carrying a per-run nonce to a pipe the user's
process never holds. This module reads those records; ``verifiers.program``
turns them into a verdict.

Lifecycle. When the harness has written its records, the slot's PID 1 kills
every other process in its namespace (daemonised grandchildren included),
reaps them, wipes /tmp if the run wrote there, and forks the next run's
process; only then does the slot count as ready again, so nothing of one run
meets the next. When the wall clock runs out first, this module kills the
slot's PID 1 and harness through pidfds, which kills every process in the
namespace, and drops the slot. A slot is also dropped after any sandbox error
and after ``SLOT_RUNS`` runs.

Isolation levels (``isolation_level()``, logged once at start):
- ``namespaces``: as above, when the process is root (user code as a mapped,
  unprivileged uid; the harness as another).
- ``namespaces-single-uid``: an unprivileged host with user namespaces; user
  code and harness share one uid. The harness is not dumpable and lives
  outside the run's PID namespace, so the user's code cannot name it.
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
Tests run in the harness with a fresh namespace per run but the same process
(and no writable file system); they are trusted code.

Run ``python -m verifiers.sandbox`` to print the active level.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import secrets
import select
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
KILL_GRACE = 2.0  # seconds to wait for a killed harness's pipe to close
READY_TIMEOUT = 2.0  # seconds for a slot to clean up after its previous run (else it is dropped)
SLOT_RUNS = 1000  # runs per slot, then a fresh one: bounds whatever the harness accumulates


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
    slot: int = 0  # which slot ran it (slots serve runs one after another)


def _zygote_env() -> dict:
    # RLDISTILL_SANDBOX_NO_RAW_CLONE=1 makes the zygote start slots the way it does on machines
    # whose clone syscall number it does not know (to test that path on x86_64).
    env = dict(ZYGOTE_ENV)
    if os.environ.get("RLDISTILL_SANDBOX_NO_RAW_CLONE"):
        env["RLDISTILL_SANDBOX_NO_RAW_CLONE"] = "1"
    return env


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


class Slot:
    """The parent's end of one slot: sockets to S and H, pidfds to kill them."""

    def __init__(self, fds, seq, tmpfs_mb):
        s_fd, h_fd, self.s_pidfd, self.h_pidfd = fds
        self.s_sock = socket.socket(fileno=s_fd)
        self.h_sock = socket.socket(fileno=h_fd)
        self.seq, self.tmpfs_mb, self.runs = seq, tmpfs_mb, 0
        self.u_pid = self.u_sock = None

    def wait_ready(self, timeout: float) -> bool:
        """The slot's next process says it is ready, on S's socket, with a socket for its request.
        S forks it only once every process of the previous run is dead and reaped."""
        self.s_sock.settimeout(timeout)
        try:
            data, fds, _, _ = socket.recv_fds(self.s_sock, 1 << 12, 1)
        except OSError:
            return False
        try:
            self.u_pid = json.loads(data)["ready"]
        except (ValueError, KeyError, TypeError):
            data = b""
        if not data or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            return False
        self.u_sock = socket.socket(fileno=fds[0])
        return True

    def kill(self, level: str) -> None:
        for fd in (self.s_pidfd, self.h_pidfd):
            try:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if level == "none" and self.u_pid:
            try:
                os.killpg(self.u_pid, signal.SIGKILL)  # no namespace: the user's process group
            except (ProcessLookupError, PermissionError):
                pass

    def close(self) -> None:
        for sock in (self.s_sock, self.h_sock, self.u_sock):
            if sock is not None:
                sock.close()
        os.close(self.s_pidfd)
        os.close(self.h_pidfd)


class Zygote:
    """The per-process slot factory, and the pool of idle slots. Thread-safe."""

    def __init__(self, level: str):
        self.owner = os.getpid()
        self.uids = (65534, 65533) if level == "none" and os.geteuid() == 0 else ()
        self.lock = threading.Lock()  # the control socket: one request and its answer at a time
        self.pool_lock = threading.Lock()
        self.idle = collections.deque()
        self.spawned = self.live = 0
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        python = os.path.realpath(sys.executable)
        self.proc = subprocess.Popen(
            [python, "-I", "-S", "-B", RUNNER, str(child.fileno()), level],
            pass_fds=[child.fileno()], env=_zygote_env(), cwd="/", stdin=subprocess.DEVNULL,
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

    def _recv(self):
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            data = b""
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

    def _spawn(self, tmpfs_mb: int) -> Slot:
        with self.lock:
            self.sock.send(json.dumps({"op": "slot", "tmpfs_mb": tmpfs_mb}).encode())
            data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
            if len(fds) != 4:
                for fd in fds:
                    os.close(fd)
                raise RuntimeError(f"no slot: {data.decode(errors='replace')[:200] or 'zygote exited'}")
            self.spawned += 1
            slot = Slot(fds, self.spawned, tmpfs_mb)
        with self.pool_lock:
            self.live += 1
        return slot

    def acquire(self, tmpfs_mb: int) -> Slot:
        """An idle slot whose previous run is wholly gone, else a new one.

        A slot that is ready now is taken first (oldest first); when none is, the pool grows by
        one spare (up to twice the runs in flight, plus two), so that slots normally finish
        cleaning up after a run while others serve the next ones.
        """
        while True:
            with self.pool_lock:
                mine = [s for s in self.idle if s.tmpfs_mb == tmpfs_mb]
                ready = set()
                if mine:
                    poller = select.poll()
                    for s in mine:
                        poller.register(s.s_sock.fileno(), select.POLLIN)
                    ready = {fd for fd, _ in poller.poll(0)}
                slot = next((s for s in mine if s.s_sock.fileno() in ready), mine[0] if mine else None)
                if slot is not None:
                    self.idle.remove(slot)
                in_flight = self.live - len(self.idle)
                grow = slot is None or slot.s_sock.fileno() not in ready
                grow = grow and self.live < 2 * in_flight + 2
            if slot is None:
                slot = self._spawn(tmpfs_mb)
            if grow:
                self.release(self._spawn(tmpfs_mb), ran=False)
            if slot.wait_ready(READY_TIMEOUT):
                return slot
            self.discard(slot)  # S died, or is stuck cleaning up: never reuse it

    def release(self, slot: Slot, ran: bool = True) -> None:
        slot.runs += ran
        if slot.runs >= SLOT_RUNS or not self.alive():
            self.discard(slot)
            return
        with self.pool_lock:
            self.idle.append(slot)

    def discard(self, slot: Slot) -> None:
        slot.kill(self.level)
        slot.close()
        with self.pool_lock:
            self.live -= 1

    def close(self) -> None:
        with self.pool_lock:
            idle, self.idle = list(self.idle), collections.deque()
        for slot in idle:
            self.discard(slot)
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

    ``spec`` for ``mode="function"``: ``{"tests": [...], "prelude": src, "entry_point": name,
    "expected": n}``, a plan of ``verifiers.program_tests`` (each test an assert unit's source or
    a dict: ``check``, a pytest-style ``fn``/``cls``, a unittest ``case``); each record says whether
    its test ran (``ran``) and passed (``ok``). For ``mode="stdio"``: ``{"inputs": [str, ...]}``.
    ``setup`` runs in the user's process after ``code``.
    """
    t0 = time.monotonic()
    z = _zygote()
    workdir = None
    if z.level == "none":
        workdir = tempfile.mkdtemp(prefix="rldistill-sbx-")
        os.chmod(workdir, 0o777)
    req = {
        "code": code, "setup": setup, "mode": mode, "timeout": limits.timeout,
        # CPU seconds: a backstop one second past the wall clock. At exactly the wall clock a busy loop on an
        # idle core could hit SIGXCPU first; its user process would die mid-test and the run would read as
        # wrong output instead of the timeout it is (seen once in CI).
        "cpu": int(limits.timeout + 0.999) + 1, "mem_mb": limits.mem_mb, "nproc": limits.nproc,
        "fsize_mb": limits.fsize_mb, "tmpfs_mb": limits.tmpfs_mb, "out_cap": limits.out_cap, "workdir": workdir,
    }
    h_req = json.dumps({"mode": mode, "out_cap": limits.out_cap}).encode()
    u_req = json.dumps(req).encode()
    nonce = secrets.token_hex(16)
    spec_bytes = json.dumps(dict(spec, nonce=nonce)).encode()
    pipes = [os.pipe() for _ in range(4)]  # stdout, stderr, records, spec
    (out_r, out_w), (err_r, err_w), (res_r, res_w), (spec_r, spec_w) = pipes
    # The spec goes into its pipe before the harness is asked to read it (most fit at once).
    os.set_blocking(spec_w, False)
    try:
        spec_bytes = spec_bytes[os.write(spec_w, spec_bytes):]
    except BlockingIOError:
        pass
    if not spec_bytes:
        os.close(spec_w)
        spec_w = None
    slot = None
    try:
        for attempt in (0, 1):  # one retry, on a fresh zygote, if this one died under us
            try:
                slot = z.acquire(limits.tmpfs_mb)
                socket.send_fds(slot.u_sock, [u_req], [out_w, err_w])  # the longer path starts first
                slot.u_sock.close()
                slot.u_sock = None
                socket.send_fds(slot.h_sock, [h_req], [res_w, spec_r])
                break
            except (OSError, RuntimeError):
                if slot is not None:
                    z.discard(slot)
                    slot = None
                if attempt:
                    raise
                z = _zygote()
    except Exception as e:  # noqa: BLE001
        for fd in (out_r, out_w, err_r, err_w, res_r, res_w, spec_r, spec_w):
            if fd is not None:
                os.close(fd)
        return RunResult(error=f"sandbox: {e}", level=z.level, elapsed=time.monotonic() - t0)
    for fd in (out_w, err_w, res_w, spec_r):
        os.close(fd)
    result = RunResult(level=z.level, slot=slot.seq)
    try:
        # The wall clock starts once the run is handed over (a slot is normally ready at once).
        raw = _pump(result, out_r, err_r, res_r, spec_w, spec_bytes, time.monotonic() + limits.timeout, limits, slot, z)
        _parse_records(result, raw, nonce)
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        if result.done and not result.timed_out and not result.error:
            z.release(slot)
        else:
            z.discard(slot)  # killed, or something went wrong: never reuse the slot
    result.elapsed = time.monotonic() - t0
    return result


def _pump(result, out_r, err_r, res_r, spec_w, spec, deadline, limits, slot, z):
    """Feed the rest of the spec, drain the three pipes with caps, kill at the deadline.

    Returns once the harness has closed the records: what the user's process wrote by then
    (it flushes before every answer to the harness) is read without waiting for it to die;
    its slot kills it, and everything it spawned, before the slot serves another run.
    """
    poller = select.poll()
    bufs = {out_r: bytearray(), err_r: bytearray(), res_r: bytearray()}
    caps = {out_r: limits.out_cap, err_r: limits.out_cap, res_r: limits.records_cap}
    open_fds = set(bufs)
    for fd in bufs:
        poller.register(fd, select.POLLIN)
    if spec_w is not None:
        poller.register(spec_w, select.POLLOUT)
    killed_at = None

    def read(fd):
        chunk = os.read(fd, 1 << 16)
        buf = bufs[fd]
        if len(buf) < caps[fd]:
            buf += chunk[: caps[fd] - len(buf)]
        return chunk

    try:
        while res_r in open_fds:  # (after a kill: until the harness is dead, which it is at once)
            now = time.monotonic()
            if killed_at is None and now >= deadline:
                result.timed_out = True
                killed_at = now
                slot.kill(z.level)
            if killed_at is not None and now > killed_at + KILL_GRACE:
                result.error = result.error or "harness still alive after kill"
                break
            wait = (deadline if killed_at is None else killed_at + KILL_GRACE) - now
            for fd, _ in poller.poll(max(0, int(wait * 1000) + 1)):
                if fd == spec_w:
                    try:
                        spec = spec[os.write(spec_w, spec[: 1 << 16]):]
                    except BlockingIOError:
                        continue
                    except OSError:  # the harness is gone
                        spec = b""
                    if not spec:
                        poller.unregister(spec_w)
                        os.close(spec_w)
                        spec_w = None
                elif not read(fd):
                    poller.unregister(fd)
                    open_fds.discard(fd)
        for fd in (out_r, err_r):  # what is already in the pipes (bounded: the writer may go on)
            if fd in open_fds:
                os.set_blocking(fd, False)
                try:
                    for _ in range(16):
                        if not read(fd) or len(bufs[fd]) >= caps[fd]:
                            break
                except BlockingIOError:
                    pass
    finally:
        for fd in (out_r, err_r, res_r, spec_w):
            if fd is not None:
                os.close(fd)
    result.stdout, result.stderr = bytes(bufs[out_r]), bytes(bufs[err_r])
    return bytes(bufs[res_r])


def _parse_records(result, raw, nonce):
    for line in raw.split(b"\n"):
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
