"""The values a parsed answer is made of, and SymPy imported on first use.

What it does: defines the small value tree ``math_latex.parse_answer``
builds and ``math_equiv.equal`` compares: SymPy expressions (or Python
``Fraction`` for plain numbers), ``Seq`` (bare lists, sets, tuples, ratios),
``Interval``, ``Union``, ``Rel`` (equations, inequalities), ``Matrix`` and
``Text``; ``Answer`` wraps one with its policy flags (%, unit, inexact
decimal); the errors the parser raises; matrix arithmetic; ``show`` prints
an answer back as LaTeX the parser reads to the same value. ``sp()`` imports SymPy lazily so that worker processes and plain
numeric answers never pay for it.

It leaves out parsing and comparing. Nothing here crosses a process
boundary: the pool sends back only the verdict's float and string.
"""

from __future__ import annotations

import re
from fractions import Fraction


class ParseError(ValueError):
    """The string is not an answer this parser reads."""


class Guard(ParseError):
    """The string asks for something too large to evaluate safely."""


class Texty(ParseError):
    """Words where math was expected: the parser reads the answer as text instead."""


class Unevaluated(ParseError):
    """Well-formed, but not a final value: a sum, product, integral or limit left as one."""


# ---------------------------------------------------------------- value tree
class Text:
    __slots__ = ("s",)

    def __init__(self, s: str):
        self.s = s

    def __repr__(self):
        return f"Text({self.s!r})"


class Seq:
    """kind: 'list' (bare a, b), 'set' (\\{a, b\\}), 'tuple' ((a, b)), 'ratio' (a:b)."""

    __slots__ = ("kind", "items")

    def __init__(self, kind, items):
        self.kind, self.items = kind, list(items)

    def __repr__(self):
        return f"Seq({self.kind}, {self.items})"


class Interval:
    __slots__ = ("lo", "hi", "lo_open", "hi_open")

    def __init__(self, lo, hi, lo_open, hi_open):
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open

    def __repr__(self):
        return f"{'(' if self.lo_open else '['}{self.lo}, {self.hi}{')' if self.hi_open else ']'}"


class Union:
    __slots__ = ("parts",)

    def __init__(self, parts):
        self.parts = list(parts)

    def __repr__(self):
        return " U ".join(map(repr, self.parts))


class Rel:
    """A chain ``e0 op0 e1 op1 e2 ...``; ops among = < <= > >= != in approx."""

    __slots__ = ("ops", "terms")

    def __init__(self, ops, terms):
        self.ops, self.terms = list(ops), list(terms)

    def __repr__(self):
        out = [repr(self.terms[0])]
        for op, t in zip(self.ops, self.terms[1:]):
            out += [op, repr(t)]
        return "Rel(" + " ".join(out) + ")"


class Matrix:
    __slots__ = ("rows",)

    def __init__(self, rows):
        self.rows = rows

    def __repr__(self):
        return f"Matrix({self.rows})"


class Answer:
    """A parsed answer: ``value`` plus the policy flags the comparison needs."""

    __slots__ = ("value", "percent", "unit", "inexact", "plain_number", "text")

    def __init__(self, value, text, percent=False, unit=None, inexact=False, plain_number=False):
        self.value, self.text = value, text
        self.percent, self.unit, self.inexact, self.plain_number = percent, unit, inexact, plain_number

    def __repr__(self):
        flags = [f for f in ("percent", "inexact", "plain_number") if getattr(self, f)]
        return f"Answer({self.value!r}, unit={self.unit!r}, {' '.join(flags)})"


# ---------------------------------------------------------------- arithmetic on values
def mat_add(a: Matrix, b: Matrix, sign: int) -> Matrix:
    """a + b (sign 1) or a - b (sign -1); ``ParseError`` when the shapes differ."""
    if len(a.rows) != len(b.rows) or any(len(r) != len(s) for r, s in zip(a.rows, b.rows)):
        raise ParseError("matrix shapes differ")
    return Matrix([[x + sign * y for x, y in zip(r, s)] for r, s in zip(a.rows, b.rows)])


