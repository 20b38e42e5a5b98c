"""The embedded task family, its teacher and its splits."""

from __future__ import annotations

import json
import random
import re

import pytest

from rldistill.data import load_traces, read_jsonl
from rldistill.tasks import OPS, Knobs, available_kinds, check_problem, get_kind
from rldistill.tasks.styles import STYLES
from rldistill.tasks.synth import cli, synth
from rldistill.tasks.teacher import ROLES, compact_trace, teach
from verifiers import get_verifier

KINDS = available_kinds()
EQ = re.compile(r"^(\d+)([-+*/])(\d+)=(\d+)$")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    synth(out, seed=0, n_train=300, n_eval=60, n_ood=60)
    return out


def _load(data, split):
    return read_jsonl(data / f"{split}.jsonl")


def test_at_least_three_kinds():
    assert len(KINDS) >= 3 and {"chain", "equation", "word"} <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_steps", [1, 3, 6])
def test_problems_are_exact_and_respect_the_knobs(kind, n_steps):
    knobs = Knobs(operand_max=7, mul_max=3, value_max=60, mul_base_max=10)
    rng = random.Random(kind + str(n_steps))
    for _ in range(200):
        p = get_kind(kind)(rng, n_steps, knobs)
        check_problem(p)
        assert len(p.steps) == n_steps
        for s in p.steps:
            assert 0 <= s.a <= knobs.value_max and 0 <= s.c <= knobs.value_max
            assert s.b <= max(knobs.operand_max, knobs.mul_max)
            if s.op == "*" or (s.op == "/" and kind == "equation"):  # what got multiplied was small
                assert min(s.a, s.c) <= knobs.mul_base_max


@pytest.mark.parametrize("kind", KINDS)
def test_the_problem_text_determines_the_answer(kind):
    # Evaluate the statement independently of the generator's own steps.
    rng = random.Random(1)
    for _ in range(100):
        p = get_kind(kind)(rng, rng.randint(1, 6), Knobs())
        if kind == "chain":
            assert eval(p.facts["expr"]) == p.answer  # noqa: S307  (our own digits and operators)
        elif kind == "equation":
            lhs, rhs = p.text.removeprefix("Solve for x: ").rstrip(".").split("=")
            assert [x for x in range(0, 100) if eval(lhs, {"x": x}) == int(rhs)] == [p.answer]  # noqa: S307
        elif kind == "slots":
            cells = re.findall(r"\(([-+*/]\d+|\.\.)\)", p.text)
            v = int(re.match(r"Start with (\d+) ", p.text)[1])
            n = cells.index("..") if ".." in cells else len(cells)
            for c in cells[:n]:
                v = OPS[c[0]](v, int(c[1:]))
            assert v == p.answer and len(cells) == Knobs().slots and set(cells[n:]) <= {".."}
        else:
            assert p.text.startswith(f"{p.facts['name']} has {p.steps[0].a} ")
            assert [str(s.b) in p.text for s in p.steps] == [True] * len(p.steps)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_teacher_trace_boxes_the_gold_answer(tmp_path, seed):
    math = get_verifier("math")
    paths = synth(tmp_path, seed=seed, n_train=100, n_eval=30, n_ood=30)
    for name, path in paths.items():
        for row in read_jsonl(path):
            final = "Final answer" if row["style"] == "format" else "\\boxed"
            box = re.findall(r"\\boxed\{(\d+)\}|Final answer: (\d+)$", row["completion"])
            assert box and "".join(box[-1]) == row["answer"], (name, row["id"])
            assert final in row["completion"].splitlines()[-1]
            assert math(row["completion"], row["answer"]).score == 1.0, (name, row["id"])
            assert math(row["completion"], str(int(row["answer"]) + 1)).score == 0.0


