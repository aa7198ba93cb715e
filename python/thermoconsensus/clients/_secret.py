"""API keys held so that they never reach a log, a repr, an exception message, a trace or a payload."""

from __future__ import annotations

import json
import logging
import os
import threading
import weakref
from collections.abc import Iterable
from typing import Any

__all__ = ["Secret", "check_key", "resolve_key", "scrub", "scrub_payload"]

# Third-party loggers that see request headers or exceptions quoting them (h11 quotes an illegal header
# value whole); each gets the redacting filter, since a filter on a parent does not see child records.
_THIRD_PARTY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "hpack",
    "hpack.hpack",
    "hpack.table",
)


def check_key(value: object, what: str = "api key") -> str:
    """``value`` stripped of surrounding whitespace; ValueError/TypeError (never quoting the key) when it
    is not a non-empty string of printable ASCII, which is all an HTTP header can carry."""
    if not isinstance(value, str):
        raise TypeError(f"{what}: expected a str, got {type(value).__name__}")
    key = value.strip()
    if not key:
        raise ValueError(f"{what}: empty")
    for i, ch in enumerate(key):
        if not ch.isascii():
            raise ValueError(f"{what}: character {i + 1} of {len(key)} is not ASCII (U+{ord(ch):04X})")
        if not ch.isprintable():
            raise ValueError(f"{what}: character {i + 1} of {len(key)} is a control character")
    return key


class Secret:
    """A string that hides itself: ``repr``/``str`` show ``'***'``; :meth:`reveal` returns the value.

    The value is validated by :func:`check_key` (stripped, printable ASCII). While a Secret is alive,
    records of the HTTP libraries' loggers are redacted of it.
    """

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = check_key(value)
        _register(self)

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
        value = os.environ.get(name, "")
        if value.strip():
            try:
                return Secret(value)
            except ValueError as exc:
                raise ValueError(f"environment variable {name}: {exc}") from None
    return None


def _fragments(key: str) -> list[str]:
    # Providers sometimes echo part of a rejected key ("Incorrect API key provided: sk-abc...xyz"), so
    # any 8-character run of a long enough key is masked too.
    return [key[i : i + 8] for i in range(len(key) - 7)] if len(key) >= 12 else []


def _scrub_key(text: str, key: str) -> str:
    text = text.replace(key, "***")
    for frag in _fragments(key):
        if frag in text:
            text = text.replace(frag, "***")
    return text


def scrub(text: str, secret: Secret | None) -> str:
    """``text`` with every occurrence of the key (and of its longer fragments) replaced by ``***``."""
    if secret is None:
        return text
    return _scrub_key(text, secret.reveal())


def scrub_payload(data: Any, secret: Secret | None) -> Any:
    """A decoded JSON value with the key scrubbed from every string in it (keys of objects included).

    The common case (the key nowhere in it) costs one serialisation and a few substring searches.
    """
    if secret is None:
        return data
    key = secret.reveal()
    try:
        text = json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError):  # not plain JSON: walk it anyway
        text = None
    if text is not None and key not in text and not any(f in text for f in _fragments(key)):
        return data
    return _walk(data, key)


def _walk(value: Any, key: str) -> Any:
    if isinstance(value, str):
        return _scrub_key(value, key)
    if isinstance(value, dict):
        return {_walk(k, key): _walk(v, key) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(v, key) for v in value]
    return value


# -- redaction of third-party log records ------------------------------------------------------------

_live: weakref.WeakSet[Secret] = weakref.WeakSet()
_install_lock = threading.Lock()
_installed = False


class _RedactKeys(logging.Filter):
    """Rewrites a record whose message holds a live key (or a fragment of it) with the key masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        keys = [s.reveal() for s in list(_live)]
        if not keys:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's problem, not ours
            return True
        clean = message
        for key in keys:
            clean = _scrub_key(clean, key)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            for key in keys:
                text = _scrub_key(text, key)
            record.exc_text = text  # formatters use this instead of formatting exc_info again
        return True


def _register(secret: Secret) -> None:
    global _installed
    _live.add(secret)
    if _installed:
        return
    with _install_lock:
        if not _installed:
            redact = _RedactKeys()
            for name in _THIRD_PARTY_LOGGERS:
                logging.getLogger(name).addFilter(redact)
            _installed = True
