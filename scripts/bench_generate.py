"""Generation speed: the project's path (continuous batching, ``rldistill.generation``) against plain padded
batched ``model.generate``, on the same prompts at the same batch size, in the same run.

    python scripts/bench_generate.py --model runs/smollm2 --data ../shared/data/gsm8k/test.jsonl \\
        [--n 32] [--batch-size 16] [--max-new-tokens 256] [--rounds 2] [--single 4] [--bf16]

Arms, interleaved round by round so that a slow spell of a shared machine hits every arm alike:
- ``generate``: padded batched ``model.generate`` (left padding, KV cache), greedy, stopping at EOS;
- ``stream``: ``rldistill.generation.stream_generate``, the same prompts, batch size and stopping rule (decoding
  with prepacked linear weights on a CPU, ``rldistill.twin``);
- ``stream unpacked`` (``--unpacked``): the same without prepacked weights, to show what the packing buys;
- ``stream+answer``: the same, ending each completion at its first complete final answer (what ``rldistill eval``
  and the demo do: fewer tokens, so compare its wall time, not its tokens per second);
- ``single`` (``--single K``): ``model.generate`` one prompt at a time on the first K prompts;
- ``--bf16``: the stream arm again decoding with bfloat16 weights (``--generation-dtype bfloat16`` in eval,
  ``generation_dtype: bfloat16`` in the RL recipes); "same text" then counts completions identical to float32's.

Prompts go through the model's chat template. Prints tokens/s per arm, the ratio against ``generate`` and how
many completions are identical to ``generate``'s. Threads: torch's default (all cores) unless ``--threads``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="../shared/data/gsm8k/test.jsonl")
    ap.add_argument("--n", type=int, default=32, help="prompts")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--single", type=int, default=0, help="also time one prompt at a time on the first K prompts")
    ap.add_argument("--bf16", action="store_true", help="also time the stream arm with bfloat16 weights")
    ap.add_argument("--unpacked", action="store_true", help="also time the stream arm without prepacked weights")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the figures here too")
    a = ap.parse_args(argv)

    import torch

    from rldistill.data import load_traces
    from rldistill.generation import hf_generate, prompt_ids, stream_generate
    from rldistill.models import load_model_and_tokenizer

    if a.threads:
        torch.set_num_threads(a.threads)
    model, tok = load_model_and_tokenizer(a.model)
    rows = load_traces(a.data, require=("prompt",)).select(range(a.n))
    prompts = [prompt_ids(tok, r["prompt"], chat=True) for r in rows]
    kw = dict(max_new_tokens=a.max_new_tokens, batch_size=a.batch_size)
    arms = {
        "generate": lambda m: hf_generate(m, tok, prompts, **kw),
        "stream": lambda m: stream_generate(m, tok, prompts, **kw),
        "stream+answer": lambda m: stream_generate(m, tok, prompts, stop_at_answer=True, **kw),
    }
    if a.unpacked:
        arms["stream unpacked"] = lambda m: stream_generate(m, tok, prompts, pack=False, **kw)
    if a.single:
        arms["single"] = lambda m: [hf_generate(m, tok, [p], max_new_tokens=a.max_new_tokens, batch_size=1)[0]
                                    for p in prompts[: a.single]]
    if a.bf16:  # the project's path with --generation-dtype bfloat16: a bfloat16 copy of the weights, refreshed per call
        arms["stream bf16"] = lambda m: stream_generate(m, tok, prompts, dtype="bfloat16", **kw)
        arms["stream bf16+answer"] = lambda m: stream_generate(m, tok, prompts, dtype="bfloat16", stop_at_answer=True,
                                                               **kw)

    times: dict[str, list[float]] = {k: [] for k in arms}
    outs: dict[str, list] = {}
    print(f"model {a.model}  prompts {len(prompts)}  batch {a.batch_size}  max_new_tokens {a.max_new_tokens}  "
          f"threads {torch.get_num_threads()}  load {os.getloadavg()[0]:.1f}", flush=True)
    for r in range(a.rounds):
        for name, fn in arms.items():
            t = time.perf_counter()
            outs[name] = fn(model)
            times[name].append(time.perf_counter() - t)
            print(f"  round {r + 1} {name:>18}: {times[name][-1]:.1f} s", flush=True)
    ref = outs["generate"]
    result = {}
    base = None
    print(f"\n{'arm':>18} {'tokens':>7} {'median s':>9} {'tok/s':>7} {'vs generate':>11} {'same text':>9}")
    for name in arms:
        toks = sum(len(ids) for per in outs[name] for ids, _ in per)
        sec = statistics.median(times[name])
        tps = toks / sec
        base = base or tps
        same = sum(x == y for x, y in zip(outs[name], ref))
        result[name] = {"tokens": toks, "seconds": round(sec, 2), "tokens_per_s": round(tps, 1),
                        "ratio": round(tps / base, 2), "same_as_generate": f"{same}/{len(outs[name])}"}
        print(f"{name:>18} {toks:>7} {sec:>9.1f} {tps:>7.1f} {tps / base:>10.2f}x {same:>5}/{len(outs[name])}")
    for name in ("stream+answer", "stream bf16+answer"):
        if name in result:
            print(f"wall time for the same prompts: {name} {result[name]['seconds']} s against generate "
                  f"{result['generate']['seconds']} s ({result['generate']['seconds'] / result[name]['seconds']:.2f}x)")
    print(f"load {os.getloadavg()[0]:.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"settings": vars(a), "arms": result}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
