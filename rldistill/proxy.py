"""A real language model as the judge of which steps a trace can lose: ``--method proxy --proxy-model ID``.

    rldistill compress --input runs/gsm8k/verbose.jsonl --output runs/gsm8k/proxy.jsonl \\
        --method proxy --proxy-model /work/models/smollm2

``ProxyScorer.importance(ex, candidates)`` scores each candidate step by how
much deleting it lowers the model's log-likelihood of what follows it: the
numbers in the next ``horizon`` tokens of later steps, and the whole final
answer step (the verified answer), summed, in nats. A step whose result
later steps use scores high (the later step's numbers become surprising
without it); a filler sentence scores about zero. Only number tokens of the
later steps count (``tokens="numbers"``, the default): with every token
counted (``tokens="all"``), deleting any sentence disturbs the wording of the
next one, and on SmolLM2-135M an opener like "Okay, so let me start." then
scores as high as a computation. The prompt goes through the model's chat template when the
tokenizer has one; the completion is the teacher's text, step by step.

Cost: one forward pass over the trace (its key/value cache is kept), then
per candidate one pass over only the tokens after it (the window and the
answer), started from the cache cropped at the candidate, under
``torch.inference_mode`` - about ``horizon + len(answer)`` tokens per
candidate instead of the whole trace. The logits are formed only where a
token is scored, in chunks, so the vocabulary never meets the full sequence.

The ``proxy`` compressor deletes the least important step first, and keeps
deleting while the importance stays at or below ``threshold`` nats; every
deletion is gated exactly as in ``verified`` (the derivation must still hold:
every quantity a kept step uses is computed by an earlier kept step, no kept
step has a wrong equation) and, when ``rldistill.quality`` is present, by
form (the rendered output has no violation). ``--method verified
--proxy-model ID`` instead uses the scores only to order ``verified``'s
deletions.

Leaves out: re-scoring after each deletion (one scoring pass per row, on the
full trace); rollouts from the shortened prefix; steps past ``max_length``
tokens are not scored (the ``proxy`` compressor keeps them, ``order`` puts them
last in the default role order).
"""

from __future__ import annotations

import inspect

from rldistill.compressors import (ROLE_ORDER, Compressed, Example, derivation_holds, fit_budget, register_compressor,
                                   render, with_decisions)


