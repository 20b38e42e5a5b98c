"""Shared fixtures: a tiny student (2-layer Llama + the student's own BPE tokenizer) and rows to train it on.

The stage tests (SFT, GRPO, PPO) only need *a* causal LM and a few rows in the row schema, not a good model:
``tiny_student`` is built once per session (it is only read; runs write elsewhere), and ``make_rows`` and
``write_rows`` give each test module its own data file. Left out: anything that needs a trained model (the
tests that do build their own, e.g. the PPO learning test).
"""

import json
from pathlib import Path

import pytest
import torch


def make_rows(n=32, verifiers=("math",), prefix="r"):
    """``n`` two-step arithmetic rows (prompt, compact completion, answer, verifier), verifiers in rotation."""
    rows = []
    for i in range(n):
        a, b = i % 7 + 1, i % 5 + 2
        rows.append({"id": f"{prefix}{i:03d}",
                     "prompt": f"Question: Compute {a}+{b}*{i}. Put the final answer in \\boxed{{}}.\nAnswer:",
                     "completion": f" {b}*{i}={b * i}\n{a}+{b * i}={a + b * i}\n\\boxed{{{a + b * i}}}",
                     "answer": str(a + b * i), "verifier": verifiers[i % len(verifiers)]})
    return rows


def write_rows(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_student(d: Path, rows) -> Path:
    """A 2-layer Llama far smaller than the embedded student, with the student's own tokenizer builder."""
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


@pytest.fixture(scope="session")
def tiny_student(tmp_path_factory) -> Path:
    """Read-only: tests load it and write their outputs elsewhere, so one copy serves the whole session."""
    return make_student(tmp_path_factory.mktemp("tiny_student"), make_rows(64))
