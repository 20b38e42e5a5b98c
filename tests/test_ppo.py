"""rldistill.ppo + rldistill.value_head: the PPO stage end to end.

Fast tests use a 2-layer Llama made from a config; the slow ones launch 2 processes under DeepSpeed, kill and
resume a run, and train PPO from a quickly SFT'd student on the embedded task (one-/two-step arithmetic, so the
fixture's SFT takes ~250 tiny steps) and check the held-out reward rises.
"""

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

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs/recipes/tiny/ppo.yaml"
ENV = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")


def make_rows(n=32):
    return [{"id": f"p{i:03d}", "prompt": f"Question: Compute {i}+{i % 3}. Put the final answer in \\boxed{{}}.\nAnswer:",
             "completion": f"\n{i}+{i % 3}={i + i % 3}\n\n\\boxed{{{i + i % 3}}}", "answer": str(i + i % 3),
             "verifier": "math"} for i in range(n)]


def make_student(d: Path, rows) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    from rldistill.student import SPECIAL, build_tokenizer

    tok = build_tokenizer([r["prompt"] + r["completion"] for r in rows], 300)
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in SPECIAL.items()}
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
                      bos_token_id=ids["bos_token"], eos_token_id=ids["eos_token"], pad_token_id=ids["pad_token"])
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("ppo")
    rows = make_rows()
    data = d / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return make_student(d / "student", rows), data, d


def args(student, data, out, *extra):
    return ["--config", str(RECIPE), "--model_name_or_path", str(student), "--dataset_path", str(data),
            "--output_dir", str(out), "--num_rollouts_per_step", "8", "--per_device_train_batch_size", "2",
            "--num_mini_batches", "2", "--ppo_epochs", "1", "--max_completion_length", "10", "--logging_steps", "1",
            "--verifier_timeout", "60", "--disable_tqdm", "true", *map(str, extra)]


# ---------------------------------------------------------------- recipes and arguments


def test_cli_flags_override_the_recipe():
    from rldistill.config import parse_args
    from rldistill.ppo import make_parser

    _, cfg, _ = parse_args(make_parser(), ["--config", str(RECIPE), "--max_steps", "3", "--kl_coef", "0.5",
                                           "--output_dir", "/tmp/elsewhere"])
    assert (cfg.max_steps, cfg.kl_coef, cfg.output_dir) == (3, 0.5, "/tmp/elsewhere")


@pytest.mark.parametrize("flags, message", [
    (["--kl_estimator", "k2"], "kl_estimator"),
    (["--temperature", "0"], "temperature"),
    (["--dynamic_sampling", "drop"], "GRPO option"),
    (["--no_such_field", "1"], "no_such_field"),
])
def test_bad_settings_fail_at_parse_time(flags, message):
    from rldistill.config import parse_args
    from rldistill.ppo import make_parser

    with pytest.raises((SystemExit, ValueError)) as e:
        parse_args(make_parser(), ["--config", str(RECIPE), *flags])
    assert message in str(e.value)


def test_unknown_reward_fails_before_any_model_loads(setup):
    from rldistill.ppo import cli

    student, data, d = setup
    with pytest.raises(SystemExit) as e:
        cli(args(student, data, d / "bad", "--reward_funcs", "math", "sympy_check", "--reward_weights", "1", "1"))
    assert "unknown reward 'sympy_check'" in str(e.value)
    assert not (d / "bad").exists()


@pytest.mark.parametrize("n, world, mini, micro, ok", [
    (32, 2, 1, 8, (16, 2)), (32, 1, 2, 4, (32, 4)), (8, 2, 2, 2, (4, 1)), (30, 2, 1, 4, None), (8, 4, 2, 2, None),
])
def test_batch_sizes_divide_or_fail_naming_them(n, world, mini, micro, ok):
    from types import SimpleNamespace

    from rldistill.ppo import local_sizes

    a = SimpleNamespace(num_rollouts_per_step=n, num_mini_batches=mini, per_device_train_batch_size=micro)
    if ok is None:
        with pytest.raises(ValueError, match="num_rollouts_per_step"):
            local_sizes(a, world)
    else:
        assert local_sizes(a, world) == ok


