"""``rldistill verify``: score a JSONL file of rows with their verifiers.

What it does: reads rows of the row schema (``completion``, ``answer``,
``verifier``; other columns pass through), scores each row with
``--verifier`` or, when that is not given, the row's own ``verifier``
column, in the worker pool (``verifiers.pool``, hard time limit per row),
optionally writes the rows back with ``score`` and ``reason`` added, and
prints a summary: rows, mean score (rows the verifier could judge), counts
per reason and throughput.

It leaves out generation: ``completion`` must already be in the file (a
teacher trace, or a model's output from ``rldistill eval``).

Run: ``rldistill verify --input rows.jsonl [--verifier math] [--output scored.jsonl]``
(or ``python -m verifiers.cli ...``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path


def read_rows(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{lineno}: not valid JSON ({e.msg})")
            if not isinstance(row, dict):
                raise SystemExit(f"{path}:{lineno}: a row must be a JSON object")
            rows.append(row)
    return rows


def summarize(verdicts, seconds: float) -> dict:
    judged = [v.score for v in verdicts if v.score is not None]
    return {
        "rows": len(verdicts),
        "judged": len(judged),
        "mean_score": sum(judged) / len(judged) if judged else None,
        "reasons": dict(Counter(v.reason for v in verdicts).most_common()),
        "seconds": round(seconds, 3),
        "rows_per_second": round(len(verdicts) / seconds, 1) if seconds > 0 else None,
    }


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rldistill verify", description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True, type=Path, help="JSONL rows with completion, answer, verifier")
    ap.add_argument("--verifier", default=None, help="verifier for every row (default: each row's 'verifier')")
    ap.add_argument("--output", type=Path, default=None, help="write the rows with 'score' and 'reason' here")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs, at most 8)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per row (default: the verifier's own)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args(argv)

    from verifiers.pool import VerifierPool
    from verifiers.registry import UnknownVerifierError, get_verifier

    rows = read_rows(args.input)
    names = []
    for i, row in enumerate(rows, 1):
        name = args.verifier or row.get("verifier")
        if not name:
            raise SystemExit(f"{args.input}: row {i} has no 'verifier' column; pass --verifier NAME")
        for field in ("completion", "answer"):
            if not isinstance(row.get(field), str):
                raise SystemExit(f"{args.input}: row {i} needs a string '{field}'")
        names.append(name)
    for name in sorted(set(names)):  # fail fast, in the parent, on a typo
        try:
            get_verifier(name)
        except UnknownVerifierError as e:
            raise SystemExit(str(e))

    start = time.perf_counter()
    with VerifierPool(workers=args.workers, timeout=args.timeout) as pool:
        verdicts = pool.score(names, [r["completion"] for r in rows], [r["answer"] for r in rows])
    summary = summarize(verdicts, time.perf_counter() - start)

    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            for row, v in zip(rows, verdicts):
                f.write(json.dumps({**row, "score": v.score, "reason": v.reason}, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(summary))
    else:
        mean = "n/a" if summary["mean_score"] is None else f"{summary['mean_score']:.4f}"
        print(f"rows: {summary['rows']}  judged: {summary['judged']}  mean score: {mean}")
        print("reasons: " + ", ".join(f"{k}={v}" for k, v in summary["reasons"].items()))
        print(f"throughput: {summary['rows_per_second']} rows/s ({summary['seconds']} s)")
        if args.output:
            print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
