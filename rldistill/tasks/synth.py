"""Write the embedded task's splits, with teacher traces, in the row schema.

    rldistill synth --out runs/tiny/data [--seed 0] [--train 2000] [--eval 200] [--ood 200] [--train-styles 0.5]

writes ``train.jsonl``, ``eval.jsonl``, ``ood.jsonl``, ``styles/<style>.jsonl``
(one per non-plain prompt style, each a restyled copy of ``eval``) and
``synth.json`` (the settings and counts). Rows: ``id``, ``prompt`` (plain
string), ``completion`` (the teacher's verbose trace), ``answer``,
``verifier="math"``, plus ``kind``, ``n_steps``, ``style`` and
``teacher_steps`` (the teacher's role annotations; for tests and probes only).
Kinds: all registered ones in rotation by default (``--kinds slots`` for the demo's).

Splits: ``train`` and ``eval`` share a distribution (``--steps``, default
2-4 steps) and are disjoint on the problem; ``ood`` has strictly more steps
(``--ood-steps``, default 5-6) of the same operations on the same numbers,
so a step-by-step procedure transfers to it and memorised answers do not.
``--train-styles F`` asks a fraction F of the training problems in the
non-plain styles, with wordings disjoint from the ``styles/*`` files (default
0: every training prompt plain).
Same seed, same files. Leaves out: any downloading.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict
from pathlib import Path

from rldistill.data import write_jsonl
from rldistill.tasks import Knobs, Problem, available_kinds, check_problem, get_kind
from rldistill.tasks.styles import STYLES
from rldistill.tasks.teacher import teach

TRAIN_STEPS = (2, 4)
OOD_STEPS = (5, 6)


def make_problems(seed, split: str, n: int, steps: tuple[int, int], kinds=None, knobs: Knobs = Knobs(),
                  exclude: set[str] = frozenset()) -> list[Problem]:
    """``n`` distinct problems, kinds in rotation, none whose key is in ``exclude``."""
    kinds = list(kinds or available_kinds())
    rng = random.Random(f"{seed}/{split}/problems")
    out, seen, tries = [], set(exclude), 0
    while len(out) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise ValueError(f"could only make {len(out)} distinct {split} problems of {n}: widen the knobs")
        p = get_kind(kinds[len(out) % len(kinds)])(rng, rng.randint(*steps), knobs)
        if p.key in seen:
            continue
        check_problem(p)
        seen.add(p.key)
        out.append(p)
    return out


def rows_for(problems: list[Problem], seed, split: str, style: str = "plain", mix: float = 0.0) -> list[dict]:
    """Rows asked in ``style`` (its held-out ``eval`` wordings); with ``mix`` > 0 (training), each problem is
    instead asked in a random non-plain style with probability ``mix``, in that style's ``train`` wordings."""
    rng = random.Random(f"{seed}/{split}/{style}/teacher")
    mix_rng = random.Random(f"{seed}/{split}/style-mix")
    others = [s for s in STYLES if s != "plain"]
    rows = []
    for i, p in enumerate(problems):
        asked, pool = style, "eval"
        if mix > 0 and mix_rng.random() < mix:
            asked, pool = mix_rng.choice(others), "train"
        prompt, final = STYLES[asked](p, rng, pool=pool)
        completion, segments = teach(p, rng, final=final)
        rows.append({"id": f"{split}-{i:05d}" + ("" if style == "plain" else f"-{style}"), "prompt": prompt,
                     "completion": completion, "answer": str(p.answer), "verifier": "math", "kind": p.kind,
                     "n_steps": len(p.steps), "style": asked, "teacher_steps": segments})
    return rows


def synth(out_dir, seed: int = 0, n_train: int = 2000, n_eval: int = 200, n_ood: int = 200, *, kinds=None,
          steps: tuple[int, int] = TRAIN_STEPS, ood_steps: tuple[int, int] = OOD_STEPS,
          knobs: Knobs = Knobs(), train_styles: float = 0.0) -> dict[str, Path]:
    """Write every split under ``out_dir``; return ``{split or "styles/<style>": path}``.

    ``train_styles``: the fraction of training problems asked in a non-plain style, in wordings that the
    ``styles/*`` files never use (``rldistill.tasks.styles``); ``eval`` and ``ood`` stay plain."""
    if ood_steps[0] <= steps[1]:
        raise ValueError(f"ood steps {ood_steps} must all exceed the train steps {steps}")
    if not 0.0 <= train_styles <= 1.0:
        raise ValueError(f"train_styles must be a fraction in [0, 1], got {train_styles}")
    out = Path(out_dir)
    eval_p = make_problems(seed, "eval", n_eval, steps, kinds, knobs)
    train_p = make_problems(seed, "train", n_train, steps, kinds, knobs, exclude={p.key for p in eval_p})
    ood_p = make_problems(seed, "ood", n_ood, ood_steps, kinds, knobs)
    paths = {
        "train": write_jsonl(rows_for(train_p, seed, "train", mix=train_styles), out / "train.jsonl"),
        "eval": write_jsonl(rows_for(eval_p, seed, "eval"), out / "eval.jsonl"),
        "ood": write_jsonl(rows_for(ood_p, seed, "ood"), out / "ood.jsonl"),
    }
    for style in STYLES:
        if style != "plain":
            paths[f"styles/{style}"] = write_jsonl(rows_for(eval_p, seed, "eval", style), out / "styles" / f"{style}.jsonl")
    manifest = {"seed": seed, "kinds": list(kinds or available_kinds()), "steps": list(steps),
                "ood_steps": list(ood_steps), "knobs": asdict(knobs), "train_styles": train_styles,
                "counts": {"train": len(train_p), "eval": len(eval_p), "ood": len(ood_p)}}
    (out / "synth.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return paths


def _range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    return int(lo), int(hi or lo)


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="rldistill synth", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train", type=int, default=2000, help="number of train problems")
    ap.add_argument("--eval", type=int, default=200, help="number of eval problems (each style restyles them)")
    ap.add_argument("--ood", type=int, default=200, help="number of ood problems")
    ap.add_argument("--kinds", default=None, help=f"comma-separated kinds (default: all of {available_kinds()})")
    ap.add_argument("--steps", type=_range, default=TRAIN_STEPS, help="train/eval steps, e.g. 2-4")
    ap.add_argument("--ood-steps", type=_range, default=OOD_STEPS, help="ood steps, e.g. 5-6")
    ap.add_argument("--train-styles", type=float, default=0.0,
                    help="fraction of train problems asked in a non-plain style, in wordings held out of styles/* (0-1)")
    ap.add_argument("--operand-max", type=int, default=Knobs.operand_max)
    ap.add_argument("--value-max", type=int, default=Knobs.value_max)
    ap.add_argument("--mul-max", type=int, default=Knobs.mul_max, help="largest multiplier")
    ap.add_argument("--mul-base-max", type=int, default=Knobs.mul_base_max, help="largest value that gets multiplied")
    ap.add_argument("--slots", type=int, default=Knobs.slots, help="cells per slots problem (at least its steps)")
    a = ap.parse_args(argv)
    knobs = Knobs(operand_max=a.operand_max, value_max=a.value_max, mul_max=a.mul_max, mul_base_max=a.mul_base_max,
                  slots=a.slots)
    paths = synth(a.out, a.seed, a.train, a.eval, a.ood, kinds=a.kinds.split(",") if a.kinds else None,
                  steps=a.steps, ood_steps=a.ood_steps, knobs=knobs, train_styles=a.train_styles)
    for name, path in paths.items():
        print(f"{name:<18} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
