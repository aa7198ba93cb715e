"""Annealing the Hamiltonian to its free-energy minimum and reading the answer off the weights.

The minimiser is the annealing crate's simplex mode (:func:`thermoconsensus.anneal.minimize_free_energy`:
replica Langevin chains in softmax coordinates, then mean-field refinement). A temperature *schedule*
(a descending list of T) solves at each temperature in turn and keeps the whole F(T) curve; the last
temperature gives the weights. At finite T the minimum spreads weight over the largest tight cluster
(F of a cluster C ~ J spread(C) - T ln |C|); T -> infinity gives uniform weights, T -> 0 one response.

The answer is the weighted medoid ``argmin_i sum_j s_j d_ij``; with extracted answers, the weighted
vote ``argmax_a sum_i s_i [a_i = a]`` decides and the answer text is the medoid among its responses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

import numpy as np
from numpy.typing import NDArray

from .hamiltonian import Hamiltonian

__all__ = [
    "Schedule",
    "Selection",
    "Solution",
    "anneal",
    "geometric_schedule",
    "select",
    "temperature_schedule",
    "weighted_medoid",
    "weighted_vote",
]

Schedule = Union[float, Sequence[float]]


def temperature_schedule(temperature: Schedule) -> list[float]:
    """``temperature`` (one T or a sequence, solved in the order given) as a checked list."""
    temps = [temperature] if isinstance(temperature, (int, float)) else list(temperature)
    if not temps:
        raise ValueError("temperature: the schedule is empty")
    for t in temps:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise ValueError(f"temperature: expected positive finite numbers, got {t!r}")
    return [float(t) for t in temps]


def geometric_schedule(t_start: float, t_end: float, steps: int) -> list[float]:
    """``steps`` temperatures from ``t_start`` to ``t_end``, evenly spaced in log T."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive integer, got {steps!r}")
    temperature_schedule([t_start, t_end])
    if steps == 1:
        return [float(t_end)]
    return [float(t) for t in np.geomspace(t_start, t_end, steps)]


@dataclass
class Solution:
    """The free-energy minimum at the schedule's last temperature, and F, E, S along the schedule."""

    weights: NDArray[np.float64]
    free_energy: float
    energy: float
    entropy: float
    temperature: float
    converged: bool
    curve: list[dict[str, float]] = field(default_factory=list)

    @property
    def effective_number(self) -> float:
        """exp(S): how many responses effectively carry the weight."""
        return float(math.exp(self.entropy))


def anneal(
    hamiltonian: Hamiltonian,
    temperature: Schedule = 0.1,
    *,
    seed: int = 0,
    chains: int = 32,
    langevin_steps: int = 300,
) -> Solution:
    """Minimises F = E - T S at each temperature of the schedule (seeded; the same seed at every T)."""
    from .. import anneal as _anneal

    temps = temperature_schedule(temperature)
    curve: list[dict[str, float]] = []
    result = None
    if hamiltonian.size == 1:
        e = float(hamiltonian.h[0])
        curve = [{"temperature": t, "free_energy": e, "energy": e, "entropy": 0.0} for t in temps]
        return Solution(np.ones(1), e, e, 0.0, temps[-1], True, curve)
    for t in temps:
        result = _anneal.minimize_free_energy(
            hamiltonian.J,
            hamiltonian.distances,
            hamiltonian.h,
            temperature=t,
            chains=chains,
            langevin_steps=langevin_steps,
            seed=seed,
        )
        curve.append(
            {
                "temperature": t,
                "free_energy": result.free_energy,
                "energy": result.energy,
                "entropy": result.entropy,
            }
        )
    assert result is not None  # the schedule is never empty
    return Solution(
        np.asarray(result.weights, dtype=np.float64),
        float(result.free_energy),
        float(result.energy),
        float(result.entropy),
        temps[-1],
        bool(result.converged),
        curve,
    )


def weighted_medoid(
    distances: NDArray[np.float64], weights: NDArray[np.float64], among: Sequence[int] = ()
) -> int:
    """``argmin_i sum_j s_j d_ij`` over ``among`` (all responses when empty); ties go to the heavier
    response, then the lower index."""
    cost = distances @ weights
    candidates = list(among) or list(range(len(weights)))
    return min(candidates, key=lambda i: (round(float(cost[i]), 12), -float(weights[i]), i))


def weighted_vote(answers: Sequence[str | None], weights: NDArray[np.float64]) -> dict[str, float]:
    """The weight behind each extracted answer (responses without one are left out), heaviest first."""
    votes: dict[str, float] = {}
    for a, w in zip(answers, weights):
        if a is not None:
            votes[a] = votes.get(a, 0.0) + float(w)
    return dict(sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass
class Selection:
    """The selected response, its extracted answer and the weight that agrees with it."""

    index: int
    answer: str | None
    answer_weight: float
    votes: dict[str, float]


def select(
    distances: NDArray[np.float64],
    weights: NDArray[np.float64],
    answers: Sequence[str | None] | None = None,
    agreement_radius: float = 0.25,
) -> Selection:
    """The weighted vote's winner (when answers were extracted) and the medoid among its responses; the
    answer weight is the winner's share of the vote, or without answers the weight within
    ``agreement_radius`` of the medoid."""
    votes = weighted_vote(answers, weights) if answers is not None else {}
    if votes:
        winner = next(iter(votes))
        assert answers is not None
        among = [i for i, a in enumerate(answers) if a == winner]
        return Selection(weighted_medoid(distances, weights, among), winner, votes[winner], votes)
    medoid = weighted_medoid(distances, weights)
    near = distances[medoid] <= agreement_radius
    return Selection(medoid, None, float(weights[near].sum()), votes)
