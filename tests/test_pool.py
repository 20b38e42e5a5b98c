"""The verifier pool: hard limits from outside, errors as verdicts, any thread or event loop.

Misbehaving verifiers live in tests/fixtures/verifiers/pool_helpers.py and
are resolved by name ('pool_helpers:sleepy') in the workers.
"""

import asyncio
import sys
import threading
import time
from pathlib import Path

import pytest

from verifiers import Verdict
from verifiers.pool import VerifierPool, score_batch

# Workers resolve 'pool_helpers:NAME' by import; the fork server copies sys.path when it
# starts (after collection), so putting the folder on sys.path here is enough.
sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "verifiers"))

H = "pool_helpers:"


@pytest.fixture(scope="module")
def pool():
    with VerifierPool(workers=2, timeout=None) as p:
        yield p


def test_scores_with_a_builtin_by_name(pool):
    assert pool.score("math", ["so \\boxed{2}", "it is 3"], ["2", "2"]) == [
        Verdict(1.0, "ok"),
        Verdict(0.0, "mismatch"),
    ]


def test_per_row_verifier_names(pool):
    out = pool.score(["math", H + "exact"], ["\\boxed{2}", "x"], ["2", "x"])
    assert [v.score for v in out] == [1.0, 1.0]


def test_a_stuck_call_times_out_and_the_rest_still_score(pool):
    start = time.monotonic()
    out = pool.score(H + "sleepy", ["0.05", "30", "0.05", "0.05"], [""] * 4, timeout=1.0)
    assert [v.reason for v in out] == ["ok", "timeout", "ok", "ok"]
    assert out[1] == Verdict(0.0, "timeout")
    assert time.monotonic() - start < 8  # the limit held (slack for a loaded machine)


def test_a_busy_loop_is_killed_from_outside(pool):
    """No signal handler runs inside the worker: the parent kills it."""
    start = time.monotonic()
    assert pool.score(H + "spin", ["", ""], ["", ""], timeout=0.5) == [Verdict(0.0, "timeout")] * 2
    assert time.monotonic() - start < 8
    # the pool replaced the killed workers and still works
    assert pool.score("math", ["\\boxed{7}"], ["7"]) == [Verdict(1.0, "ok")]


@pytest.mark.parametrize(
    "name", ["boom", "crash", "bad_score"], ids=["raises", "worker exits", "returns NaN"]
)
def test_errors_become_error_verdicts(pool, name):
    assert pool.score(H + name, ["1"], ["1"], timeout=5) == [Verdict(None, "error")]
    assert pool.score(H + "exact", ["1"], ["1"]) == [Verdict(1.0, "ok")]


def test_unknown_verifier_is_an_error_verdict(pool):
    assert pool.score("no-such-verifier", ["1"], ["1"], timeout=5) == [Verdict(None, "error")]


def test_the_verifier_timeout_attribute_is_the_default_limit(pool):
    start = time.monotonic()
    out = pool.score(H + "slow_default", ["20"], [""])  # slow_default.timeout = 0.5
    assert out == [Verdict(0.0, "timeout")]
    assert time.monotonic() - start < 8


def test_pool_timeout_overrides_the_attribute():
    with VerifierPool(workers=1, timeout=3.0) as p:
        assert p.score(H + "slow_default", ["1.0"], [""]) == [Verdict(1.0, "ok")]


def test_the_limit_holds_from_a_thread(pool):
    box = {}

    def run():
        box["out"] = pool.score(H + "sleepy", ["30", "0.01"], ["", ""], timeout=1.0)

    t = threading.Thread(target=run)
    start = time.monotonic()
    t.start()
    t.join(20)
    assert not t.is_alive()
    assert [v.reason for v in box["out"]] == ["timeout", "ok"]
    assert time.monotonic() - start < 10


def test_concurrent_threads_share_the_workers(pool):
    outs = [None] * 4

    def run(k):
        outs[k] = pool.score("math", [f"\\boxed{{{k}}}"] * 5, [str(k)] * 5)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(o == [Verdict(1.0, "ok")] * 5 for o in outs)


def test_the_limit_holds_from_an_event_loop(pool):
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        task = asyncio.create_task(ticker())
        out = await pool.ascore(H + "sleepy", ["30", "0.01"], ["", ""], timeout=1.0)
        task.cancel()
        return out, ticks

    start = time.monotonic()
    out, ticks = asyncio.run(main())
    assert [v.reason for v in out] == ["timeout", "ok"]
    assert ticks >= 5  # the loop kept running while the pool waited
    assert time.monotonic() - start < 10


def test_only_plain_values_come_back(pool):
    (v,) = pool.score("math", ["\\boxed{\\sqrt{2}}"], ["\\sqrt{2}"])
    assert type(v) is Verdict and type(v.score) is float and type(v.reason) is str


def test_score_batch_uses_a_shared_pool():
    out = score_batch("math", ["\\boxed{12}", "13"], ["12", "12"], workers=1)
    assert [v.score for v in out] == [1.0, 0.0]


def test_mismatched_lengths_are_rejected(pool):
    with pytest.raises(ValueError):
        pool.score("math", ["1", "2"], ["1"])
    assert pool.score("math", [], []) == []


def test_closed_pool_refuses_work():
    p = VerifierPool(workers=1)
    p.close()
    with pytest.raises(RuntimeError):
        p.score("math", ["1"], ["1"])


@pytest.mark.parametrize(
    "completion",
    ["\\boxed{9^{9^{9^9}}}", "\\boxed{(10^8)!}", "\\boxed{" + "(" * 5000 + "1" + ")" * 5000 + "}", "\\boxed{1/0}"],
    ids=["power tower", "factorial", "nesting", "1/0"],
)
def test_pathological_math_never_takes_down_the_pool(pool, completion):
    (v,) = pool.score("math", [completion], ["1"])
    assert v.score == 0.0 and v.reason != "timeout", v  # the verifier's own guards answered in time
    assert pool.score("math", ["\\boxed{1}"], ["1"]) == [Verdict(1.0, "ok")]


def test_calls_queued_behind_a_stuck_one_still_score(pool):
    """Workers hold several calls at once; killing a stuck one re-sends the calls queued behind it."""
    delays = ["0.05", "30", "0.05", "0.05", "0.05", "0.05", "0.05", "30", "0.05", "0.05"]
    out = pool.score(H + "sleepy", delays, [""] * len(delays), timeout=1.0)
    assert [v.reason for v in out] == ["timeout" if d == "30" else "ok" for d in delays]


def test_worker_start_up_does_not_count_against_the_limit():
    with VerifierPool(workers=1, timeout=0.3) as p:  # a fresh worker takes longer than 0.3 s to start
        assert p.score(H + "exact", ["1"], ["1"]) == [Verdict(1.0, "ok")]