def test_traces_are_verbose_and_r1_like(data):
    rows = _load(data, "train")
    for r in rows:
        segs = r["teacher_steps"]
        assert "".join(s["text"] for s in segs) == r["completion"]
        roles = {s["role"] for s in segs}
        assert {"restate", "plan", "compute", "verify", "false_start", "hedge", "filler", "answer"} <= roles
        assert roles <= set(ROLES)
        assert "Wait, let me double-check" in r["completion"]
        # the compute lines alone solve the problem: each a true equation chaining into the next
        eqs = [EQ.match(s["text"].strip()) for s in segs if s["role"] == "compute"]
        assert all(eqs) and len(eqs) == r["n_steps"]
        vals = [(int(a), op, int(b), int(c)) for a, op, b, c in (m.groups() for m in eqs)]
        assert all(OPS[op](a, b) == c for a, op, b, c in vals)
        assert all(nxt[0] == prev[3] for prev, nxt in zip(vals, vals[1:]))
        assert str(vals[-1][3]) == r["answer"]
    compact = [len(compact_trace(r["teacher_steps"])) for r in rows]
    verbose = [len(r["completion"]) for r in rows]
    assert sum(verbose) > 8 * sum(compact)  # there is a lot for a compressor to remove


def test_false_starts_are_wrong_then_corrected(data):
    n = 0
    for r in _load(data, "train")[:100]:
        segs = r["teacher_steps"]
        for i, s in enumerate(segs):
            m = re.search(r"(\d+)([-+*/])(\d+)=(\d+)", s["text"]) if s["role"] == "false_start" else None
            if m is None:
                continue
            a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
            fix = EQ.match(next(t["text"].strip() for t in segs[i + 1:] if t["role"] == "compute"))
            # a slip is a wrong result, or the wrong operation; the next computation is the right one
            assert OPS[op](a, b) != c or op != fix[2]
            assert int(fix[1]) == a and int(fix[3]) == b
            n += 1
    assert n >= 100  # at least one per trace


def test_splits_are_disjoint_and_ood_is_harder(data):
    keys = {s: {(r["kind"], r["prompt"]) for r in _load(data, s)} for s in ("train", "eval", "ood")}
    assert not keys["train"] & keys["eval"] and not keys["train"] & keys["ood"] and not keys["eval"] & keys["ood"]
    steps = {s: [r["n_steps"] for r in _load(data, s)] for s in ("train", "eval", "ood")}
    assert min(steps["ood"]) > max(steps["train"]) and min(steps["ood"]) > max(steps["eval"])
    manifest = json.loads((data / "synth.json").read_text())
    assert manifest["ood_steps"][0] > manifest["steps"][1]
    for s in ("train", "eval", "ood"):
        assert {r["kind"] for r in _load(data, s)} == set(KINDS)


def test_styles_restyle_eval(data):
    styles = sorted(p.stem for p in (data / "styles").glob("*.jsonl"))
    assert len(styles) >= 3 and set(styles) == set(STYLES) - {"plain"}
    base = _load(data, "eval")
    for style in styles:
        rows = _load(data, f"styles/{style}")
        assert [r["answer"] for r in rows] == [r["answer"] for r in base]
        changed = sum(r["prompt"] != b["prompt"] for r, b in zip(rows, base))
        assert changed == len(base), style
        assert all(r["prompt"].endswith("\nAnswer:") for r in rows)
    fmt = _load(data, "styles/format")
    assert all("Final answer" in r["prompt"] and r["completion"].endswith(f"Final answer: {r['answer']}") for r in fmt)
    para = _load(data, "styles/paraphrase")
    assert all("Put the final answer in \\boxed{}." not in r["prompt"] for r in para)
    dis = _load(data, "styles/distract")
    assert all(len(re.findall(r"\d+", d["prompt"])) > len(re.findall(r"\d+", b["prompt"])) for d, b in zip(dis, base))


def _wording_pattern(template: str) -> re.Pattern:
    """A style wording with its {placeholders} as wildcards."""
    return re.compile(".+?".join(re.escape(part) for part in re.split(r"\{\w+\}", template)))


def _uses(prompt: str, wordings: dict) -> set[str]:
    return {w for ws in wordings.values() for w in ws if _wording_pattern(w).search(prompt)}


