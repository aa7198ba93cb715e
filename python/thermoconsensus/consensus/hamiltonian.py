"""The information Hamiltonian over response weights s on the simplex,

    E(s) = J sum_ij d_ij s_i s_j + sum_i h_i s_i,

    h_i = -(alpha ln odds_m(i) + beta z_i) + T ln n_m(i) + penalty [i invalid],

with d the response distances and, in the field h: ``odds_m`` the odds that model m is right (its
reliability, from feedback labels when there are any, else estimated without labels from agreement
across questions), ``z_i`` the response's calibrated self-confidence (its answer's log probability,
standardised against the model's own history), ``n_m`` the number of responses model m gave (so a
model's samples share its vote instead of multiplying it) and a large penalty on invalid responses
(echoes, loops, empty, truncated, another language). One-hot weights have E = h_i, so at the minimum
of F = E - T S a response's Boltzmann factor is exp(-h_i / T): with alpha = T it is the model's odds
of being right, split over its samples (see :mod:`~thermoconsensus.consensus.solve`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._arrays import check_real
from .._core import InvalidInputError

__all__ = ["Hamiltonian", "check_coefficient", "fields", "log_odds"]

# Accuracies are clipped here before taking odds: no model is certainly right or certainly wrong.
_ACCURACY_FLOOR = 0.02


def check_coefficient(name: str, value: object) -> float:
    """A finite number >= 0: TypeError for a non-number, InvalidInputError (a ValueError) naming ``name``."""
    return check_real(name, value, at_least=0)


def log_odds(accuracy: float) -> float:
    """ln(p / (1 - p)) of an accuracy, clipped to [0.02, 0.98]."""
    p = min(1.0 - _ACCURACY_FLOOR, max(_ACCURACY_FLOOR, float(accuracy)))
    return math.log(p / (1.0 - p))


def fields(
    accuracy: Sequence[float],
    confidence: Sequence[float | None],
    *,
    alpha: float = 1.0,
    beta: float = 0.25,
    share: Sequence[int] | None = None,
    invalid: Sequence[bool] | None = None,
    penalty: float = 10.0,
    temperature: float = 1.0,
) -> NDArray[np.float64]:
    """The field h of each response (see the module docs). ``accuracy``: the reliability of the model
    that wrote each response, in (0, 1] (1/2 is uninformative); ``confidence``: calibrated confidence
    z-scores, None where unknown (counted as 0, neither rewarded nor punished); ``share``: how many
    responses the response's model gave (default 1 each); ``invalid``: which responses are invalid."""
    alpha = check_coefficient("alpha", alpha)
    beta = check_coefficient("beta", beta)
    penalty = check_coefficient("penalty", penalty)
    temperature = check_coefficient("temperature", temperature)
    m = len(accuracy)
    for name, seq in (("confidence", confidence), ("share", share), ("invalid", invalid)):
        if seq is not None and len(seq) != m:
            raise InvalidInputError(f"{name}: expected {m} values, got {len(seq)}")
    acc = np.array(accuracy, dtype=np.float64)
    if np.any(~np.isfinite(acc)) or np.any(acc <= 0) or np.any(acc > 1):
        raise InvalidInputError(f"accuracy: expected values in (0, 1], got {acc.tolist()}")
    c = np.array([0.0 if v is None else float(v) for v in confidence], dtype=np.float64)
    if not np.all(np.isfinite(c)):
        raise InvalidInputError("confidence: contains NaN or infinite values")
    n = np.ones(m) if share is None else np.array(share, dtype=np.float64)
    if np.any(n < 1):
        raise InvalidInputError(f"share: expected counts >= 1, got {n.tolist()}")
    bad = np.zeros(m) if invalid is None else np.array(invalid, dtype=np.float64)
    odds = np.array([log_odds(a) for a in acc], dtype=np.float64)
    h: NDArray[np.float64] = -(alpha * odds + beta * c) + temperature * np.log(n) + penalty * bad
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
        object.__setattr__(self, "J", check_coefficient("J", self.J))

    # F(s) itself is evaluated by the annealing crate (:func:`thermoconsensus.anneal.minimize_free_energy`
    # returns F, E and S at the minimum): one formula, in Rust.

    @property
    def size(self) -> int:
        """The number of responses m."""
        return int(self.h.shape[0])
