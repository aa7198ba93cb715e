"""Ray scale-out in one run: a 64-variable TE network, local vs a local Ray cluster of 1 and 2 workers;
simulated-annealing reads on an SK instance, local vs Ray with 1 and 2 workers; a 200-prompt batch
consensus, local vs one Ray actor per model; Ray's per-task overhead; how often the data matrix is copied.

    .venv/bin/python benches/bench_ray.py [--vars 64] [--samples 200] [--surrogates 4] [--prompts 200]
        [--anneal-n 256] [--anneal-reads 64] [--anneal-sweeps 3000] [--sections te,anneal,batch]

The TE network's local run uses the native rayon pool (``n_threads`` = the workers); the Ray runs start a
fresh local cluster with ``num_cpus`` = 1 or 2, one task per target column, one native thread each. The
annealing reads run natively on 1 and 2 threads locally, and over Ray as one task per worker CPU (each
on one native thread, reads [first, first + count) of the same run). The batch uses mock models that
hold the GIL for ``--model-ms`` per call (a stand-in for a local model's compute), so the local batch
runs them one at a time and the Ray actors in separate processes.
Every Ray result is checked equal to the local one. Wall-clock medians of ``--repeats`` runs. The load
average is printed before and after: the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import ray

from thermoconsensus import anneal, info
from thermoconsensus.clients import LLMResponse, TokenLogprob
from thermoconsensus.consensus import Orchestrator
from thermoconsensus.distributed import RayBackend, actor_clients


def median_time(fn: Any, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def start(num_cpus: int) -> None:
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


# ---- per-task overhead and copies ----------------------------------------------------------------------


@ray.remote
def _noop() -> None:
    return None


@ray.remote
def _inspect(a: np.ndarray) -> tuple[bool, bool]:
    # Read from the object store: a read-only view of the one shared copy, not an array of its own.
    return bool(a.flags.writeable), bool(a.flags.owndata)


def overhead(n_tasks: int) -> dict[str, float]:
    ray.get([_noop.remote() for _ in range(50)])  # warm the workers
    t0 = time.perf_counter()
    ray.get([_noop.remote() for _ in range(n_tasks)])
    batch = (time.perf_counter() - t0) / n_tasks
    t0 = time.perf_counter()
    for _ in range(200):
        ray.get(_noop.remote())
    serial = (time.perf_counter() - t0) / 200
    return {"throughput_ms": 1e3 * batch, "round_trip_ms": 1e3 * serial}


def copies(data: np.ndarray, n_tasks: int) -> dict[str, Any]:
    """ray.put calls of the matrix in one te_network, and whether tasks see a zero-copy view."""
    puts = []
    real_put = ray.put
    small = np.ascontiguousarray(data[:, :4])  # 4 columns: any size is put the same way

    def counting_put(value: Any, **kw: Any) -> Any:
        if isinstance(value, np.ndarray) and value.nbytes >= small.nbytes:
            puts.append(value.nbytes)
        return real_put(value, **kw)

    ray.put = counting_put
    try:
        info.te_network(small, n_surrogates=1, backend="ray")
    finally:
        ray.put = real_put
    ref = ray.put(data)
    views = ray.get([_inspect.remote(ref) for _ in range(n_tasks)])
    return {
        "puts_per_network": len(puts),
        "tasks_with_a_private_copy": sum(w or own for w, own in views),
        "tasks_checked": n_tasks,
    }


# ---- TE network ----------------------------------------------------------------------------------------


def te_bench(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, args.vars))
    for j in range(1, args.vars):
        x[1:, j] += 0.5 * x[:-1, j - 1]
    kw: dict[str, Any] = {"n_surrogates": args.surrogates, "seed": 1}
    out: dict[str, Any] = {}
    reference = None
    for threads in (1, 2):
        t, reference = median_time(lambda th=threads: info.te_network(x, n_threads=th, **kw), args.repeats)
        out[f"local_{threads}_thread_s"] = t
    for workers in (1, 2):
        start(workers)
        info.te_network(x[:, :3], n_surrogates=1, backend="ray")  # start the workers
        t, got = median_time(lambda: info.te_network(x, backend=RayBackend(), **kw), args.repeats)
        assert reference is not None
        for f in ("te", "p_values", "q_values", "significant"):
            assert np.array_equal(getattr(got, f), getattr(reference, f), equal_nan=True), f
        out[f"ray_{workers}_worker_s"] = t
        if workers == 2:
            out["overhead"] = overhead(2000)
            out["copies"] = copies(x, 8)
    return out


# ---- annealing reads -----------------------------------------------------------------------------------


def anneal_bench(args: argparse.Namespace) -> dict[str, Any]:
    p = anneal.sherrington_kirkpatrick(args.anneal_n, seed=0)
    kw: dict[str, Any] = {"num_reads": args.anneal_reads, "num_sweeps": args.anneal_sweeps, "seed": 1}
    out: dict[str, Any] = {}
    reference = None
    for threads in (1, 2):
        t, reference = median_time(
            lambda th=threads: anneal.simulated_annealing(p, n_threads=th, device="cpu", **kw), args.repeats
        )
        out[f"local_{threads}_thread_s"] = t
    assert reference is not None
    for workers in (1, 2):
        start(workers)
        anneal.simulated_annealing(p, num_reads=2 * workers, num_sweeps=1, backend="ray")  # start the workers
        t, got = median_time(lambda: anneal.simulated_annealing(p, backend="ray", **kw), args.repeats)
        for f in ("states", "energies", "num_occurrences"):
            assert np.array_equal(getattr(got, f), getattr(reference, f)), f
        assert np.array_equal(got.info["acceptance_rates"], reference.info["acceptance_rates"])
        out[f"ray_{workers}_worker_s"] = t
        out[f"ray_{workers}_worker_task_s"] = got.info["ray_chunk_seconds"]
    return out


# ---- batch consensus -----------------------------------------------------------------------------------


class BusyModel:
    """A mock model: ``ms`` milliseconds of GIL-holding compute per call, a deterministic answer."""

    def __init__(self, name: str, bias: int, ms: float) -> None:
        self.name, self.bias, self.ms = name, bias, ms

    def _compute(self) -> None:
        end = time.perf_counter() + self.ms / 1e3
        while time.perf_counter() < end:
            pass

    async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
        await asyncio.to_thread(self._compute)
        value = (zlib.crc32(prompt[-1]["content"].encode()) + self.bias) % 4
        text = f"The answer is {value}."
        lps = [TokenLogprob(w + " ", -0.2) for w in text.split()]
        return LLMResponse(text=text, model=self.name, provider="mock", logprobs=lps, completion_tokens=4)


class HashEmbedder:
    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.full((len(texts), 32), 1e-3)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, zlib.crc32(w.encode()) % 32] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def batch_bench(args: argparse.Namespace) -> dict[str, Any]:
    prompts = [f"What is {i} modulo 4?" for i in range(args.prompts)]
    specs = [("a", 0), ("b", 0), ("c", 1), ("d", 2)]

    def run(clients: list[Any]) -> list[Any]:
        orch = Orchestrator(clients, embedder=HashEmbedder())
        out = asyncio.run(orch.consensus_many(prompts, "number", concurrency=16))
        return [(c.extracted_answer, c.weights.tolist()) for c in out]

    res: dict[str, Any] = {}
    t, reference = median_time(lambda: run([BusyModel(n, b, args.model_ms) for n, b in specs]), 1)
    res["local_s"] = t
    # One actor per model, so the models' processes, not a worker count, set the parallelism (an
    # actor's num_cpus is a scheduling reservation, not a limit): the cluster has both cores.
    start(2)
    factories = [lambda n=n, b=b: BusyModel(n, b, args.model_ms) for n, b in specs]
    clients = actor_clients(factories, num_cpus=0.5)
    t, got = median_time(lambda c=clients: run(c), 1)
    assert got == reference, "the batch over actors differs from the local batch"
    res["ray_actors_s"] = t
    return res


def te_section(args: argparse.Namespace) -> None:
    te = te_bench(args)
    pairs = args.vars * (args.vars - 1)
    print(
        f"TE network: {args.vars} variables ({pairs} pairs), T = {args.samples}, {args.surrogates} surrogates"
    )
    for key in ("local_1_thread_s", "local_2_thread_s", "ray_1_worker_s", "ray_2_worker_s"):
        print(f"  {key:18s} {te[key]:7.2f} s")
    print(f"  ray 2 workers / ray 1 worker speed-up: {te['ray_1_worker_s'] / te['ray_2_worker_s']:.2f}x")
    print(f"  ray 2 workers / local 2 threads: {te['local_2_thread_s'] / te['ray_2_worker_s']:.2f}x")
    ov = te["overhead"]
    print(
        f"Ray per-task overhead: {ov['throughput_ms']:.2f} ms (2000 no-op tasks in flight), "
        f"{ov['round_trip_ms']:.2f} ms (one at a time, submit to result)"
    )
    cp = te["copies"]
    print(
        f"Data matrix: {cp['puts_per_network']} ray.put per network; "
        f"{cp['tasks_with_a_private_copy']} of {cp['tasks_checked']} tasks held a private copy"
    )


def anneal_section(args: argparse.Namespace) -> None:
    a = anneal_bench(args)
    n, reads, sweeps = args.anneal_n, args.anneal_reads, args.anneal_sweeps
    print(f"Simulated annealing: SK N = {n}, {reads} reads x {sweeps} sweeps")
    for key in ("local_1_thread_s", "local_2_thread_s", "ray_1_worker_s", "ray_2_worker_s"):
        print(f"  {key:18s} {a[key]:7.2f} s")
    for w in (1, 2):
        tasks = ", ".join(f"{t:.2f}" for t in a[f"ray_{w}_worker_task_s"])
        print(f"  ray {w} worker(s): native time per task {tasks} s")
    print(f"  ray 2 workers / ray 1 worker speed-up: {a['ray_1_worker_s'] / a['ray_2_worker_s']:.2f}x")
    print(f"  ray 1 worker / local 1 thread: {a['local_1_thread_s'] / a['ray_1_worker_s']:.2f}x")
    print(f"  ray 2 workers / local 2 threads: {a['local_2_thread_s'] / a['ray_2_worker_s']:.2f}x")


def batch_section(args: argparse.Namespace) -> None:
    b = batch_bench(args)
    print(
        f"Batch consensus: {args.prompts} prompts x 4 mock models ({args.model_ms:g} ms GIL-bound per call)"
    )
    for key in ("local_s", "ray_actors_s"):
        print(f"  {key:18s} {b[key]:7.2f} s")
    print(f"  4 model actors on 2 CPUs / local: {b['local_s'] / b['ray_actors_s']:.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vars", type=int, default=64)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--surrogates", type=int, default=4)
    p.add_argument("--prompts", type=int, default=200)
    p.add_argument("--model-ms", type=float, default=5.0)
    p.add_argument("--anneal-n", type=int, default=256)
    p.add_argument("--anneal-reads", type=int, default=64)
    p.add_argument("--anneal-sweeps", type=int, default=3000)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--sections", default="te,anneal,batch", help="comma-separated: te, anneal, batch")
    args = p.parse_args()
    sections = set(args.sections.split(","))
    print("load average before (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if "te" in sections:
        te_section(args)
    if "anneal" in sections:
        anneal_section(args)
    if "batch" in sections:
        batch_section(args)
    print("load average after (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    ray.shutdown()


if __name__ == "__main__":
    main()
