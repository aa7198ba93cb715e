"""Differential privacy for shared embeddings: the Gaussian mechanism with a Rényi-DP accountant.

Each consensus releases the responses' unit embeddings with N(0, sigma^2 I) noise added. Replacing one
response changes its unit vector by at most ``sensitivity`` = 2 in L2 norm, so one release is
(alpha, alpha * sensitivity^2 / (2 sigma^2))-RDP for every order alpha > 1 (Mironov 2017, Prop. 7);
RDP composes by addition across calls, and the total converts to (epsilon, delta)-DP by
``epsilon = min_alpha [ rdp(alpha) + ln(1/delta) / (alpha - 1) ]`` (Mironov 2017, Prop. 3).
``sigma`` is calibrated so that one release alone costs the requested (epsilon, delta).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["GaussianMechanism", "RDPAccountant"]

ORDERS: tuple[float, ...] = (
    1.25,
    1.5,
    1.75,
    2.0,
    2.5,
    3.0,
    4.0,
    5.0,
    6.0,
    8.0,
    10.0,
    12.0,
    16.0,
    20.0,
    32.0,
    64.0,
    128.0,
    256.0,
)


@dataclass
class RDPAccountant:
    """Running Rényi-DP spend of a sequence of Gaussian releases, at each order in :data:`ORDERS`."""

    orders: tuple[float, ...] = ORDERS
    rdp: list[float] = field(default_factory=list)
    releases: int = 0

    def __post_init__(self) -> None:
        if not self.rdp:
            self.rdp = [0.0] * len(self.orders)

    def spend_gaussian(self, sigma: float, sensitivity: float) -> None:
        """Adds one Gaussian release with noise ``sigma`` and L2 ``sensitivity``."""
        for i, a in enumerate(self.orders):
            self.rdp[i] += a * sensitivity**2 / (2.0 * sigma**2)
        self.releases += 1

    def epsilon(self, delta: float) -> float:
        """The (epsilon, delta)-DP epsilon of everything spent so far (0 before any release)."""
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta: expected a number in (0, 1), got {delta!r}")
        if self.releases == 0:
            return 0.0
        return min(r + math.log(1.0 / delta) / (a - 1.0) for a, r in zip(self.orders, self.rdp))


@dataclass
class GaussianMechanism:
    """Noise for embeddings at (epsilon, delta) per release, with the running total kept by ``accountant``.

    ``sigma = sensitivity * sqrt(2 ln(1.25 / delta)) / epsilon`` (Dwork & Roth 2014, Thm. A.1; valid for
    epsilon < 1, and conservative above). Noisy vectors are re-normalised (post-processing is free).
    """

    epsilon: float
    delta: float = 1e-5
    sensitivity: float = 2.0
    seed: int = 0
    accountant: RDPAccountant = field(default_factory=RDPAccountant)

    def __post_init__(self) -> None:
        if (
            isinstance(self.epsilon, bool)
            or not isinstance(self.epsilon, (int, float))
            or not self.epsilon > 0
        ):
            raise ValueError(f"epsilon: expected a positive number, got {self.epsilon!r}")
        if not 0.0 < self.delta < 1.0:
            raise ValueError(f"delta: expected a number in (0, 1), got {self.delta!r}")
        if not self.sensitivity > 0:
            raise ValueError(f"sensitivity: expected a positive number, got {self.sensitivity!r}")
        self._rng = np.random.default_rng(self.seed)

    @property
    def sigma(self) -> float:
        """The noise standard deviation per coordinate."""
        return self.sensitivity * math.sqrt(2.0 * math.log(1.25 / self.delta)) / self.epsilon

    def privatize(self, embeddings: NDArray[np.float64]) -> NDArray[np.float64]:
        """``embeddings`` plus Gaussian noise, rows re-normalised; records the release."""
        noisy = embeddings + self._rng.normal(0.0, self.sigma, size=embeddings.shape)
        norms = np.linalg.norm(noisy, axis=1, keepdims=True)
        self.accountant.spend_gaussian(self.sigma, self.sensitivity)
        out: NDArray[np.float64] = noisy / np.where(norms > 0, norms, 1.0)
        return out

    def report(self) -> dict[str, float]:
        """What has been spent: releases, sigma, and epsilon at this delta under RDP composition."""
        return {
            "epsilon_per_release": float(self.epsilon),
            "delta": self.delta,
            "sigma": self.sigma,
            "releases": self.accountant.releases,
            "epsilon_spent": self.accountant.epsilon(self.delta),
        }
