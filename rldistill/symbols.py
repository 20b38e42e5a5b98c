"""Symbolic results inside one step: named quantities, formulas and factorisations.

Numbers alone miss what real traces build on: ``f(-2) = 2``, ``r = \\sqrt{x^2+y^2}``,
``196 = 2^2 \\times 7^2``. This module reads, from one step's text:

* ``definitions(text)``: ``{name: (kind, rhs, value, free)}`` for each ``NAME = ...``
  where NAME is a letter (Latin or Greek, with a subscript) or a function
  value (``f(-2)``); ``kind`` is ``"formula"`` when the right side has free
  letters (``r = \\sqrt{x^2+y^2}``) and ``"value"`` otherwise; ``value`` is the
  last side when it is a bare number;
* ``factorisations(text)``: ``N = 2^2 \\times 7^2``-style right sides, normalised
  (``"2^2*7^2"``), which later steps use by writing them again;
* ``mentions(text, names, exprs)``: which known names and expressions a step
  writes. A single letter counts only next to an operator, a digit or a
  bracket (so the article "a" is no use of ``a``).

What it leaves out: solving, substitution, equality of differently written
expressions (``2^2 \\cdot 7^2`` and ``4 \\cdot 49`` are different keys).
"""

from __future__ import annotations

import re
from functools import lru_cache

_GREEK = {"theta": "θ", "alpha": "α", "beta": "β", "gamma": "γ", "phi": "φ", "varphi": "φ", "lambda": "λ", "mu": "μ",
          "sigma": "σ", "omega": "ω", "delta": "δ", "rho": "ρ", "tau": "τ"}
_SUP = str.maketrans({"²": "^2", "³": "^3", "⁴": "^4", "₀": "_0", "₁": "_1", "₂": "_2", "₃": "_3", "₄": "_4", "₅": "_5",
                      "×": "*", "·": "*", "−": "-", "√": "sqrt"})
_FUNCS = {"sqrt", "frac", "dfrac", "tfrac", "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "pi", "cdot",
          "times", "left", "right", "text", "mathrm", "circ", "infty", "arctan", "π", "e", "i"}
_NAME = r"(?:[A-Za-zα-ω](?:_\{?\w{1,3}\}?)?(?:\s*\([^()=,]{1,12}\))?)"


@lru_cache(maxsize=65536)
def light(text: str) -> str:
    """Math delimiters off, Greek commands to letters, ``\\times``/``×`` to ``*``, superscripts to ``^``."""
    t = re.sub(r"\\[()\[\]]|\$\$?|\\(?:left|right|displaystyle|,|;|!|quad)(?![a-zA-Z])", " ", text)
    t = re.sub(r"\\(" + "|".join(_GREEK) + r")(?![a-zA-Z])", lambda m: _GREEK[m.group(1)], t)
    t = re.sub(r"\\(?:times|cdot)(?![a-zA-Z])", "*", t).translate(_SUP)
    return re.sub(r"\\[dt]frac", r"\\frac", t)


def norm(expr: str) -> str:
    """An expression as a key: no spaces or braces (``2^{2} \\times 7^{2}`` -> ``2^2*7^2``)."""
    return re.sub(r"[\s{}]+", "", light(expr)).rstrip(".")


def _name_key(name: str) -> str:
    return re.sub(r"[\s{}]+", "", name)


@lru_cache(maxsize=65536)
def definitions(text: str) -> dict:
    """``{name: (kind, rhs, value, free letters)}`` for each ``NAME = ...`` in ``text``.

    >>> d = definitions(r"So \\( f(-2) = \\frac{-8}{-4} = 2 \\) and r = \\sqrt{x^2 + y^2}.")
    >>> d["f(-2)"][::2], d["r"][0], sorted(d["r"][3])
    (('value', '2'), 'formula', ['x', 'y'])
    """
    t = light(text)
    out = {}
    for m in re.finditer(rf"(?<![\w\\.^_)\]}}*/+=-])({_NAME})\s*=(?![=>])", t):
        if t[: m.start()].rstrip()[-1:] in tuple("+-*/^=(["):
            continue  # "x_2 - x_1 = ...": the name is inside a larger left side
        name = _name_key(m.group(1))
        if re.fullmatch(r"[a-zA-Z]{2,}.*", name) or name in ("I",):
            continue
        stop = re.search(r"(?:,\s|;|:|\.\s|\.$|\n|\s(?:and|so|which|then|where|since|because|but)\s|$)", t[m.end():])
        sides = [x.strip() for x in t[m.end(): m.end() + stop.start()].split("=")]
        sides = [x for x in sides if x]
        if not sides:
            continue
        free = {w for w in re.findall(r"[A-Za-zα-ω]+", re.sub(r"\\[a-zA-Z]+", " ", sides[0])) if w not in _FUNCS}
        value = sides[-1] if re.fullmatch(r"-?\d+(?:\.\d+)?(?:/\d+)?", norm(sides[-1])) else None
        out.setdefault(name, ("formula" if free else "value", norm(sides[0]), value and norm(value), frozenset(free)))
    return out


def loose(expr: str) -> str:
    """A looser key for symbolic results: also no ``*``, brackets or backslashes (``3*sqrt(13)`` and
    ``3\\sqrt{13}`` are one key)."""
    return re.sub(r"[\s{}()*\\]+", "", light(expr)).rstrip(".")


@lru_cache(maxsize=65536)
def factorisations(text: str) -> tuple[str, ...]:
    """Symbolic results: the last side of an equation chain when it is an expression with numbers
    (``196 = 2^2 \\times 7^2``, ``\\sqrt{117} = 3\\sqrt{13}``), as ``loose`` keys.

    >>> factorisations("Or, using exponents, 196 = 2² × 7². So sqrt(117) = sqrt(9*13) = 3*sqrt(13)")
    ('2^27^2', '3sqrt13')
    """
    out = []
    for clause in re.split(r",\s|;|\.\s|\.$|\n|\s(?:and|so|which|then|where)\s", light(text)):
        sides = clause.split("=")
        if len(sides) < 2 or not sides[0].strip():
            continue
        last = sides[-1].strip(" .$")
        k = loose(last)
        if (len(k) >= 3 and re.search(r"\d", k) and re.search(r"sqrt|frac|π|\^|×|[a-z]", k)
                and not re.fullmatch(r"-?[\d./]+", k) and not re.search(r"[<>≤≥]|\\(?:le|ge|ne)", clause)
                and set(re.findall(r"[a-zA-Z]{2,}", k)) <= _FUNCS):  # math, not "30 in case it helps"
            out.append(k)
    return tuple(dict.fromkeys(out))


_OPS = set("=+-*/^()[]<>≤≥0123456789")


def mentions(text: str, names, exprs=()) -> set[str]:
    """The known ``names`` and ``exprs`` that ``text`` writes (see the module docstring)."""
    t = light(text)
    flat, flat_loose = norm(text), loose(text)
    out = {e for e in exprs if e in flat_loose}
    for n in names:
        if len(n) > 1 and not re.fullmatch(r"[A-Za-zα-ω]", n):
            if re.search(r"(?<![A-Za-z])" + re.escape(n), flat):
                out.add(n)
            continue
        for m in re.finditer(r"(?<![A-Za-z\\])" + re.escape(n) + r"(?![A-Za-z])", t):
            before = t[: m.start()].rstrip()[-1:]
            after = t[m.end():].lstrip()[:1]
            if (before and before in _OPS) or (after and after in _OPS):
                out.add(n)
                break
    return out
