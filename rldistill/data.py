"""Load teacher traces from anywhere into the one row schema, with clear errors.

    from rldistill.data import load_traces
    ds = load_traces("../shared/data/gsm8k/test.jsonl")          # a file
    ds = load_traces("runs/tiny/data", split="ood")               # a folder with <split>.jsonl
    ds = load_traces("openai/gsm8k", split="test")                # a hub id (or a local copy of one)

Sources: JSONL (also ``.jsonl.gz``), JSON (a list of objects, or an object
holding one), CSV, parquet, a folder written by ``Dataset.save_to_disk``, a
folder holding ``<split>.jsonl`` (what ``rldistill synth`` writes), and
anything ``datasets.load_dataset`` opens (a hub id, or a local folder laid out
like a hub dataset); an in-memory ``datasets.Dataset`` is also accepted.

Every row comes out as ``id``, ``prompt`` (string or list of chat messages),
``completion`` (the trace; "" where absent), ``answer`` (string), ``verifier``,
plus the source's other columns untouched. Columns are found by ``ALIASES``
(first match wins) unless ``columns={"prompt": "my_col", ...}`` says
otherwise. GSM8K's ``#### N`` last line becomes the answer ``N``, the worked
solution becomes the completion, ending in ``\\boxed{N}``; a chat ``messages``
column becomes prompt (all but the last turn) and completion (the last
assistant turn); a list of sampled generations (the Qwen2.5-Math evaluation
harness's ``code`` column, as in the Sky-T1 traces) contributes its first.

Bad input raises ``DataError`` naming the file, the line (JSONL/CSV; the row
for other formats) and the field. Nothing is dropped silently: filters
(``filter_rows``, ``apply_filters``) log and return how many rows they removed
and why. Leaves out: streaming; everything is read into memory.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger("rldistill.data")

SCHEMA = ("id", "prompt", "completion", "answer", "verifier")
ALIASES = {
    "prompt": ("prompt", "question", "problem", "instruction", "query", "input"),
    "completion": ("completion", "solution", "response", "reasoning", "trace", "generation", "output"),
    "answer": ("answer", "gt", "gold", "final_answer", "ground_truth", "expected_answer", "target"),
    "id": ("id", "idx", "unique_id", "task_id", "problem_id", "uid"),
    "verifier": ("verifier",),
}
# Formats that the aliases alone get wrong: (name, columns that identify it, mapping).
FORMATS = [
    # Qwen2.5-Math evaluation harness outputs (e.g. the Sky-T1 traces): the generation is code[0],
    # while "solution" holds the reference solution.
    ("qwen_math_eval", {"question", "code", "pred", "gt"}, {"completion": "code"}),
]
_SPLIT_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".csv", ".parquet")
_GSM8K_FINAL = re.compile(r"(?:^|\n)####\s*(.+?)\s*$")


class DataError(ValueError):
    """Bad input data: the message names the file, the line (or row) and the field."""

    def __init__(self, file, message: str, *, line: int | None = None, field: str | None = None, row: int | None = None):
        self.file, self.line, self.field, self.row = str(file), line, field, row
        where = str(file) + (f":{line}" if line is not None else "") + (f" (row {row})" if row is not None else "")
        super().__init__(f"{where}: " + (f"field {field!r}: " if field else "") + message)


# ---------------------------------------------------------------- JSONL I/O


def write_jsonl(rows: Iterable[dict], path) -> Path:
    """Write rows (a list of dicts or a ``datasets.Dataset``) as JSON Lines; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def _read_jsonl_lines(path: Path) -> tuple[list[dict], list[int]]:
    rows, lines = [], []
    with _open_text(path) as f:
        for n, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise DataError(path, f"malformed JSON ({e.msg} at column {e.colno})", line=n) from None
            if not isinstance(obj, dict):
                raise DataError(path, f"expected a JSON object, got {type(obj).__name__}", line=n)
            rows.append(obj)
            lines.append(n)
    if not rows:
        raise DataError(path, "empty file: no rows")
    return rows, lines


def read_jsonl(path) -> list[dict]:
    """Read JSON Lines into a list of dicts; blank lines are skipped; raises ``DataError``."""
    return _read_jsonl_lines(Path(path))[0]


# ---------------------------------------------------------------- readers: source -> (rows, lines, where)


def _read_json(path: Path, split: str) -> tuple[list[dict], list[int] | None]:
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise DataError(path, "empty file: no rows")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # JSON Lines under a .json name
            return _read_jsonl_lines(path)
        raise DataError(path, f"malformed JSON ({e.msg})", line=e.lineno) from None
    if isinstance(obj, dict):
        lists = {k: v for k, v in obj.items() if isinstance(v, list)}
        key = next((k for k in (split, "data", "rows", "examples") if k in lists), None)
        if key is None and lists and all(len(v) == len(next(iter(lists.values()))) for v in lists.values()) \
                and len(lists) == len(obj):  # a dict of columns
            n = len(next(iter(lists.values())))
            obj = [{k: v[i] for k, v in obj.items()} for i in range(n)]
        elif key is None:
            raise DataError(path, f"expected a list of rows, or an object with one under {split!r}/'data'/'rows'; "
                                  f"found keys {sorted(obj)}")
        else:
            obj = obj[key]
    if not isinstance(obj, list):
        raise DataError(path, f"expected a list of rows, got {type(obj).__name__}")
    if not obj:
        raise DataError(path, "empty file: no rows")
    for i, r in enumerate(obj):
        if not isinstance(r, dict):
            raise DataError(path, f"expected a JSON object, got {type(r).__name__}", row=i)
    return obj, None


