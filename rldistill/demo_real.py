"""The real-student demo: does compressed-trace SFT + GRPO transfer better than imitation on a pretrained chat model?

    rldistill demo --student smollm2-135m --out runs/demo-smollm2            # one seed, CPU (see README for time)
    rldistill demo --student smollm2-135m --out runs/x --quick               # the whole path in minutes
    rldistill demo --student smollm2-135m --out runs/x --seeds 3             # SFT and RL arms three times
    rldistill demo --student smollm2-135m --config configs/recipes/SmolLM2-135M-Instruct/demo_gpu.yaml

``--student`` is a name from ``rldistill.pretrained.PRETRAINED`` or a Hugging Face model directory. The
training distribution is the embedded task's problems (chains, equations, word problems in English), chosen
by a probe (docs/real_student_experiment.md): SmolLM2-135M-Instruct climbs from ~4% zero-shot to well above it
within a CPU budget there, and barely moves on GSM8K. Stages, all through the stages' own APIs:
``synth`` → ``student`` (the pretrained model as an HF directory) → the same training problems four ways:
answer only, the verbose teacher trace, the default compressor's output, and the compact reference chain
no compressor produced (the teacher's own computation lines) → SFT of each at the SAME number of training
tokens, prompts through the chat template → GRPO with the ``math`` verifier from the compressed-SFT and the
verbose-SFT models at the same number of sampled tokens → ``eval`` of every arm (and the untrained student)
on ``eval`` (held-out problems like training), the same problems in three prompt styles (reworded,
``Final answer:`` format, distracting sentences with numbers), and ``related`` (GSM8K test, a different
source never trained on) → ``DIR/report.md``, ``DIR/summary.json`` (``rldistill.demo_real_report``).

``scripts/demo_smollm2.sh`` runs the same stages as shell commands. Left out: PPO arms (the budget goes to
GRPO; ``rldistill ppo`` takes the same models), and tuning on the held-out suites.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

from rldistill.demo_jobs import fingerprint, finished, plan_steps, run_jobs  # noqa: F401 (public here too)

log = logging.getLogger("rldistill.demo")

SFT_ARMS = {"answer_only_sft": "answer_only", "verbose_sft": "none", "compressed_sft": "default",
            "reference_sft": "reference"}
GRPO_FROM = {"verbose_sft_grpo": "verbose_sft", "compressed_sft_grpo": "compressed_sft"}
ARMS = (*SFT_ARMS, *GRPO_FROM)
BASELINE = "zero_shot"  # the untrained student, evaluated like every arm


@dataclass(frozen=True)
class RealPreset:
    """Every knob of the real-student demo (a YAML file given to ``--config`` sets any of them)."""

    student: str = "smollm2-135m"
    n_train: int = 1000
    n_eval: int = 80  # each of the three styles asks the same problems
    # The embedded task's kinds and prompt styles this demo was measured on (the `slots` kind and the `notation`
    # style came later, for the embedded demo).
    kinds: tuple[str, ...] = ("chain", "equation", "word")
    styles: tuple[str, ...] = ("paraphrase", "format", "distract")
    related: str = "../shared/data/gsm8k/test.jsonl"  # a benchmark of another source (first n_related rows)
    n_related: int = 80
    compress_method: str = "verified"  # the default compressor
    # More SFT arms at other granularities, each a compressor method (`rldistill compress --method`), e.g.
    # ["rule"] (keeps plans, re-checks and dead ends: a finer granularity); arm name "<method>_sft".
    extra_methods: tuple[str, ...] = ()
    # SFT: every arm trains on sft_tokens tokens (chat template + prompt + completion, no padding)
    sft_tokens: int = 24_000
    sft_batch_size: int = 4
    sft_lr: float = 1e-4
    sft_warmup_ratio: float = 0.1
    sft_max_length: int = 640
    # GRPO: both arms sample grpo_tokens tokens (prompt + completion), math verifier reward
    grpo_tokens: int = 16_000
    grpo_min_steps: int = 2
    grpo_prompts_per_step: int = 2
    grpo_num_generations: int = 4
    grpo_max_completion_length: int = 384
    grpo_lr: float = 1e-5
    grpo_beta: float = 0.0
    grpo_temperature: float = 0.8
    # evaluation (greedy; generation ends at the first final answer)
    eval_max_new_tokens: int = 0  # 0: 1.2x the verbose teacher's longest trace on eval
    eval_batch_size: int = 64
    evaluate_zero_shot: bool = True
    # machine: "cpu" (float32, stream generation) or "cuda" (bf16, vLLM for GRPO and eval)
    device: str = "cpu"
    workers: int = 0  # 0: min(2, cores)
    threads: int = 1


PRESETS = {
    "default": RealPreset(),
    "quick": RealPreset(n_train=24, n_eval=3, n_related=3, sft_tokens=1_200, sft_batch_size=2, grpo_tokens=300,
                        grpo_min_steps=1, grpo_num_generations=2, grpo_max_completion_length=16,
                        eval_max_new_tokens=24, eval_batch_size=8),
}


def sft_arms(p: RealPreset) -> dict[str, str]:
    """``{arm: how its targets are made}``: the four arms of every run, then ``extra_methods``."""
    return {**SFT_ARMS, **{f"{m}_sft": m for m in p.extra_methods}}


def arms_of(p: RealPreset) -> list[str]:
    return [*SFT_ARMS, *GRPO_FROM, *(f"{m}_sft" for m in p.extra_methods)]


def load_preset(path: str | None, base: RealPreset) -> RealPreset:
    """``base`` with the keys of a YAML file; an unknown key is an error naming the file and the key."""
    if not path:
        return base
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    known = {f.name for f in fields(RealPreset)}
    bad = sorted(set(data) - known)
    if bad:
        raise SystemExit(f"{path}: unknown field(s) {bad}; known: {sorted(known)}")
    for key in ("extra_methods", "kinds", "styles"):
        if key in data:
            data[key] = tuple(data[key] or ())
    return replace(base, **data)


# ---------------------------------------------------------------- data


def _student(p: RealPreset, out: Path) -> Path:
    """The student as an HF directory: a local directory is used in place, a table name is converted once."""
    if Path(p.student).is_dir():
        return Path(p.student)
    from rldistill.pretrained import build_pretrained

    d = out / "student"
    return d if (d / "config.json").exists() else build_pretrained(p.student, d)


def related_rows(p: RealPreset) -> list[dict]:
    """The ``related`` suite: another benchmark's problems asked the way training asks (plain style)."""
    from rldistill.data import load_traces
    from rldistill.tasks.styles import INSTRUCTION

    if not Path(p.related).exists():
        raise SystemExit(f"related benchmark {p.related} not found (set `related:` in --config to a GSM8K-style "
                         "file; the default is ../shared/data/gsm8k/test.jsonl from the repository root)")
    rows = [dict(r) for r in load_traces(p.related)][: p.n_related]
    for r in rows:
        q = r["prompt"] if isinstance(r["prompt"], str) else r["prompt"][-1]["content"]
        r["prompt"] = f"Question: {q.strip()} {INSTRUCTION}\nAnswer:"
    return rows


