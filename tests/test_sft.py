"""rldistill.sft: completion-only SFT on the row schema, saving, resuming after SIGKILL, recipe errors."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import make_rows, run_until_checkpoint_then_kill, write_rows  # tests/conftest.py: the shared tiny student and rows

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs/recipes/tiny/sft.yaml"


@pytest.fixture(scope="module")
def setup(tiny_student, tmp_path_factory):
    d = tmp_path_factory.mktemp("sft")
    return tiny_student, write_rows(d / "rows.jsonl", make_rows(24)), d


def args(student, data, out, *extra):
    return ["--config", str(RECIPE), "--model_name_or_path", str(student), "--dataset_path", str(data),
            "--output_dir", str(out), "--per_device_train_batch_size", "4", "--logging_steps", "1",
            "--warmup_steps", "0", "--learning_rate", "1e-2", *map(str, extra)]


def test_cli_flags_override_the_recipe():
    from rldistill.config import parse_args
    from rldistill.sft import make_parser

    s, t, m = parse_args(make_parser(), ["--config", str(RECIPE), "--max_steps", "7", "--output_dir", "x/y"])
    assert (t.max_steps, t.output_dir, m.model_name_or_path) == (7, "x/y", "runs/tiny/student")
    assert s.dataset_path == "runs/tiny/compressed.jsonl" and t.completion_only_loss is True


def test_loss_covers_the_completion_only(setup):
    from rldistill.config import parse_args
    from rldistill.sft import build_trainer, make_parser

    student, data, d = setup
    trainer = build_trainer(*parse_args(make_parser(), args(student, data, d / "mask", "--max_steps", "1")))
    tok = trainer.processing_class
    row = trainer.train_dataset[0]
    labels = row["labels"] if "labels" in row else [t if m else -100 for t, m in zip(row["input_ids"], row["completion_mask"])]
    n_prompt = len(tok(make_rows()[0]["prompt"], add_special_tokens=False)["input_ids"])
    assert all(x == -100 for x in labels[:n_prompt])
    assert all(x != -100 for x in labels[n_prompt:])
    assert labels[-1] == tok.eos_token_id  # TRL appends EOS so generation learns to stop


def test_sft_changes_every_parameter_with_finite_loss(setup):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rldistill.sft import cli

    student, data, d = setup
    out = d / "trained"
    cli(args(student, data, out, "--max_steps", "3", "--save_steps", "3"))
    before = AutoModelForCausalLM.from_pretrained(student).state_dict()
    after = AutoModelForCausalLM.from_pretrained(out).state_dict()
    AutoTokenizer.from_pretrained(out)  # the tokenizer is saved next to the model
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert not unchanged, f"parameters that did not train: {unchanged}"
    logs = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())["log_history"]
    losses = [e["loss"] for e in logs if "loss" in e]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)


@pytest.mark.parametrize("extra,needle", [
    (["--no_such_field", "1"], "unknown field(s) ['no_such_field']"),
    (["--dataset_path", "/nonexistent/rows.jsonl"], "recipe error"),
])
def test_bad_recipes_fail_before_training(setup, extra, needle):
    from rldistill.sft import cli

    student, data, d = setup
    with pytest.raises(SystemExit) as e:
        cli(args(student, data, d / "bad", "--max_steps", "1", *extra))
    assert needle in str(e.value)
    assert not (d / "bad").exists()


def test_unknown_yaml_key_is_named(setup, tmp_path):
    from rldistill.sft import cli

    student, data, d = setup
    bad = tmp_path / "bad.yaml"
    bad.write_text(RECIPE.read_text() + "\nlearning_rat: 0.1\n")
    with pytest.raises(SystemExit, match=r"unknown field\(s\) \['learning_rat'\]"):
        cli(["--config", str(bad), "--model_name_or_path", str(student)])


@pytest.mark.slow
def test_sigkill_after_first_checkpoint_then_resume(setup):
    student, data, d = setup
    out = d / "resume"
    argv = args(student, data, out, "--max_steps", "40", "--save_steps", "4", "--learning_rate", "1e-3")
    base = [sys.executable, "-m", "rldistill.sft", *argv]
    run_until_checkpoint_then_kill("rldistill.sft", argv, out / "checkpoint-4" / "trainer_state.json", d / "killed.log",
                                   env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert not (out / "model.safetensors").exists(), "the first run finished before it was killed"
    r = subprocess.run(["timeout", "300", *base, "--resume_from_checkpoint", "true"], cwd=REPO,
                       capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert f"resuming from {out}/checkpoint-" in r.stdout
    state = json.loads((out / "checkpoint-40" / "trainer_state.json").read_text())
    assert state["global_step"] == 40 and (out / "model.safetensors").exists()
