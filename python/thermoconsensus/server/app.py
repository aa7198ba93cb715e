"""The HTTP application: OpenAI-compatible ``/v1/*`` and llama.cpp-compatible ``/completion``, ``/health``
over one local model (Starlette), with llama-server's extras (:mod:`.llama_extras`), ``/v1/consensus``
(:mod:`.consensus`) and the web page at ``/`` (``static/index.html``).

Admission is bounded: at most ``max_queue`` generation requests are running or waiting; the next one is
answered 503 with Retry-After at once instead of queueing without bound. Generation itself is serialised
by the model's :class:`~thermoconsensus._runner.EngineRunner`.

Hostile input is cheap to refuse: the key is checked before the body is read, bodies are read within a
size limit and validated against the schemas of :mod:`.schema` before a slot is taken (400 naming the
field, 413 for size), a slot is released exactly once on every exit path (an error, a client that leaves,
a cancelled task), and a client that leaves stops its generation at the next token, streaming or not.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import importlib.resources
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .._core import InvalidInputError
from .._runner import EngineRunner
from ..clients.chat_tools import ToolCallParser, chat_prompt, forced_call_format, tool_names
from .consensus import ConsensusService, consensus_routes
from .errors import ClientGone, HTTPError
from .llama_extras import llama_routes
from .metrics import EngineSlots, Metrics, Task
from .schema import (
    MAX_BODY_BYTES,
    BodyError,
    ChatBody,
    CompletionsBody,
    EmbeddingsBody,
    LlamaCompletionBody,
    NamedToolChoice,
    decode,
    engine_bias,
    validate,
)

__all__ = ["create_app"]

log = logging.getLogger("thermoconsensus.server")

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

B = TypeVar("B", bound=BaseModel)

# OpenAI's sampling defaults; llama.cpp's /completion has its own.
_OPENAI_DEFAULTS: dict[str, Any] = {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0}
_LLAMA_DEFAULTS: dict[str, Any] = {"temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05}


class Slot:
    """One admitted request's place in the queue, given back exactly once however the request ends."""

    def __init__(self, server: Server) -> None:
        self._server: Server | None = server

    def release(self) -> None:
        if self._server is not None:
            self._server.pending -= 1
            self._server = None


class AdmittedStream(StreamingResponse):
    """A streamed reply that owns an admission slot: the slot is released and the event generator
    closed (stopping the engine) when the response ends, fails, is cancelled or is never iterated."""

    def __init__(self, content: AsyncIterator[str], slot: Slot) -> None:
        super().__init__(content, media_type="text/event-stream", headers=_SSE_HEADERS)
        self.slot = slot
        self._events = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()
            aclose = getattr(self._events, "aclose", None)
            if aclose is not None:
                await aclose()


