"""PPO rollouts: prompts tokenised as TRL's GRPO does, completions sampled from the policy.

Generation goes through ``rldistill.generation.sample_rollouts`` (continuous batching, ``generation_backend:
stream``, the default) or the policy's own ``generate`` (``hf``, and whatever the stream sampler does not
implement: top-k), with the policy's ZeRO-3 shards gathered as TRL's GRPO gathers them; vLLM when ``use_vllm``
and vLLM + CUDA are there. Split out of ``rldistill.ppo``, which imports these names.

Leaves out: several completions per prompt (PPO here samples one).
"""

from __future__ import annotations

import contextlib
import logging

import torch
from transformers import GenerationConfig

logger = logging.getLogger("rldistill.ppo")


def is_conversational(prompt) -> bool:
    return isinstance(prompt, list)


def tokenize_prompts(tokenizer, prompts, max_prompt_length: int | None, device):
    """Left-padded prompt ids and mask, tokenized as TRL's GRPO does (chat template for message lists)."""
    if is_conversational(prompts[0]):
        texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
        enc = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    else:
        enc = tokenizer(list(prompts))["input_ids"]
    if max_prompt_length:
        enc = [ids[-max_prompt_length:] for ids in enc]
    from rldistill.stream import left_pad

    ids, mask = left_pad(enc, tokenizer.pad_token_id)
    return ids.to(device), mask.to(device)


def pad_right(rows: list[list[int]], pad_id: int, device) -> torch.Tensor:
    width = max(1, max(len(r) for r in rows))
    out = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out.to(device)


# ----------------------------------------------------------------------------------------- generation


def _is_zero3(accelerator) -> bool:
    plugin = accelerator.state.deepspeed_plugin
    return plugin is not None and plugin.zero_stage == 3


@contextlib.contextmanager
def policy_for_generation(model, accelerator, gather: bool = True):
    """The bare policy, with its ZeRO-3 shards gathered (only the policy's, not the critic's) as TRL's GRPO does."""
    policy = accelerator.unwrap_model(model).policy
    if _is_zero3(accelerator) and gather:
        import deepspeed
        from trl.models.utils import add_hooks, remove_hooks

        with deepspeed.zero.GatheredParameters(list(policy.parameters())):
            remove_hooks(model)
            try:
                yield policy
            finally:
                add_hooks(model)
    else:
        yield policy


def generate(model, accelerator, args, tokenizer, prompt_ids, prompt_mask, eos_ids, vllm=None) -> torch.Tensor:
    """Completion token ids, right-padded, one per prompt."""
    if vllm is not None:
        prompts = [ids[m.bool()].tolist() for ids, m in zip(prompt_ids, prompt_mask)]
        _, completions, _, _ = vllm.generate(prompts=prompts, images=None, num_generations=1)
        return pad_right(completions, tokenizer.pad_token_id, prompt_ids.device)
    config = GenerationConfig(
        max_new_tokens=args.max_completion_length, do_sample=True, temperature=args.temperature,
        top_p=args.top_p, top_k=args.top_k, pad_token_id=tokenizer.pad_token_id, eos_token_id=eos_ids,
        disable_compile=True,
    )
    position_ids = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
    with policy_for_generation(model, accelerator, args.ds3_gather_for_generation) as policy, torch.no_grad():
        if getattr(args, "generation_backend", "stream") == "stream":  # continuous batching; None where it needs generate()
            from rldistill.generation import sample_rollouts

            rows = sample_rollouts(policy, [ids[m.bool()].tolist() for ids, m in zip(prompt_ids, prompt_mask)],
                                   eos_ids=eos_ids, pad_id=tokenizer.pad_token_id, temperature=args.temperature,
                                   max_new_tokens=args.max_completion_length, top_p=args.top_p, top_k=args.top_k,
                                   batch_size=len(prompt_ids), dtype=getattr(args, "generation_dtype", None))
            if rows is not None:
                return pad_right(rows, tokenizer.pad_token_id, prompt_ids.device)
        was_training = policy.training
        policy.eval()
        out = policy.generate(
            input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=position_ids, generation_config=config
        )
        policy.train(was_training)
    return out[:, prompt_ids.size(1) :]


def make_vllm(model, accelerator, args, tokenizer):
    """TRL's colocated vLLM engine for the policy, or None (with a warning) where vLLM or CUDA is missing."""
    if not args.use_vllm:
        return None
    from trl.import_utils import is_vllm_available

    if not (is_vllm_available() and torch.cuda.is_available()):
        logger.warning("use_vllm is set but vLLM or CUDA is missing: generating with transformers instead")
        return None
    from trl.generation.vllm_generation import VLLMGeneration

    return VLLMGeneration(
        model=accelerator.unwrap_model(model).policy, accelerator=accelerator, processing_class=tokenizer,
        mode="colocate", gpu_memory_utilization=args.vllm_gpu_memory_utilization,
        max_num_seqs=args.num_rollouts_per_step // accelerator.num_processes, temperature=args.temperature,
        top_p=args.top_p, top_k=args.top_k, max_completion_length=args.max_completion_length,
        max_model_length=(args.max_prompt_length or 0) + args.max_completion_length or None,
    )
