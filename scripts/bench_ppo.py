"""One PPO step against one GRPO step with the same number of completions, on the tiny recipes.

    python scripts/bench_ppo.py [--model runs/tiny/sft] [--data runs/tiny/data/train.jsonl] \
        [--completions 16] [--steps 6] [--max-completion-length 64] [--ppo-runs recipe shared_critic=false ...]

Runs ``rldistill grpo`` (configs/recipes/tiny/grpo.yaml) and ``rldistill ppo`` (configs/recipes/tiny/ppo.yaml),
single process, from the same model and prompts, with the same completions per step (GRPO: ``completions /
num_generations`` prompts x ``num_generations``; PPO: ``completions`` prompts x 1), the same micro-batch (all
completions in one forward/backward), the same maximum completion length and temperature, each recipe otherwise
as shipped (GRPO's KL to a reference; PPO's critic, reference and ``ppo_epochs``). PPO's critic-only warm-up
steps are off, so that every timed step trains the policy.

PPO is timed as shipped and with the recipe's fields changed (``--ppo-runs``: ``recipe``, or comma-separated
``field=value`` overrides); by default also with a separate critic model instead of the recipe's shared value
head, with the rollout's own no-grad forward instead of the first update's, and with one epoch over the rollouts
instead of two. Each stage's own per-step timer is read from its log:
GRPO's ``step_time`` (generation, rewards and forward/backward; TRL times ``training_step``) and PPO's
``timing/step_s`` (the whole step, optimizer steps included). The first step of each run (verifier pool
start-up) is dropped and the median of the rest is reported, with the mean completion lengths, since a step's
cost follows them. The runs are interleaved over ``--rounds`` (a shared machine's slow spells last long enough
to skew a whole run), and each round's ratio is printed next to the pooled one. Target: PPO <= 2x GRPO.

Leaves out: multi-process runs and GPU timings (the same command runs there with a GPU recipe's model).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RECIPE = yaml.safe_load((ROOT / "configs/recipes/tiny/ppo.yaml").read_text())


def recipe_value(field: str) -> str:
    return str(RECIPE.get(field, "(default)"))


def overrides(spec: str) -> list[str]:
    """'recipe' -> []; 'ppo_epochs=1,shared_critic=false' -> ['--ppo_epochs', '1', '--shared_critic', 'false']."""
    if spec == "recipe":
        return []
    out = []
    for item in spec.split(","):
        field, sep, value = item.partition("=")
        if not sep or not field:
            raise SystemExit(f"--ppo-runs: {item!r} is not field=value")
        out += [f"--{field}", value]
    return out


def label(spec: str) -> str:
    shown = "shared_critic={}, ppo_epochs={}".format(recipe_value("shared_critic"), recipe_value("ppo_epochs"))
    return f"recipe ({shown})" if spec == "recipe" else f"recipe with {spec}"


def run(cmd: list[str], timeout: int) -> str:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return proc.stdout + "\n" + proc.stderr


def log_dicts(text: str):
    """Every logged dict: PPO prints JSON lines, the HF Trainer prints Python dict reprs (possibly after a \\r)."""
    for line in text.replace("\r", "\n").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        for parse in (json.loads, ast.literal_eval):
            try:
                yield parse(line)
                break
            except (ValueError, SyntaxError):
                continue


def timed(log: str, key: str, name: str) -> tuple[list[float], list[float]]:
    """A run's per-step times and mean completion lengths, the first step (verifier pool start-up) dropped."""
    rows = [d for d in log_dicts(log) if key in d]
    if len(rows) < 2:
        raise SystemExit(f"too few timed {name} steps ({len(rows)}): raise --steps")
    return [float(d[key]) for d in rows[1:]], [float(d.get("completions/mean_length", "nan")) for d in rows[1:]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="runs/tiny/sft")
    ap.add_argument("--data", default="runs/tiny/data/train.jsonl")
    ap.add_argument("--completions", type=int, default=16, help="completions per step, both stages")
    ap.add_argument("--num-generations", type=int, default=8, help="GRPO group size")
    ap.add_argument("--steps", type=int, default=6, help="steps per stage; the first is dropped")
    ap.add_argument("--max-completion-length", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of every run; medians pool them")
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--ppo-runs", nargs="+",
                    default=["recipe", "shared_critic=false", "fuse_rollout_forward=false", "ppo_epochs=1"],
                    help="PPO runs to time: 'recipe' (as shipped) or comma-separated field=value overrides of it")
    a = ap.parse_args(argv)
    if a.completions % a.num_generations:
        raise SystemExit("--completions must be a multiple of --num-generations")
    common = ["--model_name_or_path", a.model, "--dataset_path", a.data, "--max_steps", str(a.steps),
              "--max_completion_length", str(a.max_completion_length), "--logging_steps", "1",
              "--save_strategy", "no", "--report_to", "none", "--seed", "0"]
    grpo_cmd = [sys.executable, "-m", "rldistill.grpo", "--config", "configs/recipes/tiny/grpo.yaml", *common,
                "--per_device_train_batch_size", str(a.completions), "--num_generations", str(a.num_generations),
                "--gradient_accumulation_steps", "1"]
    ppo_cmd = [sys.executable, "-m", "rldistill.ppo", "--config", "configs/recipes/tiny/ppo.yaml", *common,
               "--num_rollouts_per_step", str(a.completions), "--per_device_train_batch_size", str(a.completions),
               "--critic_warmup_steps", "0", "--disable_tqdm", "true"]  # no critic-only steps: each trains the policy
    # name -> rounds -> (step times without the first, mean completion lengths)
    results: dict[str, list[tuple[list[float], list[float]]]] = {"grpo": [], **{spec: [] for spec in a.ppo_runs}}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):  # interleaved, so that a slow spell of the machine hits every variant
            log = run([*grpo_cmd, "--output_dir", f"{tmp}/grpo-{r}"], a.timeout)
            results["grpo"].append(timed(log, "step_time", "GRPO"))
            for i, spec in enumerate(a.ppo_runs):
                log = run([*ppo_cmd, "--output_dir", f"{tmp}/ppo-{r}-{i}", *overrides(spec)], a.timeout)
                results[spec].append(timed(log, "timing/step_s", "PPO"))
    pooled = {k: statistics.median([t for times, _ in v for t in times]) for k, v in results.items()}
    lengths = {k: statistics.mean([n for _, ns in v for n in ns]) for k, v in results.items()}
    per_round = lambda k, r: statistics.median(results[k][r][0])  # noqa: E731
    print(f"completions per step: {a.completions}; max_completion_length {a.max_completion_length}; median over "
          f"steps 2..{a.steps} of {a.rounds} interleaved round(s)")
    g = pooled["grpo"]
    print(f"GRPO step: {g:.2f} s  (mean completion length {lengths['grpo']:.1f} tokens)")
    for spec in a.ppo_runs:
        rounds = ", ".join(f"{per_round(spec, r) / per_round('grpo', r):.2f}" for r in range(a.rounds))
        print(f"PPO  step, {label(spec)}: {pooled[spec]:.2f} s  (mean completion length {lengths[spec]:.1f} tokens)"
              f"  PPO / GRPO: {pooled[spec] / g:.2f}x  (per round: {rounds}; target <= 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
