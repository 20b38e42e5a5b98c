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
normalised strings. String cleanup and tokens are in ``math_normalize``, the
value types in ``math_values``.

Run: ``python -c "from verifiers.math_latex import parse_answer as p; print(p('\\\\frac{1}{3}'))"``
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from verifiers.math_normalize import _FUNCS, _GREEK, MAX_DIGITS, clean, text_key, tokenize, unit_name  # noqa: F401
from verifiers.math_values import (  # noqa: F401  (re-exported: the verifier and math_equiv use them)
    Answer,
    Guard,
    Interval,
    Matrix,
    ParseError,
    Rel,
    Seq,
    Text,
    Union,
    sp,
)

MAX_LEN = 2_000  # characters in one answer
MAX_DEPTH = 60  # nesting of brackets / operators
MAX_RESULT_DIGITS = 5_000  # digits of an exact power or factorial
MAX_FACTORIAL = 1_000
MAX_PM = 3  # at most 2**3 variants of an answer with \pm


# ---------------------------------------------------------------- parser
class _Texty(ParseError):
    """Words where math was expected: the answer is read as text instead."""


_REL_OPS = {"=", "<", "<=", ">", ">=", "!=", "approx", "in", "=>", "->"}
_OPEN = {"(", "[", "{", "\\{"}
_CLOSE = {")", "]", "}", "\\}"}
_FUNC_LETTERS = set("fghFGHPQW")


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


def _guard_pow(b, e):
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


def _guard_factorial(x):
    S = sp()
    if magnitude(x) > 3 or (x.is_Number and abs(x) > MAX_FACTORIAL):
        raise Guard("factorial too large")
    return S.factorial(x)


def _mat_add(a: Matrix, b: Matrix, sign: int) -> Matrix:
    if len(a.rows) != len(b.rows) or any(len(r) != len(s) for r, s in zip(a.rows, b.rows)):
        raise ParseError("matrix shapes differ")
    return Matrix([[x + sign * y for x, y in zip(r, s)] for r, s in zip(a.rows, b.rows)])


def _mat_mul(a, b) -> Matrix:
    if isinstance(a, Matrix) and isinstance(b, Matrix):
        if len(a.rows[0]) != len(b.rows) or len(a.rows) * len(b.rows[0]) > 400:
            raise ParseError("matrix shapes do not multiply")
        cols = list(zip(*b.rows))
        return Matrix([[sum((x * y for x, y in zip(r, c)), sp().Integer(0)) for c in cols] for r in a.rows])
    if isinstance(a, Matrix) and _is_expr(b):
        return Matrix([[x * b for x in r] for r in a.rows])
    if isinstance(b, Matrix) and _is_expr(a):
        return Matrix([[a * x for x in r] for r in b.rows])
    raise ParseError("product of a matrix and a non-number")


def _is_expr(v) -> bool:
    return not isinstance(v, (Text, Seq, Interval, Union, Rel, Matrix))


