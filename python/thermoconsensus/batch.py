"""What a batch of consensus questions needs beyond one question: a JSONL of results that a rerun resumes
from, partial results when some questions fail, and an embedding cache.

The JSONL holds two kinds of line. ``{"kind": "asked", "key": ..., ...}`` is written as soon as a
question's models have answered: the raw replies (texts, token log probabilities, call records), which
is what costs time and money. ``{"kind": "consensus", "key": ..., "consensus": {...}}`` is written when
the question has been weighed (``Consensus.to_dict()``). A rerun with the same file asks only the
questions without an "asked" line and weighs every question again from the stored replies (weighing is
cheap and deterministic), so it returns what an uninterrupted run returns.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np
from numpy.typing import NDArray

from ._core import Error

if TYPE_CHECKING:  # consensus imports this module: a run-time import here would be circular
    from .consensus.types import Response

__all__ = ["BatchError", "CachedEmbedder", "EmbeddingCache", "ResultsFile"]

PathArg = Union[str, "os.PathLike[str]"]


class BatchError(Error, RuntimeError):
    """Some questions of a batch failed. ``results`` holds the consensus of every other question (None at
    the failed positions) and ``errors`` maps each failed position to its exception; with a results file,
    a rerun asks only the failed questions again."""

    def __init__(self, results: list[Any], errors: dict[int, BaseException]) -> None:
        first = min(errors)
        super().__init__(
            f"{len(errors)} of {len(results)} questions failed (question {first}: "
            f"{type(errors[first]).__name__}: {errors[first]})"
        )
        self.results = results
        self.errors = errors


def question_key(payload: Any) -> str:
    """A stable key of everything that decides a question's replies (messages, models, options)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def response_to_json(r: Response) -> dict[str, Any]:
    """A reply as the models gave it (before assessment), token log probabilities included."""
    return {
        "model": r.model,
        "text": r.text,
        "sample": r.sample,
        "round": r.round,
        "finish_reason": r.finish_reason,
        "latency_s": r.latency_s,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cost_usd": r.cost_usd,
        "token_logprobs": [[t, lp] for t, lp in r.token_logprobs],
    }


def response_from_json(d: dict[str, Any]) -> Response:
    """The :class:`Response` :func:`response_to_json` wrote (JSON floats round-trip exactly)."""
    from .consensus.types import Response

    return Response(
        model=str(d["model"]),
        text=str(d["text"]),
        sample=int(d["sample"]),
        round=int(d["round"]),
        finish_reason=str(d["finish_reason"]),
        latency_s=float(d["latency_s"]),
        prompt_tokens=int(d["prompt_tokens"]),
        completion_tokens=int(d["completion_tokens"]),
        cost_usd=None if d["cost_usd"] is None else float(d["cost_usd"]),
        token_logprobs=tuple((str(t), float(lp)) for t, lp in d["token_logprobs"]),
    )


class ResultsFile:
    """An append-only JSONL of a batch (see the module docs). A line cut short by a crash is ignored."""

    def __init__(self, path: PathArg) -> None:
        self.path = os.fspath(path)
        self.asked: dict[str, dict[str, Any]] = {}
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # the last line of a run that was killed while writing it
                    if isinstance(rec, dict) and rec.get("kind") == "asked" and "key" in rec:
                        self.asked[str(rec["key"])] = rec

    def restore(self, key: str) -> tuple[list[Response], list[dict[str, Any]]] | None:
        """The stored replies and call records of a question, or None when it was not asked yet."""
        rec = self.asked.get(key)
        if rec is None:
            return None
        return [response_from_json(r) for r in rec["responses"]], list(rec["calls"])

    def _append(self, rec: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            f.flush()

    def write_asked(
        self, key: str, index: int, prompt: str, responses: list[Response], calls: list[dict[str, Any]]
    ) -> None:
        """Records a question's replies as soon as they are in."""
        rec = {
            "kind": "asked",
            "key": key,
            "index": index,
            "prompt": prompt,
            "responses": [response_to_json(r) for r in responses],
            "calls": calls,
        }
        self.asked[key] = rec
        self._append(rec)

    def write_consensus(self, key: str, index: int, consensus: Any) -> None:
        """Records a weighed question (its ``Consensus.to_dict()``)."""
        self._append({"kind": "consensus", "key": key, "index": index, "consensus": consensus.to_dict()})


def _embedder_key(embedder: Any) -> str:
    """Names an embedder for the cache: its class and its own repr when it has one (e.g. the model path)."""
    cls = type(embedder)
    name = f"{cls.__module__}.{cls.__qualname__}"
    own_repr = any("__repr__" in vars(c) for c in cls.__mro__[:-1])
    return f"{name}:{embedder!r}" if own_repr else f"{name}@{id(embedder):x}"


class EmbeddingCache:
    """Embeddings keyed by (embedder, text), least recently used dropped past ``max_entries``. One cache
    can serve several embedders (their keys differ) and several orchestrators."""

    def __init__(self, max_entries: int = 100_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries: expected an integer >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self._rows: OrderedDict[tuple[str, str], NDArray[np.float64]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    def wrap(self, embedder: Any, key: str | None = None) -> CachedEmbedder:
        """``embedder`` (anything with an async ``aembed``) behind this cache; ``key`` names it (default:
        its class and repr)."""
        return CachedEmbedder(embedder, self, key if key is not None else _embedder_key(embedder))

    def get(self, key: tuple[str, str]) -> NDArray[np.float64] | None:
        row = self._rows.get(key)
        if row is not None:
            self._rows.move_to_end(key)
        return row

    def put(self, key: tuple[str, str], row: NDArray[np.float64]) -> None:
        self._rows[key] = row
        self._rows.move_to_end(key)
        while len(self._rows) > self.max_entries:
            self._rows.popitem(last=False)


class CachedEmbedder:
    """An embedder that asks the wrapped one only for texts it has not embedded yet (each once per call)."""

    def __init__(self, embedder: Any, cache: EmbeddingCache, key: str) -> None:
        if not callable(getattr(embedder, "aembed", None)):
            raise TypeError(f"embedder: {type(embedder).__name__} has no async aembed(texts)")
        self.embedder = embedder
        self.cache = cache
        self.key = key

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.embedder!r})"

    async def aembed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        rows: list[NDArray[np.float64] | None] = [self.cache.get((self.key, t)) for t in texts]
        missing = list(dict.fromkeys(t for t, r in zip(texts, rows) if r is None))
        # hits + misses = texts asked for; misses = texts the wrapped embedder saw.
        self.cache.hits += len(texts) - len(missing)
        self.cache.misses += len(missing)
        if missing:
            vecs = np.asarray(await self.embedder.aembed(missing), dtype=np.float64)
            if vecs.ndim != 2 or vecs.shape[0] != len(missing):
                raise ValueError(
                    f"embedder: returned shape {vecs.shape} for {len(missing)} texts (expected one row each)"
                )
            fresh = {t: vecs[i].copy() for i, t in enumerate(missing)}
            for t, v in fresh.items():
                self.cache.put((self.key, t), v)
            rows = [fresh[t] if r is None else r for t, r in zip(texts, rows)]
        return np.stack([r for r in rows if r is not None]) if rows else np.zeros((0, 0))
