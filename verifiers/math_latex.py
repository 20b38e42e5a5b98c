"""A small LaTeX/plain-text to SymPy translator for final answers.

What it does: ``parse_answer(s)`` turns one extracted answer string (``\\frac{1}{3}``,
``(1, 4.5]``, ``x = 3``, ``\\begin{pmatrix}1\\\\2\\end{pmatrix}``, ``4 4/9``,
``28\\%``, ``125\\text{ miles}``, ``1 \\pm \\sqrt{19}``, ``\\text{Evelyn}``) into an
``Answer``: a value tree made of SymPy expressions, ``Seq`` (bare lists, sets,
tuples, ratios), ``Interval``, ``Union``, ``Rel`` (equations and inequalities),
``Matrix`` and ``Text``, plus flags for ``%``, units and inexact decimals.

It covers the LaTeX subset that answers use (fractions, roots, powers,
functions, greek letters, intervals, sets, matrices, ``\\pm``) with a
recursive-descent parser of our own rather than SymPy's ANTLR-based
``parse_latex``: it is faster, needs no extra dependency and, above all, is
guarded. Pathological input (power towers, ``(10^8)!``, thousands of nested
parentheses, 100k-digit numbers) raises ``Guard`` before SymPy is asked to do
anything expensive; anything else it cannot read raises ``ParseError``.
SymPy is imported on first use, so importing this module is cheap.

It leaves out sums, products, integrals and limits (an answer left as one is
not a final value) and general LaTeX layout: such answers only match as
normalised strings. This module is the entry point; the grammar is in
``math_grammar`` (operators) and ``math_commands`` (atoms and commands), the
size bounds in ``math_guards``, string cleanup and tokens in
``math_normalize``, the value types in ``math_values``.

Run: ``python -c "from verifiers.math_latex import parse_answer as p; print(p('\\\\frac{1}{3}'))"``
"""

from __future__ import annotations

import re
from fractions import Fraction

from verifiers.math_grammar import Parser
from verifiers.math_guards import magnitude  # noqa: F401  (re-exported)
from verifiers.math_normalize import check_balanced, clean, text_key, text_residue_ok, tokenize
from verifiers.math_values import (  # noqa: F401  (re-exported: the verifier and math_equiv use them)
    Answer,
    Guard,
    Interval,
    Matrix,
    ParseError,
    Rel,
    Seq,
    Text,
    Texty,
    Unevaluated,
    Union,
    sp,
)

MAX_LEN = 2_000  # characters in one answer
MAX_PM = 3  # at most 2**3 variants of an answer with \pm
_OPEN = {"(", "[", "{", "\\{"}
_CLOSE = {")", "]", "}", "\\}"}


# ---------------------------------------------------------------- entry point
# digits are ASCII digits: int() would read ᪖ (Tai Tham six) as 6, the tokenizer refuses it
_SIMPLE_NUM = re.compile(r"([-+]?)(?:(\d+)(?:\.(\d+))?|\.(\d+))", re.ASCII)
_SIMPLE_FRAC = re.compile(r"([-+]?)\s*(?:(\d+)\s*/\s*(\d+)|\\frac\{(\d+)\}\{(\d+)\})", re.ASCII)
_MIXED_PLAIN = re.compile(r"([-+]?)(\d+)\s+(\d+)\s*/\s*(\d+)", re.ASCII)
_MIXED_LATEX = re.compile(r"(?<![\w.^_}{)\\])(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}", re.ASCII)


def _mixed_latex(m: re.Match) -> str:
    w, n, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if 0 < d and n < d:
        return f"\\frac{{{w * d + n}}}{{{d}}}"
    return m.group(0)


def _fast(s: str):
    """Plain numbers without SymPy: (Fraction, inexact, plain_number) or None."""
    if len(s) > 60:
        return None
    m = _SIMPLE_NUM.fullmatch(s)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        whole, frac = m.group(2) or "0", m.group(3) or m.group(4) or ""
        f = Fraction(int(whole + frac), 10 ** len(frac)) * sign
        return f, bool(frac.strip("0")), True
    m = _SIMPLE_FRAC.fullmatch(s)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        n, d = int(m.group(2) or m.group(4)), int(m.group(3) or m.group(5))
        if d == 0:
            return None
        return Fraction(n, d) * sign, False, False
    return None


