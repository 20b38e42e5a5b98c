"""Probe for issue 18: a task whose every step looks its operation up by a one-letter key.

    python scripts/probe_linked.py --out runs/linked --definitions 0 --steps 3000    # prompts hold only the chain
    python scripts/probe_linked.py --out runs/linked7 --definitions 7 --steps 3000   # every prompt holds 7 definitions
    python scripts/probe_linked.py --out runs/linkedmix --definitions 0-7 --nope      # 0-7 at random; no positions
    python scripts/probe_linked.py --out runs/p18/rules --task rules --steps 2000 --train 16000   # the value is the key
    python scripts/probe_linked.py --out runs/p18/slots --task slots --steps 1500 --train 12000   # nothing to look up

``--task rules`` (``rules_problem``): one rule per value 0-9 (``7: -5.``), the running value is every lookup's key;
``rules-quote`` also quotes each rule in the trace. ``--task slots`` (``slots_problem``): the operations in eight
fixed-width cells, the ``slots`` kind's design before it entered the registry (with ``(--)`` for an empty cell).

A problem is a linked list of operations whose definitions are shuffled in the prompt::

    Question: Start with 7 at s. w: subtract 9, end. s: add 2, go to g. g: subtract 5, go to q. q: multiply by 2, end. ...
    Answer: s: add 2, go to g. 7+2=9
    g: subtract 5, go to q. 9-5=4
    q: multiply by 2, end. 4*2=8
    \\boxed{8}

Each line copies the definition of the node the previous line named and applies it to the running value, so no
step depends on where it sits in the prompt or in the trace, and the copied ``end`` says when to stop. ``train`` and
``eval`` have 2-4 steps, ``ood`` 5-6. With ``--definitions N`` every prompt also holds unused definitions (a chain of
their own), up to N in all, so ``ood`` prompts are no longer than training prompts: only the chain is longer;
``--definitions A-B`` draws N per problem from A-B (a mixture of lookups with and without distractors).
``--nope`` trains a student without positional information (RoPE with linear scaling by 1e6: every rotation angle
is below 1e-3 rad over the probe's lengths, so only the causal mask orders tokens).

A from-scratch ``tiny`` student (``--size``; ``rldistill.student``, its tokenizer trained on this data) is trained with the
learnability probe's loop (``rldistill.tasks.probe.train``) on the whole trace and scored greedily. This is a design
probe, not a task kind: nothing in the pipeline reads these files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

WORD = {"+": "add {b}", "-": "subtract {b}", "*": "multiply by {b}"}


def problem(rng: random.Random, n: int, definitions: int | tuple[int, int]) -> dict:
    from rldistill.tasks import Knobs
    from rldistill.tasks.kinds import _random_ops

    if isinstance(definitions, tuple):
        definitions = rng.randint(*definitions)
    start = rng.randint(1, Knobs().operand_max)
    ops = _random_ops(rng, start, n, Knobs())
    total = max(n, definitions)
    names = rng.sample(string.ascii_lowercase, total)
    defs, lines, v = [], [], start
    for j in range(n, total):  # unused definitions, chained among themselves
        op, b = rng.choice([("+", rng.randint(1, 9)), ("-", rng.randint(1, 9)), ("*", rng.randint(2, 5))])
        others = names[n:j] + names[j + 1:]
        nxt = f"go to {rng.choice(others)}" if others and rng.random() < 0.7 else "end"
        defs.append(f"{names[j]}: {WORD[op].format(b=b)}, {nxt}.")
    for i, (op, b, c) in enumerate(ops):
        d = f"{names[i]}: {WORD[op].format(b=b)}, {f'go to {names[i + 1]}' if i + 1 < n else 'end'}."
        defs.append(d)
        lines.append(f"{d} {v}{op}{b}={c}")
        v = c
    rng.shuffle(defs)
    prompt = (f"Question: Start with {start} at {names[0]}. " + " ".join(defs)
              + " What is the value at the end? Put the final answer in \\boxed{}.\nAnswer:")
    return {"prompt": prompt, "completion": " " + "\n".join(lines) + f"\n\\boxed{{{v}}}", "answer": str(v),
            "kind": "linked", "n_steps": n}


def _edge(rng: random.Random, a: int, c: int) -> tuple[str, int]:
    if a >= 1 and c > a and c % a == 0 and 2 <= c // a <= 5 and rng.random() < 0.5:
        return "*", c // a
    return ("+", c - a) if c > a else ("-", a - c)


def rules_problem(rng: random.Random, n: int, quote: bool = False) -> dict:
    """Values 0-9 each have one rule (``7: -5.`` or ``6: stop.``); the chain from the start value visits ``n + 1``
    distinct values. The key of every lookup is the running value itself."""
    path = rng.sample(range(10), n + 1)
    rules = {}
    for a, c in zip(path, path[1:]):
        rules[a] = _edge(rng, a, c)
    rules[path[-1]] = None
    for v in range(10):
        if v not in rules:
            rules[v] = None if rng.random() < 0.3 else _edge(rng, v, rng.choice([w for w in range(10) if w != v]))
    text = lambda v: f"{v}: stop." if rules[v] is None else f"{v}: {rules[v][0]}{rules[v][1]}."  # noqa: E731
    order = list(range(10))
    rng.shuffle(order)
    lines = []
    for a, c in zip(path, path[1:]):
        op, b = rules[a]
        lines.append((f"{text(a)} " if quote else "") + f"{a}{op}{b}={c}")
    prompt = (f"Question: Start at {path[0]}. Rules: " + " ".join(text(v) for v in order)
              + " What is the value at the end? Put the final answer in \\boxed{}.\nAnswer:")
    return {"prompt": prompt, "completion": " " + "\n".join(lines) + f"\n\\boxed{{{path[-1]}}}",
            "answer": str(path[-1]), "kind": "rules", "n_steps": n}


def slots_problem(rng: random.Random, n: int, width: int = 8) -> dict:
    """The ``slots`` kind's problem (``width`` cells), asked in the plain style, its compact trace as the target,
    an empty cell written ``(--)`` as when this probe chose the kind (the kind now writes ``(..)``)."""
    from rldistill.tasks import Knobs, get_kind
    from rldistill.tasks.styles import STYLES

    p = get_kind("slots")(rng, n, Knobs(slots=width))
    lines = "\n".join(str(step) for step in p.steps)
    return {"prompt": STYLES["plain"](p, rng)[0].replace("(..)", "(--)"),
            "completion": f" {lines}\n\\boxed{{{p.answer}}}", "answer": str(p.answer), "kind": "slots", "n_steps": n}


def write_splits(out: Path, definitions: int | tuple[int, int], n_train: int = 2000, n_eval: int = 200,
                 task: str = "linked", ood: tuple[int, int] = (5, 6)) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for split, seed, n, steps in [("train", 1, n_train, (2, 4)), ("eval", 2, n_eval, (2, 4)), ("ood", 3, n_eval, ood)]:
        rng = random.Random(seed)
        with open(out / f"{split}.jsonl", "w") as f:
            for _ in range(n):
                k = rng.randint(*steps)
                row = (problem(rng, k, definitions) if task == "linked" else slots_problem(rng, k) if task == "slots"
                       else rules_problem(rng, k, task == "rules-quote"))
                f.write(json.dumps(row) + "\n")


def generations(model, tok, rows: list[dict], k: int = 1, batch: int = 40) -> list[list[str]]:
    """``k`` completions per row: greedy for ``k == 1``, else sampled at temperature 1."""
    import torch

    model.eval()
    tok.padding_side = "left"
    out_texts = []
    with torch.no_grad():
        for i in range(0, len(rows), max(1, batch // k)):
            chunk = rows[i: i + max(1, batch // k)]
            enc = tok([r["prompt"] for r in chunk], return_tensors="pt", padding=True)
            out = model.generate(**enc, max_new_tokens=220, do_sample=k > 1, temperature=1.0 if k > 1 else None,
                                 num_return_sequences=k, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            out_texts += [texts[j * k: (j + 1) * k] for j in range(len(chunk))]
    return out_texts


def _lines(text: str) -> list[str]:
    return text.strip().split("\n")


def trace_counts(rows: list[dict], texts: list[list[str]]) -> dict:
    """Problems with at least one right final answer, and with at least one trace right line for line (the final
    answer alone flatters a chain of small numbers, which can land on the right value by a wrong path); with one
    text per row, also first lines right."""
    from rldistill.tasks.probe import extract

    counts = {"problems": len(rows),
              "answer_right": sum(any(extract(t) == r["answer"] for t in ts) for r, ts in zip(rows, texts)),
              "whole_trace_right": sum(any(_lines(t) == _lines(r["completion"]) for t in ts)
                                       for r, ts in zip(rows, texts))}
    if all(len(ts) == 1 for ts in texts):
        counts["first_line_right"] = sum(_lines(ts[0])[:1] == _lines(r["completion"])[:1] for r, ts in zip(rows, texts))
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--definitions", default="0",
                    help="definitions per prompt, unused ones included (0: only the chain); A-B: drawn per problem")
    ap.add_argument("--task", default="linked", choices=["linked", "rules", "rules-quote", "slots"])
    ap.add_argument("--nope", action="store_true", help="a student without positional information")
    ap.add_argument("--size", default="tiny", help="the student's size (rldistill.student.SIZES)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--train", type=int, default=2000, help="training problems (steps x batch of them: each seen once)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--score-only", action="store_true", help="score OUT/trained again instead of training")
    ap.add_argument("--pass-k", type=int, default=0, help="also sample K per problem (first 100) and report pass@K")
    a = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rldistill.student import build_student
    from rldistill.tasks.probe import train

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = Path(a.out)
    load = lambda split: [json.loads(line) for line in open(out / f"{split}.jsonl")]  # noqa: E731
    if a.score_only:
        tok = AutoTokenizer.from_pretrained(out / "trained")
        model = AutoModelForCausalLM.from_pretrained(out / "trained")
        return score(model, tok, load, a.pass_k)
    lo, _, hi = a.definitions.partition("-")
    write_splits(out, (int(lo), int(hi)) if hi else int(lo), n_train=a.train, task=a.task,
                 ood=(5, 6) if a.task == "linked" else (5, 7))
    build_student(out / "student", a.size, out, 0)
    tok = AutoTokenizer.from_pretrained(out / "student")
    model = AutoModelForCausalLM.from_pretrained(out / "student")
    if a.nope:
        model.config.rope_parameters = {"rope_theta": 10000.0, "rope_type": "linear", "factor": 1e6}
        model = AutoModelForCausalLM.from_pretrained(out / "student", config=model.config)
    secs, n_tok = train(model, tok, load("train"), "verbose", a.steps, a.batch, a.lr, log_every=500)
    print(f"trained {a.steps} steps x {a.batch} in {secs:.0f}s ({n_tok} target tokens)")
    model.save_pretrained(out / "trained")
    tok.save_pretrained(out / "trained")
    return score(model, tok, load, a.pass_k)


def score(model, tok, load, pass_k: int = 0) -> int:
    """Greedy accuracy on each split, trace-level counts on its first 80 problems, and pass@K (sampled) on its
    first 100."""
    import torch

    for split in ("eval", "ood"):
        rows = load(split)
        greedy = generations(model, tok, rows)
        accuracy = trace_counts(rows, greedy)["answer_right"] / len(rows)
        print(f"{split:<5} greedy accuracy {accuracy:.3f}  {trace_counts(rows[:80], greedy[:80])}", flush=True)
        if pass_k:
            torch.manual_seed(0)
            print(f"{split:<5} pass@{pass_k} {trace_counts(rows[:100], generations(model, tok, rows[:100], pass_k))}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
