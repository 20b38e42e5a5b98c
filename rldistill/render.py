"""Turn a set of kept steps back into a trace: granularity, lead-ins, decisions and the length budget.

What it does: ``render(ex, kept, granularity)`` writes the kept steps, each
verbatim, in the source's format (``sentences``: with the source's own
spacing; ``compact``: one step a line; ``equations``: only the kept steps that
hold math, and the final answer; ``bare``: those without their lead-ins and
decisions, bare computations one a line). A lead-in ("...is:") is kept exactly when
the step it introduces is kept (``tie_lead_ins``). ``decisions`` finds the
steps that lead into a kept computation (a plan of a ``keep`` role, or any
step that introduces a method: a formula, a substitution, a case split);
``fit_budget`` drops the least important steps until a length budget holds.

What it leaves out: any rewriting. A step is written as the teacher wrote it
or not at all, so an output is a sequence of whole units of the source.
"""

from __future__ import annotations

import re

GRANULARITIES = ("bare", "equations", "compact", "sentences")
# Deleted first -> last; also the importance order for --budget.
ROLE_ORDER = ("filler", "restate", "plan", "verify", "backtrack", "compute")


class Compressed(str):
    """A compressed completion that remembers which step indices it kept."""

    kept: frozenset

    def __new__(cls, text: str, kept=()):
        obj = super().__new__(cls, text)
        obj.kept = frozenset(kept)
        return obj


_MATH = re.compile(r"\\[\[(]|\$|\\begin\{|[=×÷]|\d\s*[-+*/^]\s*\d|\\(?:frac|times|cdot|sqrt|boxed)")


def has_math(step) -> bool:
    """Does the step hold an equation or math (what the ``equations`` granularity keeps)?"""
    return bool(step.equations) or step.final or bool(_MATH.search(step.text))


def lead_in_groups(ex) -> list[list[int]]:
    """Runs of lead-ins with the step they introduce: ``[[L1, L2, N], ...]`` (a chain: a heading, then "We have:").

    A false start right after a lead-in ("I add 1:" / "Hmm, 8-1=7." / "No wait, ..." / ``8+1=9``) is not what
    it introduces: the lead-in goes with the first step after the retraction (``retracted_after``), so deleting
    the slip keeps the decision with its computation."""
    st, groups, cur = ex.steps, [], []
    skip = retracted_after(st)
    for s in st:
        if cur and s.section != st[cur[-1]].section:
            cur = []  # a lead-in at the end of its section introduces nothing
        if cur and s.index in skip:
            continue
        cur.append(s.index)
        if not s.lead_in:
            if len(cur) > 1:
                groups.append(cur)
            cur = []
    return groups


def retracted_after(steps) -> set[int]:
    """Indices of the retraction runs that follow a lead-in: the ``backtrack`` steps (and the filler among them,
    "Let me redo it.") right after it, none a lead-in itself, when the run holds a backtrack and a step of
    another role follows it in the same section."""
    out: set[int] = set()
    for s in steps:
        if not s.lead_in:
            continue
        j = s.index + 1
        while (j < len(steps) and steps[j].role in ("backtrack", "filler") and not steps[j].lead_in
               and steps[j].section == s.section):
            j += 1
        run = range(s.index + 1, j)
        if (any(steps[k].role == "backtrack" for k in run) and j < len(steps) and steps[j].section == s.section
                and steps[j].role not in ("backtrack", "filler")):
            out.update(run)
    return out


def tie_lead_ins(ex, kept) -> set[int]:
    """``kept`` with every lead-in tied to the step it introduces: a group (``lead_in_groups``) is kept
    whole if any of it is kept, and no step of it with a wrong equation was left out (else it goes
    whole, unless it holds the final answer)."""
    st, kept = ex.steps, set(kept)
    for g in lead_in_groups(ex):
        if not kept & set(g):
            continue
        if any(st[i].check == "fail" and i not in kept for i in g) and not any(st[i].final for i in g):
            kept -= set(g)
        else:
            kept |= set(g)
    return kept


