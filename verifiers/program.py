"""The ``program`` verifier: run a completion's code against tests in the sandbox.

``answer`` is JSON, one of:

- function tasks: ``{"tests": ..., "entry_point": "f"}``. ``tests`` is Python
  source, a string or a list of strings (joined), in any of the formats of
  ``verifiers.program_tests``: plain asserts (each top-level statement holding
  an assert is one test; MBPP's ``test_list``), HumanEval's ``check(candidate)``
  (one test), pytest-style ``test_*`` functions and ``Test*`` classes (one test
  per function, method and literal parametrize case), ``unittest.TestCase``
  classes (one test per ``test*`` method), and ``if __name__ == "__main__":``
  blocks (read as top-level code; ``unittest.main()`` and the like dropped).
  Without ``entry_point``, it is the function every assert calls first. Only
  the entry point may shadow a builtin the tests use (``abs``, ``isinstance``);
  the harness's builtins win for other names. Optional ``"setup"`` (MBPP's
  ``test_setup_code``) runs after the code, in the code's process. An MBPP row's
  own fields (``test_list``, ``challenge_test_list``, ``test_setup_code``) and a
  HumanEval row's ``test`` are read too.
- stdin/stdout tasks: ``{"inputs": [...], "outputs": [...]}``; each case is one
  fresh process; a case passes when it exits 0 and its stdout equals the
  output up to trailing whitespace on each line and trailing blank lines.

Both take optional ``"all_or_nothing": true`` and ``"timeout": seconds``. The
code is the last fenced code block of the completion (an unclosed final fence
counts, since generations get cut off), or the whole completion when it has
none. Score: the fraction of tests passed (``program``), or 1/0
(``program_strict``, or the row's ``all_or_nothing``). Reasons: ``ok``,
``wrong_output``, ``runtime_error`` (the code does not load), ``timeout``,
``no_code``; ``score=None`` with ``parse_error`` (a bad answer),
``sandbox_error``, ``no_tests_run`` (the tests hold no test the harness can
run, or none of them ran: all skipped, a fixture it lacks, a module the sandbox
lacks) or ``tests_not_run`` (fewer ran than the source holds): a run that
executes no test, or not all of them, is never a pass. ``detail`` says how many
tests ran and passed.

The verdict is decided here, outside the sandbox, from the harness's records:
their nonce, their count (equal to the number of tests counted here), whether
each ran, and for stdio the outputs, which never enter the sandbox. Exit codes
and printed markers are never read. Isolation and what it leaves open:
``verifiers.sandbox``.

>>> import json
>>> ans = json.dumps({"tests": ["assert add(1, 2) == 3", "assert add(2, 2) == 4"], "entry_point": "add"})
>>> program("```python\\ndef add(a, b):\\n    return a + b\\n```", ans)
Verdict(score=1.0, reason='ok', detail='2 of 2 tests ran; 2 passed')
>>> program("def add(a, b):\\n    return 3", ans).score
0.5
>>> pytest_style = json.dumps({"tests": "def test_add():\\n    assert add(1, 2) == 3\\n"})
>>> program("def add(a, b):\\n    return a - b", pytest_style)
Verdict(score=0.0, reason='wrong_output', detail='1 of 1 tests ran; 0 passed')
"""

from __future__ import annotations

import ast
import builtins
import functools
import json
import re
import threading

from verifiers import sandbox
from verifiers.program_tests import plan_tests
from verifiers.registry import Verdict, register

DEFAULT_TIMEOUT = 10.0  # seconds of wall clock per run (load + every test)
MAX_TIMEOUT = 60.0  # a row may ask for more than the default, up to this
POOL_GRACE = 5.0  # the pool's limit is the run's plus this (zygote start, kill, teardown)
MAX_CODE = 100_000  # bytes of code + set-up: the request travels as one socket datagram

# ast.parse is not thread-safe in CPython 3.11 (the AST constructor's recursion counter is shared by threads;
# CPython gh-106905): two threads parsing at once can raise "SystemError: AST constructor recursion depth
# mismatch", which CI hit scoring HumanEval from several threads. Parsing is rare (answers are cached), so one lock.
_PARSE_LOCK = threading.Lock()


