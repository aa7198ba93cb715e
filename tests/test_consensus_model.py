"""The consensus model on constructed responses: the free-energy minimiser's weights (a big tight
cluster beats a small one, priors tilt ties, T -> infinity uniform, T -> 0 one response), distances
(hypothesis: symmetric, zero diagonal, weights on the simplex), the answer rules and the extractors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import thermoconsensus as tc
from thermoconsensus.consensus import (
    Hamiltonian,
    anneal,
    answer_distances,
    cosine_distances,
    extract_number,
    extract_option,
    extract_yesno,
    fields,
    geometric_schedule,
    resolve_extractor,
    select,
    weighted_medoid,
    weighted_vote,
)


def clustered(sizes: list[int], spread: float, rng: np.random.Generator, dim: int = 16) -> np.ndarray:
    """Unit vectors in tight clusters of the given sizes around orthogonal centres."""
    rows = []
    for c, n in enumerate(sizes):
        centre = np.zeros(dim)
        centre[c] = 1.0
        for _ in range(n):
            v = centre + spread * rng.standard_normal(dim)
            rows.append(v / np.linalg.norm(v))
    return np.array(rows)


def test_a_big_tight_cluster_beats_a_small_one(rng: np.random.Generator) -> None:
    d = cosine_distances(clustered([4, 2], 0.05, rng))
    sol = anneal(Hamiltonian(d, np.zeros(6)), 0.1, seed=1)
    assert sol.weights[:4].sum() > 0.95
    assert math.isclose(sol.weights.sum(), 1.0, abs_tol=1e-9)
    sel = select(d, sol.weights)
    assert sel.index < 4 and sel.answer_weight > 0.95
    # F of the cluster is about J * spread - T ln |C|: below the one-hot value 0.
    assert sol.free_energy < -0.1 * math.log(4) + d[:4, :4].mean() + 1e-6
    assert 3.0 < sol.effective_number <= 4.0 + 1e-6


def test_reliability_tilts_a_tie(rng: np.random.Generator) -> None:
    d = cosine_distances(clustered([2, 2], 0.02, rng))
    h = fields([0.9, 0.9, 0.2, 0.2], [None] * 4, alpha=1.0, temperature=0.1)
    sol = anneal(Hamiltonian(d, h), 0.1, seed=0)
    assert sol.weights[:2].sum() > 0.9
    h = fields([0.2, 0.2, 0.9, 0.9], [None] * 4, alpha=1.0, temperature=0.1)
    assert anneal(Hamiltonian(d, h), 0.1, seed=0).weights[2:].sum() > 0.9
    # Calibrated confidence tilts the same way: a higher score, more weight.
    h = fields([0.5] * 4, [-2.0, -2.0, 1.0, 1.0], alpha=1.0, beta=1.0, temperature=0.1)
    assert anneal(Hamiltonian(d, h), 0.1, seed=0).weights[2:].sum() > 0.9


def test_fields_follow_the_formula() -> None:
    h = fields(
        [0.8, 0.5, 0.5],
        [1.0, None, -1.0],
        alpha=2.0,
        beta=0.5,
        share=[1, 2, 2],
        invalid=[False, False, True],
        penalty=7.0,
        temperature=0.5,
    )
    want = [
        -(2.0 * math.log(0.8 / 0.2) + 0.5 * 1.0),
        0.5 * math.log(2),
        -0.5 * -1.0 + 0.5 * math.log(2) + 7.0,
    ]
    np.testing.assert_allclose(h, want)
    # At the minimum a response's Boltzmann factor is exp(-h / T): with alpha = T, its model's odds.
    lone = fields([0.8, 0.5], [None, None], alpha=1.0, temperature=1.0)
    sol = anneal(Hamiltonian(np.zeros((2, 2)), lone, J=0.0), 1.0, seed=0)
    assert sol.weights[0] / sol.weights[1] == pytest.approx(4.0, rel=1e-3)


def test_temperature_limits(rng: np.random.Generator) -> None:
    d = cosine_distances(clustered([3, 2, 1], 0.1, rng))
    h = np.array([0.0, 0.3, 0.3, 0.3, 0.3, 0.3])
    hot = anneal(Hamiltonian(d, h), 1e6, seed=0)
    np.testing.assert_allclose(hot.weights, np.full(6, 1 / 6), atol=1e-4)
    assert math.isclose(hot.entropy, math.log(6), abs_tol=1e-6)
    cold = anneal(Hamiltonian(d, h), 1e-4, seed=0)
    assert cold.weights.max() > 0.999 and int(np.argmax(cold.weights)) == 0  # the lowest field
    assert cold.effective_number < 1.01


def test_a_schedule_records_the_free_energy_curve(rng: np.random.Generator) -> None:
    d = cosine_distances(clustered([3, 3], 0.1, rng))
    temps = geometric_schedule(1.0, 0.05, 5)
    assert temps[0] == pytest.approx(1.0) and temps[-1] == pytest.approx(0.05)
    sol = anneal(Hamiltonian(d, np.zeros(6)), temps, seed=0)
    assert [p["temperature"] for p in sol.curve] == temps and sol.temperature == temps[-1]
    f = [p["free_energy"] for p in sol.curve]
    assert all(a < b for a, b in zip(f, f[1:]))  # F = E - T S rises as T falls (S > 0 here)
    with pytest.raises(ValueError, match="temperature"):
        anneal(Hamiltonian(d, np.zeros(6)), [0.1, -1.0])
    with pytest.raises(ValueError, match="empty"):
        anneal(Hamiltonian(d, np.zeros(6)), [])


def test_one_response_takes_all_the_weight() -> None:
    sol = anneal(Hamiltonian(np.zeros((1, 1)), np.array([0.3])), 0.1)
    assert sol.weights.tolist() == [1.0] and sol.free_energy == pytest.approx(0.3)


def test_vote_and_medoid() -> None:
    d = np.array([[0, 0.1, 0.9], [0.1, 0, 0.8], [0.9, 0.8, 0]])
    w = np.array([0.3, 0.3, 0.4])
    assert weighted_medoid(d, w) == 1
    assert weighted_vote(["7", "7", "8"], w) == {"7": 0.6, "8": 0.4}
    sel = select(d, w, ["7", "7", "8"])
    assert sel.answer == "7" and sel.answer_weight == pytest.approx(0.6) and sel.index in (0, 1)
    assert select(d, w, [None, None, None]).answer is None


unit_rows = hnp.arrays(
    np.float64, st.tuples(st.integers(1, 8), st.integers(2, 6)), elements=st.floats(-1, 1, width=32)
).filter(lambda a: bool(np.all(np.linalg.norm(a, axis=1) > 1e-3)))


@given(unit_rows, st.floats(0, 1), st.data())
def test_distance_matrices_are_symmetric_with_zero_diagonal(
    e: np.ndarray, lam: float, data: st.DataObject
) -> None:
    answers = data.draw(st.lists(st.sampled_from(["1", "2", None]), min_size=len(e), max_size=len(e)))
    for d in (cosine_distances(e), answer_distances(cosine_distances(e), answers, lam)):
        np.testing.assert_array_equal(d, d.T)
        assert np.all(np.diag(d) == 0) and np.all(d >= 0) and np.all(d <= 2)


@given(unit_rows, st.floats(0.01, 10), st.integers(0, 2**32 - 1))
def test_weights_are_on_the_simplex(e: np.ndarray, temperature: float, seed: int) -> None:
    d = cosine_distances(e)
    sol = anneal(Hamiltonian(d, np.zeros(len(e))), temperature, seed=seed, chains=2, langevin_steps=20)
    assert np.all(sol.weights >= 0) and math.isclose(float(sol.weights.sum()), 1.0, abs_tol=1e-9)
    assert 0.0 <= sol.entropy <= math.log(len(e)) + 1e-9


def test_bad_input_is_named() -> None:
    with pytest.raises(tc.InvalidInputError, match="NaN"):
        cosine_distances([[np.nan, 1.0], [1.0, 0.0]])
    with pytest.raises(tc.InvalidInputError, match="vector 0 is zero"):
        cosine_distances([[0.0, 0.0], [1.0, 0.0]])
    with pytest.raises(tc.InvalidInputError, match="non-empty"):
        cosine_distances(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="lam"):
        answer_distances(np.zeros((2, 2)), ["1", "2"], 1.5)
    with pytest.raises(tc.InvalidInputError, match="answers"):
        answer_distances(np.zeros((2, 2)), ["1"], 0.5)
    with pytest.raises(tc.InvalidInputError, match="distances"):
        Hamiltonian(np.array([[0.0, np.nan], [np.nan, 0.0]]), np.zeros(2))
    with pytest.raises(tc.InvalidInputError, match="h"):
        Hamiltonian(np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="J"):
        Hamiltonian(np.zeros((2, 2)), np.zeros(2), J=-1.0)
    with pytest.raises(tc.InvalidInputError, match="accuracy"):
        fields([0.0], [None])
    with pytest.raises(ValueError, match="alpha"):
        fields([0.5], [None], alpha=float("nan"))
    with pytest.raises(tc.InvalidInputError, match="share"):
        fields([0.5], [None], share=[1, 1])
    with pytest.raises(tc.InvalidInputError, match="confidence"):
        fields([0.5], [float("inf")])


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("She has 3 apples, then 5 more.\n#### 8", "8"),
        ("The total is 1,250 dollars.", "1250"),
        ("So the answer is $42.", "42"),
        ("x = \\boxed{3.50}", "3.5"),
        ("12 then 7 and finally -4", "-4"),
        ("no digits here", None),
        ("#### 6/3", "2"),
    ],
)
def test_number_extractor(text: str, want: str | None) -> None:
    assert extract_number(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [("The answer is (C).", "C"), ("B) Paris", "B"), ("answer: d", "D"), ("I think so", None), ("A", "A")],
)
def test_option_extractor(text: str, want: str | None) -> None:
    assert extract_option(text) == want


def test_yes_no_extractor_and_resolution() -> None:
    assert extract_yesno("Yes, it is.") == "yes"
    assert extract_yesno("No. It is not.") == "no"
    assert extract_yesno("That is false") == "no"
    assert extract_yesno("Maybe") is None
    assert resolve_extractor("number") is extract_number
    assert resolve_extractor(None) is None
    assert resolve_extractor(str.strip) is str.strip
    with pytest.raises(ValueError, match="unknown name"):
        resolve_extractor("letters")
    with pytest.raises(TypeError, match="answer_extractor"):
        resolve_extractor(3)  # type: ignore[arg-type]
