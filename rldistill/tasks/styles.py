"""Prompt styles: how a problem is asked. ``plain`` is the main training style.

A style is a plain function ``(problem, rng, pool="eval") -> (prompt, final)``
registered with ``@register_style``; ``final`` tells the teacher how its last
line must state the answer (``boxed`` or ``final_line``). The variants of
``eval`` measure robustness to the prompt:

- ``paraphrase``: the question and the instruction reworded;
- ``format``: asks for ``Final answer: N`` instead of ``\\boxed{N}``;
- ``distract``: irrelevant sentences with numbers in them;
- ``notation``: the same problem in other symbols from a closed vocabulary:
  other separators (``;`` between ``slots`` cells and between the sentences
  of a story, spaces around the operators of an expression), square brackets
  for parentheses, ``x`` for ``*`` (not in equations, whose unknown is x). A
  training prompt in this style uses one of the three swaps; the ``eval``
  file uses all three at once, a combination no training prompt has.

Kinds with ``facts["instruction_first"]`` (``slots``) are asked with the
instruction and any distractor before the problem, so the end of the prompt,
where the answer starts, is the same in every style.

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
import re
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


def _body(p: Problem, text: str, instruction: str, before: tuple[str, ...] = (), after: tuple[str, ...] = ()) -> str:
    """The question: ``before text after instruction``, or, for instruction-first kinds, all of it before text."""
    if p.facts.get("instruction_first"):
        return " ".join([*before, *after, instruction, text])
    return " ".join([*before, text, *after, instruction])


@register_style("plain")
def plain(p: Problem, rng: random.Random, pool: str = "eval") -> tuple[str, str]:
    return _ask(_body(p, p.text, INSTRUCTION)), "boxed"


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
    "slots": {"eval": ["Begin with {start}", "Take the number {start}", "Let the value be {start}"],
              "train": ["Start from {start}", "Pick {start}", "The number is {start}"]},
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
    if p.kind == "slots":  # only the words before the start value: what follows it stays as the trace reads it
        start = p.facts["start"]
        return p.text.replace(f"Start with {start}", rng.choice(_REWORD["slots"][pool]).format(start=start), 1)
    name, item = p.facts["name"], p.facts["item"]
    question = f"How many {item} does {name} have now?"
    return p.text.replace(question, rng.choice(_REWORD["word"][pool]).format(item=item, name=name))


@register_style("paraphrase")
def paraphrase(p: Problem, rng: random.Random, pool: str = "eval") -> tuple[str, str]:
    return _ask(_body(p, _reword(p, rng, pool), rng.choice(_PARA_INSTR[pool]))), "boxed"


@register_style("format")
def answer_format(p: Problem, rng: random.Random, pool: str = "eval") -> tuple[str, str]:
    wordings = _FORMAT[pool]  # one held-out wording: no draw, so the eval files do not move the teacher's rng
    return _ask(_body(p, p.text, wordings[0] if len(wordings) == 1 else rng.choice(wordings))), "final_line"


@register_style("distract")
def distract(p: Problem, rng: random.Random, pool: str = "eval") -> tuple[str, str]:
    d1, d2 = rng.sample(_DISTRACTORS[pool], 2)
    d1, d2 = d1.format(n=rng.randint(2, 30)), d2.format(n=rng.randint(2, 30))
    if p.kind == "word":  # put the second one inside the story
        sentences = p.text.split(". ")
        cut = rng.randint(1, max(1, len(sentences) - 1))
        body = ". ".join(sentences[:cut]) + ". " + d2[:-1] + ". " + ". ".join(sentences[cut:])
        return _ask(f"{d1} {body} {INSTRUCTION}"), "boxed"
    return _ask(_body(p, p.text, INSTRUCTION, before=(d1,), after=(d2,))), "boxed"


def _separators(text: str, kind: str) -> str:
    if kind == "slots":  # between cells: the same number of tokens, so the cells stay aligned with the trace
        return re.sub(r"([)\]]), ", r"\1; ", text)
    if kind == "word":
        return text.replace(". Then ", "; then ")
    return re.sub(r"(?<=[\w)\]])([-+*/])(?=[\w(\[])", r" \1 ", text)  # spaced operators


_SWAPS = {"separators": _separators,  # applied in this order
          "brackets": lambda t, kind: t.replace("(", "[").replace(")", "]"),
          "times": lambda t, kind: t if kind == "equation" else t.replace("*", "x")}  # x is the unknown there
NOTATION_SWAPS = {"train": [[name] for name in _SWAPS], "eval": [list(_SWAPS)]}


@register_style("notation")
def notation(p: Problem, rng: random.Random, pool: str = "eval") -> tuple[str, str]:
    """The problem in other symbols: one swap of ``_SWAPS`` in training, all of them together in ``eval``."""
    swaps = NOTATION_SWAPS[pool][0] if len(NOTATION_SWAPS[pool]) == 1 else rng.choice(NOTATION_SWAPS[pool])
    text = p.text
    for name in swaps:
        text = _SWAPS[name](text, p.kind)
    return _ask(_body(p, text, INSTRUCTION)), "boxed"
