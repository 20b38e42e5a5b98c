"""Find the final answer in a model response, as strings, in priority order.

What it does: ``candidates(text)`` returns the places a response may state its
final answer, strongest first, each as a list of strings (several strings when
the response boxes a multi-part answer such as ``\\boxed{1} and \\boxed{2}``):

1. the last group of ``\\boxed{...}`` / ``\\boxed N`` / ``\\fbox{...}``
   (braces matched; boxes joined only by a short connective such as ``,``,
   ``and``, ``\\quad`` form one group);
2. the last "The final answer is ...", "The answer is ...", "Answer: ...";
3. GSM8K's ``#### N``;
4. a bold final answer ``**...**``;
5. the last math span (``$...$``, ``\\(...\\)``, ``\\[...\\]``), later spans first;
6. the last number in the text, only when it stands alone (``stands_alone``:
   not inside an unfinished or malformed expression, not glued to LaTeX or
   operators, not hedged by "or", "approximately", "not", a "?"); a
   stand-alone group of plain numbers around it (``(-1, 6)``,
   ``\\frac{55}{3}``) counts as one. Spans before a last number that does
   not stand alone are not candidates either.

The verifier reads the first explicit answer (box, statement, ``####``) and
nothing else when there is one (``math_verifier.read_answer``).

``hedges(text)`` returns the other boxed groups / "final answer" statements,
so the verifier can score a response that commits to two different final
answers as hedged. Only the text after ``</think>`` is read when that tag is
present and an answer follows it.

It leaves out: parsing the answers (``math_parse``) and comparing them
(``math_equiv``). Everything here is linear in the length of the text (a
single brace-matching pass; bounded regexes), so an unclosed ``\\boxed{``
followed by 100k characters costs milliseconds.

Run: ``python -c "from verifiers.math_extract import candidates; print(candidates('so \\\\boxed{42}.'))"``
"""

from __future__ import annotations

import re

