"""The values a parsed answer is made of, and SymPy imported on first use.

What it does: defines the small value tree ``math_latex.parse_answer``
builds and ``math_equiv.equal`` compares: SymPy expressions (or Python
``Fraction`` for plain numbers), ``Seq`` (bare lists, sets, tuples, ratios),
``Interval``, ``Union``, ``Rel`` (equations, inequalities), ``Matrix`` and
``Text``; ``Answer`` wraps one with its policy flags (%, unit, inexact
decimal). ``sp()`` imports SymPy lazily so that worker processes and plain
numeric answers never pay for it.

It leaves out parsing and comparing. Nothing here crosses a process
boundary: the pool sends back only the verdict's float and string.
"""

from __future__ import annotations


class ParseError(ValueError):
    """The string is not an answer this parser reads."""


class Guard(ParseError):
    """The string asks for something too large to evaluate safely."""


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


# ---------------------------------------------------------------- sympy, lazily
_sp = None


def sp():
    global _sp
    if _sp is None:
        import sympy

        _sp = sympy
    return _sp
