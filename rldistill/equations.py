"""Quantities and equation checks inside one reasoning step.

What it does:

* ``numbers_in(text)``: the numeric quantities a step mentions, as canonical
  keys (``"7"``, ``"7/2"``), reading thousands separators, decimals, LaTeX
  ``\\frac{a}{b}`` and small number words ("six");
* ``check_text(text)``: finds every closed-form equation (``a op b = c``
  chains in plain text, in ``$...$``/``\\(...\\)``/``\\[...\\]`` math, and verbal
  arithmetic like "21 divided by 3, which is 7") and checks it. Exact rational
  arithmetic on a small AST first; sympy only for roots and pi, behind length
  and exponent caps. An equation with a free variable cannot be checked and
  is skipped, never failed.

What it leaves out: algebra with unknowns (``2x = 6`` is not solved), units,
and anything a regex cannot delimit. It is a consistency filter for traces,
not a verifier of final answers (that is ``verifiers.math``).
"""

from __future__ import annotations

import ast
import re
from fractions import Fraction
from functools import lru_cache

# "one" is left out: "that one", "one of them" are not quantities, and 1 carries little dependency.
_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split()) if w not in ("zero", "one")}
_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
               "hundred": 100, "thousand": 1000, "million": 1000000, "twice": 2, "thrice": 3})

_NUM = r"(?:\d++(?:\.\d++)?+|(?<!\d)\.\d++)"  # ".4" too
_THOUSANDS = re.compile(r"(?<![\d.])(\d{1,3})((?:,\d{3})+)(?![\d])")
_LIST_MARK = re.compile(r"(?m)^\s*(?:\d+[.)]|step\s+\d+[:.]?)\s+", re.I)
_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}")


@lru_cache(maxsize=65536)
def key(value) -> str:
    """Canonical key of a number: ``Fraction`` text without sign (signs are read as operators)."""
    try:
        f = abs(Fraction(value))
    except (ValueError, ZeroDivisionError, TypeError, OverflowError):
        return str(value)
    return str(f)


def _clean(text: str) -> str:
    text = text.replace("−", "-").replace("–", "-").replace("\\!", "").replace("{,}", "")
    return _THOUSANDS.sub(lambda m: m.group(1) + m.group(2).replace(",", ""), text)


@lru_cache(maxsize=65536)
def numbers_in(text: str) -> tuple[str, ...]:
    """Canonical keys of the numbers in ``text`` (list markers like ``1.`` skipped).

    >>> numbers_in("Each of six sides is 1,000.5 cm, and \\\\frac{7}{2} more")
    ('6', '2001/2', '7', '2', '7/2')
    """
    text = _LIST_MARK.sub(" ", _clean(text))
    out: list[str] = []
    for m in re.finditer(rf"(?<![\w.]){_NUM}|\b[a-z]+\b", text, re.I):
        tok = m.group(0)
        if tok[0].isdigit() or tok[0] == ".":
            if len(tok) <= 40:
                out.append(key(tok))
        elif tok.lower() in _WORDS:
            out.append(key(_WORDS[tok.lower()]))
    out += [key(Fraction(int(a), int(b))) for a, b in _FRAC.findall(text) if int(b)]
    return tuple(dict.fromkeys(out))


# --------------------------------------------------------------------------- evaluation


class _Unsafe(Exception):
    pass


class _NeedSympy(Exception):
    pass


_MAX_EXP = 64
_MAX_DIGITS = 400


def _eval(node):
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return Fraction(repr(node.value)) if isinstance(node.value, float) else Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        if isinstance(node.op, ast.Div):
            if b == 0:
                raise _Unsafe("division by zero")
            return a / b
        if isinstance(node.op, ast.Pow):
            if b.denominator != 1:
                raise _NeedSympy
            if abs(b) > _MAX_EXP or (a != 0 and abs(b) * len(str(abs(a.numerator))) > _MAX_DIGITS):
                raise _Unsafe("power too large")
            if a == 0 and b < 0:
                raise _Unsafe("division by zero")
            return a ** int(b)
    if isinstance(node, (ast.Call, ast.Name)):
        raise _NeedSympy
    raise _Unsafe(type(node).__name__)


def _sympy_value(expr: str):
    # Only roots and pi reach here; caps keep sympy away from power towers.
    if len(expr) > 160 or expr.count("**") > 2:
        raise _Unsafe("too long for sympy")
    import sympy

    val = sympy.sympify(expr, locals={"sqrt": sympy.sqrt, "pi": sympy.pi}, rational=True)
    num = sympy.N(val, 30)
    if not num.is_real:
        raise _Unsafe("not real")
    return num


