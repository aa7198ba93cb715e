"""The HTTP side every remote client shares: the pooled httpx client, auth headers, sending JSON, reading
SSE streams, and mapping statuses and transport failures to the typed errors (with keys scrubbed)."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Iterable
from typing import Any, Callable, ClassVar

import httpx

from . import _pool
from ._secret import Secret, resolve_key, scrub, scrub_payload
from .base import LLMClient, StreamState
from .errors import (
    AuthError,
    BadRequestError,
    ClientError,
    ConnectionError,
    ProviderError,
    RateLimitError,
    ResponseFormatError,
    TimeoutError,
)
from .reliability import parse_retry_after
from .sse import SSEEvent, iter_sse
from .types import ChatRequest

__all__ = ["HTTPClient"]


class HTTPClient(LLMClient):
    """An :class:`LLMClient` over HTTP. ``base_url``: the API root; ``api_key``: a string or
    :class:`Secret` (default: the provider's environment variables), stripped of surrounding whitespace
    and refused (ValueError) unless it is printable ASCII; ``headers``: extra headers;
    ``transport``: an httpx transport (tests use ``httpx.MockTransport``) — the client then owns a
    private httpx client instead of the shared one; ``http_client``: an httpx.AsyncClient you manage."""

    #: Environment variables searched for a key, in order.
    key_env: ClassVar[tuple[str, ...]] = ()
    #: Whether a call without a key is refused up front.
    key_required: bool = False
    default_base_url: str = ""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | Secret | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, **options)
        url = base_url or self.default_base_url
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: expected an http:// or https:// URL, got {url!r}")
        self.base_url = url.rstrip("/")
        self._key = resolve_key(api_key, self.key_env)
        if self._key is None and self.key_required:
            where = " or ".join(self.key_env)
            raise AuthError(
                f"{self.provider}: no API key; pass api_key= or set {where}", provider=self.provider
            )
        self._extra_headers = dict(headers or {})
        self._transport = transport
        self._user_http = http_client
        self._private: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._shared: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    def _cache_namespace(self) -> str:
        return self.base_url

    def _scrub(self, text: str) -> str:
        return scrub(text, self._key)

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self._extra_headers}
        if self._key is not None:
            headers.update(self._auth_headers(self._key.reveal()))
        return headers

    def _http(self) -> httpx.AsyncClient:
        if self._user_http is not None:
            return self._user_http
        loop = asyncio.get_running_loop()
        if self._transport is not None:
            client = self._private.get(loop)
            if client is None:
                client = self._private[loop] = httpx.AsyncClient(
                    base_url=self.base_url, transport=self._transport, timeout=None
                )
            return client
        if loop in self._shared:  # this object already holds a reference in this loop
            return _pool.get(self.base_url, loop)
        client = _pool.acquire(self.base_url)
        self._shared.add(loop)
        return client

    async def aclose(self) -> None:
        """Releases this client's share of the pooled connection (or closes its private client)."""
        loop = asyncio.get_running_loop()
        private = self._private.pop(loop, None)
        if private is not None:
            await private.aclose()
        if loop in self._shared:
            self._shared.discard(loop)
            await _pool.release(self.base_url, loop)

    # -- errors --------------------------------------------------------------------------------

    def _error_message(self, payload: Any, text: str) -> str:
        """The provider's own error message from an error body (OpenAI's shape by default)."""
        if isinstance(payload, dict):
            err = payload.get("error")
            if isinstance(err, dict) and isinstance(err.get("message"), str):
                return str(err["message"])
            if isinstance(err, str):
                return err
            if isinstance(payload.get("message"), str):
                return str(payload["message"])
        return text[:300]

    def error_for_status(self, status: int, body: bytes, headers: httpx.Headers) -> ClientError:
        """The typed error for an HTTP error status, its message scrubbed of the key."""
        text = body.decode("utf-8", errors="replace")
        try:
            payload: Any = json.loads(text)
        except ValueError:
            payload = None
        message = self._scrub(f"{self.name}: HTTP {status}: {self._error_message(payload, text).strip()}")
        retry_after = parse_retry_after(headers.get("retry-after"))
        common: dict[str, Any] = {"provider": self.provider, "status": status, "retry_after": retry_after}
        if status == 429:
            return RateLimitError(message, **common)
        if status in (401, 403):
            return AuthError(message, **common)
        if status == 408:
            return TimeoutError(message, **common)
        if status >= 500:
            return ProviderError(message, **common)
        return BadRequestError(message, **common)

    def _transport_error(self, exc: Exception) -> ClientError:
        detail = self._scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if isinstance(exc, httpx.TimeoutException):
            return TimeoutError(
                f"{self.name}: no answer within {self.timeout:g} s ({detail})", provider=self.provider
            )
        return ConnectionError(f"{self.name}: connection failed ({detail})", provider=self.provider)

    # -- requests --------------------------------------------------------------------------------

    async def request_json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Sends one request and returns its decoded JSON body, or raises a typed error."""
        try:
            resp = await self._http().request(
                method, self.base_url + path, json=body, headers=self._headers(), timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if resp.status_code >= 400:
            raise self.error_for_status(resp.status_code, resp.content, resp.headers)
        try:
            # A provider may echo the key (a debug echo, a misconfigured proxy): it must not live on in
            # LLMResponse.raw, a cache file or a trace.
            return scrub_payload(resp.json(), self._key)
        except ValueError:
            snippet = self._scrub(resp.text[:200])
            raise ResponseFormatError(
                f"{self.name}: reply is not JSON (HTTP {resp.status_code}): {snippet!r}",
                provider=self.provider,
                status=resp.status_code,
            ) from None

    async def stream_events(self, path: str, body: dict[str, Any]) -> AsyncIterator[SSEEvent]:
        """POSTs ``body`` and yields the server-sent events of the reply; the connection is closed
        however the iteration ends."""
        try:
            async with self._http().stream(
                "POST", self.base_url + path, json=body, headers=self._headers(), timeout=self._timeout
            ) as resp:
                if resp.status_code >= 400:
                    raise self.error_for_status(resp.status_code, await resp.aread(), resp.headers)
                async for event in iter_sse(resp.aiter_lines()):
                    yield event
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None

    def decode_event(self, event: SSEEvent) -> Any:
        """The JSON data of an event, or a ResponseFormatError naming the bad payload."""
        try:
            return scrub_payload(json.loads(event.data), self._key)
        except ValueError:
            raise ResponseFormatError(
                f"{self.name}: malformed stream event: {self._scrub(event.data[:200])!r}",
                provider=self.provider,
            ) from None

    async def run_stream(
        self,
        path: str,
        body: dict[str, Any],
        state: StreamState,
        on_event: Callable[[SSEEvent, StreamState], Iterable[str]],
    ) -> AsyncIterator[str]:
        """Streams ``body`` to ``path``; ``on_event`` turns each event into text pieces and updates
        ``state``. A stream that ends before its final event is a dropped connection."""
        async for event in self.stream_events(path, body):
            for piece in on_event(event, state):
                yield piece
            if state.done:
                break
        if not state.done:
            raise ConnectionError(
                f"{self.name}: the stream ended before the reply was complete", provider=self.provider
            )

    async def health(self) -> bool:
        """GET of the provider's cheapest endpoint answers 200 within the timeout."""
        try:
            resp = await self._http().get(
                self.base_url + self._health_path(), headers=self._headers(), timeout=self._timeout
            )
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    def _health_path(self) -> str:
        return "/models"

    def _attempt_stream(self, request: ChatRequest, state: StreamState) -> AsyncIterator[str]:
        raise NotImplementedError(f"{type(self).__name__} does not support streaming")
