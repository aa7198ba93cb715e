"""The cloud clients against their wire formats through httpx.MockTransport: headers, payloads, parsing
(streams included), error mapping, retry timing on a fake clock, limits, the breaker, the cache, and
keys that never leak."""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import pickle
import random
import traceback
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from thermoconsensus import Error
from thermoconsensus.clients import (
    AnthropicClient,
    AuthError,
    BadRequestError,
    CircuitOpenError,
    ConnectionError,
    GeminiClient,
    LlamaCppClient,
    OpenAIClient,
    OpenAICompatibleClient,
    ProviderError,
    RateLimitError,
    ResponseCache,
    ResponseFormatError,
    RetryPolicy,
    Secret,
    TimeoutError,
    XAIClient,
    create_client,
    register_price,
)
from thermoconsensus.clients.reliability import CircuitBreaker, RateLimiter, parse_retry_after

KEY = "sk-test-5ecret-key-0123456789abcdef"


class FakeClock:
    """Time that moves only when someone sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


Handler = Callable[[httpx.Request], httpx.Response]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


def sse(*events: str) -> bytes:
    return "".join(events).encode()


def ev(name: str, data: dict[str, Any]) -> str:
    """One named SSE event with a JSON payload."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def text_delta(text: str) -> str:
    return ev(
        "content_block_delta", {"type": "content_block_delta", "delta": {"type": "text_delta", "text": text}}
    )


OPENAI_REPLY = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Paris",
                "tool_calls": [{"id": "t1", "type": "function"}],
            },
            "finish_reason": "stop",
            "logprobs": {
                "content": [
                    {
                        "token": "Paris",
                        "logprob": -0.01,
                        "top_logprobs": [{"token": "Paris", "logprob": -0.01}],
                    }
                ]
            },
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 1},
}


def test_openai_headers_payload_and_parsing() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OPENAI_REPLY)

    async def go() -> None:
        tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
        async with OpenAIClient("gpt-4o-mini", api_key=KEY, transport=httpx.MockTransport(handler)) as c:
            r = await c.chat(
                [{"role": "system", "content": "terse"}, {"role": "user", "content": "Capital of France?"}],
                max_tokens=5,
                temperature=0,
                stop="\n",
                seed=3,
                logprobs=1,
                tools=tools,
            )
        req = seen[0]
        assert str(req.url) == "https://api.openai.com/v1/chat/completions"
        assert req.headers["authorization"] == f"Bearer {KEY}"
        body = json.loads(req.content)
        assert body["model"] == "gpt-4o-mini" and body["messages"][0]["role"] == "system"
        assert body["max_tokens"] == 5 and body["temperature"] == 0 and body["stop"] == ["\n"]
        assert body["seed"] == 3 and body["logprobs"] is True and body["top_logprobs"] == 1
        assert body["tools"] == tools and "stream" not in body
        assert r.text == "Paris" and r.finish_reason == "stop" and r.provider == "openai"
        assert (r.prompt_tokens, r.completion_tokens, r.total_tokens) == (12, 1, 13)
        assert r.logprobs is not None and r.logprobs[0].token == "Paris" and r.logprobs[0].top[0][1] == -0.01
        assert r.tool_calls == [{"id": "t1", "type": "function"}]
        # Dated snapshot names inherit the family's price: 12 * 0.15 + 1 * 0.60 per million.
        assert r.cost_usd == pytest.approx((12 * 0.15 + 1 * 0.60) / 1e6)
        assert r.raw == OPENAI_REPLY and r.latency_s > 0

    run(go())


def test_openai_stream_parsing_with_usage() -> None:
    def chunk(content: str | None, finish: str | None = None) -> str:
        delta = {} if content is None else {"content": content}
        return (
            "data: "
            + json.dumps({"model": "grok-3-mini", "choices": [{"delta": delta, "finish_reason": finish}]})
            + "\n\n"
        )

    body = sse(
        ": keep-alive comment\n\n",
        chunk("Hel"),
        chunk("lo"),
        chunk(None, "length"),
        'data: {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}}\n\n',
        "data: [DONE]\n\n",
    )

    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async def go() -> None:
        async with XAIClient("grok-3-mini", api_key=KEY, transport=httpx.MockTransport(handler)) as c:
            assert c.base_url == "https://api.x.ai/v1"
            async with c.stream("hi") as s:
                pieces = [p async for p in s]
        assert pieces == ["Hel", "lo"]
        assert s.response is not None and s.response.text == "Hello"
        assert s.response.finish_reason == "length" and s.response.completion_tokens == 2
        assert s.response.cost_usd == pytest.approx((4 * 0.30 + 2 * 0.50) / 1e6), s.response

    run(go())


