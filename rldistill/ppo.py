"""PPO with a critic and GAE, on accelerate and DeepSpeed, with the same verifier rewards as GRPO.

    rldistill ppo --config configs/recipes/tiny/ppo.yaml [--max_steps 20] [--output_dir DIR]
    accelerate launch --config_file configs/accelerate/cpu_zero2.yaml scripts/ppo.py --config configs/recipes/tiny/ppo.yaml

TRL 1.16 no longer has a PPOTrainer, so this is our own loop, one readable file. Each step:

1. take ``num_rollouts_per_step`` prompts (each rank its own slice), generate one completion each with the
   policy (``rldistill.ppo_rollout``: continuous batching or HF ``generate``, parameters gathered under ZeRO-3
   as TRL's GRPO does; vLLM when ``use_vllm`` and vLLM + CUDA are there);
2. score them with ``rldistill.rewards`` exactly as TRL's GRPO calls its reward functions (row columns as
   keyword arguments, ``trainer_state``, ``log_metric``), weighted by ``reward_weights``;
3. one no-grad pass for the rollout's log-probs (policy), values (critic) and the frozen reference's log-probs;
   per-token reward = ``-kl_coef * KL`` plus the score on the last real token; GAE advantages and returns
   (``rldistill.ppo_core``), advantages whitened over the real tokens of every rank's rollouts together. When
   a rank's rollouts are one micro-batch of one mini-batch (``fuse_rollout_forward``), the policy's part of that
   pass is the first update forward instead (timed as update, not rollout);
4. ``ppo_epochs`` passes over ``num_mini_batches`` shuffled mini-batches, each accumulated over micro-batches of
   ``per_device_train_batch_size``: clipped policy loss + ``vf_coef`` * clipped value loss, gradient clipping.

Policy and critic are one module (``PolicyAndValue``) with one optimizer and two parameter groups
(``learning_rate`` / ``critic_learning_rate``); during ``critic_warmup_steps`` the policy group's learning rate
is 0 and only the critic learns. The critic is a separate model (a copy of the policy, or
``critic_model_name_or_path``, plus a value head) or, with ``shared_critic``, a value head on the policy's own
trunk: one pass of one model then gives log-probs and values, and the value loss trains the trunk too.
Checkpoints (``checkpoint-N/``) hold the HF policy and tokenizer, and ``accelerate/`` with the model, optimizer,
scheduler, KL controller and RNG states; ``resume_from_checkpoint``
(a path, or ``True`` = the last complete checkpoint in ``output_dir``) continues at the same step and data.
The final policy is saved in ``output_dir`` (loadable by ``AutoModelForCausalLM``), the critic in
``output_dir/critic`` (``ValueModel.from_pretrained``); a shared critic's head is ``output_dir/value_head.safetensors``,
so ``ValueModel.from_pretrained(output_dir)`` rebuilds it.

Left out: PEFT, FSDP, several completions per prompt, reward models, an evaluation loop during training (run
``rldistill eval`` on the checkpoints).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import TrainerState, TrainingArguments, get_scheduler

from rldistill import ppo_core as core
from rldistill.config import GRPOScriptArguments
from rldistill.ppo_rollout import (generate, is_conversational, make_vllm, pad_right,  # noqa: F401
                                   policy_for_generation, tokenize_prompts)

logger = logging.getLogger(__name__)

STATE_FILE = "ppo_state.json"  # written last in a checkpoint: its presence marks the checkpoint complete


@dataclass
class PPOScriptArguments(GRPOScriptArguments):
    """The GRPO recipe's data and reward fields, unchanged, so a reward block pastes from grpo.yaml to ppo.yaml."""

    def __post_init__(self):
        super().__post_init__()
        if self.dynamic_sampling != "none":
            raise ValueError("dynamic_sampling is a GRPO option (it acts on prompt groups); PPO has no groups")


