"""GRPO stage: RL with verifier rewards on TRL's GRPOTrainer.

    rldistill grpo --config configs/recipes/tiny/grpo.yaml [--max_steps 20 --num_generations 8 --beta 0.04 ...]
    python -m rldistill.grpo --config configs/recipes/tiny/grpo.yaml
    accelerate launch --config_file configs/accelerate/cpu_zero2.yaml scripts/grpo.py --config configs/recipes/tiny/grpo.yaml

Prompts and gold answers come from the row schema (``prompt``, ``answer``, ``verifier``; ``completion`` is dropped).
Every GRPO knob is TRL's own GRPOConfig field: ``num_generations``, ``loss_type`` (grpo, dr_grpo, dapo, bnpo, ...),
``beta`` (KL to a reference model that TRL builds from the same model path), ``num_iterations``, ``epsilon``,
``scale_rewards``, ``reward_weights``, ``use_vllm``... The rewards are built by ``rldistill.rewards`` from the
recipe's ``reward_funcs`` names; ``dynamic_sampling`` (drop/refill zero-variance groups) by
``rldistill.dynamic_sampling``. Unknown reward names and bad data fail before the model is loaded.
The final model and tokenizer are saved to ``output_dir``.

Left out: reward models as rewards, tools/environments, multimodal prompts (TRL has them; not wired here).
"""

from __future__ import annotations

from rldistill.config import GRPOScriptArguments, run_cli, train_and_save


def build_trainer(script_args, training_args, model_args):
    from trl import get_peft_config

    from rldistill.dynamic_sampling import DynamicSamplingGRPOTrainer
    from rldistill.models import load_tokenizer
    from rldistill.rewards import RewardConfigError, reward_funcs_from_args
    from rldistill.sft import load_rows

    reward_funcs = reward_funcs_from_args(script_args, training_args)  # fails fast on unknown names
    weights = training_args.reward_weights
    if weights is not None and len(weights) != len(reward_funcs):
        raise RewardConfigError(f"reward_weights has {len(weights)} values for {len(reward_funcs)} reward_funcs "
                                f"{script_args.reward_funcs}")
    keep = ["id", "prompt", "answer", "verifier"]
    train = load_rows(script_args, require=("prompt", "answer")).select_columns(keep)
    evals = None
    if script_args.eval_dataset_path:
        evals = load_rows(script_args, ("prompt", "answer"), script_args.eval_dataset_path).select_columns(keep)
    training_args.model_init_kwargs = dict(training_args.model_init_kwargs or {}, revision=model_args.model_revision,
                                           dtype=model_args.dtype, attn_implementation=model_args.attn_implementation,
                                           trust_remote_code=training_args.trust_remote_code)
    tokenizer = load_tokenizer(model_args.model_name_or_path, padding_side="left",
                               trust_remote_code=training_args.trust_remote_code)
    # A model path, not an object: TRL builds the reference model (beta > 0) from the same path.
    trainer = DynamicSamplingGRPOTrainer(
        model=model_args.model_name_or_path, reward_funcs=reward_funcs, args=training_args, train_dataset=train,
        eval_dataset=evals, processing_class=tokenizer, peft_config=get_peft_config(model_args),
        dynamic_sampling=script_args.dynamic_sampling, max_rounds=script_args.dynamic_sampling_max_rounds,
        seen_ids_dir=script_args.seen_ids_dir, generation_backend=script_args.generation_backend,
        generation_dtype=script_args.generation_dtype)
    if script_args.max_sampled_tokens:
        trainer.add_callback(sampled_token_budget(script_args.max_sampled_tokens))
    return trainer


def sampled_token_budget(budget: int):
    """A callback that ends training after the step whose rollouts brought the sampled tokens (TRL's
    ``num_input_tokens_seen``: prompt + completion tokens of every generation, summed over processes) to ``budget``."""
    from transformers import TrainerCallback

    class SampledTokenBudget(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.num_input_tokens_seen >= budget:
                control.should_training_stop = True
            return control

    return SampledTokenBudget()


def main(script_args, training_args, model_args):
    trainer = build_trainer(script_args, training_args, model_args)
    train_and_save(trainer, training_args, "GRPO")
    return trainer


def make_parser():
    from trl import GRPOConfig, ModelConfig, TrlParser

    return TrlParser((GRPOScriptArguments, GRPOConfig, ModelConfig), prog="rldistill grpo")


def cli(argv=None) -> int:
    return run_cli(main, make_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(cli())
