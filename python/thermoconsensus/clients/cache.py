"""An optional on-disk response cache: SQLite, keyed by a hash of client, model and request, with a TTL.

Each operation opens its own short-lived connection in a worker thread, in WAL mode with a busy timeout,
so many coroutines, threads and processes can read and write one file at once. Keys are sha256 digests
of the request's canonical JSON; API keys are never part of what is hashed or stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Union

from .types import ChatRequest, LLMResponse

__all__ = ["ResponseCache"]

PathArg = Union[str, "os.PathLike[str]"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, created REAL NOT NULL, value TEXT NOT NULL)"
)


class ResponseCache:
    """Responses stored in the SQLite file ``path``; entries older than ``ttl`` seconds (None: never)
    are ignored and purged."""

    def __init__(self, path: PathArg, ttl: float | None = None) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0):
            raise ValueError(f"ttl: expected a positive number of seconds or None, got {ttl!r}")
        self.path = Path(path)
        self.ttl = None if ttl is None else float(ttl)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r}, ttl={self.ttl})"

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30.0, isolation_level=None)

    @staticmethod
    def key(namespace: str, model: str, request: ChatRequest) -> str:
        """The cache key of ``request`` to ``model`` through a client of kind ``namespace``."""
        material = f"{namespace}\n{model}\n{request.cache_key_material()}"
        return hashlib.sha256(material.encode()).hexdigest()

    def get_sync(self, key: str) -> LLMResponse | None:
        """The stored response for ``key``, if present and fresh."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT created, value FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        created, value = row
        if self.ttl is not None and time.time() - created > self.ttl:
            return None
        response = LLMResponse.from_dict(json.loads(value))
        response.cached = True
        return response

    def put_sync(self, key: str, response: LLMResponse) -> None:
        """Stores ``response`` under ``key`` (replacing an older one) and purges expired entries."""
        value = json.dumps(response.to_dict(), separators=(",", ":"))
        now = time.time()
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO responses (key, created, value) VALUES (?, ?, ?)", (key, now, value)
            )
            if self.ttl is not None:
                db.execute("DELETE FROM responses WHERE created < ?", (now - self.ttl,))

    async def get(self, key: str) -> LLMResponse | None:
        """:meth:`get_sync` in a worker thread."""
        return await asyncio.to_thread(self.get_sync, key)

    async def put(self, key: str, response: LLMResponse) -> None:
        """:meth:`put_sync` in a worker thread."""
        await asyncio.to_thread(self.put_sync, key, response)

    def __len__(self) -> int:
        with closing(self._connect()) as db:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self) -> None:
        """Removes every entry."""
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM responses")
