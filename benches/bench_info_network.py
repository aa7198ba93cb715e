"""Multivariate TE network inference against IDTxl's MultivariateTE, on the same data in one run.

Two networks with known edges:
* IDTxl's MuTE test network (``Data.generate_mute_data``: 5 processes, T = 500, one replication; edges
  0->1 lag 2 and 0->3 lag 2 (quadratic), 0->2 lag 3, 3->4 and 4->3 lag 1);
* a 10-process VAR(1) (T = 1000, self-coupling 0.3, 15 random edges at lag 1 with |w| in [0.3, 0.5]).

Both tools get identical arrays and settings (lags 1..3, k = 4, KSG algorithm 1, 100 surrogates for
every test, alpha 0.05, no network FDR: IDTxl skips its correction at 100 surrogates for 5 or more
targets). The script prints each tool's selected (source, target, lag) variables, recall and
precision of the process-level edges against the truth, and the wall times with their ratio. Pairwise
``te_network`` runs on the same data for contrast.

IDTxl is not a dependency: pass ``--idtxl-python`` pointing at a Python that can import ``idtxl`` (it
needs JPype and a Java runtime; IDTxl's jar ships JIDT). Without it only our side runs.

    python benches/bench_info_network.py --idtxl-python /path/to/idtxl-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from thermoconsensus import info

LAGS = {"max_lag_sources": 3, "min_lag_sources": 1, "max_lag_target": 3}

# Runs inside the IDTxl interpreter: reads the array, runs MultivariateTE, prints one JSON line.
IDTXL_DRIVER = r"""
import contextlib, json, os, sys, time
import numpy as np
from idtxl.data import Data
from idtxl.multivariate_te import MultivariateTE

arr = np.load(sys.argv[1])
n_perm, alpha, seed = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
lags = json.loads(sys.argv[5])
n_perm_omnibus, fdr = int(sys.argv[6]), sys.argv[7] == "1"
settings = {
    "cmi_estimator": "JidtKraskovCMI", "kraskov_k": 4, "normalise": False, "noise_level": 0,
    "theiler_t": 0, "local_values": False, "verbose": False,
    "n_perm_max_stat": n_perm, "n_perm_min_stat": n_perm, "n_perm_omnibus": n_perm_omnibus,
    "n_perm_max_seq": n_perm, "alpha_max_stat": alpha, "alpha_min_stat": alpha, "alpha_omnibus": alpha,
    "alpha_max_seq": alpha, "alpha_fdr": alpha, **lags,
}
saved = os.dup(1)
os.dup2(2, 1)  # IDTxl and the JVM print to stdout; keep it for the JSON
data = Data(arr, dim_order="sp", normalise=False, seed=seed)
from idtxl.stats import network_fdr

net = MultivariateTE()
results = []
start = time.perf_counter()
for target in range(arr.shape[1]):
    np.random.seed(seed + target)  # each target its own stream, as ours
    results.append(net.analyse_single_target(settings=settings, data=data, target=target))
applied = False
if fdr:
    # IDTxl's network-level correction by target (Benjamini-Yekutieli by default); it returns without
    # FDR results when 1 / n_perm_omnibus cannot pass it.
    combined = network_fdr({"alpha_fdr": alpha}, *results)
    applied = bool(combined._single_target_fdr)
seconds = time.perf_counter() - start
edges = []
for target, res in enumerate(results):
    single = res.get_single_target(target, fdr=False)
    if applied:
        single = combined.get_single_target(target, fdr=True)
    for process, lag in single["selected_vars_sources"] or []:
        edges.append([int(process), target, int(lag)])
os.dup2(saved, 1)
print(json.dumps({"edges": sorted(edges), "seconds": seconds, "fdr_applied": applied}))
"""


def mute_data(t_len: int, seed: int) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """IDTxl's generate_mute_data equations (Montalto et al. 2014, eq. 14), three samples of warm-up."""
    rng = np.random.default_rng(seed)
    n = t_len + 3
    x = rng.standard_normal((n, 5))
    e = rng.standard_normal((n, 5))
    r2 = np.sqrt(2)
    for t in range(3, n):
        x[t, 0] = 0.95 * r2 * x[t - 1, 0] - 0.9025 * x[t - 2, 0] + e[t, 0]
        x[t, 1] = 0.5 * x[t - 2, 0] ** 2 + e[t, 1]
        x[t, 2] = -0.4 * x[t - 3, 0] + e[t, 2]
        x[t, 3] = -0.5 * x[t - 2, 0] ** 2 + 0.25 * r2 * x[t - 1, 3] + 0.25 * r2 * x[t - 1, 4] + e[t, 3]
        x[t, 4] = -0.25 * r2 * x[t - 1, 3] + 0.25 * r2 * x[t - 1, 4] + e[t, 4]
    return x[3:].copy(), {(0, 1), (0, 2), (0, 3), (3, 4), (4, 3)}


