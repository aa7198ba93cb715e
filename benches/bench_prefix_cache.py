"""Prefix cache: prompt time of chat requests that share a long system prompt, with the cache off and on.

    python benches/bench_prefix_cache.py [--model qwen2.5-coder-0.5b] [--threads 2] [--system-repeats 6]

Eight chat requests (the questions of bench_llm_batched.py) go to the model one after another, each with
the same system prompt (a fixed instruction paragraph, repeated ``--system-repeats`` times to make it long),
rendered by the model's chat template. The line for each setting gives the median prompt time per request
(``Generation.timings["prompt_seconds"]``, the time to the first token), its ratio to the cache off, how many
prompt tokens were copied instead of run, and whether the greedy replies equal the uncached ones.
"""

from __future__ import annotations

import argparse
import statistics

from bench_llm_batched import PROMPTS
from thermoconsensus import llm, models

SYSTEM = (
    "You are a helpful assistant for a software team. Answer precisely and briefly. When a question is "
    "about code, give a short example in the language asked for, and say which edge cases it handles. "
    "When a question is about facts, say what you are sure of and what you are not. Never invent APIs, "
    "file names or numbers; if something is unknown, say so. Prefer plain words to jargon. "
)


def run(model: llm.Model, prompts: list[str]) -> tuple[list[float], list[llm.Generation]]:
    times, outs = [], []
    for p in prompts:
        g = model.generate(p, max_tokens=8, temperature=0)
        assert isinstance(g, llm.Generation)
        times.append(g.timings["prompt_seconds"])
        outs.append(g)
    return times, outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--system-repeats", type=int, default=6)
    args = ap.parse_args()
    model = llm.Model.load(models.path(args.model), n_threads=args.threads)
    system = SYSTEM * args.system_repeats
    prompts = [
        model.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": q}])
        for q in PROMPTS
    ]
    lengths = [len(model.tokenize(p)) for p in prompts]
    print(
        f"{args.model}, {args.threads} threads, {len(prompts)} chat requests of "
        f"{min(lengths)}-{max(lengths)} prompt tokens sharing one system prompt"
    )
    off_times, off_out = run(model, prompts)
    model.set_prefix_cache(256)
    on_times, on_out = run(model, prompts)
    stats = model.prefix_cache_stats()
    assert stats is not None
    off, on = statistics.median(off_times), statistics.median(on_times[1:])
    same = sum(a.token_ids == b.token_ids for a, b in zip(off_out, on_out))
    print(f"  cache off: median prompt time {off * 1e3:8.1f} ms per request")
    print(
        f"  cache on:  median prompt time {on * 1e3:8.1f} ms per request after the first "
        f"({off / on:.2f}x faster); first request {on_times[0] * 1e3:.1f} ms"
    )
    print(
        f"  reused {stats['reused_tokens']} of {stats['prompt_tokens']} prompt tokens "
        f"({stats['hits']} hits in {stats['lookups']} lookups, {stats['bytes'] / 2**20:.1f} MiB held); "
        f"greedy replies equal to the uncached ones: {same}/{len(prompts)}"
    )


if __name__ == "__main__":
    main()
