"""The embedded default task family: problems with exact answers, made from a seed.

A problem kind is a plain function ``(rng, n_steps, knobs) -> Problem``
registered by name with ``@register_kind``. Every kind is solved by the same
short procedure, a chain of one-operation steps ``a op b = c`` on small whole
numbers, so a step-by-step solution learned on short problems transfers to
longer ones (the ``ood`` split) while an answer-only model has to guess.

Kinds (see ``rldistill.tasks.kinds``): ``chain`` (evaluate ``(7+5-3)*2+4``
left to right), ``equation`` (solve ``(x+3)*2-4=10`` by undoing the operations
from the outside in), ``word`` (track a quantity through a short story),
``slots`` (apply operations written in fixed-width cells ``(+3), (*2), (..)``
left to right: the kind whose compact trace reads every step's operation at
the same distance, so it can carry to longer problems; the demo's default).

What it leaves out: fractions, negative numbers and, by default, numbers
above 9 (``Knobs``): anything a 1M-parameter model trained for minutes on
2 CPU cores cannot learn. Real benchmarks
(GSM8K, MATH-500) come in through ``rldistill.data.load_traces``.

The splits and the teacher are in ``rldistill.tasks.synth`` and
``rldistill.tasks.teacher``; run ``rldistill synth --out DIR``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a // b,
}
INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}


@dataclass(frozen=True)
class Step:
    """One computation ``a op b = c``; ``str(step)`` is how traces write it."""

    a: int
    op: str
    b: int
    c: int

    def __str__(self) -> str:
        return f"{self.a}{self.op}{self.b}={self.c}"


@dataclass(frozen=True)
class Knobs:
    """Difficulty knobs. Every value a step reads or writes lies in [0, value_max].

    The default keeps every number a single digit: a 1M-parameter student
    learns one-digit facts within a minute or two of CPU SFT, while with
    values up to 20 or 50 it is still guessing results after as long (measured
    with ``rldistill.tasks.probe``). Raise ``value_max`` for a harder task.
    """

    operand_max: int = 9  # operands b are drawn from 1..operand_max (multipliers from 2..mul_max)
    mul_max: int = 5
    value_max: int = 9
    mul_base_max: int = 10  # only values up to this are multiplied: times tables, learnable in minutes
    slots: int = 8  # the ``slots`` kind writes its operations in this many cells, the unused ones empty


@dataclass(frozen=True)
class Problem:
    kind: str
    text: str  # the problem statement, without any instruction
    answer: int
    steps: tuple[Step, ...]  # the solution, in order
    facts: dict = field(default_factory=dict, compare=False)  # kind-specific words the teacher uses

    @property
    def key(self) -> str:
        """What makes two problems the same (splits are disjoint on it)."""
        return f"{self.kind}:{self.text}"


KindFn = Callable[[random.Random, int, Knobs], Problem]
KINDS: dict[str, KindFn] = {}


def register_kind(name: str):
    def deco(fn: KindFn) -> KindFn:
        KINDS[name] = fn
        return fn

    return deco


def get_kind(name: str) -> KindFn:
    from rldistill.tasks import kinds  # noqa: F401  (registers the built-in kinds)

    if name not in KINDS:
        raise KeyError(f"unknown task kind {name!r}; known: {sorted(KINDS)}")
    return KINDS[name]


def available_kinds() -> list[str]:
    from rldistill.tasks import kinds  # noqa: F401

    return sorted(KINDS)


def check_problem(p: Problem) -> None:
    """Raise if the problem's steps do not compute its answer (used by tests and synth)."""
    for s in p.steps:
        if OPS[s.op](s.a, s.b) != s.c or (s.op == "/" and s.a % s.b):
            raise AssertionError(f"bad step {s} in {p.text!r}")
    for prev, nxt in zip(p.steps, p.steps[1:]):
        if nxt.a != prev.c:
            raise AssertionError(f"steps do not chain in {p.text!r}: {prev} then {nxt}")
    if p.steps and p.steps[-1].c != p.answer:
        raise AssertionError(f"last step {p.steps[-1]} does not give the answer {p.answer}")