def var_data(t_len: int, n: int, n_edges: int, seed: int) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """A stable VAR(1): self-coupling 0.3 and n_edges random couplings of |w| in [0.3, 0.5]."""
    rng = np.random.default_rng(seed)
    a = np.zeros((n, n))
    np.fill_diagonal(a, 0.3)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    truth = set()
    for idx in rng.choice(len(pairs), n_edges, replace=False):
        target, source = pairs[idx]
        a[target, source] = rng.uniform(0.3, 0.5) * rng.choice([-1, 1])
        truth.add((source, target))
    assert max(abs(np.linalg.eigvals(a))) < 0.95
    warm = 10 * n
    x = np.zeros((t_len + warm, n))
    for t in range(1, t_len + warm):
        x[t] = a @ x[t - 1] + rng.standard_normal(n)
    return x[warm:].copy(), truth


def scores(edges: set[tuple[int, int]], truth: set[tuple[int, int]]) -> str:
    hits = len(edges & truth)
    precision = hits / len(edges) if edges else float("nan")
    recall = f"recall {hits}/{len(truth)} = {hits / len(truth):.2f}"
    return f"{recall}, precision {precision:.2f} ({len(edges)} edges)"


def run_idtxl(
    python: str, data: np.ndarray, n_perm: int, n_perm_omnibus: int, alpha: float, seed: int, fdr: bool
) -> tuple[list, float, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npy"
        np.save(path, data)
        driver = Path(tmp) / "driver.py"
        driver.write_text(IDTXL_DRIVER)
        out = subprocess.run(
            [
                python,
                str(driver),
                str(path),
                str(n_perm),
                str(alpha),
                str(seed),
                json.dumps(LAGS),
                str(n_perm_omnibus),
                "1" if fdr else "0",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if out.returncode != 0:
        raise RuntimeError(f"IDTxl failed ({out.returncode}): {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return [tuple(e) for e in result["edges"]], float(result["seconds"]), bool(result["fdr_applied"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idtxl-python", help="a Python that can import idtxl (optional)")
    ap.add_argument("--n-perm", type=int, default=100)
    ap.add_argument("--n-perm-omnibus", type=int, help="surrogates of the omnibus test (default: --n-perm)")
    ap.add_argument("--fdr", action="store_true", help="network FDR over the targets (both tools)")
    ap.add_argument("--no-pairwise", action="store_true", help="skip the pairwise te_network contrast")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--networks", nargs="+", default=["mute", "var10"], choices=["mute", "var10"])
    args = ap.parse_args()
    omnibus = args.n_perm_omnibus or args.n_perm
    perms = {f"n_perm_{t}": args.n_perm for t in ("max_stat", "min_stat", "max_seq")}
    perms["n_perm_omnibus"] = omnibus
    fdr = "network FDR (ours: Benjamini-Hochberg; IDTxl: its default)" if args.fdr else "no FDR"
    print(f"settings: lags {LAGS}, k = 4, {args.n_perm} surrogates per test ({omnibus} omnibus), ")
    print(f"          alpha {args.alpha}, {fdr}")
    for name in args.networks:
        data, truth = mute_data(500, 1) if name == "mute" else var_data(1000, 10, 15, 12345)
        print(f"\n== {name}: T = {data.shape[0]}, {data.shape[1]} processes, {len(truth)} true edges")
        start = time.perf_counter()
        kw = {"alpha": args.alpha, "seed": args.seed}
        ours = info.multivariate_te_network(data, fdr=args.fdr, **kw, **LAGS, **perms)
        ours_s = time.perf_counter() - start
        ours_vars = sorted((s, t, lag) for s, t, lag, _ in ours.edges())
        ours_edges = {(s, t) for s, t, _ in ours_vars}
        print(f"thermoconsensus multivariate  {ours_s:8.1f} s  {scores(ours_edges, truth)}")
        print(f"  variables (source, target, lag): {ours_vars}")
        if not args.no_pairwise:
            start = time.perf_counter()
            pair = info.te_network(data, **kw)
            pair_s = time.perf_counter() - start
            pair_edges = {(s, t) for s, t, _ in pair.edges()}
            print(
                f"thermoconsensus pairwise      {pair_s:8.1f} s  {scores(pair_edges, truth)} (BH, all pairs)"
            )
        if args.idtxl_python:
            edges, idtxl_s, applied = run_idtxl(
                args.idtxl_python, data, args.n_perm, omnibus, args.alpha, args.seed, args.fdr
            )
            idtxl_edges = {(s, t) for s, t, _ in edges}
            note = "" if not args.fdr else (" (FDR applied)" if applied else " (IDTxl skipped its FDR)")
            print(f"IDTxl MultivariateTE          {idtxl_s:8.1f} s  {scores(idtxl_edges, truth)}{note}")
            print(f"  variables (source, target, lag): {sorted(edges)}")
            same = ours_edges == idtxl_edges
            print(
                f"same process-level edges as IDTxl: {same}; only ours {sorted(ours_edges - idtxl_edges)}, "
                f"only IDTxl {sorted(idtxl_edges - ours_edges)}; time IDTxl / ours {idtxl_s / ours_s:.1f}x"
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