@lru_cache(maxsize=65536)
def evaluate(expr: str):
    """Exact value of a closed-form expression (Fraction, or a sympy Float for roots and pi), or None.

    >>> evaluate("(12 + 7) * 3"), evaluate("x + 1"), evaluate("9**9**9")
    (Fraction(57, 1), None, None)
    """
    if not expr or len(expr) > 200 or re.search(r"[A-Za-z_]", re.sub(r"\b(?:sqrt|pi)\b", "", expr)):
        return None
    try:
        return _eval(ast.parse(expr.strip(), mode="eval"))
    except _NeedSympy:
        try:
            return _sympy_value(expr)
        except Exception:
            return None
    except (_Unsafe, SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError, MemoryError):
        return None


def _decimals(src: str) -> int | None:
    m = re.fullmatch(r"\s*\(?\s*-?\d+\.(\d+)\s*\)?\s*", src)
    return len(m.group(1)) if m else None


def holds(lhs: str, rhs: str, approx: bool = False) -> bool | None:
    """Does ``lhs = rhs`` hold? ``None`` when either side cannot be evaluated.

    A side written as a decimal literal with d places is read as rounded to d
    places (``1/3 = 0.333`` holds, ``1/3 = 0.3334`` does not).

    >>> holds("12 + 7", "19"), holds("7*8", "54"), holds("1/3", "0.333"), holds("x", "3")
    (True, False, True, None)
    """
    a, b = evaluate(lhs), evaluate(rhs)
    if a is None or b is None:
        return None
    if isinstance(a, Fraction) and isinstance(b, Fraction) and a == b:
        return True
    diff, scale = abs(float(a) - float(b)), max(1.0, abs(float(b)))
    tol = 1e-12 * scale
    for side in (lhs, rhs):
        d = _decimals(side)
        if d is not None:
            tol = max(tol, 0.5 * 10 ** -d * 1.0001)
    if approx:
        tol = max(tol, 0.01 * scale)
    return diff <= tol


# --------------------------------------------------------------------------- finding equations

# A "$" right before a digit opens no math when money follows ("$60 mowing") and closes none ("$3 = $600");
# $...$ math stays on one line.
_MATH = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]|\$\$(.+?)\$\$|\$(?!\d[\d,.]*\s+[a-z])([^\n$]+?)\$(?!\d)", re.S)
# Possessive quantifiers throughout: adjacent optional spaces would otherwise backtrack cubically on long blanks.
# (So an atom keeps the spaces after it: "= 560 files" ends in a space, and a word may follow it.)
_ATOM = rf"\(*+\s*+(?:-\s*+)?\$?{_NUM}%?+\s*+\)*+"  # "$35": an amount of money is a number; "20%" too
# "(2+1)(2+1)": brackets side by side multiply; a match never starts right after a bracket (inside a product).
_EXPR = rf"{_ATOM}(?:(?:\s*+[-+*/×÷·^x]\s*+|(?<=\))(?=\()){_ATOM})*+"
_PLAIN_EQ = re.compile(rf"(?<![\w.\\_^{{}}*/+×÷·=()\[\]-])({_EXPR}(?:\s*+(?:=|≈)\s*+{_EXPR})++)(?:(?<=\s)|(?![\w\\{{(]|\.\d))")
_VERBAL = re.compile(
    rf"(?<![\w.])({_NUM})\s+(plus|minus|times|multiplied by|divided by|over)\s+({_NUM}),?\s+"
    rf"(?:is|equals|gives(?: us)?|which is|which equals|is equal to|makes|that'?s|=)\s+(?:equal to\s+)?({_NUM})(?!\s*[-+*/×÷^·]\s*\d)", re.I)
_VERBAL_OPS = {"plus": "+", "minus": "-", "times": "×", "multiplied by": "×", "divided by": "/", "over": "/"}
_NOT_EQ = re.compile(r"[<>≤≥≠]|\\(?:le|ge|leq|geq|neq|ne|lt|gt|equiv|pmod|mod)\b|\\%|(?<![\d\s])%|!")


def _brace(s: str, i: int) -> int:
    """Index just past the brace group that opens at s[i] (or i if none)."""
    if i >= len(s) or s[i] != "{":
        return i
    depth = 0
    for j in range(i, len(s)):
        depth += {"{": 1, "}": -1}.get(s[j], 0)
        if depth == 0:
            return j + 1
    return len(s)


