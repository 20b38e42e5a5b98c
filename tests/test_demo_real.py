"""`rldistill demo --student smollm2-135m --quick`: the real-student demo end to end, and its parts.

The quick preset's numbers mean nothing (a few SFT steps, one GRPO step, three problems per suite); what is
checked is that every stage ran on the pretrained student and handed its output on, that the four SFT arms
were planned at the same number of training tokens (and the two GRPO arms at the same sampled tokens), and
that summary.json and report.md have the documented shape. The parts (reference rows, the related suite,
the claim's criteria, the preset file) are checked on their own.
"""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from rldistill import demo_jobs, demo_real, demo_real_report

REPO = Path(__file__).resolve().parents[1]
GSM8K_TEST = REPO.parent / "shared" / "data" / "gsm8k" / "test.jsonl"
ARMS = ["answer_only_sft", "verbose_sft", "compressed_sft", "reference_sft", "verbose_sft_grpo", "compressed_sft_grpo"]


def gsm8k_rows(tmp_path: Path) -> Path:
    """The real GSM8K test file where ../shared is there, else three rows in its format."""
    if GSM8K_TEST.exists():
        return GSM8K_TEST
    p = tmp_path / "gsm8k.jsonl"
    p.write_text("".join(json.dumps({"question": f"Tom has {i} apples and buys 2 more. How many now?",
                                     "answer": f"{i}+2=<<{i}+2={i + 2}>>{i + 2}\n#### {i + 2}"}) + "\n" for i in range(3)))
    return p


