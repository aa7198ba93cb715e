"""Permutation tests (`significance`) and the FDR-controlled TE network (`te_network`)."""

from __future__ import annotations

import numpy as np
import pytest

import thermoconsensus
from thermoconsensus import info

MEASURES = ("mi", "cmi", "te", "ais")


def _dependent_arrays(measure: str, rng: np.random.Generator, n: int = 600) -> tuple[np.ndarray, ...]:
    """Arrays for `measure` with a real, moderate dependence."""
    z = rng.standard_normal(n)
    x = z + rng.standard_normal(n)
    if measure == "mi":
        return x, 0.5 * x + rng.standard_normal(n)
    if measure == "cmi":
        return x, 0.5 * x + z + rng.standard_normal(n), z
    if measure == "te":
        return x, np.r_[0.0, 0.7 * x[:-1]] + rng.standard_normal(n)
    a = np.zeros(n)
    for t in range(1, n):
        a[t] = 0.6 * a[t - 1] + x[t]
    return (a,)


def _direct(measure: str, arrays: tuple[np.ndarray, ...], **kw) -> float:
    fn = {
        "mi": info.mutual_information,
        "cmi": info.conditional_mutual_information,
        "te": info.transfer_entropy,
        "ais": info.active_information_storage,
    }[measure]
    return fn(*arrays, **kw)


@pytest.mark.parametrize("algorithm", [1, 2])
@pytest.mark.parametrize("measure", MEASURES)
def test_result_is_consistent_with_its_null(rng, measure, algorithm):
    arrays = _dependent_arrays(measure, rng)
    r = info.significance(measure, *arrays, n_surrogates=30, seed=3, algorithm=algorithm)
    assert r.value == pytest.approx(_direct(measure, arrays, algorithm=algorithm), abs=1e-12)
    assert r.n_surrogates == 30
    assert isinstance(r.null, np.ndarray) and r.null.dtype == np.float64 and r.null.shape == (30,)
    assert np.all(np.isfinite(r.null))
    assert 0.0 < r.p_value <= 1.0
    assert r.p_value == pytest.approx((1 + np.sum(r.null >= r.value)) / 31, abs=1e-15)
    assert r.null_mean == pytest.approx(np.mean(r.null), abs=1e-12)
    assert r.null_std == pytest.approx(np.std(r.null, ddof=1), abs=1e-12)
    for alpha in (0.01, 0.05, 0.5):
        assert r.significant(alpha) == (r.p_value <= alpha)


@pytest.mark.parametrize("measure", MEASURES)
def test_same_seed_same_result_other_seed_other_null(rng, measure):
    arrays = _dependent_arrays(measure, rng, n=300)
    a = info.significance(measure, *arrays, n_surrogates=20, seed=42)
    b = info.significance(measure, *arrays, n_surrogates=20, seed=42)
    c = info.significance(measure, *arrays, n_surrogates=20, seed=43)
    assert np.array_equal(a.null, b.null)
    assert (a.value, a.p_value, a.null_mean, a.null_std) == (b.value, b.p_value, b.null_mean, b.null_std)
    assert c.value == a.value
    assert not np.array_equal(a.null, c.null)


@pytest.mark.parametrize("measure", MEASURES)
def test_surrogate_s_depends_only_on_seed_and_s(rng, measure):
    # Surrogate s draws from stream s of the seed, so a shorter run is a prefix of a longer one.
    arrays = _dependent_arrays(measure, rng, n=300)
    short = info.significance(measure, *arrays, n_surrogates=7, seed=9)
    long = info.significance(measure, *arrays, n_surrogates=20, seed=9)
    assert np.array_equal(short.null, long.null[:7])


@pytest.mark.parametrize("algorithm", [1, 2])
@pytest.mark.parametrize("measure", MEASURES)
def test_null_does_not_depend_on_thread_count(rng, measure, algorithm):
    arrays = _dependent_arrays(measure, rng, n=1500)
    one = info.significance(measure, *arrays, n_surrogates=16, seed=1, algorithm=algorithm, n_threads=1)
    two = info.significance(measure, *arrays, n_surrogates=16, seed=1, algorithm=algorithm, n_threads=2)
    assert np.array_equal(one.null, two.null)
    assert (one.value, one.p_value, one.null_mean, one.null_std) == (
        two.value,
        two.p_value,
        two.null_mean,
        two.null_std,
    )


def test_mi_of_independent_data_is_not_significant(make_rng):
    # Any one independent dataset is a false positive with probability 0.05 (seed 101, whose sample
    # correlation is 0.061, ~1.9 sigma, is one); the next test checks that rate over many datasets.
    r = make_rng(100)
    x, y = r.standard_normal((2, 1000))
    res = info.significance("mi", x, y, n_surrogates=100, seed=7)
    assert res.p_value > 0.05
    assert abs(res.value) < 0.05  # the null's spread at N = 1000 is ~0.015 nats
    assert abs(res.null_mean) < 0.01


