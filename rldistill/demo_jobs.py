"""The demos' job layer: token-budget planning, one training or evaluation job, and a small scheduler.

``plan_steps`` turns a token budget into optimizer steps; ``train_stage`` builds a stage's trainer from an argv
list through the stage's own API (``sft``/``grpo``/``ppo``.``build_trainer``), trains and saves; ``run_jobs``
runs a dependency graph of such jobs on spawned worker processes of a few torch threads each, longest chain
first; a job with a ``save`` path keeps its result there with its ``fingerprint`` (arguments, input files, the
fingerprints of the jobs it needs), and ``finished`` reads back those still valid (a resumed run). Used by the embedded demo (``rldistill.demo``) and the real-student demo (``rldistill.demo_real``).

Left out: retries, and scheduling across machines (a job is a function call in a local process).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

log = logging.getLogger("rldistill.demo")


def row_tokens(path: Path, tokenizer) -> list[int]:
    """Tokens a trainer sees per row: prompt + completion + EOS (what SFT's num_tokens counts)."""
    from rldistill.data import read_jsonl

    rows = read_jsonl(path)
    return [len(tokenizer(r["prompt"] + r["completion"])["input_ids"]) + 1 for r in rows]


def plan_steps(tokens_per_row: list[int], budget: int, batch_size: int) -> int:
    """Optimizer steps so that steps x batch x mean tokens per row ≈ budget."""
    mean = sum(tokens_per_row) / len(tokens_per_row)
    return max(1, round(budget / (batch_size * mean)))


def steps_for(data: str, tokenizer: str, budget: int, batch_size: int) -> int:
    """``plan_steps`` from paths (used by scripts/demo.sh)."""
    from rldistill.models import load_tokenizer

    return plan_steps(row_tokens(Path(data), load_tokenizer(tokenizer)), budget, batch_size)


def _parse(module, argv: list[str]):
    from rldistill.config import parse_args

    return parse_args(module.make_parser(), argv)


def train_stage(module, argv: list[str]) -> dict:
    """Build the stage's trainer from an argv list, train, save; return what it logged."""
    s, t, m = _parse(module, argv)
    trainer = module.build_trainer(s, t, m)
    t0 = time.time()
    trainer.train()
    trainer.save_model(t.output_dir)
    secs = time.time() - t0
    hist = trainer.state.log_history
    tokens = max((h.get("num_tokens", 0) for h in hist), default=0)
    losses = [h["loss"] for h in hist if "loss" in h]
    rewards = [h["reward"] for h in hist if "reward" in h]
    if hasattr(trainer, "end"):  # TRL >= 1.x: closes trackers and the verifier pool's loggers
        trainer.end()
    return {"steps": trainer.state.global_step, "num_tokens": tokens, "seconds": round(secs, 1),
            "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
            "rewards": rewards}


def _run_job(kind: str, args: dict, threads: int):
    """One job, in a worker process (or inline): ``sft``/``grpo`` training from an argv, or ``eval`` of a model."""
    import importlib

    import torch

    torch.set_num_threads(threads)
    if not logging.getLogger().handlers:  # a fresh worker process
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if kind in ("sft", "grpo", "ppo"):
        return train_stage(importlib.import_module(f"rldistill.{kind}"), args["argv"])
    if kind == "eval":
        from rldistill.evaluate import evaluate_model

        return evaluate_model(**args)
    if kind == "call":  # any importable function: {"fn": "module:attr", "kwargs": {...}}
        mod, attr = args["fn"].split(":")
        return getattr(importlib.import_module(mod), attr)(**args.get("kwargs", {}))
    raise ValueError(f"unknown job kind {kind!r}")


def _save(job: dict, result) -> None:
    """Keep a finished job's result where ``job["save"]`` says, with the job's ``fingerprint`` (JSON; an eval
    result's tuple becomes a list)."""
    if job.get("save"):
        Path(job["save"]).parent.mkdir(parents=True, exist_ok=True)
        Path(job["save"]).write_text(json.dumps({"fingerprint": job.get("fingerprint"), "result": result}))


def fingerprint(argv: list[str], *files) -> str:
    """SHA-256 of a job's arguments and the contents of its input files: a saved result is reused only for
    the same job on the same data."""
    import hashlib

    h = hashlib.sha256(json.dumps(argv).encode())
    for f in files:
        if f:
            h.update(Path(f).read_bytes())
    return h.hexdigest()


def finished(jobs: dict) -> dict:
    """The results of the jobs whose saved result exists for the same fingerprint (what ``--resume`` reuses)."""
    out = {}
    for name, job in jobs.items():
        f = Path(job.get("save") or "")
        if not (job.get("save") and f.is_file()):
            continue
        saved = json.loads(f.read_text())
        if saved.get("fingerprint") != job.get("fingerprint"):
            log.info("not reusing %s: its arguments or data changed", name)
            continue
        out[name] = tuple(saved["result"]) if job["kind"] == "eval" else saved["result"]
    while True:  # a result whose prerequisite is to be redone is stale: redo it too
        stale = [n for n in out if any(d not in out for d in jobs[n].get("deps", ()))]
        if not stale:
            return out
        for n in stale:
            del out[n]


def run_jobs(jobs: dict[str, dict], workers: int, threads: int, timings: dict, done: dict | None = None) -> dict:
    """Run ``{name: {"kind", "args", "deps", "priority"}}`` respecting ``deps``, ``workers`` at a time.

    A ready job with the lowest ``priority`` starts first whenever a worker is
    free (the demo puts the longest chain, verbose SFT → GRPO → eval, first).
    Workers are spawned processes with ``threads`` torch threads each; with
    ``workers <= 1`` the jobs run in this process. Returns ``{name: result}``;
    a failing job raises with its name. ``done`` holds results of jobs not to run again (a resumed
    run); a job with a ``"save"`` path writes its result there as JSON when it finishes.
    """
    results: dict = dict(done or {})

    def ready():
        return sorted((n for n, j in jobs.items() if n not in results and n not in running
                       and all(d in results for d in j.get("deps", ()))), key=lambda n: jobs[n].get("priority", 0))

    running: dict = {}
    if workers <= 1:
        while len(results) < len(jobs):
            todo = ready()
            if not todo:
                raise ValueError(f"job dependencies cannot be met: {sorted(set(jobs) - set(results))}")
            n = todo[0]
            t0 = time.time()
            results[n] = _run_job(jobs[n]["kind"], jobs[n]["args"], threads)
            _save(jobs[n], results[n])
            timings[n] = round(time.time() - t0, 1)
            log.info("%s done in %.0fs", n, timings[n])
        return results
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        futures: dict = {}
        while len(results) < len(jobs):
            for n in ready()[: workers - len(running)]:
                running[n] = time.time()
                futures[ex.submit(_run_job, jobs[n]["kind"], jobs[n]["args"], threads)] = n
            if not futures:
                raise ValueError(f"job dependencies cannot be met: {sorted(set(jobs) - set(results))}")
            finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for f in finished:
                n = futures.pop(f)
                try:
                    results[n] = f.result()
                    _save(jobs[n], results[n])
                except Exception as e:
                    raise RuntimeError(f"demo job {n!r} failed: {e}") from e
                timings[n] = round(time.time() - running.pop(n), 1)
                log.info("%s done in %.0fs", n, timings[n])
    return results
