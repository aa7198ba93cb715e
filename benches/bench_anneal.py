"""Annealing speed and time-to-target against dwave-samplers and OpenJij, same instances, same run.

    python benches/bench_anneal.py [--repeats 5] [--quick]

1. Spin-flip rate, one thread: simulated annealing, one read, 1000 sweeps of the same geometric schedule
   over the same beta range (ours, passed to both) on a Sherrington-Kirkpatrick N = 1024 instance
   (+-1 couplings, dense), a random 3-regular N = 2000 instance and a planted frustrated-loop N = 1000
   instance (sparse; both on an integer grid, so ours runs its integer sweep). Times are each library's
   own sampling-loop time (dwave-samplers' ``info["timing"]["sampling_ns"]``, our
   ``info["elapsed_seconds"]``): dwave-samplers also spends ~0.5 s converting the SK dict before
   sampling, which the end-to-end wall times printed beside show. Medians over ``--repeats``.
2. Time-to-target at 99% (TTT99 = t_read * ln(0.01) / ln(1 - p), p = fraction of reads reaching the
   target), one thread, minimised over a grid of sweep budgets, on SK N = 256 (target: the lowest energy
   any solver found in this run), SK N = 1024 (target: within 1% of that), a planted frustrated-loop
   N = 1000 instance (target: its known ground energy; 1000 reads, so success rates are known to ~1.5%)
   and a 3-regular N = 1000 instance (target: within 1% of the lowest energy found).
   dwave-samplers' SA, our SA and (on SK N = 256) our replica exchange (8 replicas, each making the
   budget's sweeps) run on identical instances. OpenJij runs where installed: its SASampler (its own
   default beta range; its per-read ``execution_time``) on every instance but SK N = 1024, and its
   SQASampler (its default beta, gamma and Trotter number; unseeded, since a seed makes all its reads
   identical) on SK N = 256 and, with at most 50 reads per budget (it is ~10x slower per sweep), on
   the sparse instances.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from thermoconsensus import anneal as an

try:
    from dwave.samplers import SimulatedAnnealingSampler
except ImportError:  # pragma: no cover - the Makefile installs it
    SimulatedAnnealingSampler = None

try:
    import openjij
except ImportError:  # pragma: no cover - optional peer
    openjij = None


def as_dicts(p: an.IsingProblem) -> tuple[dict[int, float], dict[tuple[int, int], float]]:
    rows, cols, vals = p.couplings()
    h = {i: float(v) for i, v in enumerate(p.h)}
    return h, {(int(i), int(j)): float(v) for i, j, v in zip(rows, cols, vals)}


@dataclass
class Run:
    """One batch of reads: energies, sampling-loop seconds and end-to-end seconds."""

    energies: np.ndarray
    core_s: float
    wall_s: float


def ours_sa(p: an.IsingProblem, reads: int, sweeps: int, beta_range: tuple[float, float], seed: int) -> Run:
    t0 = time.perf_counter()
    ss = an.simulated_annealing(p, reads, sweeps, beta_range=beta_range, seed=seed, n_threads=1)
    wall = time.perf_counter() - t0
    return Run(np.repeat(ss.energies, ss.num_occurrences.astype(np.int64)), ss.info["elapsed_seconds"], wall)


def ours_pt(p: an.IsingProblem, reads: int, sweeps: int, beta_range: tuple[float, float], seed: int) -> Run:
    replicas = 8
    t0 = time.perf_counter()
    ss = an.replica_exchange(p, replicas, sweeps, beta_range, seed, num_reads=reads, keep="best", n_threads=1)
    wall = time.perf_counter() - t0
    return Run(np.repeat(ss.energies, ss.num_occurrences.astype(np.int64)), ss.info["elapsed_seconds"], wall)


def dwave_sa(p: an.IsingProblem, reads: int, sweeps: int, beta_range: tuple[float, float], seed: int) -> Run:
    h, j = as_dicts(p)
    t0 = time.perf_counter()
    ss = SimulatedAnnealingSampler().sample_ising(
        h, j, num_reads=reads, num_sweeps=sweeps, beta_range=list(beta_range), seed=seed
    )
    wall = time.perf_counter() - t0
    return Run(ss.record.energy.astype(float), ss.info["timing"]["sampling_ns"] * 1e-9, wall)


def openjij_sqa(
    p: an.IsingProblem, reads: int, sweeps: int, beta_range: tuple[float, float], seed: int
) -> Run:
    h, j = as_dicts(p)
    t0 = time.perf_counter()
    # No seed: OpenJij 0.12 applies one seed to every read, which makes all reads identical.
    ss = openjij.SQASampler().sample_ising(h, j, num_reads=reads, num_sweeps=sweeps)
    wall = time.perf_counter() - t0
    # OpenJij reports its sampling time in microseconds under info["execution_time"] (per read).
    per_read = ss.info.get("execution_time")
    core = per_read * 1e-6 * reads if per_read else wall
    return Run(np.asarray(ss.record.energy, dtype=float), core, wall)


def openjij_sa(
    p: an.IsingProblem, reads: int, sweeps: int, beta_range: tuple[float, float], seed: int
) -> Run:
    h, j = as_dicts(p)
    t0 = time.perf_counter()
    # Its own default beta range (its recommended use); no seed, as for SQA.
    ss = openjij.SASampler().sample_ising(h, j, num_reads=reads, num_sweeps=sweeps)
    wall = time.perf_counter() - t0
    per_read = ss.info.get("execution_time")
    core = per_read * 1e-6 * reads if per_read else wall
    return Run(np.asarray(ss.record.energy, dtype=float), core, wall)


Solver = Callable[[an.IsingProblem, int, int, "tuple[float, float]", int], Run]


def median_run(fn: Callable[[], Run], repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    runs = [fn() for _ in range(repeats)]
    return statistics.median(r.core_s for r in runs), statistics.median(r.wall_s for r in runs)


def flip_rates(repeats: int, sweeps: int) -> None:
    print(
        f"== spin-flip attempts per second, one thread, one read, {sweeps} geometric sweeps "
        f"(median of {repeats})"
    )
    instances = {
        "SK N=1024": an.sherrington_kirkpatrick(1024, seed=1),
        "3-regular N=2000": an.random_regular(2000, 3, seed=2),
        "planted N=1000": an.planted_frustrated_loops(1000, 250, 6, seed=3)[0],
    }
    for name, p in instances.items():
        br = p.default_beta_range()
        flips = sweeps * p.num_variables
        ours_core, ours_wall = median_run(lambda p=p, br=br: ours_sa(p, 1, sweeps, br, 1), repeats)
        line = f"{name:18s} thermoconsensus {flips / ours_core / 1e6:7.2f} M/s (wall {ours_wall:.3f} s)"
        if SimulatedAnnealingSampler is not None:
            dw_core, dw_wall = median_run(lambda p=p, br=br: dwave_sa(p, 1, sweeps, br, 1), repeats)
            line += (
                f" | dwave-samplers {flips / dw_core / 1e6:7.2f} M/s (wall {dw_wall:.3f} s)"
                f" | ratio {dw_core / ours_core:5.2f}x (wall {dw_wall / ours_wall:5.2f}x)"
            )
        print(line, flush=True)


def ttt99(run: Run, reads: int, target: float) -> tuple[float, float]:
    p = float(np.mean(run.energies <= target + 1e-9))
    t_read = run.core_s / reads
    if p == 0:
        return math.inf, p
    if p == 1:
        return t_read, p
    return t_read * math.log(0.01) / math.log(1 - p), p


def time_to_target(quick: bool) -> None:
    planted, _, ground = an.planted_frustrated_loops(1000, 250, 6, seed=3)
    cases: list[tuple[str, an.IsingProblem, list[int], int, float | None, float]] = [
        ("SK N=256", an.sherrington_kirkpatrick(256, seed=5), [100, 300, 1000, 3000], 100, None, 0.0),
        ("SK N=1024", an.sherrington_kirkpatrick(1024, seed=6), [300, 1000, 3000], 16, None, 0.01),
        ("planted N=1000", planted, [100, 300, 1000], 1000, ground, 0.0),
        ("3-regular N=1000", an.random_regular(1000, 3, seed=7), [100, 300, 1000], 200, None, 0.01),
    ]
    if quick:
        cases = [(n, p, b[:2], r // 2, g, gap) for n, p, b, r, g, gap in cases]
    solvers: dict[str, Solver] = {"thermoconsensus SA": ours_sa, "thermoconsensus PT(8)": ours_pt}
    if SimulatedAnnealingSampler is not None:
        solvers["dwave-samplers SA"] = dwave_sa
    if openjij is not None:
        solvers["OpenJij SA"] = openjij_sa
        solvers["OpenJij SQA"] = openjij_sqa
    print("\n== time-to-target at 99% (one thread; best over sweep budgets)")
    for name, p, budgets, reads, known, gap in cases:
        br = p.default_beta_range()
        runs: dict[tuple[str, int], Run] = {}
        dense = name.startswith("SK")
        reads_of = {name: reads for name in solvers}
        for solver_name, solver in solvers.items():
            if solver_name.startswith("OpenJij") and dense and p.num_variables > 256:
                continue  # its SA and SQA on dense 1000+ spins take minutes per budget
            if solver_name == "OpenJij SQA" and p.num_variables > 256:
                reads_of[solver_name] = min(reads, 50)  # ~10x slower per sweep than the others
            if solver_name == "thermoconsensus PT(8)" and p.num_variables > 256:
                continue  # 8 replicas per read cost minutes here, and SA reaches these targets sooner
            for b in budgets:
                runs[(solver_name, b)] = solver(p, reads_of[solver_name], b, br, 11)
        lowest = min(float(r.energies.min()) for r in runs.values())
        target = known if known is not None else lowest * (1 - gap)
        how = "planted ground energy" if known is not None else f"lowest found {lowest:.0f}, gap {gap:.0%}"
        print(f"{name}: target {target:.1f} ({how}), {reads} reads per budget", flush=True)
        best: dict[str, float] = {}
        for solver_name in solvers:
            cells = []
            for b in budgets:
                if (solver_name, b) not in runs:
                    continue
                t, frac = ttt99(runs[(solver_name, b)], reads_of[solver_name], target)
                best[solver_name] = min(best.get(solver_name, math.inf), t)
                cells.append(f"{b}: p={frac:.2f} ttt={t:.3g}s")
            if cells:
                print(f"  {solver_name:22s} " + " | ".join(cells))
        ours = min(t for solver_name, t in best.items() if solver_name.startswith("thermoconsensus"))
        for peer in ("dwave-samplers SA", "OpenJij SA", "OpenJij SQA"):
            if peer in best:
                print(f"  TTT99 {peer} / thermoconsensus (best of SA, PT): {best[peer] / ours:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sweeps", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="fewer budgets and reads (a smoke run)")
    args = parser.parse_args()
    if SimulatedAnnealingSampler is None:
        print("dwave-samplers is not installed (pip install dwave-samplers): printing our figures only")
    if openjij is None:
        print("OpenJij is not installed: its SQA column is skipped")
    flip_rates(args.repeats, args.sweeps)
    time_to_target(args.quick)


if __name__ == "__main__":
    main()


__all__: list[Any] = []
