"""`rldistill demo --quick`: the whole path from nothing, every artefact present.

The quick preset's numbers mean nothing (a few dozen SFT steps); what is
checked is that each stage ran and handed its output to the next, that the
four SFT arms (the granularity sweep) saw the same number of training tokens, and that report.md and
summary.json have every arm in the documented shape.
"""

import json
import subprocess
import sys
import time

import pytest

from rldistill import demo, demo_jobs

ARMS = ["answer_only_sft", "verbose_sft", "decisions_sft", "compressed_sft", "verbose_sft_grpo", "compressed_sft_grpo"]
SFT_ARMS = ARMS[:4]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "rldistill", "demo", "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, time.time() - t0


@pytest.mark.slow
def test_quick_demo_writes_every_artefact(quick_run):
    out, _ = quick_run
    for f in ("report.md", "summary.json", "eval.json", "plan.json", "accuracy_vs_tokens.png",
              "accuracy_per_suite.png", "budget_accuracy.png", "data/train.jsonl", "data/ood.jsonl",
              "student/config.json", "sft_data/compressed_sft.jsonl", "sft_data/decisions_sft.jsonl",
              "sft_data/compress_stats.json", "rl_data/rl.jsonl"):
        assert (out / f).exists(), f
    assert len(list((out / "data" / "styles").glob("*.jsonl"))) >= 3
    for arm in ARMS:
        assert (out / "models" / arm / "config.json").exists(), arm
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_quick_demo_summary_has_the_documented_shape(quick_run):
    out, _ = quick_run
    s = json.loads((out / "summary.json").read_text())
    assert set(s["arms"]) == set(ARMS)
    for arm in ARMS:
        for split in ("eval", "ood", "worst_style"):
            a = s["arms"][arm][split]
            assert 0.0 <= a["accuracy"] <= 1.0 and a["mean_tokens"] >= 0, (arm, split)
    assert set(s["claim"]) >= {"ood_gain_points", "token_ratio", "answer_only_worst"}


@pytest.mark.slow
def test_quick_demo_report_has_all_arms_and_the_token_budget(quick_run):
    out, _ = quick_run
    md = (out / "report.md").read_text()
    for arm in ARMS:
        assert f"| {arm} |" in md, arm
    assert f"{demo.PRESETS['quick'].sft_tokens:,} training tokens" in md
    assert "## Summary" in md and "![accuracy vs tokens](accuracy_vs_tokens.png)" in md


@pytest.mark.slow
def test_quick_demo_sft_arms_see_the_same_number_of_tokens(quick_run):
    out, _ = quick_run
    plan = json.loads((out / "plan.json").read_text())
    budget = demo.PRESETS["quick"].sft_tokens
    for arm in SFT_ARMS:
        seen = plan[arm]["log"]["num_tokens"]
        assert abs(seen - budget) / budget < 0.25, (arm, seen)  # whole steps and random batches: close, not exact
    steps = {arm: plan[arm]["steps"] for arm in SFT_ARMS}
    assert steps["answer_only_sft"] > steps["compressed_sft"] > steps["decisions_sft"] > steps["verbose_sft"]


@pytest.mark.slow
def test_quick_demo_grpo_ran_behind_its_gate_on_longer_problems(quick_run):
    out, _ = quick_run
    plan = json.loads((out / "plan.json").read_text())
    rl = [json.loads(line) for line in (out / "rl_data" / "rl.jsonl").read_text().splitlines()]
    p = demo.PRESETS["quick"]
    assert {r["n_steps"] for r in rl} == set(range(p.rl_steps[0], p.rl_steps[1] + 1))
    train = [json.loads(line) for line in (out / "data" / "train.jsonl").read_text().splitlines()]
    manifest = json.loads((out / "data" / "synth.json").read_text())
    assert manifest["counts"]["train"] == len(train) and manifest["primed"]["n"] == p.n_prime
    assert sum(r["id"].startswith("prime-") and r["n_steps"] == p.prime_steps[0] for r in train) == p.n_prime
    assert p.steps[1] < p.rl_steps[0] and p.rl_steps[1] < p.ood_steps[0]
    for arm in demo.GRPO_FROM:
        gate = plan[arm]["log"]["gate"]
        assert gate["k"] == p.gate_k and gate["problems"] == p.gate_problems and gate["passed"]
        log = plan[arm]["log"]  # stopped by the sampled-token budget, or by the step cap it leaves room under
        assert log["num_tokens"] >= p.grpo_tokens or log["steps"] == 3 * plan[arm]["steps"], (arm, log)
    md = (out / "report.md").read_text()
    assert "## Granularity" in md and "RL gate" in md


