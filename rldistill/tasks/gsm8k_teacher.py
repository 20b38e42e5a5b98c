"""The GSM8K teacher: long, R1-style traces over GSM8K's own worked solutions, with known decision points.

    python -m rldistill.tasks.gsm8k_teacher --input ../shared/data/gsm8k/train.jsonl \\
        --output runs/gsm8k/verbose.jsonl [--limit N] [--seed S]

GSM8K's solutions mark every intermediate result with a calculator annotation
(``48/2 = <<48/2=24>>24``). ``teach_gsm8k`` turns one solution into what a
long-chain-of-thought model writes, in plain English: an opener, a
restatement of the question, a plan (sometimes after an abandoned one), each
line of the human solution as a sentence (annotations stripped; when a line
hides its computation, the annotated one is said next to it), slips that are
caught and redone ("So 48/2 = 23? Hmm, wait, that's not right."), re-checks of
results already established ("Wait, let me double-check that: going back,
24 * 2 = 48, ..."), hedges, filler, a final re-check of the whole chain and
``\\boxed{N}``. Slips, re-checks, hedges and fillers are drawn from a
``random.Random`` seeded per row (``f"{seed}/{id}"``): same seed, same file.

Row schema (what ``rldistill.data.load_traces`` reads): ``id``
(``gsm8k-<split>-<line index>``), ``prompt`` (the embedded task's plain
style: ``Question: ... Put the final answer in \\boxed{}.\\nAnswer:``),
``completion`` (the verbose trace), ``answer`` (the ``#### N`` line, commas
removed), ``verifier="math"``, plus columns that tests and benchmarks read and
no compressor may: ``decision_results`` (every annotated result, in order, as
written in the annotation), ``reference`` (the human solution with the
annotations stripped, ending in ``\\boxed{N}``: the "reference SFT" arm of the
transfer experiment) and ``teacher_steps`` (each segment with its role, as in
``rldistill.tasks.teacher``).

Nothing is lost silently: rows without any annotation are skipped and rows
whose trace does not verify with the ``math`` verifier are dropped, both
counted in the report that the CLI prints and writes next to the output
(``verbose.stats.json``). A row that is not a GSM8K row is a ``DataError``
naming the file, line and field. Leaves out: paraphrasing the human lines
(they are kept word for word, so they carry GSM8K's own phrasing and units)
and any model-written text.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import sys
from fractions import Fraction
from pathlib import Path

from rldistill.data import DataError, write_jsonl
from rldistill.equations import numbers_in

ROLES = ("restate", "plan", "compute", "verify", "false_start", "hedge", "filler", "answer")
INSTRUCTION = "Put the final answer in \\boxed{}."
_ANN = re.compile(r"<<([^<>]*)>>")
_FINAL = re.compile(r"^####\s*(.+?)\s*$")
# The text before an annotation ends in "=" (optionally "$"): the line shows the computation itself.
_SHOWN = re.compile(r"=\s*\$?\s*$")

_OPENERS = ["Okay, let's see.", "Alright, let me think about this.", "Hmm, okay, let me work through this.",
            "Let me try to figure this out.", "Okay, so let me start."]
_PLANS = ["My plan: work out each quantity the question depends on, one at a time, and then put them together.",
          "I'll go step by step: find the intermediate amounts first, then combine them into the answer.",
          "Let me break this into smaller pieces and compute each one from what I already know."]
_FALSE_PLANS = ["Maybe I could just add up all the numbers in the problem? Hmm, no, that ignores how the "
                "quantities relate to each other. Let me not do that.",
                "Could I get the answer in one go from the numbers as given? No, wait, that doesn't work: "
                "some amounts depend on others, so I need the intermediate steps."]
_CONNECT = ["Okay, next.", "Now for the next part.", "Let me keep going.", "Alright, moving on.", "Next piece."]
_HEDGES = ["I think that's right, but let me keep going carefully.", "That seems right, I'm fairly sure.",
           "Probably fine, but I should be careful here.", "I'm pretty confident about that one.",
           "Hmm, that looks okay so far."]
_VERB = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}
_INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}
_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b}


# --------------------------------------------------------------------------- reading GSM8K


def strip_annotations(text: str) -> str:
    """The human solution as people read it.

    >>> strip_annotations("Natalia sold 48/2 = <<48/2=24>>24 clips in May.")
    'Natalia sold 48/2 = 24 clips in May.'
    """
    return _ANN.sub("", text)


def exact(expr: str) -> Fraction | None:
    """The exact value of an annotation's arithmetic (``+ - * /``, parentheses, decimals), or None."""
    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return Fraction(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError(type(node).__name__)

    try:
        return ev(ast.parse(expr.strip(), mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, TypeError):
        return None


def parse_solution(answer: str) -> tuple[list[tuple[str, list[tuple[str, str, bool]]]], str]:
    """``([(line without annotations, [(expr, value, shown), ...]), ...], final answer)``.

    ``shown``: the line writes the computation before the annotation (``48/2 = <<...>>``).
    Raises ``ValueError`` when there is no ``#### N`` line.
    """
    lines, final = [], None
    for raw in answer.strip().split("\n"):
        m = _FINAL.match(raw.strip())
        if m:
            final = m.group(1).replace(",", "").strip()
            break
        if not raw.strip():
            continue
        calcs = []
        for a in _ANN.finditer(raw):
            expr, _, value = a.group(1).rpartition("=")
            calcs.append((expr.strip(), value.strip(), bool(_SHOWN.search(raw[: a.start()]))))
        lines.append((strip_annotations(raw).strip(), calcs))
    if final is None:
        raise ValueError("no '#### N' final line")
    return lines, final


def kept_results(text: str, results: list[str]) -> list[bool]:
    """For each annotated result: does its number appear in ``text``? (numbers compared as
    ``rldistill.equations.numbers_in`` keys, so ``90.00`` is kept by ``90`` and ``-10`` by ``10``).

    >>> kept_results("48/2 = 24\\n\\\\boxed{72}", ["24", "72", "90.00"])
    [True, True, False]
    """
    have = set(numbers_in(text))
    return [set(numbers_in(str(r))) <= have if numbers_in(str(r)) else str(r) in text for r in results]


# --------------------------------------------------------------------------- writing the trace


def _pretty(expr: str) -> str:
    """``100-50-30-15`` -> ``100 - 50 - 30 - 15``; a leading ``+`` (GSM8K's ``<<+30+46=76>>`` fragments) goes,
    a leading ``-`` stays attached."""
    return re.sub(r"(?<=[\d)])\s*([+\-*/])\s*(?=[\d(.])", r" \1 ", expr.strip().lstrip("+"))


def _binary(expr: str):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([+\-*/])\s*(\d+(?:\.\d+)?)\s*", expr)
    return (m.group(1), m.group(2), m.group(3)) if m else None


def _slip(expr: str, value: str, rng: random.Random, avoid: set[str]) -> str | None:
    """A plausible wrong result for ``expr`` and its retraction; None when every wrong value at hand is a
    number the problem already has (``avoid``: a slip must not pass for a real quantity)."""
    from rldistill.equations import key

    b = _binary(expr)
    if b and b[1] in "+-" and rng.random() < 0.4:
        bad_op = _INVERSE[b[1]]
        bad = exact(f"{b[0]}{bad_op}{b[2]}")
        if bad is not None and bad >= 0 and bad.denominator == 1 and key(bad) not in avoid:
            return (f"Hmm, {b[0]} {bad_op} {b[2]} = {bad}. No wait, that's the wrong operation: here I need to "
                    f"{_VERB[b[1]]}, not {_VERB[bad_op]}.")
    v = exact(value)
    if v is None:
        return None
    deltas = [-2, -1, 1, 2, 10, -10]
    rng.shuffle(deltas)
    bad = next((v + d for d in deltas if v + d >= 0 and key(v + d) not in avoid), None)
    if bad is None:
        return None
    shown = str(bad) if bad.denominator == 1 else f"{float(bad):g}"
    return rng.choice([f"So {_pretty(expr)} = {shown}? Hmm, wait, that's not right. Let me redo it.",
                       f"That gives {shown}... no, wait, that's wrong. Let me compute {_pretty(expr)} again."])


def _recheck(expr: str, value: str, rng: random.Random) -> str:
    """A re-verification of ``expr = value``, which the caller has checked to hold exactly."""
    b = _binary(expr)
    if b and not (b[1] in "*/" and exact(b[2]) == 0):
        a, op, c = b[0], b[1], b[2]
        back = f"{value} {_INVERSE[op]} {c} = {a}"
        return rng.choice([f"Wait, let me double-check that: going back, {back}, so yes, {_pretty(expr)} = {value} is correct.",
                           f"Let me verify that: {back}. Yes, that checks out."])
    return rng.choice([f"Wait, let me double-check that by computing it again: {_pretty(expr)} = {value}. Yes, that's right.",
                       f"Let me make sure: {_pretty(expr)} is {value}. Yes, that checks out."])


def _ask(question: str) -> tuple[str, str]:
    """``(the question's statements, its last sentence)``."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z])", question.strip())
    return " ".join(parts[:-1]), parts[-1]


def _sentence(line: str) -> str:
    return line if re.search(r"[.!?:]$", line) else line + "."


def teach_gsm8k(question: str, answer: str, rng: random.Random) -> tuple[str, list[dict], list[str], str]:
    """``(trace, segments, decision_results, reference)`` for one GSM8K row (``"".join`` of segment texts == trace)."""
    lines, final = parse_solution(answer)
    calcs = [c for _, cs in lines for c in cs]
    n = len(calcs)
    holds = [exact(e) is not None and exact(e) == exact(v) for e, v, _ in calcs]
    slips = set(rng.sample(range(n), k=max(1, n // 3))) if n else set()
    checks = set(rng.sample(range(n), k=max(1, n // 2))) if n else set()
    avoid = set(numbers_in(question)) | set(numbers_in(answer))  # a slip's value must be no real quantity
    segs: list[tuple[str, ...]] = [("filler", rng.choice(_OPENERS))]
    body, ask = _ask(question)
    segs.append(("restate", f" So the question is: {ask}"))
    if body and rng.random() < 0.5:
        segs.append(("restate", f" Let me restate what I'm given. {body}"))
    if rng.random() < 0.5:
        segs.append(("false_start", "\n\n" + rng.choice(_FALSE_PLANS)))
    segs.append(("plan", "\n\n" + rng.choice(_PLANS)))
    k = 0  # index into calcs
    for li, (text, cs) in enumerate(lines):
        if li and rng.random() < 0.5:
            segs.append(("filler", "\n\n" + rng.choice(_CONNECT)))
        sep = "\n\n"
        for j, (expr, value, _) in enumerate(cs):
            slip = _slip(expr, value, rng, avoid) if k + j in slips and holds[k + j] else None
            if slip:
                segs.append(("false_start", sep + slip))
                sep = "\n"
        if not cs:  # a line with no computation: a setup ("Let x be ...") or a conclusion
            segs.append(("plan" if text.rstrip().endswith(":") else "compute", sep + _sentence(text)))
            continue
        segs.append(("compute", sep + _sentence(text), [v for _, v, _ in cs]))
        for expr, value, shown in cs:
            if not shown:  # the line hides this computation ("... equals 72"): say it
                segs.append(("compute", f" That is, {_pretty(expr)} = {value}."))
        for expr, value, _ in cs:
            if k in checks and holds[k]:
                segs.append(("verify", " " + _recheck(expr, value, rng)))
            elif rng.random() < 0.3:
                segs.append(("hedge", " " + rng.choice(_HEDGES)))
            k += 1
    chain = ", ".join(f"{_pretty(e)} = {v}" for (e, v, _), ok in zip(calcs, holds) if ok)
    if chain:
        segs.append(("verify", f"\n\nWait, let me double-check the whole thing by going through it again: {chain}. "
                               "Yes, it all holds together."))
    segs.append(("hedge", f"\n\nSo the answer should be {final}. I'm fairly confident in that."))
    segs.append(("answer", f"\n\n\\boxed{{{final}}}"))
    reference = "\n".join(t for t, _ in lines) + f"\n\\boxed{{{final}}}"
    # A human line's segment also names its annotated results, in order (for the benchmark's --why).
    annotated = [{"role": s[0], "text": s[1], **({"results": s[2]} if len(s) > 2 else {})} for s in segs]
    return "".join(s[1] for s in segs), annotated, [v for _, v, _ in calcs], reference


# --------------------------------------------------------------------------- the file


def prompt_for(question: str) -> str:
    """The embedded task's plain prompt style around a GSM8K question."""
    return f"Question: {question.strip()} {INSTRUCTION}\nAnswer:"


def build(path, seed: int = 0, limit: int | None = None, split: str | None = None) -> tuple[list[dict], dict]:
    """Teacher rows for the GSM8K JSONL file ``path`` and a report of what was skipped or dropped."""
    path = Path(path)
    split = split or path.name.split(".")[0]
    rows, skipped = [], []
    with open(path, encoding="utf-8") as f:
        for i, raw in enumerate(f):
            if limit is not None and len(rows) + len(skipped) >= limit:
                break
            if not raw.strip():
                continue
            try:
                r = json.loads(raw)
            except json.JSONDecodeError as e:
                raise DataError(path, f"not JSON: {e.msg}", line=i + 1) from None
            for field in ("question", "answer"):
                if not isinstance(r.get(field), str) or not r[field].strip():
                    raise DataError(path, "missing or empty (a GSM8K row has 'question' and 'answer')", line=i + 1,
                                    field=field)
            rid = f"gsm8k-{split}-{i:05d}"
            if "<<" not in r["answer"]:
                skipped.append(rid)
                continue
            try:
                completion, segs, results, reference = teach_gsm8k(r["question"], r["answer"], random.Random(f"{seed}/{rid}"))
            except ValueError as e:
                raise DataError(path, str(e), line=i + 1, field="answer") from None
            rows.append({"id": rid, "prompt": prompt_for(r["question"]), "completion": completion,
                         "answer": parse_solution(r["answer"])[1], "verifier": "math",
                         "decision_results": results, "reference": reference, "teacher_steps": segs})
    kept, failed = verify_rows(rows)
    report = {"input": str(path), "seed": seed, "limit": limit, "rows_read": len(rows) + len(skipped),
              "skipped_no_annotation": len(skipped), "dropped_not_verifying": len(failed),
              "dropped_ids": failed[:20], "rows_out": len(kept),
              "annotated_results": sum(len(r["decision_results"]) for r in kept)}
    return kept, report


def verify_rows(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """``(rows whose completion verifies with the math verifier, ids of the others)``."""
    from rldistill.compress import score

    verdicts = score(["math"] * len(rows), [r["completion"] for r in rows], [r["answer"] for r in rows])
    kept = [r for r, v in zip(rows, verdicts) if v.score == 1.0]
    return kept, [r["id"] for r, v in zip(rows, verdicts) if v.score != 1.0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rldistill.tasks.gsm8k_teacher", description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True, help="a GSM8K JSONL file (question, answer with '#### N')")
    ap.add_argument("--output", required=True, help="DST.jsonl; the report goes to DST.stats.json")
    ap.add_argument("--limit", type=int, default=None, help="only the first N rows of the input")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rows, report = build(args.input, seed=args.seed, limit=args.limit)
    out = write_jsonl(rows, args.output)
    stats = out.with_name(out.name.removesuffix(".jsonl") + ".stats.json")
    stats.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "dropped_ids"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
