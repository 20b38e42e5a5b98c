"""The sandbox zygote: the only code of rldistill that runs inside the sandbox.

``verifiers.sandbox`` starts this file once per process as
``python -I -S -B _sandbox_runner.py CTRL_FD LEVEL`` and talks to it over a
SOCK_SEQPACKET control socket. It imports nothing from rldistill (``-I`` keeps
the script directory, the user site and ``PYTHON*`` variables out).

Start-up (namespaces level): unshare a user namespace, let the parent write
the uid/gid maps, then unshare mount, network, IPC and UTS namespaces, build a
read-only root on a small tmpfs (the Python prefix and the shared libraries,
bind-mounted read-only, four device nodes, nothing from /etc, /home, /root,
/proc or /work) and chroot into it. The network namespace has only a loopback
that is down. The zygote imports the standard-library modules that solutions
use most (``PRELOAD``), then only answers "slot" requests.

A slot serves runs one at a time, for as long as the parent keeps it. It is
two long-lived processes, both children of the zygote:

- ``S``, cloned into a fresh PID and mount namespace (its PID 1), with a
  private tmpfs on /tmp. ``S`` keeps the namespace's privileges, never runs
  the user's code and never sees a test. It forks ``U``, the next run's
  process, and waits. ``U`` (still trusted) enters fresh IPC and network namespaces,
  hands the harness one end of a new socket and the parent the end of
  another, closes S's sockets, and drops to uid 1000 in its own session,
  without capabilities, with ``no_new_privs``; then it waits. The parent
  sends it the run's code and stdout/stderr pipes; ``U`` applies the run's
  rlimits and runs the code. When the harness says the run is over, ``S``
  kills every other process of its PID namespace (``kill(-1, SIGKILL)``:
  daemonised grandchildren included), reaps them all, remounts /tmp if the
  run left anything there, and only then forks the next ``U``, which tells
  the parent that the slot is ready.
- ``H``, the test harness, outside that PID namespace (the user's processes
  cannot name it) as uid 1001, without capabilities, not dumpable. Per run it
  gets the result pipe and the spec pipe from the parent and its socket to
  ``U``; only then does it read the tests, so the tests and the run's nonce
  never exist in the user's address space (``U`` is forked from ``S``, which
  never held them). It calls the user's functions through that socket:
  arguments and results cross it as type-tagged JSON of plain builtin values
  (``type(v) is int``, never a subclass); anything else comes back as an
  opaque handle whose ``==`` is identity. It writes one JSON line per test to
  a pipe that ``U`` never had; the verdict is computed outside by the parent.
  Its per-run work is ``_sandbox_harness``; the tests' formats (asserts,
  ``check``, pytest style, unittest), which it drives itself so that it knows
  how many ran, are ``_sandbox_tests``.
  For stdin/stdout tasks ``U`` never runs the code itself: at H's request it
  forks one fresh process per case.

The wall clock is the parent's: at the deadline it kills ``S`` and ``H``
through pidfds, which kills everything in the slot's PID namespace, and drops
the slot. Every process has a parent-death signal, so a dead parent (the
zygote exits when its control socket closes) takes its slots down too.

Level ``none`` (no namespaces on the host): the same processes without
namespaces, chroot or private /tmp; ``U`` leads its own process group, which
``S`` (after a run) or the parent (at the deadline) kills; see
``verifiers.sandbox`` for what that leaves open.
"""

import builtins
import ctypes
import gc
import json
import os
import resource
import signal
import socket
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I left the script's directory out
from _sandbox_harness import harness_run  # noqa: E402  (loaded before the chroot)
from _sandbox_rpc import send_frame, serve_user  # noqa: E402

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NAME, PR_SET_NO_NEW_PRIVS = 1, 4, 15, 38

DEVICES = ("null", "zero", "urandom", "random")
# Standard-library modules that solutions and tests import most (MBPP, HumanEval, generated code):
# typing alone costs ~10 ms per fresh import, more than the rest of a run; together they add ~0.7 MB
# to what every fork copies. random is re-seeded per process as usual (os.fork runs its hook).
PRELOAD = ("typing", "re", "math", "cmath", "collections", "heapq", "itertools", "functools", "operator",
           "bisect", "string", "random", "copy", "hashlib", "datetime", "fractions", "decimal", "statistics",
           "array")
USER_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"}  # the zygote's, so everyone's

_libc = ctypes.CDLL(None, use_errno=True)
STATE = {"level": "none", "uid_user": None, "uid_harness": None}