def _parse(src: str) -> ast.Module:
    with _PARSE_LOCK:
        return ast.parse(src)


_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_OPEN_FENCE = re.compile(r"```[^\n`]*\n")


def extract_code(completion: str) -> str:
    """The last fenced code block, an unclosed final fence, or the whole text.

    >>> extract_code("Try:\\n```python\\nx = 1\\n```\\nthen\\n```py\\nx = 2\\n```")
    'x = 2\\n'
    """
    blocks = _FENCE.findall(completion)
    last_close = completion.rfind("```")
    if blocks:
        # An opening fence after the last complete block: the generation was cut off inside it.
        tail = completion[completion.rfind(blocks[-1]) + len(blocks[-1]) + 3:]
        m = _OPEN_FENCE.search(tail)
        return tail[m.end():] if m else blocks[-1]
    m = None
    for m in _OPEN_FENCE.finditer(completion):
        pass
    if m is not None:
        return completion[m.end():]
    return completion if last_close < 0 else completion.replace("```", "")


def _test_plan(tests) -> dict:
    """The counted plan of ``tests`` (``verifiers.program_tests``), parsed here, never run here."""
    if isinstance(tests, list):
        if not all(isinstance(t, str) for t in tests):
            raise ValueError("tests must be strings")
        for t in tests:
            _parse(t)  # a broken test is named as such, not as a broken join
        tests = "\n".join(t for t in tests if t.strip())
    if not isinstance(tests, str):
        raise ValueError("tests must be a string or a list of strings")
    if not tests.strip():
        raise ValueError("no tests")
    return plan_tests(tests, parse=_parse)


