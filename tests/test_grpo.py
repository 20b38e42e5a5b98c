"""rldistill.grpo + rldistill.dynamic_sampling: GRPO steps with verifier rewards, zero-variance groups, resume."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import make_rows, run_until_checkpoint_then_kill, write_rows  # tests/conftest.py: the shared tiny student and rows
from verifiers import Verdict

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs/recipes/tiny/grpo.yaml"


def _parity(completion, answer):
    """A user verifier (resolved as 'test_grpo:_parity' in the pool's workers) whose rewards vary within a group."""
    return Verdict(float(len(completion) % 2), "ok")


@pytest.fixture(scope="module")
def setup(tiny_student, tmp_path_factory):
    d = tmp_path_factory.mktemp("grpo")
    rows = make_rows(16, verifiers=("math", "test_grpo:_parity"), prefix="g")  # mixed rows: the `verifier` column dispatches
    return tiny_student, write_rows(d / "rows.jsonl", rows), d


def args(student, data, out, *extra):
    return ["--config", str(RECIPE), "--model_name_or_path", str(student), "--dataset_path", str(data),
            "--output_dir", str(out), "--num_generations", "4", "--per_device_train_batch_size", "4",
            "--max_completion_length", "12", "--logging_steps", "1", "--verifier_timeout", "30", *map(str, extra)]


def test_grpo_steps_with_math_reward_and_length_term(setup):
    from transformers import AutoModelForCausalLM

    from rldistill.grpo import cli

    student, data, d = setup
    out = d / "run"
    cli(args(student, data, out, "--max_steps", "2", "--save_steps", "2", "--beta", "0.02",
             "--reward_funcs", "math", "length", "test_grpo:_parity", "--reward_weights", "1.0", "0.5", "0.1",
             "--reward_warmup", "none", "--dynamic_sampling", "refill", "--dynamic_sampling_max_rounds", "1",
             "--seen_ids_dir", d / "seen"))
    logs = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["log_history"]
    steps = [e for e in logs if "loss" in e]
    assert len(steps) == 2 and all(math.isfinite(e["loss"]) for e in steps)
    for key in ("rewards/math/mean", "rewards/length/mean", "rewards/test_grpo:_parity/mean", "kl",
                "dynamic_sampling/zero_std_frac", "dynamic_sampling/dropped_frac"):
        assert key in steps[0], key
    assert any(k.startswith("verifier/") for k in steps[0])  # verdict reasons, logged through TRL's log_metric
    AutoModelForCausalLM.from_pretrained(out)
    seen = (d / "seen" / "rank0.txt").read_text().split("\n")
    assert len([s for s in seen if s]) >= 2 * 4  # 2 steps x 4 completions (+ refill rounds)


def test_unknown_verifier_in_recipe_fails_before_loading(setup):
    from rldistill.grpo import cli

    student, data, d = setup
    with pytest.raises(SystemExit) as e:
        cli(args(student, data, d / "bad", "--reward_funcs", "math", "sympy_check", "--reward_weights", "1", "1"))
    assert "unknown reward 'sympy_check'" in str(e.value) and "'math'" in str(e.value)
    assert not (d / "bad").exists()


def test_reward_weights_must_match_reward_funcs(setup):
    from rldistill.grpo import cli

    student, data, d = setup
    with pytest.raises(SystemExit, match="reward_weights has 1 values for 2 reward_funcs"):
        cli(args(student, data, d / "bad2", "--reward_funcs", "math", "format", "--reward_weights", "1",
                 "--reward_warmup", "none"))
    assert not (d / "bad2").exists()


# ---------------------------------------------------------------- dynamic sampling, without a model

def fake_trainer(rewards_per_func, weights, G, rank=0):
    import torch

    return SimpleNamespace(_last_rewards_per_func=torch.tensor(rewards_per_func, dtype=torch.float32),
                           reward_weights=torch.tensor(weights), num_generations=G,
                           accelerator=SimpleNamespace(process_index=rank, device="cpu"),
                           processing_class=SimpleNamespace(pad_token_id=0))


@pytest.mark.parametrize("rank,expected", [(0, [True, True, False, False]), (1, [False, False, True, True])])
def test_zero_variance_groups_are_found_globally(rank, expected):
    """Groups of G=2 over 2 ranks x 4 completions; group 0 (all equal) and group 3 (equal after weighting)."""
    from rldistill.dynamic_sampling import DynamicSamplingGRPOTrainer as T

    rpf = [[1, 0], [1, 0], [0, 0], [1, 0], [0, 1], [1, 1], [0, 1], [0, 1]]
    fake = fake_trainer(rpf, [1.0, 0.5], G=2, rank=rank)
    assert T._zero_std_local(fake, 4).tolist() == expected


def test_refill_merge_replaces_dropped_rows_and_pads():
    import torch

    from rldistill.dynamic_sampling import DynamicSamplingGRPOTrainer as T

    out = {"prompt_ids": torch.tensor([[5, 6], [7, 8], [5, 6]]), "prompt_mask": torch.ones(3, 2, dtype=torch.long),
           "completion_ids": torch.tensor([[1, 2], [3, 0], [4, 4]]), "completion_mask": torch.tensor([[1, 1], [1, 0], [1, 1]]),
           "advantages": torch.tensor([0.0, 0.0, 1.0]), "num_items_in_batch": torch.tensor(5)}
    new = {"prompt_ids": torch.tensor([[9, 9, 9], [8, 8, 8], [7, 7, 7]]), "prompt_mask": torch.ones(3, 3, dtype=torch.long),
           "completion_ids": torch.tensor([[2, 2, 2], [3, 3, 3], [4, 4, 4]]), "completion_mask": torch.ones(3, 3, dtype=torch.long),
           "advantages": torch.tensor([0.0, -0.7, 0.7]), "num_items_in_batch": torch.tensor(9)}
    merged, drop = T._merge(fake_trainer([[0]], [1.0], 1), out, torch.tensor([True, True, False]), new,
                            torch.tensor([True, False, False]))
    assert drop.tolist() == [False, False, False]
    assert merged["advantages"].tolist() == pytest.approx([-0.7, 0.7, 1.0])
    assert merged["prompt_ids"].tolist() == [[8, 8, 8], [7, 7, 7], [0, 5, 6]]   # left padded
    assert merged["prompt_mask"].tolist() == [[1, 1, 1], [1, 1, 1], [0, 1, 1]]
    assert merged["completion_ids"].tolist() == [[3, 3, 3], [4, 4, 4], [4, 4, 0]]  # right padded
    assert merged["completion_mask"].tolist() == [[1, 1, 1], [1, 1, 1], [1, 1, 0]]


def test_refill_draws_depend_on_seed_and_step_only_so_a_resumed_run_draws_the_same():
    """Each rank draws the same prompts; a fresh trainer (as after a resume) at the same step draws the same."""
    from rldistill.dynamic_sampling import DynamicSamplingGRPOTrainer as T

    def trainer(rank, step):
        return SimpleNamespace(args=SimpleNamespace(seed=3), state=SimpleNamespace(global_step=step),
                               accelerator=SimpleNamespace(num_processes=2, process_index=rank), num_generations=2,
                               train_dataset=[{"id": i} for i in range(50)], _refill_key=(-1, 0))

    def draws(rank, steps):
        t = trainer(rank, 0)
        out = []
        for step in steps:
            t.state.global_step = step
            out.append([r["id"] for r in T._fresh_inputs(t, 4)])
        return out

    full = draws(0, [0, 0, 1, 2, 2])  # two refill rounds at steps 0 and 2
    assert full[0] != full[1] and full[3] != full[4]  # a second round at a step draws new prompts
    assert draws(0, [2, 2]) == full[3:]  # resumed at step 2
    r0, r1 = draws(0, [5]), draws(1, [5])
    ids = r0[0] + r1[0]  # 4 prompts x G=2 over 2 ranks, contiguous slices of one global draw
    assert ids[0::2] == ids[1::2] and len(set(ids)) == 4


@pytest.mark.slow
def test_sigkill_after_first_checkpoint_then_resume(setup):
    student, data, d = setup
    out = d / "resume"
    argv = args(student, data, out, "--max_steps", "4", "--save_steps", "2", "--reward_funcs", "math", "format",
                "--reward_weights", "1", "1", "--reward_warmup", "none")
    base = [sys.executable, "-m", "rldistill.grpo", *argv]
    env = dict(os.environ, OMP_NUM_THREADS="1",  # tests/ on the path: the rows name the 'test_grpo:_parity' verifier
               PYTHONPATH=os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    run_until_checkpoint_then_kill("rldistill.grpo", argv, out / "checkpoint-2" / "trainer_state.json",
                                   d / "killed.log", env=env)
    assert not (out / "model.safetensors").exists(), "the first run finished before it was killed"
    r = subprocess.run(["timeout", "400", *base, "--resume_from_checkpoint", "true"], cwd=REPO, capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert f"resuming from {out}/checkpoint-" in r.stdout
    assert json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4
    assert (out / "model.safetensors").exists()


def test_the_sampled_token_budget_stops_training_once_reached():
    from transformers import TrainerControl

    from rldistill.grpo import sampled_token_budget

    cb = sampled_token_budget(100)
    assert not cb.on_step_end(None, SimpleNamespace(num_input_tokens_seen=99), TrainerControl()).should_training_stop
    assert cb.on_step_end(None, SimpleNamespace(num_input_tokens_seen=100), TrainerControl()).should_training_stop