def test_ranks_get_disjoint_prompts_and_an_epoch_covers_each_once():
    from rldistill.ppo import step_indices

    n, global_batch, world = 40, 8, 2
    seen = []
    for step in range(5):  # one epoch
        shards = [step_indices(step, n, global_batch, 0, r, global_batch // world) for r in range(world)]
        assert not set(shards[0]) & set(shards[1])
        seen += shards[0] + shards[1]
    assert sorted(seen) == list(range(n))
    assert step_indices(7, n, global_batch, 0, 1, 4) == step_indices(7, n, global_batch, 0, 1, 4)  # resumable
    assert step_indices(5, n, global_batch, 0, 0, 4) != step_indices(0, n, global_batch, 0, 0, 4)  # reshuffled


# ---------------------------------------------------------------- the critic and the forward pass


def test_value_model_saves_and_loads_its_head(setup, tmp_path):
    from rldistill.value_head import ValueModel

    student, _, _ = setup
    critic = ValueModel.from_pretrained(student)
    x = torch.tensor([[3, 4, 5, 6]])
    assert torch.count_nonzero(critic(x)) == 0  # zero-initialised head
    torch.nn.init.normal_(critic.v_head.weight)
    critic.save_pretrained(tmp_path / "critic")
    again = ValueModel.from_pretrained(tmp_path / "critic")
    torch.testing.assert_close(again(x), critic(x))
    assert critic(x).shape == (1, 4) and critic(x).dtype == torch.float32


def test_training_logprobs_equal_the_sampling_distribution(setup):
    """The log-probs PPO trains on (left-padded prompt, masked completion, position ids) are generate()'s own."""
    from rldistill.models import load_model_and_tokenizer
    from rldistill.ppo import sequence_inputs, tokenize_prompts
    from rldistill.ppo_core import completion_mask, selective_log_softmax

    student, _, _ = setup
    model, tok = load_model_and_tokenizer(str(student))
    model.eval()
    prompts = ["Question: Compute 1+1.\nAnswer:", "Question: Compute 12+30 and then some more words.\nAnswer:"]
    ids, mask = tokenize_prompts(tok, prompts, None, "cpu")
    assert mask[0, 0] == 0 and mask[1, 0] == 1 and mask[:, -1].all()  # left padding
    torch.manual_seed(0)
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=True, temperature=0.7,
                         top_k=0, output_logits=True, return_dict_in_generate=True, pad_token_id=tok.pad_token_id)
    completion = out.sequences[:, ids.size(1):]
    cmask = completion_mask(completion, [tok.eos_token_id])
    sampled = selective_log_softmax(torch.stack(out.logits, 1) / 0.7, completion)
    inp, att, pos = sequence_inputs(ids, mask, completion, cmask)
    logits = model(input_ids=inp, attention_mask=att, position_ids=pos).logits[:, ids.size(1) - 1 : -1] / 0.7
    torch.testing.assert_close(selective_log_softmax(logits, completion) * cmask, sampled * cmask, atol=1e-4, rtol=0)


def test_prompts_are_left_truncated_to_max_prompt_length(setup):
    from rldistill.models import load_tokenizer
    from rldistill.ppo import tokenize_prompts

    student, _, _ = setup
    tok = load_tokenizer(str(student))
    ids, mask = tokenize_prompts(tok, ["Question: Compute 1+1.\nAnswer:"], 5, "cpu")
    assert ids.shape == (1, 5) and mask.all()
    assert tok.decode(ids[0]).endswith("Answer:")


# ---------------------------------------------------------------- single-process runs


def test_ppo_steps_log_trl_names_and_save_a_loadable_policy_and_critic(setup):
    from transformers import AutoModelForCausalLM

    from rldistill.ppo import cli
    from rldistill.value_head import ValueModel

    student, data, d = setup
    out = d / "run"
    cli(args(student, data, out, "--max_steps", "2", "--save_steps", "2", "--critic_warmup_steps", "1",
             "--kl_target", "0.1", "--reward_funcs", "math", "format", "--reward_weights", "1", "0.5"))
    logs = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert [e["step"] for e in logs] == [1, 2]
    for key in ("objective/kl", "objective/rlhf_reward", "objective/scores", "policy/clipfrac", "policy/approxkl",
                "val/vf_loss", "val/clipfrac", "rewards/math/mean", "rewards/format/mean",
                "completions/mean_length", "completions/clipped_ratio", "timing/generate_s"):
        assert key in logs[0] and math.isfinite(logs[0][key]), key
    assert logs[0]["lr"] == 0.0 and logs[1]["lr"] > 0  # critic warm-up: the policy's learning rate starts at 0
    assert logs[0]["objective/kl"] == 0.0  # before any policy update the policy is the reference
    AutoModelForCausalLM.from_pretrained(out)
    ValueModel.from_pretrained(out / "critic")
    ckpt = out / "checkpoint-2"
    assert json.loads((ckpt / "ppo_state.json").read_text())["global_step"] == 2
    AutoModelForCausalLM.from_pretrained(ckpt)


# ---------------------------------------------------------------- launch, kill, resume


def launch(config_file, student, data, out, *extra, timeout=600):
    cmd = ["timeout", str(timeout), sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "configs/accelerate" / config_file), str(REPO / "scripts/ppo.py"),
           *args(student, data, out, *extra)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=ENV)


