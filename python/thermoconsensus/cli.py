"""Command line: ``thermoconsensus consensus`` (the main job: several models' thermodynamic consensus),
``demo`` (MI and TE with significance), ``anneal``, ``models``, ``devices``, ``generate``, and the LLM
commands ``serve``, ``ask`` and ``route``.

Heavy modules (numpy, the engines, httpx, the server stack) are imported by the commands that use them,
so ``thermoconsensus ask`` starts quickly."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from . import __version__, devices, gpu_available, gpu_unavailable_reason, models

if TYPE_CHECKING:
    import numpy as np

    from . import anneal


def coupled_system(n: int, coupling: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X drives Y: x_t = 0.6 x_{t-1} + e, y_t = 0.5 y_{t-1} + coupling * x_{t-1} + e'."""
    import numpy as np

    rng = np.random.default_rng(seed)
    e = rng.standard_normal((n, 2))
    x, y = np.zeros(n), np.zeros(n)
    for t in range(1, n):
        x[t] = 0.6 * x[t - 1] + e[t, 0]
        y[t] = 0.5 * y[t - 1] + coupling * x[t - 1] + e[t, 1]
    return x, y


def analytic_te(coupling: float) -> float:
    """Closed-form TE(X -> Y) of :func:`coupled_system` (unit noise, histories of 1), in nats.

    TE = 1/2 ln(1 + c^2 Var(x_{t-1} | y_{t-1})), with the stationary covariance of the VAR(1) process.
    """
    import numpy as np

    a = np.array([[0.6, 0.0], [coupling, 0.5]])
    cov = np.eye(2)
    for _ in range(500):  # fixed point of cov = A cov A^T + I (spectral radius 0.6: converges fast)
        cov = a @ cov @ a.T + np.eye(2)
    var_x_given_y = cov[0, 0] - cov[0, 1] ** 2 / cov[1, 1]
    return 0.5 * float(np.log1p(coupling**2 * var_x_given_y))


def demo(n: int, surrogates: int, seed: int, threads: int | None) -> int:
    """Estimates MI and TE on a coupled pair, with permutation tests, and prints them."""
    from . import info

    print(f"thermoconsensus {__version__} demo: X drives Y (coupling 0.5), N = {n}, seed = {seed}")
    x, y = coupled_system(n, 0.5, seed)
    t0 = time.perf_counter()
    mi = info.mutual_information(x[:-1], y[1:], n_threads=threads)
    t_mi = time.perf_counter() - t0
    print(f"  MI(X_t; Y_t+1)            = {mi:.4f} nats   ({t_mi * 1e3:.1f} ms)")
    for name, src, dst in (("TE(X -> Y)", x, y), ("TE(Y -> X)", y, x)):
        t0 = time.perf_counter()
        r = info.significance("te", src, dst, n_surrogates=surrogates, seed=seed, n_threads=threads)
        dt = time.perf_counter() - t0
        verdict = "significant" if r.significant(0.05) else "not significant"
        print(
            f"  {name:<25} = {r.value:.4f} nats   p = {r.p_value:.4f} ({verdict}; "
            f"null {r.null_mean:.4f} +- {r.null_std:.4f}, {r.n_surrogates} surrogates, {dt:.2f} s)"
        )
    print(f"  closed form: TE(X -> Y) = {analytic_te(0.5):.4f} nats, TE(Y -> X) = 0")
    reason = str(gpu_unavailable_reason()).split(":")[0]
    print(f"  GPU: {'available' if gpu_available() else 'not used (' + reason + ')'}")
    return 0


def load_problem(path: str) -> anneal.IsingProblem:
    """A problem from JSON: ``{"h": [...], "J": [[i, j, v], ...], "offset": 0}`` or ``{"Q": [[i, j, v]]}``."""
    from . import anneal

    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    if not isinstance(spec, dict) or ("J" not in spec and "Q" not in spec and "h" not in spec):
        raise ValueError(f"{path}: expected a JSON object with 'h' and 'J', or 'Q'")

    def pairs(key: str) -> dict[tuple[int, int], float]:
        return {(int(i), int(j)): float(v) for i, j, v in spec.get(key, [])}

    offset = float(spec.get("offset", 0.0))
    if "Q" in spec:
        return anneal.IsingProblem.from_qubo(pairs("Q"), offset)
    return anneal.IsingProblem(spec.get("h"), pairs("J"), offset)


