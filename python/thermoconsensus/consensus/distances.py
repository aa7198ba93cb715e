"""Distances between responses: cosine distance of unit embeddings, mixed with disagreement of the
extracted answers, ``d_ij = lam [a_i != a_j] + (1 - lam) (1 - cos(e_i, e_j))``. Always symmetric with a
zero diagonal and values in [0, 2]."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._core import InvalidInputError
from ..embeddings import unit_rows

__all__ = ["answer_distances", "cosine_distances"]


def cosine_distances(embeddings: ArrayLike) -> NDArray[np.float64]:
    """``1 - cos`` between the rows of ``embeddings`` (n x dim); InvalidInputError on NaN, inf, a zero
    row or a wrong shape."""
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] == 0 or e.shape[1] == 0:
        raise InvalidInputError(
            f"embeddings: expected a non-empty (responses x dim) array, got shape {e.shape}"
        )
    u = unit_rows(e, e.shape[0])  # the package's one normalisation of embeddings
    raw: NDArray[np.float64] = 1.0 - u @ u.T
    d: NDArray[np.float64] = np.clip(0.5 * (raw + raw.T), 0.0, 2.0)
    np.fill_diagonal(d, 0.0)
    return d


def answer_distances(
    cosine: ArrayLike, answers: Sequence[str | None] | None, lam: float = 0.5
) -> NDArray[np.float64]:
    """``lam * [a_i != a_j] + (1 - lam) * cosine``; a response without an extracted answer (None)
    disagrees with every other response, including another None. ``answers=None`` or ``lam=0`` returns
    the cosine distances unchanged."""
    d: NDArray[np.float64] = np.asarray(cosine, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise InvalidInputError(f"distances: expected a square matrix, got shape {d.shape}")
    if not isinstance(lam, (int, float)) or isinstance(lam, bool) or not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam: expected a number in [0, 1], got {lam!r}")
    if answers is None or lam == 0.0:
        same: NDArray[np.float64] = d.copy()
        return same
    if len(answers) != d.shape[0]:
        raise InvalidInputError(f"answers: expected {d.shape[0]} answers, got {len(answers)}")
    a = list(answers)
    differ = np.array(
        [[a[i] is None or a[j] is None or a[i] != a[j] for j in range(len(a))] for i in range(len(a))]
    )
    out: NDArray[np.float64] = lam * differ.astype(np.float64) + (1.0 - lam) * d
    np.fill_diagonal(out, 0.0)
    return out
