"""Differential privacy for the shared embeddings: the analytic Gaussian mechanism, accounted by
Google's ``dp-accounting`` (``pip install 'thermoconsensus[privacy]'``).

What is noised, and what is not. A release is the (responses x dim) matrix of the responses' unit
embeddings, with N(0, sigma^2) noise added to every coordinate and each row re-normalised
(post-processing, free). Replacing one response moves its unit vector by at most 2 in L2 norm, so the
default ``sensitivity`` is 2 and the guarantee is per response replaced. Only that matrix is private.
The response texts (and so the consensus answer, which is one of them or a synthesis of them), the
extracted answers, the models' confidences (token log probabilities), and everything computed from
them (answer distances, the fields, the weights) are NOT noised: a consensus that uses them is not
differentially private as a whole. The guarantee covers whoever sees the noisy embeddings alone.

Calibration. ``sigma = sensitivity * dp_accounting.get_sigma_gaussian(epsilon, delta)``, the smallest
noise for which one release is (epsilon, delta)-DP (Balle & Wang 2018, the analytic Gaussian
mechanism; exact for every epsilon, where the classic sqrt(2 ln(1.25/delta)) / epsilon rule holds only
for epsilon < 1: at epsilon = 50 its true delta is about 0.59 instead of 1e-5).

Accounting. :class:`PrivacyAccountant` keeps the ledger of releases (their noise multipliers
sigma / sensitivity) and composes them with dp-accounting: ``"exact"`` (default) uses that k Gaussian
releases compose to one Gaussian with multiplier (sum sigma_i^-2)^(-1/2) and converts it with
``dp_accounting.get_epsilon_gaussian`` (exact and instant); ``"pld"`` composes privacy loss
distributions (``dp_accounting.pld.PLDAccountant``; agrees with "exact" to discretisation, slower at
large epsilon); ``"rdp"`` composes Rényi DP (``dp_accounting.rdp.RdpAccountant``; an upper bound,
looser).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._arrays import check_real

__all__ = ["METHODS", "GaussianMechanism", "PrivacyAccountant", "RDPAccountant"]

METHODS = ("exact", "pld", "rdp")


def _dp() -> Any:
    """The ``dp_accounting`` module, or an ImportError saying how to install it."""
    try:
        import dp_accounting  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "privacy needs Google's dp-accounting: pip install 'thermoconsensus[privacy]' "
            "(or pip install dp-accounting)"
        ) from exc
    return dp_accounting


def _positive(name: str, v: Any) -> float:
    return check_real(name, v, above=0)


def _probability(name: str, v: Any) -> float:
    return check_real(name, v, above=0, below=1)


@dataclass
class PrivacyAccountant:
    """The running (epsilon, delta) spend of a sequence of Gaussian releases, composed by dp-accounting.

    ``method``: "exact", "pld" or "rdp" (see the module docstring). ``noise_multipliers``: the ledger,
    sigma / sensitivity of each release in order. ``value_discretization_interval``: the PLD grid.
    """

    method: str = "exact"
    noise_multipliers: list[float] = field(default_factory=list)
    value_discretization_interval: float = 1e-3

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {METHODS}, got {self.method!r}")
        _positive("value_discretization_interval", self.value_discretization_interval)
        self.noise_multipliers = [_positive("noise multiplier", m) for m in self.noise_multipliers]
        _dp()

    @property
    def releases(self) -> int:
        """How many releases were spent."""
        return len(self.noise_multipliers)

    def spend_gaussian(self, sigma: float, sensitivity: float) -> None:
        """Adds one Gaussian release with noise ``sigma`` per coordinate and L2 ``sensitivity``."""
        self.noise_multipliers.append(_positive("sigma", sigma) / _positive("sensitivity", sensitivity))

    def ledger(self) -> Any:
        """The releases as a ``dp_accounting.ComposedDpEvent`` of ``GaussianDpEvent`` (for any
        dp-accounting accountant)."""
        dp = _dp()
        return dp.ComposedDpEvent([dp.GaussianDpEvent(m) for m in self.noise_multipliers])

    def effective_noise_multiplier(self) -> float:
        """The one Gaussian release equivalent to all of them, ``(sum m_i^-2)^(-1/2)`` (inf before any)."""
        if not self.noise_multipliers:
            return math.inf
        return float(sum(m**-2 for m in self.noise_multipliers) ** -0.5)

    def _accountant(self) -> Any:
        dp = _dp()
        acc: Any
        if self.method == "pld":
            from dp_accounting.pld import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
                pld_privacy_accountant,
            )

            acc = pld_privacy_accountant.PLDAccountant(
                value_discretization_interval=self.value_discretization_interval
            )
        else:
            from dp_accounting.rdp import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
                rdp_privacy_accountant,
            )

            acc = rdp_privacy_accountant.RdpAccountant()
        # Equal multipliers compose as one event with a count (much faster for the PLD).
        counts: dict[float, int] = {}
        for m in self.noise_multipliers:
            counts[m] = counts.get(m, 0) + 1
        for m, c in counts.items():
            acc.compose(dp.GaussianDpEvent(m), c)
        return acc

    def epsilon(self, delta: float) -> float:
        """The epsilon of everything spent so far at ``delta`` (0 before any release)."""
        delta = _probability("delta", delta)
        if not self.noise_multipliers:
            return 0.0
        if self.method == "exact":
            return float(_dp().get_epsilon_gaussian(self.effective_noise_multiplier(), delta))
        return float(self._accountant().get_epsilon(delta))

    def delta(self, epsilon: float) -> float:
        """The delta of everything spent so far at ``epsilon`` (0 before any release)."""
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon >= 0:
            raise ValueError(f"epsilon: expected a number >= 0, got {epsilon!r}")
        if not self.noise_multipliers:
            return 0.0
        if self.method == "exact":
            from dp_accounting.pld import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
                privacy_loss_mechanism,
            )

            # The analytic Gaussian delta (Balle & Wang 2018, Eq. 6) at the effective multiplier.
            loss = privacy_loss_mechanism.GaussianPrivacyLoss(self.effective_noise_multiplier())
            return float(loss.get_delta_for_epsilon(float(epsilon)))
        return float(self._accountant().get_delta(epsilon))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (the ledger)."""
        return {
            "method": self.method,
            "noise_multipliers": list(self.noise_multipliers),
            "value_discretization_interval": self.value_discretization_interval,
        }

    @classmethod
    def from_dict(cls, data: Any) -> PrivacyAccountant:
        """The inverse of :meth:`to_dict`; ValueError on a malformed state."""
        if not isinstance(data, dict):
            raise ValueError("privacy accountant state: expected an object")
        try:
            return cls(
                method=data["method"],
                noise_multipliers=list(data["noise_multipliers"]),
                value_discretization_interval=data["value_discretization_interval"],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"privacy accountant state: malformed ({exc})") from None


