"""rldistill.tasks.gsm8k_teacher: verbose traces over real GSM8K solutions, their known decision points,
and the recall of those decision points after compression."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rldistill.data import DataError, load_traces
from rldistill.equations import numbers_in
from rldistill.tasks.gsm8k_teacher import build, kept_results, main, parse_solution, teach_gsm8k, verify_rows

GSM8K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gsm8k" / "train.jsonl"
pytestmark = pytest.mark.skipif(not GSM8K.exists(), reason=f"{GSM8K} not present (../shared/data beside the repo)")
N = 120


@pytest.fixture(scope="module")
def built():
    return build(GSM8K, seed=0, limit=N)


def _raw(n=N):
    with open(GSM8K) as f:
        return [json.loads(next(f)) for _ in range(n)]


def test_every_trace_verifies_and_nothing_is_lost_silently(built):
    rows, report = built
    assert report["dropped_not_verifying"] == 0 and report["rows_out"] == len(rows)
    assert report["rows_read"] == N == report["rows_out"] + report["skipped_no_annotation"]
    assert len(verify_rows(rows)[0]) == len(rows)


def test_a_trace_that_does_not_verify_is_dropped_and_named(built):
    rows = [dict(r) for r in built[0][:3]]
    rows[1]["completion"] = rows[1]["completion"].replace(f"\\boxed{{{rows[1]['answer']}}}", "\\boxed{-12345}")
    kept, failed = verify_rows(rows)
    assert failed == [rows[1]["id"]] and [r["id"] for r in kept] == [rows[0]["id"], rows[2]["id"]]


def test_decision_results_are_the_annotated_results_in_order(built):
    rows, _ = built
    by_id = {f"gsm8k-train-{i:05d}": r for i, r in enumerate(_raw())}
    for r in rows:
        src = by_id[r["id"]]["answer"]
        assert r["decision_results"] == [a.split("=")[-1] for a in re.findall(r"<<([^<>]*)>>", src)]
        assert r["answer"] == src.split("####")[-1].strip().replace(",", "")


def test_the_verbose_trace_states_every_decision_point_and_the_reference_too(built):
    for r in built[0]:
        assert all(kept_results(r["completion"], r["decision_results"])), r["id"]
        assert all(kept_results(r["reference"], r["decision_results"])), r["id"]


def test_annotations_never_leak_and_the_reference_is_the_compact_human_solution(built):
    for r in built[0]:
        assert "<<" not in r["completion"] and "<<" not in r["reference"]
        assert r["reference"].endswith(f"\\boxed{{{r['answer']}}}")
        assert len(r["completion"]) > 1.5 * len(r["reference"])
    # the reference is the human solution, annotations stripped, nothing else
    first = built[0][0]
    assert first["reference"] == ("Natalia sold 48/2 = 24 clips in May.\n"
                                  "Natalia sold 48+24 = 72 clips altogether in April and May.\n\\boxed{72}")


def test_traces_carry_restatement_plan_rechecks_slips_hedges_and_end_in_the_box(built):
    roles = [{s["role"] for s in r["teacher_steps"]} for r in built[0]]
    for need in ("restate", "plan", "compute", "verify", "filler", "answer"):
        assert all(need in rs for rs in roles), need
    assert sum("false_start" in rs for rs in roles) > 0.8 * len(roles)  # a slip needs a wrong value free to use
    for r in built[0]:
        assert "".join(s["text"] for s in r["teacher_steps"]) == r["completion"]
        assert r["completion"].rstrip().endswith(f"\\boxed{{{r['answer']}}}")


def test_a_slip_never_states_a_real_quantity(built):
    for r in built[0]:
        real = set(numbers_in(r["prompt"])) | set(numbers_in(r["reference"]))
        for s in r["teacher_steps"]:
            if s["role"] != "false_start":
                continue
            m = re.search(r"= (\S+)\?|gives (\S+)\.\.\.|= (\S+)\. No wait", s["text"])
            if m:
                wrong = next(g for g in m.groups() if g)
                assert not set(numbers_in(wrong)) & real, (r["id"], s["text"])


def test_same_seed_same_rows_other_seed_other_traces(built):
    again, _ = build(GSM8K, seed=0, limit=N)
    assert again == built[0]
    other, _ = build(GSM8K, seed=1, limit=N)
    assert [r["decision_results"] for r in other] == [r["decision_results"] for r in built[0]]
    assert sum(a["completion"] != b["completion"] for a, b in zip(other, built[0])) > 0.9 * len(other)


def test_cli_rows_load_through_load_traces(tmp_path):
    out = tmp_path / "verbose.jsonl"
    assert main(["--input", str(GSM8K), "--output", str(out), "--limit", "20", "--seed", "3"]) == 0
    ds = load_traces(out)
    assert len(ds) == json.loads((tmp_path / "verbose.stats.json").read_text())["rows_out"] > 0
    row = ds[0]
    assert row["id"] == "gsm8k-train-00000" and row["verifier"] == "math"
    assert row["prompt"].startswith("Question: Natalia sold") and row["prompt"].endswith("\\boxed{}.\nAnswer:")
    assert row["decision_results"] == ["24", "72"] and row["answer"] == "72"


def test_rows_without_annotations_are_skipped_and_counted(tmp_path):
    src = tmp_path / "g.jsonl"
    src.write_text(json.dumps({"question": "What is two and two?", "answer": "Two and two make four.\n#### 4"}) + "\n"
                   + json.dumps({"question": "Q?", "answer": "3 + 4 = <<3+4=7>>7.\n#### 7"}) + "\n")
    rows, report = build(src)
    assert report["skipped_no_annotation"] == 1 and [r["id"] for r in rows] == ["gsm8k-g-00001"]


@pytest.mark.parametrize("line,field", [
    ({"question": "Q?", "answer": "3 + 4 = <<3+4=7>>7."}, "answer"),  # no '#### N'
    ({"answer": "3 + 4 = <<3+4=7>>7.\n#### 7"}, "question"),
    ({"question": "Q?", "answer": ""}, "answer"),
])
def test_bad_rows_are_errors_naming_file_line_and_field(tmp_path, line, field):
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps({"question": "Q?", "answer": "1 + 1 = <<1+1=2>>2\n#### 2"}) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(DataError) as e:
        build(src)
    assert f"{src}:2" in str(e.value) and repr(field) in str(e.value)


def test_not_json_names_the_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text("{not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:1"):
        build(src)


def test_hidden_computations_are_said_and_leading_plus_fragments_are_clean():
    q = "Sam has 12 apples and eats some. He also has 3 pears. How many?"
    a = "The ants have 72 legs because 12 times 6 equals <<12*6=72>>72\nShe spent S + <<+30+46=76>>76.\n#### 76"
    lines, final = parse_solution(a)
    assert final == "76" and [c[2] for _, cs in lines for c in cs] == [False, False]
    import random

    text, _, results, _ = teach_gsm8k(q, a, random.Random(0))
    assert "That is, 12 * 6 = 72." in text and "That is, 30 + 46 = 76." in text and results == ["72", "76"]


# --------------------------------------------------------------------------- recall after compression


def _recall(rows, method):
    from rldistill.compress import compress_dataset

    ds, stats = compress_dataset(rows, method=method, progress=False)
    full = sum(all(kept_results(r["completion"], r["decision_results"])) for r in ds)
    return full / len(rows), 1 - stats["ratio"]


def test_recall_measure_fails_the_answer_only_compressor(built):
    recall, dropped = _recall(built[0], "answer_only")
    assert recall < 0.1 and dropped > 0.95


def test_recall_measure_passes_the_uncompressed_trace(built):
    assert _recall(built[0], "none") == (1.0, 0.0)


def test_default_method_keeps_every_decision_point_in_98_percent_of_rows_and_drops_60_percent(built):
    from rldistill.compress import _parser

    recall, dropped = _recall(built[0], _parser().get_default("method"))
    assert recall >= 0.98 and dropped >= 0.60
