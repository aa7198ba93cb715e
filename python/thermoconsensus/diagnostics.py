"""Diagnostics from the local engine's internals (:meth:`thermoconsensus.llm.Model.internals`) and its
generations, built on the package's information-theory engine:

* :func:`attention_entropy`: how spread each head's attention is, per layer and head;
* :func:`layer_mutual_information`: the KSG mutual information between the hidden states of two
  layers, over positions, after a fixed random projection (KSG needs few dimensions; the residual
  stream has hundreds);
* :func:`stream_transfer_entropy`: transfer entropy between the token-level series of two
  generation streams (per-token entropy or surprisal), with a permutation test;
* :func:`kuramoto_order` and :func:`semantic_entropy`: two signals that an answer may be wrong, the
  first from the phases of its hidden states, the second from the spread of sampled answers. Measured
  as wrong-answer detectors in the README (``benches/eval_coherence.py``).
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
    "kuramoto_order",
    "layer_mutual_information",
    "semantic_entropy",
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


def kuramoto_order(hidden: ArrayLike, planes: int = 64, seed: int = 0) -> float:
    """Phase coherence of a span of tokens, the Kuramoto order parameter of their hidden states (the
    "resonance" notes' coherence, made measurable): each token's state (rows of ``hidden``, tokens x
    n_embd), scaled to unit length, is projected on ``planes`` fixed random Gaussian planes (seeded by
    ``seed``; nothing trained); in each plane every token is an oscillator with the phase of its
    projection, and r = |mean over tokens of e^(i phase)| is 1 when all point the same way and near 0
    when their phases spread. Returns r averaged over the planes, in [0, 1]."""
    h = np.asarray(hidden, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] < 2:
        raise _core.InvalidInputError(f"hidden: tokens x n_embd with at least 2 tokens, got shape {h.shape}")
    if not np.isfinite(h).all():
        raise _core.InvalidInputError("hidden: holds NaN or infinity")
    if not 1 <= planes <= 4096:
        raise _core.InvalidInputError(f"planes: must be in [1, 4096], got {planes}")
    norms = np.linalg.norm(h, axis=1, keepdims=True)
    h = h / np.where(norms > 0, norms, 1.0)
    basis = np.random.default_rng(seed).standard_normal((h.shape[1], 2 * planes))
    z = h @ basis
    phases = np.exp(1j * np.arctan2(z[:, 1::2], z[:, 0::2]))  # tokens x planes
    return float(np.abs(phases.mean(axis=0)).mean())


def semantic_entropy(answers: list[str | None]) -> float:
    """Entropy (nats) of the clusters of sampled answers, each cluster the answers that mean the same
    (here: the same extracted final answer, the usual reduction for maths and multiple choice; an answer
    with none extracted, None, is a cluster of its own each time). 0 when every sample agrees."""
    if not answers:
        raise _core.InvalidInputError("answers: empty")
    counts: dict[str, int] = {}
    for i, a in enumerate(answers):
        key = f"\0none{i}" if a is None else f"={a}"
        counts[key] = counts.get(key, 0) + 1
    p = np.array(list(counts.values()), dtype=np.float64) / len(answers)
    return float(-(p * np.log(p)).sum())
