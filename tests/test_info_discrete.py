"""Plug-in measures of thermoconsensus.info: logits, probability vectors and integer series."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import mutual_info_score

import thermoconsensus as tc
from thermoconsensus import info

LN2 = math.log(2.0)
NEG_INF = -np.inf
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)

# Rows x vocab matrices of moderate logits: no probability underflows, so references stay exact.
logit_matrices = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(1, 9)),
    elements=st.floats(-40.0, 40.0, allow_nan=False, allow_infinity=False),
)


@st.composite
def logit_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    p = draw(logit_matrices)
    q = draw(hnp.arrays(np.float64, p.shape, elements=st.floats(-40.0, 40.0)))
    return p, q


symbol_series = hnp.arrays(np.int64, st.integers(1, 80), elements=st.integers(-3, 3))


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _joint_entropy(*cols: np.ndarray) -> float:
    """Plug-in entropy (nats) of the joint symbols formed by the columns."""
    _, counts = np.unique(np.stack(cols, axis=1), axis=0, return_counts=True)
    return float(scipy.stats.entropy(counts))


def _te_reference(s: np.ndarray, t: np.ndarray, k: int, lh: int, d: int) -> float:
    """TE with JIDT's alignment, as a sum of joint entropies."""
    first = max(k - 1, lh - 1 + d - 1)
    times = np.arange(first, len(t) - 1)
    t_past = [t[times - i] for i in range(k)]
    s_past = [s[times + 1 - d - i] for i in range(lh)]
    nxt = t[times + 1]
    return (
        _joint_entropy(*s_past, *t_past)
        + _joint_entropy(nxt, *t_past)
        - _joint_entropy(*s_past, nxt, *t_past)
        - _joint_entropy(*t_past)
    )


# --- values against SciPy / NumPy references ------------------------------------------------------


