"""Split a reasoning trace into steps and give each step a role.

What it does:

* recognises three trace formats: R1-style ``<think>...</think>answer``,
  Sky-T1 ``<|begin_of_thought|>...<|end_of_thought|><|begin_of_solution|>...
  <|end_of_solution|>`` and plain text (truncated traces keep what they have);
* splits each section into units by ``sentence``, ``line`` or ``paragraph``
  (``rldistill.units``: display math, code and ``\\boxed{...}`` are never
  cut) and marks the lead-ins ("We have:") that go with the unit after them;
* reads the quantities each step *uses* and the results it *produces*:
  numbers (``a op b = c`` results, verbal arithmetic such as "21 divided by
  3, which is 7", money, percentages, unit words read past), named
  quantities (``f(-2) = 2``), formulas (``r = \\sqrt{x^2+y^2}``, used by the
  step that evaluates it, with the values of its letters), factorisations
  and other symbolic results (``rldistill.symbols``), and the expressions in
  letters a later step works out (``x2 - x1 = ...`` uses the formula that
  wrote ``x2 - x1``); checks every closed-form equation (``rldistill.equations``);
* assigns a role from the text alone: ``plan``, ``compute``, ``verify``
  (re-checking a result already established), ``backtrack`` (an abandoned
  attempt, or its correction), ``restate`` and ``filler``. Roles come from
  discourse markers *and* the dependency analysis (a "compute" step that
  produces nothing new is a re-check; a step before a "wait, that's wrong"
  whose results are never used is the abandoned attempt). Annotations that a
  synthetic teacher may carry are never read.

What it leaves out: semantic parsing of prose. Dependencies are read from
the text: equal numbers or names tie steps that may be unrelated, and a
result stated without an equation ("70 apples in total") ties to nothing.

Run: ``python -m rldistill.segment FILE [--row N] [--method verified]`` prints each step, its role,
what it computes, the dependency links found (each quantity it uses, with the earlier step that
computed it) and, with ``--method``, which steps that compressor keeps.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from rldistill.equations import check_text, key, numbers_in
from rldistill.symbols import definitions, factorisations, loose, mentions
from rldistill.units import UNITS, is_lead_in, split_steps  # noqa: F401  (split_steps, UNITS: public here too)

ROLES = ("plan", "compute", "verify", "backtrack", "restate", "filler")

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
    lead_in: bool = False  # introduces the next step of its section ("We have:"): kept exactly when that one is


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
    r"checks out|consistent|just to confirm|recheck|re-check|confirm\w*|which matches|as expected|check this|"
    r"(?:way|how) to (?:check|verify|confirm)|back in|yes,? (?:that'?s|it'?s) (?:right|correct))\b"
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
        units = split_steps(body, unit)
        for k, (sep, text) in enumerate(units):
            nxt = units[k + 1][1] if k + 1 < len(units) else None
            steps.append(Step(text=text, section=name, index=len(steps), sep=sep, lead_in=nxt is not None and is_lead_in(text, nxt)))
    given = set(numbers_in(prompt))
    prompt_words = _words(prompt)
    seen: set[str] = set(given)
    final = final_index(steps, answer)
    defs = [definitions(s.text) for s in steps]
    facts = [factorisations(s.text) for s in steps]
    # symbolic values ("θ = \frac{\pi}{2}") are expressions later steps use by writing them again
    sym_values = [tuple(loose(rhs) for kind, rhs, value, _ in d.values()
                        if kind == "value" and value is None and len(loose(rhs)) >= 3) for d in defs]
    facts = [f + v for f, v in zip(facts, sym_values)]
    names, exprs = {n for d in defs for n in d}, {e for f in facts for e in f}
    # A step that works out an expression in letters ("x2 - x1 = -4 - 2 = -6") uses the earlier step
    # that wrote it (the formula "sqrt((x2 - x1)^2 + (y2 - y1)^2)"): the key form:x2-x1.
    lefts = [_letter_lhs(s.text) for s in steps]
    looses = [loose(s.text) for s in steps]
    laws: dict[str, frozenset] = {}  # name -> the free letters of its latest formula
    values: dict[str, str] = {}  # name -> its latest value
    for s, d, f in zip(steps, defs, facts):
        nums = numbers_in(s.text)
        s.check, s.equations, eq_results = check_text(s.text)
        # A step produces what its holding equations compute (and how: the left side), any number
        # it is the first to mention (how: "mention"), the names it defines ("f(-2) = 2": the key
        # sym:f(-2), and 2 as "=f(-2)"; a formula also law:r) and factorisations (expr:2^2*7^2).
        how: dict[str, set] = {}
        for k, lhs in eq_results:
            how.setdefault(k, set()).add(lhs)
        for n in nums if s.check != "fail" else ():  # a slip ("12 / 60 = 2.2?") introduces nothing
            if n not in seen:
                how.setdefault(n, set()).add("mention")
        uses = set()
        for n, (kind, rhs, value, free) in d.items():
            how.setdefault("sym:" + n, set()).add(rhs)
            if value is not None:
                how.setdefault(key(value), set()).add("=" + n)
            if kind == "formula":
                how.setdefault("law:" + n, set()).add(rhs)
            elif values.get(n) in (rhs, value):  # "Thus, r = 3" again: uses the earlier statement
                uses.add("sym:" + n)
            elif n in laws:  # evaluating a formula uses it, and the values of its letters
                uses |= {"law:" + n} | {"sym:" + v for v in laws[n] if v in names and v != n}
        laws.update({n: free for n, (kind, _, _, free) in d.items() if kind == "formula"})
        values.update({n: (value or rhs) for n, (kind, rhs, value, _) in d.items() if kind == "value"})
        for e in f:
            how.setdefault("expr:" + e, set()).add("factor")
        for k in {k for k in lefts if k and k in looses[s.index]} - {lefts[s.index]}:
            how.setdefault("form:" + k, set()).add("formula")
        if lefts[s.index]:
            uses.add("form:" + lefts[s.index])
        uses |= {("sym:" if m in names else "expr:") + m for m in mentions(s.text, names - set(d), exprs - set(f))}
        # numbers met only as later sides of a chain ("(2+1)(2+1) = 3 × 3 = 9": the 3) are worked out here
        inner = set()
        for eq in s.equations:
            sides = eq.split("=")
            inner |= {x for side in sides[1:] for x in numbers_in(side)} - set(numbers_in(sides[0]))
        # ...and what its first equation starts from is used, even when it is computed again here
        # ("117 divided by 9 is 13, because 9*13=117" uses 117)
        lhs = set(numbers_in(s.equations[0].split("=")[0])) if s.equations else set()
        s.produces = {k: frozenset(v) for k, v in how.items()}
        s.results = frozenset(how)
        s.uses = frozenset(((set(nums) - inner) | uses) - s.results | lhs)
        s.final = s.index == final
        if s.check != "fail":
            seen |= set(nums)
    _assign_roles(steps, given, prompt_words)
    return trace, steps


def _letter_lhs(text: str) -> str | None:
    """The left side of the step's first equation when it is an expression in letters (``x2 - x1``)."""
    m = re.search(r"(?:^|[\s($])((?:[A-Za-z]\w{0,2}\s*[-+*/]\s*)+[A-Za-z]\w{0,2})\s*=", text)
    return loose(m.group(1)) if m else None


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
    checking = False  # inside a re-check block: after "To verify, we check:", while nothing new comes up
    for s in steps:
        t = s.text.strip()
        # New: a value no earlier step computed this way (8/4=2 after 10-8=2 is new work). A step that says
        # it re-checks, or follows one, only needs the values to be known already (going back, 2+8=10
        # re-checks 10-8=2).
        strict = s.results - established - given
        known = not (s.results - established)  # every result some earlier step already stated
        if _VERIFY.search(t) or (checking and known):
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
        # a re-check that opens a block ("To verify, we check:") covers the steps under it
        checking = (role == "verify" and s.lead_in) or (checking and known and role not in ("plan", "backtrack"))
        established |= s.results
        if role != "verify":  # a re-check's inverse ("going back, 1+8=9") is not work done
            ways.update({(v, h): s.index for v, hows in s.produces.items() for h in hows})
            last.update({v: s.index for v in s.results})
    # The abandoned attempt: a step right before a backtrack marker whose new results are never used again.
    for i, s in enumerate(steps[:-1]):
        nxt = steps[i + 1]
        # (a value its equation computes counts even when the prompt also states it: "300-225=$75" with "75%" given)
        computed = {v for v, hows in s.produces.items() if hows - {"mention"}}
        if nxt.role == "backtrack" and not s.final and (s.check == "fail" or (
                s.role == "compute" and not ((s.results - given) | computed) & used_later[nxt.index] - nxt.results)):
            s.role = "backtrack"


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m rldistill.segment",
                                 description="Print a trace's steps, their roles and the dependency links found.")
    ap.add_argument("file", nargs="?", help="a text file with one trace, or a .jsonl of rows (see --row); stdin if absent")
    ap.add_argument("--row", type=int, default=0, help="which row of a .jsonl (0-based)")
    ap.add_argument("--unit", choices=UNITS, default="sentence")
    ap.add_argument("--method", default=None, help="also mark the steps this compressor keeps (K), e.g. verified")
    args = ap.parse_args(argv)
    prompt, answer = "", None
    if args.file and args.file.endswith(".jsonl"):
        from rldistill.compress import _text_prompt
        from rldistill.data import load_traces

        ds = load_traces(args.file)
        if not 0 <= args.row < len(ds):
            ap.error(f"{args.file}: --row {args.row} out of range (it has {len(ds)} rows)")
        row = ds[args.row]
        text, prompt, answer = row["completion"] or "", _text_prompt(row["prompt"]), str(row["answer"])
    else:
        text = open(args.file).read() if args.file else sys.stdin.read()
    from rldistill.compressors import Example, bindings, get_compressor

    ex = Example(text, prompt, answer or "", unit=args.unit)
    kept = set()
    if args.method:
        out = get_compressor(args.method)(ex)
        kept = set(getattr(out, "kept", ()))
    links: dict[int, list[str]] = {}
    for t, v, p in bindings(ex.steps, ex.given):
        links.setdefault(t, []).append(f"{v}@{p}")
    print("step  K role      check  computes | uses (quantity@step it comes from) | text")
    for s in ex.steps:
        flag = ("*" if s.final else " ") + ("K" if s.index in kept else (" " if not args.method else "."))
        lead = " [lead-in]" if s.lead_in else ""
        print(f"{s.index:4d}{flag} {s.role:9s} {s.check:5s} {sorted(s.results)} | {links.get(s.index, [])} |{lead} "
              f"{s.text[:100]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
