"""Trace compression (rldistill.compressors, rldistill.compress): each property attacked on its own."""

import json
import re
from pathlib import Path

import pytest
import yaml

from rldistill.compress import cli, compress_dataset, stats_path
from rldistill.compressors import (GRANULARITIES, Example, available_compressors, derivation_holds, get_compressor,
                                   last_boxed, register_compressor)
from verifiers import get_verifier

REPO = Path(__file__).resolve().parents[1]
SKY = REPO.parent / "shared" / "data" / "skythought_longcot_traces"
BUILTINS = ["none", "answer_only", "rule", "steps", "verified"]

# A hand-written trace with one of everything. (4+3)*5-6 = 29.
PROMPT = "Compute (4+3)*5-6."
TRACE = """Okay, let me think about this.
The problem asks for (4+3)*5-6.
First, I add 4 and 3.
Hmm, 4+3=8. Wait, that's not right.
4+3=7
Wait, let me double-check that: 4+3=7, yes.
Maybe I should also compute 5*6=30 in case it helps.
Then 7*5=35
And 35-6=29
So the answer is 29.

\\boxed{29}"""


def run(method, trace=TRACE, prompt=PROMPT, **opts):
    return str(get_compressor(method)(Example(trace, prompt, "29"), **opts))


@pytest.mark.parametrize("method", ["rule", "steps", "verified"])
def test_a_recheck_is_removed(method):
    assert "double-check" not in run(method)


@pytest.mark.parametrize("method", ["steps", "verified"])
def test_the_correcting_step_is_kept_and_the_slip_removed(method):
    out = run(method)
    assert "4+3=7" in out and "4+3=8" not in out


@pytest.mark.parametrize("method", ["steps", "verified"])
def test_a_dead_end_is_removed(method):
    assert "5*6=30" not in run(method)


@pytest.mark.parametrize("method", ["steps", "verified"])
def test_a_step_whose_result_is_used_later_is_kept(method):
    out = run(method)
    # 7 feeds 7*5=35, which feeds 35-6=29, which is the answer
    assert out.index("4+3=7") < out.index("7*5=35") < out.index("35-6=29") < out.index("\\boxed{29}")


def test_verified_at_key_equations_is_the_chain_of_whole_units():
    # the units as the teacher wrote them ("Then ...", "And ..."): deleted or kept whole, never rewritten
    assert run("verified") == "4+3=7\nThen 7*5=35\nAnd 35-6=29\n\\boxed{29}"


@pytest.mark.parametrize("method", ["rule", "steps", "verified"])
def test_keep_puts_back_the_decision_before_a_kept_computation(method):
    ex = Example(TRACE, PROMPT, "29")
    roles = {s.text.strip(): s.role for s in ex.steps}
    assert roles["First, I add 4 and 3."] == "plan" and roles["The problem asks for (4+3)*5-6."] == "restate"
    out = run(method, keep=("plan", "restate"))
    # the plan leads (past the retracted slip) into the kept 4+3=7: back, right before it
    assert "I add 4 and 3" in out and out.index("I add 4 and 3") < out.index("4+3=7")
    # the restatement leads into another plan, not a computation: not a decision, stays out
    assert "(4+3)*5-6" not in out
    assert "double-check" not in out and out.endswith("\\boxed{29}")
    if method != "rule":  # rule keeps plans and slips anyway
        assert "4+3=8" not in out and "I add 4 and 3" not in run(method)


def test_under_a_budget_decisions_go_before_computations():
    ex = Example(TRACE, PROMPT, "29")
    full = str(get_compressor("verified")(ex, keep=("plan",)))
    out = str(get_compressor("verified")(ex, keep=("plan",), budget=0.9 * len(full) / len(TRACE)))
    assert "I add 4 and 3" not in out and "4+3=7" in out and out.endswith("\\boxed{29}")


def test_keep_rejects_an_unknown_role():
    with pytest.raises(ValueError, match="unknown role"):
        compress_dataset([{"prompt": PROMPT, "completion": TRACE, "answer": "29"}], keep=("decision",))


def test_verified_output_is_a_derivation():
    ex = Example(TRACE, PROMPT, "29")
    kept = get_compressor("verified")(ex).kept
    assert derivation_holds(ex, kept)
    assert not derivation_holds(ex, kept - {next(s.index for s in ex.steps if "7*5=35" in s.text)})


