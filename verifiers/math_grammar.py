"""The operator grammar of the answer parser (recursive descent over tokens).

What it does: ``Parser(tokens).element()`` reads one answer element:
relations (``=``, ``<``, ``\\in``, ``\\approx``), ratios ``a:b``, unions,
sums, products (explicit and implicit, with units such as ``5 cm``), signs and
``\\pm``, powers and sub/superscripts, factorials, groups, brackets,
intervals and tuples. Nesting deeper than ``MAX_DEPTH`` raises ``Guard``.

It leaves out single atoms and commands (``math_commands``), string cleanup
and tokens (``math_normalize``), and the entry point (``math_latex``).
"""

from __future__ import annotations

import re

from verifiers.math_commands import Commands
from verifiers.math_guards import guard_factorial, guard_pow
from verifiers.math_normalize import unit_name
from verifiers.math_values import (
    Guard, Interval, Matrix, ParseError, Rel, Seq, Text, Texty, Union, is_expr, mat_add, mat_mul, sp,
)

MAX_DEPTH = 60  # nesting of brackets / operators
_REL_OPS = {"=", "<", "<=", ">", ">=", "!=", "approx", "in", "=>", "->"}


class Parser(Commands):
    """One pass over a token list; ``signs`` picks the branch of each ``\\pm`` in turn."""

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
                left = mat_add(left, right, sign)
                continue
            if not (is_expr(left) and is_expr(right)):
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
                    left = mat_mul(left, right)
                    continue
                if not (is_expr(left) and is_expr(right)):
                    raise ParseError("arithmetic on a non-number")
                left = left * right if tv == "*" else left / right
            elif tk == "text" or (tk == "word" and unit_name(tv) and len(tv) > 1 and is_expr(left) and left.is_number):
                if not (is_expr(left) and left.is_number) or not re.fullmatch(r"[A-Za-z .²³^{}0-9/]{1,40}", tv):
                    raise Texty(tv)
                self.take()
                unit = tv.strip()
                while self.at("op", "^") or self.peek()[0] == "sup":  # cm^2
                    if self.take()[0] == "op":
                        unit += "^" + str(self.take()[1]).strip("{}")
                self.unit = unit_name(unit) or unit.lower()
            elif self._starts_atom():
                right = self.power()
                if isinstance(left, Matrix) or isinstance(right, Matrix):
                    left = mat_mul(left, right)
                    continue
                if not (is_expr(left) and is_expr(right)):
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
            if not is_expr(v):
                raise ParseError("sign on a non-number")
            return -v if tv == "-" else v
        if tk == "cmd" and tv in ("\\pm", "\\mp"):
            self.take()
            sign = self.pm_sign() * (1 if tv == "\\pm" else -1)
            v = self.unary()
            if not is_expr(v):
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
                exps[-1] = guard_factorial(exps[-1])
        if not exps:
            return base
        if not is_expr(base):
            raise ParseError("power of a non-number")
        e = exps[-1]
        for x in reversed(exps[:-1]):
            e = guard_pow(x, e)
        return guard_pow(base, e)

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
                if not is_expr(v):
                    raise ParseError("factorial of a non-number")
                v = guard_factorial(v)
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
