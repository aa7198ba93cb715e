"""Shared test configuration: hypothesis profiles, seeded random generators and the processes tests sample.

Every random draw in the suite comes from a seeded generator, so a failure reproduces exactly. Process
generators are handed out as fixtures (not imported) so the test files stay independent of one another.
"""

from __future__ import annotations

import os
import zlib
from typing import Callable

import numpy as np
import pytest
from hypothesis import settings

# "ci" is small and derandomised, so CI runs the same examples every time; "dev" explores more.
settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("dev", max_examples=300, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Samples discarded at the start of every simulated process so it starts from its stationary law.
BURN_IN = 500


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's id: reproducible, and different in every test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def make_rng() -> Callable[[int], np.random.Generator]:
    """`make_rng(seed)`: a fresh generator for an explicit seed (for averaging over independent datasets)."""
    return np.random.default_rng


def _gaussian(cov: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n draws of N(0, cov) as an (n, d) array, via the Cholesky factor (stable across numpy versions)."""
    chol = np.linalg.cholesky(np.asarray(cov, dtype=np.float64))
    return np.random.default_rng(seed).standard_normal((n, chol.shape[0])) @ chol.T


def _var1(a_mat: np.ndarray, t_len: int, seed: int) -> np.ndarray:
    """A (t_len, m) sample of the VAR(1) s_t = A s_{t-1} + e_t with independent N(0, 1) noise."""
    a_mat = np.asarray(a_mat, dtype=np.float64)
    m = a_mat.shape[0]
    e = np.random.default_rng(seed).standard_normal((t_len + BURN_IN, m))
    s = np.zeros((t_len + BURN_IN, m))
    for t in range(1, t_len + BURN_IN):
        s[t] = a_mat @ s[t - 1] + e[t]
    return s[BURN_IN:]


def _ar(coeffs: tuple[float, ...], t_len: int, seed: int) -> np.ndarray:
    """An AR(p) series x_t = sum_i coeffs[i] x_{t-1-i} + e_t with N(0, 1) noise."""
    p = len(coeffs)
    e = np.random.default_rng(seed).standard_normal(t_len + BURN_IN)
    x = np.zeros(t_len + BURN_IN)
    for t in range(p, t_len + BURN_IN):
        x[t] = sum(c * x[t - 1 - i] for i, c in enumerate(coeffs)) + e[t]
    return x[BURN_IN:]


@pytest.fixture
def gaussian() -> Callable[[np.ndarray, int, int], np.ndarray]:
    """`gaussian(cov, n, seed)`: n samples of a zero-mean Gaussian with covariance `cov`, shape (n, d)."""
    return _gaussian


@pytest.fixture
def var1() -> Callable[[np.ndarray, int, int], np.ndarray]:
    """`var1(A, T, seed)`: a stationary VAR(1) sample s_t = A s_{t-1} + e_t, shape (T, m)."""
    return _var1


@pytest.fixture
def ar() -> Callable[[tuple[float, ...], int, int], np.ndarray]:
    """`ar(coeffs, T, seed)`: a stationary AR(p) sample, shape (T,)."""
    return _ar
