"""The router: one request -> one endpoint, with rules, learned choice, health checks and fallback."""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from typing import Any, Union

from ..clients import pricing
from ..clients.base import LLMClient
from ..clients.budget import Budget
from ..clients.errors import BudgetExceededError, ClientError
from ..clients.types import LLMResponse, Message, make_request
from .learning import Candidate, EnergyWeights, QualityModel, boltzmann, energies
from .rules import Rule, match_rules
from .trace import CallRecord, LLMMetadata, RouteRecord

__all__ = ["STRATEGIES", "AllEndpointsFailedError", "Endpoint", "RouteDecision", "Router"]

PathArg = Union[str, "os.PathLike[str]"]
STRATEGIES = ("rules", "thompson", "energy")
GENERAL = "general"


class AllEndpointsFailedError(ClientError):
    """Every endpoint in the route failed; ``errors`` holds each one's error, in the order tried."""

    retryable = False

    def __init__(self, message: str, errors: list[tuple[str, ClientError]]) -> None:
        super().__init__(message, provider="router")
        self.errors = errors


@dataclass
class Endpoint:
    """A named client the router can send to, with its routing rule and what the energy needs.

    ``keywords`` / ``patterns`` / ``domain``: the endpoint's rule (none: no rule); ``context_length``:
    tokens it accepts; ``cost_per_million``: USD per million tokens (default: the price table's entry
    for the client's model, 0 when unknown); ``latency_s``: the latency assumed before any call.
    """

    name: str
    client: LLMClient
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    domain: str | None = None
    context_length: int = 8192
    cost_per_million: float | None = None
    latency_s: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("endpoint: 'name' must be a non-empty string")
        if not isinstance(self.client, LLMClient):
            raise TypeError(
                f"endpoint {self.name!r}: client must be an LLMClient, got {type(self.client).__name__}"
            )
        if (
            isinstance(self.context_length, bool)
            or not isinstance(self.context_length, int)
            or self.context_length < 1
        ):
            raise ValueError(f"endpoint {self.name!r}: context_length must be a positive integer")
        self.keywords, self.patterns = tuple(self.keywords), tuple(self.patterns)

    def rule(self) -> Rule | None:
        """The endpoint's rule, or None when it has neither keywords nor patterns."""
        if not self.keywords and not self.patterns:
            return None
        return Rule(self.name, self.keywords, self.patterns, self.domain)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Estimated USD for a call of this size."""
        if self.cost_per_million is not None:
            return (prompt_tokens + completion_tokens) * self.cost_per_million / 1e6
        return pricing.cost(self.client.model, prompt_tokens, completion_tokens) or 0.0


@dataclass(frozen=True)
class RouteDecision:
    """Where a request goes: ``endpoint`` first, then ``ranking``'s others as fallbacks."""

    endpoint: str
    reason: str
    strategy: str
    domain: str
    ranking: list[str]
    probabilities: dict[str, float] | None = None


