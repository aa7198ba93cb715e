"""``/v1/consensus``: a thermodynamic consensus over the server's pool of models, streamed as it forms.

``GET /v1/consensus`` lists the pool. ``POST /v1/consensus`` with ``{"prompt": str or messages,
"answer_extractor"?: name, "max_tokens"?: int, "stream"?: bool}`` asks every model; with ``stream``
(the default) the reply is SSE, one JSON object per ``data:`` line, each with a ``type``:

- ``start``: ``{"models": [...]}``;
- ``call``: the orchestrator's progress (``event`` "start", "done", "failed" or "timeout", ``model``,
  ``info``);
- ``piece``: ``{"model", "text"}``, a model's answer as it streams in;
- ``response``: ``{"model", "text", "finish_reason", "completion_tokens", "latency_s"}``, a whole answer;
- ``result``: the finished :class:`~thermoconsensus.consensus.Consensus`'s ``to_dict()`` (weights per
  model and response, validity, F*, entropy, answer weight, distances, the F(T) curve, the answer);
- ``error``: ``{"message"}`` (the consensus failed: too few models answered, ...); then ``[DONE]``.

Without ``stream`` the reply is the ``to_dict()`` JSON. One consensus runs at a time (the orchestrator
keeps per-model statistics between questions); each holds an admission slot like any generation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..clients.errors import ClientError
from .errors import HTTPError
from .schema import ConsensusBody

if TYPE_CHECKING:
    from ..consensus import Orchestrator
    from .app import Server

__all__ = ["ConsensusService", "WatchedClient", "consensus_routes"]

log = logging.getLogger("thermoconsensus.server")

Emit = Callable[[dict[str, Any]], None]


class WatchedClient:
    """A client as the orchestrator sees it (``name``, ``chat``) that reports its answer's pieces and
    its whole answer to ``emit`` as they arrive; it streams when the client can, else calls ``chat``."""

    def __init__(self, inner: Any, name: str) -> None:
        self.inner = inner
        self.name = name
        self.emit: Emit | None = None

    async def chat(self, prompt: Any, **options: Any) -> Any:
        response = None
        stream = getattr(self.inner, "stream", None)
        if callable(stream):
            said = False
            try:
                async with stream(prompt, **options) as s:
                    async for piece in s:
                        said = True
                        self._send({"type": "piece", "model": self.name, "text": piece})
                response = s.response
            except NotImplementedError:  # this client does not stream
                if said:
                    raise
        if response is None:
            response = await self.inner.chat(prompt, **options)
        self._send(
            {
                "type": "response",
                "model": self.name,
                "text": response.text,
                "finish_reason": response.finish_reason,
                "completion_tokens": response.completion_tokens,
                "latency_s": response.latency_s,
            }
        )
        return response

    def _send(self, event: dict[str, Any]) -> None:
        if self.emit is not None:
            self.emit(event)


class ConsensusService:
    """The pool behind ``/v1/consensus``: an :class:`Orchestrator` over :class:`WatchedClient` wrappers."""

    def __init__(self, orchestrator: Orchestrator, watched: list[WatchedClient]) -> None:
        self.orchestrator = orchestrator
        self.watched = watched
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    @classmethod
    def build(cls, clients: list[Any], embedder: Any = None, **settings: Any) -> ConsensusService:
        """The service over ``clients`` (LLM clients); ``embedder`` and ``settings`` as Orchestrator's."""
        from ..consensus import Orchestrator

        seen: dict[str, int] = {}
        watched = []
        for c in clients:  # unique names, so that the orchestrator's are the ones the events carry
            seen[c.name] = seen.get(c.name, 0) + 1
            watched.append(WatchedClient(c, c.name if seen[c.name] == 1 else f"{c.name}#{seen[c.name]}"))
        return cls(Orchestrator(watched, embedder=embedder, **settings), watched)

    @property
    def models(self) -> list[str]:
        return [w.name for w in self.watched]

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def run(self, body: ConsensusBody, emit: Emit) -> Any:
        """The consensus for ``body``, its progress sent to ``emit`` (one question at a time)."""
        prompt: Any = body.prompt
        if isinstance(prompt, list):
            prompt = [m.model_dump(exclude_none=True) for m in prompt]
        orch = self.orchestrator
        async with self._lock():

            def progress(event: str, model: str, info: dict[str, Any]) -> None:
                emit({"type": "call", "event": event, "model": model, "info": _plain(info)})

            orch.progress = progress
            for w in self.watched:
                w.emit = emit
            saved = orch.config
            try:
                if body.max_tokens is not None:
                    orch.config = saved.with_settings(max_tokens=body.max_tokens)
                return await orch.consensus(prompt, body.answer_extractor)
            finally:
                orch.config = saved
                orch.progress = None
                for w in self.watched:
                    w.emit = None


def _plain(info: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(info, default=str))
    return out


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'), ensure_ascii=False)}\n\n"


def consensus_routes(srv: Server, service: ConsensusService | None) -> list[tuple[str, Any, list[str]]]:
    """(path, endpoint, methods) of ``/v1/consensus`` (404 with a reason when no pool is configured)."""
    from .app import AdmittedStream

    def pool() -> ConsensusService:
        if service is None:
            raise HTTPError(
                404,
                "no consensus pool: start the server with --consensus MODEL (one or more)",
                "not_found_error",
            )
        return service

    async def info(request: Request) -> Response:
        srv.authorise(request)
        svc = pool()
        return JSONResponse(
            {"models": svc.models, "config": _plain(dataclasses.asdict(svc.orchestrator.config))}
        )

    async def ask(request: Request) -> Response:
        svc = pool()
        body = await srv.body(request, ConsensusBody)
        if body.answer_extractor is not None:
            from ..consensus import extractors

            if body.answer_extractor not in extractors.EXTRACTORS:
                known = ", ".join(sorted(extractors.EXTRACTORS))
                raise HTTPError(
                    400, f"'answer_extractor': unknown extractor {body.answer_extractor!r} ({known})"
                )
        slot = srv.admit()
        if not body.stream:
            try:
                result = await svc.run(body, lambda event: None)
            except (ClientError, ValueError) as exc:
                raise HTTPError(502 if isinstance(exc, ClientError) else 400, str(exc)) from None
            finally:
                slot.release()
            return JSONResponse(result.to_dict())
        return AdmittedStream(_events(svc, body), slot)

    return [("/v1/consensus", info, ["GET"]), ("/v1/consensus", ask, ["POST"])]


async def _events(svc: ConsensusService, body: ConsensusBody) -> AsyncIterator[str]:
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    task = asyncio.ensure_future(svc.run(body, queue.put_nowait))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        yield _sse({"type": "start", "models": svc.models})
        while True:
            event = await queue.get()
            if event is None:
                break
            yield _sse(event)
        try:
            yield _sse({"type": "result", **task.result().to_dict()})
        except Exception as exc:  # headers are gone: the failure is reported in-band
            log.warning("consensus failed: %s: %s", type(exc).__name__, exc)
            yield _sse({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
        yield "data: [DONE]\n\n"
    finally:
        if not task.done():  # the client left: stop asking the models
            task.cancel()
            await asyncio.wait([task])
