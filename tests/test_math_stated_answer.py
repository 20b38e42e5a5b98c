"""The math verifier reads the answer a response states, or nothing (issue 19).

A broken or contradicting explicit answer scores 0 with no fallback inside or
after it; the last-number fallback takes only a number that stands alone;
unparseable answers never match; two hypothesis fuzz tests: every "ok" is an
answer the verifier prints back equal to the gold, and a broken or
contradicting answer around the gold never scores. Each call stays under the
verifier's own time limit.
"""

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifiers import Verdict
from verifiers.math_latex import ParseError, parse_answer
from verifiers.math_verifier import judge, math_verifier, string_key


def score(completion, answer):
    return math_verifier(completion, answer).score


# ---------------------------------------------------------------- the stated answer, or nothing (issue 19)
@pytest.mark.parametrize(
    "completion, gold, expected",
    [
        ("The final answer is 15 apples (approximately 1.5)", "1.5", 0.0),  # the stated answer is 15
        ("The answer is \\frac{7}{\\left(", "7", 0.0),  # an unfinished fraction
        ("\\boxed{2^{(}}", "2", 0.0),  # a broken power
        ("0.\\overline{3}!\\left(", "3", 0.0),
        ("The answer is ⍍Ð=0.\\overline{3}", "3", 0.0),  # characters the reader does not know
        ("The answer is x=0.\\overline{3}", "3", 0.0),
        ("The answer is ab=0.\\overline{3}", "1/3", 1.0),  # well-formed: ab is a name, 0.(3) is 1/3
    ],
)
def test_issue_19_broken_or_contradicting_answers_score_zero(completion, gold, expected):
    assert score(completion, gold) == expected


@pytest.mark.parametrize(
    "completion, gold",
    [
        ("\\boxed{2^{(}} so it is 2", "2"),  # a broken box: nothing after it is read
        ("We get 7. The answer is \\frac{7}{", "7"),
        ("It is 12.\n#### 12^{(", "12"),
        ("Answer: \\sqrt{5 \\right)", "5"),
        ("The answer is \\left( 1, 2 ]", "(1, 2]"),  # \left without \right
    ],
)
def test_an_explicit_answer_that_does_not_parse_has_no_fallback(completion, gold):
    assert math_verifier(completion, gold).score == 0.0


def test_an_unevaluated_explicit_answer_is_not_one():
    """The one exception (Math-Verify's own cases): a well-formed sum is no final value, a later number is."""
    assert score("Final answer is $\\sum_{k=0}^n k$. I hope. 42", "42") == 1.0
    assert score("Final answer is $\\sum_{k=0}^n k$. I hope.", "0") == 0.0  # never the k=0 inside it
    assert score("42. Final answer is $\\sum_{k=0}^n k$.", "42") == 0.0  # only what comes after it


@pytest.mark.parametrize(
    "completion, gold",
    [
        ("We add 3 and 4 to get 7 apples", "7"),
        ("so x = 12", "12"),
        ("The rate is 28%.", "28\\%"),
        ("Karla saved 550 gallons of gasoline by driving the hybrid car instead of the SUV.", "550"),
        ("the number is not 10 which is 1,000.99m²", "1000.99"),
        ("The midpoint is (-1,6).", "(-1,6)"),  # a group of plain numbers counts as one
        ("so we get \\frac{55}{3} apples.", "55/3"),
    ],
)
def test_last_number_that_stands_alone_is_read(completion, gold):
    assert math_verifier(completion, gold) == Verdict(1.0, "ok")


