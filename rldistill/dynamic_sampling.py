"""Dynamic sampling for TRL's GRPOTrainer (DAPO; TRL only logs `frac_reward_zero_std`, see trl#3708).

A prompt group whose completions all get the same reward has zero advantage everywhere: it teaches nothing, yet
under token-level loss normalisation (`dapo`, `bnpo`) it dilutes the step and its KL term still pulls. On a small
student most groups are all-wrong early on. ``DynamicSamplingGRPOTrainer`` overrides the two methods that see the
scored batch (``_calculate_rewards`` to keep the gathered rewards, ``_generate_and_score_completions`` to act on
them) and, per generation batch:

* ``drop``: masks the zero-variance groups' completions out of the loss (completion_mask = 0) and recomputes
  ``num_items_in_batch``, the token normaliser of the ``dapo``-style losses;
* ``refill``: samples fresh prompts (same seed on every rank, so groups stay aligned across processes), generates and
  scores them, and puts their informative completions in place of the zero-variance ones; after
  ``max_rounds`` rounds whatever is still uninformative is dropped as above.

It also writes, when asked, the row ids each rank generated for (``seen_ids_dir``), to check data sharding.

Left out: refill for multimodal/tool batches (refused with an error), and oversampling the first round (DAPO's
"generate more, keep enough"), which changes the batch size TRL's sampler and DeepSpeed were set up for. With the
per-sequence ``grpo`` loss type, ``drop`` still counts the masked completions in TRL's mean over sequences, so a
step with many dropped groups is scaled down (its direction is unchanged); use ``dapo``/``bnpo`` to renormalise.
"""

from __future__ import annotations

import os
import random

import torch
from trl import GRPOTrainer

# Batch tensors the merge knows how to pad: key -> (pad on the left?, pad value or None = the pad token id).
_PAD = {
    "prompt_ids": (True, None), "prompt_mask": (True, 0), "completion_ids": (False, None), "completion_mask": (False, 0),
    "old_per_token_logps": (False, 0.0), "ref_per_token_logps": (False, 0.0), "sampling_per_token_logps": (False, 0.0),
    "tool_mask": (False, 1), "importance_sampling_ratio": (False, 1.0),
}


def _pad_to(t: torch.Tensor, width: int, left: bool, value) -> torch.Tensor:
    if t.size(1) == width:
        return t
    pad = t.new_full((t.size(0), width - t.size(1)), value)
    return torch.cat([pad, t] if left else [t, pad], dim=1)


