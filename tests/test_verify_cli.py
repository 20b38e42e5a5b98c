"""`rldistill verify`: rows in, scores and a summary out."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from verifiers.cli import cli

ROWS = Path(__file__).parent / "fixtures" / "verifiers" / "rows.jsonl"


def _read(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def test_scores_rows_and_writes_them_back(tmp_path, capsys):
    out = tmp_path / "scored.jsonl"
    assert cli(["--input", str(ROWS), "--output", str(out), "--workers", "1"]) == 0
    rows = _read(out)
    assert [(r["id"], r["score"], r["reason"]) for r in rows] == [
        ("a", 1.0, "ok"),
        ("b", 0.0, "mismatch"),
        ("c", 1.0, "ok"),
        ("d", 0.0, "no_answer"),
        ("e", 1.0, "ok"),
    ]
    assert rows[0]["split"] == "demo" and rows[4]["prompt"][0]["role"] == "user"  # extra columns pass through
    text = capsys.readouterr().out
    assert "rows: 5" in text and "mean score: 0.6000" in text
    assert "ok=3" in text and "mismatch=1" in text and "no_answer=1" in text
    assert "rows/s" in text


def test_json_summary(capsys):
    assert cli(["--input", str(ROWS), "--json", "--workers", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 5 and summary["mean_score"] == pytest.approx(0.6)
    assert summary["reasons"] == {"ok": 3, "mismatch": 1, "no_answer": 1}
    assert summary["rows_per_second"] > 0


def test_verifier_flag_overrides_the_row_column(tmp_path, capsys):
    rows = [{"id": "x", "completion": "\\boxed{2}", "answer": "2", "verifier": "no-such-verifier"}]
    src = tmp_path / "rows.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert cli(["--input", str(src), "--verifier", "math", "--json", "--workers", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["mean_score"] == 1.0


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"completion": "1", "answer": "1"}\n', "no 'verifier' column"),
        ('{"completion": "1", "answer": "1", "verifier": "no-such-verifier"}\n', "available"),
        ('{"completion": "1", "answer": "1", "verifier": "math"}\n{oops\n', ":2: not valid JSON"),
        ('{"completion": 1, "answer": "1", "verifier": "math"}\n', "string 'completion'"),
    ],
    ids=["no verifier", "unknown verifier", "bad json", "bad field"],
)
def test_bad_input_fails_with_a_clear_message(tmp_path, content, message):
    src = tmp_path / "rows.jsonl"
    src.write_text(content)
    with pytest.raises(SystemExit) as e:
        cli(["--input", str(src)])
    assert message in str(e.value)


@pytest.mark.skipif(shutil.which("rldistill") is None, reason="console script not installed")
def test_console_script(tmp_path):
    out = subprocess.run(
        ["rldistill", "verify", "--input", str(ROWS), "--workers", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "mean score: 0.6000" in out.stdout


def test_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "verifiers.cli", "--input", str(ROWS), "--json", "--workers", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["rows"] == 5
