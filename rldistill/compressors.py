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
``keep=("plan",)`` puts back, in ``rule``, ``steps`` and ``verified``, every step
of those roles (as ``rldistill.segment`` assigns them) that leads straight into
a kept computation: the decision next to its equation ("First, I subtract 3:"
before ``9-3=6``), not general plans or retracted ones. It is the knob between
bare computations and computations with their decision points.

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
        if step.final:  # the answer sentence stays whole: it may hold several boxes, or none ("Final answer: 7")
            return compact(step.text)
        if step.equations:
            return "\n".join(step.equations)
    return compact(step.text)


def render(ex: Example, kept, granularity: str) -> Compressed:
    """The trace made of the ``kept`` steps at ``granularity``, in the source's format."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    # Nothing after the final answer: the compressed trace ends in it.
    kept = {i for i in kept if ex.final is None or i <= ex.final}
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


def with_decisions(ex: Example, kept: set[int], keep=()) -> set[int]:
    """``kept`` plus every step whose role is in ``keep`` and that leads straight into a kept
    computation (the next step, past deleted slips, re-checks and filler, is a kept ``compute``
    step): "First, I subtract 3:" before ``9-3=6`` comes back; a general plan, or one followed
    by another plan, does not."""
    return set(kept) | decisions(ex, kept, keep)


def decisions(ex: Example, kept: set[int], keep=()) -> set[int]:
    """The steps ``with_decisions`` adds."""
    st, out = ex.steps, set()
    for s in st:
        if s.role not in keep or s.check == "fail" or s.index in kept:
            continue
        j = s.index + 1  # skip the deleted slips, re-checks and filler in between
        while j < len(st) and j not in kept and st[j].role in ("backtrack", "verify", "filler"):
            j += 1
        if j < len(st) and j in kept and st[j].role == "compute":
            out.add(s.index)
    return out


def fit_budget(ex: Example, kept: set[int], granularity: str, budget: float | None) -> Compressed:
    """Render, then drop the least important steps until at most ``budget`` of the original length remains.

    Granularity is coarsened first (sentences -> compact -> equations), then
    steps go in ``ROLE_ORDER``, earliest first (``keep`` decisions before the
    computations they lead into); the final answer step always stays.
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
    order = sorted((i for i in kept if not ex.steps[i].final),
                   key=lambda i: (ROLE_ORDER.index(ex.steps[i].role), i))
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
def rule(ex: Example, budget=None, granularity="compact", keep=(), **_) -> str | None:
    """Drop filler, restatements and re-checks of established results; strip hedges."""
    if ex.final is None:
        return None
    kept = {s.index for s in ex.steps if s.final or s.role not in ("filler", "restate", "verify")}
    return fit_budget(ex, with_decisions(ex, kept, keep), granularity, budget)


def bindings(st: list[Step], given=frozenset()) -> list[tuple[int, str, int]]:
    """``[(t, v, p), ...]``: step ``t`` uses quantity ``v``, which step ``p`` computed for it.

    ``p`` is the latest step before ``t`` that computed ``v`` and is not a re-check
    (else, when only re-checks computed it, the latest re-check). A value the
    prompt gives is bound only to a real computation of it (a ``compute`` step):
    a slip or a re-check that happens to produce a given number does not make
    later uses of that number depend on it.
    """
    prod: dict[str, list[int]] = {}
    out = []
    for t in st:
        for v in t.uses:
            ps = prod.get(v, [])
            if v in given:
                ps = [r for r in ps if st[r].role == "compute"]
            else:
                ps = [r for r in ps if st[r].role != "verify"] or ps
            if ps:
                out.append((t.index, v, ps[-1]))
        for v in t.results:  # a wrong equation still binds its users: they cannot be kept without it
            prod.setdefault(v, []).append(t.index)
    return out


def _supported(st: list[Step], kept, t: int, v: str, p: int) -> bool:
    """Is ``v`` still computed for ``t``? Its producer ``p`` is kept; or ``p`` was a re-check and a kept
    step before ``t`` computes ``v`` the same way (same left side: ``9/3=3`` and "... so 9/3=3 is correct")."""
    if p in kept:
        return True
    if st[p].role != "verify":
        return False
    ways = st[p].produces[v]
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
                ways = st[p].produces[v]
                p = next((r.index for r in st[:p] if r.check != "fail" and r.produces.get(v, frozenset()) & ways), p)
            if p not in kept:
                kept.add(p)
                todo.append(p)
    return fit_budget(ex, with_decisions(ex, kept, keep), granularity, budget)


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
    for t, v, p in bindings(st, ex.given):
        by_value.setdefault(v, []).append((t, v, p))
    kept = {s.index for s in st}

    def can_delete(i: int) -> bool:
        kept.discard(i)
        ok = all(_supported(st, kept, t, v, p) for v in st[i].results for t, _, p in by_value.get(v, ()) if t in kept)
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
    return fit_budget(ex, with_decisions(ex, kept, keep), granularity, budget)
