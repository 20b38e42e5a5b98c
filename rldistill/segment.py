"""Split a reasoning trace into steps and give each step a role.

What it does:

* recognises three trace formats: R1-style ``<think>...</think>answer``,
  Sky-T1 ``<|begin_of_thought|>...<|end_of_thought|><|begin_of_solution|>...
  <|end_of_solution|>`` and plain text (truncated traces keep what they have);
* splits each section into steps by ``sentence``, ``line`` or ``paragraph``
  (display math and ``\\boxed{...}`` are never cut);
* reads the quantities each step *uses* and the results it *produces*
  (numbers, ``a op b = c`` results, verbal arithmetic such as "21 divided by
  3, which is 7"), and checks every closed-form equation it contains
  (``rldistill.equations``);
* assigns a role from the text alone: ``plan``, ``compute``, ``verify``
  (re-checking a result already established), ``backtrack`` (an abandoned
  attempt, or its correction), ``restate`` and ``filler``. Roles come from
  discourse markers *and* the dependency analysis (a "compute" step that
  produces nothing new is a re-check; a step before a "wait, that's wrong"
  whose results are never used is the abandoned attempt). Annotations that a
  synthetic teacher may carry are never read.

What it leaves out: semantic parsing of prose. Quantities are numbers; a
symbolic step without numbers is classified by its markers only.

Run: ``python -m rldistill.segment FILE.txt`` prints the steps and roles.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from rldistill.equations import check_text, numbers_in

ROLES = ("plan", "compute", "verify", "backtrack", "restate", "filler")
UNITS = ("sentence", "line", "paragraph")

# --------------------------------------------------------------------------- formats

_SKY = ("<|begin_of_thought|>", "<|end_of_thought|>", "<|begin_of_solution|>", "<|end_of_solution|>")


@dataclass
class Trace:
    """A trace cut into its format's sections: ``[(name, body), ...]`` in order."""

    fmt: str  # "skyt1" | "think" | "plain"
    sections: list[tuple[str, str]]


def split_format(text: str) -> Trace:
    """Recognise the trace format and cut it into named sections.

    >>> split_format("<think>a</think>b").sections
    [('thought', 'a'), ('solution', 'b')]
    """
    if _SKY[0] in text or _SKY[2] in text:
        thought, solution = "", ""
        rest = text.split(_SKY[0], 1)[-1]
        if _SKY[1] in rest:
            thought, rest = rest.split(_SKY[1], 1)
            if _SKY[2] in rest:
                solution = rest.split(_SKY[2], 1)[1].split(_SKY[3], 1)[0]
            else:
                solution = rest
        elif _SKY[2] in rest:  # a solution block without a thought block
            thought, solution = rest.split(_SKY[2], 1)
            solution = solution.split(_SKY[3], 1)[0]
        else:  # thinking that was cut off
            thought = rest
        return Trace("skyt1", [("thought", thought.strip()), ("solution", solution.strip())])
    if "</think>" in text:
        thought, solution = text.split("</think>", 1)
        thought = thought.split("<think>", 1)[-1]
        return Trace("think", [("thought", thought.strip()), ("solution", solution.strip())])
    if "<think>" in text:  # cut off while thinking
        return Trace("think", [("thought", text.split("<think>", 1)[1].strip()), ("solution", "")])
    return Trace("plain", [("body", text.strip())])


def join_format(fmt: str, sections: dict[str, str]) -> str:
    """Inverse of ``split_format`` for compressed section bodies."""
    if fmt == "skyt1":
        t, s = sections.get("thought", ""), sections.get("solution", "")
        t, s = (f"\n\n{x}\n\n" if x else "\n\n" for x in (t, s))  # an empty block stays one blank line
        return f"{_SKY[0]}{t}{_SKY[1]}\n\n{_SKY[2]}{s}{_SKY[3]}"
    if fmt == "think":
        t = sections.get("thought", "")
        return f"<think>\n{t + chr(10) if t else ''}</think>\n\n{sections.get('solution', '')}".rstrip()
    return sections.get("body", "")


# --------------------------------------------------------------------------- splitting

# Blocks that must never be cut: display math and boxed answers (which may span lines).
_DISPLAY = re.compile(r"```.*?(?:```|$)|\\\[.*?\\\]|\$\$.*?\$\$", re.S)
# A sentence ends at . ! ? followed by space and something that starts a sentence.
_SENT_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\\$*(\"'])")
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
    # Do not split inside inline math or braces: mask them, split, then map back.
    masked = list(line)
    depth, in_dollar, in_paren = 0, False, False
    i = 0 if re.search(r"[{$]|\\\(", line) else len(line)  # nothing to mask: skip the scan
    while i < len(line):
        c = line[i]
        two = line[i : i + 2]
        if two == "\\(":
            in_paren = True
        elif two == "\\)":
            in_paren = False
        elif c == "$":
            in_dollar = not in_dollar
        elif c == "{":
            depth += 1
        elif c == "}":
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
        if re.search(r"\b(?:e\.g|i\.e|vs|Mr|Dr|etc)\.$", line[start : m.start()]):
            continue
        out.append(line[start : m.start()])
        start = m.end()
    out.append(line[start:])
    return [s for s in (x.strip() for x in out) if s]


