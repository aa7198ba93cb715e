"""The clients' exception hierarchy: every failure of a provider call is one of these typed errors.

All derive from :class:`thermoconsensus.Error` through :class:`ClientError`; the timeout and connection
errors also derive from the built-in exceptions of the same name, so ``except TimeoutError`` still works.
Messages never carry an API key: they are scrubbed where the errors are raised.
"""

from __future__ import annotations

import builtins

from .._core import Error

__all__ = [
    "AuthError",
    "BadRequestError",
    "CircuitOpenError",
    "ClientError",
    "ConnectionError",
    "ProviderError",
    "RateLimitError",
    "ResponseFormatError",
    "TimeoutError",
]


class ClientError(Error):
    """A call to an LLM endpoint failed. ``provider`` names the client, ``status`` is the HTTP status
    (None when no response came back), ``retryable`` says whether trying again may help."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        #: The server's Retry-After hint in seconds, if it sent one.
        self.retry_after = retry_after


class AuthError(ClientError, PermissionError):
    """The endpoint refused the credentials (HTTP 401/403) or none were found."""


class BadRequestError(ClientError, ValueError):
    """The endpoint rejected the request itself (HTTP 400/404/413/422): retrying cannot help."""


class RateLimitError(ClientError):
    """HTTP 429: too many requests or tokens; ``retry_after`` carries the server's hint."""

    retryable = True


class ProviderError(ClientError):
    """The endpoint failed on its side (HTTP 5xx, an error event in a stream, an unexpected reply)."""

    retryable = True


class ResponseFormatError(ProviderError):
    """The reply was not the JSON (or event stream) the provider's wire format promises."""

    retryable = False


class CircuitOpenError(ProviderError):
    """The endpoint failed repeatedly and is cooling down: the call was not attempted."""

    retryable = False


class TimeoutError(ClientError, builtins.TimeoutError):
    """The endpoint did not answer within the timeout."""

    retryable = True


class ConnectionError(ClientError, builtins.ConnectionError):
    """The endpoint could not be reached, or dropped the connection mid-reply."""

    retryable = True


class BudgetExceededError(ClientError):
    """A call was refused before it was sent: with its estimated cost (USD or tokens) the spend would
    pass a :class:`~thermoconsensus.clients.Budget`'s limit. Never retried."""
