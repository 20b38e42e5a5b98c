"""Well-formed compression on real Sky-T1 traces (rldistill.quality, rldistill.render): each property on its own."""

import re
from pathlib import Path

import pytest

from rldistill.compress import _text_prompt, compress_dataset
from rldistill.compressors import Example, get_compressor
from rldistill.quality import violations

SKY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "skythought_longcot_traces"
MATH500 = SKY / "math500_sky-t1-math-correct-5k-27b.jsonl"
METHODS = ["none", "answer_only", "rule", "steps", "verified"]
pytestmark = pytest.mark.skipif(not MATH500.exists(), reason=f"{MATH500} not present (shared data beside the repo)")
MARKERS = re.compile(r"<\|(?:begin|end)_of_(?:thought|solution)\|>")


@pytest.fixture(scope="module")
def sky():
    from rldistill.data import load_traces

    return load_traces(str(MATH500)).select(range(30))


def compress(row, method):
    ex = Example(row["completion"], _text_prompt(row["prompt"]), str(row["answer"]))
    return str(get_compressor(method)(ex, granularity="equations" if method == "verified" else "compact"))


@pytest.fixture(scope="module")
def outputs(sky):
    return {m: compress_dataset(sky, m, progress=False) for m in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_well_formed_on_real_rows(outputs, method):
    ds, st = outputs[method]
    assert st["rows_out"] > 15 and st["dropped_after_compression"] == 0
    assert st["violations"]["total"] == 0, st["violations"]


@pytest.mark.parametrize("method", METHODS)
def test_no_text_is_rewritten(sky, outputs, method):
    # independent of the checker: every output line is a line of the teacher's trace, or a run of its sentences
    src = {r["id"]: r["completion"] for r in sky}
    for r in outputs[method][0]:
        for line in MARKERS.sub("\n", r["completion"]).split("\n"):
            assert line.strip() in src[r["id"]], (method, r["id"], line)


def test_the_checker_catches_a_cut_unit_a_case_change_and_a_dangling_lead_in(sky):
    src = sky[2]["completion"]  # f(x) = (3x-2)/(x-2); f(-2) + f(-1) + f(0)
    line = "f(-2) = [3*(-2) - 2]/(-2 - 2) = (-6 - 2)/(-4) = (-8)/(-4) = 2."
    assert line in src and not violations(src, src)
    cut = violations(src, src.replace(line, "-2 - 2) = (-6 - 2)/(-4) = (-8)/(-4) = 2."))
    assert cut["cut"] == 1 and cut["unbalanced"] == 1
    assert violations(src, src.replace(line, "F" + line[1:]))["rewritten"] == 1
    lead = "Now, we have:\n\n- \\( f(-2) = 2 \\)"
    assert lead in src and violations(src, src.replace(lead, "Now, we have:"))["lead_in"] == 1
    assert violations(src, src.replace("Now, we have:", ""))["lead_in"] == 1  # the unit without its lead-in


@pytest.mark.parametrize("method", ["rule", "steps", "verified", "answer_only"])
def test_a_lead_in_goes_with_its_unit(sky, method):
    out = compress(sky[3], method)  # the divisors of 196
    lead = "Putting it all together, the prime factorization of 196 is:"
    assert (lead in out) == ("196 = 2 × 2 × 7 × 7" in out)
    if lead in out:
        assert out.index(lead) < out.index("196 = 2 × 2 × 7 × 7")
    assert not re.search(r":\s*(?:\n\s*)*(?:<\|end_of|$)", MARKERS.sub("", out) + "\n<|end_of")  # nothing ends on a colon


@pytest.mark.parametrize("method", ["steps", "verified"])
def test_a_factorisation_used_later_is_kept_and_the_dead_end_dropped(sky, method):
    out = compress(sky[3], method)
    assert "196 = 2² × 7²" in out and "(2+1)(2+1) = 3 × 3 = 9" in out
    assert "next smallest prime, which is 3" not in out


@pytest.mark.parametrize("method", ["steps", "verified"])
def test_named_results_are_kept_with_their_computation(sky, method):
    out = compress(sky[2], method)  # f(-2), f(-1), f(0) each computed before they are added
    for name in ("f(-2)", "f(-1)", "f(0)"):
        assert re.search(re.escape(name) + r" = [\\\[(]", out), name
    polar = compress(sky[0], method)  # (0,3) in polar coordinates: r and θ both derived, not "3 * 1 = 3" alone
    assert "\\sqrt{0^2 + 3^2}" in polar or "√(0² + 3²)" in polar
    assert "\\theta = \\frac{\\pi}{2}" in polar or "θ = π/2" in polar


SLIP = (" Let me see.\nFirst, I subtract 3:\nSo 9-3=5? Hmm, wait, that's not right. Let me redo it.\n9-3=6\n"
        "Finally, I add 3:\n6+3=9\nSo the answer should be 9.\n\n\\boxed{9}")


@pytest.mark.parametrize("method", ["steps", "verified"])
def test_a_lead_in_before_a_false_start_stays_with_the_corrected_step(method):
    """'First, I subtract 3:' introduces an attempt that starts with a slip; deleting the slip keeps the decision
    next to the computation it leads into, instead of dropping it (the embedded teacher's shape, and R1's)."""
    ex = Example(SLIP, prompt="Compute 9-3+3.", answer="9")
    out = str(get_compressor(method)(ex))
    assert "First, I subtract 3:\n9-3=6" in out and "9-3=5" not in out and "redo" not in out
    assert not violations(SLIP, out)


def test_the_checker_still_catches_a_lead_in_left_without_its_step():
    assert violations(SLIP, "First, I subtract 3:\nFinally, I add 3:\n6+3=9\n\\boxed{9}")["lead_in"] == 1
    assert violations(SLIP, "9-3=6\nFinally, I add 3:\n6+3=9\n\\boxed{9}")["lead_in"] == 1


def test_roles_are_read_with_the_rows_prompt():
    """'Hmm, 7+5=12.' is a slip only given the question (7 books, subtract 5): without the prompt the segmenter
    reads it as a computation, so the checker needs the prompt the compressor had to see the lead-in as tied."""
    prompt = "Question: Ella has 7 books. Then she gives 5 away. How many books does Ella have now?"
    src = (" Okay.\nFirst, I subtract 5:\nHmm, 7+5=12. No wait, that's the wrong operation: here I need to "
           "subtract 5, not add it.\n7-5=2\nSo the answer should be 2.\n\n\\boxed{2}")
    out = "First, I subtract 5:\n7-5=2\n\\boxed{2}"
    assert violations(src, out)["lead_in"] == 1
    assert not violations(src, out, prompt)
    _, stats = compress_dataset([{"id": "a", "prompt": prompt, "completion": src, "answer": "2"}], method="verified",
                                progress=False)
    assert stats["violations"]["total"] == 0
