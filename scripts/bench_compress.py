"""Compression figures per method: decision points kept on GSM8K teacher traces, characters kept on Sky-T1.

    python -m rldistill.tasks.gsm8k_teacher --input ../shared/data/gsm8k/train.jsonl \\
        --output runs/gsm8k/verbose.jsonl --limit 500
    python scripts/bench_compress.py --gsm8k runs/gsm8k/verbose.jsonl \\
        --sky ../shared/data/skythought_longcot_traces/math500_sky-t1-math-correct-5k-27b.jsonl \\
        [--methods none,rule,steps,verified,answer_only] [--why verified]
    python scripts/bench_compress.py --gsm8k runs/gsm8k/verbose.jsonl --sky ... \
        --proxy-model /work/models/smollm2 --proxy-limit 40 [--threads 1] [--dtype-check 8]

GSM8K (rows from ``rldistill.tasks.gsm8k_teacher``, whose ``decision_results``
column lists every calculator-annotated result): per method, the share of
input rows whose compressed completion keeps every annotated result (a result
is kept when its number appears in the completion; a row the stage dropped
counts as not kept), the same share over the rows out, and the share of
characters dropped (1 - characters after / before, over the rows out).
Sky-T1: rows out and the share of characters kept. Both: the quality
checker's violations when ``stats.json`` reports them, and rows per second.
``--proxy-model`` adds ``--method proxy`` (on the first ``--proxy-limit``
rows, with every other method re-run on the same rows, named ``M@N``);
``--dtype-check N`` times the proxy's scoring in float32 and bfloat16 on N
rows and says how well the two rankings agree. The load average at the
start is printed: on a shared machine the timings move with it.

``--why M`` explains method ``M``'s misses on GSM8K: for each annotated result
it lost, whether the step that computed it was kept but rendered without the
number, or deleted (by the role ``rldistill.segment`` gave that step, and
whether the prompt also states the number). Every figure runs the same
``compress_dataset`` that ``rldistill compress`` runs. Leaves out: token
counts (characters only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter

METHODS = ("none", "rule", "steps", "verified", "answer_only")


def _violations(stats: dict):
    """The quality checker's total, if this version of ``compress`` reports one."""
    v = stats.get("violations")
    return v.get("total") if isinstance(v, dict) else v


def run(rows, method, proxy_model=None):
    from rldistill.compress import compress_dataset

    t0 = time.perf_counter()
    ds, stats = compress_dataset(rows, method=method, progress=False, proxy_model=proxy_model)
    return list(ds), stats, time.perf_counter() - t0


def dtype_check(rows, model, n) -> dict:
    """Step importances of the first ``n`` rows under float32 and bfloat16: seconds each, how well the
    bfloat16 ranking agrees (Spearman per row, averaged; same least-important step), and the float32
    median importance per teacher role (steps that fall in one teacher segment)."""
    import torch

    from rldistill.compressors import Example
    from rldistill.proxy import ProxyScorer

    out, imps = {}, {}
    for dtype in ("float32", "bfloat16"):
        sc = ProxyScorer(model, dtype=dtype)
        t0 = time.perf_counter()
        imps[dtype] = []
        for r in rows[:n]:
            ex = Example(r["completion"], r["prompt"], r["answer"])
            imps[dtype].append(sc.importance(ex, [s.index for s in ex.steps if not s.final]))
        out[f"{dtype}_seconds"] = round(time.perf_counter() - t0, 1)

    def ranks(xs):
        return torch.tensor(xs).argsort().argsort().float()

    by_role: dict[str, list[float]] = {}  # float32 importance by the teacher's own role for the step
    for r, imp in zip(rows[:n], imps["float32"]):
        ex = Example(r["completion"], r["prompt"], r["answer"])
        for i, v in imp.items():
            t = ex.steps[i].text.strip()
            roles = {seg["role"] for seg in r["teacher_steps"] if t in seg["text"] or seg["text"].strip() in t}
            if v is not None and len(roles) == 1:
                by_role.setdefault(roles.pop(), []).append(v)
    out["median_by_teacher_role"] = {k: round(float(torch.tensor(v).median()), 2) for k, v in sorted(by_role.items())}
    rho, same = [], 0
    for a, b in zip(imps["float32"], imps["bfloat16"]):
        keys = [k for k in a if a[k] is not None and b[k] is not None]
        ra, rb = ranks([a[k] for k in keys]), ranks([b[k] for k in keys])
        rho.append(float(torch.corrcoef(torch.stack([ra, rb]))[0, 1]))
        same += min(keys, key=a.get) == min(keys, key=b.get)
    out.update(rows=n, spearman_mean=round(sum(rho) / len(rho), 3), same_least_important=f"{same}/{n}")
    return out


