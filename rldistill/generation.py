"""Generation for evaluation and RL rollouts: prompts in, completion token ids out.

Three backends behind one ``Generator``:

- ``stream`` (the default on CPU): continuous batching in plain PyTorch over the model's own forward. Up to
  ``batch_size`` sequences are in flight; a sequence leaves the batch as soon as it ends (EOS, its token cap, or,
  with ``stop_at_answer``, its first complete final answer) and a waiting prompt is prefilled into its slot, so no
  step is spent on rows that have already finished, as padded batching spends it. The KV cache is a preallocated
  buffer per layer (``BufferLayer``) written in place, instead of transformers' ``DynamicCache``, which copies the
  whole cache at every step (``torch.cat``). Left padding, position ids from each row's own length, greedy or
  temperature/top-p sampling; ``n`` samples of a prompt are ``n`` independent rows.
- ``hf``: padded batched ``model.generate`` (the baseline ``scripts/bench_generate.py`` compares with).
- ``vllm``: when vLLM is installed and CUDA is present.

``scripts/bench_generate.py`` measures the backends against each other on the same prompts.

Leaves out: speculative decoding, paged attention, and sharing a prompt's prefill between its ``n`` samples.
Models whose cache is not a plain per-layer key/value stack (sliding-window or linear-attention layers) fall
back to ``hf``.
"""

from __future__ import annotations

import re

BACKENDS = ("auto", "stream", "hf", "vllm")


def prompt_ids(tok, prompt, chat: bool | None = None) -> list[int]:
    """Tokenise a prompt the way TRL's SFT and GRPO trainers do: a list of chat messages goes through the chat
    template with the generation prompt; a plain string is tokenised as is, or, with ``chat=True`` and a tokenizer
    that has a chat template, asked as one user message (``prompt_as_chat`` in the training recipes)."""
    if isinstance(prompt, str) and chat and getattr(tok, "chat_template", None):
        prompt = [{"role": "user", "content": prompt}]
    if isinstance(prompt, list):
        ids = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(ids["input_ids"])
    return list(tok(prompt)["input_ids"])


def _strip(ids: list[int], eos_ids: set[int]) -> tuple[list[int], bool]:
    """Cut a generated sequence at its first EOS; report whether it stopped."""
    # HF pads a sequence only after its EOS, so a sequence without EOS ran to
    # max_new_tokens and every token in it (even one equal to the pad id) is real.
    for i, t in enumerate(ids):
        if t in eos_ids:
            return ids[:i], True
    return ids, False


