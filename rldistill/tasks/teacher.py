"""The programmatic teacher: long, R1-style, always-correct traces for the embedded task.

``teach(problem, rng)`` writes what a long-chain-of-thought model writes:
restating the problem, planning, the computation steps, "Wait, let me
double-check" re-verification of results already established, abandoned
false starts that are later corrected, hedges and filler, and a final
``\\boxed{N}``. The length is the point: compression has something to remove.

Every segment is also returned with its role (``restate``, ``plan``,
``compute``, ``verify``, ``false_start``, ``hedge``, ``filler``, ``answer``);
``synth`` stores them in the ``teacher_steps`` column for tests and probes
only. Compressors must not read it: they must work on real unannotated traces.

The computation lines are bare equations ``12-3=9`` on their own line, the
same form for every kind, so a compact trace is just those lines and the box
(see ``compact_trace``).
"""

from __future__ import annotations

import random

from rldistill.tasks import INVERSE, OPS, Problem, Step

ROLES = ("restate", "plan", "compute", "verify", "false_start", "hedge", "filler", "answer")
_VERB = {"+": "add", "-": "subtract", "*": "multiply by", "/": "divide by"}

_OPENERS = ["Okay, let's see.", "Alright, let me think about this.", "Hmm, okay, let me work through this.",
            "Let me try to figure this out.", "Okay, so let me start."]
_HEDGES = ["I think that's right, but let me keep going carefully.", "That seems right, I'm fairly sure.",
           "Probably fine, but I should be careful here.", "I'm pretty confident about that one.",
           "Hmm, that looks okay so far."]
_CONNECT = ["First,", "Next,", "Then,", "Now,", "After that,", "Moving on,"]


def _restate(p: Problem) -> str:
    if p.kind == "chain":
        return f" So the problem asks me to compute {p.facts['expr']}, which has {len(p.steps)} operations."
    if p.kind == "slots":
        return (f" So I start with {p.facts['start']} and apply the operations in the cells from left to right,"
                f" {len(p.steps)} of them; the empty cells (..) do nothing.")
    if p.kind == "equation":
        return (f" We have the equation {p.facts['lhs']}={p.facts['rhs']}, and we need to find the value of x"
                f" that makes both sides equal.")
    f = p.facts
    return (f" So {f['name']} starts with some {f['item']}, then {len(p.steps)} things happen to them,"
            f" and the question is how many {f['item']} {f['she']} has at the end.")


def _plan(p: Problem, rng: random.Random) -> list[tuple[str, str]]:
    if p.kind == "equation":
        false = (" Maybe I should start with the first operation applied to x?"
                 " No, wait, that doesn't work: x is buried inside, so I have to peel the operations off"
                 " from the outside, starting with the last one.")
        plan = " My plan: undo each operation in reverse order, applying its inverse to the right-hand side."
    elif p.kind == "slots":
        false = (" Maybe the multiplications should go first?"
                 " No, wait, the cells already say the order, so left to right is correct here.")
        plan = " My plan: keep a running value and apply one cell at a time, until the first empty cell."
    elif p.kind == "word":
        false = (" Maybe I could just add up all the numbers in the story?"
                 " Hmm, no, that ignores what each event does. Let me not do that.")
        plan = f" My plan: keep a running count of the {p.facts['item']} and update it after each event, in order."
    else:
        false = (" Maybe the multiplications should go first?"
                 " No, wait, the parentheses already say the order, so left to right is correct here.")
        plan = " My plan: go from left to right, one operation at a time, keeping a running total."
    out = [("plan", plan)]
    if rng.random() < 0.5:
        out.insert(0, ("false_start", false))
    return out


def _wrong(step: Step, rng: random.Random) -> tuple[str, str]:
    """A plausible slip on ``step`` and its retraction."""
    if step.op in INVERSE and rng.random() < 0.4 and step.op in "+-":
        bad_op = INVERSE[step.op]
        bad = OPS[bad_op](step.a, step.b)
        if bad >= 0:
            return ("false_start", f"\nHmm, {step.a}{bad_op}{step.b}={bad}. No wait, that's the wrong operation:"
                                   f" here I need to {_VERB[step.op]} {step.b}, not {_VERB[bad_op]} it.")
    bad = step.c + rng.choice([-2, -1, 1, 2, 10, -10])
    if bad < 0 or bad == step.c:
        bad = step.c + 1
    return ("false_start", f"\nSo {step.a}{step.op}{step.b}={bad}? Hmm, wait, that's not right. Let me redo it.")


