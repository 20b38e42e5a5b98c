"""The embedded end-to-end demo: does compressed-trace SFT + GRPO transfer better than imitation?

    rldistill demo --out runs/demo              # 9 minutes on 2 idle CPU cores (measured)
    rldistill demo --out runs/demo --quick      # the whole path in about a minute; numbers mean nothing
    rldistill demo --out runs/demo --seeds 3    # the arms three times, with the spread

From nothing: ``synth`` (the embedded task, by default its ``slots`` kind: operations in fixed-width cells,
``(+3), (*2), (..)``, applied left to right) → ``student`` (a from-scratch ~1M Llama) → ``compress`` (the same
training problems four ways, the granularity sweep: the answer only, bare verified computations, verified
computations with the teacher's decision sentences, the whole teacher trace) → SFT of each arm at the SAME number
of training tokens (prompt + completion tokens the trainer saw) → GRPO with the verifier reward from the
compressed-SFT and the verbose-SFT models, at the same number of sampled tokens, on problems one step longer than
any in SFT and only where the SFT model's pass@8 there shows something to reinforce (``rldistill.gate``) → ``eval``
of all six on ``eval``, ``ood`` (longer still) and every prompt style → ``DIR/report.md`` (table, plots, a summary
paragraph written from the numbers; ``rldistill.demo_report``), ``DIR/summary.json``, ``DIR/eval.json`` and the
stage outputs.

Why this task: a compact trace of it reads each step's operation at the same distance back (a line ``4+3=7`` is
as many tokens as a cell), so the procedure learned on 2-5 steps is the one 7-8 steps need; a trace with
sentences of varying length between its computations does not have that property. The probes that chose it are
in ``docs/embedded_transfer_probes.md``.

Every stage is called through its own Python API (``synth``, ``build_student``, ``compress_dataset``,
``sft.build_trainer``, ``grpo.build_trainer``, ``evaluate.evaluate_model``): the demo adds the plan (token budgets
per arm), a small job scheduler and the report, no training code of its own. The arms are independent jobs
(train, then evaluate as soon as trained; GRPO after its SFT), run on two worker processes of one torch thread
each, longest chain first (``run_jobs``). ``scripts/demo.sh`` runs the same stages one after another as shell
commands.

Left out: GPUs (the same stages take the GPU recipes under ``configs/``), and any tuning on the test splits (the
settings below were chosen on ``eval`` and on the GRPO problems).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rldistill.demo_jobs import plan_steps, row_tokens, run_jobs, steps_for  # noqa: F401 (steps_for: demo.sh)
from rldistill.demo_report import (ARMS, GRPO_FROM, arm_summary, check_claim, plan_table,  # noqa: F401 (public here)
                                   results_table, summary_paragraph, write_report)

log = logging.getLogger("rldistill.demo")

# Each SFT arm's data: (compressor, granularity); the four are the granularity sweep.
SFT_DATA = {"answer_only_sft": ("answer_only", None), "verbose_sft": ("none", None),
            "decisions_sft": ("verified", "equations"), "compressed_sft": ("verified", "bare")}


@dataclass(frozen=True)
class Preset:
    """Every knob of the demo; ``--quick`` and the default are two instances."""

    kinds: tuple[str, ...] = ("slots",)
    slots: int = 9  # cells per slots problem: one more than the longest ood problem, so every prompt has an empty one
    steps: tuple[int, int] = (2, 4)  # SFT problems (and eval)
    prime_steps: tuple[int, int] = (5, 5)  # a few SFT problems one step longer ("priming")
    rl_steps: tuple[int, int] = (6, 6)  # GRPO problems: one step beyond everything in SFT
    ood_steps: tuple[int, int] = (7, 8)  # beyond anything trained on
    n_train: int = 2000
    n_prime: int = 40
    n_rl: int = 400
    n_eval: int = 100
    n_ood: int = 100
    # Fraction of training problems asked in the non-plain styles' training variants (disjoint from the
    # styles/* files): each of the four styles is then in 10% of the training prompts.
    train_styles: float = 0.4
    student_size: str = "tiny"
    compress_method: str = "verified"
    # SFT: every arm sees sft_tokens tokens (prompt + completion, no padding)
    sft_tokens: int = 800_000
    sft_batch_size: int = 8
    answer_only_batch_size: int = 32  # answer-only rows are short: batches of 8 are overhead-bound
    sft_lr: float = 2e-3
    sft_warmup_ratio: float = 0.05
    sft_max_length: int = 768
    # GRPO: both arms sample grpo_tokens tokens (prompt + completion)
    grpo_tokens: int = 300_000
    grpo_min_steps: int = 4
    grpo_prompts_per_step: int = 8
    grpo_num_generations: int = 8
    grpo_lr: float = 1e-4
    grpo_beta: float = 0.0
    grpo_max_completion_length: int = 576
    grpo_rewards: tuple[str, ...] = ("math", "format")
    grpo_reward_weights: tuple[float, ...] = (1.0, 0.1)
    grpo_dynamic_sampling: str = "drop"
    # the RL gate (rldistill.gate): pass@gate_k on gate_problems GRPO problems must reach gate_min_pass
    gate_k: int = 8
    gate_problems: int = 32
    gate_min_pass: float = 0.1
    # evaluation
    eval_max_new_tokens: int = 0  # 0: 1.2x the teacher's longest trace on eval/ood (see eval_config)
    eval_batch_size: int = 100
    budgets: tuple[int, ...] = (16, 64, 256)
    # Parallelism: the arms run as jobs on `workers` processes (0 = min(2, cores)) of `threads` torch threads.
    # One thread per process: a 1M-parameter model gains little from two OpenMP threads, and on a loaded
    # machine two threads spin against each other. Two processes of one thread use both cores of a 2-core machine.
    workers: int = 0
    threads: int = 1


PRESETS = {
    "default": Preset(),
    "quick": Preset(n_train=150, n_prime=4, n_rl=16, n_eval=12, n_ood=12, sft_tokens=40_000, sft_batch_size=16,
                    answer_only_batch_size=16, grpo_tokens=4_000, grpo_min_steps=2, grpo_prompts_per_step=2,
                    grpo_num_generations=4, grpo_max_completion_length=48, gate_k=2, gate_problems=4,
                    gate_min_pass=0.0, eval_max_new_tokens=48, eval_batch_size=32, budgets=(8, 32)),
}


# ---------------------------------------------------------------- data


def prepare_data(p: Preset, out: Path, seed: int) -> dict:
    """synth (and the GRPO problems) → student → compress four ways, restricted to the problems all four kept."""
    from rldistill.compress import compress_dataset
    from rldistill.data import load_traces, read_jsonl, write_jsonl
    from rldistill.student import build_student
    from rldistill.tasks import Knobs
    from rldistill.tasks.synth import make_problems, rows_for, synth

    if not (p.steps[1] < p.prime_steps[0] <= p.prime_steps[1] < p.rl_steps[0] <= p.rl_steps[1] < p.ood_steps[0]):
        raise ValueError(f"steps must grow: SFT {p.steps} < prime {p.prime_steps} < GRPO {p.rl_steps} < ood {p.ood_steps}")
    data, knobs = out / "data", Knobs(slots=p.slots)
    synth(data, seed=seed, n_train=p.n_train, n_eval=p.n_eval, n_ood=p.n_ood, kinds=p.kinds, steps=p.steps,
          ood_steps=p.ood_steps, knobs=knobs, train_styles=p.train_styles)
    prime = make_problems(seed, "prime", p.n_prime, p.prime_steps, p.kinds, knobs) if p.n_prime else []
    rl = make_problems(seed, "rl", p.n_rl, p.rl_steps, p.kinds, knobs)
    rl_path = write_jsonl(rows_for(rl, seed, "rl", mix=p.train_styles), out / "rl_data" / "rl.jsonl")
    if prime:  # appended to the SFT problems (their ids say so); ood stays longer than all of them
        rows = read_jsonl(data / "train.jsonl") + rows_for(prime, seed, "prime", mix=p.train_styles)
        write_jsonl(rows, data / "train.jsonl")
        manifest = json.loads((data / "synth.json").read_text())
        manifest["counts"]["train"] = len(rows)
        manifest["primed"] = {"n": len(prime), "steps": list(p.prime_steps)}
        (data / "synth.json").write_text(json.dumps(manifest, indent=2) + "\n")
    student = build_student(out / "student", size=p.student_size, data_dir=data, seed=seed)
    train = load_traces(str(data / "train.jsonl"))
    arms, stats = {}, {}
    for arm, (method, granularity) in SFT_DATA.items():
        method = p.compress_method if method == "verified" else method
        ds, st = compress_dataset(train, method=method, tokenizer=str(student), seed=seed, progress=False,
                                  granularity=granularity)
        arms[arm], stats[arm] = [dict(r) for r in ds], st
    common = set.intersection(*({r["id"] for r in rows} for rows in arms.values()))
    paths = {}
    for arm, rows in arms.items():
        rows = [r for r in rows if r["id"] in common]
        paths[arm] = write_jsonl(rows, out / "sft_data" / f"{arm}.jsonl")
    (out / "sft_data" / "compress_stats.json").write_text(json.dumps(stats, indent=2, default=str))
    return {"data": data, "rl": rl_path, "student": student, "sft_data": paths, "compress_stats": stats,
            "n_problems": len(common)}


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
            "--output_dir", str(out), "--reward_funcs", *p.grpo_rewards, "--max_sampled_tokens", str(p.grpo_tokens),
            "--reward_weights", *map(str, p.grpo_reward_weights), "--dynamic_sampling", p.grpo_dynamic_sampling,
            "--num_generations", str(p.grpo_num_generations), "--per_device_train_batch_size", str(n),
            "--max_completion_length", str(p.grpo_max_completion_length), "--temperature", "1.0",
            "--loss_type", "dapo", "--beta", str(p.grpo_beta), "--learning_rate", str(p.grpo_lr),
            "--lr_scheduler_type", "constant", "--max_steps", str(steps), "--use_cpu", "true", "--bf16", "false",
            "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none", "--seed", str(seed),
            "--log_completions", "false", "--disable_tqdm", "true"]


def plan_arms(p: Preset, prep: dict, run_dir: Path, seed: int) -> dict:
    """Steps and argv of every training arm: SFT x4 at equal tokens, GRPO x2 at equal sampled tokens."""
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
    longer = sum(p.rl_steps) / sum(p.steps)  # GRPO problems have more steps than the SFT data's
    for arm, base in GRPO_FROM.items():
        # Sampled tokens per step ≈ completions x (prompt + the SFT model's completion length on longer problems).
        completion_mean = min(longer * (plan[base]["mean_row_tokens"] - prompt_mean), p.grpo_max_completion_length)
        per_step = p.grpo_prompts_per_step * p.grpo_num_generations * (prompt_mean + completion_mean)
        steps = max(p.grpo_min_steps, round(p.grpo_tokens / per_step))
        model, out = run_dir / "models" / base, run_dir / "models" / arm
        # The estimate sets --max_steps with room to spare; training stops after the step that brings the
        # trainer's own count of sampled tokens to the budget (--max_sampled_tokens), whatever the lengths.
        plan[arm] = {"stage": "grpo", "from": base, "steps": steps, "planned_tokens": round(steps * per_step),
                     "gate": {"model": str(model), "prompts": str(prep["rl"]), "out": str(out), "k": p.gate_k,
                              "n": p.gate_problems, "min_pass": p.gate_min_pass,
                              "max_new_tokens": p.grpo_max_completion_length, "seed": seed},
                     "argv": grpo_argv(p, model, prep["rl"], out, 3 * steps, seed)}
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
    order = ["verbose_sft", "verbose_sft_grpo", "compressed_sft", "compressed_sft_grpo", "decisions_sft",
             "answer_only_sft"]
    jobs = {}
    for i, arm in enumerate(order):
        pl = plan[arm]
        deps = [f"{tag}train {pl['from']}"] if "from" in pl else []
        job = {"kind": pl["stage"], "args": {"argv": pl["argv"]}}
        if "gate" in pl:  # GRPO behind its pass@k gate
            job = {"kind": "call", "args": {"fn": "rldistill.gate:gated_grpo", "kwargs": {**pl["gate"], "argv": pl["argv"]}}}
        jobs[f"{tag}train {arm}"] = {**job, "deps": deps, "priority": i}
        jobs[f"{tag}eval {arm}"] = {"kind": "eval", "deps": [f"{tag}train {arm}"], "priority": 10 + i, "args": {
            "name": arm, "path": str(run_dir / "models" / arm), "suites": suites, "cfg": cfg,
            "out_dir": str(run_dir / "eval")}}
    return jobs


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
    ap.add_argument("--quick", action="store_true", help="small sizes: the whole path in about a minute")
    ap.add_argument("--seeds", type=int, default=1, help="repeat the training arms with this many seeds")
    ap.add_argument("--seed", type=int, default=0, help="the first seed (data, student, training)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per worker process (default 1)")
    ap.add_argument("--workers", type=int, default=None,
                    help="parallel worker processes for the arms (default: min(2, cores); 1 = run in this process)")
    ap.add_argument("--train-styles", type=float, default=None,
                    help="fraction of training prompts in the styles' training variants (default 0.1; see synth)")
    ap.add_argument("--size", default=None, help="the from-scratch student's size (tiny, deep, small; default tiny)")
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
    if a.size is not None:
        preset = replace(preset, student_size=a.size)
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
    if a.train_styles is not None or a.size is not None:
        raise SystemExit("--train-styles and --size apply to the embedded demo only")
    summary = demo_real.run(a.out, quick=a.quick, seeds=a.seeds, seed=a.seed, preset=p, resume=a.resume)
    print(f"wrote {Path(a.out) / 'report.md'} and {Path(a.out) / 'summary.json'} in {summary['wall_s']:.0f}s")
    for arm, x in summary["arms"].items():
        print(f"{arm:>20}  eval {100 * x['eval']['accuracy']:5.1f}%  worst style {100 * x['worst_style']['accuracy']:5.1f}%"
              f"  related {100 * x['related']['accuracy']:5.1f}%  tokens {x['eval']['mean_tokens'] or 0:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