@dataclass
class Step:
    text: str
    section: str
    index: int
    sep: str = "\n"  # what joined it to the previous step in the source: " ", "\n" or "\n\n"
    role: str = "filler"
    uses: frozenset = field(default_factory=frozenset)  # quantity keys the step reads
    results: frozenset = field(default_factory=frozenset)  # quantity keys it computes or mentions first
    produces: dict = field(default_factory=dict)  # result key -> how it was computed (normalised left sides, or "mention")
    check: str = "none"  # equations: "ok" (all checkable ones hold), "fail", or "none" (nothing checkable)
    equations: tuple = ()  # equation strings found in the step (for the "equations" granularity)
    final: bool = False  # holds the final boxed answer


def split_steps(body: str, unit: str = "sentence") -> list[tuple[str, str]]:
    """Split a section body into ``[(separator, text), ...]``.

    >>> [t for _, t in split_steps("Hi there. So 2+2=4.\\n\\nDone.")]
    ['Hi there.', 'So 2+2=4.', 'Done.']
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    protected, saved = _protect(body)
    out: list[tuple[str, str]] = []
    for p_i, para in enumerate(re.split(r"\n\s*\n", protected)):
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


# --------------------------------------------------------------------------- roles

def _rx(words: str) -> re.Pattern:
    return re.compile(words, re.I)


_BACKTRACK = _rx(
    r"\b(?:wait|hold on|oops|hmm|no)\b[,.!]?\s*(?:that(?:'s| is)?|this|it|no|actually|i)\b.*?\b(?:wrong|not right|incorrect|"
    r"mistake|error|can'?t be|doesn'?t|isn'?t|off)\b|\b(?:i made (?:a|an) (?:mistake|error)|i miscalculated|that'?s (?:not right|wrong|"
    r"incorrect)|that can'?t be right|let me correct|correction:|scratch that|on second thought|that was wrong|"
    r"i (?:mis|wrongly)\w*|redo (?:this|that)|start over|let me fix)\b|^\s*wait,? no\b|^\s*no,? wait\b"
)
_VERIFY = _rx(
    r"\b(?:double[- ]check\w*|verif\w+|let(?:'s| me| us) (?:check|confirm|make sure|recheck|re-check)|sanity check|"
    r"to (?:be sure|be thorough|confirm)|make sure|seems (?:correct|right)|that (?:matches|checks out|is consistent)|"
    r"checks out|consistent|just to confirm|recheck|re-check|confirm\w*|which matches|as expected|yes,? (?:that'?s|it'?s) (?:right|correct))\b"
)
_RESTATE = _rx(
    r"^(?:so,? )?(?:i|we)(?:'ve| have) (?:this|a|the) problem|\b(?:the problem (?:says|states|asks|is|gives)|we(?:'re| are) given|"
    r"i(?:'m| am) given|given that|the question (?:asks|is|says)|let me restate|restat\w+|in other words|recall that|"
    r"as (?:given|stated)|we are told|i'?m told|the problem wants)\b"
)
_PLAN = _rx(
    r"^(?:first|next|then|now|finally|after that|moving on|second|third|lastly)\b|^\W*\*\*|:$|\b(?:i need to|we need to|i have to|we have to|let(?:'s| me| us) (?:start|begin|think|figure|find|"
    r"compute|calculate|work|break|set up|use|consider|denote|try|see|look|solve|determine)|to (?:find|solve|compute|determine|calculate)|"
    r"approach|strategy|my plan|the plan|step by step|i(?:'ll| will)|we(?:'ll| will| can| should)|i (?:can|should))\b"
)
_FILLER = _rx(
    r"^(?:alright|all right|okay|ok|hmm+|well|great|good|fine|so|now|right|yes|perfect|interesting|got it|cool|"
    r"let me think(?: about (?:this|it))?|that seems (?:straightforward|simple|easy|right)|this (?:seems|looks) (?:straightforward|simple|easy)|"
    r"i think (?:that'?s|this is) (?:it|right|correct)|that'?s (?:it|all)|is that all|let'?s see|let me see)\b[\s,.!?:]*$"
    r"|^(?:\W*(?:hmm+|okay|ok|alright|all right|so|well|now)\W+)*(?:let(?:'s| me| us) (?:see|think|work through|start|"
    r"try to figure|figure)(?: this| it| about this| about it)?(?: out| through)?(?: carefully| step by step)?[\s.!]*)$"
)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{3,}", text.lower())}


def analyse(completion: str, prompt: str = "", unit: str = "sentence", answer: str | None = None) -> tuple[Trace, list[Step]]:
    """Segment ``completion`` and fill every step's quantities, checks and role."""
    trace = split_format(completion)
    steps: list[Step] = []
    for name, body in trace.sections:
        for sep, text in split_steps(body, unit):
            steps.append(Step(text=text, section=name, index=len(steps), sep=sep))
    given = set(numbers_in(prompt))
    prompt_words = _words(prompt)
    seen: set[str] = set(given)
    final = final_index(steps, answer)
    for s in steps:
        nums = numbers_in(s.text)
        s.check, s.equations, eq_results = check_text(s.text)
        # A step produces what its holding equations compute (and how: the left side), and any number
        # it is the first to mention (how: "mention").
        how: dict[str, set] = {}
        for k, lhs in eq_results:
            how.setdefault(k, set()).add(lhs)
        for n in nums:
            if n not in seen:
                how.setdefault(n, set()).add("mention")
        s.produces = {k: frozenset(v) for k, v in how.items()}
        s.results = frozenset(how)
        s.uses = frozenset(set(nums) - s.results)
        s.final = s.index == final
        seen |= set(nums)
    _assign_roles(steps, given, prompt_words)
    return trace, steps