@dataclass
class PPOConfig(TrainingArguments):
    """PPO settings on top of ``transformers.TrainingArguments`` (learning rate, batch sizes, output_dir, seed,
    logging/save steps, report_to, max_steps, max_grad_norm, lr scheduler, bf16...).

    ``per_device_train_batch_size`` is the micro-batch of one forward/backward; ``gradient_accumulation_steps``
    is derived: each rank's rollouts are split into ``num_mini_batches`` optimizer steps of micro-batches.
    """

    # Defaults that differ from TrainingArguments for RL fine-tuning.
    learning_rate: float = field(default=1e-6, metadata={"help": "Policy learning rate."})
    logging_steps: float = field(default=1, metadata={"help": "Log every N PPO steps."})
    save_steps: float = field(default=50, metadata={"help": "Save a checkpoint every N PPO steps."})
    per_device_train_batch_size: int = field(default=4, metadata={"help": "Micro-batch size for the PPO updates."})
    report_to: None | str | list[str] = field(default="none", metadata={"help": "tensorboard, wandb, ... or none."})

    trust_remote_code: bool = field(default=False, metadata={"help": "Allow custom model code (as GRPOConfig)."})

    # Rollouts
    num_rollouts_per_step: int = field(
        default=32, metadata={"help": "Completions generated per PPO step, over all processes (one per prompt)."}
    )
    max_prompt_length: int | None = field(default=512, metadata={"help": "Prompts are left-truncated to this."})
    max_completion_length: int = field(default=256, metadata={"help": "Maximum generated tokens per completion."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (> 0) for rollouts and log-probs."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling for rollouts."})
    top_k: int = field(default=0, metadata={"help": "Top-k sampling for rollouts (0 = off)."})
    rollout_forward_batch_size: int | None = field(
        default=None, metadata={"help": "Chunk size of the no-grad rollout passes (None = the whole local batch)."}
    )
    fuse_rollout_forward: bool = field(
        default=True,
        metadata={"help": "When each rank's rollouts are one micro-batch of one mini-batch, take their log-probs and "
                          "values from the first update pass's forward instead of a separate no-grad pass (the "
                          "same numbers, one forward fewer per step)."},
    )
    use_vllm: bool = field(
        default=False,
        metadata={"help": "Generate with vLLM (colocated) when vLLM is installed and CUDA is present; else HF generate."},
    )
    vllm_gpu_memory_utilization: float = field(default=0.3, metadata={"help": "vLLM's share of GPU memory."})
    ds3_gather_for_generation: bool = field(
        default=True, metadata={"help": "Gather ZeRO-3 shards of the policy for generation (as TRL's GRPO)."}
    )

    # PPO
    ppo_epochs: int = field(default=1, metadata={"help": "Passes over each step's rollouts."})
    num_mini_batches: int = field(default=1, metadata={"help": "Optimizer steps per pass over the rollouts."})
    gamma: float = field(default=1.0, metadata={"help": "Discount factor."})
    lam: float = field(default=0.95, metadata={"help": "GAE lambda."})
    cliprange: float = field(default=0.2, metadata={"help": "Policy ratio clip range."})
    cliprange_value: float = field(default=0.2, metadata={"help": "Value clip range around the rollout's values."})
    vf_coef: float = field(default=0.1, metadata={"help": "Weight of the value loss."})
    kl_coef: float = field(default=0.05, metadata={"help": "Initial coefficient of the per-token KL penalty."})
    kl_estimator: str = field(default="k1", metadata={"help": "Per-token KL estimator: k1 or k3."})
    kl_target: float | None = field(
        default=None, metadata={"help": "Adaptive KL: target KL per sequence (None = fixed kl_coef)."}
    )
    kl_horizon: int = field(default=10000, metadata={"help": "Adaptive KL horizon, in rollouts."})
    whiten_advantages: bool = field(
        default=True, metadata={"help": "Whiten advantages over the real tokens of all processes' rollouts."}
    )
    missing_eos_penalty: float | None = field(
        default=None, metadata={"help": "Subtracted from the score of a completion that hit max_completion_length."}
    )

    # Critic
    critic_model_name_or_path: str | None = field(
        default=None, metadata={"help": "Critic checkpoint (a causal LM or a saved critic); None = the policy's."}
    )
    shared_critic: bool = field(
        default=False,
        metadata={"help": "Critic = a value head on the policy's own trunk (TRL's old AutoModelForCausalLMWithValueHead) "
                          "instead of a separate model: half the forward/backward compute and model memory; the "
                          "value loss (x vf_coef) then trains the policy's trunk too."},
    )
    critic_learning_rate: float | None = field(
        default=None, metadata={"help": "None = learning_rate. With shared_critic it applies to the value head only."}
    )
    critic_warmup_steps: int = field(default=0, metadata={"help": "First N PPO steps train the critic only."})

    # Rewards and logging
    reward_weights: list[float] | None = field(
        default=None, metadata={"help": "One weight per reward function (None = all 1), as GRPOConfig."}
    )
    log_completions: bool = field(default=False, metadata={"help": "Print and save a completions table when logging."})
    num_completions_to_print: int = field(default=4, metadata={"help": "Rows of the printed completions table."})

    def __post_init__(self):
        super().__post_init__()
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0: PPO samples its rollouts and scores them at that temperature")
        if self.kl_estimator not in ("k1", "k3"):
            raise ValueError(f"kl_estimator must be 'k1' or 'k3', got {self.kl_estimator!r}")
        if self.ppo_epochs < 1 or self.num_mini_batches < 1:
            raise ValueError("ppo_epochs and num_mini_batches must be >= 1")