def gsm8k_figures(rows, method, proxy_model=None) -> dict:
    from rldistill.tasks.gsm8k_teacher import kept_results

    out, stats, secs = run(rows, method, proxy_model)
    full = sum(all(kept_results(r["completion"], r["decision_results"])) for r in out)
    return {"method": method, "rows_in": len(rows), "rows_out": len(out), "all_results_kept": full / len(rows),
            "all_results_kept_of_out": full / len(out) if out else 0.0, "chars_dropped": 1 - stats["ratio"],
            "violations": _violations(stats), "produced_by": stats["produced_by"], "seconds": round(secs, 1),
            "rows_per_s": round(len(rows) / secs, 3)}


def sky_figures(rows, method, proxy_model=None) -> dict:
    out, stats, secs = run(rows, method, proxy_model)
    return {"method": method, "rows_in": len(rows), "rows_out": len(out), "chars_kept": stats["ratio"],
            "violations": _violations(stats), "seconds": round(secs, 1), "rows_per_s": round(len(rows) / secs, 3)}


def why(rows, method, granularity=None, proxy_model=None) -> Counter:
    """Where ``method``'s lost annotated results went (see the module docstring)."""
    from rldistill.compress import DEFAULT_GRANULARITY
    from rldistill.compressors import Compressed, Example, get_compressor
    from rldistill.equations import numbers_in
    from rldistill.tasks.gsm8k_teacher import kept_results

    opts = {"granularity": granularity or DEFAULT_GRANULARITY.get(method, "compact")}
    if proxy_model:
        from rldistill.proxy import ProxyScorer

        opts["proxy"] = ProxyScorer(proxy_model)
    causes: Counter = Counter()
    for r in rows:
        ex = Example(r["completion"], r["prompt"], r["answer"], r["verifier"])
        out = get_compressor(method)(ex, **opts)
        if out is None:  # a wrong equation it could not delete; say which kind
            bad = next((s for s in ex.steps if s.check == "fail" and (s.final or s.role != "backtrack" or "\n\n" in s.text)),
                       next((s for s in ex.steps if s.check == "fail"), None))
            kind = ("no wrong equation?" if bad is None else
                    "a step spanning a paragraph break" if "\n\n" in bad.text else
                    "a slip whose numbers later steps use" if bad.role == "backtrack" else
                    f"a right line read as a wrong equation ({bad.role})")
            causes[f"row given up (stage falls back): {kind}"] += 1
            continue
        kept = out.kept if isinstance(out, Compressed) else set()
        # The teacher's segment that states each annotated result: the human line.
        lines = [seg["text"].strip() for seg in r["teacher_steps"] for _ in seg.get("results") or ()]
        for k, (v, ok) in enumerate(zip(r["decision_results"], kept_results(str(out), r["decision_results"]))):
            if ok:
                continue
            line = lines[k]
            held = [s for s in ex.steps if s.text.strip() in line or line in s.text]
            if any(s.index in kept for s in held):
                causes["line kept, but rendered without the number"] += 1
                continue
            key = set(numbers_in(v))
            roles = "+".join(sorted({s.role for s in held})) or "?"
            read = "read as a result" if any(key & s.results for s in held) else "not read as a result"
            seen = ("number in the prompt" if key & set(numbers_in(r["prompt"])) else
                    "number stated earlier" if any(key & set(numbers_in(s.text)) for s in ex.steps[: held[0].index])
                    else "new number") if held else "?"
            causes[f"line deleted: segmented as {roles}, {read}, {seen}"] += 1
    return causes


