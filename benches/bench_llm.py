"""Local inference speed against llama.cpp (llama-cpp-python), same models, same prompts, same run.

    python benches/bench_llm.py [--models smollm2-135m qwen2.5-coder-0.5b] [--threads 2] [--repeats 3]

For each model: prompt processing of 256 tokens and generation of 128 tokens (greedy, EOS ignored), in
tokens per second (median over ``--repeats``), and the process's peak resident memory. Each engine runs
in its own subprocess so its memory is its own. llama-cpp-python must be importable for its column
(``pip install llama-cpp-python``; on CPUs whose AMX the kernel does not enable, build it with
``CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

PROMPT_TOKENS = 256
GEN_TOKENS = 128


def prompt_ids(n_vocab: int, bos: int | None) -> list[int]:
    """A fixed, model-independent prompt: 256 ids spread over the vocabulary (BOS first if any)."""
    ids = [(i * 7919 + 13) % min(n_vocab, 30000) + 100 for i in range(PROMPT_TOKENS)]
    if bos is not None:
        ids[0] = bos
    return ids


def run_ours(model: str, threads: int, repeats: int) -> dict[str, float]:
    from thermoconsensus import llm, models

    m = llm.Model.load(models.path(model, quiet=True), n_threads=threads)
    ids = prompt_ids(m.n_vocab, None)
    pp, tg = [], []
    for _ in range(repeats):
        # Prompt processing as llama.cpp's eval does it: all positions through the model, logits of the last.
        first = m.generate(ids[:PROMPT_TOKENS], max_tokens=1, temperature=0, n_ctx=PROMPT_TOKENS + 2)
        pp.append(PROMPT_TOKENS / first.timings["prompt_seconds"])  # type: ignore[union-attr]
        g = m.generate(ids[:8], max_tokens=GEN_TOKENS, temperature=0, n_ctx=8 + GEN_TOKENS + 1)
        tg.append(len(g.token_ids) / g.timings["generation_seconds"])  # type: ignore[union-attr]
    return {"pp": statistics.median(pp), "tg": statistics.median(tg)}


def run_llama_cpp(model: str, threads: int, repeats: int) -> dict[str, float]:
    from llama_cpp import Llama

    from thermoconsensus import models

    m = Llama(
        model_path=str(models.path(model, quiet=True)),
        n_ctx=512,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    ids = prompt_ids(m.n_vocab(), None)
    pp, tg = [], []
    for _ in range(repeats):
        m.reset()
        t = time.perf_counter()
        m.eval(ids[:PROMPT_TOKENS])
        pp.append(PROMPT_TOKENS / (time.perf_counter() - t))
        m.reset()
        m.eval(ids[:8])
        t = time.perf_counter()
        for _ in range(GEN_TOKENS):
            nxt = int(np.argmax(m.scores[m.n_tokens - 1]))
            m.eval([nxt])
        tg.append(GEN_TOKENS / (time.perf_counter() - t))
    return {"pp": statistics.median(pp), "tg": statistics.median(tg)}


def child(engine: str, model: str, threads: int, repeats: int) -> None:
    result = (run_ours if engine == "thermoconsensus" else run_llama_cpp)(model, threads, repeats)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(engine: str, model: str, threads: int, repeats: int) -> dict[str, float] | None:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        engine,
        "--models",
        model,
        "--threads",
        str(threads),
        "--repeats",
        str(repeats),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  {engine}: failed ({proc.stderr.strip().splitlines()[-1:]})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "qwen2.5-coder-0.5b", "gemma3-270m"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.models[0], args.threads, args.repeats)
        return
    print(
        f"prompt {PROMPT_TOKENS} tokens, generation {GEN_TOKENS} tokens, {args.threads} threads, "
        f"median of {args.repeats}"
    )
    for model in args.models:
        ours = measure("thermoconsensus", model, args.threads, args.repeats)
        peer = measure("llama.cpp", model, args.threads, args.repeats)
        for name, r in (("thermoconsensus", ours), ("llama.cpp", peer)):
            if r:
                print(
                    f"{model:20s} {name:16s} pp {r['pp']:8.1f} tok/s  tg {r['tg']:7.1f} tok/s  "
                    f"peak {r['peak_mb']:7.1f} MB"
                )
        if ours and peer:
            print(
                f"{model:20s} ratio (ours / llama.cpp): pp {ours['pp'] / peer['pp']:.2f}x, "
                f"tg {ours['tg'] / peer['tg']:.2f}x, memory {ours['peak_mb'] / peer['peak_mb']:.2f}x"
            )


if __name__ == "__main__":
    main()
