"""The from-scratch student: an ordinary HF directory, a tokenizer fit for the task."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from rldistill.data import read_jsonl
from rldistill.student import SIZES, build_student, cli
from rldistill.tasks.synth import synth
from rldistill.tasks.teacher import compact_trace


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    synth(out, seed=0, n_train=300, n_eval=40, n_ood=40)
    return out


@pytest.fixture(scope="module")
def student(data, tmp_path_factory):
    return build_student(tmp_path_factory.mktemp("student"), "tiny", data_dir=data)


def test_auto_classes_load_it_and_it_generates(student):
    tok = AutoTokenizer.from_pretrained(student)
    model = AutoModelForCausalLM.from_pretrained(student)
    assert model.config.model_type == "llama"
    enc = tok(["Question: Compute 2+3. Put the final answer in \\boxed{}.\nAnswer:"], return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=8, do_sample=False)
    assert out.shape == (1, enc["input_ids"].shape[1] + 8) or out[0, -1].item() == tok.eos_token_id
    model.generate(**enc, max_new_tokens=4, do_sample=True, top_k=0, temperature=1.0)


def test_models_loader_takes_it_unchanged(student):
    from rldistill.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(student))
    assert tok.padding_side == "left" and tok.pad_token == "<pad>"
    assert model.config.pad_token_id == tok.pad_token_id


def test_special_tokens_and_config_agree(student):
    tok = AutoTokenizer.from_pretrained(student)
    cfg = AutoConfig.from_pretrained(student)
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == ("<s>", "</s>", "<pad>", "<unk>")
    assert len({tok.bos_token_id, tok.eos_token_id, tok.pad_token_id}) == 3
    assert (cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id) == (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id)
    assert cfg.vocab_size == len(tok)
    assert tok("2+3")["input_ids"][0] != tok.bos_token_id  # no automatic BOS: every stage sees the same ids


@pytest.mark.parametrize("text", ["12345", "x=407", "99*3=297", "\\boxed{2024}"])
def test_every_digit_is_its_own_token(student, text):
    tok = AutoTokenizer.from_pretrained(student)
    pieces = tok.convert_ids_to_tokens(tok(text)["input_ids"])
    digits = [p for p in pieces if any(ch.isdigit() for ch in p)]
    assert all(len(p.lstrip("Ġ")) == 1 for p in digits), pieces
    assert tok.decode(tok(text)["input_ids"]) == text


def test_prompt_tokens_are_a_prefix_of_prompt_plus_completion(student, data):
    tok = AutoTokenizer.from_pretrained(student)
    for split in ("train", "ood", "styles/format", "styles/distract", "styles/paraphrase"):
        for r in read_jsonl(data / f"{split}.jsonl")[:60]:
            p = tok(r["prompt"])["input_ids"]
            for completion in (r["completion"], compact_trace(r["teacher_steps"]), f" \\boxed{{{r['answer']}}}",
                               "\\boxed{1}", "7+5=12"):
                full = tok(r["prompt"] + completion)["input_ids"]
                assert full[: len(p)] == p, (split, r["id"])
                assert tok.decode(full) == r["prompt"] + completion


def test_byte_level_means_no_unknown_tokens(student):
    tok = AutoTokenizer.from_pretrained(student)
    text = "Ünïcode ✓ 漢字 and $\\frac{1}{2}$"
    ids = tok(text)["input_ids"]
    assert tok.unk_token_id not in ids and tok.decode(ids) == text


def test_chat_template_marks_the_assistant_turn(student):
    tok = AutoTokenizer.from_pretrained(student)
    msgs = [{"role": "user", "content": "Compute 2+3."}, {"role": "assistant", "content": " 2+3=5\n\\boxed{5}"}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text == "<|user|>Compute 2+3.<|assistant|> 2+3=5\n\\boxed{5}</s>"
    assert tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True).endswith("<|assistant|>")
    out = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    mask = out["assistant_masks"]
    assert 0 < sum(mask) < len(mask) and mask[-1] == 1
    assert tok.decode([i for i, m in zip(out["input_ids"], mask) if m]) == " 2+3=5\n\\boxed{5}</s>"


@pytest.mark.parametrize("size,lo,hi", [("tiny", 0.5e6, 3e6), ("small", 3e6, 20e6)])
def test_sizes(size, lo, hi):
    spec = dict(SIZES[size])
    model = LlamaForCausalLM(LlamaConfig(tie_word_embeddings=True, **spec))
    assert lo < sum(p.numel() for p in model.parameters()) < hi


def test_same_seed_same_weights(data, tmp_path):
    a = build_student(tmp_path / "a", data_dir=data)
    b = build_student(tmp_path / "b", data_dir=data)
    ma, mb = AutoModelForCausalLM.from_pretrained(a), AutoModelForCausalLM.from_pretrained(b)
    assert all(torch.equal(x, y) for x, y in zip(ma.state_dict().values(), mb.state_dict().values()))
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()


def test_unknown_size_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="size must be one of"):
        build_student(tmp_path, "huge")


def test_cli(data, tmp_path, capsys):
    assert cli(["--out", str(tmp_path / "s"), "--data", str(data)]) == 0
    info = json.loads((tmp_path / "s" / "student.json").read_text())
    assert info["size"] == "tiny" and info["parameters"] < 3e6
    assert "tiny student" in capsys.readouterr().out
