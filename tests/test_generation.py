"""The generation backends: continuous batching (``stream``) against padded ``model.generate`` (``hf``).

Each test attacks one property: greedy outputs equal ``generate``'s whatever shares the batch, rows that end
early free their slot for waiting prompts (refill and compaction), sampling is seeded, the chat template is
applied to string prompts when asked, and a real pretrained model gives the same greedy text on both backends.
"""

import json
from pathlib import Path

import pytest
import torch

from rldistill.generation import Generator, hf_generate, prompt_ids, stream_generate
from rldistill.models import load_model_and_tokenizer

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "test.jsonl"


@pytest.fixture(scope="module")
def tiny(tiny_student):
    torch.manual_seed(0)
    model, tok = load_model_and_tokenizer(str(tiny_student))
    prompts = [tok(f"Question: Compute {a}+{b}*{c}. Answer:")["input_ids"][: 4 + (a * 7 + c) % 9]
               for a, b, c in [(1, 2, 3), (4, 5, 6), (7, 8, 9), (2, 9, 4), (3, 3, 3), (5, 1, 8), (6, 2, 7), (9, 9, 1)]]
    return model, tok, prompts


def _with_eos(model, extra: int):
    """The same model, told that ``extra`` also ends a sequence, so rows end at different steps."""
    model.generation_config.eos_token_id = [model.generation_config.eos_token_id, extra] \
        if not isinstance(model.generation_config.eos_token_id, list) else model.generation_config.eos_token_id + [extra]
    return model


def test_stream_greedy_equals_generate_when_rows_end_at_different_steps(tiny):
    model, tok, prompts = tiny
    free = hf_generate(model, tok, prompts, max_new_tokens=24, batch_size=8)
    # a token that some rows emit partway: as an extra EOS it ends those rows early and frees their slots
    counts = {}
    for per in free:
        for t in per[0][0][2:12]:
            counts[t] = counts.get(t, 0) + 1
    extra = max(counts, key=counts.get)
    saved = model.generation_config.eos_token_id
    try:
        _with_eos(model, extra)
        ref = hf_generate(model, tok, prompts, max_new_tokens=24, batch_size=8)
        lengths = {len(per[0][0]) for per in ref}
        assert len(lengths) > 1, "the extra EOS should end rows at different steps"
        for bs in (8, 3, 1):  # all at once; refills and compactions; one at a time
            got = stream_generate(model, tok, prompts, max_new_tokens=24, batch_size=bs)
            assert got == ref, f"batch_size={bs}"
    finally:
        model.generation_config.eos_token_id = saved


def test_finished_flag_is_false_only_for_rows_cut_by_the_cap(tiny):
    model, tok, prompts = tiny
    out = stream_generate(model, tok, prompts, max_new_tokens=5, batch_size=4)
    for per in out:
        ids, finished = per[0]
        assert finished == (len(ids) < 5)


def test_sampling_is_seeded_and_gives_n_independent_rows(tiny):
    model, tok, prompts = tiny
    a = stream_generate(model, tok, prompts, max_new_tokens=12, temperature=1.0, n=3, batch_size=5, seed=1)
    b = stream_generate(model, tok, prompts, max_new_tokens=12, temperature=1.0, n=3, batch_size=5, seed=1)
    c = stream_generate(model, tok, prompts, max_new_tokens=12, temperature=1.0, n=3, batch_size=5, seed=2)
    assert a == b and a != c
    assert all(len(per) == 3 for per in a)
    assert any(len({tuple(ids) for ids, _ in per}) > 1 for per in a)


def test_top_p_near_zero_is_greedy(tiny):
    model, tok, prompts = tiny
    greedy = stream_generate(model, tok, prompts, max_new_tokens=10, batch_size=8)
    nucleus = stream_generate(model, tok, prompts, max_new_tokens=10, temperature=1.0, top_p=1e-6, batch_size=8)
    assert nucleus == greedy