def test_anthropic_wire_format_and_stream() -> None:
    seen: list[httpx.Request] = []
    reply = {
        "model": "claude-3-5-haiku-20241022",
        "content": [
            {"type": "text", "text": "Bonjour"},
            {"type": "tool_use", "id": "x", "name": "f", "input": {}},
        ],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 9, "output_tokens": 3},
    }
    stream = sse(
        ev(
            "message_start",
            {"type": "message_start", "message": {"model": "claude-3-5-haiku", "usage": {"input_tokens": 7}}},
        ),
        ev("ping", {"type": "ping"}),
        text_delta("Bon"),
        text_delta("jour"),
        ev(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        ),
        ev("message_stop", {"type": "message_stop"}),
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, content=stream)
        return httpx.Response(200, json=reply)

    async def go() -> None:
        async with AnthropicClient(
            "claude-3-5-haiku-latest", api_key=KEY, transport=httpx.MockTransport(handler)
        ) as c:
            r = await c.chat(
                [{"role": "system", "content": "Be French."}, {"role": "user", "content": "Hello"}],
                stop=["END"],
            )
            s = await c.stream("Hello").collect()
        req = seen[0]
        assert str(req.url) == "https://api.anthropic.com/v1/messages"
        assert req.headers["x-api-key"] == KEY and req.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in req.headers
        body = json.loads(req.content)
        assert body["system"] == "Be French." and body["messages"] == [{"role": "user", "content": "Hello"}]
        assert body["max_tokens"] == 1024 and body["stop_sequences"] == ["END"]
        assert r.text == "Bonjour" and r.finish_reason == "length" and r.tool_calls[0]["id"] == "x"
        assert (r.prompt_tokens, r.completion_tokens) == (9, 3)
        assert r.cost_usd == pytest.approx((9 * 0.8 + 3 * 4.0) / 1e6)
        assert (
            s.text == "Bonjour"
            and s.finish_reason == "stop"
            and (s.prompt_tokens, s.completion_tokens) == (7, 2)
        )

    run(go())


def test_anthropic_error_event_mid_stream_is_a_provider_error() -> None:
    stream = sse(
        text_delta("Hi"),
        ev("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )

    async def go() -> None:
        transport = httpx.MockTransport(lambda r: httpx.Response(200, content=stream))
        async with AnthropicClient("claude-3-5-haiku", api_key=KEY, transport=transport) as c:
            with pytest.raises(ProviderError, match="overloaded_error"):
                await c.stream("x").collect()

    run(go())


def test_gemini_key_in_header_not_url_and_logprobs() -> None:
    seen: list[httpx.Request] = []
    reply = {
        "candidates": [
            {
                "content": {"parts": [{"text": "4"}]},
                "finishReason": "MAX_TOKENS",
                "logprobsResult": {
                    "chosenCandidates": [{"token": "4", "logProbability": -0.1}],
                    "topCandidates": [
                        {
                            "candidates": [
                                {"token": "4", "logProbability": -0.1},
                                {"token": "5", "logProbability": -3.0},
                            ]
                        }
                    ],
                },
            }
        ],
        "usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 1},
        "modelVersion": "gemini-2.0-flash-001",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=reply)

    async def go() -> None:
        async with GeminiClient("gemini-2.0-flash", api_key=KEY, transport=httpx.MockTransport(handler)) as c:
            r = await c.chat(
                [
                    {"role": "system", "content": "math"},
                    {"role": "user", "content": "2+2"},
                    {"role": "assistant", "content": "?"},
                ],
                max_tokens=3,
                temperature=0.5,
                logprobs=2,
            )
        req = seen[0]
        assert (
            str(req.url)
            == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
        )
        assert KEY not in str(req.url) and req.headers["x-goog-api-key"] == KEY
        body = json.loads(req.content)
        assert body["systemInstruction"] == {"parts": [{"text": "math"}]}
        assert [c["role"] for c in body["contents"]] == ["user", "model"]
        assert body["generationConfig"] == {
            "maxOutputTokens": 3,
            "temperature": 0.5,
            "responseLogprobs": True,
            "logprobs": 2,
        }
        assert (
            r.text == "4" and r.finish_reason == "length" and (r.prompt_tokens, r.completion_tokens) == (6, 1)
        )
        assert r.logprobs is not None and r.logprobs[0].top[1] == ("5", -3.0)
        assert r.cost_usd == pytest.approx((6 * 0.10 + 1 * 0.40) / 1e6)

    run(go())


@pytest.mark.parametrize(
    "probs",
    [
        {
            "completion_probabilities": [
                {"token": " Paris", "logprob": -0.2, "top_logprobs": [{"token": " Paris", "logprob": -0.2}]}
            ]
        },
        {"completion_probabilities": [{"content": " Paris", "probs": [{"tok_str": " Paris", "prob": 0.8}]}]},
    ],
)
def test_llamacpp_native_completion_both_probability_formats(probs: dict[str, Any]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert request.url.path == "/completion" and body["prompt"] == "The capital of France is"
        assert body["n_predict"] == 1 and body["n_probs"] == 1
        return httpx.Response(
            200,
            json={
                "content": " Paris",
                "tokens_evaluated": 5,
                "tokens_predicted": 1,
                "stop_type": "limit",
                **probs,
            },
        )

    async def go() -> None:
        async with LlamaCppClient(base_url="http://127.0.0.1:1", transport=httpx.MockTransport(handler)) as c:
            r = await c.complete("The capital of France is", max_tokens=1, logprobs=1)
        assert r.text == " Paris" and r.finish_reason == "length" and r.completion_tokens == 1
        assert r.logprobs is not None and r.logprobs[0].token == " Paris"
        assert r.logprobs[0].logprob == pytest.approx(
            -0.2 if "logprob" in probs["completion_probabilities"][0] else -0.2231, abs=1e-3
        )

    run(go())


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthError),
        (403, AuthError),
        (404, BadRequestError),
        (408, TimeoutError),
        (429, RateLimitError),
        (500, ProviderError),
        (503, ProviderError),
    ],
)
def test_status_codes_map_to_typed_errors(status: int, error: type[Exception]) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json={"error": {"message": f"bad thing for key {KEY}"}})

    async def go() -> None:
        c = OpenAIClient(
            "gpt-4o", api_key=KEY, transport=httpx.MockTransport(handler), retry=RetryPolicy(max_retries=0)
        )
        try:
            with pytest.raises(error) as info:
                await c.chat("hi")
        finally:
            await c.aclose()
        assert isinstance(info.value, Error) and info.value.status == status
        assert KEY not in str(info.value) and "bad thing" in str(info.value)

    run(go())
    assert len(calls) == 1


