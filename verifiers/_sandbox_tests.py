"""The harness's side of a run: execute the plan of ``verifiers.program_tests`` and say, per test,
whether it ran and passed.

Loaded by ``_sandbox_runner.py`` (same directory) before it chroots; no rldistill imports.
Everything here runs in the harness process, which the user's code cannot reach: the user's
functions are ``Proxy`` objects (``_sandbox_rpc``), and ``import pytest`` in the tests gets
``_pytest_shim``, ``from solution import f`` (or any module the tests import that only the
user's code defines) gets the user's names. The harness, not the tests, drives every test, so
the count of tests that ran is its own:

- an assert unit is executed in the tests' globals; ``check`` is called on the entry point;
- a pytest-style test is called (its class instantiated, ``setup_method``/``teardown_method``,
  ``setup_class``, module ``setup_module``/``setup_function`` honoured), with its parametrize
  case and its plain fixtures; a ``skip``/``skipif``/``xfail`` mark, ``pytest.skip()``, a
  missing fixture or a parametrize list whose length is not the one counted makes it *not run*;
- a ``unittest.TestCase`` method runs through unittest's own ``TestCase.run`` on a fresh
  ``TestResult`` (setUp/tearDown, subTest, cleanups; ``setUpClass``/``tearDownClass`` once per
  class, ``setUpModule``/``tearDownModule`` once); a skip or an expected failure makes it *not run*.

A test that was not run is reported as such (``ran`` false): the verifier never counts it as
passed. The same when the tests' module itself cannot run (it imports a module the sandbox lacks,
or skips at module level). Left out: whatever ``verifiers.program_tests`` leaves out.
"""

import builtins
import functools
import itertools
import sys
import types

import _pytest_shim
from _sandbox_rpc import Proxy

# Module names under which test files import the solution (``from solution import add``).
SOLUTION_MODULES = frozenset({"solution", "solutions", "main", "sol", "submission", "user_solution", "answer",
                              "program", "src", "code_under_test"})


class NotRun(Exception):
    """The harness could not execute this test (the reason is reported, never a pass)."""


@functools.lru_cache(maxsize=256)
def _compile_tests(src, name):
    # The harness outlives runs, and RL scores many completions against the same tests.
    return compile(src, name, "exec")


def _is_skip(e) -> bool:
    ut = sys.modules.get("unittest")  # only tests that imported unittest can raise its SkipTest
    return isinstance(e, (NotRun, _pytest_shim.Skipped)) or (ut is not None and isinstance(e, ut.SkipTest))


def _mirror(name, info, rpc):
    """The harness's stand-in for one of the user's names (KeyError: none)."""
    if not isinstance(info, list) or not info:
        raise KeyError(name)
    if info[0] == "callable":
        return Proxy(name, rpc)
    if info[0] == "module":
        if info[1:] != [name] or name not in sys.stdlib_module_names:
            raise KeyError(name)  # only `import math` as math, and only the stdlib, is mirrored here
        return __import__(str(info[1]), fromlist=["_"])
    return rpc.get(name)


def _user_module(user_names, rpc, ep):
    """What ``import solution`` gives the tests: the user's names, fetched when first used."""
    mod = types.ModuleType("solution")
    cache = {}

    def get(name):
        if name.startswith("__") or name not in user_names or (hasattr(builtins, name) and name != ep):
            raise AttributeError(name)
        if name not in cache:
            try:
                cache[name] = _mirror(name, user_names[name], rpc)
            except Exception as e:  # noqa: BLE001
                raise AttributeError(name) from e
        return cache[name]

    mod.__getattr__ = get
    mod.__all__ = [n for n in user_names if n.isidentifier() and not n.startswith("_")
                   and (not hasattr(builtins, n) or n == ep)]
    return mod