@pytest.mark.parametrize(
    "completion, gold",
    [
        ("so we multiply 5 \\times 3", "3"),  # part of an expression
        ("then y = x - 5", "5"),
        ("We have 2^{3", "3"),  # inside an unfinished power
        ("Is it 12?", "12"),  # a question
        ("so 15 apples or so", "15"),  # hedged
        ("maybe 12", "12"),
        ("we have 15 apples (approximately 1.5)", "1.5"),  # a parenthetical
        ("so \\}1/3", "1/3"),  # glued to LaTeX
        ("so it is 7/7yx", "1"),  # a product, not a number with a unit
        ("**\\frac{3}{** so 3", "3"),  # after a brace still open on its line
        ("The sum is $x^2$ and then 12 + x", "12"),  # the last number is in an expression, spans before it are not read
    ],
)
def test_last_number_inside_an_expression_or_hedged_is_not_read(completion, gold):
    assert math_verifier(completion, gold).score == 0.0


@pytest.mark.parametrize("text", ["\\left( 1, 2 ]", "\\frac{7}", "2^", "{1", "1}", "\\sqrt{2", "⍍", "\\text{Evelyn}\\frac{}{}",
                                  "\\right) 3", "᪖"])  # ᪖: a Unicode digit
def test_unparseable_answers_raise_rather_than_read_partly(text):
    with pytest.raises(ParseError):
        parse_answer(text)


def test_unparseable_gold_cannot_be_judged_and_a_malformed_copy_of_the_gold_is_not_it():
    assert math_verifier("\\boxed{1}", "\\left( 1") == Verdict(None, "parse_error")
    assert math_verifier("\\left 7", "7").score == 0.0  # equal as stripped strings, but malformed


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("\\boxed{B^{(}}", 0.0),
        ("The answer is \\frac{B}{\\left(", 0.0),
        ("The answer is (B) or (C)", 0.0),
        ("The answer is (B) because it is the largest.", 1.0),
        ("I pick B.", 1.0),
        ("fÔa×@tÌB", 0.0),  # a capital glued into garbage is not a choice
        ("Answer: B \\left)", 0.0),  # a stated letter in a malformed answer
        ("299 apples (approximately B)", 0.0),  # a letter in a parenthetical
        ("it is B or C", 0.0),
        ("so the choice is (B)", 1.0),
    ],
)
def test_multiple_choice_letter_is_the_stated_one(completion, expected):
    assert score(completion, "B") == expected


def test_judge_prints_back_the_answer_it_read():
    assert judge("so $\\boxed{0.5\\%}$", "0.005") == (Verdict(1.0, "ok"), "0.5\\%")
    assert judge("The answer is \\frac{2}{4}", "1/2") == (Verdict(1.0, "ok"), "\\frac{1}{2}")
    assert judge("The answer is \\frac{7}{\\left(", "7") == (Verdict(0.0, "parse_error"), None)


# ---------------------------------------------------------------- fuzzing
_TOKENS = list("0123456789+-*/^_{}()[]|,.=<>! xyzabce$%\\") + [
    "\\frac", "\\sqrt", "\\boxed{", "\\pm", "\\left(", "\\right)", "\\begin{pmatrix}", "\\end{pmatrix}", "&",
    "\\\\", "\\text{", "\\infty", "\\cup", "^{", "9^{9^", "\\sin", "\\log", "e^{", "\\overline{", "\\{", "\\}",
]