# "the answer is 7", "Final answer: 7", "#### 7" - an answer must follow ("that's the final answer." is no answer line).
_ANSWER_LINE = re.compile(r"\b(?:final answer|the answer)\s*(?:is|=|:)\s*[^\s.?!]|^\s*answer\s*:\s*\S|^\s*#### ", re.I | re.M)


def final_index(steps: list[Step], answer: str | None = None) -> int | None:
    """The step holding the final answer: the last ``\\boxed``; else the last "the answer is X" /
    "Final answer: X" line; else the last step that states the gold ``answer`` (as text, or as the same
    number); else the last code block (program traces); else None."""
    for pattern in (re.compile(r"\\boxed|\\fbox"), _ANSWER_LINE):
        hits = [s.index for s in steps if pattern.search(s.text)]
        if hits:
            return hits[-1]
    if answer:
        gold = re.sub(r"\s+", "", str(answer))
        keys = set(numbers_in(str(answer))) if re.fullmatch(r"[\d.,/\s$%-]+", str(answer)) else set()
        for s in reversed(steps):
            if (gold and gold in re.sub(r"\s+", "", s.text)) or (keys and keys <= set(numbers_in(s.text))):
                return s.index
    hits = [s.index for s in steps if "```" in s.text]
    return hits[-1] if hits else None


def _assign_roles(steps: list[Step], given: set[str], prompt_words: set[str]) -> None:
    established: set[str] = set()  # values some earlier step produced
    ways: dict[tuple[str, str], int] = {}  # (value, how) -> the latest step that produced it
    last: dict[str, int] = {}  # value -> the latest step that produced it and was not a re-check
    used_later: dict[int, set[str]] = {}
    later: set[str] = set()
    for s in reversed(steps):
        used_later[s.index] = set(later)
        later |= s.uses | s.results
    for s in steps:
        t = s.text.strip()
        # New: a value no earlier step computed this way (8/4=2 after 10-8=2 is new work). A step that says
        # it re-checks only needs the values to be known already (going back, 2+8=10 re-checks 10-8=2).
        if _VERIFY.search(t):
            new = s.results - established - given
        else:
            # ...and 9-8=1 again after 1+8=9 recomputed its input 9 is new work too.
            new = {v for v, hows in s.produces.items()
                   if not any((v, h) in ways and all(last.get(u, -1) < ways[(v, h)] for u in s.uses) for h in hows)}
        words = _words(t)
        has_math = bool(s.equations) or bool(re.search(r"[=+*/^×÷]|\d\s*-\s*\d|\\(?:frac|times|cdot|sqrt)", t))
        if s.final:
            role = "compute"
        elif _BACKTRACK.search(t):
            role = "backtrack"
        elif _FILLER.match(t) or (not s.uses and not s.results and not has_math and len(t) < 60 and not _PLAN.search(t)):
            role = "filler"
        elif new and (s.check == "ok" or has_math or not _VERIFY.search(t)):
            role = "compute"
        elif _VERIFY.search(t) or (s.results and not new and s.check == "ok"):
            role = "verify"  # re-derives what is already established
        elif _RESTATE.search(t) or (words and len(words & prompt_words) >= 0.6 * len(words) and not new):
            role = "restate"
        elif _PLAN.search(t) or not (s.uses or s.results):
            role = "plan"
        else:
            role = "restate"  # states known quantities again, computes nothing new
        s.role = role
        established |= s.results
        if role != "verify":  # a re-check's inverse ("going back, 1+8=9") is not work done
            ways.update({(v, h): s.index for v, hows in s.produces.items() for h in hows})
            last.update({v: s.index for v in s.results})
    # The abandoned attempt: a step right before a backtrack marker whose new results are never used again.
    for i, s in enumerate(steps[:-1]):
        nxt = steps[i + 1]
        if nxt.role == "backtrack" and s.role == "compute" and not s.final:
            if s.check == "fail" or not (s.results - given) & used_later[nxt.index] - nxt.results:
                s.role = "backtrack"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = open(argv[0]).read() if argv else sys.stdin.read()
    _, steps = analyse(text)
    for s in steps:
        flag = "*" if s.final else " "
        print(f"{s.index:3d}{flag} {s.role:9s} {s.check:4s} +{sorted(s.results)} <{sorted(s.uses)} | {s.text[:100]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
