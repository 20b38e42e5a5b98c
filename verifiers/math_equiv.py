"""Are two parsed answers the same answer? Escalating checks, cheapest first.

What it does: ``same(gold, pred) -> bool`` for two ``math_latex.Answer`` values.

1. exact numbers: Python ``Fraction`` / SymPy rationals compared exactly
   (so 10^100+1 is not 10^100 and 1/2^99 is not 1/2^98);
2. numbers with a relative tolerance, only when one side was written as an
   inexact decimal: |a-b| <= 1e-9 * max(|a|, |b|). No ``chop``, no rounding to
   a fixed number of places: 0.0000001 is not 0.0000004, and 0.333 is not 1/3;
3. symbolic: structural equality, else numeric evaluation (constants at 30
   digits; expressions with free symbols at a few random points), and only
   when that agrees, confirmation by ``simplify(a - b) == 0``.

Containers: bare lists and sets compare order-free (duplicates ignored);
tuples, ratios and a tuple against a bare list compare in order; ``(a, b)``
matches the open interval (a, b); interval ends and openness must match;
unions compare as sets of intervals; matrices element-wise. Equations whose
left side is a name (``x = 3``, ``f(x) = 3``, ``(p, q) = (3, 2)``, or the last
link of a chain ``x = 5+5 = 10``) stand for their right side; two equations
match when they are multiples of each other (the same solution set);
inequalities when they are positive multiples, and a chain ``a < x <= b`` is
the interval (a, b]. Text answers compare case-insensitively.

It leaves out the policies about %, units and hedging (the verifier applies
them) and any time limit: expensive steps are skipped for large expressions
(``MAX_OPS``), and ``verifiers.pool`` bounds the wall clock from outside.
"""

from __future__ import annotations

import random
from fractions import Fraction

from verifiers.math_latex import Interval, Matrix, Rel, Seq, Text, Union, sp

REL_TOL = 1e-9
MAX_OPS = 400  # operations in an expression we are willing to simplify
MAX_ITEMS = 64  # elements of a list/set compared pairwise
_POINTS = 3


# ---------------------------------------------------------------- scalars
def _to_sympy(x):
    if isinstance(x, Fraction):
        return sp().Rational(x.numerator, x.denominator)
    if isinstance(x, int):
        return sp().Integer(x)
    return x


def _is_scalar(x) -> bool:
    return not isinstance(x, (Text, Seq, Interval, Union, Rel, Matrix))


def _close(a: float | complex, b: float | complex, tol: float) -> bool:
    scale = max(abs(a), abs(b))
    return abs(a - b) <= tol * scale


def _bad(x) -> bool:
    S = sp()
    return x.has(S.zoo, S.nan) if hasattr(x, "has") else False


def num_equal(a, b, inexact: bool) -> bool:
    """Scalars: exact, then tolerance (inexact only), then symbolic."""
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        if a == b:
            return True
        return inexact and _close(float(a), float(b), REL_TOL) and a != 0 and b != 0
    S = sp()
    a, b = _to_sympy(a), _to_sympy(b)
    if _bad(a) or _bad(b):
        return False
    if a == b:
        return True
    if a.has(S.oo, -S.oo) or b.has(S.oo, -S.oo):
        return False  # infinities only match structurally: numeric checks and simplify say nothing useful
    if a.is_Rational and b.is_Rational:
        return inexact and a != 0 and b != 0 and _close(float(a), float(b), REL_TOL)
    if not a.free_symbols and not b.free_symbols:
        return _const_equal(a, b, inexact)
    return _expr_equal(a, b)


def _ops(x) -> int:
    try:
        return sp().count_ops(x)
    except Exception:
        return MAX_OPS + 1


def _value(x, subs=None, prec=30):
    v = x.evalf(prec, subs=subs) if subs else x.evalf(prec)
    if v.has(sp().zoo, sp().nan) or not v.is_number:
        return None
    try:
        return complex(v)
    except (TypeError, ValueError):
        return None


def _const_equal(a, b, inexact) -> bool:
    if _ops(a) + _ops(b) > 4 * MAX_OPS:
        return False
    va, vb = _value(a), _value(b)
    if va is None or vb is None:
        return False
    if va == vb == 0:
        return True
    if inexact:
        return _close(va, vb, REL_TOL)
    if not _close(va, vb, 1e-20):
        return False
    return _simplifies_to_zero(a - b) or _close_at(a, b, 60, 1e-50)


def _close_at(a, b, prec, tol) -> bool:
    va, vb = _value(a, prec=prec), _value(b, prec=prec)
    return va is not None and vb is not None and (va == vb or _close(va, vb, tol))


def _simplifies_to_zero(d) -> bool:
    S = sp()
    if d == 0:
        return True
    if _ops(d) > MAX_OPS:
        return False
    try:
        if S.expand(d) == 0:
            return True
        return S.simplify(d) == 0
    except Exception:
        return False