def _read_csv(path: Path) -> tuple[list[dict], list[int]]:
    rows, lines = [], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for r in reader:
            if None in r:
                raise DataError(path, f"more values than the {len(reader.fieldnames)} header columns", line=reader.line_num)
            rows.append(dict(r))
            lines.append(reader.line_num)
    if not rows:
        raise DataError(path, "empty file: no rows" if not reader.fieldnames else "no rows below the header")
    return rows, lines


def _read_file(path: Path, split: str) -> tuple[list[dict], list[int] | None]:
    name = path.name.lower()
    if path.stat().st_size == 0:
        raise DataError(path, "empty file: no rows")
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return _read_jsonl_lines(path)
    if name.endswith(".json"):
        return _read_json(path, split)
    if name.endswith(".csv"):
        return _read_csv(path)
    if name.endswith(".parquet"):
        from datasets import Dataset

        return Dataset.from_parquet(str(path)).to_list(), None
    raise DataError(path, "unknown file type: expected .jsonl, .jsonl.gz, .json, .csv or .parquet")


def _read_source(source, split: str) -> tuple[list[dict], list[int] | None, str]:
    import datasets

    if isinstance(source, datasets.Dataset):
        return source.to_list(), None, "<Dataset>"
    if isinstance(source, datasets.DatasetDict):
        source = source[split]
        return source.to_list(), None, f"<DatasetDict>[{split}]"
    path = Path(source)
    if path.is_file():
        return (*_read_file(path, split), str(path))
    if path.is_dir():
        for suffix in _SPLIT_SUFFIXES:  # a folder of <split>.<ext> files (rldistill synth writes these)
            f = path / f"{split}{suffix}"
            if f.is_file():
                return (*_read_file(f, split), str(f))
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists() or (path / "state.json").exists():
            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise DataError(path, f"no split {split!r}; splits: {sorted(ds)}")
                ds = ds[split]
            return ds.to_list(), None, str(path)
    elif "://" not in str(source) and Path(str(source)).suffix in (".jsonl", ".json", ".csv", ".parquet", ".gz"):
        raise DataError(source, "no such file")
    # A hub id, or a local folder laid out like one: the same datasets.load_dataset call.
    try:
        ds = datasets.load_dataset(str(source), split=split)
    except Exception as e:  # noqa: BLE001  (network, missing dataset, bad layout: all one message to the user)
        raise DataError(source, f"could not load split {split!r} with datasets.load_dataset: {type(e).__name__}: {e}") from e
    return ds.to_list(), None, str(source)


# ---------------------------------------------------------------- mapping rows to the schema


def _resolve_columns(present: set[str], columns: dict | None, where: str) -> dict[str, str | None]:
    columns = dict(columns or {})
    unknown = set(columns) - set(SCHEMA)
    if unknown:
        raise ValueError(f"columns= keys must be schema fields {SCHEMA}, got {sorted(unknown)}")
    for fmt, needs, mapping in FORMATS:
        if needs <= present:
            for k, v in mapping.items():
                columns.setdefault(k, v)
    out = {}
    for field in SCHEMA:
        if field in columns:
            if columns[field] not in present:
                raise DataError(where, f"column {columns[field]!r} (given for {field!r}) not found; "
                                       f"columns: {sorted(present)}", field=field)
            out[field] = columns[field]
        else:
            out[field] = next((c for c in ALIASES[field] if c in present), None)
    if out["prompt"] is None and out["completion"] is None and "messages" in present:
        out["prompt"] = out["completion"] = "messages"
    return out


def _is_messages(v) -> bool:
    return isinstance(v, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in v)


def _text(v, where, line, field, i, samples: bool = False) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        raise DataError(where, f"expected a string, got bool {v!r}", line=line, field=field, row=None if line else i)
    if isinstance(v, (int, float)):
        return str(v)
    if samples and isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        return v[0]  # several sampled generations: the first
    raise DataError(where, f"expected a string, got {type(v).__name__}", line=line, field=field, row=None if line else i)


