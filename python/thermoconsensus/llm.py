"""Local inference on GGUF models: reading GGUF files (header, metadata, tensor infos, tensors
dequantised to float32), tokenizing with the model's byte-level BPE, and running llama, qwen2 and gemma3
models on the CPU (logits and greedy continuation). SentencePiece (Gemma's tokenizer), sampling and chat
formatting are still to come.

Files are memory-mapped and every header field is checked against the file's real size, so a
truncated or corrupt file raises :class:`thermoconsensus.InvalidInputError` (a ValueError) naming the
problem and its byte offset; a missing file raises FileNotFoundError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from . import _core

__all__ = ["GgufInfo", "Model", "TensorInfo", "load_tensor", "read_gguf"]

PathArg = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a GGUF file: name, shape (ggml order, fastest dimension first), type and extent."""

    name: str
    dims: tuple[int, ...]
    type: str
    offset: int
    n_bytes: int

    @property
    def shape(self) -> tuple[int, ...]:
        """The numpy (row-major) shape: ``dims`` reversed."""
        return tuple(reversed(self.dims))


@dataclass(frozen=True)
class GgufInfo:
    """A GGUF file's header: version, alignment, data offset, metadata and tensors."""

    path: str
    version: int
    alignment: int
    data_offset: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]

    @property
    def architecture(self) -> str | None:
        """``general.architecture`` ("llama", "qwen2", "gemma3"...)."""
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    def tensor(self, name: str) -> TensorInfo:
        """The tensor called ``name`` (KeyError if absent)."""
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"no tensor {name!r} in {self.path}")


def _path(path: PathArg) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def read_gguf(path: PathArg) -> GgufInfo:
    """Reads the header of the GGUF file at ``path`` (versions 2 and 3)."""
    p = _path(path)
    raw = _core.gguf_header(p)
    tensors = [
        TensorInfo(t["name"], tuple(t["dims"]), t["type"], t["offset"], t["n_bytes"]) for t in raw["tensors"]
    ]
    return GgufInfo(p, raw["version"], raw["alignment"], raw["data_offset"], raw["metadata"], tensors)


def load_tensor(path: PathArg, name: str) -> NDArray[np.float32]:
    """Tensor ``name`` of the GGUF file at ``path``, dequantised to float32 in its numpy shape."""
    p = _path(path)
    info = read_gguf(p).tensor(name)
    return _core.gguf_tensor(p, name).reshape(info.shape)


class Model:
    """A GGUF model loaded for inference (memory-mapped; weights stay quantized).

    ``Model.load(path)`` checks the architecture and every tensor's shape. Matrix products use
    llama.cpp's CPU scheme (activations quantized to 8 bits per block, integer dot products).
    """

    def __init__(self, native: _core.NativeModel, info: GgufInfo, n_threads: int | None) -> None:
        self._native = native
        self.info = info
        self.n_threads = n_threads

    @classmethod
    def load(cls, path: PathArg, n_threads: int | None = None) -> Model:
        """Loads the model at ``path``; ``n_threads`` defaults to THERMOCONSENSUS_NUM_THREADS or all cores."""
        from ._arrays import check_threads

        p = _path(path)
        return cls(_core.NativeModel(p), read_gguf(p), check_threads(n_threads))

    @property
    def config(self) -> dict[str, Any]:
        """Hyper-parameters (architecture, n_vocab, n_embd, n_layer, heads, rope base...)."""
        return self._native.config()

    @property
    def metadata(self) -> dict[str, Any]:
        """The GGUF metadata."""
        return self.info.metadata

    @property
    def n_vocab(self) -> int:
        """Vocabulary size."""
        return int(self.config["n_vocab"])

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        """Token ids of ``text`` with the model's own tokenizer (byte-level BPE with its pre-tokenizer).

        ``add_special`` prepends BOS when the model's metadata asks for it; ``parse_special`` turns the
        text of control tokens (``<|im_start|>``...) into those tokens. Raises InvalidInputError for a
        tokenizer type not supported yet (SentencePiece, Gemma's).
        """
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        return self._native.tokenize(text, bool(add_special), bool(parse_special))

    def detokenize(self, token_ids: Any, special: bool = False) -> str:
        """The text of ``token_ids`` (control tokens included only when ``special``); a character cut
        at the end becomes U+FFFD."""
        ids = [int(t) for t in token_ids]
        return self._native.detokenize_bytes(ids, bool(special)).decode("utf-8", errors="replace")

    def _tokens(self, token_ids: Any) -> list[int]:
        ids = [int(t) for t in token_ids]
        if not ids:
            raise _core.InvalidInputError("token_ids: empty")
        bad = [t for t in ids if not 0 <= t < self.n_vocab]
        if bad:
            raise _core.InvalidInputError(f"token_ids: {bad[0]} is outside the vocabulary of {self.n_vocab}")
        return ids

    def logits(self, token_ids: Any) -> NDArray[np.float32]:
        """Logits of every position of ``token_ids`` (positions x vocabulary)."""
        ids = self._tokens(token_ids)
        return self._native.logits(ids, self.n_threads).reshape(len(ids), self.n_vocab)

    def greedy(self, token_ids: Any, max_tokens: int = 32, stop_at_eos: bool = True) -> list[int]:
        """The greedy (argmax) continuation of ``token_ids``: up to ``max_tokens`` ids, ending at EOS
        (``tokenizer.ggml.eos_token_id``) unless ``stop_at_eos=False``."""
        from ._arrays import check_int

        ids = self._tokens(token_ids)
        eos = self.metadata.get("tokenizer.ggml.eos_token_id")
        stops = [int(eos)] if stop_at_eos and isinstance(eos, int) else []
        return self._native.greedy(ids, check_int("max_tokens", max_tokens, 1), stops, self.n_threads)
