"""Evaluation plumbing on scripted generations, plus batched HF generation.

A scripted generator (character ids, fixed completions per prompt) makes every
metric's expected value computable by hand: budgets, pass@k, robustness gap,
teacher overlap, paired comparisons and the written artefacts. One test runs
a real (random, tiny) Llama through ``hf_generate`` to check that left-padded
batches give the same greedy tokens as one prompt at a time.
"""

import itertools
import json
from pathlib import Path

import pytest

from rldistill import evaluate
from rldistill.evaluate import EvalConfig

SUFFIX = "\n\\boxed{"


class CharTok:
    """Character ids; enough of a tokenizer for the evaluation code."""

    pad_token_id, eos_token_id = 0, 1

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids)


class ScriptedGen:
    """Greedy: ``script[prompt]``; sampling: ``samples[prompt]``; after the
    forcing suffix it answers with the last number that follows '=' in the kept
    reasoning (or 0), which is what a model forced to answer early would do."""

    backend = "scripted"

    def __init__(self, script, samples=None):
        self.tok, self.script, self.samples = CharTok(), script, samples or {}
        self.calls = []

    def decode(self, ids):
        return self.tok.decode(ids)

    def __call__(self, prompts, *, max_new_tokens, temperature=0.0, top_p=1.0, n=1, seed=0, stop_at_answer=False):
        self.calls.append((len(prompts), max_new_tokens, temperature, n))
        out = []
        for p in prompts:
            text = self.tok.decode(p)
            if text.endswith(SUFFIX):
                nums = [s.split()[0] for s in text.split("=")[1:] if s.split()]
                comps = [(nums[-1] if nums else "0") + "}"]
            elif temperature > 0:
                comps = self.samples[text][:n]
            else:
                comps = [self.script[text]]
            res = []
            for c in comps:
                ids = [ord(ch) for ch in c]
                res.append((ids[:max_new_tokens], len(ids) <= max_new_tokens))
            out.append(res)
        return out


def boxed_score(completions, answers, verifier_names):
    """Stand-in for the math verifier: the last \\boxed{...} equals the answer."""
    from verifiers import Verdict

    out = []
    for c, a in zip(completions, answers):
        if "\\boxed{" not in c:
            out.append(Verdict(0.0, "no_answer"))
            continue
        got = c.rsplit("\\boxed{", 1)[1].split("}")[0]
        out.append(Verdict(float(got == a), "ok" if got == a else "mismatch"))
    return out


@pytest.fixture(autouse=True)
def _scripted_scoring(monkeypatch):
    monkeypatch.setattr(evaluate, "score", boxed_score)


def rows(*items):
    return [{"id": str(i), "prompt": p, "answer": a, "completion": t, "verifier": "math"}
            for i, (p, a, t) in enumerate(items)]


SUITE = rows(
    ("Q1 ", "7", "so 3+4 = 7 then \\boxed{7}"),
    ("Q2 ", "5", "so 2+3 = 5 then \\boxed{5}"),
)


def test_greedy_accuracy_tokens_and_reasons():
    gen = ScriptedGen({"Q1 ": "3+4 = 7 \\boxed{7}", "Q2 ": "no idea \\boxed{9}"})
    m, recs = evaluate.evaluate_suite(gen, SUITE, EvalConfig(max_new_tokens=100))
    assert m["accuracy"] == 0.5
    assert m["mean_tokens"] == (len("3+4 = 7 \\boxed{7}") + len("no idea \\boxed{9}")) / 2
    assert m["mean_tokens_correct"] == len("3+4 = 7 \\boxed{7}")
    assert m["reasons"] == {"ok": 1, "mismatch": 1}
    assert [r["correct"] for r in recs] == [True, False]
    assert m["pass@1"] == 0.5 and m["n_samples"] == 0  # greedy only: pass@1 is the greedy accuracy


def test_completion_cut_by_max_new_tokens_counts_as_truncated():
    gen = ScriptedGen({"Q1 ": "x" * 50 + "\\boxed{7}", "Q2 ": "\\boxed{5}"})
    m, recs = evaluate.evaluate_suite(gen, SUITE, EvalConfig(max_new_tokens=20))
    assert m["truncated_fraction"] == 0.5
    assert recs[0]["tokens"] == 20 and not recs[0]["finished"] and not recs[0]["correct"]


