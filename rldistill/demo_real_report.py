"""report.md and summary.json of the real-student demo (``rldistill.demo_real``), written from the numbers.

``summary.json``: ``{"arms": {arm: {"eval", "related", "worst_style", "styles"}}, "claim", "budgets", ...}``;
each suite object holds ``accuracy`` (greedy, 0-1), ``mean_tokens``, ``tokens_per_solved`` and
``accuracy_per_1k_tokens``; with several seeds each holds the mean over seeds and its ``per_seed`` values,
and the top-level ``per_seed`` and ``spread`` hold the rest. ``report.md``: the summary paragraph, the results table, the expected result
criterion by criterion, every budget, per-seed values, plots and the full evaluation (``rldistill.report``).

Left out: re-rendering from a saved summary (``python -m rldistill.report DIR/eval.json`` re-renders the
evaluation part).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from rldistill.demo_real import ARMS, BASELINE

SPLITS = ("eval", "related", "worst_style")
KEYS = ("accuracy", "mean_tokens", "tokens_per_solved", "accuracy_per_1k_tokens")


def arm_summary(model_result: dict) -> dict:
    """One arm's summary.json object."""
    s, r = model_result["suites"], model_result["robustness"]

    def pick(m: dict | None, **extra) -> dict:
        return {k: (m or {}).get(k) for k in ("n", *KEYS)} | extra

    worst = r.get("worst_style")
    return {"eval": pick(s.get("eval")), "related": pick(s.get("related")),
            "worst_style": pick(s.get(worst), style=(worst or "").split("/")[-1] or None, gap=r.get("worst_gap")),
            "styles": {k.split("/")[-1]: pick(v) for k, v in s.items() if k.startswith("styles/")}}


def aggregate(per_seed: list[dict]) -> tuple[dict, dict]:
    """(arms, spreads): the first seed's objects, or means over seeds with each value's spread."""
    from rldistill import metrics

    if len(per_seed) == 1:
        return per_seed[0], {}
    spreads: dict = {}
    arms = {}
    for arm in per_seed[0]:
        arms[arm] = {"styles": per_seed[0][arm]["styles"]}
        for split in SPLITS:
            arms[arm][split] = dict(per_seed[0][arm][split])
            for key in KEYS:
                sp = metrics.spread([s[arm][split][key] for s in per_seed if arm in s])
                spreads.setdefault(arm, {}).setdefault(split, {})[key] = sp
                arms[arm][split][key] = sp["mean"]
            arms[arm][split]["per_seed"] = [{k: s[arm][split][k] for k in KEYS} for s in per_seed if arm in s]
    return arms, spreads


def check_claim(arms: dict, comparisons: dict) -> dict:
    """The literature's prediction, criterion by criterion: compressed SFT + GRPO at least matches verbose SFT
    on ``eval`` (not worse beyond the paired-bootstrap interval), beats it on the worst style and on
    ``related``, at <= 35% of its tokens per answer."""
    c, v = arms["compressed_sft_grpo"], arms["verbose_sft"]
    d = {s: c[s]["accuracy"] - v[s]["accuracy"] for s in SPLITS}
    ci = comparisons.get("compressed_sft_grpo - verbose_sft", {}).get("eval")
    ratio = c["eval"]["mean_tokens"] / v["eval"]["mean_tokens"] if v["eval"]["mean_tokens"] else None
    out = {"eval_diff_points": 100 * d["eval"], "worst_style_diff_points": 100 * d["worst_style"],
           "related_diff_points": 100 * d["related"], "token_ratio": ratio,
           "matches_on_eval": d["eval"] >= 0 or (ci is not None and ci["high"] >= 0),
           "beats_on_worst_style": d["worst_style"] > 0, "beats_on_related": d["related"] > 0,
           "tokens_le_35pct": ratio is not None and ratio <= 0.35}
    if BASELINE in arms:
        out["compressed_sft_above_zero_shot_points"] = 100 * (arms["compressed_sft"]["eval"]["accuracy"]
                                                             - arms[BASELINE]["eval"]["accuracy"])
    return out


