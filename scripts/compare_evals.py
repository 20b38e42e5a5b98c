"""Paired comparison of two ``rldistill eval`` runs of the same problems (two settings of one model, or two
models evaluated apart): accuracy per suite, the paired difference with its bootstrap 95% interval
(``rldistill.evaluate.compare``), and how many completions are identical.

    python scripts/compare_evals.py runs/probe/accbig_bfloat16 runs/probe/accbig_float32 [--model sft]

Reads ``<run>/generations/<model>/<suite>.jsonl`` (the ``correct`` and ``completion`` fields, matched by ``id``);
``--model`` picks the model when a run holds several (default: the only one). Suites missing from either run are
skipped; problems present in only one run are an error, named with the file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def load_run(run: Path, model: str | None) -> dict[str, dict[str, dict]]:
    models = sorted(p.name for p in (run / "generations").iterdir() if p.is_dir())
    if model is None and len(models) != 1:
        raise SystemExit(f"{run}: holds models {models}; pick one with --model")
    gen = run / "generations" / (model or models[0])
    return {f.stem: {(r := json.loads(line))["id"]: r for line in open(f)} for f in sorted(gen.glob("*.jsonl"))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path, help="eval output folder (the difference is a - b)")
    ap.add_argument("b", type=Path)
    ap.add_argument("--model", default=None)
    a = ap.parse_args(argv)
    from rldistill.evaluate import compare

    runs = {"a": load_run(a.a, a.model), "b": load_run(a.b, a.model)}
    print(f"a = {a.a}\nb = {a.b}\n{'suite':>10} {'n':>6} {'a %':>6} {'b %':>6} {'a - b':>7} {'95% CI':>15} {'identical':>10}")
    for suite in [s for s in runs["a"] if s in runs["b"]]:
        ra, rb = runs["a"][suite], runs["b"][suite]
        if set(ra) != set(rb):
            raise SystemExit(f"{a.a}/generations: suite {suite!r} holds other problems than {a.b}'s "
                             f"({len(set(ra) ^ set(rb))} ids differ)")
        ids = sorted(ra)
        va, vb = [bool(ra[i]["correct"]) for i in ids], [bool(rb[i]["correct"]) for i in ids]
        d = compare({"a": {suite: va}, "b": {suite: vb}}, reference="b")["a - b"][suite]
        same = sum(ra[i]["completion"] == rb[i]["completion"] for i in ids)
        ci = f"{100 * d['low']:+.1f} to {100 * d['high']:+.1f}"
        print(f"{suite:>10} {len(ids):>6} {100 * sum(va) / len(ids):>6.1f} {100 * sum(vb) / len(ids):>6.1f} "
              f"{100 * d['diff']:>+7.1f} {ci:>15} {same:>6}/{len(ids)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