class RDPAccountant(PrivacyAccountant):
    """The Rényi-DP composition of :class:`PrivacyAccountant` (``method="rdp"``, dp-accounting's
    ``RdpAccountant``), kept under its former name; ``spend_gaussian``/``epsilon``/``releases`` as before."""

    def __init__(self, noise_multipliers: list[float] | None = None) -> None:
        super().__init__(method="rdp", noise_multipliers=list(noise_multipliers or []))


@dataclass
class GaussianMechanism:
    """Noise for embeddings at (epsilon, delta) per release, with the running total kept by ``accountant``
    (see the module docstring for what is and is not protected).

    ``sigma`` is the analytic Gaussian calibration (Balle & Wang 2018) times ``sensitivity``; noisy
    vectors are re-normalised (post-processing is free).
    """

    epsilon: float
    delta: float = 1e-5
    sensitivity: float = 2.0
    seed: int = 0
    accountant: PrivacyAccountant = field(default_factory=PrivacyAccountant)

    def __post_init__(self) -> None:
        self.epsilon = _positive("epsilon", self.epsilon)
        self.delta = _probability("delta", self.delta)
        self.sensitivity = _positive("sensitivity", self.sensitivity)
        if not isinstance(self.accountant, PrivacyAccountant):
            raise TypeError(f"accountant: expected a PrivacyAccountant, got {type(self.accountant).__name__}")
        self._sigma = self.sensitivity * float(_dp().get_sigma_gaussian(self.epsilon, self.delta))
        self._rng = np.random.default_rng(self.seed)

    @property
    def sigma(self) -> float:
        """The noise standard deviation per coordinate."""
        return self._sigma

    def privatize(self, embeddings: NDArray[np.float64]) -> NDArray[np.float64]:
        """``embeddings`` (responses x dim) plus Gaussian noise, rows re-normalised; records the release.

        The rows are expected to be unit vectors (the sensitivity assumes it); ValueError on a wrong
        shape or non-finite values."""
        e = np.asarray(embeddings, dtype=np.float64)
        if e.ndim != 2 or e.size == 0:
            raise ValueError(f"embeddings: expected a non-empty (responses x dim) array, got shape {e.shape}")
        if not np.all(np.isfinite(e)):
            raise ValueError("embeddings: contain NaN or infinite values")
        noisy = e + self._rng.normal(0.0, self._sigma, size=e.shape)
        norms = np.linalg.norm(noisy, axis=1, keepdims=True)
        self.accountant.spend_gaussian(self._sigma, self.sensitivity)
        out: NDArray[np.float64] = noisy / np.where(norms > 0, norms, 1.0)
        return out

    def report(self) -> dict[str, Any]:
        """What has been spent: releases, sigma, and epsilon at this delta composed by the accountant."""
        return {
            "epsilon_per_release": self.epsilon,
            "delta": self.delta,
            "sigma": self._sigma,
            "sensitivity": self.sensitivity,
            "releases": self.accountant.releases,
            "epsilon_spent": self.accountant.epsilon(self.delta),
            "accounting": f"dp-accounting ({self.accountant.method})",
            "noised": "embeddings only (not the answers, extracted answers or confidences)",
        }