_LIMIT = math_verifier.timeout  # seconds: what the pool would allow one call
_GOLDS = st.one_of(
    st.integers(-500, 500).map(str),
    st.tuples(st.integers(-60, 60), st.integers(1, 12)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.tuples(st.integers(-60, 60), st.integers(1, 12)).map(lambda t: f"\\frac{{{t[0]}}}{{{t[1]}}}"),
    st.decimals(-100, 100, places=2, allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["\\sqrt{2}", "2\\pi", "x+1", "(1,2)", "[0,1)", "\\{1,2\\}", "12\\%", "B", "x=3", "0.5", "\\text{Evelyn}"]),
    st.text(max_size=12),  # garbage golds: unreadable ones must give None, never ok by a partial reading
)
_SOUP = _TOKENS + [
    "The answer is ", "The final answer is ", "Answer: ", "#### ", "**", "(approximately ", " apples", " or ", "⍍", "Ð",
    "\\pi", "\n", "0.", "\\%", "\\cdot", "\\times", "x=", "ab=", "i", "\\dfrac", "\\left[", "\\right]", ":", "?",
]


_STATED = ["The answer is {}.", "\\boxed{{{}}}", "so we get {} apples.", "#### {}", "Thus $ {} $", "**{}**", "Answer: {}"]


@st.composite
def _completion_and_gold(draw):
    gold = draw(_GOLDS)
    kind = draw(st.integers(0, 2))
    if kind == 2:  # a well-formed statement of the gold, or of another value, after some prose
        stated = draw(st.one_of(st.just(gold), _GOLDS))
        return draw(st.text(alphabet="abxyz ,.;:\n", max_size=30)) + draw(st.sampled_from(_STATED)).format(stated), gold
    if kind == 1:  # LaTeX soup that often contains the gold
        parts = st.one_of(st.sampled_from(_SOUP), st.just(gold), st.integers(0, 20).map(str))
        return "".join(draw(st.lists(parts, max_size=25))), gold
    return draw(st.text(max_size=60)) + gold + draw(st.text(max_size=20)), gold  # Unicode and garbage around it


def _prints_back_to(printed: str, gold: str) -> bool:
    """The answer the verifier read, on its own, equals the gold (or is the gold as written)."""
    return string_key(printed) == string_key(gold) or judge(f"\\boxed{{{printed}}}", gold)[0] == Verdict(1.0, "ok")


@settings(max_examples=200, deadline=int(_LIMIT * 1000), suppress_health_check=[HealthCheck.too_slow])
@given(_completion_and_gold())
def test_fuzz_every_ok_is_a_stated_answer_equal_to_the_gold(case):
    completion, gold = case
    start = time.perf_counter()
    verdict, printed = judge(completion, gold)
    assert time.perf_counter() - start < _LIMIT
    assert verdict.reason in ("ok", "mismatch", "no_answer", "hedged", "parse_error")
    if verdict.reason == "ok":
        assert printed is not None and _prints_back_to(printed, gold), (completion, gold, printed)


_BROKEN = [  # each wraps the gold g (and another number o) in an unfinished, malformed or contradicting answer
    "{o} apples (approximately {g})", "{g} (approximately {o})", "{o}, or maybe {g}", "{g} or maybe {o}",
    "\\frac{{{g}}}{{\\left(", "{g}^{{(}}", "0.\\overline{{{g}}}!\\left(", "⍍Ð={g}", "\\sqrt{{{g}", "\\left( {g}",
    "{g} \\left)", "{g}+", "\\frac{{{g}}}", "2^{{{g}", "{g} \\frac{{", "\\text{{{g}}}^{{(", "{g}\\right)",
]
_MARKERS = [("", ""), ("The answer is ", ""), ("The final answer is ", "."), ("Answer: ", ""), ("#### ", ""),
            ("\\boxed{", "}"), ("**", "**"), ("$", "$")]


@settings(max_examples=150, deadline=int(_LIMIT * 1000), suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.text(alphabet=st.sampled_from("abcdefghxyzABC ,.;:!?\nÐéλ"), max_size=30),
    template=st.sampled_from(_BROKEN),
    marker=st.sampled_from(_MARKERS),
    g=st.one_of(st.integers(-500, 500).map(str), st.decimals(0, 100, places=2).map(str),
                st.tuples(st.integers(1, 60), st.integers(2, 12)).map(lambda t: f"{t[0]}/{t[1]}"), st.just("B")),
    o=st.integers(0, 999).map(str),
)
def test_fuzz_a_broken_or_contradicting_answer_around_the_gold_never_scores(prefix, template, marker, g, o):
    if o == g:
        o = str(int(o) + 1)
    completion = prefix + marker[0] + template.format(g=g, o=o) + marker[1]
    start = time.perf_counter()
    verdict = math_verifier(completion, g)
    assert time.perf_counter() - start < _LIMIT
    assert verdict.score == 0.0, (completion, g, verdict)
