"""The ``math`` verifier: does a model response state the gold answer?

What it does: ``math_verifier(completion, answer) -> Verdict``. It extracts
the response's final answer (``math_extract``), parses both sides
(``math_latex``) and compares them (``math_equiv``), applying the policies
below. Scores are 1.0 (``ok``) or 0.0 (``mismatch``, ``no_answer``,
``hedged``, ``parse_error`` for a response too pathological to read); the
score is ``None`` (``parse_error``) when the gold answer itself cannot be read.

Policies (the README repeats them):

* Percent: a gold ``12\\%`` accepts ``12`` and ``12\\%``, never ``0.12``. A
  response's ``n\\%`` against a gold without ``%`` is read as n/100 (gold
  ``7/25`` accepts ``28\\%``) and also as ``n`` when the gold is written as a
  plain whole number or decimal (GSM8K drops the sign: gold ``12`` accepts
  ``12\\%``).
* Units may be omitted on either side; two different units do not match.
* ``\\pm 3`` is the set {3, -3}; a single value does not match it.
* A response whose boxed answers (or "final answer" statements) disagree
  with each other is ``hedged`` and scores 0. Boxes joined by a short
  connective (``\\boxed{1}, \\boxed{2}``, ``\\boxed{3} and \\boxed{5}``) are one
  multi-part answer.
* Rounded decimals do not match exact irrational or repeating values
  (0.333 is not 1/3, 6.28 is not 2π); a decimal matches within a relative
  1e-9, so a full float repr (0.0833333333333333 for 1/12) matches;
  ``0.\\overline{3}`` is 1/3.
* Single letters compare as multiple-choice answers, case-insensitively.

It leaves out the wall-clock limit: the verifier guards its own input (length,
nesting, huge powers and factorials) and returns quickly on pathological
input, and ``verifiers.pool`` enforces a hard limit from outside.

>>> math_verifier("... so the total is $\\\\boxed{\\\\frac{14}{3}}$.", "14/3")
Verdict(score=1.0, reason='ok')
>>> math_verifier("The answer is 0.333", "\\\\frac{1}{3}").reason
'mismatch'

Run: ``rldistill verify --input rows.jsonl`` or ``get_verifier("math")(completion, answer)``.
"""

from __future__ import annotations

import itertools
import re
from fractions import Fraction

from verifiers.math_equiv import equal
from verifiers.math_extract import hedges, iter_candidates, statements
from verifiers.math_latex import Answer, Guard, ParseError, Seq, Text, parse_answer, sp
from verifiers.registry import Verdict, register

_MC_GOLD = re.compile(r"\s*\$?\s*(?:\\text\{\s*)?\(?([A-Za-z])\)?(?:\s*\})?\s*\$?\s*\.?\s*")
_STRIP = re.compile(r"\\left|\\right|(?<!\\)\\[,;:! ]|\\q?quad|\\displaystyle|\s|\$|\\\(|\\\)|\\\[|\\\]")


def string_key(s: str) -> str:
    """The cheap first stage: the answer as written, without spacing and wrappers."""
    s = _STRIP.sub("", s)
    s = re.sub(r"\\[dtc]frac", r"\\frac", s)
    return re.sub(r"(?<!\.)[.,;]$", "", s)


def _combine(parts: list[str], latex: bool = False) -> Answer:
    """Parse one candidate (several strings for a multi-part boxed answer)."""
    if len(parts) == 1:
        return parse_answer(parts[0], latex)
    answers = [parse_answer(p, latex) for p in parts]
    items = []
    for a in answers:
        v = a.value
        items.extend(v.items if isinstance(v, Seq) and v.kind == "list" else [v])
    return Answer(
        Seq("list", items),
        ", ".join(parts),
        percent=any(a.percent for a in answers),
        unit=next((a.unit for a in answers if a.unit), None),
        inexact=any(a.inexact for a in answers),
    )


def _acceptable(ans: Answer, source: str) -> bool:
    if isinstance(ans.value, Text):
        if source == "number":
            return False
        if source != "boxed" and re.search(r"\d", ans.text):
            return False  # "therefore 3" is a sentence around a number, not a text answer
        limit = {"boxed": 99, "whole": 1}.get(source, 3)
        return 0 < len(re.findall(r"[A-Za-z0-9]+", ans.text)) <= limit
    return True


def _short_whole(text: str) -> list[tuple[str, list[str]]]:
    """A short response with no box may be the answer itself: '28 percent', '4 4/9'."""
    if len(text) <= 80 and "\\boxed" not in text and "\n" not in text.strip():
        return [("whole", [text])]
    return []


