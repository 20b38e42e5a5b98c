"""Every YAML under configs/ parses into its dataclasses; the tiny recipes chain through runs/tiny/."""

import importlib
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
ACCELERATE = sorted((REPO / "configs/accelerate").glob("*.yaml"))
RECIPES = sorted((REPO / "configs/recipes").rglob("*.yaml"))
STAGES = {"sft": "rldistill.sft", "grpo": "rldistill.grpo", "ppo": "rldistill.ppo"}


def parse_recipe(path: Path):
    """(script_args, trainer_args, model_args) through the stage's own parser, or skip if it has none here."""
    module = STAGES.get(path.stem.split("_")[0])  # sft_lora.yaml is an SFT recipe
    if module is None:
        assert isinstance(yaml.safe_load(path.read_text()), dict), f"{path} is not a YAML mapping"
        pytest.skip(f"{path.name}: no training-stage parser for '{path.stem}' recipes (not sft/grpo/ppo)")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        pytest.skip(f"{path.name}: {module} is not importable ({e})")
    from rldistill.config import parse_args

    overrides = []
    if yaml.safe_load(path.read_text()).get("bf16") and not torch.cuda.is_available():
        overrides = ["--bf16", "false"]  # TrainingArguments checks bf16 against the hardware; a GPU recipe on CPU
    return parse_args(mod.make_parser(), ["--config", str(path), *overrides])


def test_every_config_is_found():
    names = {p.name for p in ACCELERATE}
    assert {"single_gpu.yaml", "multi_gpu.yaml", "zero2.yaml", "zero3.yaml", "zero3_offload.yaml",
            "cpu_ddp.yaml", "cpu_zero2.yaml", "cpu_zero3.yaml"} <= names
    assert {"tiny/sft.yaml", "tiny/grpo.yaml"} <= {str(p.relative_to(REPO / "configs/recipes")) for p in RECIPES}
    assert len({p.parent for p in RECIPES}) >= 2, "a real-model recipe folder next to tiny/"


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.name)
def test_accelerate_config_parses(path):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(path))  # ClusterConfig(**yaml): an unknown key is a TypeError
    if path.name.startswith("cpu_"):
        assert cfg.use_cpu and cfg.num_processes == 2
    if "zero" in path.name:
        assert cfg.distributed_type == "DEEPSPEED" and cfg.deepspeed_config["zero_stage"] == int(path.name.split("zero")[1][0])


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(REPO / "configs/recipes")))
def test_recipe_parses_into_its_dataclasses(path):
    if path.stem.startswith("demo"):  # a real-student demo preset: RealPreset fields, unknown keys refused
        from rldistill import demo_real

        assert demo_real.load_preset(str(path), demo_real.PRESETS["default"]) != demo_real.PRESETS["default"]
        return
    script_args, trainer_args, model_args = parse_recipe(path)
    assert model_args.model_name_or_path and trainer_args.output_dir
    if hasattr(script_args, "reward_funcs"):
        from rldistill.rewards import reward_funcs_from_args

        funcs = reward_funcs_from_args(script_args, trainer_args)  # names resolve, settings are consistent
        weights = getattr(trainer_args, "reward_weights", None)
        assert weights is None or len(weights) == len(funcs)


@pytest.mark.parametrize("stage,model,data,out", [
    ("sft", "runs/tiny/student", "runs/tiny/compressed.jsonl", "runs/tiny/sft"),
    ("grpo", "runs/tiny/sft", "runs/tiny/data/train.jsonl", "runs/tiny/grpo"),
])
def test_tiny_recipes_chain_the_pipeline(stage, model, data, out):
    s, t, m = parse_recipe(REPO / f"configs/recipes/tiny/{stage}.yaml")
    assert (m.model_name_or_path, s.dataset_path, t.output_dir) == (model, data, out)
    assert t.use_cpu


def test_resume_picks_the_newest_checkpoint_whose_save_finished(tmp_path, capsys):
    """A run killed while writing checkpoint-8 leaves it without trainer_state.json: resume from checkpoint-4."""
    from rldistill.config import normalize_resume

    for n, complete in ((4, True), (8, False), (12, False)):
        (tmp_path / f"checkpoint-{n}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{n}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-notes").mkdir()
    assert normalize_resume("true", str(tmp_path)) == str(tmp_path / "checkpoint-4")
    err = capsys.readouterr().err
    assert "checkpoint-12" in err and "checkpoint-8" in err
    assert normalize_resume(True, str(tmp_path / "nothing-here")) is None
