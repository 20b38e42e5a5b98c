"""Score many (completion, answer) pairs in worker processes with a hard time limit.

What it does: ``VerifierPool(workers, timeout).score(names, completions, answers)``
sends each pair to a worker process and waits on the results from the
calling thread with ``multiprocessing.connection.wait``. A call that runs
past its limit gets ``Verdict(0.0, "timeout")``: its worker is killed
(SIGKILL, from outside, so a verifier stuck in C code or in a SymPy loop
cannot hold the run) and replaced. A verifier that raises gets
``Verdict(None, "error")``, and so does one whose worker dies. Only names,
strings and floats cross the process boundary.

Limits: the ``timeout`` argument of the call, else the pool's ``timeout``,
else the verifier function's own ``timeout`` attribute (the program
verifier needs longer than math), else ``DEFAULT_TIMEOUT``.

Workers start on first use from a ``forkserver`` (``spawn`` where there is
none), never by forking the caller, which may run torch with threads. The
fork server preloads the verifier modules and SymPy once, so starting or
replacing a worker costs a fork, not an interpreter start. ``score`` is
thread-safe and may be called from many threads at once; ``ascore`` awaits
it from an event loop without blocking the loop. There is no
``signal.alarm``: the limit works in any thread.

Verifiers are resolved by name inside the workers, so a name must be
importable there: a registered built-in, an entry point, or
``"package.module:attr"``.

What it leaves out: memory limits and isolation of untrusted code (the
program verifier's sandbox does that).

Run: ``python -c "from verifiers.pool import score_batch; print(score_batch('math', ['\\\\boxed{2}'], ['2']))"``
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing as mp
import os
import queue
import threading
import time
from collections import deque
from multiprocessing.connection import wait

from verifiers.registry import Verdict, get_verifier

DEFAULT_TIMEOUT = 10.0
PIPELINE = 4  # calls queued per worker at once
PRELOAD = ["verifiers.pool", "verifiers.registry", "verifiers.math_verifier", "sympy"]
START_TIMEOUT = 120.0  # seconds for a new worker to say it is ready (a loaded machine is slow)


# ---------------------------------------------------------------- worker side
def _worker_main(conn) -> None:
    """Loop: receive (name, completion, answer), send (score, reason). Plain values only."""
    cache: dict = {}
    conn.send("ready")  # the parent starts a call's clock only once the worker runs
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        name, completion, answer = msg
        try:
            fn = cache.get(name) or cache.setdefault(name, get_verifier(name))
            v = fn(completion, answer)
            if not isinstance(v, Verdict):  # tolerate (score, reason) tuples and bare scores
                v = Verdict(*v) if isinstance(v, tuple) else Verdict(v, "ok")
            out = (None if v.score is None else float(v.score), str(v.reason), str(getattr(v, "detail", ""))[:500])
        except Exception as e:  # a verifier that raises: "error", never a crash of the pool
            out = (None, "error", f"{type(e).__name__}: {e}"[:500])
        try:
            conn.send(out)
        except (EOFError, OSError):
            return


# ---------------------------------------------------------------- parent side
def _context():
    methods = mp.get_all_start_methods()
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return mp.get_context("spawn")


class _Worker:
    __slots__ = ("proc", "conn", "ready")

    def __init__(self, ctx):
        parent, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True, name="rldistill-verifier")
        self.proc.start()
        child.close()
        self.conn = parent
        self.ready = False

    def wait_ready(self) -> None:
        """Block until the worker has started (its start-up does not count against any call)."""
        if not self.ready:
            try:
                ok = self.conn.poll(START_TIMEOUT) and self.conn.recv() == "ready"
            except (EOFError, OSError):
                ok = False
            if not ok:
                self.kill()
                raise RuntimeError(f"a verifier worker did not start (exit code {self.proc.exitcode}); see its stderr")
            self.ready = True

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.join(timeout=5)
        except Exception:
            pass
        try:
            self.conn.close()
        except Exception:
            pass


def _name_of(v) -> str:
    """A name a worker can resolve: the string itself, a registered name, or module:qualname."""
    if isinstance(v, str):
        return v
    name = getattr(v, "verifier_name", None)
    if isinstance(name, str):
        return name
    mod, qual = getattr(v, "__module__", None), getattr(v, "__qualname__", "")
    if mod and qual and "<" not in qual:
        return f"{mod}:{qual}"
    raise TypeError(f"cannot send verifier {v!r} to a worker: pass a registered name or 'module:attr'")


def _verdict(out) -> Verdict:
    try:
        return Verdict(out[0], out[1], str(out[2]) if len(out) > 2 else "")
    except (ValueError, TypeError, IndexError):
        return Verdict(None, "error")


class VerifierPool:
    """A pool of verifier worker processes; see the module docstring."""

    def __init__(self, workers: int | None = None, timeout: float | None = None):
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.workers = max(1, int(workers) if workers else min(8, cpus))
        self.timeout = timeout
        self._ctx = None
        self._idle: queue.Queue = queue.Queue()
        self._started = 0
        self._lock = threading.Lock()
        self._closed = False
        self._limits: dict[str, float] = {}

    # -- workers
    def _acquire(self, block: bool) -> _Worker | None:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._closed:
                raise RuntimeError("VerifierPool is closed")
            if self._started < self.workers:
                if self._ctx is None:
                    self._ctx = _context()
                self._started += 1
                try:
                    return _Worker(self._ctx)
                except Exception:
                    self._started -= 1
                    raise
        return self._idle.get() if block else None

    def _release(self, w: _Worker) -> None:
        if self._closed:
            w.kill()
        else:
            self._idle.put(w)

    def _replace(self, w: _Worker) -> _Worker:
        w.kill()
        fresh = _Worker(self._ctx)
        fresh.wait_ready()
        return fresh

    def _limit(self, name: str, timeout: float | None) -> float:
        if timeout is not None:
            return float(timeout)
        if self.timeout is not None:
            return float(self.timeout)
        if name not in self._limits:
            try:
                t = getattr(get_verifier(name), "timeout", None)
            except Exception:  # unknown here: the worker will say "error"
                t = None
            self._limits[name] = float(t) if isinstance(t, (int, float)) and t > 0 else DEFAULT_TIMEOUT
        return self._limits[name]

    # -- scoring
    def score(self, names, completions, answers, timeout: float | None = None) -> list[Verdict]:
        """Score ``completions[i]`` against ``answers[i]`` with verifier ``names[i]`` (or one name for all)."""
        completions, answers = list(completions), list(answers)
        if len(completions) != len(answers):
            raise ValueError(f"{len(completions)} completions but {len(answers)} answers")
        n = len(completions)
        names = [_name_of(names)] * n if isinstance(names, str) or callable(names) else [_name_of(x) for x in names]
        if len(names) != n:
            raise ValueError(f"{len(names)} verifier names for {n} completions")
        if n == 0:
            return []
        limits = [self._limit(nm, timeout) for nm in names]
        results: list[Verdict | None] = [None] * n
        pending = deque(range(n))
        mine = [self._acquire(block=True)]
        while len(mine) < min(n, self.workers):
            w = self._acquire(block=False)
            if w is None:
                break
            mine.append(w)
        try:
            for w in mine:  # they boot in parallel; wait for all
                w.wait_ready()
        except RuntimeError:
            for w in mine:
                if w.ready:
                    self._release(w)
                else:
                    w.kill()
                    with self._lock:
                        self._started -= 1
            raise
        # Each worker holds up to PIPELINE calls, answered in order, so it never waits on this
        # thread (on a loaded machine a round trip per call costs more than the call). The limit
        # applies to the call at the head of each worker's queue, from the moment it started:
        # when the previous answer arrived, or when it was sent to an idle worker.
        queued = {w.conn: deque() for w in mine}
        started = {}
        by_conn = {w.conn: w for w in mine}

        def send(w, i):
            if not queued[w.conn]:
                started[w.conn] = time.monotonic()
            w.conn.send((names[i], str(completions[i]), str(answers[i])))
            queued[w.conn].append(i)

        def replace(conn):  # kill a stuck or dead worker; its queued calls go back to pending
            w = by_conn.pop(conn)
            rest = queued.pop(conn)
            started.pop(conn, None)
            pending.extendleft(reversed(rest))
            fresh = self._replace(w)
            by_conn[fresh.conn], queued[fresh.conn] = fresh, deque()

        try:
            while pending or any(queued.values()):
                for conn in list(by_conn):
                    while pending and len(queued[conn]) < PIPELINE:
                        i = pending.popleft()
                        try:
                            send(by_conn[conn], i)
                        except (OSError, EOFError, ValueError):  # the worker died while idle
                            pending.appendleft(i)
                            replace(conn)
                            break
                busy = [c for c in by_conn if queued[c]]
                soonest = min(started[c] + limits[queued[c][0]] for c in busy)
                for conn in wait(busy, timeout=max(0.0, soonest - time.monotonic())):
                    try:
                        out = conn.recv()
                    except (EOFError, OSError):  # the worker died mid-call (a crash, os._exit, OOM kill)
                        i = queued[conn].popleft()
                        results[i] = Verdict(None, "error")
                        replace(conn)
                        continue
                    results[queued[conn].popleft()] = _verdict(out)
                    started[conn] = time.monotonic()
                now = time.monotonic()
                for conn in [c for c in by_conn if queued[c]]:
                    if started[conn] + limits[queued[conn][0]] <= now:
                        results[queued[conn].popleft()] = Verdict(0.0, "timeout")
                        replace(conn)
        finally:
            for conn, w in by_conn.items():
                if queued.get(conn):  # interrupted mid-call: that worker is busy, do not reuse it
                    w.kill()
                    with self._lock:
                        self._started -= 1
                else:
                    self._release(w)
        return results  # type: ignore[return-value]

    async def ascore(self, names, completions, answers, timeout: float | None = None) -> list[Verdict]:
        """``score`` from an event loop, run in a thread so the loop keeps running."""
        return await asyncio.to_thread(self.score, names, completions, answers, timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        while True:
            try:
                w = self._idle.get_nowait()
            except queue.Empty:
                break
            try:
                w.conn.send(None)
                w.proc.join(timeout=1)
            except Exception:
                pass
            w.kill()

    def __enter__(self) -> "VerifierPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------- shared pools
_POOLS: dict = {}
_POOLS_LOCK = threading.Lock()


def default_pool(workers: int | None = None) -> VerifierPool:
    """The shared pool for ``workers`` (created on first use, closed at exit)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None or pool._closed:
            pool = _POOLS[workers] = VerifierPool(workers=workers)
        return pool


def score_batch(verifier_names, completions, answers, *, timeout=None, workers=None) -> list[Verdict]:
    """Score a batch with the shared default pool (see ``VerifierPool.score``).

    >>> [v.score for v in score_batch("math", ["so $\\\\boxed{12}$", "It is 13."], ["12", "12"])]
    [1.0, 0.0]
    """
    return default_pool(workers).score(verifier_names, completions, answers, timeout=timeout)


@atexit.register
def _close_all() -> None:
    for pool in list(_POOLS.values()):
        pool.close()
