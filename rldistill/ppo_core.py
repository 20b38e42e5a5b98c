"""PPO's arithmetic as pure tensor functions: no models, no accelerate, no I/O.

Everything here works on ``(batch, completion_length)`` tensors aligned to the
completion tokens, with a float/bool ``mask`` that is 1 on the tokens the policy
actually produced (up to and including the first EOS) and 0 on the padding
after it. Position ``t`` of ``values`` is the critic's estimate of the state
*before* token ``t`` was sampled, so the sequence ends after its last unmasked
token and every value past it counts as 0 (terminal).

What it does: masked mean/var/whiten, the per-token KL penalty against a
reference model (k1 and k3 estimators, http://joschu.net/blog/kl-approx.html),
the reward vector (KL penalty per token, sequence score on the last real token),
GAE advantages and returns, the clipped policy loss and the clipped value loss
(with the statistics TRL logs), and the adaptive KL controller of Ziegler et
al. (2019).

What it leaves out: anything about batching, generation or distribution.
Whitening is over the local tensor; callers that want a global statistic
gather first.

Run its tests with ``pytest tests/test_ppo_core.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over the positions where ``mask`` is 1 (over all of them when ``dim`` is None).

    >>> masked_mean(torch.tensor([[1.0, 3.0, 100.0]]), torch.tensor([[1, 1, 0]]))
    tensor(2.)
    """
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of ``x`` over the masked positions, with Bessel's correction by default (as TRL and OpenRLHF do)."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    if unbiased:
        n = mask.to(x.dtype).sum()
        if n < 2:
            return torch.zeros((), dtype=x.dtype, device=x.device)
        var = var * n / (n - 1)
    return var


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8,
                  all_sum=None) -> torch.Tensor:
    """Normalise ``x`` to unit variance (and zero mean if ``shift_mean``) using masked statistics only.

    Padding never enters the statistics and comes back as 0, so a padded token can
    never receive a gradient through an advantage. ``all_sum`` (a function that sums a
    tensor over processes, e.g. ``lambda t: accelerator.reduce(t, "sum")``) makes the
    statistics those of every process's batch together, as if one process held them all.
    """
    all_sum = all_sum or (lambda t: t)
    m = mask.to(x.dtype)
    total, n = all_sum(torch.stack([(x * m).sum(), m.sum()]))
    mean = total / n.clamp(min=1.0)
    squares = all_sum(((x - mean) ** 2 * m).sum())
    var = squares / (n - 1) if n >= 2 else torch.zeros((), dtype=x.dtype, device=x.device)  # Bessel, as masked_var
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out * mask.to(x.dtype)


def completion_mask(completion_ids: torch.Tensor, eos_token_ids: list[int] | int) -> torch.Tensor:
    """1 on every token up to and including the first EOS, 0 after it; all 1 for a row with no EOS (truncated).

    >>> completion_mask(torch.tensor([[5, 2, 0, 0], [5, 6, 7, 8]]), eos_token_ids=2).tolist()
    [[1, 1, 0, 0], [1, 1, 1, 1]]
    """
    eos = torch.as_tensor(eos_token_ids, device=completion_ids.device).reshape(-1)
    is_eos = torch.isin(completion_ids, eos)
    # Count of EOS strictly before t: 0 means t is at or before the first EOS.
    seen_before = torch.cumsum(is_eos.int(), dim=1) - is_eos.int()
    return (seen_before == 0).long()


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last 1 in each row of a prefix mask (-1 for an empty row)."""
    return mask.long().sum(dim=1) - 1


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from the sampled tokens' log-probabilities.

    ``k1`` is ``log p - log q`` (unbiased, can be negative per token); ``k3`` is
    ``(q/p - 1) - log(q/p)`` (unbiased, never negative, lower variance).
    """
    log_ratio = ref_logprobs - logprobs
    if estimator == "k1":
        return -log_ratio
    if estimator == "k3":
        return torch.expm1(log_ratio) - log_ratio
    raise ValueError(f"kl estimator must be 'k1' or 'k3', got {estimator!r}")