@SETTINGS
@given(logit_matrices, st.sampled_from([0.25, 1.0, 3.0]))
def test_log_softmax_and_softmax_match_scipy(z: np.ndarray, temperature: float) -> None:
    got = info.log_softmax(z, temperature)
    assert got.shape == z.shape
    np.testing.assert_allclose(
        got, scipy.special.log_softmax(z / temperature, axis=-1), rtol=1e-12, atol=1e-12
    )
    p = info.softmax(z, temperature)
    np.testing.assert_allclose(p, scipy.special.softmax(z / temperature, axis=-1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-12)


@SETTINGS
@given(logit_matrices, st.sampled_from([0.5, 1.0, 2.0]))
def test_entropy_from_logits_matches_scipy(z: np.ndarray, temperature: float) -> None:
    expected = scipy.stats.entropy(scipy.special.softmax(z / temperature, axis=-1), axis=-1)
    got = info.entropy_from_logits(z, temperature)
    assert isinstance(got, np.ndarray) and got.shape == (z.shape[0],)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert np.all(got >= 0) and np.all(got <= np.log(z.shape[1]) + 1e-12)


@SETTINGS
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 9)),
        elements=st.floats(0.0, 10.0, allow_nan=False, allow_subnormal=False),
    )
)
def test_entropy_from_probs_matches_scipy(w: np.ndarray) -> None:
    w = w.copy()
    w[:, 0] += 1.0  # every row has a positive sum
    p = w / w.sum(axis=1, keepdims=True)
    expected = scipy.stats.entropy(p, axis=-1)
    np.testing.assert_allclose(info.entropy_from_probs(p), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(info.entropy_from_probs(w, normalize=True), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("w", [[1.0, 1.0, 5e-324], [1e308, 1e308]])
def test_entropy_from_probs_normalize_extreme_rows(w: list[float]) -> None:
    assert info.entropy_from_probs(w, normalize=True) == pytest.approx(LN2, rel=1e-12)


@SETTINGS
@given(logit_pairs())
def test_cross_entropy_kl_js_match_references(pair: tuple[np.ndarray, np.ndarray]) -> None:
    zp, zq = pair
    p, q = scipy.special.softmax(zp, axis=-1), scipy.special.softmax(zq, axis=-1)
    log_q = scipy.special.log_softmax(zq, axis=-1)
    ce = info.cross_entropy(zp, zq)
    np.testing.assert_allclose(ce, -(p * log_q).sum(axis=-1), rtol=1e-10, atol=1e-10)
    kl = info.kl_divergence(zp, zq)
    np.testing.assert_allclose(kl, scipy.stats.entropy(p, q, axis=-1), rtol=1e-9, atol=1e-10)
    assert np.all(kl >= 0)
    # H(p, q) = H(p) + KL(p || q).
    np.testing.assert_allclose(ce, info.entropy_from_logits(zp) + kl, rtol=1e-9, atol=1e-9)
    m = (p + q) / 2
    js_ref = 0.5 * scipy.special.rel_entr(p, m).sum(-1) + 0.5 * scipy.special.rel_entr(q, m).sum(-1)
    js = info.js_divergence(zp, zq)
    np.testing.assert_allclose(js, js_ref, rtol=1e-9, atol=1e-12)
    assert np.all(js >= 0) and np.all(js <= LN2)
    np.testing.assert_allclose(js, info.js_divergence(zq, zp), rtol=1e-13, atol=1e-16)  # symmetric


def test_js_is_squared_scipy_jensenshannon() -> None:
    rng = _rng(1)
    zp, zq = rng.normal(0, 3, (50, 20)), rng.normal(0, 3, (50, 20))
    p, q = scipy.special.softmax(zp, axis=-1), scipy.special.softmax(zq, axis=-1)
    expected = jensenshannon(p, q, axis=-1) ** 2  # natural logarithm by default
    np.testing.assert_allclose(info.js_divergence(zp, zq), expected, rtol=1e-10, atol=1e-14)
    assert info.js_divergence(zp[0], zp[0]) == 0.0


@SETTINGS
@given(logit_matrices, st.data())
def test_token_nll_and_perplexity_match_numpy(z: np.ndarray, data: st.DataObject) -> None:
    targets = data.draw(hnp.arrays(np.int64, z.shape[0], elements=st.integers(0, z.shape[1] - 1)))
    nll = -scipy.special.log_softmax(z, axis=-1)[np.arange(z.shape[0]), targets]
    np.testing.assert_allclose(info.token_nll(z, targets), nll, rtol=1e-12, atol=1e-12)
    assert info.perplexity(z, targets) == pytest.approx(math.exp(nll.mean()), rel=1e-12)


@pytest.mark.parametrize("vocab", [1, 2, 7, 50_000])
def test_uniform_logits_entropy_is_ln_v_and_perplexity_v(vocab: int) -> None:
    z = np.full((3, vocab), 7.25)
    np.testing.assert_allclose(info.entropy_from_logits(z), math.log(vocab), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(info.entropy_from_logits(z, temperature=0.01), math.log(vocab), rtol=1e-12)
    assert info.perplexity(z, [0, vocab // 2, vocab - 1]) == pytest.approx(vocab, rel=1e-12)
    np.testing.assert_allclose(info.token_nll(z, [0, 0, 0]), math.log(vocab), rtol=1e-12, atol=1e-15)
    assert info.entropy_from_probs(np.full(vocab, 1.0 / vocab)) == pytest.approx(math.log(vocab), rel=1e-9)


def test_temperature_scales_logits() -> None:
    z = _rng(2).normal(0, 2, (4, 30))
    for t in (0.1, 0.7, 5.0):
        np.testing.assert_allclose(info.log_softmax(z, t), info.log_softmax(z / t), rtol=1e-12, atol=1e-12)
    # Low temperature concentrates the distribution, high temperature flattens it.
    h = [info.entropy_from_logits(z[0], t) for t in (0.05, 1.0, 100.0)]
    assert h[0] < h[1] < h[2] < math.log(30)
    assert info.entropy_from_logits(z[0], np.float32(2.0)) == info.entropy_from_logits(z[0], 2)


# --- shapes and input forms -----------------------------------------------------------------------


def test_one_dimensional_inputs_give_scalars() -> None:
    z = np.array([1.0, 2.0, 0.5])
    q = np.array([0.0, 1.0, -1.0])
    for value in (
        info.entropy_from_logits(z),
        info.entropy_from_probs([0.2, 0.3, 0.5]),
        info.cross_entropy(z, q),
        info.kl_divergence(z, q),
        info.js_divergence(z, q),
        info.token_nll(z, 2),
        info.token_nll(z, [2]),
        info.perplexity(z, 2),
    ):
        assert isinstance(value, float)
    assert info.entropy_from_logits(z) == np.asarray(info.entropy_from_logits(z[None, :]))[0]
    assert info.log_softmax(z).shape == (3,)
    assert info.softmax(z).shape == (3,)
    np.testing.assert_array_equal(info.softmax(z), info.softmax(z[None, :])[0])


def test_lists_int_float32_and_strided_inputs_are_accepted() -> None:
    z = _rng(3).normal(0, 1, (6, 8))
    ref = info.entropy_from_logits(z)
    np.testing.assert_array_equal(info.entropy_from_logits(z.tolist()), ref)
    np.testing.assert_array_equal(info.entropy_from_logits(np.asfortranarray(z)), ref)
    big = np.zeros((12, 16))
    big[::2, ::2] = z
    np.testing.assert_array_equal(info.entropy_from_logits(big[::2, ::2]), ref)
    np.testing.assert_allclose(
        info.entropy_from_logits(z.astype(np.float32)),
        info.entropy_from_logits(z.astype(np.float32).astype(float)),
    )
    np.testing.assert_allclose(info.softmax([[0, 0], [1, 1]]), 0.5)
    targets = np.array([0, 7, 3, 1, 2, 5], dtype=np.int32)
    assert info.perplexity(z, targets) == info.perplexity(z, targets.tolist())
    assert info.perplexity(z, targets) == info.perplexity(z, targets.astype(np.float64))


# --- -inf logits ----------------------------------------------------------------------------------


def test_negative_infinite_logits_are_zero_probabilities() -> None:
    z = np.array([0.0, NEG_INF, 0.0])
    np.testing.assert_array_equal(info.softmax(z), [0.5, 0.0, 0.5])
    np.testing.assert_allclose(info.log_softmax(z), [-LN2, NEG_INF, -LN2])
    assert info.entropy_from_logits(z) == pytest.approx(LN2, rel=1e-15)
    assert info.entropy_from_logits(np.array([3.0, NEG_INF])) == 0.0
    uniform2 = np.array([0.0, 0.0])
    point = np.array([0.0, NEG_INF])
    # q has a zero where p does not: infinite KL and cross-entropy, finite JS.
    assert info.kl_divergence(uniform2, point) == math.inf
    assert info.cross_entropy(uniform2, point) == math.inf
    assert info.kl_divergence(point, uniform2) == pytest.approx(LN2, rel=1e-15)
    assert info.cross_entropy(point, uniform2) == pytest.approx(LN2, rel=1e-15)
    # Disjoint supports: JS is exactly ln 2.
    assert info.js_divergence(point, point[::-1]) == LN2
    assert info.token_nll(point, 1) == math.inf
    assert info.perplexity(np.array([point, uniform2]), [1, 0]) == math.inf
    assert info.perplexity(np.array([point, uniform2]), [0, 0]) == pytest.approx(math.sqrt(2), rel=1e-15)


def test_extreme_finite_logits_do_not_overflow() -> None:
    z = np.array([1e300, -1e300, 0.0])
    np.testing.assert_array_equal(info.softmax(z), [1.0, 0.0, 0.0])
    assert info.entropy_from_logits(z) == 0.0
    assert info.kl_divergence(z, z) == 0.0


# --- plug-in estimators of integer series ---------------------------------------------------------


def test_plugin_mi_of_identical_binary_series_is_ln2() -> None:
    x = np.array([0, 1] * 500)
    assert info.plugin_mutual_information(x, x) == pytest.approx(LN2, rel=1e-15)
    assert info.plugin_entropy(x) == pytest.approx(LN2, rel=1e-15)
    assert info.plugin_mutual_information(x.astype(bool), x.tolist()) == pytest.approx(LN2, rel=1e-15)


def test_plugin_mi_of_a_product_table_is_exactly_zero() -> None:
    x = np.repeat([0, 1, 2], 4)
    y = np.tile([5, -9, 2**40, 7], 3)
    assert info.plugin_mutual_information(x, y) == 0.0
    assert info.plugin_conditional_mutual_information(x, y, np.zeros(12, dtype=int)) == 0.0


@SETTINGS
@given(symbol_series, st.data())
def test_plugin_entropy_mi_cmi_match_references(x: np.ndarray, data: st.DataObject) -> None:
    n = len(x)
    y = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, 2)))
    z = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, 1)))
    h = info.plugin_entropy(x)
    assert h == pytest.approx(_joint_entropy(x), rel=1e-12, abs=1e-12)
    mi = info.plugin_mutual_information(x, y)
    assert mi == pytest.approx(mutual_info_score(x, y), rel=1e-9, abs=1e-12)
    assert 0 <= mi <= h + 1e-12
    cmi = info.plugin_conditional_mutual_information(x, y, z)
    ref = _joint_entropy(x, z) + _joint_entropy(y, z) - _joint_entropy(x, y, z) - _joint_entropy(z)
    assert cmi == pytest.approx(ref, rel=1e-9, abs=1e-12)
    assert cmi >= 0


