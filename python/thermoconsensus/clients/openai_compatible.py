"""OpenAI's Chat Completions wire format, spoken by OpenAI, xAI, vLLM, llama-server and our own server.

``POST {base_url}/chat/completions`` with ``messages``; replies carry ``choices[0].message`` (content,
tool_calls), ``finish_reason``, ``usage`` and, when asked, ``logprobs.content``. Streams are SSE
``data: {chunk}`` lines ending with ``data: [DONE]``; usage arrives in a last chunk when
``stream_options.include_usage`` is set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from .base import StreamState
from .errors import ProviderError, ResponseFormatError
from .http import HTTPClient
from .sse import SSEEvent
from .types import ChatRequest, LLMResponse, TokenLogprob, make_request

__all__ = ["OpenAICompatibleClient"]

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls"}


def _finish(reason: Any) -> str:
    return _FINISH.get(str(reason), "content_filter" if reason == "content_filter" else str(reason or "stop"))


def parse_logprobs(choice: dict[str, Any]) -> list[TokenLogprob] | None:
    """``choices[i].logprobs.content`` as TokenLogprob values (None when absent)."""
    lp = choice.get("logprobs")
    if not isinstance(lp, dict) or not isinstance(lp.get("content"), list):
        return None
    return [
        TokenLogprob(
            str(t["token"]),
            float(t["logprob"]),
            tuple((str(a["token"]), float(a["logprob"])) for a in t.get("top_logprobs") or []),
        )
        for t in lp["content"]
    ]


def _merge_call(calls: list[dict[str, Any]], delta: dict[str, Any]) -> None:
    """Adds one streamed tool-call delta to ``calls``: the first for an index brings its id and name,
    later ones more of its arguments text."""
    i = int(delta.get("index", len(calls)))
    while len(calls) <= i:
        calls.append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
    call, fn = calls[i], delta.get("function") or {}
    call["id"] = delta.get("id") or call["id"]
    call["function"]["name"] += str(fn.get("name") or "")
    call["function"]["arguments"] += str(fn.get("arguments") or "")


class OpenAICompatibleClient(HTTPClient):
    """Any OpenAI-compatible server (vLLM, llama-server, LM Studio, ``thermoconsensus serve``...).

    ``OpenAICompatibleClient("smollm2", base_url="http://127.0.0.1:8080/v1")``; the key is optional
    (sent as a bearer token when given). Besides :meth:`chat` and :meth:`stream`: :meth:`complete`
    (``/completions``), :meth:`embed` (``/embeddings``) and :meth:`models` (``/models``).
    """

    provider = "openai-compatible"

    def chat_body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        """The JSON body of a chat request."""
        body: dict[str, Any] = {"model": self.model, "messages": request.messages}
        names = ("max_tokens", "temperature", "top_p", "seed", "tools", "tool_choice")
        request.copy_set_fields(body, {n: n for n in names})
        if request.stop:
            body["stop"] = list(request.stop)
        if request.logprobs is not None:
            body["logprobs"] = True
            if request.logprobs > 0:
                body["top_logprobs"] = request.logprobs
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        body.update(request.extra)
        return body

    def parse_chat(self, data: Any) -> LLMResponse:
        """An :class:`LLMResponse` from a chat completion body."""
        try:
            choice = data["choices"][0]
            message = choice.get("message") or {}
            usage = data.get("usage") or {}
            return LLMResponse(
                text=message.get("content") or "",
                model=str(data.get("model") or self.model),
                provider=self.provider,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                finish_reason=_finish(choice.get("finish_reason")),
                logprobs=parse_logprobs(choice),
                tool_calls=list(message.get("tool_calls") or []),
                raw=data,
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ResponseFormatError(
                f"{self.name}: unexpected chat completion ({type(exc).__name__}: {exc})",
                provider=self.provider,
            ) from None

    async def _attempt(self, request: ChatRequest) -> LLMResponse:
        data = await self.request_json("POST", "/chat/completions", self.chat_body(request, stream=False))
        return self.parse_chat(data)

    def _on_chunk(self, event: SSEEvent, state: StreamState) -> Iterator[str]:
        if event.data.strip() == "[DONE]":
            state.done = True
            return
        chunk = self.decode_event(event)
        if not isinstance(chunk, dict):
            raise ResponseFormatError(f"{self.name}: stream chunk is not an object", provider=self.provider)
        if "error" in chunk:
            message = self._scrub(str(self._error_message(chunk, event.data)))
            raise ProviderError(f"{self.name}: error in stream: {message}", provider=self.provider)
        state.model = chunk.get("model") or state.model
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            state.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            state.completion_tokens = int(usage.get("completion_tokens") or 0)
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            for d in delta.get("tool_calls") or []:
                _merge_call(state.tool_calls, d)
            lps = parse_logprobs(choice)
            if lps is not None:
                state.logprobs = (state.logprobs or []) + lps
            if choice.get("finish_reason"):
                state.finish_reason = _finish(choice["finish_reason"])
            content = delta.get("content")
            if content:
                yield str(content)

    def _attempt_stream(self, request: ChatRequest, state: StreamState) -> AsyncIterator[str]:
        return self.run_stream(
            "/chat/completions", self.chat_body(request, stream=True), state, self._on_chunk
        )

    async def complete(self, prompt: str, **options: Any) -> LLMResponse:
        """A text completion (``/completions``): ``prompt`` continued as is, not chat-formatted.
        Options as :meth:`chat`; the same retries, limits and cache apply."""
        if not isinstance(prompt, str):
            raise TypeError(f"prompt: expected a str, got {type(prompt).__name__}")
        return await self.send(make_request(prompt, **options), self._attempt_completion)

    async def _attempt_completion(self, request: ChatRequest) -> LLMResponse:
        body = self.chat_body(request, stream=False)
        del body["messages"]
        body["prompt"] = request.prompt_text()
        body.pop("top_logprobs", None)
        if request.logprobs is not None:
            body["logprobs"] = request.logprobs
        data = await self.request_json("POST", "/completions", body)
        try:
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            logprobs = None
            lp = choice.get("logprobs")
            if isinstance(lp, dict) and isinstance(lp.get("tokens"), list):
                tops = lp.get("top_logprobs") or [{} for _ in lp["tokens"]]
                logprobs = [
                    TokenLogprob(str(t), float(v), tuple((str(a), float(b)) for a, b in (top or {}).items()))
                    for t, v, top in zip(lp["tokens"], lp["token_logprobs"], tops)
                ]
            return LLMResponse(
                text=str(choice.get("text") or ""),
                model=str(data.get("model") or self.model),
                provider=self.provider,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                finish_reason=_finish(choice.get("finish_reason")),
                logprobs=logprobs,
                raw=data,
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ResponseFormatError(
                f"{self.name}: unexpected completion ({type(exc).__name__}: {exc})", provider=self.provider
            ) from None

    async def embed(self, texts: str | list[str]) -> list[list[float]]:
        """Embedding vectors of ``texts`` (``/embeddings``), in input order."""
        items = [texts] if isinstance(texts, str) else texts
        if not isinstance(items, list) or not items or not all(isinstance(t, str) for t in items):
            raise TypeError("texts: expected a string or a non-empty list of strings")
        data = await self.request_json("POST", "/embeddings", {"model": self.model, "input": items})
        try:
            rows = sorted(data["data"], key=lambda d: int(d.get("index", 0)))
            return [[float(x) for x in row["embedding"]] for row in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise ResponseFormatError(
                f"{self.name}: unexpected embeddings reply ({exc})", provider=self.provider
            ) from None

    async def models(self) -> list[str]:
        """The model ids the server lists (``/models``)."""
        data = await self.request_json("GET", "/models")
        try:
            return [str(m["id"]) for m in data["data"]]
        except (KeyError, TypeError) as exc:
            raise ResponseFormatError(
                f"{self.name}: unexpected models reply ({exc})", provider=self.provider
            ) from None