def _test_builtins(user_names, user_mod, missing):
    """The tests' builtins: ours, with an ``__import__`` that knows pytest and the solution module."""
    real = builtins.__import__
    pytest_mod = _pytest_shim.module()

    def imp(name, globals=None, locals=None, fromlist=(), level=0):
        top = name.partition(".")[0]
        if level == 0 and top in ("pytest", "_pytest"):
            return pytest_mod
        if level > 0 or top in SOLUTION_MODULES or (
                fromlist and top not in sys.stdlib_module_names and any(n in user_names for n in fromlist)):
            return user_mod
        try:
            return real(name, globals, locals, fromlist, level)
        except ModuleNotFoundError as e:
            missing.append(e)  # the sandbox lacks it: the tests cannot run here (if this is what stops them)
            raise

    b = dict(builtins.__dict__)
    b["__import__"] = imp
    return b


def run_function_tests(spec, rpc):
    """``[(passed, error, ran), ...]``, one per test of ``spec["tests"]``."""
    n = spec["expected"]
    try:
        hello = rpc.frames.recv()
    except Exception as e:  # noqa: BLE001
        return [(False, f"user process gone ({type(e).__name__})", True)] * n
    if "load_error" in hello or not isinstance(hello.get("names"), dict):
        err = str(hello.get("load_error"))[:40]
        return [(False, f"load_error:{err}", True)] * n
    user_names = {k: v for k, v in list(hello["names"].items())[:10000] if isinstance(k, str)}
    tests = spec["tests"]
    ep = spec.get("entry_point") or ""
    missing = []
    user_mod = _user_module(user_names, rpc, ep)
    g = {"__name__": "__main__", "__builtins__": _test_builtins(user_names, user_mod, missing)}
    # Names the tests may use: a substring test is enough (a false positive only costs a proxy).
    text = "\n".join([t for t in tests if isinstance(t, str)] + [spec.get("prelude", "")])
    for name, info in user_names.items():
        # Never let the user's process supply a builtin (`abs`, `isinstance`) or a dunder
        # (`__builtins__`) to the tests: the harness's own win.
        # The entry point alone may shadow a builtin (MBPP has a task whose function is `sum`).
        if not name.isidentifier() or name.startswith("__") or (hasattr(builtins, name) and name != ep):
            continue
        if name != ep and name not in text:
            continue
        try:
            g[name] = _mirror(name, info, rpc)
        except Exception:  # noqa: BLE001 - a name the harness cannot mirror stays undefined
            pass
    try:
        if spec.get("prelude"):
            exec(_compile_tests(spec["prelude"], "<tests>"), g)
    except (Exception, SystemExit) as e:  # noqa: BLE001
        if _is_skip(e) or any(e is m for m in missing) or isinstance(e, SystemExit):
            # skipped at module level, imports what the sandbox lacks, or exits before its tests
            return [(False, f"prelude:{type(e).__name__}", False)] * n
        return [(False, f"prelude:{type(e).__name__}", True)] * n
    ctx = {"g": g, "rpc": rpc, "ep": ep, "set_up": {}, "cleanups": []}
    results = []
    for t in tests:
        try:
            _run_one(t, ctx)
            results.append((True, "", True))
        except BaseException as e:  # noqa: BLE001 - SystemExit from a test is a failed test too
            if isinstance(e, KeyboardInterrupt):
                raise
            # Not run: skipped, or it imports a module the sandbox lacks (the code cannot raise either).
            ran = not (_is_skip(e) or any(e is m for m in missing))
            results.append((False, type(e).__name__ + (f": {e}"[:80] if isinstance(e, NotRun) else ""), ran))
    _tear_down(ctx)
    return results


def _run_one(t, ctx):
    g = ctx["g"]
    if isinstance(t, str):
        try:
            exec(_compile_tests(t, "<test>"), g)
        except SystemExit as e:  # a script's exit(1) on a failed check (the code's own cannot get here)
            if e.code not in (0, None):
                raise AssertionError("exit status") from None
    elif t.get("check"):
        ep = ctx["ep"]
        g["check"](g[ep] if ep in g else Proxy(ep, ctx["rpc"]))
    elif "case" in t:
        _run_case(t, ctx)
    else:
        _run_pytest(t, ctx)