# ----------------------------------------------------------------------------------------- batches and sizes


def local_sizes(args: PPOConfig, world_size: int) -> tuple[int, int]:
    """(rollouts per rank, gradient accumulation steps), or a ValueError naming what does not divide."""
    n, mb, micro = args.num_rollouts_per_step, args.num_mini_batches, args.per_device_train_batch_size
    if n % (world_size * mb * micro):
        raise ValueError(
            f"num_rollouts_per_step ({n}) must be a multiple of processes ({world_size}) x num_mini_batches ({mb}) "
            f"x per_device_train_batch_size ({micro})"
        )
    local = n // world_size
    return local, local // mb // micro


def step_indices(step: int, n_rows: int, global_batch: int, seed: int, rank: int, local: int) -> list[int]:
    """Row indices for one rank at one step: a fresh seeded shuffle per epoch, each rank its own slice.

    A pure function of the step, so resuming needs no data-loader state.
    """
    per_epoch = n_rows // global_batch
    if per_epoch == 0:
        raise ValueError(f"the dataset has {n_rows} prompts, fewer than num_rollouts_per_step ({global_batch})")
    epoch, b = divmod(step, per_epoch)
    perm = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    start = b * global_batch + rank * local
    return perm[start : start + local]


# ----------------------------------------------------------------------------------------- forward passes


def sequence_inputs(prompt_ids, prompt_mask, completion_ids, mask):
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
    attention = torch.cat([prompt_mask, mask.long()], dim=1)
    # Positions count real tokens only, as generate() does for left-padded prompts; without them the
    # log-probs we train on would be those of a shifted prompt.
    position_ids = (attention.cumsum(-1) - 1).clamp(min=0)
    return input_ids, attention, position_ids


def policy_value_forward(model, batch, temperature):
    """Log-probs of the completion tokens, the critic's values before each of them, and the logits."""
    input_ids, attention, position_ids = sequence_inputs(
        batch["prompt_ids"], batch["prompt_mask"], batch["completion_ids"], batch["mask"]
    )
    n = batch["completion_ids"].size(1)
    logits, values = model(input_ids, attention, position_ids, n_positions=n + 1)
    logits = logits[:, :-1] / temperature
    return core.selective_log_softmax(logits, batch["completion_ids"]), values[:, :-1], logits


@torch.no_grad()
def reference_logprobs(ref, accelerator, batch, temperature):
    input_ids, attention, position_ids = sequence_inputs(
        batch["prompt_ids"], batch["prompt_mask"], batch["completion_ids"], batch["mask"]
    )
    n = batch["completion_ids"].size(1)
    with accelerator.autocast():  # the same mixed precision as the prepared policy's forward
        logits = ref(input_ids=input_ids, attention_mask=attention, position_ids=position_ids, use_cache=False,
                     logits_to_keep=n + 1).logits
    return core.selective_log_softmax(logits[:, -n - 1 : -1] / temperature, batch["completion_ids"])


def chunks(batch: dict, size: int | None):
    n = batch["completion_ids"].size(0)
    size = size or n
    for i in range(0, n, size):
        yield {k: v[i : i + size] for k, v in batch.items()}


# ----------------------------------------------------------------------------------------- rewards


def compute_scores(reward_funcs, weights, rows, prompts, completions, completion_ids, state, log_metric, device):
    """Call each reward function as TRL's GRPOTrainer does; returns (weighted scores, per-function rewards)."""
    columns = {k: [r[k] for r in rows] for k in rows[0] if k not in ("prompt", "completion", "completion_ids")}
    per_func = torch.zeros(len(rows), len(reward_funcs), device=device)
    for j, func in enumerate(reward_funcs):
        out = func(prompts=prompts, completions=completions, completion_ids=completion_ids,
                   trainer_state=state, log_metric=log_metric, log_extra=lambda *a, **k: None, **columns)
        if len(out) != len(rows):
            raise ValueError(f"reward function {func.__name__!r} returned {len(out)} rewards for {len(rows)} rows")
        per_func[:, j] = torch.tensor([math.nan if r is None else float(r) for r in out], device=device)
    # As TRL: weighted sum ignoring None ("cannot judge"); a row no function judged scores 0.
    return (per_func * weights.unsqueeze(0)).nansum(dim=1), per_func


# ----------------------------------------------------------------------------------------- checkpoints


def last_checkpoint(output_dir) -> str | None:
    """Newest ``checkpoint-N`` in output_dir whose state file was written (a save killed halfway is skipped)."""
    out = Path(output_dir)
    if not out.is_dir():
        return None
    done = [p for p in out.glob("checkpoint-*") if (p / STATE_FILE).is_file() and p.name.split("-")[-1].isdigit()]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None


