"""SFT stage: supervised fine-tuning on (compressed) teacher traces with TRL's SFTTrainer.

    rldistill sft --config configs/recipes/tiny/sft.yaml [--max_steps 50 --output_dir runs/x ...]
    python -m rldistill.sft --config configs/recipes/tiny/sft.yaml
    accelerate launch --config_file configs/accelerate/cpu_zero2.yaml scripts/sft.py --config configs/recipes/tiny/sft.yaml

Rows come from the data layer in the row schema; only ``prompt`` and ``completion`` are trained on, in TRL's
prompt-completion format, so the loss covers the completion only (``completion_only_loss``; prompt tokens are
masked) and TRL appends EOS. String prompts are used as plain text; chat-message prompts go through the tokenizer's
chat template (TRL's conversational format). The final model and tokenizer are saved to ``output_dir`` so GRPO loads
them with the Auto classes. ``resume_from_checkpoint: true`` resumes from the last checkpoint in ``output_dir``.
LoRA (``use_peft: true`` with ``lora_r``, ``lora_alpha``, ``lora_target_modules``... of TRL's ``ModelConfig``) trains
an adapter; ``output_dir`` then gets the merged model and ``output_dir/adapter`` the adapter (``save_merged``).

Left out: packing (off by default; set ``packing: true`` for long real traces), dataset mixtures.
"""

from __future__ import annotations

import hashlib
import os

from rldistill.config import SFTScriptArguments, run_cli, train_and_save


def load_rows(script_args, require, path=None):
    """Rows in the row schema (data layer), trimmed to max_train_samples."""
    from rldistill.data import load_traces

    ds = load_traces(path or script_args.dataset_path, split=script_args.dataset_split,
                     verifier=script_args.default_verifier, require=require)
    if script_args.max_train_samples is not None:
        ds = ds.select(range(min(script_args.max_train_samples, len(ds))))
    if script_args.prompt_as_chat:  # TRL's conversational prompt-completion format
        def to_chat(row):
            if isinstance(row["prompt"], str):
                row["prompt"] = [{"role": "user", "content": row["prompt"]}]
            if "completion" in require and isinstance(row["completion"], str):
                row["completion"] = [{"role": "assistant", "content": row["completion"]}]
            return row

        ds = ds.map(to_chat)
    return ds


def _fingerprint(ids) -> str:
    return hashlib.sha1(",".join(map(str, ids)).encode()).hexdigest()


def record_seen_ids(trainer, out_dir: str) -> None:
    """Wrap the collator so each rank appends the ids of the rows it trains on to out_dir/rank<R>.txt."""
    ds = trainer.train_dataset
    by_tokens = {_fingerprint(r["input_ids"]): r["id"] for r in ds.select_columns(["input_ids", "id"])}
    inner, rank = trainer.data_collator, trainer.accelerator.process_index
    os.makedirs(out_dir, exist_ok=True)

    def collate(examples):
        with open(os.path.join(out_dir, f"rank{rank}.txt"), "a") as f:
            f.writelines(f"{by_tokens.get(_fingerprint(e['input_ids']), '?')}\n" for e in examples)
        return inner(examples)

    trainer.data_collator = collate


def build_trainer(script_args, training_args, model_args):
    from trl import SFTTrainer, get_peft_config

    from rldistill.models import load_tokenizer

    train = load_rows(script_args, require=("prompt", "completion")).select_columns(["id", "prompt", "completion"])
    evals = None
    if script_args.eval_dataset_path:
        evals = load_rows(script_args, ("prompt", "completion"), script_args.eval_dataset_path).select_columns(
            ["id", "prompt", "completion"])
    training_args.model_init_kwargs = dict(training_args.model_init_kwargs or {}, revision=model_args.model_revision,
                                           dtype=model_args.dtype, attn_implementation=model_args.attn_implementation,
                                           trust_remote_code=training_args.trust_remote_code)
    tokenizer = load_tokenizer(model_args.model_name_or_path, padding_side="right",
                               trust_remote_code=training_args.trust_remote_code)
    trainer = SFTTrainer(model=model_args.model_name_or_path, args=training_args, train_dataset=train,
                         eval_dataset=evals, processing_class=tokenizer, peft_config=get_peft_config(model_args))
    if script_args.seen_ids_dir:
        record_seen_ids(trainer, script_args.seen_ids_dir)
    return trainer


def save_merged(trainer, output_dir: str) -> None:
    """LoRA (``use_peft``): the adapter to ``output_dir/adapter``, the base with the adapter merged into it (and
    the tokenizer) to ``output_dir``, so the next stage loads ``output_dir`` as an ordinary model. (The adapter
    must not sit in ``output_dir`` itself: transformers would then load it on top of its base model instead.)
    Under ZeRO-3 the weights are sharded and only the adapter is written."""
    from pathlib import Path

    acc = trainer.accelerator
    trainer.save_model(str(Path(output_dir) / "adapter"))
    plugin = acc.state.deepspeed_plugin
    if plugin is not None and plugin.zero_stage == 3:
        acc.print(f"ZeRO-3: wrote the LoRA adapter to {output_dir}/adapter only; merge it on one process with "
                  "peft's PeftModel.from_pretrained(base, adapter).merge_and_unload()")
        return
    if acc.is_main_process:
        merged = acc.unwrap_model(trainer.model).merge_and_unload()
        merged.save_pretrained(output_dir)
        trainer.processing_class.save_pretrained(output_dir)
    acc.wait_for_everyone()


def throughput(trainer) -> dict:
    """Training tokens (prompt + completion, padding not counted, all processes) per second of ``train_runtime``
    (the training loop: forward, backward, optimizer, data; not model loading or tokenisation)."""
    runtime = next((e["train_runtime"] for e in reversed(trainer.state.log_history) if "train_runtime" in e), None)
    tokens = getattr(trainer, "_total_train_tokens", None)  # TRL's own count, the `num_tokens` it logs
    if not runtime or tokens is None:
        return {}
    return {"train_tokens": int(tokens), "train_runtime": runtime, "train_tokens_per_second": tokens / runtime}


def main(script_args, training_args, model_args):
    trainer = build_trainer(script_args, training_args, model_args)
    train_and_save(trainer, training_args, "SFT", save=save_merged if model_args.use_peft else None)
    t = throughput(trainer)
    if t:
        trainer.accelerator.print(f"SFT: {t['train_tokens']} training tokens in {t['train_runtime']:.1f} s = "
                                  f"{t['train_tokens_per_second']:.1f} tokens/s")
    return trainer


def make_parser():
    from trl import ModelConfig, SFTConfig, TrlParser

    return TrlParser((SFTScriptArguments, SFTConfig, ModelConfig), prog="rldistill sft")


def cli(argv=None) -> int:
    return run_cli(main, make_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(cli())
