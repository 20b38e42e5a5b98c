"""Segmentation, step roles, quantities and equation checks (rldistill.segment, rldistill.equations)."""

import time

import pytest

from rldistill.equations import check_text, evaluate, holds, numbers_in
from rldistill.segment import analyse, split_format, split_steps


@pytest.mark.parametrize("text, fmt, sections", [
    ("<think>a. b.</think>\n\nSo \\boxed{1}", "think", [("thought", "a. b."), ("solution", "So \\boxed{1}")]),
    ("<think>cut off while thin", "think", [("thought", "cut off while thin"), ("solution", "")]),
    ("<|begin_of_thought|>\n\nt\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\ns\n\n<|end_of_solution|>",
     "skyt1", [("thought", "t"), ("solution", "s")]),
    ("<|begin_of_thought|>\n\nonly thinking, truncated", "skyt1", [("thought", "only thinking, truncated"), ("solution", "")]),
    ("plain text 2+2=4\n\\boxed{4}", "plain", [("body", "plain text 2+2=4\n\\boxed{4}")]),
])
def test_formats_are_recognised(text, fmt, sections):
    tr = split_format(text)
    assert (tr.fmt, tr.sections) == (fmt, sections)


@pytest.mark.parametrize("body, unit, expected", [
    ("It is 3.5 cm. Next we add.", "sentence", ["It is 3.5 cm.", "Next we add."]),
    ("So \\[ a = 1.\n B = 2 \\] holds. Then go.", "sentence", ["So \\[ a = 1.\n B = 2 \\] holds.", "Then go."]),
    ("Thus $x = 2. Y$ is it. Done.", "sentence", ["Thus $x = 2. Y$ is it.", "Done."]),
    ("1. **Find the side**: it is 7. Next.", "sentence", ["1. **Find the side**: it is 7.", "Next."]),
    ("a. b.\nc.\n\nd.", "line", ["a. b.", "c.", "d."]),
    ("a. b.\nc.\n\nd.", "paragraph", ["a. b.\nc.", "d."]),
    ("```python\ndef f():\n    return 1\n```\nDone.", "line", ["```python\ndef f():\n    return 1\n```", "Done."]),
])
def test_split_keeps_math_code_and_list_items_whole(body, unit, expected):
    assert [t for _, t in split_steps(body, unit)] == expected


@pytest.mark.parametrize("text, status", [
    ("12 + 7 = 19", "ok"),
    ("So 7*8=54.", "fail"),
    ("3-1=2, 2+8=10, 10*5=50.", "ok"),
    ("each side is 21 divided by 3, which is 7 inches", "ok"),
    ("each side is 21 divided by 3, which is 8 inches", "fail"),
    (r"\( \frac{21}{3} = 7 \) and \( 6 \times 7 = 42 \)", "ok"),
    (r"\[ \sqrt{16} + 2^{3} = 12 \]", "ok"),
    (r"\( \frac{1}{3} \approx 0.333 \)", "ok"),
    (r"\( \pi \approx 3.14 \)", "ok"),
    ("1/3 = 0.3334", "fail"),
    ("2x = 6, so x = 3", "none"),
    ("f(2) = 5", "none"),
    ("a_1 = 3 and x^2 = 4", "none"),
    (r"\( P = 6 \times 7 = 42 \)", "ok"),
    ("126 - 2 times 6 times 7 = 126 - 84 = 42", "ok"),
    (r"\( x \leq 3 = y \)", "none"),
    ("it is 1,000 + 24 = 1,024", "ok"),
])
def test_equation_checks(text, status):
    assert check_text(text)[0] == status


@pytest.mark.parametrize("expr", ["9**9**9**9", "10**100000", "(" * 500 + "1" + ")" * 500, "1/0", "2**0.5" * 40])
def test_pathological_expressions_are_not_evaluated(expr):
    t = time.time()
    assert evaluate(expr) is None
    assert time.time() - t < 2


def test_power_tower_in_latex_is_skipped_fast():
    t = time.time()
    assert check_text(r"\( 9^{9^{9^{9}}} = 3 \)")[0] == "none"
    assert time.time() - t < 2


def test_rounded_decimals_hold_only_to_their_places():
    assert holds("1/3", "0.333") and not holds("1/3", "0.3334") and not holds("2/3", "0.66")


@pytest.mark.parametrize("text, keys", [
    ("six sides of 1,000 cm", ("6", "1000")),
    ("1. First step: 3.50 and \\frac{7}{2}", ("7/2", "7", "2")),  # 3.50 and 7/2 are one quantity
    ("let me double-check 4", ("4",)),
])
def test_numbers(text, keys):
    assert numbers_in(text) == keys


TRACE = """Okay, let me think about this.
The problem asks for (4+3)*5.
First, I add 4 and 3.
Hmm, 4+3=8. Wait, that's not right.
4+3=7
Wait, let me double-check that: 4+3=7, yes.
Then 7*5=35
So the answer is 35.

\\boxed{35}"""


@pytest.mark.parametrize("needle, role", [
    ("Okay, let me think about this.", "filler"),
    ("The problem asks for (4+3)*5.", "restate"),
    ("First, I add 4 and 3.", "plan"),
    ("Hmm, 4+3=8.", "backtrack"),  # the abandoned attempt...
    ("Wait, that's not right.", "backtrack"),  # ...and the marker that abandons it
    ("4+3=7", "compute"),
    ("Wait, let me double-check that: 4+3=7, yes.", "verify"),
    ("Then 7*5=35", "compute"),
    ("So the answer is 35.", "restate"),
])
def test_roles_from_the_text(needle, role):
    _, steps = analyse(TRACE, prompt="Compute (4+3)*5.")
    step = next(s for s in steps if s.text == needle)
    assert step.role == role, (needle, step)


def test_dependencies_what_a_step_uses_and_produces():
    _, steps = analyse(TRACE, prompt="Compute (4+3)*5.")
    by_text = {s.text: s for s in steps}
    assert by_text["4+3=7"].results == {"7"} and by_text["4+3=7"].uses == {"4", "3"}
    assert by_text["Then 7*5=35"].uses == {"7", "5"} and "35" in by_text["Then 7*5=35"].results
    assert by_text["Hmm, 4+3=8."].check == "fail"
    assert steps[-1].final and steps[-1].text == "\\boxed{35}"


def test_recomputing_a_value_from_new_inputs_is_work_not_a_recheck():
    trace = "9-8=1\n1+8=9\n9-8=1\n1+3=4\n\\boxed{4}"
    _, steps = analyse(trace, prompt="Start with 9, give 8, get 8, give 8, get 3.")
    assert [s.role for s in steps[:4]] == ["compute"] * 4


def test_the_segment_command_shows_roles_links_and_what_is_kept(tmp_path, capsys):
    from rldistill.segment import main

    path = tmp_path / "t.txt"
    path.write_text("Okay.\nFirst, I add 4 and 3:\n4+3=7\nThen 7*5=35\n\\boxed{35}")
    assert main([str(path), "--method", "verified"]) == 0
    lines = {line.split("| ")[-1].strip(): line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "[lead-in]" in lines["[lead-in] 'First, I add 4 and 3:'"]
    link = lines["'Then 7*5=35'"]
    assert "'7@2'" in link and " K " in link  # 7 comes from step 2 (4+3=7), and verified keeps it
    assert " . " in lines["'Okay.'"] and "filler" in lines["'Okay.'"]