def resolve_resume(value, output_dir) -> str | None:
    if value is None or str(value).strip().lower() in ("", "false", "none", "no"):
        return None
    if str(value).strip().lower() in ("true", "yes", "last"):
        found = last_checkpoint(output_dir)
        if found is None:
            logger.warning("resume_from_checkpoint=True but %s has no complete checkpoint: starting fresh", output_dir)
        return found
    if not (Path(value) / STATE_FILE).is_file():
        raise FileNotFoundError(f"{value} is not a complete PPO checkpoint (no {STATE_FILE})")
    return str(value)


def save_models(model, accelerator, tokenizer, out_dir, with_critic: bool = True):
    """Policy (+ tokenizer) as a plain HF causal LM in out_dir, the critic in out_dir/critic (a shared critic's
    head in out_dir/value_head.safetensors). All ranks call this."""
    from rldistill.value_head import save_head

    state = accelerator.get_state_dict(model)  # gathers ZeRO-3 shards; a collective
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        policy_sd = {k.removeprefix("policy."): v for k, v in state.items() if k.startswith("policy.")}
        unwrapped.policy.save_pretrained(out_dir, state_dict=policy_sd)
        tokenizer.save_pretrained(out_dir)
        if unwrapped.shared:
            save_head({k.removeprefix("v_head."): v for k, v in state.items() if k.startswith("v_head.")}, out_dir)
        elif with_critic:
            critic_sd = {k.removeprefix("critic."): v for k, v in state.items() if k.startswith("critic.")}
            unwrapped.critic.save_pretrained(Path(out_dir) / "critic", state_dict=critic_sd)
    accelerator.wait_for_everyone()


