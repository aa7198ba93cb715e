"""dimod samplers: the annealers of :mod:`thermoconsensus.anneal` as ``dimod.Sampler`` subclasses, so that
they drop into D-Wave Ocean code (``sampler.sample(bqm)``, ``sample_ising(h, J)``, ``sample_qubo(Q)``,
composites). Needs dimod (``pip install 'thermoconsensus[dimod]'``).

Each ``sample`` takes any ``dimod.BinaryQuadraticModel`` (any hashable labels, SPIN or BINARY) and the
keyword arguments of the wrapped function (``backend="ray"`` included, which splits the reads over a Ray
cluster with the same result), and returns a ``dimod.SampleSet`` in the model's vartype with the
sampler's statistics in ``info``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import dimod

from . import anneal

__all__ = ["PathIntegralAnnealingSampler", "ReplicaExchangeSampler", "SimulatedAnnealingSampler"]


def _parameters(fn: Callable[..., Any]) -> dict[str, list[Any]]:
    """The keyword parameters of ``fn`` after the problem, as dimod's ``Sampler.parameters``."""
    names = list(inspect.signature(fn).parameters)[1:]
    return {name: [] for name in names if name != "progress"}


class _AnnealSampler(dimod.Sampler):  # type: ignore[misc,name-defined]
    _function: Callable[..., anneal.SampleSet]

    def __init__(self) -> None:
        self._parameters = _parameters(type(self)._function)

    @property
    def parameters(self) -> dict[str, list[Any]]:
        return self._parameters

    @property
    def properties(self) -> dict[str, Any]:
        return {"sampler": type(self)._function.__name__, "package": "thermoconsensus"}

    def sample(self, bqm: Any, **parameters: Any) -> Any:
        unknown = sorted(set(parameters) - set(self._parameters))
        if unknown:
            raise TypeError(f"{type(self).__name__}.sample: unknown parameters {', '.join(unknown)}")
        problem = anneal.IsingProblem.from_bqm(bqm)
        return type(self)._function(problem, **parameters).to_dimod()


class SimulatedAnnealingSampler(_AnnealSampler):
    """:func:`thermoconsensus.anneal.simulated_annealing` as a ``dimod.Sampler`` (same keywords)."""

    _function = staticmethod(anneal.simulated_annealing)


class ReplicaExchangeSampler(_AnnealSampler):
    """:func:`thermoconsensus.anneal.replica_exchange` as a ``dimod.Sampler`` (same keywords)."""

    _function = staticmethod(anneal.replica_exchange)


class PathIntegralAnnealingSampler(_AnnealSampler):
    """:func:`thermoconsensus.anneal.path_integral_annealing` as a ``dimod.Sampler`` (same keywords)."""

    _function = staticmethod(anneal.path_integral_annealing)