def test_mi_permutation_test_is_calibrated(make_rng):
    # Under independence p is uniform on {1/31, ..., 1}: about 5 % of 60 datasets fall at or below 0.05
    # (Binomial(60, 0.05) exceeds 9 with probability ~0.001), and the mean p is about 1/2.
    p = np.array(
        [
            info.significance(
                "mi", *make_rng(10_000 + s).standard_normal((2, 300)), n_surrogates=30, seed=s
            ).p_value
            for s in range(60)
        ]
    )
    assert np.sum(p <= 0.05) <= 9
    assert 0.35 < p.mean() < 0.65


def test_mi_of_dependent_data_is_significant(make_rng):
    r = make_rng(102)
    x = r.standard_normal(1000)
    y = 0.4 * x + r.standard_normal(1000)
    res = info.significance("mi", x, y, n_surrogates=100, seed=7)
    # Every surrogate falls below the estimate: the smallest p-value the test can give.
    assert res.p_value == pytest.approx(1 / 101)
    assert res.significant()
    assert res.value > res.null_mean + 5 * res.null_std


def test_cmi_significance(make_rng):
    r = make_rng(103)
    z = r.standard_normal(1000)
    x = z + r.standard_normal(1000)
    y_dep = 0.5 * x + z + r.standard_normal(1000)
    assert info.significance("cmi", x, y_dep, z, n_surrogates=50, seed=1).p_value < 0.05
    y_ind, w = r.standard_normal((2, 1000))
    assert info.significance("cmi", x, y_ind, w, n_surrogates=50, seed=1).p_value > 0.05


def test_ais_significance(ar, make_rng):
    with_memory = info.significance("ais", ar((0.6,), 1000, 104), n_surrogates=50, seed=1)
    assert with_memory.p_value < 0.05
    white = info.significance("ais", make_rng(105).standard_normal(1000), n_surrogates=50, seed=1)
    assert white.p_value > 0.05


