"""Anthropic's Messages API: ``POST /v1/messages`` with ``x-api-key`` and ``anthropic-version`` headers.

System messages go to the top-level ``system`` field; ``max_tokens`` is required (default 1024 here);
replies are content blocks (text, tool_use) with ``stop_reason`` and ``usage`` (input/output tokens).
Streams are named SSE events: message_start (input usage), content_block_delta (text), message_delta
(stop reason, output usage), message_stop; an ``error`` event reports an overload mid-stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .base import StreamState
from .errors import ProviderError, RateLimitError, ResponseFormatError
from .http import HTTPClient
from .sse import SSEEvent
from .tool_translate import anthropic_messages, anthropic_tool_choice, anthropic_tools, from_anthropic_block
from .types import ChatRequest, LLMResponse, content_text

__all__ = ["AnthropicClient"]

API_VERSION = "2023-06-01"
_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


class AnthropicClient(HTTPClient):
    """``AnthropicClient("claude-3-5-haiku-latest")``: chat and streaming; tools, tool calls and tool
    replies translated from OpenAI's shapes (:mod:`.tool_translate`), calls returned in OpenAI's.

    The key comes from ``api_key`` or ``ANTHROPIC_API_KEY``. Anthropic returns no log-probabilities.
    """

    provider = "anthropic"
    key_env = ("ANTHROPIC_API_KEY",)
    key_required = True
    default_base_url = "https://api.anthropic.com"
    default_max_tokens = 1024

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key, "anthropic-version": API_VERSION}

    def _health_path(self) -> str:
        return "/v1/models"

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        """The JSON body of a Messages request."""
        if request.logprobs is not None:
            raise ValueError(f"{self.name}: Anthropic's API returns no logprobs")
        system = [
            content_text(m.get("content")) for m in request.messages if m["role"] in ("system", "developer")
        ]
        try:
            turns = anthropic_messages(request.messages)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        if not turns:
            raise ValueError(f"{self.name}: needs at least one user message")
        body: dict[str, Any] = {
            "model": self.model,
            "messages": turns,
            "max_tokens": request.max_tokens or self.default_max_tokens,
        }
        if system:
            body["system"] = "\n\n".join(system)
        request.copy_set_fields(body, {n: n for n in ("temperature", "top_p")})
        if request.tools is not None:
            body["tools"] = anthropic_tools(request.tools)
        if request.tool_choice is not None:
            body["tool_choice"] = anthropic_tool_choice(request.tool_choice)
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if stream:
            body["stream"] = True
        body.update(request.extra)
        return body

    async def _attempt(self, request: ChatRequest) -> LLMResponse:
        data = await self.request_json("POST", "/v1/messages", self.body(request, stream=False))
        try:
            blocks = data["content"]
            usage = data.get("usage") or {}
            return LLMResponse(
                text="".join(b.get("text", "") for b in blocks if b.get("type") == "text"),
                model=str(data.get("model") or self.model),
                provider=self.provider,
                prompt_tokens=int(usage.get("input_tokens") or 0),
                completion_tokens=int(usage.get("output_tokens") or 0),
                finish_reason=_STOP.get(str(data.get("stop_reason")), str(data.get("stop_reason") or "stop")),
                tool_calls=[from_anthropic_block(b) for b in blocks if b.get("type") == "tool_use"],
                raw=data,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ResponseFormatError(
                f"{self.name}: unexpected Messages reply ({type(exc).__name__}: {exc})",
                provider=self.provider,
            ) from None

    def _on_event(self, event: SSEEvent, state: StreamState) -> Iterator[str]:
        if event.event == "ping":
            return
        data = self.decode_event(event)
        if not isinstance(data, dict):
            raise ResponseFormatError(f"{self.name}: stream event is not an object", provider=self.provider)
        kind = data.get("type", event.event)
        if kind == "error":
            err = data.get("error") or {}
            text = self._scrub(f"{self.name}: {err.get('type', 'error')}: {err.get('message', '')}")
            if err.get("type") == "rate_limit_error":
                raise RateLimitError(text, provider=self.provider)
            raise ProviderError(text, provider=self.provider)
        if kind == "message_start":
            message = data.get("message") or {}
            state.model = message.get("model") or state.model
            state.prompt_tokens = int((message.get("usage") or {}).get("input_tokens") or 0)
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":  # its input arrives as input_json_delta pieces
                state.raw.setdefault("tool_blocks", {})[int(data.get("index", 0))] = {**block, "json": ""}
        elif kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                yield str(delta["text"])
            elif delta.get("type") == "input_json_delta":
                block = state.raw.get("tool_blocks", {}).get(int(data.get("index", 0)))
                if block is not None:
                    block["json"] += str(delta.get("partial_json") or "")
        elif kind == "content_block_stop":
            block = state.raw.get("tool_blocks", {}).get(int(data.get("index", 0)))
            if block is not None and "done" not in block:
                block["done"] = True
                try:
                    args = json.loads(block["json"]) if block["json"].strip() else block.get("input") or {}
                except ValueError:
                    raise ResponseFormatError(
                        f"{self.name}: tool_use input is not JSON: {block['json'][:80]!r}",
                        provider=self.provider,
                    ) from None
                state.tool_calls.append(from_anthropic_block({**block, "input": args}))
        elif kind == "message_delta":
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                state.finish_reason = _STOP.get(str(reason), str(reason))
            state.completion_tokens = int((data.get("usage") or {}).get("output_tokens") or 0)
        elif kind == "message_stop":
            state.done = True

    def _attempt_stream(self, request: ChatRequest, state: StreamState) -> AsyncIterator[str]:
        return self.run_stream("/v1/messages", self.body(request, stream=True), state, self._on_event)
