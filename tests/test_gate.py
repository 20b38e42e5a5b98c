"""`rldistill.gate`: pass@k counts problems with a correct sample, and GRPO runs only behind the gate."""

import json

import pytest

from rldistill import demo_jobs, gate, generation

ROWS = [{"prompt": "Q0", "answer": "3"}, {"prompt": "Q1", "answer": "4"}, {"prompt": "Q2", "answer": "5"}]
SAMPLES = [["\\boxed{1}", "\\boxed{2}"], ["\\boxed{9}", "so \\boxed{4}"], ["\\boxed{5}", "\\boxed{5}"]]


class _FakeGenerator:
    """Stands in for ``rldistill.generation.Generator``: hands back fixed texts as if they were token ids."""

    calls: list = []

    def __init__(self, path, **kw):
        self.tok = None

    def decode(self, ids):
        return ids

    def __call__(self, pids, **kw):
        _FakeGenerator.calls.append(kw)
        return [[(text, True) for text in SAMPLES[int(p[1])][: kw["n"]]] for p in pids]


@pytest.fixture
def fake_generation(monkeypatch):
    from rldistill import evaluate

    monkeypatch.setattr(generation, "Generator", _FakeGenerator)
    monkeypatch.setattr(evaluate, "prompt_ids", lambda tok, prompt, chat=None: prompt)
    _FakeGenerator.calls = []
    return _FakeGenerator.calls


def test_pass_at_k_counts_problems_with_at_least_one_correct_sample(fake_generation):
    r = gate.pass_at_k("unused", ROWS, k=2, n=3)
    assert r["solved"] == 2 and r["pass_at_k"] == pytest.approx(2 / 3) and r["mean_correct"] == pytest.approx(3 / 6)
    assert any(c["temperature"] == 1.0 and c["n"] == 2 for c in fake_generation)  # sampled, k per problem


def test_pass_at_k_of_a_model_that_never_answers_right_is_zero(fake_generation):
    rows = [dict(r, answer="7") for r in ROWS]
    assert gate.pass_at_k("unused", rows, k=2)["pass_at_k"] == 0.0


def test_pass_at_k_uses_only_the_first_n_problems(fake_generation):
    assert gate.pass_at_k("unused", ROWS, k=1, n=1)["problems"] == 1
    with pytest.raises(ValueError, match="at least one row"):
        gate.pass_at_k("unused", [], k=1)


def _files(tmp_path):
    model = tmp_path / "sft"
    model.mkdir()
    (model / "config.json").write_text("{}")
    prompts = tmp_path / "rl.jsonl"
    prompts.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    return model, prompts


def test_a_closed_gate_keeps_the_sft_model_and_trains_nothing(tmp_path, monkeypatch):
    model, prompts = _files(tmp_path)
    monkeypatch.setattr(gate, "pass_at_k", lambda *a, **k: {"k": 8, "problems": 3, "solved": 0, "pass_at_k": 0.0})
    monkeypatch.setattr(demo_jobs, "train_stage", lambda *a: pytest.fail("GRPO ran behind a closed gate"))
    out = gate.gated_grpo(["--x"], str(model), str(prompts), str(tmp_path / "grpo"), min_pass=0.1)
    assert out["steps"] == 0 and out["gate"]["passed"] is False and out["gate"]["min_pass"] == 0.1
    assert (tmp_path / "grpo" / "config.json").read_text() == "{}"


def test_an_open_gate_trains_with_the_argv(tmp_path, monkeypatch):
    model, prompts = _files(tmp_path)
    monkeypatch.setattr(gate, "pass_at_k", lambda *a, **k: {"k": 8, "problems": 3, "solved": 1, "pass_at_k": 1 / 3})
    seen = []
    monkeypatch.setattr(demo_jobs, "train_stage", lambda module, argv: seen.append(argv) or {"steps": 5})
    out = gate.gated_grpo(["--max_steps", "5"], str(model), str(prompts), str(tmp_path / "grpo"), min_pass=0.1)
    assert seen == [["--max_steps", "5"]] and out["steps"] == 5 and out["gate"]["passed"] is True
