"""Our own script-argument dataclasses for the training stages (fields TRL lacks).

TRL's ``SFTConfig`` / ``GRPOConfig`` / ``ModelConfig`` are reused as they are; a
recipe is one flat YAML whose keys are split across
``TrlParser((SFTScriptArguments | GRPOScriptArguments, SFTConfig | GRPOConfig, ModelConfig))``.
An unknown key fails parsing and names the key (see ``parse_args``).

What is deliberately left out: no config inheritance, no dict-valued fields
(HfArgumentParser cannot override them from the command line), no defaults
that depend on another field.

Also the recipe plumbing both stages share: parse_args, run_cli, normalize_resume.

Run: this module only defines dataclasses and helpers; `rldistill sft --help` / `rldistill grpo --help` list every field.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DataArguments:
    """Where the rows come from (the row schema: id, prompt, completion, answer, verifier)."""

    dataset_path: str = field(
        default="runs/tiny/compressed.jsonl",
        metadata={"help": "Rows for training: JSONL/JSON/CSV/parquet file, a save_to_disk folder or a hub id."},
    )
    dataset_split: str = field(default="train", metadata={"help": "Split to read when dataset_path is a hub id or DatasetDict."})
    eval_dataset_path: str | None = field(default=None, metadata={"help": "Optional held-out rows for TRL's eval loop."})
    default_verifier: str = field(
        default="math", metadata={"help": "Verifier for rows without a `verifier` column."}
    )
    prompt_as_chat: bool = field(
        default=False,
        metadata={"help": "Wrap string prompts (and SFT completions) as chat messages so the tokenizer's chat "
                  "template applies (for instruct models); string prompts are otherwise used as plain text."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only the first N training rows."})
    seen_ids_dir: str | None = field(
        default=None,
        metadata={"help": "Write the row ids each rank trained on to DIR/rank<R>.txt (checks data sharding)."},
    )


@dataclass
class SFTScriptArguments(DataArguments):
    """SFT on (compressed) traces: the loss covers the completion only (TRL's completion_only_loss)."""


@dataclass
class GRPOScriptArguments(DataArguments):
    """Rewards and dynamic sampling for GRPO. `reward_weights` and every GRPO knob live in TRL's GRPOConfig."""

    dataset_path: str = field(
        default="runs/tiny/data/train.jsonl",
        metadata={"help": "Prompts and gold answers (the row schema; `completion` is ignored)."},
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["math", "format"],
        metadata={
            "help": "Reward terms: verifier names (math, program, any registered or 'module:attr' name; "
            "`correct` = the checker named in each row's `verifier` column) and shaping terms "
            "(format, length, shorter_better, cosine, overlong). Weights: GRPOConfig.reward_weights."
        },
    )
    reward_warmup: list[str] = field(
        default_factory=list,
        metadata={"help": "Turn a shaping term on only after a number of optimizer steps: 'length=50' (NAME=STEPS); 'none' clears it."},
    )
    verifier_timeout: float | None = field(
        default=None, metadata={"help": "Hard wall-clock limit per verifier call (s); None = the verifier's own default."}
    )
    verifier_workers: int | None = field(default=None, metadata={"help": "Verifier worker processes (None = pool default)."})
    reward_fallback: float = field(
        default=0.0, metadata={"help": "Reward given to a completion whose verifier timed out or raised."}
    )
    strict_rewards: bool = field(
        default=False, metadata={"help": "Fail the run on a verifier timeout or exception instead of using the fallback."}
    )
    format_require_think: bool = field(
        default=False, metadata={"help": "`format` requires a <think>...</think> block before the final \\boxed{}."}
    )
    cosine_min_value_wrong: float = field(default=-1.0, metadata={"help": "cosine: reward of a wrong completion of length 0."})
    cosine_max_value_wrong: float = field(default=-0.5, metadata={"help": "cosine: reward of a wrong completion of max length."})
    cosine_min_value_correct: float = field(default=0.5, metadata={"help": "cosine: reward of a correct completion of max length."})
    cosine_max_value_correct: float = field(default=1.0, metadata={"help": "cosine: reward of a correct completion of length 0."})
    cosine_max_len: int | None = field(default=None, metadata={"help": "cosine: length scale in tokens (None = max_completion_length)."})
    overlong_buffer_len: int = field(
        default=64, metadata={"help": "DAPO soft overlong punishment: the last N tokens before max_completion_length are penalised linearly."}
    )
    overlong_penalty_factor: float = field(default=1.0, metadata={"help": "DAPO soft overlong punishment at max length."})
    dynamic_sampling: str = field(
        default="none",
        metadata={
            "help": "Zero-variance prompt groups (all completions rewarded alike): 'none' (TRL's behaviour), "
            "'drop' (mask them out of the loss and its token normaliser), 'refill' (replace them with groups "
            "from freshly sampled prompts, DAPO-style; falls back to 'drop' after dynamic_sampling_max_rounds)."
        },
    )
    dynamic_sampling_max_rounds: int = field(
        default=2, metadata={"help": "refill: at most this many extra generation rounds per generation batch."}
    )
    max_sampled_tokens: int | None = field(
        default=None, metadata={
            "help": "Stop training once this many tokens (prompt + completion, all processes) have been sampled: "
            "a compute budget that does not depend on how long the policy writes (max_steps still caps it)."},
    )
    generation_backend: str = field(
        default="stream", metadata={
            "help": "Rollouts without vLLM: 'stream' (continuous batching, rldistill.generation; falls back to "
            "'hf' for top-k/min-p/repetition penalty) or 'hf' (TRL's padded model.generate)."},
    )
    generation_dtype: str = field(
        default="float32", metadata={
            "help": "Stream rollouts from a copy of the policy in this dtype: 'float32' (the policy's own) or "
            "'bfloat16' (about twice the decoding speed on CPUs with AVX512-BF16; the copy's weights are refreshed "
            "before every generation; not under ZeRO-3)."},
    )

    def __post_init__(self):
        if self.generation_dtype not in ("float32", "bfloat16"):
            raise ValueError(f"generation_dtype must be 'float32' or 'bfloat16', got {self.generation_dtype!r}")
        if self.generation_backend not in ("stream", "hf"):
            raise ValueError(f"generation_backend must be 'stream' or 'hf', got {self.generation_backend!r}")
        if self.dynamic_sampling not in ("none", "drop", "refill"):
            raise ValueError(f"dynamic_sampling must be one of 'none', 'drop', 'refill', got {self.dynamic_sampling!r}")


def normalize_resume(value, output_dir: str) -> str | None:
    """`resume_from_checkpoint`: a path, or True/'true' = the last checkpoint in output_dir (None if there is none)."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in ("", "false", "none", "no")):
        return None
    if value is True or (isinstance(value, str) and value.strip().lower() in ("true", "yes", "last")):
        last = last_complete_checkpoint(output_dir)
        if last is None:
            print(f"resume_from_checkpoint=True but no checkpoint in {output_dir!r}: starting from scratch", file=sys.stderr)
        return last
    return str(value)


def last_complete_checkpoint(output_dir) -> str | None:
    """Newest ``checkpoint-N`` in ``output_dir`` whose ``trainer_state.json`` was written.

    The Trainer writes the state file after the weights, optimizer and scheduler, so a run killed in the middle
    of a save leaves a newer directory without it; ``transformers.trainer_utils.get_last_checkpoint`` would pick
    that one and the resume would fail. Skipped directories are named on stderr.
    """
    out = Path(output_dir)
    if not out.is_dir():
        return None
    found = sorted((p for p in out.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for p in found:
        if (p / "trainer_state.json").is_file():
            return str(p)
        print(f"skipping {p}: no trainer_state.json (a save that did not finish)", file=sys.stderr)
    return None


def train_and_save(trainer, training_args, stage: str, save=None) -> None:
    """The body of every TRL stage's ``main``: train (resuming when asked), save model + tokenizer
    (gathered under ZeRO-3 by ``save_model``; ``save(trainer, output_dir)`` instead when given), close the trackers."""
    resume = normalize_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    if resume:
        trainer.accelerator.print(f"resuming from {resume}")
    trainer.train(resume_from_checkpoint=resume)
    (save or (lambda t, out: t.save_model(out)))(trainer, training_args.output_dir)
    trainer.accelerator.print(f"saved the {stage} model and tokenizer to {training_args.output_dir}")
    trainer.end()


def parse_args(parser, argv):
    """Parse `--config R.yaml` plus CLI overrides; an unknown key (YAML or flag) exits naming the key."""
    try:
        return parser.parse_args_and_config(args=argv)
    except ValueError as e:
        msg = str(e)
        # TrlParser: "Unknown arguments from config file: ['--foo', '1']"; HfArgumentParser:
        # "Some specified arguments are not used by the HfArgumentParser: ['--foo', '1']".
        if "Unknown arguments from config file" in msg or "not used by the HfArgumentParser" in msg:
            keys = [k[2:] for k in re.findall(r"'(--[^']+)'", msg)]
            raise SystemExit(
                f"recipe error: unknown field(s) {keys}: not a field of the script, trainer or model arguments "
                "(`--help` lists them all)"
            ) from None
        raise SystemExit(f"recipe error: {msg}") from None


def run_cli(main_fn, parser, argv) -> int:
    """Parse, check the model, and turn setup errors (bad data, unknown verifier) into one clear line."""
    from rldistill.data import DataError
    from rldistill.rewards import RewardConfigError
    from verifiers import UnknownVerifierError

    script_args, training_args, model_args = parse_args(parser, sys.argv[1:] if argv is None else argv)
    if not model_args.model_name_or_path:
        raise SystemExit("recipe error: model_name_or_path is required (a hub id or a model directory)")
    try:
        main_fn(script_args, training_args, model_args)
    except (DataError, UnknownVerifierError, RewardConfigError) as e:
        raise SystemExit(f"recipe error: {e}") from None
    close_process_group()
    return 0


def close_process_group() -> None:
    """End a distributed run in order: every rank reaches the barrier, then the process group (and the gloo or
    DeepSpeed shared-memory threads behind it) is torn down before the interpreter exits. Left to interpreter
    exit, those threads are destroyed while still joinable and the C++ runtime aborts the process (SIGABRT after
    a run that finished and saved), which `accelerate launch` reports as a failed run."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()

