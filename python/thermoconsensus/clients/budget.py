"""Spend limits: a :class:`Budget` of USD and/or tokens that one client, several clients or a router
draws on. A call reserves its estimated cost before it is sent (refused with
:class:`~thermoconsensus.clients.errors.BudgetExceededError` when the reservation does not fit) and is
charged what it really cost once it has answered, so concurrent calls cannot overspend together.

The estimate is the prompt's characters / 4 plus the call's ``max_tokens`` (or the client's default),
priced by :mod:`.pricing`; a model without a price counts 0 USD (tokens still count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import BudgetExceededError

__all__ = ["Budget", "Reservation"]


@dataclass
class Reservation:
    """What one call set aside; :meth:`Budget.settle` or :meth:`Budget.release` ends it (once)."""

    tokens: int
    usd: float
    open: bool = True


def _limit(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name}: expected a finite number >= 0 or None, got {value!r}")
    return float(value)


class Budget:
    """At most ``max_usd`` dollars and ``max_tokens`` tokens (prompt + completion), either None for no
    limit. ``name`` appears in the error (a client's name, "router")."""

    def __init__(
        self, max_usd: float | None = None, max_tokens: int | None = None, name: str = "budget"
    ) -> None:
        self.max_usd = _limit("max_usd", max_usd)
        self.max_tokens = _limit("max_tokens", max_tokens)
        self.name = name
        self.spent_usd = 0.0
        self.spent_tokens = 0
        self._held_usd = 0.0
        self._held_tokens = 0

    def __repr__(self) -> str:
        return (
            f"Budget({self.name!r}: ${self.spent_usd:.6f} of {self.max_usd}, "
            f"{self.spent_tokens} tokens of {self.max_tokens})"
        )

    @property
    def remaining_usd(self) -> float | None:
        """Dollars left (None: no limit), reservations of calls in flight counted as spent."""
        return None if self.max_usd is None else self.max_usd - self.spent_usd - self._held_usd

    @property
    def remaining_tokens(self) -> float | None:
        """Tokens left (None: no limit), reservations of calls in flight counted as spent."""
        return None if self.max_tokens is None else self.max_tokens - self.spent_tokens - self._held_tokens

    def reserve(self, tokens: int, usd: float | None, what: str = "call", provider: str = "") -> Reservation:
        """Sets ``tokens`` and ``usd`` aside for a call, or raises BudgetExceededError (nothing set aside)."""
        cost = float(usd or 0.0)
        left_tokens, left_usd = self.remaining_tokens, self.remaining_usd
        if left_tokens is not None and tokens > left_tokens:
            raise BudgetExceededError(
                f"{self.name}: {what} refused: it may use ~{tokens} tokens and {max(left_tokens, 0):.0f} "
                f"of the {self.max_tokens:.0f}-token budget are left ({self.spent_tokens} spent)",
                provider=provider,
            )
        if left_usd is not None and cost > left_usd:
            raise BudgetExceededError(
                f"{self.name}: {what} refused: it may cost ~${cost:.6f} and ${max(left_usd, 0):.6f} of the "
                f"${self.max_usd:.6f} budget are left (${self.spent_usd:.6f} spent)",
                provider=provider,
            )
        self._held_tokens += tokens
        self._held_usd += cost
        return Reservation(tokens, cost)

    def release(self, r: Reservation) -> None:
        """Gives a reservation back (the call failed before costing anything known)."""
        if r.open:
            r.open = False
            self._held_tokens -= r.tokens
            self._held_usd -= r.usd

    def settle(self, r: Reservation, tokens: int, usd: float | None) -> None:
        """Ends a reservation, charging what the call really cost."""
        self.release(r)
        self.spent_tokens += int(tokens)
        self.spent_usd += float(usd or 0.0)
