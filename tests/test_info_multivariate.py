"""Multivariate TE network inference (IDTxl's algorithm) and local (pointwise) estimates."""

from __future__ import annotations

import numpy as np
import pytest

import thermoconsensus
from thermoconsensus import info

FAST = {"n_perm_max_stat": 50, "n_perm_min_stat": 50, "n_perm_omnibus": 100, "n_perm_max_seq": 100}


def _common_driver(seed: int, t_len: int = 800) -> np.ndarray:
    """0 (AR(1)) drives 1 at lag 1 and 2 at lag 2; 3 is independent noise; 1 and 2 are not coupled."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((t_len, 4))
    for t in range(2, t_len):
        x[t, 0] += 0.5 * x[t - 1, 0]
        x[t, 1] += 0.8 * x[t - 1, 0]
        x[t, 2] += 0.8 * x[t - 2, 0]
    return x


def test_a_common_driver_gives_pairwise_te_a_false_edge_and_the_multivariate_network_none() -> None:
    data = _common_driver(1)
    pairwise = info.te_network(data, n_surrogates=200, seed=1, k_history=1, delay=1)
    assert pairwise.significant[1, 2], "the false pairwise edge 1 -> 2 this test is about"
    net = info.multivariate_te_network(data, max_lag_sources=3, max_lag_target=2, seed=1, **FAST)
    assert sorted(e[:3] for e in net.edges()) == [(0, 1, 1), (0, 2, 2)]
    assert net.adjacency().sum() == 2 and net.adjacency()[0, 1] and net.adjacency()[0, 2]
    assert (0, 1) in net.targets[0].target_past
    for t in (1, 2):
        r = net.targets[t]
        assert r.omnibus_p < 0.05 and r.omnibus_q <= 0.05 and r.omnibus_te > 0.1
        assert len(r.sources) == len(r.source_te) == len(r.source_p) == 1
    assert net.targets[3].sources == [] and np.isnan(net.targets[3].omnibus_q)


def test_replications_pool_as_an_ensemble_and_every_input_layout_agrees() -> None:
    trials = np.stack([_common_driver(s, 250) for s in range(3)])
    kw = dict(max_lag_sources=2, max_lag_target=1, targets=[1, 2], seed=4, **FAST)
    from_3d = info.multivariate_te_network(trials, **kw)
    from_list = info.multivariate_te_network(list(trials), **kw)
    assert from_3d == from_list
    assert from_3d.targets[1].sources == [(0, 1)] and from_3d.targets[2].sources == [(0, 2)]
    # A single short trial carries less evidence than the three together.
    single = info.multivariate_te_network(trials[0], **kw)
    assert single.targets[1].n_estimates > 0
    assert set(from_3d.targets) == {1, 2}


def test_the_result_is_the_same_for_any_thread_count() -> None:
    data = _common_driver(2, 300)
    kw = dict(max_lag_sources=2, max_lag_target=1, targets=[2], **FAST)
    one = info.multivariate_te_network(data, n_threads=1, seed=3, **kw)
    two = info.multivariate_te_network(data, n_threads=2, seed=3, **kw)
    assert one == two and one.targets[2].sources == [(0, 2)]


def test_progress_counts_targets() -> None:
    seen: list[tuple[int, int]] = []
    info.multivariate_te_network(
        _common_driver(3, 200),
        max_lag_sources=1,
        max_lag_target=1,
        progress=lambda d, t: seen.append((d, t)),
        **FAST,
    )
    assert seen and seen[-1] == (4, 4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_perm_omnibus": 10}, "n_perm_omnibus: 10 surrogates give p-values of at least 1/11"),
        ({"min_lag_sources": 3, "max_lag_sources": 2}, "min_lag_sources"),
        ({"max_lag_target": 0}, "max_lag_target"),
        ({"targets": [4]}, "targets"),
        ({"alpha": 0.0}, "alpha"),
        ({"max_lag_sources": 400}, "data"),
    ],
)
def test_bad_settings_are_refused_by_name(kwargs: dict, message: str) -> None:
    data = _common_driver(5, 300)
    with pytest.raises(thermoconsensus.InvalidInputError, match=message):
        info.multivariate_te_network(data, **{**FAST, **kwargs})


def test_bad_data_is_refused_by_name() -> None:
    with pytest.raises(thermoconsensus.InvalidInputError, match="data: expected"):
        info.multivariate_te_network(np.zeros(10))
    with pytest.raises(thermoconsensus.InvalidInputError, match="columns"):
        info.multivariate_te_network([np.ones((50, 3)), np.ones((50, 2))], normalise=True)
    bad = _common_driver(6, 100)
    bad[5, 1] = np.nan
    with pytest.raises(thermoconsensus.InvalidInputError, match="non-finite"):
        info.multivariate_te_network(bad, **FAST)
    with pytest.raises(TypeError, match="fdr"):
        info.multivariate_te_network(_common_driver(6, 100), fdr="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", [1, 2])
def test_local_values_average_to_the_estimates(algorithm: int) -> None:
    rng = np.random.default_rng(7)
    n = 400
    z = rng.standard_normal((n, 3))
    x = z[:, :1] + rng.standard_normal((n, 1))
    y = 0.6 * x + z[:, 1:2] + rng.standard_normal((n, 1))
    for local, whole, args in [
        (info.local_mutual_information, info.mutual_information, (x, y)),
        (info.local_conditional_mutual_information, info.conditional_mutual_information, (x, y, z)),
    ]:
        values = local(*args, k=4, algorithm=algorithm)
        assert values.shape == (n,) and values.dtype == np.float64
        assert np.mean(values) == pytest.approx(whole(*args, k=4, algorithm=algorithm), abs=1e-12)
    src = rng.standard_normal(n)
    dst = np.r_[0.0, 0.8 * src[:-1]] + rng.standard_normal(n)
    te_local = info.local_transfer_entropy(src, dst, k_history=2, algorithm=algorithm)
    assert te_local.shape == (n - 2,)
    assert np.mean(te_local) == pytest.approx(
        info.transfer_entropy(src, dst, k_history=2, algorithm=algorithm), abs=1e-12
    )
    ais_local = info.local_active_information_storage(dst, 3, 1, algorithm=algorithm)
    assert ais_local.shape == (n - 3,)
    assert np.mean(ais_local) == pytest.approx(
        info.active_information_storage(dst, 3, 1, algorithm=algorithm), abs=1e-12
    )


def test_local_te_is_large_where_the_source_drives_the_target() -> None:
    """The coupling is on only in the second half: local TE there is larger, as it should be."""
    rng = np.random.default_rng(8)
    n = 1200
    src = rng.standard_normal(n)
    dst = rng.standard_normal(n)
    dst[n // 2 :] += 0.9 * src[n // 2 - 1 : -1]
    local = info.local_transfer_entropy(src, dst)
    first, second = local[: n // 2 - 10].mean(), local[n // 2 + 10 :].mean()
    assert second > first + 0.2


def test_local_values_refuse_what_the_estimates_refuse() -> None:
    with pytest.raises(thermoconsensus.InvalidInputError, match="heavily tied"):
        info.local_mutual_information(np.ones(50), np.ones(50))
    with pytest.raises(thermoconsensus.InvalidInputError, match="y has 11 samples but x has 10"):
        info.local_mutual_information(np.ones(10), np.ones(11))


def test_pairwise_network_chooses_enough_surrogates_to_pass_the_correction_or_warns() -> None:
    """With 5 series (20 pairs) 100 surrogates give p >= 1/101 and q >= 0.198 for a lone edge."""
    rng = np.random.default_rng(9)
    data = rng.standard_normal((300, 5))
    data[1:, 3] += 0.9 * data[:-1, 0]
    with pytest.warns(info.UnreachableThresholdWarning, match=r"n_surrogates >= 399"):
        few = info.te_network(data, n_surrogates=100, seed=1)
    assert not few.significant.any() and few.p_values[0, 3] == pytest.approx(1 / 101)
    enough = info.te_network(data, seed=1)
    assert enough.p_values[0, 3] == pytest.approx(1 / 400)
    assert [e[:2] for e in enough.edges()] == [(0, 3)]


def test_multivariate_fdr_that_cannot_pass_warns() -> None:
    with pytest.warns(info.UnreachableThresholdWarning, match="n_perm_omnibus >= 79"):
        info.multivariate_te_network(
            _common_driver(10, 150), max_lag_sources=1, max_lag_target=1, **{**FAST, "n_perm_omnibus": 50}
        )


def test_circular_surrogates_are_calibrated_where_permutations_are_not() -> None:
    """Two independent, strongly autocorrelated series: random permutations break the autocorrelation
    the MI estimate's bias comes from, so they reject far too often; time-shifted surrogates keep it."""
    rng = np.random.default_rng(11)
    rejected = {"permutation": 0, "circular": 0}
    trials = 20
    for _ in range(trials):
        x, y = np.zeros(400), np.zeros(400)
        e = rng.standard_normal((400, 2))
        for t in range(1, 400):
            x[t] = 0.97 * x[t - 1] + e[t, 0]
            y[t] = 0.97 * y[t - 1] + e[t, 1]
        for kind in rejected:
            r = info.significance("mi", x, y, n_surrogates=99, seed=1, surrogates=kind, surrogate_param=40)
            rejected[kind] += r.p_value <= 0.05
    assert rejected["permutation"] >= 10, rejected
    assert rejected["circular"] <= 4, rejected


