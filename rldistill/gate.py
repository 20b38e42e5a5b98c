"""Gate RL on pass@k: run GRPO only where the SFT model already solves the RL problems sometimes.

    from rldistill.gate import pass_at_k, gated_grpo
    pass_at_k("runs/demo/models/compressed_sft", rows, k=8)   # -> {"pass_at_k": 0.41, "mean_correct": 0.12, ...}

GRPO's advantage is a reward's spread within a group of samples: on a problem no
sample solves, every advantage is zero and the step learns nothing. So before an
RL stage on a set of problems (in the embedded demo, problems one step longer
than any in SFT), ``pass_at_k`` samples ``k`` completions (temperature 1) for
``n`` of them and scores each with the row's verifier (through ``rldistill.evaluate``); ``gated_grpo`` trains
only when the fraction of problems with at least one correct sample reaches
``min_pass``, and otherwise saves the SFT model unchanged as the RL arm's model
and says so in its result (the report prints it). Left out: per-problem
filtering (TRL's dynamic sampling, ``--dynamic_sampling drop``, does that during
training) and any other RL algorithm (PPO takes the same gate by hand).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger("rldistill.gate")


def pass_at_k(model_dir: str | Path, rows: list[dict], k: int = 8, n: int = 32, max_new_tokens: int = 256,
              seed: int = 0, chat_template: bool = False) -> dict:
    """Sample ``k`` completions for each of the first ``n`` rows (``rldistill.evaluate``'s sampling and scoring,
    without token budgets); return the share of rows with at least one correct completion (``pass_at_k``), the
    share of correct samples (``mean_correct``) and the counts."""
    from rldistill.evaluate import EvalConfig, evaluate_suite
    from rldistill.generation import Generator

    rows = rows[:n]
    if not rows:
        raise ValueError("pass_at_k needs at least one row")
    cfg = EvalConfig(max_new_tokens=max_new_tokens, temperature=1.0, n_samples=k, seed=seed, stop_at_answer=True,
                     chat_template=chat_template)
    out, _ = evaluate_suite(Generator(str(model_dir)), rows, cfg, budgets=False)
    p = out["pass@k"][str(k)]
    return {"k": k, "problems": len(rows), "solved": round(p * len(rows)), "pass_at_k": p,
            "mean_correct": out["pass@1"]}


def gated_grpo(argv: list[str], model: str, prompts: str, out: str, k: int = 8, n: int = 32, min_pass: float = 0.1,
               max_new_tokens: int = 256, seed: int = 0, chat_template: bool = False) -> dict:
    """``pass_at_k`` of ``model`` on ``prompts`` (a JSONL file); GRPO with ``argv`` when it reaches ``min_pass``,
    else ``model`` copied to ``out`` untrained. Returns the stage's log (``demo_jobs.train_stage``) with ``gate``."""
    from rldistill import grpo
    from rldistill.data import read_jsonl
    from rldistill.demo_jobs import train_stage

    gate = pass_at_k(model, read_jsonl(prompts), k=k, n=n, max_new_tokens=max_new_tokens, seed=seed,
                     chat_template=chat_template)
    gate.update(min_pass=min_pass, passed=gate["pass_at_k"] >= min_pass)
    log.info("gate for %s: pass@%d %.2f on %d problems (min %.2f): %s", out, k, gate["pass_at_k"], gate["problems"],
             min_pass, "training" if gate["passed"] else "skipped")
    if not gate["passed"]:
        shutil.copytree(model, out, dirs_exist_ok=True)
        return {"steps": 0, "num_tokens": 0, "seconds": 0.0, "first_loss": None, "last_loss": None, "rewards": [],
                "gate": gate}
    return {**train_stage(grpo, argv), "gate": gate}