def _once(ctx, key, setup, teardown):
    """Run ``setup`` the first time ``key`` is seen (its error is every later test's); queue ``teardown``."""
    state = ctx["set_up"]
    if key not in state:
        try:
            setup()
            state[key] = None
            if teardown is not None:
                ctx["cleanups"].append(teardown)
        except BaseException as e:  # noqa: BLE001
            state[key] = e
    if state[key] is not None:
        raise state[key]


def _tear_down(ctx):
    for fn in reversed(ctx["cleanups"]):
        try:
            fn()
        except Exception:  # noqa: BLE001 - the tests' results are already in
            pass


def _run_case(t, ctx):
    import unittest

    cls, name = ctx["g"].get(t["case"]), t["fn"]
    if not (isinstance(cls, type) and issubclass(cls, unittest.TestCase)):
        raise NotRun(f"{t['case']} is not a TestCase here")
    if not callable(getattr(cls, name, None)):
        raise NotRun(f"{t['case']}.{name} not found")
    if getattr(cls, "__unittest_skip__", False):
        raise NotRun("class skipped")

    mod_setup, mod_down = ctx["g"].get("setUpModule"), ctx["g"].get("tearDownModule")
    if callable(mod_setup) or callable(mod_down):
        _once(ctx, "unittest module", mod_setup if callable(mod_setup) else (lambda: None),
              mod_down if callable(mod_down) else None)

    def down():
        try:
            cls.tearDownClass()
        finally:
            cls.doClassCleanups()

    _once(ctx, ("case", cls), cls.setUpClass, down)
    result = unittest.TestResult()
    cls(name).run(result)
    if result.skipped or result.expectedFailures or result.unexpectedSuccesses:
        raise NotRun("skipped or expected to fail")
    bad = result.errors + result.failures
    if bad or result.testsRun != 1:
        last = bad[0][1].strip().rsplit("\n", 1)[-1] if bad else "not run"
        raise AssertionError(last.split(":", 1)[0][:60])


def _marks(obj):
    marks = getattr(obj, "pytestmark", [])
    return [m for m in (marks if isinstance(marks, list) else [marks]) if isinstance(m, _pytest_shim.Mark)]


def _skipped_by(marks):
    for m in marks:
        if m.name in ("skip", "xfail") or (m.name == "skipif" and (not m.args or m.args[0])):
            return m.name
    return ""


def _cases(marks):
    """Parametrize marks to a list of (kwargs, marks); pytest's order (bottom decorator first)."""
    axes = []
    for m in marks:
        if m.name != "parametrize":
            continue
        if m.kwargs.get("indirect"):
            raise NotRun("indirect parametrize (through fixtures)")
        names, values = m.args[0], m.args[1]
        names = [s.strip() for s in names.split(",") if s.strip()] if isinstance(names, str) else list(names)
        axis = []
        for v in values:
            extra = []
            if isinstance(v, _pytest_shim.ParameterSet):
                v, extra = v.values, v.marks
                v = v[0] if len(names) == 1 and len(v) == 1 else v
            vals = (v,) if len(names) == 1 else tuple(v)
            if len(vals) != len(names):
                raise NotRun("parametrize values do not match the names")
            axis.append((dict(zip(names, vals)), list(extra)))
        axes.append(axis)
    out = []
    for combo in itertools.product(*axes):
        kwargs, marks = {}, []
        for kw, mk in combo:
            kwargs.update(kw)
            marks += mk
        out.append((kwargs, marks))
    return out


def _fixtures(scope, inst=None):
    """name -> (fixture function, its settings), from the tests' globals or a test class (bound to ``inst``)."""
    out = {}
    for attr, v in list(scope.items()):
        info = getattr(v, "_rld_fixture", None)
        if isinstance(info, dict):
            out[info["name"]] = (getattr(inst, attr) if inst is not None else v, info)
    return out


