"""Rewards: verifiers and shaping terms as TRL reward functions. The only module that knows TRL's reward signature.

``score(completions, answers, verifier_names)`` is the ONE function that judges a completion, for training
rewards and for evaluation alike (evaluate.py and ppo.py call it), so they can never disagree on "correct".
It runs each call in ``verifiers.pool`` (worker processes with a hard wall-clock limit per call, safe from TRL's
threads and its asyncio loop).

``build_reward_funcs(names, **settings)`` turns recipe names into TRL reward functions
``f(prompts, completions, completion_ids, **columns) -> list[float | None]``:

* a verifier name (``math``, ``program``, any ``@register``-ed or ``"module:attr"`` name) scores the rows whose
  ``verifier`` column names it (all rows when there is no such column) and returns ``None`` ("cannot judge") for
  the others, so ``[math, program]`` on mixed data needs no dispatch code; ``correct`` scores every row with the
  checker its own ``verifier`` column names;
* shaping terms (``SHAPING``): ``format``, ``length`` (Kimi k1.5 group lambda), ``shorter_better``
  (ShorterBetter), ``cosine`` (cosine-scaled length), ``overlong`` (DAPO soft overlong punishment).
  Correctness-aware terms reuse the verdicts of the same batch (each completion is verified once per step).
  The group terms gather lengths across ranks, since a prompt's group may be split over processes.

Timeouts and verifier exceptions are counted, logged per reason through TRL's ``log_metric``
(``verifier/<reason>`` = fraction of the batch) and given ``fallback`` (default 0) — or raise ``RewardError`` when
``strict``. Nothing is swallowed silently. ``warmup={"length": 50}`` keeps a term at 0 until optimizer step 50
(TRL passes ``trainer_state``).

Left out: reward models (pass a TRL reward model yourself), async reward functions (the pool already runs
verifiers in parallel), and per-token rewards.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from typing import Callable, Sequence

from verifiers import UnknownVerifierError, Verdict, available, get_verifier

logger = logging.getLogger(__name__)

FAILURE_REASONS = ("timeout", "error")  # verdicts the pool produces for a limit hit / a raising verifier


class RewardError(RuntimeError):
    """A verifier failed while `strict` is set."""


class RewardConfigError(ValueError):
    """A recipe's reward settings are inconsistent (raised before training)."""