def render(ex, kept, granularity: str, prose=frozenset()) -> Compressed:
    """The trace made of the ``kept`` steps at ``granularity``, in the source's format (the ``prose``
    steps, decisions, stay at ``equations`` too)."""
    from rldistill.segment import join_format

    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    # Nothing after the final answer: the compressed trace ends in it.
    kept = {i for i in kept if ex.final is None or i <= ex.final}
    if granularity == "bare":
        kept = {i for i in kept if (has_math(ex.steps[i]) and not ex.steps[i].lead_in) or i == ex.final}
    else:
        if granularity == "equations":
            kept = {i for i in kept if i in prose or has_math(ex.steps[i])}
        kept = {i for i in tie_lead_ins(ex, kept) if ex.final is None or i <= ex.final}
    bodies: dict[str, str] = {}
    for name, _ in ex.trace.sections:
        parts = []
        for s in ex.steps:
            if s.section == name and s.index in kept:
                sep = "" if not parts else (s.sep if granularity == "sentences" else "\n")
                parts.append(sep + s.text)
        bodies[name] = "".join(parts)
    return Compressed(join_format(ex.trace.fmt, bodies), kept)


# A step that introduces the method later steps use: a formula, a substitution, a case split.
_METHOD = re.compile(
    r"\b(?:formula|substitut\w*|plug\w*|cases|case \d|(?:this|that|each|both|either|first|second|the) case|either|depending on|recall|theorem|identity|property|rule|"
    r"factori[sz]\w*|we (?:know|get|have) that|let \S+ (?:be|denote)|set up|equation|method|approach|"
    r"use (?:the|a|this)|using|apply\w*)\b", re.I)


def decisions(ex, kept: set[int], keep=(), methods: bool = False) -> set[int]:
    """Steps that lead straight into a kept computation (the next step, past deleted slips, re-checks
    and filler, is kept and computes): those of a ``keep`` role, and with ``methods`` any that
    introduces a method (formula, substitution, case split)."""
    st, out = ex.steps, set()
    for s in st:
        if s.index in kept or s.check == "fail":
            continue
        if not (s.role in keep or (methods and s.role in ("plan", "restate") and _METHOD.search(s.text))):
            continue
        j = s.index + 1  # skip the deleted slips, re-checks and filler in between
        while j < len(st) and j not in kept and st[j].role in ("backtrack", "verify", "filler"):
            j += 1
        if j < len(st) and j in kept and st[j].role == "compute":
            out.add(s.index)
    return out


def with_decisions(ex, kept: set[int], keep=(), methods: bool = False) -> set[int]:
    """``kept`` plus its ``decisions``: "First, I subtract 3:" before ``9-3=6`` comes back; a general
    plan, or one followed by another plan, does not."""
    return set(kept) | decisions(ex, kept, keep, methods)


def fit_budget(ex, kept: set[int], granularity: str, budget: float | None, prose=frozenset()) -> Compressed:
    """Render, then drop the least important steps until at most ``budget`` of the original length remains.

    Granularity is coarsened first (sentences -> compact -> equations), then
    steps go in ``ROLE_ORDER``, earliest first (``keep`` decisions before the
    computations they lead into); the final answer step always stays.
    """
    out = render(ex, kept, granularity, prose)
    if budget is None:
        return out
    limit = budget * ex.count(ex.completion)
    levels = GRANULARITIES[: GRANULARITIES.index(granularity) + 1][::-1]
    for g in levels[1:]:
        if ex.count(out) <= limit:
            return out
        granularity, out = g, render(ex, kept, g, prose)
    kept = set(out.kept)
    order = sorted((i for i in kept if not ex.steps[i].final),
                   key=lambda i: (ROLE_ORDER.index(ex.steps[i].role), i))
    for i in order:  # a lead-in tied to a kept unit comes back with it until that unit goes too
        if ex.count(out) <= limit:
            break
        kept.discard(i)
        out = render(ex, kept, granularity, prose)
    return out
