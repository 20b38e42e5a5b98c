"""Compress verified teacher traces for SFT: ``rldistill compress``.

    rldistill compress --input runs/tiny/data/train.jsonl --output runs/tiny/compressed.jsonl --method verified
    rldistill compress --input ../shared/data/skythought_longcot_traces/math500_sky-t1-math-correct-5k-27b.jsonl \\
        --output runs/sky/verified.jsonl --method verified [--budget 0.35] [--granularity compact] [--tokenizer ID]

What it does, per row: (1) teacher filter - the trace's final answer must
verify against the gold answer with the row's verifier, else the row is
dropped and counted; (2) a ``--long-fraction`` of the remaining rows is kept
uncompressed (small students learn better from a long:short mix); (3) the
compressor named by ``--method`` runs (``rldistill.compressors``: none,
answer_only, rule, steps, verified, or your own); (4) re-verification: the
output must still verify and end in the same final answer (same ``\\boxed{}``
for math). A row that fails falls back to the next, less aggressive
compressor (``verified -> steps -> rule`` by default, ``--fallback``) or is
dropped, and is counted; (5) form check (``rldistill.quality``): each output
row must be whole units of its own teacher trace, a lead-in with the unit it
introduces, brackets balanced; violations are counted per kind in the stats,
never fixed silently. Each output row keeps its input's ``id``, ``prompt``
and other columns; ``completion`` is the compressed trace and the new column
``compression`` names the compressor that produced it.

Outputs: ``DST`` ending in ``.jsonl`` is written as JSON Lines, anything else
as a ``datasets`` folder (``save_to_disk``). The statistics go next to it:
``DST`` with ``.jsonl`` replaced by ``.stats.json`` (``runs/tiny/compressed.stats.json``),
or ``DST/stats.json`` for a folder. They hold rows in / teacher-wrong /
dropped after compression / out, which compressor produced each row, tokens
before and after (the ``--tokenizer``'s tokens, else characters) and their
ratio, the steps removed per role, and the form violations (``violations``:
totals per kind, rows with any, the first such row ids).

Rows are verified in batches through ``verifiers.pool`` (hard time limits);
compression runs in a process pool for inputs of 2,000 rows or more
(``--workers``). ``--proxy-model ID`` orders ``verified``'s candidate
deletions by a small model's likelihood of what remains (``rldistill.proxy``). Options may also come from ``--config YAML`` (keys = option names);
flags given on the command line win. Leaves out: rewriting traces with a
model; every compressed trace is a subsequence of the teacher's own steps.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

import rldistill.proxy  # noqa: F401  (registers --method proxy)
from rldistill.compressors import (GRANULARITIES, Compressed, Example, available_compressors, get_compressor,
                                   last_boxed, register_compressor)

log = logging.getLogger("rldistill.compress")

__all__ = ["compress_dataset", "register_compressor", "get_compressor", "available_compressors", "cli"]

# Less aggressive compressors to try, in order, when a row's output does not re-verify.
FALLBACKS = {"verified": ["steps", "rule"], "proxy": ["verified", "steps", "rule"], "steps": ["rule"], "answer_only": [],
             "rule": [], "none": []}
DEFAULT_GRANULARITY = {"verified": "equations", "steps": "compact", "rule": "compact", "none": "sentences"}


# --------------------------------------------------------------------------- verification


def score(names: list[str], completions: list[str], answers: list[str], timeout: float | None = None):
    """Verdict scores for many rows: the worker pool with hard limits, or in process if there is none."""
    if not completions:
        return []
    try:
        from verifiers.pool import score_batch
    except ImportError:  # pool not installed: same verifiers, no hard limit
        from verifiers import get_verifier

        return [get_verifier(n)(c, a) for n, c, a in zip(names, completions, answers)]
    return score_batch(names, completions, answers, timeout=timeout)


def _text_prompt(prompt) -> str:
    if isinstance(prompt, list):  # chat messages
        return "\n".join(str(m.get("content", "")) for m in prompt if isinstance(m, dict))
    return str(prompt or "")


# --------------------------------------------------------------------------- workers

_STATE: dict = {}


def _counter(tokenizer):
    """``count(text) -> int``: the tokenizer's tokens, or characters without one."""
    if tokenizer is None:
        return len
    if isinstance(tokenizer, str):
        from rldistill.models import load_tokenizer

        tokenizer = load_tokenizer(tokenizer)
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _init(tokenizer, opts):
    _STATE["count"] = _counter(tokenizer)
    _STATE["opts"] = opts


