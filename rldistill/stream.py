"""Continuous batching in plain PyTorch: the ``stream`` generation backend (``rldistill.generation``).

Padded batched ``model.generate`` runs every batch until its longest row ends, and transformers'
``DynamicCache`` copies the whole key/value cache at every step (``torch.cat``). On a CPU, where a decoding step
costs in proportion to the rows in it, both are paid in full. Here:

- **Slots.** Up to ``batch_size`` sequences are in flight, each in a slot of one key/value buffer per layer
  (``[slots, heads, capacity, head_dim]``, written in place). A sequence leaves its slot as soon as it ends (EOS,
  its token cap, or with ``stop_at_answer`` its first complete final answer) and the next waiting prompts are
  prefilled, as one batch, straight into the free slots.
- **Alignment.** All slots share one column index for the next token; a prompt is written right-aligned below
  it (left padding), and every row carries its own position ids and attention-mask row, so a row's numbers do
  not depend on what shares the batch with it (up to float summation order).
- **Compaction.** Columns masked in every live row (left by sequences that ended) and slots with no sequence
  left (at the end of the queue) are dropped by one copy once they are a quarter of the buffer.

Exactly what the model computes for a row is what ``model.generate`` computes with left padding: the same
forward, the same masks and positions; greedy decoding picks the same tokens up to float ties.

- **The decoding copy.** The loop decodes with ``rldistill.twin.decode_copy(model, dtype, pack=True)``: on a CPU,
  a copy whose linear weights oneDNN reordered once per call instead of at every product, and with
  ``dtype=torch.bfloat16`` (``--generation-dtype`` in eval, ``generation_dtype`` in the RL recipes) in bfloat16;
  refreshed from the model at every call. ``pack=False`` decodes with the model itself.
- **Prefill logits.** Only the last column's logits are computed, through an index tensor (a contiguous
  ``[rows, 1, hidden]``): a strided slice sends the CPU ``matmul`` through ``bmm`` with the vocabulary projection
  expanded per row (a 1 GB copy at 20 rows for SmolLM2).

Leaves out: paged attention, prefix sharing between the ``n`` samples of a prompt, and models whose cache is
not a plain per-layer key/value stack (``supported`` says so; ``rldistill.generation`` then uses ``generate``).
"""

from __future__ import annotations

from collections import deque

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from rldistill.twin import DTYPES, decode_copy, resolve_dtype  # noqa: F401 - decode_copy and the dtypes live there


class BufferLayer(DynamicLayer):
    """A cache layer over a preallocated ``[slots, heads, capacity, dim]`` buffer; ``update`` writes in place."""

    def __init__(self, k: torch.Tensor, v: torch.Tensor, length: int):
        super().__init__()
        self.bk, self.bv, self.n = k, v, length
        self.is_initialized, self.device, self.dtype = True, k.device, k.dtype
        self._views()

    def _views(self):
        self.keys, self.values = self.bk[:, :, : self.n], self.bv[:, :, : self.n]

    def update(self, key_states, value_states, *args, **kwargs):
        q = key_states.shape[-2]
        self.bk[:, :, self.n : self.n + q] = key_states
        self.bv[:, :, self.n : self.n + q] = value_states
        self.n += q
        self._views()
        return self.keys, self.values


def left_pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows left-padded to one width, and their attention mask (the last real token in the last column)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r) :] = 1
    return ids, mask


def _cache_kw(model) -> str:
    """transformers 5 names the cache argument ``cache``; earlier versions ``past_key_values``."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft model wraps it
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def supported(model) -> bool:
    """Whether the model's cache is a stack of plain key/value layers (Llama, Qwen2, Mistral without sliding...)."""
    try:
        layers = DynamicCache(config=model.config).layers
    except Exception:  # noqa: BLE001 - any model we cannot introspect goes to generate()
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


class _Sampler:
    def __init__(self, temperature: float, top_p: float, seed: int | None):
        self.temperature, self.top_p = temperature, top_p
        # seed None: torch's global generator, as model.generate uses it (trainers seed it per process)
        self.gen = torch.Generator().manual_seed(seed) if seed is not None else None

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if self.temperature <= 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits.float() / self.temperature, -1)
        if self.top_p < 1.0:
            sp, si = probs.sort(-1, descending=True)
            drop = sp.cumsum(-1) - sp > self.top_p  # keep the smallest prefix whose mass reaches top_p
            probs = probs.scatter(-1, si, sp.masked_fill(drop, 0.0))
        return torch.multinomial(probs, 1, generator=self.gen).squeeze(-1)


