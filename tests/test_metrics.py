"""Each evaluation metric on hand-made numbers and texts."""

import itertools
import math

import numpy as np
import pytest

from rldistill import metrics


def brute_pass_at_k(outcomes: list[bool], k: int) -> float:
    """Exact pass@k by enumeration: the share of k-subsets with a success."""
    subsets = list(itertools.combinations(outcomes, k))
    return sum(any(s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_at_k_equals_brute_force_over_all_subsets(n):
    for c in range(n + 1):
        outcomes = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            assert metrics.pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(outcomes, k), abs=1e-12)


@pytest.mark.parametrize("n,c,k,expected", [(10, 0, 1, 0.0), (10, 3, 1, 0.3), (4, 4, 2, 1.0), (3, 1, 3, 1.0)])
def test_pass_at_k_known_values(n, c, k, expected):
    assert metrics.pass_at_k(n, c, k) == pytest.approx(expected)


@pytest.mark.parametrize("n,c,k", [(3, 4, 1), (3, 1, 0), (3, 1, 4), (0, 0, 1)])
def test_pass_at_k_rejects_impossible_arguments(n, c, k):
    with pytest.raises(ValueError):
        metrics.pass_at_k(n, c, k)


def test_pass_at_k_is_stable_for_large_n():
    # A binomial of 200 choose 100 would overflow floats; the product form does not.
    v = metrics.pass_at_k(200, 3, 100)
    assert 0.0 < v < 1.0 and math.isfinite(v)
    assert v == pytest.approx(1 - math.comb(197, 100) / math.comb(200, 100))


def test_mean_pass_at_1_is_the_mean_sample_accuracy():
    samples = [[True, False, False, True], [False] * 4, [True] * 4]
    assert metrics.mean_pass_at_k(samples, 1) == pytest.approx(np.mean([0.5, 0.0, 1.0]))


def test_token_stats_on_hand_made_outcomes():
    s = metrics.token_stats([True, False, True, False], [10, 40, 20, 50])
    assert s["accuracy"] == 0.5
    assert s["mean_tokens"] == 30
    assert s["mean_tokens_correct"] == 15
    assert s["mean_tokens_incorrect"] == 45
    assert s["tokens_per_solved"] == 60  # 120 tokens spent for 2 solved
    assert s["accuracy_per_1k_tokens"] == pytest.approx(0.5 / 0.03)


def test_token_stats_with_nothing_solved_has_no_cost_per_solve():
    s = metrics.token_stats([False, False], [5, 7])
    assert s["accuracy"] == 0 and s["tokens_per_solved"] is None and s["mean_tokens_correct"] is None


def test_token_stats_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        metrics.token_stats([True], [1, 2])


def test_robustness_gap_per_style_and_worst_style():
    acc = {"eval": 0.9, "ood": 0.2, "styles/paraphrase": 0.85, "styles/format": 0.6, "styles/distractor": 0.7}
    r = metrics.robustness(acc, "eval", ["styles/paraphrase", "styles/format", "styles/distractor"])
    assert r["gaps"] == pytest.approx({"styles/paraphrase": 0.05, "styles/format": 0.3, "styles/distractor": 0.2})
    assert r["worst_style"] == "styles/format"
    assert r["worst_style_accuracy"] == 0.6 and r["worst_gap"] == pytest.approx(0.3)
    assert r["mean_style_accuracy"] == pytest.approx((0.85 + 0.6 + 0.7) / 3)


def test_robustness_gap_can_be_negative_when_a_style_is_easier():
    r = metrics.robustness({"eval": 0.5, "styles/a": 0.6}, "eval", ["styles/a"])
    assert r["worst_gap"] == pytest.approx(-0.1)


def test_robustness_without_styles_is_empty_not_an_error():
    r = metrics.robustness({"eval": 0.5}, "eval", [])
    assert r["worst_style"] is None and r["gaps"] == {}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Wait, let me double-check: 3+4=7. Wait.", {"wait": 2, "double-check": 1, "let me": 1}),
        ("We double check it. LET ME see", {"wait": 0, "double-check": 1, "let me": 1}),
        ("He awaits the outlet mess", {"wait": 0, "double-check": 0, "let me": 0}),
    ],
)
def test_marker_counts(text, expected):
    assert metrics.marker_counts(text) == expected


