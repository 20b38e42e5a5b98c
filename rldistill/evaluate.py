"""Transfer evaluation: generate, score with the reward verifiers, summarise.

``rldistill eval --model DIR --data SUITE... [--n-samples N] [--temperature T]
[--max-new-tokens M] [--budgets 32,64] [--out DIR]``

- A suite is anything ``rldistill.data.load_traces`` loads (a JSONL file, a
  saved dataset, ...); ``NAME=PATH`` names it, and a folder written by
  ``rldistill synth`` expands to its ``eval``, ``ood`` and ``styles/*`` splits.
- Each problem gets one greedy completion (the headline accuracy) and, when
  ``--n-samples N --temperature T>0``, N sampled ones (pass@1 as their mean,
  unbiased pass@k for k <= N).
- Completions are scored by ``score`` below, which is ``rldistill.rewards.score``:
  the same function that computes the training rewards, so training and
  evaluation cannot disagree on what "correct" means.
- Token budgets: the greedy completion is cut at B tokens, a forcing suffix
  (``\\n\\boxed{`` by default) is appended, and the model writes the answer
  (at most ``--answer-tokens`` more tokens). A completion that already ended
  within B tokens keeps its own answer.
- Metrics are in ``rldistill.metrics``; tables and plots in ``rldistill.report``.
- Several ``--model NAME=DIR`` are compared on the same problems with paired
  bootstrap intervals (each model against the first one).

Outputs under ``--out``: ``eval.json``, ``report.md``, PNG plots and
``generations/<model>/<suite>.jsonl`` (every completion with its verdict).

Prompts go through the model's chat template whenever its tokenizer has one
(as one user message; ``--no-chat-template`` sends them as plain text, for
models trained on plain prompts such as the embedded student's recipes).
Generation is ``rldistill.generation``: continuous batching on the model's own
forward by default (``stream``), padded HF ``generate`` (``hf``), or vLLM when
it is installed and CUDA is present (``--backend auto``); a progress bar shows
the sequences done. Left out: multi-GPU data-parallel evaluation, and
program suites' per-test breakdown (the program verifier's score is used as is).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from rldistill import metrics

log = logging.getLogger(__name__)

GENERIC_STEMS = {"test", "train", "validation", "valid", "dev", "cases", "data"}


@dataclass
class EvalConfig:
    n_samples: int = field(default=1, metadata={"help": "sampled completions per problem (used when temperature > 0)"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature; 0 means greedy only"})
    top_p: float = 1.0
    max_new_tokens: int = field(default=512, metadata={"help": "completion length cap"})
    batch_size: int = field(default=32, metadata={"help": "prompts per generate call (HF backend)"})
    budgets: tuple[int, ...] = field(default=(), metadata={"help": "token budgets for truncate-and-force accuracy"})
    budget_suites: tuple[str, ...] | None = field(default=None, metadata={"help": "suites to run budgets on (None: all)"})
    force_suffix: str = field(default="\n\n\\boxed{", metadata={"help": "appended after truncation to force an answer"})
    answer_tokens: int = field(default=16, metadata={"help": "tokens allowed after the forcing suffix"})
    overlap_n: int = field(default=4, metadata={"help": "word n-gram size for teacher overlap"})
    limit: int | None = field(default=None, metadata={"help": "evaluate the first N rows of each suite"})
    base_suite: str = field(default="eval", metadata={"help": "suite the prompt styles are compared with"})
    backend: str = field(default="auto", metadata={"help": "auto | stream | hf | vllm"})
    generation_dtype: str = field(default="float32", metadata={
        "help": "decode with the weights in this dtype (float32 | bfloat16; stream and hf backends). bfloat16 about "
                "doubles CPU decoding speed where AVX512-BF16 exists; greedy texts then differ from float32's"})
    chat_template: bool = field(default=True, metadata={
        "help": "ask string prompts as a user message through the tokenizer's chat template, when it has one"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar while generating"})
    stop_at_answer: bool = field(default=True, metadata={
        "help": "end a completion right after its first complete final answer (\\boxed{...} or a 'Final answer:' line)"})
    seed: int = 0


# ---------------------------------------------------------------- scoring


def score(completions: list[str], answers: list[str], verifier_names: list[str]) -> list:
    """The one scoring function (rewards and evaluation share it)."""
    from rldistill.rewards import score as _score

    return _score(completions, answers, verifier_names)


def is_correct(verdict) -> bool:
    # Partial credit (e.g. a fraction of tests passed) is not "solved".
    return verdict.score is not None and verdict.score >= 1.0 - 1e-9


# ---------------------------------------------------------------- suites


def _suite_name(path: Path) -> str:
    stem = path.name.split(".")[0]
    if path.parent.name == "styles" or stem in GENERIC_STEMS:
        return f"{path.parent.name}/{stem}"
    return stem


def resolve_suites(specs: list[str]) -> dict[str, Path]:
    """``NAME=PATH``, a file, or a synth folder (-> eval, ood, styles/*)."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, sep, p = spec.partition("=")
        if not sep:
            name, p = "", spec
        path = Path(p)
        if path.is_dir() and (path / "eval.jsonl").exists():
            for split in ("eval", "ood"):
                if (path / f"{split}.jsonl").exists():
                    out[f"{name + '/' if name else ''}{split}"] = path / f"{split}.jsonl"
            for s in sorted((path / "styles").glob("*.jsonl")):
                out[f"{name + '/' if name else ''}styles/{s.stem}"] = s
            continue
        if not path.exists():
            raise FileNotFoundError(f"suite {spec!r}: {path} does not exist")
        out[name or _suite_name(path)] = path
    return out


def load_suite(path: Path, limit: int | None = None) -> list[dict]:
    from rldistill.data import load_traces

    ds = load_traces(str(path), require=("prompt", "answer"))
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    return [dict(r) for r in ds]


# Generation lives in rldistill.generation; these names are re-exported for callers of this module.
from rldistill.generation import (AnswerStop, Generator, answer_end, cut_at_answer, hf_generate,  # noqa: E402,F401
                                  prompt_ids, stream_generate, vllm_available, vllm_generate)


# ---------------------------------------------------------------- one model on one suite


def budget_forced(gen: Generator, pids: list[list[int]], greedy: list[tuple[list[int], bool]], budget: int,
                  cfg: EvalConfig) -> tuple[list[str], list[int]]:
    """Cut each greedy completion at ``budget`` tokens, append the forcing
    suffix and let the model write the answer. Returns texts and token counts
    (kept reasoning + suffix + answer)."""
    suffix = gen.tok(cfg.force_suffix, add_special_tokens=False)["input_ids"]
    texts: list[str | None] = [None] * len(greedy)
    tokens = [0] * len(greedy)
    todo = []
    for i, (ids, finished) in enumerate(greedy):
        if finished and len(ids) <= budget:
            texts[i], tokens[i] = gen.decode(ids), len(ids)
        else:
            todo.append(i)
    if todo:
        forced = [pids[i] + greedy[i][0][:budget] + suffix for i in todo]
        outs = gen(forced, max_new_tokens=cfg.answer_tokens, temperature=0.0, n=1, seed=cfg.seed)
        for i, o in zip(todo, outs):
            kept = greedy[i][0][:budget] + suffix + o[0][0]
            texts[i], tokens[i] = gen.decode(kept), len(kept)
    return texts, tokens


def evaluate_suite(gen: Generator, rows: list[dict], cfg: EvalConfig, budgets: bool = True) -> tuple[dict, list[dict]]:
    """Metrics for one model on one suite, and one record per problem."""
    pids = [prompt_ids(gen.tok, r["prompt"], chat=cfg.chat_template) for r in rows]
    answers = [str(r["answer"]) for r in rows]
    vnames = [r.get("verifier") or "math" for r in rows]
    teacher = [r.get("completion") or "" for r in rows]

    greedy = gen(pids, max_new_tokens=cfg.max_new_tokens, temperature=0.0, n=1, seed=cfg.seed,
                 stop_at_answer=cfg.stop_at_answer)
    greedy = [g[0] for g in greedy]
    g_text = [gen.decode(ids) for ids, _ in greedy]
    g_tok = [len(ids) for ids, _ in greedy]
    g_ver = score(g_text, answers, vnames)
    g_ok = [is_correct(v) for v in g_ver]

    out = metrics.token_stats(g_ok, g_tok)
    out["truncated_fraction"] = sum(not f for _, f in greedy) / len(greedy) if greedy else 0.0
    out["unjudged"] = sum(v.score is None for v in g_ver)
    reasons: dict[str, int] = {}
    for v in g_ver:
        reasons[v.reason] = reasons.get(v.reason, 0) + 1
    out["reasons"] = reasons
    out["verbose_markers"] = metrics.marker_stats(g_text, g_tok)
    out["teacher_overlap"] = metrics.mean_overlap(g_text, teacher, cfg.overlap_n)

    # Sampled completions: pass@1 as their mean, pass@k for k <= n.
    s_ok: list[list[bool]] = [[o] for o in g_ok]
    s_texts: list[list[str]] = [[t] for t in g_text]
    if cfg.temperature > 0 and cfg.n_samples >= 1:
        samples = gen(pids, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
                      n=cfg.n_samples, seed=cfg.seed, stop_at_answer=cfg.stop_at_answer)
        flat_text = [gen.decode(ids) for s in samples for ids, _ in s]
        flat_tok = [len(ids) for s in samples for ids, _ in s]
        n = cfg.n_samples
        flat_ok = [is_correct(v) for v in score(flat_text, [a for a in answers for _ in range(n)],
                                                 [v for v in vnames for _ in range(n)])]
        s_ok = [flat_ok[i * n : (i + 1) * n] for i in range(len(rows))]
        s_texts = [flat_text[i * n : (i + 1) * n] for i in range(len(rows))]
        out["sample_mean_tokens"] = sum(flat_tok) / len(flat_tok) if flat_tok else None
    n = len(s_ok[0]) if s_ok else 1
    out["n_samples"] = n if cfg.temperature > 0 else 0
    out["pass@1"] = metrics.mean_pass_at_k(s_ok, 1) if rows else None
    out["pass@k"] = {str(k): metrics.mean_pass_at_k(s_ok, k) for k in range(1, n + 1)} if rows else {}

    # Accuracy at fixed token budgets.
    out["budgets"] = {}
    for b in cfg.budgets if budgets else ():
        texts, toks = budget_forced(gen, pids, greedy, b, cfg)
        ok = [is_correct(v) for v in score(texts, answers, vnames)]
        out["budgets"][str(b)] = {"accuracy": sum(ok) / len(ok) if ok else None,
                                  "mean_tokens": sum(toks) / len(toks) if toks else None}

    records = [
        {"id": r.get("id"), "answer": answers[i], "completion": g_text[i], "tokens": g_tok[i],
         "finished": greedy[i][1], "correct": g_ok[i], "reason": g_ver[i].reason,
         **({"samples": s_texts[i], "samples_correct": s_ok[i]} if cfg.temperature > 0 else {})}
        for i, r in enumerate(rows)
    ]
    return out, records


# ---------------------------------------------------------------- models x suites


def evaluate_model(name: str, path: str, suites: dict[str, Path], cfg: EvalConfig,
                   out_dir: str | Path | None = None) -> tuple[dict, dict[str, list[bool]]]:
    """One model on every suite: its ``eval.json`` entry and its per-problem correctness.

    With ``out_dir``, writes the generations to ``out_dir/generations/<name>/``.
    (``evaluate_models`` calls this per model; the demo calls it in parallel processes.)
    """
    rows = {sname: load_suite(p, cfg.limit) for sname, p in suites.items()}
    styles = [s for s in suites if s.split("/")[-2:-1] == ["styles"]]
    t0 = time.time()
    gen = Generator(path, cfg.backend, cfg.batch_size, progress=cfg.progress, dtype=cfg.generation_dtype)
    res = {"path": str(path), "backend": gen.backend, "generation_dtype": cfg.generation_dtype, "suites": {}}
    per_problem: dict[str, list[bool]] = {}
    for sname, srows in rows.items():
        t1 = time.time()
        m, recs = evaluate_suite(gen, srows, cfg, cfg.budget_suites is None or sname in cfg.budget_suites)
        m["seconds"] = round(time.time() - t1, 2)
        res["suites"][sname] = m
        per_problem[sname] = [r["correct"] for r in recs]
        log.info("eval %s on %s: accuracy %.3f, mean tokens %.1f (%.1fs)", name, sname, m["accuracy"],
                 m["mean_tokens"] or 0, m["seconds"])
        if out_dir is not None:
            d = Path(out_dir) / "generations" / name.replace("/", "_")
            d.mkdir(parents=True, exist_ok=True)
            with open(d / f"{sname.replace('/', '_')}.jsonl", "w") as f:
                for r in recs:
                    f.write(json.dumps(r) + "\n")
    acc = {s: m["accuracy"] for s, m in res["suites"].items()}
    res["robustness"] = metrics.robustness(acc, cfg.base_suite, styles)
    res["seconds"] = round(time.time() - t0, 2)
    return res, per_problem


def assemble(cfg: EvalConfig, suites: dict[str, Path], parts: dict[str, tuple[dict, dict]],
             out_dir: str | Path | None = None) -> dict:
    """The ``eval.json`` object from per-model ``evaluate_model`` results (in ``parts``' order:
    the first model is the reference of the comparisons); with ``out_dir`` also writes the outputs."""
    result: dict = {"settings": {**asdict(cfg), "budgets": list(cfg.budgets)},
                    "suites": {k: str(v) for k, v in suites.items()},
                    "models": {name: res for name, (res, _) in parts.items()}, "comparisons": {}}
    result["comparisons"] = compare({name: pp for name, (_, pp) in parts.items()}, seed=cfg.seed)
    if out_dir is not None:
        write_outputs(result, out_dir)
    return result


def evaluate_models(models: dict[str, str], suites: dict[str, Path], cfg: EvalConfig,
                    out_dir: str | Path | None = None) -> dict:
    """Evaluate every model on every suite; compare each model with the first.

    Returns the ``eval.json`` object; with ``out_dir`` also writes it, the
    generations, ``report.md`` and the plots.
    """
    parts = {name: evaluate_model(name, path, suites, cfg, out_dir) for name, path in models.items()}
    return assemble(cfg, suites, parts, out_dir)


def compare(per_problem: dict[str, dict[str, list[bool]]], *, reference: str | None = None, seed: int = 0,
            pairs: list[tuple[str, str]] | None = None) -> dict:
    """Paired bootstrap of greedy accuracy, per suite: each model minus the
    reference (default: the first model), or the given ``pairs``."""
    names = list(per_problem)
    if pairs is None:
        if len(names) < 2:
            return {}
        ref = reference or names[0]
        pairs = [(m, ref) for m in names if m != ref]
    out: dict = {}
    for a, b in pairs:
        for suite, va in per_problem[a].items():
            vb = per_problem[b].get(suite)
            if vb is None or len(vb) != len(va) or not va:
                continue
            out.setdefault(f"{a} - {b}", {})[suite] = metrics.paired_bootstrap(va, vb, seed=seed)
    return out


def write_outputs(result: dict, out_dir: str | Path, title: str = "Evaluation", preamble: str = "") -> None:
    from rldistill import report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(result, indent=2))
    plots = report.plot_all(result, out)
    (out / "report.md").write_text(report.render(result, title=title, preamble=preamble, plots=plots))


# ---------------------------------------------------------------- CLI


def _parse_models(specs: list[str]) -> dict[str, str]:
    out = {}
    for s in specs:
        name, sep, path = s.partition("=")
        if not sep:
            name, path = Path(s).name or s, s
        if name in out:
            raise SystemExit(f"rldistill eval: two models named {name!r}; use NAME=DIR")
        out[name] = path
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rldistill eval", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", required=True, metavar="[NAME=]DIR",
                   help="model directory or hub id; several are compared on the same problems")
    p.add_argument("--data", nargs="+", required=True, metavar="[NAME=]SUITE",
                   help="suite files the data layer loads, or a `rldistill synth` folder")
    p.add_argument("--out", default="runs/eval", help="output folder (eval.json, report.md, plots)")
    d = EvalConfig()
    helps = {f.name: f.metadata.get("help") for f in fields(EvalConfig)}
    p.add_argument("--n-samples", type=int, default=d.n_samples, help=helps["n_samples"])
    p.add_argument("--temperature", type=float, default=d.temperature, help=helps["temperature"])
    p.add_argument("--top-p", type=float, default=d.top_p)
    p.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens, help=helps["max_new_tokens"])
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=helps["batch_size"])
    p.add_argument("--budgets", default="", help="comma-separated token budgets, e.g. 32,64,128")
    p.add_argument("--budget-suites", default="", help="comma-separated suites to run the budgets on (default: all)")
    p.add_argument("--force-suffix", default=d.force_suffix, help=helps["force_suffix"])
    p.add_argument("--answer-tokens", type=int, default=d.answer_tokens, help=helps["answer_tokens"])
    p.add_argument("--overlap-n", type=int, default=d.overlap_n, help=helps["overlap_n"])
    p.add_argument("--limit", type=int, default=None, help=helps["limit"])
    p.add_argument("--base-suite", default=d.base_suite, help=helps["base_suite"])
    p.add_argument("--backend", choices=["auto", "stream", "hf", "vllm"], default=d.backend,
                   help="auto: vLLM when installed and CUDA is present, else stream (continuous batching on CPU); "
                        "hf: padded model.generate")
    p.add_argument("--generation-dtype", choices=["float32", "bfloat16"], default=d.generation_dtype,
                   help=helps["generation_dtype"])
    p.add_argument("--no-chat-template", dest="chat_template", action="store_false",
                   help="send string prompts as plain text even when the tokenizer has a chat template")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--no-stop-at-answer", dest="stop_at_answer", action="store_false",
                   help="let completions run on after their first final answer, to EOS or the cap")
    p.add_argument("--seed", type=int, default=d.seed)
    return p


def cli(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.n_samples < 1:
        raise SystemExit("rldistill eval: --n-samples must be >= 1")
    budgets = tuple(int(b) for b in args.budgets.split(",") if b.strip())
    cfg = EvalConfig(n_samples=args.n_samples, temperature=args.temperature, top_p=args.top_p,
                     max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, budgets=budgets,
                     budget_suites=tuple(x for x in args.budget_suites.split(",") if x) or None,
                     force_suffix=args.force_suffix, answer_tokens=args.answer_tokens, overlap_n=args.overlap_n,
                     limit=args.limit, base_suite=args.base_suite, backend=args.backend, seed=args.seed,
                     generation_dtype=args.generation_dtype,
                     stop_at_answer=args.stop_at_answer, chat_template=args.chat_template, progress=args.progress)
    result = evaluate_models(_parse_models(args.model), resolve_suites(args.data), cfg, args.out)
    print(f"wrote {Path(args.out) / 'eval.json'} and {Path(args.out) / 'report.md'}")
    for m, r in result["models"].items():
        for s, v in r["suites"].items():
            print(f"{m:>24} {s:>20}  acc {v['accuracy']:.3f}  tokens {v['mean_tokens'] or 0:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