@pytest.mark.slow
@pytest.mark.parametrize("config_file", ["cpu_ddp.yaml", "cpu_zero2.yaml", "cpu_zero3.yaml"])
def test_accelerate_launch_two_processes(setup, config_file):
    from transformers import AutoModelForCausalLM

    student, data, d = setup
    out = d / config_file.removesuffix(".yaml")
    r = launch(config_file, student, data, out, "--max_steps", "2", "--save_steps", "2")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    logs = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert [e["step"] for e in logs] == [1, 2] and logs[-1]["episode"] == 16
    assert all(math.isfinite(e["val/vf_loss"]) for e in logs)
    AutoModelForCausalLM.from_pretrained(out)
    assert (out / "checkpoint-2" / "accelerate").is_dir()


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_then_resume_reaches_max_steps(setup):
    student, data, d = setup
    out = d / "resume"
    base = [sys.executable, "-m", "rldistill.ppo", *args(student, data, out, "--max_steps", "6", "--save_steps", "2")]
    log = d / "killed.log"
    with open(log, "w") as f:
        p = subprocess.Popen(base, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO, env=ENV)
        t0 = time.monotonic()
        try:
            while not (out / "checkpoint-2" / "ppo_state.json").exists():
                assert p.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() - t0 < 400
                time.sleep(0.1)
        finally:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert not (out / "model.safetensors").exists(), "the first run finished before it was killed"
    r = subprocess.run(["timeout", "500", *base, "--resume_from_checkpoint", "true"], cwd=REPO, capture_output=True,
                       text=True, env=ENV)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "resumed from" in r.stdout + r.stderr
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    steps = [e["step"] for e in state["log_history"]]
    assert steps == [1, 2, 3, 4, 5, 6]  # the checkpoint's history, then the resumed steps: none twice
    assert (out / "model.safetensors").exists()


# ---------------------------------------------------------------- learning from an SFT checkpoint


def _brief(completion, answer):
    """A user verifier (resolved as 'test_ppo:_brief' in the pool's workers): a boxed answer shorter than
    PPO_TEST_BRIEF_CHARS characters (the test sets it to the SFT model's median, so there is room to learn)."""
    from verifiers import Verdict

    limit = int(os.environ.get("PPO_TEST_BRIEF_CHARS", "25"))
    return Verdict(1.0 if "\\boxed{" in completion and len(completion) < limit else 0.0, "ok")


