"""llama-server's extra routes: ``/tokenize``, ``/detokenize``, ``/props``, ``/slots`` and ``/metrics``.

Shapes follow llama.cpp's server README: ``/tokenize`` answers ``{"tokens": [...]}`` (``with_pieces``:
``[{"id", "piece"}]``, a piece that is not whole UTF-8 given as its bytes), ``/detokenize`` answers
``{"content"}``, ``/props`` the generation defaults, context and slot count, ``/slots`` one entry per slot,
``/metrics`` the Prometheus text format. All but ``/health`` need the key when one is set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from .errors import HTTPError
from .schema import DetokenizeBody, TokenizeBody

if TYPE_CHECKING:
    from .app import Server

__all__ = ["llama_routes"]

Endpoint = Callable[[Request], Awaitable[Response]]

# llama.cpp's /completion sampling defaults, reported by /props.
_LLAMA_DEFAULTS = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0}


def llama_routes(srv: Server) -> list[tuple[str, Endpoint, list[str]]]:
    """(path, endpoint, methods) for each extra route over ``srv``."""
    runner = srv.runner
    model = runner.model

    async def tokenize(request: Request) -> Response:
        body = await srv.body(request, TokenizeBody)
        ids = model.tokenize(body.content, add_special=body.add_special, parse_special=body.parse_special)
        if not body.with_pieces:
            return JSONResponse({"tokens": ids})
        pieces: list[dict[str, Any]] = []
        for t in ids:
            raw = model._native.detokenize_bytes([t], True)
            try:
                piece: Any = raw.decode("utf-8")
            except UnicodeDecodeError:  # part of a character: llama-server gives the bytes
                piece = list(raw)
            pieces.append({"id": t, "piece": piece})
        return JSONResponse({"tokens": pieces})

    async def detokenize(request: Request) -> Response:
        body = await srv.body(request, DetokenizeBody)
        vocab = model.n_vocab
        bad = next((t for t in body.tokens if t >= vocab), None)
        if bad is not None:
            raise HTTPError(400, f"'tokens': token id {bad} is outside the vocabulary of {vocab}")
        return JSONResponse({"content": model.detokenize(body.tokens)})

    async def props(request: Request) -> Response:
        srv.authorise(request)
        template = model.metadata.get("tokenizer.chat_template")
        settings = {
            "n_ctx": runner.context_length,
            "params": {**_LLAMA_DEFAULTS, "n_predict": -1, "seed": None},
        }
        return JSONResponse(
            {
                "default_generation_settings": settings,
                "total_slots": srv.slots.n,
                "model_path": model.info.path,
                "model_alias": runner.name,
                "chat_template": template if isinstance(template, str) else "",
                "modalities": {"vision": False, "audio": False},
                "build_info": "thermoconsensus",
            }
        )

    async def slots(request: Request) -> Response:
        srv.authorise(request)
        return JSONResponse(srv.slots.to_list())

    async def metrics(request: Request) -> Response:
        srv.authorise(request)
        prefix = srv.runner.model.prefix_cache_stats()
        text = srv.metrics.render(srv.slots, srv.pending, srv.max_queue, prefix)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return [
        ("/tokenize", tokenize, ["POST"]),
        ("/detokenize", detokenize, ["POST"]),
        ("/props", props, ["GET"]),
        ("/slots", slots, ["GET"]),
        ("/metrics", metrics, ["GET"]),
    ]