def test_budget_forcing_truncates_and_forces_an_answer():
    reasoning = "a = 3 then b = 7 so \\boxed{7}"  # 29 chars; "= 7" ends at char 16
    gen = ScriptedGen({"Q1 ": reasoning, "Q2 ": "\\boxed{5}"})
    cfg = EvalConfig(max_new_tokens=100, budgets=(5, 10, 16, 100), force_suffix=SUFFIX)
    m, _ = evaluate.evaluate_suite(gen, SUITE, cfg)
    b = m["budgets"]
    # Q2 ("\boxed{5}", 9 tokens) ends within every budget >= 9 and keeps its own answer;
    # at budget 5 it is forced and answers 0 (no '=' seen).
    assert b["5"]["accuracy"] == 0.0
    # Budget 10: Q1 has seen "a = 3 the" -> forced answer 3 (wrong); Q2 is right.
    assert b["10"]["accuracy"] == 0.5
    # Budget 16 keeps "a = 3 then b = 7" -> forced answer 7: both right.
    assert b["16"]["accuracy"] == 1.0
    assert b["100"]["accuracy"] == 1.0 and b["100"]["mean_tokens"] == (len(reasoning) + 9) / 2
    # forced token count: budget + suffix + the answer and its brace
    assert b["16"]["mean_tokens"] == ((16 + len(SUFFIX) + 2) + 9) / 2


def test_budget_forcing_only_calls_the_model_for_completions_over_budget():
    gen = ScriptedGen({"Q1 ": "\\boxed{7}", "Q2 ": "\\boxed{5}"})
    evaluate.evaluate_suite(gen, SUITE, EvalConfig(max_new_tokens=50, budgets=(64,)))
    assert len(gen.calls) == 1  # the greedy pass only: both finished within 64 tokens


def test_sampled_pass_at_k_matches_brute_force():
    samples = {
        "Q1 ": ["\\boxed{7}", "\\boxed{1}", "\\boxed{7}", "\\boxed{2}"],
        "Q2 ": ["\\boxed{0}", "\\boxed{0}", "\\boxed{5}", "\\boxed{0}"],
    }
    gen = ScriptedGen({"Q1 ": "\\boxed{7}", "Q2 ": "\\boxed{0}"}, samples)
    m, recs = evaluate.evaluate_suite(gen, SUITE, EvalConfig(n_samples=4, temperature=1.0, max_new_tokens=50))
    outcomes = [[True, False, True, False], [False, False, True, False]]
    for k in range(1, 5):
        brute = sum(
            sum(any(s) for s in itertools.combinations(o, k)) / len(list(itertools.combinations(o, k)))
            for o in outcomes
        ) / 2
        assert m["pass@k"][str(k)] == pytest.approx(brute)
    assert m["pass@1"] == pytest.approx(3 / 8)
    assert m["accuracy"] == 0.5  # the greedy headline is separate from the samples
    assert recs[0]["samples_correct"] == outcomes[0]


def test_teacher_overlap_and_verbose_markers():
    gen = ScriptedGen({"Q1 ": "so 3+4 = 7 then \\boxed{7}", "Q2 ": "wait, let me think \\boxed{5}"})
    m, _ = evaluate.evaluate_suite(gen, SUITE, EvalConfig(max_new_tokens=100))
    # Q1 copies the teacher verbatim (overlap 1); Q2 shares only the boxed tail with its teacher.
    assert m["teacher_overlap"]["count"] == 2
    assert 0.5 < m["teacher_overlap"]["mean"] < 1.0
    assert m["verbose_markers"]["per_completion"] == {"wait": 0.5, "double-check": 0.0, "let me": 0.5}


def test_prompt_ids_use_the_chat_template_for_message_lists():
    class ChatTok(CharTok):
        def apply_chat_template(self, messages, add_generation_prompt, tokenize, return_dict):
            assert add_generation_prompt and tokenize
            text = "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"
            return {"input_ids": [ord(c) for c in text]}

    tok = ChatTok()
    assert evaluate.prompt_ids(tok, "hi") == [ord("h"), ord("i")]
    ids = evaluate.prompt_ids(tok, [{"role": "user", "content": "hi"}])
    assert tok.decode(ids) == "<user>hi<assistant>"


def test_resolve_suites_expands_a_synth_folder(tmp_path):
    (tmp_path / "styles").mkdir()
    for f in ("eval.jsonl", "ood.jsonl", "train.jsonl", "styles/paraphrase.jsonl", "styles/format.jsonl"):
        (tmp_path / f).write_text("")
    got = evaluate.resolve_suites([str(tmp_path), f"gsm={tmp_path / 'train.jsonl'}"])
    assert list(got) == ["eval", "ood", "styles/format", "styles/paraphrase", "gsm"]
    assert evaluate.resolve_suites([str(tmp_path / "train.jsonl")]) == {f"{tmp_path.name}/train": tmp_path / "train.jsonl"}
    with pytest.raises(FileNotFoundError):
        evaluate.resolve_suites([str(tmp_path / "missing.jsonl")])


def _write_suite(path: Path, items):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows(*items)))


