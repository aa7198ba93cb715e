"""A local OpenAI- and llama.cpp-compatible HTTP server over the GGUF engine.

``thermoconsensus serve MODEL.gguf`` runs :func:`serve`; :class:`ServerThread` runs the same server in a
background thread (tests, benchmarks, notebooks) and stops it cleanly. Routes: ``/v1/chat/completions``
(SSE streaming, tool calls), ``/v1/completions``, ``/v1/embeddings``, ``/v1/models[/{id}]``, llama.cpp's
``/completion``, ``/tokenize``, ``/detokenize``, ``/props``, ``/slots``, ``/metrics``, ``/health``;
``/v1/consensus`` over a pool of models (``consensus=``) and the web page at ``/``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import sys
import threading
import time
from types import TracebackType
from typing import Any, Union

try:
    import pydantic  # noqa: F401  (the request schemas)
    import uvicorn
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "thermoconsensus.server needs the server extra: pip install 'thermoconsensus[server]'"
    ) from exc

from .._runner import EngineRunner
from ..clients._secret import check_key
from ..clients.local import DEFAULT_PREFIX_CACHE_MB, LocalClient, ModelArg, load_runner
from .app import create_app
from .consensus import ConsensusService

__all__ = [
    "KEY_ENV",
    "ConsensusService",
    "ServerThread",
    "consensus_pool",
    "create_app",
    "free_port",
    "resolve_api_key",
    "serve",
]

#: The environment variable :func:`serve` reads the API key from (not visible in ``ps``, unlike a flag).
KEY_ENV = "THERMOCONSENSUS_API_KEY"

PathArg = Union[str, "os.PathLike[str]"]


def resolve_api_key(
    api_key: str | None = None, api_key_file: PathArg | None = None, *, env: bool = True
) -> str | None:
    """The server's key: ``api_key``, else the content of ``api_key_file`` (one key), else (``env=True``)
    ``$THERMOCONSENSUS_API_KEY``, else None. Stripped of surrounding whitespace; ValueError (never
    quoting the key) when it is empty, not printable ASCII, or both a key and a file are given."""
    if api_key is not None and api_key_file is not None:
        raise ValueError("give the API key or a key file, not both")
    if api_key is not None:
        return check_key(api_key)
    if api_key_file is not None:
        path = os.fspath(api_key_file)
        try:
            with open(path, "rb") as f:
                raw = f.read(4097)
        except OSError as exc:
            raise ValueError(f"API key file {path!r}: {exc.strerror or exc}") from None
        if len(raw) > 4096:
            raise ValueError(f"API key file {path!r}: larger than 4096 bytes; expected one key")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"API key file {path!r}: not UTF-8 text") from None
        return check_key(text, f"API key file {path!r}")
    value = os.environ.get(KEY_ENV, "") if env else ""
    return check_key(value, f"environment variable {KEY_ENV}") if value.strip() else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


ConsensusArg = Union[list[Any], ConsensusService, None]


def consensus_pool(
    runner: EngineRunner, members: list[Any], embedder: Any = "served", **settings: Any
) -> ConsensusService:
    """The ``/v1/consensus`` pool: the served model (``runner``, not loaded twice) and ``members``, each
    a client spec (``openai:gpt-4o-mini``, ``local:qwen2.5-coder-0.5b``, ...) or an LLM client.
    ``embedder``: "served" (the served model's mean-pooled hidden states), "minilm" / None
    (all-MiniLM-L6-v2) or any embedder the Orchestrator takes; ``settings``: ConsensusConfig fields."""
    from ..clients import create_client

    clients: list[Any] = [LocalClient(runner)]
    for m in members:
        clients.append(create_client(m) if isinstance(m, str) else m)
    if embedder == "served":
        embedder = runner.model
    elif embedder == "minilm":
        embedder = None
    return ConsensusService.build(clients, embedder, **settings)


def _config(
    model: ModelArg,
    host: str,
    port: int,
    api_key: str | None,
    max_queue: int,
    name: str | None,
    n_threads: int | None,
    log_level: str,
    consensus: ConsensusArg = None,
    ui: bool = True,
    parallel: int = 4,
    prefix_cache_mb: float = DEFAULT_PREFIX_CACHE_MB,
) -> tuple[uvicorn.Config, EngineRunner]:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"port: expected an integer in 0..65535, got {port!r}")
    runner = load_runner(model, name, n_threads, parallel, prefix_cache_mb)
    service = consensus_pool(runner, consensus) if isinstance(consensus, list) else consensus
    app = create_app(runner, api_key=api_key, max_queue=max_queue, consensus=service, ui=ui)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        lifespan="off",
    )
    return config, runner


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    model: ModelArg,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    api_key: str | None = None,
    api_key_file: PathArg | None = None,
    max_queue: int = 16,
    name: str | None = None,
    n_threads: int | None = None,
    log_level: str = "info",
    consensus: ConsensusArg = None,
    ui: bool = True,
    parallel: int = 4,
    prefix_cache_mb: float = DEFAULT_PREFIX_CACHE_MB,
) -> None:
    """Serves ``model`` (a .gguf path, a model name such as "smollm2-135m", or a loaded model) until
    interrupted (Ctrl-C / SIGTERM finish in-flight requests, then stop). The key comes from
    ``api_key``, ``api_key_file`` or ``$THERMOCONSENSUS_API_KEY`` (:func:`resolve_api_key`).
    ``consensus``: other models for ``/v1/consensus`` (:func:`consensus_pool`'s ``members``) or a
    ready :class:`ConsensusService`; ``ui``: the web page at ``/``; ``parallel``: generations decoded
    together in one batched engine pass per token (llama-server's ``--parallel`` slots);
    ``prefix_cache_mb``: the prefix cache of a model loaded here (:func:`load_runner`; 0: none)."""
    api_key = resolve_api_key(api_key, api_key_file)
    config, runner = _config(
        model,
        host,
        port,
        api_key,
        max_queue,
        name,
        n_threads,
        log_level,
        consensus,
        ui,
        parallel,
        prefix_cache_mb,
    )
    if not _loopback(host) and api_key is None:
        print(
            f"warning: serving on {host} without an API key ({KEY_ENV}): anyone who can reach it can use it",
            file=sys.stderr,
        )
    print(
        f"thermoconsensus: serving {runner.name} on http://{host}:{config.port}/v1"
        + (f" (page: http://{host}:{config.port}/)" if ui else ""),
        file=sys.stderr,
        flush=True,
    )
    uvicorn.Server(config).run()


class ServerThread:
    """The server in a background thread: ``with ServerThread("smollm2-135m") as srv: srv.base_url``.

    Binds 127.0.0.1 on a free port by default; ``stop()`` (or leaving the block) asks uvicorn to shut
    down, waits for in-flight requests (5 s at most) and joins the thread. The key comes from ``api_key``
    or ``api_key_file`` only (not the environment: a test server must not pick up a real key).
    ``consensus``, ``ui``, ``parallel`` and ``prefix_cache_mb`` as :func:`serve`'s.
    """

    def __init__(
        self,
        model: ModelArg,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        api_key: str | None = None,
        api_key_file: PathArg | None = None,
        max_queue: int = 16,
        name: str | None = None,
        n_threads: int | None = None,
        log_level: str = "warning",
        consensus: ConsensusArg = None,
        ui: bool = True,
        parallel: int = 4,
        prefix_cache_mb: float = DEFAULT_PREFIX_CACHE_MB,
    ) -> None:
        api_key = resolve_api_key(api_key, api_key_file, env=False)
        config, self.runner = _config(
            model,
            host,
            port or free_port(host),
            api_key,
            max_queue,
            name,
            n_threads,
            log_level,
            consensus,
            ui,
            parallel,
            prefix_cache_mb,
        )
        self.host, self.port = host, config.port
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __repr__(self) -> str:
        return f"ServerThread({self.runner.name!r}, {self.url!r})"

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible root, ``http://host:port/v1``."""
        return self.url + "/v1"

    def _run(self) -> None:
        try:
            # Off the main thread uvicorn installs no signal handlers: stop() ends this server.
            asyncio.run(self._server.serve())
        except BaseException as exc:  # reported by start()/stop() in the caller's thread
            self._error = exc

    def start(self, timeout: float = 30.0) -> ServerThread:
        """Starts the server and waits until it accepts connections."""
        self._thread = threading.Thread(
            target=self._run, name=f"thermoconsensus-server-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"server on {self.url} failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server on {self.url} did not start within {timeout} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shuts the server down and joins its thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
