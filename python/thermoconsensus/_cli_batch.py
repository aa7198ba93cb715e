"""``thermoconsensus batch prompts.txt --local smollm2-135m --model SPEC --results out.jsonl [--backend ray]``
(the consensus of every line of a file, resumable) and ``thermoconsensus te-network data.csv [--backend ray]``
(a TE network of a T x n CSV or .npy), with the Ray flags both share."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

__all__ = ["add_parsers", "run_batch", "run_te_network"]


def _ray_flags(p: Any) -> None:
    p.add_argument(
        "--backend", choices=["local", "ray"], default="local", help="run here (default) or on a Ray cluster"
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="an existing Ray cluster ('auto', 'ray://head:10001'; default: $RAY_ADDRESS, else a local one)",
    )
    p.add_argument("--ray-num-cpus", type=int, default=None, metavar="N", help="CPUs of a local Ray cluster")


def add_parsers(sub: Any) -> None:
    """Registers ``batch`` and ``te-network`` on the CLI's subparsers."""
    p = sub.add_parser("batch", help="the consensus of every prompt of a file (one per line), resumable")
    p.add_argument("prompts", help="a text file, one prompt per line (empty lines are skipped)")
    p.add_argument("--local", action="append", default=[], metavar="NAME", help="a local model (repeat)")
    p.add_argument(
        "--model", action="append", default=[], metavar="SPEC", help="provider:model[@url] (repeat)"
    )
    p.add_argument("--results", default=None, metavar="JSONL", help="append results here; a rerun resumes")
    p.add_argument("--concurrency", type=int, default=4, help="questions asked at once (default 4)")
    p.add_argument("--extract", choices=["number", "option", "yesno"], default=None, help="answer extractor")
    p.add_argument("--samples", type=int, default=1, help="samples per model (default 1)")
    p.add_argument("--threads", type=int, default=None, help="threads per local model")
    p.add_argument(
        "--actor-concurrency", type=int, default=8, help="calls a remote endpoint's actor serves at once"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _ray_flags(p)
    t = sub.add_parser("te-network", help="TE between every pair of columns of a CSV or .npy (T x n)")
    t.add_argument("data", help="a .npy array or a CSV of numbers (T rows, n columns, no header)")
    t.add_argument("--surrogates", type=int, default=100)
    t.add_argument("--alpha", type=float, default=0.05)
    t.add_argument("--k-history", type=int, default=1)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--split", choices=["target", "pair"], default="target", help="one Ray task per ...")
    t.add_argument("--json", action="store_true", help="print the edges as JSON")
    _ray_flags(t)


def _connect(args: argparse.Namespace) -> None:
    if args.backend == "ray":
        from .distributed import init

        init(args.ray_address, num_cpus=args.ray_num_cpus)


def _local_factory(name: str, threads: int | None) -> Any:
    def build() -> Any:
        from .clients import LocalClient

        return LocalClient(name, n_threads=threads)

    return build


def _remote_factory(spec: str) -> Any:
    def build() -> Any:
        from .clients import create_client

        return create_client(spec)

    return build


def run_batch(args: argparse.Namespace) -> int:
    """Runs the ``batch`` command."""
    from .batch import BatchError, EmbeddingCache
    from .consensus import Orchestrator

    if not args.local and not args.model:
        print("batch: give at least one --local NAME or --model SPEC", file=sys.stderr)
        return 2
    with open(args.prompts, encoding="utf-8") as f:
        prompts = [line.strip() for line in f if line.strip()]
    if not prompts:
        print(f"batch: {args.prompts} has no prompts", file=sys.stderr)
        return 2
    _connect(args)
    clients: list[Any]
    if args.backend == "ray":
        from .distributed import actor_clients

        factories = [_local_factory(n, args.threads) for n in args.local]
        factories += [_remote_factory(s) for s in args.model]
        conc = [1] * len(args.local) + [args.actor_concurrency] * len(args.model)
        cpus = [float(args.threads or 1)] * len(args.local) + [0.0] * len(args.model)
        clients = actor_clients(factories, max_concurrency=conc, num_cpus=cpus)
    else:
        clients = [_local_factory(n, args.threads)() for n in args.local]
        clients += [_remote_factory(s)() for s in args.model]

    def report(done: int, total: int) -> None:
        if not args.quiet:
            print(
                f"\r[thermoconsensus] {done}/{total} questions answered", end="", file=sys.stderr, flush=True
            )

    orch = Orchestrator(
        clients, samples_per_model=args.samples, seed=args.seed, embedding_cache=EmbeddingCache()
    )
    code = 0
    try:
        out = asyncio.run(
            orch.consensus_many(
                prompts, args.extract, concurrency=args.concurrency, results=args.results, progress=report
            )
        )
    except BatchError as exc:
        out, code = exc.results, 1
        for i, e in sorted(exc.errors.items()):
            print(f"\nbatch: question {i} failed: {type(e).__name__}: {e}", file=sys.stderr)
    if not args.quiet:
        print(file=sys.stderr)
    for prompt, c in zip(prompts, out):
        row = {"prompt": prompt, **(c.summary() if c is not None else {"error": True})}
        print(json.dumps(row, ensure_ascii=False))
    return code


def run_te_network(args: argparse.Namespace) -> int:
    """Runs the ``te-network`` command."""
    import numpy as np

    from .distributed import RayBackend
    from .info import te_network

    data = np.load(args.data) if args.data.endswith(".npy") else np.loadtxt(args.data, delimiter=",", ndmin=2)
    _connect(args)
    backend: Any = RayBackend(split=args.split) if args.backend == "ray" else "local"
    net = te_network(
        data,
        k_history=args.k_history,
        n_surrogates=args.surrogates,
        alpha=args.alpha,
        seed=args.seed,
        backend=backend,
        progress=True,
    )
    edges = net.edges()
    if args.json:
        print(json.dumps([{"source": i, "target": j, "te": v} for i, j, v in edges]))
    else:
        print(f"{len(edges)} significant edges (Benjamini-Hochberg q <= {args.alpha}):")
        for i, j, v in edges:
            print(f"  {i:4d} -> {j:<4d} TE = {v:.4f} nats  q = {net.q_values[i, j]:.3g}")
    return 0