@pytest.fixture(scope="module")
def quick_run(smollm2, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_real")
    cfg = out / "preset.yaml"
    cfg.write_text(f"related: {gsm8k_rows(out)}\n")
    proc = subprocess.run([sys.executable, "-m", "rldistill", "demo", "--student", str(smollm2), "--quick",
                           "--config", str(cfg), "--out", str(out)], capture_output=True, text=True, timeout=1800, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return out, proc.stdout


@pytest.mark.slow
def test_quick_run_writes_every_artefact(quick_run):
    out, stdout = quick_run
    for f in ("report.md", "summary.json", "eval.json", "plan.json", "accuracy_vs_tokens.png", "data/train.jsonl",
              "data/related.jsonl", "sft_data/reference_sft.jsonl", "sft_data/compress_stats.json"):
        assert (out / f).exists(), f
    assert sorted(p.stem for p in (out / "data" / "styles").glob("*.jsonl")) == ["distract", "format", "paraphrase"]
    kinds = {json.loads(line)["kind"] for line in (out / "data" / "train.jsonl").read_text().splitlines()}
    assert kinds == {"chain", "equation", "word"}  # the kinds it was measured on, not the embedded demo's slots
    for arm in ARMS:
        assert (out / "models" / arm / "config.json").exists(), arm
        assert (out / "eval" / "generations" / arm / "related.jsonl").exists(), arm
    assert (out / "eval" / "generations" / "zero_shot" / "eval.jsonl").exists()
    assert "compressed_sft_grpo" in stdout and "related" in stdout


@pytest.mark.slow
def test_quick_summary_has_the_documented_shape(quick_run):
    out, _ = quick_run
    s = json.loads((out / "summary.json").read_text())
    assert set(ARMS) <= set(s["arms"]) and "zero_shot" in s["arms"]
    for arm in ARMS:
        for split in ("eval", "related", "worst_style"):
            a = s["arms"][arm][split]
            assert 0.0 <= a["accuracy"] <= 1.0 and a["mean_tokens"] >= 0, (arm, split)
        assert s["arms"][arm]["worst_style"]["style"] in ("paraphrase", "format", "distract")
    assert set(s["claim"]) >= {"matches_on_eval", "beats_on_worst_style", "beats_on_related", "tokens_le_35pct"}
    assert s["budgets"]["sft_tokens_per_arm"] == demo_real.PRESETS["quick"].sft_tokens


@pytest.mark.slow
def test_quick_arms_are_compute_matched(quick_run):
    out, _ = quick_run
    plan = json.loads((out / "plan.json").read_text())
    budget = demo_real.PRESETS["quick"].sft_tokens
    for arm in ARMS[:4]:
        pl = plan[arm]
        # rounding to whole steps: at most half a step's tokens away from the budget
        assert abs(pl["planned_tokens"] - budget) <= 0.5 * pl["batch_size"] * pl["mean_row_tokens"] + 1, arm
        assert pl["log"]["steps"] == pl["steps"] and pl["log"]["num_tokens"] > 0, arm
    # the verbose arm has the longest rows, so the fewest steps for the same tokens
    assert plan["verbose_sft"]["steps"] <= plan["compressed_sft"]["steps"] <= plan["answer_only_sft"]["steps"]
    for arm in ARMS[4:]:  # GRPO: stopped at the sampled-token budget, or at 3x the planned steps
        lg, pl = plan[arm]["log"], plan[arm]
        assert lg["num_tokens"] >= demo_real.PRESETS["quick"].grpo_tokens or lg["steps"] == 3 * pl["steps"], arm


@pytest.mark.slow
def test_quick_report_states_the_budgets_and_every_arm(quick_run):
    out, _ = quick_run
    md = (out / "report.md").read_text()
    for arm in ARMS:
        assert f"| {arm} |" in md, arm
    assert f"{demo_real.PRESETS['quick'].sft_tokens:,} training tokens" in md
    assert f"{demo_real.PRESETS['quick'].grpo_tokens:,} tokens" in md
    assert "## Summary" in md and "criteria" in md


def test_reference_rows_are_the_teachers_computation_lines_and_still_verify(tmp_path):
    from rldistill.evaluate import is_correct, score
    from rldistill.tasks.synth import synth

    synth(tmp_path, seed=0, n_train=20, n_eval=2, n_ood=0)
    rows = demo_real.reference_rows(tmp_path / "train.jsonl")
    assert len(rows) == 20
    for r in rows:
        assert "Wait" not in r["completion"] and "Hmm" not in r["completion"]
        assert r["completion"].rstrip().endswith(f"\\boxed{{{r['answer']}}}")
    verdicts = score([r["completion"] for r in rows], [r["answer"] for r in rows], ["math"] * len(rows))
    assert all(is_correct(v) for v in verdicts)


def test_related_rows_are_asked_like_training(tmp_path):
    rows = demo_real.related_rows(replace(demo_real.PRESETS["quick"], related=str(gsm8k_rows(tmp_path)), n_related=3))
    assert len(rows) == 3
    for r in rows:
        assert r["prompt"].startswith("Question: ") and r["prompt"].endswith("Put the final answer in \\boxed{}.\nAnswer:")
        assert r["answer"].strip()


def test_a_missing_related_benchmark_names_the_file_and_the_setting(tmp_path):
    with pytest.raises(SystemExit, match=r"nope\.jsonl not found.*related:"):
        demo_real.related_rows(replace(demo_real.PRESETS["quick"], related=str(tmp_path / "nope.jsonl")))


def test_an_unknown_preset_key_names_the_file_and_the_key(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("sft_tokens: 10\nsft_tokenz: 3\n")
    with pytest.raises(SystemExit, match=r"p\.yaml: unknown field\(s\) \['sft_tokenz'\]"):
        demo_real.load_preset(str(bad), demo_real.PRESETS["default"])
    assert demo_real.load_preset(None, demo_real.PRESETS["quick"]) == demo_real.PRESETS["quick"]


def test_the_gpu_recipe_is_a_valid_preset():
    p = demo_real.load_preset(str(REPO / "configs/recipes/SmolLM2-135M-Instruct/demo_gpu.yaml"), demo_real.PRESETS["default"])
    assert p.device == "cuda" and p.n_related == 1319
    argv = demo_real.grpo_argv(p, Path("m"), Path("d"), Path("o"), 3, 0)
    assert "--use_vllm" in argv and "--bf16" in argv and argv[argv.index("--bf16") + 1] == "true"


def _arm(eval_acc, worst, related, tokens):
    return {"eval": {"accuracy": eval_acc, "mean_tokens": tokens}, "related": {"accuracy": related, "mean_tokens": 100},
            "worst_style": {"accuracy": worst, "mean_tokens": tokens, "style": "format"}, "styles": {}}


def test_claim_criteria_follow_the_numbers():
    arms = {a: _arm(0.5, 0.3, 0.1, 100) for a in ARMS}
    arms["compressed_sft_grpo"] = _arm(0.48, 0.4, 0.15, 30)
    # 2 points lower on eval, but the interval reaches above zero: not worse beyond the noise
    c = demo_real_report.check_claim(arms, {"compressed_sft_grpo - verbose_sft": {"eval": {"low": -0.1, "high": 0.05}}})
    assert c["matches_on_eval"] and c["beats_on_worst_style"] and c["beats_on_related"] and c["tokens_le_35pct"]
    c = demo_real_report.check_claim(arms, {"compressed_sft_grpo - verbose_sft": {"eval": {"low": -0.1, "high": -0.01}}})
    assert not c["matches_on_eval"]
    arms["compressed_sft_grpo"] = _arm(0.5, 0.2, 0.1, 50)
    c = demo_real_report.check_claim(arms, {})
    assert not c["beats_on_worst_style"] and not c["beats_on_related"] and not c["tokens_le_35pct"]
    text = demo_real_report.summary_paragraph(arms, c, {}, 1)
    assert "holds on 1 of 4 criteria (matches_on_eval)" in text and "-10.0 points" in text


def test_resume_reuses_saved_jobs_and_redoes_what_depends_on_a_missing_one(tmp_path):
    """A finished job's saved result is reused; an evaluation whose model must be retrained is redone."""
    jobs = demo_real.demo_jobs({"verbose_sft": {"stage": "sft", "argv": []},
                                "verbose_sft_grpo": {"stage": "grpo", "from": "verbose_sft", "argv": []}},
                               {"suites": {}}, None, tmp_path)
    for name in ("train verbose_sft", "eval verbose_sft", "eval verbose_sft_grpo"):  # not "train verbose_sft_grpo"
        f = Path(jobs[name]["save"])
        f.parent.mkdir(parents=True, exist_ok=True)
        result = [{"suites": {}}, {"eval": [True]}] if name.startswith("eval") else {"steps": 3}
        f.write_text(json.dumps({"fingerprint": jobs[name]["fingerprint"], "result": result}))
    done = demo_jobs.finished(jobs)
    assert set(done) == {"train verbose_sft", "eval verbose_sft"}
    assert done["train verbose_sft"] == {"steps": 3} and done["eval verbose_sft"][1] == {"eval": [True]}
    # other training arguments (or other data): the model and everything after it are redone
    changed = demo_real.demo_jobs({"verbose_sft": {"stage": "sft", "argv": ["--learning_rate", "1"]},
                                   "verbose_sft_grpo": {"stage": "grpo", "from": "verbose_sft", "argv": []}},
                                  {"suites": {}}, None, tmp_path)
    assert demo_jobs.finished(changed) == {}
    # ...even once the retrained model's result is saved: its old evaluation is not reused
    f = Path(changed["train verbose_sft"]["save"])
    f.write_text(json.dumps({"fingerprint": changed["train verbose_sft"]["fingerprint"], "result": {"steps": 4}}))
    assert set(demo_jobs.finished(changed)) == {"train verbose_sft"}


def test_run_jobs_skips_done_jobs_and_saves_new_results(tmp_path):
    from rldistill.demo_jobs import run_jobs

    jobs = {"a": {"kind": "call", "args": {"fn": "json:loads", "kwargs": {"s": "4.0"}}, "save": str(tmp_path / "a.json")},
            "b": {"kind": "call", "args": {"fn": "json:loads", "kwargs": {"s": "3.0"}}, "deps": ["a"],
                  "save": str(tmp_path / "b.json")}}
    out = run_jobs(jobs, workers=1, threads=1, timings={}, done={"a": 7.0})
    assert out == {"a": 7.0, "b": 3.0}  # "a" was not run again
    assert not (tmp_path / "a.json").exists()
    assert json.loads((tmp_path / "b.json").read_text()) == {"fingerprint": None, "result": 3.0}


def test_extra_granularity_arms_are_planned_like_the_others():
    p = replace(demo_real.PRESETS["quick"], extra_methods=("rule",))
    assert demo_real.sft_arms(p)["rule_sft"] == "rule"
    assert demo_real.arms_of(p)[-1] == "rule_sft" and len(demo_real.arms_of(p)) == 7
    assert demo_real_report.ordered(["rule_sft", "verbose_sft", "zero_shot"]) == ["zero_shot", "verbose_sft", "rule_sft"]


def test_several_seeds_give_means_with_per_seed_values():
    def seed(acc):
        arms = {a: _arm(acc, acc / 2, acc / 4, 10) for a in ARMS}
        for a in arms.values():
            for split in ("eval", "related", "worst_style"):
                a[split].update(tokens_per_solved=None, accuracy_per_1k_tokens=None)
        return arms

    arms, spreads = demo_real_report.aggregate([seed(0.2), seed(0.4)])
    assert arms["verbose_sft"]["eval"]["accuracy"] == pytest.approx(0.3)
    assert [x["accuracy"] for x in arms["verbose_sft"]["eval"]["per_seed"]] == [0.2, 0.4]
    assert spreads["verbose_sft"]["related"]["accuracy"]["n"] == 2