def test_a_backtrack_that_corrects_a_used_result_is_kept():
    trace = "So 28*3=86? Hmm, wait, that's not right. Let me redo it.\n28*3=84\n84+1=85\n\\boxed{85}"
    out = str(get_compressor("steps")(Example(trace, "Take 28, times 3, plus 1.", "85")))
    assert "28*3=84" in out and "86" not in out


def test_verified_refuses_a_trace_whose_wrong_equation_is_needed():
    trace = "7*8=54\n54+1=55\n\\boxed{55}"  # the answer only follows from the wrong step
    assert get_compressor("verified")(Example(trace, "7 times 8, plus 1", "55")) is None


@pytest.mark.parametrize("method", BUILTINS)
def test_every_compressor_ends_in_the_same_boxed_answer(method):
    out = run(method)
    assert last_boxed(out) == "\\boxed{29}" and out.rstrip().endswith("\\boxed{29}")


def test_answer_only_is_just_the_box():
    assert run("answer_only") == "\\boxed{29}"


def test_granularity_orders_lengths():
    lens = [len(run("verified", granularity=g)) for g in GRANULARITIES]
    assert lens == sorted(lens) and lens[0] < lens[-1]


@pytest.mark.parametrize("method", ["none", "rule", "steps", "verified"])
def test_budget_caps_length(method):
    out = run(method, budget=0.2, granularity="sentences")
    assert len(out) <= 0.2 * len(TRACE) + len("\\boxed{29}")
    assert out.endswith("\\boxed{29}")


@pytest.mark.parametrize("wrap", [
    ("<think>\n{}\n</think>\n\nSo \\boxed{{29}}.", "think"),
    ("<|begin_of_thought|>\n\n{}\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{{29}}\n\n<|end_of_solution|>", "skyt1"),
])
def test_formats_are_kept(wrap):
    template, fmt = wrap
    body = TRACE.rsplit("\n\n", 1)[0]
    out = run("verified", trace=template.format(body))
    head = "<think>" if fmt == "think" else "<|begin_of_thought|>"
    assert out.startswith(head) and "7*5=35" in out and "double-check" not in out


def test_users_can_register_a_compressor_and_name_it_by_path():
    @register_compressor("test_first_line")
    def first_line(ex, **_):
        return ex.completion.split("\n")[0] + "\n" + ex.final_text

    assert "test_first_line" in available_compressors()
    assert run("test_first_line") == "Okay, let me think about this.\n\\boxed{29}"
    assert get_compressor("rldistill.compressors:rule") is get_compressor("rule")
    with pytest.raises(KeyError, match="available"):
        get_compressor("no_such_compressor")


# --------------------------------------------------------------------------- the dataset stage


def rows(n_wrong=0):
    good = [{"id": f"r{i}", "prompt": PROMPT, "completion": TRACE, "answer": "29", "verifier": "math"} for i in range(4)]
    bad = [{"id": f"w{i}", "prompt": PROMPT, "completion": TRACE.replace("{29}", "{28}"), "answer": "29",
            "verifier": "math"} for i in range(n_wrong)]
    return good + bad


def test_a_wrong_teacher_trace_is_dropped_and_counted():
    ds, st = compress_dataset(rows(n_wrong=2), "verified")
    assert st["rows_in"] == 6 and st["teacher_wrong"] == 2 and st["rows_out"] == 4
    assert sorted(ds["id"]) == ["r0", "r1", "r2", "r3"]


def test_a_failing_output_falls_back_and_is_counted():
    @register_compressor("test_breaks_answer")
    def breaks(ex, **_):
        return "\\boxed{0}"

    _, st = compress_dataset(rows(), "test_breaks_answer", fallback=["rule"])
    assert st["produced_by"] == {"rule": 4} and st["dropped_after_compression"] == 0
    _, st = compress_dataset(rows(), "test_breaks_answer", fallback=[])
    assert st["rows_out"] == 0 and st["dropped_after_compression"] == 4


def test_ids_prompts_and_extra_columns_pass_through():
    src = [dict(r, extra=i) for i, r in enumerate(rows())]
    ds, _ = compress_dataset(src, "verified")
    for r, s in zip(ds, src):
        assert (r["id"], r["prompt"], r["extra"], r["answer"]) == (s["id"], s["prompt"], s["extra"], s["answer"])
        assert r["compression"] == "verified"