class ProxyScorer:
    def __init__(self, name_or_path: str, *, horizon: int = 64, max_length: int = 4096, max_context: int = 512,
                 max_candidates: int | None = None, dtype: str | None = None, chunk: int = 256,
                 tokens: str = "numbers", **_):
        from rldistill.models import load_model_and_tokenizer

        self.model, self.tok = load_model_and_tokenizer(str(name_or_path), dtype=dtype, padding_side="right")
        self.model.eval()
        limit = getattr(self.model.config, "max_position_embeddings", None) or max_length
        self.horizon, self.max_length, self.max_context = horizon, min(max_length, limit), max_context
        self.max_candidates, self.chunk = max_candidates, chunk
        if tokens not in ("numbers", "all"):
            raise ValueError(f"tokens must be 'numbers' or 'all', got {tokens!r}")
        self.tokens, self._numeric = tokens, {}
        self.chat = bool(getattr(self.tok, "chat_template", None))
        fwd = inspect.signature(self.model.base_model.forward).parameters
        self._cache_kw = "cache" if "cache" in fwd else "past_key_values"  # transformers 5 renamed it

    # ------------------------------------------------------------------ tokens

    def context_ids(self, prompt: str) -> list[int]:
        """The prompt as the model sees it before the answer: its chat template (user turn + generation
        prompt) when it has one, else the text; the last ``max_context`` tokens."""
        if self.chat:
            ids = self.tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                               tokenize=True)
            ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
        else:
            ids = self.tok(prompt, add_special_tokens=True)["input_ids"]
        if not ids:  # every prediction needs a token before it
            ids = [self.tok.bos_token_id if self.tok.bos_token_id is not None else self.tok.eos_token_id]
        return ids[-self.max_context:]

    def pieces(self, ex: Example) -> list[tuple[int, list[int]]]:
        """``[(step index, token ids), ...]`` up to the final answer; each step with the separator before it."""
        last = ex.final if ex.final is not None else len(ex.steps) - 1
        out = []
        for s in ex.steps[: last + 1]:
            text = (s.sep if out else "") + s.text
            out.append((s.index, self.tok(text, add_special_tokens=False)["input_ids"] or [self.tok.eos_token_id]))
        return out

    # ------------------------------------------------------------------ the model

    def _run(self, ids: list[int], cache=None):
        """Hidden states of ``ids`` (after ``cache``'s tokens) and the cache grown by them."""
        import torch

        kw = {self._cache_kw: cache} if cache is not None else {}
        out = self.model.base_model(input_ids=torch.tensor([ids]), use_cache=True, **kw)
        return out.last_hidden_state[0], getattr(out, "cache", None) or out.past_key_values

    def _logps(self, hidden, targets: list[int]):
        """log p(targets[j] | position j's hidden state), the logits formed ``chunk`` positions at a time."""
        import torch

        head = self.model.get_output_embeddings()
        out = []
        for a in range(0, len(targets), self.chunk):
            logits = head(hidden[a:a + self.chunk]).float()
            t = torch.tensor(targets[a:a + self.chunk])
            out.append(torch.log_softmax(logits, -1).gather(-1, t[:, None])[:, 0])
        return torch.cat(out) if out else torch.zeros(0)

    @staticmethod
    def _crop(cache, n: int):
        """A new cache holding the first ``n`` positions of ``cache`` (views, no copy)."""
        from transformers import DynamicCache

        return DynamicCache([(layer.keys[:, :, :n], layer.values[:, :, :n]) for layer in cache.layers])

    def _weights(self, ids: list[int]):
        """Which tokens count: those holding a digit (``tokens="numbers"``: the results later steps state),
        or all of them."""
        import torch

        if self.tokens == "all":
            return torch.ones(len(ids))
        for t in ids:
            if t not in self._numeric:
                self._numeric[t] = any(c.isdigit() for c in self.tok.decode([t]))
        return torch.tensor([float(self._numeric[t]) for t in ids])

    def _score_after(self, cache, full: list[int], n: int, new: list[int], weights) -> float:
        """Weighted sum of log p(new | full[:n]), run from the cache cropped to ``n - 1`` tokens."""
        hidden, _ = self._run([full[n - 1]] + new[:-1], self._crop(cache, n - 1))
        return float((self._logps(hidden, new) * weights).sum())

    # ------------------------------------------------------------------ importance

    def importance(self, ex: Example, candidates) -> dict[int, float | None]:
        """``{step index: drop in log-likelihood of the next horizon tokens and the final answer when the step
        is deleted}`` (nats; None for a step past ``max_length`` tokens or past ``max_candidates``)."""
        import torch

        candidates = list(candidates)
        pieces = self.pieces(ex)
        if not candidates or len(pieces) < 2:
            return {i: None for i in candidates}
        ctx = self.context_ids(ex.prompt)
        fin_idx, fin = pieces[-1]
        body = pieces[:-1]
        # Lay the trace out; steps that would push it past max_length (with the answer) are not scored.
        start, full = {}, list(ctx)
        for i, ids in body:
            if len(full) + len(ids) + len(fin) > self.max_length:
                break
            start[i] = (len(full), len(full) + len(ids))
            full += ids
        contiguous = len(start) == len(body)  # the answer follows the last step in the laid-out trace
        fin_at = len(full)
        full += fin
        scored = [i for i in candidates if i in start and i != fin_idx]
        if self.max_candidates is not None:
            scored = sorted(scored, key=lambda i: (ROLE_ORDER.index(ex.steps[i].role), i))[: self.max_candidates]
        out: dict[int, float | None] = {i: None for i in candidates}
        with torch.inference_mode():
            hidden, cache = self._run(full)
            lp = torch.cat([torch.zeros(1), self._logps(hidden[:-1], full[1:])])  # lp[t] = log p(full[t] | full[:t])
            weights = self._weights(full)
            for i in scored:
                a, b = start[i]
                # the window: the next `horizon` tokens of later steps (the same tokens with and without it)
                w_end = min(b + self.horizon, fin_at)
                window = full[b:w_end]
                w_win, w_fin = weights[b:w_end], torch.ones(len(fin))  # every token of the answer counts
                with_i = float((lp[b:w_end] * w_win).sum())
                if contiguous and w_end == fin_at:
                    with_i += float(lp[fin_at:].sum())
                else:
                    with_i += self._score_after(cache, full, w_end, fin, w_fin)
                without_i = self._score_after(cache, full, a, window + fin, torch.cat([w_win, w_fin]))
                out[i] = with_i - without_i
        return out

    def order(self, ex: Example, candidates: list[int]) -> list[int]:
        """``candidates``, least important first (unscored ones last, in the default role order)."""
        imp = self.importance(ex, candidates)
        scored = sorted((i for i in candidates if imp[i] is not None), key=lambda i: imp[i])
        rest = sorted((i for i in candidates if imp[i] is None), key=lambda i: (ROLE_ORDER.index(ex.steps[i].role), -i))
        return scored + rest

    def close(self):
        self.model = None


def _well_formed(ex: Example, kept: set[int], granularity: str) -> bool:
    """No form violation in the rendered output (always true without ``rldistill.quality``)."""
    try:
        from rldistill.quality import violations
    except ImportError:
        return True
    return sum(violations(ex.completion, str(render(ex, kept, granularity))).values()) == 0


@register_compressor("proxy")
def proxy(ex: Example, proxy: ProxyScorer | None = None, budget=None, granularity="compact", keep=(),
          threshold: float = 1.0, **_) -> str | None:
    """Delete the steps the model finds least important first, while importance <= ``threshold`` nats,
    each deletion gated by the derivation check (as ``verified``) and by form."""
    if proxy is None:
        raise ValueError("--method proxy needs a model: --proxy-model ID (a hub id or a local directory)")
    if ex.final is None:
        return None
    st = ex.steps
    kept = {s.index for s in st if s.index <= ex.final}
    kept -= {s.index for s in st if s.check == "fail"}  # a wrong equation never stays
    if ex.final not in kept or not derivation_holds(ex, kept):
        return None
    candidates = [i for i in sorted(kept) if i != ex.final and derivation_holds(ex, kept - {i})]
    imp = proxy.importance(ex, candidates)
    for i in sorted((i for i in candidates if imp[i] is not None), key=lambda i: imp[i]):
        if imp[i] > threshold:
            break
        trial = kept - {i}
        if derivation_holds(ex, trial) and _well_formed(ex, trial, granularity):
            kept = trial
    return fit_budget(ex, with_decisions(ex, kept, keep), granularity, budget)


__all__ = ["ProxyScorer", "proxy", "Compressed"]
