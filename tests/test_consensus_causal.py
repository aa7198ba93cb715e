"""The debate adoption graph: a planted influencer is recovered on simulated debates, a model that never
moves gets no incoming edge, one debate is never significant, free text works through embeddings, and
bad input is named."""

from __future__ import annotations

import numpy as np
import pytest

from thermoconsensus.consensus.causal import adoption_graph, debate_graph
from thermoconsensus.consensus.types import Response

MODELS = ("a", "b", "c", "d")
OPTIONS = "ABCD"


def debate(rng: np.random.Generator, influencer: str, follow: float, drift: float) -> list:
    """Two rounds of extracted answers: in round 1 every model but the influencer adopts the
    influencer's round-0 answer with probability ``follow``, else moves to another model's answer
    with probability ``drift`` (chosen uniformly), else keeps its own. Every model's first answer is
    uniform, so no model is more often right."""
    first = {m: OPTIONS[int(rng.integers(0, 4))] for m in MODELS}
    second = dict(first)
    for m in MODELS:
        if m == influencer:
            continue
        u = rng.random()
        if u < follow:
            second[m] = first[influencer]
        elif u < follow + drift:
            second[m] = first[str(rng.choice([o for o in MODELS if o != m]))]
    vec = np.eye(len(MODELS))
    return [
        ([Response(m, f"{a}.", round=t, answer=a) for m in MODELS for a in [pos[m]]], vec)
        for t, pos in enumerate((first, second))
    ]


def test_a_planted_influencer_is_recovered() -> None:
    rng = np.random.default_rng(0)
    runs, recovered, false_edges = 50, 0, 0
    for _ in range(runs):
        # 120 four-model debates of two rounds; b's answer is adopted 30% of the time. Measured power:
        # 0.06 at 40 debates, 0.26 at 60, 1.0 at 120 (0.96 at 60 debates with follow = 0.5).
        g = adoption_graph([debate(rng, "b", follow=0.3, drift=0.15) for _ in range(120)])
        sig = {(e["source"], e["target"]) for e in g["edges"] if e["significant"]}
        planted = {("b", t) for t in MODELS if t != "b"}
        recovered += planted <= sig
        false_edges += len(sig - planted)
    assert recovered / runs >= 0.9, recovered / runs
    # Bonferroni at 0.05 over 12 edges x 50 runs: false edges stay rare.
    assert false_edges <= 3, false_edges


def test_no_influence_gives_no_edges_and_a_stubborn_model_no_incoming_edge() -> None:
    rng = np.random.default_rng(1)
    g = adoption_graph([debate(rng, "none", follow=0.0, drift=0.3) for _ in range(60)])
    assert g["transitions"] == 60 and g["models"] == list(MODELS)
    assert not any(e["significant"] for e in g["edges"])
    # A model that never changes (c): no event, no adoption, p = 1 (the former TE said 1.76 nats here).
    debates = []
    for _ in range(30):
        (r0, v0), (r1, v1) = debate(rng, "b", follow=0.5, drift=0.2)
        r1 = [
            Response(r.model, r.text, round=1, answer=r0[i].answer) if r.model == "c" else r
            for i, r in enumerate(r1)
        ]
        debates.append([(r0, v0), (r1, v1)])
    g = adoption_graph(debates)
    into_c = [e for e in g["edges"] if e["target"] == "c"]
    assert g["moves"]["c"] == 0
    assert all(e["adoptions"] == 0 and e["events"] == 0 and e["p_value"] == 1.0 for e in into_c)


def test_one_debate_is_never_significant() -> None:
    rng = np.random.default_rng(2)
    g = debate_graph(debate(rng, "b", follow=1.0, drift=0.0))
    assert not any(e["significant"] for e in g["edges"])
    assert sum(e["adoptions"] for e in g["edges"] if e["source"] == "b") >= 1


def test_free_text_positions_come_from_embeddings() -> None:
    # b moves onto a's previous position; c stays; no extracted answers.
    x, y, z = np.eye(3)
    r0 = ([Response("a", "x"), Response("b", "y"), Response("c", "z")], np.array([x, y, z]))
    r1 = (
        [Response("a", "x", round=1), Response("b", "x'", round=1), Response("c", "z", round=1)],
        np.array([x, x + 0.01 * y, z]) / np.linalg.norm([x, x + 0.01 * y, z], axis=1, keepdims=True),
    )
    g = debate_graph([r0, r1])
    edge = next(e for e in g["edges"] if e["source"] == "a" and e["target"] == "b")
    assert edge["adoptions"] == 1 and edge["events"] == 1 and g["moves"] == {"a": 0, "b": 1, "c": 0}


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="alpha"):
        adoption_graph([], alpha=1.5)
    with pytest.raises(TypeError, match="debates"):
        adoption_graph("abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"rounds\[0\]"):
        debate_graph([("x",)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="Response"):
        debate_graph([(["x"], np.eye(1)), (["x"], np.eye(1))])  # type: ignore[list-item]
    r = [Response("a", "x"), Response("b", "y")]
    with pytest.raises(ValueError, match="one row per response"):
        debate_graph([(r, np.eye(3)), (r, np.eye(2))])
