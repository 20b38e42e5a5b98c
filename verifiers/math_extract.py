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
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)(?:\s*/\s*\d+(?:\.\d+)?)?(?![\d.,]\d)"
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
    offset = max(0, len(text) - 20_000)
    m = None
    for m in _NUM_RE.finditer(text, offset):
        pass
    return (m.end(), m.group(0).strip()) if m else None


def candidates(text: str) -> list[tuple[str, list[str]]]:
    """The response's possible final answers as ``(source, parts)``, strongest first (a list)."""
    return list(iter_candidates(text))


def iter_candidates(text: str):
    """Yield ``(source, parts)`` strongest first, computing the weak sources only when asked.

    Sources: ``boxed``, ``hash`` (GSM8K's ``####``), ``statement`` (then the
    last number inside a worded statement, ``statement_number``; a statement
    after the last box comes first), ``bold``, and last the weak ones,
    ``span`` and ``number``, latest in the text first.
    """
    if not isinstance(text, str):
        return
    text = _focus(text)
    unclosed: list[int] = []
    found = boxes(text, unclosed)
    if unclosed and (not found or unclosed[-1] > found[-1][0]):
        return  # the last box never closes: the final answer was cut off
    strong: list[tuple[str, list[str]]] = []
    groups = box_groups(text, with_end=True)
    if groups:
        strong.append(("boxed", groups[-1][1]))
    m = None
    for m in _HASH_RE.finditer(text):
        pass
    if m is not None and m.group(1).strip():  # GSM8K's marker is definitive
        strong.append(("hash", [m.group(1).strip()]))
    if strong and strong[0][0] == "hash":  # nothing outranks GSM8K's marker: scan no further unless asked
        yield from _cap(strong)
        strong = []
    stmts = statements(text, with_pos=True)
    if stmts:
        pos, stmt = stmts[-1]
        # a "final answer" stated after the last box overrides it (boxes of intermediate results)
        at = 0 if groups and pos > groups[-1][0] else len(strong)
        strong.insert(at, ("statement", [stmt]))
        worded = re.search(r"[A-Za-z]{3,}", re.sub(r"\\[a-zA-Z]+", " ", stmt))
        num = last_number(stmt)
        if num is not None and worded:
            strong.insert(at + 1, ("statement_number", [num[1]]))
    yield from _cap(strong)
    bolds = [b for b in _BOLD_RE.findall(text[-5000:]) if not re.search(r"answer\W*$", b, re.IGNORECASE)]
    if bolds:
        b = re.sub(r"^.*?answer\s*(?:is)?\s*:?\s*", "", bolds[-1], flags=re.IGNORECASE)
        yield from _cap([("bold", [b])])
    offset = max(0, len(text) - 20_000)
    weak = [(end + offset, "span", c) for end, c in math_spans(text[offset:])[-5:]]
    # the last number outside math spans (the spans are candidates of their own)
    num = last_number(_LOOSE_SPAN_RE.sub(lambda m: " " * (m.end() - m.start()), text[offset:]))
    if num is not None:
        weak.append((num[0] + offset, "number", num[1]))
    yield from _cap((src, [c]) for _, src, c in sorted(weak, key=lambda w: -w[0]))


def _cap(cands):
    for src, parts in cands:
        yield src, [p[: MAX_ANSWER + 1] for p in parts]


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
