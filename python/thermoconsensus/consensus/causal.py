"""Who moved towards whom across debate rounds: transfer entropy between the models' embedding
trajectories, with permutation significance (KSG conditional mutual information of the info crate).

Each model's position in a round is the mean unit embedding of its responses there. With R rounds and
dimension D, every (dimension, round transition) pair is one sample of the model's update, so the
transfer entropy from A to B is ``I(B_{t+1}; A_t | B_t)`` estimated over D (R - 1) samples: how much
A's previous position tells about B's next one beyond B's own. Significance permutes A's values
(:func:`thermoconsensus.info.significance` with "cmi"). ``moved_towards`` is the mean drop of B's
cosine distance to A's previous position, ``d(B_t, A_t) - d(B_{t+1}, A_t)`` (positive: B moved towards A).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .types import Response

__all__ = ["debate_graph", "trajectories"]


def trajectories(
    rounds: Sequence[tuple[Sequence[Response], NDArray[np.float64]]],
) -> dict[str, NDArray[np.float64]]:
    """Each model's (rounds x dim) path of mean unit embeddings, for the models present in every round."""
    per_round: list[dict[str, NDArray[np.float64]]] = []
    for responses, vectors in rounds:
        groups: dict[str, list[NDArray[np.float64]]] = {}
        for r, v in zip(responses, vectors):
            groups.setdefault(r.model, []).append(v)
        means = {}
        for m, vs in groups.items():
            mean = np.mean(vs, axis=0)
            means[m] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        per_round.append(means)
    common = sorted(set.intersection(*(set(p) for p in per_round))) if per_round else []
    return {m: np.stack([p[m] for p in per_round]) for m in common}


def debate_graph(
    rounds: Sequence[tuple[Sequence[Response], NDArray[np.float64]]],
    *,
    k: int = 4,
    n_surrogates: int = 50,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """Directed edges source -> target with the transfer entropy (nats), its p-value, whether it is
    significant at ``alpha`` (Bonferroni over the edges) and ``moved_towards``."""
    from .. import info

    paths = trajectories(rounds)
    models = list(paths)
    edges: list[dict[str, Any]] = []
    n_pairs = len(models) * (len(models) - 1)
    if len(rounds) < 2 or n_pairs == 0:
        return {"rounds": len(rounds), "models": models, "edges": edges, "method": "ksg-cmi"}
    for a in models:
        for b in models:
            if a == b:
                continue
            src, tgt = paths[a], paths[b]
            x = src[:-1].reshape(-1, 1)
            z = tgt[:-1].reshape(-1, 1)
            y = tgt[1:].reshape(-1, 1)
            res = info.significance("cmi", x, y, z, k=k, n_surrogates=n_surrogates, seed=seed)
            before = 1.0 - np.sum(tgt[:-1] * src[:-1], axis=1)
            after = 1.0 - np.sum(tgt[1:] * src[:-1], axis=1)
            edges.append(
                {
                    "source": a,
                    "target": b,
                    "transfer_entropy": max(float(res.value), 0.0),
                    "p_value": float(res.p_value),
                    "significant": bool(res.p_value < alpha / n_pairs),
                    "moved_towards": float(np.mean(before - after)),
                }
            )
    return {"rounds": len(rounds), "models": models, "edges": edges, "method": "ksg-cmi", "alpha": alpha}
