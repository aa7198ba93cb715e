"""Surviving endpoints' failures and limits: retry with backoff, token buckets, a circuit breaker.

Everything that waits goes through a :class:`Clock`, so tests replace real sleeping with a fake clock and
check the exact delays.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from dataclasses import dataclass
from typing import Protocol

from .._arrays import check_real
from .errors import CircuitOpenError, ClientError

__all__ = ["CircuitBreaker", "Clock", "RateLimiter", "RetryPolicy", "SystemClock", "parse_retry_after"]


class Clock(Protocol):
    """Where the reliability code reads the time and waits."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Waits ``seconds``."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``."""
        await asyncio.sleep(seconds)


def _check(name: str, value: float, low: float = 0.0) -> float:
    return check_real(name, value, at_least=low)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter on retryable errors (429, 5xx, timeouts, dropped connections).

    Attempt n (0-based) waits ``base_delay * multiplier**n`` capped at ``max_delay``, scaled by a
    uniform factor in ``[1 - jitter, 1]`` ("equal jitter" at the default 0.5: spreads a herd of clients
    without ever retrying at once). A server's Retry-After replaces the computed delay when it is longer,
    up to ``max_retry_after``; a longer demand is not waited for and the error is raised.
    """

    max_retries: int = 3
    base_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise ValueError(f"max_retries: expected a non-negative integer, got {self.max_retries!r}")
        _check("base_delay", self.base_delay)
        _check("multiplier", self.multiplier, 1.0)
        _check("max_delay", self.max_delay)
        _check("max_retry_after", self.max_retry_after)
        if not 0.0 <= _check("jitter", self.jitter) <= 1.0:
            raise ValueError(f"jitter: expected a number in [0, 1], got {self.jitter!r}")

    def delay(self, attempt: int, error: ClientError, rng: random.Random) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None to give up."""
        if attempt >= self.max_retries or not error.retryable:
            return None
        backoff = min(self.max_delay, self.base_delay * self.multiplier**attempt)
        backoff *= 1.0 - self.jitter * rng.random()
        hint = error.retry_after
        if hint is not None:
            if hint > self.max_retry_after:
                return None
            backoff = max(backoff, hint)
        return backoff


class _Bucket:
    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60.0
        self.level = per_minute
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        # A request larger than the whole bucket waits for a full bucket, then overdraws it.
        need = min(amount, self.capacity) - self.level
        return 0.0 if need <= 0 else need / self.rate


class RateLimiter:
    """Token buckets on requests and tokens per minute (either may be None: unlimited).

    :meth:`acquire` waits until both buckets hold enough, then takes the request's estimated tokens;
    :meth:`adjust` settles the difference once the real token count is known.
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        now = self.clock.monotonic()
        self._requests = None
        self._tokens = None
        if requests_per_minute is not None:
            self._requests = _Bucket(_check("requests_per_minute", requests_per_minute, 1e-9), now)
        if tokens_per_minute is not None:
            self._tokens = _Bucket(_check("tokens_per_minute", tokens_per_minute, 1e-9), now)

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        return self._requests is not None or self._tokens is not None

    async def acquire(self, tokens: int = 0) -> float:
        """Waits for room for one request of ``tokens`` tokens; returns the seconds waited."""
        waited = 0.0
        while True:
            now = self.clock.monotonic()
            wait = 0.0
            for bucket, amount in ((self._requests, 1.0), (self._tokens, float(tokens))):
                if bucket is not None:
                    bucket.refill(now)
                    wait = max(wait, bucket.wait_for(amount))
            if wait <= 0:
                if self._requests is not None:
                    self._requests.level -= 1.0
                if self._tokens is not None:
                    self._tokens.level -= tokens
                return waited
            await self.clock.sleep(wait)
            waited += wait

    def adjust(self, extra_tokens: int) -> None:
        """Takes (or gives back, when negative) tokens once a call's real usage is known."""
        if self._tokens is not None:
            self._tokens.refill(self.clock.monotonic())
            self._tokens.level = min(self._tokens.capacity, self._tokens.level - extra_tokens)


class CircuitBreaker:
    """Stops calling an endpoint after ``failure_threshold`` consecutive failures, for ``cooldown`` s.

    After the cooldown one trial call goes through ("half-open"): success closes the circuit, failure
    opens it for another cooldown.
    """

    def __init__(
        self, failure_threshold: int = 5, cooldown: float = 30.0, clock: Clock | None = None
    ) -> None:
        if (
            isinstance(failure_threshold, bool)
            or not isinstance(failure_threshold, int)
            or failure_threshold < 1
        ):
            raise ValueError(f"failure_threshold: expected a positive integer, got {failure_threshold!r}")
        self.failure_threshold = failure_threshold
        self.cooldown = _check("cooldown", cooldown)
        self.clock: Clock = clock or SystemClock()
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        """ "closed", "open" or "half-open"."""
        if self.opened_at is None:
            return "closed"
        if self.clock.monotonic() - self.opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def before_call(self, provider: str) -> None:
        """Raises :class:`CircuitOpenError` while the circuit is open (or a half-open trial is running)."""
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self._trial:
            self._trial = True
            return
        assert self.opened_at is not None
        left = max(0.0, self.cooldown - (self.clock.monotonic() - self.opened_at))
        raise CircuitOpenError(
            f"{provider}: {self.failures} consecutive failures; cooling down for {left:.1f} s more",
            provider=provider,
        )

    def success(self) -> None:
        """Closes the circuit."""
        self.failures = 0
        self.opened_at = None
        self._trial = False

    def failure(self) -> None:
        """Counts a failure; opens (or re-opens) the circuit at the threshold."""
        self.failures += 1
        self._trial = False
        if self.failures >= self.failure_threshold:
            self.opened_at = self.clock.monotonic()
