"""The units a trace is cut into, and what makes a kept unit well formed.

What it does:

* ``split_steps(body, unit)``: cuts a section body into units - sentences,
  lines or paragraphs. Display math (``\\[...\\]``, ``$$...$$``,
  ``\\begin{..}...\\end{..}``) and code blocks are never cut, nor are inline
  math, braces or brackets; a list item's marker ends no sentence;
* ``is_lead_in(text, next_text)``: a unit that introduces the next one ("We
  have:", "...is:", "Thus,", a bold heading, prose running into a display) -
  the compressors keep it exactly when they keep the unit it introduces;
* ``balanced(text)``: brackets, LaTeX braces and math delimiters balance.
  Round and square brackets count as one kind, so an interval ``[0, 2\\pi)``
  balances.

What it leaves out: any reading of the prose; a unit is a span of the source
text, and every compressor output is built from whole spans.
"""

from __future__ import annotations

import re

UNITS = ("sentence", "line", "paragraph")

# Blocks that must never be cut: code, display math (which may span lines and paragraphs).
# Inline math that runs over a line break (a matrix inside $...$) is kept whole too; "$60" is money, no math.
_DISPLAY = re.compile(r"```.*?(?:```|$)|\\\[.*?\\\]|\$\$.*?\$\$|\\begin\{(\w+\*?)\}.*?\\end\{\1\}"
                      r"|\\\((?:(?!\n\s*\n).)*?\\\)|(?<![$\\])\$(?![$\d\s])(?:[^$\n]|\n(?![ \t]*\n))*?\n(?![ \t]*\n)(?:[^$\n]|\n(?![ \t]*\n))*?(?<!\\)\$", re.S)
# A sentence ends at . ! ? followed by space and something that starts a sentence.
_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\\$*(\"'\x00])")  # \x00: a protected block
# List items ("1. **Step**", "- foo") must not be read as sentence ends.
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")


def _protect(text: str) -> tuple[str, list[str]]:
    """Replace display math by placeholders so newlines inside it are kept."""
    saved: list[str] = []

    def sub(m):
        saved.append(m.group(0))
        return f"\x00{len(saved) - 1}\x00"

    return _DISPLAY.sub(sub, text), saved


def _restore(text: str, saved: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: saved[int(m.group(1))], text)


def _sentences(line: str) -> list[str]:
    if not _SENT_END.search(line):
        return [line.strip()] if line.strip() else []
    # Do not split inside inline math, braces or brackets: mask them, split, then map back.
    masked = list(line)
    # $...$ is inline math unless it reads as prose ("$60 mowing lawns ... $35": two amounts of money)
    dollars = {i for m in re.finditer(r"(?<!\\)\$[^$]*(?<!\\)\$", line)
               if not (re.search(r"[a-z]{2,}\s+[a-z]{2,}", m.group(0)) or re.match(r"\$\d[\d,.]*\s+[a-z]", m.group(0)))
               for i in range(m.start(), m.end())}
    depth, in_paren = 0, False
    i = 0 if re.search(r"[{$(\[]", line) else len(line)  # nothing to mask: skip the scan
    while i < len(line):
        c = line[i]
        two = line[i: i + 2]
        in_dollar = i in dollars
        if two == "\\(":
            in_paren = True
        elif two == "\\)":
            in_paren = False
        elif c in "{([":
            depth += 1
        elif c in "})]":
            depth = max(0, depth - 1)
        if (depth or in_dollar or in_paren) and c in ".!?":
            masked[i] = "#"
        i += 1
    lead = _LIST_ITEM.match(line)
    if lead:  # "1. **Step**": the list marker's dot ends no sentence
        masked[: lead.end()] = "#" * lead.end()
    masked_s = "".join(masked)
    out, start = [], 0
    for m in _SENT_END.finditer(masked_s):
        # "e.g. Foo", "Mr. X", a decimal "3. 5" are rare in traces; single letters guard "e.g.".
        if re.search(r"\b(?:e\.g|i\.e|vs|Mr|Dr|etc)\.$", line[start: m.start()]):
            continue
        out.append(line[start: m.start()])
        start = m.end()
    out.append(line[start:])
    return [s for s in (x.strip() for x in out) if s]


