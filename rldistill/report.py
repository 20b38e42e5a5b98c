"""Markdown tables and PNG plots from an ``eval.json`` object.

``render(result)`` returns report.md's text; ``plot_all(result, out_dir)``
writes three plots with matplotlib's Agg backend (no display needed):
accuracy against mean completion tokens per model, accuracy per suite, and
accuracy at each token budget. Both take the object ``rldistill.evaluate``
writes (``{"settings", "suites", "models": {name: {"suites", "robustness"}},
"comparisons"}``) and nothing else, so a saved ``eval.json`` can be
re-rendered: ``python -m rldistill.report runs/eval/eval.json``.

Left out: interactive plots, HTML.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _f(x, digits: int = 3, pct: bool = False) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and x != x:  # NaN
        return "–"
    if pct:
        return f"{100 * x:.1f}"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}" if abs(x) < 100 else f"{x:.0f}"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _suite_order(result: dict) -> list[str]:
    names = list(result.get("suites", {}))
    if not names:
        for m in result["models"].values():
            names = list(m["suites"])
            break
    return names


def summary_table(result: dict) -> str:
    """One row per model: the headline transfer numbers (accuracy in %)."""
    base = result.get("settings", {}).get("base_suite", "eval")
    rows = []
    for name, m in result["models"].items():
        s = m["suites"]
        b, o, r = s.get(base, {}), s.get("ood", {}), m.get("robustness", {})
        worst = r.get("worst_style")
        ws = s.get(worst, {}) if worst else {}
        rows.append([
            name, _f(b.get("accuracy"), pct=True), _f(b.get("mean_tokens"), 1),
            _f(o.get("accuracy"), pct=True), _f(o.get("mean_tokens"), 1),
            f"{_f(r.get('worst_style_accuracy'), pct=True)} ({(worst or '–').split('/')[-1]})",
            _f(ws.get("mean_tokens"), 1), _f(r.get("worst_gap"), pct=True),
            _f(b.get("accuracy_per_1k_tokens"), 2),
            _f((b.get("verbose_markers") or {}).get("total_per_completion"), 2),
            _f((b.get("teacher_overlap") or {}).get("mean"), 2),
        ])
    return table(["model", f"{base} acc %", f"{base} tokens", "ood acc %", "ood tokens", "worst style acc %",
                  "worst style tokens", "style gap (pts)", "acc / 1k tok", "verbose markers / compl.",
                  "teacher 4-gram overlap"], rows)


def suite_table(result: dict) -> str:
    suites = _suite_order(result)
    rows = [[name] + [_f(m["suites"].get(s, {}).get("accuracy"), pct=True) for s in suites]
            for name, m in result["models"].items()]
    return table(["model (greedy acc %)"] + suites, rows)


def passk_table(result: dict) -> str | None:
    suites = _suite_order(result)
    rows, ks = [], set()
    for m in result["models"].values():
        for s in m["suites"].values():
            if s.get("n_samples"):
                ks |= set(s.get("pass@k", {}))
    if not ks:
        return None
    ks = sorted(ks, key=int)
    for name, m in result["models"].items():
        for s in suites:
            v = m["suites"].get(s, {})
            rows.append([name, s] + [_f(v.get("pass@k", {}).get(k), pct=True) for k in ks])
    return table(["model", "suite"] + [f"pass@{k} %" for k in ks], rows)


def token_table(result: dict) -> str:
    rows = []
    for name, m in result["models"].items():
        for s, v in m["suites"].items():
            rows.append([name, s, _f(v.get("mean_tokens"), 1), _f(v.get("mean_tokens_correct"), 1),
                         _f(v.get("mean_tokens_incorrect"), 1), _f(v.get("tokens_per_solved"), 1),
                         _f(v.get("truncated_fraction"), pct=True)])
    return table(["model", "suite", "mean tokens", "on correct", "on incorrect", "tokens / solved",
                  "hit max tokens %"], rows)


def budget_table(result: dict) -> str | None:
    budgets = result.get("settings", {}).get("budgets") or []
    if not budgets:
        return None
    rows = []
    for name, m in result["models"].items():
        for s, v in m["suites"].items():
            bs = v.get("budgets", {})
            rows.append([name, s] + [_f(bs.get(str(b), {}).get("accuracy"), pct=True) for b in budgets]
                        + [_f(v.get("accuracy"), pct=True)])
    return table(["model", "suite"] + [f"≤{b} tok %" for b in budgets] + ["unlimited %"], rows)


def robustness_table(result: dict) -> str | None:
    styles = sorted({s for m in result["models"].values() for s in m.get("robustness", {}).get("gaps", {})})
    if not styles:
        return None
    rows = [[name] + [_f(m["robustness"]["gaps"].get(s), pct=True) for s in styles]
            for name, m in result["models"].items()]
    return table(["model (base − style, pts)"] + [s.split("/")[-1] for s in styles], rows)


def comparison_table(result: dict) -> str | None:
    comps = result.get("comparisons") or {}
    if not comps:
        return None
    rows = []
    for pair, per_suite in comps.items():
        for s, c in per_suite.items():
            rows.append([pair, s, _f(c["diff"], pct=True), f"[{_f(c['low'], pct=True)}, {_f(c['high'], pct=True)}]",
                         _f(c.get("p_value"), 3)])
    return table(["comparison", "suite", "Δ acc (pts)", "95% CI (paired bootstrap)", "p"], rows)


def render(result: dict, *, title: str = "Evaluation", preamble: str = "", plots: dict | None = None,
           level: int = 1) -> str:
    """report.md's text; ``level`` is the title's heading level (sections are one deeper)."""
    st = result.get("settings", {})
    h = "#" * (level + 1)
    parts = [f"{'#' * level} {title}", ""]
    if preamble:
        parts += [preamble.strip(), ""]
    parts += [f"{h} Summary", "",
              "Greedy accuracy; tokens are completion tokens of the model's own tokenizer. "
              "The worst style is the prompt style with the lowest accuracy; its gap is "
              f"`{st.get('base_suite', 'eval')}` accuracy minus its accuracy.", "", summary_table(result), ""]
    parts += [f"{h} Accuracy per suite", "", suite_table(result), ""]
    for head, tbl in (("pass@k (unbiased, from the sampled completions)", passk_table(result)),
                      ("Tokens", token_table(result)),
                      ("Accuracy at fixed token budgets (reasoning cut at B tokens, answer forced)", budget_table(result)),
                      ("Robustness gap per prompt style", robustness_table(result)),
                      ("Paired comparisons", comparison_table(result))):
        if tbl:
            parts += [f"{h} {head}", "", tbl, ""]
    if plots:
        parts += [f"{h} Plots", ""] + [f"![{k}]({Path(v).name})" for k, v in plots.items()] + [""]
    parts += [f"{h} Settings", "", "```json", json.dumps(st, indent=1), "```", ""]
    return "\n".join(parts)


# ---------------------------------------------------------------- plots


def _finish(fig, ax, title: str, path: Path, grid: str = "both", legend_size: int = 8) -> Path:
    """Label, lay out, save and close one accuracy plot; return its path."""
    import matplotlib.pyplot as plt

    ax.set_ylabel("greedy accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=legend_size)
    ax.grid(axis=grid, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_all(result: dict, out_dir: str | Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = result.get("settings", {}).get("base_suite", "eval")
    models = result["models"]
    colors = {name: plt.cm.tab10(i % 10) for i, name in enumerate(models)}
    written: dict[str, Path] = {}

    # 1. accuracy vs mean tokens, one point per model and headline suite
    fig, ax = plt.subplots(figsize=(7, 4.5))
    marks = {base: "o", "ood": "s", "worst style": "^"}
    if not any(base in m["suites"] or "ood" in m["suites"] for m in models.values()):
        # suites of other names (gsm8k, math500, ...): one point per suite, marked alike
        marks = {s: "o" for m in models.values() for s in m["suites"]}
    plotted = False
    for name, m in models.items():
        pts = {label: m["suites"].get(label) for label in marks if label != "worst style"}
        worst = m.get("robustness", {}).get("worst_style")
        pts["worst style"] = m["suites"].get(worst) if worst else None
        for label, v in pts.items():
            if v and v.get("mean_tokens"):
                ax.scatter(v["mean_tokens"], 100 * v["accuracy"], color=colors[name], marker=marks.get(label, "o"),
                           s=60, alpha=0.85)
                plotted = True
    for name in models:
        ax.scatter([], [], color=colors[name], marker="o", label=name)
    for label, mk in marks.items():
        if mk != "o" or label == base:
            ax.scatter([], [], color="grey", marker=mk, label=label)
    if plotted:
        ax.set_xscale("log")  # answer-only and verbose models differ by ~100x in length
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("mean completion tokens (log scale)")
    written["accuracy vs tokens"] = _finish(fig, ax, "Accuracy vs tokens", out / "accuracy_vs_tokens.png")

    # 2. accuracy per suite, grouped bars
    suites = _suite_order(result)
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(suites) + 2), 4.5))
    w = 0.8 / max(1, len(models))
    for i, (name, m) in enumerate(models.items()):
        ys = [100 * (m["suites"].get(s, {}).get("accuracy") or 0) for s in suites]
        ax.bar([j + i * w for j in range(len(suites))], ys, width=w, color=colors[name], label=name)
    ax.set_xticks([j + w * (len(models) - 1) / 2 for j in range(len(suites))])
    ax.set_xticklabels([s.split("/")[-1] for s in suites], rotation=20)
    written["accuracy per suite"] = _finish(fig, ax, "Accuracy per suite", out / "accuracy_per_suite.png", grid="y")

    # 3. accuracy at each token budget (base suite solid, ood dashed)
    budgets = result.get("settings", {}).get("budgets") or []
    if budgets:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, m in models.items():
            for suite, ls in ((base, "-"), ("ood", "--")):
                v = m["suites"].get(suite)
                if not v:
                    continue
                ys = [100 * (v["budgets"].get(str(b), {}).get("accuracy") or 0) for b in budgets]
                ax.plot(budgets, ys, ls, marker="o", color=colors[name], label=f"{name} ({suite})")
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets)
        ax.set_xticklabels([str(b) for b in budgets])
        ax.set_xlabel("token budget (reasoning cut, answer forced)")
        written["accuracy at token budgets"] = _finish(fig, ax, "Accuracy at fixed token budgets",
                                                       out / "budget_accuracy.png", legend_size=7)
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m rldistill.report EVAL_JSON", file=sys.stderr)
        return 2
    path = Path(argv[0])
    result = json.loads(path.read_text())
    plots = plot_all(result, path.parent)
    (path.parent / "report.md").write_text(render(result, plots=plots))
    print(f"wrote {path.parent / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
