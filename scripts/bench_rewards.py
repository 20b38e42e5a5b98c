"""How much of a GRPO step do the verifier rewards cost? (target: at most 5% on the embedded task)

    python scripts/bench_rewards.py [--config configs/recipes/tiny/grpo.yaml] [--model runs/tiny/sft] [--steps 8]

Runs the tiny GRPO recipe twice in this process, with the same seed and settings: once with the recipe's rewards
(the `math` verifier through the worker pool + the shaping terms) and once with a trivial regex reward (is there a
\\boxed{}?) in their place. For each run it reports the mean GRPO step time (TRL's `step_time`: generation,
reward, reference and loss, after `--warmup` steps), the wall time spent inside the reward functions per step,
and that time's share of the step. Single process on CPU; the pool starts its workers during the warm-up step.

OMP_NUM_THREADS defaults to 1 here, as under `accelerate launch`: on a shared CPU, torch's OpenMP threads
oversubscribed by other processes busy-wait and make a tiny-model step 10-40x slower, which would hide the reward
cost behind an inflated step time.

Leaves out: multi-process launches (the rewards run per rank on each rank's slice, so the share is the same).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported (see the docstring)
REPO = Path(__file__).resolve().parents[1]
_BOXED = re.compile(r"\\boxed\{[^{}]*\}")


def regex_reward(prompts=None, completions=None, **kw):
    """The trivial baseline: 1 if the completion contains a \\boxed{...}."""
    return [float(bool(_BOXED.search(c if isinstance(c, str) else str(c)))) for c in completions]


def timed(fn, trainer_ref, times):
    def wrapper(*a, **kw):
        t0 = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            times[trainer_ref[0].state.global_step] += time.perf_counter() - t0

    wrapper.__name__ = fn.__name__
    return wrapper


def run(variant: str, args) -> dict:
    import torch

    from rldistill.config import parse_args
    from rldistill.grpo import build_trainer, make_parser

    with tempfile.TemporaryDirectory() as out:
        argv = ["--config", args.config, "--model_name_or_path", args.model, "--output_dir", out,
                "--max_steps", str(args.steps), "--save_strategy", "no", "--logging_steps", "1", "--report_to", "none",
                *args.extra]
        trainer = build_trainer(*parse_args(make_parser(), argv))
        ref, times = [trainer], defaultdict(float)
        if variant == "regex":
            trainer.reward_funcs = [regex_reward]
            trainer.reward_func_names = ["regex"]
            trainer.reward_processing_classes = [None]
            trainer.reward_weights = torch.ones(1)
        trainer.reward_funcs = [timed(f, ref, times) for f in trainer.reward_funcs]
        trainer.train()
        steps = [e["step_time"] for e in trainer.state.log_history if "step_time" in e][args.warmup:]
        reward = [times[s] for s in range(args.warmup, args.warmup + len(steps))]
        rewards_mean = {k: v for e in trainer.state.log_history for k, v in e.items() if k.startswith("rewards/") and k.endswith("/mean")}
    step, rew = sum(steps) / len(steps), sum(reward) / len(reward)
    return {"variant": variant, "steps_timed": len(steps), "step_s": step, "reward_s_per_step": rew,
            "reward_share": rew / step, "reward_names": list(trainer.reward_func_names), "last_reward_means": rewards_mean}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(REPO / "configs/recipes/tiny/grpo.yaml"))
    ap.add_argument("--model", default=None, help="default: runs/tiny/sft if it exists, else runs/tiny/student")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2, help="steps left out of the means (pool start-up, first generation)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("extra", nargs="*", help="recipe overrides after --, e.g. -- --num_generations 16")
    args = ap.parse_args(argv)
    if args.model is None:
        args.model = "runs/tiny/sft" if (REPO / "runs/tiny/sft/config.json").exists() else "runs/tiny/student"
    os.chdir(REPO)
    results = [run(v, args) for v in ("verifier", "regex")]
    print(f"\nGRPO step time, {args.config} on {args.model}, {args.steps} steps ({args.warmup} warm-up left out)")
    print(f"{'rewards':<40} {'step s':>8} {'reward s/step':>14} {'reward share':>13}")
    for r in results:
        print(f"{'+'.join(r['reward_names']):<40} {r['step_s']:>8.3f} {r['reward_s_per_step']:>14.4f} {r['reward_share']:>12.1%}")
    v, b = results
    print(f"verifier rewards vs regex: +{v['reward_s_per_step'] - b['reward_s_per_step']:.4f} s per step "
          f"({(v['reward_s_per_step'] - b['reward_s_per_step']) / v['step_s']:.1%} of a verifier-reward step); "
          f"target: reward share <= 5%")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
