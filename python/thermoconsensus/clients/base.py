"""What every client shares: the call pipeline (cache, circuit breaker, rate limits, concurrency cap,
retries, cost) and the streaming wrapper. Providers implement one attempt; this module does the rest.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Union

from . import pricing
from .budget import Budget, Reservation
from .cache import ResponseCache
from .errors import (
    ClientError,
    ConnectionError,
    ProviderError,
    RateLimitError,
    ResponseFormatError,
    TimeoutError,
)
from .reliability import CircuitBreaker, Clock, RateLimiter, RetryPolicy, SystemClock
from .types import ChatRequest, LLMResponse, Message, TokenLogprob, make_request

__all__ = ["ChatStream", "LLMClient", "StreamState"]

log = logging.getLogger("thermoconsensus.clients")

CacheArg = Union[ResponseCache, str, "os.PathLike[str]", None]

# Errors that say the endpoint itself is unwell (not the request, not a quota): they trip the breaker.
_ENDPOINT_FAILURES = (ProviderError, TimeoutError, ConnectionError)


@dataclass
class StreamState:
    """What a streamed reply has told so far; providers fill it from their events."""

    text: list[str] = field(default_factory=list)
    #: Per-token log-probabilities, when the provider streams them.
    logprobs: list[TokenLogprob] | None = None
    #: Tool calls in OpenAI's shape, complete once the stream ends.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    model: str | None = None
    done: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


class LLMClient:
    """Base of every client: ``await client.chat(prompt_or_messages, ...)`` returns an
    :class:`~thermoconsensus.clients.LLMResponse`; ``client.stream(...)`` yields text pieces.

    Reliability options (all clients): ``timeout`` per attempt (seconds), ``retry`` (a
    :class:`RetryPolicy`), ``requests_per_minute`` / ``tokens_per_minute`` (token buckets),
    ``max_concurrency`` (calls in flight at once), ``failure_threshold`` / ``cooldown`` (circuit
    breaker), ``cache`` (a :class:`ResponseCache` or a path for one; non-streamed calls only),
    ``clock`` (injectable time, for tests) and ``seed`` (retry jitter). Spend limits: ``max_cost_usd`` /
    ``max_total_tokens`` (this client's own :class:`Budget`) and ``budget`` (one shared with other
    clients); a call that could pass either is refused before it is sent (BudgetExceededError).
    """

    provider: ClassVar[str] = "base"

    def __init__(
        self,
        model: str,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        max_concurrency: int | None = 64,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        cache: CacheArg = None,
        clock: Clock | None = None,
        seed: int | None = None,
        max_cost_usd: float | None = None,
        max_total_tokens: int | None = None,
        budget: Budget | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError("model: expected a non-empty string")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise ValueError(f"max_concurrency: expected a positive integer or None, got {max_concurrency!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry: expected a RetryPolicy, got {type(retry).__name__}")
        self.model = model
        self.timeout = float(timeout)
        self.retry = retry or RetryPolicy()
        self.clock: Clock = clock or SystemClock()
        self.limiter = RateLimiter(requests_per_minute, tokens_per_minute, self.clock)
        self.breaker = CircuitBreaker(failure_threshold, cooldown, self.clock)
        self.max_concurrency = max_concurrency
        if cache is None or isinstance(cache, ResponseCache):
            self.cache = cache
        else:
            self.cache = ResponseCache(cache)
        if budget is not None and not isinstance(budget, Budget):
            raise TypeError(f"budget: expected a Budget, got {type(budget).__name__}")
        own = None
        if max_cost_usd is not None or max_total_tokens is not None:
            own = Budget(max_cost_usd, max_total_tokens, name=f"{self.provider}:{model}")
        self.budgets = [b for b in (own, budget) if b is not None]
        self._rng = random.Random(seed)
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    @property
    def name(self) -> str:
        """``provider:model``, as the CLI and traces show it."""
        return f"{self.provider}:{self.model}"

    # -- what providers implement -------------------------------------------------------------

    async def _attempt(self, request: ChatRequest) -> LLMResponse:
        """One try of a non-streamed call (no retries): the parsed response, or a ClientError."""
        raise NotImplementedError(f"{type(self).__name__} does not implement chat")

    def _attempt_stream(self, request: ChatRequest, state: StreamState) -> AsyncIterator[str]:
        """One try of a streamed call: yields text pieces and fills ``state``."""
        raise NotImplementedError(f"{type(self).__name__} does not support streaming")

    def _scrub(self, text: str) -> str:
        """``text`` without secrets (clients holding a key override this)."""
        return text

    async def health(self) -> bool:
        """Whether the endpoint answers; never raises for an unreachable endpoint."""
        return True

    async def aclose(self) -> None:
        """Releases connections; the client can be used again afterwards."""

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- the pipeline ---------------------------------------------------------------------------

    def _semaphore(self) -> asyncio.Semaphore | None:
        if self.max_concurrency is None:
            return None
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return sem

    def _estimate_tokens(self, request: ChatRequest) -> int:
        # ~4 characters a token in English; the limiter is corrected with the real count afterwards.
        return len(request.prompt_text()) // 4 + 1 + (request.max_tokens or 256)

    def _reserve(self, request: ChatRequest) -> list[tuple[Budget, Reservation]]:
        """Reserves the call's estimated tokens and cost in every budget, or raises (holding none)."""
        if not self.budgets:
            return []
        tokens, usd = self.estimate(request)
        held: list[tuple[Budget, Reservation]] = []
        try:
            for b in self.budgets:
                held.append((b, b.reserve(tokens, usd, f"a call to {self.name}", self.provider)))
        except BaseException:
            for b, r in held:
                b.release(r)
            raise
        return held

    def estimate(self, request: ChatRequest) -> tuple[int, float | None]:
        """The most ``request`` may cost as budgets count it: tokens (the prompt's characters / 4 plus
        ``max_tokens`` or the client's default) and their USD (None: the model has no price)."""
        prompt = len(request.prompt_text()) // 4 + 1
        completion = request.max_tokens or int(getattr(self, "default_max_tokens", 256))
        return prompt + completion, self._price(prompt, completion)

    def _price(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD of a call of this size (None: the model has no price)."""
        return pricing.cost(self.model, prompt_tokens, completion_tokens)

    @staticmethod
    def _settle(held: list[tuple[Budget, Reservation]], response: LLMResponse | None) -> None:
        for b, r in held:
            if response is None:
                b.release(r)
            else:
                b.settle(r, response.total_tokens, response.cost_usd)

    def _cost(self, response: LLMResponse) -> float | None:
        return pricing.cost(response.model or self.model, response.prompt_tokens, response.completion_tokens)

    async def _before_attempt(self, request: ChatRequest) -> int:
        self.breaker.before_call(self.name)
        estimate = self._estimate_tokens(request)
        if self.limiter.enabled:
            await self.limiter.acquire(estimate)
        return estimate

    def _after_failure(self, error: ClientError, attempt: int) -> float | None:
        if isinstance(error, _ENDPOINT_FAILURES) and not isinstance(error, RateLimitError):
            self.breaker.failure()
        delay = self.retry.delay(attempt, error, self._rng)
        if delay is not None:
            log.warning("%s; retry %d in %.2f s", error, attempt + 1, delay)
        return delay

    async def chat(self, prompt: str | list[Message], **options: Any) -> LLMResponse:
        """One chat completion. ``prompt`` is a string (one user message) or a list of messages;
        options: max_tokens, temperature, top_p, stop, seed, logprobs (alternatives per token),
        tools, tool_choice, extra (merged into the provider's body)."""
        return await self.send(make_request(prompt, **options))

    async def send(
        self, request: ChatRequest, attempt_fn: Callable[[ChatRequest], Awaitable[LLMResponse]] | None = None
    ) -> LLMResponse:
        """:meth:`chat` for a ready :class:`ChatRequest`; ``attempt_fn`` replaces the provider's chat
        attempt (a client's other endpoints, such as text completions, reuse the pipeline this way)."""
        attempt_fn = attempt_fn or self._attempt
        start = time.perf_counter()
        key = None
        if self.cache is not None:
            kind = getattr(attempt_fn, "__name__", "chat")
            key = ResponseCache.key(f"{self.provider}|{self._cache_namespace()}|{kind}", self.model, request)
            hit = await self.cache.get(key)
            if hit is not None:
                hit.latency_s = time.perf_counter() - start
                return hit
        held = self._reserve(request)
        done: LLMResponse | None = None
        try:
            attempt = 0
            while True:
                estimate = await self._before_attempt(request)
                sem = self._semaphore()
                try:
                    if sem is None:
                        response = await attempt_fn(request)
                    else:
                        async with sem:
                            response = await attempt_fn(request)
                except ClientError as error:
                    delay = self._after_failure(error, attempt)
                    if delay is None:
                        raise
                    attempt += 1
                    await self.clock.sleep(delay)
                    continue
                break
            self.breaker.success()
            self.limiter.adjust(response.total_tokens - estimate)
            response.attempts = attempt + 1
            response.latency_s = time.perf_counter() - start
            if response.cost_usd is None:
                response.cost_usd = self._cost(response)
            done = response
        finally:
            self._settle(held, done)
        if key is not None and self.cache is not None:
            await self.cache.put(key, response)
        return response

    def _cache_namespace(self) -> str:
        """What besides provider and model makes two clients' answers differ (the base URL)."""
        return ""

    def stream(self, prompt: str | list[Message], **options: Any) -> ChatStream:
        """A streamed chat completion: ``async with client.stream(msgs) as s: async for piece in s``;
        ``s.response`` holds the full :class:`LLMResponse` once the stream ends."""
        return ChatStream(self, make_request(prompt, **options))

    async def _stream_pipeline(self, request: ChatRequest, out: ChatStream) -> AsyncIterator[str]:
        held = self._reserve(request)
        try:
            async for piece in self._stream_attempts(request, out):
                yield piece
        finally:
            if held and out.response is None and out.streamed:
                # Left or failed midway: what it cost is unknown, so the reservation is charged.
                for b, r in held:
                    b.settle(r, r.tokens, r.usd)
            else:
                self._settle(held, out.response)

    async def _stream_attempts(self, request: ChatRequest, out: ChatStream) -> AsyncIterator[str]:
        start = time.perf_counter()
        attempt = 0
        while True:
            estimate = await self._before_attempt(request)
            state = StreamState()
            sem = self._semaphore()
            try:
                if sem is not None:
                    await sem.acquire()
                try:
                    async for piece in self._attempt_stream(request, state):
                        state.text.append(piece)
                        out.streamed = True
                        yield piece
                finally:
                    if sem is not None:
                        sem.release()
            except ClientError as error:
                # Once text has reached the caller a retry would repeat it: only a silent failure is retried.
                delay = None if state.text else self._after_failure(error, attempt)
                if delay is None:
                    if state.text and isinstance(error, _ENDPOINT_FAILURES):
                        self.breaker.failure()
                    raise
                attempt += 1
                await self.clock.sleep(delay)
                continue
            break
        self.breaker.success()
        response = LLMResponse(
            text="".join(state.text),
            model=state.model or self.model,
            provider=self.provider,
            prompt_tokens=state.prompt_tokens,
            completion_tokens=state.completion_tokens,
            finish_reason=state.finish_reason or "stop",
            logprobs=state.logprobs,
            tool_calls=list(state.tool_calls),
            raw=state.raw,
            attempts=attempt + 1,
            latency_s=time.perf_counter() - start,
        )
        self.limiter.adjust(response.total_tokens - estimate)
        response.cost_usd = self._cost(response)
        out.response = response


class ChatStream:
    """A streamed completion: an async iterator of text pieces and an async context manager that
    closes the connection however the loop ends. ``response`` is set when the stream has finished."""

    def __init__(self, client: LLMClient, request: ChatRequest) -> None:
        self.client = client
        self.request = request
        self.response: LLMResponse | None = None
        #: Whether any text has reached the caller.
        self.streamed = False
        self._iter: AsyncIterator[str] | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        if self._iter is None:
            self._iter = self.client._stream_pipeline(self.request, self)
        return self._iter

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stops the stream and closes its connection."""
        it = self._iter
        if it is not None and hasattr(it, "aclose"):
            await it.aclose()

    async def collect(self) -> LLMResponse:
        """Reads the whole stream and returns the final :class:`LLMResponse`."""
        try:
            async for _ in self:
                pass
        finally:
            await self.aclose()
        if self.response is None:  # pragma: no cover - the pipeline always sets it on a clean end
            raise ResponseFormatError("stream ended without a response", provider=self.client.provider)
        return self.response
