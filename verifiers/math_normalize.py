"""Normalise an answer string and cut it into tokens for the LaTeX parser.

What it does: ``clean(s)`` strips math delimiters, ``\\left``/``\\right``
and spacing, reads thousands separators (``1,000``, ``11,\\!111``,
``14{,}916``, ``1 000``), decimal commas (``1,22``, plain text only),
repeating decimals (``0.\\overline{3}`` is 1/3), degrees and percent signs
(returned as flags); ``tokenize(s)`` splits the result into tokens
(numbers, commands, ``\\text{...}`` contents, words, operators) for
``math_latex``; ``unit_name`` maps unit spellings to one canonical name;
``text_key`` is the loose form text answers are compared by;
``check_balanced`` and ``text_residue_ok`` refuse malformed answers (unpaired
braces or ``\\left``/``\\right``, LaTeX around a text answer) so that no
partial reading of them is ever compared.

It leaves out any meaning: nothing here evaluates anything.
"""

from __future__ import annotations

import re
from fractions import Fraction

from verifiers.math_values import Guard, ParseError

MAX_DIGITS = 1_000  # digits in one number literal

# ---------------------------------------------------------------- cleanup
_KNOWN_CMDS = (
    "frac dfrac tfrac cfrac sqrt left right boxed text textbf mathrm mathbf le leq ge geq lt gt ne neq pi "
    "cdot times div infty begin end pm mp in cup cap sin cos tan sec csc cot log ln exp approx quad qquad "
    "mbox textnormal circ alpha beta gamma theta phi"
).split()
_DOUBLE_BS = re.compile(r"(?<!\\)\\\\(?=(?:" + "|".join(sorted(_KNOWN_CMDS, key=len, reverse=True)) + r")(?![a-zA-Z]))")
_TEXT_CMD = r"\\(?:text|textbf|textit|textrm|textsf|texttt|textnormal|mbox|mathrm|mathbf|mathit|mathsf|rm|bf|operatorname)"
_UNITS = {
    # canonical name: spellings (plural 's' is stripped before lookup)
    "m": "m meter metre", "cm": "cm centimeter centimetre", "mm": "mm millimeter", "km": "km kilometer kilometre",
    "in": "inch inche", "ft": "ft foot feet", "yd": "yd yard", "mi": "mi mile", "s": "s sec second",
    "min": "min minute", "h": "h hr hour", "day": "day", "week": "week", "year": "year yr", "month": "month",
    "g": "g gram", "kg": "kg kilogram", "lb": "lb pound", "oz": "oz ounce", "l": "l liter litre", "ml": "ml milliliter",
    "$": "dollar usd buck", "cent": "cent", "euro": "euro eur", "yuan": "yuan", "unit": "unit", "deg": "degree",
    "rad": "rad radian", "mph": "mph", "kmh": "kmh", "w": "watt", "j": "joule", "n": "newton", "v": "volt",
    "person": "people person", "point": "point", "page": "page", "paper": "paper", "bin": "bin",
}
_UNIT_ALIAS = {sp_: canon for canon, names in _UNITS.items() for sp_ in names.split()}
_FUNCS = {
    "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "log", "ln", "exp", "sqrt", "lg", "det", "gcd", "lcm", "max", "min", "floor", "ceil",
}
_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi rho sigma "
    "tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi Omega"
).split()


def unit_name(word: str) -> str | None:
    w = word.lower().replace(" ", "")
    sq = ""
    m = re.match(r"^(.*?)(\^\{?([23])\}?|²|³)$", w)
    if m:
        w, sq = m.group(1), {"²": "2", "³": "3"}.get(m.group(2), m.group(3))
    for cand in (w, w[:-1] if w.endswith("s") and len(w) > 2 else w, w[:-2] if w.endswith("es") else w):
        if cand in _UNIT_ALIAS:
            return _UNIT_ALIAS[cand] + (f"^{sq}" if sq else "")
    return None


def _repeating(m: re.Match) -> str:
    whole, frac, rep = m.group(1) or "0", m.group(2) or "", m.group(3)
    # x = whole.frac(rep)(rep)... = (whole.frac rep - whole.frac) / (10^|frac| (10^|rep| - 1))
    a = int(whole + frac + rep) - int(whole + frac or "0")
    b = (10 ** len(rep) - 1) * 10 ** len(frac)
    f = Fraction(a, b)
    return f"\\frac{{{f.numerator}}}{{{f.denominator}}}"


