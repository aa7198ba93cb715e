"""What the server accepts: request bodies parsed within size and depth limits and validated against
strict schemas, so that every malformed field is a 400 naming it (and never a 500).

Pydantic reads the annotations at run time, so this module spells them ``Optional``/``Union`` (Python 3.9).
Numbers are strict: ``true`` is not an integer and ``"1"`` is not a number.

Nothing is silently ignored: a parameter the server does not implement (``suffix``, ``strict`` tools
the model may skip calling, an unknown name) is a 400 naming it and saying why. ``response_format``
``json_object`` / ``json_schema``, a forced ``tool_choice`` ("required" or a named function) and
``logit_bias`` are enforced by the engine (grammar-constrained decoding with llguidance; biases added
to the logits).
The only fields accepted without effect are those that cannot change the answer (``user``, llama.cpp's
``cache_prompt`` hint), listed in each schema's ``ignored``.
"""

import json
import re
from typing import Annotated, Any, ClassVar, Literal, Optional, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "BodyError",
    "ChatBody",
    "CompletionsBody",
    "ConsensusBody",
    "DetokenizeBody",
    "EmbeddingsBody",
    "LlamaCompletionBody",
    "TokenizeBody",
    "decode",
    "validate",
]

#: Largest request body read (bytes); a larger one is answered 413 before it is read whole. Tokenizing
#: a body this size takes ~0.25 s with the GIL held, and 1 MiB of text is far past any context served.
MAX_BODY_BYTES = 1 << 20
#: Deepest nesting of arrays and objects accepted anywhere in a body.
MAX_DEPTH = 32

M = TypeVar("M", bound=BaseModel)