class DynamicSamplingGRPOTrainer(GRPOTrainer):
    def __init__(self, *args, dynamic_sampling: str = "none", max_rounds: int = 2, seen_ids_dir: str | None = None,
                 generation_backend: str = "hf", generation_dtype: str = "float32", **kw):
        self.generation_backend, self.generation_dtype = generation_backend, generation_dtype
        if dynamic_sampling not in ("none", "drop", "refill"):
            raise ValueError(f"dynamic_sampling must be 'none', 'drop' or 'refill', got {dynamic_sampling!r}")
        self.dynamic_sampling, self.max_rounds, self.seen_ids_dir = dynamic_sampling, max_rounds, seen_ids_dir
        self._last_rewards_per_func = None
        super().__init__(*args, **kw)
        self._refill_key = (-1, 0)  # (global step, refill draws at that step)

    # -- hooks into TRL
    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        """Text rollouts through the stream backend (``rldistill.generation.sample_rollouts``); TRL's own path for
        vLLM, paged generation, images, or settings the stream backend does not sample with."""
        if (self.generation_backend == "stream" and not self.use_vllm and not images and not multimodal_fields
                and not getattr(self, "use_transformers_paged", False)):
            from trl.models import unwrap_model_for_generation

            from rldistill.generation import sample_rollouts

            gc = self.generation_config
            with unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                             gather_deepspeed3_params=self.args.ds3_gather_for_generation) as model:
                out = sample_rollouts(model, [list(p) for p in prompt_ids], eos_ids=self.eos_token_ids,
                                      pad_id=self._tokenizer.pad_token_id, max_new_tokens=self.max_completion_length,
                                      temperature=gc.temperature, top_p=gc.top_p, top_k=gc.top_k, min_p=gc.min_p,
                                      repetition_penalty=gc.repetition_penalty, batch_size=len(prompt_ids),
                                      dtype=self.generation_dtype)
            if out is not None:
                return out, None
        return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations, has_tool_images)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._last_rewards_per_func = rewards_per_func  # gathered over all processes, in global order
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        self._record_seen(inputs)
        out = super()._generate_and_score_completions(inputs)
        if self.dynamic_sampling == "none" or not self.model.training:
            return out
        drop = self._zero_std_local(len(inputs))
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/zero_std_frac"].append(self._global_mean(drop))
        rounds = 0
        if self.dynamic_sampling == "refill":
            while rounds < self.max_rounds and self._global_mean(drop) > 0:
                fresh = self._fresh_inputs(len(inputs))
                self._record_seen(fresh)
                new = super()._generate_and_score_completions(fresh)
                out, drop = self._merge(out, drop, new, self._zero_std_local(len(fresh)))
                rounds += 1
            metrics["dynamic_sampling/refill_rounds"].append(float(rounds))
        out["completion_mask"] = out["completion_mask"] * (~drop).unsqueeze(1).to(out["completion_mask"].dtype)
        loss_mask = out["completion_mask"] if "tool_mask" not in out else out["completion_mask"] * out["tool_mask"]
        out["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        metrics["dynamic_sampling/dropped_frac"].append(self._global_mean(drop))
        return out

    # -- helpers
    def _global_mean(self, flags: torch.Tensor) -> float:
        return self.accelerator.gather(flags.float().to(self.accelerator.device)).mean().item()

    def _zero_std_local(self, n_local: int) -> torch.Tensor:
        """Per local completion: does its prompt group have zero reward variance? (global groups, then sliced)"""
        rpf = self._last_rewards_per_func
        rewards = (rpf * self.reward_weights.to(rpf.device).unsqueeze(0)).nansum(dim=1)
        grouped = rewards.view(-1, self.num_generations)
        zero = (grouped.max(dim=1).values - grouped.min(dim=1).values).abs() < 1e-6
        per_completion = zero.repeat_interleave(self.num_generations)
        rank = self.accelerator.process_index
        return per_completion[rank * n_local:(rank + 1) * n_local].to(self.accelerator.device)

    def _fresh_inputs(self, n_local: int) -> list[dict]:
        """A new generation batch laid out like TRL's RepeatSampler: G copies per prompt, ranks take contiguous slices."""
        n_global = n_local * self.accelerator.num_processes
        n_prompts, size = n_global // self.num_generations, len(self.train_dataset)
        # Seeded by (seed, global step, draw at this step): the same on every rank, and a resumed run draws what
        # the uninterrupted run would have (no generator state to checkpoint).
        step, k = self._refill_key
        k = k + 1 if step == self.state.global_step else 0
        self._refill_key = (self.state.global_step, k)
        rng = random.Random(f"{self.args.seed + 1}/{self.state.global_step}/{k}")
        idx = rng.sample(range(size), n_prompts) if n_prompts <= size else [rng.randrange(size) for _ in range(n_prompts)]
        flat = [i for i in idx for _ in range(self.num_generations)]
        rank = self.accelerator.process_index
        return [self.train_dataset[i] for i in flat[rank * n_local:(rank + 1) * n_local]]

    def _merge(self, out: dict, drop: torch.Tensor, new: dict, new_drop: torch.Tensor):
        """Put new informative completions in place of dropped ones (row by row; advantages are already per row)."""
        fill = drop.nonzero(as_tuple=True)[0]
        cand = (~new_drop).nonzero(as_tuple=True)[0]
        k = min(len(fill), len(cand))
        if k == 0:
            return out, drop
        fill, cand = fill[:k], cand[:k]
        n = drop.numel()
        for key, value in out.items():
            if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.size(0) != n:
                continue
            if key == "advantages":
                value[fill] = new[key][cand].to(value.dtype)
                continue
            if key not in _PAD or key not in new:
                raise NotImplementedError(f"dynamic_sampling='refill' cannot merge batch field {key!r} (text-only batches)")
            left, pad_value = _PAD[key]
            if pad_value is None:
                pad_value = self.processing_class.pad_token_id if hasattr(self.processing_class, "pad_token_id") \
                    else self.processing_class.tokenizer.pad_token_id
            width = max(value.size(1), new[key].size(1))
            merged = _pad_to(value, width, left, pad_value)
            merged[fill] = _pad_to(new[key], width, left, pad_value)[cand].to(merged.dtype)
            out[key] = merged
        drop = drop.clone()
        drop[fill] = False
        return out, drop

    def _record_seen(self, inputs) -> None:
        if not self.seen_ids_dir or not self.model.training:
            return
        os.makedirs(self.seen_ids_dir, exist_ok=True)
        path = os.path.join(self.seen_ids_dir, f"rank{self.accelerator.process_index}.txt")
        with open(path, "a") as f:
            f.writelines(f"{self.state.global_step}\t{x.get('id', '')}\n" for x in inputs)
