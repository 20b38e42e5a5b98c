"""The embedded end-to-end demo: does compressed-trace SFT + GRPO transfer better than imitation?

    rldistill demo --out runs/demo              # 8.5 minutes on 2 idle CPU cores (measured)
    rldistill demo --out runs/demo --quick      # the whole path in about 3 minutes; numbers mean nothing
    rldistill demo --out runs/demo --seeds 3    # the arms three times, with the spread

From nothing: ``synth`` (the embedded task) → ``student`` (a from-scratch ~1M
Llama) → ``compress`` (the same training problems three ways: answer only,
the verbose teacher trace, the verified compressed trace) → SFT of each arm
at the SAME number of training tokens (prompt + completion tokens the trainer
saw; answer-only gets more steps, verbose fewer) → GRPO with the verifier
reward from the compressed-SFT and the verbose-SFT models, at the same number
of sampled tokens → ``eval`` of all five on ``eval``, ``ood`` and every prompt
style → ``DIR/report.md`` (table, plots, a summary paragraph written from the
numbers), ``DIR/summary.json``, ``DIR/eval.json`` and the stage outputs.

Every stage is called through its own Python API (``synth``,
``build_student``, ``compress_dataset``, ``sft.build_trainer``,
``grpo.build_trainer``, ``evaluate.evaluate_model``): the demo adds the plan
(token budgets per arm), a small job scheduler and the report, no training
code of its own. The arms are independent jobs (train, then evaluate as soon
as trained; GRPO after its SFT), run on two worker processes of one torch
thread each, longest chain first (``run_jobs``). ``scripts/demo.sh`` runs the
same stages one after another as shell commands.

Left out: GPUs (the same stages take the GPU recipes under ``configs/``), and
any tuning on the test splits (the settings below were chosen on ``eval``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rldistill.demo_jobs import plan_steps, row_tokens, run_jobs, steps_for  # noqa: F401 (steps_for: demo.sh)

log = logging.getLogger("rldistill.demo")

ARMS = ("answer_only_sft", "verbose_sft", "compressed_sft", "verbose_sft_grpo", "compressed_sft_grpo")
SFT_DATA = {"answer_only_sft": "answer_only", "verbose_sft": "none", "compressed_sft": "verified"}
GRPO_FROM = {"verbose_sft_grpo": "verbose_sft", "compressed_sft_grpo": "compressed_sft"}


@dataclass(frozen=True)
class Preset:
    """Every knob of the demo; ``--quick`` and the default are two instances."""

    n_train: int = 2000
    n_eval: int = 100
    n_ood: int = 100
    # Fraction of training problems asked in the non-plain styles' training wordings (disjoint from the
    # styles/* files). 0.5 was measured: compressed SFT fell from 55% to 35% on eval and its styles moved
    # from 8-16% to 11-18%, verbose and answer-only stayed at guessing level (README), so the default is 0.
    train_styles: float = 0.0
    student_size: str = "tiny"
    compress_method: str = "verified"
    # SFT: every arm sees sft_tokens tokens (prompt + completion, no padding)
    sft_tokens: int = 450_000
    sft_batch_size: int = 8  # more, smaller steps at the same tokens: 25% -> 56-63% greedy on eval for compressed SFT
    # Answer-only rows are ~43 tokens, so batches of 8 are overhead-bound (1,300+ steps); at 32 it reached
    # the same accuracy (14% and 19% greedy on eval in two runs) in a quarter of the steps.
    answer_only_batch_size: int = 32
    sft_lr: float = 2e-3
    sft_warmup_ratio: float = 0.05
    sft_max_length: int = 768
    # GRPO: both arms sample grpo_tokens tokens (prompt + completion)
    grpo_tokens: int = 40_000
    grpo_min_steps: int = 4
    grpo_prompts_per_step: int = 4
    grpo_num_generations: int = 8
    grpo_lr: float = 5e-5  # 2e-4 drifted down within 30 steps
    grpo_beta: float = 0.0
    grpo_max_completion_length: int = 576
    grpo_rewards: tuple[str, ...] = ("math", "format")
    grpo_reward_weights: tuple[float, ...] = (1.0, 0.1)
    grpo_dynamic_sampling: str = "drop"
    # evaluation
    eval_max_new_tokens: int = 0  # 0: 1.2x the teacher's longest trace on eval/ood (see eval_config)
    eval_batch_size: int = 100
    budgets: tuple[int, ...] = (16, 64, 256)
    # Parallelism: the arms run as jobs on `workers` processes (0 = min(2, cores)) of `threads` torch threads.
    # One thread per process: a 1M-parameter model gains little from two OpenMP threads, and on a loaded
    # machine two threads spin against each other (measured here: 48 generation steps took 71 s with 2
    # threads and 4 s with 1). Two processes of one thread use both cores of a 2-core machine.
    workers: int = 0
    threads: int = 1


PRESETS = {
    "default": Preset(),
    "quick": Preset(n_train=150, n_eval=12, n_ood=12, sft_tokens=40_000, sft_batch_size=16, answer_only_batch_size=16,
                    grpo_tokens=4_000, grpo_min_steps=2, grpo_prompts_per_step=2, grpo_num_generations=4,
                    grpo_max_completion_length=48, eval_max_new_tokens=48, eval_batch_size=32, budgets=(8, 32)),
}


# ---------------------------------------------------------------- data


def prepare_data(p: Preset, out: Path, seed: int) -> dict:
    """synth → student → compress three ways, restricted to the problems all three kept."""
    from rldistill.compress import compress_dataset
    from rldistill.data import load_traces, write_jsonl
    from rldistill.student import build_student
    from rldistill.tasks.synth import synth

    data = out / "data"
    synth(data, seed=seed, n_train=p.n_train, n_eval=p.n_eval, n_ood=p.n_ood, train_styles=p.train_styles)
    student = build_student(out / "student", size=p.student_size, data_dir=data, seed=seed)
    train = load_traces(str(data / "train.jsonl"))
    arms, stats = {}, {}
    for arm, method in SFT_DATA.items():
        method = p.compress_method if method == "verified" else method
        ds, st = compress_dataset(train, method=method, tokenizer=str(student), seed=seed, progress=False)
        arms[arm], stats[arm] = [dict(r) for r in ds], st
    common = set.intersection(*({r["id"] for r in rows} for rows in arms.values()))
    paths = {}
    for arm, rows in arms.items():
        rows = [r for r in rows if r["id"] in common]
        paths[arm] = write_jsonl(rows, out / "sft_data" / f"{arm}.jsonl")
    (out / "sft_data" / "compress_stats.json").write_text(json.dumps(stats, indent=2, default=str))
    return {"data": data, "student": student, "sft_data": paths, "compress_stats": stats, "n_problems": len(common)}


# ---------------------------------------------------------------- training (the stages' own APIs)


def sft_argv(p: Preset, model: Path, data: Path, out: Path, steps: int, seed: int, batch: int | None = None) -> list[str]:
    return ["--model_name_or_path", str(model), "--dtype", "float32", "--dataset_path", str(data),
            "--output_dir", str(out), "--completion_only_loss", "true", "--max_length", str(p.sft_max_length),
            "--per_device_train_batch_size", str(batch or p.sft_batch_size), "--learning_rate", str(p.sft_lr),
            "--lr_scheduler_type", "cosine", "--warmup_steps", str(max(1, round(p.sft_warmup_ratio * steps))),
            "--weight_decay", "0.0", "--max_steps", str(steps), "--use_cpu", "true", "--bf16", "false",
            "--logging_steps", str(max(1, steps // 10)), "--save_strategy", "no", "--report_to", "none",
            "--seed", str(seed), "--dataloader_num_workers", "0", "--disable_tqdm", "true"]


def grpo_argv(p: Preset, model: Path, data: Path, out: Path, steps: int, seed: int) -> list[str]:
    n = p.grpo_prompts_per_step * p.grpo_num_generations
    return ["--model_name_or_path", str(model), "--dtype", "float32", "--dataset_path", str(data),
            "--output_dir", str(out), "--reward_funcs", *p.grpo_rewards,
            "--reward_weights", *map(str, p.grpo_reward_weights), "--dynamic_sampling", p.grpo_dynamic_sampling,
            "--num_generations", str(p.grpo_num_generations), "--per_device_train_batch_size", str(n),
            "--max_completion_length", str(p.grpo_max_completion_length), "--temperature", "1.0",
            "--loss_type", "dapo", "--beta", str(p.grpo_beta), "--learning_rate", str(p.grpo_lr),
            "--lr_scheduler_type", "constant", "--max_steps", str(steps), "--use_cpu", "true", "--bf16", "false",
            "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none", "--seed", str(seed),
            "--log_completions", "false", "--disable_tqdm", "true"]


def plan_arms(p: Preset, prep: dict, run_dir: Path, seed: int) -> dict:
    """Steps and argv of every training arm: SFT x3 at equal tokens, GRPO x2 at equal sampled tokens."""
    from rldistill.models import load_tokenizer

    tok = load_tokenizer(str(prep["student"]))
    plan: dict = {}
    for arm, data in prep["sft_data"].items():
        per_row = row_tokens(data, tok)
        batch = p.answer_only_batch_size if arm == "answer_only_sft" else p.sft_batch_size
        steps = plan_steps(per_row, p.sft_tokens, batch)
        plan[arm] = {"stage": "sft", "data": str(data), "mean_row_tokens": sum(per_row) / len(per_row),
                     "batch_size": batch, "steps": steps,
                     "planned_tokens": round(steps * batch * sum(per_row) / len(per_row)),
                     "argv": sft_argv(p, prep["student"], data, run_dir / "models" / arm, steps, seed, batch)}
    prompt_mean = sum(row_tokens(prep["sft_data"]["answer_only_sft"], tok)) / prep["n_problems"] - 4
    for arm, base in GRPO_FROM.items():
        # Sampled tokens per step ≈ completions x (prompt + the SFT model's completion length, i.e. its data's).
        completion_mean = min(plan[base]["mean_row_tokens"] - prompt_mean, p.grpo_max_completion_length)
        per_step = p.grpo_prompts_per_step * p.grpo_num_generations * (prompt_mean + completion_mean)
        steps = max(p.grpo_min_steps, round(p.grpo_tokens / per_step))
        plan[arm] = {"stage": "grpo", "from": base, "steps": steps, "planned_tokens": round(steps * per_step),
                     "argv": grpo_argv(p, run_dir / "models" / base, prep["data"] / "train.jsonl",
                                       run_dir / "models" / arm, steps, seed)}
    return plan


def eval_config(p: Preset, prep: dict, seed: int):
    """The evaluation settings; the completion cap is 1.2x the teacher's longest trace on the suites
    (every arm may write as much as its teacher did, and generation ends at the first final answer)."""
    from rldistill.data import read_jsonl
    from rldistill.evaluate import EvalConfig
    from rldistill.models import load_tokenizer

    cap = p.eval_max_new_tokens
    if not cap:
        tok = load_tokenizer(str(prep["student"]))
        longest = max(len(tok(r["completion"])["input_ids"]) for split in ("eval", "ood")
                      for r in read_jsonl(prep["data"] / f"{split}.jsonl"))
        cap = round(1.2 * longest)
    # The embedded recipes train on plain-text prompts, so evaluation asks them the same way.
    return EvalConfig(max_new_tokens=cap, batch_size=p.eval_batch_size, budgets=p.budgets,
                      budget_suites=("eval", "ood"), seed=seed, backend="auto", stop_at_answer=True,
                      chat_template=False, progress=False)


def demo_jobs(plan: dict, suites: dict, cfg, run_dir: Path, tag: str = "") -> dict:
    """The job graph of one seed: train every arm, evaluate each as soon as it is trained."""
    order = ["verbose_sft", "verbose_sft_grpo", "compressed_sft", "compressed_sft_grpo", "answer_only_sft"]
    jobs = {}
    for i, arm in enumerate(order):
        pl = plan[arm]
        deps = [f"{tag}train {pl['from']}"] if "from" in pl else []
        jobs[f"{tag}train {arm}"] = {"kind": pl["stage"], "args": {"argv": pl["argv"]}, "deps": deps, "priority": i}
        jobs[f"{tag}eval {arm}"] = {"kind": "eval", "deps": [f"{tag}train {arm}"], "priority": 10 + i, "args": {
            "name": arm, "path": str(run_dir / "models" / arm), "suites": suites, "cfg": cfg,
            "out_dir": str(run_dir / "eval")}}
    return jobs


# ---------------------------------------------------------------- evaluation and report


def arm_summary(model_result: dict) -> dict:
    """The summary.json object of one arm: eval, ood, worst_style (accuracy, mean_tokens, ...)."""
    s, r = model_result["suites"], model_result["robustness"]

    def pick(m: dict | None, **extra) -> dict:
        m = m or {}
        return {"accuracy": m.get("accuracy"), "mean_tokens": m.get("mean_tokens"),
                "accuracy_per_1k_tokens": m.get("accuracy_per_1k_tokens"),
                "verbose_markers_per_completion": (m.get("verbose_markers") or {}).get("total_per_completion"),
                "teacher_overlap": (m.get("teacher_overlap") or {}).get("mean"), **extra}

    worst = r.get("worst_style")
    return {"eval": pick(s.get("eval")), "ood": pick(s.get("ood")),
            "worst_style": pick(s.get(worst), style=worst, gap=r.get("worst_gap")),
            "styles": {k.split("/")[-1]: pick(v) for k, v in s.items() if k.startswith("styles/")}}


def check_claim(arms: dict) -> dict:
    """The expected result, criterion by criterion (on the numbers in ``arms``)."""
    c, v, a = arms["compressed_sft_grpo"], arms["verbose_sft"], arms["answer_only_sft"]
    d_ood = c["ood"]["accuracy"] - v["ood"]["accuracy"]
    d_worst = c["worst_style"]["accuracy"] - v["worst_style"]["accuracy"]
    ratio = c["eval"]["mean_tokens"] / v["eval"]["mean_tokens"] if v["eval"]["mean_tokens"] else None
    others = [arms[k] for k in ARMS if k != "answer_only_sft"]
    worst_arm = all(a[s]["accuracy"] <= o[s]["accuracy"] for o in others for s in ("eval", "ood", "worst_style"))
    return {"ood_gain_points": 100 * d_ood, "worst_style_gain_points": 100 * d_worst, "token_ratio": ratio,
            "ood_gain_ge_10": d_ood >= 0.10, "worst_style_gain_ge_10": d_worst >= 0.10,
            "tokens_le_35pct": ratio is not None and ratio <= 0.35, "answer_only_worst": worst_arm}


def summary_paragraph(arms: dict, claim: dict, comparisons: dict, plan: dict, n_seeds: int) -> str:
    """What the numbers show, in words, whatever they show."""
    c, v, a = arms["compressed_sft_grpo"], arms["verbose_sft"], arms["answer_only_sft"]
    cs, vg = arms["compressed_sft"], arms["verbose_sft_grpo"]

    def pct(x):
        return "–" if x is None else f"{100 * x:.1f}%"

    ci = comparisons.get("compressed_sft_grpo - verbose_sft", {}).get("ood")
    ci_txt = f" (95% paired-bootstrap CI {100 * ci['low']:+.1f} to {100 * ci['high']:+.1f} points)" if ci else ""
    held = [k for k in ("ood_gain_ge_10", "worst_style_gain_ge_10", "tokens_le_35pct", "answer_only_worst") if claim[k]]
    verdict = ("The expected result holds on every criterion." if len(held) == 4 else
               f"The expected result holds on {len(held)} of 4 criteria ({', '.join(held) or 'none'}).")
    seeds = (f" Accuracies are means over {n_seeds} training seeds (std in the table, per seed below); the "
             "interval is from the first seed's problems." if n_seeds > 1 else " One seed.")
    return (
        f"At equal SFT training tokens, compressed-trace SFT followed by GRPO reached {pct(c['ood']['accuracy'])} "
        f"greedy accuracy on the harder `ood` split against {pct(v['ood']['accuracy'])} for verbose-trace SFT, "
        f"a difference of {claim['ood_gain_points']:+.1f} points{ci_txt}, and {pct(c['worst_style']['accuracy'])} "
        f"against {pct(v['worst_style']['accuracy'])} on its worst prompt style ({claim['worst_style_gain_points']:+.1f} points), "
        f"while writing {c['eval']['mean_tokens']:.0f} completion tokens per `eval` problem against "
        f"{v['eval']['mean_tokens']:.0f} ({100 * (claim['token_ratio'] or float('nan')):.0f}% of the verbose model's). "
        f"Compressed SFT alone reached {pct(cs['ood']['accuracy'])} on `ood` (GRPO changed it by "
        f"{100 * (c['ood']['accuracy'] - cs['ood']['accuracy']):+.1f} points); GRPO from the verbose model reached "
        f"{pct(vg['ood']['accuracy'])}. Answer-only SFT reached {pct(a['eval']['accuracy'])} on `eval` and "
        f"{pct(a['ood']['accuracy'])} on `ood`{' and is the worst arm everywhere' if claim['answer_only_worst'] else ', and is not the worst arm everywhere'}. "
        f"{verdict}{seeds}"
    )


def results_table(arms: dict, spreads: dict | None = None) -> str:
    from rldistill.report import table

    def cell(arm, split, key, pct=True):
        x = arms[arm][split][key]
        txt = "–" if x is None else (f"{100 * x:.1f}" if pct else f"{x:.0f}")
        sp = (spreads or {}).get(arm, {}).get(split, {}).get(key)
        if sp and sp.get("n", 0) > 1 and x is not None:
            txt += f" ± {100 * sp['std']:.1f}" if pct else f" ± {sp['std']:.0f}"
        return txt

    rows = []
    for arm in ARMS:
        w = arms[arm]["worst_style"]
        rows.append([arm, cell(arm, "eval", "accuracy"), cell(arm, "eval", "mean_tokens", False),
                     cell(arm, "ood", "accuracy"), cell(arm, "ood", "mean_tokens", False),
                     cell(arm, "worst_style", "accuracy") + f" ({w.get('style', '–') and str(w.get('style')).split('/')[-1]})",
                     cell(arm, "worst_style", "mean_tokens", False)])
    return table(["arm", "eval acc %", "eval tokens", "ood acc %", "ood tokens", "worst style acc %",
                  "worst style tokens"], rows)


def plan_table(plan: dict, p: Preset) -> str:
    from rldistill.report import table

    rows = []
    for arm in ARMS:
        pl = plan[arm]
        lg = pl.get("log", {})
        batch = pl.get("batch_size", p.grpo_prompts_per_step * p.grpo_num_generations)
        rows.append([arm, pl["stage"] + (f" from {pl['from']}" if "from" in pl else ""), pl["steps"], batch,
                     f"{pl['planned_tokens']:,}", f"{int(lg.get('num_tokens') or 0):,}",
                     "–" if lg.get("last_loss") is None else f"{lg['last_loss']:.3f}", lg.get("seconds", "–")])
    return table(["arm", "stage", "steps", "batch (rows or completions)", "planned tokens", "tokens seen (trainer)",
                  "last loss", "train s"], rows)


def write_report(out: Path, p: Preset, preset_name: str, prep: dict, plans: list[dict], evals: list[dict],
                 timings: dict, wall: float) -> dict:
    from rldistill import metrics, report

    per_seed = [{arm: arm_summary(e["models"][arm]) for arm in ARMS} for e in evals]
    spreads: dict = {}
    if len(per_seed) > 1:
        for arm in ARMS:
            for split in ("eval", "ood", "worst_style"):
                for key in ("accuracy", "mean_tokens"):
                    spreads.setdefault(arm, {}).setdefault(split, {})[key] = metrics.spread(
                        [s[arm][split][key] for s in per_seed])
    arms = per_seed[0] if len(per_seed) == 1 else {
        arm: {split: {**per_seed[0][arm][split], **{k: spreads[arm][split][k]["mean"] for k in ("accuracy", "mean_tokens")}}
              for split in ("eval", "ood", "worst_style")} | {"styles": per_seed[0][arm]["styles"]}
        for arm in ARMS}
    claim = check_claim(arms)
    paragraph = summary_paragraph(arms, claim, evals[0].get("comparisons", {}), plans[0], len(evals))
    summary = {"arms": arms, "claim": claim, "preset": preset_name, "settings": asdict(p),
               "sft_tokens_per_arm": p.sft_tokens, "grpo_tokens_per_arm": p.grpo_tokens,
               "n_seeds": len(evals), "per_seed": per_seed if len(evals) > 1 else None, "spread": spreads or None,
               "timings_s": timings, "wall_s": round(wall, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))

    plots = report.plot_all(evals[0], out)
    st = prep["compress_stats"]
    ratio = st["compressed_sft"].get("ratio")
    lines = [
        "# rldistill demo: compressed-trace SFT + GRPO against imitation", "",
        "## Summary", "", paragraph, "",
        "## Results", "",
        f"Greedy accuracy (%) and mean completion tokens (student tokenizer) per arm"
        f"{' (mean ± std over seeds)' if len(evals) > 1 else ''}. `eval`: {p.n_eval} problems like training; "
        f"`ood`: {p.n_ood} problems with more steps; worst style: the prompt style (paraphrase, answer format, "
        f"distractors) where the arm does worst, on `eval`'s problems in wordings no training prompt uses "
        f"({100 * p.train_styles:.0f}% of the training prompts are asked in these styles' training wordings, "
        "the rest plain).", "",
        results_table(arms, spreads), "",
        "Criteria (expected: compressed-SFT+GRPO ≥ 10 points over verbose-SFT on `ood` and on the worst style, "
        "at ≤ 35% of its tokens; answer-only worst):", "",
        "```json", json.dumps(claim, indent=1), "```", "",
        "## Compute per arm", "",
        f"Every SFT arm trains on the same {prep['n_problems']} problems for the same budget of "
        f"**{p.sft_tokens:,} training tokens** (prompt + completion tokens, no padding; "
        "steps = budget / (batch × mean tokens per row), so verbose takes fewer steps; batches of "
        f"{p.sft_batch_size} rows, {p.answer_only_batch_size} for answer-only, whose rows are short). "
        f"Both GRPO arms get the same budget of **{p.grpo_tokens:,} sampled tokens** (prompt + completion, "
        f"at least {p.grpo_min_steps} steps), {p.grpo_prompts_per_step} prompts × {p.grpo_num_generations} "
        f"completions per step, at most {p.grpo_max_completion_length} completion tokens, rewards "
        f"{list(p.grpo_rewards)} weighted {list(p.grpo_reward_weights)}, dynamic sampling `{p.grpo_dynamic_sampling}`, "
        f"lr {p.grpo_lr}, KL β {p.grpo_beta}. The compressed traces keep {100 * (ratio or 0):.1f}% of the "
        f"teacher's tokens (`{p.compress_method}` compressor, every row re-verified).", "",
        plan_table(plans[0], p), "",
    ]
    if len(per_seed) > 1:
        from rldistill.report import table

        lines += ["## Per seed", "", table(
            ["arm"] + [f"seed {i}: eval / ood / worst %" for i in range(len(per_seed))],
            [[arm] + [" / ".join(f"{100 * ps[arm][k]['accuracy']:.1f}" for k in ("eval", "ood", "worst_style"))
                      for ps in per_seed] for arm in ARMS]), ""]
    lines += [
        "## Plots", "",
    ] + [f"![{k}]({Path(v).name})" for k, v in plots.items()] + [
        "", "## Full evaluation" + (" (first seed)" if len(evals) > 1 else ""), "",
        "Per-suite tables, token budgets, verbose markers, teacher overlap and paired-bootstrap intervals "
        "(each model minus `verbose_sft`):", "",
        report.render(evals[0], title="Evaluation", level=2).split("\n", 2)[2],
        "## Wall time", "",
        f"{wall:.0f} s in all ({', '.join(f'{k} {v:.0f}s' for k, v in timings.items())}); "
        f"{p.workers or min(2, os.cpu_count() or 1)} worker processes x {p.threads} torch thread(s).", "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    return summary


def run(out: str | Path, quick: bool = False, seeds: int = 1, seed: int = 0, preset: Preset | None = None) -> dict:
    """The whole demo; returns summary.json's object."""
    import torch

    t_start = time.time()
    out = Path(out)
    name = "quick" if quick else "default"
    p = preset or PRESETS[name]
    torch.set_num_threads(max(1, p.threads))
    out.mkdir(parents=True, exist_ok=True)
    timings: dict = {}
    t0 = time.time()
    prep = prepare_data(p, out, seed)
    timings["synth+student+compress"] = round(time.time() - t0, 1)
    from rldistill.evaluate import assemble, resolve_suites

    suites = resolve_suites([str(prep["data"])])
    cfg = eval_config(p, prep, seed)
    jobs, plans, run_dirs = {}, [], []
    for k in range(seeds):
        s = seed + k
        run_dir = out if seeds == 1 else out / f"seed{s}"
        plan = plan_arms(p, prep, run_dir, s)
        plans.append(plan)
        run_dirs.append(run_dir)
        jobs.update(demo_jobs(plan, suites, replace(cfg, seed=s), run_dir, tag=f"seed{s} " if seeds > 1 else ""))
    workers = p.workers or min(2, os.cpu_count() or 1)
    log.info("%d jobs on %d worker processes x %d torch threads", len(jobs), workers, p.threads)
    t0 = time.time()
    results = run_jobs(jobs, workers, p.threads, timings)
    timings["train+eval (parallel)"] = round(time.time() - t0, 1)
    evals = []
    for k, (plan, run_dir) in enumerate(zip(plans, run_dirs)):
        tag = f"seed{seed + k} " if seeds > 1 else ""
        for arm in ARMS:
            plan[arm]["log"] = results[f"{tag}train {arm}"]
            plan[arm].pop("argv", None)
        (run_dir / "plan.json").write_text(json.dumps(plan, indent=2))
        parts = {arm: results[f"{tag}eval {arm}"] for arm in ["verbose_sft"] + [a for a in ARMS if a != "verbose_sft"]}
        evals.append(assemble(replace(cfg, seed=seed + k), suites, parts, run_dir / "eval"))
    (out / "eval.json").write_text(json.dumps(evals[0], indent=2))
    summary = write_report(out, p, name, prep, plans, evals, timings, time.time() - t_start)
    log.info("demo done in %.0fs: %s", time.time() - t_start, out / "report.md")
    return summary


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rldistill demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/demo", help="output folder")
    ap.add_argument("--quick", action="store_true", help="small sizes: the whole path in about 3 minutes")
    ap.add_argument("--seeds", type=int, default=1, help="repeat the training arms with this many seeds")
    ap.add_argument("--seed", type=int, default=0, help="the first seed (data, student, training)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per worker process (default 1)")
    ap.add_argument("--workers", type=int, default=None,
                    help="parallel worker processes for the arms (default: min(2, cores); 1 = run in this process)")
    ap.add_argument("--train-styles", type=float, default=None,
                    help="fraction of training prompts in the styles' training wordings (default 0; see synth)")
    ap.add_argument("--student", default=None,
                    help="a pretrained student (a name such as smollm2-135m, or a Hugging Face model directory): "
                         "run the real-student demo (rldistill.demo_real) instead of the embedded one")
    ap.add_argument("--config", default=None, help="with --student: a YAML file of demo_real.RealPreset fields")
    ap.add_argument("--resume", action="store_true",
                    help="with --student: reuse the trained models and evaluations a previous run in --out saved")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if a.student or a.config:
        return real_cli(a)
    preset = PRESETS["quick" if a.quick else "default"]
    if a.threads is not None:
        preset = replace(preset, threads=a.threads)
    if a.workers is not None:
        preset = replace(preset, workers=a.workers)
    if a.train_styles is not None:
        preset = replace(preset, train_styles=a.train_styles)
    summary = run(a.out, quick=a.quick, seeds=a.seeds, seed=a.seed, preset=preset)
    print(f"wrote {Path(a.out) / 'report.md'} and {Path(a.out) / 'summary.json'} in {summary['wall_s']:.0f}s")
    for arm in ARMS:
        x = summary["arms"][arm]
        print(f"{arm:>20}  eval {100 * x['eval']['accuracy']:5.1f}%  ood {100 * x['ood']['accuracy']:5.1f}%  "
              f"worst style {100 * x['worst_style']['accuracy']:5.1f}%  tokens {x['eval']['mean_tokens']:.0f}")
    return 0


def real_cli(a) -> int:
    """``rldistill demo --student NAME``: the real-student demo with the flags that apply to it."""
    from rldistill import demo_real

    p = demo_real.load_preset(a.config, demo_real.PRESETS["quick" if a.quick else "default"])
    over = {"student": a.student, "threads": a.threads, "workers": a.workers}
    p = replace(p, **{k: v for k, v in over.items() if v is not None})
    if a.train_styles is not None:
        raise SystemExit("--train-styles applies to the embedded demo only")
    summary = demo_real.run(a.out, quick=a.quick, seeds=a.seeds, seed=a.seed, preset=p, resume=a.resume)
    print(f"wrote {Path(a.out) / 'report.md'} and {Path(a.out) / 'summary.json'} in {summary['wall_s']:.0f}s")
    for arm, x in summary["arms"].items():
        print(f"{arm:>20}  eval {100 * x['eval']['accuracy']:5.1f}%  worst style {100 * x['worst_style']['accuracy']:5.1f}%"
              f"  related {100 * x['related']['accuracy']:5.1f}%  tokens {x['eval']['mean_tokens'] or 0:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