def _called_first(units: list) -> str:
    """The function every assert unit calls first (MBPP names no entry point), or "".

    A builtin counts only where a unit calls nothing else (MBPP task 126's function is ``sum``):
    else ``assert set(f(x)) == set(y)`` would make ``set`` the entry point, which the code may
    shadow (``set = lambda *a: 0`` passed such tests).
    """
    names = set()
    for src in units:
        if isinstance(src, str):
            calls = [n.func.id for n in ast.walk(_parse(src))
                     if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
            own = [c for c in calls if not hasattr(builtins, c)]
            names.add((own or calls or [""])[0])
    return names.pop() if len(names) == 1 else ""


def _normalise_output(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


@functools.lru_cache(maxsize=4096)
def parse_answer(answer: str) -> dict:
    """The run described by ``answer`` (cached: RL scores many completions per answer)."""
    spec = json.loads(answer)
    if not isinstance(spec, dict):
        raise ValueError("answer must be a JSON object")
    out = {"all_or_nothing": spec.get("all_or_nothing"), "timeout": spec.get("timeout")}
    if "inputs" in spec:
        inputs, outputs = spec["inputs"], spec["outputs"]
        if not (isinstance(inputs, list) and isinstance(outputs, list) and len(inputs) == len(outputs)
                and all(isinstance(x, str) for x in inputs + outputs) and inputs):
            raise ValueError("inputs and outputs must be equal-length lists of strings")
        return dict(out, mode="stdio", run_spec={"inputs": inputs}, setup="", expected=len(inputs),
                    outputs=tuple(outputs))
    if "tests" in spec:
        tests, setup = spec["tests"], spec.get("setup") or ""
    elif "test_list" in spec:  # an MBPP row's own fields
        tests = list(spec["test_list"]) + list(spec.get("challenge_test_list") or [])
        setup = spec.get("test_setup_code") or ""
    else:  # a HumanEval row's own field
        tests, setup = spec["test"], spec.get("setup") or ""
    plan = _test_plan(tests)
    entry = spec.get("entry_point") or (_called_first(plan["tests"]) if not plan["check"] else "")
    if plan["check"] and not entry:
        raise ValueError("HumanEval-style tests need an entry_point")
    if not isinstance(setup, str) or not isinstance(entry, str):
        raise ValueError("setup and entry_point must be strings")
    expected = plan["expected"]
    run_spec = {"tests": plan["tests"], "prelude": plan["prelude"], "entry_point": entry, "expected": expected}
    return dict(out, mode="function", run_spec=run_spec, setup=setup, expected=expected)


def check_program(completion: str, answer: str, *, all_or_nothing: bool = False,
                  timeout: float = DEFAULT_TIMEOUT) -> Verdict:
    """Score ``completion`` against the tests in ``answer`` (see the module docstring)."""
    try:
        p = parse_answer(answer)
        if p["all_or_nothing"] is not None:
            all_or_nothing = bool(p["all_or_nothing"])
        if p["timeout"] is not None:
            timeout = float(p["timeout"])
        timeout = min(timeout, MAX_TIMEOUT)
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        mode, run_spec, setup, expected = p["mode"], p["run_spec"], p["setup"], p["expected"]
    except (ValueError, KeyError, TypeError, SyntaxError, RecursionError, MemoryError) as e:
        return Verdict(None, f"parse_error: {type(e).__name__}")
    if expected == 0:  # the tests parse, but hold nothing the harness can run and count
        return Verdict(None, "no_tests_run", "no test found in the tests (no assert, check, test function "
                                             "or TestCase method)")
    if not isinstance(completion, str):
        return Verdict(0.0, "no_code")
    code = extract_code(completion)
    if not code.strip():
        return Verdict(0.0, "no_code")
    if len(code.encode(errors="replace")) + len(setup.encode(errors="replace")) > MAX_CODE:
        return Verdict(0.0, "too_long")
    res = sandbox.run(code, run_spec, mode=mode, setup=setup, limits=sandbox.Limits(timeout=timeout))
    if res.timed_out:
        return Verdict(0.0, "timeout")
    if res.error or not res.done:
        # The harness died or its channel broke. It only runs trusted code, so blame the sandbox,
        # unless the user process took the whole tree down (memory, process limits): score 0.
        return Verdict(0.0, "runtime_error") if not res.error else Verdict(None, "sandbox_error")
    recs = res.records
    if len(recs) != expected or [r.get("i") for r in recs] != list(range(expected)):
        return Verdict(None, "sandbox_error")
    if mode == "stdio":
        passed = sum(1 for r, want in zip(recs, p["outputs"])
                     if r.get("status") == 0 and type(r.get("out")) is str
                     and _normalise_output(r["out"]) == _normalise_output(want))
    else:
        if all(str(r.get("err", "")).startswith("load_error:") for r in recs):
            return Verdict(0.0, "runtime_error", f"the code does not load ({recs[0]['err'][11:]})")
        ran = [r for r in recs if r.get("ran") is True]
        if len(ran) < expected:  # a test that did not run is never a pass, nor a fail: cannot judge
            why = next(str(r.get("err", ""))[:120] for r in recs if r.get("ran") is not True)
            return Verdict(None, "tests_not_run" if ran else "no_tests_run",
                           f"{len(ran)} of {expected} tests ran (first not run: {why})")
        passed = sum(1 for r in ran if r.get("ok") is True)
    detail = f"{expected} of {expected} tests ran; {passed} passed"
    if passed == expected:
        return Verdict(1.0, "ok", detail)
    return Verdict(0.0 if all_or_nothing else passed / expected, "wrong_output", detail)


@register("program")
def program(completion: str, answer: str) -> Verdict:
    """Fraction of tests passed (see the module docstring)."""
    return check_program(completion, answer)


@register("program_strict")
def program_strict(completion: str, answer: str) -> Verdict:
    """All tests or nothing."""
    return check_program(completion, answer, all_or_nothing=True)


# The pool's default per-call limit: the run's wall clock plus start-up and teardown. A row that
# asks for a longer "timeout" needs a longer pool timeout too.
program.timeout = program_strict.timeout = DEFAULT_TIMEOUT + POOL_GRACE
