"""rldistill.rewards: shaping terms, verifier rewards through the pool, failure accounting, TRL's signature."""

import asyncio
import doctest
import threading
import time
from types import SimpleNamespace

import pytest

from rldistill import rewards
from rldistill.rewards import RewardError, build_reward_funcs, format_ok, score
from verifiers import UnknownVerifierError, Verdict

# User verifiers for the tests, named "test_rewards:_exact" etc.: resolved by name in the pool's worker processes,
# which see this directory on sys.path (pytest puts it there at collection, before any pool starts).
HELPERS = "test_rewards"


def _exact(completion, answer):
    words = completion.strip().split()
    return Verdict(float(bool(words) and words[-1] == answer.strip()), "ok")


def _slow(completion, answer):
    time.sleep(30)
    return Verdict(1.0, "ok")


def _boom(completion, answer):
    raise ValueError("user verifier bug")


def _unsure(completion, answer):
    return Verdict(None, "gold_unparsable")


@pytest.fixture
def helpers():
    return HELPERS


def call(fn, completions, answers, verifier=None, prompts=None, step=10, ids=None, metrics=None):
    """Call a reward function exactly as TRL 1.16's GRPOTrainer._calculate_rewards does."""
    n = len(completions)
    kw = dict(answer=list(answers), id=[str(i) for i in range(n)],
              trainer_state=SimpleNamespace(global_step=step), log_extra=lambda c, v: None,
              log_metric=(lambda name, v: metrics.setdefault(name, []).append(v)) if metrics is not None else (lambda *a: None))
    if verifier is not None:
        kw["verifier"] = list(verifier)
    return fn(prompts=prompts or ["p"] * n, completions=list(completions),
              completion_ids=ids or [[0] * len(c) for c in completions], **kw)


def test_doctests():
    assert doctest.testmod(rewards).failed == 0


@pytest.mark.parametrize("text,think,ok", [
    ("so 5. \\boxed{5}", False, True),
    ("\\boxed{5}.", False, True),
    ("$\\boxed{\\frac{1}{2}}$", False, True),
    ("\\boxed{4} wait \\boxed{5}", False, False),   # two answers
    ("\\boxed{5} and then more words", False, False),  # not final
    ("the answer is 5", False, False),
    ("\\boxed{5", False, False),                     # unclosed
    ("<think>3+2</think> \\boxed{5}", False, True),  # optional think, well formed
    ("<think>3+2 \\boxed{5}", False, False),          # unclosed think
    ("<think>a</think><think>b</think>\\boxed{5}", False, False),
    ("<think>\\boxed{5}</think> so 5", False, False),  # answer inside the thoughts only
    ("\\boxed{5}", True, False),                      # think required
    ("<think>3+2</think>\n\\boxed{5}", True, True),
])
def test_format(text, think, ok):
    assert format_ok(text, require_think=think) is ok


@pytest.mark.parametrize("term", ["length", "shorter_better"])
def test_length_terms_are_gated_on_correctness(term):
    """Wrong completions get exactly 0, whatever their length: short-and-wrong never beats long-and-wrong."""
    fn = rewards.SHAPING[term]
    lengths, correct = [3, 50, 7, 90, 20], [False, False, True, True, False]
    out = fn(None, lengths, correct, ["g"] * 5, {})
    assert [out[i] for i in (0, 1, 4)] == [0.0, 0.0, 0.0]
    assert out[2] > out[3]  # among correct ones, shorter is better


def test_cosine_orders_wrong_by_length_and_correct_above_wrong():
    out = rewards.cosine_reward(None, [10, 90, 10, 90], [False, False, True, True], None, {"cosine_max_len": 100})
    assert out[0] < out[1] < 0 < out[3] < out[2]


def test_groups_are_per_prompt():
    out = rewards.length_reward(None, [10, 30, 100, 300], [True] * 4, ["a", "a", "b", "b"], {})
    assert out == [0.5, -0.5, 0.5, -0.5]


def test_unknown_reward_name_lists_what_exists():
    with pytest.raises(UnknownVerifierError) as e:
        build_reward_funcs(["maths"])
    msg = str(e.value)
    assert "'maths'" in msg and "math" in msg and "program" in msg and "shorter_better" in msg


