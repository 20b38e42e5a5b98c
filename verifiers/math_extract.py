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
6. the last number in the text.

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
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)(?:\s*/\s*\d+(?:\.\d+)?)?(?![\w])"
)
_SPAN_RE = re.compile(
    r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\$])\$([^$\n]+?)\$", re.DOTALL
)
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


def boxes(text: str) -> list[tuple[int, int, str]]:
    """All ``\\boxed``/``\\fbox`` contents as (start, end, content), in order."""
    found = []
    braces = None
    for m in _BOX_RE.finditer(text):
        j = m.end()
        if j < len(text) and text[j] == "{":
            if braces is None:
                braces = match_braces(text)
            k = braces.get(j)
            if k is None:
                continue  # unclosed box: no answer here
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
    return len(words) <= 3 and all(re.fullmatch(r"[A-Za-z_{}0-9]*=?|\(?[a-z]\)?|=", w) for w in words)


def box_groups(text: str) -> list[list[str]]:
    """Boxes grouped into multi-part answers (see the module docstring)."""
    groups: list[list[str]] = []
    prev_end = None
    for start, end, content in boxes(text):
        if prev_end is not None and _is_glue(text[prev_end:start]):
            groups[-1].append(content)
        else:
            groups.append([content])
        prev_end = end
    return groups


def _cut_statement(rest: str) -> str:
    """The answer that follows "The answer is": a math span or up to the sentence end."""
    rest = rest.lstrip()
    m = re.match(r"\$\$(.+?)\$\$|\$([^$]+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", rest, re.DOTALL)
    if m:
        return next(g for g in m.groups() if g is not None)
    m = re.match(r"(.*?)(?:\.\s|\.$|\n|$)", rest[:MAX_ANSWER])
    return (m.group(1) if m else rest[:MAX_ANSWER]).strip()


def statements(text: str) -> list[str]:
    """Every "final answer is X" / "the answer is X" / "Answer: X", in order."""
    out = []
    for m in _FINAL_RE.finditer(text):
        ans = _cut_statement(text[m.end() : m.end() + MAX_ANSWER + 10])
        if ans:
            out.append(ans)
    return out


def math_spans(text: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None).strip() for m in _SPAN_RE.finditer(text)]


def last_number(text: str) -> str | None:
    nums = _NUM_RE.findall(text[-20_000:])
    return nums[-1].strip() if nums else None


def candidates(text: str) -> list[tuple[str, list[str]]]:
    """The response's possible final answers as ``(source, parts)``, strongest first."""
    if not isinstance(text, str):
        return []
    text = _focus(text)
    out: list[tuple[str, list[str]]] = []
    groups = box_groups(text)
    if groups:
        out.append(("boxed", groups[-1]))
    stmts = statements(text)
    if stmts:
        out.append(("statement", [stmts[-1]]))
    m = None
    for m in _HASH_RE.finditer(text):
        pass
    if m is not None and m.group(1).strip():
        out.append(("hash", [m.group(1).strip()]))
    bolds = [b for b in _BOLD_RE.findall(text[-5000:]) if not re.search(r"answer\W*$", b, re.IGNORECASE)]
    if bolds:
        b = bolds[-1]
        b = re.sub(r"^.*?answer\s*(?:is)?\s*:?\s*", "", b, flags=re.IGNORECASE)
        out.append(("bold", [b]))
    for span in reversed(math_spans(text[-20_000:])[-5:]):
        out.append(("span", [span]))
    num = last_number(text)
    if num is not None:
        out.append(("number", [num]))
    return [(src, [p[:MAX_ANSWER + 1] for p in parts]) for src, parts in out]


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