def _resolve(func, kwargs, fixtures, cleanups, depth=0):
    """Fill the parameters of ``func`` that ``kwargs`` lacks from plain fixtures."""
    import inspect
    if depth > 32:
        raise NotRun("fixtures nest too deep")
    for pname, p in inspect.signature(func).parameters.items():
        if pname in kwargs or p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if pname not in fixtures or fixtures[pname][1]["params"]:
            raise NotRun(f"fixture {pname!r} is not available")
        kwargs[pname] = _call_fixture(fixtures[pname][0], fixtures, cleanups, depth)
    return kwargs


def _call_fixture(fn, fixtures, cleanups, depth):
    import inspect

    value = fn(**_resolve(fn, {}, fixtures, cleanups, depth + 1))
    if inspect.isgenerator(value):
        gen = value
        value = next(gen)
        cleanups.append(lambda: next(gen, None))
    return value


def _call(fn, kwargs):
    import inspect

    out = fn(**kwargs)
    if inspect.iscoroutine(out):
        import asyncio

        asyncio.run(out)


def _run_pytest(t, ctx):
    import inspect  # (here, not at the top: what the zygote imports, every forked process maps)

    g, name = ctx["g"], t["fn"]
    inst, cls = None, None
    if "cls" in t:
        cls = g.get(t["cls"])
        if not isinstance(cls, type):
            raise NotRun(f"class {t['cls']} not found")
        func = getattr(cls, name, None)
    else:
        func = g.get(name)
    if not (inspect.isfunction(func) or inspect.ismethod(func)):
        raise NotRun(f"{name} not found")
    marks = _marks(func) + (_marks(cls) if cls is not None else [])
    if _skipped_by(marks):
        raise NotRun(f"marked {_skipped_by(marks)}")
    cases = _cases(_marks(func))
    if t["n"] is not None and len(cases) != t["n"]:
        raise NotRun(f"{len(cases)} parametrize cases, {t['n']} in the source")
    chosen = cases if t["k"] is None else [cases[t["k"]]]
    if not chosen:
        raise NotRun("no parametrize case")
    for kwargs, case_marks in chosen:
        if _skipped_by(case_marks):
            raise NotRun(f"case marked {_skipped_by(case_marks)}")
    mod_setup, mod_down = g.get("setup_module"), g.get("teardown_module")
    if callable(mod_setup) or callable(mod_down):
        _once(ctx, "module", mod_setup if callable(mod_setup) else (lambda: None),
              mod_down if callable(mod_down) else None)
    if cls is not None:
        c_setup, c_down = getattr(cls, "setup_class", None), getattr(cls, "teardown_class", None)
        _once(ctx, ("class", cls), c_setup if callable(c_setup) else (lambda: None),
              c_down if callable(c_down) else None)
    for kwargs, _ in chosen:
        cleanups = []
        try:
            inst = cls() if cls is not None else None
            fixtures = _fixtures(g)
            if inst is not None:
                fixtures.update(_fixtures(dict(vars(cls)), inst))
            fn = getattr(inst, name) if inst is not None else func
            used = [a for m in marks if m.name == "usefixtures" for a in m.args]
            for f, info in fixtures.values():
                if info["autouse"] and info["name"] not in used:
                    _call_fixture(f, fixtures, cleanups, 0)
            for fx in used:
                if fx not in fixtures or fixtures[fx][1]["params"]:
                    raise NotRun(f"fixture {fx!r} is not available")
                _call_fixture(fixtures[fx][0], fixtures, cleanups, 0)
            kwargs = _resolve(fn, dict(kwargs), fixtures, cleanups)  # a missing fixture: not run
            before, after = ((getattr(inst, "setup_method", None), getattr(inst, "teardown_method", None))
                             if inst is not None else (g.get("setup_function"), g.get("teardown_function")))
            if callable(before):
                before(fn)
            try:
                _call(fn, kwargs)
            finally:
                if callable(after):
                    after(fn)
        finally:
            for c in reversed(cleanups):
                c()
