"""Differential privacy of the shared embeddings: the analytic Gaussian calibration and the composed spend,
both checked against dp-accounting's own accountants, the noisy release, and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

dp = pytest.importorskip(
    "dp_accounting", reason="needs dp-accounting (pip install 'thermoconsensus[privacy]')"
)
from dp_accounting.pld import pld_privacy_accountant  # noqa: E402
from dp_accounting.rdp import rdp_privacy_accountant  # noqa: E402

from thermoconsensus.consensus.privacy import (  # noqa: E402
    GaussianMechanism,
    PrivacyAccountant,
    RDPAccountant,
)

DELTA = 1e-5


def pld_delta(noise_multiplier: float, epsilon: float, count: int = 1) -> float:
    acc = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-3)
    acc.compose(dp.GaussianDpEvent(noise_multiplier), count)
    return float(acc.get_delta(epsilon))


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 8.0, 50.0])
def test_calibrated_sigma_spends_exactly_the_target_delta(epsilon: float) -> None:
    mech = GaussianMechanism(epsilon=epsilon, delta=DELTA, sensitivity=2.0)
    # dp-accounting's PLD accountant, independent of the calibration helper.
    assert pld_delta(mech.sigma / 2.0, epsilon) == pytest.approx(DELTA, rel=1e-3)
    # The smallest such noise: 1% less overspends.
    assert pld_delta(0.99 * mech.sigma / 2.0, epsilon) > 1.01 * DELTA
    # One release reports the per-release epsilon (the former accountant said 102.9 at 50).
    mech.privatize(np.eye(3))
    assert mech.report()["epsilon_spent"] == pytest.approx(epsilon, rel=1e-6)


def test_the_classic_rule_was_wrong_above_epsilon_one() -> None:
    classic = math.sqrt(2 * math.log(1.25 / DELTA)) / 50.0
    assert pld_delta(classic, 50.0) > 0.5  # about 0.59, not 1e-5
    assert GaussianMechanism(epsilon=50.0).sigma / 2.0 > classic
    # Below 1 the analytic calibration is the tighter one.
    assert GaussianMechanism(epsilon=0.5).sigma / 2.0 < math.sqrt(2 * math.log(1.25 / DELTA)) / 0.5


@pytest.mark.parametrize("epsilon", [1.0, 8.0])
@pytest.mark.parametrize("k", [1, 2, 5, 20])
def test_composed_epsilon_equals_dp_accountings(epsilon: float, k: int) -> None:
    mech = GaussianMechanism(epsilon=epsilon, delta=DELTA, seed=1)
    for _ in range(k):
        mech.privatize(np.eye(4))
    spent = mech.report()["epsilon_spent"]
    m = mech.sigma / mech.sensitivity
    pld = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-3)
    pld.compose(dp.GaussianDpEvent(m), k)
    assert spent == pytest.approx(pld.get_epsilon(DELTA), rel=1e-3)
    rdp = rdp_privacy_accountant.RdpAccountant()
    rdp.compose(dp.GaussianDpEvent(m), k)
    via_rdp = PrivacyAccountant("rdp", [m] * k)
    assert via_rdp.epsilon(DELTA) == pytest.approx(rdp.get_epsilon(DELTA), rel=1e-9)
    assert via_rdp.epsilon(DELTA) >= spent  # RDP is an upper bound
    assert mech.accountant.delta(spent) == pytest.approx(DELTA, rel=1e-3)


def test_mixed_releases_compose_by_every_method() -> None:
    ledger = [0.8, 1.5, 1.5, 3.0]
    exact = PrivacyAccountant("exact", ledger)
    pld = PrivacyAccountant("pld", ledger)
    ref = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-3)
    ref.compose(exact.ledger())
    assert exact.epsilon(DELTA) == pytest.approx(ref.get_epsilon(DELTA), rel=1e-3)
    assert pld.epsilon(DELTA) == pytest.approx(exact.epsilon(DELTA), rel=1e-3)
    assert exact.effective_noise_multiplier() == pytest.approx(sum(m**-2 for m in ledger) ** -0.5)
    assert exact.releases == 4
    again = PrivacyAccountant.from_dict(json.loads(json.dumps(exact.to_dict())))
    assert again.epsilon(DELTA) == exact.epsilon(DELTA)


def test_rdp_accountant_keeps_its_former_interface() -> None:
    acc = RDPAccountant()
    assert acc.releases == 0 and acc.epsilon(DELTA) == 0.0 and acc.delta(1.0) == 0.0
    acc.spend_gaussian(sigma=2.0, sensitivity=2.0)
    ref = rdp_privacy_accountant.RdpAccountant()
    ref.compose(dp.GaussianDpEvent(1.0))
    assert acc.releases == 1 and acc.epsilon(DELTA) == pytest.approx(ref.get_epsilon(DELTA))
    mech = GaussianMechanism(epsilon=1.0, accountant=RDPAccountant())
    mech.privatize(np.eye(2))
    assert mech.report()["accounting"] == "dp-accounting (rdp)"


def test_privatize_adds_noise_reproducibly_and_keeps_unit_rows() -> None:
    e = np.eye(3, 8)
    a = GaussianMechanism(epsilon=8.0, seed=3).privatize(e)
    b = GaussianMechanism(epsilon=8.0, seed=3).privatize(e)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0)
    assert a.shape == e.shape and not np.allclose(a, e)
    report = GaussianMechanism(epsilon=8.0).report()
    assert report["releases"] == 0 and report["epsilon_spent"] == 0.0
    assert "embeddings only" in report["noised"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"epsilon": True}, TypeError, "epsilon"),
        ({"epsilon": math.inf}, ValueError, "epsilon"),
        ({"epsilon": 1.0, "delta": 1.0}, ValueError, "delta"),
        ({"epsilon": 1.0, "sensitivity": -2.0}, ValueError, "sensitivity"),
        ({"epsilon": 1.0, "accountant": object()}, TypeError, "accountant"),
    ],
)
def test_mechanism_rejects_bad_parameters(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        GaussianMechanism(**kwargs)


def test_bad_input_is_named() -> None:
    mech = GaussianMechanism(epsilon=1.0)
    with pytest.raises(ValueError, match="embeddings"):
        mech.privatize(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        mech.privatize(np.array([[np.nan, 1.0]]))
    assert mech.accountant.releases == 0  # nothing was released
    with pytest.raises(ValueError, match="method"):
        PrivacyAccountant("moments")
    with pytest.raises(ValueError, match="delta"):
        PrivacyAccountant().epsilon(0.0)
    with pytest.raises(ValueError, match="epsilon"):
        PrivacyAccountant().delta(-1.0)
    with pytest.raises(ValueError, match="sigma"):
        PrivacyAccountant().spend_gaussian(0.0, 1.0)
    with pytest.raises(ValueError, match="malformed"):
        PrivacyAccountant.from_dict({"method": "exact"})