def split_steps(body: str, unit: str = "sentence") -> list[tuple[str, str]]:
    """Split a section body into ``[(separator, text), ...]``; the texts are spans of ``body``.

    >>> [t for _, t in split_steps("Hi there. So 2+2=4.\\n\\nDone.")]
    ['Hi there.', 'So 2+2=4.', 'Done.']
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    protected, saved = _protect(body)
    out: list[tuple[str, str]] = []
    for para in re.split(r"\n\s*\n", protected):
        if not para.strip():
            continue
        psep = "\n\n" if out else ""
        if unit == "paragraph":
            out.append((psep, para.strip()))
            continue
        for l_i, line in enumerate(x for x in para.split("\n") if x.strip()):
            lsep = psep if l_i == 0 else "\n"
            pieces = [line.strip()] if unit == "line" else _sentences(line)
            for s_i, piece in enumerate(pieces):
                out.append((lsep if s_i == 0 else " ", piece))
    return [(sep, _restore(t, saved)) for sep, t in out]


# --------------------------------------------------------------------------- well-formedness

_HEADING = re.compile(r"^\s*(?:#{1,6}\s+.*|(?:\d+[.)]\s*)?\*\*[^*]+\*\*[:.]?)\s*$")
_DISPLAY_START = re.compile(r"^\s*(?:\\\[|\$\$|\\begin\{|```)")


def is_lead_in(text: str, next_text: str | None = None) -> bool:
    """Does ``text`` introduce the unit after it? Ends in ``:`` or ``,``, is a heading, or is prose
    without a final stop running into display math.

    >>> is_lead_in("Putting it all together, the prime factorization of 196 is:"), is_lead_in("So r = 3.")
    (True, False)
    """
    t = text.rstrip()
    if not t or _DISPLAY_START.match(t):
        return False
    if t.endswith((":", ",", ":**", ":$")) or _HEADING.match(t):
        return True
    return bool(next_text and _DISPLAY_START.match(next_text) and re.search(r"[A-Za-z]$", t))


_PAIRS = ((r"\\\[", r"\\\]"), (r"\\\(", r"\\\)"), (r"\\left(?![a-zA-Z])", r"\\right(?![a-zA-Z])"), (r"\\begin\{", r"\\end\{"))


def balanced(text: str) -> bool:
    """Brackets, LaTeX braces and math delimiters balance (round and square brackets as one kind).

    >>> balanced(r"f(-2) = \\frac{3(-2)-2}{-2-2}"), balanced("-2 - 2) = (-6 - 2)/(-4)"), balanced("[0, 2\\\\pi)")
    (True, False, True)
    """
    t = re.sub(r"(?m)^\s*(?:\d+|[a-zA-Z]|[ivx]+)\)\s", " ", text)  # "1) ..." / "a) ..." list markers
    t = re.sub(r"\\[{}]|\\[lr]brace|\\[lr]vert|\\[|]", " ", t)  # escaped braces are set notation
    for a, b in _PAIRS:
        if len(re.findall(a, t)) != len(re.findall(b, t)):
            return False
    if t.count("$$") % 2:  # single dollars are also currency ("$20,000"): not counted
        return False
    t = re.sub(r"\\left(?![a-zA-Z]).|\\right(?![a-zA-Z]).|\\[()\[\]]", " ", t)  # their delimiters were counted above
    brace = paren = 0
    for c in t:
        if c == "{":
            brace += 1
        elif c == "}":
            brace -= 1
            if brace < 0:
                return False
        elif c in "([":
            paren += 1
        elif c in ")]":
            paren -= 1
            if paren < 0:
                return False
    return brace == 0 and paren == 0
