"""The embedded demo's report: per-arm summaries, the expected result criterion by criterion, tables and words.

``write_report`` turns the evaluations of every seed (``rldistill.evaluate.assemble``'s objects) and the training
plans into ``DIR/summary.json`` and ``DIR/report.md``: a summary paragraph written from the numbers, the results
table (mean ± std over seeds), the expected result's criteria, the granularity sweep, the RL gates, the compute per
arm, per-seed rows, plots and the full evaluation. Left out: anything that trains or evaluates (``rldistill.demo``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

ARMS = ("answer_only_sft", "verbose_sft", "decisions_sft", "compressed_sft", "verbose_sft_grpo", "compressed_sft_grpo")
SFT_ARMS = ARMS[:4]  # the granularity sweep, from the answer alone to the whole trace
GRPO_FROM = {"verbose_sft_grpo": "verbose_sft", "compressed_sft_grpo": "compressed_sft"}
DESCRIBE = {"answer_only_sft": "the final answer only",
            "verbose_sft": "the teacher's whole trace",
            "decisions_sft": "verified compression, each computation with the teacher's sentence that decides it",
            "compressed_sft": "verified compression, bare computations one a line"}


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
    ci_txt = "" if not ci else (
        f" (95% paired-bootstrap CI {100 * ci['low']:+.1f} to {100 * ci['high']:+.1f} points)" if n_seeds == 1 else
        f" (on the first seed's problems {100 * ci['diff']:+.1f}, 95% paired-bootstrap CI {100 * ci['low']:+.1f} to "
        f"{100 * ci['high']:+.1f})")
    held = [k for k in ("ood_gain_ge_10", "worst_style_gain_ge_10", "tokens_le_35pct", "answer_only_worst") if claim[k]]
    verdict = ("The expected result holds on every criterion." if len(held) == 4 else
               f"The expected result holds on {len(held)} of 4 criteria ({', '.join(held) or 'none'}).")
    seeds = (f" Accuracies are means over {n_seeds} training seeds (std in the table, per seed below)."
             if n_seeds > 1 else " One seed.")
    sweep = sorted(SFT_ARMS, key=lambda k: -(arms[k]["ood"]["accuracy"] or 0))
    ranking = " > ".join(f"{k} {pct(arms[k]['ood']['accuracy'])}" for k in sweep)
    gates = [f"{arm} {'trained' if g['passed'] else 'skipped'} (pass@{g['k']} {100 * g['pass_at_k']:.0f}%)"
             for arm in GRPO_FROM if (g := (plan.get(arm, {}).get("log") or {}).get("gate"))]
    gate_txt = f" (RL gates{', first seed' if n_seeds > 1 else ''}: " + "; ".join(gates) + ")" if gates else ""
    return (
        f"At equal SFT training tokens, compressed-trace SFT followed by GRPO reached {pct(c['ood']['accuracy'])} "
        f"greedy accuracy on the longer `ood` problems against {pct(v['ood']['accuracy'])} for verbose-trace SFT, "
        f"a difference of {claim['ood_gain_points']:+.1f} points{ci_txt}, and {pct(c['worst_style']['accuracy'])} "
        f"against {pct(v['worst_style']['accuracy'])} on its worst prompt style ({claim['worst_style_gain_points']:+.1f} points), "
        f"while writing {c['eval']['mean_tokens']:.0f} completion tokens per `eval` problem against "
        f"{v['eval']['mean_tokens']:.0f} ({100 * (claim['token_ratio'] or float('nan')):.0f}% of the verbose model's). "
        f"Compressed SFT alone reached {pct(cs['ood']['accuracy'])} on `ood` (GRPO changed it by "
        f"{100 * (c['ood']['accuracy'] - cs['ood']['accuracy']):+.1f} points); GRPO from the verbose model reached "
        f"{pct(vg['ood']['accuracy'])}{gate_txt}. "
        f"Across the granularities at equal tokens, `ood` accuracy ranks "
        f"{ranking}. "
        f"Answer-only SFT reached {pct(a['eval']['accuracy'])} on `eval` and "
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


def plan_table(plan: dict, p) -> str:
    from rldistill.report import table

    rows = []
    for arm in ARMS:
        pl = plan[arm]
        lg = pl.get("log", {})
        batch = pl.get("batch_size", p.grpo_prompts_per_step * p.grpo_num_generations)
        g = lg.get("gate")
        gate = "–" if not g else f"pass@{g['k']} {100 * g['pass_at_k']:.0f}%: {'trained' if g['passed'] else 'skipped'}"
        rows.append([arm, pl["stage"] + (f" from {pl['from']}" if "from" in pl else ""), pl["steps"],
                     lg.get("steps", "–"), batch, f"{pl['planned_tokens']:,}", f"{int(lg.get('num_tokens') or 0):,}",
                     "–" if lg.get("last_loss") is None else f"{lg['last_loss']:.3f}", gate, lg.get("seconds", "–")])
    return table(["arm", "stage", "planned steps", "steps run", "batch (rows or completions)", "planned tokens",
                  "tokens seen (trainer)", "last loss", "RL gate", "train s"], rows)


def _span(r) -> str:
    return f"{r[0]} steps" if r[0] == r[1] else f"{r[0]}-{r[1]} steps"


def _tokens(prep: dict, arm: str) -> str:
    ratio = prep["compress_stats"].get(arm, {}).get("ratio")
    return "–" if ratio is None else f"{100 * ratio:.0f}% of the teacher's tokens"


def write_report(out: Path, p, preset_name: str, prep: dict, plans: list[dict], evals: list[dict],
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
        f"{' (mean ± std over seeds)' if len(evals) > 1 else ''}. Task kinds {list(p.kinds)}; SFT problems have "
        f"{_span(p.steps)} ({p.n_prime} more have {_span(p.prime_steps)}), `eval`: {p.n_eval} problems like the "
        f"first; GRPO prompts have {_span(p.rl_steps)}; "
        f"`ood`: {p.n_ood} problems with {_span(p.ood_steps)}, longer than any problem an arm trained on; "
        "worst style: the prompt style (paraphrase, answer format, distractors, notation) where the arm does worst, "
        "on `eval`'s problems in wordings and symbol combinations no training prompt uses "
        f"({100 * p.train_styles:.0f}% of the training prompts are asked in these styles' training variants, "
        "the rest plain).", "",
        results_table(arms, spreads), "",
        "Criteria (expected: compressed-SFT+GRPO ≥ 10 points over verbose-SFT on `ood` and on the worst style, "
        "at ≤ 35% of its tokens; answer-only worst):", "",
        "```json", json.dumps(claim, indent=1), "```", "",
        "## Granularity", "",
        "The SFT arms are one axis, at the same training tokens: "
        + "; ".join(f"`{k}`: {DESCRIBE[k]}, {_tokens(prep, k)}" for k in SFT_ARMS) + ".", "",
        "## Compute per arm", "",
        f"Every SFT arm trains on the same {prep['n_problems']} problems for the same budget of "
        f"**{p.sft_tokens:,} training tokens** (prompt + completion tokens, no padding; "
        "steps = budget / (batch × mean tokens per row), so verbose takes fewer steps; batches of "
        f"{p.sft_batch_size} rows, {p.answer_only_batch_size} for answer-only, whose rows are short). "
        f"Both GRPO arms get the same budget of **{p.grpo_tokens:,} sampled tokens** (prompt + completion, "
        f"at least {p.grpo_min_steps} steps), {p.grpo_prompts_per_step} prompts × {p.grpo_num_generations} "
        f"completions per step, at most {p.grpo_max_completion_length} completion tokens, rewards "
        f"{list(p.grpo_rewards)} weighted {list(p.grpo_reward_weights)}, dynamic sampling `{p.grpo_dynamic_sampling}`, "
        f"lr {p.grpo_lr}, KL β {p.grpo_beta}, on problems of {_span(p.rl_steps)}. GRPO runs only where the SFT "
        f"model's pass@{p.gate_k} on {p.gate_problems} of those problems is at least {100 * p.gate_min_pass:.0f}% "
        "(`rldistill.gate`), else the arm keeps its SFT model. The compressed traces keep "
        f"{100 * (ratio or 0):.1f}% of the teacher's tokens (`{p.compress_method}` compressor, every row re-verified).", "",
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