def test_evaluate_models_writes_artefacts_robustness_and_comparisons(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _write_suite(data / "eval.jsonl", [("E1 ", "1", "= 1 \\boxed{1}"), ("E2 ", "2", "= 2 \\boxed{2}")])
    _write_suite(data / "ood.jsonl", [("O1 ", "3", "= 3 \\boxed{3}")])
    _write_suite(data / "styles" / "terse.jsonl", [("T1 ", "1", ""), ("T2 ", "2", "")])
    _write_suite(data / "styles" / "noisy.jsonl", [("N1 ", "1", ""), ("N2 ", "2", "")])
    right = {"E1 ": "\\boxed{1}", "E2 ": "\\boxed{2}", "O1 ": "\\boxed{3}", "T1 ": "\\boxed{1}", "T2 ": "\\boxed{2}",
             "N1 ": "\\boxed{1}", "N2 ": "\\boxed{0}"}
    wrong = {k: "long wrong answer \\boxed{9}" for k in right}
    wrong["E1 "] = "\\boxed{1}"
    scripts = {"good": right, "bad": wrong}
    monkeypatch.setattr(evaluate, "Generator", lambda path, backend, bs, **kw: ScriptedGen(scripts[path]))

    out = tmp_path / "out"
    res = evaluate.evaluate_models({"bad": "bad", "good": "good"}, evaluate.resolve_suites([str(data)]),
                                   EvalConfig(max_new_tokens=64, budgets=(4, 64)), out)
    good, bad = res["models"]["good"], res["models"]["bad"]
    assert good["suites"]["eval"]["accuracy"] == 1.0 and bad["suites"]["eval"]["accuracy"] == 0.5
    assert good["robustness"]["worst_style"] == "styles/noisy"
    assert good["robustness"]["gaps"] == {"styles/noisy": 0.5, "styles/terse": 0.0}
    cmp_ = res["comparisons"]["good - bad"]
    assert cmp_["eval"]["diff"] == 0.5 and set(cmp_) == {"eval", "ood", "styles/noisy", "styles/terse"}

    for f in ("eval.json", "report.md", "accuracy_vs_tokens.png", "accuracy_per_suite.png", "budget_accuracy.png",
              "generations/good/styles_noisy.jsonl"):
        assert (out / f).exists(), f
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    for needle in ("| good |", "| bad |", "Paired comparisons", "≤4 tok", "noisy"):
        assert needle in md
    assert json.loads((out / "eval.json").read_text())["models"]["good"]["suites"]["ood"]["accuracy"] == 1.0


def test_hf_generate_left_padded_batches_match_one_prompt_at_a_time():
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                      pad_token_id=0, eos_token_id=1, bos_token_id=2)
    model = LlamaForCausalLM(cfg).eval()
    tok = CharTok()
    prompts = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17]]
    batched = evaluate.hf_generate(model, tok, prompts, max_new_tokens=12, batch_size=8)
    single = [evaluate.hf_generate(model, tok, [p], max_new_tokens=12, batch_size=1)[0] for p in prompts]
    assert batched == single
    for (ids, finished), in batched:
        assert 1 not in ids and (finished or len(ids) == 12)
    # num_return_sequences: each prompt gets n sampled completions
    sampled = evaluate.hf_generate(model, tok, prompts, max_new_tokens=6, temperature=1.0, n=3, batch_size=6)
    assert [len(s) for s in sampled] == [3, 3, 3]


@pytest.mark.slow
def test_eval_cli_on_the_embedded_student_and_suites(tmp_path, monkeypatch):
    """`rldistill eval` end to end: real student, real suites, the real math verifier."""
    monkeypatch.undo()  # no scripted scoring here
    from rldistill.cli import main
    from rldistill.student import build_student
    from rldistill.tasks.synth import synth

    synth(tmp_path / "data", seed=1, n_train=60, n_eval=6, n_ood=6)
    build_student(tmp_path / "student", data_dir=tmp_path / "data")
    out = tmp_path / "eval"
    rc = main(["eval", "--model", f"s={tmp_path / 'student'}", "--data", str(tmp_path / "data"), "--limit", "4",
               "--max-new-tokens", "8", "--n-samples", "2", "--temperature", "1.0", "--budgets", "2,4",
               "--budget-suites", "eval", "--out", str(out)])
    assert rc == 0
    res = json.loads((out / "eval.json").read_text())
    suites = res["models"]["s"]["suites"]
    assert set(suites) == {"eval", "ood", "styles/distract", "styles/format", "styles/notation", "styles/paraphrase"}
    assert suites["eval"]["n"] == 4 and suites["eval"]["mean_tokens"] <= 8
    assert set(suites["eval"]["budgets"]) == {"2", "4"} and suites["ood"]["budgets"] == {}
    assert set(suites["eval"]["pass@k"]) == {"1", "2"}
    assert res["models"]["s"]["robustness"]["worst_style"].startswith("styles/")
    assert (out / "report.md").exists() and (out / "accuracy_vs_tokens.png").exists()
    assert res["models"]["s"]["generation_dtype"] == "float32"
    rc = main(["eval", "--model", f"s={tmp_path / 'student'}", "--data", f"eval={tmp_path / 'data' / 'eval.jsonl'}",
               "--limit", "4", "--max-new-tokens", "8", "--generation-dtype", "bfloat16", "--out", str(tmp_path / "bf16")])
    res = json.loads((tmp_path / "bf16" / "eval.json").read_text())
    assert rc == 0 and res["models"]["s"]["generation_dtype"] == "bfloat16" and res["models"]["s"]["suites"]["eval"]["n"] == 4