@SETTINGS
@given(
    hnp.arrays(np.int64, st.integers(8, 120), elements=st.integers(0, 2)),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 3),
    st.data(),
)
def test_plugin_te_matches_reference(
    s: np.ndarray,
    k: int,
    lh: int,
    d: int,
    data: st.DataObject,
) -> None:
    t = data.draw(hnp.arrays(np.int64, len(s), elements=st.integers(0, 1)))
    got = info.plugin_transfer_entropy(s, t, k_history=k, l_history=lh, delay=d)
    assert got == pytest.approx(_te_reference(s, t, k, lh, d), rel=1e-9, abs=1e-12)


def test_plugin_te_of_lagged_copy_is_ln2() -> None:
    n = 20_000
    x = _rng(4).integers(0, 2, n)
    y = np.zeros(n, dtype=np.int64)
    y[1:] = x[:-1]  # y[t + 1] = x[t]
    assert info.plugin_transfer_entropy(x, y) == pytest.approx(LN2, abs=5e-3)
    assert info.plugin_transfer_entropy(y, x) == pytest.approx(0.0, abs=5e-3)
    # A copy two steps later is found with delay=2, not with delay=1.
    y2 = np.zeros(n, dtype=np.int64)
    y2[2:] = x[:-2]
    assert info.plugin_transfer_entropy(x, y2, delay=2) == pytest.approx(LN2, abs=5e-3)
    assert info.plugin_transfer_entropy(x, y2, delay=1) == pytest.approx(0.0, abs=5e-3)