async def _until_disconnect(request: Request) -> None:
    """Returns when the client has closed the connection (the body has been read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


class Server:
    """The routes' shared state: the model runner, the key, the admission counter and the options."""

    def __init__(
        self,
        runner: EngineRunner,
        api_key: str | None,
        max_queue: int,
        default_max_tokens: int,
        max_body_bytes: int,
    ) -> None:
        self.runner = runner
        self._key = api_key.encode() if api_key else None
        self.max_queue = max_queue
        self.default_max_tokens = default_max_tokens
        self.max_body_bytes = max_body_bytes
        self.pending = 0
        self.created = int(time.time())
        self.slots = EngineSlots(runner.context_length, n=runner.max_batch)
        self.metrics = Metrics()

    # -- admission and parsing ------------------------------------------------------------------

    def authorise(self, request: Request) -> None:
        if self._key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        # Constant-time comparison: the reply time must not reveal how much of a guess was right.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode("utf-8", "replace"), self._key
        ):
            raise HTTPError(
                401, "missing or invalid API key (Authorization: Bearer ...)", "authentication_error"
            )

    def admit(self) -> Slot:
        if self.pending >= self.max_queue:
            raise HTTPError(
                503, f"server busy: {self.pending} requests queued (limit {self.max_queue})", "server_busy"
            )
        self.pending += 1
        return Slot(self)

    async def read(self, request: Request) -> bytes:
        """The raw body, refused with 413 as soon as it is known to exceed the limit."""
        limit = self.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise HTTPError(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPError(413, f"request body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            raise ClientGone from None
        return b"".join(chunks)

    async def body(self, request: Request, schema: type[B]) -> B:
        """The authorised, size- and depth-checked body validated as ``schema``."""
        self.authorise(request)
        try:
            return validate(schema, decode(await self.read(request)))
        except BodyError as err:
            raise HTTPError(err.status, err.message) from None

    def sampling(self, body: Any, max_tokens: int | None, defaults: dict[str, Any]) -> dict[str, Any]:
        """Engine options from a validated body (``defaults`` for what it leaves out)."""
        limit = self.runner.context_length
        if max_tokens is not None and max_tokens > limit:
            raise HTTPError(400, f"'max_tokens' must be at most the context length {limit}, got {max_tokens}")

        def pick(name: str, default: Any) -> Any:
            value = getattr(body, name)
            return default if value is None else value

        stop = body.stop
        return {
            "max_tokens": max_tokens or self.default_max_tokens,
            "temperature": float(pick("temperature", defaults["temperature"])),
            "top_p": float(pick("top_p", defaults["top_p"])),
            "top_k": pick("top_k", defaults["top_k"]),
            "min_p": float(pick("min_p", defaults["min_p"])),
            "seed": body.seed,
            "repeat_penalty": float(pick("repeat_penalty", 1.0)),
            "frequency_penalty": float(pick("frequency_penalty", 0.0)),
            "presence_penalty": float(pick("presence_penalty", 0.0)),
            "stop": [stop] if isinstance(stop, str) else list(stop or []),
            "logit_bias": engine_bias(getattr(body, "logit_bias", None)),
            "response_format": (
                fmt.engine_format() if (fmt := getattr(body, "response_format", None)) else None
            ),
        }

    def chat_ids(self, body: ChatBody) -> tuple[list[int], list[str]]:
        """The chat prompt's token ids (tools declared unless ``tool_choice`` is "none") and the
        template's stop strings."""
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        tools = None
        if body.tools and body.tool_choice != "none":
            tools = [t.model_dump(exclude_none=True) for t in body.tools]
        try:
            return chat_prompt(self.runner, messages, tools)
        except (InvalidInputError, TypeError, ValueError) as exc:
            raise HTTPError(400, str(exc)) from None

    def prompt_ids(self, prompt: str | list[str] | list[int]) -> list[int]:
        if isinstance(prompt, list) and isinstance(prompt[0], str):
            prompt = str(prompt[0])
        if isinstance(prompt, str):
            return self.runner.text_prompt(prompt)
        vocab = self.runner.model.n_vocab
        bad = next((t for t in prompt if isinstance(t, int) and t >= vocab), None)
        if bad is not None:
            raise HTTPError(400, f"'prompt': token id {bad} is outside the vocabulary of {vocab}")
        return [int(t) for t in prompt]

    def check(self, ids: list[int], options: dict[str, Any]) -> None:
        """Raises a 400 now (before any slot or stream) when the prompt does not fit the context."""
        try:
            self.runner.options_for(ids, options)
        except InvalidInputError as exc:
            raise HTTPError(400, str(exc)) from None

    # -- generation -----------------------------------------------------------------------------

    def task(self, request: Request, ids: list[int], options: dict[str, Any]) -> Task:
        params: dict[str, Any] = {
            k: options[k] for k in ("max_tokens", "temperature", "top_p", "top_k", "seed") if k in options
        }
        return self.slots.task(request.url.path, len(ids), params)

    def samples(self, n: int | None, field: str = "n") -> int:
        """How many samples a request asks for (``n``, or ``best_of`` named by ``field``); a 400 now,
        before any stream, if too many."""
        try:
            return self.runner.check_samples(n or 1, field)
        except InvalidInputError as exc:
            raise HTTPError(400, f"{exc} (serve --parallel)") from None

    async def generate(self, ids: list[int], task: Task, n: int, **options: Any) -> list[Any]:
        try:
            async with self.slots.hold(task):
                gens = await self.runner.generate_many(ids, n, **options)
        except (InvalidInputError, TypeError, ValueError) as exc:
            raise HTTPError(400, str(exc)) from None
        task.n_decoded = sum(len(gen.token_ids) for gen in gens)
        for j, gen in enumerate(gens):
            self.metrics.count_generation(gen, prompt=j == 0)
        return gens

    async def generate_for(
        self, request: Request, ids: list[int], options: dict[str, Any], n: int = 1
    ) -> list[Any]:
        """:meth:`generate` while watching the connection: a client that leaves stops the engine at its
        next token (ClientGone) instead of keeping it busy for a reply nobody reads."""
        work = asyncio.ensure_future(self.generate(ids, self.task(request, ids, options), n, **options))
        gone = asyncio.ensure_future(_until_disconnect(request))
        try:
            done, _ = await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # this handler was cancelled (server shutdown)
            await _cancel(work)
            raise
        finally:
            gone.cancel()
        if work in done:
            return work.result()
        await _cancel(work)
        raise ClientGone

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

    async def answer(
        self,
        request: Request,
        ids: list[int],
        options: dict[str, Any],
        stream: bool,
        frame: Callable[[int, str], list[str]],
        final: Callable[[list[dict[str, Any]]], list[str]],
        reply: Callable[[list[Any]], Response],
        n: int = 1,
    ) -> Response:
        """Admits a validated request for ``n`` samples and answers it: ``reply(generations)`` for a
        whole reply, or an SSE stream of the ``frame(j, piece)`` lines of sample ``j`` and then
        ``final(summaries)``'s (one summary per sample, each carrying its finished ``generation``). The
        slot is released when the reply is ready, when the stream ends, or on any failure in between."""
        self.check(ids, options)
        slot = self.admit()
        owned = False
        try:
            if stream:
                task = self.task(request, ids, options)
                response = AdmittedStream(self._events(ids, options, task, frame, final, n), slot)
                owned = True  # the response releases it now
                return response
            return reply(await self.generate_for(request, ids, options, n))
        finally:
            if not owned:
                slot.release()

    async def _events(
        self,
        ids: list[int],
        options: dict[str, Any],
        task: Task,
        frame: Callable[[int, str], list[str]],
        final: Callable[[list[dict[str, Any]]], list[str]],
        n: int,
    ) -> AsyncIterator[str]:
        summaries: list[dict[str, Any]] = [
            {"prompt_tokens": len(ids), "completion_tokens": 0, "finish_reason": "stop", "generation": None}
            for _ in range(n)
        ]
        items = self.runner.stream_many(ids, n, **options)
        try:
            async with self.slots.hold(task):
                async for index, item in items:
                    if isinstance(item, str):
                        task.n_decoded += 1  # about one piece per token; exact once finished
                        for line in frame(index, item):
                            yield line
                    else:  # a sample's finished generation comes after its last piece
                        self.metrics.count_generation(item, prompt=index == 0)
                        summary = summaries[index]
                        summary["completion_tokens"] = len(item.token_ids)
                        summary["finish_reason"] = _finish(item.finish_reason)
                        summary["generation"] = item
                        task.n_decoded = sum(s["completion_tokens"] for s in summaries)
            for line in final(summaries):
                yield line
        except Exception as exc:  # headers are gone: report in-band, as OpenAI does
            log.warning("stream failed: %s: %s", type(exc).__name__, exc)
            yield _sse({"error": {"message": str(exc), "type": "server_error"}})
        finally:
            await items.aclose()  # however this ends, the runner's stream closes and the engine stops


async def _cancel(task: asyncio.Future[Any]) -> None:
    """Cancels ``task`` and waits until it has ended (the engine lets go within a token)."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved: an error after the client left is nobody's to report


# The page talks to this server only: no other origin for scripts, styles, images or requests.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@functools.lru_cache(maxsize=1)
def _page() -> str:
    return (importlib.resources.files(__package__) / "static" / "index.html").read_text(encoding="utf-8")


def _finish(reason: str) -> str:
    return "length" if reason in ("length", "context") else "stop"


def mean_logprob(gen: Any) -> float:
    """A sample's mean log probability per token, best_of's ranking (-inf for an empty sample)."""
    return sum(gen.logprobs) / len(gen.logprobs) if gen.logprobs else float("-inf")


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n"


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def create_app(
    runner: EngineRunner,
    *,
    api_key: str | None = None,
    max_queue: int = 16,
    default_max_tokens: int = 256,
    max_body_bytes: int = MAX_BODY_BYTES,
    consensus: ConsensusService | None = None,
    ui: bool = True,
) -> Starlette:
    """The Starlette application serving ``runner``'s model. ``api_key``: bearer token required on every
    route but /health and the page; ``max_queue``: generation requests admitted at once (the rest get
    503); ``max_body_bytes``: the largest request body read (larger ones get 413); ``consensus``: the
    pool behind ``/v1/consensus`` (None: that route answers 404); ``ui``: serve the web page at ``/``."""
    for label, value in (("max_queue", max_queue), ("max_body_bytes", max_body_bytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label}: expected a positive integer, got {value!r}")
    srv = Server(runner, api_key, max_queue, default_max_tokens, max_body_bytes)
    name = runner.name

    async def handle(request: Request, fn: Any, route: str) -> Response:
        response = await answer(request, fn)
        srv.metrics.count_request(route, response.status_code)
        return response

    async def answer(request: Request, fn: Any) -> Response:
        try:
            result: Response = await fn(request)
            return result
        except HTTPError as err:
            return err.response()
        except ClientGone:
            return Response(status_code=499)  # nginx's "client closed request"; nobody reads it
        except Exception:  # a bug must cost one request a 500, never the server a slot or a worker
            log.exception("unhandled error on %s", request.url.path)
            return HTTPError(500, "internal server error", "server_error").response()

    async def page(request: Request) -> Response:
        """The web page: static, no data in it (what it shows comes from the key-checked routes)."""
        return HTMLResponse(_page(), headers=_PAGE_HEADERS)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": name, "pending": srv.pending})

    def model_card() -> dict[str, Any]:
        meta = {"n_ctx": srv.runner.context_length, "n_vocab": srv.runner.model.n_vocab}
        return {
            "id": name,
            "object": "model",
            "created": srv.created,
            "owned_by": "thermoconsensus",
            "meta": meta,
        }

    async def models(request: Request) -> Response:
        srv.authorise(request)
        return JSONResponse({"object": "list", "data": [model_card()]})

    async def model(request: Request) -> Response:
        """``GET /v1/models/{id}`` (``client.models.retrieve``)."""
        srv.authorise(request)
        wanted = request.path_params["model_id"]
        if wanted != name:
            raise HTTPError(
                404, f"model {wanted!r} not found; this server serves {name!r}", "not_found_error"
            )
        return JSONResponse(model_card())

    async def chat(request: Request) -> Response:
        body = await srv.body(request, ChatBody)
        ids, stops = srv.chat_ids(body)
        options = srv.sampling(body, body.max_completion_tokens or body.max_tokens, _OPENAI_DEFAULTS)
        options["stop"] = [*stops, *options["stop"]]
        want_lp = bool(body.logprobs)
        top_n = body.top_logprobs or 0
        options["logprobs"] = max(top_n, 1) if want_lp else 0
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        head = {"id": cid, "created": created, "model": name}
        chunk = {**head, "object": "chat.completion.chunk"}

        # With tools declared, the model's <tool_call> blocks become tool_calls (at most one when
        # parallel_tool_calls is false); without, its text is the content as it is.
        calling = bool(body.tools) and body.tool_choice != "none"
        n = srv.samples(body.n)
        tools = [t.model_dump(exclude_none=True) for t in body.tools or []]
        names = tool_names(tools)
        asked = body.tool_choice
        choice_spec = asked.model_dump() if isinstance(asked, NamedToolChoice) else asked
        # "required" or a named function: a grammar makes the reply those calls and nothing else.
        if (
            forced := forced_call_format(tools, choice_spec, body.parallel_tool_calls is not False)
        ) is not None:
            options["response_format"] = forced
        parsers = [ToolCallParser(names) for _ in range(n)]  # one per sample: each streams its own calls
        if body.parallel_tool_calls is False:
            for parser in parsers:
                parser.limit = 1

        def delta(j: int, d: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            return _sse({**chunk, "choices": [{"index": j, "delta": d, "finish_reason": finish, **extra}]})

        def events(j: int, items: list[tuple[str, Any]]) -> list[str]:
            out = []
            for kind, value in items:
                if kind == "content":
                    out.append(delta(j, {"content": value}))
                else:
                    call = {"index": len(parsers[j].calls) - 1, **value}
                    out.append(delta(j, {"tool_calls": [call]}))
            return out

        def frame(j: int, piece: str) -> list[str]:
            return events(j, parsers[j].feed(piece)) if calling else [delta(j, {"content": piece})]

        def final(summaries: list[dict[str, Any]]) -> list[str]:
            lines = []
            for j, summary in enumerate(summaries):
                if calling:
                    lines += events(j, parsers[j].finish())
                reason = "tool_calls" if parsers[j].calls else summary["finish_reason"]
                gen = summary["generation"]
                extra = {}
                if want_lp and gen is not None:  # pieces are text, not tokens: all of them come at the end
                    extra["logprobs"] = {"content": srv.logprobs(gen, top_n)}
                lines.append(delta(j, {}, reason, **extra))
            if include_usage:
                completion = sum(s["completion_tokens"] for s in summaries)
                usage = _usage(summaries[0]["prompt_tokens"], completion)
                lines.append(_sse({**chunk, "choices": [], "usage": usage}))
            return [*lines, "data: [DONE]\n\n"]

        def choice(j: int, gen: Any) -> dict[str, Any]:
            message: dict[str, Any] = {"role": "assistant", "content": gen.text}
            reason = _finish(gen.finish_reason)
            if calling:
                content, calls = parsers[j].parse(gen.text)
                message["content"] = (content or None) if calls else content
                if calls:
                    message["tool_calls"] = calls
                    reason = "tool_calls"
            return {
                "index": j,
                "message": message,
                "finish_reason": reason,
                "logprobs": {"content": srv.logprobs(gen, top_n)} if want_lp else None,
            }

        def reply(gens: list[Any]) -> Response:
            choices = [choice(j, gen) for j, gen in enumerate(gens)]
            usage = _usage(len(gens[0].prompt_ids), sum(len(g.token_ids) for g in gens))
            return JSONResponse({**head, "object": "chat.completion", "choices": choices, "usage": usage})

        return await srv.answer(request, ids, options, body.stream, frame, final, reply, n)

    async def completions(request: Request) -> Response:
        body = await srv.body(request, CompletionsBody)
        ids = srv.prompt_ids(body.prompt)
        options = srv.sampling(body, body.max_tokens or 16, _OPENAI_DEFAULTS)
        top_n = body.logprobs
        # best_of ranks its samples by their tokens' mean log probability, which it needs recorded.
        best_of = body.best_of if body.best_of and body.best_of > 1 else None
        options["logprobs"] = 0 if top_n is None and best_of is None else max(top_n or 0, 1)
        head = {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": name,
        }

        if best_of is not None and body.stream:
            raise HTTPError(400, "'best_of': cannot be streamed (the best samples are known only at the end)")
        keep = n = srv.samples(body.n)
        if best_of is not None:
            n = srv.samples(best_of, "best_of")

        def frame(j: int, piece: str) -> list[str]:
            choice = {"index": j, "text": piece, "finish_reason": None, "logprobs": None}
            return [_sse({**head, "choices": [choice]})]

        def final(summaries: list[dict[str, Any]]) -> list[str]:
            last = [
                {"index": j, "text": "", "finish_reason": s["finish_reason"], "logprobs": None}
                for j, s in enumerate(summaries)
            ]
            completion = sum(s["completion_tokens"] for s in summaries)
            usage = _usage(summaries[0]["prompt_tokens"], completion)
            return [_sse({**head, "choices": last, "usage": usage}), "data: [DONE]\n\n"]

        def choice(j: int, gen: Any) -> dict[str, Any]:
            logprobs = None
            if top_n is not None:
                tt = srv.runner.token_text
                logprobs = {
                    "tokens": [tt(t) for t in gen.token_ids],
                    "token_logprobs": list(gen.logprobs),
                    "top_logprobs": [{tt(a): b for a, b in top[:top_n]} for top in gen.top_logprobs],
                }
            return {
                "index": j,
                "text": gen.text,
                "finish_reason": _finish(gen.finish_reason),
                "logprobs": logprobs,
            }

        def reply(gens: list[Any]) -> Response:
            # Usage counts every sample drawn, as OpenAI bills best_of.
            usage = _usage(len(gens[0].prompt_ids), sum(len(g.token_ids) for g in gens))
            if best_of is not None:
                gens = sorted(gens, key=mean_logprob, reverse=True)[:keep]
            choices = [choice(j, gen) for j, gen in enumerate(gens)]
            return JSONResponse({**head, "choices": choices, "usage": usage})

        return await srv.answer(request, ids, options, body.stream, frame, final, reply, n)

    async def embeddings(request: Request) -> Response:
        body = await srv.body(request, EmbeddingsBody)
        items = [body.input] if isinstance(body.input, str) else list(body.input)
        slot = srv.admit()
        try:
            async with srv.slots.hold(srv.slots.task(request.url.path, 0)):
                rows = await srv.runner.embed(items)
        except InvalidInputError as exc:
            raise HTTPError(400, str(exc)) from None
        finally:
            slot.release()
        data = [{"object": "embedding", "index": i, "embedding": vec} for i, (vec, _) in enumerate(rows)]
        n = sum(count for _, count in rows)
        return JSONResponse(
            {"object": "list", "data": data, "model": name, "usage": {"prompt_tokens": n, "total_tokens": n}}
        )

    async def completion(request: Request) -> Response:
        """llama.cpp's native endpoint."""
        body = await srv.body(request, LlamaCompletionBody)
        ids = srv.prompt_ids(body.prompt)
        if body.n_predict == 0:
            raise HTTPError(400, "'n_predict': expected -1 (no limit but the context) or a positive integer")
        n_predict = None if body.n_predict in (None, -1) else body.n_predict
        options = srv.sampling(body, n_predict, _LLAMA_DEFAULTS)
        n_probs = body.n_probs or 0
        options["logprobs"] = n_probs

        def frame(_: int, piece: str) -> list[str]:
            return [_sse({"content": piece, "stop": False})]

        def final(summaries: list[dict[str, Any]]) -> list[str]:
            (summary,) = summaries
            stop_type = "limit" if summary["finish_reason"] == "length" else "eos"
            last = {
                "content": "",
                "stop": True,
                "model": name,
                "stop_type": stop_type,
                "tokens_evaluated": summary["prompt_tokens"],
                "tokens_predicted": summary["completion_tokens"],
            }
            return [_sse(last)]

        def reply(gens: list[Any]) -> Response:
            (gen,) = gens
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

        return await srv.answer(request, ids, options, body.stream, frame, final, reply)

    def route(path: str, fn: Any, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await handle(request, fn, path)

        return Route(path, endpoint, methods=methods)

    routes = [
        route("/health", health, ["GET"]),
        route("/v1/health", health, ["GET"]),
        route("/v1/models", models, ["GET"]),
        route("/v1/models/{model_id:path}", model, ["GET"]),
        *(route(path, fn, methods) for path, fn, methods in llama_routes(srv)),
        route("/v1/chat/completions", chat, ["POST"]),
        route("/v1/completions", completions, ["POST"]),
        route("/v1/embeddings", embeddings, ["POST"]),
        route("/completion", completion, ["POST"]),
        *(route(path, fn, methods) for path, fn, methods in consensus_routes(srv, consensus)),
    ]
    if ui:
        routes.append(route("/", page, ["GET"]))
    app = Starlette(routes=routes)
    app.state.server = srv
    return app
