"""One PPO step against one GRPO step with the same number of completions, on the tiny recipes.

    python scripts/bench_ppo.py [--model runs/tiny/sft] [--data runs/tiny/data/train.jsonl] \
        [--completions 16] [--steps 4] [--max-completion-length 64] [--ppo-epochs recipe 1]

Runs ``rldistill grpo`` (configs/recipes/tiny/grpo.yaml) and ``rldistill ppo`` (configs/recipes/tiny/ppo.yaml)
one after the other, single process, from the same model and prompts, with the same completions per step
(GRPO: ``completions / num_generations`` prompts x ``num_generations``; PPO: ``completions`` prompts x 1), the
same micro-batch (all completions in one forward/backward), the same maximum completion length and temperature, each recipe otherwise as shipped (GRPO's KL to a reference,
PPO's critic, reference and ``ppo_epochs``), with PPO's critic-only warm-up steps off so that every timed step
trains the policy. PPO is timed as shipped (2 epochs over the rollouts) and with one epoch, the same number of
passes as GRPO's single iteration (``--ppo-epochs``). Each stage's own per-step timer is read from its log: GRPO's
``step_time`` (generation, rewards and forward/backward; TRL times ``training_step``) and PPO's
``timing/step_s`` (the whole step, optimizer steps included). The first step (verifier pool start-up) is
dropped and the median of the rest is reported, with the mean completion lengths, since a step's cost follows
them. Target: PPO <= 2x GRPO.

Leaves out: multi-process runs and GPU timings (the same command runs there with a GPU recipe's model).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE_EPOCHS = re.search(r"^ppo_epochs:\s*(\d+)", (ROOT / "configs/recipes/tiny/ppo.yaml").read_text(), re.M).group(1)


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


def per_step(logs, key: str, length_key: str) -> tuple[list[float], list[float]]:
    rows = [d for d in logs if key in d]
    return [float(d[key]) for d in rows], [float(d.get(length_key, "nan")) for d in rows]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="runs/tiny/sft")
    ap.add_argument("--data", default="runs/tiny/data/train.jsonl")
    ap.add_argument("--completions", type=int, default=16, help="completions per step, both stages")
    ap.add_argument("--num-generations", type=int, default=8, help="GRPO group size")
    ap.add_argument("--steps", type=int, default=4, help="steps per stage; the first is dropped")
    ap.add_argument("--max-completion-length", type=int, default=64)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--ppo-epochs", nargs="+", default=["recipe", "1"],
                    help="PPO runs to time: 'recipe' (as shipped) and/or a number of epochs; GRPO makes one pass")
    a = ap.parse_args(argv)
    if a.completions % a.num_generations:
        raise SystemExit("--completions must be a multiple of --num-generations")
    common = ["--model_name_or_path", a.model, "--dataset_path", a.data, "--max_steps", str(a.steps),
              "--max_completion_length", str(a.max_completion_length), "--logging_steps", "1",
              "--save_strategy", "no", "--report_to", "none", "--seed", "0"]
    with tempfile.TemporaryDirectory() as tmp:
        grpo = run([sys.executable, "-m", "rldistill.grpo", "--config", "configs/recipes/tiny/grpo.yaml", *common,
                    "--output_dir", f"{tmp}/grpo", "--per_device_train_batch_size", str(a.completions),
                    "--num_generations", str(a.num_generations), "--gradient_accumulation_steps", "1"], a.timeout)
        ppo_logs = {}
        for epochs in a.ppo_epochs:  # critic warm-up off: every timed step trains the policy too
            extra = [] if epochs == "recipe" else ["--ppo_epochs", epochs]
            ppo_logs[epochs] = run([sys.executable, "-m", "rldistill.ppo", "--config", "configs/recipes/tiny/ppo.yaml",
                                    *common, "--output_dir", f"{tmp}/ppo-{epochs}", "--num_rollouts_per_step",
                                    str(a.completions), "--per_device_train_batch_size", str(a.completions),
                                    "--critic_warmup_steps", "0", "--disable_tqdm", "true", *extra], a.timeout)
    g_times, g_len = per_step(list(log_dicts(grpo)), "step_time", "completions/mean_length")
    if len(g_times) < 2:
        raise SystemExit(f"too few timed GRPO steps ({len(g_times)}): raise --steps")
    g = statistics.median(g_times[1:])
    print(f"completions per step: {a.completions}; max_completion_length {a.max_completion_length}; "
          f"median over steps 2..{a.steps}")
    print(f"GRPO step: {g:.2f} s  (mean completion length {statistics.mean(g_len[1:]):.1f} tokens)")
    for epochs, log in ppo_logs.items():
        p_times, p_len = per_step(list(log_dicts(log)), "timing/step_s", "completions/mean_length")
        if len(p_times) < 2:
            raise SystemExit(f"too few timed PPO steps ({len(p_times)}): raise --steps")
        p = statistics.median(p_times[1:])
        label = f"ppo_epochs {RECIPE_EPOCHS} (recipe)" if epochs == "recipe" else f"ppo_epochs {epochs}"
        print(f"PPO  step, {label}: {p:.2f} s  (mean completion length {statistics.mean(p_len[1:]):.1f} tokens)"
              f"  PPO / GRPO: {p / g:.2f}x  (target <= 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
