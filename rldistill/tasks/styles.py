"""Prompt styles: how a problem is asked. ``plain`` is the main training style.

A style is a plain function ``(problem, rng, pool="eval") -> (prompt, final)``
registered with ``@register_style``; ``final`` tells the teacher how its last
line must state the answer (``boxed`` or ``final_line``). The variants of
``eval`` measure robustness to the prompt:

- ``paraphrase``: the question and the instruction reworded;
- ``format``: asks for ``Final answer: N`` instead of ``\\boxed{N}``;
- ``distract``: irrelevant sentences with numbers in them.

Each style draws its wordings from one of two disjoint pools. ``pool="eval"``
(the ``styles/*.jsonl`` files) uses wordings that no training row contains;
``pool="train"`` uses the others, and ``synth --train-styles F`` asks a
fraction F of the training problems that way. A student trained from scratch
has never read English: with plain prompts only, a reworded instruction is
noise to it and every arm lands at guessing level, which measures nothing.
With some variety in training, the styles measure what they are for, whether
the student carries its procedure to wordings, formats and distractors it has
not seen. ``TRAIN_WORDINGS`` and ``EVAL_WORDINGS`` list the pools (tests check
they are disjoint).

Every prompt ends with ``Answer:`` and no whitespace, so that tokenizing
prompt + completion gives the prompt's tokens as a prefix.
"""

from __future__ import annotations

import random
from typing import Callable

from rldistill.tasks import Problem

INSTRUCTION = "Put the final answer in \\boxed{}."
StyleFn = Callable[..., "tuple[str, str]"]  # (problem, rng, pool="eval") -> (prompt, final)
STYLES: dict[str, StyleFn] = {}


def register_style(name: str):
    def deco(fn: StyleFn) -> StyleFn:
        STYLES[name] = fn
        return fn

    return deco


def _ask(body: str) -> str:
    return f"Question: {body}\nAnswer:"


@register_style("plain")
def plain(p: Problem, rng: random.Random, pool: str = "eval") -> tuple[str, str]:
    return _ask(f"{p.text} {INSTRUCTION}"), "boxed"


# Every wording a non-plain style uses, by pool: "eval" for the styles/*.jsonl files, "train" for training rows.
_PARA_INSTR = {
    "eval": ["Write your final result inside \\boxed{}.", "Give the result in a box, like \\boxed{}.",
             "Show your work and box the final number with \\boxed{}.", "Enclose the answer in \\boxed{}."],
    "train": ["Box the answer using \\boxed{}.", "Place the result in \\boxed{}.",
              "Report the number inside \\boxed{}.", "Your answer goes in \\boxed{}."],
}
_REWORD = {
    "chain": {"eval": ["What is the value of {expr}?", "Evaluate {expr}.", "Work out {expr}."],
              "train": ["Calculate {expr}.", "Find the value of {expr}.", "How much is {expr}?"]},
    "equation": {"eval": ["Find x if {eq}.", "What number x satisfies {eq}?", "Determine x, given that {eq}."],
                 "train": ["Which x makes {eq} true?", "Solve {eq} for x.", "Given {eq}, what is x?"]},
    "word": {"eval": ["What is the number of {item} {name} ends up with?", "At the end, how many {item} are left with {name}?"],
             "train": ["How many {item} is {name} left with?", "Count the {item} {name} has at the end."]},
}
_FORMAT = {
    "eval": ["At the end, write 'Final answer: ' followed by the number, with no box."],
    "train": ["Do not use a box; finish with 'Final answer: ' and the number.",
              "End with the line 'Final answer: ' then the result, not boxed."],
}
_DISTRACTORS = {
    "eval": ["The shop on the corner opens at {n} o'clock.", "There are {n} birds sitting on the fence.",
             "It rained for {n} days last month.", "The bus number {n} was late again.",
             "A cat named Tom is {n} years old.", "The library has {n} new chairs."],
    "train": ["A train leaves at {n} in the morning.", "The garden has {n} red flowers.",
              "Her brother is {n} years old.", "The room has {n} windows.",
              "Some {n} people waited in line.", "A dog ran {n} laps around the park."],
}
TRAIN_WORDINGS = {"paraphrase": _PARA_INSTR["train"] + [t for k in _REWORD.values() for t in k["train"]],
                  "format": _FORMAT["train"], "distract": _DISTRACTORS["train"]}
EVAL_WORDINGS = {"paraphrase": _PARA_INSTR["eval"] + [t for k in _REWORD.values() for t in k["eval"]],
                 "format": _FORMAT["eval"], "distract": _DISTRACTORS["eval"]}


def _reword(p: Problem, rng: random.Random, pool: str) -> str:
    if p.kind == "chain":
        return rng.choice(_REWORD["chain"][pool]).format(expr=p.facts["expr"])
    if p.kind == "equation":
        return rng.choice(_REWORD["equation"][pool]).format(eq=f"{p.facts['lhs']}={p.facts['rhs']}")
    name, item = p.facts["name"], p.facts["item"]
    question = f"How many {item} does {name} have now?"
    return p.text.replace(question, rng.choice(_REWORD["word"][pool]).format(item=item, name=name))


@register_style("paraphrase")
def paraphrase(p: Problem, rng: random.Random, pool: str = "eval") -> tuple[str, str]:
    return _ask(f"{_reword(p, rng, pool)} {rng.choice(_PARA_INSTR[pool])}"), "boxed"


@register_style("format")
def answer_format(p: Problem, rng: random.Random, pool: str = "eval") -> tuple[str, str]:
    wordings = _FORMAT[pool]  # one held-out wording: no draw, so the eval files do not move the teacher's rng
    return _ask(f"{p.text} {wordings[0] if len(wordings) == 1 else rng.choice(wordings)}"), "final_line"


@register_style("distract")
def distract(p: Problem, rng: random.Random, pool: str = "eval") -> tuple[str, str]:
    d1, d2 = rng.sample(_DISTRACTORS[pool], 2)
    d1, d2 = d1.format(n=rng.randint(2, 30)), d2.format(n=rng.randint(2, 30))
    if p.kind == "word":  # put the second one inside the story
        sentences = p.text.split(". ")
        cut = rng.randint(1, max(1, len(sentences) - 1))
        body = ". ".join(sentences[:cut]) + ". " + d2[:-1] + ". " + ". ".join(sentences[cut:])
        return _ask(f"{d1} {body} {INSTRUCTION}"), "boxed"
    return _ask(f"{d1} {p.text} {d2} {INSTRUCTION}"), "boxed"
