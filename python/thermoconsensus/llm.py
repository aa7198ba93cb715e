"""Local inference on GGUF models. This first part reads GGUF files: header, metadata, tensor infos,
and tensors dequantised to float32 (every block format llama.cpp's CPU backend uses for these models).

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

__all__ = ["GgufInfo", "TensorInfo", "load_tensor", "read_gguf"]

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
