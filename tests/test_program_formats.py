"""The ``program`` verifier over every test format (issue 14): each runs and is counted, a run that
executes no test never passes, and the user's code cannot reach the tests whatever their format.

The table is the issue's: with the entry point ``add``, a wrong ``a - b`` scores 0.0 in every row,
``a + b`` 1.0, and a solution that raises ``ValueError`` 0.0.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from verifiers import Verdict
from verifiers.program import _test_plan, program

RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"
RAISES = "def add(a, b):\n    raise ValueError('no')\n"
# Right when a is not 2: the tests below are built so that exactly half of them have a == 2.
HALF = "def add(a, b):\n    return a + b if a != 2 else 0\n"

UNITTEST = ("import unittest\n\nclass TestAdd(unittest.TestCase):\n"
            "    def setUp(self):\n        self.pairs = [(2, 3, 5), (1, 1, 2)]\n"
            "    def test_two(self):\n        a, b, c = self.pairs[0]\n        self.assertEqual(add(a, b), c)\n"
            "    def test_one(self):\n        a, b, c = self.pairs[1]\n        self.assertEqual(add(a, b), c)\n")
FORMS = {
    "asserts": "assert add(2, 3) == 5\nassert add(-1, 2) == 1\n",
    "mbpp_list": ["assert add(2, 3) == 5", "assert add(-1, 2) == 1"],
    "humaneval_check": "METADATA = {}\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 2) == 1\n",
    "pytest_functions": "def test_small():\n    assert add(2, 3) == 5\n\ndef test_negative():\n    assert add(-1, 2) == 1\n",
    "pytest_class": "class TestAdd:\n    def test_small(self):\n        assert add(2, 3) == 5\n"
                    "    def test_negative(self):\n        assert add(-1, 2) == 1\n",
    "pytest_parametrize": "import pytest\n\n@pytest.mark.parametrize('a,b,c', [(2, 3, 5), (-1, 2, 1)])\n"
                          "def test_add(a, b, c):\n    assert add(a, b) == c\n",
    "pytest_from_solution": "from solution import add\n\ndef test_small():\n    assert add(2, 3) == 5\n\n"
                            "def test_negative():\n    assert add(-1, 2) == 1\n",
    "unittest": UNITTEST,
    "unittest_main": UNITTEST + "\nif __name__ == '__main__':\n    unittest.main()\n",
    "unittest_runner": UNITTEST + "\nsuite = unittest.TestLoader().loadTestsFromTestCase(TestAdd)\n"
                       "unittest.TextTestRunner(verbosity=2).run(suite)\n",
    "main_asserts": "if __name__ == '__main__':\n    assert add(2, 3) == 5\n    assert add(-1, 2) == 1\n",
    "main_calls": "def test_small():\n    assert add(2, 3) == 5\n\ndef test_negative():\n    assert add(-1, 2) == 1\n\n"
                  "if __name__ == '__main__':\n    test_small()\n    test_negative()\n    print('all passed')\n",
}


def answer(tests, **extra):
    return json.dumps(dict({"tests": tests, "entry_point": "add"}, **extra))


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("code,score", [(WRONG, 0.0), (RIGHT, 1.0), (RAISES, 0.0), (HALF, 0.5)],
                         ids=["wrong", "right", "raises", "half"])
def test_every_format_runs_and_counts(form, code, score):
    v = program(code, answer(FORMS[form]))
    if form == "humaneval_check":  # check(candidate) is one test: half right is wrong
        score, n = float(score == 1.0), 1
    else:
        n = 2
    assert v.score == score, v
    assert v.detail.startswith(f"{n} of {n} tests ran"), v


def test_mbpp_row_fields_and_stdio_are_counted_too():
    mbpp = json.dumps({"test_list": ["assert add(2, 3) == 5"], "challenge_test_list": ["assert add(-1, 2) == 1"],
                       "test_setup_code": ""})
    assert [program(c, mbpp).score for c in (RIGHT, WRONG, HALF)] == [1.0, 0.0, 0.5]
    stdio = json.dumps({"inputs": ["2 3\n", "-1 2\n"], "outputs": ["5\n", "1\n"]})
    main = "a, b = map(int, input().split())\nprint(a {} b)\n"
    assert [program(main.format(op), stdio).score for op in "+-"] == [1.0, 0.0]


def test_unittest_set_up_tear_down_and_class_fixtures_are_honoured():
    tests = ("import unittest\nlog = []\n\ndef setUpModule():\n    log.append(0)\n\nclass T(unittest.TestCase):\n"
             "    @classmethod\n    def setUpClass(cls):\n        cls.base = 10\n"
             "    def setUp(self):\n        self.x = add(self.base, 1)\n"
             "    def tearDown(self):\n        log.append(self.x)\n"
             "    def test_a(self):\n        self.assertEqual(self.x, 11)\n"
             "    def test_b(self):\n        self.assertEqual(len(log), 2)\n"   # setUpModule, test_a's tearDown
             "    def test_c(self):\n        with self.assertRaises(ValueError):\n            add('a', None)\n")
    code = RIGHT.replace("return a + b", "if b is None:\n        raise ValueError\n    return a + b")
    assert program(code, answer(tests)) == Verdict(1.0, "ok")
    assert program(RIGHT, answer(tests)).score == pytest.approx(2 / 3)  # TypeError, not ValueError


def test_inherited_test_methods_are_each_a_test():
    tests = ("import unittest\nclass Base(unittest.TestCase):\n    def test_base(self):\n        assert add(2, 3) == 5\n"
             "class Sub(Base):\n    def test_sub(self):\n        assert add(1, 1) == 2\n")
    assert _test_plan(tests)["expected"] == 3  # Base.test_base, Sub.test_sub, Sub.test_base
    assert program(HALF, answer(tests)).score == pytest.approx(1 / 3)


def test_pytest_helpers_fixtures_and_setup_method():
    tests = ("import pytest\n\n@pytest.fixture\ndef pair():\n    yield (2, 3)\n\n"
             "@pytest.fixture\ndef total(pair):\n    return sum(pair)\n\n"
             "def test_fixture(pair, total):\n    assert add(*pair) == total\n\n"
             "def test_raises():\n    with pytest.raises(TypeError):\n        add(1, 'x')\n\n"
             "def test_approx():\n    assert add(0.1, 0.2) == pytest.approx(0.3)\n\n"
             "class TestState:\n    def setup_method(self, method):\n        self.n = add(1, 1)\n"
             "    def test_n(self):\n        assert self.n == 2\n")
    assert program(RIGHT, answer(tests)) == Verdict(1.0, "ok")
    assert program(WRONG, answer(tests)).score == 0.25  # only the TypeError test passes


def test_non_literal_parametrize_is_one_test_over_every_case():
    tests = ("import pytest\nCASES = [(i, i, 2 * i) for i in range(4)]\n\n"
             "@pytest.mark.parametrize('a,b,c', CASES)\ndef test_add(a, b, c):\n    assert add(a, b) == c\n\n"
             "def test_other():\n    assert add(3, 3) == 6\n")
    assert _test_plan(tests)["expected"] == 2
    assert program(RIGHT, answer(tests)).score == 1.0
    assert program(HALF, answer(tests)).score == 0.5  # the case a == 2 fails the whole parametrized test


@pytest.mark.parametrize("tests,reason", [
    ("print(add(2, 3))\n", "no_tests_run"),                                      # an unknown shape: checks nothing
    ("try:\n    assert add(2, 3) == 5\n    print('ok')\nexcept AssertionError:\n    print('fail')\n", "no_tests_run"),
    ("import unittest\nclass T(unittest.TestCase):\n    def helper(self):\n        assert add(2, 3) == 5\n",
     "no_tests_run"),                                                            # no test* method
    ("import pytest\n\n@pytest.mark.skip\ndef test_a():\n    assert add(2, 3) == 5\n", "no_tests_run"),
    ("import unittest\n\n@unittest.skip('later')\nclass T(unittest.TestCase):\n    def test_a(self):\n"
     "        self.assertEqual(add(2, 3), 5)\n", "no_tests_run"),
    ("import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.skipTest('later')\n",
     "no_tests_run"),
    ("def test_a(tmp_path):\n    assert add(2, 3) == 5\n", "no_tests_run"),   # a fixture the harness lacks
    ("import numpy_not_installed_anywhere\n\ndef test_a():\n    assert add(2, 3) == 5\n", "no_tests_run"),
    ("def test_a():\n    import numpy_not_installed_anywhere\n    assert add(2, 3) == 5\n", "no_tests_run"),
    ("import pytest\n\ndef test_a():\n    assert add(2, 3) == 5\n\n@pytest.mark.skipif(True, reason='x')\n"
     "def test_b():\n    assert add(1, 1) == 2\n", "tests_not_run"),            # 1 of 2 ran
])
def test_a_run_that_executes_not_every_test_cannot_be_judged(tests, reason):
    for code in (RIGHT, WRONG):
        v = program(code, answer(tests))
        assert (v.score, v.reason) == (None, reason), v


def test_no_tests_run_is_counted_and_logged_by_the_rewards():
    from rldistill.rewards import build_reward_funcs

    (fn,) = build_reward_funcs(["program"], workers=1)
    metrics = {}
    out = fn(prompts=["p"] * 2, completions=[RIGHT, WRONG],
             completion_ids=[[0], [0]], answer=[answer("print(add(2, 3))\n")] * 2,
             trainer_state=SimpleNamespace(global_step=1),
             log_metric=lambda name, v: metrics.setdefault(name, []).append(v))
    assert out == [None, None]
    assert metrics == {"verifier/no_tests_run": [1.0]}
    assert fn.scorer.counts["no_tests_run"] == 2


@pytest.mark.parametrize("attack", [
    "import unittest\nunittest.TestCase.assertEqual = lambda *a, **k: None\n"
    "unittest.TestCase.run = lambda self, result=None: None\n",
    "import builtins, sys, types\nfake = types.ModuleType('pytest')\nsys.modules['pytest'] = fake\n"
    "real = builtins.__import__\nbuiltins.__import__ = lambda *a, **k: fake if a[0] == 'unittest' else real(*a, **k)\n",
    "import sys\nsys.modules['unittest'] = None\nsys.meta_path.clear()\n",
    "import unittest\n_real = add\ndef add(a, b):\n    raise unittest.SkipTest('skip me')\n",  # a skip from the code
    "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\n",
])
def test_the_code_cannot_reach_the_tests_in_any_format(attack):
    """Patching unittest, pytest, the import machinery or the exception types in the user's process changes
    nothing where the tests run; a skip raised by the code is a failure, never a skip."""
    from verifiers import sandbox

    code = WRONG + attack
    # (At level none as root the user's uid may not read the stdlib under /root: the attack does not load.)
    loads = ("wrong_output",) if sandbox.isolation_level() != "none" else ("wrong_output", "runtime_error")
    for form in ("unittest_main", "pytest_parametrize", "main_asserts"):
        v = program(code, answer(FORMS[form]))
        assert v.score == 0.0 and v.reason in loads, (form, v)


def test_an_object_of_the_code_has_no_truth_value_in_the_tests():
    """``assert f(x)`` and ``assertTrue`` used to pass for any returned object (an opaque handle was truthy)."""
    code = "def is_even(n):\n    return object()\n"
    tests = ("import unittest\nclass T(unittest.TestCase):\n    def test_even(self):\n"
             "        self.assertTrue(is_even(2))\n\ndef test_plain():\n    assert is_even(4)\n")
    assert program(code, json.dumps({"tests": tests})).score == 0.0
    assert program("def is_even(n):\n    return n % 2 == 0\n", json.dumps({"tests": tests})).score == 1.0


def test_test_functions_the_source_calls_run_once_through_those_calls():
    plan = _test_plan(FORMS["main_calls"])
    assert plan["expected"] == 2 and all(isinstance(t, str) for t in plan["tests"])


def test_a_builtin_the_asserts_call_first_is_not_the_entry_point():
    """``assert set(f(x)) == set(y)`` without an entry point: ``f`` is, so the code cannot shadow ``set``."""
    tests = json.dumps({"tests": ["assert set(similar((3, 4), (4, 5))) == set((4,))",
                                  "assert set(similar((1, 2), (2, 3))) == set((2,))"]})
    assert program("def similar(a, b):\n    return None\nset = lambda *a: 0\n", tests).score == 0.0
    assert program("def similar(a, b):\n    return tuple(set(a) & set(b))\n", tests).score == 1.0


def test_star_import_of_the_solution():
    tests = "from solution import *\n\ndef test_a():\n    assert add(2, 3) == 5\n"
    code = RIGHT + "def len(x):\n    return 0\n"
    assert program(code, answer(tests)).score == 1.0
    assert program(WRONG, answer(tests)).score == 0.0


@pytest.mark.parametrize("tests,n", [
    ("from unittest import TestCase, main\nclass TestAdd(TestCase):\n    def test_a(self):\n        self.assertEqual(add(1, 2), 3)\n"
     "\nif __name__ == '__main__':\n    main()\n", 1),                                  # main imported by name
    ("import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(add(1, 2), 3)\n"
     "def main():\n    unittest.main()\n\nif __name__ == '__main__':\n    main()\n", 1),  # a runner behind a function
    ("def check(a, b):\n    assert a == b\n\ndef test_x():\n    check(add(1, 2), 3)\n", 1),  # a helper named check
    ("import sys\nif add(2, 3) != 5:\n    print('FAIL')\n    sys.exit(1)\nprint('PASS')\n", 1),  # exit status as a check
    ("import pytest\nstate = {}\n@pytest.fixture\ndef prepared():\n    state['x'] = 2\n    yield\n    state.clear()\n\n"
     "@pytest.mark.usefixtures('prepared')\ndef test_a():\n    assert add(state['x'], 3) == 5\n", 1),
    ("import pytest\n@pytest.mark.parametrize('a', [1, 2])\n@pytest.mark.parametrize('b', [3, 4, 5])\n"
     "def test_p(a, b):\n    assert add(a, b) == a + b\n", 6),                       # stacked: the product
    ("import pytest\n@pytest.mark.parametrize('a,b,c', [pytest.param(1, 2, 3, id='one'), (2, 2, 4)])\n"
     "def test_p(a, b, c):\n    assert add(a, b) == c\n", 2),
    ("import unittest\nclass T(unittest.TestCase):\n    def test_many(self):\n        for a in (1, 3):\n"
     "            with self.subTest(a=a):\n                self.assertEqual(add(a, 1), a + 1)\n", 1),
    ("async def test_a():\n    assert add(1, 2) == 3\n", 1),
])
def test_more_shapes_found_in_the_wild(tests, n):
    right, wrong = program(RIGHT, answer(tests)), program(WRONG, answer(tests))
    assert (right.score, right.detail) == (1.0, f"{n} of {n} tests ran; {n} passed"), right
    assert wrong.score == 0.0, wrong


def test_the_benchmark_prints_the_issue_table_as_it_should_read():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import bench_program as bp

    table = bp.formats_table()
    assert len(table) == 7
    for name, row in table.items():
        assert [cell.split()[0] for cell in row.values()] == ["0.0", "1.0", "0.0"], (name, row)


def test_a_name_assigned_again_between_asserts_keeps_its_order():
    tests = "x = [1, 2]\nassert add(*x) == 3\nx = [2, 3]\nassert add(*x) == 5\n"
    assert program(RIGHT, answer(tests)).score == 1.0


def test_methods_and_attributes_of_returned_objects_are_used_in_the_codes_process():
    """LeetCode style: ``Solution().twoSum(...)``; ``node.val``. The object stays in the user's process."""
    code = ("class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n"
            "        for i, x in enumerate(nums):\n            if target - x in seen:\n"
            "                return [seen[target - x], i]\n            seen[x] = i\n"
            "class Node:\n    def __init__(self, v):\n        self.val = v\n"
            "def make(v):\n    return Node(v)\n")
    tests = json.dumps({"tests": "assert Solution().twoSum([2, 7, 11, 15], 9) == [0, 1]\n"
                                 "assert make(3).val == 3\nassert not hasattr(make(3), 'nope')\n"})
    assert program(code, tests).score == 1.0
    assert program(code.replace("[seen[target - x], i]", "[0, 0]"), tests).score == pytest.approx(2 / 3)
