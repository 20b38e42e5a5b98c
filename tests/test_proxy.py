"""rldistill.proxy: step importance under a real language model, and the ``proxy`` compressor's gates.

The gate and threshold tests use a stand-in scorer (no model); the scoring arithmetic is checked against
plain full forward passes on the tiny student; the behaviour on real GSM8K teacher rows uses SmolLM2-135M
(the ``smollm2`` fixture of tests/conftest.py).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from rldistill.compressors import Example, derivation_holds
from rldistill.tasks.gsm8k_teacher import build, kept_results, teach_gsm8k

GSM8K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gsm8k" / "train.jsonl"
needs_gsm8k = pytest.mark.skipif(not GSM8K.exists(), reason=f"{GSM8K} not present (../shared/data beside the repo)")

Q = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many?"
A = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether.\n#### 72"


def _example(seed=0):
    text, _, _, _ = teach_gsm8k(Q, A, random.Random(seed))
    return Example(text, f"Question: {Q} Put the final answer in \\boxed{{}}.\nAnswer:", "72")


class Constant:
    """A stand-in scorer: every step equally (un)important."""

    def __init__(self, value):
        self.value = value

    def importance(self, ex, candidates):
        return {i: self.value for i in candidates}


def _proxy(ex, scorer, **kw):
    import rldistill.proxy  # noqa: F401  (registers "proxy")
    from rldistill.compressors import get_compressor

    return get_compressor("proxy")(ex, proxy=scorer, **kw)


def test_no_step_the_derivation_needs_goes_even_when_the_model_says_all_are_unimportant():
    ex = _example()
    out = _proxy(ex, Constant(-100.0))
    assert derivation_holds(ex, set(out.kept))
    assert "48/2 = 24" in out and "48+24 = 72" in out and out.rstrip().endswith("\\boxed{72}")
    assert all(kept_results(out, ["24", "72"]))
    # the bad case: the same deletions without the gate lose the computation
    assert not derivation_holds(ex, {ex.final})


def test_nothing_above_the_threshold_goes_but_wrong_equations_always_do():
    ex = _example()
    wrong = {s.index for s in ex.steps if s.check == "fail"}
    out = _proxy(ex, Constant(5.0), threshold=1.0)
    assert set(out.kept) == {s.index for s in ex.steps if s.index <= ex.final} - wrong
    assert _proxy(ex, Constant(0.5), threshold=1.0).kept < out.kept


def test_method_proxy_without_a_model_is_an_early_clear_error():
    from rldistill.compress import compress_dataset

    ex = _example()
    with pytest.raises(ValueError, match="--proxy-model"):
        compress_dataset([{"prompt": ex.prompt, "completion": ex.completion, "answer": "72"}], method="proxy")


def _naive(scorer, ex, i):
    """The importance of step ``i`` from two plain forward passes (no cache), as the docstring defines it."""
    ctx, pieces = scorer.context_ids(ex.prompt), scorer.pieces(ex)
    fin = pieces[-1][1]
    full, at = list(ctx), {}
    for j, ids in pieces[:-1]:
        at[j] = (len(full), len(full) + len(ids))
        full += ids
    a, b = at[i]
    w_end = min(b + scorer.horizon, len(full))
    window, weights = full[b:w_end], torch.cat([scorer._weights(full[b:w_end]), torch.ones(len(fin))])

    def lp(seq, n):  # log p of the last n tokens of seq
        with torch.no_grad():
            logits = scorer.model(input_ids=torch.tensor([seq])).logits[0, -n - 1:-1].float()
        return torch.log_softmax(logits, -1).gather(-1, torch.tensor(seq[-n:])[:, None])[:, 0]

    n = len(window) + len(fin)
    return float((lp(full[:w_end] + fin, n) * weights).sum() - (lp(full[:a] + window + fin, n) * weights).sum())


@pytest.mark.parametrize("horizon", [8, 64])
def test_cached_scoring_equals_two_plain_forward_passes(tiny_student, horizon):
    from rldistill.proxy import ProxyScorer

    scorer = ProxyScorer(str(tiny_student), horizon=horizon)
    ex = _example()
    cands = [s.index for s in ex.steps if not s.final][:6]
    got = scorer.importance(ex, cands)
    for i in cands:
        assert got[i] == pytest.approx(_naive(scorer, ex, i), abs=2e-3), i


# --------------------------------------------------------------------------- SmolLM2-135M on real rows


@pytest.fixture(scope="module")
def scorer(smollm2):
    from rldistill.proxy import ProxyScorer

    return ProxyScorer(str(smollm2))


def test_the_prompt_goes_through_the_chat_template(scorer):
    text = scorer.tok.decode(scorer.context_ids("Question: What is 2+3?\nAnswer:"))
    assert "<|im_start|>user\nQuestion: What is 2+3?" in text and text.rstrip().endswith("<|im_start|>assistant")


@needs_gsm8k
def test_a_result_used_later_outweighs_filler_on_real_rows(scorer):
    rows, _ = build(GSM8K, limit=2)  # a few minutes per row on a busy 2-core machine
    for r in rows:
        ex = Example(r["completion"], r["prompt"], r["answer"])
        later = set().union(*(s.uses for s in ex.steps[1:]))
        # the human lines whose result a later computation uses, and the teacher's pure filler sentences
        lines = [seg["text"].strip() for seg in r["teacher_steps"] if seg.get("results")]
        needed = [s.index for s in ex.steps if s.text in lines and s.results & later and not s.final]
        fillers = [s.index for s in ex.steps
                   if any(seg["role"] == "filler" and seg["text"].strip() == s.text for seg in r["teacher_steps"])]
        assert needed and fillers, r["id"]
        imp = scorer.importance(ex, needed + fillers)
        mean = lambda idx: sum(imp[i] for i in idx) / len(idx)  # noqa: E731
        assert mean(needed) > mean(fillers) + 0.5, (r["id"], {i: round(imp[i], 2) for i in needed + fillers})


@needs_gsm8k
def test_proxy_method_reverifies_compresses_and_keeps_the_annotated_results(smollm2):
    from rldistill.compress import compress_dataset

    rows, _ = build(GSM8K, limit=2)
    ds, stats = compress_dataset(rows, method="proxy", proxy_model=str(smollm2), progress=False)
    assert stats["produced_by"] == {"proxy": 2} and stats["rows_out"] == 2  # no fallback: each re-verified
    for r in ds:
        assert all(kept_results(r["completion"], r["decision_results"])), (r["id"], r["completion"])
    assert stats["ratio"] < 0.6  # it did compress: the bad case (nothing deleted) fails here
