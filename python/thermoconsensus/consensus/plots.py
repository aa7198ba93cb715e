"""Pictures of a consensus with matplotlib (an optional dependency: ``pip install
'thermoconsensus[plot]'``): the weights per response, the distance matrix, and the free energy
against the temperature (the Hamiltonian re-annealed at each T)."""

from __future__ import annotations

import os
from typing import Any, Union

import numpy as np

from .hamiltonian import Hamiltonian
from .solve import anneal
from .types import Consensus

__all__ = ["free_energy_curve", "plot_all", "plot_distances", "plot_free_energy", "plot_weights"]

PathArg = Union[str, "os.PathLike[str]"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install 'thermoconsensus[plot]'") from exc
    return plt


def _labels(c: Consensus) -> list[str]:
    return [f"{r.model}#{r.sample}" + (f" r{r.round}" if r.round else "") for r in c.responses]


def plot_weights(c: Consensus, ax: Any = None) -> Any:
    """Bar chart of the weight of each response, the selected one highlighted."""
    plt = _pyplot()
    ax = ax or plt.figure(figsize=(6, 3)).gca()
    colours = ["tab:red" if i == c.selected else "tab:blue" for i in range(len(c.responses))]
    ax.bar(range(len(c.weights)), c.weights, color=colours)
    ax.set_xticks(range(len(c.weights)), _labels(c), rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("weight")
    ax.set_title(f"F* = {c.free_energy:.3f}, exp(S) = {c.effective_agreeing:.2f}")
    return ax


def plot_distances(c: Consensus, ax: Any = None) -> Any:
    """Heat map of the distance matrix d_ij."""
    plt = _pyplot()
    ax = ax or plt.figure(figsize=(4.5, 4)).gca()
    im = ax.imshow(c.distances, cmap="viridis", vmin=0.0)
    labels = _labels(c)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.figure.colorbar(im, ax=ax, label="d")
    return ax


def free_energy_curve(c: Consensus, temperatures: Any = None, seed: int = 0) -> dict[str, list[float]]:
    """F*, E and S of the consensus's Hamiltonian annealed at each temperature (default 1e-3..10)."""
    if c.h is None:
        raise ValueError("consensus: has no fields h (made by an older version?)")
    temps = [float(t) for t in (np.geomspace(1e-3, 10.0, 25) if temperatures is None else temperatures)]
    ham = Hamiltonian(c.distances, c.h, float(c.parameters.get("J", 1.0)))
    out: dict[str, list[float]] = {"temperature": temps, "free_energy": [], "energy": [], "entropy": []}
    for t in temps:
        sol = anneal(ham, t, seed=seed)
        out["free_energy"].append(sol.free_energy)
        out["energy"].append(sol.energy)
        out["entropy"].append(sol.entropy)
    return out


def plot_free_energy(c: Consensus, ax: Any = None, temperatures: Any = None) -> Any:
    """F*(T), E(T) and T S(T) on a log temperature axis, the consensus's own T marked."""
    plt = _pyplot()
    ax = ax or plt.figure(figsize=(5, 3.5)).gca()
    curve = free_energy_curve(c, temperatures)
    t = np.array(curve["temperature"])
    ax.plot(t, curve["free_energy"], label="F*")
    ax.plot(t, curve["energy"], label="E")
    ax.plot(t, t * np.array(curve["entropy"]), label="T S")
    ax.axvline(c.temperature, color="grey", linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("temperature T")
    ax.legend()
    return ax


def plot_all(c: Consensus, prefix: PathArg) -> list[str]:
    """Saves the three plots as PREFIX_weights.png, PREFIX_distances.png, PREFIX_free_energy.png."""
    plt = _pyplot()
    paths = []
    for name, fn in (
        ("weights", plot_weights),
        ("distances", plot_distances),
        ("free_energy", plot_free_energy),
    ):
        ax = fn(c)
        path = f"{os.fspath(prefix)}_{name}.png"
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
        plt.close(ax.figure)
        paths.append(path)
    return paths