def _map_row(r: dict, i: int, line, cols: dict, verifier: str, stem: str, where: str) -> dict:
    used = {c for c in cols.values() if c}
    out = {}
    src_prompt = r.get(cols["prompt"]) if cols["prompt"] else None
    if cols["prompt"] == "messages" and cols["completion"] == "messages":
        msgs = src_prompt
        if not _is_messages(msgs) or not msgs:
            raise DataError(where, "expected a list of {role, content} messages", line=line, field="messages")
        last = msgs[-1]
        prompt, completion = (msgs[:-1], last["content"]) if last["role"] == "assistant" else (msgs, "")
    else:
        if src_prompt is None or isinstance(src_prompt, str):
            prompt = src_prompt
        elif _is_messages(src_prompt):
            prompt = src_prompt
        else:
            raise DataError(where, f"expected a string or a list of {{role, content}} messages, got "
                                   f"{type(src_prompt).__name__}", line=line, field=cols["prompt"], row=None if line else i)
        completion = (_text(r.get(cols["completion"]), where, line, cols["completion"], i, samples=True)
                      if cols["completion"] else None)
    answer = _text(r.get(cols["answer"]), where, line, cols["answer"], i) if cols["answer"] else None
    if answer is not None:
        m = _GSM8K_FINAL.search(answer)
        if m:
            final = m.group(1).replace(",", "").strip()
            worked = answer[: m.start()].rstrip()
            if not completion and cols["completion"] is None:
                completion = (worked + "\n" if worked else "") + f"\\boxed{{{final}}}"
            answer = final
    out["id"] = _text(r.get(cols["id"]), where, line, cols["id"], i) if cols["id"] else None
    out["id"] = out["id"] if out["id"] not in (None, "") else f"{stem}-{i}"
    out["prompt"] = prompt
    out["completion"] = completion or ""
    out["answer"] = answer
    v = r.get(cols["verifier"]) if cols["verifier"] else None
    out["verifier"] = v if isinstance(v, str) and v else verifier
    for k, val in r.items():
        if k not in used and k not in out:
            out[k] = val
    return out


def load_traces(source, *, split: str = "train", columns: dict | None = None, verifier: str = "math",
                require: tuple[str, ...] = ("prompt", "answer")):
    """Load ``source`` into a ``datasets.Dataset`` in the row schema (see the module docstring).

    ``require``: schema fields that every row must have non-empty (else ``DataError``).
    """
    from datasets import Dataset

    rows, lines, where = _read_source(source, split)
    present = set().union(*(r.keys() for r in rows))
    cols = _resolve_columns(present, columns, where)
    for field in require:
        # GSM8K-style rows have no completion column: the worked solution before `#### N` in the answer is one.
        derived = field == "completion" and cols.get("answer") is not None
        if cols.get(field) is None and not derived:
            raise DataError(where, f"missing required column; looked for {list(ALIASES[field])}, "
                                   f"columns that exist: {sorted(present)}", field=field)
    stem = Path(where).name.split(".")[0] if not where.startswith("<") else "row"
    out = []
    for i, r in enumerate(rows):
        line = lines[i] if lines else None
        m = _map_row(r, i, line, cols, verifier, stem, where)
        for field in require:
            if m[field] in (None, "", []):
                raise DataError(where, "missing or empty value", line=line, field=cols[field] or field,
                                row=None if line else i)
        out.append(m)
    if len({isinstance(m["prompt"], str) for m in out if m["prompt"] is not None}) > 1:
        raise DataError(where, "prompts mix strings and chat messages; use one or the other", field=cols["prompt"])
    try:
        return Dataset.from_list(out)
    except Exception as e:  # noqa: BLE001  (pyarrow type clashes inside an extra column)
        raise DataError(where, f"rows do not share one type per column: {type(e).__name__}: {e}") from e


# ---------------------------------------------------------------- filters that say what they removed


@dataclass(frozen=True)
class FilterReport:
    reason: str
    before: int
    removed: int

    @property
    def kept(self) -> int:
        return self.before - self.removed

    def __str__(self) -> str:
        return f"filter {self.reason!r}: removed {self.removed} of {self.before} rows, kept {self.kept}"


def filter_rows(ds, keep: Callable[[dict], bool], reason: str):
    """``(dataset of the rows where keep(row), FilterReport)``; the report is also logged."""
    kept = ds.filter(keep)
    report = FilterReport(reason, len(ds), len(ds) - len(kept))
    log.info("%s", report)
    return kept, report


FILTERS: dict[str, Callable[[dict], bool]] = {}


def register_filter(name: str):
    def deco(fn):
        FILTERS[name] = fn
        return fn

    return deco


@register_filter("has_completion")
def _has_completion(row: dict) -> bool:
    """the completion is empty"""
    return bool(str(row.get("completion") or "").strip())


@register_filter("has_boxed")
def _has_boxed(row: dict) -> bool:
    """the completion has no \\boxed{} final answer (e.g. a truncated trace)"""
    return "\\boxed" in str(row.get("completion") or "")


def apply_filters(ds, names: Iterable[str]) -> tuple[Any, list[FilterReport]]:
    """Apply registered filters by name, in order; return the dataset and one report each."""
    reports = []
    for name in names:
        if name not in FILTERS:
            raise KeyError(f"unknown filter {name!r}; known: {sorted(FILTERS)}")
        why = (FILTERS[name].__doc__ or "").strip()
        ds, rep = filter_rows(ds, FILTERS[name], f"{name}" + (f" (removes rows where {why})" if why else ""))
        reports.append(rep)
    return ds, reports