def _compress_one(job):
    """Run one compressor on one row; returns ``(text or None, removed steps per role, error)``."""
    method, completion, prompt, answer, verifier = job
    ex = Example(completion, prompt, answer, verifier, unit=_STATE["opts"].get("unit", "sentence"), count=_STATE["count"])
    opts = dict(_STATE["opts"])
    opts.pop("unit", None)
    if opts.get("granularity") is None:
        opts["granularity"] = DEFAULT_GRANULARITY.get(method, "compact")
    try:
        out = get_compressor(method)(ex, **opts)
    except Exception as e:  # noqa: BLE001  (a user's compressor failing on one row falls back; counted)
        return None, {}, f"{type(e).__name__}: {e}"
    if out is None:
        return None, {}, None
    removed: Counter = Counter()
    if isinstance(out, Compressed):
        removed.update(s.role for s in ex.steps if s.index not in out.kept)
    return str(out), dict(removed), None


def _run_all(jobs, tokenizer, opts, workers, progress, desc):
    from tqdm.auto import tqdm

    bar = dict(total=len(jobs), desc=desc, disable=not progress, mininterval=1.0)
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork" if sys.platform != "win32" else "spawn").Pool(
                workers, initializer=_init, initargs=(tokenizer, opts)) as pool:
            return list(tqdm(pool.imap(_compress_one, jobs, chunksize=64), **bar))
    _init(tokenizer, opts)
    return [_compress_one(j) for j in tqdm(jobs, **bar)]


# --------------------------------------------------------------------------- the stage