def test_math_verifier_through_the_shared_score_function():
    """The real scoring path (no monkeypatch): rewards.score with the math verifier."""
    from rldistill.rewards import score

    v = score(["so \\boxed{12}", "\\boxed{13}", "no answer"], ["12", "12", "12"], "math")
    assert [x.score for x in v] == [1.0, 0.0, 0.0]


# ---------------------------------------------------------------- stopping at the first final answer


def test_answer_end_finds_the_first_complete_answer():
    from rldistill.evaluate import answer_end

    assert answer_end("2+3=5\n\\boxed{5}\nWait, more") == len("2+3=5\n\\boxed{5}")
    assert answer_end("\\boxed{\\frac{1}{2}} then") == len("\\boxed{\\frac{1}{2}}")
    assert answer_end("\\boxed{\\frac{1}{2") is None  # not closed yet
    assert answer_end("Final answer: 7") is None  # the line may still grow
    assert answer_end("x\nFinal answer: 7\n\\boxed{8}") == len("x\nFinal answer: 7\n")
    assert answer_end("no answer here") is None


def test_answer_stop_criterion_and_cut_on_a_real_tokenizer(tmp_path):
    """A completion that boxes and then rambles is cut right after the box; rows stop independently."""
    import torch

    from rldistill.evaluate import AnswerStop, cut_at_answer
    from rldistill.models import load_tokenizer
    from rldistill.student import build_student

    tok = load_tokenizer(str(build_student(tmp_path / "s", size="tiny")))
    ids = tok("\\boxed{5} and then it goes on and on", add_special_tokens=False)["input_ids"]
    prompt = tok("Question: 2+3?\nAnswer:")["input_ids"]
    cut = cut_at_answer(ids, lambda x: tok.decode(x, skip_special_tokens=True))
    assert tok.decode(cut) == "\\boxed{5}"
    assert cut_at_answer(ids[:3], lambda x: tok.decode(x)) == ids[:3]  # no complete answer: unchanged
    stop = AnswerStop(tok, prompt_width=len(prompt))
    batch = torch.tensor([prompt + cut, prompt + ids[: len(cut) - 1] + [ids[0]]])
    assert stop(batch, None).tolist() == [True, False]


def test_report_plots_suites_not_named_eval_and_an_all_wrong_model(tmp_path):
    """A zero-shot model on a benchmark file (suite `gsm8k`, accuracy 0) still gets its plots and report."""
    from rldistill import report

    result = {"settings": {"budgets": []}, "suites": {"gsm8k": "x"}, "comparisons": {},
              "models": {"smol": {"suites": {"gsm8k": {"accuracy": 0.0, "mean_tokens": 57.0}}, "robustness": {}}}}
    plots = report.plot_all(result, tmp_path)
    assert (tmp_path / "accuracy_vs_tokens.png").stat().st_size > 0 and "accuracy per suite" in plots


def test_compare_evals_script_pairs_two_runs_by_problem(tmp_path, capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "compare_evals.py"
    spec = importlib.util.spec_from_file_location("compare_evals", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def run(name, correct, ids=None):
        gen = tmp_path / name / "generations" / "m"
        gen.mkdir(parents=True)
        rows = [{"id": i, "correct": c, "completion": f"{i}{c}"} for i, c in zip(ids or range(len(correct)), correct)]
        (gen / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))  # order differs
        return tmp_path / name

    a = run("a", [True] * 30 + [False] * 10)
    b = run("b", [True] * 20 + [False] * 20)
    mod.main([str(a), str(b)])
    line = [x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("eval")][0].split()
    assert line[:5] == ["eval", "40", "75.0", "50.0", "+25.0"] and line[-1] == "30/40"  # 10 problems differ
    other = run("c", [True] * 40, ids=range(1, 41))
    with pytest.raises(SystemExit, match="other problems"):
        mod.main([str(a), str(other)])
