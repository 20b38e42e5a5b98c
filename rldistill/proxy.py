"""Order ``verified``'s candidate deletions by a proxy model (``--proxy-model``): the student's view.

For each candidate step, the proxy scores the trace with that step removed:
the mean log-likelihood per token of the remaining completion given the
prompt. Deletions that leave the remainder most predictable to the student
are tried first; the verification gate of ``verified`` still decides which
deletions stand. Any causal LM that ``rldistill.models`` loads works; meant
for small students (one batched forward pass per candidate per row).

Leaves out: rollouts from the shortened prefix (scoring by sampling is far
costlier on CPU); at most ``max_candidates`` steps per row are scored, the
rest follow in the default role order.
"""

from __future__ import annotations


class ProxyScorer:
    def __init__(self, name_or_path: str, batch_size: int = 8, max_candidates: int = 64, max_length: int = 1024):
        from rldistill.models import load_model_and_tokenizer

        self.model, self.tok = load_model_and_tokenizer(name_or_path, padding_side="right")
        self.model.eval()
        self.batch_size, self.max_candidates, self.max_length = batch_size, max_candidates, max_length

    def loglik(self, prompt: str, completions: list[str]) -> list[float]:
        """Mean log-likelihood per completion token of each completion after ``prompt``."""
        import torch

        p_ids = self.tok(prompt, add_special_tokens=False)["input_ids"]
        out = []
        for b in range(0, len(completions), self.batch_size):
            seqs = [(p_ids + self.tok(c, add_special_tokens=False)["input_ids"])[: self.max_length]
                    for c in completions[b:b + self.batch_size]]
            width = max(len(s) for s in seqs)
            pad = self.tok.pad_token_id or 0
            ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
            mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
            with torch.no_grad():
                logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1)
            tok_lp = logp.gather(-1, ids[:, 1:, None])[..., 0]
            for row, s in enumerate(seqs):
                lo, hi = max(len(p_ids) - 1, 0), len(s) - 1  # predictions of the completion tokens
                out.append(float(tok_lp[row, lo:hi].mean()) if hi > lo else 0.0)
        return out

    def order(self, ex, candidates: list[int]) -> list[int]:
        """``candidates`` (step indices), most harmless deletion first."""
        from rldistill.compressors import ROLE_ORDER, render

        st = ex.steps
        default = sorted(candidates, key=lambda i: (ROLE_ORDER.index(st[i].role), -i))
        scored, rest = default[: self.max_candidates], default[self.max_candidates:]
        everything = {s.index for s in st}
        texts = [str(render(ex, everything - {i}, "sentences")) for i in scored]
        ll = self.loglik(ex.prompt, texts)
        return [i for _, i in sorted(zip(ll, scored), key=lambda x: -x[0])] + rest

    def close(self):
        self.model = None
