"""The LaTeX commands, functions and atoms of the answer parser.

What it does: ``Commands`` is the half of ``math_grammar.Parser`` that reads
one atom: numbers, names (single letters, ``pi``, ``f(x)``), ``\\text{}``,
brackets and ``|x|``, and the commands answers use (``\\frac``, ``\\sqrt``,
``\\binom``, functions such as ``\\sin``/``\\log_2``, greek letters,
``\\mathbb{R}``, ``\\overline``-style accents, matrices).

It leaves out the operator grammar (``math_grammar``) and refuses, on
purpose, sums, products, integrals and limits (``Unevaluated``): an answer
left as one is not a final value.
"""

from __future__ import annotations

import re

from verifiers.math_guards import MAX_FACTORIAL, guard_pow, magnitude
from verifiers.math_normalize import _FUNCS, _GREEK, unit_name
from verifiers.math_values import Guard, Interval, Matrix, ParseError, Seq, Text, Texty, Unevaluated, is_expr, sp

_FUNC_LETTERS = set("fghFGHPQW")


class Commands:
    """Mixin for ``math_grammar.Parser``: uses its token helpers and ``power``/``bracket``/``arg``."""

    def func_arg(self):
        if self.at("op", "("):
            v = self.bracket()
            if not is_expr(v):
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
        if not is_expr(x):
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
        return guard_pow(v, power) if power is not None else v

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
            raise Texty(t)
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
                if not is_expr(v):
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
                if not all(is_expr(a) for a in args):
                    raise ParseError("function of a non-number")
                return S.Function(tv)(*args)
            return sym
        if len(tv) == 2 and not unit_name(tv):
            return S.Symbol(tv[0]) * S.Symbol(tv[1])
        raise Texty(tv)

    def _command(self):
        S = sp()
        _, tv = self.take()
        name = tv[1:]
        if name == "frac":
            a, b = self.arg(), self.arg()
            if not (is_expr(a) and is_expr(b)):
                raise ParseError("fraction of non-numbers")
            return a / b
        if name == "sqrt":
            n = None
            if self.at("op", "["):
                self.take()
                n = self.additive()
                self.expect("op", "]")
            x = self.arg()
            if not is_expr(x) or (n is not None and not is_expr(n)):
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
            if name in ("overline", "vec", "hat", "bar", "tilde") and is_expr(v):
                return S.Symbol(f"{name}({v})")
            return v
        if name == "mathbb":
            self.expect("op", "{")
            _, w = self.take()
            self.expect("op", "}")
            if w == "R":
                return Interval(-S.oo, S.oo, True, True)
            raise Texty(w)
        if name in ("angle", "triangle", "measuredangle"):
            v = self.power()
            return S.Symbol(f"{name}({v})") if is_expr(v) else v
        if name == "begin":
            return self._matrix()
        if name in ("sum", "prod", "int", "lim", "oint", "iint"):
            # not read on purpose: an answer left as a sum/limit/integral is not a final value
            raise Unevaluated(f"unevaluated {tv}")
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
            if not is_expr(cell):
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