def _points(symbols, n=_POINTS):
    rng = random.Random(12345)
    names = sorted(symbols, key=lambda s: s.name)
    return [{s: sp().Float(round(rng.uniform(0.3, 2.7), 6)) for s in names} for _ in range(n)]


def _expr_equal(a, b) -> bool:
    """Free symbols: disagree at a random point -> different; else simplify must confirm."""
    S = sp()
    if _ops(a) + _ops(b) > 2 * MAX_OPS:
        return False
    undefined_fns = any(isinstance(f, S.core.function.AppliedUndef) for f in (a.atoms(S.Function) | b.atoms(S.Function)))
    if not undefined_fns:  # f(x) has no value at a point; go straight to simplify
        for pt in _points(a.free_symbols | b.free_symbols):
            va, vb = _value(a, pt, 20), _value(b, pt, 20)
            if va is None or vb is None:
                continue  # outside the domain (a log of a negative, a pole): say nothing
            if not (va == vb or _close(va, vb, 1e-9)):
                return False
    return _simplifies_to_zero(a - b)


# ---------------------------------------------------------------- relations
def name_like(x) -> bool:
    """A left side that names the answer: x, x_1, f(x), |AB|, NO/BO, (p, q), V_1:V_2."""
    S = sp()
    if isinstance(x, Seq):
        return x.kind in ("tuple", "ratio", "list") and all(name_like(i) for i in x.items)
    if not _is_scalar(x) or isinstance(x, Fraction):
        return False
    if isinstance(x, S.Symbol):
        return True
    if isinstance(x, S.core.function.AppliedUndef):
        return True
    if isinstance(x, S.Abs):
        return name_like(x.args[0])
    if isinstance(x, S.Mul):
        return all(name_like(f) for f in x.args)
    if isinstance(x, S.Pow):
        return x.exp == -1 and name_like(x.base)
    return False


def rel_value(r: Rel, response: bool = False):
    """The value an equation chain states, or None for a genuine equation.

    In a response (not a gold answer) a single ``=`` after a constant also
    states its right side: ``\\frac{1}{2} \\cdot \\frac{20}{9} = \\frac{10}{9}``.
    """
    ops, terms = r.ops, r.terms
    if ops == ["in"]:
        return terms[1]
    if "approx" in ops:
        i = ops.index("approx")
        if i > 0 and all(o == "=" for o in ops[:i]):
            return terms[i]
        if i == 0 and len(ops) == 1:
            return terms[1]
        return None
    if any(o != "=" for o in ops):
        return None
    if len(ops) >= 2:
        return terms[-1]
    if name_like(terms[0]):
        return terms[1]
    if response and _is_scalar(terms[0]) and not _to_sympy(terms[0]).free_symbols:
        return terms[1]
    return None


def _canon_ineq(lhs, rhs, op):
    """lhs op rhs as (expr, op) with op in = != < <=."""
    if op in (">", ">="):
        return _to_sympy(rhs) - _to_sympy(lhs), op.replace(">", "<")
    return _to_sympy(lhs) - _to_sympy(rhs), op


def _multiple(a, b, positive: bool) -> bool:
    S = sp()
    if a == 0 or b == 0:
        return a == b
    if _ops(a) + _ops(b) > MAX_OPS:
        return False
    try:
        r = S.cancel(S.together(a / b))
    except Exception:
        return False
    if r.free_symbols or not r.is_number or r == 0:
        return False
    return bool(r > 0) if positive else True


