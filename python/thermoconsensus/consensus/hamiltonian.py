"""The information Hamiltonian over response weights s on the simplex,

    E(s) = J sum_ij d_ij s_i s_j + sum_i h_i s_i,    h_i = -(alpha ln q_m(i) + beta c_i),

with d the response distances, q_m the posterior mean quality of the model that wrote response i (Beta
posteriors, as the router keeps them) and c_i the response's self-confidence (its mean token log
probability). One-hot weights have E = h_i: agreement is rewarded only through the entropy term of the
free energy F = E - T S (see :mod:`~thermoconsensus.consensus.solve`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._core import InvalidInputError

__all__ = ["Hamiltonian", "fields"]


def _finite(name: str, value: float, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected a number >= {minimum}, got {value!r}")
    return float(value)


def fields(
    models: Sequence[str],
    quality: Mapping[str, float],
    confidence: Sequence[float | None],
    alpha: float = 1.0,
    beta: float = 0.1,
) -> NDArray[np.float64]:
    """``h_i = -(alpha ln q_m(i) + beta c_i)``. A model missing from ``quality`` has the uniform prior's
    mean 1/2; a response without a confidence gets the mean of those that have one (0 when none has),
    so a provider that returns no log probabilities is neither rewarded nor punished."""
    alpha = _finite("alpha", alpha, 0.0)
    beta = _finite("beta", beta, 0.0)
    if len(confidence) != len(models):
        raise InvalidInputError(f"confidence: expected {len(models)} values, got {len(confidence)}")
    q = np.array([quality.get(m, 0.5) for m in models], dtype=np.float64)
    if np.any(~np.isfinite(q)) or np.any(q <= 0) or np.any(q > 1):
        raise InvalidInputError(f"quality: expected values in (0, 1], got {q.tolist()}")
    known = [c for c in confidence if c is not None]
    if any(not math.isfinite(c) for c in known):
        raise InvalidInputError("confidence: contains NaN or infinite values")
    fill = float(np.mean(known)) if known else 0.0
    c = np.array([fill if v is None else v for v in confidence], dtype=np.float64)
    h: NDArray[np.float64] = -(alpha * np.log(q) + beta * c)
    return h


@dataclass(frozen=True)
class Hamiltonian:
    """``E(s) = J s^T d s + h^T s``: the distances ``d`` (m x m), the fields ``h`` (m) and the coupling J."""

    distances: NDArray[np.float64]
    h: NDArray[np.float64]
    J: float = 1.0

    def __post_init__(self) -> None:
        d = np.asarray(self.distances, dtype=np.float64)
        if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape[0] == 0:
            raise InvalidInputError(f"distances: expected a non-empty square matrix, got shape {d.shape}")
        if not np.all(np.isfinite(d)):
            raise InvalidInputError("distances: contain NaN or infinite values")
        h = np.asarray(self.h, dtype=np.float64)
        if h.shape != (d.shape[0],) or not np.all(np.isfinite(h)):
            raise InvalidInputError(f"h: expected {d.shape[0]} finite values, got shape {h.shape}")
        object.__setattr__(self, "distances", d)
        object.__setattr__(self, "h", h)
        object.__setattr__(self, "J", _finite("J", self.J, 0.0))

    @property
    def size(self) -> int:
        """The number of responses m."""
        return int(self.h.shape[0])

    def energy(self, s: ArrayLike) -> float:
        """E(s)."""
        w = np.asarray(s, dtype=np.float64)
        return float(self.J * w @ self.distances @ w + self.h @ w)

    def free_energy(self, s: ArrayLike, temperature: float) -> float:
        """F(s) = E(s) - T S(s), S = -sum s ln s."""
        w = np.asarray(s, dtype=np.float64)
        nz = w[w > 0]
        return self.energy(w) + temperature * float(np.sum(nz * np.log(nz)))
