"""llama.cpp's native completion API (llama-server's ``POST /completion``, ``GET /health``).

A raw text completion: ``{"prompt", "n_predict", "temperature", "top_p", "seed", "stop", "n_probs"}``
in, ``{"content", "tokens_evaluated", "tokens_predicted", "stop_type", "completion_probabilities"}``
out; streamed as SSE ``data: {"content": ..., "stop": false}`` lines, the last with ``"stop": true``.
Both the current (``top_logprobs``) and the older (``probs``) probability formats are read.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .base import StreamState
from .errors import ResponseFormatError
from .http import HTTPClient
from .sse import SSEEvent
from .types import ChatRequest, LLMResponse, TokenLogprob, content_text

__all__ = ["LlamaCppClient"]


def _finish(data: dict[str, Any]) -> str:
    if data.get("stop_type") == "limit" or data.get("stopped_limit"):
        return "length"
    return "stop"


def _logprobs(data: dict[str, Any]) -> list[TokenLogprob] | None:
    probs = data.get("completion_probabilities")
    if not isinstance(probs, list):
        return None
    out = []
    for p in probs:
        if "logprob" in p:
            top = tuple((str(a["token"]), float(a["logprob"])) for a in p.get("top_logprobs") or [])
            out.append(TokenLogprob(str(p.get("token", "")), float(p["logprob"]), top))
        else:  # before llama.cpp b4400: probabilities, no chosen-token logprob
            alts = [(str(a["tok_str"]), math.log(max(float(a["prob"]), 1e-45))) for a in p.get("probs") or []]
            chosen = next((lp for t, lp in alts if t == p.get("content")), float("nan"))
            out.append(TokenLogprob(str(p.get("content", "")), chosen, tuple(alts)))
    return out


class LlamaCppClient(HTTPClient):
    """``LlamaCppClient(base_url="http://127.0.0.1:8080")`` for llama-server (or ``thermoconsensus
    serve``) over its native ``/completion`` endpoint.

    :meth:`complete` continues a raw prompt. :meth:`chat` has no template to apply on this endpoint, so it
    sends the messages as a plain transcript ("User: ...\\nAssistant:"); for templated chat use
    :class:`OpenAICompatibleClient` on the same server's ``/v1``.
    """

    provider = "llama.cpp"
    default_base_url = "http://127.0.0.1:8080"

    def __init__(self, model: str = "default", **options: Any) -> None:
        super().__init__(model, **options)

    def _health_path(self) -> str:
        return "/health"

    @staticmethod
    def transcript(request: ChatRequest) -> str:
        """The plain-text prompt :meth:`chat` sends for ``request``'s messages."""
        if len(request.messages) == 1 and request.messages[0]["role"] == "user":
            return content_text(request.messages[0].get("content"))
        lines = [f"{m['role'].capitalize()}: {content_text(m.get('content'))}" for m in request.messages]
        return "\n".join([*lines, "Assistant:"])

    def body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        """The JSON body of a /completion request."""
        body: dict[str, Any] = {"prompt": self.transcript(request), "n_predict": request.max_tokens or -1}
        request.copy_set_fields(body, {n: n for n in ("temperature", "top_p", "seed")})
        if request.stop:
            body["stop"] = list(request.stop)
        if request.logprobs is not None:
            body["n_probs"] = max(request.logprobs, 1)
        if stream:
            body["stream"] = True
        body.update(request.extra)
        return body

    def parse(self, data: Any) -> LLMResponse:
        """An :class:`LLMResponse` from a /completion reply."""
        if not isinstance(data, dict) or not isinstance(data.get("content"), str):
            raise ResponseFormatError(f"{self.name}: reply has no 'content' string", provider=self.provider)
        return LLMResponse(
            text=data["content"],
            model=str(data.get("model") or self.model),
            provider=self.provider,
            prompt_tokens=int(data.get("tokens_evaluated") or 0),
            completion_tokens=int(data.get("tokens_predicted") or 0),
            finish_reason=_finish(data),
            logprobs=_logprobs(data),
            raw=data,
        )

    async def _attempt(self, request: ChatRequest) -> LLMResponse:
        return self.parse(await self.request_json("POST", "/completion", self.body(request, stream=False)))

    async def complete(self, prompt: str, **options: Any) -> LLMResponse:
        """``prompt`` continued as is (options as :meth:`chat`)."""
        if not isinstance(prompt, str):
            raise TypeError(f"prompt: expected a str, got {type(prompt).__name__}")
        return await self.chat(prompt, **options)

    def _on_event(self, event: SSEEvent, state: StreamState) -> Iterator[str]:
        data = self.decode_event(event)
        if not isinstance(data, dict):
            raise ResponseFormatError(f"{self.name}: stream event is not an object", provider=self.provider)
        if data.get("stop"):
            state.done = True
            state.finish_reason = _finish(data)
            state.prompt_tokens = int(data.get("tokens_evaluated") or 0)
            state.completion_tokens = int(data.get("tokens_predicted") or 0)
            state.model = data.get("model") or state.model
        content = data.get("content")
        if content:
            yield str(content)

    def _attempt_stream(self, request: ChatRequest, state: StreamState) -> AsyncIterator[str]:
        return self.run_stream("/completion", self.body(request, stream=True), state, self._on_event)
