"""Who follows whom across debate rounds: an adoption test pooled over many debates.

Why not transfer entropy on embeddings (the former statistic). It treated the 384 dimensions of one
round transition as 384 samples of one process; they are one observation, so its "information" was an
artefact (it reported 1.76 nats from a to b while b never changed its answer), and with one or two
transitions per debate no test can reach a Bonferroni threshold at 3 or more models. Evidence of
influence has to be pooled over debates.

The statistic. Each model's position in a round is its most common extracted answer there or, without
extracted answers, its cluster label (complete-linkage at cosine distance ``radius`` over the models'
mean unit embeddings of the two rounds of a transition, see
:func:`thermoconsensus.consensus.reliability.agreement_labels`). An *event* is a target b changing its
position between rounds t and t+1; the edge a -> b counts the events where b moved to a's round-t
position (a different one from b's own). Null hypothesis: when b moves, it does not favour a over the
other models, i.e. the source identities are exchangeable within each event. Under it, a's count is a
sum of independent Bernoulli(q_e), q_e = the share of the other models whose round-t position is b's new
one, and the p-value is the exact Poisson-binomial tail P(S >= observed). An edge is significant below
``alpha`` divided by the number of edges (Bonferroni).

What it does not tell. Adoption is not intervention: a model that is right more often attracts the
others' corrections towards the truth, and shows as an influencer as much as a persuasive one does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .reliability import agreement_labels
from .types import Response

__all__ = ["adoption_graph", "debate_graph", "positions"]

Round = tuple[Sequence[Response], NDArray[np.float64]]


def _transition_positions(
    before: Round, after: Round, radius: float
) -> tuple[dict[str, str], dict[str, str]]:
    """Each model's position in two consecutive rounds, on one shared label scale."""
    pairs = (before, after)
    if all(r.answer is not None for responses, _ in pairs for r in responses):
        out = []
        for responses, _ in pairs:
            votes: dict[str, Counter[str]] = {}
            for r in responses:
                votes.setdefault(r.model, Counter())[str(r.answer)] += 1
            # The most common answer; ties go to the first given (Counter keeps insertion order).
            out.append({m: c.most_common(1)[0][0] for m, c in votes.items()})
        return out[0], out[1]
    names: list[str] = []
    rows: list[NDArray[np.float64]] = []
    for t, (responses, vectors) in enumerate(pairs):
        v = np.asarray(vectors, dtype=np.float64)
        if v.ndim != 2 or v.shape[0] != len(responses):
            raise ValueError(f"round vectors: expected one row per response, got shape {v.shape}")
        for r, row in zip(responses, v):
            names.append(f"{t}\x00{r.model}")
            rows.append(row)
    labels = agreement_labels(names, np.asarray(rows), radius=radius)
    split: tuple[dict[str, str], dict[str, str]] = ({}, {})
    for key, label in labels.items():
        which, model = key.split("\x00", 1)
        split[int(which)][model] = label
    return split


def positions(rounds: Sequence[Round], *, radius: float = 0.2) -> list[tuple[dict[str, str], dict[str, str]]]:
    """For each transition of one debate, (positions at t, positions at t + 1) per model."""
    if isinstance(rounds, (str, bytes)) or not isinstance(rounds, Sequence):
        raise TypeError(f"rounds: expected a list of (responses, vectors), got {type(rounds).__name__}")
    for i, r in enumerate(rounds):
        if not isinstance(r, (tuple, list)) or len(r) != 2:
            raise TypeError(f"rounds[{i}]: expected a (responses, vectors) pair")
        if any(not isinstance(x, Response) for x in r[0]):
            raise TypeError(f"rounds[{i}]: responses must be Response objects")
    return [_transition_positions(rounds[t], rounds[t + 1], radius) for t in range(len(rounds) - 1)]


def _tail(q: Sequence[float], observed: int) -> float:
    """P(sum of independent Bernoulli(q_e) >= observed), by convolution."""
    dist = np.ones(1)
    for p in q:
        dist = np.concatenate([dist * (1 - p), [0.0]]) + np.concatenate([[0.0], dist * p])
    return float(min(1.0, dist[observed:].sum()))


def adoption_graph(
    debates: Sequence[Sequence[Round]], *, alpha: float = 0.05, radius: float = 0.2
) -> dict[str, Any]:
    """Directed edges source -> target pooled over ``debates`` (each a list of rounds, a round being
    ``(responses, vectors)``): ``adoptions`` (events where the target moved to the source's previous
    position), ``events`` (the target's moves), ``expected`` (the null mean), ``p_value`` and
    ``significant`` (Bonferroni over the edges), for the models seen in any transition."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a number in (0, 1), got {alpha!r}")
    if isinstance(debates, (str, bytes)) or not isinstance(debates, Sequence):
        raise TypeError(f"debates: expected a list of debates, got {type(debates).__name__}")
    adopted: Counter[tuple[str, str]] = Counter()
    null_q: dict[tuple[str, str], list[float]] = {}
    moves: Counter[str] = Counter()
    models: set[str] = set()
    transitions = 0
    for rounds in debates:
        for before, after in positions(rounds, radius=radius):
            transitions += 1
            present = sorted(set(before) & set(after))
            models.update(present)
            for b in present:
                if after[b] == before[b]:
                    continue
                moves[b] += 1
                others = [a for a in present if a != b]
                hits = [a for a in others if before[a] == after[b]]
                for a in others:
                    null_q.setdefault((a, b), []).append(len(hits) / len(others))
                    if a in hits:
                        adopted[(a, b)] += 1
    names = sorted(models)
    n_edges = len(names) * (len(names) - 1)
    edges = []
    for a in names:
        for b in names:
            if a == b:
                continue
            q = null_q.get((a, b), [])
            p = _tail(q, adopted[(a, b)]) if q else 1.0
            edges.append(
                {
                    "source": a,
                    "target": b,
                    "adoptions": adopted[(a, b)],
                    "events": len(q),
                    "expected": float(sum(q)),
                    "p_value": p,
                    "significant": bool(p < alpha / n_edges),
                }
            )
    return {
        "debates": len(debates),
        "transitions": transitions,
        "models": names,
        "moves": {m: moves[m] for m in names},
        "edges": edges,
        "method": "adoption (exact Poisson-binomial test, Bonferroni)",
        "alpha": alpha,
    }


def debate_graph(rounds: Sequence[Round], *, alpha: float = 0.05, radius: float = 0.2) -> dict[str, Any]:
    """:func:`adoption_graph` of one debate. One debate has one or two transitions, too few for any
    edge to be significant at 3 or more models; pool debates with :func:`adoption_graph`."""
    return adoption_graph([rounds], alpha=alpha, radius=radius)
