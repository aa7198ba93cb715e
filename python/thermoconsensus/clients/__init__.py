"""Async LLM clients: OpenAI, Anthropic, Gemini, xAI, any OpenAI-compatible server, llama.cpp's native
API and the in-process engine, behind one :class:`LLMClient` interface and one :class:`LLMResponse`.

Every client shares one pipeline: optional SQLite cache, circuit breaker, token-bucket rate limits, a
concurrency cap and retries with exponential backoff and jitter (honouring Retry-After), with typed
errors. Remote clients share one pooled ``httpx.AsyncClient`` per base URL; keys are held as
:class:`Secret` and scrubbed from every message.

>>> async with OpenAICompatibleClient("smollm2", base_url="http://127.0.0.1:8080/v1") as client:
...     reply = await client.chat("Say hi", max_tokens=8)
"""

from __future__ import annotations

from ._secret import Secret
from .anthropic import AnthropicClient
from .base import ChatStream, LLMClient
from .budget import Budget
from .cache import ResponseCache
from .errors import (
    AuthError,
    BadRequestError,
    BudgetExceededError,
    CircuitOpenError,
    ClientError,
    ConnectionError,
    ProviderError,
    RateLimitError,
    ResponseFormatError,
    TimeoutError,
)
from .gemini import GeminiClient
from .http import HTTPClient
from .llamacpp import LlamaCppClient
from .local import LocalClient
from .openai import OpenAIClient
from .openai_compatible import OpenAICompatibleClient
from .pricing import Price, cost, price_for, register_price
from .registry import PROVIDERS, create_client
from .reliability import CircuitBreaker, Clock, RateLimiter, RetryPolicy, SystemClock
from .types import ChatRequest, LLMResponse, TokenLogprob
from .xai import XAIClient

__all__ = [
    "PROVIDERS",
    "AnthropicClient",
    "AuthError",
    "BadRequestError",
    "Budget",
    "BudgetExceededError",
    "ChatRequest",
    "ChatStream",
    "CircuitBreaker",
    "CircuitOpenError",
    "ClientError",
    "Clock",
    "ConnectionError",
    "GeminiClient",
    "HTTPClient",
    "LLMClient",
    "LLMResponse",
    "LlamaCppClient",
    "LocalClient",
    "OpenAIClient",
    "OpenAICompatibleClient",
    "Price",
    "ProviderError",
    "RateLimitError",
    "RateLimiter",
    "ResponseCache",
    "ResponseFormatError",
    "RetryPolicy",
    "Secret",
    "SystemClock",
    "TimeoutError",
    "TokenLogprob",
    "XAIClient",
    "cost",
    "create_client",
    "price_for",
    "register_price",
]