def read_answer(text: str, gold: bool = False) -> tuple[Answer | None, str, str]:
    """(answer, source, reason) for a response, or for a gold answer string."""
    if gold and "\\boxed" not in text and "\\fbox" not in text and "####" not in text:
        # a gold is usually the bare answer; a worked solution without a box is read like a response
        cands = itertools.chain([("whole", [text])], iter_candidates(text) if len(text) >= 400 else ())
    else:
        cands = itertools.chain(_short_whole(text), iter_candidates(text), [("whole", [text])] if gold else ())
    guarded = False
    for source, parts in cands:
        try:
            ans = _combine(parts, latex=source in ("boxed", "span"))
        except Guard:
            if source in ("whole", "boxed", "statement", "hash"):
                return None, source, "parse_error"  # a pathological final answer is not skipped over
            guarded = True
            continue
        except Exception:  # ParseError, or SymPy refusing something odd: this candidate is unreadable
            continue
        if gold and source == "whole" or _acceptable(ans, source):
            ans.text = ", ".join(parts)
            return ans, source, "ok"
    return None, "", "parse_error" if guarded else "no_answer"


def _mc_letter(text: str) -> str | None:
    """A multiple-choice letter in a response: stated, leading 'B.', or the last standalone capital."""
    for source, parts in itertools.chain(_short_whole(text), iter_candidates(text)):
        if source == "number":
            break
        m = _MC_GOLD.fullmatch(parts[-1]) if len(parts) == 1 else None
        if m:
            return m.group(1).lower()
    m = re.match(r"\s*\(?([A-Z])[.)]\s", text)
    if m:
        return m.group(1).lower()
    letters = [
        m.group(1)
        for m in re.finditer(r"(?<![\w\\$])([A-Z])(?![\w])", text[-2000:])
        if m.group(1) != "I" and not (m.group(1) == "A" and re.match(r"\s+[a-z]{2,}", text[-2000:][m.end():]))
    ]
    return letters[-1].lower() if letters else None


def _undefined(v) -> bool:
    """A gold answer such as 1/0: nothing can match it."""
    return hasattr(v, "has") and bool(v.has(sp().zoo, sp().nan))


def _percent_equal(g: Answer, p: Answer) -> bool:
    inexact = g.inexact or p.inexact
    if g.percent or not p.percent:
        return equal(g.value, p.value, inexact)
    # response says n%, gold has no %: n/100, or n itself for a plain-number gold
    if g.plain_number and equal(g.value, p.value, inexact):
        return True
    v = p.value
    if isinstance(v, Fraction):
        return equal(g.value, v / 100, inexact)
    try:
        return equal(g.value, v / 100, inexact)
    except TypeError:
        return False


def _same_answer(g: Answer, p: Answer) -> bool:
    if g.unit and p.unit and g.unit != p.unit:
        return False
    try:
        return _percent_equal(g, p)
    except (RecursionError, MemoryError):
        return False
    except Exception:  # SymPy raises many types (PolynomialError, NotImplementedError, ...) on odd input
        return False


@register("math")
def math_verifier(completion: str, answer: str) -> Verdict:
    """Score ``completion`` against the gold ``answer`` (see the module docstring)."""
    if not isinstance(answer, str) or not answer.strip():
        return Verdict(None, "parse_error")
    if not isinstance(completion, str) or not completion.strip():
        return Verdict(0.0, "no_answer")
    if len(completion) < 2000 and string_key(completion) == string_key(answer):
        return Verdict(1.0, "ok")
    gold, _, why = read_answer(answer, gold=True)
    if gold is None or _undefined(gold.value):
        return Verdict(None, "parse_error")
    if isinstance(gold.value, Text) and len(gold.value.s) == 1 or _MC_GOLD.fullmatch(answer):
        m = _MC_GOLD.fullmatch(answer)
        letter = m.group(1).lower() if m else gold.value.s
        got = _mc_letter(completion)
        if got is None:
            return Verdict(0.0, "no_answer")
        return Verdict(1.0 if got == letter else 0.0, "ok" if got == letter else "mismatch")
    pred, source, why = read_answer(completion)
    if pred is None:
        return Verdict(0.0, why)
    if _hedged(completion, source, pred):
        return Verdict(0.0, "hedged")
    if string_key(pred.text) == string_key(gold.text) or _same_answer(gold, pred):
        return Verdict(1.0, "ok")
    return Verdict(0.0, "mismatch")


def _hedged(completion: str, source: str, pred: Answer) -> bool:
    """Does the response also commit to a different final answer (another box group or statement)?"""
    if source == "boxed":
        others = hedges(completion)
    elif source == "statement":
        others = [[s] for s in statements(completion)[:-1][-8:]]
    else:
        return False
    for parts in others:
        if string_key(", ".join(parts)) == string_key(pred.text):
            continue
        try:
            other = _combine(parts, latex=source == "boxed")
        except Exception:  # an unreadable earlier box is not a second answer
            continue
        if _acceptable(other, "statement") and not (_same_answer(other, pred) or _same_answer(pred, other)):
            return True
    return False


math_verifier.timeout = 5.0  # seconds; the pool's default limit for this verifier