def test_training_styles_use_only_wordings_held_out_of_the_style_files(tmp_path):
    from rldistill.tasks.styles import EVAL_WORDINGS, TRAIN_WORDINGS

    for style in TRAIN_WORDINGS:
        assert not set(TRAIN_WORDINGS[style]) & set(EVAL_WORDINGS[style]), style
    synth(tmp_path, seed=1, n_train=400, n_eval=60, n_ood=20, train_styles=0.5)
    train = _load(tmp_path, "train")
    styled = [r for r in train if r["style"] != "plain"]
    assert 0.4 < len(styled) / len(train) < 0.6 and {r["style"] for r in styled} == set(STYLES) - {"plain"}
    for r in styled:
        used = _uses(r["prompt"], TRAIN_WORDINGS)
        assert (used or r["style"] == "notation") and not _uses(r["prompt"], EVAL_WORDINGS), (r["prompt"], used)
        assert (r["style"] == "format") == r["completion"].endswith(f"Final answer: {r['answer']}")
    for style in set(STYLES) - {"plain"}:
        for r in _load(tmp_path, f"styles/{style}"):
            assert not _uses(r["prompt"], TRAIN_WORDINGS), r["prompt"]
    for split in ("eval", "ood"):
        assert {r["style"] for r in _load(tmp_path, split)} == {"plain"}


def test_train_styles_zero_keeps_every_training_prompt_plain_and_the_files_unchanged(tmp_path, data):
    synth(tmp_path / "zero", seed=0, n_train=300, n_eval=60, n_ood=60, train_styles=0.0)
    synth(tmp_path / "half", seed=0, n_train=300, n_eval=60, n_ood=60, train_styles=0.5)
    for split in ("train", "eval", "ood", "styles/format", "styles/paraphrase", "styles/distract"):
        assert (tmp_path / "zero" / f"{split}.jsonl").read_text() == (data / f"{split}.jsonl").read_text(), split
    for split in ("eval", "ood", "styles/format", "styles/paraphrase", "styles/distract"):  # only train moves
        assert (tmp_path / "half" / f"{split}.jsonl").read_text() == (data / f"{split}.jsonl").read_text(), split
    with pytest.raises(ValueError, match="train_styles"):
        synth(tmp_path / "bad", seed=0, n_train=10, n_eval=5, n_ood=5, train_styles=1.5)


def test_rows_are_in_the_schema_and_load(data):
    for split in ("train", "eval", "ood", "styles/distract"):
        ds = load_traces(data, split=split)
        assert {"id", "prompt", "completion", "answer", "verifier", "kind", "n_steps", "teacher_steps"} <= set(ds.column_names)
        assert set(ds["verifier"]) == {"math"} and len(set(ds["id"])) == len(ds)
        assert all(p.startswith("Question: ") and p.endswith("\nAnswer:") for p in ds["prompt"])
        assert all(c.startswith(" ") for c in ds["completion"])  # follows "Answer:" with a space


def test_same_seed_same_files_other_seed_other_problems(tmp_path):
    a = synth(tmp_path / "a", seed=3, n_train=40, n_eval=10, n_ood=10)
    b = synth(tmp_path / "b", seed=3, n_train=40, n_eval=10, n_ood=10)
    c = synth(tmp_path / "c", seed=4, n_train=40, n_eval=10, n_ood=10)
    assert all(a[k].read_bytes() == b[k].read_bytes() for k in a)
    assert a["train"].read_bytes() != c["train"].read_bytes()


def test_teacher_rejects_unknown_final_format():
    p = get_kind("chain")(random.Random(0), 2, Knobs())
    with pytest.raises(ValueError, match="final must be"):
        teach(p, random.Random(0), final="latex")


def test_impossible_requests_fail_loudly(tmp_path):
    with pytest.raises(ValueError, match="ood steps"):
        synth(tmp_path, n_train=5, n_eval=5, n_ood=5, steps=(2, 4), ood_steps=(4, 5))
    with pytest.raises(ValueError, match="distinct"):
        synth(tmp_path, n_train=500, n_eval=5, n_ood=5, kinds=["chain"], steps=(1, 1), knobs=Knobs(operand_max=2, value_max=4))


def test_cli_writes_every_split(tmp_path, capsys):
    assert cli(["--out", str(tmp_path), "--seed", "1", "--train", "20", "--eval", "6", "--ood", "6",
                "--kinds", "chain,word", "--steps", "1-2", "--ood-steps", "3-4"]) == 0
    rows = read_jsonl(tmp_path / "train.jsonl")
    assert len(rows) == 20 and {r["kind"] for r in rows} == {"chain", "word"}
    assert {r["n_steps"] for r in read_jsonl(tmp_path / "ood.jsonl")} <= {3, 4}
    assert "styles/format" in capsys.readouterr().out


