"""The ``math`` verifier: does a model response state the gold answer?

What it does: ``math_verifier(completion, answer) -> Verdict``. It extracts
the response's final answer (``math_extract``), parses both sides
(``math_latex``) and compares them (``math_equiv``), applying the policies
below. Scores are 1.0 (``ok``) or 0.0 (``mismatch``, ``no_answer``,
``hedged``, ``parse_error`` for a response too pathological to read); the
score is ``None`` (``parse_error``) when the gold answer itself cannot be read.

Policies (the README repeats them):

* The answer is what the response states, or nothing. With an explicit final
  answer (a box, "The final answer is", "Answer:", ``####``) that is the
  answer: if it does not parse, the verdict is ``parse_error`` (or
  ``no_answer`` for words) and nothing inside or after it is read. Only a
  response without one falls back to a bold answer, a math span or its last
  number, and that number only when it stands alone. An answer that does not
  parse (unpaired braces or ``\\left``/``\\right``, an unfinished
  ``\\frac``/``^``, characters the reader does not know) never matches.
  One exception, Math-Verify's: a well-formed explicit answer that is not a
  final value (an unevaluated sum or limit) leaves the weak sources after it.

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

import functools
import itertools
import re
from fractions import Fraction

from verifiers.math_equiv import equal
from verifiers.math_extract import HEDGE, hedges, iter_candidates_at, stands_alone, statements
from verifiers.math_latex import Answer, Guard, Seq, Text, Unevaluated, parse_answer, sp
from verifiers.math_normalize import check_balanced
from verifiers.math_values import ParseError, show
from verifiers.registry import Verdict, register

_MC_GOLD = re.compile(r"\s*\$?\s*(?:\\text\{\s*)?\(?([A-Za-z])\)?(?:\s*\})?\s*\$?\s*\.?\s*")
_MC_LEAD = re.compile(r"\s*\$?\s*(?:\\text(?:bf)?\{\s*)?\(?([A-Za-z])\)?(?:\s*\})?\$?(?=[\s.,:;]|$)")
_MC_OTHER = re.compile(r"(?<![\w\\${^_])([A-Z])(?![\w{}^_])")  # a capital not inside a word or LaTeX
_MC_REST = re.compile(r"[\w\s.,;:'\"!?-]*")  # words after a stated letter: "(B) because it is the largest"
_MC_ALONE = re.compile(r"(?:^|(?<=[\s(*]))([A-Z])(?=[\s.,;:!)*]|$)")  # a capital between spaces or in (B)
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
        return [("whole", [text], len(text))]
    return []


EXPLICIT = ("boxed", "statement", "hash")  # a response that has one of these states its answer there


def _read_gold(text: str) -> tuple[Answer | None, str, str]:
    if "\\boxed" not in text and "\\fbox" not in text and "####" not in text:
        # a gold is usually the bare answer; a worked solution without a box is read like a response
        cands = itertools.chain([("whole", [text], 0)], iter_candidates_at(text) if len(text) >= 400 else ())
    else:
        cands = itertools.chain(_short_whole(text), iter_candidates_at(text), [("whole", [text], 0)])
    guarded = False
    for source, parts, _ in cands:
        try:
            ans = _combine(parts, latex=source in ("boxed", "span"))
        except Guard:
            if source in ("whole", "boxed", "statement", "hash"):
                return None, source, "parse_error"
            guarded = True
            continue
        except Exception:  # ParseError, or SymPy refusing something odd: this candidate is unreadable
            continue
        if source == "whole" or _acceptable(ans, source):
            ans.text = ", ".join(parts)
            return ans, source, "ok"
    return None, "", "parse_error" if guarded else "no_answer"


def read_answer(text: str, gold: bool = False) -> tuple[Answer | None, str, str]:
    """(answer, source, reason) for a response, or for a gold answer string.

    A response's answer is what it states, or nothing: a short response may be
    the answer itself; else its explicit final answer (the first of ``EXPLICIT``
    that ``iter_candidates`` yields), which must parse, or the worded
    statement's single stand-alone number; only a response with no explicit
    answer falls back to a bold answer, a math span or its last stand-alone
    number. One exception, for conformance with Math-Verify: an explicit
    answer that is well-formed but not a final value (an unevaluated sum or
    limit, ``Unevaluated``) does not count, and the weak sources after it are
    read.
    """
    if gold:
        return _read_gold(text)
    state, after, guarded = "none", -1, False  # state: none | words (explicit answer in words) | after
    for source, parts, end in itertools.chain(_short_whole(text), iter_candidates_at(text)):
        if state == "words" and source != "statement_number":
            break  # the explicit answer was words, and no stand-alone number in them
        if state == "after" and (source in EXPLICIT or source == "statement_number" or end <= after):
            continue  # after an unevaluated explicit answer: only the weak sources that follow it
        explicit = source in EXPLICIT and state == "none"
        try:
            ans = _combine(parts, latex=source in ("boxed", "span"))
        except Guard:
            if source == "whole" or explicit:
                return None, source, "parse_error"  # a pathological final answer is not skipped over
            guarded = True
            continue
        except Unevaluated:
            if explicit:
                state, after = "after", end
            continue
        except Exception:  # ParseError, or SymPy refusing something odd: this candidate is unreadable
            if explicit:
                return None, source, "parse_error"  # a broken final answer: no fallback inside or after it
            continue
        if _acceptable(ans, source):
            ans.text = ", ".join(parts)
            return ans, source, "ok"
        if explicit:
            state = "words"
    return None, "", "parse_error" if guarded else "no_answer"


def _mc_letter(text: str) -> str | None:
    """A multiple-choice letter in a response: stated, leading 'B.', or the last standalone capital.

    An explicit answer (box, statement, ``####``) must name one letter, alone or
    leading a sentence ("(B) because ..."); otherwise there is no letter.
    """
    for source, parts, _ in itertools.chain(_short_whole(text), iter_candidates_at(text)):
        if source in ("number", "statement_number"):
            break
        part = parts[-1] if len(parts) == 1 else ""
        m = _MC_GOLD.fullmatch(part)
        if m:
            return m.group(1).lower()
        if source in EXPLICIT:
            m = _MC_LEAD.match(part)
            rest = part[m.end() :] if m else ""
            if m and _MC_REST.fullmatch(rest) and not HEDGE.search(rest) and not _MC_OTHER.search(rest):
                return m.group(1).lower()
            return None  # the stated answer names no single letter: nothing after it counts
    m = re.match(r"\s*\(?([A-Z])[.)]\s", text)
    if m:
        return m.group(1).lower()
    tail = text[-2000:]
    letters = [
        m.group(1)
        for m in _MC_ALONE.finditer(tail)
        if _letter_alone(tail, m.start(1), m.end(1)) and m.group(1) != "I" and not (m.group(1) == "A" and re.match(r"\s+[a-z]{2,}", tail[m.end() :]))
    ]
    return letters[-1].lower() if letters else None


def _letter_alone(text: str, start: int, end: int) -> bool:
    """A capital stated on its own, as a number would be (``(B)`` counts as one token)."""
    if text[start - 1 : start] == "(" and text[end : end + 1] == ")":
        start, end = start - 1, end + 1
    return stands_alone(text, start, end)


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


@functools.lru_cache(maxsize=4096)
def _gold(answer: str) -> Answer | None:
    """The gold answer read once (golds repeat across a group of completions); None if unreadable."""
    gold, _, _ = read_answer(answer, gold=True)
    return None if gold is None or _undefined(gold.value) else gold


def _balanced(text: str) -> bool:
    try:
        check_balanced(text)
    except ParseError:
        return False
    return True


def judge(completion: str, answer: str) -> tuple[Verdict, str | None]:
    """The verdict, and the answer read from the response printed back (``show``), or None.

    For an ``ok`` verdict the printed answer is one that, read on its own,
    equals the gold: what the response stated, never a fragment of it.
    """
    if not isinstance(answer, str) or not answer.strip():
        return Verdict(None, "parse_error"), None
    if not isinstance(completion, str) or not completion.strip():
        return Verdict(0.0, "no_answer"), None
    if len(completion) < 2000 and string_key(completion) == string_key(answer) and _balanced(completion):
        return Verdict(1.0, "ok"), completion.strip()  # the gold as written (a malformed copy is not)
    gold = _gold(answer)
    if gold is None:
        return Verdict(None, "parse_error"), None
    if isinstance(gold.value, Text) and len(gold.value.s) == 1 or _MC_GOLD.fullmatch(answer):
        m = _MC_GOLD.fullmatch(answer)
        letter = m.group(1).lower() if m else gold.value.s
        got = _mc_letter(completion)
        if got is None:
            return Verdict(0.0, "no_answer"), None
        return Verdict(1.0 if got == letter else 0.0, "ok" if got == letter else "mismatch"), got.upper()
    pred, source, why = read_answer(completion)
    if pred is None:
        return Verdict(0.0, why), None
    if _hedged(completion, source, pred):
        return Verdict(0.0, "hedged"), show(pred)
    if string_key(pred.text) == string_key(gold.text) or _same_answer(gold, pred):
        return Verdict(1.0, "ok"), show(pred)
    return Verdict(0.0, "mismatch"), show(pred)


@register("math")
def math_verifier(completion: str, answer: str) -> Verdict:
    """Score ``completion`` against the gold ``answer`` (see the module docstring)."""
    return judge(completion, answer)[0]


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