def compress_dataset(ds, method: str = "verified", budget: float | None = None, long_fraction: float = 0.0,
                     tokenizer=None, seed: int = 0, *, granularity: str | None = None, unit: str = "sentence",
                     fallback: list[str] | None = None, workers: int | None = None, workers_from: int = 2000,
                     proxy_model: str | None = None, progress: bool | None = None, timeout: float | None = None,
                     keep: tuple[str, ...] = ()):
    """Compress ``ds`` (a ``Dataset`` or a list of row dicts); returns ``(Dataset, stats)``.

    See the module docstring for the steps and ``stats``. ``tokenizer`` is a
    tokenizer or a model id/path (token counts and ``budget`` in its tokens;
    characters without one).
    """
    from datasets import Dataset

    t0 = time.time()
    get_compressor(method)  # fail early on an unknown name
    if method == "proxy" and proxy_model is None:
        raise ValueError("method 'proxy' needs a model: proxy_model= (--proxy-model ID, a hub id or a local directory)")
    if budget is not None and not 0 < budget <= 1:
        raise ValueError(f"budget must be in (0, 1], got {budget}")
    if not 0 <= long_fraction <= 1:
        raise ValueError(f"long_fraction must be in [0, 1], got {long_fraction}")
    if granularity is not None and granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    chain = [method] + list(FALLBACKS.get(method, []) if fallback is None else fallback)
    rows = [dict(r) for r in ds]
    n = len(rows)
    progress = n >= 1000 if progress is None else progress
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if n >= workers_from else 1
    if proxy_model is not None:
        workers = 1  # the proxy model lives in this process
    names = [r.get("verifier") or "math" for r in rows]
    answers = [str(r.get("answer", "")) for r in rows]
    completions = [r.get("completion") or "" for r in rows]

    # 1. teacher filter
    verdicts = score(names, completions, answers, timeout)
    ok = [i for i, v in enumerate(verdicts) if v.score == 1.0]
    wrong = Counter(v.reason if v.score is not None else f"cannot_judge:{v.reason}"
                    for v in verdicts if v.score != 1.0)
    # 2. rows kept long
    rng = random.Random(seed)
    long_rows = set(rng.sample(ok, round(long_fraction * len(ok)))) if long_fraction else set()
    out: dict[int, tuple[str, str]] = {i: (completions[i], "none(long)") for i in long_rows}
    removed: Counter = Counter()
    errors: Counter = Counter()
    pending = [i for i in ok if i not in long_rows]
    from rldistill.segment import ROLES

    bad = [r for r in keep if r not in ROLES]
    if bad:
        raise ValueError(f"keep: unknown role(s) {bad}; roles are {list(ROLES)}")
    opts = {"budget": budget, "granularity": granularity, "unit": unit, **({"keep": tuple(keep)} if keep else {})}
    if proxy_model is not None:
        from rldistill.proxy import ProxyScorer

        opts["proxy"] = ProxyScorer(proxy_model)
    # 3-4. compress, re-verify, fall back
    for m in chain:
        if not pending:
            break
        jobs = [(m, completions[i], _text_prompt(rows[i].get("prompt")), answers[i], names[i]) for i in pending]
        m_opts = dict(opts, granularity=granularity if m == method else None)
        if m not in ("verified", "proxy"):
            m_opts.pop("proxy", None)
        results = _run_all(jobs, tokenizer, m_opts, workers, progress, f"compress[{m}]")
        cand = [(i, r) for i, r in zip(pending, results) if r[0] is not None]
        errors.update(r[2] for r in results if r[2])
        scores = score([names[i] for i, _ in cand], [r[0] for _, r in cand], [answers[i] for i, _ in cand], timeout)
        passed = set()
        for (i, (text, rem, _)), v in zip(cand, scores):
            box = last_boxed(completions[i])
            if v.score == 1.0 and (box is None or last_boxed(text) == box):
                out[i] = (text, m)
                removed.update(rem)
                passed.add(i)
        pending = [i for i in pending if i not in passed]
    dropped = len(pending)

    count = _counter(tokenizer)
    kept_idx = sorted(out)
    before = sum(count(completions[i]) for i in kept_idx)
    after = sum(count(out[i][0]) for i in kept_idx)
    new_rows = []
    for i in kept_idx:
        r = dict(rows[i])
        r["completion"], r["compression"] = out[i]
        new_rows.append(r)
    from rldistill.quality import summarise, violations

    # 5. form: every output row is whole units of its own teacher trace (counted, never silently fixed)
    quality = summarise([violations(completions[i], out[i][0], _text_prompt(rows[i].get("prompt"))) for i in kept_idx],
                        [rows[i].get("id", i) for i in kept_idx])
    total_removed = sum(removed.values()) or 1
    stats = {
        "method": method, "fallback": chain[1:], "granularity": granularity or DEFAULT_GRANULARITY.get(method),
        "keep": list(keep),
        "budget": budget, "long_fraction": long_fraction, "seed": seed,
        "unit": "tokens" if tokenizer is not None else "chars",
        "tokenizer": tokenizer if isinstance(tokenizer, str) or tokenizer is None else getattr(tokenizer, "name_or_path", "?"),
        "rows_in": n, "teacher_wrong": n - len(ok), "teacher_wrong_reasons": dict(wrong),
        "long_uncompressed": len(long_rows), "dropped_after_compression": dropped, "rows_out": len(new_rows),
        "rows_kept_fraction": len(new_rows) / len(ok) if ok else 0.0,
        "produced_by": dict(Counter(m for _, m in out.values())),
        "tokens_before": before, "tokens_after": after, "ratio": after / before if before else 0.0,
        "removed_roles": {role: {"steps": c, "fraction": c / total_removed} for role, c in removed.most_common()},
        "violations": quality,
        "compressor_errors": dict(errors), "seconds": round(time.time() - t0, 2),
    }
    if opts.get("proxy") is not None:
        opts["proxy"].close()
    return Dataset.from_list(new_rows) if new_rows else Dataset.from_dict({k: [] for k in rows[0]} if rows else {}), stats


def stats_path(dst) -> Path:
    """Where ``stats.json`` goes for output ``dst`` (see the module docstring)."""
    dst = Path(dst)
    if dst.name.endswith(".jsonl"):
        return dst.with_name(dst.name[: -len(".jsonl")] + ".stats.json")
    return dst / "stats.json"


