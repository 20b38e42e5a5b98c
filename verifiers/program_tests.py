"""Test-format discovery for the ``program`` verifier: test source in, a counted plan out.

Runs in the verifier's own process (never in the sandbox) and only parses: nothing here
executes a test. ``plan_tests(source)`` turns the ``tests`` of an answer into the plan the
sandbox's harness runs: a prelude (definitions, imports, constants assigned once), then a list
of tests, each counted here, so the number of tests a run must execute is fixed before the run.
Formats, each test counted as:

- plain asserts: each top-level statement that holds an ``assert``, a ``raise`` or an
  ``exit(1)`` (not one a ``try`` swallows), or calls a function of the tests that does, is one
  test; the statements before it are its set-up. MBPP's ``test_list`` is this (strings joined).
- HumanEval: a top-level ``def check(candidate)`` that no function of the tests calls: one
  test, ``check(entry_point)``; a ``check(...)`` call in the source is dropped.
- pytest style: module-level ``test*`` functions and the ``test*`` methods of ``Test*``
  classes (no ``__init__``), one test each, or one per argument set of
  ``@pytest.mark.parametrize`` lists that are literals (or names bound once to one), stacked
  ones multiplied; a list that is not literal makes the function one test over all its sets.
  A ``test*`` function that the source calls itself is run by those calls instead.
- ``unittest.TestCase`` subclasses (directly, or through classes of the same source): each
  ``test*`` method, inherited ones included, is one test.
- ``if __name__ == "__main__":`` blocks: their body is read as top-level code (the harness
  runs the tests as the main module). Statements that start a runner (``unittest.main()``,
  ``from unittest import main; main()``, ``pytest.main()``, ``TextTestRunner``, a function
  of the tests that does) and bare ``exit()`` calls are dropped: the harness drives the
  tests itself, so it knows how many ran.

Source that holds none of these plans zero tests (the verifier says ``no_tests_run``).
Left out: fixtures other than plain ones defined in the tests (the harness reports a test that
asks for another as not run), conftest files, pytest plugins, doctests, and tests that need
more than one source file.

>>> p = plan_tests("def test_a():\\n    assert f(1) == 2\\n\\nclass TestB:\\n    def test_c(self):\\n"
...                "        assert f(2) == 3\\n")
>>> p["tests"], p["expected"]
([{'fn': 'test_a', 'n': 1, 'k': 0}, {'cls': 'TestB', 'fn': 'test_c', 'n': 1, 'k': 0}], 2)
"""

from __future__ import annotations

import ast
import collections
import textwrap

RUNNER_NAMES = frozenset({"TextTestRunner", "TestLoader", "defaultTestLoader", "TestSuite", "makeSuite",
                          "TestProgram"})
EXIT_CALLS = frozenset({"exit", "quit", "_exit"})
CASE_BASES = frozenset({"TestCase", "IsolatedAsyncioTestCase"})
_HOISTED = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _is_main_guard(node) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare) or len(node.test.ops) != 1:
        return False
    sides = [node.test.left, node.test.comparators[0]]
    return isinstance(node.test.ops[0], ast.Eq) and \
        any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and \
        any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)


def _is_exit(n) -> bool:
    f = n.func if isinstance(n, ast.Call) else None
    return (isinstance(f, ast.Name) and f.id in EXIT_CALLS) or \
        (isinstance(f, ast.Attribute) and f.attr in EXIT_CALLS and isinstance(f.value, ast.Name)
         and f.value.id in ("sys", "os"))


def _is_runner(stmt, runners=frozenset()) -> bool:
    """A statement that starts a test runner (or calls a function of the tests that does), or a bare
    exit: the harness runs the tests itself."""
    if isinstance(stmt, ast.Expr) and _is_exit(stmt.value):
        return True
    for n in ast.walk(stmt):
        if isinstance(n, ast.Attribute):
            base = n.value.id if isinstance(n.value, ast.Name) else ""
            if n.attr in RUNNER_NAMES or (n.attr == "main" and base in ("unittest", "pytest")):
                return True
        elif isinstance(n, ast.Name) and (n.id in RUNNER_NAMES or (n.id in runners and isinstance(n.ctx, ast.Load))):
            return True
    return False