def test_block_surrogates_and_bad_surrogate_names() -> None:
    rng = np.random.default_rng(12)
    x = rng.standard_normal(300)
    r = info.significance("mi", x, 0.8 * x + rng.standard_normal(300), n_surrogates=50, surrogates="block")
    assert r.p_value == pytest.approx(1 / 51)
    with pytest.raises(thermoconsensus.InvalidInputError, match="surrogates: must be"):
        info.significance("mi", x, x, surrogates="shuffle")  # type: ignore[arg-type]
    with pytest.raises(thermoconsensus.InvalidInputError, match="block_size"):
        info.significance("mi", x, x + 1, surrogates="block", surrogate_param=300)
    with pytest.raises(thermoconsensus.InvalidInputError, match="min_shift"):
        info.multivariate_te_network(
            _common_driver(13, 100), surrogates="circular", surrogate_param=99, **FAST
        )


def test_auto_embedding_finds_the_interaction_delay() -> None:
    rng = np.random.default_rng(14)
    n = 1500
    src = rng.standard_normal(n)
    dst = rng.standard_normal(n)
    dst[3:] += 0.7 * src[:-3]
    choice = info.auto_embedding(dst, src, k_max=2, tau_max=1, delay_max=5)
    assert choice.delay == 3 and choice.te_kwargs()["delay"] == 3
    emb = {"k_history": choice.k_history, "k_tau": choice.k_tau}
    assert choice.delay_te == [(u, info.transfer_entropy(src, dst, delay=u, **emb)) for u in range(1, 6)]
    with pytest.raises(thermoconsensus.InvalidInputError, match="delay_max: needs a source"):
        info.auto_embedding(dst, delay_max=3)
    with pytest.raises(thermoconsensus.InvalidInputError, match="delay_max"):
        info.auto_embedding(dst, src, delay_max=0)
