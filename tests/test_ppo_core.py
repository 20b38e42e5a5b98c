"""PPO arithmetic against hand-computed values, and the padding properties the loop relies on."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rldistill.ppo_core import (
    AdaptiveKLController,
    clipped_policy_loss,
    clipped_value_loss,
    completion_mask,
    gae,
    kl_penalty,
    masked_mean,
    masked_var,
    masked_whiten,
    selective_log_softmax,
    token_rewards,
)

GARBAGE = 1e6  # written into padded positions: if it leaks into any result the test fails loudly


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


# --- masks --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ids, eos, expected",
    [
        ([[5, 6, 2, 0, 0]], 2, [[1, 1, 1, 0, 0]]),  # EOS in the middle: kept, padding after it masked
        ([[2, 0, 0]], 2, [[1, 0, 0]]),  # EOS as the very first token: a one-token completion
        ([[5, 6, 7]], 2, [[1, 1, 1]]),  # truncated: no EOS, every token is real
        ([[5, 2, 5, 2]], 2, [[1, 1, 0, 0]]),  # only the first EOS counts
        ([[5, 9, 2]], [2, 9], [[1, 1, 0]]),  # several EOS ids (e.g. <|im_end|> and <|endoftext|>)
        ([[2, 2, 2]], 2, [[1, 0, 0]]),  # pad == eos: padding after EOS is indistinguishable and masked
    ],
)
def test_completion_mask(ids, eos, expected):
    assert completion_mask(torch.tensor(ids), eos).tolist() == expected


# --- GAE ----------------------------------------------------------------------------------------------------------


def test_gae_hand_computed_with_padding_and_early_eos():
    # gamma=1, lam=0.5. Row 0 stops at EOS on t=2; row 1 is truncated (no EOS); row 2 emits EOS first.
    mask = t([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    rewards = t([[0, 0, 1, GARBAGE], [0, 0, 0, 2], [3, GARBAGE, GARBAGE, GARBAGE]])
    values = t([[0.5, 0.5, 0.5, GARBAGE], [1, 0, 0, 1], [1, GARBAGE, GARBAGE, GARBAGE]])
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # Row 0: delta = [0, 0, 0.5]; A_2 = .5, A_1 = .25, A_0 = .125 ; returns = A + V.
    # Row 1: delta = [-1, 0, 1, 1]; A = [-0.625, 0.75, 1.5, 1].
    # Row 2: A_0 = 3 - 1 = 2.
    expected_adv = t([[0.125, 0.25, 0.5, 0], [-0.625, 0.75, 1.5, 1], [2, 0, 0, 0]])
    expected_ret = t([[0.625, 0.75, 1.0, 0], [0.375, 0.75, 1.5, 2], [3, 0, 0, 0]])
    torch.testing.assert_close(adv, expected_adv)
    torch.testing.assert_close(ret, expected_ret)


def test_gae_discounted_hand_computed():
    # gamma=0.5, lam=1: A_t is the discounted return minus V_t (Monte Carlo), here 2 steps then EOS.
    mask, rewards, values = t([[1, 1, 0]]), t([[1, 4, GARBAGE]]), t([[2, 1, GARBAGE]])
    adv, ret = gae(rewards, values, mask, gamma=0.5, lam=1.0)
    torch.testing.assert_close(ret, t([[1 + 0.5 * 4, 4, 0]]))
    torch.testing.assert_close(adv, t([[3 - 2, 4 - 1, 0]]))


def reference_gae(rewards, values, gamma, lam):
    """The textbook recursion on one unpadded episode, in Python floats."""
    adv, last = [0.0] * len(rewards), 0.0
    for i in reversed(range(len(rewards))):
        nxt = values[i + 1] if i + 1 < len(rewards) else 0.0
        last = rewards[i] + gamma * nxt - values[i] + gamma * lam * last
        adv[i] = last
    return adv, [a + v for a, v in zip(adv, values)]


floats = st.floats(-3, 3, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    episodes=st.lists(st.integers(1, 6).flatmap(lambda n: st.tuples(st.lists(floats, min_size=n, max_size=n), st.lists(floats, min_size=n, max_size=n))), min_size=1, max_size=4),
    pad=st.integers(0, 3),
    gamma=st.floats(0.5, 1.0),
    lam=st.floats(0.0, 1.0),
)
def test_gae_matches_per_episode_reference_whatever_the_padding(episodes, pad, gamma, lam):
    width = max(len(r) for r, _ in episodes) + pad
    rewards = torch.full((len(episodes), width), GARBAGE, dtype=torch.float64)
    values, mask = rewards.clone(), torch.zeros_like(rewards)
    for i, (r, v) in enumerate(episodes):
        rewards[i, : len(r)], values[i, : len(v)], mask[i, : len(r)] = t(r), t(v), 1
    adv, ret = gae(rewards, values, mask, gamma=gamma, lam=lam)
    for i, (r, v) in enumerate(episodes):
        exp_adv, exp_ret = reference_gae(r, v, gamma, lam)
        torch.testing.assert_close(adv[i, : len(r)], t(exp_adv))
        torch.testing.assert_close(ret[i, : len(r)], t(exp_ret))
        assert (adv[i, len(r) :] == 0).all() and (ret[i, len(r) :] == 0).all()


# --- rewards and KL -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["k1", "k3"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (2, 7)])
def test_kl_penalty_shape_and_zero_at_equality(estimator, shape):
    logp = torch.randn(shape).log_softmax(-1)
    kl = kl_penalty(logp, logp.clone(), estimator)
    assert kl.shape == shape
    assert torch.count_nonzero(kl) == 0


def test_kl_estimators_hand_computed():
    logp, ref = t([[math.log(0.5)]]), t([[math.log(0.25)]])
    torch.testing.assert_close(kl_penalty(logp, ref, "k1"), t([[math.log(2)]]))
    # k3 = (q/p - 1) - log(q/p) = (0.5 - 1) - log 0.5
    torch.testing.assert_close(kl_penalty(logp, ref, "k3"), t([[-0.5 + math.log(2)]]))
    assert (kl_penalty(torch.randn(4, 9), torch.randn(4, 9), "k3") >= 0).all()
    with pytest.raises(ValueError, match="k1"):
        kl_penalty(logp, ref, "k2")


def test_token_rewards_put_score_on_last_real_token_and_kl_everywhere():
    mask = t([[1, 1, 0], [1, 1, 1], [0, 0, 0]])
    kl = t([[0.1, 0.2, GARBAGE], [0.0, 0.0, 0.4], [GARBAGE] * 3])
    r = token_rewards(t([1.0, 2.0, 5.0]), kl, mask, kl_coef=0.5)
    torch.testing.assert_close(r, t([[-0.05, 1.0 - 0.1, 0], [0, 0, 2.0 - 0.2], [0, 0, 0]]))


# --- clipped losses -----------------------------------------------------------------------------------------------


def test_clipped_policy_loss_reference_values():
    # ratios 1.5, 0.5, 1.1 on three real tokens and one padded one; cliprange 0.2.
    ratio = t([[1.5, 0.5, 1.1, 7.0]])
    old = t([[0.0, 0.0, 0.0, 0.0]])
    adv = t([[1.0, -1.0, 1.0, GARBAGE]])
    mask = t([[1, 1, 1, 0]])
    out = clipped_policy_loss(ratio.log(), old, adv, mask, cliprange=0.2)
    # per token max(-A r, -A clip(r)): [-1.2 (clipped), 0.8 (clipped), -1.1 (not)]
    torch.testing.assert_close(out.loss, torch.tensor(-0.5, dtype=torch.float64))
    torch.testing.assert_close(out.clipfrac, torch.tensor(2 / 3, dtype=torch.float64))
    expected_kl = 0.5 * (math.log(1.5) ** 2 + math.log(0.5) ** 2 + math.log(1.1) ** 2) / 3
    torch.testing.assert_close(out.approxkl, torch.tensor(expected_kl, dtype=torch.float64))
    torch.testing.assert_close(out.ratio, torch.tensor((1.5 + 0.5 + 1.1) / 3, dtype=torch.float64))


def test_clipped_policy_loss_gradient_vanishes_when_clipped():
    logp = t([[math.log(1.5), math.log(1.1)]]).requires_grad_()
    clipped_policy_loss(logp, t([[0.0, 0.0]]), t([[1.0, 1.0]]), t([[1, 1]]), cliprange=0.2).loss.backward()
    assert logp.grad[0, 0] == 0  # ratio above 1+eps with A>0: no incentive to push further
    torch.testing.assert_close(logp.grad[0, 1], torch.tensor(-1.1 / 2, dtype=torch.float64))


def test_clipped_value_loss_reference_values():
    values, old, returns = t([[1.0, 0.0, 0.5, GARBAGE]]), t([[0.5, 0.5, 0.5, 0]]), t([[1.0, 1.0, 0.0, 0]])
    out = clipped_value_loss(values, old, returns, t([[1, 1, 1, 0]]), cliprange_value=0.2)
    # per token max((V-R)^2, (clip(V)-R)^2): [0.09 (clipped), 1.0, 0.25]
    torch.testing.assert_close(out.loss, torch.tensor(0.5 * 1.34 / 3, dtype=torch.float64))
    torch.testing.assert_close(out.clipfrac, torch.tensor(1 / 3, dtype=torch.float64))


# --- whitening ----------------------------------------------------------------------------------------------------


def test_masked_whiten_uses_only_real_tokens():
    x = t([[1.0, 2.0, GARBAGE], [3.0, GARBAGE, GARBAGE]])
    mask = t([[1, 1, 0], [1, 0, 0]])
    w = masked_whiten(x, mask)
    # real values 1, 2, 3: mean 2, unbiased var 1
    torch.testing.assert_close(w, t([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(masked_mean(w, mask), torch.tensor(0.0, dtype=torch.float64))
    torch.testing.assert_close(masked_var(w, mask), torch.tensor(1.0, dtype=torch.float64), atol=1e-6, rtol=0)


def test_masked_whiten_without_mean_shift_keeps_the_mean():
    # 2, 4, 6: mean 4, unbiased std 2 -> scaled around the mean to 3, 4, 5
    x, mask = t([[2.0, 4.0, 6.0, GARBAGE]]), t([[1, 1, 1, 0]])
    torch.testing.assert_close(masked_whiten(x, mask, shift_mean=False), t([[3.0, 4.0, 5.0, 0.0]]), atol=1e-6, rtol=0)


def test_whitening_over_ranks_equals_whitening_all_rollouts_in_one_process():
    """Rank 0 holds rows 0-2, rank 1 rows 3-5; with ``all_sum`` (here: add rank 1's share of each sum) rank 0's
    whitened advantages are those of whitening all six rows at once."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=g, dtype=torch.float64)
    mask = (torch.rand(6, 5, generator=g) < 0.7).long()
    mask[:, 0] = 1
    whole = masked_whiten(x, mask)
    x1, m1, mean = x[3:], mask[3:].double(), masked_mean(x, mask)
    rank1 = iter([torch.stack([(x1 * m1).sum(), m1.sum()]), ((x1 - mean) ** 2 * m1).sum()])
    torch.testing.assert_close(masked_whiten(x[:3], mask[:3], all_sum=lambda v: v + next(rank1)), whole[:3])
    assert not torch.allclose(masked_whiten(x[:3], mask[:3]), whole[:3])  # local statistics differ


def test_masked_statistics_hand_computed():
    x, mask = t([[2.0, 4.0, GARBAGE]]), t([[1, 1, 0]])
    assert masked_mean(x, mask).item() == 3.0
    assert masked_var(x, mask).item() == 2.0
    assert masked_var(x, mask, unbiased=False).item() == 1.0
    torch.testing.assert_close(masked_mean(x, mask, dim=1), t([3.0]))


def test_selective_log_softmax_matches_log_softmax():
    logits, idx = torch.randn(2, 3, 11), torch.randint(0, 11, (2, 3))
    expected = logits.log_softmax(-1).gather(-1, idx.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(selective_log_softmax(logits, idx), expected)


# --- adaptive KL --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kl, expected",
    [
        (0.2, 0.1 * (1 + 0.2 * 4 / 100)),  # KL far above target: error clipped to +0.2
        (0.11, 0.1 * (1 + 0.1 * 4 / 100)),  # 10% above: proportional
        (0.0, 0.1 * (1 - 0.2 * 4 / 100)),  # below: clipped to -0.2
    ],
)
def test_adaptive_kl_controller(kl, expected):
    ctl = AdaptiveKLController(0.1, target=0.1, horizon=100)
    assert ctl.update(kl, n_steps=4) == pytest.approx(expected)


def test_fixed_kl_controller_and_state_roundtrip():
    ctl = AdaptiveKLController(0.05)
    assert ctl.update(10.0, n_steps=8) == 0.05
    adaptive = AdaptiveKLController(0.1, target=0.01, horizon=10)
    adaptive.update(1.0, 1)
    restored = AdaptiveKLController(0.1, target=0.01, horizon=10)
    restored.load_state_dict(adaptive.state_dict())
    assert restored.value == adaptive.value != 0.1
