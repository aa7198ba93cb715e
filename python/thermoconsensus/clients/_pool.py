"""One shared ``httpx.AsyncClient`` per base URL and event loop, reference-counted by the LLM clients.

Sharing keeps one connection pool (keep-alive, HTTP/1.1 reuse) however many client objects talk to the
same server; an httpx client belongs to the event loop it first ran in, hence the per-loop key.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass

import httpx

__all__ = ["acquire", "get", "open_count", "release"]

_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30.0)


@dataclass
class _Entry:
    client: httpx.AsyncClient
    refs: int = 0


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Entry]] = weakref.WeakKeyDictionary()


def acquire(base_url: str) -> httpx.AsyncClient:
    """The running loop's shared client for ``base_url`` (created on first use); pair with :func:`release`."""
    per_loop = _pools.setdefault(asyncio.get_running_loop(), {})
    entry = per_loop.get(base_url)
    if entry is None:
        # Per-request timeouts are passed by each call; the pool only bounds connections.
        entry = per_loop[base_url] = _Entry(
            httpx.AsyncClient(base_url=base_url, limits=_LIMITS, timeout=None)
        )
    entry.refs += 1
    return entry.client


def get(base_url: str, loop: asyncio.AbstractEventLoop) -> httpx.AsyncClient:
    """The client already acquired for ``base_url`` in ``loop``."""
    return _pools[loop][base_url].client


async def release(base_url: str, loop: asyncio.AbstractEventLoop) -> None:
    """Drops one reference to ``loop``'s client for ``base_url``; closes it when none is left."""
    per_loop = _pools.get(loop)
    entry = None if per_loop is None else per_loop.get(base_url)
    if per_loop is None or entry is None:
        return
    entry.refs -= 1
    if entry.refs <= 0:
        del per_loop[base_url]
        await entry.client.aclose()


def open_count() -> int:
    """How many shared clients are open, over all loops (for leak checks)."""
    return sum(len(d) for d in _pools.values())