def _verify(step: Step) -> str:
    back = Step(step.c, INVERSE[step.op], step.b, step.a)
    return (f"\nWait, let me double-check that: going back, {back}, so yes, {step} is correct.")


def _connect(i: int, n: int, step: Step, p: Problem, rng: random.Random) -> str:
    word = "First," if i == 0 else ("Finally," if i == n - 1 and n > 1 else rng.choice(_CONNECT[1:]))
    if p.kind == "equation":
        fwd = INVERSE[step.op]
        return f"\n{word} to undo the {_VERB[fwd]} {step.b}, I {_VERB[step.op]} {step.b}:"
    return f"\n{word} I {_VERB[step.op]} {step.b}:"


def _final_check(p: Problem) -> str:
    if p.kind == "equation":
        v, parts = p.answer, []
        for op, b in p.facts["ops"]:
            parts.append(str(Step(v, op, b, OPS[op](v, b))))
            v = OPS[op](v, b)
        return (f"\n\nWait, let me double-check the whole thing by plugging x={p.answer} back in: "
                + ", ".join(parts) + f". That gives {v}, which matches the right-hand side.")
    return ("\n\nWait, let me double-check the whole thing by going through it again: "
            + ", ".join(str(s) for s in p.steps) + ". Yes, it all holds together.")


def teach(p: Problem, rng: random.Random, final: str = "boxed") -> tuple[str, list[dict]]:
    """The teacher's trace for ``p`` and its annotated segments (``"".join`` of texts == trace).

    ``final`` is how the last line states the answer: ``boxed`` (``\\boxed{N}``)
    or ``final_line`` (``Final answer: N``, for the prompt style that asks for it).
    """
    segs: list[tuple[str, str]] = [("filler", " " + rng.choice(_OPENERS)), ("restate", _restate(p))]
    segs += _plan(p, rng)
    n = len(p.steps)
    # At least one slip and one re-check per trace, on random steps; more on longer problems.
    slips = set(rng.sample(range(n), k=max(1, n // 3))) if n else set()
    checks = set(rng.sample(range(n), k=max(1, n // 2))) if n else set()
    for i, s in enumerate(p.steps):
        segs.append(("filler", _connect(i, n, s, p, rng)))
        if i in slips:
            segs.append(_wrong(s, rng))
        segs.append(("compute", f"\n{s}"))
        if i in checks:
            segs.append(("verify", _verify(s)))
        elif rng.random() < 0.5:
            segs.append(("hedge", "\n" + rng.choice(_HEDGES)))
    segs.append(("verify", _final_check(p)))
    segs.append(("hedge", f"\nSo the answer should be {p.answer}. I'm fairly confident in that."))
    if final == "boxed":
        segs.append(("answer", f"\n\n\\boxed{{{p.answer}}}"))
    elif final == "final_line":
        segs.append(("answer", f"\n\nFinal answer: {p.answer}"))
    else:
        raise ValueError(f"final must be 'boxed' or 'final_line', got {final!r}")
    annotated = [{"role": r, "text": t} for r, t in segs]
    return "".join(t for _, t in segs), annotated


def compact_trace(segments: list[dict]) -> str:
    """Only the computation lines and the answer, from the teacher's annotations.

    For probes and tests (the oracle compression); compressors may not use it.
    >>> compact_trace([{"role": "filler", "text": " Hmm."}, {"role": "compute", "text": "\\n2+3=5"},
    ...                {"role": "answer", "text": "\\n\\n\\\\boxed{5}"}])
    ' 2+3=5\\n\\\\boxed{5}'
    """
    lines = [s["text"].strip() for s in segments if s["role"] in ("compute", "answer")]
    return " " + "\n".join(lines)