def prepare_data(p: RealPreset, out: Path, seed: int) -> dict:
    """synth → student → the training problems four ways (restricted to those every arm kept) + suites."""
    from rldistill.compress import compress_dataset
    from rldistill.data import load_traces, write_jsonl
    from rldistill.tasks.synth import synth

    data = out / "data"
    synth(data, seed=seed, n_train=p.n_train, n_eval=p.n_eval, n_ood=0, kinds=p.kinds)
    (data / "ood.jsonl").unlink()  # not a suite here: length generalisation is the embedded demo's question
    for f in (data / "styles").glob("*.jsonl"):
        if f.stem not in p.styles:
            f.unlink()
    write_jsonl(related_rows(p), data / "related.jsonl")
    student = _student(p, out)
    train = load_traces(str(data / "train.jsonl"))
    arms, stats = {}, {}
    for arm, method in sft_arms(p).items():
        if method == "reference":  # the teacher's computation lines and the box: no compressor wrote it
            arms[arm], stats[arm] = reference_rows(data / "train.jsonl"), {"method": "reference (compact_trace)"}
            continue
        method = p.compress_method if method == "default" else method
        ds, st = compress_dataset(train, method=method, tokenizer=str(student), seed=seed, progress=False)
        arms[arm], stats[arm] = [dict(r) for r in ds], st
    common = set.intersection(*({r["id"] for r in rows} for rows in arms.values()))
    paths = {arm: write_jsonl([r for r in rows if r["id"] in common], out / "sft_data" / f"{arm}.jsonl")
             for arm, rows in arms.items()}
    (out / "sft_data" / "compress_stats.json").write_text(json.dumps(stats, indent=2, default=str))
    suites = {"eval": data / "eval.jsonl", **{f"styles/{s.stem}": s for s in sorted((data / "styles").glob("*.jsonl"))},
              "related": data / "related.jsonl"}
    return {"data": data, "student": student, "sft_data": paths, "compress_stats": stats, "suites": suites,
            "n_problems": len(common), "dropped": {arm: len(rows) - len(common) for arm, rows in arms.items()}}


