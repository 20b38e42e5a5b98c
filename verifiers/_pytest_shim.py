"""What ``import pytest`` gives tests inside the sandbox's harness (pytest itself is never needed there).

Loaded by the harness (``_sandbox_tests``) before the chroot; no rldistill imports. It holds
the part of pytest's API that test files use without plugins: ``mark.parametrize`` (with
``pytest.param``), ``mark.skip``/``skipif``/``xfail`` and any other mark (recorded only),
``raises`` (context manager and call form, ``match=``), ``approx`` (numbers, and lists,
tuples and dicts of them), ``fixture`` (plain function fixtures, ``yield`` ones included,
``autouse``), ``skip``, ``fail``, ``importorskip``. Marks are recorded on the function as
``pytestmark`` (bottom decorator first, as pytest does); ``_sandbox_tests`` reads them.

Left out: fixture scopes (every fixture is function-scoped), parametrised fixtures,
``request``, built-in fixtures (``tmp_path``, ``capsys``, ``monkeypatch``...): a test that
asks for one is reported as not run, never as passed.
"""

import math
import re
import sys
import types


class Skipped(Exception):
    """``pytest.skip()``: the test is not run. (Not unittest's SkipTest, as in pytest: importing unittest
    here would put it into the zygote, and so into every user process; the harness knows both.)"""


class Failed(AssertionError):
    """``pytest.fail()``."""


def skip(reason="", allow_module_level=False):
    raise Skipped(reason)


def fail(reason="", pytrace=True):
    raise Failed(reason)


def importorskip(modname, minversion=None, reason=None):
    try:
        __import__(modname)
    except ImportError as e:
        raise Skipped(f"could not import {modname!r}") from e
    return sys.modules[modname]


class Mark:
    __slots__ = ("name", "args", "kwargs")

    def __init__(self, name, args, kwargs):
        self.name, self.args, self.kwargs = name, args, kwargs


class MarkDecorator:
    def __init__(self, name, args=(), kwargs=None):
        self.mark = Mark(name, args, kwargs or {})

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and callable(args[0]):
            fn = args[0]  # applied: @pytest.mark.skip, @pytest.mark.usefixtures("x")
            marks = list(getattr(fn, "pytestmark", []))
            fn.pytestmark = marks + [self.mark]
            return fn
        return MarkDecorator(self.mark.name, self.mark.args + args, dict(self.mark.kwargs, **kwargs))

    def with_args(self, *args, **kwargs):
        return MarkDecorator(self.mark.name, self.mark.args + args, dict(self.mark.kwargs, **kwargs))


class _Marks:
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return MarkDecorator(name)

    def parametrize(self, argnames, argvalues, indirect=False, ids=None, scope=None):
        return _Parametrize(Mark("parametrize", (argnames, list(argvalues)), {"indirect": indirect}))


class _Parametrize(MarkDecorator):
    def __init__(self, mark):
        self.mark = mark

    def __call__(self, fn):
        fn.pytestmark = list(getattr(fn, "pytestmark", [])) + [self.mark]
        return fn


mark = _Marks()


class ParameterSet:
    __slots__ = ("values", "marks", "id")

    def __init__(self, values, marks, id):
        self.values, self.id = values, id
        self.marks = [m.mark if isinstance(m, MarkDecorator) else m
                      for m in (marks if isinstance(marks, (list, tuple)) else [marks])]


def param(*values, marks=(), id=None):
    return ParameterSet(values, marks, id)


def fixture(fixture_function=None, *, scope="function", params=None, autouse=False, ids=None, name=None):
    def deco(fn):
        fn._rld_fixture = {"name": name or fn.__name__, "autouse": autouse, "params": params is not None}
        return fn

    return deco(fixture_function) if callable(fixture_function) else deco


class RaisesContext:
    def __init__(self, expected, match):
        self.expected, self.match, self.value = expected, match, None

    def __enter__(self):
        return self

    def __exit__(self, tp, value, tb):
        if tp is None:
            raise Failed(f"DID NOT RAISE {self.expected}")
        if not issubclass(tp, self.expected):
            return False  # another exception: it propagates, the test fails
        if self.match is not None and not re.search(self.match, str(value)):
            raise Failed(f"regex {self.match!r} does not match {str(value)!r}")
        self.value, self.type = value, tp
        return True


def raises(expected_exception, *args, match=None, **kwargs):
    ctx = RaisesContext(expected_exception, match)
    if not args:
        return ctx
    with ctx:
        args[0](*args[1:], **kwargs)
    return ctx


class approx:  # noqa: N801 - pytest's name
    """``actual == approx(expected)``: numbers within rel 1e-6 / abs 1e-12 (pytest's defaults), elementwise."""

    def __init__(self, expected, rel=None, abs=None, nan_ok=False):
        self.expected, self.rel, self.abs, self.nan_ok = expected, rel, abs, nan_ok

    def _close(self, a, b):
        if type(a) is bool or type(b) is bool or not all(isinstance(x, (int, float, complex)) for x in (a, b)):
            return a == b
        if a == b:
            return True
        if self.nan_ok and a != a and b != b:
            return True
        tol_abs = 1e-12 if self.abs is None else self.abs
        tol_rel = (1e-6 if self.abs is None else 0.0) if self.rel is None else self.rel
        if any(isinstance(x, float) and math.isinf(x) for x in (a, b)):
            return False
        return abs(a - b) <= max(tol_rel * abs(b), tol_abs)

    def _eq(self, actual, expected):
        if isinstance(expected, dict):
            return isinstance(actual, dict) and actual.keys() == expected.keys() and \
                all(self._eq(actual[k], expected[k]) for k in expected)
        if isinstance(expected, (list, tuple)):
            return isinstance(actual, (list, tuple)) and len(actual) == len(expected) and \
                all(self._eq(a, e) for a, e in zip(actual, expected))
        return self._close(actual, expected)

    def __eq__(self, actual):
        return self._eq(actual, self.expected)

    __hash__ = None

    def __repr__(self):
        return f"approx({self.expected!r})"


def module() -> types.ModuleType:
    """A module object carrying this API, which the harness hands to ``import pytest``."""
    mod = types.ModuleType("pytest")
    for name in ("skip", "fail", "importorskip", "mark", "param", "fixture", "raises", "approx", "Skipped",
                 "Failed", "ParameterSet", "MarkDecorator"):
        setattr(mod, name, globals()[name])
    return mod