def answer_end(text: str) -> int | None:
    """Character offset just past the first complete final answer in ``text``:
    a brace-balanced ``\\boxed{...}``, or a ``Final answer:`` line ended by a newline.

    >>> answer_end("so 2+3=5\\n\\\\boxed{5} and more")
    18
    >>> answer_end("Final answer: 7\\nblah"), answer_end("\\\\boxed{\\\\frac{1}{2")
    (16, None)
    """
    ends = []
    i = text.find("\\boxed{")
    if i >= 0:
        depth = 0
        for j in range(i + len("\\boxed"), len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                ends.append(j + 1)
                break
    m = re.search(r"Final answer:[^\n]*\S[^\n]*\n", text)
    if m:
        ends.append(m.end())
    return min(ends) if ends else None


def cut_at_answer(ids: list[int], decode) -> list[int]:
    """The shortest prefix of ``ids`` whose text holds the whole first final answer (``ids`` if none)."""
    end = answer_end(decode(ids))
    if end is None:
        return ids
    lo, hi = 1, len(ids)  # smallest k with answer_end(decode(ids[:k])) == end
    while lo < hi:
        mid = (lo + hi) // 2
        if answer_end(decode(ids[:mid])) == end:
            hi = mid
        else:
            lo = mid + 1
    return ids[:lo]


class AnswerStop:
    """HF ``StoppingCriteria``: a row is done once its completion holds a complete final answer.

    Only rows whose newest token can close an answer (holds ``}`` or a newline)
    are decoded, so the check is cheap.
    """

    def __init__(self, tok, prompt_width: int):
        self.tok, self.width = tok, prompt_width
        vocab = tok.convert_ids_to_tokens(list(range(len(tok))))
        self.closers = {i for i, t in enumerate(vocab)
                        if t is not None and ("}" in tok.convert_tokens_to_string([t]) or
                                              "\n" in tok.convert_tokens_to_string([t]))}

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        last = input_ids[:, -1].tolist()
        for row, t in enumerate(last):
            if t in self.closers:
                text = self.tok.decode(input_ids[row, self.width:].tolist(), skip_special_tokens=True)
                done[row] = answer_end(text) is not None
        return done


def _eos_ids(model, tok) -> set[int]:
    eos = model.generation_config.eos_token_id if model.generation_config is not None else None
    eos = eos if eos is not None else tok.eos_token_id
    return set(eos if isinstance(eos, list) else [eos]) - {None}


def hf_generate(model, tok, prompts: list[list[int]], *, max_new_tokens: int, temperature: float = 0.0,
                top_p: float = 1.0, n: int = 1, batch_size: int = 32, seed: int = 0, stop_at_answer: bool = False):
    """Batched ``model.generate``: returns, per prompt, ``n`` (ids, finished) pairs.

    Prompts are sorted by length so that a batch holds similar lengths (less
    padding), longest first so that running out of memory happens at once.
    """
    import torch

    eos = _eos_ids(model, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else next(iter(eos))
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    out: list = [None] * len(prompts)
    torch.manual_seed(seed)
    per_batch = max(1, batch_size // max(1, n)) if n > 1 else batch_size
    model.eval()
    for start in range(0, len(order), per_batch):
        idx = order[start : start + per_batch]
        width = max(len(prompts[i]) for i in idx)
        input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
        attn = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):  # left padding: the last prompt token sits at the same position for all rows
            p = prompts[i]
            input_ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            attn[row, width - len(p) :] = 1
        kw = dict(do_sample=True, temperature=temperature, top_p=top_p) if temperature > 0 else dict(do_sample=False)
        if stop_at_answer:
            from transformers import StoppingCriteriaList

            kw["stopping_criteria"] = StoppingCriteriaList([AnswerStop(tok, width)])
        with torch.inference_mode():
            gen = model.generate(
                input_ids=input_ids, attention_mask=attn, max_new_tokens=max_new_tokens,
                num_return_sequences=n, pad_token_id=pad, eos_token_id=sorted(eos), use_cache=True,
                top_k=None, **kw,
            )
        gen = gen[:, width:].tolist()
        for row, i in enumerate(idx):
            out[i] = [_strip(gen[row * n + j], eos) for j in range(n)]
            if stop_at_answer:  # rows stopped by AnswerStop are padded after the answer, not ended by EOS
                out[i] = [_answer_stop(ids, fin, tok) for ids, fin in out[i]]
    return out


def stream_generate(model, tok, prompts: list[list[int]], *, max_new_tokens: int, temperature: float = 0.0,
                    top_p: float = 1.0, n: int = 1, batch_size: int = 32, seed: int = 0, stop_at_answer: bool = False,
                    progress: bool = False, dtype=None, pack: bool = True):
    """Continuous batching (``rldistill.stream``): the same contract as ``hf_generate``, which it falls back to
    for models whose cache it does not handle. ``dtype`` (``"bfloat16"``) and ``pack`` (prepacked linear weights
    on a CPU): the decoding copy, ``rldistill.twin.decode_copy``."""
    from rldistill import stream

    model = stream.decode_copy(model, stream.resolve_dtype(dtype), pack=pack)
    if not stream.supported(model):
        return hf_generate(model, tok, prompts, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                           n=n, batch_size=batch_size, seed=seed, stop_at_answer=stop_at_answer)
    eos = _eos_ids(model, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else next(iter(eos))
    done_check = None
    if stop_at_answer:
        closers = AnswerStop(tok, 0).closers

        def done_check(token, ids):
            return token in closers and answer_end(tok.decode(ids, skip_special_tokens=True)) is not None

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(prompts) * n, desc="generating", unit="seq", leave=False)
    try:
        out = stream.stream_generate(model, prompts, max_new_tokens=max_new_tokens, eos=eos, pad=pad,
                                     temperature=temperature, top_p=top_p, n=n, batch_size=batch_size, seed=seed,
                                     done_check=done_check, progress=bar.update if bar is not None else None,
                                     pack=False)  # the decoding copy is made above
    finally:
        if bar is not None:
            bar.close()
    if stop_at_answer:  # the same cut as the hf backend: the shortest prefix holding the whole first answer
        out = [[_answer_stop(ids, fin, tok) for ids, fin in per] for per in out]
    return out


def sample_rollouts(model, prompts: list[list[int]], *, eos_ids, pad_id: int, max_new_tokens: int,
                    temperature: float = 1.0, top_p: float = 1.0, top_k: int | None = None, min_p: float | None = None,
                    repetition_penalty: float | None = 1.0, batch_size: int = 64, seed: int | None = None, dtype=None):
    """RL rollouts (GRPO, PPO) through the stream backend: one sampled completion per prompt, its EOS kept as
    TRL's trainers keep it. ``None`` when the settings need ``model.generate`` (top-k, min-p, a repetition
    penalty) or the model's cache is not one the stream backend handles; the caller then generates as before.
    ``dtype`` (``"bfloat16"``): sample from a copy of the policy in that dtype, its weights refreshed at every call;
    the trainer still scores the samples with the policy itself (the usual small rollout/trainer mismatch of
    low-precision rollout engines such as vLLM)."""
    from rldistill import stream

    if (top_k or 0) > 0 or min_p or (repetition_penalty not in (None, 1.0)) or not stream.supported(model):
        return None
    was_training = model.training
    out = stream.stream_generate(model, prompts, max_new_tokens=max_new_tokens, eos=set(eos_ids), pad=pad_id,
                                 temperature=temperature, top_p=top_p, batch_size=batch_size, seed=seed,
                                 keep_eos=True, dtype=dtype)
    model.train(was_training)
    return [per[0][0] for per in out]


def _answer_stop(ids: list[int], finished: bool, tok) -> tuple[list[int], bool]:
    """Cut at the first complete final answer; a completion that holds one counts as finished."""
    decode = lambda x: tok.decode(x, skip_special_tokens=True)  # noqa: E731
    if answer_end(decode(ids)) is None:
        return ids, finished
    return cut_at_answer(ids, decode), True


def vllm_available() -> bool:
    try:
        import torch
        import vllm  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


def vllm_generate(llm, prompts: list[list[int]], *, max_new_tokens: int, temperature: float = 0.0,
                  top_p: float = 1.0, n: int = 1, seed: int = 0, eos_ids: set[int] = frozenset()):
    from vllm import SamplingParams

    params = SamplingParams(n=n, temperature=temperature, top_p=top_p if temperature > 0 else 1.0,
                            max_tokens=max_new_tokens, seed=seed)
    outs = llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
    res = []
    for o in outs:
        per = []
        for c in o.outputs:
            ids, _ = _strip(list(c.token_ids), set(eos_ids))
            per.append((ids, c.finish_reason == "stop"))
        res.append(per)
    return res


class Generator:
    """Holds a loaded model and tokenizer; ``__call__`` generates token ids."""

    def __init__(self, model_path: str, backend: str = "auto", batch_size: int = 32, progress: bool = False,
                 dtype: str | None = None):
        from rldistill.models import load_model_and_tokenizer, load_tokenizer
        from rldistill.stream import resolve_dtype

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.path, self.batch_size, self.progress = str(model_path), batch_size, progress
        self.dtype = resolve_dtype(dtype)  # decoding dtype for the stream and hf backends (None: the model's)
        self.backend = ("vllm" if vllm_available() else "stream") if backend == "auto" else backend
        if self.backend == "vllm":
            from vllm import LLM

            self.tok = load_tokenizer(self.path)
            self.llm = LLM(model=self.path)
            self.eos = {self.tok.eos_token_id}
        else:
            self.model, self.tok = load_model_and_tokenizer(self.path)
            self.eos = _eos_ids(self.model, self.tok)

    def __call__(self, prompts, *, max_new_tokens, temperature=0.0, top_p=1.0, n=1, seed=0, stop_at_answer=False):
        if self.backend == "vllm":
            outs = vllm_generate(self.llm, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                                 top_p=top_p, n=n, seed=seed, eos_ids=self.eos)
            # the same cut as the HF backend's stopping criterion, after the fact
            return [[_answer_stop(ids, fin, self.tok) for ids, fin in o] for o in outs] if stop_at_answer else outs
        if self.backend == "stream":
            return stream_generate(self.model, self.tok, prompts, max_new_tokens=max_new_tokens,
                                   temperature=temperature, top_p=top_p, n=n, batch_size=self.batch_size, seed=seed,
                                   stop_at_answer=stop_at_answer, progress=self.progress, dtype=self.dtype)
        from rldistill.stream import decode_copy

        return hf_generate(decode_copy(self.model, self.dtype), self.tok, prompts, max_new_tokens=max_new_tokens,
                           temperature=temperature, top_p=top_p, n=n, batch_size=self.batch_size, seed=seed,
                           stop_at_answer=stop_at_answer)

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)


