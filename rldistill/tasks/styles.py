"""Prompt styles: how a problem is asked. ``plain`` is the training style.

A style is a plain function ``(problem, rng) -> (prompt, final)`` registered
with ``@register_style``; ``final`` tells the teacher how its last line must
state the answer (``boxed`` or ``final_line``). The variants of ``eval``
measure robustness to the prompt, never seen in training:

- ``paraphrase``: the question and the instruction reworded;
- ``format``: asks for ``Final answer: N`` instead of ``\\boxed{N}``;
- ``distract``: irrelevant sentences with numbers in them.

Every prompt ends with ``Answer:`` and no whitespace, so that tokenizing
prompt + completion gives the prompt's tokens as a prefix.
"""

from __future__ import annotations

import random
from typing import Callable

from rldistill.tasks import Problem

INSTRUCTION = "Put the final answer in \\boxed{}."
StyleFn = Callable[[Problem, random.Random], "tuple[str, str]"]
STYLES: dict[str, StyleFn] = {}


def register_style(name: str):
    def deco(fn: StyleFn) -> StyleFn:
        STYLES[name] = fn
        return fn

    return deco


def _ask(body: str) -> str:
    return f"Question: {body}\nAnswer:"


@register_style("plain")
def plain(p: Problem, rng: random.Random) -> tuple[str, str]:
    return _ask(f"{p.text} {INSTRUCTION}"), "boxed"


_PARA_INSTR = ["Write your final result inside \\boxed{}.", "Give the result in a box, like \\boxed{}.",
               "Show your work and box the final number with \\boxed{}.", "Enclose the answer in \\boxed{}."]


def _reword(p: Problem, rng: random.Random) -> str:
    if p.kind == "chain":
        expr = p.facts["expr"]
        return rng.choice([f"What is the value of {expr}?", f"Evaluate {expr}.", f"Work out {expr}."])
    if p.kind == "equation":
        eq = f"{p.facts['lhs']}={p.facts['rhs']}"
        return rng.choice([f"Find x if {eq}.", f"What number x satisfies {eq}?", f"Determine x, given that {eq}."])
    name, item = p.facts["name"], p.facts["item"]
    question = f"How many {item} does {name} have now?"
    alt = rng.choice([f"What is the number of {item} {name} ends up with?", f"At the end, how many {item} are left with {name}?"])
    return p.text.replace(question, alt)


@register_style("paraphrase")
def paraphrase(p: Problem, rng: random.Random) -> tuple[str, str]:
    return _ask(f"{_reword(p, rng)} {rng.choice(_PARA_INSTR)}"), "boxed"


@register_style("format")
def answer_format(p: Problem, rng: random.Random) -> tuple[str, str]:
    return _ask(f"{p.text} At the end, write 'Final answer: ' followed by the number, with no box."), "final_line"


_DISTRACTORS = ["The shop on the corner opens at {n} o'clock.", "There are {n} birds sitting on the fence.",
                "It rained for {n} days last month.", "The bus number {n} was late again.",
                "A cat named Tom is {n} years old.", "The library has {n} new chairs."]


@register_style("distract")
def distract(p: Problem, rng: random.Random) -> tuple[str, str]:
    d1, d2 = rng.sample(_DISTRACTORS, 2)
    d1, d2 = d1.format(n=rng.randint(2, 30)), d2.format(n=rng.randint(2, 30))
    if p.kind == "word":  # put the second one inside the story
        sentences = p.text.split(". ")
        cut = rng.randint(1, max(1, len(sentences) - 1))
        body = ". ".join(sentences[:cut]) + ". " + d2[:-1] + ". " + ". ".join(sentences[cut:])
        return _ask(f"{d1} {body} {INSTRUCTION}"), "boxed"
    return _ask(f"{d1} {p.text} {d2} {INSTRUCTION}"), "boxed"