def save(ds, dst) -> Path:
    dst = Path(dst)
    if dst.name.endswith(".jsonl"):
        from rldistill.data import write_jsonl

        write_jsonl(ds, dst)
    else:
        ds.save_to_disk(str(dst))
    return dst


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="rldistill compress",
                                 description="Compress verified teacher traces for SFT (see rldistill/compress.py).",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--config", help="YAML file whose keys are these options (flags given here win)")
    ap.add_argument("--input", help="anything rldistill.data.load_traces reads")
    ap.add_argument("--output", help="DST.jsonl, or a folder for a saved dataset")
    ap.add_argument("--method", default="verified", help=f"one of {available_compressors()} or 'module:attr'")
    ap.add_argument("--budget", type=float, default=None, help="keep at most this fraction of each trace's tokens")
    ap.add_argument("--granularity", choices=GRANULARITIES, default=None,
                    help="equations | compact | sentences (default per method: verified=equations, else compact)")
    ap.add_argument("--long-fraction", type=float, default=0.0, help="fraction of rows kept uncompressed")
    ap.add_argument("--tokenizer", default=None, help="count tokens with this tokenizer (id or path); else characters")
    ap.add_argument("--unit", choices=("sentence", "line", "paragraph"), default="sentence", help="what a step is")
    ap.add_argument("--keep", default="", help="comma-separated step roles never deleted, e.g. restate,plan")
    ap.add_argument("--fallback", default=None, help="comma-separated compressors to try when a row fails ('' = drop)")
    ap.add_argument("--proxy-model", default=None,
                    help="the model that scores steps for --method proxy (or orders verified's deletions)")
    ap.add_argument("--split", default="train", help="split to read when --input is a folder or hub id")
    ap.add_argument("--verifier", default="math", help="verifier for rows without a 'verifier' column")
    ap.add_argument("--limit", type=int, default=None, help="only the first N rows")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None, help="compression processes (default: CPUs, for large inputs)")
    ap.add_argument("--timeout", type=float, default=None, help="per-row verifier time limit in seconds")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    return ap


def cli(argv=None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    if args.config:
        import yaml

        conf = yaml.safe_load(Path(args.config).read_text()) or {}
        known = {a.dest for a in ap._actions}
        conf = {k.replace("-", "_"): v for k, v in conf.items()}
        unknown = sorted(set(conf) - known)
        if unknown:
            ap.error(f"{args.config}: unknown keys {unknown}")
        ap.set_defaults(**conf)
        args = ap.parse_args(argv)
    if not args.input or not args.output:
        ap.error("--input and --output are required (on the command line or in --config)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from rldistill.data import load_traces

    ds = load_traces(args.input, split=args.split, verifier=args.verifier)
    if args.limit is not None:
        ds = ds.select(range(min(args.limit, len(ds))))
    fallback = None if args.fallback is None else [m for m in args.fallback.split(",") if m]
    out, stats = compress_dataset(ds, args.method, args.budget, args.long_fraction, args.tokenizer, args.seed,
                                  granularity=args.granularity, unit=args.unit, fallback=fallback,
                                  keep=tuple(r.strip() for r in (args.keep or "").split(",") if r.strip()),
                                  workers=args.workers, proxy_model=args.proxy_model,
                                  progress=False if args.quiet else None, timeout=args.timeout)
    dst = save(out, args.output)
    sp = stats_path(dst)
    sp.parent.mkdir(parents=True, exist_ok=True)
    stats["input"], stats["output"] = str(args.input), str(dst)
    sp.write_text(json.dumps(stats, indent=2) + "\n")
    print(f"{args.method}: {stats['rows_in']} rows in, {stats['teacher_wrong']} teacher-wrong, "
          f"{stats['dropped_after_compression']} dropped after compression, {stats['rows_out']} out; "
          f"{stats['unit']} kept {stats['ratio']:.1%} ({stats['tokens_after']}/{stats['tokens_before']}), "
          f"{stats['violations']['total']} form violations in {stats['violations']['rows_with_violations']} rows "
          f"in {stats['seconds']}s -> {dst} (stats: {sp})")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