CRITERIA = ("matches_on_eval", "beats_on_worst_style", "beats_on_related", "tokens_le_35pct")


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def summary_paragraph(arms: dict, claim: dict, comparisons: dict, n_seeds: int) -> str:
    """What the numbers show, in words, whatever they show."""
    c, v, cs, vg = (arms[k] for k in ("compressed_sft_grpo", "verbose_sft", "compressed_sft", "verbose_sft_grpo"))
    a, r = arms["answer_only_sft"], arms["reference_sft"]

    def ci(split):
        x = comparisons.get("compressed_sft_grpo - verbose_sft", {}).get(split)
        return f"; 95% paired-bootstrap CI {100 * x['low']:+.1f} to {100 * x['high']:+.1f}" if x else ""

    held = [k for k in CRITERIA if claim[k]]
    verdict = ("The predicted result holds on every criterion." if len(held) == len(CRITERIA) else
               f"The predicted result holds on {len(held)} of {len(CRITERIA)} criteria ({', '.join(held) or 'none'}).")
    zero = arms.get(BASELINE)
    zs = (f" The untrained student scored {_pct(zero['eval']['accuracy'])} on `eval` and "
          f"{_pct(zero['related']['accuracy'])} on `related`." if zero else "")
    seeds = (f" Accuracies are means over {n_seeds} training seeds (spread in the table); the intervals are "
             "from the first seed's problems." if n_seeds > 1 else " One seed: the intervals are the only error bars.")
    return (
        f"Compressed-trace SFT followed by GRPO reached {_pct(c['eval']['accuracy'])} greedy accuracy on `eval` "
        f"against {_pct(v['eval']['accuracy'])} for verbose-trace SFT ({claim['eval_diff_points']:+.1f} points"
        f"{ci('eval')}), {_pct(c['worst_style']['accuracy'])} against {_pct(v['worst_style']['accuracy'])} on its "
        f"worst prompt style ({claim['worst_style_diff_points']:+.1f} points), and {_pct(c['related']['accuracy'])} "
        f"against {_pct(v['related']['accuracy'])} on `related` ({claim['related_diff_points']:+.1f} points"
        f"{ci('related')}), writing {c['eval']['mean_tokens'] or 0:.0f} completion tokens per `eval` problem against "
        f"{v['eval']['mean_tokens'] or 0:.0f} ({100 * (claim['token_ratio'] or float('nan')):.0f}%). "
        f"Before GRPO the compressed-SFT model scored {_pct(cs['eval']['accuracy'])} on `eval` (GRPO changed it by "
        f"{100 * (c['eval']['accuracy'] - cs['eval']['accuracy']):+.1f} points); GRPO from the verbose model "
        f"reached {_pct(vg['eval']['accuracy'])}. The compact reference chain reached {_pct(r['eval']['accuracy'])} "
        f"and answer-only SFT {_pct(a['eval']['accuracy'])}.{zs} {verdict}{seeds}")


def ordered(names) -> list[str]:
    """The untrained student, the six arms of every run, then any extra granularity arms."""
    names = list(names)
    return [a for a in (BASELINE, *ARMS) if a in names] + [a for a in names if a not in (BASELINE, *ARMS)]


def results_table(arms: dict, spreads: dict) -> str:
    from rldistill.report import table

    def cell(arm, split, key, pct=True):
        x = arms[arm][split].get(key)
        txt = "–" if x is None else (f"{100 * x:.1f}" if pct else f"{x:.0f}")
        sp = spreads.get(arm, {}).get(split, {}).get(key)
        if sp and sp.get("n", 0) > 1 and x is not None:
            txt += f" ± {100 * sp['std']:.1f}" if pct else f" ± {sp['std']:.0f}"
        return txt

    rows = []
    for arm in ordered(arms):
        rows.append([arm, cell(arm, "eval", "accuracy"), cell(arm, "eval", "mean_tokens", False),
                     cell(arm, "eval", "accuracy_per_1k_tokens", False),
                     cell(arm, "worst_style", "accuracy") + f" ({arms[arm]['worst_style'].get('style') or '–'})",
                     cell(arm, "related", "accuracy"), cell(arm, "related", "mean_tokens", False),
                     cell(arm, "related", "tokens_per_solved", False)])
    return table(["arm", "eval acc %", "eval tokens", "eval acc % per 1k tokens", "worst style acc %",
                  "related acc %", "related tokens", "related tokens per solved"], rows)


def budget_table(plan: dict) -> str:
    from rldistill.report import table

    rows = []
    for arm in ordered(plan):
        pl, lg = plan[arm], plan[arm].get("log", {})
        steps = lg.get("steps", pl["steps"])
        rows.append([arm, pl["stage"] + (f" from {pl['from']}" if "from" in pl else ""), steps,
                     pl["batch_size"], f"{steps * pl['batch_size']:,}", f"{pl['planned_tokens']:,}",
                     f"{int(lg.get('num_tokens') or 0):,}",
                     "–" if lg.get("last_loss") is None else f"{lg['last_loss']:.3f}",
                     "–" if not lg.get("rewards") else f"{lg['rewards'][0]:.2f} → {lg['rewards'][-1]:.2f}",
                     lg.get("seconds", "–")])
    return table(["arm", "stage", "steps", "batch (rows or completions)", "rows or completions seen",
                  "planned tokens", "tokens seen (trainer)", "last loss", "reward first → last step", "train s"], rows)


