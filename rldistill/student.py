"""Build the from-scratch default student: a small Llama and a BPE tokenizer made for the task.

    rldistill student --out runs/tiny/student [--size tiny|small] [--data runs/tiny/data]
    rldistill student --pretrained smollm2-135m --out runs/smollm2     # a real pretrained student (rldistill.pretrained)

writes an ordinary Hugging Face directory (config, weights, tokenizer, chat
template, generation config) that ``AutoModelForCausalLM.from_pretrained`` and
``AutoTokenizer.from_pretrained`` load, so every stage treats it like any hub
model (and takes any hub model instead, unchanged).

The tokenizer is byte-level BPE (no unknown tokens) trained on the task's
training text (``--data DIR``'s ``train.jsonl``, else a freshly synthesised
train split), with every digit and every symbol its own token: ``12+30``
is ``1 2 + 3 0``, so arithmetic is learnable digit by digit, and a prompt
ending in ``Answer:`` tokenizes to a prefix of prompt + completion (what
completion-only SFT masking needs). No BOS is added automatically, so SFT,
GRPO and evaluation, whichever way they call the tokenizer, see the same ids.

Leaves out: pretraining. The weights are random; the student learns the task
from SFT and RL alone, in minutes on a CPU.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SIZES = {
    # ~1M parameters: learns the embedded task's compact traces in a minute or two on 2 CPU cores.
    "tiny": dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4, vocab_size=1024),
    # ~1M parameters, twice the layers at two thirds the width (a probe of depth at equal size).
    "deep": dict(hidden_size=96, intermediate_size=288, num_hidden_layers=8, num_attention_heads=4, vocab_size=1024),
    # ~5M parameters: for a GPU, or more patience.
    "small": dict(hidden_size=256, intermediate_size=768, num_hidden_layers=6, num_attention_heads=8, vocab_size=2048),
}
SPECIAL = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
# Role-tagged turns; the assistant turn is marked for TRL's assistant-only loss.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}<|assistant|>{% generation %}{{ message['content'] }}{{ eos_token }}"
    "{% endgeneration %}"
    "{% else %}<|{{ message['role'] }}|>{{ message['content'] }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
MAX_LENGTH = 2048


def _corpus(data_dir) -> list[str]:
    """Training text for the tokenizer: prompts and teacher traces of the train split."""
    import tempfile

    from rldistill.data import read_jsonl

    if data_dir is None or not (Path(data_dir) / "train.jsonl").exists():
        from rldistill.tasks.synth import synth

        with tempfile.TemporaryDirectory() as tmp:
            rows = read_jsonl(synth(tmp, seed=0, n_train=2000, n_eval=50, n_ood=10)["train"])
    else:
        rows = read_jsonl(Path(data_dir) / "train.jsonl")
    texts = []
    for r in rows:
        p = r.get("prompt")
        texts.append(p if isinstance(p, str) else " ".join(m.get("content", "") for m in p))
        texts.append(r.get("completion") or "")
    return texts


def build_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        # each digit and each symbol alone, so no merge crosses them (and "Answer:" never merges with what follows)
        pre_tokenizers.Split(Regex(r"[0-9]|[^A-Za-z0-9\s]"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = list(SPECIAL.values()) + ROLE_TOKENS
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=MAX_LENGTH, chat_template=CHAT_TEMPLATE,
                                   additional_special_tokens=ROLE_TOKENS, **SPECIAL)
    return fast


def build_student(out_dir, size: str = "tiny", data_dir=None, seed: int = 0) -> Path:
    """Write a randomly initialised Llama of ``size`` and its tokenizer to ``out_dir``; return the path."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    spec = dict(SIZES[size])
    tok = build_tokenizer(_corpus(data_dir), spec.pop("vocab_size"))
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in SPECIAL.items()}
    config = LlamaConfig(
        vocab_size=len(tok), max_position_embeddings=MAX_LENGTH, tie_word_embeddings=True,
        num_key_value_heads=spec["num_attention_heads"], rope_theta=10000.0,
        bos_token_id=ids["bos_token"], eos_token_id=ids["eos_token"], pad_token_id=ids["pad_token"], **spec)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=ids["bos_token"], eos_token_id=ids["eos_token"],
                                               pad_token_id=ids["pad_token"], do_sample=False, max_new_tokens=512)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    (out / "student.json").write_text(json.dumps({"size": size, "parameters": n_params, "vocab_size": len(tok),
                                                  "data": str(data_dir) if data_dir else None, "seed": seed}, indent=2) + "\n")
    return out


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="rldistill student", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder (a Hugging Face model directory)")
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--data", default=None, help="a `rldistill synth` folder whose train.jsonl trains the tokenizer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pretrained", default=None, metavar="NAME|FILE.gguf|DIR",
                    help="write a real pretrained student instead (names: rldistill.pretrained.PRETRAINED)")
    a = ap.parse_args(argv)
    if a.pretrained:
        from rldistill.pretrained import PretrainedError, build_pretrained

        try:
            out = build_pretrained(a.pretrained, a.out)
        except PretrainedError as e:
            print(f"rldistill student: {e}", file=__import__("sys").stderr)
            return 2
        info = json.loads((out / "student.json").read_text())
        print(f"wrote pretrained student {a.pretrained} ({info['model_type']}, {info['num_hidden_layers']} layers, "
              f"vocab {info['vocab_size']}) to {out}")
        return 0
    out = build_student(a.out, a.size, a.data, a.seed)
    info = json.loads((out / "student.json").read_text())
    print(f"wrote {a.size} student ({info['parameters'] / 1e6:.2f}M parameters, vocab {info['vocab_size']}) to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