def test_retry_backoff_with_jitter_honours_retry_after_on_a_fake_clock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    replies = [
        httpx.Response(429, headers={"retry-after": "7"}, json={"error": {"message": "slow down"}}),
        httpx.Response(503, text="overloaded"),
        httpx.Response(500, text="oops"),
        httpx.Response(200, json=OPENAI_REPLY),
    ]
    clock = FakeClock()

    async def go() -> None:
        policy = RetryPolicy(max_retries=3, base_delay=1.0, multiplier=2.0, jitter=0.5)
        transport = httpx.MockTransport(lambda r: replies.pop(0))
        async with OpenAIClient(
            "gpt-4o-mini", api_key=KEY, transport=transport, retry=policy, clock=clock, seed=1
        ) as c:
            with caplog.at_level(logging.WARNING, logger="thermoconsensus.clients"):
                r = await c.chat("hi")
        assert r.text == "Paris" and r.attempts == 4

    run(go())
    # Retry-After (7 s) beats the backoff of 0.5-1 s; then 1-2 s and 2-4 s with equal jitter.
    assert clock.sleeps[0] == 7.0
    assert 1.0 <= clock.sleeps[1] <= 2.0 and 2.0 <= clock.sleeps[2] <= 4.0
    assert len(set(clock.sleeps)) == 3
    assert "retry 1" in caplog.text and KEY not in caplog.text


def test_retries_give_up_and_non_retryable_errors_are_not_retried() -> None:
    clock = FakeClock()
    count = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        count["n"] += 1
        return httpx.Response(500 if count["n"] < 100 else 200, text="down")

    async def go() -> None:
        c = OpenAIClient(
            "gpt-4o",
            api_key=KEY,
            transport=httpx.MockTransport(handler),
            clock=clock,
            retry=RetryPolicy(max_retries=2),
        )
        try:
            with pytest.raises(ProviderError):
                await c.chat("hi")
            assert count["n"] == 3 and len(clock.sleeps) == 2
            # A Retry-After beyond max_retry_after is not waited for.
            policy = RetryPolicy(max_retries=5, max_retry_after=10)
            err = RateLimitError("x", retry_after=3600)
            assert policy.delay(0, err, random.Random(0)) is None
            assert policy.delay(0, BadRequestError("x"), random.Random(0)) is None
        finally:
            await c.aclose()

    run(go())