def completion_text(completion) -> str:
    """A completion as plain text: TRL passes strings, or a list of chat messages for conversational prompts."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(m.get("content", "") if isinstance(m, dict) else str(m) for m in completion)
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return str(completion)


def check_verifiers(names) -> None:
    """Resolve every name now, so a typo fails before training with the list of available verifiers."""
    for name in sorted(set(names)):
        get_verifier(name)  # raises UnknownVerifierError listing available()


def score(completions: Sequence, answers: Sequence[str], verifier_names, timeout: float | None = None,
          *, workers: int | None = None) -> list[Verdict]:
    """Judge each completion against its gold answer with its verifier, each call under a hard time limit.

    ``verifier_names`` is one name for all rows or one name per row. A call over its limit gives
    ``Verdict(0.0, "timeout")``, a raising verifier ``Verdict(None, "error")`` (the pool's contract).
    """
    texts = [completion_text(c) for c in completions]
    names = [verifier_names] * len(texts) if isinstance(verifier_names, str) else list(verifier_names)
    if not (len(texts) == len(answers) == len(names)):
        raise ValueError(f"score: {len(texts)} completions, {len(answers)} answers, {len(names)} verifier names")
    if not texts:
        return []
    check_verifiers(names)
    from verifiers.pool import score_batch  # imported late: the pool starts worker processes on first use

    return score_batch(names, texts, [str(a) for a in answers], timeout=timeout, workers=workers)


# ---------------------------------------------------------------- shaping terms (pure functions of one batch)

SHAPING: dict[str, Callable] = {}


def register_shaping(name: str, *, needs_correct: bool = False, group: bool = False):
    """Register a shaping term ``f(texts, lengths, correct, groups, cfg) -> list[float]``."""

    def deco(fn):
        fn.needs_correct, fn.group = needs_correct, group
        SHAPING[name] = fn
        return fn

    return deco


def _boxed_spans(text: str) -> list[tuple[int, int]] | None:
    """(start, end) of every \\boxed{...}/\\fbox{...}; None if one is unclosed."""
    spans, i = [], 0
    while True:
        j = min((k for k in (text.find("\\boxed{", i), text.find("\\fbox{", i)) if k >= 0), default=-1)
        if j < 0:
            return spans
        depth, k = 0, text.index("{", j)
        while k < len(text):
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            if depth == 0:
                break
            k += 1
        if depth:
            return None
        spans.append((j, k + 1))
        i = k + 1


def format_ok(text: str, require_think: bool = False) -> bool:
    """One final \\boxed{} answer; <think>...</think> optional (or required), well formed, before the answer.

    >>> format_ok("2+3=5. \\\\boxed{5}"), format_ok("\\\\boxed{4} no, \\\\boxed{5}"), format_ok("\\\\boxed{5} then more")
    (True, False, False)
    >>> format_ok("<think>2+3=5</think> \\\\boxed{5}", require_think=True), format_ok("5", require_think=False)
    (True, False)
    """
    t = text.strip()
    n_open, n_close = t.count("<think>"), t.count("</think>")
    if require_think or n_open or n_close:
        if n_open != 1 or n_close != 1 or not t.startswith("<think>"):
            return False
        body_start = t.index("</think>") + len("</think>")
    else:
        body_start = 0
    spans = _boxed_spans(t)
    if not spans or len(spans) != 1 or spans[0][0] < body_start:
        return False
    tail = t[spans[0][1]:]
    return all(ch in " \t\n.$)]\\" for ch in tail)  # only closing math delimiters / punctuation after it


@register_shaping("format")
def format_reward(texts, lengths, correct, groups, cfg):
    return [1.0 if format_ok(t, cfg.get("format_require_think", False)) else 0.0 for t in texts]


def _group_index(groups):
    idx: dict = {}
    for i, g in enumerate(groups):
        idx.setdefault(g, []).append(i)
    return idx.values()


@register_shaping("length", needs_correct=True, group=True)
def length_reward(texts, lengths, correct, groups, cfg):
    """Kimi k1.5 length reward, lambda = 0.5 - (len - min)/(max - min) over the prompt's group, given to correct
    completions only (Kimi also gives wrong ones min(0, lambda); gating keeps "short and wrong" from beating
    "long and wrong").

    >>> length_reward(None, [10, 20, 30, 5], [True, True, False, False], ["a", "a", "a", "a"], {})
    [0.3, -0.1, 0.0, 0.0]
    """
    out = [0.0] * len(lengths)
    for idx in _group_index(groups):
        lo, hi = min(lengths[i] for i in idx), max(lengths[i] for i in idx)
        for i in idx:
            if correct[i] and hi > lo:
                out[i] = round(0.5 - (lengths[i] - lo) / (hi - lo), 6)
    return out


@register_shaping("shorter_better", needs_correct=True, group=True)
def shorter_better_reward(texts, lengths, correct, groups, cfg):
    """ShorterBetter: the shortest correct completion of the group sets the Sample Optimal Length (SOL); a correct
    completion gets -(len - SOL)/SOL, clipped to [-1, 0]; wrong ones get 0 (gated, see `length`).

    >>> shorter_better_reward(None, [10, 15, 40, 5], [True, True, True, False], ["a"] * 4, {})
    [0.0, -0.5, -1.0, 0.0]
    """
    out = [0.0] * len(lengths)
    for idx in _group_index(groups):
        ok = [lengths[i] for i in idx if correct[i]]
        if not ok:
            continue
        sol = max(min(ok), 1)
        for i in idx:
            if correct[i]:
                out[i] = max(-1.0, -(lengths[i] - sol) / sol)
    return out


@register_shaping("cosine", needs_correct=True)
def cosine_reward(texts, lengths, correct, groups, cfg):
    """Cosine-scaled length reward (Yeo et al. 2025, open-r1's `cosine`): correct completions get more the shorter
    they are (max_value_correct at length 0 down to min_value_correct at max_len); wrong ones get less the
    shorter they are (min_value_wrong at 0 up to max_value_wrong at max_len), so short-and-wrong ranks lowest.

    >>> cosine_reward(None, [0, 100, 0, 100], [True, True, False, False], None, {"cosine_max_len": 100})
    [1.0, 0.5, -1.0, -0.5]
    """
    max_len = cfg.get("cosine_max_len") or cfg.get("max_completion_length") or max(max(lengths), 1)
    out = []
    for n, ok in zip(lengths, correct):
        cos = math.cos(min(n / max_len, 1.0) * math.pi)
        if ok:
            lo, hi = cfg.get("cosine_min_value_correct", 0.5), cfg.get("cosine_max_value_correct", 1.0)
        else:
            lo, hi = cfg.get("cosine_max_value_wrong", -0.5), cfg.get("cosine_min_value_wrong", -1.0)
        out.append(round(lo + 0.5 * (hi - lo) * (1.0 + cos), 6))
    return out


@register_shaping("overlong")
def overlong_reward(texts, lengths, correct, groups, cfg):
    """DAPO soft overlong punishment: 0 up to max_completion_length - buffer, then linear down to -factor.

    >>> overlong_reward(None, [50, 60, 70, 80], None, None, {"max_completion_length": 80, "overlong_buffer_len": 20})
    [0.0, 0.0, -0.5, -1.0]
    """
    l_max = cfg.get("max_completion_length")
    if not l_max:
        raise ValueError("the `overlong` reward needs max_completion_length")
    buf, factor = max(int(cfg.get("overlong_buffer_len", 64)), 1), float(cfg.get("overlong_penalty_factor", 1.0))
    expected = l_max - buf
    return [0.0 if n <= expected else (-factor if n >= l_max else (expected - n) / buf * factor) for n in lengths]


# ---------------------------------------------------------------- TRL adapters


def _gather(obj):
    """all_gather_object across ranks when torch.distributed is up (all ranks call reward funcs in the same order)."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            out = [None] * dist.get_world_size()
            dist.all_gather_object(out, obj)
            return out, dist.get_rank()
    except (ImportError, RuntimeError):
        pass
    return [obj], 0


class _BatchScorer:
    """Verdicts for the current batch, shared by all reward funcs of one build (each completion verified once)."""

    def __init__(self, cfg):
        self.cfg, self.counts, self._last = cfg, Counter(), (None, None)

    def verdicts(self, texts, answers, names, log_metric=None) -> list[Verdict]:
        key = (tuple(texts), tuple(answers), tuple(names))
        if self._last[0] == key:
            return self._last[1]
        verdicts = score(texts, answers, names, timeout=self.cfg.get("timeout"), workers=self.cfg.get("workers"))
        reasons = Counter(v.reason for v in verdicts)
        self.counts.update(reasons)
        if log_metric is not None:
            for reason, k in sorted(reasons.items()):
                log_metric(f"verifier/{reason}", k / len(verdicts))
        failed = [(i, v) for i, v in enumerate(verdicts) if v.reason in FAILURE_REASONS]
        if failed:
            i, v = failed[0]
            msg = (f"{len(failed)}/{len(verdicts)} verifier calls failed ({dict(Counter(v.reason for _, v in failed))}); "
                   f"first: row {i}, verifier {names[i]!r}, reason {v.reason!r}")
            if self.cfg.get("strict"):
                raise RewardError(msg + " (strict_rewards is set)")
            logger.warning("%s; scored %s (reward_fallback)", msg, self.cfg.get("fallback", 0.0))
        self._last = (key, verdicts)
        return verdicts

    def correct(self, verdicts) -> list[bool]:
        return [v.score is not None and v.score >= 1.0 and v.reason not in FAILURE_REASONS for v in verdicts]


def _columns(kw, cfg):
    if "answer" not in kw or kw["answer"] is None:
        raise RewardError("verifier rewards need an `answer` column in the dataset (the gold answer)")
    row_names = kw.get("verifier")
    has_column = row_names is not None
    row_names = [r or cfg.get("default_verifier", "math") for r in row_names] if has_column else None
    return [str(a) for a in kw["answer"]], row_names, has_column


def _verifier_reward(name: str, scorer: _BatchScorer, cfg):
    def reward(prompts=None, completions=None, completion_ids=None, **kw):
        texts = [completion_text(c) for c in completions]
        answers, row_names, has_column = _columns(kw, cfg)
        if name == "correct":
            names, applies = row_names or [cfg.get("default_verifier", "math")] * len(texts), [True] * len(texts)
        else:
            names = row_names if has_column else [name] * len(texts)
            applies = [r == name for r in names]
        verdicts = scorer.verdicts(texts, answers, names, kw.get("log_metric"))
        fallback = float(cfg.get("fallback", 0.0))
        return [None if not ok else fallback if v.reason in FAILURE_REASONS else v.score
                for ok, v in zip(applies, verdicts)]

    return reward


def _shaping_reward(name: str, term, scorer: _BatchScorer, cfg):
    def reward(prompts=None, completions=None, completion_ids=None, **kw):
        texts = [completion_text(c) for c in completions]
        lengths = [len(ids) for ids in completion_ids] if completion_ids is not None else [len(t) for t in texts]
        correct = None
        if term.needs_correct:
            answers, row_names, _ = _columns(kw, cfg)
            names = row_names or [cfg.get("default_verifier", "math")] * len(texts)
            correct = scorer.correct(scorer.verdicts(texts, answers, names, kw.get("log_metric")))
        groups = [json.dumps(p, sort_keys=True, default=str) for p in prompts] if prompts is not None else ["all"] * len(texts)
        if not term.group:
            return term(texts, lengths, correct, groups, cfg)
        # A prompt's group may be split across processes: compute on the global batch, return the local slice.
        parts, rank = _gather((lengths, correct, groups))
        all_l, all_c, all_g = ([x for p in parts for x in p[j]] for j in range(3))
        start = sum(len(p[0]) for p in parts[:rank])
        return term(texts, all_l, all_c, all_g, cfg)[start:start + len(texts)]

    return reward


def _with_warmup(fn, steps: int):
    def reward(*args, **kw):
        state = kw.get("trainer_state")
        if state is not None and state.global_step < steps:
            n = len(kw["completions"])
            return [0.0] * n
        return fn(*args, **kw)

    return reward


def parse_warmup(items) -> dict[str, int]:
    """['length=50'] or {'length': 50} -> {'length': 50}."""
    if isinstance(items, dict):
        return {str(k): int(v) for k, v in items.items()}
    out = {}
    for item in items or []:
        if str(item).strip().lower() in ("", "none"):  # `--reward_warmup none` clears a recipe's list
            continue
        name, sep, steps = str(item).partition("=")
        if not sep or not steps.strip().isdigit():
            raise RewardConfigError(f"reward_warmup entries are NAME=STEPS (e.g. 'length=50'), got {item!r}")
        out[name.strip()] = int(steps)
    return out


def build_reward_funcs(names: Sequence[str], *, default_verifier: str = "math", timeout: float | None = None,
                       workers: int | None = None, fallback: float = 0.0, strict: bool = False, warmup=None,
                       max_completion_length: int | None = None, **shaping_cfg) -> list[Callable]:
    """Reward functions for TRL's GRPOTrainer (and rldistill's PPO), one per name, in order.

    Unknown names fail here, before any training, listing the available verifiers and shaping terms.
    ``shaping_cfg``: format_require_think, cosine_{min,max}_value_{wrong,correct}, cosine_max_len,
    overlong_buffer_len, overlong_penalty_factor.
    """
    if not names:
        raise RewardConfigError("reward_funcs is empty: name at least one verifier or shaping term")
    cfg = dict(shaping_cfg, default_verifier=default_verifier, timeout=timeout, workers=workers,
               fallback=fallback, strict=strict, max_completion_length=max_completion_length)
    warmup = parse_warmup(warmup)
    scorer = _BatchScorer(cfg)
    funcs = []
    for name in names:
        if name in SHAPING:
            term = SHAPING[name]
            if term.needs_correct:
                check_verifiers([default_verifier])
            if name == "overlong" and not max_completion_length:
                raise RewardConfigError("the `overlong` reward needs max_completion_length")
            fn = _shaping_reward(name, term, scorer, cfg)
        else:
            if name != "correct":
                try:
                    get_verifier(name)
                except UnknownVerifierError as e:
                    raise UnknownVerifierError(
                        f"unknown reward {name!r}: verifiers available: {available()} (or 'package.module:attr', or "
                        f"`correct` for each row's own verifier); shaping terms: {sorted(SHAPING)}"
                    ) from e
            else:
                check_verifiers([default_verifier])
            fn = _verifier_reward(name, scorer, cfg)
        if name in warmup:
            fn = _with_warmup(fn, warmup[name])
        fn.__name__ = fn.__qualname__ = name  # TRL logs rewards/<__name__>/mean
        fn.scorer = scorer
        funcs.append(fn)
    unknown_warm = set(warmup) - set(names)
    if unknown_warm:
        raise RewardConfigError(f"reward_warmup names {sorted(unknown_warm)} that are not in reward_funcs {list(names)}")
    return funcs


def reward_funcs_from_args(script_args, training_args) -> list[Callable]:
    """The recipe's reward functions: GRPOScriptArguments fields + max_completion_length from the trainer config."""
    a = script_args
    return build_reward_funcs(
        a.reward_funcs, default_verifier=a.default_verifier, timeout=a.verifier_timeout, workers=a.verifier_workers,
        fallback=a.reward_fallback, strict=a.strict_rewards, warmup=a.reward_warmup,
        max_completion_length=getattr(training_args, "max_completion_length", None),
        format_require_think=a.format_require_think, cosine_min_value_wrong=a.cosine_min_value_wrong,
        cosine_max_value_wrong=a.cosine_max_value_wrong, cosine_min_value_correct=a.cosine_min_value_correct,
        cosine_max_value_correct=a.cosine_max_value_correct, cosine_max_len=a.cosine_max_len,
        overlong_buffer_len=a.overlong_buffer_len, overlong_penalty_factor=a.overlong_penalty_factor,
    )
