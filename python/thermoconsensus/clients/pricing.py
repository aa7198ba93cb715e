"""Cost of a call from a per-model price table (USD per million tokens) that users can extend.

The built-in prices are the vendors' list prices for standard (non-batch, non-cached) input and output
tokens when this table was written; vendors change them, so check and override with
:func:`register_price`. A model matches the longest table entry that its name starts with, so dated
snapshots ("gpt-4o-2024-08-06") inherit their family's price. Local models cost nothing.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

__all__ = ["Price", "cost", "price_for", "register_price"]


@dataclass(frozen=True)
class Price:
    """USD per million input (prompt) and output (completion) tokens."""

    input_per_million: float
    output_per_million: float


_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1": Price(2.00, 8.00),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-opus-4": Price(15.00, 75.00),
    "gemini-1.5-flash": Price(0.075, 0.30),
    "gemini-1.5-pro": Price(1.25, 5.00),
    "gemini-2.0-flash": Price(0.10, 0.40),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-pro": Price(1.25, 10.00),
    "grok-2": Price(2.00, 10.00),
    "grok-3-mini": Price(0.30, 0.50),
    "grok-3": Price(3.00, 15.00),
}
_LOCK = threading.Lock()


def register_price(model: str, input_per_million: float, output_per_million: float) -> None:
    """Adds or replaces the price of ``model`` (and of every model whose name starts with it)."""
    if not isinstance(model, str) or not model:
        raise ValueError("model: expected a non-empty string")
    for name, v in (("input_per_million", input_per_million), ("output_per_million", output_per_million)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name}: expected a finite non-negative number, got {v!r}")
    with _LOCK:
        _PRICES[model] = Price(float(input_per_million), float(output_per_million))


def price_for(model: str) -> Price | None:
    """The price entry for ``model``: its longest matching prefix in the table, or None."""
    with _LOCK:
        best = max((k for k in _PRICES if model.startswith(k)), key=len, default=None)
        return None if best is None else _PRICES[best]


def cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD for one call, or None when the model is not in the table."""
    price = price_for(model)
    if price is None:
        return None
    return (prompt_tokens * price.input_per_million + completion_tokens * price.output_per_million) / 1e6
