"""The built-in problem kinds: ``chain``, ``equation``, ``word`` and ``slots``.

Each is a plain function ``(rng, n_steps, knobs) -> Problem`` whose solution
is ``n_steps`` steps ``a op b = c``, each on numbers in ``[0, knobs.value_max]``
with operands up to ``knobs.operand_max``. Precedence is never in the way:
``chain`` writes the parentheses that make left-to-right evaluation correct,
and ``equation`` undoes the operations from the right. Leaves out: anything
that needs more than one operation per step.
"""

from __future__ import annotations

import random

from rldistill.tasks import INVERSE, OPS, Knobs, Problem, Step, register_kind

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def _random_ops(rng: random.Random, start: int, n: int, k: Knobs, low: int = 0) -> list[tuple[str, int, int]]:
    """``n`` operations ``(op, b, result)`` from ``start``, every result in [low, value_max]."""
    ops, v = [], start
    for _ in range(n):
        choices = []
        if v + 1 <= k.value_max:
            choices.append(("+", 1, min(k.operand_max, k.value_max - v), 4))
        if v - 1 >= low:
            choices.append(("-", 1, min(k.operand_max, v - low), 3))
        if 1 <= v <= k.mul_base_max and 2 * v <= k.value_max:
            choices.append(("*", 2, min(k.mul_max, k.value_max // v), 3))
        op, lo, hi, _ = rng.choices(choices, weights=[c[3] for c in choices])[0]
        b = rng.randint(lo, hi)
        v = OPS[op](v, b)
        ops.append((op, b, v))
    return ops


def _apply(expr: str, prec: int, op: str, b: int) -> tuple[str, int]:
    """Write ``expr op b`` with the parentheses that keep left-to-right order."""
    if _PREC[op] > prec:
        expr = f"({expr})"
    return f"{expr}{op}{b}", _PREC[op]


@register_kind("chain")
def chain(rng: random.Random, n_steps: int, k: Knobs) -> Problem:
    """Evaluate an expression such as ``(7+5-3)*2+4`` left to right."""
    start = rng.randint(1, k.operand_max)
    expr, prec, v, steps = str(start), 3, start, []
    for op, b, c in _random_ops(rng, start, n_steps, k):
        expr, prec = _apply(expr, prec, op, b)
        steps.append(Step(v, op, b, c))
        v = c
    return Problem("chain", f"Compute {expr}.", v, tuple(steps), {"expr": expr})


@register_kind("equation")
def equation(rng: random.Random, n_steps: int, k: Knobs) -> Problem:
    """Solve ``(x+3)*2-4=10``: undo the last operation applied to x first."""
    x = rng.randint(1, k.operand_max)
    expr, prec, forward = "x", 3, _random_ops(rng, x, n_steps, k, low=1)
    for op, b, _ in forward:
        expr, prec = _apply(expr, prec, op, b)
    rhs = forward[-1][2] if forward else x
    steps, v = [], rhs
    for op, b, _ in reversed(forward):
        inv = INVERSE[op]
        c = OPS[inv](v, b)
        steps.append(Step(v, inv, b, c))
        v = c
    assert v == x
    ops = [(op, b) for op, b, _ in forward]
    return Problem("equation", f"Solve for x: {expr}={rhs}.", x, tuple(steps), {"lhs": expr, "rhs": rhs, "ops": ops})


_NAMES = [("Mia", "she", "her"), ("Leo", "he", "his"), ("Ava", "she", "her"), ("Sam", "he", "his"),
          ("Zoe", "she", "her"), ("Max", "he", "his"), ("Ivy", "she", "her"), ("Ben", "he", "his"),
          ("Ella", "she", "her"), ("Omar", "he", "his"), ("Nina", "she", "her"), ("Raj", "he", "his")]
_ITEMS = ["marbles", "apples", "stickers", "coins", "books", "shells", "cards", "stamps", "pens", "eggs"]
_EVENTS = {
    "+": ["{S} finds {b} more.", "{S} buys {b} more.", "{S} gets {b} more as a gift.", "{S} picks up {b} more."],
    "-": ["{S} gives {b} away.", "{S} loses {b}.", "{S} sells {b}.", "{S} gives {b} to a friend."],
    "*": ["The number of {p} {item} is multiplied by {b}.", "{S} ends up with {b} times as many {item}."],
}


@register_kind("word")
def word(rng: random.Random, n_steps: int, k: Knobs) -> Problem:
    """Track how many things someone has through a short story of gains, losses and multiplications."""
    name, she, her = rng.choice(_NAMES)
    item = rng.choice(_ITEMS)
    start = rng.randint(1, k.operand_max)
    sentences, steps, v = [f"{name} has {start} {item}."], [], start
    for op, b, c in _random_ops(rng, start, n_steps, k):
        event = rng.choice(_EVENTS[op]).format(S=she.capitalize(), b=b, p=her, item=item)
        sentences.append(f"Then {event[0].lower()}{event[1:]}")
        steps.append(Step(v, op, b, c))
        v = c
    sentences.append(f"How many {item} does {name} have now?")
    return Problem("word", " ".join(sentences), v, tuple(steps), {"name": name, "item": item, "she": she})


SLOT_EMPTY = "(..)"


@register_kind("slots")
def slots(rng: random.Random, n_steps: int, k: Knobs) -> Problem:
    """Apply operations written in ``k.slots`` fixed-width cells, left to right, the unused cells empty.

    ``Start with 4 and apply in order: (+3), (*2), (..), (..).`` With one-digit numbers every cell is six
    tokens (`` (+3),``) and so is every compact trace line (``4+3=7`` and its newline), so step k of a compact
    trace reads its operation at the same distance back, whatever k is, and an empty cell says when to stop:
    the procedure learned on short problems is the one that longer problems need. Every prompt holds the
    same number of cells, so a longer problem is not a longer prompt. The styles put instructions and
    distractors before the cells (``facts["instruction_first"]``).
    """
    if not 1 <= n_steps <= k.slots:
        raise ValueError(f"slots problems need 1 to {k.slots} steps (Knobs.slots), got {n_steps}")
    start = rng.randint(1, k.operand_max)
    cells, steps, v = [], [], start
    for op, b, c in _random_ops(rng, start, n_steps, k):
        cells.append(f"({op}{b})")
        steps.append(Step(v, op, b, c))
        v = c
    cells += [SLOT_EMPTY] * (k.slots - n_steps)
    text = f"Start with {start} and apply in order: {', '.join(cells)}."
    return Problem("slots", text, v, tuple(steps), {"start": start, "cells": cells, "instruction_first": True})