def test_probe_quote_target_puts_each_event_before_the_line_that_reads_it():
    from rldistill.tasks.probe import quote_trace

    word = get_kind("word")(random.Random(5), 4, Knobs())
    _, segs = teach(word, random.Random(0))
    text = quote_trace({"kind": "word", "prompt": word.text, "answer": str(word.answer), "teacher_steps": segs})
    lines = text.strip().split("\n")
    assert lines[-1] == f"\\boxed{{{word.answer}}}" and len(lines) == len(word.steps) + 1
    for line, step in zip(lines, word.steps):
        event, _, compute = line.rpartition(". ")
        assert compute == str(step) and event.startswith("Then ") and event + "." in word.text
    chain = get_kind("chain")(random.Random(3), 3, Knobs())  # other kinds keep the compact trace
    _, segs = teach(chain, random.Random(0))
    text = quote_trace({"kind": "chain", "prompt": chain.text, "answer": str(chain.answer), "teacher_steps": segs})
    assert text.strip().split("\n")[:-1] == [str(s) for s in chain.steps]


def test_probe_rewrite_target_restates_what_is_left_after_each_step():
    from rldistill.tasks.probe import rewrite_trace

    chain = get_kind("chain")(random.Random(3), 3, Knobs())
    equation = get_kind("equation")(random.Random(4), 3, Knobs())
    for p in (chain, equation):
        _, segs = teach(p, random.Random(0))
        text = rewrite_trace({"kind": p.kind, "answer": str(p.answer), "teacher_steps": segs})
        lines = text.strip().split("\n")
        assert lines[0::2][:3] == [str(s) for s in p.steps] and lines[-1] == f"\\boxed{{{p.answer}}}"
        rests = lines[1:-1:2]
        assert len(rests) == len(p.steps) - 1
        for rest, step in zip(rests, p.steps):  # what is left evaluates to the answer from the running value
            if p.kind == "chain":
                assert rest.startswith(f"= {step.c}") and eval(rest[2:]) == p.answer
            else:
                lhs, rhs = rest[3:].split("=")
                assert rest.startswith("so ") and int(rhs) == step.c and eval(lhs.replace("x", str(p.answer))) == step.c


def test_probe_random_positions_are_sorted_distinct_and_within_the_span():
    from rldistill.tasks.probe import random_positions

    rng = random.Random(0)
    for n in (1, 5, 40):
        pos = random_positions(n, 3.0, rng)
        assert len(pos) == n and pos == sorted(set(pos)) and pos[-1] < 3 * n
    assert random_positions(7, 1.0, rng) == list(range(7))