def _walk_outside_defs(node):
    """ast.walk that does not enter nested function or class bodies (defining is not testing)."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                todo.append(child)


def _called_names(node) -> set:
    return {n.func.id for n in _walk_outside_defs(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _swallows(node) -> bool:
    """A ``try`` whose handlers catch an AssertionError (bare, Exception, BaseException, AssertionError)."""
    for h in node.handlers:
        types = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
        if any(t is None or (isinstance(t, ast.Name) and t.id in ("Exception", "BaseException", "AssertionError"))
               for t in types):
            return True
    return False


def _checks(node, enter_defs=False) -> bool:
    """Holds an ``assert`` or ``raise`` whose failure reaches the harness (not one a ``try`` swallows:
    a script that prints "fail" checks nothing the harness can see)."""
    if isinstance(node, (ast.Assert, ast.Raise)):
        return True
    if _is_exit(node) and node.args and not (isinstance(node.args[0], ast.Constant)
                                             and node.args[0].value in (0, None, False)):
        return True  # exit(1) on a failed check: the harness reads it as a failed test
    if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))) and _swallows(node):
        parts = node.handlers + node.orelse + node.finalbody
        return any(_checks(n, enter_defs) for n in parts)
    return any(_checks(c, enter_defs) for c in ast.iter_child_nodes(node)
               if enter_defs or not isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)))


def _checking_functions(defs: dict) -> set:
    """Top-level functions of the tests that assert or raise, directly or through each other."""
    out = {name for name, d in defs.items() if _checks(d, enter_defs=True)}
    while True:
        more = {name for name, d in defs.items() if name not in out
                and any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in out
                        for n in ast.walk(d))}
        if not more:
            return out
        out |= more


def _inline_main(body: list) -> list:
    out = []
    for node in body:
        out.extend(_inline_main(node.body) if _is_main_guard(node) else [node])
    return out


def _flatten(body: list) -> list:
    """Top-level statements with ``if __name__ == "__main__":`` bodies inlined and runner calls dropped."""
    stmts = _inline_main(body)
    defs = [n for n in stmts if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    runners = {a.asname or a.name for n in stmts if isinstance(n, ast.ImportFrom) and n.module in ("unittest", "pytest")
               for a in n.names if a.name == "main"}  # from unittest import main
    while True:  # functions of the tests that start a runner (def main(): unittest.main()), transitively
        more = {d.name for d in defs if d.name not in runners and any(_is_runner(s, runners) for s in d.body)}
        if not more:
            break
        runners |= more
    return [n for n in stmts if (isinstance(n, _HOISTED) and n.name not in runners if hasattr(n, "name") else
                                 isinstance(n, _HOISTED)) or not _is_runner(n, frozenset(runners))]


def _decorator_name(dec) -> str:
    f = dec.func if isinstance(dec, ast.Call) else dec
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _param_count(fn, constants: dict):
    """Test cases of ``fn``: the product of its parametrize lists' lengths; None when one is not literal."""
    n = 1
    for dec in fn.decorator_list:
        if _decorator_name(dec) != "parametrize" or not isinstance(dec, ast.Call):
            continue
        values = dec.args[1] if len(dec.args) > 1 else next((k.value for k in dec.keywords if k.arg == "argvalues"),
                                                              None)
        if isinstance(values, ast.Name):
            values = constants.get(values.id)
        if not isinstance(values, (ast.List, ast.Tuple)) or any(isinstance(e, ast.Starred) for e in values.elts):
            return None
        n *= len(values.elts)
    return n


