"""The decoding copy of a model ("twin") that the ``stream`` backend decodes with (``rldistill.stream``).

Two things make a CPU decoding step cheaper without changing what the model computes:

- **Dtype.** ``dtype=torch.bfloat16`` casts the weights (buffers such as rotary frequencies stay float32). On a
  CPU with AVX512-BF16/AMX the matrix products run about twice as fast; greedy texts then differ from
  float32's after a few dozen tokens, so it is a choice (``--generation-dtype``, ``generation_dtype``).
- **Prepacked linear weights** (``pack=True``, CPU with oneDNN). A plain ``F.linear`` reorders its weight into
  oneDNN's blocked layout at every call; at decoding batch sizes (1-32 rows) that reorder, over weights that no
  longer sit in cache, costs as much as the product. The twin's ``nn.Linear`` layers are replaced by
  ``PackedLinear``, whose weight is reordered once per generation call (``torch.ops.mkldnn._reorder_linear_weight``
  and ``_linear_pointwise``, the ops ``torch.compile``'s CPU freezing pass uses). Same dtype, same result up to
  float summation order (relative error ~1e-6 in float32). A probe forward checks the packed twin against the
  model when it is built; if the ops are missing or the model reads a linear layer's ``.weight`` in its forward,
  the twin is kept unpacked and a warning says so.

The twin is made once per model (a ``deepcopy``, held in a ``WeakKeyDictionary``) and the model's current weights
are copied (and packed) into it at every call: an RL policy that an optimizer step changed is never decoded stale
(tens to a couple of hundred milliseconds for a 135M model, next to seconds of decoding). It costs one more copy
of the weights in memory. Leaves out: DeepSpeed ZeRO-3 (partitioned parameters: refused for a dtype change, left
unpacked otherwise), peft models (unpacked: their LoRA layers wrap the linear layers), accelerators (unpacked);
``RLDISTILL_PACK_WEIGHTS=0`` turns the packing off everywhere.
"""

from __future__ import annotations

import copy
import os
import warnings
import weakref

import torch

