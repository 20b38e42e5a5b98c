"""Learnability probe: can a from-scratch student learn the embedded task, and how fast?

    python -m rldistill.tasks.probe --data runs/tiny/data --student runs/tiny/student \\
        --target compact --steps 400 --batch 32

trains the student with a plain torch loop on one kind of target, then reports
greedy accuracy on ``eval`` and ``ood`` (and the styles with ``--styles``).
Targets: ``compact`` (the teacher's computation lines and the box, taken from
its annotations: the oracle compression), ``answer`` (``\\boxed{N}`` only),
``verbose`` (the full teacher trace) or ``rewrite`` (each computation line
followed by the rest of the problem, ``= 6+3`` for chains and ``so x+4=9`` for
equations: every step reads its operation next to where it writes; word
problems keep the compact trace) or ``quote`` (word problems: each computation
line after the event sentence it reads, copied from the prompt; other kinds
keep the compact trace). Loss is on the target tokens only.
``--kinds`` restricts every split to some kinds; ``--position-stride-max S``
trains with randomised positions (each sequence's position ids a sorted random
subset of a span up to S times its length; generation uses plain positions).

This is a design tool for choosing the task's knobs and the student's size
together, not the pipeline: the pipeline trains with ``rldistill sft`` on
compressed traces, which never sees the annotations.
"""

from __future__ import annotations

import argparse
import math
import re
import time
from pathlib import Path

_BOX = re.compile(r"\\boxed\{([^{}]*)\}|Final answer:\s*(\S+)")


def rewrite_trace(row: dict) -> str:
    """The computation lines, each followed by what is left of the problem (chains and equations)."""
    from rldistill.tasks import INVERSE
    from rldistill.tasks.kinds import _apply
    from rldistill.tasks.teacher import compact_trace

    if row["kind"] not in ("chain", "equation"):
        return compact_trace(row["teacher_steps"])
    steps = []
    for seg in row["teacher_steps"]:
        m = re.fullmatch(r"(\d+)([-+*/])(\d+)=(\d+)", seg["text"].strip()) if seg["role"] == "compute" else None
        if m:
            steps.append((int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))))
    lines = []
    for i, (a, op, b, c) in enumerate(steps):
        lines.append(f"{a}{op}{b}={c}")
        rest = steps[i + 1:]
        if not rest:
            break
        if row["kind"] == "chain":  # the rest of the expression, from the running value
            expr, prec = str(c), 3
            for _, o, bb, _ in rest:
                expr, prec = _apply(expr, prec, o, bb)
            lines.append(f"= {expr}")
        else:  # the rest of the equation: the operations still around x, equal to the running value
            expr, prec = "x", 3
            for _, o, bb, _ in reversed(rest):
                expr, prec = _apply(expr, prec, INVERSE[o], bb)
            lines.append(f"so {expr}={c}")
    return " " + "\n".join(lines) + f"\n\\boxed{{{row['answer']}}}"


def quote_trace(row: dict) -> str:
    """Word problems: each computation line after the event sentence it reads, quoted from the prompt
    (``Then she finds 5 more. 7+5=12``). Finding the next event is then a copy of what follows the last quoted
    one in the prompt (position-free), not a count of events from the start. Other kinds keep the compact trace."""
    from rldistill.tasks.teacher import compact_trace

    lines = compact_trace(row["teacher_steps"]).strip().split("\n")
    events = [x.strip() for x in re.findall(r"Then [^.?]*[.?]", row["prompt"])]
    computes = [x for x in lines if "=" in x]
    if row["kind"] != "word" or len(events) != len(computes):
        return compact_trace(row["teacher_steps"])
    return " " + "\n".join(f"{e} {c}" for e, c in zip(events, computes)) + f"\n\\boxed{{{row['answer']}}}"


def target_for(row: dict, kind: str) -> str:
    from rldistill.tasks.teacher import compact_trace

    if kind == "compact":
        return compact_trace(row["teacher_steps"])
    if kind == "answer":
        return f" \\boxed{{{row['answer']}}}"
    if kind == "verbose":
        return row["completion"]
    if kind == "rewrite":
        return rewrite_trace(row)
    if kind == "quote":
        return quote_trace(row)
    raise ValueError(f"target must be compact, answer, verbose, rewrite or quote, got {kind!r}")


def random_positions(n: int, stride_max: float, rng) -> list[int]:
    """``n`` sorted distinct positions from a span of n to stride_max * n (randomised positional encodings)."""
    span = max(n, int(round(n * rng.uniform(1.0, stride_max))))
    return sorted(rng.sample(range(span), n))


def extract(text: str) -> str | None:
    m = _BOX.findall(text)
    return next((a or b for a, b in reversed(m)), None) if m else None


