"""Every GPU path against its CPU twin on identical inputs (``pytest -m gpu``).

On a machine with a GPU these run on it. Without one they skip, except under ``THERMOCONSENSUS_CUDA_EMULATOR=1``
(``make test-gpu-emulated``, part of ``make test``), where "cuda" is the host emulator of the CUDA kernels:
the same kernel sources, compiled as host C++ and run on CPU threads, so CI checks the kernels' logic and the
whole dispatch path without a GPU (but not their speed, the driver, or PTX).
"""

from __future__ import annotations

import numpy as np
import pytest

import thermoconsensus as tc
from thermoconsensus import info

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module", autouse=True)
def _needs_device() -> None:
    if not tc.gpu_available():
        pytest.skip("no GPU: " + str(tc.gpu_unavailable_reason()))
    print("devices:", tc.devices())


def _close(cpu: float, dev: float) -> None:
    # The same neighbour counts leave only the order of summation: a count off by one moves these by > 1e-7.
    assert abs(cpu - dev) <= 1e-12 * (1 + abs(cpu)), (cpu, dev)


@pytest.mark.parametrize("algorithm", [1, 2])
def test_mi_cmi_match_cpu(algorithm: int) -> None:
    rng = np.random.default_rng(3)
    n = 1500
    z = rng.normal(size=(n, 2))
    x = z[:, :1] + 0.5 * rng.normal(size=(n, 1))
    y = np.hstack([x + 0.3 * rng.normal(size=(n, 1)), z[:, 1:]])
    for k in (1, 4):
        _close(
            info.mutual_information(x, y, k, algorithm, device="cpu"),
            info.mutual_information(x, y, k, algorithm, device="cuda"),
        )
        _close(
            info.conditional_mutual_information(x, y, z, k, algorithm, device="cpu"),
            info.conditional_mutual_information(x, y, z, k, algorithm, device="cuda:0"),
        )


def test_te_and_significance_match_cpu() -> None:
    rng = np.random.default_rng(4)
    n = 1200
    x = np.zeros(n)
    y = np.zeros(n)
    for t in range(1, n):
        x[t] = 0.6 * x[t - 1] + rng.normal()
        y[t] = 0.4 * y[t - 1] + 0.7 * x[t - 1] + 0.3 * rng.normal()
    kw = {"k_history": 2, "l_history": 1}
    _close(
        info.transfer_entropy(x, y, **kw, device="cpu"),
        info.transfer_entropy(x, y, **kw, device="cuda"),
    )
    cpu = info.significance("te", x, y, n_surrogates=4, seed=9, device="cpu", **kw)
    dev = info.significance("te", x, y, n_surrogates=4, seed=9, device="cuda", **kw)
    _close(cpu.value, dev.value)
    np.testing.assert_allclose(dev.null, cpu.null, rtol=1e-12, atol=1e-14)
    assert dev.p_value == cpu.p_value


def test_gpu_limits_raise_invalid_input() -> None:
    x = np.random.default_rng(0).normal(size=(300, 17))
    with pytest.raises(tc.InvalidInputError, match="at most 16 joint dimensions"):
        info.mutual_information(x, x[:, :1], device="cuda")
    with pytest.raises(tc.InvalidInputError, match="k up to 64"):
        info.mutual_information(x[:, :1], x[:, 1:2], k=65, device="cuda")