@pytest.mark.parametrize(
    "per_row,budget,batch,expected",
    [([100] * 10, 3200, 32, 1), ([50, 150], 320_000, 32, 100), ([10], 5, 32, 1)],
)
def test_plan_steps_equalises_tokens(per_row, budget, batch, expected):
    assert demo.plan_steps(per_row, budget, batch) == expected


def _arm(acc_eval, acc_ood, acc_worst, tok):
    return {"eval": {"accuracy": acc_eval, "mean_tokens": tok}, "ood": {"accuracy": acc_ood, "mean_tokens": tok},
            "worst_style": {"accuracy": acc_worst, "mean_tokens": tok, "style": "styles/format"}}


def test_check_claim_and_summary_paragraph_on_hand_made_numbers():
    arms = {"answer_only_sft": _arm(0.1, 0.0, 0.05, 5), "verbose_sft": _arm(0.5, 0.2, 0.3, 400),
            "decisions_sft": _arm(0.55, 0.25, 0.35, 60), "compressed_sft": _arm(0.6, 0.3, 0.4, 30), "verbose_sft_grpo": _arm(0.5, 0.25, 0.3, 380),
            "compressed_sft_grpo": _arm(0.8, 0.45, 0.5, 28)}
    c = demo.check_claim(arms)
    assert c["ood_gain_points"] == pytest.approx(25.0) and c["worst_style_gain_points"] == pytest.approx(20.0)
    assert c["token_ratio"] == pytest.approx(0.07) and c["answer_only_worst"]
    assert all(c[k] for k in ("ood_gain_ge_10", "worst_style_gain_ge_10", "tokens_le_35pct"))
    text = demo.summary_paragraph(arms, c, {}, {}, 1)
    assert "45.0%" in text and "20.0%" in text and "holds on every criterion" in text
    assert "compressed_sft 30.0% > decisions_sft 25.0% > verbose_sft 20.0% > answer_only_sft 0.0%" in text
    # and when it does not hold, the paragraph says so
    arms["compressed_sft_grpo"] = _arm(0.5, 0.2, 0.3, 28)
    c = demo.check_claim(arms)
    assert not c["ood_gain_ge_10"]
    assert "holds on 2 of 4 criteria" in demo.summary_paragraph(arms, c, {}, {}, 1)


def test_several_seeds_report_the_mean_the_spread_and_each_seed(quick_run, tmp_path):
    """`--seeds N`'s report step on the quick run's own artefacts, a second seed made 10 points better."""
    import copy

    out, _ = quick_run
    e0 = json.loads((out / "eval.json").read_text())
    e1 = copy.deepcopy(e0)
    for suite in e1["models"]["compressed_sft_grpo"]["suites"].values():
        suite["accuracy"] = min(1.0, suite["accuracy"] + 0.1)
    plan = json.loads((out / "plan.json").read_text())
    prep = {"compress_stats": json.loads((out / "sft_data" / "compress_stats.json").read_text()), "n_problems": 8}
    s = demo.write_report(tmp_path, demo.PRESETS["quick"], "quick", prep, [plan, plan], [e0, e1], {"all": 1.0}, 1.0)
    assert s["n_seeds"] == 2 and len(s["per_seed"]) == 2
    a0 = e0["models"]["compressed_sft_grpo"]["suites"]["ood"]["accuracy"]
    assert s["arms"]["compressed_sft_grpo"]["ood"]["accuracy"] == pytest.approx((a0 + min(1.0, a0 + 0.1)) / 2)
    assert s["spread"]["compressed_sft_grpo"]["ood"]["accuracy"]["n"] == 2
    assert s["spread"]["verbose_sft"]["ood"]["accuracy"]["std"] == pytest.approx(0.0)
    report = (tmp_path / "report.md").read_text()
    assert "## Per seed" in report and "mean ± std over seeds" in report and "seed 1: eval / ood / worst %" in report