class _Parser:
    def __init__(self, toks, signs=()):
        self.t, self.i, self.depth = toks, 0, 0
        self.signs, self.k = list(signs), 0
        self.inexact = False
        self.unit = None

    # -- token helpers
    def peek(self, k=0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else (None, None)

    def at(self, kind, val=None, k=0):
        tk, tv = self.peek(k)
        return tk == kind and (val is None or tv == val)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, kind, val):
        if not self.at(kind, val):
            raise ParseError(f"expected {val!r} at token {self.i}, got {self.peek()[1]!r}")
        return self.take()

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Guard("nesting too deep")

    def pm_sign(self):
        s = self.signs[self.k] if self.k < len(self.signs) else 1
        self.k += 1
        return s

    # -- grammar
    def elements(self, closers):
        """Comma/semicolon separated elements up to one of ``closers`` (not consumed)."""
        items = [self.element()]
        while self.at("op", ",") or self.at("op", ";"):
            self.take()
            if self.peek()[1] in closers:
                break
            items.append(self.element())
        return items

    def element(self):
        self.enter()
        terms, ops = [self.ratio()], []
        while self.peek()[0] == "op" and self.peek()[1] in _REL_OPS:
            ops.append(self.take()[1])
            terms.append(self.ratio())
        self.depth -= 1
        return Rel(ops, terms) if ops else terms[0]

    def ratio(self):
        parts = [self.union()]
        while self.at("op", ":"):
            self.take()
            parts.append(self.union())
        return Seq("ratio", parts) if len(parts) > 1 else parts[0]

    def union(self):
        parts = [self.additive()]
        while self.at("cmd", "\\cup"):
            self.take()
            parts.append(self.additive())
        return Union(parts) if len(parts) > 1 else parts[0]

    def additive(self):
        left = self.term()
        while True:
            tk, tv = self.peek()
            if tk == "op" and tv in ("+", "-"):
                sign = 1 if tv == "+" else -1
            elif tk == "cmd" and tv in ("\\pm", "\\mp"):
                sign = self.pm_sign() * (1 if tv == "\\pm" else -1)
            else:
                return left
            self.take()
            right = self.term()
            if isinstance(left, Matrix) and isinstance(right, Matrix):
                left = _mat_add(left, right, sign)
                continue
            if not (_is_expr(left) and _is_expr(right)):
                raise ParseError("arithmetic on a non-number")
            left = left + right if sign > 0 else left - right

    def term(self):
        left = self.unary()
        while True:
            tk, tv = self.peek()
            if tk == "op" and tv in ("*", "/"):
                self.take()
                right = self.unary()
                if tv == "*" and (isinstance(left, Matrix) or isinstance(right, Matrix)):
                    left = _mat_mul(left, right)
                    continue
                if not (_is_expr(left) and _is_expr(right)):
                    raise ParseError("arithmetic on a non-number")
                left = left * right if tv == "*" else left / right
            elif tk == "text" or (tk == "word" and unit_name(tv) and len(tv) > 1 and _is_expr(left) and left.is_number):
                if not (_is_expr(left) and left.is_number) or not re.fullmatch(r"[A-Za-z .²³^{}0-9/]{1,40}", tv):
                    raise _Texty(tv)
                self.take()
                unit = tv.strip()
                while self.at("op", "^") or self.peek()[0] == "sup":  # cm^2
                    if self.take()[0] == "op":
                        unit += "^" + str(self.take()[1]).strip("{}")
                self.unit = unit_name(unit) or unit.lower()
            elif self._starts_atom():
                right = self.power()
                if isinstance(left, Matrix) or isinstance(right, Matrix):
                    left = _mat_mul(left, right)
                    continue
                if not (_is_expr(left) and _is_expr(right)):
                    raise ParseError("juxtaposed non-numbers")
                left = left * right
            else:
                return left

    def _starts_atom(self):
        tk, tv = self.peek()
        if tk in ("num", "word"):
            return True
        if tk == "op":
            return tv in ("(", "[", "{")  # "|" is ambiguous (closing abs), so not implicit
        if tk == "cmd":
            return tv not in ("\\pm", "\\mp", "\\cup", "\\end", "\\\\", "\\}", "\\dots")
        return False

    def unary(self):
        tk, tv = self.peek()
        if tk == "op" and tv in ("-", "+"):
            self.take()
            self.enter()
            v = self.unary()
            self.depth -= 1
            if not _is_expr(v):
                raise ParseError("sign on a non-number")
            return -v if tv == "-" else v
        if tk == "cmd" and tv in ("\\pm", "\\mp"):
            self.take()
            sign = self.pm_sign() * (1 if tv == "\\pm" else -1)
            v = self.unary()
            if not _is_expr(v):
                raise ParseError("sign on a non-number")
            return v if sign > 0 else -v
        return self.power()

    def power(self):
        base = self.postfix()
        exps = []
        while True:
            if self.at("op", "^") or self.at("op", "**"):
                self.take()
                exps.append(self.script())
            elif self.peek()[0] == "sup":
                exps.append(sp().Integer(self.take()[1]))
            else:
                break
            if self.at("op", "!"):  # (x^2)! is rare; x^2! is x^(2!)
                self.take()
                exps[-1] = _guard_factorial(exps[-1])
        if not exps:
            return base
        if not _is_expr(base):
            raise ParseError("power of a non-number")
        e = exps[-1]
        for x in reversed(exps[:-1]):
            e = _guard_pow(x, e)
        return _guard_pow(base, e)

    def script(self):
        """A superscript/subscript: {group}, one number, a letter, a command, or -x."""
        tk, tv = self.peek()
        if tk == "op" and tv == "{":
            return self.group("{", "}")
        if tk == "op" and tv in ("-", "+"):
            self.take()
            v = self.script()
            return -v if tv == "-" else v
        if tk == "num":
            self.take()
            return self._number(tv)
        return self.postfix()

    def postfix(self):
        self.enter()
        v = self.atom()
        while True:
            if self.at("op", "!"):
                self.take()
                if not _is_expr(v):
                    raise ParseError("factorial of a non-number")
                v = _guard_factorial(v)
            elif self.at("op", "'"):
                self.take()
                if isinstance(v, sp().Symbol):
                    v = sp().Symbol(v.name + "'")
            elif self.at("op", "_"):
                self.take()
                v = self._subscript(v)
            else:
                break
        self.depth -= 1
        return v

    def _subscript(self, v):
        S = sp()
        if isinstance(v, S.Symbol):  # x_1, a_{37}, S_{MBCN}: part of the name, read raw
            start = self.i
            if self.at("op", "{"):
                depth = 0
                while True:
                    tk, tv = self.take()
                    if tk is None:
                        raise ParseError("unclosed subscript")
                    depth += (tv == "{") - (tv == "}")
                    if depth == 0:
                        break
            else:
                self.take()
            raw = "".join(str(t[1]) for t in self.t[start : self.i] if t[1] not in ("{", "}"))
            return S.Symbol(f"{v.name}_{raw}")
        sub = self.script()
        if isinstance(v, S.Integer) and isinstance(sub, S.Integer):
            return Text(f"{v}_{sub}")  # a number in another base: compared as written
        raise ParseError("subscript on an expression")

    def _number(self, tv):
        S = sp()
        if "." in tv:
            whole, _, frac = tv.partition(".")
            if frac.strip("0"):
                self.inexact = True
            return S.Rational(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac))
        return S.Integer(int(tv))

    def arg(self):
        """One argument of \\frac / \\sqrt: {group}, or a single digit / letter / command."""
        tk, tv = self.peek()
        if tk == "op" and tv == "{":
            return self.group("{", "}")
        if tk == "num":
            if len(tv) > 1 and "." not in tv:  # \frac13: one digit each
                self.t[self.i] = ("num", tv[1:])
                return sp().Integer(int(tv[0]))
            self.take()
            return self._number(tv)
        if tk == "word":
            if len(tv) > 1:
                self.t[self.i] = ("word", tv[1:])
                return sp().Symbol(tv[0])
            self.take()
            return sp().Symbol(tv)
        return self.postfix()

    def group(self, open_, close):
        self.expect("op", open_)
        self.enter()
        items = self.elements({close})
        self.expect("op", close)
        self.depth -= 1
        if len(items) == 1:
            return items[0]
        return Seq("list", items)

    def bracket(self):
        _, open_ = self.take()
        self.enter()
        items = self.elements({")", "]"})
        tk, close = self.take()
        self.depth -= 1
        if tk != "op" or close not in (")", "]"):
            raise ParseError("unclosed bracket")
        if len(items) == 1:
            if open_ == "(" and close == ")" or open_ == "[" and close == "]":
                return items[0]
            raise ParseError("half-open bracket around one item")
        if len(items) == 2 and not (open_ == "(" and close == ")"):
            return Interval(items[0], items[1], open_ == "(", close == ")")
        if open_ != "(" or close != ")":
            if open_ == "[" and close == "]":
                return Seq("tuple", items)
            raise ParseError("interval with more than two ends")
        return Seq("tuple", items)

    def func_arg(self):
        if self.at("op", "("):
            v = self.bracket()
            if not _is_expr(v):
                raise ParseError("function of a non-number")
            return v
        v = self.power()
        return v

    def apply_func(self, name):
        S = sp()
        power = None
        if self.at("op", "^"):  # \sin^2 x
            self.take()
            power = self.script()
        base = None
        if name == "log" and self.at("op", "_"):
            self.take()
            base = self.script()
        x = self.func_arg()
        if not _is_expr(x):
            raise ParseError("function of a non-number")
        table = {
            "sin": S.sin, "cos": S.cos, "tan": S.tan, "sec": S.sec, "csc": S.csc, "cot": S.cot,
            "arcsin": S.asin, "arccos": S.acos, "arctan": S.atan, "sinh": S.sinh, "cosh": S.cosh,
            "tanh": S.tanh, "ln": S.log, "exp": S.exp, "sqrt": S.sqrt, "floor": S.floor, "ceil": S.ceiling,
        }
        if name in ("log", "lg"):
            v = S.log(x, base) if base is not None else (S.log(x, 10) if name == "lg" else S.log(x))
        elif name in table:
            if name in ("exp", "sinh", "cosh") and magnitude(x) > 3.5:
                raise Guard("exp too large")
            v = table[name](x)
        else:
            raise ParseError(f"unsupported function {name}")
        return _guard_pow(v, power) if power is not None else v

    def atom(self):
        S = sp()
        tk, tv = self.peek()
        if tk is None:
            raise ParseError("unexpected end")
        if tk == "num":
            self.take()
            return self._number(tv)
        if tk == "word":
            return self._word()
        if tk == "text":
            self.take()
            t = tv.strip()
            if re.fullmatch(r"\d+(\.\d+)?", t):
                return self._number(t)
            if re.fullmatch(r"[A-Za-z]", t):
                return S.Symbol(t)
            if re.fullmatch(r"\(?[A-Za-z]\)?", t):
                return Text(t.strip("()").lower())
            raise _Texty(t)
        if tk == "op":
            if tv in ("(", "["):
                return self.bracket()
            if tv == "{":
                return self.group("{", "}")
            if tv == "\\{":
                self.take()
                self.enter()
                items = [] if self.at("op", "\\}") else self.elements({"\\}"})
                self.expect("op", "\\}")
                self.depth -= 1
                return Seq("set", items)
            if tv == "|":
                self.take()
                self.enter()
                v = self.additive()
                self.expect("op", "|")
                self.depth -= 1
                if not _is_expr(v):
                    raise ParseError("abs of a non-number")
                return S.Abs(v)
            raise ParseError(f"unexpected {tv!r}")
        if tk == "cmd":
            return self._command()
        raise ParseError(f"unexpected token {tv!r}")

    def _word(self):
        S = sp()
        _, tv = self.take()
        low = tv.lower()
        if low in _FUNCS:
            return self.apply_func({"ceil": "ceil"}.get(low, low))
        if low == "pi":
            return S.pi
        if low in ("inf", "infty", "infinity", "oo"):
            return S.oo
        if len(tv) == 1:
            if tv == "e" and self.at("op", "^"):
                return S.E
            if tv == "i":  # 6 - 5i: the imaginary unit (answers rarely name an index i)
                return S.I
            sym = S.Symbol(tv)
            if tv in _FUNC_LETTERS and self.at("op", "(") :
                args = self.bracket()
                args = args.items if isinstance(args, Seq) else [args]
                if not all(_is_expr(a) for a in args):
                    raise ParseError("function of a non-number")
                return S.Function(tv)(*args)
            return sym
        if len(tv) == 2 and not unit_name(tv):
            return S.Symbol(tv[0]) * S.Symbol(tv[1])
        raise _Texty(tv)

    def _command(self):
        S = sp()
        _, tv = self.take()
        name = tv[1:]
        if name == "frac":
            a, b = self.arg(), self.arg()
            if not (_is_expr(a) and _is_expr(b)):
                raise ParseError("fraction of non-numbers")
            return a / b
        if name == "sqrt":
            n = None
            if self.at("op", "["):
                self.take()
                n = self.additive()
                self.expect("op", "]")
            x = self.arg()
            if not _is_expr(x) or (n is not None and not _is_expr(n)):
                raise ParseError("root of a non-number")
            return S.sqrt(x) if n is None else S.root(x, n)
        if name in ("binom", "dbinom", "tbinom", "choose"):
            a, b = self.arg(), self.arg()
            if a.is_Number and abs(a) > MAX_FACTORIAL:
                raise Guard("binomial too large")
            return S.binomial(a, b)
        if name in _FUNCS or name in ("arcsin", "arccos", "arctan", "sinh", "cosh", "tanh"):
            return self.apply_func(name)
        if name in ("lfloor", "lceil"):
            v = self.additive()
            self.expect("cmd", "\\r" + name[1:])
            return S.floor(v) if name == "lfloor" else S.ceiling(v)
        if name == "pi":
            return S.pi
        if name == "infty":
            return S.oo
        if name in ("emptyset", "varnothing"):
            return Seq("set", [])
        if name in _GREEK:
            return S.Symbol(name)
        if name in ("imath",):
            return S.I
        if name == "dots":
            return Text("...")
        if name in ("boxed", "fbox", "overline", "vec", "hat", "bar", "tilde", "mathbf", "bm", "boldsymbol"):
            v = self.arg()
            if name in ("overline", "vec", "hat", "bar", "tilde") and _is_expr(v):
                return S.Symbol(f"{name}({v})")
            return v
        if name == "mathbb":
            self.expect("op", "{")
            _, w = self.take()
            self.expect("op", "}")
            if w == "R":
                return Interval(-S.oo, S.oo, True, True)
            raise _Texty(w)
        if name in ("angle", "triangle", "measuredangle"):
            v = self.power()
            return S.Symbol(f"{name}({v})") if _is_expr(v) else v
        if name == "begin":
            return self._matrix()
        if name in ("sum", "prod", "int", "lim", "oint", "iint"):
            # not read on purpose: an answer left as a sum/limit/integral is not a final value
            raise ParseError(f"unevaluated {tv}")
        return S.Symbol(name)  # an unknown command names something: \\zzz

    def _matrix(self):
        self.expect("op", "{")
        env = self.take()[1]
        self.expect("op", "}")
        if not re.fullmatch(r"[pbvBV]?matrix|array|smallmatrix", str(env)):
            raise ParseError(f"unsupported environment {env}")
        if env == "array" and self.at("op", "{"):  # column spec
            while not self.at("op", "}"):
                if self.take()[0] is None:
                    raise ParseError("bad array")
            self.take()
        rows, row = [], []
        while True:
            if self.at("cmd", "\\end"):
                self.take()
                self.expect("op", "{")
                self.take()
                self.expect("op", "}")
                break
            if self.at("cmd", "\\\\"):
                self.take()
                rows.append(row)
                row = []
                continue
            if self.peek()[0] is None:
                raise ParseError("unclosed matrix")
            cell = self.element()
            if not _is_expr(cell):
                raise ParseError("matrix of non-numbers")
            row.append(cell)
            if self.at("op", "&"):
                self.take()
        if row:
            rows.append(row)
        rows = [r for r in rows if r]
        if not rows or len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        return Matrix(rows)


# ---------------------------------------------------------------- entry point
_SIMPLE_NUM = re.compile(r"([-+]?)(?:(\d+)(?:\.(\d+))?|\.(\d+))")
_SIMPLE_FRAC = re.compile(r"([-+]?)\s*(?:(\d+)\s*/\s*(\d+)|\\frac\{(\d+)\}\{(\d+)\})")
_MIXED_PLAIN = re.compile(r"([-+]?)(\d+)\s+(\d+)\s*/\s*(\d+)")
_MIXED_LATEX = re.compile(r"(?<![\w.^_}{)\\])(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}")


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
        p = _Parser(list(toks), signs)
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
    except _Texty:
        return Answer(Text(text_key(s)), raw, flags["percent"], flags["unit"])
    except RecursionError:
        raise Guard("nesting too deep")
    if not items:
        raise ParseError("empty answer")
    value = items[0] if len(items) == 1 else Seq("list", items)
    return Answer(value, raw, flags["percent"], state["unit"], state["inexact"], False)