def test_retry_after_parsing() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == pytest.approx(10.0)


def test_malformed_json_and_streams_raise_format_errors() -> None:
    async def go() -> None:
        bad = httpx.MockTransport(lambda r: httpx.Response(200, text="{not json"))
        async with OpenAICompatibleClient("m", base_url="http://127.0.0.1:1/v1", transport=bad) as c:
            with pytest.raises(ResponseFormatError, match="not JSON"):
                await c.chat("hi")
        shape = httpx.MockTransport(lambda r: httpx.Response(200, json={"choices": []}))
        async with OpenAICompatibleClient("m", base_url="http://127.0.0.1:1/v1", transport=shape) as c:
            with pytest.raises(ResponseFormatError, match="unexpected chat completion"):
                await c.chat("hi")
        broken = httpx.MockTransport(lambda r: httpx.Response(200, content=b"data: {oops\n\n"))
        async with OpenAICompatibleClient("m", base_url="http://127.0.0.1:1/v1", transport=broken) as c:
            with pytest.raises(ResponseFormatError, match="malformed stream event"):
                await c.stream("hi").collect()
        cut = httpx.MockTransport(
            lambda r: httpx.Response(200, content=b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n')
        )
        async with OpenAICompatibleClient("m", base_url="http://127.0.0.1:1/v1", transport=cut) as c:
            with pytest.raises(ConnectionError, match="ended before"):
                await c.stream("hi").collect()

    run(go())


def test_transport_failures_are_typed_and_retried() -> None:
    clock = FakeClock()
    attempts = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise httpx.ConnectError("refused", request=request)
        if attempts["n"] == 2:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json=OPENAI_REPLY)

    async def go() -> None:
        async with OpenAIClient(
            "gpt-4o", api_key=KEY, transport=httpx.MockTransport(handler), clock=clock
        ) as c:
            assert (await c.chat("hi")).attempts == 3
        always = httpx.MockTransport(lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)))
        async with OpenAIClient(
            "gpt-4o", api_key=KEY, transport=always, clock=clock, retry=RetryPolicy(max_retries=1)
        ) as c:
            with pytest.raises(TimeoutError) as info:
                await c.chat("hi")
        assert isinstance(info.value, builtins.TimeoutError)

    run(go())


def test_circuit_breaker_opens_after_repeated_failures_and_recovers() -> None:
    clock = FakeClock()
    healthy = {"ok": False}

    def handler(request: httpx.Request) -> httpx.Response:
        return (
            httpx.Response(200, json=OPENAI_REPLY)
            if healthy["ok"]
            else httpx.Response(502, text="bad gateway")
        )

    async def go() -> None:
        c = OpenAIClient(
            "gpt-4o",
            api_key=KEY,
            transport=httpx.MockTransport(handler),
            clock=clock,
            retry=RetryPolicy(max_retries=0),
            failure_threshold=3,
            cooldown=30.0,
        )
        try:
            for _ in range(3):
                with pytest.raises(ProviderError):
                    await c.chat("hi")
            assert c.breaker.state == "open"
            with pytest.raises(CircuitOpenError, match="cooling down"):
                await c.chat("hi")
            clock.now += 31
            assert c.breaker.state == "half-open"
            healthy["ok"] = True
            assert (await c.chat("hi")).text == "Paris"
            assert c.breaker.state == "closed"
        finally:
            await c.aclose()

    run(go())


def test_token_buckets_wait_on_the_fake_clock() -> None:
    clock = FakeClock()

    async def go() -> None:
        limiter = RateLimiter(requests_per_minute=60, tokens_per_minute=600, clock=clock)
        waits = [await limiter.acquire(100) for _ in range(8)]
        # 600 tokens: six requests of 100 pass at once, then each waits 10 s for 100 tokens to refill.
        assert waits[:6] == [0.0] * 6
        assert waits[6] == pytest.approx(10.0) and waits[7] == pytest.approx(10.0)
        limiter.adjust(-100)  # the last call used fewer tokens than estimated: they come back
        assert await limiter.acquire(100) == 0.0
        with pytest.raises(ValueError, match="requests_per_minute"):
            RateLimiter(requests_per_minute=-1)

    run(go())


def test_concurrency_cap_bounds_calls_in_flight() -> None:
    state = {"now": 0, "peak": 0}

    async def go() -> None:
        async def handler(request: httpx.Request) -> httpx.Response:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            await asyncio.sleep(0.01)
            state["now"] -= 1
            return httpx.Response(200, json=OPENAI_REPLY)

        async with OpenAIClient(
            "gpt-4o", api_key=KEY, transport=httpx.MockTransport(handler), max_concurrency=3
        ) as c:
            await asyncio.gather(*(c.chat(f"q{i}") for i in range(12)))

    run(go())
    assert state["peak"] == 3