def save_checkpoint(model, accelerator, tokenizer, args, state: TrainerState, kl_ctl):
    ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
    save_models(model, accelerator, tokenizer, ckpt, with_critic=False)
    accelerator.save_state(str(ckpt / "accelerate"))
    if accelerator.is_main_process:
        state.save_to_json(str(ckpt / "trainer_state.json"))
        (ckpt / STATE_FILE).write_text(json.dumps({"global_step": state.global_step, "kl_ctl": kl_ctl.state_dict()}))
        if args.save_total_limit:
            done = sorted(Path(args.output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
            for old in done[: -args.save_total_limit]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


# ----------------------------------------------------------------------------------------- the loop


def rollout(model, ref, accelerator, args, tokenizer, rows, eos_ids, reward_funcs, weights, state, kl_ctl, vllm, metrics,
            fused: bool = False):
    """Generate, score, and compute everything the PPO update needs (no gradients); with ``fused`` all but the
    policy's log-probs and values, which the update's first forward supplies (``add_advantages``)."""
    device = accelerator.device
    t0 = time.perf_counter()
    prompts = [r["prompt"] for r in rows]
    prompt_ids, prompt_mask = tokenize_prompts(tokenizer, prompts, args.max_prompt_length, device)
    completion_ids = generate(model, accelerator, args, tokenizer, prompt_ids, prompt_mask, eos_ids, vllm)
    mask = core.completion_mask(completion_ids, eos_ids)
    # Trim columns that are padding in every row of this rank's batch.
    width = max(1, int(mask.sum(1).max().item()))
    completion_ids, mask = completion_ids[:, :width], mask[:, :width]
    lengths = mask.sum(1)
    truncated = ~torch.isin(completion_ids, torch.tensor(eos_ids, device=device)).any(1)
    t1 = time.perf_counter()

    ids_list = [c[m.bool()].tolist() for c, m in zip(completion_ids, mask)]
    texts = tokenizer.batch_decode(ids_list, skip_special_tokens=True)
    completions = [[{"role": "assistant", "content": t}] for t in texts] if is_conversational(prompts[0]) else texts
    log_metric = lambda name, value: metrics[name].append(float(value))  # noqa: E731
    scores, per_func = compute_scores(reward_funcs, weights, rows, prompts, completions, ids_list, state, log_metric, device)
    if args.missing_eos_penalty is not None:
        scores = scores - args.missing_eos_penalty * truncated.float()
    t2 = time.perf_counter()

    batch = {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids, "mask": mask}
    logprobs, values, ref_logprobs = [], [], []
    with torch.no_grad():
        for part in chunks(batch, args.rollout_forward_batch_size):
            if not fused:  # (fused: the first update pass's forward gives these; see ppo_update)
                lp, v, _ = policy_value_forward(model, part, args.temperature)
                logprobs.append(lp)
                values.append(v)
            ref_logprobs.append(reference_logprobs(ref, accelerator, part, args.temperature))
    batch.update(scores=scores, ref_logprobs=torch.cat(ref_logprobs) * mask.float())
    info = {
        "prompts": prompts, "completions": texts, "scores": scores, "per_func": per_func, "lengths": lengths,
        "truncated": truncated, "mask": mask,
        "timing": {"generate": t1 - t0, "rewards": t2 - t1},
    }
    if not fused:
        add_advantages(batch, info, torch.cat(logprobs), torch.cat(values), args, kl_ctl.value, all_sum(accelerator))
    info["timing"]["rollout_forward"] = time.perf_counter() - t2
    return batch, info


def all_sum(accelerator):
    """A function summing a tensor over processes, or None in a single process."""
    if accelerator.num_processes == 1:
        return None
    return lambda t: accelerator.reduce(t, reduction="sum")


def add_advantages(batch, info, logprobs, values, args, kl_coef: float, sum_over_ranks=None):
    """Per-token rewards (score on the last real token, ``-kl_coef * KL`` on every one), GAE advantages and
    returns from the rollout policy's log-probs and values; into ``batch`` for the update, ``info`` for the log.
    Advantages are whitened with the statistics of all ranks' rollouts together (``sum_over_ranks``)."""
    mask = batch["mask"]
    maskf = mask.float()
    logprobs, values = logprobs * maskf, values * maskf
    kl = core.kl_penalty(logprobs, batch["ref_logprobs"], args.kl_estimator) * maskf
    rewards = core.token_rewards(batch["scores"], kl, mask, kl_coef)
    advantages, returns = core.gae(rewards, values, mask, args.gamma, args.lam)
    if args.whiten_advantages:
        advantages = core.masked_whiten(advantages, mask, all_sum=sum_over_ranks)
    batch.update(logprobs=logprobs, values=values, advantages=advantages, returns=returns)
    info.update(kl=kl.sum(1), entropy=-(logprobs.sum(1)), non_score_reward=(-kl_coef * kl).sum(1), values=values,
                returns=returns)


def ppo_update(model, optimizer, accelerator, args, batch, policy_coef: float, metrics, fill=None):
    """ppo_epochs x num_mini_batches optimizer steps, each accumulated over micro-batches.

    ``fill`` (fused steps: the whole batch is one micro-batch of one mini-batch) is called with the first
    forward's detached log-probs and values, before any weight has moved, and adds the advantages to ``batch``.
    """
    n = batch["completion_ids"].size(0)
    mini = n // args.num_mini_batches
    micro = args.per_device_train_batch_size
    for _ in range(args.ppo_epochs):
        order = torch.randperm(n, device=batch["completion_ids"].device)
        for start in range(0, n, mini):
            for m0 in range(start, start + mini, micro):
                idx = order[m0 : m0 + micro]
                with accelerator.accumulate(model):
                    if fill is not None:  # fused: this first forward is also the rollout's
                        logprobs, values, logits = policy_value_forward(model, batch, args.temperature)
                        fill(logprobs.detach(), values.detach())
                        fill, mb = None, batch
                    else:
                        mb = {k: v[idx] for k, v in batch.items()}
                        logprobs, values, logits = policy_value_forward(model, mb, args.temperature)
                    pg = core.clipped_policy_loss(logprobs, mb["logprobs"], mb["advantages"], mb["mask"], args.cliprange)
                    vf = core.clipped_value_loss(values, mb["values"], mb["returns"], mb["mask"], args.cliprange_value)
                    loss = policy_coef * pg.loss + args.vf_coef * vf.loss
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and args.max_grad_norm and not accelerator.state.deepspeed_plugin:
                        accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad()
                with torch.no_grad():
                    entropy = core.masked_mean(core.entropy_from_logits(logits), mb["mask"])
                for name, value in (("policy/clipfrac", pg.clipfrac), ("policy/approxkl", pg.approxkl),
                                    ("loss/policy", pg.loss), ("val/vf_loss", vf.loss), ("val/clipfrac", vf.clipfrac),
                                    ("policy/entropy", entropy), ("val/ratio", pg.ratio)):
                    metrics[name].append(value.detach().float())


def build_optimizer(model, args):
    groups = [
        {"params": [p for p in model.policy.parameters() if p.requires_grad], "lr": args.learning_rate},
        {"params": [p for p in model.critic_parameters() if p.requires_grad],
         "lr": args.critic_learning_rate or args.learning_rate},
    ]
    return torch.optim.AdamW(groups, betas=(args.adam_beta1, args.adam_beta2), eps=args.adam_epsilon,
                             weight_decay=args.weight_decay)


def build_scheduler(optimizer, args, max_steps: int):
    """The TrainingArguments schedule, in PPO steps; the policy group's lambda is 0 during critic warm-up."""
    warmup = args.get_warmup_steps(max_steps)
    sched = get_scheduler(args.lr_scheduler_type, optimizer, num_warmup_steps=warmup, num_training_steps=max_steps,
                          scheduler_specific_kwargs=args.lr_scheduler_kwargs or {})
    base, delay = sched.lr_lambdas[0], args.critic_warmup_steps
    sched.lr_lambdas[0] = lambda step: 0.0 if step < delay else base(step - delay)
    # Re-apply the lambdas at the current step so step 0 already uses them.
    for group, lam, base_lr in zip(optimizer.param_groups, sched.lr_lambdas, sched.base_lrs):
        group["lr"] = base_lr * lam(sched.last_epoch)
    return sched


def reduce_mean(accelerator, values: list[torch.Tensor]) -> float:
    local = torch.stack([v.float() for v in values]).mean().to(accelerator.device)
    return accelerator.reduce(local, reduction="mean").item()


def log_step(accelerator, args, state, info, metrics, kl_ctl, optimizer, reward_names, t_step, pbar):
    g = lambda x: accelerator.gather(x.float().reshape(-1))  # noqa: E731
    scores, kl, nsr = g(info["scores"]), g(info["kl"]), g(info["non_score_reward"])
    lengths, truncated = g(info["lengths"]), g(info["truncated"])
    per_func = accelerator.gather(info["per_func"])
    logs = {
        "objective/kl": kl.mean().item(),
        "objective/kl_coef": kl_ctl.value,
        "objective/entropy": g(info["entropy"]).mean().item(),
        "objective/non_score_reward": nsr.mean().item(),
        "objective/rlhf_reward": (scores + nsr).mean().item(),
        "objective/scores": scores.mean().item(),
        "completions/mean_length": lengths.mean().item(),
        "completions/min_length": lengths.min().item(),
        "completions/max_length": lengths.max().item(),
        "completions/clipped_ratio": truncated.mean().item(),
        "val/mean": reduce_mean(accelerator, [core.masked_mean(info["values"], info["mask"])]),
        "lr": info["lrs"][0],
        "critic_lr": info["lrs"][1],
        "episode": state.global_step * args.num_rollouts_per_step,
    }
    for j, name in enumerate(reward_names):
        col = per_func[:, j]
        col = col[~torch.isnan(col)]
        logs[f"rewards/{name}/mean"] = col.mean().item() if col.numel() else float("nan")
        logs[f"rewards/{name}/std"] = col.std().item() if col.numel() > 1 else 0.0
    for name, values in sorted(metrics.items()):
        if values and isinstance(values[0], torch.Tensor):
            logs[name] = reduce_mean(accelerator, values)
        elif values:
            logs[name] = sum(values) / len(values)
    for name, seconds in info["timing"].items():
        logs[f"timing/{name}_s"] = seconds
    logs["timing/step_s"] = t_step
    logs = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in logs.items()}
    if args.log_completions:
        log_completions(accelerator, args, state, info, reward_names)
    if accelerator.is_main_process:
        state.log_history.append({**logs, "step": state.global_step})
        accelerator.log(logs, step=state.global_step)
        pbar.write(json.dumps({"step": state.global_step, **logs}))
    return logs


def log_completions(accelerator, args, state, info, reward_names):
    from accelerate.utils import gather_object

    prompts, completions = gather_object(info["prompts"]), gather_object(info["completions"])
    per_func = accelerator.gather(info["per_func"]).cpu()
    scores = accelerator.gather(info["scores"]).cpu().tolist()
    if not accelerator.is_main_process:
        return
    rewards = {name: per_func[:, j].tolist() for j, name in enumerate(reward_names)}
    try:
        from trl.trainer.utils import print_prompt_completions_sample

        print_prompt_completions_sample(prompts, completions, rewards, scores, state.global_step,
                                        args.num_completions_to_print)
    except ImportError:  # rich is optional
        pass
    table = {"step": [state.global_step] * len(prompts), "prompt": prompts, "completion": completions,
             **rewards, "score": scores}
    out = Path(args.output_dir) / "completions"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"completions_{state.global_step:05d}.jsonl", "w") as f:
        for i in range(len(prompts)):
            f.write(json.dumps({k: v[i] for k, v in table.items()}, default=str) + "\n")
    if "wandb" in (args.report_to or []):
        import wandb

        if wandb.run is not None:
            wandb.log({"completions": wandb.Table(columns=list(table), data=[list(r) for r in zip(*table.values())])})