def test_marker_stats_rates():
    s = metrics.marker_stats(["wait wait", "no markers", "let me"], tokens=[10, 10, 10])
    assert s["per_completion"]["wait"] == pytest.approx(2 / 3)
    assert s["any_fraction"] == pytest.approx(2 / 3)
    assert s["total_per_completion"] == pytest.approx(1.0)
    assert s["per_1k_tokens"] == pytest.approx(1000 * 3 / 30)


@pytest.mark.parametrize(
    "text,ref,n,expected",
    [
        ("the sum is 7", "so the sum is 7 now", 4, 1.0),  # every 4-gram copied
        ("the sum is 7", "7 is sum the", 4, 0.0),  # same words, no shared 4-gram
        ("a b c d e", "a b c d", 4, 0.5),  # 2 four-grams, 1 shared
        ("a b a b a b", "a b a b", 2, 0.6),  # ab x3 clipped to 2, ba x2 clipped to 1: 3 of 5
        ("a b a b a b", "a b", 2, 0.2),  # ab x3 clipped to 1: 1 of 5
        ("x y", "x y z", 4, None),  # too short to judge
    ],
)
def test_ngram_overlap(text, ref, n, expected):
    got = metrics.ngram_overlap(text, ref, n)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_ngram_overlap_ignores_case_and_splits_punctuation():
    assert metrics.ngram_overlap("So, X = 3.", "so , x = 3 .", 3) == 1.0


def test_mean_overlap_skips_rows_without_a_reference():
    m = metrics.mean_overlap(["a b c d", "a b c d"], ["a b c d", ""], 4)
    assert m == {"n": 4, "mean": 1.0, "count": 1}


def test_paired_bootstrap_identical_models_has_zero_difference():
    x = [1, 0, 1, 1, 0, 1]
    b = metrics.paired_bootstrap(x, x)
    assert b["diff"] == 0 and b["low"] == 0 and b["high"] == 0 and b["p_value"] == 1.0


def test_paired_bootstrap_interval_contains_the_difference_and_excludes_zero_for_a_clear_win():
    rng = np.random.default_rng(1)
    a = (rng.random(300) < 0.8).astype(float)
    b = (rng.random(300) < 0.4).astype(float)
    r = metrics.paired_bootstrap(a, b, seed=3)
    assert r["low"] <= r["diff"] <= r["high"]
    assert r["low"] > 0 and r["p_value"] < 0.01


def test_paired_bootstrap_pairing_tightens_the_interval():
    # b is a with 5 problems flipped from right to wrong: the pairs disagree on
    # only 5 of 200 problems, so the paired interval is narrow even though each
    # model's own accuracy is uncertain by about +-7 points.
    rng = np.random.default_rng(0)
    a = (rng.random(200) < 0.5).astype(float)
    b = a.copy()
    b[np.flatnonzero(a)[:5]] = 0
    r = metrics.paired_bootstrap(a, b, seed=0)
    assert r["diff"] == pytest.approx(5 / 200)
    assert r["high"] - r["low"] < 0.05
    assert r["low"] > 0


def test_paired_bootstrap_is_deterministic_under_a_seed():
    a, b = [1, 0, 1, 0, 1], [0, 0, 1, 1, 0]
    assert metrics.paired_bootstrap(a, b, seed=7) == metrics.paired_bootstrap(a, b, seed=7)


def test_paired_bootstrap_rejects_unpaired_inputs():
    with pytest.raises(ValueError):
        metrics.paired_bootstrap([1, 0], [1])


def test_spread_across_seeds():
    s = metrics.spread([0.2, 0.4, 0.6])
    assert s["mean"] == pytest.approx(0.4) and s["std"] == pytest.approx(0.2) and s["min"] == 0.2 and s["n"] == 3
    assert metrics.spread([]) == {"mean": None, "std": None, "min": None, "max": None, "n": 0}