def test_generator_backends_agree(tiny_student):
    tok_prompts = None
    outs = {}
    for backend in ("stream", "hf"):
        gen = Generator(str(tiny_student), backend=backend, batch_size=4)
        tok_prompts = tok_prompts or [gen.tok(f"Question: {i}*{i}+1. Answer:")["input_ids"] for i in range(6)]
        outs[backend] = gen(tok_prompts, max_new_tokens=8)
    assert outs["stream"] == outs["hf"]
    with pytest.raises(ValueError, match="backend"):
        Generator(str(tiny_student), backend="fast")


def test_bfloat16_decoding_uses_a_copy_that_follows_the_model(tiny):
    import copy

    from rldistill.stream import decode_copy

    base, tok, prompts = tiny
    model = copy.deepcopy(base)  # the module's model stays untouched
    first = stream_generate(model, tok, prompts, max_new_tokens=8, batch_size=4, dtype="bfloat16")
    twin = decode_copy(model, torch.bfloat16)
    assert {p.dtype for p in twin.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # the model itself is never cast
    assert all(b.dtype == torch.float32 for b in twin.buffers() if b.is_floating_point())  # rotary frequencies
    def by_hand(m):  # the model's weights cast once by hand (its buffers left in float32, as the copy leaves them)
        m = copy.deepcopy(m)
        for p in m.parameters():
            p.data = p.data.to(torch.bfloat16)
        return m

    assert first == stream_generate(by_hand(model), tok, prompts, max_new_tokens=8, batch_size=4)
    # an in-place update of the model (an optimizer step) reaches the copy at the next call
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    after = stream_generate(model, tok, prompts, max_new_tokens=8, batch_size=4, dtype="bfloat16")
    assert decode_copy(model, torch.bfloat16) is twin
    assert all(torch.equal(a.to(torch.bfloat16), b) for a, b in zip(model.parameters(), twin.parameters()))
    assert after == stream_generate(by_hand(model), tok, prompts, max_new_tokens=8, batch_size=4)
    assert after != first


def test_decoding_dtype_errors_are_clear(tiny):
    import copy

    from rldistill.config import GRPOScriptArguments
    from rldistill.stream import decode_copy, resolve_dtype

    with pytest.raises(ValueError, match="generation dtype"):
        resolve_dtype("float16x")
    with pytest.raises(ValueError, match="generation_dtype"):
        GRPOScriptArguments(dataset_path="x.jsonl", generation_dtype="int8")
    partitioned = copy.deepcopy(tiny[0])
    next(partitioned.parameters()).ds_id = 0  # what DeepSpeed ZeRO-3 puts on its partitioned parameters
    with pytest.raises(ValueError, match="ZeRO-3"):
        decode_copy(partitioned, torch.bfloat16)
    assert decode_copy(partitioned, None) is partitioned


def test_prompt_ids_wraps_strings_in_the_chat_template_only_when_asked(tiny_student):
    from rldistill.models import load_tokenizer

    tok = load_tokenizer(str(tiny_student))
    plain = prompt_ids(tok, "What is 2+2?")
    chat = prompt_ids(tok, "What is 2+2?", chat=True)
    assert plain == tok("What is 2+2?")["input_ids"]
    assert chat == tok.apply_chat_template([{"role": "user", "content": "What is 2+2?"}], add_generation_prompt=True,
                                           tokenize=True, return_dict=True)["input_ids"]
    tok.chat_template = None
    assert prompt_ids(tok, "What is 2+2?", chat=True) == plain  # no template: plain text


@pytest.mark.slow
def test_real_model_stream_equals_generate_on_gsm8k(smollm2):
    if not GSM8K.exists():
        pytest.skip(f"{GSM8K} missing")
    model, tok = load_model_and_tokenizer(str(smollm2))
    rows = [json.loads(line) for line in GSM8K.open()][:6]
    prompts = [prompt_ids(tok, r["question"], chat=True) for r in rows]
    ref = hf_generate(model, tok, prompts, max_new_tokens=24, batch_size=6)
    got = stream_generate(model, tok, prompts, max_new_tokens=24, batch_size=4)
    same = sum(a == b for a, b in zip(ref, got))
    assert same >= 5, [tok.decode(per[0][0]) for per in got]  # float ties aside, the same greedy text
    assert all(tok.decode(per[0][0]).strip() for per in got)  # the chat template makes it answer, not end at once


def test_sample_rollouts_keep_the_eos_and_defer_to_generate_for_top_k(tiny):
    from rldistill.generation import sample_rollouts

    model, tok, prompts = tiny
    eos = model.generation_config.eos_token_id
    eos = eos if isinstance(eos, list) else [eos]
    saved = model.generation_config.eos_token_id
    try:
        extra = hf_generate(model, tok, prompts[:1], max_new_tokens=6)[0][0][0][3]  # a token the model emits
        _with_eos(model, extra)
        rows = sample_rollouts(model, prompts, eos_ids=eos + [extra], pad_id=tok.pad_token_id, max_new_tokens=10,
                               temperature=1e-4, batch_size=3)  # ~greedy
        ref = hf_generate(model, tok, prompts, max_new_tokens=10, batch_size=8)
        for got, (ids, finished) in zip(rows, (per[0] for per in ref)):
            assert got == (ids + [got[-1]] if finished else ids)
            assert not finished or got[-1] in eos + [extra]
    finally:
        model.generation_config.eos_token_id = saved
    assert sample_rollouts(model, prompts, eos_ids=eos, pad_id=0, max_new_tokens=4, top_k=5) is None


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_grpo_rollouts_go_through_the_stream_backend(tiny_student, tmp_path, monkeypatch, dtype):
    from conftest import make_rows, write_rows

    import rldistill.generation as generation
    from rldistill.grpo import cli

    calls = []
    real = generation.sample_rollouts
    monkeypatch.setattr(generation, "sample_rollouts",
                        lambda *a, **k: calls.append((len(a[1]), k["dtype"])) or real(*a, **k))
    data = write_rows(tmp_path / "rows.jsonl", make_rows(8))
    recipe = Path(__file__).resolve().parents[1] / "configs/recipes/tiny/grpo.yaml"
    cli(["--config", str(recipe), "--model_name_or_path", str(tiny_student), "--dataset_path", str(data),
         "--output_dir", str(tmp_path / "out"), "--num_generations", "4", "--per_device_train_batch_size", "4",
         "--max_completion_length", "8", "--max_steps", "1", "--save_strategy", "no", "--reward_funcs", "math",
         "--reward_weights", "1.0", "--reward_warmup", "none", "--dynamic_sampling", "none",
         "--generation_dtype", dtype])
    assert calls == [(4, dtype)]


@pytest.mark.slow
def test_real_model_eval_scores_what_rldistill_verify_scores(smollm2, tmp_path):
    """`rldistill eval` on SmolLM2 through its chat template, then `rldistill verify` on the completions it wrote:
    the same verdict for every row (one scoring function for evaluation and rewards)."""
    if not GSM8K.exists():
        pytest.skip(f"{GSM8K} missing")
    from rldistill.evaluate import cli as eval_cli
    from verifiers.cli import cli as verify_cli

    out = tmp_path / "eval"
    assert eval_cli(["--model", f"smol={smollm2}", "--data", f"gsm8k={GSM8K}", "--limit", "6", "--max-new-tokens",
                     "96", "--batch-size", "4", "--no-progress", "--out", str(out)]) == 0
    recs = [json.loads(line) for line in (out / "generations" / "smol" / "gsm8k.jsonl").open()]
    assert len(recs) == 6 and sum(bool(r["completion"].strip()) for r in recs) >= 5  # it answers, in English
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"completion": r["completion"], "answer": r["answer"], "verifier": "math"}) + "\n"
                            for r in recs))
    assert verify_cli(["--input", str(rows), "--output", str(tmp_path / "scored.jsonl")]) == 0
    scored = [json.loads(line) for line in (tmp_path / "scored.jsonl").open()]
    assert [s["reason"] for s in scored] == [r["reason"] for r in recs]
    assert [s["score"] == 1.0 for s in scored] == [r["correct"] for r in recs]
