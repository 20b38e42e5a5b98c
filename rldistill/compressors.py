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

* ``none``: the teacher trace as it is; ``answer_only``: just the final
  answer line (``\\boxed{...}``) - the two ends of the granularity axis;
* ``rule``: drop filler, restatements and re-checks of established results,
  strip hedges;
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

Granularity (``granularity=``): ``equations`` renders each kept step as its
equations alone (a step without one keeps its compact sentence), ``compact``
keeps the sentences without discourse markers and hedges, one step a line,
``sentences`` keeps them verbatim. ``budget=R`` then drops the least important
kept steps until the trace has at most ``R`` of the original's tokens.

Leaves out: rewriting by a large model (C3oT) and token-level pruning
(TokenSkip); every output here is a subsequence of the teacher's own steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from rldistill.segment import Step, Trace, analyse, join_format

GRANULARITIES = ("equations", "compact", "sentences")
# Deleted first -> last; also the importance order for --budget.
ROLE_ORDER = ("filler", "restate", "plan", "verify", "backtrack", "compute")

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


class Compressed(str):
    """A compressed completion that remembers which step indices it kept."""

    kept: frozenset

    def __new__(cls, text: str, kept=()):
        obj = super().__new__(cls, text)
        obj.kept = frozenset(kept)
        return obj


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
        return analyse(self.completion, self.prompt, self.unit)

    @property
    def trace(self) -> Trace:
        return self.analysis[0]

    @property
    def steps(self) -> list[Step]:
        return self.analysis[1]

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


# --------------------------------------------------------------------------- rendering

_LEAD = re.compile(
    r"^(?:(?:so|now|then|thus|therefore|hence|alright|all right|okay|ok|well|hmm+|wait|actually|first things first|"
    r"and|but|oh|right|great|good|yes|no|also|plugging in the numbers|let me (?:calculate|compute|see|check|write) (?:that|this|it)?|"
    r"let'?s see|in this case|again|at this point)\b[\s,:!.]*)+", re.I)
_HEDGE = re.compile(
    r"\b(?:i think|i believe|i guess|i'?m (?:fairly|pretty) (?:sure|confident)(?: that)?|probably|maybe|perhaps|"
    r"it seems(?: that)?|just to be (?:sure|thorough|safe)|basically|really|indeed|of course|obviously|clearly)\b,?\s*", re.I)


def compact(text: str) -> str:
    """A sentence without leading discourse markers and hedges.

    >>> compact("So, I think each side is 21 divided by 3, which is 7 inches.")
    'Each side is 21 divided by 3, which is 7 inches.'
    """
    t = _HEDGE.sub("", _LEAD.sub("", text.strip())).strip()
    t = re.sub(r"^[-*•]\s+", "", t)
    return (t[:1].upper() + t[1:]) if t else text.strip()


def render_step(step: Step, granularity: str) -> str:
    if granularity == "sentences":
        return step.text
    if granularity == "equations":
        box = last_boxed(step.text) if step.final else None
        eqs = [e for e in step.equations if not box or e not in box]
        if step.final:
            # An answer line such as "Final answer: 7" has no box: keep it as written.
            return "\n".join(eqs + [box or compact(step.text)])
        if eqs:
            return "\n".join(eqs)
    return compact(step.text)