def _depth0_sub(s: str, pattern: re.Pattern, repl) -> str:
    """Apply ``pattern`` only to the parts of ``s`` outside any brackets."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in "([{":
            if depth == 0:
                out.append(pattern.sub(repl, s[start:i]))
                start = i
            depth += 1
        elif c in ")]}" and depth:
            depth -= 1
            if depth == 0:
                out.append(s[start : i + 1])
                start = i + 1
    out.append(pattern.sub(repl, s[start:]) if depth == 0 else s[start:])
    return "".join(out)


_THOUSANDS = re.compile(r"(?<![\d.,])([1-9]\d{0,2})((?:,\d{3})+)(?![\d,])")
_SPACE_THOUSANDS = re.compile(r"(?<![\d.])(\d{1,3})((?: \d{3})+)(?![\d./])")


def clean(s: str, latex: bool = False) -> tuple[str, dict]:
    """Normalise an answer string; returns it and flags (percent, unit).

    ``latex``: the string came from LaTeX (a box, a math span), so a comma
    is never a decimal comma and spaces never group thousands.
    """
    flags = {"percent": False, "unit": None}
    s = _DOUBLE_BS.sub(r"\\", s)
    s = s.strip()
    plain = not latex and "\\" not in s and "$" not in s
    s = s.replace("\\$", " ").replace("$", " ").replace("€", " ").replace("£", " ")
    s = re.sub(r"\\[\[\]()]", " ", s)  # math delimiters, like $: "definitely \\(8000\\)"
    s = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![a-zA-Z])\s*\.?", "", s)
    s = re.sub(r"\\(?:displaystyle|textstyle|limits|nolimits|hline|bf|it)(?![a-zA-Z])", " ", s)
    # thousands separators written with LaTeX spacing: 11,\!111 and 14{,}916
    s = re.sub(r"(\d)\s*,\s*\\!\s*(?=\d{3})", r"\1", s)
    s = re.sub(r"(\d)\s*\{\s*,\s*\}\s*(?=\d)", r"\1", s)
    s = re.sub(r"(\d)\\[,;: ]\s*(?=\d{3}(?!\d))", r"\1", s)
    s = re.sub(r"\\[dtc]frac(?![a-zA-Z])", r"\\frac", s)
    s = re.sub(r"\\q?quad|(?<!\\)\\[,;:! ]|~|\\hspace\{[^}]*\}", " ", s)
    s = re.sub(r"\\(?:dots|ldots|cdots)(?![a-zA-Z])|\.\.\.|…", r" \\dots ", s)
    s = re.sub(r"(\d*)\.(\d*)\\overline\{(\d+)\}", _repeating, s)
    # degrees
    s2 = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\\degree", " ", s)
    s2 = re.sub(r"(?<=[\d}\s])\s*(?:\\text\{\s*)?degrees?(?:\s*\})?", " ", s2)
    if s2 != s:
        flags["unit"] = "deg"
        s = s2
    # percent
    s2 = re.sub(r"\\%|%|\s*\\text\{\s*(?:percent|percentage|pct)\s*\}|(?<=[\d\s}])\s*(?:percentage|percent|pct)\b", " ", s)
    if s2 != s:
        flags["percent"] = True
        s = s2
    s = s.strip().rstrip(".,;:").strip()
    s = re.sub(r"^(?:x\s*\\in|\\in)\s*(?=[\[(\\{])", "", s)
    if plain:
        s = _depth0_sub(s, _THOUSANDS, lambda m: m.group(1) + m.group(2).replace(",", ""))
        s = _depth0_sub(s, _SPACE_THOUSANDS, lambda m: m.group(1) + m.group(2).replace(" ", ""))
        m = re.fullmatch(r"(\d+),(\d+)", s)  # not a thousands group (joined above): a decimal comma
        if m:
            s = f"{m.group(1)}.{m.group(2)}"  # 1,22 and 0,111
    else:
        s = _depth0_sub(s, _THOUSANDS, lambda m: m.group(1) + m.group(2).replace(",", ""))
    return s, flags


# ---------------------------------------------------------------- well-formedness
_LEFT_RIGHT = re.compile(r"\\(left|right)(?![a-zA-Z])")
# what may remain of a text answer once its \text{...} wrappers are gone: words, not LaTeX
_TEXT_RESIDUE = re.compile(r"[^\\{}^_=<>|\[\]+*]*")


def check_balanced(s: str) -> None:
    """Raise ``ParseError`` unless the braces and ``\\left``/``\\right`` of ``s`` pair up.

    ``\\{``/``\\}`` are not counted (``\\left\\{ ... \\right.`` is a legal cases brace).
    """
    depth, i, n = 0, 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                raise ParseError("unbalanced braces: '}' without '{'")
        i += 1
    if depth:
        raise ParseError("unbalanced braces: '{' never closed")
    open_ = 0
    for m in _LEFT_RIGHT.finditer(s):
        open_ += 1 if m.group(1) == "left" else -1
        if open_ < 0:
            raise ParseError("\\right without \\left")
    if open_:
        raise ParseError("\\left without \\right")


def text_residue_ok(s: str) -> bool:
    """Is ``s`` (cleaned) words only, once its ``\\text{...}`` groups are dropped?

    A text answer is compared by ``text_key``, which drops LaTeX commands and
    braces; this refuses the strings where that would drop structure
    (``\\text{Evelyn}^{(``, ``Evelyn \\frac{``), so only the words are read.
    """
    return _TEXT_RESIDUE.fullmatch(re.sub(_TEXT_CMD + r"\s*\{[^{}]*\}", " ", s)) is not None


# ---------------------------------------------------------------- tokenizer
_TOKEN = re.compile(
    r"(?P<num>\d+(?:\.\d*)?|\.\d+)"
    r"|(?P<text>" + _TEXT_CMD + r"\s*\{(?P<tc>[^{}]*)\})"
    r"|(?P<cmd>\\[a-zA-Z]+|\\\\|\\[{}|%_&#])"
    r"|(?P<ws>\s+)"
    r"|(?P<op><=|>=|!=|=>|->|\*\*|[-+*/^_!=<>()\[\]{}|,;:'&])"
    r"|(?P<word>[a-zA-Z]+)"
    r"|(?P<uni>.)",
    re.DOTALL | re.ASCII,  # ASCII digits only: a Unicode digit such as ᪖ is an unknown character
)
_UNI = {"π": ("cmd", "\\pi"), "∞": ("cmd", "\\infty"), "≤": ("op", "<="), "≥": ("op", ">="), "≠": ("op", "!="),
        "·": ("op", "*"), "×": ("op", "*"), "÷": ("op", "/"), "−": ("op", "-"), "√": ("cmd", "\\sqrt"),
        "²": ("sup", "2"), "³": ("sup", "3"), "±": ("cmd", "\\pm"), "∪": ("cmd", "\\cup"), "≈": ("cmd", "\\approx")}
_CMD_OPS = {"\\cdot": "*", "\\times": "*", "\\ast": "*", "\\div": "/", "\\le": "<=", "\\leq": "<=",
            "\\leqslant": "<=", "\\ge": ">=", "\\geq": ">=", "\\geqslant": ">=", "\\lt": "<", "\\gt": ">",
            "\\ne": "!=", "\\neq": "!=", "\\approx": "approx", "\\in": "in", "\\colon": ":", "\\to": "->",
            "\\Rightarrow": "=>", "\\implies": "=>", "\\&": "&", "\\%": "%", "\\{": "\\{", "\\}": "\\}",
            "\\mid": "|", "\\vert": "|", "\\lvert": "|", "\\rvert": "|", "\\equiv": "=", "\\sim": "approx",
            "\\simeq": "approx", "\\cong": "="}


def tokenize(s: str) -> list[tuple[str, str]]:
    toks = []
    for m in _TOKEN.finditer(s):
        kind = m.lastgroup
        if kind == "tc":
            kind = "text"
        val = m.group(kind) if kind != "text" else m.group("tc")
        if kind == "ws":
            continue
        if kind == "num" and len(val) > MAX_DIGITS:
            raise Guard("number literal too long")
        if kind == "uni":
            if val in _UNI:
                kind, val = _UNI[val]
            elif val.isspace():
                continue
            else:
                raise ParseError(f"unexpected character {val!r}")
        if kind == "cmd" and val in _CMD_OPS:
            kind, val = "op", _CMD_OPS[val]
        if kind == "text":
            t = val.strip()
            if t.lower() in ("and", "or", ",", "and also", ";"):
                kind, val = "op", ","
            elif t == "":
                continue
        if kind == "word" and val.lower() in ("and", "or"):
            kind, val = "op", ","
        toks.append((kind, val))
    return toks


def text_key(s: str) -> str:
    """A loose string form for text answers: no LaTeX wrappers, spaces, case or end punctuation."""
    s = re.sub(_TEXT_CMD + r"\s*\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\[a-zA-Z]+|[{}\\$\s]", "", s)
    return s.strip(".,;:!()").lower()