def test_cache_hits_expire_and_survive_concurrent_writers(tmp_path: Any) -> None:
    count = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        count["n"] += 1
        return httpx.Response(200, json=OPENAI_REPLY)

    path = tmp_path / "cache.sqlite"

    async def go() -> None:
        async with OpenAIClient(
            "gpt-4o", api_key=KEY, transport=httpx.MockTransport(handler), cache=path
        ) as c:
            first = await c.chat("same", temperature=0)
            again = await c.chat("same", temperature=0)
            other = await c.chat("same", temperature=1)
            assert not first.cached and again.cached and not other.cached
            assert again.text == first.text and again.logprobs == first.logprobs
            assert count["n"] == 2
            # 40 concurrent writers of different requests: all land, none is lost.
            await asyncio.gather(*(c.chat(f"prompt {i}") for i in range(40)))
        assert len(ResponseCache(path)) == 42
        assert KEY not in path.read_bytes().decode("latin-1")

    run(go())
    expiring = ResponseCache(tmp_path / "ttl.sqlite", ttl=1e-6)
    from thermoconsensus.clients.types import LLMResponse, make_request

    key = ResponseCache.key("x", "m", make_request("hi"))
    expiring.put_sync(key, LLMResponse("t", "m", "p"))
    assert expiring.get_sync(key) is None
    with pytest.raises(ValueError, match="ttl"):
        ResponseCache(tmp_path / "c", ttl=0)


def test_keys_never_leak(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)

    def handler(request: httpx.Request) -> httpx.Response:
        # A provider that echoes part of the rejected key, as some do.
        return httpx.Response(
            401, json={"error": {"message": f"Incorrect API key provided: {KEY[:14]}...{KEY[-6:]}"}}
        )

    async def go() -> None:
        c = AnthropicClient("claude-3-5-haiku", transport=httpx.MockTransport(handler))
        try:
            with caplog.at_level(logging.DEBUG):
                with pytest.raises(AuthError) as info:
                    await c.chat("hi")
        finally:
            await c.aclose()
        exc = info.value
        texts = [
            str(exc),
            repr(exc),
            "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            repr(c),
            caplog.text,
        ]
        for text in texts:
            assert KEY not in text and KEY[:14] not in text
        assert "Incorrect API key" in str(exc)

    run(go())
    s = Secret(KEY)
    assert KEY not in repr(s) and KEY not in str(s) and KEY not in f"{s}" and s.reveal() == KEY
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(s)


def test_missing_keys_and_bad_arguments_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        OpenAIClient("gpt-4o")
    with pytest.raises(AuthError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        GeminiClient("gemini-2.0-flash")
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    assert KEY not in repr(GeminiClient("gemini-2.0-flash"))
    with pytest.raises(ValueError, match="base_url"):
        OpenAICompatibleClient("m", base_url="ftp://x")
    with pytest.raises(ValueError, match="timeout"):
        OpenAICompatibleClient("m", base_url="http://x", timeout=0)
    with pytest.raises(ValueError, match="max_tokens"):
        asyncio.run(OpenAICompatibleClient("m", base_url="http://x").chat("hi", max_tokens=0))
    with pytest.raises(ValueError, match="role"):
        asyncio.run(
            OpenAICompatibleClient("m", base_url="http://x").chat([{"role": "wizard", "content": "x"}])
        )
    with pytest.raises(ValueError, match="unknown provider"):
        create_client("bogus:model")
    with pytest.raises(ValueError, match="needs '@base_url'"):
        create_client("openai-compatible:m")
    assert create_client("openai-compatible:m@http://127.0.0.1:1/v1").base_url == "http://127.0.0.1:1/v1"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="input_per_million"):
        register_price("m", -1, 1)
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(0)


def test_shared_pool_one_client_per_base_url_and_no_leaks() -> None:
    from thermoconsensus.clients import _pool

    async def go() -> None:
        a = OpenAICompatibleClient("a", base_url="http://127.0.0.1:9/v1")
        b = OpenAICompatibleClient("b", base_url="http://127.0.0.1:9/v1")
        assert a._http() is b._http() and a._http() is a._http()
        assert _pool.open_count() == 1
        await a.aclose()
        assert _pool.open_count() == 1  # b still holds it
        await b.aclose()
        assert _pool.open_count() == 0

    run(go())
