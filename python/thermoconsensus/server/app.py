"""The HTTP application: OpenAI-compatible ``/v1/*`` and llama.cpp-compatible ``/completion``, ``/health``
over one local model (Starlette).

Admission is bounded: at most ``max_queue`` generation requests are running or waiting; the next one is
answered 503 with Retry-After at once instead of queueing without bound. Generation itself is serialised
by the model's :class:`~thermoconsensus._runner.EngineRunner`.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .._core import InvalidInputError
from .._runner import EngineRunner

__all__ = ["create_app"]

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class HTTPError(Exception):
    """An error answered as OpenAI's ``{"error": {"message", "type", "code"}}`` body."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind

    def response(self) -> JSONResponse:
        headers = {"Retry-After": "1"} if self.status == 503 else None
        body = {"error": {"message": self.message, "type": self.kind, "code": self.status}}
        return JSONResponse(body, status_code=self.status, headers=headers)


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise HTTPError(400, f"'{name}' must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def _integer(body: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise HTTPError(400, f"'{name}' must be an integer in [{low}, {high}], got {value!r}")
    return value


def _stops(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise HTTPError(400, "'stop' must be a string or a list of non-empty strings")
    return list(stops)


class Server:
    """The routes' shared state: the model runner, the key, the admission counter and the options."""

    def __init__(
        self, runner: EngineRunner, api_key: str | None, max_queue: int, default_max_tokens: int
    ) -> None:
        self.runner = runner
        self._key = api_key.encode() if api_key else None
        self.max_queue = max_queue
        self.default_max_tokens = default_max_tokens
        self.pending = 0
        self.created = int(time.time())

    # -- admission and parsing ------------------------------------------------------------------

    def authorise(self, request: Request) -> None:
        if self._key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        # Constant-time comparison: the reply time must not reveal how much of a guess was right.
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._key):
            raise HTTPError(
                401, "missing or invalid API key (Authorization: Bearer ...)", "authentication_error"
            )

    def admit(self) -> None:
        if self.pending >= self.max_queue:
            raise HTTPError(
                503, f"server busy: {self.pending} requests queued (limit {self.max_queue})", "server_busy"
            )
        self.pending += 1

    def done(self) -> None:
        self.pending -= 1

    async def body(self, request: Request) -> dict[str, Any]:
        self.authorise(request)
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise HTTPError(400, "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "request body must be a JSON object")
        return body

    def sampling(self, body: dict[str, Any], max_name: str, default_max: int | None = None) -> dict[str, Any]:
        limit = self.runner.context_length
        max_tokens = _integer(body, max_name, default_max or self.default_max_tokens, 1, limit)
        return {
            "max_tokens": max_tokens,
            "temperature": _number(body, "temperature", 1.0, 0.0, 100.0),
            "top_p": _number(body, "top_p", 1.0, 0.0, 1.0),
            "top_k": _integer(body, "top_k", 0, 0, 1 << 20),
            "min_p": _number(body, "min_p", 0.0, 0.0, 1.0),
            "seed": _integer(body, "seed", None, 0, (1 << 64) - 1),
            "repeat_penalty": _number(body, "repeat_penalty", 1.0, 0.0, 10.0),
            "frequency_penalty": _number(body, "frequency_penalty", 0.0, -2.0, 2.0),
            "presence_penalty": _number(body, "presence_penalty", 0.0, -2.0, 2.0),
        }

    def chat_ids(self, body: dict[str, Any]) -> tuple[list[int], list[str]]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise HTTPError(400, "'messages' must be a non-empty list")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise HTTPError(400, f"messages[{i}] must be an object with a string 'role'")
        tools = body.get("tools")
        if tools is not None and not isinstance(tools, list):
            raise HTTPError(400, "'tools' must be a list")
        try:
            return self.runner.chat_prompt(messages, tools)
        except (InvalidInputError, TypeError, ValueError) as exc:
            raise HTTPError(400, str(exc)) from None

    def prompt_ids(self, body: dict[str, Any]) -> list[int]:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if (
            isinstance(prompt, list)
            and prompt
            and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt)
        ):
            return [int(t) for t in prompt]
        if not isinstance(prompt, str) or not prompt:
            raise HTTPError(400, "'prompt' must be a non-empty string (or a list of token ids)")
        return self.runner.text_prompt(prompt)

    # -- generation -----------------------------------------------------------------------------

    async def generate(self, ids: list[int], **options: Any) -> Any:
        try:
            return await self.runner.generate(ids, **options)
        except (InvalidInputError, TypeError, ValueError) as exc:
            raise HTTPError(400, str(exc)) from None

    def logprobs(self, gen: Any, top_n: int) -> list[dict[str, Any]]:
        text = self.runner.token_text
        return [
            {
                "token": text(tok),
                "logprob": lp,
                "bytes": list(text(tok).encode()),
                "top_logprobs": [
                    {"token": text(a), "logprob": b, "bytes": list(text(a).encode())} for a, b in top[:top_n]
                ],
            }
            for tok, lp, top in zip(gen.token_ids, gen.logprobs, gen.top_logprobs)
        ]

    def check(self, ids: list[int], options: dict[str, Any]) -> None:
        """Raises a 400 now (before a stream's 200 is sent) when the prompt does not fit the context."""
        try:
            self.runner.options_for(ids, options)
        except InvalidInputError as exc:
            raise HTTPError(400, str(exc)) from None

    async def generate_admitted(self, ids: list[int], **options: Any) -> Any:
        """:meth:`generate` for an admitted request, freeing its slot when it returns or fails."""
        try:
            return await self.generate(ids, **options)
        finally:
            self.done()

    async def stream_admitted(
        self, ids: list[int], options: dict[str, Any], frame: Any, final: Any
    ) -> StreamingResponse:
        """:meth:`sse` for an admitted request: the stream frees the slot when it ends, and this frees it
        when the stream cannot start."""
        try:
            return await self.sse(ids, options, frame, final)
        except BaseException:
            self.done()
            raise

    async def sse(
        self,
        ids: list[int],
        options: dict[str, Any],
        frame: Any,
        final: Any,
    ) -> StreamingResponse:
        """A streamed reply: ``frame(piece)`` per text piece and ``final(summary)`` at the end give the
        SSE data lines. The admission slot is held until the stream ends, however it ends."""
        self.check(ids, options)

        async def events() -> AsyncIterator[str]:
            summary: dict[str, Any] = {
                "prompt_tokens": len(ids),
                "completion_tokens": 0,
                "finish_reason": "stop",
            }
            try:
                async for item in self.runner.stream(ids, **options):
                    if isinstance(item, str):
                        yield frame(item)
                    else:  # the finished generation comes last
                        summary["completion_tokens"] = len(item.token_ids)
                        summary["finish_reason"] = _finish(item.finish_reason)
                for line in final(summary):
                    yield line
            except Exception as exc:  # headers are gone: report in-band, as OpenAI does
                yield _sse({"error": {"message": str(exc), "type": "server_error"}})
            finally:
                self.done()

        return StreamingResponse(events(), media_type="text/event-stream", headers=_SSE_HEADERS)


def _finish(reason: str) -> str:
    return "length" if reason in ("length", "context") else "stop"


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n"


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def create_app(
    runner: EngineRunner, *, api_key: str | None = None, max_queue: int = 16, default_max_tokens: int = 256
) -> Starlette:
    """The Starlette application serving ``runner``'s model. ``api_key``: bearer token required on every
    route but /health; ``max_queue``: generation requests admitted at once (the rest get 503)."""
    if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
        raise ValueError(f"max_queue: expected a positive integer, got {max_queue!r}")
    srv = Server(runner, api_key, max_queue, default_max_tokens)
    name = runner.name

    async def handle(request: Request, fn: Any) -> Response:
        try:
            result: Response = await fn(request)
            return result
        except HTTPError as err:
            return err.response()

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": name, "pending": srv.pending})

    async def models(request: Request) -> Response:
        srv.authorise(request)
        data = {"id": name, "object": "model", "created": srv.created, "owned_by": "thermoconsensus"}
        return JSONResponse({"object": "list", "data": [data]})

    async def chat(request: Request) -> Response:
        body = await srv.body(request)
        _integer(body, "n", 1, 1, 1)  # one choice per request
        ids, stops = srv.chat_ids(body)
        max_name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        options = srv.sampling(body, max_name)
        options["stop"] = [*stops, *_stops(body)]
        want_lp = bool(body.get("logprobs"))
        top_n = _integer(body, "top_logprobs", 0, 0, 20) or 0
        options["logprobs"] = max(top_n, 1) if want_lp else 0
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        head = {"id": cid, "created": created, "model": name}
        srv.admit()
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunk = {**head, "object": "chat.completion.chunk"}

            def frame(piece: str) -> str:
                return _sse(
                    {**chunk, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                )

            def final(summary: dict[str, Any]) -> list[str]:
                last = {"index": 0, "delta": {}, "finish_reason": summary["finish_reason"]}
                lines = [_sse({**chunk, "choices": [last]})]
                if include_usage:
                    usage = _usage(summary["prompt_tokens"], summary["completion_tokens"])
                    lines.append(_sse({**chunk, "choices": [], "usage": usage}))
                return [*lines, "data: [DONE]\n\n"]

            return await srv.stream_admitted(ids, options, frame, final)
        gen = await srv.generate_admitted(ids, **options)
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": gen.text},
            "finish_reason": _finish(gen.finish_reason),
            "logprobs": {"content": srv.logprobs(gen, top_n)} if want_lp else None,
        }
        usage = _usage(len(gen.prompt_ids), len(gen.token_ids))
        return JSONResponse({**head, "object": "chat.completion", "choices": [choice], "usage": usage})

    async def completions(request: Request) -> Response:
        body = await srv.body(request)
        if body.get("echo"):
            raise HTTPError(400, "'echo' is not supported")
        ids = srv.prompt_ids(body)
        options = srv.sampling(body, "max_tokens", 16)
        options["stop"] = _stops(body)
        top_n = _integer(body, "logprobs", None, 0, 20)
        options["logprobs"] = 0 if top_n is None else max(top_n, 1)
        head = {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": name,
        }
        srv.admit()
        if body.get("stream"):

            def frame(piece: str) -> str:
                return _sse(
                    {
                        **head,
                        "choices": [{"index": 0, "text": piece, "finish_reason": None, "logprobs": None}],
                    }
                )

            def final(summary: dict[str, Any]) -> list[str]:
                last = {"index": 0, "text": "", "finish_reason": summary["finish_reason"], "logprobs": None}
                usage = _usage(summary["prompt_tokens"], summary["completion_tokens"])
                return [_sse({**head, "choices": [last], "usage": usage}), "data: [DONE]\n\n"]

            return await srv.stream_admitted(ids, options, frame, final)
        gen = await srv.generate_admitted(ids, **options)
        logprobs = None
        if top_n is not None:
            tt = srv.runner.token_text
            logprobs = {
                "tokens": [tt(t) for t in gen.token_ids],
                "token_logprobs": list(gen.logprobs),
                "top_logprobs": [{tt(a): b for a, b in top[:top_n]} for top in gen.top_logprobs],
            }
        choice = {
            "index": 0,
            "text": gen.text,
            "finish_reason": _finish(gen.finish_reason),
            "logprobs": logprobs,
        }
        return JSONResponse(
            {**head, "choices": [choice], "usage": _usage(len(gen.prompt_ids), len(gen.token_ids))}
        )

    async def embeddings(request: Request) -> Response:
        body = await srv.body(request)
        items = body.get("input")
        items = [items] if isinstance(items, str) else items
        if not isinstance(items, list) or not items or not all(isinstance(t, str) and t for t in items):
            raise HTTPError(400, "'input' must be a non-empty string or a list of non-empty strings")
        srv.admit()
        try:
            rows = await srv.runner.embed(items)
        except InvalidInputError as exc:
            raise HTTPError(400, str(exc)) from None
        finally:
            srv.done()
        data = [{"object": "embedding", "index": i, "embedding": vec} for i, (vec, _) in enumerate(rows)]
        n = sum(count for _, count in rows)
        return JSONResponse(
            {"object": "list", "data": data, "model": name, "usage": {"prompt_tokens": n, "total_tokens": n}}
        )

    async def completion(request: Request) -> Response:
        """llama.cpp's native endpoint."""
        body = await srv.body(request)
        ids = srv.prompt_ids(body)
        n_predict = _integer(body, "n_predict", None, -1, srv.runner.context_length)
        options = srv.sampling(
            {**body, "n_predict": None if n_predict in (None, -1) else n_predict}, "n_predict"
        )
        options["top_k"] = _integer(body, "top_k", 40, 0, 1 << 20)
        options["top_p"] = _number(body, "top_p", 0.95, 0.0, 1.0)
        options["min_p"] = _number(body, "min_p", 0.05, 0.0, 1.0)
        options["temperature"] = _number(body, "temperature", 0.8, 0.0, 100.0)
        options["stop"] = _stops(body)
        n_probs = _integer(body, "n_probs", 0, 0, 20) or 0
        options["logprobs"] = n_probs
        srv.admit()
        if body.get("stream"):

            def frame(piece: str) -> str:
                return _sse({"content": piece, "stop": False})

            def final(summary: dict[str, Any]) -> list[str]:
                stop_type = "limit" if summary["finish_reason"] == "length" else "eos"
                return [
                    _sse(
                        {
                            "content": "",
                            "stop": True,
                            "model": name,
                            "stop_type": stop_type,
                            "tokens_evaluated": summary["prompt_tokens"],
                            "tokens_predicted": summary["completion_tokens"],
                        }
                    )
                ]

            return await srv.stream_admitted(ids, options, frame, final)
        gen = await srv.generate_admitted(ids, **options)
        out: dict[str, Any] = {
            "content": gen.text,
            "model": name,
            "stop": True,
            "stop_type": {"length": "limit", "context": "limit"}.get(gen.finish_reason, "eos"),
            "tokens_evaluated": len(gen.prompt_ids),
            "tokens_predicted": len(gen.token_ids),
            "seed": gen.seed,
            "timings": {
                "prompt_ms": gen.timings.get("prompt_seconds", 0.0) * 1e3,
                "predicted_ms": gen.timings.get("generation_seconds", 0.0) * 1e3,
                "predicted_per_second": gen.timings.get("tokens_per_second", 0.0),
            },
        }
        if n_probs:
            out["completion_probabilities"] = srv.logprobs(gen, n_probs)
        return JSONResponse(out)

    def route(path: str, fn: Any, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await handle(request, fn)

        return Route(path, endpoint, methods=methods)

    routes = [
        route("/health", health, ["GET"]),
        route("/v1/health", health, ["GET"]),
        route("/v1/models", models, ["GET"]),
        route("/v1/chat/completions", chat, ["POST"]),
        route("/v1/completions", completions, ["POST"]),
        route("/v1/embeddings", embeddings, ["POST"]),
        route("/completion", completion, ["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.server = srv
    return app