# --- thread-count independence --------------------------------------------------------------------


def test_results_do_not_depend_on_thread_count() -> None:
    rng = _rng(5)
    zp, zq = rng.normal(0, 4, (257, 1000)), rng.normal(0, 4, (257, 1000))
    zp[rng.random(zp.shape) < 0.05] = NEG_INF
    targets = rng.integers(0, 1000, 257)
    p = scipy.special.softmax(rng.normal(size=(257, 1000)), axis=-1)
    row_cases: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
        (info.log_softmax, (zp,)),
        (info.softmax, (zp,)),
        (info.entropy_from_logits, (zp,)),
        (info.entropy_from_probs, (p,)),
        (info.cross_entropy, (zp, zq)),
        (info.kl_divergence, (zp, zq)),
        (info.js_divergence, (zp, zq)),
        (info.token_nll, (zp, targets)),
        (info.perplexity, (zq, targets)),
    ]
    for f, args in row_cases:
        np.testing.assert_array_equal(f(*args, n_threads=1), f(*args, n_threads=2), err_msg=f.__name__)
    x, y, z = rng.integers(0, 5, 50_000), rng.integers(0, 3, 50_000), rng.integers(-2, 2, 50_000)
    series_cases: list[tuple[Callable[..., float], tuple[Any, ...]]] = [
        (info.plugin_entropy, (x,)),
        (info.plugin_mutual_information, (x, y)),
        (info.plugin_conditional_mutual_information, (x, y, z)),
        (info.plugin_transfer_entropy, (x, y)),
    ]
    for g, series in series_cases:
        assert g(*series, n_threads=1) == g(*series, n_threads=2), g.__name__


# --- bad inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_logits_raise_naming_logits(bad: float) -> None:
    z = np.zeros((3, 4))
    z[1, 2] = bad
    for f in (info.log_softmax, info.softmax, info.entropy_from_logits):
        with pytest.raises(tc.InvalidInputError, match="logits"):
            f(z)
    with pytest.raises(tc.InvalidInputError, match="logits"):
        info.perplexity(z, [0, 0, 0])
    with pytest.raises(tc.InvalidInputError, match="q_logits"):
        info.kl_divergence(np.zeros((3, 4)), z)
    with pytest.raises(ValueError, match="p_logits"):
        info.js_divergence(z, np.zeros((3, 4)))


def test_all_negative_infinite_row_is_rejected() -> None:
    with pytest.raises(tc.InvalidInputError, match=r"logits.*row 1"):
        info.entropy_from_logits(np.array([[0.0, 1.0], [NEG_INF, NEG_INF]]))


@pytest.mark.parametrize("f", [info.cross_entropy, info.kl_divergence, info.js_divergence])
def test_mismatched_shapes_raise_naming_q_logits(f: Callable[..., Any]) -> None:
    for q in (np.zeros((3, 5)), np.zeros((2, 4)), np.zeros(4)):
        with pytest.raises(tc.InvalidInputError, match="q_logits"):
            f(np.zeros((3, 4)), q)


