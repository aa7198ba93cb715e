"""The router: rules from TOML/JSON configs, forced and default endpoints, Thompson sampling converging on
a simulated bandit, Boltzmann energy choice, persisted state, health checks, fallback and the trace."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from thermoconsensus.clients import LLMClient, LLMResponse, OpenAICompatibleClient, RetryPolicy
from thermoconsensus.clients.types import ChatRequest
from thermoconsensus.routing import (
    AllEndpointsFailedError,
    BetaPosterior,
    Endpoint,
    EnergyWeights,
    QualityModel,
    Router,
    boltzmann,
    load_router,
)


class Canned(LLMClient):
    """A client that answers its own name without any network (a test double for an endpoint)."""

    provider = "canned"

    async def _attempt(self, request: ChatRequest) -> LLMResponse:
        return LLMResponse(f"answer from {self.model}", self.model, self.provider, 3, 2)


def reply(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "choices": [{"message": {"content": f"hi from {model}"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 3},
    }


TOML = """
default = "general"
strategy = "rules"

[[endpoints]]
name = "math"
model = "openai-compatible:math-model@http://math.invalid/v1"
keywords = ["integral", "derivative", "solve"]
patterns = ['\\d+\\s*[-+*/^]\\s*\\d+']
domain = "math"
context_length = 4096

