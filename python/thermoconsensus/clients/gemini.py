"""Google's Gemini API: ``POST /v1beta/models/{model}:generateContent`` with the ``x-goog-api-key`` header.

The key travels in a header, never in the URL's ``?key=`` (URLs end up in logs and exception texts).
Roles are "user" and "model"; system messages become ``systemInstruction``; sampling options live in
``generationConfig``; log-probabilities come back in ``logprobsResult`` when ``responseLogprobs`` is set.
Streams are ``:streamGenerateContent?alt=sse``: each ``data:`` line a partial GenerateContentResponse, the
last with ``finishReason`` (and the usage). Tools and tool replies are translated from OpenAI's shapes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

from .base import StreamState
from .errors import ProviderError, ResponseFormatError
from .http import HTTPClient
from .sse import SSEEvent
from .tool_translate import from_gemini_call, gemini_contents, gemini_tool_config, gemini_tools
from .types import ChatRequest, LLMResponse, TokenLogprob, content_text

__all__ = ["GeminiClient"]

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter"}


class GeminiClient(HTTPClient):
    """``GeminiClient("gemini-2.0-flash")``: chat and streaming with logprobs, tool calls in OpenAI's shape.

    The key comes from ``api_key``, ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``.
    """

    provider = "gemini"
    key_env = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    key_required = True
    default_base_url = "https://generativelanguage.googleapis.com"

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"x-goog-api-key": key}

    def _health_path(self) -> str:
        return "/v1beta/models"

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body of a generateContent request."""
        system = [
            content_text(m.get("content")) for m in request.messages if m["role"] in ("system", "developer")
        ]
        try:
            contents = gemini_contents(request.messages)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        if not contents:
            raise ValueError(f"{self.name}: needs at least one user message")
        config: dict[str, Any] = {}
        request.copy_set_fields(
            config,
            {"max_tokens": "maxOutputTokens", "temperature": "temperature", "top_p": "topP", "seed": "seed"},
        )
        if request.stop:
            config["stopSequences"] = list(request.stop)
        if request.logprobs is not None:
            config["responseLogprobs"] = True
            if request.logprobs > 0:
                config["logprobs"] = request.logprobs
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        if config:
            body["generationConfig"] = config
        if request.tools is not None:
            body["tools"] = gemini_tools(request.tools)
        if request.tool_choice is not None:
            body["toolConfig"] = gemini_tool_config(request.tool_choice)
        body.update(request.extra)
        return body

    def _path(self, method: str) -> str:
        return f"/v1beta/models/{quote(self.model, safe='')}:{method}"

    async def _attempt(self, request: ChatRequest) -> LLMResponse:
        data = await self.request_json("POST", self._path("generateContent"), self.body(request))
        try:
            candidate = data["candidates"][0]
            parts = (candidate.get("content") or {}).get("parts") or []
            usage = data.get("usageMetadata") or {}
            calls = [from_gemini_call(p["functionCall"]) for p in parts if "functionCall" in p]
            reason = str(candidate.get("finishReason") or "STOP")
            return LLMResponse(
                text="".join(str(p.get("text", "")) for p in parts if "text" in p),
                model=str(data.get("modelVersion") or self.model),
                provider=self.provider,
                prompt_tokens=int(usage.get("promptTokenCount") or 0),
                completion_tokens=int(usage.get("candidatesTokenCount") or 0),
                finish_reason="tool_calls" if calls else _FINISH.get(reason, reason.lower()),
                logprobs=_logprobs(candidate),
                tool_calls=calls,
                raw=data,
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ResponseFormatError(
                f"{self.name}: unexpected generateContent reply ({type(exc).__name__}: {exc})",
                provider=self.provider,
            ) from None

    def _on_chunk(self, event: SSEEvent, state: StreamState) -> Iterator[str]:
        data = self.decode_event(event)
        if not isinstance(data, dict):
            raise ResponseFormatError(f"{self.name}: stream chunk is not an object", provider=self.provider)
        if "error" in data:
            message = self._scrub(str(self._error_message(data, event.data)))
            raise ProviderError(f"{self.name}: error in stream: {message}", provider=self.provider)
        state.model = str(data.get("modelVersion") or state.model or self.model)
        usage = data.get("usageMetadata")
        if isinstance(usage, dict):
            state.prompt_tokens = int(usage.get("promptTokenCount") or state.prompt_tokens)
            state.completion_tokens = int(usage.get("candidatesTokenCount") or state.completion_tokens)
        for candidate in data.get("candidates") or []:
            for part in (candidate.get("content") or {}).get("parts") or []:
                if "functionCall" in part:
                    state.tool_calls.append(from_gemini_call(part["functionCall"]))
                elif part.get("text"):
                    yield str(part["text"])
            lps = _logprobs(candidate)
            if lps is not None:
                state.logprobs = (state.logprobs or []) + lps
            reason = candidate.get("finishReason")
            if reason:  # the last chunk says why the reply ended; the stream has no other end marker
                state.finish_reason = (
                    "tool_calls" if state.tool_calls else _FINISH.get(reason, str(reason).lower())
                )
                state.done = True

    def _attempt_stream(self, request: ChatRequest, state: StreamState) -> AsyncIterator[str]:
        path = self._path("streamGenerateContent") + "?alt=sse"
        return self.run_stream(path, self.body(request), state, self._on_chunk)


def _logprobs(candidate: dict[str, Any]) -> list[TokenLogprob] | None:
    """A candidate's ``logprobsResult`` as TokenLogprob values (None when absent)."""
    result = candidate.get("logprobsResult")
    if not isinstance(result, dict):
        return None
    chosen = result.get("chosenCandidates") or []
    tops = result.get("topCandidates") or [{} for _ in chosen]
    return [
        TokenLogprob(
            str(c.get("token", "")),
            float(c.get("logProbability", 0.0)),
            tuple(
                (str(a.get("token", "")), float(a.get("logProbability", 0.0)))
                for a in (top or {}).get("candidates") or []
            ),
        )
        for c, top in zip(chosen, tops)
    ]