def test_linked_probe_problems_chain_by_key_and_hold_as_many_definitions_as_asked():
    import importlib.util
    import re
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "probe_linked.py"
    spec = importlib.util.spec_from_file_location("probe_linked", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = random.Random(0)
    for n, total in [(2, 7), (4, 7), (6, 7), (3, 0)]:
        r = mod.problem(rng, n, total)
        defs = dict(re.findall(r"(?<=\. )([a-z]): ([^.]*)\.", r["prompt"].split("\n")[0]))
        assert len(defs) == max(n, total)
        v = int(re.search(r"Start with (\d+) at ([a-z])", r["prompt"]).group(1))
        node = re.search(r"Start with \d+ at ([a-z])", r["prompt"]).group(1)
        lines = r["completion"].strip().split("\n")
        for line in lines[:-1]:  # each line copies the definition the previous one named, then applies it
            assert line.startswith(f"{node}: {defs[node]}.")
            a, op, b, c = re.search(r"(\d+)([-+*])(\d+)=(\d+)$", line).groups()
            assert int(a) == v and int(c) == {"+": v + int(b), "-": v - int(b), "*": v * int(b)}[op]
            v, nxt = int(c), re.search(r"go to ([a-z])|end", defs[node])
            node = nxt.group(1)
        assert node is None and len(lines) == n + 1 and lines[-1] == f"\\boxed{{{v}}}" == f"\\boxed{{{r['answer']}}}"
    counts = {len(re.findall(r"(?<=\. )[a-z]: ", mod.problem(rng, 3, (0, 7))["prompt"])) for _ in range(200)}
    assert counts == {3, 4, 5, 6, 7}  # a range draws the number of definitions per problem, never below the chain


def test_linked_probe_counts_a_lucky_answer_but_not_its_wrong_trace():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "probe_linked.py"
    spec = importlib.util.spec_from_file_location("probe_linked", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    row = mod.problem(random.Random(1), 3, 0)
    gold = row["completion"]
    lucky = "a: add 1, end. 0+1=1\n\\boxed{" + row["answer"] + "}"  # the right number by a wrong chain
    first_only = gold.strip().split("\n")[0] + "\n\\boxed{-1}"
    assert mod.trace_counts([row], [[lucky]]) == {"problems": 1, "answer_right": 1, "whole_trace_right": 0,
                                                  "first_line_right": 0}
    assert mod.trace_counts([row], [[first_only]])["first_line_right"] == 1
    assert mod.trace_counts([row], [[lucky, " " + gold]]) == {"problems": 1, "answer_right": 1, "whole_trace_right": 1}


# ---------------------------------------------------------------- the slots kind and the notation style


def test_slots_cells_and_compact_lines_have_the_same_number_of_tokens(tmp_path):
    """What the kind is for: with one-digit numbers, a compact line (``4+3=7`` and its newline) is as many
    tokens as a cell (`` (+3),``), so every step reads its operation at the same distance back."""
    from rldistill.student import build_student
    from rldistill.tasks.teacher import compact_trace
    from transformers import AutoTokenizer

    synth(tmp_path / "data", seed=0, n_train=200, n_eval=10, n_ood=10, kinds=["slots"])
    tok = AutoTokenizer.from_pretrained(build_student(tmp_path / "student", "tiny", tmp_path / "data", 0))
    for r in _load(tmp_path / "data", "ood"):
        ids = tok(r["prompt"] + compact_trace(r["teacher_steps"]))["input_ids"]
        text = [tok.decode([i]) for i in ids]
        cells = [i for i, t in enumerate(text) if t == "(" and text[i + 1] in "+-*/" and text[i + 2].isdigit()]
        end = text.index("Answer")
        lines = [i for i, t in enumerate(text) if t in "+-*/" and i > end and text[i - 2] in ("\n", " ", ":")]
        assert len(cells) == len(lines) == r["n_steps"] >= 5
        assert len({line - cell for cell, line in zip(cells, lines)}) == 1, text  # one distance for every step


def test_slots_problems_longer_than_the_cells_are_refused():
    with pytest.raises(ValueError, match="Knobs.slots"):
        get_kind("slots")(random.Random(0), 9, Knobs())


def test_notation_uses_one_swap_in_training_and_all_of_them_in_the_style_file(data):
    from rldistill.tasks.styles import _SWAPS, STYLES

    rng = random.Random(0)
    for kind in KINDS:
        for _ in range(20):
            p = get_kind(kind)(rng, 3, Knobs())
            plain, _ = STYLES["plain"](p, rng)
            held_out, _ = STYLES["notation"](p, rng)
            trained = {STYLES["notation"](p, random.Random(i), pool="train")[0] for i in range(30)}
            assert held_out != plain, kind
            if sum(swap(p.text, kind) != p.text for swap in _SWAPS.values()) >= 2:  # a combination exists
                assert held_out not in trained, (kind, held_out)
            if kind == "slots":
                assert "[" in held_out and ";" in held_out and "(" not in held_out.split("\n")[0]
    for r in _load(data, "styles/notation"):
        assert r["style"] == "notation" and r["prompt"].endswith("\nAnswer:")


def test_instruction_first_kinds_end_every_style_with_the_problem(data):
    """Instructions and distractors go before a slots problem, so the cells end every prompt."""
    for style in ("eval", "styles/distract", "styles/paraphrase", "styles/format", "styles/notation"):
        for r in _load(data, style):
            if r["kind"] == "slots":
                assert re.search(r"[)\]]\.\nAnswer:$", r["prompt"]), r["prompt"]