MAX_TEXT = 400_000  # beyond this we only read the tail: answers come last
MAX_ANSWER = 2_000  # a final answer longer than this is not an answer

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b\s*")
_FINAL_RE = re.compile(
    r"(?:final\s+answer\s*(?:is|:)|the\s+answer\s+(?:is|should\s+be)|\banswer\s*(?:is\s*)?:|\banswer\s+is\b)\s*:?\s*",
    re.IGNORECASE,
)
_HASH_RE = re.compile(r"####\s*([^\n]*)")
_BOLD_RE = re.compile(r"\*\*([^*\n]{1,200})\*\*")
_NUM_RE = re.compile(
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)(?:\s*/\s*\d+(?:\.\d+)?)?(?![\d.,]\d)",
    re.ASCII,
)
_SPAN_RE = re.compile(
    r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\(([^\n]+?)\\\)|(?<![\\$])\$((?:[^$\n\\]|\\.)+?)\$", re.DOTALL
)
# Math delimiters, loosely (inline ones spanning lines too): numbers inside are not prose numbers.
_LOOSE_SPAN_RE = re.compile(r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|(?<!\\)\$(?:[^$\\]|\\.)+?\$", re.DOTALL)
# What may sit between two boxes of one multi-part answer.
_GLUE_STRIP = re.compile(r"\\text\{[^{}]{0,40}\}|\\q?quad|\\[,;:! ]|\\\(|\\\)|\\\[|\\\]|\$|[\s,;.~&]")


def match_braces(text: str) -> dict[int, int]:
    """Map each ``{`` (by index) to its matching ``}`` in one linear pass.

    Escaped braces ``\\{`` / ``\\}`` are skipped. Unclosed ``{`` are absent.
    """
    out, stack, i, n = {}, [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            out[stack.pop()] = i
        i += 1
    return out


def _focus(text: str) -> str:
    if len(text) > MAX_TEXT:
        text = text[-MAX_TEXT:]
    head, sep, tail = text.rpartition("</think>")
    if sep and re.search(r"\d|\\boxed|[A-Za-z]", tail):
        return tail
    return text


def boxes(text: str, unclosed: list | None = None) -> list[tuple[int, int, str]]:
    """All ``\\boxed``/``\\fbox`` contents as (start, end, content), in order.

    Start positions of boxes whose brace never closes go to ``unclosed``.
    """
    found = []
    braces = None
    for m in _BOX_RE.finditer(text):
        j = m.end()
        if j < len(text) and text[j] == "{":
            if braces is None:
                braces = match_braces(text)
            k = braces.get(j)
            if k is None:
                if unclosed is not None:
                    unclosed.append(m.start())
                continue
            found.append((m.start(), k + 1, text[j + 1 : k]))
        else:  # \boxed 5  or \boxed{} without braces: up to a delimiter
            mm = re.match(r"[^\s$\\{}]{1,100}", text[j:])
            if mm:
                found.append((m.start(), j + mm.end(), mm.group(0)))
    return found


def _is_glue(between: str) -> bool:
    if len(between) > 60 or "\n\n" in between:
        return False
    rest = _GLUE_STRIP.sub(" ", between)
    words = rest.split()
    return len(words) <= 3 and all(_glue_word(w) for w in words)


def _glue_word(w: str) -> bool:
    """and / or, a label such as y_2= or (a), or a unit: '\\boxed{1} papers and \\boxed{2} bins'."""
    from verifiers.math_normalize import unit_name  # no SymPy here

    if w.lower() in ("and", "or", "=") or re.fullmatch(r"[A-Za-z](?:_\{?\w+\}?)?=?|\([a-z]\)", w):
        return True
    return unit_name(w) is not None


def box_groups(text: str, with_end: bool = False) -> list:
    """Boxes grouped into multi-part answers (see the module docstring).

    With ``with_end``, each group comes as ``(end position, parts)``.
    """
    groups: list[list[str]] = []
    ends: list[int] = []
    prev_end = None
    for start, end, content in boxes(text):
        if prev_end is not None and _is_glue(text[prev_end:start]):
            groups[-1].append(content)
            ends[-1] = end
        else:
            groups.append([content])
            ends.append(end)
        prev_end = end
    return list(zip(ends, groups)) if with_end else groups


def _cut_statement(rest: str) -> str:
    """The answer that follows "The answer is": a math span or up to the sentence end."""
    rest = re.sub(r'^(?:\s|\\?["\'])+', "", rest)
    m = re.match(r"(?:\$[^$]+\$|\s|,|and\b|or\b)+(?=[\s\\\"']*(?:\.\s|\.?$|\n))", rest[:MAX_ANSWER])
    if m and m.group(0).count("$") > 2:  # "$12$ and $13$": several spans make one answer
        return m.group(0).strip()
    m = re.match(r"\$\$(.+?)\$\$|\$([^$]+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", rest, re.DOTALL)
    if m:
        return next(g for g in m.groups() if g is not None)
    m = re.match(r"(.*?)(?:\.\s|\.$|\n|$)", rest[:MAX_ANSWER])
    return re.sub(r'(?:\s|\\?["\'])+$', "", (m.group(1) if m else rest[:MAX_ANSWER]))


def statements(text: str, with_pos: bool = False) -> list:
    """Every "final answer is X" / "the answer is X" / "Answer: X", in order.

    With ``with_pos``, each comes as ``(start position, answer)``.
    """
    out = []
    for m in _FINAL_RE.finditer(text):
        ans = _cut_statement(text[m.end() : m.end() + MAX_ANSWER + 10])
        if ans and not _FINAL_RE.search(ans):  # "Final Answer: The final answer is X": keep the inner one
            out.append((m.start(), ans) if with_pos else ans)
    return out


def math_spans(text: str) -> list[tuple[int, str]]:
    """(end position, content) of each ``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``."""
    return [(m.end(), next(g for g in m.groups() if g is not None).strip()) for m in _SPAN_RE.finditer(text)]


def last_number(text: str) -> tuple[int, str] | None:
    """(end position, text) of the last number (integer, decimal, 1,000 grouping, a/b)."""
    m = _last_number_match(text)
    return (m.end(), m.group(0).strip()) if m else None


def _last_number_match(text: str):
    offset = max(0, len(text) - 20_000)
    m = None
    for m in _NUM_RE.finditer(text, offset):
        pass
    return m


# Words that make a number (or letter) something other than the stated answer: "approximately 1.5", "or 16", "not 15".
HEDGE = re.compile(
    r"\b(?:approx(?:imately)?|about|around|roughly|nearly|almost|circa|maybe|perhaps|possibly|probably"
    r"|or|either|not)\b|[~≈?]|\\approx|\\sim",
    re.IGNORECASE,
)
_ESCAPED = re.compile(r"\\[{}()\[\]]")
_TOKEN_BEFORE = re.compile(r"(?:[A-Za-z][A-Za-z0-9_']*\s*=|=|:|\$|\\\$)?")
_GLUED_UNIT = re.compile(r"(?:\\?%|°|[$€£¥]|[A-Za-z]{1,12}[²³]?)?")
_END_PUNCT = re.compile(r"[.,;:!'\"”’]*")
_CLAUSE_WORDS = re.compile(r"[A-Za-z\s'’,%$-]*")


def stands_alone(text: str, start: int, end: int) -> bool:  # noqa: C901 (one rule after another)
    """Is the number ``text[start:end]`` stated on its own, as an answer would be?

    No: inside brackets or braces still open at it (``\\frac{7}{\\left(``,
    ``(approximately 1.5)``, ``\\overline{3}``); glued to LaTeX or operators
    (``2^3``, ``x-5``, ``\\sqrt 3``, ``5)``, ``⍍=3``); or in a clause that hedges
    or goes on with more than words (``or 16``, ``not 15``, ``15 (roughly)``,
    ``12?``, ``7 + x``, ``7/7yx``). Yes: ``to get 7 apples.``, ``x = 12``,
    ``is 28%``, ``1,000.99m²``.
    """
    from verifiers.math_normalize import unit_name  # no SymPy here

    line_start = max(text.rfind("\n", 0, start) + 1, start - 300)
    before = _ESCAPED.sub("", text[line_start:start])
    depth = 0
    for c in before:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
    if depth:
        return False
    raw = text[line_start:start]
    head = raw.rsplit(None, 1)[-1] if raw.strip() and not raw[-1:].isspace() else ""
    if not _TOKEN_BEFORE.fullmatch(head):
        return False  # glued to what precedes it: \\}1, ⍍=3, x^2
    prev = raw[: len(raw) - len(head)].rstrip()
    if re.search(r"(?:\\[A-Za-z]+|[-+*/^_×·÷|<>])$", prev):  # 5 \times 3, 2 + 3
        return False
    # the words leading to it, since the sentence began or the previous number ("not 10, it's 12" is fine)
    lead = re.split(r"[.!?;](?:\s|$)|\d", prev)[-1]
    if HEDGE.search(" ".join(lead.split()[-3:])):
        return False
    rest = text[end : end + 300]
    tail = re.match(r"\S*", rest).group(0)  # glued to the number: 28%, 12cm, 7.
    glued = _GLUED_UNIT.match(tail).group(0)
    if glued[:1].isalpha() and unit_name(glued) is None:
        return False  # 7/7yx is a product, 12cm a length
    punct = tail[len(glued) :]
    if not _END_PUNCT.fullmatch(punct):
        return False
    clause = ""
    if not punct[:1] in (".", "!", ";"):
        clause = re.match(r"[^\n.!?;]*", rest[len(tail) :]).group(0)
        if rest[len(tail) + len(clause) : len(tail) + len(clause) + 1] == "?":
            return False  # "Is it 12?"
    # "15 apples or so", "12, roughly": a hedge in the words right after it
    return _CLAUSE_WORDS.fullmatch(clause) is not None and not HEDGE.search(" ".join((tail + " " + clause).split()[:4]))


def lone_number(stmt: str) -> str | None:
    """The number in a worded statement ("Jane started 3 hours ago"), if it has one and it stands alone."""
    stmt = re.sub(r"\\[()\[\]]|\$", " ", stmt)  # "definitely \\(8000\\)": the delimiters are not structure
    nums = list(_NUM_RE.finditer(stmt))
    if len(nums) != 1 or not stands_alone(stmt, nums[0].start(), nums[0].end()):
        return None
    return nums[0].group(0).strip()


def candidates(text: str) -> list[tuple[str, list[str]]]:
    """The response's possible final answers as ``(source, parts)``, strongest first (a list)."""
    return list(iter_candidates(text))


def iter_candidates(text: str):
    """Yield ``(source, parts)`` strongest first, computing the weak sources only when asked.

    Sources: ``boxed``, ``hash`` (GSM8K's ``####``), ``statement`` (then,
    for a worded statement with a single number that stands alone,
    ``statement_number``; a statement after the last box comes first),
    ``bold``, and last the weak ones, ``span`` and ``number`` (the last
    number, only when it stands alone), latest in the text first.
    """
    for source, parts, _ in iter_candidates_at(text):
        yield source, parts


def iter_candidates_at(text: str):
    """``iter_candidates`` with each candidate's end position in the (focused) text: ``(source, parts, end)``."""
    if not isinstance(text, str):
        return
    text = _focus(text)
    unclosed: list[int] = []
    found = boxes(text, unclosed)
    if unclosed and (not found or unclosed[-1] > found[-1][0]):
        return  # the last box never closes: the final answer was cut off
    strong: list[tuple[str, list[str], int]] = []
    groups = box_groups(text, with_end=True)
    if groups:
        strong.append(("boxed", groups[-1][1], groups[-1][0]))
    m = None
    for m in _HASH_RE.finditer(text):
        pass
    if m is not None and m.group(1).strip():  # GSM8K's marker is definitive
        strong.append(("hash", [m.group(1).strip()], m.end()))
    if strong and strong[0][0] == "hash":  # nothing outranks GSM8K's marker: scan no further unless asked
        yield from _cap(strong)
        strong = []
    stmts = statements(text, with_pos=True)
    if stmts:
        pos, stmt = stmts[-1]
        stmt_end = text.find(stmt, pos) + len(stmt) if stmt in text[pos:] else pos
        # a "final answer" stated after the last box overrides it (boxes of intermediate results)
        at = 0 if groups and pos > groups[-1][0] else len(strong)
        strong.insert(at, ("statement", [stmt], stmt_end))
        worded = re.search(r"[A-Za-z]{3,}", re.sub(r"\\[a-zA-Z]+", " ", stmt))
        num = lone_number(stmt) if worded else None
        if num is not None:
            strong.insert(at + 1, ("statement_number", [num], stmt_end))
    yield from _cap(strong)
    bolds = [(bm.end(), bm.group(1)) for bm in _BOLD_RE.finditer(text, max(0, len(text) - 5000))]
    bolds = [(e, b) for e, b in bolds if not re.search(r"answer\W*$", b, re.IGNORECASE)]
    if bolds:
        b = re.sub(r"^.*?answer\s*(?:is)?\s*:?\s*", "", bolds[-1][1], flags=re.IGNORECASE)
        yield from _cap([("bold", [b], bolds[-1][0])])
    offset = max(0, len(text) - 20_000)
    weak = [(end + offset, "span", c) for end, c in math_spans(text[offset:])[-5:]]
    # the last number outside math spans (the spans are candidates of their own), if it stands alone
    blanked = _LOOSE_SPAN_RE.sub(lambda m: " " * (m.end() - m.start()), text[offset:])
    num = _last_number_match(blanked)
    if num is not None:
        if stands_alone(blanked, num.start(), num.end()):
            weak.append((num.end() + offset, "number", num.group(0).strip()))
        else:
            group = _number_group(blanked, num.start(), num.end())
            if group is not None:
                weak.append((group[1] + offset, "number", blanked[group[0] : group[1]]))
            # what the response wrote before its last number is not its final answer
            weak = [w for w in weak if w[0] >= num.end() + offset or w[1] == "number"]
    yield from _cap((src, [c], end) for end, src, c in sorted(weak, key=lambda w: -w[0]))


_GROUP_RE = re.compile(r"[(\[]\s*[-+]?\d[\d\s.,/+-]*[)\]]", re.ASCII)
_FRAC_RE = re.compile(r"-?\\[dt]?frac\{\s*-?\d+\s*\}\{\s*\d+\s*\}", re.ASCII)


def _number_group(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The plain-number tuple, interval or fraction around a number (``(-1, 6)``, ``\\frac{55}{3}``), if it stands alone."""
    lo = max(0, start - 200)
    for i, pattern in ((max(text.rfind("(", lo, start), text.rfind("[", lo, start)), _GROUP_RE),
                       (text.rfind("\\", max(0, start - 30), start), _FRAC_RE)):
        if i > 0 and pattern is _FRAC_RE and text[i - 1] == "-":
            i -= 1
        m = pattern.match(text, i) if i >= 0 else None
        if m is not None and m.end() >= end and stands_alone(text, m.start(), m.end()):
            return m.start(), m.end()
    return None


def _cap(cands):
    for src, parts, end in cands:
        yield src, [p[: MAX_ANSWER + 1] for p in parts], end


def hedges(text: str) -> list[list[str]]:
    """Final answers stated besides the chosen one: earlier box groups and statements."""
    if not isinstance(text, str):
        return []
    text = _focus(text)
    groups = box_groups(text)
    if groups:
        others = groups[:-1]
        # a "The answer is X" right after the last box usually restates it
        return others[-8:]
    return [[s] for s in statements(text)[:-1][-8:]]