class Router:
    """Routes each request to one endpoint, falls back down the ranking when it fails, learns from
    feedback and keeps an ``llm_metadata`` trace.

    ``strategy``: "rules" (keyword/regex rules, else ``default``), "thompson" (Thompson sampling over
    the Beta posteriors of the request's domain) or "energy" (Boltzmann choice at ``temperature`` over
    the multi-factor energy). Rules always set the domain ("general" when none matches); a forced
    endpoint always wins. ``state_path``: where posteriors and latencies persist (loaded if present,
    saved after each feedback). ``down_for``: seconds an endpoint that failed or failed a health check
    is skipped. ``max_cost_usd`` / ``max_total_tokens`` / ``budget``: a spend limit over every call the
    router makes (each client may have its own too); an endpoint whose call could pass it is skipped for
    the next in the ranking, and when none fits the call raises BudgetExceededError before sending.
    """

    def __init__(
        self,
        endpoints: list[Endpoint],
        *,
        default: str | None = None,
        strategy: str = "rules",
        temperature: float = 0.1,
        weights: EnergyWeights | None = None,
        state_path: PathArg | None = None,
        down_for: float = 30.0,
        seed: int | None = None,
        max_cost_usd: float | None = None,
        max_total_tokens: int | None = None,
        budget: Budget | None = None,
    ) -> None:
        if not isinstance(endpoints, list) or not endpoints:
            raise ValueError("endpoints: expected a non-empty list of Endpoint")
        names = [e.name for e in endpoints]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"endpoints: duplicate names {dupes}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy: expected one of {STRATEGIES}, got {strategy!r}")
        if default is not None and default not in names:
            raise ValueError(f"default: {default!r} is not an endpoint (have {names})")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0:
            raise ValueError(f"temperature: expected a number >= 0, got {temperature!r}")
        self.endpoints = {e.name: e for e in endpoints}
        self.default = default or names[0]
        self.strategy = strategy
        self.temperature = float(temperature)
        self.weights = weights or EnergyWeights()
        self.rules = [r for r in (e.rule() for e in endpoints) if r is not None]
        self.state_path = state_path
        self.quality = (
            QualityModel.load(state_path) if state_path and os.path.exists(state_path) else QualityModel()
        )
        self.down_for = float(down_for)
        self.down_until: dict[str, float] = {}
        self.metadata = LLMMetadata()
        self._rng = random.Random(seed)
        if budget is not None and not isinstance(budget, Budget):
            raise TypeError(f"budget: expected a Budget, got {type(budget).__name__}")
        if budget is not None and (max_cost_usd is not None or max_total_tokens is not None):
            raise ValueError("give a budget or max_cost_usd/max_total_tokens, not both")
        if max_cost_usd is not None or max_total_tokens is not None:
            budget = Budget(max_cost_usd, max_total_tokens, name="router")
        self.budget = budget

    def __repr__(self) -> str:
        return f"Router({list(self.endpoints)}, strategy={self.strategy!r}, default={self.default!r})"

    # -- availability ---------------------------------------------------------------------------

    def is_up(self, name: str) -> bool:
        """False while ``name`` is marked down."""
        return time.monotonic() >= self.down_until.get(name, 0.0)

    def mark_down(self, name: str) -> None:
        """Skips ``name`` for ``down_for`` seconds."""
        self.down_until[name] = time.monotonic() + self.down_for

    async def check_health(self, timeout: float = 5.0) -> dict[str, bool]:
        """Asks every endpoint whether it is up (at once, ``timeout`` s each); marks the silent ones down."""

        async def one(e: Endpoint) -> bool:
            try:
                return await asyncio.wait_for(e.client.health(), timeout)
            except (asyncio.TimeoutError, ClientError):
                return False

        results = await asyncio.gather(*(one(e) for e in self.endpoints.values()))
        status = dict(zip(self.endpoints, results))
        for name, up in status.items():
            if up:
                self.down_until.pop(name, None)
            else:
                self.mark_down(name)
        return status

    # -- choosing -------------------------------------------------------------------------------

    def route(
        self,
        prompt: str | list[Message],
        *,
        force: str | None = None,
        domain: str | None = None,
        max_tokens: int | None = None,
    ) -> RouteDecision:
        """The endpoint for ``prompt`` and the fallback order, with the reason (no call is made)."""
        request = make_request(prompt, max_tokens=max_tokens)
        text = request.prompt_text()
        match = match_rules(self.rules, text)
        dom = domain or (match.domain if match else GENERAL)
        up = [n for n in self.endpoints if self.is_up(n)] or list(self.endpoints)
        if force is not None:
            if force not in self.endpoints:
                raise ValueError(f"force: {force!r} is not an endpoint (have {list(self.endpoints)})")
            return RouteDecision(force, "forced", "forced", dom, self._order(force, up))
        if self.strategy == "rules":
            if match is not None and match.rule.endpoint in up:
                reason = f"rule: {match.rule.endpoint} matched {', '.join(repr(h) for h in match.hits)}"
                return RouteDecision(
                    match.rule.endpoint, reason, "rules", dom, self._order(match.rule.endpoint, up)
                )
            first = self.default if self.default in up else up[0]
            why = "no rule matched" if match is None else f"{match.rule.endpoint} is down"
            return RouteDecision(first, f"default ({why})", "rules", dom, self._order(first, up))
        if self.strategy == "thompson":
            draws = self.quality.thompson(up, dom, self._rng)
            ranking = sorted(up, key=lambda n: -draws[n])
            best = ranking[0]
            reason = f"thompson sampling in domain {dom!r}: drew {draws[best]:.3f} for {best}"
            return RouteDecision(best, reason, "thompson", dom, ranking, draws)
        est_prompt = len(text) // 4 + 1
        est_completion = request.max_tokens or 256
        candidates = [
            Candidate(
                n,
                self.endpoints[n].cost(est_prompt, est_completion),
                self.quality.latency.get(n, self.endpoints[n].latency_s),
                self.quality.get(n, dom),
                (est_prompt + est_completion) / self.endpoints[n].context_length,
            )
            for n in up
        ]
        energy = energies(candidates, self.weights)
        if not energy:
            raise ValueError(f"a prompt of ~{est_prompt} tokens fits no endpoint's context")
        best, probs = boltzmann(energy, self.temperature, self._rng)
        ranking = [best, *sorted((n for n in energy if n != best), key=lambda n: energy[n])]
        reason = (
            f"energy {energy[best]:.3f} in domain {dom!r}, "
            f"Boltzmann at T = {self.temperature:g} (p = {probs[best]:.2f})"
        )
        return RouteDecision(best, reason, "energy", dom, ranking, probs)

    def _order(self, first: str, up: list[str]) -> list[str]:
        rest = [
            n for n in ([self.default] if self.default != first else []) + list(self.endpoints) if n in up
        ]
        out = [first]
        for n in rest:
            if n not in out:
                out.append(n)
        return out

    # -- calling --------------------------------------------------------------------------------

    async def chat(
        self,
        prompt: str | list[Message],
        *,
        force: str | None = None,
        domain: str | None = None,
        **options: Any,
    ) -> LLMResponse:
        """Routes ``prompt``, calls the chosen endpoint and falls back down the ranking on failure.
        Options as :meth:`LLMClient.chat`. Raises :class:`AllEndpointsFailedError` when none answers."""
        decision = self.route(prompt, force=force, domain=domain, max_tokens=options.get("max_tokens"))
        record = RouteRecord(
            decision.endpoint,
            decision.reason,
            decision.strategy,
            decision.domain,
            decision.ranking,
            decision.probabilities,
        )
        self.metadata.routes.append(record)
        errors: list[tuple[str, ClientError]] = []
        request = make_request(prompt, **options) if self.budget is not None else None
        for name in decision.ranking:
            endpoint = self.endpoints[name]
            start = time.perf_counter()
            held = None
            try:
                if self.budget is not None and request is not None:
                    tokens, usd = endpoint.client.estimate(request)
                    held = self.budget.reserve(tokens, usd, f"a call to {name}", endpoint.client.provider)
                response = await endpoint.client.chat(prompt, **options)
            except BudgetExceededError as exc:  # not the endpoint's fault: try the next, leave it up
                if held is not None and self.budget is not None:
                    self.budget.release(held)
                errors.append((name, exc))
                continue
            except ClientError as exc:
                if held is not None and self.budget is not None:
                    self.budget.release(held)
                elapsed = time.perf_counter() - start
                record.calls.append(
                    CallRecord(
                        name,
                        endpoint.client.model,
                        endpoint.client.provider,
                        False,
                        elapsed,
                        error=str(exc),
                        error_type=type(exc).__name__,
                    )
                )
                errors.append((name, exc))
                if exc.retryable or exc.status is None or exc.status >= 500 or exc.status in (401, 403):
                    self.mark_down(name)
                continue
            if held is not None and self.budget is not None:
                self.budget.settle(held, response.total_tokens, response.cost_usd)
            self.quality.observe_latency(name, response.latency_s)
            record.calls.append(
                CallRecord(
                    name,
                    response.model,
                    response.provider,
                    True,
                    response.latency_s,
                    response.prompt_tokens,
                    response.completion_tokens,
                    response.cost_usd,
                )
            )
            record.answered_by = name
            return response
        summary = "; ".join(f"{n}: {type(e).__name__}: {e}" for n, e in errors)
        if errors and all(isinstance(e, BudgetExceededError) for _, e in errors):
            raise BudgetExceededError(f"every endpoint is over budget ({summary})")
        raise AllEndpointsFailedError(f"every endpoint failed ({summary})", errors)

    def feedback(self, endpoint: str, success: bool | float, domain: str = GENERAL) -> None:
        """Records whether ``endpoint``'s answer in ``domain`` was good (True/False or a score in [0, 1])
        and persists the state when the router has a ``state_path``."""
        if endpoint not in self.endpoints:
            raise ValueError(f"feedback: {endpoint!r} is not an endpoint (have {list(self.endpoints)})")
        self.quality.update(endpoint, domain, success)
        if self.state_path is not None:
            self.quality.save(self.state_path)

    async def aclose(self) -> None:
        """Closes every endpoint's client."""
        for e in self.endpoints.values():
            await e.client.aclose()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
