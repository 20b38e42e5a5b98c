"""rldistill.data: every supported source, the column mapping, and every kind of bad input."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict

from rldistill.data import DataError, apply_filters, filter_rows, load_traces, read_jsonl, write_jsonl

FIX = Path(__file__).resolve().parent / "fixtures" / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data not found at {SHARED} (../shared/data)")

PROMPTS = ["What is 2+3?", "What is 4*6?", "What is 9-7?"]
ANSWERS = ["5", "24", "2"]


def _rows():
    return [{"question": p, "response": f"\\boxed{{{a}}}", "answer": a, "source": "toy"} for p, a in zip(PROMPTS, ANSWERS)]


def _parquet(tmp: Path) -> Path:
    Dataset.from_list(_rows()).to_parquet(str(tmp / "t.parquet"))
    return tmp / "t.parquet"


def _saved(tmp: Path) -> Path:
    Dataset.from_list(_rows()).save_to_disk(str(tmp / "saved"))
    return tmp / "saved"


def _saved_dict(tmp: Path) -> Path:
    DatasetDict({"train": Dataset.from_list(_rows()), "test": Dataset.from_list(_rows()[:1])}).save_to_disk(str(tmp / "dd"))
    return tmp / "dd"


def _hub_layout(tmp: Path) -> Path:
    # A folder laid out like a hub dataset repo: it goes through datasets.load_dataset, as a hub id would.
    (tmp / "hub" / "data").mkdir(parents=True)
    Dataset.from_list(_rows()).to_parquet(str(tmp / "hub" / "data" / "train-00000-of-00001.parquet"))
    return tmp / "hub"


def _gz(tmp: Path) -> Path:
    with gzip.open(tmp / "t.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in _rows())
    return tmp / "t.jsonl.gz"


def _json_wrapped(tmp: Path) -> Path:
    (tmp / "w.json").write_text(json.dumps({"data": _rows()}))
    return tmp / "w.json"


def _split_folder(tmp: Path) -> Path:
    write_jsonl(_rows(), tmp / "splits" / "train.jsonl")
    return tmp / "splits"


SOURCES = {
    "jsonl": lambda tmp: FIX / "traces.jsonl",
    "json": lambda tmp: FIX / "traces.json",
    "json_wrapped": _json_wrapped,
    "csv": lambda tmp: FIX / "traces.csv",
    "parquet": _parquet,
    "jsonl_gz": _gz,
    "save_to_disk": _saved,
    "save_to_disk_dict": _saved_dict,
    "hub_layout_folder": _hub_layout,
    "split_folder": _split_folder,
    "dataset_object": lambda tmp: Dataset.from_list(_rows()),
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_source_loads_into_the_schema(name, tmp_path):
    ds = load_traces(SOURCES[name](tmp_path))
    assert {"id", "prompt", "completion", "answer", "verifier"} <= set(ds.column_names)
    assert ds["prompt"] == PROMPTS
    assert ds["answer"] == ANSWERS  # numbers become strings (the JSONL fixture has a bare 24)
    assert all(c.endswith(f"\\boxed{{{a}}}") for c, a in zip(ds["completion"], ANSWERS))
    assert set(ds["verifier"]) == {"math"}
    assert ds["source"] == ["toy"] * 3  # extra columns pass through
    assert len(set(ds["id"])) == 3


BAD = [
    # fixture, expected pieces of the message (file, line, field)
    ("bad_line.jsonl", ["bad_line.jsonl:2", "malformed JSON"]),
    ("missing_answer.jsonl", ["missing_answer.jsonl", "'answer'", "columns that exist", "question", "response"]),
    ("wrong_type.jsonl", ["wrong_type.jsonl:3", "'question'", "got dict"]),
    ("empty.jsonl", ["empty.jsonl", "empty file"]),
]


@pytest.mark.parametrize("fixture,pieces", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_line_and_field(fixture, pieces):
    with pytest.raises(DataError) as e:
        load_traces(FIX / fixture)
    for piece in pieces:
        assert piece in str(e.value)


@pytest.mark.parametrize("content,suffix,pieces", [
    ('{"question": "q", "answer": ""}\n', ".jsonl", [":1", "'answer'", "empty"]),
    ('{"question": "q", "answer": {"a": 1}}\n', ".jsonl", [":1", "'answer'", "got dict"]),
    ('["not", "an", "object"]\n', ".jsonl", [":1", "JSON object"]),
    ("question,answer\n", ".csv", ["no rows"]),
    ("question,answer\nq,1,extra\n", ".csv", [":2", "more values"]),
    ('{"question": "q", "answer": "1"', ".json", ["malformed JSON"]),
    ('{"rows_of": 3}', ".json", ["expected a list of rows"]),
    ("", ".parquet", ["empty file"]),
    ("x", ".txt", ["unknown file type"]),
], ids=["empty-value", "dict-answer", "not-object", "csv-header-only", "csv-extra", "json-bad", "json-shape",
        "empty-parquet", "unknown-ext"])
def test_more_bad_inputs(tmp_path, content, suffix, pieces):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(DataError) as e:
        load_traces(path)
    assert path.name in str(e.value)
    for piece in pieces:
        assert piece in str(e.value)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_traces(tmp_path / "nope.jsonl")


def test_missing_split_of_a_saved_dict(tmp_path):
    with pytest.raises(DataError, match="no split 'validation'.*test.*train"):
        load_traces(_saved_dict(tmp_path), split="validation")


def test_explicit_column_mapping_wins_and_is_checked(tmp_path):
    rows = [{"q": "What is 1+1?", "ans": "2", "answer": "wrong", "trace": "\\boxed{2}"}]
    write_jsonl(rows, tmp_path / "m.jsonl")
    ds = load_traces(tmp_path / "m.jsonl", columns={"prompt": "q", "answer": "ans"})
    assert ds[0]["prompt"] == "What is 1+1?" and ds[0]["answer"] == "2" and ds[0]["completion"] == "\\boxed{2}"
    with pytest.raises(DataError, match="column 'nope'.*not found.*columns"):
        load_traces(tmp_path / "m.jsonl", columns={"prompt": "nope"})


def test_gsm8k_final_line_becomes_the_answer():
    ds = load_traces(FIX / "gsm8k_style.jsonl")
    assert ds["answer"] == ["12", "2400"]  # thousands separators dropped
    assert ds[0]["completion"].startswith("He has 3 * 4") and ds[0]["completion"].endswith("\\boxed{12}")
    assert "####" not in ds[1]["completion"]


def test_gsm8k_rows_meet_a_required_completion_and_a_row_without_one_is_named(tmp_path):
    # SFT requires a completion: GSM8K's worked solution is one, though no column is called that.
    ds = load_traces(FIX / "gsm8k_style.jsonl", require=("prompt", "completion"))
    assert ds[0]["completion"].endswith("\\boxed{12}")
    write_jsonl([{"question": "q1", "answer": "1 + 1 = 2\n#### 2"}, {"question": "q2", "answer": "7"}], tmp_path / "g.jsonl")
    with pytest.raises(DataError, match=r"g\.jsonl:2.*completion.*missing or empty"):
        load_traces(tmp_path / "g.jsonl", require=("prompt", "completion"))


def test_chat_messages_split_into_prompt_and_completion():
    ds = load_traces(FIX / "chat.jsonl")
    assert ds[0]["prompt"] == [{"role": "user", "content": "What is 2+3?"}]
    assert ds[1]["prompt"][0] == {"role": "system", "content": "Be brief."}
    assert ds["completion"] == ["\\boxed{5}", "\\boxed{24}"]


def test_a_verifier_column_is_kept_and_the_default_fills_the_rest(tmp_path):
    write_jsonl([{"prompt": "p", "answer": "1", "verifier": "program"}, {"prompt": "p2", "answer": "2"}], tmp_path / "v.jsonl")
    assert load_traces(tmp_path / "v.jsonl", verifier="mine")["verifier"] == ["program", "mine"]


def test_jsonl_round_trip_and_read_errors(tmp_path):
    rows = [{"a": 1, "b": [1, 2], "c": "ü"}, {"a": 2, "b": [], "c": ""}]
    assert read_jsonl(write_jsonl(rows, tmp_path / "sub" / "r.jsonl")) == rows
    (tmp_path / "x.jsonl").write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(DataError, match=r"x\.jsonl:3"):
        read_jsonl(tmp_path / "x.jsonl")


def test_filters_report_what_they_removed(caplog):
    ds = Dataset.from_list([{"completion": c} for c in ["\\boxed{1}", "", "no box", "\\boxed{2}"]])
    with caplog.at_level(logging.INFO, logger="rldistill.data"):
        kept, reports = apply_filters(ds, ["has_completion", "has_boxed"])
    assert len(kept) == 2
    assert [(r.before, r.removed, r.kept) for r in reports] == [(4, 1, 3), (3, 1, 2)]
    assert "removed 1 of 4" in caplog.text and "has_boxed" in caplog.text
    kept, rep = filter_rows(ds, lambda r: len(r["completion"]) > 6, "too short")
    assert rep.removed == 2 and "too short" in str(rep)
    with pytest.raises(KeyError, match="unknown filter"):
        apply_filters(ds, ["nope"])


# ---- the real files in ../shared/data


@needs_shared
def test_real_gsm8k():
    ds = load_traces(SHARED / "gsm8k" / "test.jsonl")
    assert len(ds) == 1319
    assert ds[0]["answer"] == "18"
    assert all(a.lstrip("-").replace(".", "").isdigit() for a in ds["answer"])
    assert all(c.endswith(f"\\boxed{{{a}}}") for c, a in zip(ds["completion"], ds["answer"]))


@needs_shared
def test_real_math500():
    ds = load_traces(SHARED / "math500" / "test.jsonl")
    assert len(ds) == 500
    assert ds[0]["id"] == "test/precalculus/807.json"
    assert ds[0]["answer"] == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert "\\boxed" in ds[0]["completion"]  # the reference solution
    assert {"subject", "level"} <= set(ds.column_names)


@needs_shared
def test_real_skythought_traces_take_the_generation_and_filter_truncated_ones():
    path = SHARED / "skythought_longcot_traces" / "math500_sky-t1-math-correct-5k-27b.jsonl"
    ds = load_traces(path)
    assert len(ds) == 500
    assert ds[0]["prompt"].startswith("Convert the point $(0,3)$")
    assert ds[0]["completion"].startswith("<|begin_of_thought|>")  # the long trace, not the reference solution
    assert {"solution", "pred", "score", "level"} <= set(ds.column_names)
    kept, (rep,) = apply_filters(ds, ["has_boxed"])
    assert rep.removed > 0 and rep.kept == len(kept) == 500 - rep.removed


@needs_shared
def test_real_skythought_aime_file_in_a_temp_copy_with_a_json_suffix(tmp_path):
    # JSON Lines under a .json name is read as JSON Lines
    shutil.copy(SHARED / "skythought_longcot_traces" / "aime24_sky-t1-math-correct-5k-32b-ckpt140.jsonl", tmp_path / "a.json")
    ds = load_traces(tmp_path / "a.json")
    assert len(ds) == 30 and ds[0]["answer"] == "204"