@pytest.mark.parametrize("targets", [[0, 4], [-1, 0], [0, 2**40], [0], [0, 1, 2]])
def test_bad_targets_raise_naming_targets(targets: list[int]) -> None:
    with pytest.raises(tc.InvalidInputError, match="targets"):
        info.perplexity(np.zeros((2, 4)), targets)
    with pytest.raises(tc.InvalidInputError, match="targets"):
        info.token_nll(np.zeros((2, 4)), targets)


def test_non_integer_series_raise_type_error() -> None:
    with pytest.raises(TypeError, match="x"):
        info.plugin_entropy([0.0, 0.5, 1.0])
    with pytest.raises(TypeError, match="y"):
        info.plugin_mutual_information([0, 1], np.array([1.0, 0.5]))
    with pytest.raises(TypeError, match="target"):
        info.plugin_transfer_entropy([0, 1, 0], [0.0, np.nan, 1.0])
    with pytest.raises(TypeError, match="targets"):
        info.token_nll(np.zeros((2, 3)), [0.5, 1.0])
    with pytest.raises(TypeError, match="z"):
        info.plugin_conditional_mutual_information([0, 1], [0, 1], np.array([1 + 0j, 0j]))
    with pytest.raises(TypeError, match="x"):
        info.plugin_entropy(np.array(["a", "b"], dtype=object))
    with pytest.raises(TypeError, match="logits"):
        info.softmax(np.array([1j, 2.0]))
    assert info.plugin_entropy([0.0, 1.0, 1.0, 0.0]) == pytest.approx(LN2)


@pytest.mark.parametrize("temperature", [0, 0.0, -1.0, np.nan, np.inf])
def test_bad_temperature_raises_value_error(temperature: float) -> None:
    for f in (info.log_softmax, info.softmax, info.entropy_from_logits):
        with pytest.raises(tc.InvalidInputError, match="temperature"):
            f([1.0, 2.0], temperature)


@pytest.mark.parametrize("temperature", ["1", None, True, 1 + 0j])
def test_non_real_temperature_raises_type_error(temperature: object) -> None:
    with pytest.raises(TypeError, match="temperature"):
        info.softmax([1.0, 2.0], temperature)  # type: ignore[arg-type]


def test_other_bad_inputs() -> None:
    with pytest.raises(tc.InvalidInputError, match="p"):
        info.entropy_from_probs([0.5, 0.6])
    with pytest.raises(tc.InvalidInputError, match="p"):
        info.entropy_from_probs([-0.5, 1.5])
    with pytest.raises(tc.InvalidInputError, match="p"):
        info.entropy_from_probs([0.0, 0.0], normalize=True)
    with pytest.raises(TypeError, match="normalize"):
        info.entropy_from_probs([0.5, 0.5], normalize=1)  # type: ignore[arg-type]
    with pytest.raises(tc.InvalidInputError, match="logits"):
        info.entropy_from_logits(np.zeros((2, 3, 4)))
    with pytest.raises(tc.InvalidInputError, match="logits"):
        info.entropy_from_logits([])
    with pytest.raises(tc.InvalidInputError, match="x"):
        info.plugin_entropy([])
    with pytest.raises(tc.InvalidInputError, match="y"):
        info.plugin_mutual_information([0, 1, 0], [0, 1])
    with pytest.raises(tc.InvalidInputError, match="x"):
        info.plugin_entropy([[0, 1], [1, 0]])
    with pytest.raises(tc.InvalidInputError, match="k_history"):
        info.plugin_transfer_entropy([0, 1, 0, 1], [1, 0, 1, 0], k_history=0)
    with pytest.raises(TypeError, match="delay"):
        info.plugin_transfer_entropy([0, 1, 0, 1], [1, 0, 1, 0], delay=1.5)  # type: ignore[arg-type]
    with pytest.raises(tc.InvalidInputError, match="source"):
        info.plugin_transfer_entropy([0, 1, 0, 1], [1, 0, 1, 0], l_history=3, delay=2)
    with pytest.raises(tc.InvalidInputError, match="n_threads"):
        info.entropy_from_logits([1.0, 2.0], n_threads=0)
    with pytest.raises(tc.InvalidInputError, match="x"):
        info.plugin_entropy(np.array([2**63], dtype=np.uint64))