def train(model, tok, rows, target: str, steps: int, batch: int, lr: float, seed: int = 0, log_every: int = 50,
          callback=None, every: int = 0, stride_max: float = 0.0):
    import random

    import torch

    g = torch.Generator().manual_seed(seed)
    pos_rng = random.Random(seed)
    examples = []
    for r in rows:
        p = tok(r["prompt"])["input_ids"]
        full = tok(r["prompt"] + target_for(r, target))["input_ids"] + [tok.eos_token_id]
        examples.append((full, len(p)))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, betas=(0.9, 0.98))
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    model.train()
    t0, c0, n_tok = time.time(), time.process_time(), 0
    for step in range(steps):
        idx = torch.randint(len(examples), (batch,), generator=g).tolist()
        seqs = [examples[i] for i in idx]
        L = max(len(s) for s, _ in seqs)
        ids = torch.full((batch, L), tok.pad_token_id)
        labels = torch.full((batch, L), -100)
        att = torch.zeros((batch, L), dtype=torch.long)
        pos = torch.arange(L).repeat(batch, 1)
        for j, (s, np_) in enumerate(seqs):
            ids[j, : len(s)] = torch.tensor(s)
            labels[j, np_: len(s)] = torch.tensor(s[np_:])
            att[j, : len(s)] = 1
            if stride_max > 1.0:
                pos[j, : len(s)] = torch.tensor(random_positions(len(s), stride_max, pos_rng))
            n_tok += len(s) - np_
        loss = model(input_ids=ids, attention_mask=att, position_ids=pos, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:4d} loss {loss.item():.3f} {time.time() - t0:6.1f}s wall "
                  f"{time.process_time() - c0:6.1f}s cpu, target tokens {n_tok}", flush=True)
        if callback and every and (step + 1) % every == 0 and step + 1 < steps:
            t_cb, c_cb = time.time(), time.process_time()
            callback(step + 1)
            t0 += time.time() - t_cb  # evaluation time is not training time
            c0 += time.process_time() - c_cb
    return time.time() - t0, n_tok


def accuracy(model, tok, rows, max_new_tokens: int, batch: int = 64) -> float:
    import torch

    model.eval()
    tok.padding_side = "left"
    correct = 0
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            chunk = rows[i: i + batch]
            enc = tok([r["prompt"] for r in chunk], return_tensors="pt", padding=True)
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            correct += sum(extract(t) == r["answer"] for t, r in zip(texts, chunk))
    model.train()
    return correct / len(rows)


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rldistill.tasks.probe", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a `rldistill synth` folder")
    ap.add_argument("--student", required=True, help="a `rldistill student` folder (or any causal LM)")
    ap.add_argument("--target", default="compact", choices=["compact", "answer", "verbose", "rewrite", "quote"])
    ap.add_argument("--kinds", default=None, help="comma-separated kinds to keep in every split (default: all)")
    ap.add_argument("--position-stride-max", type=float, default=0.0,
                    help="train with random sorted position ids from a span up to this many times each length")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--n-eval", type=int, default=200)
    ap.add_argument("--styles", action="store_true", help="also report each styles/<style>.jsonl")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=0, help="also report accuracy (on --n-quick rows) every N steps")
    ap.add_argument("--n-quick", type=int, default=60)
    ap.add_argument("--save", default=None, help="save the trained model and tokenizer here")
    a = ap.parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rldistill.data import read_jsonl

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(a.student)
    model = AutoModelForCausalLM.from_pretrained(a.student)
    data = Path(a.data)
    max_new = 600 if a.target == "verbose" else 160 if a.target in ("rewrite", "quote") else 80
    kinds = set(a.kinds.split(",")) if a.kinds else None

    def load(split):
        rows = read_jsonl(data / f"{split}.jsonl")
        return [r for r in rows if kinds is None or r["kind"] in kinds]

    def quick(step):
        accs = {s: accuracy(model, tok, load(s)[: a.n_quick], max_new) for s in ("eval", "ood")}
        print(f"step {step:4d} quick accuracy " + " ".join(f"{k} {v:.3f}" for k, v in accs.items()), flush=True)

    secs, n_tok = train(model, tok, load("train"), a.target, a.steps, a.batch, a.lr,
                        callback=quick, every=a.eval_every, stride_max=a.position_stride_max)
    splits = ["eval", "ood"] + ([f"styles/{p.stem}" for p in sorted((data / "styles").glob("*.jsonl"))] if a.styles else [])
    if a.save:
        model.save_pretrained(a.save)
        tok.save_pretrained(a.save)
    print(f"trained {a.steps} steps x {a.batch} on {a.target!r} targets in {secs:.0f}s ({n_tok} target tokens)")
    for split in splits:
        rows = load(split)[: a.n_eval]
        t = time.time()
        acc = accuracy(model, tok, rows, max_new)
        print(f"{split:<20} greedy accuracy {acc:.3f} (n={len(rows)}, {time.time() - t:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
