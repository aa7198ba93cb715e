"""The typed values of the consensus pipeline: one :class:`Response` per model answer, a
:class:`Round` per solve (responses, vectors, distances, fields, solution, selection), the
:class:`Refinement` record, and the :class:`Consensus` that comes out (answer, weights,
thermodynamics, distances, costs, trace)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .solve import Selection, Solution
from .validity import Validity

__all__ = ["Consensus", "Refinement", "Response", "Round"]


@dataclass
class Response:
    """One model's answer: which model (``model`` is the client's name), which sample and debate round,
    the text, why it stopped (``finish_reason``: "stop", "length", ...), its extracted answer, whether
    it may carry weight (``validity``) and its self-confidence: ``mean_logprob`` (mean token log
    probability), ``answer_logprob`` (log probability of the answer's own tokens) and ``confidence``,
    the calibrated score the field uses (None when the provider gives no log probabilities).
    ``token_logprobs`` are the generated tokens with their log probabilities (not serialised)."""

    model: str
    text: str
    sample: int = 0
    round: int = 0
    answer: str | None = None
    confidence: float | None = None
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    finish_reason: str = "stop"
    mean_logprob: float | None = None
    answer_logprob: float | None = None
    validity: Validity | None = None
    token_logprobs: tuple[tuple[str, float], ...] = field(default=(), repr=False)

    @property
    def valid(self) -> bool:
        """Whether the response may carry weight (True before it was assessed)."""
        return self.validity is None or self.validity.valid

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "model": self.model,
            "text": self.text,
            "sample": self.sample,
            "round": self.round,
            "answer": self.answer,
            "finish_reason": self.finish_reason,
            "valid": self.valid,
            "validity": None if self.validity is None else self.validity.to_dict(),
            "confidence": self.confidence,
            "mean_logprob": self.mean_logprob,
            "answer_logprob": self.answer_logprob,
            "latency_s": self.latency_s,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
        }


@dataclass
class Round:
    """One solve over the responses so far: their unit embeddings, distances, fields (h), the
    free-energy solution and the selected answer; ``extracted`` when answers were extracted, in the
    named ``answer_format`` ("number", "option", "yesno"; None for free text or a custom extractor)."""

    responses: list[Response]
    vectors: NDArray[np.float64]
    distances: NDArray[np.float64]
    fields: NDArray[np.float64]
    solution: Solution
    selection: Selection
    extracted: bool = False
    answer_format: str | None = None


@dataclass
class Refinement:
    """What refinement did: the policy and strategy, the budget and calls used, the rounds, F* after
    each solve, each step's choice (``steps``: model, action, expected and realised F*) and why it
    stopped early (None when it did not)."""

    strategy: str
    policy: str
    threshold: float | None
    budget: int
    used: int = 0
    rounds: int = 0
    free_energy: list[float] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "strategy": self.strategy,
            "policy": self.policy,
            "threshold": self.threshold,
            "budget": self.budget,
            "used": self.used,
            "rounds": self.rounds,
            "free_energy": list(self.free_energy),
            "steps": list(self.steps),
            "stopped": self.stopped,
        }


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


@dataclass
class Consensus:
    """The free-energy minimum over the responses' weights and what it says.

    ``answer`` is the selected response's text and ``extracted_answer`` its short answer (the weighted
    vote's winner when an extractor ran). Confidence is read three ways: ``free_energy`` F* (lower is
    more confident), ``effective_agreeing`` = exp(S) responses carrying the weight, and
    ``answer_weight``, the weight behind the selected answer.
    """

    prompt: str
    answer: str
    extracted_answer: str | None
    selected: int
    responses: list[Response]
    weights: NDArray[np.float64]
    free_energy: float
    energy: float
    entropy: float
    temperature: float
    answer_weight: float
    distances: NDArray[np.float64]
    votes: dict[str, float] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    refinement: Refinement | None = None
    synthesis: str | None = None
    privacy: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    h: NDArray[np.float64] | None = None

    @property
    def effective_agreeing(self) -> float:
        """exp(S): the effective number of responses that agree (carry the weight)."""
        return float(math.exp(self.entropy))

    @property
    def weights_per_model(self) -> dict[str, float]:
        """The weight of each model's responses together."""
        out: dict[str, float] = {}
        for r, w in zip(self.responses, self.weights):
            out[r.model] = out.get(r.model, 0.0) + float(w)
        return out

    @property
    def latency_per_model(self) -> dict[str, float]:
        """Seconds each model spent on its calls (sum over its samples and rounds)."""
        out: dict[str, float] = {}
        for c in self.calls:
            out[c["model"]] = out.get(c["model"], 0.0) + float(c["latency_s"])
        return out

    @property
    def cost_per_model(self) -> dict[str, float | None]:
        """USD each model cost (None when its price is unknown)."""
        out: dict[str, float | None] = {}
        for c in self.calls:
            m, cost = c["model"], c.get("cost_usd")
            prev = out.get(m, 0.0)
            out[m] = None if cost is None or prev is None else prev + float(cost)
        return out

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens over every call."""
        return sum(int(c.get("prompt_tokens", 0)) + int(c.get("completion_tokens", 0)) for c in self.calls)

    def summary(self) -> dict[str, Any]:
        """The short JSON object the CLI prints with ``--json``."""
        out: dict[str, Any] = _jsonable(
            {
                "answer": self.answer,
                "extracted_answer": self.extracted_answer,
                "weights": self.weights_per_model,
                "free_energy": self.free_energy,
                "entropy": self.entropy,
                "effective_agreeing": self.effective_agreeing,
                "answer_weight": self.answer_weight,
                "latency_s": self.latency_per_model,
                "synthesis": self.synthesis,
            }
        )
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready: the summary plus the responses, weights, distances, the F(T) curve,
        every call (llm_metadata-style), failures, refinement and privacy accounting."""
        d = self.summary()
        d.update(
            _jsonable(
                {
                    "prompt": self.prompt,
                    "selected": self.selected,
                    "energy": self.energy,
                    "temperature": self.temperature,
                    "votes": self.votes,
                    "responses": [
                        {**r.to_dict(), "weight": float(w)} for r, w in zip(self.responses, self.weights)
                    ],
                    "distances": self.distances,
                    "fields": self.h,
                    "curve": self.curve,
                    "trace": {
                        "calls": self.calls,
                        "failures": self.failures,
                        "cost_usd": self.cost_per_model,
                        "tokens": self.tokens,
                        "timings": self.timings,
                    },
                    "parameters": self.parameters,
                    "refinement": None if self.refinement is None else self.refinement.to_dict(),
                    "privacy": self.privacy,
                }
            )
        )
        return d

    def to_json(self, indent: int | None = None) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