def test_long_fraction_keeps_that_share_uncompressed():
    src = [dict(r, id=f"r{i}") for i, r in enumerate(rows() * 5)]  # 20 rows
    ds, st = compress_dataset(src, "verified", long_fraction=0.25, seed=1)
    assert st["long_uncompressed"] == 5 and sum(c == TRACE for c in ds["completion"]) == 5


def test_stats_count_roles_and_ratio():
    _, st = compress_dataset(rows(), "verified")
    assert 0 < st["ratio"] < 0.35 and st["unit"] == "chars"
    assert {"filler", "verify", "backtrack"} <= set(st["removed_roles"])


def test_multiprocessing_gives_the_same_rows():
    src = [dict(r, id=f"r{i}") for i, r in enumerate(rows() * 3)]
    one, _ = compress_dataset(src, "verified", workers=1)
    two, _ = compress_dataset(src, "verified", workers=2, workers_from=1)
    assert one.to_list() == two.to_list()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    from rldistill.tasks.synth import synth

    out = {}
    for seed in (0, 1, 2):
        d = tmp_path_factory.mktemp(f"synth{seed}")
        out[seed] = synth(d, seed=seed, n_train=60, n_eval=30, n_ood=30)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", BUILTINS)
def test_every_compressor_reverifies_every_embedded_row(embedded, method, seed):
    from rldistill.data import load_traces

    ds = load_traces(embedded[seed]["train"])
    out, st = compress_dataset(ds, method)
    assert st["rows_out"] == len(ds) and st["teacher_wrong"] == 0 and st["dropped_after_compression"] == 0
    assert st["produced_by"] == {method: len(ds)}  # no fallbacks needed
    verify = get_verifier("math")
    assert all(verify(r["completion"], r["answer"]).score == 1.0 for r in out)
    if method == "verified":
        assert st["ratio"] <= 0.35


def test_embedded_verified_traces_are_checked_chains_with_their_lead_ins(embedded):
    from rldistill.data import load_traces
    from rldistill.equations import check_text

    out, st = compress_dataset(load_traces(embedded[0]["ood"]), "verified")
    assert st["violations"]["total"] == 0
    for r in out:
        *lines, last = r["completion"].split("\n")
        assert last == f"\\boxed{{{r['answer']}}}"
        # each line a holding equation, or a lead-in ("First, I subtract 3:") right before one
        for line, nxt in zip(lines, lines[1:] + [last]):
            assert check_text(line)[0] == "ok" or (line.endswith(":") and check_text(nxt)[0] == "ok"), r["completion"]


def test_compressors_never_read_teacher_annotations(embedded):
    from rldistill.data import load_traces

    ds = load_traces(embedded[1]["train"])
    with_ann, _ = compress_dataset(ds, "verified")
    without, _ = compress_dataset(ds.remove_columns(["teacher_steps"]), "verified")
    assert with_ann["completion"] == without["completion"]


PROGRAM = """Okay, let me think about this. I need a function that adds two numbers.
Maybe I should handle strings too? No wait, that's not needed here.
Let me write it.

```python
def add(a, b):
    return a + b
```

Let me double-check: add(1, 2) returns 3, which is correct. I'm fairly confident."""


@pytest.mark.parametrize("method", ["rule", "steps", "verified"])
def test_program_traces_keep_the_code_and_still_pass(method):
    answer = json.dumps({"tests": ["assert add(1, 2) == 3", "assert add(2, 5) == 7"], "entry_point": "add"})
    src = [{"id": "p0", "prompt": "Write add(a, b).", "completion": PROGRAM, "answer": answer, "verifier": "program"}]
    ds, st = compress_dataset(src, method)
    assert st["rows_out"] == 1 and st["produced_by"] == {method: 1}
    out = ds[0]["completion"]
    assert "def add(a, b):\n    return a + b" in out and len(out) < len(PROGRAM) and "double-check" not in out


# --------------------------------------------------------------------------- CLI and config


def test_cli_writes_jsonl_and_stats_next_to_it(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows(n_wrong=1)))
    dst = tmp_path / "out" / "compressed.jsonl"
    assert cli(["--input", str(src), "--output", str(dst), "--method", "steps", "--quiet"]) == 0
    out = [json.loads(line) for line in dst.read_text().splitlines()]
    st = json.loads(stats_path(dst).read_text())
    assert stats_path(dst).name == "compressed.stats.json"
    assert len(out) == 4 and st["teacher_wrong"] == 1 and st["method"] == "steps"


