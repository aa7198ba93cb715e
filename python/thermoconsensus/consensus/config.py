"""The settings of a consensus, validated once: :class:`ConsensusConfig`.

:class:`~thermoconsensus.consensus.Orchestrator` takes one (or its fields as keywords); every value is
checked here, when the config is built, so a bad setting fails before any model is asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from .hamiltonian import check_coefficient
from .solve import Schedule, temperature_schedule

__all__ = ["ANSWER_FIRST_TOKENS", "REFINE_POLICIES", "REFINE_STRATEGIES", "WORKED_TOKENS", "ConsensusConfig"]

REFINE_STRATEGIES = ("debate", "samples")
# Default answer lengths: worked arithmetic needs room (GSM8K solutions run to 300 tokens); an answer
# the instruction asks for first needs only the answer and a short reason.
WORKED_TOKENS = 512
ANSWER_FIRST_TOKENS = 160
REFINE_POLICIES = ("threshold", "expected-free-energy")


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def _positive(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ConsensusConfig:
    """How a consensus asks, weighs and refines.

    Asking: ``samples_per_model`` calls per client (the first greedy, the others at
    ``sampling_temperature``), ``max_tokens`` each (None: by the answer format — 512 for worked
    numbers and free text, 160 where the instruction puts the answer first), ``quorum`` models
    (None: a majority) within ``timeout`` seconds, stragglers ``grace`` more seconds once the quorum
    answered; ``instruct`` appends the extractor's answer-format instruction to the prompt.

    Weighing (see :mod:`~thermoconsensus.consensus.hamiltonian`): the free energy's ``temperature``
    (one T or a descending schedule), coupling ``J``, reliability strength ``alpha``, calibrated
    confidence strength ``beta``, ``lam`` the weight of answer disagreement in the distance;
    ``invalid_penalty`` the field added to an invalid response (echo, loop, empty, truncated, other
    language); ``reliability``: estimate each model's accuracy without labels from agreement across
    the questions asked (Dawid-Skene); ``agreement_radius`` the cosine radius of "agrees" for free text.

    Refining: while F* > ``refine_threshold``, up to ``refine_budget`` more calls of
    ``refine_strategy`` ("debate" or "samples"), chosen by ``refine_policy`` ("threshold": the fixed
    rule; "expected-free-energy": the call with the largest expected reduction of F*).
    """

    samples_per_model: int = 1
    max_tokens: int | None = None
    sampling_temperature: float = 0.7
    logprobs: bool = True
    instruct: bool = True
    quorum: int | None = None
    timeout: float = 300.0
    grace: float | None = None
    seed: int = 0
    temperature: Schedule = 0.5
    J: float = 4.0
    alpha: float = 1.0
    beta: float = 1.0
    lam: float = 0.5
    invalid_penalty: float = 10.0
    reliability: bool = True
    agreement_radius: float = 0.25
    refine_threshold: float | None = None
    refine_budget: int = 0
    refine_strategy: str = "debate"
    refine_policy: str = "expected-free-energy"
    synthesis_top_k: int = 3
    anneal_chains: int = 32
    anneal_steps: int = 300
    domain: str = "general"

    def __post_init__(self) -> None:
        _int("samples_per_model", self.samples_per_model, 1)
        if self.max_tokens is not None:
            _int("max_tokens", self.max_tokens, 1)
        if self.quorum is not None:
            _int("quorum", self.quorum, 1)
        _positive("timeout", self.timeout)
        if self.grace is not None:
            _positive("grace", self.grace)
        _int("seed", self.seed, 0)
        if (
            isinstance(self.sampling_temperature, bool)
            or not isinstance(self.sampling_temperature, (int, float))
            or not math.isfinite(self.sampling_temperature)
            or self.sampling_temperature < 0
        ):
            raise ValueError(
                f"sampling_temperature: expected a number >= 0, got {self.sampling_temperature!r}"
            )
        object.__setattr__(self, "temperature", temperature_schedule(self.temperature))
        for name in ("J", "alpha", "beta", "invalid_penalty"):
            check_coefficient(name, getattr(self, name))
        if isinstance(self.lam, bool) or not isinstance(self.lam, (int, float)) or not 0 <= self.lam <= 1:
            raise ValueError(f"lam: expected a number in [0, 1], got {self.lam!r}")
        _positive("agreement_radius", self.agreement_radius)
        if self.refine_threshold is not None and (
            isinstance(self.refine_threshold, bool)
            or not isinstance(self.refine_threshold, (int, float))
            or not math.isfinite(self.refine_threshold)
        ):
            raise ValueError(f"refine_threshold: expected a finite number, got {self.refine_threshold!r}")
        _int("refine_budget", self.refine_budget, 0)
        if self.refine_strategy not in REFINE_STRATEGIES:
            raise ValueError(
                f"refine_strategy: expected one of {REFINE_STRATEGIES}, got {self.refine_strategy!r}"
            )
        if self.refine_policy not in REFINE_POLICIES:
            raise ValueError(f"refine_policy: expected one of {REFINE_POLICIES}, got {self.refine_policy!r}")
        _int("synthesis_top_k", self.synthesis_top_k, 1)
        _int("anneal_chains", self.anneal_chains, 1)
        _int("anneal_steps", self.anneal_steps, 0)
        if not isinstance(self.domain, str) or not self.domain:
            raise ValueError(f"domain: expected a non-empty string, got {self.domain!r}")

    def tokens_for(self, extractor: str | None) -> int:
        """The ``max_tokens`` of a question whose answer format is ``extractor``'s."""
        if self.max_tokens is not None:
            return self.max_tokens
        return ANSWER_FIRST_TOKENS if extractor in ("option", "yesno") else WORKED_TOKENS

    @property
    def temperatures(self) -> list[float]:
        """The schedule as a list (one T is a schedule of one)."""
        return list(self.temperature)  # type: ignore[arg-type]

    def with_settings(self, **settings: Any) -> ConsensusConfig:
        """A copy with ``settings`` changed; TypeError names an unknown setting."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(
                f"unknown consensus setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return replace(self, **settings)
