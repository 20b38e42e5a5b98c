"""Trace compressors: plain functions in a registry, from the whole trace to the answer alone.

A compressor is ``fn(ex: Example, **opts) -> str | None``: it gets one row's
trace (``ex.completion``, ``ex.prompt``, ``ex.answer``, ``ex.steps`` analysed
by ``rldistill.segment``) and returns the compressed completion, or ``None``
when it cannot compress the row (``compress.py`` then falls back to a less
aggressive compressor, or drops the row, and counts it). Built-ins return a
``Compressed`` (a ``str`` that also records which steps it kept, for the
removed-role statistics); a user's compressor may return a plain ``str``::

    from rldistill.compressors import register_compressor

    @register_compressor("first_half")
    def first_half(ex, **opts):
        return ex.completion[: len(ex.completion) // 2] + "\\n" + ex.final_text

Built-ins, from least to most aggressive:

* ``none``: the teacher trace as it is; ``answer_only``: just the unit that
  holds the final answer (with its lead-in) - the two ends of the granularity axis;
* ``rule``: drop filler, restatements and re-checks of established results;
* ``steps``: keep the steps whose results feed the final answer (a backward
  slice over the quantities each step produces and uses); dead ends whose
  results are never used go, a backtrack whose corrected result is used stays;
* ``verified``: greedy ablation - try deleting each step (filler first,
  computations last) and keep the deletion only if the shortened trace still
  verifies: the final answer step stays, every quantity a kept step uses is
  still computed by an earlier kept step (or given in the prompt), and every
  equation left in it holds (``rldistill.equations``: exact arithmetic, sympy
  for roots and pi). Steps whose equations are wrong are removed first. With a
  proxy model, candidate deletions are tried in the order the student finds
  least informative (``rldistill.proxy``).

Every output is whole units of the teacher's trace, never rewritten
(``rldistill.render``); a lead-in goes with the unit it introduces, and the
steps that introduce a method (a formula, a substitution, a case split) and
lead into a kept computation are kept. Granularity (``granularity=``):
``equations`` writes the kept units that hold math (with their lead-ins and
decisions), ``compact`` every kept unit one a line, ``sentences`` every kept
unit with the teacher's spacing. ``budget=R`` then drops the least important
kept steps until the trace has at most ``R`` of the original's tokens.
``keep=("plan",)`` puts back, in ``rule``, ``steps`` and ``verified``, every step
of those roles (as ``rldistill.segment`` assigns them) that leads straight into
a kept computation: the decision next to its equation ("First, I add 4 and 3."
before ``4+3=7``), not general plans or retracted ones. It is the knob between
bare computations and computations with their decision points.

Leaves out: rewriting by a large model (C3oT) and token-level pruning
(TokenSkip); every output here is a subsequence of the teacher's own steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from rldistill.render import (GRANULARITIES, ROLE_ORDER, Compressed, decisions, fit_budget,  # noqa: F401  (public here)
                               has_math, render, tie_lead_ins, with_decisions)
from rldistill.segment import Step, Trace, analyse

_COMPRESSORS: dict[str, Callable] = {}


def register_compressor(name: str):
    """Register ``fn(ex, **opts) -> str | None`` under ``name``.

    >>> @register_compressor("shout")
    ... def shout(ex, **opts):
    ...     return ex.completion.upper()
    >>> get_compressor("shout") is shout
    True
    """
    if not isinstance(name, str) or not name:
        raise ValueError("compressor name must be a non-empty string")

    def deco(fn):
        _COMPRESSORS[name] = fn
        return fn

    return deco


def available_compressors() -> list[str]:
    return sorted(_COMPRESSORS)


def get_compressor(name):
    """Resolve a registered name, or a ``"package.module:attr"`` string, to a compressor."""
    if callable(name):
        return name
    if name in _COMPRESSORS:
        return _COMPRESSORS[name]
    if isinstance(name, str) and ":" in name:
        import importlib

        mod, _, attr = name.partition(":")
        obj = importlib.import_module(mod)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj
    raise KeyError(f"unknown compressor {name!r}; available: {available_compressors()} (or 'package.module:attr')")


@dataclass
class Example:
    """One row, as compressors see it. ``count`` measures length (characters, or a tokenizer's tokens)."""

    completion: str
    prompt: str = ""
    answer: str = ""
    verifier: str = "math"
    unit: str = "sentence"
    count: Callable[[str], int] = field(default=len, repr=False)

    @cached_property
    def analysis(self) -> tuple[Trace, list[Step]]:
        return analyse(self.completion, self.prompt, self.unit, self.answer)

    @property
    def trace(self) -> Trace:
        return self.analysis[0]

    @property
    def steps(self) -> list[Step]:
        return self.analysis[1]

    @cached_property
    def given(self) -> frozenset:
        """Quantities the prompt states."""
        from rldistill.equations import numbers_in

        return frozenset(numbers_in(self.prompt))

    @property
    def final(self) -> int | None:
        return next((s.index for s in self.steps if s.final), None)

    @property
    def final_text(self) -> str:
        """The final answer alone: the last ``\\boxed{...}``, else the final step's text."""
        i = self.final
        if i is None:
            return ""
        text = self.steps[i].text
        box = last_boxed(text)
        return box if box else text.strip()


def last_boxed(text: str) -> str | None:
    """The last ``\\boxed{...}`` (or ``\\fbox{...}``) with balanced braces, or None.

    >>> last_boxed(r"so \\boxed{\\frac{1}{2}} and \\boxed{3}.")
    '\\\\boxed{3}'
    """
    starts = [m.start() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    if not starts:
        return None
    i = starts[-1]
    depth = 0
    for j in range(text.index("{", i), len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j + 1]
    return None


# --------------------------------------------------------------------------- the built-ins


@register_compressor("none")
def none(ex: Example, budget=None, granularity="sentences", **_) -> str:
    """The teacher trace unchanged (under ``budget``: its most important steps)."""
    if budget is None:
        return ex.completion
    return fit_budget(ex, {s.index for s in ex.steps}, granularity, budget)


@register_compressor("answer_only")
def answer_only(ex: Example, **_) -> str | None:
    """Only the final answer step (the unit holding ``\\boxed{...}`` or the answer line, with its lead-in)."""
    if ex.final is None:
        return None
    return render(ex, {ex.final}, "sentences")


@register_compressor("rule")
def rule(ex: Example, budget=None, granularity="compact", keep=(), **_) -> str | None:
    """Drop filler, restatements and re-checks of established results; strip hedges."""
    if ex.final is None:
        return None
    kept = {s.index for s in ex.steps if s.final or s.role not in ("filler", "restate", "verify")}
    return _finish(ex, kept, granularity, budget, keep)


def _finish(ex: Example, kept: set[int], granularity: str, budget, keep=(), methods=True) -> Compressed:
    """Put back the decisions that lead into the kept steps (``keep`` roles, and with ``methods`` the
    steps that introduce a formula, a substitution or a case split), then render under ``budget``."""
    if granularity == "equations":  # decisions lead into the steps that will be written
        kept = {i for i in kept if has_math(ex.steps[i])}
    dec = decisions(ex, kept, keep, methods)
    return fit_budget(ex, kept | dec, granularity, budget, prose=frozenset(dec))


def bindings(st: list[Step], given=frozenset()) -> list[tuple[int, str, int]]:
    """``[(t, v, p), ...]``: step ``t`` uses quantity ``v``, which step ``p`` computed for it.

    ``p`` is the latest step before ``t`` that computed ``v`` and is not a re-check
    (else, when only re-checks computed it, the latest re-check). A value the
    prompt gives is bound only to a real computation of it (a ``compute`` step):
    a slip or a re-check that happens to produce a given number does not make
    later uses of that number depend on it; in the final answer step, only when
    it is the answer.
    """
    from rldistill.equations import numbers_in

    prod: dict[str, list[int]] = {}
    out = []
    for t in st:
        # the final answer step restates the question's numbers ("...divisors of 196 is 9"): of those,
        # only the answer itself (in the box, else the last number) needs its computation
        answer = set(numbers_in(last_boxed(t.text) or "")) or set(numbers_in(t.text)[-1:]) if t.final else None
        for v in t.uses:
            if answer is not None and v in given and v not in answer:
                continue
            ps = prod.get(v, []) or prod.get(_percent(v), [])  # ".75" after "100 - 25 = 75" (75%)
            ps = [r for r in ps if st[r].check != "fail"] or ps  # a slip binds only what nothing else computes
            if v in given:
                ps = [r for r in ps if st[r].role == "compute"]
            else:
                ps = [r for r in ps if st[r].role != "verify"] or ps
            if not ps and answer is not None and v in answer:  # the answer, given and never computed:
                ps = [r.index for r in st[:t.index]  # the latest step that states it ("$10,000 because ...")
                      if v in r.uses and r.role not in ("verify", "backtrack") and r.check != "fail"][-1:]
            if answer is not None and v in answer and all(st[r].produces.get(v) == {"mention"} for r in ps):
                # an answer in other units than its computation ("$0.49" -> 49 cents, "0.25" -> 25%)
                out += [(t.index, v, r) for r in prod.get(_hundredth(v), [])
                        if st[r].role not in ("verify", "backtrack")][-1:]
            if ps:
                out.append((t.index, v, ps[-1]))
                # the same value computed another way earlier ("800-560 = 240", then "3/5*400 = 240"):
                # the step may use either, so it keeps both computations (the answer needs one derivation)
                ways = set(st[ps[-1]].produces.get(v, ()))
                for r in reversed(ps[:-1] if not t.final else ()):
                    h = st[r].produces.get(v, frozenset())
                    h = h - {"mention"}  # computed by an equation, another way than the latest
                    if st[r].role == "compute" and st[r].check != "fail" and h and not h & ways:
                        out.append((t.index, v, r))
                        ways |= h
        for v in t.results:  # a wrong equation still binds its users: they cannot be kept without it
            prod.setdefault(v, []).append(t.index)
    return out


def _hundredth(v: str) -> str:
    """``v`` / 100 as a key (``"49"`` -> ``"49/100"``), or ``""``."""
    from fractions import Fraction

    try:
        return str(Fraction(v) / 100)
    except (ValueError, ZeroDivisionError):
        return ""


def _percent(v: str) -> str:
    """``v`` read as a percentage (``"3/4"`` -> ``"75"``), or ``""``."""
    from fractions import Fraction

    try:
        f = Fraction(v) * 100
    except (ValueError, ZeroDivisionError):
        return ""
    return str(f) if 0 < f < 100 and f.denominator == 1 else ""


def _supported(st: list[Step], kept, t: int, v: str, p: int) -> bool:
    """Is ``v`` still computed for ``t``? Its producer ``p`` is kept; or ``p`` was a re-check and a kept
    step before ``t`` computes ``v`` the same way (same left side: ``9/3=3`` and "... so 9/3=3 is correct");
    or a restatement, the same way (``r = 3`` again); or ``v`` is symbolic (``sym:r``, ``law:r``,
    ``expr:2^2*7^2``) and any kept step before ``t`` states it."""
    if p in kept:
        return True
    if ":" in v:  # a name, formula or factorisation: any kept statement of it
        return any(r in kept and st[r].check != "fail" and v in st[r].results for r in range(t))
    if st[p].role not in ("verify", "restate"):
        return False
    ways = st[p].produces.get(v, frozenset())  # (p may state v without producing it)
    return any(r in kept and st[r].check != "fail" and st[r].produces.get(v, frozenset()) & ways for r in range(t))


@register_compressor("steps")
def steps(ex: Example, budget=None, granularity="compact", keep=(), **_) -> str | None:
    """Keep the steps whose results feed the final answer (backward slice over quantities),
    and the ``keep`` decisions that lead into them (``with_decisions``)."""
    if ex.final is None:
        return None
    st = ex.steps
    need: dict[int, list[tuple[str, int]]] = {}
    for t, v, p in bindings(st, ex.given):
        need.setdefault(t, []).append((v, p))
    kept, todo = {ex.final}, [ex.final]
    while todo:
        t = todo.pop()
        for v, p in need.get(t, ()):
            if st[p].role == "verify":  # bound to a re-check: keep the first computation it re-checks
                ways = st[p].produces.get(v, frozenset())  # (p may state v without producing it)
                p = next((r.index for r in st[:p] if r.check != "fail" and r.produces.get(v, frozenset()) & ways), p)
            if p not in kept:
                kept.add(p)
                todo.append(p)
    return _finish(ex, kept, granularity, budget, keep)


def derivation_holds(ex: Example, kept: set[int]) -> bool:
    """What ``verified`` checks of a set of kept steps (the final answer itself is verified by the caller):
    the final step is kept, no kept step has a wrong equation, and every quantity a kept step uses
    is still computed for it by an earlier kept step."""
    st = ex.steps
    if ex.final is None or ex.final not in kept or any(st[t].check == "fail" for t in kept):
        return False
    return all(_supported(st, kept, t, v, p) for t, v, p in bindings(st, ex.given) if t in kept)


@register_compressor("verified")
def verified(ex: Example, budget=None, granularity="equations", proxy=None, keep=(), **_) -> str | None:
    """Greedy ablation: delete a step only if the rest still verifies (see the module docstring);
    then put back the ``keep`` decisions (``with_decisions``)."""
    if ex.final is None:
        return None
    st = ex.steps
    by_value: dict[str, list[tuple[int, str, int]]] = {}
    by_producer: dict[int, list[tuple[int, str, int]]] = {}
    for t, v, p in bindings(st, ex.given):
        by_value.setdefault(v, []).append((t, v, p))
        by_producer.setdefault(p, []).append((t, v, p))  # "75" may be bound as ".75" (a percentage)
    kept = {s.index for s in st}

    def can_delete(i: int) -> bool:
        kept.discard(i)
        affected = [b for v in st[i].results for b in by_value.get(v, ())] + by_producer.get(i, [])
        ok = all(_supported(st, kept, t, v, p) for t, v, p in affected if t in kept)
        kept.add(i)
        return ok

    # Wrong equations first: a kept step must check. If one cannot go, the row does not verify.
    for s in st:
        if s.check == "fail":
            if s.final or not can_delete(s.index):
                return None
            kept.discard(s.index)
    candidates = [s.index for s in st if not s.final and s.index in kept]
    if proxy is not None:
        candidates = proxy.order(ex, candidates)
    else:  # filler first, computations last; re-checks come after what they check, so later first
        candidates.sort(key=lambda i: (ROLE_ORDER.index(st[i].role), -i))
    for i in candidates:
        if can_delete(i):
            kept.discard(i)
    return _finish(ex, kept, granularity, budget, keep)
