"""Load a causal LM and its tokenizer from any hub id or local directory.

Every stage (sft, grpo, ppo, eval) loads through here, so the embedded student
directory and a real model such as ``Qwen/Qwen2.5-1.5B-Instruct`` take the
same path: ``AutoTokenizer`` + ``AutoModelForCausalLM``. Nothing here knows
about the embedded student. The tokenizer gets a pad token (the EOS token)
when it has none, and left padding for batched generation.
"""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

_DTYPES = {"auto": "auto", "bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32, None: None}


def load_tokenizer(name_or_path: str, *, padding_side: str = "left", trust_remote_code: bool = False):
    tok = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


def load_model(name_or_path: str, *, dtype: str | None = None, trust_remote_code: bool = False, **kwargs):
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(k for k in _DTYPES if k)}, got {dtype!r}")
    kw = dict(trust_remote_code=trust_remote_code, **kwargs)
    if _DTYPES[dtype] is not None:
        kw["dtype"] = _DTYPES[dtype]
    return AutoModelForCausalLM.from_pretrained(name_or_path, **kw)


def load_model_and_tokenizer(name_or_path: str, *, dtype: str | None = None, padding_side: str = "left", **kwargs):
    tok = load_tokenizer(name_or_path, padding_side=padding_side, trust_remote_code=kwargs.get("trust_remote_code", False))
    model = load_model(name_or_path, dtype=dtype, **kwargs)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    return model, tok
