"""Google's Gemini API: ``POST /v1beta/models/{model}:generateContent`` with the ``x-goog-api-key`` header.

The key travels in a header, never in the URL's ``?key=`` (URLs end up in logs and exception texts).
Roles are "user" and "model"; system messages become ``systemInstruction``; sampling options live in
``generationConfig``; log-probabilities come back in ``logprobsResult`` when ``responseLogprobs`` is set.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .errors import ResponseFormatError
from .http import HTTPClient
from .types import ChatRequest, LLMResponse, TokenLogprob, content_text

__all__ = ["GeminiClient"]

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter"}


class GeminiClient(HTTPClient):
    """``GeminiClient("gemini-2.0-flash")``: chat with logprobs (tools passed through).

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
        contents = [
            {
                "role": "model" if m["role"] == "assistant" else "user",
                "parts": [{"text": content_text(m.get("content"))}],
            }
            for m in request.messages
            if m["role"] in ("user", "assistant")
        ]
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
            body["tools"] = request.tools
        if request.tool_choice is not None:
            body["toolConfig"] = request.tool_choice
        body.update(request.extra)
        return body

    async def _attempt(self, request: ChatRequest) -> LLMResponse:
        path = f"/v1beta/models/{quote(self.model, safe='')}:generateContent"
        data = await self.request_json("POST", path, self.body(request))
        try:
            candidate = data["candidates"][0]
            parts = (candidate.get("content") or {}).get("parts") or []
            usage = data.get("usageMetadata") or {}
            logprobs = None
            result = candidate.get("logprobsResult")
            if isinstance(result, dict):
                chosen = result.get("chosenCandidates") or []
                tops = result.get("topCandidates") or [{} for _ in chosen]
                logprobs = [
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
            reason = str(candidate.get("finishReason") or "STOP")
            return LLMResponse(
                text="".join(str(p.get("text", "")) for p in parts if "text" in p),
                model=str(data.get("modelVersion") or self.model),
                provider=self.provider,
                prompt_tokens=int(usage.get("promptTokenCount") or 0),
                completion_tokens=int(usage.get("candidatesTokenCount") or 0),
                finish_reason=_FINISH.get(reason, reason.lower()),
                logprobs=logprobs,
                tool_calls=[p["functionCall"] for p in parts if "functionCall" in p],
                raw=data,
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ResponseFormatError(
                f"{self.name}: unexpected generateContent reply ({type(exc).__name__}: {exc})",
                provider=self.provider,
            ) from None