class BodyError(Exception):
    """A body that cannot be accepted: ``status`` (400 or 413) and a message naming the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def decode(raw: bytes, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The JSON object in ``raw``; BodyError when it is not valid JSON, not an object or nested more
    than ``max_depth`` deep."""
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:  # the parser itself gives up on very deep nesting
        raise BodyError(400, f"request body is nested more than {max_depth} levels deep") from None
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, huge integers, NaN
        raise BodyError(400, f"request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BodyError(400, "request body must be a JSON object")
    # A body cannot nest deeper than it has brackets: most bodies skip the walk.
    if raw.count(b"[") + raw.count(b"{") > max_depth:
        path = _too_deep(body, max_depth)
        if path is not None:
            raise BodyError(400, f"'{path}': nested more than {max_depth} levels deep")
    return body


def _too_deep(body: Any, limit: int) -> Optional[str]:
    """The path of the first value nested deeper than ``limit``, or None (iterative: no recursion)."""
    stack: list[tuple[Any, int, str]] = [(body, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            children = [(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()]
        elif isinstance(value, list):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(value)]
        else:
            continue
        if depth > limit:
            return path or "(body)"
        stack.extend((v, depth + 1, p) for v, p in children if isinstance(v, (dict, list)))
    return None


def _where(loc: tuple[Union[int, str], ...]) -> tuple[str, bool]:
    """The field path of an error's location, and whether it passes through a union (pydantic then
    names the member type it tried, which is not a field and not a helpful message)."""
    out, union = "", False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in _FIELDS:
            union = True
            break
        else:
            out += f".{part}" if out else part
    return out or "(body)", union


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate(model: type[M], body: dict[str, Any]) -> M:
    """``body`` as ``model``; BodyError(400) naming the first malformed or unsupported field."""
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where, union = _where(tuple(err["loc"]))
        if union:
            name = where.rsplit(".", 1)[-1].split("[", 1)[0]
            value = _lookup(body, err["loc"])
            raise BodyError(400, f"'{where}': expected {_EXPECTED[name]}, got {_shown(value)}") from None
        got = err.get("input")
        detail = f", got {_shown(got)}" if "input" in err and not isinstance(got, (dict, list)) else ""
        message = re.sub(r" or instance of \w+", "", err["msg"])
        raise BodyError(400, f"'{where}': {message}{detail}") from None
    _refuse_unsupported(parsed, "")
    return parsed


def _refuse_unsupported(obj: BaseModel, path: str) -> None:
    """BodyError(400) for the first field of ``obj`` or of a model nested in it (messages, tools,
    content parts) that the server would otherwise ignore: a model's own ``check()`` refusals, then
    any extra field not in its ``ignored``."""
    check = getattr(obj, "check", None)
    if callable(check):
        problem = check()
        if problem is not None:
            name, why = problem
            raise BodyError(400, f"'{path}{name}': {why}")
    ignored: frozenset[str] = getattr(obj, "ignored", frozenset())
    for name in obj.model_extra or {}:
        if name not in ignored:
            why = _UNSUPPORTED.get(name, "unknown parameter (not part of the API this route serves)")
            raise BodyError(400, f"'{path}{name}': {why}")
    for name in type(obj).model_fields:
        value = getattr(obj, name)
        if isinstance(value, BaseModel):
            _refuse_unsupported(value, f"{path}{name}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    _refuse_unsupported(item, f"{path}{name}[{i}].")


# Why each known-but-unimplemented parameter is refused (the 400's text).
_UNSUPPORTED = {
    "functions": "not supported: the deprecated functions API; send tools",
    "function_call": "not supported: the deprecated functions API; send tool_choice",
    "grammar": "not supported: send response_format json_object or json_schema (GBNF is not parsed)",
    "modalities": "not supported: this server generates text only",
    "audio": "not supported: this server generates text only",
    "prediction": "not supported: predicted outputs (speculative decoding) are not implemented",
    "reasoning_effort": "not supported: the served models have no reasoning mode",
    "web_search_options": "not supported: this server has no web search",
    "service_tier": "not supported: there is one tier",
    "store": "not supported: completions are not stored",
    "metadata": "not supported: completions are not stored",
    "suffix": "not supported: insertion (fill-in-the-middle) is not implemented",
    "dimensions": "not supported: embeddings have the model's own dimension",
}


def _lookup(body: Any, loc: tuple[Union[int, str], ...]) -> Any:
    """The value at the field part of ``loc`` (up to the union member's label)."""
    value = body
    for part in loc:
        if isinstance(part, int) and isinstance(value, list) and 0 <= part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, dict) and part in value:
            value = value[part]
        else:
            break
    return value


# -- the schemas ---------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


NonEmpty = Annotated[str, Field(min_length=1)]
# Sampling bounds; the engine accepts these and nothing outside them.
Temperature = Annotated[float, Field(ge=0.0, le=100.0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
TopK = Annotated[int, Field(ge=0, le=1 << 20)]
Seed = Annotated[int, Field(ge=0, le=(1 << 64) - 1)]
RepeatPenalty = Annotated[float, Field(ge=0.0, le=10.0)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]
Positive = Annotated[int, Field(ge=1)]
TopN = Annotated[int, Field(ge=0, le=20)]
Stop = Union[NonEmpty, Annotated[list[NonEmpty], Field(max_length=16)], None]


class ContentPart(_Strict):
    """One part of a message's content: text only (the served models read no images or audio)."""

    type: str
    text: Optional[str] = None

    def check(self) -> Optional[tuple[str, str]]:
        if self.type != "text":
            return "type", f"only text parts are read (the served models take no {self.type!r})"
        if self.text is None:
            return "text", "a text part needs its text"
        return None


class FunctionCall(_Strict):
    """A tool call's function: its name and its arguments as a JSON text (OpenAI's convention)."""

    name: NonEmpty
    arguments: str


class ToolCall(_Strict):
    """A tool call an assistant message made earlier in the conversation."""

    id: Optional[str] = None
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Strict):
    """A chat message: the assistant's earlier ``tool_calls`` and a tool's reply (role "tool",
    ``tool_call_id``) reach the chat template; ``name`` is accepted (templates do not use it)."""

    ignored: ClassVar[frozenset[str]] = frozenset()
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[ContentPart], None] = None
    name: Optional[str] = None
    tool_calls: Optional[Annotated[list[ToolCall], Field(max_length=64)]] = None
    tool_call_id: Optional[str] = None


class FunctionDef(_Strict):
    """A tool's function: name, description and JSON-schema parameters, rendered into the prompt."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    description: Optional[str] = None
    parameters: Optional[dict[str, Any]] = None
    strict: Optional[bool] = None


class Tool(_Strict):
    """One entry of ``tools``."""

    type: Literal["function"]
    function: FunctionDef


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: dict[str, Any]


class JsonSchemaFormat(_Strict):
    """OpenAI's ``response_format.json_schema``: the schema the reply must validate against."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    description: Optional[str] = None
    schema_: Optional[Union[dict[str, Any], bool]] = Field(default=None, alias="schema")
    strict: Optional[bool] = None


class ResponseFormat(_Strict):
    """``{"type": "text" | "json_object"}`` or ``{"type": "json_schema", "json_schema": {...}}``."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: Optional[JsonSchemaFormat] = None

    def check(self) -> Optional[tuple[str, str]]:
        if self.type == "json_schema" and (self.json_schema is None or self.json_schema.schema_ is None):
            return "json_schema", "type 'json_schema' needs json_schema.schema"
        if self.type != "json_schema" and self.json_schema is not None:
            return "json_schema", f"given with type {self.type!r}"
        return None

    def engine_format(self) -> Optional[dict[str, Any]]:
        """The form :meth:`thermoconsensus.llm.Model.generate` takes (None: free text)."""
        if self.type == "text":
            return None
        if self.type == "json_object":
            return {"type": "json_object"}
        assert self.json_schema is not None
        return {"type": "json_schema", "json_schema": {"schema": self.json_schema.schema_}}


def bias_problem(bias: Optional[dict[str, float]]) -> Optional[tuple[str, str]]:
    """Why OpenAI's ``logit_bias`` (token-id strings to values in [-100, 100]) is malformed, if it is."""
    for key, value in (bias or {}).items():
        if not key.isdigit() or len(key) > 10:
            return "logit_bias", f"keys must be token ids, got {key!r}"
        if not -100 <= value <= 100:
            return "logit_bias", f"values must be in [-100, 100], got {value} for token {key}"
    if bias and len(bias) > 300:
        return "logit_bias", f"at most 300 tokens, got {len(bias)}"
    return None


def engine_bias(bias: Optional[dict[str, float]]) -> Optional[dict[int, float]]:
    """A checked ``logit_bias`` as :meth:`thermoconsensus.llm.Model.generate` takes it (ids past the
    vocabulary are refused by the engine, naming the token)."""
    return {int(k): float(v) for k, v in bias.items()} if bias else None


class StreamOptions(_Strict):
    """OpenAI's ``stream_options``."""

    include_usage: bool = False


class _Sampling(_Strict):
    #: Fields accepted that cannot change the answer.
    ignored: ClassVar[frozenset[str]] = frozenset({"user"})
    model: Optional[str] = None
    stream: bool = False
    temperature: Optional[Temperature] = None
    top_p: Optional[Probability] = None
    top_k: Optional[TopK] = None
    min_p: Optional[Probability] = None
    seed: Optional[Seed] = None
    repeat_penalty: Optional[RepeatPenalty] = None
    frequency_penalty: Optional[Penalty] = None
    presence_penalty: Optional[Penalty] = None
    stop: Stop = None


class ChatBody(_Sampling):
    """``POST /v1/chat/completions``."""

    messages: Annotated[list[Message], Field(min_length=1)]
    max_tokens: Optional[Positive] = None
    max_completion_tokens: Optional[Positive] = None
    n: Optional[Positive] = None
    logprobs: Optional[bool] = None
    top_logprobs: Optional[TopN] = None
    stream_options: Optional[StreamOptions] = None
    tools: Optional[Annotated[list[Tool], Field(max_length=128)]] = None
    tool_choice: Union[Literal["none", "auto", "required"], NamedToolChoice, None] = None
    parallel_tool_calls: Optional[bool] = None
    response_format: Optional[ResponseFormat] = None
    logit_bias: Optional[dict[str, float]] = None

    def check(self) -> Optional[tuple[str, str]]:
        """The first parameter given a value the server cannot honour, and why."""
        if (problem := bias_problem(self.logit_bias)) is not None:
            return problem
        constrained = self.response_format is not None and self.response_format.type != "text"
        if constrained and self.tools and self.tool_choice != "none":
            return (
                "response_format",
                "a grammar-constrained reply cannot also call tools; send tool_choice 'none'",
            )
        if self.tool_choice is not None and self.tool_choice != "none" and not self.tools:
            return "tool_choice", "given without tools"
        names = [t.function.name for t in self.tools or []]
        if isinstance(self.tool_choice, NamedToolChoice):
            named = self.tool_choice.function.get("name")
            if not isinstance(named, str) or named not in names:
                return "tool_choice.function.name", f"must name one of the tools {names}, got {named!r}"
        strict = next((t.function.name for t in self.tools or [] if t.function.strict), None)
        if strict is not None and self.tool_choice in (None, "auto"):
            return (
                f"tools.{strict}.strict",
                "strict schemas are enforced only when a call is forced (tool_choice 'required' or a"
                " named function): under 'auto' the model may write free text",
            )
        if self.top_logprobs and not self.logprobs:
            return "top_logprobs", "needs logprobs: true"
        return None


TokenIds = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]


class CompletionsBody(_Sampling):
    """``POST /v1/completions``."""

    prompt: Union[NonEmpty, Annotated[list[NonEmpty], Field(min_length=1, max_length=1)], TokenIds]
    max_tokens: Optional[Positive] = None
    n: Optional[Positive] = None
    best_of: Optional[Positive] = None
    logprobs: Optional[TopN] = None
    echo: Optional[Literal[False]] = None
    stream_options: Optional[StreamOptions] = None
    logit_bias: Optional[dict[str, float]] = None

    def check(self) -> Optional[tuple[str, str]]:
        """The first parameter given a value the server cannot honour, and why."""
        if self.best_of is not None and self.n is not None and self.best_of < self.n:
            return "best_of", f"must be at least n ({self.n}), got {self.best_of}"
        return bias_problem(self.logit_bias)


class EmbeddingsBody(_Strict):
    """``POST /v1/embeddings``."""

    ignored: ClassVar[frozenset[str]] = frozenset({"user"})
    model: Optional[str] = None
    input: Union[NonEmpty, Annotated[list[NonEmpty], Field(min_length=1, max_length=2048)]]
    encoding_format: Optional[Literal["float"]] = None


class LlamaCompletionBody(_Sampling):
    """llama.cpp's ``POST /completion``."""

    #: ``cache_prompt`` is a hint (reuse the cache when you can) that llama.cpp's own UI always sends.
    ignored: ClassVar[frozenset[str]] = frozenset({"cache_prompt"})
    prompt: Union[NonEmpty, TokenIds]
    n_predict: Optional[Annotated[int, Field(ge=-1)]] = None
    n_probs: Optional[TopN] = None


# What each union-typed field accepts, for the 400 that names it.
_EXPECTED = {
    "stop": "a non-empty string or a list of at most 16 non-empty strings",
    "content": "a string, a list of content parts or null",
    "prompt": "a non-empty string, a list of one such string, or a non-empty list of token ids",
    "input": "a non-empty string or a list of at most 2048 non-empty strings",
    "tool_choice": "'none', 'auto', 'required' or {'type': 'function', 'function': {'name': ...}}",
}


def _field_names(*models: type[BaseModel]) -> frozenset[str]:
    names: set[str] = set()
    for m in models:
        names.update(m.model_fields)
    return frozenset(names)


_FIELDS = _field_names(
    ContentPart,
    FunctionCall,
    ToolCall,
    Message,
    FunctionDef,
    Tool,
    NamedToolChoice,
    ResponseFormat,
    StreamOptions,
    ChatBody,
    CompletionsBody,
    EmbeddingsBody,
    LlamaCompletionBody,
)


class TokenizeBody(_Strict):
    """llama.cpp's ``POST /tokenize``."""

    content: str
    add_special: bool = False
    parse_special: bool = True
    with_pieces: bool = False


class DetokenizeBody(_Strict):
    """llama.cpp's ``POST /detokenize``."""

    tokens: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=1 << 20)]


_FIELDS = _FIELDS | _field_names(TokenizeBody, DetokenizeBody)


class ConsensusBody(_Strict):
    """``POST /v1/consensus``: a prompt (text or messages) for every model of the pool."""

    prompt: Union[NonEmpty, Annotated[list[Message], Field(min_length=1)]]
    answer_extractor: Optional[str] = None
    max_tokens: Optional[Annotated[int, Field(ge=1, le=4096)]] = None
    stream: bool = True


_FIELDS = _FIELDS | _field_names(ConsensusBody)
_EXPECTED["prompt"] = _EXPECTED["prompt"] + " (for /v1/consensus: a string or a list of messages)"
