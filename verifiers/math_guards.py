"""Size bounds read from an expression tree before SymPy evaluates anything.

What it does: ``magnitude(x)`` bounds log10|x| from the tree alone;
``guard_pow`` and ``guard_factorial`` build a power or factorial only when
its exact value stays under ``MAX_RESULT_DIGITS`` digits, and raise
``Guard`` otherwise (power towers, ``(10^8)!``, ``e^{e^{100}}``).

It leaves out everything else the parser guards (length, nesting, literal
size: ``math_latex`` and ``math_normalize``) and any wall-clock limit.
"""

from __future__ import annotations

import math

from verifiers.math_values import Guard, sp

MAX_RESULT_DIGITS = 5_000  # digits of an exact power or factorial
MAX_FACTORIAL = 1_000


def _log10_int(n: int) -> float:
    n = abs(int(n))
    if n == 0:
        return 0.0
    return math.log10(n) if n < 10**300 else float(len(str(n)))


def magnitude(x) -> float:
    """An upper bound on log10|x| read from the expression tree, without evaluating it.

    Free symbols count as O(1) (the verifier evaluates them at points in [0.3, 2.7]).
    Used to refuse, before SymPy or mpmath try, values such as e^{e^{e^{100}}}.
    """
    S = sp()
    inf = float("inf")
    if x.is_Rational:
        return _log10_int(x.p) - _log10_int(x.q)
    if x.is_Float:
        return max(0.0, math.log10(float(abs(x)) or 1.0) + 1)
    if not x.args:
        return 1.0  # symbols and constants such as pi, E, I, oo
    if isinstance(x, S.Pow):
        b, e = x.args
        if b in (S.S.One, S.S.NegativeOne, S.S.Zero):
            return 1.0
        me = magnitude(e)
        if me > 6:
            return inf
        ev = abs(float(e)) if e.is_Number else 10**me
        return ev * max(abs(magnitude(b)), 0.5)
    if isinstance(x, S.exp):
        me = magnitude(x.args[0])
        return inf if me > 6 else 0.44 * 10**me
    if isinstance(x, (S.factorial, S.gamma)):
        me = magnitude(x.args[0])
        return inf if me > 5 else 10**me * max(me, 1.0)
    args = [magnitude(a) for a in x.args]
    if isinstance(x, S.Mul):
        return sum(max(a, 0.0) for a in args)
    if isinstance(x, S.Add):
        return max(args) + 1
    return max(args)


def guard_pow(b, e):
    S = sp()
    if e.is_Number and b.is_Number:
        if b in (S.Integer(0), S.Integer(1), S.Integer(-1)) or e == 0:
            return S.Pow(b, e)
        if abs(e) > 100_000:
            raise Guard("exponent too large")
        num, den = (abs(b.p), b.q) if b.is_Rational else (2, 1)
        digits = abs(float(e)) * max(len(str(num)), len(str(den)))
        if digits > MAX_RESULT_DIGITS:
            raise Guard("power too large")
    elif e.is_Number and abs(e) > 1000:
        raise Guard("exponent too large")
    elif not e.is_Number and b.is_number and magnitude(S.Pow(b, e, evaluate=False)) > MAX_RESULT_DIGITS:
        raise Guard("power too large")
    elif not e.is_Number and magnitude(e) > 3:  # x^(10^4): too large to expand or evaluate safely
        raise Guard("exponent too large")
    return S.Pow(b, e)


def guard_factorial(x):
    S = sp()
    if magnitude(x) > 3 or (x.is_Number and abs(x) > MAX_FACTORIAL):
        raise Guard("factorial too large")
    return S.factorial(x)