def run_anneal(args: argparse.Namespace) -> int:
    """Solves a built-in or user problem with the chosen samplers and prints what each found."""
    from . import anneal

    ground = None
    if args.problem:
        problem, what = load_problem(args.problem), args.problem
    elif args.planted:
        problem, _, ground = anneal.planted_frustrated_loops(
            args.planted, args.planted * 3 // 5, 6, seed=args.seed
        )
        what = f"planted frustrated loops, N = {args.planted}, ground energy {ground:g}"
    elif args.regular:
        problem, what = (
            anneal.random_regular(args.regular, 3, seed=args.seed),
            f"random 3-regular, N = {args.regular}",
        )
    else:
        problem, what = (
            anneal.sherrington_kirkpatrick(args.sk, seed=args.seed),
            f"Sherrington-Kirkpatrick, N = {args.sk}",
        )
    print(f"thermoconsensus {__version__} anneal: {what} ({problem.num_variables} variables)")
    samplers = ["sa", "pimc", "pt"] if args.sampler == "all" else [args.sampler]
    common = {"seed": args.seed, "n_threads": args.threads, "progress": args.progress}
    for name in samplers:
        if name == "sa":
            ss = anneal.simulated_annealing(
                problem, args.reads, args.sweeps, schedule=args.schedule, device=args.device, **common
            )
            label = f"simulated annealing ({args.schedule}, {args.reads} reads x {args.sweeps} sweeps)"
        elif name == "pimc":
            ss = anneal.path_integral_annealing(problem, args.reads, args.sweeps, args.slices, **common)
            label = (
                f"path-integral annealing ({args.slices} slices, {args.reads} reads x {args.sweeps} sweeps)"
            )
        else:
            ss = anneal.replica_exchange(
                problem,
                args.replicas,
                args.sweeps,
                num_reads=args.reads,
                keep="best",
                # The adaptive ladder is CPU-only: an explicit GPU request runs the fixed geometric one.
                adaptive=args.device in ("auto", "cpu"),
                device=args.device,
                **common,
            )
            label = f"replica exchange ({args.replicas} replicas, {args.reads} reads x {args.sweeps} sweeps)"
        best = ss.best[1]
        found = int(ss.num_occurrences[ss.energies <= best + 1e-9].sum())
        flag = (
            ""
            if ground is None
            else ("  = ground" if abs(best - ground) < 1e-9 else f"  (ground {ground:g})")
        )
        where = ss.info.get("device", "cpu")
        print(f"  {label}" + ("" if where == "cpu" else f" on {where}"))
        print(
            f"    best energy {best:g} in {found}/{ss.num_reads} reads{flag}; "
            f"{ss.info['elapsed_seconds']:.3f} s, {ss.info['flips_per_second'] / 1e6:.1f} M flips/s"
        )
    return 0


def run_generate(args: argparse.Namespace) -> int:
    """Streams the continuation of the prompt to stdout, then prints speed on stderr."""
    from . import llm

    path = models.path(args.model) if args.model in models.MODELS else args.model
    model = llm.Model.load(path, n_threads=args.threads, n_ctx=args.n_ctx, device=args.device)
    options = {
        "truncate": args.truncate,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "seed": args.seed,
        "stream": True,
    }
    start = time.perf_counter()
    if args.chat:
        pieces = model.chat([{"role": "user", "content": args.prompt}], **options)
    else:
        pieces = model.generate(args.prompt, **options)
    if isinstance(pieces, llm.Generation):  # stream=True always yields pieces; this keeps types exact
        pieces = iter([pieces.text])
    n = 0
    for piece in pieces:
        print(piece, end="", flush=True)
        n += 1
    print()
    print(f"[{n} pieces in {time.perf_counter() - start:.2f} s]", file=sys.stderr)
    return 0