def _class_methods(cls, classes: dict, seen=()) -> list:
    """``test*`` method names of ``cls``, with those inherited from classes of the same source (MRO order)."""
    names = []
    for base in cls.bases:
        b = classes.get(base.id) if isinstance(base, ast.Name) else None
        if b is not None and b.name not in seen:
            names += [m for m in _class_methods(b, classes, seen + (cls.name,)) if m not in names]
    own = [n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return [n.name for n in own if n.name.startswith("test") and n.name not in names] + names


def _is_case(cls, classes: dict, seen=()) -> bool:
    for base in cls.bases:
        name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
        if name in CASE_BASES:
            return True
        b = classes.get(name) if isinstance(base, ast.Name) else None
        if b is not None and b.name not in seen and _is_case(b, classes, seen + (cls.name,)):
            return True
    return False


def _method_def(cls, name, classes, seen=()):
    for n in cls.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name:
            return n
    for base in cls.bases:
        b = classes.get(base.id) if isinstance(base, ast.Name) else None
        if b is not None and b.name not in seen:
            found = _method_def(b, name, classes, seen + (cls.name,))
            if found is not None:
                return found
    return None


def _expand(desc: dict, count) -> list:
    """One plan entry per counted test: ``n`` is the number of cases the harness must find at run time
    (None: any number, all run as this one test), ``k`` the case this entry runs."""
    if count is None:
        return [dict(desc, n=None, k=None)]
    return [dict(desc, n=count, k=k) for k in range(count)]


def _is_constant(node, assigned) -> bool:
    """``NAME = <no call>``, the only top-level assignment of NAME: safe to run before every test."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        return False
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return all(isinstance(t, ast.Name) and assigned[t.id] == 1 for t in targets) and \
        not any(isinstance(n, ast.Call) for n in ast.walk(node.value))


def _segment(source: str, node) -> str:
    """The source of a top-level statement, decorators included (``get_source_segment`` leaves them out)."""
    decs = getattr(node, "decorator_list", None)
    if decs:
        lines = source.splitlines()[decs[0].lineno - 1:node.end_lineno]
        return textwrap.dedent("\n".join(lines))
    return ast.get_source_segment(source, node) or ast.unparse(node)


def plan_tests(source: str, parse=ast.parse) -> dict:
    """``{"prelude": src, "tests": [...], "expected": n, "check": bool}``; each test a string of
    statements (an assert unit) or a dict the harness resolves (``check``, ``fn``/``cls``, ``case``)."""
    tree = parse(source)
    stmts = _flatten(tree.body)
    defs = {n.name: n for n in stmts if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    classes = {n.name: n for n in stmts if isinstance(n, ast.ClassDef)}
    # HumanEval's check(candidate): one parameter, called by no function of the tests (a pytest file's
    # own helper named check is not it).
    inner_calls = {n.func.id for d in stmts if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                   for n in ast.walk(d) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    has_check = "check" in defs and len(defs["check"].args.args) == 1 and "check" not in inner_calls
    if has_check:  # HumanEval: the harness calls check(entry point) itself
        stmts = [n for n in stmts if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
                                          and getattr(n.value.func, "id", None) == "check")]
    checking = _checking_functions(defs)
    top_calls = set().union(*(_called_names(n) for n in stmts if not isinstance(n, _HOISTED)))
    constants = {t.id: n.value for n in stmts if isinstance(n, ast.Assign) and len(n.targets) == 1
                 for t in n.targets if isinstance(t, ast.Name)}
    assigned = collections.Counter(t.id for n in stmts if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                                   for tgt in (n.targets if isinstance(n, ast.Assign) else [n.target])
                                   for t in ast.walk(tgt) if isinstance(t, ast.Name))
    prelude, units, pending, everything = [], [], [], []
    for node in stmts:
        src = _segment(source, node)
        everything.append(src)
        if isinstance(node, _HOISTED) or _is_constant(node, assigned):
            prelude.append(src)  # definitions and constants: the tests' module, run first
        elif _checks(node) or _called_names(node) & checking:
            units.append("\n".join(pending + [src]))
            pending = []
        else:
            pending.append(src)
    if pending and units:
        units[-1] += "\n" + "\n".join(pending)
    elif not units:
        prelude = everything  # no assert units: the module runs as written, then its tests
    tests: list = list(units)
    if has_check:
        tests.append({"check": True})
    for name, fn in defs.items():
        if name.startswith("test") and name not in top_calls:
            tests += _expand({"fn": name}, _param_count(fn, constants))
    for name, cls in classes.items():
        if _is_case(cls, classes):  # in unittest's order: methods by name (classes keep the source's order)
            tests += [{"case": name, "fn": m} for m in sorted(_class_methods(cls, classes))]
        elif name.startswith("Test") and _method_def(cls, "__init__", classes) is None:
            for m in _class_methods(cls, classes):
                tests += _expand({"cls": name, "fn": m}, _param_count(_method_def(cls, m, classes), constants))
    return {"prelude": "\n".join(prelude), "tests": tests, "expected": len(tests), "check": has_check}
