"""Probe for issue 18: a task whose every step looks its operation up by a one-letter key.

    python scripts/probe_linked.py --out runs/linked --definitions 0 --steps 3000    # prompts hold only the chain
    python scripts/probe_linked.py --out runs/linked7 --definitions 7 --steps 3000   # every prompt holds 7 definitions
    python scripts/probe_linked.py --out runs/linkedmix --definitions 0-7 --nope      # 0-7 at random; no positions

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


def write_splits(out: Path, definitions: int | tuple[int, int], n_train: int = 2000, n_eval: int = 200) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for split, seed, n, steps in [("train", 1, n_train, (2, 4)), ("eval", 2, n_eval, (2, 4)), ("ood", 3, n_eval, (5, 6))]:
        rng = random.Random(seed)
        with open(out / f"{split}.jsonl", "w") as f:
            for _ in range(n):
                f.write(json.dumps(problem(rng, rng.randint(*steps), definitions)) + "\n")


def trace_stats(model, tok, rows: list[dict], n: int = 80) -> dict:
    """On the first ``n`` rows, greedy: traces right line for line, and first lines right (the final answer alone
    flatters a chain of small numbers, which can land on the right value by a wrong path)."""
    import torch

    model.eval()
    tok.padding_side = "left"
    whole = first = 0
    with torch.no_grad():
        for i in range(0, min(n, len(rows)), 40):
            chunk = rows[i: min(i + 40, n)]
            enc = tok([r["prompt"] for r in chunk], return_tensors="pt", padding=True)
            out = model.generate(**enc, max_new_tokens=220, do_sample=False, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id)
            for text, r in zip(tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True), chunk):
                gold, got = r["completion"].strip().split("\n"), text.strip().split("\n")
                whole += got == gold
                first += got[:1] == gold[:1]
    return {"problems": min(n, len(rows)), "whole_trace_right": whole, "first_line_right": first}


def pass_at_k(model, tok, rows: list[dict], k: int, n: int = 100, seed: int = 0) -> dict:
    """On the first ``n`` rows, ``k`` samples each at temperature 1: problems with at least one right final answer,
    and with at least one trace right line for line (what RL on the final answer would, and should, reward)."""
    import torch

    from rldistill.tasks.probe import extract

    torch.manual_seed(seed)
    model.eval()
    tok.padding_side = "left"
    answer = whole = 0
    with torch.no_grad():
        for i in range(0, min(n, len(rows)), 10):
            chunk = rows[i: min(i + 10, n)]
            enc = tok([r["prompt"] for r in chunk], return_tensors="pt", padding=True)
            out = model.generate(**enc, max_new_tokens=220, do_sample=True, temperature=1.0, num_return_sequences=k,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            for j, r in enumerate(chunk):
                mine = texts[j * k: (j + 1) * k]
                answer += any(extract(t) == r["answer"] for t in mine)
                whole += any(t.strip().split("\n") == r["completion"].strip().split("\n") for t in mine)
    return {"problems": min(n, len(rows)), f"pass@{k}_answer": answer, f"pass@{k}_whole_trace": whole}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--definitions", default="0",
                    help="definitions per prompt, unused ones included (0: only the chain); A-B: drawn per problem")
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
    write_splits(out, (int(lo), int(hi)) if hi else int(lo), n_train=a.train)
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
    from rldistill.tasks.probe import accuracy

    for split in ("eval", "ood"):
        print(f"{split:<5} greedy accuracy {accuracy(model, tok, load(split), 220):.3f}  "
              f"{trace_stats(model, tok, load(split))}", flush=True)
        if pass_k:
            print(f"{split:<5} {pass_at_k(model, tok, load(split), pass_k)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
