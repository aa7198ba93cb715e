"""What the server accepts: request bodies parsed within size and depth limits and validated against
strict schemas, so that every malformed field is a 400 naming it (and never a 500).

Pydantic reads the annotations at run time, so this module spells them ``Optional``/``Union`` (Python 3.9).
Unknown fields are accepted and ignored (clients send ``user``, ``response_format``, ...), but they count
towards the limits. Numbers are strict: ``true`` is not an integer and ``"1"`` is not a number.
"""

import json
import re
from typing import Annotated, Any, Literal, Optional, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "BodyError",
    "ChatBody",
    "CompletionsBody",
    "EmbeddingsBody",
    "LlamaCompletionBody",
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
    """``body`` as ``model``; BodyError(400) naming the first malformed field."""
    try:
        return model.model_validate(body)
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
    """One part of a message's content; only text parts reach the model."""

    type: str
    text: Optional[str] = None


class Message(_Strict):
    """A chat message (tool calls and names are accepted and not used)."""

    role: NonEmpty
    content: Union[str, list[ContentPart], None] = None


class StreamOptions(_Strict):
    """OpenAI's ``stream_options``."""

    include_usage: bool = False


class _Sampling(_Strict):
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
    n: Optional[Literal[1]] = None
    logprobs: Optional[bool] = None
    top_logprobs: Optional[TopN] = None
    stream_options: Optional[StreamOptions] = None
    tools: Optional[list[dict[str, Any]]] = None


TokenIds = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]


class CompletionsBody(_Sampling):
    """``POST /v1/completions``."""

    prompt: Union[NonEmpty, Annotated[list[NonEmpty], Field(min_length=1, max_length=1)], TokenIds]
    max_tokens: Optional[Positive] = None
    n: Optional[Literal[1]] = None
    logprobs: Optional[TopN] = None
    echo: Optional[Literal[False]] = None
    stream_options: Optional[StreamOptions] = None


class EmbeddingsBody(_Strict):
    """``POST /v1/embeddings``."""

    model: Optional[str] = None
    input: Union[NonEmpty, Annotated[list[NonEmpty], Field(min_length=1, max_length=2048)]]
    encoding_format: Optional[Literal["float"]] = None


class LlamaCompletionBody(_Sampling):
    """llama.cpp's ``POST /completion``."""

    prompt: Union[NonEmpty, TokenIds]
    n_predict: Optional[Annotated[int, Field(ge=-1)]] = None
    n_probs: Optional[TopN] = None


# What each union-typed field accepts, for the 400 that names it.
_EXPECTED = {
    "stop": "a non-empty string or a list of at most 16 non-empty strings",
    "content": "a string, a list of content parts or null",
    "prompt": "a non-empty string, a list of one such string, or a non-empty list of token ids",
    "input": "a non-empty string or a list of at most 2048 non-empty strings",
}


def _field_names(*models: type[BaseModel]) -> frozenset[str]:
    names: set[str] = set()
    for m in models:
        names.update(m.model_fields)
    return frozenset(names)


_FIELDS = _field_names(
    ContentPart, Message, StreamOptions, ChatBody, CompletionsBody, EmbeddingsBody, LlamaCompletionBody
)
