"""Label-free reliability: Dawid-Skene on simulated workers with known accuracies, the embedding-agreement
analogue, the persisted state across calls, property tests and bad input."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from thermoconsensus.consensus.reliability import (
    ReliabilityState,
    agreement_labels,
    agreement_reliability,
    dawid_skene,
    marginal_caps,
)
from thermoconsensus.routing.learning import BetaPosterior

ACCURACY = (0.9, 0.7, 0.6, 0.5, 0.35)
NAMES = tuple(f"w{j}" for j in range(len(ACCURACY)))


def simulate(
    seed: int, n: int = 200, k: int = 4, abstain: float = 0.1
) -> tuple[list[dict[str, str | None]], list[str], np.ndarray]:
    """n k-option questions answered by workers of accuracy ACCURACY (a wrong answer uniform over the
    k - 1 others, an abstention with probability ``abstain``); returns the answers, the true labels and
    each worker's realised accuracy on the questions it answered."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    right = np.zeros(len(ACCURACY))
    count = np.zeros(len(ACCURACY))
    rows: list[dict[str, str | None]] = []
    for t in truth:
        row: dict[str, str | None] = {}
        for j, p in enumerate(ACCURACY):
            if rng.random() < abstain:
                row[NAMES[j]] = None
                continue
            a = int(t) if rng.random() < p else int(rng.choice([c for c in range(k) if c != t]))
            row[NAMES[j]] = str(a)
            right[j] += a == t
            count[j] += 1
        rows.append(row)
    return rows, [str(t) for t in truth], right / count


def majority(row: dict[str, str | None]) -> str | None:
    votes = Counter(a for a in row.values() if a is not None)
    return votes.most_common(1)[0][0] if votes else None


def test_dawid_skene_recovers_known_accuracies_at_200_questions() -> None:
    # Ten independent datasets: the estimate against each worker's realised accuracy (what labels would
    # give) and against the generating parameter.
    deviations, estimates = [], []
    for seed in range(10):
        rows, _, realised = simulate(seed)
        res = dawid_skene(rows, n_classes=4)
        assert res.converged and res.iterations < 200
        est = np.array([res.accuracy[w] for w in NAMES])
        deviations.append(np.abs(est - realised))
        estimates.append(est)
    dev = np.array(deviations)
    # Sampling noise of a 0.5-worker over ~180 answers alone is 0.037, so a few misses are expected.
    assert np.mean(dev <= 0.05) >= 0.9, dev.round(3)
    assert dev.mean() < 0.03, dev.mean()
    np.testing.assert_allclose(np.median(estimates, axis=0), ACCURACY, atol=0.05)


def test_dawid_skene_beats_majority_vote() -> None:
    ds_right = mv_right = total = 0
    for seed in range(5):
        rows, truth, _ = simulate(100 + seed)
        res = dawid_skene(rows, n_classes=4)
        ds_right += sum(label == t for label, t in zip(res.labels, truth))
        mv_right += sum(majority(r) == t for r, t in zip(rows, truth))
        total += len(truth)
    assert ds_right / total > mv_right / total + 0.01, (ds_right / total, mv_right / total)


