"""The ``llm_metadata`` trace: every route decision and every call, exportable as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Union

__all__ = ["CallRecord", "LLMMetadata", "RouteRecord"]

PathArg = Union[str, "os.PathLike[str]"]


@dataclass
class CallRecord:
    """One call to one endpoint: what it cost and how it went (``error`` is the scrubbed message)."""

    endpoint: str
    model: str
    provider: str
    ok: bool
    latency_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    error: str | None = None
    error_type: str | None = None


@dataclass
class RouteRecord:
    """One routing decision: the endpoint chosen, why, the order of fallbacks, and who answered."""

    chosen: str
    reason: str
    strategy: str
    domain: str
    ranking: list[str]
    probabilities: dict[str, float] | None = None
    answered_by: str | None = None
    calls: list[CallRecord] = field(default_factory=list)


@dataclass
class LLMMetadata:
    """The trace of a router's work: route decisions, each with its calls."""

    routes: list[RouteRecord] = field(default_factory=list)

    @property
    def calls(self) -> list[CallRecord]:
        """Every call, in order."""
        return [c for r in self.routes for c in r.calls]

    @property
    def models(self) -> list[str]:
        """The models called, sorted."""
        return sorted({c.model for c in self.calls})

    def calls_per_model(self) -> dict[str, int]:
        """How many calls each model received (failed ones included)."""
        out: dict[str, int] = {}
        for c in self.calls:
            out[c.model] = out.get(c.model, 0) + 1
        return out

    def tokens_per_model(self) -> dict[str, dict[str, int]]:
        """Prompt and completion tokens per model."""
        out: dict[str, dict[str, int]] = {}
        for c in self.calls:
            t = out.setdefault(c.model, {"prompt_tokens": 0, "completion_tokens": 0})
            t["prompt_tokens"] += c.prompt_tokens
            t["completion_tokens"] += c.completion_tokens
        return out

    @property
    def total_cost_usd(self) -> float:
        """The known costs added up (calls of unpriced models count 0)."""
        return sum(c.cost_usd or 0.0 for c in self.calls)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary and detail."""
        return {
            "models": self.models,
            "calls_per_model": self.calls_per_model(),
            "tokens_per_model": self.tokens_per_model(),
            "total_cost_usd": self.total_cost_usd,
            "routes": [asdict(r) for r in self.routes],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: PathArg) -> None:
        """Writes :meth:`to_json` to ``path``."""
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")
