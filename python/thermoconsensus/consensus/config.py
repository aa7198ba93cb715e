"""The settings of a consensus, validated once: :class:`ConsensusConfig`.

:class:`~thermoconsensus.consensus.Orchestrator` takes one (or its fields as keywords); every value is
checked here, when the config is built, so a bad setting fails before any model is asked.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from .._arrays import check_int, check_real
from .hamiltonian import check_coefficient
from .solve import Schedule, temperature_schedule

__all__ = ["ANSWER_FIRST_TOKENS", "REFINE_POLICIES", "REFINE_STRATEGIES", "WORKED_TOKENS", "ConsensusConfig"]

REFINE_STRATEGIES = ("debate", "samples")
# Default answer lengths: worked arithmetic needs room (GSM8K solutions run to 300 tokens); an answer
# the instruction asks for first needs only the answer and a short reason.
WORKED_TOKENS = 512
ANSWER_FIRST_TOKENS = 160
REFINE_POLICIES = ("threshold", "expected-free-energy")


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
        check_int("samples_per_model", self.samples_per_model, 1)
        if self.max_tokens is not None:
            check_int("max_tokens", self.max_tokens, 1)
        if self.quorum is not None:
            check_int("quorum", self.quorum, 1)
        check_real("timeout", self.timeout, above=0)
        if self.grace is not None:
            check_real("grace", self.grace, above=0)
        check_int("seed", self.seed, 0)
        check_real("sampling_temperature", self.sampling_temperature, at_least=0)
        object.__setattr__(self, "temperature", temperature_schedule(self.temperature))
        for name in ("J", "alpha", "beta", "invalid_penalty"):
            check_coefficient(name, getattr(self, name))
        check_real("lam", self.lam, at_least=0, at_most=1)
        check_real("agreement_radius", self.agreement_radius, above=0)
        if self.refine_threshold is not None:
            check_real("refine_threshold", self.refine_threshold)
        check_int("refine_budget", self.refine_budget, 0)
        if self.refine_strategy not in REFINE_STRATEGIES:
            raise ValueError(
                f"refine_strategy: expected one of {REFINE_STRATEGIES}, got {self.refine_strategy!r}"
            )
        if self.refine_policy not in REFINE_POLICIES:
            raise ValueError(f"refine_policy: expected one of {REFINE_POLICIES}, got {self.refine_policy!r}")
        check_int("synthesis_top_k", self.synthesis_top_k, 1)
        check_int("anneal_chains", self.anneal_chains, 1)
        check_int("anneal_steps", self.anneal_steps, 0)
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
