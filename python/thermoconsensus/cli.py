"""Command line: ``thermoconsensus demo`` (the main job for now), ``devices``, ``version``."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from . import __version__, devices, gpu_available, gpu_unavailable_reason, info


def coupled_system(n: int, coupling: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X drives Y: x_t = 0.6 x_{t-1} + e, y_t = 0.5 y_{t-1} + coupling * x_{t-1} + e'."""
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
    a = np.array([[0.6, 0.0], [coupling, 0.5]])
    cov = np.eye(2)
    for _ in range(500):  # fixed point of cov = A cov A^T + I (spectral radius 0.6: converges fast)
        cov = a @ cov @ a.T + np.eye(2)
    var_x_given_y = cov[0, 0] - cov[0, 1] ** 2 / cov[1, 1]
    return 0.5 * float(np.log1p(coupling**2 * var_x_given_y))


def demo(n: int, surrogates: int, seed: int, threads: int | None) -> int:
    """Estimates MI and TE on a coupled pair, with permutation tests, and prints them."""
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``thermoconsensus`` command."""
    parser = argparse.ArgumentParser(prog="thermoconsensus", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    p_demo = sub.add_parser("demo", help="estimate MI and TE on a coupled system with significance tests")
    p_demo.add_argument("--n", type=int, default=20_000, help="number of samples (default 20000)")
    p_demo.add_argument("--surrogates", type=int, default=100, help="permutation surrogates (default 100)")
    p_demo.add_argument("--seed", type=int, default=1)
    p_demo.add_argument("--threads", type=int, default=None)
    sub.add_parser("devices", help="list CUDA devices")
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        if args.command is None:
            args = parser.parse_args(["demo"])
        return demo(args.n, args.surrogates, args.seed, args.threads)
    if args.command == "devices":
        devs = devices()
        if not devs:
            print(f"no CUDA device: {gpu_unavailable_reason()}")
        for d in devs:
            print(d)
        return 0
    print(__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
