"""Evaluation metrics: plain functions of scored generations, no model here.

``evaluate.py`` generates and scores; this module turns the scores and token
counts into the numbers the report shows:

- ``pass_at_k``: the unbiased estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k);
- ``token_stats``: mean completion tokens overall / on correct / on incorrect,
  tokens per solved problem, accuracy per 1,000 tokens;
- ``robustness``: accuracy on the base suite minus accuracy on each prompt
  style, and the worst style;
- ``marker_stats``: how often verbose markers ("wait", "double-check",
  "let me") appear;
- ``ngram_overlap``: the share of a completion's word n-grams that also occur
  in the teacher's trace for the same problem (high accuracy with low overlap
  means the student reasons in its own words rather than reciting);
- ``paired_bootstrap``: a confidence interval for the difference between two
  models on the same problems, resampling problems (pairs) with replacement.

Deliberately left out: anything that needs a model or a verifier (see
``evaluate.py``). Run the tests with ``pytest tests/test_metrics.py``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

# Phrases that mark imitation of a verbose teacher rather than reasoning that
# moves toward the answer. Word boundaries so that "awaits" does not count.
VERBOSE_MARKERS = {
    "wait": re.compile(r"\bwait\b", re.IGNORECASE),
    "double-check": re.compile(r"\bdouble[- ]?check", re.IGNORECASE),
    "let me": re.compile(r"\blet me\b", re.IGNORECASE),
}

_WORD = re.compile(r"\w+|[^\w\s]")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct.

    The product form avoids huge binomials: 1 - prod_{i=n-c+1..n} (1 - k/i).

    >>> pass_at_k(10, 0, 1), pass_at_k(10, 10, 5), round(pass_at_k(4, 1, 2), 4)
    (0.0, 1.0, 0.5)
    """
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(correct_per_problem: Sequence[Sequence[bool]], k: int) -> float:
    """pass@k averaged over problems, each with its own list of sample outcomes."""
    vals = [pass_at_k(len(s), int(sum(bool(x) for x in s)), k) for s in correct_per_problem]
    return float(np.mean(vals)) if vals else float("nan")