def split_top(toks):
    """Split tokens at depth-0 commas/semicolons: (list of token lists, saw both , and ;)."""
    parts, cur, depth, seps = [], [], 0, set()
    for tok in toks:
        if tok[0] == "op" and tok[1] in _OPEN:
            depth += 1
        elif tok[0] == "op" and tok[1] in _CLOSE:
            depth -= 1
        elif tok[0] == "cmd" and tok[1] == "\\begin":
            depth += 1
        elif tok[0] == "cmd" and tok[1] == "\\end":
            depth -= 1
        if depth == 0 and tok[0] == "op" and tok[1] in (",", ";"):
            seps.add(tok[1])
            parts.append(cur)
            cur = []
            continue
        cur.append(tok)
    parts.append(cur)
    return parts, seps


def _parse_element(toks, state):
    n_pm = sum(1 for t in toks if t[0] == "cmd" and t[1] in ("\\pm", "\\mp"))
    if n_pm > MAX_PM:
        raise Guard("too many \\pm")
    out = []
    for mask in range(2**n_pm):
        signs = [1 if (mask >> j) & 1 == 0 else -1 for j in range(n_pm)]
        p = Parser(list(toks), signs)
        v = p.element()
        if p.peek()[0] is not None:
            raise ParseError(f"trailing input at {p.peek()[1]!r}")
        state["inexact"] |= p.inexact
        state["unit"] = state["unit"] or p.unit
        out.append(v)
    if len(out) > 1 and all(isinstance(v, Seq) and v.kind in ("set", "list") for v in out):
        # {1 \pm \sqrt{5}, -2}: the variants of a set are one set
        return [Seq(out[0].kind, [x for v in out for x in v.items])]
    return out


def parse_answer(s: str, latex: bool = False) -> Answer:
    """Parse one final-answer string. Raises ``ParseError`` (or ``Guard``).

    The whole string is read or nothing is: unpaired braces or
    ``\\left``/``\\right``, an unfinished ``\\frac``/``^``, a character the
    tokenizer does not know, or words mixed into LaTeX structure raise
    ``ParseError``; no part of such a string is ever returned as the answer.

    ``latex``: the string was inside a box or math span (see ``clean``).
    """
    if not isinstance(s, str):
        raise ParseError("not a string")
    if len(s) > MAX_LEN:
        raise Guard("answer too long")
    raw = s
    fast = _fast(s.strip())  # the common case, a bare number, skips all normalisation
    if fast is not None:
        value, inexact, plain = fast
        return Answer(value, raw, False, None, inexact, plain)
    check_balanced(s)  # unpaired braces or \left/\right: no partial reading
    s, flags = clean(s, latex)
    if not s:
        raise ParseError("empty answer")
    fast = _fast(s)
    if fast is not None:
        value, inexact, plain = fast
        return Answer(value, raw, flags["percent"], flags["unit"], inexact, plain)
    m = _MIXED_PLAIN.fullmatch(s)
    if m:
        sign, w, n, d = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
        if d == 0 or n >= d:
            raise Guard("not a mixed number")  # 11 6/6 and 4 4/0 are not answers
        f = (w + Fraction(n, d)) * (-1 if sign == "-" else 1)
        return Answer(f, raw, flags["percent"], flags["unit"], False, False)
    s = _MIXED_LATEX.sub(_mixed_latex, s)
    state = {"inexact": False, "unit": flags["unit"]}
    try:
        toks = tokenize(s)
        if not toks:
            raise ParseError("empty answer")
        parts, seps = split_top(toks)
        if seps == {",", ";"}:  # p=5,q=2;p=7,q=2: groups of a tuple each
            groups, cur = [], []
            for tok in toks + [("op", ";")]:
                if tok == ("op", ";"):
                    groups.append(cur)
                    cur = []
                else:
                    cur.append(tok)
            items = []
            for g in groups:
                sub, _ = split_top(g)
                vals = [v for part in sub for v in _parse_element(part, state)]
                items.append(vals[0] if len(vals) == 1 else Seq("tuple", vals))
        else:
            items = [v for part in parts if part for v in _parse_element(part, state)]
    except Texty:
        if not text_residue_ok(s):
            raise ParseError("text answer inside LaTeX structure") from None
        return Answer(Text(text_key(s)), raw, flags["percent"], flags["unit"])
    except RecursionError:
        raise Guard("nesting too deep")
    if not items:
        raise ParseError("empty answer")
    value = items[0] if len(items) == 1 else Seq("list", items)
    return Answer(value, raw, flags["percent"], state["unit"], state["inexact"], False)