@pytest.mark.parametrize("kwargs,needle", [
    (dict(names=["math"], warmup=["length=5"]), "not in reward_funcs"),
    (dict(names=["math"], warmup=["length"]), "NAME=STEPS"),
    (dict(names=["overlong"]), "max_completion_length"),
    (dict(names=[]), "empty"),
])
def test_bad_reward_settings_fail_at_build(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        build_reward_funcs(kwargs.pop("names"), **kwargs)


def test_names_become_trl_metric_names():
    funcs = build_reward_funcs(["math", "format", "length"])
    assert [f.__name__ for f in funcs] == ["math", "format", "length"]


def test_warmup_keeps_a_term_off_until_its_step():
    (fmt,) = build_reward_funcs(["format"], warmup=["format=3"])
    done = ["\\boxed{1}"] * 2
    assert call(fmt, done, ["1", "1"], step=2) == [0.0, 0.0]
    assert call(fmt, done, ["1", "1"], step=3) == [1.0, 1.0]


def test_math_reward_end_to_end():
    math_fn, length_fn = build_reward_funcs(["math", "length"])
    comps = ["3+4=7 so \\boxed{7}", "it is \\boxed{8}", "\\boxed{7}"]
    assert call(math_fn, comps, ["7"] * 3, verifier=["math"] * 3) == [1.0, 0.0, 1.0]
    ids = [[0] * 20, [0] * 5, [0] * 10]
    lengths = call(length_fn, comps, ["7"] * 3, verifier=["math"] * 3, ids=ids)
    assert lengths[1] == 0.0 and lengths[2] > lengths[0]  # wrong gets nothing; shorter correct gets more


def test_each_completion_is_verified_once_per_batch(monkeypatch):
    calls = []
    real = rewards.score
    monkeypatch.setattr(rewards, "score", lambda *a, **k: calls.append(1) or real(*a, **k))
    funcs = build_reward_funcs(["math", "length", "cosine"], max_completion_length=64)
    for f in funcs:
        call(f, ["\\boxed{7}", "\\boxed{1}"], ["7", "7"], verifier=["math", "math"])
    assert len(calls) == 1


def test_row_verifier_column_dispatches(helpers):
    """[math, <user>] on mixed rows: each reward judges its own rows and says None ("cannot judge") for others."""
    user = f"{helpers}:_exact"
    math_fn, user_fn, correct_fn = build_reward_funcs(["math", user, "correct"])
    comps, answers, names = ["\\boxed{7}", "answer 9", "\\boxed{2}"], ["7", "9", "3"], ["math", user, "math"]
    assert call(math_fn, comps, answers, verifier=names) == [1.0, None, 0.0]
    assert call(user_fn, comps, answers, verifier=names) == [None, 1.0, None]
    assert call(correct_fn, comps, answers, verifier=names) == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("which,reason,limit", [("slow", "timeout", 2.0), ("boom", "error", 15.0)])
def test_failures_are_counted_logged_and_given_the_fallback(helpers, which, reason, limit):
    (fn,) = build_reward_funcs([f"{helpers}:_{which}"], timeout=limit, fallback=-0.5)
    metrics = {}
    t0 = time.monotonic()
    out = call(fn, ["x", "y"], ["1", "1"], metrics=metrics)
    assert time.monotonic() - t0 < 25  # the hard limit holds (the slow verifier sleeps 30 s)
    assert out == [-0.5, -0.5]
    assert metrics[f"verifier/{reason}"] == [1.0]
    assert fn.scorer.counts[reason] == 2


def test_strict_fails_the_run(helpers):
    (fn,) = build_reward_funcs([f"{helpers}:_boom"], strict=True)
    with pytest.raises(RewardError, match="strict"):
        call(fn, ["x"], ["1"])


def test_cannot_judge_is_none_not_zero(helpers):
    (fn,) = build_reward_funcs([f"{helpers}:_unsure"])
    assert call(fn, ["x"], ["1"]) == [None]


def test_hard_limit_from_a_thread_and_an_event_loop(helpers):
    """TRL calls sync rewards from the training thread and async ones on a daemon event loop: both must be bounded."""
    (fn,) = build_reward_funcs([f"{helpers}:_slow"], timeout=1.0)
    results = {}

    def in_thread():
        results["thread"] = call(fn, ["a"], ["1"])

    async def in_loop():
        return call(fn, ["b"], ["1"])

    t0 = time.monotonic()
    th = threading.Thread(target=in_thread)
    th.start()
    th.join(timeout=25)
    results["loop"] = asyncio.run(in_loop())
    assert time.monotonic() - t0 < 40
    assert results == {"thread": [0.0], "loop": [0.0]}


def test_score_is_the_shared_judge():
    verdicts = score(["\\boxed{7}", [{"role": "assistant", "content": "\\boxed{8}"}]], ["7", "7"], "math")
    assert [v.score for v in verdicts] == [1.0, 0.0]
    with pytest.raises(ValueError, match="2 completions, 1 answers"):
        score(["a", "b"], ["1"], "math")
    with pytest.raises(UnknownVerifierError, match="available"):
        score(["a"], ["1"], "nope")
