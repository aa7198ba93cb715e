"""Batched decoding throughput: aggregate generated tokens per second at B = 1, 2, 4, 8 sequences.

    python benches/bench_llm_batched.py [--model qwen2.5-coder-0.5b] [--threads 2] [--tokens 64] [--repeats 3]

B sequences (B different prompts, sampled at temperature 0.8, EOS banned so each runs ``--tokens`` tokens)
go through ``Model.generate_batch``, which runs one forward pass per step over all of them. The line for B
gives the median decode time over ``--repeats`` (prefill excluded), the aggregate tokens/s and its ratio
to B = 1, and the same B sequences decoded one after another with ``Model.generate`` (the rate a
caller gets without batching; its decode time only, too).
"""

from __future__ import annotations

import argparse
import statistics

from thermoconsensus import llm, models

PROMPTS = [
    "Write a Python function that checks whether a number is prime.",
    "Explain in one paragraph why the sky is blue.",
    "List three uses of a hash map.",
    "def quicksort(xs):",
    "The history of the printing press begins",
    "Translate to French: the cat sleeps on the warm windowsill.",
    "SELECT name, COUNT(*) FROM orders",
    "A haiku about autumn rain:",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    args = ap.parse_args()
    model = llm.Model.load(models.path(args.model), n_threads=args.threads)
    eos = model.metadata.get("tokenizer.ggml.eos_token_id")
    ban = {int(eos): float("-inf")} if isinstance(eos, int) else None
    kw = dict(max_tokens=args.tokens, temperature=0.8, seed=7, logit_bias=ban)
    print(
        f"{args.model}, {args.threads} threads, {args.tokens} tokens per sequence, median of {args.repeats}"
    )
    single: float | None = None
    for b in args.batches:
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(b)]
        times, produced = [], 0
        for _ in range(args.repeats):
            out = model.generate_batch(prompts, **kw)  # type: ignore[arg-type]
            times.append(out[0].timings["generation_seconds"])
            produced = sum(len(g.token_ids) for g in out)
        t = statistics.median(times)
        rate = produced / t
        single = single or rate
        plain_seconds, plain_tokens = 0.0, 0
        for p in prompts:
            g = model.generate(p, **kw)  # type: ignore[arg-type]
            assert isinstance(g, llm.Generation)
            plain_tokens += len(g.token_ids)
            plain_seconds += g.timings["generation_seconds"]
        plain_rate = plain_tokens / plain_seconds
        print(
            f"B={b}: {rate:7.1f} tok/s aggregate ({rate / single:4.2f}x B=1), "
            f"one by one {plain_rate:7.1f} tok/s, batched / one by one {rate / plain_rate:4.2f}x"
        )


if __name__ == "__main__":
    main()