def mat_mul(a, b) -> Matrix:
    """A matrix product, or a matrix scaled by an expression; ``ParseError`` otherwise."""
    if isinstance(a, Matrix) and isinstance(b, Matrix):
        if len(a.rows[0]) != len(b.rows) or len(a.rows) * len(b.rows[0]) > 400:
            raise ParseError("matrix shapes do not multiply")
        cols = list(zip(*b.rows))
        return Matrix([[sum((x * y for x, y in zip(r, c)), sp().Integer(0)) for c in cols] for r in a.rows])
    if isinstance(a, Matrix) and is_expr(b):
        return Matrix([[x * b for x in r] for r in a.rows])
    if isinstance(b, Matrix) and is_expr(a):
        return Matrix([[a * x for x in r] for r in b.rows])
    raise ParseError("product of a matrix and a non-number")


def is_expr(v) -> bool:
    """A number or expression, not a container, relation or text."""
    return not isinstance(v, (Text, Seq, Interval, Union, Rel, Matrix))


# ---------------------------------------------------------------- printing
_REL_LATEX = {"<=": "\\le", ">=": "\\ge", "!=": "\\ne", "approx": "\\approx", "in": "\\in", "=>": "\\Rightarrow",
              "->": "\\to"}


def show(answer: Answer) -> str:
    """The answer printed back as LaTeX that ``math_latex.parse_answer`` reads to the same value.

    Decimals stay decimals when the answer was written as one (so a rounded
    value is not printed as an exact fraction); ``%`` is kept, units are not
    (they are optional in a comparison).
    """
    return _show(answer.value, answer.inexact) + ("\\%" if answer.percent else "")


def _show(v, inexact: bool) -> str:
    if isinstance(v, Text):
        return f"\\text{{{v.s}}}"
    if isinstance(v, Seq):
        items = ", ".join(_show(x, inexact) for x in v.items)
        if v.kind == "set":
            return f"\\{{{items}\\}}"
        if v.kind == "tuple":
            return f"({items})"
        return " : ".join(_show(x, inexact) for x in v.items) if v.kind == "ratio" else items
    if isinstance(v, Interval):
        lo, hi = _show(v.lo, inexact), _show(v.hi, inexact)
        return f"{'(' if v.lo_open else '['}{lo}, {hi}{')' if v.hi_open else ']'}"
    if isinstance(v, Union):
        return " \\cup ".join(_show(p, inexact) for p in v.parts)
    if isinstance(v, Rel):
        out = [_show(v.terms[0], inexact)]
        for op, t in zip(v.ops, v.terms[1:]):
            out += [_REL_LATEX.get(op, op), _show(t, inexact)]
        return " ".join(out)
    if isinstance(v, Matrix):
        rows = " \\\\ ".join(" & ".join(_show(x, inexact) for x in r) for r in v.rows)
        return f"\\begin{{pmatrix}} {rows} \\end{{pmatrix}}"
    if isinstance(v, Fraction) or getattr(v, "is_Rational", False):
        f = Fraction(int(v.numerator if isinstance(v, Fraction) else v.p), int(v.denominator if isinstance(v, Fraction) else v.q))
        return _show_rational(f, inexact)
    names = {x: _symbol_latex(x.name) for x in getattr(v, "free_symbols", ())}
    return "{" + sp().latex(v, symbol_names=names) + "}"


def _symbol_latex(name: str) -> str:
    """How the parser's symbol names are written: ``\\zeta``, ``\\overline{3}``, ``x_1``."""
    m = re.fullmatch(r"([A-Za-z]+)\((.*)\)", name)
    if m:  # \overline{x}, \angle{ABC}: read as Symbol('overline(x)')
        return f"\\{m.group(1)}{{{m.group(2)}}}"
    if re.fullmatch(r"[A-Za-z]{2,}", name):  # an unknown command or a greek letter
        return "\\" + name
    return sp().latex(sp().Symbol(name))


def _show_rational(f: Fraction, inexact: bool) -> str:
    if f.denominator == 1:
        return str(f.numerator)
    sign = "-" if f < 0 else ""
    d, twos, fives = f.denominator, 0, 0
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    while d % 5 == 0:
        d, fives = d // 5, fives + 1
    places = max(twos, fives)
    if inexact and d == 1 and places <= 1000:  # a terminating decimal, printed exactly
        digits = str(abs(f.numerator) * 10**places // f.denominator).rjust(places + 1, "0")
        return f"{sign}{digits[:-places]}.{digits[-places:]}"
    return f"{sign}\\frac{{{abs(f.numerator)}}}{{{f.denominator}}}"


# ---------------------------------------------------------------- sympy, lazily
_sp = None


def sp():
    global _sp
    if _sp is None:
        import sympy

        _sp = sympy
    return _sp
