"""Which extra calls refinement makes: the fixed rule, or the expected reduction of the free energy.

``"threshold"`` (the fixed rule): a debate turn for every model, heaviest first, or one more sample from
each of the models holding the most weight entropy, as many as the budget allows.

``"expected-free-energy"`` (active inference): for each model, predict what one more call would say —
its own answers so far, pulled toward the current weighted vote (a debate turn pulls harder than a
fresh sample) — re-solve the Hamiltonian for each predicted answer, and make the one call whose
expected F* is lowest, provided it is expected to lower F* at all. The predictions re-use the
responses' own embeddings, so no model or embedder is called while planning.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .types import Response, Round

if TYPE_CHECKING:
    from .orchestrator import Orchestrator

__all__ = ["choose_calls", "predicted_outcomes"]

# How far a new call is expected to move toward the current weighted vote.
_PULL = {"debate": 0.5, "samples": 0.25}
# Predicted answers kept per model (the rest of the probability goes to "a new answer").
_TOP = 3
# A call must be expected to lower F* by at least this much to be worth making.
_MIN_GAIN = 1e-3


def _entropy_share(names: list[str], rnd: Round) -> dict[str, float]:
    share = {n: 0.0 for n in names}
    for r, w in zip(rnd.responses, rnd.solution.weights):
        if w > 0:
            share[r.model] = share.get(r.model, 0.0) - float(w * math.log(w))
    return share


def _fixed_rule(orch: Orchestrator, rnd: Round, left: int) -> list[dict[str, Any]]:
    weights = rnd.solution.weights
    if orch.config.refine_strategy == "debate":
        mass: dict[str, float] = {n: 0.0 for n in orch.names}
        for r, w in zip(rnd.responses, weights):
            mass[r.model] = mass.get(r.model, 0.0) + float(w)
        models = sorted(orch.names, key=lambda m: (-mass[m], m))[:left]
        return [{"model": m, "action": "debate"} for m in models]
    share = _entropy_share(orch.names, rnd)
    models = sorted(share, key=lambda m: (-share[m], m))[: min(left, len(orch.names))]
    return [{"model": m, "action": "sample"} for m in models]


def predicted_outcomes(
    model: str, rnd: Round, strategy: str
) -> list[tuple[float, str | None, np.ndarray[Any, Any]]]:
    """``(probability, answer, vector)`` of what one more call to ``model`` may return: its own valid
    answers so far (uniformly) mixed with the current weighted vote, the vote's share set by how hard
    ``strategy`` pulls a model toward it; each answer comes with the mean embedding of the responses
    that gave it."""
    pull = _PULL[strategy]
    weights = rnd.solution.weights
    own = [i for i, r in enumerate(rnd.responses) if r.model == model and r.valid]
    keyed = [i for i, r in enumerate(rnd.responses) if r.valid]
    if not keyed:
        return []

    def key(i: int) -> str:
        a = rnd.responses[i].answer
        return a if a is not None else f"#{i}"

    vote: dict[str, float] = {}
    for i in keyed:
        vote[key(i)] = vote.get(key(i), 0.0) + float(weights[i])
    total = sum(vote.values()) or 1.0
    p: dict[str, float] = {k: pull * v / total for k, v in vote.items()}
    for i in own or keyed:
        p[key(i)] = p.get(key(i), 0.0) + (1.0 - pull) / len(own or keyed)
    ranked = sorted(p.items(), key=lambda kv: -kv[1])[:_TOP]
    norm = sum(v for _, v in ranked)
    out = []
    for k, v in ranked:
        members = [i for i in keyed if key(i) == k]
        vec = np.mean(rnd.vectors[members], axis=0)
        out.append((v / norm, None if k.startswith("#") else k, vec))
    return out


def _expected_free_energy(orch: Orchestrator, rnd: Round, model: str, strategy: str) -> float | None:
    outcomes = predicted_outcomes(model, rnd, strategy)
    if not outcomes:
        return None
    template = next((r for r in rnd.responses if r.model == model), rnd.responses[0])
    expected = 0.0
    for prob, answer, vector in outcomes:
        fresh: Response = replace(
            template,
            model=model,
            answer=answer,
            validity=None,
            confidence=0.0,
            sample=1 + max(r.sample for r in rnd.responses),
        )
        vectors = np.vstack([rnd.vectors, vector[None, :]])
        trial = orch.solve([*rnd.responses, fresh], vectors, rnd.extracted, rnd.answer_format)
        expected += prob * trial.solution.free_energy
    return expected


def choose_calls(orch: Orchestrator, rnd: Round, left: int) -> list[dict[str, Any]]:
    """The next calls refinement makes (``[{"model", "action", ...}]``; empty: stop)."""
    if left <= 0:
        return []
    if orch.config.refine_policy == "threshold":
        return _fixed_rule(orch, rnd, left)
    strategy = orch.config.refine_strategy
    now = rnd.solution.free_energy
    best: tuple[float, str] | None = None
    for m in orch.names:
        f = _expected_free_energy(orch, rnd, m, strategy)
        if f is not None and (best is None or f < best[0]):
            best = (f, m)
    if best is None or best[0] > now - _MIN_GAIN:
        return []
    action = "debate" if strategy == "debate" else "sample"
    return [{"model": best[1], "action": action, "expected_free_energy": best[0]}]