# ---------------------------------------------------------------- the job scheduler


def test_run_jobs_respects_dependencies_then_priority(monkeypatch):
    order = []
    monkeypatch.setattr(demo_jobs, "_run_job", lambda kind, args, threads: order.append(args["n"]) or args["n"])
    jobs = {"b": {"kind": "x", "args": {"n": "b"}, "deps": ["a"], "priority": 0},
            "a": {"kind": "x", "args": {"n": "a"}, "deps": [], "priority": 5},
            "c": {"kind": "x", "args": {"n": "c"}, "deps": [], "priority": 1},
            "d": {"kind": "x", "args": {"n": "d"}, "deps": ["b", "c"], "priority": 0}}
    timings = {}
    out = demo.run_jobs(jobs, workers=1, threads=1, timings=timings)
    assert out == {"a": "a", "b": "b", "c": "c", "d": "d"}
    assert order == ["c", "a", "b", "d"]  # c first (priority), b only after a, d after both
    assert set(timings) == set(jobs)


def test_run_jobs_unmet_dependency_is_an_error():
    with pytest.raises(ValueError, match="cannot be met"):
        demo.run_jobs({"a": {"kind": "x", "args": {}, "deps": ["missing"]}}, workers=1, threads=1, timings={})


def test_run_jobs_in_worker_processes_names_the_failing_job():
    jobs = {"ok": {"kind": "bogus-but-later", "args": {}, "deps": ["boom"]},
            "boom": {"kind": "no-such-kind", "args": {}, "deps": []}}
    with pytest.raises(RuntimeError, match="'boom' failed: unknown job kind 'no-such-kind'"):
        demo.run_jobs(jobs, workers=2, threads=1, timings={})


def test_demo_jobs_train_before_eval_and_grpo_after_its_sft(tmp_path):
    plan = {arm: {"stage": "grpo" if arm in demo.GRPO_FROM else "sft", "argv": [],
                  **({"from": demo.GRPO_FROM[arm], "gate": {"k": 8}} if arm in demo.GRPO_FROM else {})} for arm in ARMS}
    jobs = demo.demo_jobs(plan, {}, None, tmp_path)
    assert set(jobs) == {f"{k} {arm}" for k in ("train", "eval") for arm in ARMS}
    assert jobs["train compressed_sft_grpo"]["deps"] == ["train compressed_sft"]
    grpo = jobs["train compressed_sft_grpo"]["args"]  # GRPO goes through its pass@k gate
    assert grpo["fn"] == "rldistill.gate:gated_grpo" and grpo["kwargs"] == {"k": 8, "argv": []}
    assert jobs["eval verbose_sft"]["deps"] == ["train verbose_sft"]
    # the longest chain (verbose SFT -> its GRPO) starts first
    assert min(jobs, key=lambda n: jobs[n]["priority"]) == "train verbose_sft"


@pytest.mark.slow
def test_eval_cap_is_derived_from_the_teachers_longest_trace(quick_run):
    from dataclasses import replace

    from rldistill.data import read_jsonl
    from rldistill.models import load_tokenizer

    out, _ = quick_run
    prep = {"data": out / "data", "student": out / "student"}
    cfg = demo.eval_config(replace(demo.PRESETS["quick"], eval_max_new_tokens=0), prep, seed=0)
    tok = load_tokenizer(str(out / "student"))
    longest = max(len(tok(r["completion"])["input_ids"]) for s in ("eval", "ood")
                  for r in read_jsonl(out / "data" / f"{s}.jsonl"))
    assert cfg.max_new_tokens == round(1.2 * longest) and cfg.stop_at_answer
    assert demo.eval_config(demo.PRESETS["quick"], prep, seed=0).max_new_tokens == 48  # explicit cap kept