DTYPES = {"float32": None, "fp32": None, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
_COPIES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_PACK_HINT = 16  # the batch size oneDNN picks the packed layout for; measured as good from 1 to 2,800 rows


def resolve_dtype(name) -> torch.dtype | None:
    """A decoding dtype by name (``float32``/``bfloat16``); ``None`` means the model's own."""
    if name is None or isinstance(name, torch.dtype):
        return name
    if name not in DTYPES:
        raise ValueError(f"generation dtype must be one of {sorted(DTYPES)}, got {name!r}")
    return DTYPES[name]


class PackedLinear(torch.nn.Module):
    """``nn.Linear``'s forward over a weight that oneDNN reordered once (``load``); inference only."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.packed: torch.Tensor | None = None
        self.bias_: torch.Tensor | None = None

    @torch.no_grad()
    def load(self, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype | None):
        w = weight.detach().to(dtype or weight.dtype).contiguous()
        self.packed = torch.ops.mkldnn._reorder_linear_weight(w, _PACK_HINT)
        self.bias_ = None if bias is None else bias.detach().to(w.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias_, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed"


def _packable(model) -> bool:
    """CPU, oneDNN, plain parameters, and not turned off with ``RLDISTILL_PACK_WEIGHTS=0`` (the copy holds a second
    set of weights: a cost for a model of billions of parameters in a CPU's memory)."""
    params = list(model.parameters())
    return (os.environ.get("RLDISTILL_PACK_WEIGHTS", "1") != "0" and torch.backends.mkldnn.is_available() and all(p.device.type == "cpu" for p in params)
            and not any(hasattr(p, "ds_id") for p in params) and not hasattr(model, "peft_config"))


class _Twin:
    """The copy and what refreshes it from the model: (name, packed linear) and (name, copied parameter) pairs.
    It holds no reference to the model (the cache's weak key would then never be released)."""

    def __init__(self, model, dtype: torch.dtype | None, pack: bool):
        self.dtype, self.n_params = dtype, len(list(model.parameters()))
        self.model = copy.deepcopy(model).eval()
        self.linears: list[tuple[str, PackedLinear]] = []
        if pack:
            for name, mod in list(self.model.named_modules()):
                if type(mod) is torch.nn.Linear:
                    packed = PackedLinear(mod.in_features, mod.out_features)
                    parent, _, leaf = name.rpartition(".")
                    setattr(self.model.get_submodule(parent) if parent else self.model, leaf, packed)
                    self.linears.append((name, packed))
        self.params = list(self.model.named_parameters(remove_duplicate=False))
        for _, p in self.params:  # weights only: buffers (rotary frequencies) keep their float32 precision
            p.requires_grad_(False)
            if dtype is not None:
                p.data = p.data.to(dtype)

    @torch.no_grad()
    def refresh(self, model):
        src = dict(model.named_parameters(remove_duplicate=False))
        for name, dst in self.params:
            dst.copy_(src[name])
        for name, packed in self.linears:
            layer = model.get_submodule(name)
            packed.load(layer.weight, layer.bias, self.dtype)
        return self.model


def _probe_ok(model, twin: _Twin) -> bool:
    """Every packed layer computes what ``F.linear`` computes with the same cast weight, and the packed copy runs
    the model's forward (a model that reads a linear layer's ``.weight`` fails here) to the same logits as the
    model when no cast is involved."""
    copy_ = twin.refresh(model)
    try:
        with torch.inference_mode():
            for name, packed in twin.linears:
                src = model.get_submodule(name)
                x = torch.randn(2, src.in_features, generator=torch.Generator().manual_seed(0))
                x = x.to(twin.dtype or src.weight.dtype)
                want = torch.nn.functional.linear(x, src.weight.to(x.dtype), None if src.bias is None
                                                  else src.bias.to(x.dtype)).float()
                if not torch.allclose(packed(x).float(), want, rtol=1e-2, atol=1e-2 * float(want.abs().max())):
                    raise ValueError(f"a packed layer's output differs from F.linear ({src})")
            ids = torch.arange(1, 5).remainder(getattr(model.config, "vocab_size", 5))[None]
            got = copy_(input_ids=ids).logits.float()
            if not torch.isfinite(got).all():
                raise ValueError("the packed copy's logits are not finite")
            if twin.dtype is None or twin.dtype == next(model.parameters()).dtype:
                was_training = model.training
                want = model.eval()(input_ids=ids).logits.float()
                model.train(was_training)
                if not torch.allclose(got, want, rtol=1e-3, atol=1e-3 * float(want.abs().max())):
                    raise ValueError("the packed copy's logits differ from the model's")
    except Exception as e:  # noqa: BLE001 - missing ops, or a model whose forward the packed layers do not fit
        warnings.warn(f"decoding without prepacked weights: {type(e).__name__}: {e}", stacklevel=3)
        return False
    return True


def decode_copy(model, dtype: torch.dtype | None, pack: bool = False):
    """``model`` itself, or its twin in ``dtype`` (``pack``: with prepacked linear weights where the model and
    machine allow it), refreshed from the model's current weights. A twin passed in is returned as is."""
    if getattr(model, "_rldistill_twin", False):
        return model
    pack = pack and _packable(model)
    if (dtype is None or next(model.parameters()).dtype == dtype) and not pack:
        return model
    if any(hasattr(p, "ds_id") for p in model.parameters()):
        raise ValueError("a decoding dtype other than the model's is not supported under DeepSpeed ZeRO-3 "
                         "(its parameters are partitioned): use ZeRO-2, or the model's own dtype")
    cast = dtype is not None and next(model.parameters()).dtype != dtype
    held = _COPIES.setdefault(model, {})
    twin, fresh = held.get((dtype, pack)), False
    if twin is None or (twin and twin.n_params != len(list(model.parameters()))):
        twin = held[(dtype, pack)] = _Twin(model, dtype, pack)
        fresh = pack and _probe_ok(model, twin)  # the probe refreshed it
        if pack and not fresh:  # unpacked from now on: a cast copy, or the model itself
            twin = held[(dtype, pack)] = _Twin(model, dtype, pack=False) if cast else False
    if twin is False:
        return model
    out = twin.model if fresh else twin.refresh(model)
    out._rldistill_twin = True
    return out