def _table(rows: list[dict], cols: list[str]) -> str:
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gsm8k", help="rows written by rldistill.tasks.gsm8k_teacher")
    ap.add_argument("--sky", help="Sky-T1 traces (any file rldistill.data.load_traces reads)")
    ap.add_argument("--limit", type=int, default=500, help="first N rows of each file")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--proxy-model", default=None, help="also run --method proxy with this model (id or directory)")
    ap.add_argument("--proxy-limit", type=int, default=None, help="first N rows only for the proxy runs (slow)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    ap.add_argument("--dtype-check", type=int, default=0, help="compare float32 and bfloat16 scoring on N GSM8K rows")
    ap.add_argument("--why", default=None, help="explain this method's lost results on GSM8K")
    ap.add_argument("--json", default=None, help="also write every figure to this file")
    args = ap.parse_args(argv)
    from rldistill.data import load_traces

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    with_proxy = args.proxy_model and args.proxy_limit != 0  # --proxy-limit 0: only the --dtype-check
    runs = [(m, None) for m in methods] + ([("proxy", args.proxy_model)] if with_proxy else [])
    report = {"load_average_at_start": os.getloadavg(), "cpus": os.cpu_count()}
    if args.gsm8k:
        rows = [dict(r) for r in load_traces(args.gsm8k)][: args.limit]
        report["gsm8k"] = [gsm8k_figures(rows if p is None else rows[: args.proxy_limit], m, p) for m, p in runs]
        if with_proxy and args.proxy_limit:  # the rule-based methods on the proxy's rows too
            report["gsm8k"] += [dict(gsm8k_figures(rows[: args.proxy_limit], m), method=f"{m}@{args.proxy_limit}")
                                for m in methods]
        if runs:
            print(f"GSM8K teacher traces ({args.gsm8k}, {len(rows)} rows)")
            print(_table(report["gsm8k"], ["method", "rows_in", "rows_out", "all_results_kept",
                                           "all_results_kept_of_out", "chars_dropped", "violations", "rows_per_s"]))
        if args.why:
            causes = why(rows, args.why, proxy_model=args.proxy_model if args.why == "proxy" else None)
            report["why"] = dict(causes)
            print(f"\nwhere {args.why}'s lost annotated results went (results, not rows):")
            for k, v in causes.most_common():
                print(f"  {v:5d}  {k}")
    if args.sky:
        rows = [dict(r) for r in load_traces(args.sky)][: args.limit]
        report["sky"] = [sky_figures(rows if p is None else rows[: args.proxy_limit], m, p) for m, p in runs]
        if with_proxy and args.proxy_limit:
            report["sky"] += [dict(sky_figures(rows[: args.proxy_limit], m), method=f"{m}@{args.proxy_limit}")
                              for m in methods]
        print(f"\nSky-T1 ({args.sky}, {len(rows)} rows)")
        print(_table(report["sky"], ["method", "rows_in", "rows_out", "chars_kept", "violations", "rows_per_s"]))
    if args.dtype_check and args.gsm8k and args.proxy_model:
        report["dtype_check"] = dtype_check([dict(r) for r in load_traces(args.gsm8k)], args.proxy_model, args.dtype_check)
        print("\nproxy scoring, float32 vs bfloat16:", report["dtype_check"])
    print(f"\nload average at start {report['load_average_at_start']}, {report['cpus']} CPUs")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