[[endpoints]]
name = "general"
model = "openai-compatible:general-model@http://general.invalid/v1"
"""


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_rules_from_toml_route_math_to_the_specialist(tmp_path: Path) -> None:
    cfg = tmp_path / "router.toml"
    cfg.write_text(TOML)
    router = load_router(cfg)
    d = router.route("Solve the integral of x^2 dx")
    assert d.endpoint == "math" and d.domain == "math" and d.ranking == ["math", "general"]
    assert "'integral'" in d.reason and "'solve'" in d.reason
    assert router.route("What is 12 * 7?").endpoint == "math"
    d = router.route("Write a haiku about autumn")
    assert d.endpoint == "general" and d.reason.startswith("default") and d.domain == "general"
    # Whole words only: "resolve" is not "solve".
    assert router.route("resolve this conflict").endpoint == "general"
    d = router.route("Solve x + 1 = 2", force="general")
    assert d.endpoint == "general" and d.reason == "forced" and d.ranking == ["general", "math"]
    with pytest.raises(ValueError, match="not an endpoint"):
        router.route("x", force="nope")


def test_json_config_and_config_errors(tmp_path: Path) -> None:
    good = {
        "endpoints": [{"name": "a", "model": "openai-compatible:m@http://a.invalid/v1", "keywords": ["x"]}]
    }
    (tmp_path / "r.json").write_text(json.dumps(good))
    assert load_router(tmp_path / "r.json").default == "a"
    cases = [
        ({"endpoints": []}, "non-empty list"),
        ({**good, "colour": 1}, "unknown keys"),
        ({"endpoints": [{"name": "a"}]}, "needs a string 'model'"),
        (
            {"endpoints": [{"name": "a", "model": "openai-compatible:m@http://a/v1", "patterns": ["("]}]},
            "bad regex",
        ),
        ({**good, "default": "zzz"}, "default"),
        ({**good, "strategy": "vibes"}, "strategy"),
        ({"endpoints": good["endpoints"] * 2}, "duplicate"),
        (
            {
                "endpoints": [
                    {"name": "a", "model": "openai-compatible:m@http://a/v1", "api_key_env": "NOPE_XYZ"}
                ]
            },
            "NOPE_XYZ",
        ),
    ]
    for config, message in cases:
        (tmp_path / "bad.json").write_text(json.dumps(config))
        with pytest.raises(ValueError, match=message):
            load_router(tmp_path / "bad.json")
    (tmp_path / "broken.toml").write_text("endpoints = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_router(tmp_path / "broken.toml")
    with pytest.raises(FileNotFoundError):
        load_router(tmp_path / "missing.toml")


def test_thompson_sampling_converges_on_a_simulated_bandit(tmp_path: Path) -> None:
    truth = {"weak": 0.3, "fair": 0.55, "strong": 0.8}
    state = tmp_path / "state.json"
    router = Router([Endpoint(n, Canned(n)) for n in truth], strategy="thompson", state_path=state, seed=7)
    world = random.Random(11)
    picks = []
    for _ in range(600):
        d = router.route("a question")
        picks.append(d.endpoint)
        assert d.probabilities is not None and set(d.ranking) == set(truth)
        router.feedback(d.endpoint, world.random() < truth[d.endpoint], domain=d.domain)
    late = picks[-200:]
    assert late.count("strong") / len(late) > 0.85
    post = router.quality.get("strong", "general")
    assert abs(post.mean - 0.8) < 0.06 and post.std < 0.03
    # The state persisted and reloads into a new router.
    again = Router([Endpoint(n, Canned(n)) for n in truth], strategy="thompson", state_path=state)
    assert again.quality.get("strong", "general") == post
    with pytest.raises(ValueError, match="reward"):
        router.feedback("strong", 1.5)


def test_energy_strategy_trades_cost_quality_and_context() -> None:
    cheap = Endpoint("cheap", Canned("cheap"), cost_per_million=0.1, context_length=100_000)
    premium = Endpoint("premium", Canned("premium"), cost_per_million=10.0, context_length=100_000)
    tiny = Endpoint("tiny", Canned("tiny"), cost_per_million=0.0, context_length=64)
    router = Router([cheap, premium, tiny], strategy="energy", temperature=0.0, seed=1)
    # Equal (unknown) quality: the cheapest endpoint the prompt fits; 'tiny' cannot hold 256 tokens.
    d = router.route("hello there", max_tokens=256)
    assert (
        d.endpoint == "cheap"
        and "tiny" not in d.ranking
        and d.probabilities == {"cheap": 1.0, "premium": 0.0}
    )
    for _ in range(40):
        router.feedback("premium", True)
        router.feedback("cheap", False)
    assert router.route("hello there", max_tokens=256).endpoint == "premium"
    # At a high temperature the Boltzmann choice spreads out.
    hot = Router([cheap, premium], strategy="energy", temperature=100.0, seed=3)
    counts = {"cheap": 0, "premium": 0}
    for _ in range(400):
        counts[hot.route("x").endpoint] += 1
    assert min(counts.values()) > 150


def test_boltzmann_and_posteriors_directly() -> None:
    rng = random.Random(0)
    name, probs = boltzmann({"a": 0.0, "b": 1.0}, 1.0, rng)
    assert name in probs and sum(probs.values()) == pytest.approx(1.0)
    assert probs["a"] == pytest.approx(1 / (1 + 2.718281828459045**-1))
    draws = [boltzmann({"a": 0.0, "b": 1.0}, 1.0, rng)[0] for _ in range(4000)]
    assert draws.count("a") / 4000 == pytest.approx(probs["a"], abs=0.03)
    with pytest.raises(ValueError, match="temperature"):
        boltzmann({"a": 0.0}, -1, rng)
    p = BetaPosterior()
    p.update(True)
    p.update(0.5)
    assert (p.alpha, p.beta) == (2.5, 1.5) and p.mean == pytest.approx(2.5 / 4)
    with pytest.raises(ValueError, match="energy weight"):
        EnergyWeights(cost=float("nan"))
    with pytest.raises(ValueError, match="version"):
        QualityModel.from_dict({"version": 9})


def test_fallback_to_the_next_endpoint_and_the_trace(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "math.invalid":
            return httpx.Response(503, text="down for maintenance")
        return httpx.Response(200, json=reply("general-model"))

    cfg = tmp_path / "router.toml"
    cfg.write_text(TOML)

    async def go() -> None:
        router = load_router(cfg, transport=httpx.MockTransport(handler), retry=RetryPolicy(max_retries=0))
        async with router:
            r = await router.chat("Solve 2 + 2", max_tokens=5)
            assert r.text == "hi from general-model"
            record = router.metadata.routes[-1]
            assert record.chosen == "math" and record.answered_by == "general"
            assert [c.ok for c in record.calls] == [False, True]
            assert record.calls[0].error_type == "ProviderError" and "503" in (record.calls[0].error or "")
            # The failed endpoint is skipped while marked down.
            assert not router.is_up("math")
            d = router.route("Solve 3 + 3")
            assert d.endpoint == "general" and "down" in d.reason
            await router.chat("hello", max_tokens=5)
        meta = json.loads(router.metadata.to_json())
        assert meta["calls_per_model"] == {"math-model": 1, "general-model": 2}
        assert meta["tokens_per_model"]["general-model"] == {"prompt_tokens": 8, "completion_tokens": 6}
        assert [r["answered_by"] for r in meta["routes"]] == ["general", "general"]
        assert all(c["latency_s"] >= 0 for r in meta["routes"] for c in r["calls"])
        router.metadata.save(tmp_path / "trace.json")
        assert json.loads((tmp_path / "trace.json").read_text())["models"] == ["general-model", "math-model"]

    run(go())


def test_all_endpoints_failing_raises_with_every_error() -> None:
    async def go() -> None:
        transport = httpx.MockTransport(lambda r: httpx.Response(500, text="boom"))
        eps = [
            Endpoint(
                n,
                OpenAICompatibleClient(
                    n,
                    base_url=f"http://{n}.invalid/v1",
                    transport=transport,
                    retry=RetryPolicy(max_retries=0),
                ),
            )
            for n in ("a", "b")
        ]
        async with Router(eps) as router:
            with pytest.raises(AllEndpointsFailedError) as info:
                await router.chat("x")
        assert [n for n, _ in info.value.errors] == ["a", "b"] and "boom" in str(info.value)

    run(go())


def test_health_checks_mark_endpoints_down_and_up() -> None:
    up = {"b": True}

    def handler(request: httpx.Request) -> httpx.Response:
        ok = request.url.host == "b.invalid" and up["b"]
        return httpx.Response(200 if ok else 500, json={"data": []})

    async def go() -> None:
        transport = httpx.MockTransport(handler)
        eps = [
            Endpoint(n, OpenAICompatibleClient(n, base_url=f"http://{n}.invalid/v1", transport=transport))
            for n in ("a", "b")
        ]
        async with Router(eps, default="a") as router:
            assert await router.check_health() == {"a": False, "b": True}
            d = router.route("x")
            assert d.endpoint == "b" and d.ranking == ["b"]
            up["b"] = False
            await router.check_health()
            # With everything down the router still tries every endpoint rather than refusing.
            assert router.route("x").ranking == ["a", "b"]

    run(go())