def quick_sft(student: Path, rows: list[dict], out: Path, steps: int = 150) -> Path:
    """Completion-only SFT, the minimal loop: enough for the student to answer in the task's format."""
    from rldistill.models import load_model_and_tokenizer

    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer(str(student), padding_side="right")
    data = []
    for r in rows:
        p = tok(r["prompt"])["input_ids"]
        c = tok(r["completion"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        data.append((p + c, [-100] * len(p) + c))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        batch = [data[i] for i in torch.randint(len(data), (16,)).tolist()]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((16, width), tok.pad_token_id)
        labels = torch.full((16, width), -100)
        for j, (a, b) in enumerate(batch):
            ids[j, : len(a)], labels[j, : len(b)] = torch.tensor(a), torch.tensor(b)
        model(input_ids=ids, attention_mask=(labels != -100) | (ids != tok.pad_token_id), labels=labels).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out)
    tok.padding_side = "left"
    tok.save_pretrained(out)
    return out


def held_out_completions(model_dir, rows) -> list[str]:
    from rldistill.evaluate import hf_generate, prompt_ids
    from rldistill.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(model_dir))
    outs = hf_generate(model, tok, [prompt_ids(tok, r["prompt"]) for r in rows], max_new_tokens=48, batch_size=64)
    return [tok.decode(o[0][0], skip_special_tokens=True) for o in outs]


def mean_reward(texts, rows) -> float:
    return sum(_brief(t, r["answer"]).score for t, r in zip(texts, rows)) / len(rows)


@pytest.mark.slow
def test_seeded_ppo_from_an_sft_checkpoint_raises_held_out_reward(tmp_path, monkeypatch):
    """Embedded task (1-2 step arithmetic), student SFT'd on compact traces, then 12 PPO steps on 32 rollouts.

    The reward is a user verifier going through the same path as `math` (registry name, worker pool, the row's
    `verifier` column): a boxed answer shorter than the SFT model's median held-out completion, so the start is
    at most ~0.5 whatever the SFT learned. Held-out prompts are the task's eval split, greedy decoding.
    """
    from rldistill.student import build_student
    from rldistill.tasks.synth import synth

    torch.set_num_threads(1)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # the student's BPE training, deterministic
    paths = synth(tmp_path / "data", seed=0, n_train=400, n_eval=64, n_ood=8, kinds=["chain"], steps=(1, 2),
                  ood_steps=(3, 3))
    train = [json.loads(line) for line in paths["train"].read_text().splitlines()]
    held_out = [json.loads(line) for line in paths["eval"].read_text().splitlines()]
    for r in train:  # the compact trace: the teacher's computation lines and the answer
        r["completion"] = "".join(s["text"] for s in r["teacher_steps"] if s["role"] in ("compute", "answer"))
        r["verifier"] = "test_ppo:_brief"
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({k: r[k] for k in ("id", "prompt", "completion", "answer", "verifier")}) + "\n"
                            for r in train))
    sft = quick_sft(build_student(tmp_path / "student", "tiny", tmp_path / "data"), train, tmp_path / "sft")
    before = held_out_completions(sft, held_out)
    limit = sorted(len(t) for t in before)[len(before) // 2]  # the median length: about half are "brief" at most
    monkeypatch.setenv("PPO_TEST_BRIEF_CHARS", str(limit))
    start = mean_reward(before, held_out)
    out = tmp_path / "ppo"
    env = dict(ENV, PYTHONPATH=os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]),
               PPO_TEST_BRIEF_CHARS=str(limit))
    r = subprocess.run(["timeout", "600", sys.executable, "-m", "rldistill.ppo", "--config", str(RECIPE),
                        "--model_name_or_path", str(sft), "--dataset_path", str(data), "--output_dir", str(out),
                        "--reward_funcs", "test_ppo:_brief", "--reward_weights", "1.0", "--max_steps", "12",
                        "--max_completion_length", "48", "--learning_rate", "3e-4", "--critic_learning_rate", "1e-3",
                        "--num_mini_batches", "4", "--ppo_epochs", "2", "--critic_warmup_steps", "1", "--save_strategy", "no",
                        "--verifier_timeout", "60", "--disable_tqdm", "true"], cwd=REPO, capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    end = mean_reward(held_out_completions(out, held_out), held_out)
    print(f"held-out mean reward (boxed answer under {limit} chars): start {start:.3f}, end {end:.3f}")
    assert end >= start + 0.15, (start, end)