def reference_rows(train_path) -> list[dict]:
    """The compact reference arm: each row's completion is the teacher's computation lines and the box, taken
    from its annotations (``compact_trace``), not from any compressor."""
    from rldistill.data import read_jsonl
    from rldistill.tasks.teacher import compact_trace

    return [{**r, "completion": compact_trace(r["teacher_steps"])} for r in read_jsonl(train_path)]


def chat_tokens(path: Path, tok) -> tuple[list[int], list[int]]:
    """Per row: tokens SFT trains on (chat template + prompt + completion) and the completion's own tokens."""
    from rldistill.data import read_jsonl

    total, completion = [], []
    for r in read_jsonl(path):
        msgs = [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["completion"]}]
        total.append(len(tok.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"]))
        completion.append(len(tok(r["completion"])["input_ids"]))
    return total, completion


def steps_for(data: str, tokenizer: str, budget: int, batch_size: int) -> int:
    """SFT steps for ``budget`` training tokens through the chat template (used by scripts/demo_smollm2.sh)."""
    from rldistill.models import load_tokenizer

    return plan_steps(chat_tokens(Path(data), load_tokenizer(tokenizer))[0], budget, batch_size)


# ---------------------------------------------------------------- the plan


def _device_args(p: RealPreset) -> list[str]:
    if p.device == "cuda":
        return ["--dtype", "bfloat16", "--use_cpu", "false", "--bf16", "true"]
    return ["--dtype", "float32", "--use_cpu", "true", "--bf16", "false"]


def sft_argv(p: RealPreset, model: Path, data: Path, out: Path, steps: int, seed: int) -> list[str]:
    return ["--model_name_or_path", str(model), *_device_args(p), "--dataset_path", str(data), "--output_dir", str(out),
            "--prompt_as_chat", "true", "--completion_only_loss", "true", "--max_length", str(p.sft_max_length),
            "--per_device_train_batch_size", str(p.sft_batch_size), "--learning_rate", str(p.sft_lr),
            "--lr_scheduler_type", "cosine", "--warmup_steps", str(max(1, round(p.sft_warmup_ratio * steps))),
            "--weight_decay", "0.0", "--max_steps", str(steps), "--logging_steps", str(max(1, steps // 10)),
            "--save_strategy", "no", "--report_to", "none", "--seed", str(seed), "--dataloader_num_workers", "0",
            "--disable_tqdm", "true"]


def grpo_argv(p: RealPreset, model: Path, data: Path, out: Path, steps: int, seed: int) -> list[str]:
    n = p.grpo_prompts_per_step * p.grpo_num_generations
    gen = ["--use_vllm", "true", "--vllm_mode", "colocate"] if p.device == "cuda" else ["--generation_backend", "stream"]
    return ["--model_name_or_path", str(model), *_device_args(p), "--dataset_path", str(data), "--output_dir", str(out),
            "--prompt_as_chat", "true", "--reward_funcs", "math", "--num_generations", str(p.grpo_num_generations),
            "--per_device_train_batch_size", str(n), "--max_completion_length", str(p.grpo_max_completion_length),
            "--temperature", str(p.grpo_temperature), "--loss_type", "dapo", "--beta", str(p.grpo_beta),
            "--learning_rate", str(p.grpo_lr), "--lr_scheduler_type", "constant", "--max_steps", str(steps),
            "--max_sampled_tokens", str(p.grpo_tokens),
            *gen, "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none", "--seed", str(seed),
            "--log_completions", "false", "--disable_tqdm", "true"]


def plan_arms(p: RealPreset, prep: dict, run_dir: Path, seed: int) -> dict:
    """Steps and argv of every arm: SFT x4 at equal training tokens, GRPO x2 at equal sampled tokens."""
    from rldistill.models import load_tokenizer

    tok = load_tokenizer(str(prep["student"]))
    plan: dict = {}
    for arm, data in prep["sft_data"].items():
        total, completion = chat_tokens(data, tok)
        steps = plan_steps(total, p.sft_tokens, p.sft_batch_size)
        plan[arm] = {"stage": "sft", "data": str(data), "mean_row_tokens": sum(total) / len(total),
                     "mean_completion_tokens": sum(completion) / len(completion), "batch_size": p.sft_batch_size,
                     "steps": steps, "planned_tokens": round(steps * p.sft_batch_size * sum(total) / len(total)),
                     "argv": sft_argv(p, prep["student"], data, run_dir / "models" / arm, steps, seed)}
    prompt_mean = plan["answer_only_sft"]["mean_row_tokens"] - plan["answer_only_sft"]["mean_completion_tokens"]
    for arm, base in GRPO_FROM.items():
        # sampled tokens per step ≈ completions x (prompt + the SFT model's completion length, i.e. its data's)
        completion_mean = min(plan[base]["mean_completion_tokens"], p.grpo_max_completion_length)
        per_step = p.grpo_prompts_per_step * p.grpo_num_generations * (prompt_mean + completion_mean)
        # the trainer stops at the sampled-token budget (--max_sampled_tokens); max_steps is 3x the estimate
        steps = max(p.grpo_min_steps, round(p.grpo_tokens / per_step))
        plan[arm] = {"stage": "grpo", "from": base, "steps": steps, "planned_tokens": round(steps * per_step),
                     "batch_size": p.grpo_prompts_per_step * p.grpo_num_generations,
                     "argv": grpo_argv(p, run_dir / "models" / base, prep["data"] / "train.jsonl",
                                       run_dir / "models" / arm, 3 * steps, seed)}
    return plan


def eval_config(p: RealPreset, prep: dict, seed: int):
    """Greedy, chat template, stop at the first final answer; the cap is 1.2x the verbose teacher's longest
    trace on ``eval`` (every arm may write as much as its teacher did)."""
    from rldistill.data import read_jsonl
    from rldistill.evaluate import EvalConfig
    from rldistill.models import load_tokenizer

    cap = p.eval_max_new_tokens
    if not cap:
        tok = load_tokenizer(str(prep["student"]))
        cap = round(1.2 * max(len(tok(r["completion"])["input_ids"]) for r in read_jsonl(prep["suites"]["eval"])))
    return EvalConfig(max_new_tokens=cap, batch_size=p.eval_batch_size, budgets=(), seed=seed,
                      backend="vllm" if p.device == "cuda" else "auto", stop_at_answer=True, chat_template=True,
                      progress=False)


def demo_jobs(plan: dict, prep: dict, cfg, run_dir: Path, tag: str = "") -> dict:
    """One seed's job graph: train every arm (GRPO after its SFT), evaluate each as soon as it is trained.
    Each job's result is saved (``job_file``), so ``run(resume=True)`` skips what a previous run finished."""
    first = ["verbose_sft", "verbose_sft_grpo", "compressed_sft", "compressed_sft_grpo"]
    order = [a for a in first if a in plan] + [a for a in plan if a not in first]
    jobs = {}
    for i, arm in enumerate(order):
        pl = plan[arm]
        deps = [f"{tag}train {pl['from']}"] if "from" in pl else []
        # a job's fingerprint covers its own arguments and data and the fingerprints of the jobs it needs
        base = [jobs[d]["fingerprint"] for d in deps]
        train_fp = fingerprint([*pl["argv"], *base], pl.get("data"))
        jobs[f"{tag}train {arm}"] = {"kind": pl["stage"], "args": {"argv": pl["argv"]}, "deps": deps, "priority": i,
                                     "save": str(job_file(run_dir, "train", arm)), "fingerprint": train_fp}
        jobs[f"{tag}eval {arm}"] = {"kind": "eval", "deps": [f"{tag}train {arm}"], "priority": 10 + i, "args": {
            "name": arm, "path": str(run_dir / "models" / arm), "suites": prep["suites"], "cfg": cfg,
            "out_dir": str(run_dir / "eval")}, "save": str(job_file(run_dir, "eval", arm)),
            "fingerprint": fingerprint([repr(cfg), train_fp], *prep["suites"].values())}
    return jobs


def job_file(run_dir: Path, kind: str, arm: str) -> Path:
    """Where a finished job's result is kept: the training log next to the model, the evaluation in eval/parts."""
    return run_dir / "models" / arm / "demo_train.json" if kind == "train" else run_dir / "eval" / "parts" / f"{arm}.json"


def run(out: str | Path, quick: bool = False, seeds: int = 1, seed: int = 0, preset: RealPreset | None = None,
        resume: bool = False) -> dict:
    """The whole demo; returns summary.json's object. With ``resume``, jobs whose result a previous run in
    ``out`` saved are not run again (same data: ``prepare_data`` is deterministic in the seed)."""
    import torch

    from rldistill import demo_real_report
    from rldistill.evaluate import assemble

    t_start, out = time.time(), Path(out)
    p = preset or PRESETS["quick" if quick else "default"]
    torch.set_num_threads(max(1, p.threads))
    out.mkdir(parents=True, exist_ok=True)
    timings: dict = {}
    prep = prepare_data(p, out, seed)
    timings["synth+student+compress"] = round(time.time() - t_start, 1)
    cfg = eval_config(p, prep, seed)
    jobs, plans, run_dirs = {}, [], []
    if p.evaluate_zero_shot:
        jobs["eval zero_shot"] = {"kind": "eval", "deps": [], "priority": 9, "args": {
            "name": BASELINE, "path": str(prep["student"]), "suites": prep["suites"], "cfg": cfg,
            "out_dir": str(out / "eval")}, "save": str(job_file(out, "eval", BASELINE)),
            "fingerprint": fingerprint([repr(cfg), str(prep["student"])], *prep["suites"].values())}
    for k in range(seeds):
        run_dir = out if seeds == 1 else out / f"seed{seed + k}"
        plans.append(plan_arms(p, prep, run_dir, seed + k))
        run_dirs.append(run_dir)
        jobs.update(demo_jobs(plans[-1], prep, replace(cfg, seed=seed + k), run_dir,
                              tag=f"seed{seed + k} " if seeds > 1 else ""))
    workers = p.workers or min(2, os.cpu_count() or 1)
    log.info("%d jobs on %d worker processes x %d torch threads", len(jobs), workers, p.threads)
    t0 = time.time()
    done = finished(jobs) if resume else {}
    if done:
        log.info("resuming: %d of %d jobs already done in %s", len(done), len(jobs), out)
    results = run_jobs(jobs, workers, p.threads, timings, done=done)
    timings["train+eval (parallel)"] = round(time.time() - t0, 1)
    evals = []
    for k, (plan, run_dir) in enumerate(zip(plans, run_dirs)):
        tag = f"seed{seed + k} " if seeds > 1 else ""
        for arm in plan:
            plan[arm]["log"] = results[f"{tag}train {arm}"]
            plan[arm].pop("argv", None)
        (run_dir / "plan.json").write_text(json.dumps(plan, indent=2))
        order = ["verbose_sft"] + [a for a in arms_of(p) if a != "verbose_sft"]
        parts = {arm: results[f"{tag}eval {arm}"] for arm in order}
        if p.evaluate_zero_shot:
            parts[BASELINE] = results["eval zero_shot"]
        evals.append(assemble(replace(cfg, seed=seed + k), prep["suites"], parts, run_dir / "eval"))
    (out / "eval.json").write_text(json.dumps(evals[0], indent=2))
    summary = demo_real_report.write_report(out, p, "quick" if quick else "default", prep, plans, evals, timings,
                                            time.time() - t_start)
    log.info("demo done in %.0fs: %s", time.time() - t_start, out / "report.md")
    return summary