def test_dawid_skene_small_and_degenerate_cases() -> None:
    # Everyone agrees on one question: the prior keeps the estimate off 1.
    res = dawid_skene([{"a": "1", "b": "1", "c": "1"}])
    assert res.labels == ("1",) and res.posteriors[0] == {"1": 1.0}
    assert all(0.5 < p < 1 for p in res.accuracy.values())
    assert res.accuracy["a"] == pytest.approx(2 / 3)
    # A question with one worker is reported but not scored; a worker may skip questions.
    res = dawid_skene([{"a": "x"}, {"a": "y", "b": "y", "c": None}, {"b": "z", "c": "z"}])
    assert res.answered == {"a": 2, "b": 2, "c": 1}
    assert res.scored == {"a": 1, "b": 2, "c": 1}
    assert res.labels[0] == "x" and res.posteriors[0] == {"x": 1.0}
    assert res.correct_probability(1, "y") == 1.0 and res.correct_probability(1, None) == 0.0
    # A worker that only abstained keeps the prior mean.
    res = dawid_skene([{"a": "1", "b": "2", "c": None}])
    assert res.accuracy["c"] == 0.5 and res.answered["c"] == 0
    assert sum(res.posteriors[0].values()) == pytest.approx(1.0)
    # One disagreeing worker among agreeing ones is less accurate.
    rows = [{"a": "1", "b": "1", "c": str(i % 3 + 2)} for i in range(10)]
    res = dawid_skene(rows)
    assert res.accuracy["c"] < 0.2 < 0.8 < res.accuracy["a"]
    assert json.loads(json.dumps(res.to_dict()))["labels"] == ["1"] * 10


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"answers": []}, ValueError, "no questions"),
        ({"answers": "abc"}, TypeError, "answers"),
        ({"answers": {"a": "1"}}, TypeError, "answers"),
        ({"answers": [["a"]]}, TypeError, r"answers\[0\]"),
        ({"answers": [{"a": 3}]}, TypeError, "str or None"),
        ({"answers": [{"": "3"}]}, TypeError, "worker names"),
        ({"answers": [{"a": None}, {"b": None}]}, ValueError, "every answer is None"),
        ({"answers": [{"a": "1"}], "max_iter": 0}, ValueError, "max_iter"),
        ({"answers": [{"a": "1"}], "tol": -1.0}, ValueError, "tol"),
        ({"answers": [{"a": "1"}], "prior": (1.0,)}, TypeError, "prior"),
        ({"answers": [{"a": "1"}], "prior": (-1.0, 1.0)}, ValueError, "prior"),
        ({"answers": [{"a": "1"}], "prior": (0.0, 0.0)}, ValueError, "pseudo-count"),
        ({"answers": [{"a": "1", "b": "2", "c": "3"}], "n_classes": 2}, ValueError, "3 distinct"),
        ({"answers": [{"a": "1"}], "n_classes": 1}, ValueError, "n_classes"),
        ({"answers": [{"a": "1"}], "n_classes": [4, 4]}, ValueError, "one entry per question"),
        ({"answers": [{"a": "1"}], "n_classes": "4"}, TypeError, "n_classes"),
    ],
)
def test_dawid_skene_rejects_bad_input(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        dawid_skene(**kwargs)


answer_rows = st.lists(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.one_of(st.none(), st.sampled_from(["1", "2", "3"])),
        min_size=1,
    ),
    min_size=1,
    max_size=25,
).filter(lambda rows: any(a is not None for r in rows for a in r.values()))


@given(answer_rows, st.permutations(["a", "b", "c", "d"]))
def test_estimates_are_probabilities_and_follow_a_renaming_of_the_workers(
    rows: list[dict[str, str | None]], perm: list[str]
) -> None:
    res = dawid_skene(rows, n_classes=3)
    assert all(0.0 < p < 1.0 for p in res.accuracy.values())
    for post in res.posteriors:
        assert not post or sum(post.values()) == pytest.approx(1.0)
    rename = dict(zip(["a", "b", "c", "d"], perm))
    renamed = dawid_skene([{rename[w]: a for w, a in r.items()} for r in rows], n_classes=3)
    for w, p in res.accuracy.items():
        assert renamed.accuracy[rename[w]] == pytest.approx(p, abs=1e-6)
        assert renamed.answered[rename[w]] == res.answered[w]


