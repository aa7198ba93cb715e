"""Diagnostics from the local engine's internals (:meth:`thermoconsensus.llm.Model.internals`) and its
generations, built on the package's information-theory engine:

* :func:`attention_entropy`: how spread each head's attention is, per layer and head;
* :func:`layer_mutual_information`: the KSG mutual information between the hidden states of two
  layers, over positions, after a fixed random projection (KSG needs few dimensions; the residual
  stream has hundreds);
* :func:`stream_transfer_entropy`: transfer entropy between the token-level series of two
  generation streams (per-token entropy or surprisal), with a permutation test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core, info
from .llm import Generation, Internals

__all__ = [
    "LayerInformation",
    "attention_entropy",
    "layer_mutual_information",
    "stream_transfer_entropy",
    "token_series",
]


def attention_entropy(internals: Internals, normalized: bool = False) -> NDArray[np.float64]:
    """Mean entropy (nats) of each head's attention over the recorded positions: layers x heads, the
    layers in increasing order (``sorted(internals.attention)``). With ``normalized`` each position's
    entropy is divided by the log of the number of positions it could see (1: uniform attention,
    0: all on one position); positions that see a single one are left out of that mean."""
    if not internals.attention:
        raise _core.InvalidInputError("internals: no attention recorded (ask for attention_layers)")
    out = []
    for layer in sorted(internals.attention):
        p = internals.attention[layer].astype(np.float64)  # positions x heads x context
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)
        if normalized:
            seen = internals.visible(layer)
            keep = seen > 1
            if not keep.any():
                raise _core.InvalidInputError("internals: every recorded position sees only itself")
            h = h[keep] / np.log(seen[keep])[:, None]
        out.append(h.mean(axis=0))
    return np.array(out)


@dataclass(frozen=True)
class LayerInformation:
    """Mutual information between the hidden states of pairs of residual-stream indices."""

    #: The residual-stream indices compared (sorted).
    layers: list[int]
    #: ``mi[i, j]``: I(layer i; layer j) in nats, over positions, in the projected space (NaN on the
    #: diagonal, which the estimator cannot give: a variable with itself has unbounded MI).
    mi: NDArray[np.float64]
    #: Dimensions of the projection each layer's states were reduced to.
    dims: int


def layer_mutual_information(
    internals: Internals,
    dims: int = 4,
    k: int = 4,
    seed: int = 0,
    n_threads: int | None = None,
) -> LayerInformation:
    """KSG mutual information between every pair of recorded hidden-state indices, the positions being
    the samples. Each layer's states (positions x n_embd) are first projected on the same ``dims``
    random Gaussian directions (seeded by ``seed``; a fixed projection, nothing trained), because a
    nearest-neighbour estimator in hundreds of dimensions measures nothing. Each projected column is
    standardised, as JIDT's NORMALISE does. Needs more positions than ``k``; a few hundred give a
    stable estimate."""
    layers = sorted(internals.hidden)
    if len(layers) < 2:
        raise _core.InvalidInputError("internals: record at least two hidden_layers to compare")
    n, d = internals.hidden[layers[0]].shape
    if not 1 <= dims <= d:
        raise _core.InvalidInputError(f"dims: must be in [1, {d}], got {dims}")
    if n <= k:
        raise _core.InvalidInputError(f"internals: {n} positions; need more than k = {k}")
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((d, dims)) / np.sqrt(d)
    projected = {layer: internals.hidden[layer].astype(np.float64) @ directions for layer in layers}
    mi = np.full((len(layers), len(layers)), np.nan)
    for i, a in enumerate(layers):
        for j in range(i + 1, len(layers)):
            value = info.mutual_information(
                projected[a], projected[layers[j]], k=k, normalise=True, n_threads=n_threads, device="cpu"
            )
            mi[i, j] = mi[j, i] = value
    return LayerInformation(layers=layers, mi=mi, dims=dims)


def token_series(
    generation: Generation, kind: Literal["entropy", "surprisal"] = "entropy"
) -> NDArray[np.float64]:
    """A generation's token-level series: the entropy (nats) of each step's next-token distribution, or
    the surprisal -log p of each chosen token (generate with ``logprobs=True`` for that one)."""
    if kind == "entropy":
        values = generation.entropies
    elif kind == "surprisal":
        values = [-lp for lp in generation.logprobs]
    else:
        raise _core.InvalidInputError(f'kind: "entropy" or "surprisal", got {kind!r}')
    if not values:
        raise _core.InvalidInputError(f"generation: no per-token {kind} was recorded")
    return np.asarray(values, dtype=np.float64)


def stream_transfer_entropy(
    source: ArrayLike,
    target: ArrayLike,
    k: int = 4,
    k_history: int = 1,
    delay: int = 1,
    n_surrogates: int = 200,
    seed: int = 0,
) -> info.SignificanceResult:
    """Transfer entropy (nats) from one generation stream's token series to another's (for instance
    :func:`token_series` of two models answering in turn, or of a model and the text it reads), with a
    permutation test of the source's samples. Both series must have the same length; a little noise
    (1e-8 of the scale) breaks the ties token series are full of, as KSG needs."""
    s = np.asarray(source, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if s.ndim != 1 or t.ndim != 1 or s.shape != t.shape:
        raise _core.InvalidInputError(
            f"source, target: two 1-D series of the same length, got shapes {s.shape} and {t.shape}"
        )
    return info.significance(
        "te",
        s,
        t,
        k=k,
        k_history=k_history,
        delay=delay,
        n_surrogates=n_surrogates,
        seed=seed,
        noise=1e-8,
        normalise=True,
    )
