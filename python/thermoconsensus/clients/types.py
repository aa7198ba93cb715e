"""The values the clients exchange: a validated :class:`ChatRequest` and one :class:`LLMResponse` type."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ChatRequest", "LLMResponse", "Message", "TokenLogprob", "messages_from"]

Message = dict[str, Any]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token, its log-probability and the most likely alternatives ``[(token, logprob)]``."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass
class LLMResponse:
    """One completed call, whatever the provider.

    ``finish_reason`` is normalised to "stop", "length", "tool_calls", "content_filter" or "error" (the
    provider's own word is in ``raw``); ``cost_usd`` is None when the model has no entry in the price
    table; ``latency_s`` covers the whole call including retries; ``cached`` marks a reply served from
    the on-disk cache.
    """

    text: str
    model: str
    provider: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    logprobs: list[TokenLogprob] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    latency_s: float = 0.0
    cost_usd: float | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    attempts: int = 1

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (logprobs as lists)."""
        d = asdict(self)
        d["total_tokens"] = self.total_tokens
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LLMResponse:
        """The inverse of :meth:`to_dict` (used by the cache)."""
        d = dict(d)
        d.pop("total_tokens", None)
        lps = d.pop("logprobs", None)
        logprobs = None
        if lps is not None:
            logprobs = [
                TokenLogprob(t["token"], float(t["logprob"]), tuple((a, float(b)) for a, b in t["top"]))
                for t in lps
            ]
        return cls(logprobs=logprobs, **d)


def messages_from(prompt: str | list[Message]) -> list[Message]:
    """A chat transcript from a bare prompt (one user message) or a list of messages, validated."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if not isinstance(prompt, list) or not prompt:
        raise TypeError("messages: expected a prompt string or a non-empty list of message dicts")
    for i, m in enumerate(prompt):
        if not isinstance(m, dict):
            raise TypeError(f"messages[{i}]: expected a dict, got {type(m).__name__}")
        if m.get("role") not in _ROLES:
            raise ValueError(f"messages[{i}]: role must be one of {sorted(_ROLES)}, got {m.get('role')!r}")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise TypeError(f"messages[{i}]: content must be a string or a list of parts")
    return prompt


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")


@dataclass(frozen=True)
class ChatRequest:
    """What a caller asks of a chat model; each client turns it into its provider's wire format.

    ``logprobs``: None (not asked) or the number of alternatives per token wanted (0 = just the chosen
    token's). ``tools``/``tool_choice`` are passed through unchanged; ``extra`` is merged into the
    provider's JSON body last, for options this type does not name.
    """

    messages: list[Message]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        messages_from(self.messages)
        if self.max_tokens is not None and (
            isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1
        ):
            raise ValueError(f"max_tokens: expected a positive integer, got {self.max_tokens!r}")
        for name in ("temperature", "top_p"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0):
                raise ValueError(f"{name}: expected a non-negative number, got {v!r}")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ValueError("stop: expected non-empty strings")
        if self.logprobs is not None and (not isinstance(self.logprobs, int) or not 0 <= self.logprobs <= 20):
            raise ValueError(f"logprobs: expected an integer in 0..20, got {self.logprobs!r}")
        if not isinstance(self.extra, dict):
            raise TypeError("extra: expected a dict")

    def prompt_text(self) -> str:
        """All message text joined, for token estimates and routing."""
        return "\n".join(content_text(m.get("content")) for m in self.messages)

    def copy_set_fields(self, body: dict[str, Any], names: dict[str, str]) -> None:
        """Copies each field in ``names`` (our name -> the vendor's key) that is set into ``body``."""
        for ours, theirs in names.items():
            value = getattr(self, ours)
            if value is not None:
                body[theirs] = value

    def cache_key_material(self) -> str:
        """A canonical JSON form of the request (everything that changes the answer)."""
        return json.dumps(asdict(self), sort_keys=True, default=str, separators=(",", ":"))


def make_request(
    prompt: str | list[Message],
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: str | list[str] | None = None,
    seed: int | None = None,
    logprobs: int | None = None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    extra: dict[str, Any] | None = None,
) -> ChatRequest:
    """A :class:`ChatRequest` from the keyword arguments every client method takes."""
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    return ChatRequest(
        messages_from(prompt),
        max_tokens,
        temperature,
        top_p,
        stops,
        seed,
        logprobs,
        tools,
        tool_choice,
        dict(extra or {}),
    )