def simulate_embeddings(seed: int, n: int = 150, dim: int = 32) -> list[tuple[list[str], np.ndarray]]:
    """Free-text questions: a right response lies near the question's true direction (cosine distance
    about 0.05), a wrong one near one of two distractor directions or anywhere; two samples per worker."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        centres = rng.normal(size=(3, dim))
        names, rows = [], []
        for j, p in enumerate(ACCURACY):
            correct = rng.random() < p
            for _ in range(2):
                if correct:
                    c = centres[0]
                elif rng.random() < 0.5:
                    c = centres[1 + int(rng.integers(0, 2))]
                else:
                    c = rng.normal(size=dim)
                v = c / np.linalg.norm(c) + 0.3 / np.sqrt(dim) * rng.normal(size=dim)
                names.append(NAMES[j])
                rows.append(v / np.linalg.norm(v))
        out.append((names, np.array(rows)))
    return out


def test_agreement_reliability_ranks_workers_on_simulated_embeddings() -> None:
    for seed in range(3):
        res = agreement_reliability(simulate_embeddings(seed), radius=0.2)
        est = [res.accuracy[w] for w in NAMES]
        assert est == sorted(est, reverse=True), np.round(est, 3)
        np.testing.assert_allclose(est, ACCURACY, atol=0.1)


def test_agreement_labels_cluster_within_the_radius() -> None:
    e = np.array([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0], [1.0, 0.01]])
    labels = agreement_labels(["a", "b", "c", "a"], e, radius=0.05)
    assert labels["a"] == labels["b"] != labels["c"]
    with pytest.raises(ValueError, match="one row per name"):
        agreement_labels(["a"], e)
    with pytest.raises(ValueError, match="radius"):
        agreement_labels(["a", "b", "c", "a"], e, radius=0.0)
    with pytest.raises(TypeError, match="names"):
        agreement_labels("abca", e)
    with pytest.raises(TypeError, match=r"questions\[0\]"):
        agreement_reliability([e])  # type: ignore[list-item]


def test_reliability_state_accumulates_persists_and_bounds_its_history() -> None:
    rows, _, _ = simulate(7, n=120)
    state = ReliabilityState(max_questions=100, n_classes=4)
    assert state.estimate() is None and state.accuracies(["w0"]) == {"w0": 0.5}
    for r in rows:
        state.add_answers(r)
    assert len(state) == 100  # the oldest 20 were dropped
    assert state.questions[0] == rows[20]
    full = dawid_skene(rows[20:], n_classes=4)
    assert state.accuracies() == pytest.approx(full.accuracy)
    names, vectors = simulate_embeddings(1, n=1)[0]
    state.add_embeddings(names, vectors)
    assert set(state.questions[-1].values()) <= {"#0", "#1", "#2", "#3", "#4"}
    restored = ReliabilityState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored.to_dict() == state.to_dict()
    assert restored.accuracies() == pytest.approx(state.accuracies())
    # Feedback, where there is any, takes precedence over the label-free estimate.
    q = state.quality(["w0", "w4", "new"], {"w4": BetaPosterior(1.0, 4.0), "w0": BetaPosterior()})
    assert q["w4"] == pytest.approx(0.2)
    assert q["w0"] == pytest.approx(state.accuracies()["w0"]) and q["new"] == 0.5
    with pytest.raises(ValueError, match="version"):
        ReliabilityState.from_dict({"version": 9})
    with pytest.raises(ValueError, match="malformed"):
        ReliabilityState.from_dict(
            {**state.to_dict(), "questions": [{"answers": {"a": 1}, "n_classes": None}]}
        )
    with pytest.raises(ValueError, match="max_questions"):
        ReliabilityState(max_questions=0)


def test_an_unidentifiable_pair_is_hedged_not_guessed() -> None:
    """Two workers who agree on half the questions and differ on the rest, nobody else: the answers
    cannot say which of them is right where they differ. EM alone lands in one of the two mirror
    modes; averaging the modes found by their likelihood reports both at the same accuracy, and the
    share of the best mode says the estimate is not singled out."""
    rows = []
    for i in range(30):
        a = "ABCD"[i % 4]
        rows.append({"x": a, "y": a if i % 2 == 0 else "ABCD"[(i + 1) % 4]})
    res = dawid_skene(rows, n_classes=4)
    assert res.modes >= 2 and res.mode_share < 0.9
    assert res.accuracy["x"] == pytest.approx(res.accuracy["y"], abs=1e-6)
    # A third worker siding with x breaks the symmetry: one mode, x ahead.
    sided = [{**r, "z": r["x"]} if i % 3 else {**r, "z": None} for i, r in enumerate(rows)]
    res = dawid_skene(sided, n_classes=4)
    assert res.mode_share > 0.9 and res.accuracy["x"] > res.accuracy["y"] + 0.2
    with pytest.raises(ValueError, match="weights"):
        dawid_skene(rows, n_classes=4, weights=[None] * (len(rows) - 1))
    with pytest.raises(ValueError, match="weights"):
        dawid_skene(rows[:1], n_classes=4, weights=[{"x": 2.0}])


def test_a_worker_that_always_says_b_is_capped_by_its_own_answers() -> None:
    """Two informative workers, one that answers "B" whatever the question, one guessing: one-coin EM
    alone can crown the "B" worker (it agrees with the others whenever the truth is B); the bound
    from its answer distribution keeps it near chance."""
    rng = np.random.default_rng(7)
    rows = []

    def answer(truth: int, accuracy: float) -> str:
        ok = rng.random() < accuracy
        return "ABCD"[truth if ok else int(rng.choice([c for c in range(4) if c != truth]))]

    for _ in range(80):
        truth = int(rng.integers(4))
        rows.append(
            {
                "good": answer(truth, 0.75),
                "fair": answer(truth, 0.55),
                "always_b": "B",
                "guess": "ABCD"[int(rng.integers(4))],
            }
        )
    caps = marginal_caps(rows, [4] * len(rows))
    assert caps["always_b"] == pytest.approx(0.25) and caps["good"] > 0.75
    est = dawid_skene(rows, n_classes=4, caps=caps).accuracy
    assert est["always_b"] <= 0.25 + 1e-9 and max(est["good"], est["fair"]) > est["guess"]
    # Which of two informative workers comes first is left to EM's start (see the weights test).
    assert marginal_caps(rows[:5], [4] * 5) == {}  # too few answers to bound anyone
    assert marginal_caps(rows, [None] * len(rows)) == {}  # open answers have no positions
    with pytest.raises(ValueError, match="caps"):
        dawid_skene(rows, n_classes=4, caps={"good": 1.5})
