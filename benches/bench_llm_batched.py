"""Batched decoding throughput: aggregate generated tokens per second at B = 1, 2, 4, 8 sequences.

    python benches/bench_llm_batched.py [--model qwen2.5-coder-0.5b] [--threads 2] [--tokens 64] [--repeats 3]
                                        [--llama-bin DIR]

B sequences (B different prompts, sampled at temperature 0.8, EOS banned so each runs ``--tokens`` tokens)
go through ``Model.generate_batch``, which runs one forward pass per step over all of them. The line for B
gives the median decode time over ``--repeats`` (prefill excluded), the aggregate tokens/s and its ratio
to B = 1, and the same B sequences decoded one after another with ``Model.generate`` (the rate a
caller gets without batching; its decode time only, too).

With ``--llama-bin DIR`` (llama.cpp built from its public source, ``cmake --build build --target
llama-batched-bench``), llama.cpp's own batched decoding runs on the same file in the same run:
``llama-batched-bench -npp P -ntg T -npl 1,2,4,8`` with P the median token count of the prompts above
(its prompts are random tokens) and T = ``--tokens``; its S_TG (B * T / decode seconds, the prompt pass
excluded as here) is printed beside ours, median of ``--repeats`` runs. It feeds random tokens and does
not sample, so its decode time has no sampling in it; ours has.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from pathlib import Path

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


def llama_batched(
    bin_dir: Path, model: Path, n_prompt: int, n_gen: int, batches: list[int], threads: int, repeats: int
) -> dict[int, float]:
    """Median S_TG (aggregate decode tokens/s) per B from llama.cpp's llama-batched-bench."""
    exe = bin_dir / "llama-batched-bench"
    cmd = [str(exe), "-m", str(model), "-c", str(max(batches) * (n_prompt + n_gen) + 64), "-t", str(threads)]
    cmd += ["-npp", str(n_prompt), "-ntg", str(n_gen), "-npl", ",".join(map(str, batches))]
    cmd += ["--output-format", "jsonl"]
    rates: dict[int, list[float]] = {b: [] for b in batches}
    for _ in range(repeats):
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise SystemExit(f"llama-batched-bench failed ({r.returncode}):\n{r.stderr[-2000:]}")
        for line in (r.stdout + r.stderr).splitlines():
            if line.startswith("{") and '"speed_tg"' in line:
                row = json.loads(line)
                rates[int(row["pl"])].append(float(row["speed_tg"]))
    return {b: statistics.median(v) for b, v in rates.items() if v}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--llama-bin", type=Path, help="folder with llama.cpp's llama-batched-bench")
    args = ap.parse_args()
    path = models.path(args.model)
    model = llm.Model.load(path, n_threads=args.threads)
    eos = model.metadata.get("tokenizer.ggml.eos_token_id")
    ban = {int(eos): float("-inf")} if isinstance(eos, int) else None
    kw = dict(max_tokens=args.tokens, temperature=0.8, seed=7, logit_bias=ban)
    print(
        f"{args.model}, {args.threads} threads, {args.tokens} tokens per sequence, median of {args.repeats}"
    )
    single: float | None = None
    rates: dict[int, float] = {}
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
        rates[b] = rate
        print(
            f"B={b}: {rate:7.1f} tok/s aggregate ({rate / single:4.2f}x B=1), "
            f"one by one {plain_rate:7.1f} tok/s, batched / one by one {rate / plain_rate:4.2f}x"
        )
    if args.llama_bin:
        n_prompt = int(statistics.median(len(model.tokenize(p)) for p in PROMPTS))
        peer = llama_batched(
            args.llama_bin, Path(path), n_prompt, args.tokens, args.batches, args.threads, args.repeats
        )
        print(
            f"llama-batched-bench, same file, -npp {n_prompt} -ntg {args.tokens}, median of {args.repeats}:"
        )
        for b in args.batches:
            if b in peer:
                print(
                    f"B={b}: llama.cpp {peer[b]:7.1f} tok/s aggregate "
                    f"({peer[b] / peer[args.batches[0]]:4.2f}x its first B), "
                    f"ours / llama.cpp {rates[b] / peer[b]:4.2f}x"
                )


if __name__ == "__main__":
    main()