def _rel_as_interval(r: Rel):
    ops, t = r.ops, r.terms
    S = sp()
    if len(ops) == 2 and isinstance(t[1], S.Abs) and name_like(t[1]) and all(o in ("<", "<=") for o in ops):
        lo, hi = _to_sympy(t[0]), _to_sympy(t[2])
        if lo.is_number and hi.is_number and lo.is_nonnegative:  # a <= |z| <= b: two intervals
            lo_open, hi_open = ops[0] == "<", ops[1] == "<"
            return Union([Interval(-hi, -lo, hi_open, lo_open), Interval(lo, hi, lo_open, hi_open)])
    if len(ops) == 2 and name_like(t[1]) and all(o in ("<", "<=") for o in ops):
        return Interval(t[0], t[2], ops[0] == "<", ops[1] == "<")
    if len(ops) == 2 and name_like(t[1]) and all(o in (">", ">=") for o in ops):
        return Interval(t[2], t[0], ops[1] == ">", ops[0] == ">")
    if len(ops) == 1 and ops[0] in ("<", "<=", ">", ">="):
        S = sp()
        lhs, rhs, op = t[0], t[1], ops[0]
        if name_like(rhs) and not name_like(lhs):
            lhs, rhs, op = rhs, lhs, {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
        if name_like(lhs) and _is_scalar(rhs) and not _to_sympy(rhs).free_symbols:
            if op in ("<", "<="):
                return Interval(-S.oo, rhs, True, op == "<")
            return Interval(rhs, S.oo, op == ">", True)
    return None


def _rel_equal(a: Rel, b: Rel, inexact) -> bool:
    va, vb = rel_value(a), rel_value(b)
    if va is not None and vb is not None and equal(va, vb, inexact):
        return True
    if len(a.ops) == 1 and len(b.ops) == 1:
        if not all(_is_scalar(x) for x in a.terms + b.terms):
            return False
        ea, oa = _canon_ineq(a.terms[0], a.terms[1], a.ops[0])
        eb, ob = _canon_ineq(b.terms[0], b.terms[1], b.ops[0])
        if oa != ob or oa not in ("=", "!=", "<", "<="):
            return False
        return _multiple(ea, eb, positive=oa in ("<", "<="))
    ia, ib = (_rel_as_interval(r) or (r.terms[1] if r.ops == ["in"] else None) for r in (a, b))
    return ia is not None and ib is not None and equal(ia, ib, inexact)


# ---------------------------------------------------------------- containers
def _unwrap(x):
    while isinstance(x, Seq) and x.kind in ("list", "set") and len(x.items) == 1:
        x = x.items[0]
    return x


def _same_set(xs, ys, inexact) -> bool:
    if len(xs) > MAX_ITEMS or len(ys) > MAX_ITEMS:
        return False
    return all(any(equal(x, y, inexact) for y in ys) for x in xs) and all(
        any(equal(x, y, inexact) for x in xs) for y in ys
    )


def _same_seq(xs, ys, inexact) -> bool:
    return len(xs) == len(ys) and all(equal(x, y, inexact) for x, y in zip(xs, ys))


def _interval_equal(a: Interval, b: Interval, inexact) -> bool:
    return (
        a.lo_open == b.lo_open
        and a.hi_open == b.hi_open
        and equal(a.lo, b.lo, inexact)
        and equal(a.hi, b.hi, inexact)
    )


def equal(a, b, inexact: bool = False) -> bool:
    """Structural dispatch over the value tree (see the module docstring)."""
    a, b = _unwrap(a), _unwrap(b)
    if isinstance(a, Text) or isinstance(b, Text):
        if isinstance(a, Text) and isinstance(b, Text):
            return a.s == b.s
        t, o = (a, b) if isinstance(a, Text) else (b, a)
        return isinstance(o, sp().Symbol) and o.name.lower() == t.s
    if isinstance(a, Rel) and isinstance(b, Rel):
        return _rel_equal(a, b, inexact)
    if isinstance(a, Rel) or isinstance(b, Rel):
        r, o = (a, b) if isinstance(a, Rel) else (b, a)
        v = rel_value(r, response=r is b)
        if v is not None:
            return equal(v, o, inexact)
        iv = _rel_as_interval(r)
        return iv is not None and isinstance(o, (Interval, Seq, Union)) and equal(iv, o, inexact)
    if isinstance(a, Seq) and isinstance(b, Seq):
        if a.kind in ("list", "set") and b.kind in ("list", "set"):
            return _same_set(a.items, b.items, inexact)
        if a.kind == "ratio" or b.kind == "ratio":
            return a.kind == b.kind and _same_seq(a.items, b.items, inexact)
        return _same_seq(a.items, b.items, inexact)
    if isinstance(a, Interval) and isinstance(b, Interval):
        return _interval_equal(a, b, inexact)
    if isinstance(a, (Interval, Seq)) and isinstance(b, (Interval, Seq)):
        i, s = (a, b) if isinstance(a, Interval) else (b, a)
        return s.kind == "tuple" and len(s.items) == 2 and _interval_equal(i, Interval(*s.items, True, True), inexact)
    if isinstance(a, Union) and isinstance(b, Union):
        return _same_set(a.parts, b.parts, inexact)
    if isinstance(a, Matrix) or isinstance(b, Matrix):
        if isinstance(a, Matrix) and isinstance(b, Matrix):
            return len(a.rows) == len(b.rows) and all(_same_seq(r, s, inexact) for r, s in zip(a.rows, b.rows))
        m, o = (a, b) if isinstance(a, Matrix) else (b, a)
        if isinstance(o, Seq) and o.kind == "tuple":  # a column or row vector written as a tuple
            flat = [x for r in m.rows for x in r]
            return (len(m.rows) == 1 or all(len(r) == 1 for r in m.rows)) and _same_seq(flat, o.items, inexact)
        return False
    if _is_scalar(a) and _is_scalar(b):
        return num_equal(a, b, inexact)
    return False