def write_report(out: Path, p, preset_name: str, prep: dict, plans: list[dict], evals: list[dict], timings: dict,
                 wall: float) -> dict:
    from rldistill import report
    from rldistill.report import table

    per_seed = [{arm: arm_summary(m) for arm, m in e["models"].items()} for e in evals]
    arms, spreads = aggregate(per_seed)
    comparisons = evals[0].get("comparisons", {})
    claim = check_claim(arms, comparisons)
    paragraph = summary_paragraph(arms, claim, comparisons, len(evals))
    budgets = {"sft_tokens_per_arm": p.sft_tokens, "grpo_sampled_tokens_per_arm": p.grpo_tokens,
               "n_train_problems": prep["n_problems"], "n_eval": p.n_eval, "n_related": p.n_related,
               "eval_max_new_tokens": evals[0]["settings"]["max_new_tokens"]}
    summary = {"arms": arms, "claim": claim, "preset": preset_name, "settings": asdict(p), "budgets": budgets,
               "n_seeds": len(evals), "per_seed": per_seed if len(evals) > 1 else None, "spread": spreads or None,
               "timings_s": timings, "wall_s": round(wall, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plots = report.plot_all(evals[0], out)
    st = prep["compress_stats"]["compressed_sft"]
    lines = [
        f"# rldistill demo on a pretrained student ({Path(str(p.student)).name}): compressed-trace SFT + GRPO "
        "against imitation", "", "## Summary", "", paragraph, "", "## Results", "",
        f"Greedy accuracy (%) and mean completion tokens per arm{' (mean ± std over seeds)' if len(evals) > 1 else ''}. "
        f"`eval`: {p.n_eval} held-out problems of the training distribution (the embedded task in English); worst "
        "style: the prompt style where the arm does worst, on `eval`'s problems asked in wordings no training prompt "
        f"uses (reworded instruction, `Final answer:` format, distracting sentences with numbers); `related`: the first "
        f"{p.n_related} problems of {p.related}, never trained on, asked like training. Tokens are the student "
        "tokenizer's; generation ends at the first final answer.", "",
        results_table(arms, spreads), "",
        "Predicted (Li et al. 2025; Chu et al. 2025): compressed SFT + GRPO at least matches verbose SFT on `eval` "
        "and beats it on the worst style and on `related`, at ≤ 35% of its tokens per answer:", "",
        "```json", json.dumps(claim, indent=1), "```", "",
        "## Budgets", "",
        f"Every SFT arm draws its rows, in the same order, from the same {prep['n_problems']} problems (dropped by an "
        f"arm's compressor, then removed from all: {prep['dropped']}) and trains for the same **{p.sft_tokens:,} "
        f"training tokens** (chat template + prompt + completion, no padding; steps = budget / (batch × mean tokens "
        "per row), so an arm with shorter targets sees more problems), batch "
        f"{p.sft_batch_size}, lr {p.sft_lr} cosine. Both GRPO arms sample the same **{p.grpo_tokens:,} tokens** "
        "(prompt + completion; training stops after the step that reaches the budget, `--max_sampled_tokens`): "
        f"{p.grpo_prompts_per_step} prompts × {p.grpo_num_generations} completions "
        f"per step, at most {p.grpo_max_completion_length} completion tokens, temperature {p.grpo_temperature}, reward "
        f"`math`, lr {p.grpo_lr}, KL β {p.grpo_beta}. The compressed traces (`{p.compress_method}`) keep "
        f"{100 * (st.get('ratio') or 0):.1f}% of the teacher's tokens. Evaluation: greedy, at most "
        f"{budgets['eval_max_new_tokens']} new tokens.", "",
        budget_table(plans[0]), "",
    ]
    if len(per_seed) > 1:
        lines += ["## Per seed", "", table(
            ["arm"] + [f"seed {i}: eval / worst style / related %" for i in range(len(per_seed))],
            [[arm] + [" / ".join(f"{100 * (ps[arm][k]['accuracy'] or 0):.1f}" for k in SPLITS) for ps in per_seed]
             for arm in ordered(plans[0])]), ""]
    lines += ["## Plots", ""] + [f"![{k}]({Path(v).name})" for k, v in plots.items()] + [
        "", "## Full evaluation" + (" (first seed)" if len(evals) > 1 else ""), "",
        "Per-suite tables and paired-bootstrap intervals (each model minus `verbose_sft`):", "",
        report.render(evals[0], title="Evaluation", level=2).split("\n", 2)[2],
        "## Wall time", "",
        f"{wall:.0f} s in all ({', '.join(f'{k} {v:.0f}s' for k, v in timings.items())}); "
        f"{p.workers or min(2, os.cpu_count() or 1)} worker processes × {p.threads} torch thread(s), device {p.device}.", ""]
    (out / "report.md").write_text("\n".join(lines))
    return summary