class Engine:
    """The slots, their buffers and the decoding loop. ``run`` returns ``{job: (ids, finished)}``."""

    def __init__(self, model, *, slots: int, eos: set[int], pad: int, max_new_tokens: int, sampler: _Sampler,
                 done_check=None, on_done=None, keep_eos: bool = False):
        self.model, self.slots, self.eos, self.pad, self.keep_eos = model, slots, eos, pad, keep_eos
        self.max_new, self.sample, self.done_check, self.on_done = max_new_tokens, sampler, done_check, on_done
        self.layers: list[BufferLayer] | None = None
        self.job: list = []  # per slot: the job it serves, or None
        self.out: list[list[int]] = []
        self.mask = self.pos = self.last = None
        self.cache_kw = _cache_kw(model)
        self.cache: DynamicCache | None = None

    # ---------------------------------------------------------------- buffers
    def _alloc(self, kv, slots: int, width: int):
        """Fresh buffers of ``slots`` rows with room for ``width`` columns plus the new tokens to come."""
        cap = width + self.max_new + 16
        self.layers = []
        for k, v in kv:
            bk = k.new_zeros((slots, k.shape[1], cap, k.shape[3]))
            bv = v.new_zeros((slots, v.shape[1], cap, v.shape[3]))
            self.layers.append(BufferLayer(bk, bv, width))
        self.mask = torch.zeros((slots, width), dtype=torch.long)

    def _cache(self) -> DynamicCache:
        """One cache object over the slot buffers, built once: compaction and growth swap the buffers inside the
        same ``BufferLayer`` objects, so it stays valid."""
        if self.cache is None:
            self.cache = DynamicCache(config=self.model.config)
            self.cache.layers = list(self.layers)
        return self.cache

    def _width(self) -> int:
        return self.layers[0].n

    def _compact(self, force: bool = False):
        """Drop dead slots and columns masked in every live row (one copy), when they are worth it."""
        live = [i for i, j in enumerate(self.job) if j is not None]
        if not live:
            return
        used = self.mask[live].any(0).nonzero()
        first = int(used[0]) if len(used) else self._width()
        dead_rows = len(self.job) - len(live)
        if not force and first * 4 < self._width() and dead_rows * 4 < len(self.job):
            return
        idx = torch.tensor(live)
        width = self._width() - first
        cap = max(width + self.max_new + 16, self.layers[0].bk.shape[2] - first)
        for layer in self.layers:
            bk = layer.bk.new_zeros((len(live), layer.bk.shape[1], cap, layer.bk.shape[3]))
            bv = layer.bv.new_zeros((len(live), layer.bv.shape[1], cap, layer.bv.shape[3]))
            bk[:, :, :width] = layer.bk[idx, :, first : layer.n]
            bv[:, :, :width] = layer.bv[idx, :, first : layer.n]
            layer.bk, layer.bv, layer.n = bk, bv, width
            layer._views()
        self.mask = self.mask[idx, first:]
        self.pos, self.last = self.pos[idx], self.last[idx]
        self.job = [self.job[i] for i in live]
        self.out = [self.out[i] for i in live]

    def _grow(self, extra: int):
        """Room for ``extra`` more columns: compaction first, a larger buffer if that is not enough."""
        if self._width() + extra <= self.layers[0].bk.shape[2]:
            return
        self._compact(force=True)
        need = self._width() + extra
        for layer in self.layers:
            if need > layer.bk.shape[2]:
                cap = max(need, 2 * layer.bk.shape[2])
                for name in ("bk", "bv"):
                    old = getattr(layer, name)
                    new = old.new_zeros((old.shape[0], old.shape[1], cap, old.shape[3]))
                    new[:, :, : layer.n] = old[:, :, : layer.n]
                    setattr(layer, name, new)
                layer._views()

    # ---------------------------------------------------------------- admission
    def _prefill(self, prompts: list[list[int]]):
        ids, mask = left_pad(prompts, self.pad)
        position = (mask.cumsum(-1) - 1).clamp(min=0)
        last = torch.tensor([ids.shape[1] - 1])  # an index, not a slice: see the module docstring
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=position, use_cache=True,
                         logits_to_keep=last)
        cache = getattr(out, "cache", None) or out.past_key_values
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        return kv, mask, out.logits[:, -1]

    def admit(self, jobs: list, prompts: list[list[int]]):
        kv, mask, logits = self._prefill(prompts)
        width = mask.shape[1]
        if self.layers is None:
            self._alloc(kv, len(jobs), width)
            self.job, self.out = [None] * len(jobs), [[] for _ in jobs]
            self.pos = torch.zeros(len(jobs), dtype=torch.long)
            self.last = torch.full((len(jobs),), self.pad, dtype=torch.long)
        if width > self._width():  # a longer prompt than the columns so far: widen on the left
            self._pad_left(width - self._width())
        free = [i for i, j in enumerate(self.job) if j is None]
        if len(free) < len(jobs):
            self._add_slots(len(jobs) - len(free))
            free = [i for i, j in enumerate(self.job) if j is None]
        start = self._width() - width
        first = self.sample(logits)
        for r, slot in enumerate(free[: len(jobs)]):
            for layer, (k, v) in zip(self.layers, kv):
                layer.bk[slot, :, start : start + width] = k[r]
                layer.bv[slot, :, start : start + width] = v[r]
            self.mask[slot] = 0
            self.mask[slot, start:] = mask[r]
            self.pos[slot] = int(mask[r].sum())
            self.job[slot], self.out[slot] = jobs[r], []
            self._emit(slot, int(first[r]))

    def _pad_left(self, extra: int):
        for layer in self.layers:
            for name in ("bk", "bv"):
                old = getattr(layer, name)
                new = old.new_zeros((old.shape[0], old.shape[1], old.shape[2] + extra, old.shape[3]))
                new[:, :, extra : extra + layer.n] = old[:, :, : layer.n]
                setattr(layer, name, new)
            layer.n += extra
            layer._views()
        self.mask = torch.cat([torch.zeros((self.mask.shape[0], extra), dtype=torch.long), self.mask], 1)

    def _add_slots(self, extra: int):
        for layer in self.layers:
            for name in ("bk", "bv"):
                old = getattr(layer, name)
                setattr(layer, name, torch.cat([old, old.new_zeros((extra,) + tuple(old.shape[1:]))], 0))
            layer._views()
        self.mask = torch.cat([self.mask, torch.zeros((extra, self.mask.shape[1]), dtype=torch.long)], 0)
        self.pos = torch.cat([self.pos, torch.zeros(extra, dtype=torch.long)])
        self.last = torch.cat([self.last, torch.full((extra,), self.pad, dtype=torch.long)])
        self.job += [None] * extra
        self.out += [[] for _ in range(extra)]

    # ---------------------------------------------------------------- decoding
    def _emit(self, slot: int, token: int):
        """Record ``token`` for the sequence in ``slot``; free the slot when the sequence is over."""
        if token in self.eos:
            if self.keep_eos:
                self.out[slot].append(token)
            return self._finish(slot, True)
        self.out[slot].append(token)
        self.last[slot] = token
        if self.done_check is not None and self.done_check(token, self.out[slot]):
            return self._finish(slot, True)
        if len(self.out[slot]) >= self.max_new:
            return self._finish(slot, False)

    def _finish(self, slot: int, finished: bool):
        self.on_done(self.job[slot], self.out[slot], finished)
        self.job[slot] = None
        self.last[slot] = self.pad
        self.mask[slot] = 0

    def step(self):
        self._grow(1)
        cols = torch.ones((self.mask.shape[0], 1), dtype=torch.long)
        attn = torch.cat([self.mask, cols], 1)
        out = self.model(input_ids=self.last[:, None], attention_mask=attn, position_ids=self.pos[:, None],
                         use_cache=True, **{self.cache_kw: self._cache()})
        self.mask = attn
        live = [i for i, j in enumerate(self.job) if j is not None]
        dead = [i for i, j in enumerate(self.job) if j is None]
        if dead:
            self.mask[dead, -1] = 0
        tokens = self.sample(out.logits[:, -1]).tolist()
        self.pos += 1
        for i in live:
            self._emit(i, tokens[i])

    def live(self) -> int:
        return sum(j is not None for j in self.job)


