"""Learned routing: Beta posteriors of success per model x domain, Thompson sampling, and a
multi-factor energy with Boltzmann selection.

Each (endpoint, domain) pair holds Beta(alpha, beta) over its success rate, starting from Beta(1, 1);
feedback in [0, 1] adds to alpha and its complement to beta. Thompson sampling draws one rate per
endpoint and takes the largest (Chapelle & Li 2011). The energy view scores each endpoint

    E = w_cost * cost/cost_max + w_latency * latency/latency_max - w_quality * mean
        + w_uncertainty * std + w_context * fill^2

(``fill`` = estimated prompt tokens over the endpoint's context; an endpoint the prompt does not fit is
excluded) and picks with probability proportional to exp(-E / T): T -> 0 is greedy, large T uniform.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

__all__ = ["BetaPosterior", "Candidate", "EnergyWeights", "QualityModel", "boltzmann", "energies"]

PathArg = Union[str, "os.PathLike[str]"]


@dataclass
class BetaPosterior:
    """Beta(alpha, beta) over a success probability."""

    alpha: float = 1.0
    beta: float = 1.0

    @property
    def mean(self) -> float:
        """Expected success rate."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def std(self) -> float:
        """Posterior standard deviation (the uncertainty)."""
        a, b = self.alpha, self.beta
        return math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))

    def update(self, reward: float) -> None:
        """Adds a result: 1 = success, 0 = failure, or a graded score in between."""
        if isinstance(reward, bool):
            reward = float(reward)
        if not isinstance(reward, (int, float)) or not 0.0 <= reward <= 1.0:
            raise ValueError(f"reward: expected a bool or a number in [0, 1], got {reward!r}")
        self.alpha += reward
        self.beta += 1.0 - reward

    def sample(self, rng: random.Random) -> float:
        """One draw of the success rate."""
        return rng.betavariate(self.alpha, self.beta)


class QualityModel:
    """The posteriors of every (endpoint, domain) pair and each endpoint's smoothed latency."""

    def __init__(self) -> None:
        self.posteriors: dict[tuple[str, str], BetaPosterior] = {}
        self.latency: dict[str, float] = {}
        # State other components keep beside the posteriors (the consensus keeps its reliability and
        # confidence statistics here), saved and loaded untouched.
        self.extras: dict[str, Any] = {}

    def get(self, endpoint: str, domain: str) -> BetaPosterior:
        """The posterior for ``endpoint`` in ``domain`` (created at Beta(1, 1))."""
        return self.posteriors.setdefault((endpoint, domain), BetaPosterior())

    def update(self, endpoint: str, domain: str, reward: float) -> None:
        """Feedback for one answer of ``endpoint`` in ``domain``."""
        self.get(endpoint, domain).update(reward)

    def observe_latency(self, endpoint: str, seconds: float, smoothing: float = 0.2) -> None:
        """Folds one call's latency into the endpoint's exponential moving average."""
        old = self.latency.get(endpoint)
        self.latency[endpoint] = seconds if old is None else (1 - smoothing) * old + smoothing * seconds

    def thompson(self, endpoints: list[str], domain: str, rng: random.Random) -> dict[str, float]:
        """One sampled success rate per endpoint."""
        return {e: self.get(e, domain).sample(rng) for e in endpoints}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "version": 1,
            "posteriors": [[e, d, p.alpha, p.beta] for (e, d), p in sorted(self.posteriors.items())],
            "latency": dict(sorted(self.latency.items())),
            "extras": self.extras,
        }

    @classmethod
    def from_dict(cls, data: Any) -> QualityModel:
        """The inverse of :meth:`to_dict`; ValueError on a malformed state."""
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ValueError("router state: expected an object with version 1")
        model = cls()
        try:
            for e, d, a, b in data.get("posteriors", []):
                if not (a > 0 and b > 0):
                    raise ValueError(f"router state: Beta({a}, {b}) for {e}/{d} is not a valid posterior")
                model.posteriors[(str(e), str(d))] = BetaPosterior(float(a), float(b))
            model.latency = {str(k): float(v) for k, v in data.get("latency", {}).items()}
            extras = data.get("extras", {})
            if not isinstance(extras, dict):
                raise ValueError("extras is not an object")
            model.extras = extras
        except (TypeError, ValueError) as exc:
            raise ValueError(f"router state: malformed ({exc})") from None
        return model

    def save(self, path: PathArg) -> None:
        """Writes the state to ``path`` atomically (a reader never sees half a file)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, indent=1)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)

    @classmethod
    def load(cls, path: PathArg) -> QualityModel:
        """The state saved at ``path``."""
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except ValueError as exc:
                raise ValueError(f"router state {path}: not JSON ({exc})") from None
        return cls.from_dict(data)


@dataclass(frozen=True)
class EnergyWeights:
    """Weights of the energy's terms (see the module docstring); a negative ``uncertainty`` rewards
    exploring endpoints the router knows little about."""

    cost: float = 1.0
    quality: float = 2.0
    latency: float = 0.5
    uncertainty: float = 0.5
    context: float = 1.0

    def __post_init__(self) -> None:
        for name in ("cost", "quality", "latency", "uncertainty", "context"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"energy weight {name}: expected a finite number, got {v!r}")


@dataclass(frozen=True)
class Candidate:
    """What the energy knows of one endpoint for one request."""

    name: str
    cost: float
    latency: float
    quality: BetaPosterior
    fill: float


def energies(candidates: list[Candidate], weights: EnergyWeights) -> dict[str, float]:
    """The energy of each candidate the prompt fits (``fill <= 1``); cost and latency are scaled by
    the largest among the candidates so the weights compare like with like."""
    fits = [c for c in candidates if c.fill <= 1.0]
    max_cost = max((c.cost for c in fits), default=0.0) or 1.0
    max_lat = max((c.latency for c in fits), default=0.0) or 1.0
    return {
        c.name: weights.cost * c.cost / max_cost
        + weights.latency * c.latency / max_lat
        - weights.quality * c.quality.mean
        + weights.uncertainty * c.quality.std
        + weights.context * c.fill**2
        for c in fits
    }


def boltzmann(
    energy: dict[str, float], temperature: float, rng: random.Random
) -> tuple[str, dict[str, float]]:
    """One name drawn with probability exp(-E/T) / Z, and those probabilities (T = 0: the minimum)."""
    if not energy:
        raise ValueError("no candidate to choose from")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"temperature: expected a number >= 0, got {temperature!r}")
    low = min(energy.values())
    if temperature == 0:
        best = [k for k, v in energy.items() if v == low]
        return best[0], {k: (1.0 / len(best) if k in best else 0.0) for k in energy}
    # Shifting by the minimum keeps exp() from underflowing at low temperatures.
    weights = {k: math.exp(-(v - low) / temperature) for k, v in energy.items()}
    z = sum(weights.values())
    probs = {k: w / z for k, w in weights.items()}
    r, acc = rng.random(), 0.0
    for k, p in probs.items():
        acc += p
        if r < acc:
            return k, probs
    return next(reversed(probs)), probs
