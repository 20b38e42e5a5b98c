"""Is a compressed trace well formed? Count what a compressor broke, per row.

``violations(source, output)`` reads the output against the teacher's trace,
with no knowledge of the compressor that made it. The source is cut into its
finest units (sentences, equation lines, display blocks, list items:
``rldistill.units``); the output must be those units, whole and in order,
separated only by whitespace and the format's markers. It counts:

* ``cut``: output text that is a strict part of a source unit (a line cut
  inside ``f(-2) = (3(-2)-2)/(-2-2)``);
* ``rewritten``: output text that is no source unit and no part of one (a
  case change, a stripped word, anything new);
* ``lead_in``: a lead-in ("...is:") kept without the unit it introduces right
  after it, or that unit kept without its lead-in (a false start right after a
  lead-in, deleted, is skipped: the lead-in then introduces what follows it);
* ``unbalanced``: a kept unit whose brackets, braces or math delimiters do not
  balance, where the teacher's own unit did (units the teacher left
  unbalanced, mostly in traces cut off mid-formula, are counted apart as
  ``teacher_unbalanced`` and are not violations).

What it leaves out: whether the kept units make a good solution (that is the
dependency analysis and the verifier's job); it checks form only.
"""

from __future__ import annotations

import re
from collections import Counter

from rldistill.units import balanced, is_lead_in, split_steps

KINDS = ("cut", "rewritten", "lead_in", "unbalanced")
_MARKERS = re.compile(r"<\|(?:begin|end)_of_(?:thought|solution)\|>|</?think>")


def _atoms(text: str) -> list[tuple[str, bool]]:
    """The source's finest units in order, each with "is a lead-in of the next one in its section"."""
    from rldistill.segment import split_format

    out = []
    for _, body in split_format(text).sections:
        units = [t for _, t in split_steps(body, "sentence")]
        out += [(t, k + 1 < len(units) and is_lead_in(t, units[k + 1])) for k, t in enumerate(units)]
    return out


def violations(source: str, output: str, prompt: str = "") -> Counter:
    """Counts of each kind in ``KINDS`` (and ``teacher_unbalanced``) for one output row; ``prompt`` (the row's
    question) lets step roles be read as the compressor read them.

    >>> src = "So f(-2) = (3(-2)-2)/(-2-2) = 2.\\nWe have:\\n\\\\[ 2 + 1 = 3 \\\\]\\n\\\\boxed{3}"
    >>> dict(violations(src, "So f(-2) = (3(-2)-2)/(-2-2) = 2.\\nWe have:\\n\\\\[ 2 + 1 = 3 \\\\]\\n\\\\boxed{3}"))
    {}
    >>> dict(violations(src, "-2-2) = 2.\\nWe have:\\n\\\\boxed{3}"))
    {'cut': 1, 'unbalanced': 1, 'lead_in': 1}
    """
    atoms, found, bad = _match(source, output)
    kept = set(found)
    retracted = None  # segmented only when a lead-in's next unit was dropped (it may be a deleted false start)
    for j, (_, lead) in enumerate(atoms):
        if not lead:
            continue
        if j + 1 in kept:
            if j not in kept:
                bad["lead_in"] += 1
            continue
        if retracted is None:
            retracted = _retracted(source, atoms, prompt)
        nxt = j + 1  # what it introduces: the next unit, past a deleted false start ("Hmm, 8-1=7. No wait, ...")
        while nxt in retracted and nxt not in kept:
            nxt += 1
        if (j in kept) != (nxt in kept):
            bad["lead_in"] += 1
    return bad


def _retracted(source: str, atoms: list, prompt: str = "") -> set[int]:
    """Atoms of the false starts that follow a lead-in, as ``rldistill.segment`` reads the source's roles (which
    depend on the prompt: a number the prompt gives is no slip)."""
    from rldistill.render import retracted_after
    from rldistill.segment import analyse

    _, steps = analyse(source, prompt)
    if [s.text for s in steps] != [a for a, _ in atoms]:  # another cut of the source: no roles to go by
        return set()
    return retracted_after(steps)


def _match(source: str, output: str) -> tuple[list, list[int], Counter]:
    """The source's units, the indices of those the output holds (in order), and the pieces that are no unit."""
    atoms = _atoms(source)
    where: dict[str, list[int]] = {}
    for j, (a, _) in enumerate(atoms):
        where.setdefault(a, []).append(j)
    by_length = sorted(where, key=len, reverse=True)
    text = _MARKERS.sub(" ", output)
    bad = Counter()
    pieces: list[str] = []  # the output read as source units, in order
    p = 0
    while True:
        while p < len(text) and text[p].isspace():
            p += 1
        if p >= len(text):
            break
        # the longest unit that matches here ("Thus," is a prefix of "Thus, the answer is 5.")
        hit = next((a for a in by_length if text.startswith(a, p) and (p + len(a) == len(text) or text[p + len(a)].isspace())), None)
        if hit is not None:
            pieces.append(hit)
            p += len(hit)
            if not balanced(hit):
                bad["teacher_unbalanced"] += 1
            continue
        # Not a unit: read up to the end of the line and say what it is.
        nl = text.find("\n", p)
        piece = text[p: nl if nl >= 0 else len(text)].strip()
        p = nl if nl >= 0 else len(text)
        bad["cut" if any(piece in a for a in where) else "rewritten"] += 1
        if not balanced(piece):
            bad["unbalanced"] += 1
    # Which occurrence of each unit: in order, and where a unit repeats ("Simplifying:"), the one whose
    # lead-in ties hold (the one its neighbours in the output neighbour in the source).
    found: list[int] = []
    cur = 0
    for k, piece in enumerate(pieces):
        cands = [j for j in where[piece] if j >= cur]
        if not cands:  # a unit out of the source's order, or repeated: not the teacher's sequence
            bad["rewritten"] += 1
            continue
        nxt = pieces[k + 1] if k + 1 < len(pieces) else None
        prev = found[-1] if found else None

        def loose(j):  # lead-in ties this occurrence would break (identical text: any occurrence reads the same)
            return ((j > 0 and atoms[j - 1][1] and prev != j - 1)
                    + (atoms[j][1] and not (j + 1 < len(atoms) and atoms[j + 1][0] == nxt)))

        j = min(cands, key=lambda j: (loose(j), j))
        found.append(j)
        cur = j + 1
    return atoms, found, bad


def summarise(per_row: list[Counter], ids: list | None = None, show: int = 20) -> dict:
    """What ``stats.json`` holds: totals per kind, rows with any violation, and the first few of those rows."""
    total = Counter()
    for c in per_row:
        total.update(c)
    rows = [i for i, c in enumerate(per_row) if any(c[k] for k in KINDS)]
    return {"total": sum(total[k] for k in KINDS), **{k: total[k] for k in KINDS},
            "rows_with_violations": len(rows), "teacher_unbalanced": total["teacher_unbalanced"],
            "example_rows": [ids[i] if ids else i for i in rows[:show]]}