def render(ex: Example, kept, granularity: str) -> Compressed:
    """The trace made of the ``kept`` steps at ``granularity``, in the source's format."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    kept = set(kept)
    bodies: dict[str, str] = {}
    for name, _ in ex.trace.sections:
        parts, first = [], True
        for s in ex.steps:
            if s.section != name or s.index not in kept:
                continue
            piece = render_step(s, granularity)
            sep = "" if first else (s.sep if granularity == "sentences" else "\n")
            parts.append(sep + piece)
            first = False
        bodies[name] = "".join(parts)
    return Compressed(join_format(ex.trace.fmt, bodies), kept)


def fit_budget(ex: Example, kept: set[int], granularity: str, budget: float | None) -> Compressed:
    """Render, then drop the least important steps until at most ``budget`` of the original length remains.

    Granularity is coarsened first (sentences -> compact -> equations), then
    steps go in ``ROLE_ORDER``, earliest first; the final answer step always stays.
    """
    out = render(ex, kept, granularity)
    if budget is None:
        return out
    limit = budget * ex.count(ex.completion)
    levels = GRANULARITIES[: GRANULARITIES.index(granularity) + 1][::-1]
    for g in levels[1:]:
        if ex.count(out) <= limit:
            return out
        granularity, out = g, render(ex, kept, g)
    kept = set(kept)
    order = sorted((i for i in kept if not ex.steps[i].final), key=lambda i: (ROLE_ORDER.index(ex.steps[i].role), i))
    for i in order:
        if ex.count(out) <= limit:
            break
        kept.discard(i)
        out = render(ex, kept, granularity)
    return out


# --------------------------------------------------------------------------- the built-ins


@register_compressor("none")
def none(ex: Example, budget=None, granularity="sentences", **_) -> str:
    """The teacher trace unchanged (under ``budget``: its most important steps)."""
    if budget is None:
        return ex.completion
    return fit_budget(ex, {s.index for s in ex.steps}, granularity, budget)


@register_compressor("answer_only")
def answer_only(ex: Example, **_) -> str | None:
    """Only the final answer (``\\boxed{...}`` or the final answer line)."""
    if ex.final is None:
        return None
    return Compressed(ex.final_text, {ex.final})


@register_compressor("rule")
def rule(ex: Example, budget=None, granularity="compact", **_) -> str | None:
    """Drop filler, restatements and re-checks of established results; strip hedges."""
    if ex.final is None:
        return None
    kept = {s.index for s in ex.steps if s.final or s.role not in ("filler", "restate", "verify")}
    return fit_budget(ex, kept, granularity, budget)


def _producers(steps: list[Step]) -> dict[str, list[int]]:
    prod: dict[str, list[int]] = {}
    for s in steps:
        for v in s.results:
            prod.setdefault(v, []).append(s.index)
    return prod


@register_compressor("steps")
def steps(ex: Example, budget=None, granularity="compact", **_) -> str | None:
    """Keep the steps whose results feed the final answer (backward slice over quantities)."""
    if ex.final is None:
        return None
    st, prod = ex.steps, _producers(ex.steps)
    kept, todo = {ex.final}, [ex.final]
    while todo:
        t = todo.pop()
        for v in st[t].uses:
            # The earliest step before t that computes v without a wrong equation (later ones re-check it).
            r = next((r for r in prod.get(v, ()) if r < t and st[r].check != "fail"), None)
            if r is not None and r not in kept:
                kept.add(r)
                todo.append(r)
    return fit_budget(ex, kept, granularity, budget)


def _supported(st: list[Step], prod: dict[str, list[int]], kept: set[int], t: int, v: str) -> bool:
    """Is quantity ``v`` that step ``t`` uses still computed before it? (Prompt values count only if no step computed them first.)"""
    ps = prod.get(v, ())
    if not ps or ps[0] >= t:
        return True
    return any(r < t and r in kept for r in ps)


def derivation_holds(ex: Example, kept: set[int]) -> bool:
    """The verification ``verified`` applies to a set of kept steps (the final answer is checked by the caller)."""
    st, prod = ex.steps, _producers(ex.steps)
    if ex.final is None or ex.final not in kept:
        return False
    return all(st[t].check != "fail" and all(_supported(st, prod, kept, t, v) for v in st[t].uses) for t in kept)


@register_compressor("verified")
def verified(ex: Example, budget=None, granularity="equations", proxy=None, **_) -> str | None:
    """Greedy ablation: delete a step only if the rest still verifies (see the module docstring)."""
    if ex.final is None:
        return None
    st, prod = ex.steps, _producers(ex.steps)
    users: dict[str, list[int]] = {}
    for s in st:
        for v in s.uses:
            users.setdefault(v, []).append(s.index)
    kept = {s.index for s in st}

    def can_delete(i: int) -> bool:
        for v in st[i].results:
            for t in users.get(v, ()):
                if t > i and t in kept:
                    if not any(r < t and r != i and r in kept for r in prod[v]) and prod[v][0] < t:
                        return False
        return True

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
    return fit_budget(ex, kept, granularity, budget)
