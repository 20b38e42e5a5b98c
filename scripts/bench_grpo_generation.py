"""How much of a GRPO step is generation, with the stream backend and with TRL's padded ``generate``?

    python scripts/bench_grpo_generation.py [--config configs/recipes/SmolLM2-135M-Instruct/grpo.yaml] \\
        [--model runs/smollm2] [--steps 3] [--warmup 1] [--backends stream,hf,stream-bf16] [--rounds 2]

Runs the recipe once per backend and round in this process, backends interleaved round by round (so a slow
spell of a shared machine hits both), same seed and settings (``generation_backend`` is the only change; the
sampled completions still differ between backends, so their lengths are printed too), and reports per step, after ``--warmup`` steps: the wall time of the step (a TrainerCallback between
step begin and end, which covers generation, rewards, the loss and the update) and the wall time inside
``_generate_single_turn`` (the rollouts), their ratio, the rollouts' tokens per second (sampled lengths differ
between backends, so compare this rather than seconds), and each backend's figures against the first one's.
``stream-bf16`` is the stream backend with ``generation_dtype: bfloat16`` (rollouts from a bfloat16 copy of the
policy). Single process on CPU; extra flags after ``--`` go to the recipe (``-- --max_completion_length 128``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def run(config: str, model: str, backend: str, steps: int, extra: list[str]) -> tuple[list, list, list]:
    from transformers import TrainerCallback

    from rldistill import grpo
    from rldistill.dynamic_sampling import DynamicSamplingGRPOTrainer

    gen_times: list[float] = []
    gen_tokens: list[int] = []
    step_times: list[float] = []
    real = DynamicSamplingGRPOTrainer._generate_single_turn

    def timed(self, *a, **k):
        t = time.perf_counter()
        out = real(self, *a, **k)
        gen_times.append(time.perf_counter() - t)
        gen_tokens.append(sum(len(ids) for ids in out[0]))  # (completion ids, logprobs)
        return out

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            step_times.append(time.perf_counter() - self.t)

    DynamicSamplingGRPOTrainer._generate_single_turn = timed
    try:
        with tempfile.TemporaryDirectory() as out:
            parser = grpo.make_parser()
            script_args, training_args, model_args = parser.parse_args_and_config(
                ["--config", config, "--model_name_or_path", model, "--output_dir", out, "--max_steps", str(steps),
                 "--save_strategy", "no", "--logging_steps", "1", "--generation_backend", backend.removesuffix("-bf16"),
                 "--generation_dtype", "bfloat16" if backend.endswith("-bf16") else "float32", *extra])[:3]
            trainer = grpo.build_trainer(script_args, training_args, model_args)
            trainer.add_callback(StepTimer())
            trainer.train()
    finally:
        DynamicSamplingGRPOTrainer._generate_single_turn = real
    return step_times, gen_times, gen_tokens


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/recipes/SmolLM2-135M-Instruct/grpo.yaml")
    ap.add_argument("--model", default="runs/smollm2")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--backends", default="stream,hf")
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args(argv)
    times: dict[str, tuple[list, list, list]] = {b: ([], [], []) for b in a.backends.split(",")}
    for r in range(a.rounds):
        for backend in times:
            steps, gens, toks = run(a.config, a.model, backend, a.steps, extra)
            for kept, new in zip(times[backend], (steps, gens, toks)):
                kept.extend(new[a.warmup:])
            print(f"round {r + 1} {backend}: steps {[round(s, 1) for s in steps[a.warmup:]]} s, generation "
                  f"{[round(g, 1) for g in gens[a.warmup:]]} s, tokens {toks[a.warmup:]}  load "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
    rows = {b: (statistics.mean(s), statistics.mean(g), sum(t) / sum(g)) for b, (s, g, t) in times.items()}
    first, first_rate = next(iter(rows.values()))[0], next(iter(rows.values()))[2]
    print(f"\n{'backend':>11} {'step s':>8} {'generation s':>13} {'share':>6} {'gen tok/s':>10} {'tok/s vs first':>15} "
          f"{'step vs first':>14}   load {os.getloadavg()[0]:.1f}")
    for backend, (step, gen, rate) in rows.items():
        print(f"{backend:>11} {step:>8.1f} {gen:>13.1f} {gen / step:>6.0%} {rate:>10.1f} {rate / first_rate:>14.2f}x "
              f"{step / first:>13.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
