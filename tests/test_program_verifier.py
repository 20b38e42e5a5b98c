"""The ``program`` verifier: answer forms, code extraction, scoring, type strictness,
registry and pool, and conformance on HumanEval and MBPP (../shared/data).

HumanEval runs in full (164 canonical solutions, 164 corrupted copies). MBPP's
974 tasks x 2 take ~1.5 min on two cores, so the tests score a deterministic
sample of 120 tasks (every 8th task id, plus the two with set-up code); the
full run is ``python scripts/bench_program.py --conformance``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path

import pytest

from verifiers import Verdict, get_verifier
from verifiers.program import _test_plan, extract_code, program, program_strict

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import bench_program as bp  # noqa: E402  (the conformance helpers live with the benchmark)

ADD_TESTS = json.dumps({"tests": ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(0, 0) == 0"],
                        "entry_point": "add"})
ADD = "def add(a, b):\n    return a + b\n"


@pytest.mark.parametrize("completion,expected", [
    ("x = 1", "x = 1"),
    ("Here:\n```python\nx = 1\n```\nDone.", "x = 1\n"),
    ("```\nx = 1\n```\nand better:\n```py\nx = 2\n```", "x = 2\n"),
    ("```python\nx = 1\n```\nnow the final one:\n```python\nx = 3\n", "x = 3\n"),  # cut off
    ("Reasoning...\n```python\nx = 4", "x = 4"),
])
def test_extract_code(completion, expected):
    assert extract_code(completion) == expected


@pytest.mark.parametrize("tests,check,n", [
    (["assert f(1) == 2", "assert f(2) == 3"], False, 2),
    ("assert f(1) == 2\nassert f(2) == 3\nassert f(3) == 4\n", False, 3),
    ("x = f(1)\nassert x == 2\nfor i in range(3):\n    assert f(i) == i + 1\n", False, 2),
    ("def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 3\n", True, 1),
    ("def check(candidate):\n    assert candidate(1) == 2\n\ncheck(f)\n", True, 1),
])
def test_test_plan_counts(tests, check, n):
    plan = _test_plan(tests)
    assert (plan["check"], plan["expected"], len(plan["tests"])) == (check, n, n)


@pytest.mark.parametrize("code,score,reason", [
    (ADD, 1.0, "ok"),
    ("def add(a, b):\n    return a + b if a else 3\n", 2 / 3, "wrong_output"),
    ("def add(a, b):\n    return None\n", 0.0, "wrong_output"),
    ("def add(a, b)\n    return a + b\n", 0.0, "runtime_error"),  # syntax error
    ("raise ValueError('no')\n", 0.0, "runtime_error"),
    ("", 0.0, "no_code"),
    ("```python\n```", 0.0, "no_code"),
])
def test_function_scores(code, score, reason):
    v = program(code, ADD_TESTS)
    assert v == Verdict(score, reason)


def test_all_or_nothing_by_verifier_and_by_row():
    half = "def add(a, b):\n    return a + b if a else 3\n"
    assert program_strict(half, ADD_TESTS) == Verdict(0.0, "wrong_output")
    row = json.dumps(dict(json.loads(ADD_TESTS), all_or_nothing=True))
    assert program(half, row) == Verdict(0.0, "wrong_output")
    assert program(ADD, row) == Verdict(1.0, "ok")


def test_humaneval_check_form():
    test = "METADATA = {}\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
    ans = json.dumps({"tests": test, "entry_point": "add"})
    assert program(ADD, ans).score == 1.0
    assert program("def add(a, b):\n    return a * b\n", ans).score == 0.0


def test_tests_may_call_helpers_and_use_stdlib_and_setup():
    code = "import math\nclass Node:\n    def __init__(self, v):\n        self.v = v\n" \
           "def val(n):\n    return n.v\ndef hyp(a, b):\n    return math.hypot(a, b)\n"
    ans = json.dumps({"tests": ["assert val(root) == 7", "assert math.isclose(hyp(3, 4), 5.0)",
                                "assert val(Node(2)) == 2"], "setup": "root = Node(7)"})
    assert program(code, ans).score == 1.0


def test_only_the_entry_point_may_shadow_a_builtin():
    code = "def sum(a, b):\n    return a + b\nabs = lambda x: 0\n"
    assert program(code, json.dumps({"tests": ["assert sum(1, 2) == 3"]})).score == 1.0  # MBPP task 126
    assert program(code, json.dumps({"tests": ["assert abs(sum(1, 2) - 4) < 0.5"]})).score == 0.0


@pytest.mark.parametrize("ret,score", [
    ("collections.Counter('aab')", 1.0),            # dict subclass from the stdlib: its plain value
    ("collections.OrderedDict([('a', 2), ('b', 1)])", 1.0),
    ("Liar(0)", 0.0),                                # int subclass whose __eq__ says True: its value, 0
    ("Any()", 0.0),                                  # __eq__ always True: an opaque handle
    ("[('a', 2), ('b', 1)]", 0.0),                   # a list is not a dict
    ("{'a': 2.0, 'b': 1}", 1.0),                     # 2.0 == 2 in Python, as in the original test
])
def test_values_cross_type_strictly(ret, score):
    code = ("import collections\nclass Liar(int):\n    __eq__ = lambda s, o: True\n    __hash__ = int.__hash__\n"
            "class Any:\n    __eq__ = lambda s, o: True\n    __hash__ = object.__hash__\n"
            f"def f():\n    return {ret}\n")
    assert program(code, json.dumps({"tests": ["assert f() == {'a': 2, 'b': 1}"]})).score == score


@pytest.mark.parametrize("code,score", [
    ("a, b = map(int, input().split())\nprint(a + b)\n", 1.0),
    ("import sys\nnums = sys.stdin.read().split()\nprint(int(nums[0]) + int(nums[1]))   \n\n", 1.0),
    ("a, b = map(int, input().split())\nprint(a - b)\n", 0.5),
    ("a, b = map(int, input().split())\nprint(a + b)\nraise SystemExit(3)\n", 0.0),  # nonzero exit
])
def test_stdio_tasks(code, score):
    ans = json.dumps({"inputs": ["1 2\n", "5 0\n"], "outputs": ["3\n", "5"]})
    assert program(code, ans).score == score


@pytest.mark.parametrize("answer", ["not json", "[]", '{"tests": 3}', '{"inputs": ["1"], "outputs": []}',
                                    '{"tests": "def check(c):\\n  pass\\n"}', '{"tests": "assert (("}', '{"tests": []}'])
def test_bad_answers_cannot_be_judged(answer):
    v = program(ADD, answer)
    assert v.score is None and v.reason.startswith("parse_error")


def test_answers_are_never_parsed_by_two_threads_at_once(monkeypatch):
    """CPython 3.11's ast.parse races when threads parse at once (CI saw "SystemError: AST constructor recursion
    depth mismatch" scoring HumanEval from threads): the verifier serialises its parses."""
    import ast
    import time

    real, inside, most = ast.parse, [0], [0]
    lock = threading.Lock()

    def watched(*args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.002)  # releases the GIL: an unserialised caller would get in here
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(ast, "parse", watched)
    tests = "def check(candidate):\n    assert candidate(1) == 2\n"
    threads = [threading.Thread(target=lambda: [_test_plan(tests) for _ in range(10)]) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert most[0] == 1


def test_registry_and_timeout_attribute():
    fn = get_verifier("program")
    assert fn is program
    assert 10.0 < fn.timeout <= 20.0
    assert get_verifier("verifiers.program:program_strict") is program_strict


def test_through_the_pool_from_a_thread_and_an_event_loop():
    pool_mod = pytest.importorskip("verifiers.pool")
    completions = [ADD, "def add(a, b):\n    while True: pass\n", "def add(a, b):\n    return 0\n"]
    timeouts = [ADD_TESTS, json.dumps(dict(json.loads(ADD_TESTS), timeout=1.0)), ADD_TESTS]
    with pool_mod.VerifierPool(workers=2) as pool:
        out = {}
        t = threading.Thread(target=lambda: out.update(v=pool.score("program", completions, timeouts)))
        t.start()
        t.join(120)
        assert [v.score for v in out["v"]] == [1.0, 0.0, 1 / 3]
        assert out["v"][1].reason == "timeout"
        res = asyncio.run(pool.ascore(["program"] * 2, [ADD, ADD], [ADD_TESTS] * 2))
        assert [v.score for v in res] == [1.0, 1.0]


# ---------------------------------------------------------------- conformance

needs_data = pytest.mark.skipif(not (bp.HUMANEVAL.exists() and bp.MBPP.exists()),
                                reason=f"datasets not found under {bp.DATA}")


@needs_data
@pytest.mark.slow
def test_humaneval_canonical_all_pass_and_corrupted_all_fail():
    rows = bp.load_humaneval()
    good = bp.score_all(bp.humaneval_cases(rows), workers=3)
    assert {k: v for k, v in good if v.score != 1.0} == {}
    assert len(good) == 164
    bad = bp.score_all(bp.humaneval_cases(rows, corrupted=True), workers=3, strict=True)
    assert {k: v for k, v in bad if v.score != 0.0} == {}


@needs_data
@pytest.mark.slow
def test_mbpp_sample_canonical_pass_and_corrupted_fail():
    rows = [r for r in bp.load_mbpp() if r["task_id"] % 8 == 0 or r["test_setup_code"]]
    good = bp.score_all(bp.mbpp_cases(rows), workers=3)
    assert {k: v for k, v in good if v.score != 1.0} == {}
    bad = bp.score_all(bp.mbpp_cases(rows, corrupted=True), workers=3, strict=True)
    assert {k: v for k, v in bad if v.score != 0.0} == {}