def _common_driver(make_rng, t_len: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z drives X with lag 1 and Y with lag 2, so X_t predicts Y_{t+1} only through Z_{t-1}."""
    r = make_rng(106)
    e = r.standard_normal((t_len + 500, 3))
    z = np.zeros(t_len + 500)
    for t in range(1, t_len + 500):
        z[t] = 0.6 * z[t - 1] + e[t, 0]
    x = np.r_[0.0, 0.8 * z[:-1]] + e[:, 1]
    y = np.r_[0.0, 0.0, 0.8 * z[:-2]] + e[:, 2]
    return x[500:], y[500:], z[500:]


def test_te_significance_with_conditionals_removes_a_common_driver(make_rng):
    x, y, z = _common_driver(make_rng)
    pairwise = info.significance("te", x, y, n_surrogates=50, seed=2)
    assert pairwise.p_value < 0.05
    # Conditioning on Z_{t-1} (cond delay 2: C_{t+1-2}) explains the spurious link away.
    conditioned = info.significance("te", x, y, conditionals=z, cond_delays=[2], n_surrogates=50, seed=2)
    assert conditioned.value == pytest.approx(
        info.transfer_entropy(x, y, conditionals=z, cond_delays=[2]), abs=1e-12
    )
    assert abs(conditioned.value) < 0.01
    assert conditioned.p_value > 0.05
    # The wrong lag of Z does not explain it.
    wrong_lag = info.significance("te", x, y, conditionals=z, cond_delays=[1], n_surrogates=50, seed=2)
    assert wrong_lag.p_value < 0.05


def test_te_significance_uses_the_embedding_arguments(make_rng):
    r = make_rng(107)
    x = r.standard_normal(800)
    y = np.r_[np.zeros(3), x[:-3]] + 0.5 * r.standard_normal(800)  # y_{t+1} = x_{t-2} + noise
    emb = {"k_history": 2, "l_history": 1, "delay": 3}
    res = info.significance("te", x, y, n_surrogates=20, seed=0, **emb)
    assert res.value == pytest.approx(info.transfer_entropy(x, y, **emb), abs=1e-12)
    assert res.value > 0.3
    assert res.p_value == pytest.approx(1 / 21)
    # With the default delay 1 the source carries nothing about the next target value.
    assert info.significance("te", x, y, n_surrogates=20, seed=0).p_value > 0.05


# --------------------------------------------------------------------------------------------------
# te_network
# --------------------------------------------------------------------------------------------------

CHAIN = np.array([[0.6, 0.0, 0.0], [0.6, 0.5, 0.0], [0.0, 0.6, 0.5]])  # 0 -> 1 -> 2


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values, written out independently."""
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    q = np.empty(m)
    q[order] = q_sorted
    return q


@pytest.fixture(scope="module")
def chain_data() -> np.ndarray:
    r = np.random.default_rng(108)
    e = r.standard_normal((2500, 3))
    s = np.zeros((2500, 3))
    for t in range(1, 2500):
        s[t] = CHAIN @ s[t - 1] + e[t]
    return s[500:]


@pytest.fixture(scope="module")
def chain_network(chain_data) -> info.TeNetworkResult:
    # 100 surrogates: the smallest p is 1/101, small enough to survive BH over 6 pairs at alpha 0.05.
    return info.te_network(chain_data, n_surrogates=100, seed=3)


def test_te_network_finds_the_chain(chain_network):
    net = chain_network
    for arr in (net.te, net.p_values, net.q_values, net.significant):
        assert arr.shape == (3, 3)
    assert net.significant.dtype == np.bool_
    assert net.significant[0, 1] and net.significant[1, 2]
    assert not net.significant[1, 0] and not net.significant[2, 1]
    diag = np.eye(3, dtype=bool)
    assert np.all(np.isnan(net.te[diag]))
    assert np.all(np.isnan(net.p_values[diag]))
    assert np.all(np.isnan(net.q_values[diag]))
    assert not net.significant[diag].any()


def test_te_network_adjusted_p_values(chain_network):
    net = chain_network
    off = ~np.eye(3, dtype=bool)
    p, q = net.p_values[off], net.q_values[off]
    assert np.all((p > 0) & (p <= 1)) and np.all(q <= 1)
    assert np.all(q >= p)
    np.testing.assert_allclose(q, _bh(p), rtol=0, atol=1e-12)
    assert np.array_equal(net.significant[off], q <= 0.05)


def test_te_network_entries_are_pairwise_te(chain_data, chain_network):
    for i in range(3):
        for j in range(3):
            if i != j:
                te = info.transfer_entropy(chain_data[:, i], chain_data[:, j])
                assert chain_network.te[i, j] == pytest.approx(te, abs=1e-12)


def test_te_network_edges(chain_network):
    edges = chain_network.edges()
    assert {(i, j) for i, j, _ in edges} == {tuple(ix) for ix in np.argwhere(chain_network.significant)}
    strengths = [te for _, _, te in edges]
    assert strengths == sorted(strengths, reverse=True)
    for i, j, te in edges:
        assert te == chain_network.te[i, j]


def test_te_network_alpha_controls_the_decision(chain_data):
    everything = info.te_network(chain_data[:800], n_surrogates=10, seed=1, alpha=1.0)
    assert everything.significant.sum() == 6
    # p-values are at least 1 / (1 + n_surrogates); alpha = 0 itself is refused (issue 19).
    nothing = info.te_network(chain_data[:800], n_surrogates=10, seed=1, alpha=1e-9)
    assert not nothing.significant.any()
    with pytest.raises(thermoconsensus.InvalidInputError, match="alpha"):
        info.te_network(chain_data[:800], n_surrogates=10, seed=1, alpha=0.0)


def _network_equal(a: info.TeNetworkResult, b: info.TeNetworkResult) -> bool:
    return (
        np.array_equal(a.te, b.te, equal_nan=True)
        and np.array_equal(a.p_values, b.p_values, equal_nan=True)
        and np.array_equal(a.q_values, b.q_values, equal_nan=True)
        and np.array_equal(a.significant, b.significant)
    )


@pytest.mark.parametrize("algorithm", [1, 2])
def test_te_network_is_deterministic_and_thread_independent(chain_data, algorithm):
    data = chain_data[:1000]
    kw = {"n_surrogates": 20, "seed": 4, "algorithm": algorithm}
    one = info.te_network(data, n_threads=1, **kw)
    two = info.te_network(data, n_threads=2, **kw)
    assert _network_equal(one, two)
    assert _network_equal(one, info.te_network(data, n_threads=2, **kw))
    other = info.te_network(data, n_threads=2, **{**kw, "seed": 5})
    assert np.array_equal(one.te, other.te, equal_nan=True)
    assert not np.array_equal(one.p_values, other.p_values, equal_nan=True)


# ---------------------------------------------------------------- progress reporting and cancellation


def test_progress_callback_sees_every_surrogate() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(400)
    y = x + rng.standard_normal(400)
    calls: list[tuple[int, int]] = []
    r = info.significance("mi", x, y, n_surrogates=40, progress=lambda d, t: calls.append((d, t)))
    assert calls, "the callback was never called"
    assert calls[-1] == (40, 40)
    assert all(t == 40 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    # Reporting does not change the result.
    plain = info.significance("mi", x, y, n_surrogates=40)
    assert r.value == plain.value and r.p_value == plain.p_value
    np.testing.assert_array_equal(r.null, plain.null)


def test_progress_true_draws_a_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(4)
    data = rng.standard_normal((300, 3))
    info.te_network(data, n_surrogates=5, progress=True)
    err = capsys.readouterr().err
    assert "te_network [" in err and "6/6" in err


def test_progress_rejects_other_types() -> None:
    x = np.arange(50.0)
    with pytest.raises(TypeError, match="progress"):
        info.significance("mi", x, x, n_surrogates=5, progress="yes")  # type: ignore[arg-type]


def test_exception_in_progress_callback_stops_and_propagates() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal(2000)

    def boom(done: int, total: int) -> None:
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        info.significance("te", x, x, n_surrogates=200, progress=boom)


def test_ais_significance_value_matches_the_estimator_for_multicolumn_series() -> None:
    rng = np.random.default_rng(12)
    x = np.cumsum(rng.standard_normal((300, 2)), axis=0) * 0.1 + rng.standard_normal((300, 2))
    r = info.significance("ais", x, k_history=2, n_surrogates=5)
    assert r.value == info.active_information_storage(x, k_history=2)
