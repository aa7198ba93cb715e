"""API keys held so that they never reach a log, a repr, an exception message or a trace."""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["Secret", "resolve_key", "scrub"]


class Secret:
    """A string that hides itself: ``repr``/``str`` show ``'***'``; :meth:`reveal` returns the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"api key: expected a str, got {type(value).__name__}")
        if not value.strip():
            raise ValueError("api key: empty")
        self._value = value

    def reveal(self) -> str:
        """The key itself, for the one header that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


def resolve_key(api_key: str | Secret | None, env_vars: Iterable[str]) -> Secret | None:
    """``api_key`` if given, else the first non-empty environment variable of ``env_vars``, else None."""
    if isinstance(api_key, Secret):
        return api_key
    if api_key is not None:
        return Secret(api_key)
    for name in env_vars:
        value = os.environ.get(name, "").strip()
        if value:
            return Secret(value)
    return None


def scrub(text: str, secret: Secret | None) -> str:
    """``text`` with every occurrence of the key (and of its longer fragments) replaced by ``***``.

    Providers sometimes echo part of a rejected key ("Incorrect API key provided: sk-abc...xyz"), so
    any 8-character run of the key is masked too.
    """
    if secret is None:
        return text
    key = secret.reveal()
    text = text.replace(key, "***")
    if len(key) >= 12:
        for i in range(len(key) - 7):
            frag = key[i : i + 8]
            if frag in text:
                text = text.replace(frag, "***")
    return text
