"""`accelerate launch` of both stages on 2 CPU processes under DeepSpeed ZeRO-2/3; the Slurm launcher's wiring."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_rows, write_rows  # tests/conftest.py: the shared tiny student and rows

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:  # other test runs on this machine launch too: never the default 29500
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def setup(tiny_student, tmp_path_factory):
    d = tmp_path_factory.mktemp("launch")
    return tiny_student, write_rows(d / "rows.jsonl", make_rows(24))


STAGE_ARGS = {
    "sft": ["--per_device_train_batch_size", "2"],
    # 2 completions per prompt and 2 per rank: each rank gets whole groups of distinct prompts.
    "grpo": ["--num_generations", "2", "--per_device_train_batch_size", "2", "--max_completion_length", "8",
             "--reward_funcs", "math", "length", "--reward_weights", "1", "0.5", "--reward_warmup", "none",
             "--beta", "0.02"],
}


def seen(path: Path, stage: str) -> dict[int, set[str]]:
    """step -> ids (GRPO writes 'step<TAB>id'; SFT writes one id per line: one bucket)."""
    out: dict[int, set[str]] = {}
    for line in path.read_text().splitlines():
        step, _, rid = line.rpartition("\t")
        out.setdefault(int(step) if step else 0, set()).add(rid)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("accel", ["cpu_zero2", "cpu_zero3"])
@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_two_process_launch_trains_on_distinct_shards(setup, tmp_path, stage, accel):
    from transformers import AutoModelForCausalLM

    student, data = setup
    out = tmp_path / "out"
    cmd = ["timeout", "540", "accelerate", "launch", "--config_file", f"configs/accelerate/{accel}.yaml",
           "--main_process_port", str(free_port()), f"scripts/{stage}.py",
           "--config", f"configs/recipes/tiny/{stage}.yaml", "--model_name_or_path", str(student),
           "--dataset_path", str(data), "--output_dir", str(out), "--max_steps", "2", "--save_strategy", "no",
           "--logging_steps", "1", "--seen_ids_dir", str(tmp_path / "seen"), *STAGE_ARGS[stage]]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    model, info = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)  # gathered, even under ZeRO-3
    assert not info["missing_keys"] and not info["mismatched_keys"]
    ranks = [seen(tmp_path / "seen" / f"rank{i}.txt", stage) for i in (0, 1)]
    for step in ranks[0]:
        assert ranks[0][step] and ranks[1][step], f"a rank saw no rows at step {step}"
        assert not ranks[0][step] & ranks[1][step], f"ranks shared rows at step {step}: {ranks[0][step] & ranks[1][step]}"


def test_slurm_launcher_wires_machine_rank_and_main_address():
    env = dict(os.environ, DRY_RUN="1", SLURM_NNODES="4", GPUS_PER_NODE="8", MASTER_ADDR="node-a", MASTER_PORT="29555")
    r = subprocess.run(["bash", "scripts/launch_slurm.sh", "grpo", "configs/recipes/tiny/grpo.yaml",
                        "configs/accelerate/zero2.yaml", "--max_steps", "5"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    cmd = r.stdout
    for part in ("--config_file configs/accelerate/zero2.yaml", "--num_machines 4", "--num_processes 32",
                 "--machine_rank $SLURM_PROCID", "--main_process_ip node-a", "--main_process_port 29555",
                 "scripts/grpo.py --config configs/recipes/tiny/grpo.yaml --max_steps 5"):
        assert part in cmd, (part, cmd)


def test_slurm_launcher_rejects_an_unknown_stage():
    r = subprocess.run(["bash", "scripts/launch_slurm.sh", "dpo", "configs/recipes/tiny/grpo.yaml"], cwd=REPO,
                       env=dict(os.environ, DRY_RUN="1"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "unknown stage" in r.stderr


def test_stage_cli_closes_the_process_group_before_exit(tmp_path):
    """Gloo's worker threads left to interpreter exit abort the process (SIGABRT) after a run that finished and
    saved; run_cli closes the group first. A one-rank gloo group in a fresh interpreter stands in for a launch."""
    code = (
        "import os, torch.distributed as dist\n"
        "from rldistill.config import close_process_group\n"
        "dist.init_process_group('gloo', init_method='tcp://127.0.0.1:%d', rank=0, world_size=1)\n"
        "dist.all_reduce(__import__('torch').ones(4))\n"
        "close_process_group()\n"
        "assert not dist.is_initialized()\n"
        "close_process_group()  # twice, or with no group at all: nothing to do\n"
        "print('closed')\n" % free_port()
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "closed" in r.stdout, r.stderr[-2000:]