def token_rewards(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """The per-token reward PPO optimises: ``-kl_coef * kl`` on every real token, plus the sequence score on the last.

    A row whose mask is empty (nothing generated) gets no reward at all.
    """
    mask_f = mask.to(kl.dtype)
    rewards = -kl_coef * kl * mask_f
    last = last_token_index(mask)
    rows = torch.arange(rewards.size(0), device=rewards.device)
    has_tokens = last >= 0
    rewards[rows[has_tokens], last[has_tokens]] += scores[has_tokens].to(rewards.dtype)
    return rewards


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over a right-padded batch; returns ``(advantages, returns)``.

    ``delta_t = r_t + gamma * V_{t+1} - V_t`` and ``A_t = delta_t + gamma * lam * A_{t+1}``,
    where anything past the last real token (``V_{t+1}``, ``A_{t+1}``) is 0: the
    episode ends at EOS, or at truncation, so there is no bootstrap from padding.
    Returns are ``A + V``. Both are 0 on padding.
    """
    mask_f = mask.to(values.dtype)
    values = values * mask_f
    rewards = rewards * mask_f
    length = rewards.size(1)
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[:, 0])
    next_adv = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(length)):
        # values[:, t + 1] and the running advantage are already 0 past the end of each row,
        # because values and advantages are masked; the mask keeps padded steps at 0.
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_adv = (delta + gamma * lam * next_adv) * mask_f[:, t]
        advantages[:, t] = next_adv
        next_value = values[:, t]
    returns = (advantages + values) * mask_f
    return advantages, returns


@dataclass(frozen=True)
class PolicyLoss:
    loss: torch.Tensor
    clipfrac: torch.Tensor
    approxkl: torch.Tensor
    ratio: torch.Tensor


def clipped_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float = 0.2,
) -> PolicyLoss:
    """PPO's clipped surrogate, ``max(-A * r, -A * clip(r, 1-e, 1+e))`` averaged over real tokens.

    ``clipfrac`` is the fraction of tokens where the clipped branch is active;
    ``approxkl`` is ``0.5 * mean((log r)^2)`` over real tokens; ``ratio`` its mean.
    """
    log_ratio = (logprobs - old_logprobs) * mask.to(logprobs.dtype)
    ratio = torch.exp(log_ratio)
    losses1 = -advantages * ratio
    losses2 = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.max(losses1, losses2), mask)
    with torch.no_grad():
        clipfrac = masked_mean((losses2 > losses1).to(logprobs.dtype), mask)
        approxkl = 0.5 * masked_mean(log_ratio**2, mask)
        mean_ratio = masked_mean(ratio, mask)
    return PolicyLoss(loss, clipfrac, approxkl, mean_ratio)


@dataclass(frozen=True)
class ValueLoss:
    loss: torch.Tensor
    clipfrac: torch.Tensor


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    cliprange_value: float = 0.2,
) -> ValueLoss:
    """``0.5 * max((V - R)^2, (clip(V, V_old - c, V_old + c) - R)^2)`` averaged over real tokens."""
    clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    losses1 = (values - returns) ** 2
    losses2 = (clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(losses1, losses2), mask)
    with torch.no_grad():
        clipfrac = masked_mean((losses2 > losses1).to(values.dtype), mask)
    return ValueLoss(loss, clipfrac)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy of the categorical distribution given by ``logits`` (last dim)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def selective_log_softmax(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits)[..., index]`` without materialising the full log-softmax in float32 twice."""
    logits = logits.float()
    return torch.gather(logits, -1, index.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


class AdaptiveKLController:
    """Ziegler et al. (2019): move ``kl_coef`` so that the measured KL tracks ``target``.

    ``value *= 1 + clip(kl / target - 1, -0.2, 0.2) * n_steps / horizon``. With
    ``target=None`` the coefficient stays fixed. ``state_dict`` makes it resumable.
    """

    def __init__(self, init_kl_coef: float, target: float | None = None, horizon: int = 10000):
        if target is not None and target <= 0:
            raise ValueError(f"target KL must be > 0, got {target}")
        if horizon <= 0:
            raise ValueError(f"KL horizon must be > 0, got {horizon}")
        self.value, self.target, self.horizon = float(init_kl_coef), target, horizon

    def update(self, current_kl: float, n_steps: int) -> float:
        if self.target is not None and math.isfinite(current_kl):
            error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
            self.value *= 1.0 + error * n_steps / self.horizon
        return self.value

    def state_dict(self) -> dict:
        return {"value": self.value, "target": self.target, "horizon": self.horizon}

    def load_state_dict(self, state: dict) -> None:
        self.value = float(state["value"])