def test_cli_config_and_saved_dataset(tmp_path):
    from datasets import load_from_disk

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({"input": str(src), "method": "rule", "granularity": "sentences", "quiet": True}))
    dst = tmp_path / "ds"
    assert cli(["--config", str(conf), "--output", str(dst), "--method", "verified"]) == 0  # the flag wins
    ds = load_from_disk(str(dst))
    st = json.loads((dst / "stats.json").read_text())
    assert len(ds) == 4 and st["method"] == "verified" and st["granularity"] == "sentences"


def test_cli_rejects_unknown_config_keys(tmp_path):
    conf = tmp_path / "c.yaml"
    conf.write_text("metod: verified\n")
    with pytest.raises(SystemExit):
        cli(["--config", str(conf), "--input", "x", "--output", "y"])


def test_shipped_config_parses_into_known_options():
    from rldistill.compress import _parser

    known = {a.dest for a in _parser()._actions}
    for path in (REPO / "configs" / "recipes").glob("*/compress.yaml"):
        conf = yaml.safe_load(path.read_text())
        assert set(k.replace("-", "_") for k in conf) <= known, path


# --------------------------------------------------------------------------- real long traces


@pytest.mark.skipif(not SKY.exists(), reason=f"{SKY} not present (the shared data folder sits beside the repo)")
@pytest.mark.parametrize("name, limit", [("aime24_sky-t1-math-correct-5k-32b-ckpt140.jsonl", None),
                                         ("math500_sky-t1-math-correct-5k-27b.jsonl", 40)])
def test_sky_t1_traces_run_end_to_end(tmp_path, name, limit):
    dst = tmp_path / "sky.jsonl"
    argv = ["--input", str(SKY / name), "--output", str(dst), "--method", "verified", "--quiet"]
    assert cli(argv + (["--limit", str(limit)] if limit else [])) == 0
    st = json.loads(stats_path(dst).read_text())
    out = [json.loads(line) for line in dst.read_text().splitlines()]
    verify = get_verifier("math")
    assert st["rows_out"] == len(out) > 0 and st["rows_in"] == (limit or 30)
    assert all(verify(r["completion"], r["answer"]).score == 1.0 for r in out)
    assert st["ratio"] <= 0.40


@pytest.mark.slow  # imports torch and transformers: ~10 s idle, minutes on a loaded machine
def test_proxy_model_orders_deletions_and_the_gate_still_holds(tmp_path):
    pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM

    from rldistill.student import build_tokenizer

    tok = build_tokenizer([TRACE, PROMPT] * 4, vocab_size=300)
    tok.save_pretrained(tmp_path)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024)
    LlamaForCausalLM(cfg).save_pretrained(tmp_path)
    ds, st = compress_dataset(rows()[:2], "verified", proxy_model=str(tmp_path))
    assert st["produced_by"] == {"verified": 2}
    for r in ds:  # whatever order the (random) proxy picks, what stands passed the gate
        out = r["completion"]
        assert "4+3=8" not in out and "7*5=35" in out and "35-6=29" in out and out.endswith("\\boxed{29}")


def test_bare_granularity_keeps_the_computations_without_their_lead_ins(tmp_path):
    """On the embedded teacher, `verified` at `bare` is exactly the oracle's compact trace (computations and
    answer, from the annotations no compressor reads); at `equations` the lead-ins ("First, I add 3:") stay."""
    from rldistill.data import read_jsonl
    from rldistill.tasks.synth import synth
    from rldistill.tasks.teacher import compact_trace

    synth(tmp_path, seed=0, n_train=40, n_eval=2, n_ood=2, kinds=["slots", "chain"])
    for r in read_jsonl(tmp_path / "train.jsonl"):
        ex = Example(r["completion"], r["prompt"], r["answer"])
        bare = str(get_compressor("verified")(ex, granularity="bare"))
        assert bare == compact_trace(r["teacher_steps"]).strip(), (bare, r["completion"])
        assert re.search(r"I (add|subtract|multiply)", str(get_compressor("verified")(ex, granularity="equations")))
    assert GRANULARITIES[0] == "bare"