def run_models(action: str, names: list[str], verify: bool) -> int:
    """``models list``: each model, its source and whether it is cached; ``models fetch``: install them."""
    if action == "list":
        print(f"cache: {models.cache_dir()}")
        for spec in [*models.MODELS.values(), *models.EMBEDDING_MODELS.values()]:
            state = "cached" if models.is_cached(spec.name) else "not cached"
            print(f"  {spec.name:20s} {spec.architecture:7s} {spec.size_bytes / 2**20:6.1f} MiB  {state}")
        return 0
    for name in names or list(models.MODELS):
        print(models.path(name, verify=verify))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``thermoconsensus`` command."""
    parser = argparse.ArgumentParser(prog="thermoconsensus", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    p_demo = sub.add_parser("demo", help="estimate MI and TE on a coupled system with significance tests")
    p_demo.add_argument("--n", type=int, default=20_000, help="number of samples (default 20000)")
    p_demo.add_argument("--surrogates", type=int, default=100, help="permutation surrogates (default 100)")
    p_demo.add_argument("--seed", type=int, default=1)
    p_demo.add_argument("--threads", type=int, default=None)
    p_an = sub.add_parser("anneal", help="solve an Ising/QUBO problem with the annealers")
    src = p_an.add_mutually_exclusive_group()
    src.add_argument(
        "--problem", help="JSON file: {'h': [...], 'J': [[i, j, v], ...]} or {'Q': [[i, j, v], ...]}"
    )
    src.add_argument(
        "--sk", type=int, default=256, help="Sherrington-Kirkpatrick instance of N spins (default)"
    )
    src.add_argument("--regular", type=int, help="random 3-regular instance of N spins")
    src.add_argument("--planted", type=int, help="planted frustrated-loop instance of N spins (known ground)")
    p_an.add_argument("--sampler", choices=["sa", "pimc", "pt", "all"], default="all")
    p_an.add_argument(
        "--schedule",
        choices=["geometric", "linear", "logarithmic", "adaptive", "langevin"],
        default="geometric",
    )
    p_an.add_argument("--reads", type=int, default=16)
    p_an.add_argument("--sweeps", type=int, default=1000)
    p_an.add_argument("--slices", type=int, default=16, help="Trotter slices for pimc")
    p_an.add_argument("--replicas", type=int, default=16, help="replicas for pt")
    p_an.add_argument("--seed", type=int, default=1)
    p_an.add_argument("--threads", type=int, default=None)
    p_an.add_argument("--progress", action="store_true", help="progress bar on stderr")
    p_an.add_argument(
        "--device", default="auto", help='"auto" (default), "cpu", "cuda" or "cuda:N" for sa and pt'
    )
    p_models = sub.add_parser("models", help="list the real GGUF models or fetch one into the cache")
    p_models.add_argument("action", choices=["list", "fetch"])
    p_models.add_argument("names", nargs="*", help="models to fetch (default: all)")
    p_models.add_argument("--verify", action="store_true", help="re-hash cached files")
    p_gen = sub.add_parser("generate", help="stream a continuation from a GGUF model (path or model name)")
    p_gen.add_argument("model", help="a .gguf path or one of: " + ", ".join(models.MODELS))
    p_gen.add_argument("prompt")
    p_gen.add_argument("--max-tokens", type=int, default=128)
    p_gen.add_argument("--temperature", type=float, default=0.8)
    p_gen.add_argument("--top-k", type=int, default=40)
    p_gen.add_argument("--top-p", type=float, default=0.95)
    p_gen.add_argument("--seed", type=int, default=None)
    p_gen.add_argument("--chat", action="store_true", help="format the prompt with the model's chat template")
    p_gen.add_argument("--threads", type=int, default=None)
    p_gen.add_argument("--n-ctx", type=int, default=None, help="context length (default: training, <= 4096)")
    p_gen.add_argument("--truncate", action="store_true", help="drop the oldest prompt tokens to fit n_ctx")
    p_gen.add_argument(
        "--device", default="auto", help='"auto" (a GPU when present), "cpu", "cuda" or "cuda:N"'
    )
    from ._cli_batch import add_parsers as add_batch_parsers
    from ._cli_consensus import add_parser as add_consensus_parser
    from ._cli_kl import add_parser as add_kl_parser
    from ._cli_llm import add_parsers

    add_consensus_parser(sub)
    add_batch_parsers(sub)
    add_parsers(sub)
    add_kl_parser(sub)
    sub.add_parser("devices", help="list CUDA devices")
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        if args.command is None:
            args = parser.parse_args(["demo"])
        return demo(args.n, args.surrogates, args.seed, args.threads)
    if args.command == "consensus":
        from ._cli_consensus import run_consensus

        return run_consensus(args)
    if args.command in ("batch", "te-network"):
        from . import _cli_batch

        return _cli_batch.run_batch(args) if args.command == "batch" else _cli_batch.run_te_network(args)
    if args.command == "kl-divergence":
        from ._cli_kl import run_kl_divergence

        return run_kl_divergence(args)
    if args.command == "anneal":
        return run_anneal(args)
    if args.command == "generate":
        return run_generate(args)
    if args.command in ("serve", "ask", "route"):
        from . import _cli_llm

        run = {"serve": _cli_llm.run_serve, "ask": _cli_llm.run_ask, "route": _cli_llm.run_route}
        return run[args.command](args)
    if args.command == "models":
        return run_models(args.action, args.names, args.verify)
    if args.command == "devices":
        devs = devices()
        if not devs:
            print(f"no CUDA device: {gpu_unavailable_reason()}")
        for d in devs:
            print(d)
        return 0
    print(__version__)
    return 0


def run() -> None:
    """The console script: :func:`main` with bad input, missing files and Ctrl-C reported in one line
    on stderr (exit status 2, or 130 for Ctrl-C) instead of a traceback."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("thermoconsensus: interrupted", file=sys.stderr)
        code = 130
    except (ValueError, TypeError, OSError) as exc:
        print(f"thermoconsensus: error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    run()
