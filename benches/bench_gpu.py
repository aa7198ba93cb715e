"""GPU against CPU on the same data in the same run: KSG transfer entropy, annealing, local inference.

    python benches/bench_gpu.py [--repeats 3] [--quick] [--skip-llm]

Prints the device name first. Needs a CUDA device; under THERMOCONSENSUS_CUDA_EMULATOR=1 it runs with
``--quick`` sizes only, to check the script itself (emulator timings say nothing about a GPU).

1. KSG TE (k = 4, history 1, algorithm 1) on a coupled AR pair at N = 10^5 and 10^6: seconds on the device
   and on the CPU (all cores), the ratio, and whether the two estimates agree (they must, to summation order).
   The CPU at N = 10^6 is skipped with ``--quick``. Target: 10^6 samples under 2 s on an H100.
2. Simulated annealing on SK N = 1024: spin-flip attempts per second with 1024 reads on the device, against
   the CPU sampler (all cores, 64 reads; its rate does not depend on the read count beyond the core count).
   Target: 100x.
3. Each local model: prompt processing (a 128-token prompt) and generation (64 greedy tokens), tokens/s on
   the device and on the CPU, and llama.cpp's if llama-cpp-python is importable (CUDA build or not, as
   installed; its build is reported).
Medians over ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial
from typing import Any, Callable

import numpy as np

import thermoconsensus as tc
from thermoconsensus import anneal, info, llm, models


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def coupled_pair(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    y = np.zeros(n)
    e = rng.normal(size=(n, 2))
    for t in range(1, n):
        x[t] = 0.5 * x[t - 1] + e[t, 0]
        y[t] = 0.4 * y[t - 1] + 0.6 * x[t - 1] + 0.5 * e[t, 1]
    return x, y


def bench_ksg(sizes: list[int], cpu_max: int, repeats: int) -> None:
    print("\n== KSG transfer entropy (k=4, histories 1, algorithm 1)")
    for n in sizes:
        x, y = coupled_pair(n)
        t_gpu, te_gpu = median_time(partial(info.transfer_entropy, x, y, device="cuda"), repeats)
        line = f"N = {n:>8}: device {t_gpu:8.3f} s (TE {te_gpu:.6f})"
        if n <= cpu_max:
            t_cpu, te_cpu = median_time(partial(info.transfer_entropy, x, y, device="cpu"), 1)
            same = abs(float(te_cpu) - float(te_gpu)) <= 1e-9 * (1 + abs(float(te_cpu)))
            line += f" | cpu {t_cpu:8.3f} s | cpu/device {t_cpu / t_gpu:7.1f}x | estimates agree: {same}"
        print(line)


def bench_anneal(n: int, sweeps: int, gpu_reads: int, cpu_reads: int, repeats: int) -> None:
    print(f"\n== Simulated annealing, SK N = {n}, {sweeps} sweeps")
    problem = anneal.sherrington_kirkpatrick(n, seed=1)

    def rate(reads: int, device: str) -> tuple[float, float]:
        def run() -> anneal.SampleSet:
            return anneal.simulated_annealing(
                problem, num_reads=reads, num_sweeps=sweeps, seed=2, device=device
            )

        _, s = median_time(run, repeats)
        assert isinstance(s, anneal.SampleSet)
        return reads * n * sweeps / s.info["elapsed_seconds"], float(s.best[1])

    gpu_rate, gpu_best = rate(gpu_reads, "cuda")
    cpu_rate, cpu_best = rate(cpu_reads, "cpu")
    print(f"device: {gpu_rate:.3e} flips/s ({gpu_reads} reads, best E {gpu_best:.1f})")
    print(
        f"cpu:    {cpu_rate:.3e} flips/s ({cpu_reads} reads, {os.cpu_count()} cores, best E {cpu_best:.1f})"
    )
    print(f"device/cpu: {gpu_rate / cpu_rate:.1f}x")


PROMPT = "The quick brown fox jumps over the lazy dog. " * 40


def ours(path: str, device: str, prompt_tokens: int, gen_tokens: int, repeats: int) -> tuple[float, float]:
    """(prompt tokens/s, generated tokens/s) of our engine on `device`."""
    m = llm.Model.load(path, device=device)
    ids = m._native.tokenize(PROMPT, True, False)[:prompt_tokens]
    t_pp, _ = median_time(partial(m._native.logits, ids), repeats)
    t_all, _ = median_time(partial(m._native.greedy, ids, gen_tokens, []), repeats)
    # Greedy runs the prompt, then one pass per further token.
    return prompt_tokens / t_pp, (gen_tokens - 1) / max(t_all - t_pp, 1e-9)


def theirs(
    llama_cpp: Any, path: str, prompt_tokens: int, gen_tokens: int, repeats: int
) -> tuple[float, float]:
    """The same for llama-cpp-python (all layers offloaded when its build has a GPU backend)."""
    lm = llama_cpp.Llama(model_path=path, n_ctx=512, n_gpu_layers=-1, verbose=False, logits_all=True)
    toks = lm.tokenize(PROMPT.encode())[:prompt_tokens]

    def prompt_pass() -> None:
        lm.reset()
        lm.eval(toks)

    def generate() -> None:
        prompt_pass()
        for _ in range(gen_tokens - 1):
            lm.eval([int(np.argmax(lm.scores[lm.n_tokens - 1]))])

    t_pp, _ = median_time(prompt_pass, repeats)
    t_all, _ = median_time(generate, repeats)
    return prompt_tokens / t_pp, (gen_tokens - 1) / max(t_all - t_pp, 1e-9)


def bench_llm(prompt_tokens: int, gen_tokens: int, repeats: int) -> None:
    print(f"\n== Local inference: {prompt_tokens}-token prompt, {gen_tokens} greedy tokens")
    try:
        import llama_cpp  # type: ignore[import-not-found]
    except ImportError:
        llama_cpp = None
        print("llama-cpp-python is not installed here: no llama.cpp column")
    for name in sorted(models.MODELS):
        try:
            path = models.path(name, quiet=True)
        except models.ModelUnavailableError as exc:
            print(f"{name}: skipped ({exc})")
            continue
        row = [f"{name:<20}"]
        for device in ("cuda", "cpu"):
            pp, tg = ours(str(path), device, prompt_tokens, gen_tokens, repeats)
            row.append(f"{device}: pp {pp:8.1f} tg {tg:7.1f} tok/s")
        if llama_cpp is not None:
            pp, tg = theirs(llama_cpp, str(path), prompt_tokens, gen_tokens, repeats)
            row.append(f"llama.cpp: pp {pp:8.1f} tg {tg:7.1f} tok/s")
        print(" | ".join(row))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes (checks the script)")
    ap.add_argument("--skip-llm", action="store_true")
    args = ap.parse_args()
    if not tc.gpu_available():
        raise SystemExit(f"no GPU: {tc.gpu_unavailable_reason()}")
    devices = tc.devices()
    print("device:", ", ".join(f"{d['name']} (cuda:{d['ordinal']})" for d in devices))
    emulated = devices[0]["name"].startswith("thermoconsensus CUDA emulator")
    if emulated and not args.quick:
        raise SystemExit("the CUDA emulator checks kernels, not speed: run with --quick, or on a GPU")
    if args.quick:
        bench_ksg([2000], cpu_max=2000, repeats=1)
        bench_anneal(64, 10, 64, 16, 1)
        if not args.skip_llm:
            bench_llm(8, 2, 1)
        return
    bench_ksg([100_000, 1_000_000], cpu_max=1_000_000, repeats=args.repeats)
    bench_anneal(1024, 100, 1024, 64, args.repeats)
    if not args.skip_llm:
        bench_llm(128, 64, args.repeats)


if __name__ == "__main__":
    main()