def _check(ret, what):
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _unshare(flags):
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _mount(src, tgt, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_libc.mount(enc(src), enc(tgt), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {tgt}")


def _prctl(option, arg):
    _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def _name(name):
    """What ps and top show for this process (the zygote, a slot's S or H, a user's U)."""
    _libc.prctl(ctypes.c_int(PR_SET_NAME), ctypes.c_char_p(name.encode()), ctypes.c_ulong(0),
                ctypes.c_ulong(0), ctypes.c_ulong(0))


# ---------------------------------------------------------------- zygote setup


def _build_root(binds, newroot="/tmp"):
    """A read-only tmpfs root holding only ``binds`` and four device nodes."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # /tmp always exists; mounting over it in this private namespace hides the host's /tmp.
    _mount("tmpfs", newroot, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=755")
    for kind, src, target in binds:
        dst = newroot + src
        if kind == "link":
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.symlink(target, dst)
            continue
        os.makedirs(dst, exist_ok=True)
        _mount(src, dst, None, MS_BIND | MS_REC)
        _mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.makedirs(newroot + "/dev", exist_ok=True)
    for d in DEVICES:
        open(f"{newroot}/dev/{d}", "w").close()
        _mount(f"/dev/{d}", f"{newroot}/dev/{d}", None, MS_BIND)
    os.mkdir(newroot + "/tmp", 0o1777)
    os.chroot(newroot)
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _send(sock, obj, fds=()):
    data = json.dumps(obj).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def _recv(sock):
    data = sock.recv(1 << 16)
    if not data:
        raise EOFError
    return json.loads(data)


def _recv_request(sock, maxfds):
    """A datagram of any size with its fds, without a worst-case buffer (a run's code is up to
    ~100 kB; a 1 MB buffer per call would cost an mmap and munmap each time)."""
    n = sock.recv_into(bytearray(1), 1, socket.MSG_PEEK | socket.MSG_TRUNC)
    data, fds, _, _ = socket.recv_fds(sock, max(n, 1), maxfds)
    return data, fds


def zygote(ctrl_fd, level):
    ctrl = socket.socket(fileno=ctrl_fd)
    hello = _recv(ctrl)  # {"binds": [...], "site": [...]}
    if level != "none":
        try:
            _unshare(CLONE_NEWUSER)
            _send(ctrl, {"unshared": os.getpid()})
            how = _recv(ctrl)  # parent wrote the maps ("mapped") or we map ourselves
            if how.get("self_map"):
                outer_uid, outer_gid = how["uid"], how["gid"]
                with open("/proc/self/setgroups", "w") as f:
                    f.write("deny")
                # Only our own uid can be mapped: map it to 1000, never to root, so nothing
                # below can regain capabilities on exec; the ones unshare gave us are dropped
                # explicitly (capset) in every process that runs the user's code or the tests.
                with open("/proc/self/uid_map", "w") as f:
                    f.write(f"1000 {outer_uid} 1")
                with open("/proc/self/gid_map", "w") as f:
                    f.write(f"1000 {outer_gid} 1")
            inner = 1000 if how.get("self_map") else 0
            os.setresgid(inner, inner, inner)
            os.setresuid(inner, inner, inner)
            _unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
            _libc.sethostname(b"sandbox", 7)
            _build_root(hello["binds"])
            STATE["level"] = level
            if how.get("self_map"):
                STATE["level"] = "namespaces-single-uid"
            else:
                STATE["uid_user"], STATE["uid_harness"] = 1000, 1001
        except Exception as e:  # noqa: BLE001 - reported to the parent, which falls back
            _send(ctrl, {"error": f"{type(e).__name__}: {e}"})
            return
    elif os.geteuid() == 0:
        STATE["uid_user"], STATE["uid_harness"] = 65534, 65533
    # Started with -S (no site: cheaper forks); the user's code may still import installed packages.
    sys.path.extend(p for p in hello.get("site", []) if p not in sys.path)
    os.environ.clear()  # what every process forked from here has (the user's code included)
    os.environ.update(USER_ENV)
    _name("sandbox-zygote")
    for mod in PRELOAD:  # inherited by every process forked from here: no per-run import
        try:
            __import__(mod)
        except ImportError:
            pass
    gc.freeze()  # keep the collector from touching (and so copying) the zygote's pages in children
    _send(ctrl, {"ready": STATE["level"]})
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    while True:
        try:
            data = ctrl.recv(1 << 16)
        except OSError:
            return
        if not data:
            return  # the parent went away; the prctl death signals take every slot down with us
        _reap()
        try:
            fds = spawn_slot(ctrl, int(json.loads(data)["tmpfs_mb"]))
        except Exception as e:  # noqa: BLE001 - e.g. out of processes: the parent reports it
            _send(ctrl, {"error": f"{type(e).__name__}: {e}"})
            continue
        try:
            _send(ctrl, {"slot": True}, fds)
        finally:
            for fd in fds:
                os.close(fd)


def _reap():
    # Slots that the parent killed (S, H, and C where there is no raw clone) are our children.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# ---------------------------------------------------------------- slots
#
# A slot is S (PID 1 of its own PID namespace, forks the user's processes) and H (the harness).
# The parent gets a socket to each and a pidfd for each; it talks to the zygote only to get a slot.

# clone(2) straight into new PID and mount namespaces where we know the syscall number (its
# first argument is the flags everywhere; the others are 0 here); else an intermediate process
# unshares and forks.
_SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(os.uname().machine)
if os.environ.get("RLDISTILL_SANDBOX_NO_RAW_CLONE"):  # to test the fallback on x86_64
    _SYS_CLONE = None
_pylib = ctypes.PyDLL(None, use_errno=True)  # PyDLL keeps the GIL across the call, as fork does
SLOT_NS = CLONE_NEWPID | CLONE_NEWNS


def _clone(flags):
    pid = _pylib.syscall(ctypes.c_long(_SYS_CLONE), ctypes.c_ulong(flags | signal.SIGCHLD), ctypes.c_ulong(0),
                         ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if pid < 0:
        raise OSError(ctypes.get_errno(), "clone")
    return pid


def _child(fn, *args):
    """Run ``fn`` in a forked child and never return."""
    try:
        fn(*args)
    except BaseException:  # noqa: BLE001 - stderr is /dev/null unless debugging the runner
        traceback.print_exc()
    finally:
        os._exit(0)


def _spawn_s(z_pid, ns, s_sock, sh_sock, close, tmpfs_mb):
    """Start S; return a pidfd for it."""
    if not ns or _SYS_CLONE is not None:
        pid = _clone(SLOT_NS) if ns else os.fork()
        if pid == 0:
            [s.close() for s in close]
            _child(run_slot, s_sock, sh_sock, z_pid, ns, tmpfs_mb)
        return os.pidfd_open(pid)
    # No raw clone: C unshares (which applies to its children) and forks S, then waits for it.
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c = os.fork()
    if c == 0:
        [s.close() for s in close + [mine]]
        _die_with_parent(z_pid)
        _name("sandbox-clone")
        _unshare(SLOT_NS)
        pid = os.fork()
        if pid == 0:
            theirs.close()
            _child(run_slot, s_sock, sh_sock, None, ns, tmpfs_mb)
        s_sock.close()
        sh_sock.close()
        _send(theirs, {}, [os.pidfd_open(pid)])
        _child(os.waitpid, pid, 0)
    theirs.close()
    _, fds, _, _ = socket.recv_fds(mine, 16, 1)
    mine.close()
    if len(fds) != 1:
        raise OSError("slot did not start")
    return fds[0]


def spawn_slot(ctrl, tmpfs_mb):
    """Start one slot; return the fds for the parent: S's socket, H's socket, their pidfds."""
    ns = STATE["level"] != "none"
    z_pid = os.getpid()
    p_s, s_p = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # parent <-> S
    p_h, h_p = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # parent <-> H
    s_h, h_s = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # S <-> H
    try:
        s_pidfd = _spawn_s(z_pid, ns, s_p, s_h, [ctrl, p_s, p_h, h_p, h_s], tmpfs_mb)
        try:
            pid = os.fork()
            if pid == 0:
                _close_except([h_p.fileno(), h_s.fileno()])
                _child(run_harness, h_p, h_s, z_pid)
        except BaseException:
            signal.pidfd_send_signal(s_pidfd, signal.SIGKILL)
            os.close(s_pidfd)
            raise
        h_pidfd = os.pidfd_open(pid)
        return [os.dup(p_s.fileno()), os.dup(p_h.fileno()), s_pidfd, h_pidfd]
    finally:
        for s in (p_s, s_p, p_h, h_p, s_h, h_s):
            s.close()


def _die_with_parent(parent_pid):
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)


# ---------------------------------------------------------------- S: the slot's PID 1


def _mount_tmp(size_mb):
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,nr_inodes=2048,mode=1777")
    st = os.stat("/tmp")
    return (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_ctime_ns)


def _tmp_dirty(fresh):
    st = os.stat("/tmp")
    return (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_ctime_ns) != fresh or bool(os.listdir("/tmp"))


def _kill_all(ns, pgid):
    """After a run (S) or a stdio case (U): kill and reap every other process of ours.

    In the namespace ``kill(-1)`` reaches every process the caller may signal but itself and PID 1;
    without one, the run's (or case's) process group ``pgid``.
    """
    if ns:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
    else:
        try:
            os.killpg(pgid, signal.SIGKILL)  # no namespace: the user's process group
        except OSError:
            pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def run_slot(p_sock, h_sock, z_pid, ns, tmpfs_mb):
    """Process S: between runs, own no process but the next (still trusted) ``U``.

    Its loop is kept short on purpose: after each fork every page it writes costs it a fault, so
    the work of connecting the next ``U`` is done by ``U`` itself, which pays those faults anyway.
    """
    if ns:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # our parent is outside the namespace (getppid is 0)
    else:
        _die_with_parent(z_pid)
    _prctl(PR_SET_DUMPABLE, 0)
    _name("sandbox-slot")
    _close_except([p_sock.fileno(), h_sock.fileno()])
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    fresh = _mount_tmp(tmpfs_mb) if ns else None
    me = os.getpid()
    while True:
        u_pid = os.fork()
        if u_pid == 0:
            _child(_user_main, p_sock, h_sock, me, ns)
        try:
            if h_sock.recv(64) != END:  # H says the run is over (its records are written)
                return  # H is gone: so is the slot (our exit takes the PID namespace down)
        except OSError:
            return
        _kill_all(ns, u_pid)
        if ns and _tmp_dirty(fresh):
            _libc.umount2(b"/tmp", 2)  # MNT_DETACH
            fresh = _mount_tmp(tmpfs_mb)


END = b'{"end": true}'


def _user_main(p_sock, h_sock, s_pid, ns):
    """Process U: connect itself (to H for the calls, to the parent for the request), drop
    everything, wait for the run's request, then become the user's process (or, for stdin/stdout
    tasks, the forker of one user process per case)."""
    _die_with_parent(s_pid if not ns else 1)
    _name("sandbox-ready")
    if ns:
        # System V and POSIX IPC objects of one run never reach the next; nor do abstract Unix sockets reach
        # another run in flight (their names are scoped to the network namespace; its loopback stays down).
        # U is forked before its run is asked for, so neither namespace costs the run any time.
        _unshare(CLONE_NEWIPC | CLONE_NEWNET)
    p_end, u_hand = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    h_end, u_rpc = socket.socketpair()
    socket.send_fds(h_sock, [b"rpc"], [h_end.fileno()])  # H first: it pairs it with the next request
    socket.send_fds(p_sock, [b'{"ready": %d}' % os.getpid()], [p_end.fileno()])
    for sock in (p_end, h_end, p_sock, h_sock):  # S's sockets never reach the user's code
        sock.close()
    _become_user()  # before the request: none of this waits on the run
    data, fds = _recv_request(u_hand, 4)
    if not data or len(fds) != 2:
        return
    _name("sandbox-user")
    u_hand.close()
    req = json.loads(data)
    out_w, err_w = fds
    os.chdir(req["workdir"] or "/tmp")
    if req["mode"] == "stdio":
        os.close(out_w)
        _serve_cases(req, u_rpc, err_w, ns)
        return
    start_user(req, out_w, err_w, keep=[u_rpc.fileno()])
    serve_user(req, u_rpc)


def _serve_cases(req, sock, err_w, ns):
    """U for a stdin/stdout task: it never runs the code itself; per case, on H's request, it forks
    one fresh user process and hands H the ends of its stdin and stdout."""
    _close_except([sock.fileno(), err_w])
    _prctl(PR_SET_DUMPABLE, 0)  # (a case's process has our uid: it cannot read our memory)
    while sock.recv(1):
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            sock.close()
            os.close(in_w)
            os.close(out_r)
            _child(_stdio_case, req, in_r, out_w, err_w)
        os.close(in_r)
        os.close(out_w)
        socket.send_fds(sock, [b"c"], [in_w, out_r])
        os.close(in_w)
        os.close(out_r)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        _kill_all(ns, pid)  # what the case left behind does not see the next case
        send_frame(sock, {"status": os.waitstatus_to_exitcode(status)})


def _stdio_case(req, in_r, out_w, err_w):
    try:
        os.setsid()  # its own process group: what is killed after the case at level none
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        start_user(req, out_w, err_w, stdin_fd=in_r)
        g = {"__name__": "__main__", "__builtins__": builtins}
        exec(compile(req["code"], "<solution>", "exec"), g)
        sys.stdout.flush()
    except SystemExit as e:
        sys.stdout.flush()
        os._exit(e.code if isinstance(e.code, int) else 1)
    except BaseException:  # noqa: BLE001
        os._exit(1)
    os._exit(0)


# ---------------------------------------------------------------- the user's process and the limits


def _limits(req, cpu_extra=0):
    cpu = int(req["cpu"]) + cpu_extra
    mem = int(req["mem_mb"]) << 20
    for res, val in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_FSIZE, (req["fsize_mb"] << 20, req["fsize_mb"] << 20)),
        (resource.RLIMIT_NOFILE, (64, 64)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NPROC, (req["nproc"], req["nproc"])),
    ):
        try:
            resource.setrlimit(res, val)
        except (ValueError, OSError):
            if res != resource.RLIMIT_NPROC:  # NPROC cannot always be lowered below current use
                raise


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


# Built once in the zygote: every process forked from it then only touches these, not ctypes'
# machinery for building them (each page a forked process writes costs it a fault).
_CAP_HEADER, _CAP_EMPTY = _CapHeader(0x20080522, 0), (_CapData * 2)()


def _drop_caps():
    """Empty effective, permitted and inheritable capability sets (version 3 header)."""
    _check(_libc.capset(ctypes.byref(_CAP_HEADER), _CAP_EMPTY), "capset")


def _drop(uid, caps=True):
    """Switch to ``uid`` (when given), drop every capability, forbid regaining any."""
    if uid is not None and os.getresuid() != (uid, uid, uid):  # (a stdio case's forker dropped already)
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    if caps:
        _drop_caps()
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _close_except(keep):
    keep = sorted(set(keep))
    lo = 3
    for fd in keep + [1 << 16]:
        if fd >= lo:
            os.closerange(lo, fd)
            lo = fd + 1


def _become_user():
    """Everything about the untrusted process that does not depend on the run: its own session,
    the user's uid, no capabilities, no new privileges, a parent-death signal. (Its environment
    is the zygote's, already scrubbed to ``USER_ENV``; SIGCHLD is S's, the default.)"""
    os.setsid()
    _drop(STATE["uid_user"])
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
    sys.set_int_max_str_digits(0)


def start_user(req, out_w, err_w, keep=(), stdin_fd=None):
    """Hand this (already unprivileged) process its run: stdio, no other fd, the run's rlimits."""
    if stdin_fd is None:
        stdin_fd = os.open("/dev/null", os.O_RDONLY)
    os.dup2(stdin_fd, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    _close_except([0, 1, 2, *keep])
    _limits(req)


# ---------------------------------------------------------------- H: the harness


HARNESS_PRELOAD = ("unittest", "inspect", "asyncio")  # what _sandbox_tests imports when a run needs it
HARNESS_MEM_MB = 2048  # the harness holds the decoded results (each at most 16 MB) and the tests


def run_harness(p_sock, s_sock, z_pid):
    """Process H: one run at a time: the run's socket to U (sent by U on S's channel, before the
    run exists), the parent's request, then the spec."""
    _die_with_parent(z_pid)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if STATE["level"] == "none" and STATE["uid_harness"] is not None:
        # Without the chroot the stdlib may sit under a directory the harness's uid cannot read (/root):
        # what the tests' formats need is imported while we still can.
        for mod in HARNESS_PRELOAD:
            __import__(mod)
    _drop(STATE["uid_harness"])
    _prctl(PR_SET_DUMPABLE, 0)  # after the uid change, which would reset it
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the uid change cleared it
    if os.getppid() != z_pid:
        return
    _name("sandbox-harness")
    # No CPU limit: H lives across runs; the parent's wall clock bounds each run.
    mem = HARNESS_MEM_MB << 20
    for res, val in ((resource.RLIMIT_AS, (mem, mem)), (resource.RLIMIT_FSIZE, (0, 0)),
                     (resource.RLIMIT_NOFILE, (64, 64)), (resource.RLIMIT_CORE, (0, 0))):
        resource.setrlimit(res, val)
    sys.set_int_max_str_digits(0)
    gc.freeze()
    while True:
        msg, sfds, _, _ = socket.recv_fds(s_sock, 1 << 12, 1)
        if not msg or len(sfds) != 1:
            return
        sock = socket.socket(fileno=sfds[0])
        data, fds, _, _ = socket.recv_fds(p_sock, 1 << 12, 4)
        if not data or len(fds) != 2:
            return
        req = json.loads(data)
        res_w, spec_r = fds
        try:
            harness_run(req, sock, res_w, spec_r)
        except Exception:  # noqa: BLE001 - no closing record (the run fails) and no more runs here:
            traceback.print_exc()  # our exit ends the slot
            return
        for fd in (res_w, spec_r):
            os.close(fd)
        sock.close()
        s_sock.send(END)


if __name__ == "__main__":
    zygote(int(sys.argv[1]), sys.argv[2])