def _mean(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def token_stats(correct: Sequence[bool], tokens: Sequence[int]) -> dict:
    """Accuracy and token cost of one completion per problem.

    ``tokens_per_solved`` is all tokens spent divided by problems solved (what
    one correct answer costs); ``accuracy_per_1k_tokens`` is accuracy divided
    by mean tokens in thousands. Both are ``None`` when undefined.
    """
    if len(correct) != len(tokens):
        raise ValueError(f"{len(correct)} outcomes but {len(tokens)} token counts")
    correct = [bool(c) for c in correct]
    tokens = [int(t) for t in tokens]
    n, solved = len(correct), sum(correct)
    acc = solved / n if n else float("nan")
    mean_tokens = _mean(tokens)
    return {
        "accuracy": acc,
        "n": n,
        "solved": solved,
        "mean_tokens": mean_tokens,
        "mean_tokens_correct": _mean([t for t, c in zip(tokens, correct) if c]),
        "mean_tokens_incorrect": _mean([t for t, c in zip(tokens, correct) if not c]),
        "tokens_per_solved": (sum(tokens) / solved) if solved else None,
        "accuracy_per_1k_tokens": (acc / (mean_tokens / 1000.0)) if mean_tokens else None,
    }


def robustness(accuracy_by_suite: dict[str, float], base: str, styles: Iterable[str]) -> dict:
    """Accuracy on ``base`` minus accuracy on each style; the worst style is
    the one with the lowest accuracy (the largest gap).

    >>> r = robustness({"eval": 0.8, "styles/a": 0.7, "styles/b": 0.5}, "eval", ["styles/a", "styles/b"])
    >>> r["worst_style"], round(r["worst_gap"], 2)
    ('styles/b', 0.3)
    """
    styles = [s for s in styles if s in accuracy_by_suite]
    if base not in accuracy_by_suite or not styles:
        return {"base": base, "gaps": {}, "worst_style": None, "worst_style_accuracy": None, "worst_gap": None}
    b = accuracy_by_suite[base]
    gaps = {s: b - accuracy_by_suite[s] for s in styles}
    worst = min(styles, key=lambda s: (accuracy_by_suite[s], s))
    return {
        "base": base,
        "gaps": gaps,
        "worst_style": worst,
        "worst_style_accuracy": accuracy_by_suite[worst],
        "worst_gap": gaps[worst],
        "mean_style_accuracy": float(np.mean([accuracy_by_suite[s] for s in styles])),
    }


def marker_counts(text: str) -> dict[str, int]:
    return {name: len(rx.findall(text)) for name, rx in VERBOSE_MARKERS.items()}


def marker_stats(texts: Sequence[str], tokens: Sequence[int] | None = None) -> dict:
    """Verbose markers per completion, per 1,000 completion tokens, and the
    fraction of completions with at least one marker."""
    counts = [marker_counts(t) for t in texts]
    n = len(texts)
    per_marker = {m: (sum(c[m] for c in counts) / n if n else 0.0) for m in VERBOSE_MARKERS}
    total = sum(sum(c.values()) for c in counts)
    out = {
        "per_completion": per_marker,
        "any_fraction": (sum(1 for c in counts if any(c.values())) / n) if n else 0.0,
        "total_per_completion": total / n if n else 0.0,
    }
    if tokens is not None:
        tok = sum(int(t) for t in tokens)
        out["per_1k_tokens"] = 1000.0 * total / tok if tok else 0.0
    return out


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, the unit of n-gram overlap."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def ngram_overlap(text: str, reference: str, n: int = 4) -> float | None:
    """Fraction of ``text``'s word n-grams (counted with multiplicity, clipped
    like BLEU's modified precision) that also occur in ``reference``.

    ``None`` when ``text`` has fewer than ``n`` words (nothing to compare).

    >>> ngram_overlap("a b c d", "x a b c d y", n=4)
    1.0
    >>> ngram_overlap("a b c d", "d c b a", n=4)
    0.0
    """
    mine = ngrams(words(text), n)
    total = sum(mine.values())
    if total == 0:
        return None
    ref = ngrams(words(reference), n)
    return sum(min(c, ref[g]) for g, c in mine.items()) / total


def mean_overlap(texts: Sequence[str], references: Sequence[str], n: int = 4) -> dict:
    """Mean ``ngram_overlap`` over the pairs that have a reference and enough words."""
    vals = [ngram_overlap(t, r, n) for t, r in zip(texts, references) if r]
    vals = [v for v in vals if v is not None]
    return {"n": n, "mean": _mean(vals), "count": len(vals)}


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0
) -> dict:
    """Difference ``mean(a) - mean(b)`` on the same problems, with a
    percentile confidence interval from resampling problems with replacement
    (both models get the same resampled problems: the pairing is what makes
    the interval tight when the models agree on most problems).

    ``p_value`` is the two-sided bootstrap share of resampled differences on
    the other side of zero.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"paired bootstrap needs two equal-length non-empty vectors, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    d = a - b
    idx = rng.integers(0, len(d), size=(n_boot, len(d)))
    boots = d[idx].mean(axis=1)
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    diff = float(d.mean())
    if diff == 0 and np.all(boots == 0):
        p = 1.0
    else:
        p = float(min(1.0, 2 * min(np.mean(boots <= 0), np.mean(boots >= 0))))
    return {"diff": diff, "low": float(lo), "high": float(hi), "alpha": alpha, "n_boot": n_boot, "p_value": p}


def spread(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation, min and max across seeds."""
    v = [float(x) for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": float(np.mean(v)),
        "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
        "min": min(v),
        "max": max(v),
        "n": len(v),
    }