def latex_to_expr(s: str) -> str:
    """Translate a LaTeX side of an equation into an expression ``evaluate`` reads.

    >>> latex_to_expr(r"\\frac{21}{3} \\times 2^{3}")
    '((21)/(3)) * 2**(3)'
    """
    s = re.sub(r"\\(?:left|right|displaystyle|quad|qquad|[,;:! ])", " ", s)
    s = re.sub(r"\\(?:text|mathrm|textbf|mbox)\s*\{[^{}]*\}", " ", s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    out, i = [], 0
    while i < len(s):
        if s.startswith("\\frac", i):
            j = i + 5
            while j < len(s) and s[j] == " ":
                j += 1
            k = _brace(s, j)
            m = _brace(s, k)
            if k == j or m == k:
                return "?"
            out.append(f"(({latex_to_expr(s[j + 1:k - 1])})/({latex_to_expr(s[k + 1:m - 1])}))")
            i = m
        elif s.startswith("\\sqrt", i):
            j = i + 5
            root = None
            if j < len(s) and s[j] == "[":
                e = s.find("]", j)
                root, j = s[j + 1:e], e + 1
            k = _brace(s, j)
            if k == j:
                return "?"
            inner = latex_to_expr(s[j + 1:k - 1])
            out.append(f"sqrt({inner})" if root is None else f"(({inner})**(1/({latex_to_expr(root)})))")
            i = k
        else:
            out.append(s[i])
            i += 1
    s = "".join(out)
    for a, b in (("\\times", "*"), ("\\cdot", "*"), ("\\ast", "*"), ("\\div", "/"), ("\\pi", "pi"),
                 ("×", "*"), ("·", "*"), ("÷", "/"), ("^", "**"), ("{", "("), ("}", ")")):
        s = s.replace(a, b)
    s = re.sub(r"(?<=\d)\s*x\s*(?=\d)", "*", s)
    s = re.sub(r"(?<=[\d)])\s*(?=[(]|sqrt|pi)", "*", s)
    return "?" if "\\" in s else s.strip()


def _literal(side: str, latex: bool) -> str | None:
    """Key of a side that is a bare number (what an equation "produces"), else None."""
    side = side.strip().strip("$").strip()
    m = re.fullmatch(rf"\(?\s*-?\s*\$?({_NUM})%?\s*\)?", side)
    if m:
        return key(m.group(1))
    m = _FRAC.fullmatch(side) if latex else None
    return key(Fraction(int(m.group(1)), int(m.group(2)))) if m and int(m.group(2)) else None


def _sig(expr: str) -> str:
    # "how" a number was computed, loosely: (21)/(3), 21/3 and 21 / 3 are one computation
    return re.sub(r"[\s()]+", "", expr)


def _check_chain(eq: str, latex: bool) -> list[tuple[bool, str | None, str]]:
    """``[(holds, key of the right side if it is a bare number, the left side normalised), ...]`` per checkable link."""
    conv = latex_to_expr if latex else _plain
    sides, links = [], []  # links[i] is the relation between sides[i] and sides[i+1]
    for a_i, part in enumerate(re.split(r"\\approx|≈", eq)):
        for p_i, side in enumerate(part.split("=")):
            if sides:
                links.append(a_i > 0 and p_i == 0)
            sides.append(side)
    out = []
    for (x, y), approx in zip(zip(sides, sides[1:]), links):
        cx = conv(x)
        v = holds(cx, conv(y), approx=approx)
        if v is not None:
            out.append((v, _literal(y, latex), _sig(cx)))
    return out


def _plain(s: str) -> str:
    s = s.replace("$", "")
    # a percentage alone is its number ("... = 75%"); inside an expression it is a fraction ("20% * 2")
    s = re.sub(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$", r"\1", s)
    s = re.sub(r"(\d+(?:\.\d+)?|\.\d+)\s*%", r"(\1/100)", s).replace("×", "*").replace("·", "*").replace("÷", "/").replace("^", "**")
    s = re.sub(r"\)\s*\(", ")*(", s)
    return re.sub(r"(?<=\d)\s*x\s*(?=[\d(.])", "*", s).strip()


_STOP = r"(?:times|plus|minus|divided|multiplied|over|and|or|is|are|was|equals?|which|so|gives|makes|that|then|to|by)\b"
_AFTER = r"(?=\s*(?:[-+*/×÷=]|x\s)\s*[\d$(.])"
_PER_UNIT = re.compile(rf"(?<=\d)/[A-Za-z]+\.?{_AFTER}")
_UNIT_WORDS = re.compile(rf"(?<=[\d%])(?:\s+(?!{_STOP})[A-Za-z][A-Za-z'.]*(?:/[A-Za-z]+\.?)?){{1,5}}{_AFTER}")


def _drop_units(text: str) -> str:
    """Unit words between a number and an operator go: "7 packs × 18 balls/pack = 126" -> "7 × 18 = 126".

    >>> _drop_units("24 correct answers * 2 points/answer = 48 points, 40 hours * $12/hour = $480")
    '24 * 2 = 48 points, 40 * $12 = $480'
    """
    return _UNIT_WORDS.sub("", _PER_UNIT.sub("", text))


@lru_cache(maxsize=65536)
def check_text(text: str) -> tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Check every closed-form equation in ``text``.

    Returns ``(status, equations, results)``: status ``"ok"`` (at least one
    checked, all hold), ``"fail"`` (one does not hold) or ``"none"`` (nothing
    checkable); ``equations`` are the equation strings found, verbal ones
    rewritten as ``a op b = c``; ``results`` the ``(key, how)`` pairs of the
    bare numbers that an equation produces on its right side, ``how``
    being its left side normalised (``"wrong"`` when the equation does not hold) (two steps that compute the same number
    the same way are recomputations of one another).

    >>> check_text("So 12 + 7 = 19, then 19 × 3 = 56.")
    ('fail', ('12 + 7 = 19', '19 × 3 = 56'), (('19', '12+7'), ('56', 'wrong')))
    >>> check_text(r"each side is \\( \\frac{21}{3} = 7 \\) inches")
    ('ok', ('\\\\( \\\\frac{21}{3} = 7 \\\\)',), (('7', '21/3'),))
    """
    text = _clean(text)
    links: list[tuple[bool, str | None]] = []
    eqs: list[tuple[int, str]] = []
    plain = list(text)
    for m in _MATH.finditer(text):
        body = next(g for g in m.groups() if g is not None)
        if m.group(4) is not None and (re.search(r"[a-z]{2,}\s+[a-z]{2,}", body) or re.match(r"\d[\d,.]*\s+[a-z]", body)):
            continue  # "$7 each so 5*7=$35": money, not math; read as plain text
        plain[m.start():m.end()] = [" "] * (m.end() - m.start())
        if ("=" in body or "\\approx" in body) and "\\boxed" not in body:
            eqs.append((m.start(), m.group(0).strip()))
            if not _NOT_EQ.search(body):
                links += _check_chain(body, latex=True)
    rest = _drop_units("".join(plain))
    for m in _VERBAL.finditer(rest):
        if re.search(r"(?:times|plus|minus|by|over|of|[-+*/×÷])\s*$", rest[:m.start()]):
            continue  # "2 times 6 times 7 = ..." is not "6 times 7 = ..."
        a, op, b, c = m.groups()
        eq = f"{a} {_VERBAL_OPS[op.lower()]} {b} = {c}"
        eqs.append((m.start(), eq))
        links += _check_chain(eq, latex=False)
    for m in _PLAIN_EQ.finditer(rest):
        eq = m.group(1).strip()
        if re.search(r"(?:times|plus|minus|over)\s*$", rest[:m.start()]) or (
                re.search(r"\b(?:of|by)\s*$", rest[:m.start()]) and not re.search(r"\d\s*[-+*/×÷·^x]", eq.split("=")[0])):
            # the left side continues a verbal expression ("2 times 6 times 7 = ...", "half of 10 = 5"):
            # check the rest only ("a difference of 75-55 = 20" is whole)
            eq = eq.split("=", 1)[1].strip()
        if not re.search(r"[-+*/×÷·^x]", eq) and eq.count("=") <= 1:
            continue  # "x = 3" style fragments carry no computation
        if re.search(r"[-+*/×÷·^=]\s*$", rest[:m.start()]):
            continue  # "S + 143 = 200 - 16": the left side goes on before the match (a letter); not checkable
        if eq.count("(") != eq.count(")"):
            continue  # starts or ends inside a bracket: a piece of a larger expression, not an equation
        eqs.append((m.start(), eq))
        if not _NOT_EQ.search(rest[max(0, m.start() - 1):m.end() + 1]):
            links += _check_chain(eq, latex=False)
    status = "none" if not links else ("ok" if all(v for v, _, _ in links) else "fail")
    # a wrong equation's result is marked "wrong": steps that use it cannot be kept without it
    results = tuple(dict.fromkeys((k, how if v else "wrong") for v, k, how in links if k is not None))
    return status, tuple(e for _, e in sorted(eqs)), results
