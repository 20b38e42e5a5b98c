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


def assert_training_logprobs_match_sampling(model, tok, ids, mask, max_new_tokens: int, atol: float) -> None:
    """Sample at T=0.7 with ``generate``; PPO's training forward (``sequence_inputs``) must give the log-probs the
    sampler drew from, on every real completion token."""
    from rldistill.ppo import sequence_inputs
    from rldistill.ppo_core import completion_mask, selective_log_softmax

    torch.manual_seed(0)
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=True,
                         temperature=0.7, top_k=0, output_logits=True, return_dict_in_generate=True,
                         pad_token_id=tok.pad_token_id)
    completion = out.sequences[:, ids.size(1):]
    cmask = completion_mask(completion, [tok.eos_token_id])
    sampled = selective_log_softmax(torch.stack(out.logits, 1) / 0.7, completion)
    inp, att, pos = sequence_inputs(ids, mask, completion, cmask)
    logits = model(input_ids=inp, attention_mask=att, position_ids=pos).logits[:, ids.size(1) - 1 : -1] / 0.7
    torch.testing.assert_close(selective_log_softmax(logits, completion) * cmask, sampled * cmask, atol=atol, rtol=0)


def run_until_checkpoint_then_kill(module: str, argv: list, marker: Path, log: Path, env: dict, timeout=300) -> str:
    """Run ``python -m module argv`` through tests/stop_after_checkpoint.py, which stops the process right after its
    first checkpoint; SIGKILL its process group once ``marker`` (a file the checkpoint writes last) exists. Returns
    what it printed. The stop makes the kill land mid-run however fast the run is."""
    import os
    import signal
    import subprocess
    import sys
    import time

    here = Path(__file__).resolve().parent
    cmd = [sys.executable, str(here / "stop_after_checkpoint.py"), module, *argv]
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, cwd=here.parent, env=env)
        t0 = time.monotonic()
        try:
            while not marker.exists():
                assert p.poll() is None, f"run ended before its first checkpoint:\n{log.read_text()[-3000:]}"
                assert time.monotonic() - t0 < timeout, "no checkpoint in time"
                time.sleep(0.1)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return log.read_text()


@pytest.fixture(scope="session")
def tiny_student(tmp_path_factory) -> Path:
    """Read-only: tests load it and write their outputs elsewhere, so one copy serves the whole session."""
    return make_student(tmp_path_factory.mktemp("tiny_student"), make_rows(64))


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct as an ordinary HF directory (``rldistill student --pretrained smollm2-135m``), built
    once per session (~40 s) and only read. ``RLDISTILL_SMOLLM2_DIR`` names an already converted copy to reuse.
    Skipped where the wheel or ``gguf`` is missing, except under CI (``CI=true``), where that is a failure:
    scripts/setup.sh installs both."""
    import os

    from rldistill.pretrained import PretrainedError, build_pretrained

    reuse = os.environ.get("RLDISTILL_SMOLLM2_DIR")
    if reuse and (Path(reuse) / "model.safetensors").exists():
        return Path(reuse)
    try:
        return build_pretrained("smollm2-135m", tmp_path_factory.mktemp("smollm2"))
    except PretrainedError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))