def train(script_args, args: PPOConfig, model_args) -> Path:
    from accelerate import Accelerator
    from accelerate.utils import GradientAccumulationPlugin, set_seed
    from tqdm.auto import tqdm

    from trl.trainer.utils import disable_dropout_in_model

    from rldistill.models import load_model, load_tokenizer
    from rldistill.rewards import reward_funcs_from_args
    from rldistill.sft import load_rows
    from rldistill.value_head import PolicyAndValue, ValueModel, load_head, new_head

    reward_funcs = reward_funcs_from_args(script_args, args)  # bad reward names fail before any model loads
    args.generation_backend = script_args.generation_backend  # read by ppo_rollout.generate
    args.generation_dtype = script_args.generation_dtype
    reward_names = [f.__name__ for f in reward_funcs]
    if args.reward_weights is not None and len(args.reward_weights) != len(reward_funcs):
        raise ValueError(f"reward_weights has {len(args.reward_weights)} entries for {len(reward_funcs)} reward_funcs")

    report_to = [] if args.report_to in (None, "none", ["none"]) else args.report_to
    report_to = [report_to] if isinstance(report_to, str) else list(report_to)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local, grad_accum = local_sizes(args, world)
    accelerator = Accelerator(
        gradient_accumulation_plugin=GradientAccumulationPlugin(num_steps=grad_accum, sync_with_dataloader=False),
        log_with=report_to or None, project_dir=args.output_dir,
        step_scheduler_with_optimizer=False,
    )
    local, grad_accum = local_sizes(args, accelerator.num_processes)
    # One micro-batch of one mini-batch: the first update pass sees the rollout's weights and whole batch, so its
    # forward can stand in for the rollout's no-grad one (same numbers, one forward fewer per step).
    fused = args.fuse_rollout_forward and args.num_mini_batches == 1 and grad_accum == 1
    ds_plugin = accelerator.state.deepspeed_plugin
    if ds_plugin is not None:
        # Our prompts do not go through a prepared DataLoader, so DeepSpeed's batch keys are set here.
        ds_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = args.per_device_train_batch_size
        ds_plugin.deepspeed_config["gradient_accumulation_steps"] = grad_accum
        ds_plugin.deepspeed_config["gradient_clipping"] = args.max_grad_norm or 0.0
    set_seed(args.seed)

    # The columns rldistill's GRPO keeps; each reaches the reward functions as a keyword argument.
    rows = load_rows(script_args, require=("prompt", "answer")).select_columns(["id", "prompt", "answer", "verifier"])
    rows = rows.to_list()
    max_steps = args.max_steps if args.max_steps > 0 else math.ceil(
        args.num_train_epochs * len(rows) / args.num_rollouts_per_step)

    name = model_args.model_name_or_path
    dtype = model_args.dtype if model_args.dtype not in (None, "auto") else None
    tokenizer = load_tokenizer(name, trust_remote_code=args.trust_remote_code)
    extra = {"revision": model_args.model_revision}
    if model_args.attn_implementation:
        extra["attn_implementation"] = model_args.attn_implementation
    policy = load_model(name, dtype=dtype, trust_remote_code=args.trust_remote_code, **extra)
    ref = load_model(name, dtype=dtype, trust_remote_code=args.trust_remote_code, **extra)
    ref.eval().requires_grad_(False)
    if args.shared_critic:
        critic, v_head = None, new_head(policy.config)
        # A head saved by an earlier shared-critic run sits next to its policy; start from it when there is one.
        if not load_head(v_head, args.critic_model_name_or_path or name) and args.critic_model_name_or_path:
            raise ValueError(f"shared_critic: critic_model_name_or_path={args.critic_model_name_or_path} has no "
                             "value_head.safetensors (with shared_critic it may only name a saved value head)")
        v_head.to(policy.dtype)
    else:
        v_head = None
        critic = ValueModel.from_pretrained(args.critic_model_name_or_path or name, dtype=policy.dtype,
                                            trust_remote_code=args.trust_remote_code, **extra)
    for m in (policy, ref, critic):
        if m is not None:
            disable_dropout_in_model(m)  # dropout would make the rollout's log-probs and values noisy targets
    for m in (policy, ref):
        if m.config.pad_token_id is None:
            m.config.pad_token_id = tokenizer.pad_token_id
    if args.activation_checkpointing or args.gradient_checkpointing:  # transformers 5 renamed the field
        ckpt_kwargs = args.activation_checkpointing_kwargs or args.gradient_checkpointing_kwargs
        policy.gradient_checkpointing_enable(ckpt_kwargs)
        if critic is not None:
            critic.gradient_checkpointing_enable(ckpt_kwargs)
    eos_ids = sorted({tokenizer.eos_token_id, *_as_list(policy.generation_config.eos_token_id)} - {None})

    model = PolicyAndValue(policy, critic=critic, v_head=v_head)
    optimizer = build_optimizer(model, args)
    model, optimizer = accelerator.prepare(model, optimizer)
    scheduler = build_scheduler(optimizer, args, max_steps)
    if ds_plugin is not None:
        from trl.models.utils import prepare_deepspeed

        ref = prepare_deepspeed(ref, accelerator)  # ZeRO-3: sharded like the policy; otherwise a stage-0 engine
    else:
        # Not accelerator.prepare_model: that would register the frozen model for save_state/load_state.
        ref = ref.to(accelerator.device)
    kl_ctl = core.AdaptiveKLController(args.kl_coef, args.kl_target, args.kl_horizon)
    accelerator.register_for_checkpointing(scheduler, kl_ctl)

    state = TrainerState(max_steps=max_steps, logging_steps=args.logging_steps, save_steps=args.save_steps)
    resume = resolve_resume(args.resume_from_checkpoint, args.output_dir)
    if resume:
        accelerator.load_state(str(Path(resume) / "accelerate"))
        saved = json.loads((Path(resume) / STATE_FILE).read_text())
        state = TrainerState.load_from_json(str(Path(resume) / "trainer_state.json"))
        state.max_steps = max_steps
        kl_ctl.load_state_dict(saved["kl_ctl"])
        accelerator.print(f"resumed from {resume} at step {state.global_step}")
    vllm = make_vllm(model, accelerator, args, tokenizer)
    if report_to:
        accelerator.init_trackers(args.run_name or "rldistill-ppo", config=args.to_sanitized_dict())
    weights = torch.tensor(args.reward_weights or [1.0] * len(reward_funcs), device=accelerator.device)
    if not resume:  # (a resumed run continues from the checkpoint's RNG states instead)
        # Same seed for model init on every rank above; from here each rank samples its own completions.
        torch.manual_seed(args.seed + accelerator.process_index)

    model.train()
    pbar = tqdm(total=max_steps, initial=state.global_step, desc="ppo",
                disable=not accelerator.is_local_main_process or bool(args.disable_tqdm))
    metrics = defaultdict(list)
    while state.global_step < max_steps:
        t0 = time.perf_counter()
        idx = step_indices(state.global_step, len(rows), args.num_rollouts_per_step, args.seed,
                           accelerator.process_index, local)
        if vllm is not None:
            vllm.sync_weights()
        batch, info = rollout(model, ref, accelerator, args, tokenizer, [rows[i] for i in idx], eos_ids,
                              reward_funcs, weights, state, kl_ctl, vllm, metrics, fused)
        t1 = time.perf_counter()
        info["lrs"] = [group["lr"] for group in optimizer.param_groups]  # the rates this step's updates use
        policy_coef = 0.0 if state.global_step < args.critic_warmup_steps else 1.0
        fill = (lambda lp, v: add_advantages(batch, info, lp, v, args, kl_ctl.value, all_sum(accelerator))  # noqa: E731
                if fused else None)
        ppo_update(model, optimizer, accelerator, args, batch, policy_coef, metrics, fill)
        info["timing"]["update"] = time.perf_counter() - t1
        scheduler.step()
        mean_kl = accelerator.gather(info["kl"].float()).mean().item()
        state.global_step += 1
        pbar.update(1)
        if state.global_step % max(1, int(args.logging_steps)) == 0 or state.global_step == max_steps:
            logs = log_step(accelerator, args, state, info, metrics, kl_ctl, optimizer, reward_names,
                            time.perf_counter() - t0, pbar)
            pbar.set_postfix(reward=logs["objective/scores"], kl=logs["objective/kl"])
            metrics.clear()
        kl_ctl.update(mean_kl, args.num_rollouts_per_step)
        if args.save_strategy != "no" and args.save_steps and state.global_step % int(args.save_steps) == 0:
            save_checkpoint(model, accelerator, tokenizer, args, state, kl_ctl)
    pbar.close()

    save_models(model, accelerator, tokenizer, args.output_dir)
    if accelerator.is_main_process:
        state.save_to_json(str(Path(args.output_dir) / "trainer_state.json"))
    accelerator.end_training()
    return Path(args.output_dir)


def _as_list(x):
    return [] if x is None else list(x) if isinstance(x, (list, tuple)) else [x]


def main(script_args, training_args, model_args) -> Path:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return train(script_args, training_args, model_args)


def make_parser():
    from trl import ModelConfig, TrlParser

    return TrlParser((PPOScriptArguments, PPOConfig, ModelConfig), prog="rldistill ppo")


def cli(argv=None) -> int:
    from rldistill.config import run_cli

    return run_cli(main, make_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
