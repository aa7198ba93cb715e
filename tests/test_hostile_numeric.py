"""Hostile numeric arguments (absurd counts, wrong types, non-finite values) to every annealing and
information-theory entry point, each in a worker subprocess under an address-space cap: none may abort,
panic into Python or hang, and the cases issue 19 names raise the error that names their argument.
Also Ctrl-C during a long free-energy minimisation, and the silent wrong results now reported.
scripts/fuzz_hostile.py runs 1,000 such calls."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import thermoconsensus as tc
from thermoconsensus import anneal, info

sys.path.insert(0, str(Path(__file__).parent))
from hostile_numeric import NAMED, sample_calls
from hostile_runner import run_cases

CI_CASES = 120


def test_hostile_calls_never_abort_panic_or_hang() -> None:
    calls = sample_calls(CI_CASES)
    outcomes = run_cases(calls, case_timeout=30)
    failures = [(o.code, o.status, o.detail) for o in outcomes if o.failed]
    assert not failures, failures


def test_the_calls_of_issue_19_raise_errors_naming_their_argument() -> None:
    outcomes = run_cases([code for code, _, _ in NAMED], case_timeout=30)
    for o, (code, kind, text) in zip(outcomes, NAMED):
        assert o.status == "error" and o.detail.startswith(kind + ":") and text in o.detail, (code, o.detail)


def test_ctrl_c_stops_a_long_langevin_phase() -> None:
    code = (
        "import numpy as np\nfrom thermoconsensus import anneal\n"
        "print('go', flush=True)\n"
        "anneal.minimize_free_energy(1.0, 1 - np.eye(3), chains=2, langevin_steps=2**36)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "go"
    time.sleep(1.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("minimize_free_energy ignored Ctrl-C for 10 s")
    assert time.monotonic() - sent < 5
    assert "KeyboardInterrupt" in err, err[-500:]


def test_constant_and_tied_data_are_reported_not_estimated() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(500)
    y = x + 0.5 * rng.standard_normal(500)
    with pytest.raises(tc.InvalidInputError, match="heavily tied"):
        info.mutual_information(np.zeros(500), np.zeros(500))
    with pytest.raises(tc.InvalidInputError, match="heavily tied"):
        info.mutual_information(np.repeat(x[:50], 10), np.repeat(y[:50], 10))
    with pytest.raises(tc.InvalidInputError, match="heavily tied"):
        info.conditional_mutual_information(np.zeros(500), np.zeros(500), np.zeros(500))
    # Noise breaks the ties (JIDT adds 1e-8 by default); the estimate is then finite.
    tied = info.mutual_information(np.repeat(x[:50], 10), np.repeat(y[:50], 10), noise=1e-8, seed=1)
    assert np.isfinite(tied)


def test_normalise_makes_the_estimate_scale_free() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000)
    y = x + rng.standard_normal(1000)
    plain = info.mutual_information(x, y)
    assert abs(info.mutual_information(x * 1e150, y)) < 0.05  # the large scale swamps the max-norm
    scaled = info.mutual_information(x * 1e150, y, normalise=True)
    assert scaled == pytest.approx(info.mutual_information(x, y, normalise=True), abs=1e-9)
    assert scaled == pytest.approx(plain, abs=0.05)
    with pytest.raises(TypeError, match="normalise"):
        info.mutual_information(x, y, normalise="yes")  # type: ignore[arg-type]


def test_overflowing_free_energy_and_bad_alpha_and_boolean_states_are_refused() -> None:
    with pytest.raises(tc.InvalidInputError, match="coupling"):
        anneal.minimize_free_energy(1e308, 1 - np.eye(3))
    data = np.random.default_rng(0).standard_normal((60, 3))
    with pytest.raises(tc.InvalidInputError, match="alpha"):
        info.te_network(data, n_surrogates=5, alpha=0)
    p = anneal.sherrington_kirkpatrick(3)
    with pytest.raises(TypeError, match="booleans"):
        p.energy([True, True, True])
    assert p.energy([1, 1, 1]) == p.energy(np.array([1, 1, 1], dtype=np.int8))