@torch.inference_mode()
def stream_generate(model, prompts: list[list[int]], *, max_new_tokens: int, eos: set[int], pad: int,
                    temperature: float = 0.0, top_p: float = 1.0, n: int = 1, batch_size: int = 32, seed: int | None = 0,
                    done_check=None, progress=None, keep_eos: bool = False,
                    dtype: torch.dtype | str | None = None, pack: bool = True) -> list[list[tuple[list[int], bool]]]:
    """Per prompt, ``n`` (completion ids, finished) pairs, the ending EOS left out unless ``keep_eos``;
    ``done_check(token, ids)`` may end a sequence early (it then counts as finished). ``progress`` is called with
    the number of sequences done. ``dtype``, ``pack``: the decoding copy (``rldistill.twin.decode_copy``)."""
    model = decode_copy(model, resolve_dtype(dtype), pack=pack)
    jobs = deque(sorted(((i, j) for i in range(len(prompts)) for j in range(n)), key=lambda ij: -len(prompts[ij[0]])))
    results: list[list] = [[None] * n for _ in prompts]
    done = [0]

    def on_done(job, ids, finished):
        results[job[0]][job[1]] = (list(ids), finished)
        done[0] += 1
        if progress is not None:
            progress(1)

    model.eval()
    eng = Engine(model, slots=batch_size, eos=eos, pad=pad, max_new_tokens=max_new_tokens,
                 sampler=_Sampler(temperature, top_p, seed), done_check=done_check, on_done=on_done,
                 keep_eos=keep_eos)
    # Refill when a quarter of the slots are free (one prefill batch instead of one per finished row).
    refill_at = max(1, batch_size // 4)
    while jobs or eng.live():
        free = batch_size - eng.live()
        if jobs and (free >= refill_at or eng.live() == 0):
            take = [jobs.popleft() for _ in range(min(free, len(jobs)))]
            eng.admit(take, [prompts[i] for i, _ in take])
            eng._compact()
            continue  # the prefill may already have ended sequences (EOS first)
        eng.step()
        if not jobs:
            eng._compact()
    return results
