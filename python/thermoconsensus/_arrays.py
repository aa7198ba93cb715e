"""Input normalisation shared by the typed wrappers: one conversion per array, clear errors."""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Callable, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._core import GpuError, InvalidInputError

_NUMERIC_KINDS = "biuf"
#: Largest integer parameter accepted (the native layer counts in 64 bits).
MAX_INT = 2**63 - 1
#: Most threads one call may ask for.
MAX_THREADS = 1024


def as_samples(name: str, a: ArrayLike) -> NDArray[np.float64]:
    """Returns `a` as a C-contiguous float64 (samples x dims) array, copying only when needed.

    Accepts lists, integer, boolean and float32 arrays and non-contiguous views (converted once); 1-D
    input becomes one column. Raises TypeError for complex, object or string data and InvalidInputError
    (a ValueError) for the wrong number of dimensions or an empty array.
    """
    if a is None:
        raise TypeError(f"{name}: expected an array, got None")
    try:
        arr = np.asarray(a)
    except ValueError as exc:  # ragged nested lists
        raise InvalidInputError(f"{name}: cannot be read as a rectangular array ({exc})") from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{name}: complex values are not supported (dtype {arr.dtype})")
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{name}: expected real numbers, got an array of dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    elif arr.ndim != 2:
        raise InvalidInputError(
            f"{name}: expected a 1-D series or a 2-D (samples x dims) array, got {arr.ndim} dimensions"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(f"{name}: is empty (shape {arr.shape})")
    return np.ascontiguousarray(arr, dtype=np.float64)


def check_int(name: str, value: Any, minimum: int) -> int:
    """`value` as an int >= `minimum`; TypeError for non-integers (bool included), ValueError below."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    v = int(value)
    if v < minimum:
        raise InvalidInputError(f"{name}: must be at least {minimum}, got {v}")
    if v > MAX_INT:
        raise InvalidInputError(f"{name}: must be at most 2**63 - 1, got {v}")
    return v


def check_threads(n_threads: int | None) -> int | None:
    """Validates the optional `n_threads` argument."""
    if n_threads is None:
        return None
    n = check_int("n_threads", n_threads, 1)
    if n > MAX_THREADS:
        raise InvalidInputError(f"n_threads: must be at most {MAX_THREADS}, got {n}")
    return n


def check_seed(seed: Any) -> int:
    """A seed as an unsigned 64-bit integer."""
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)):
        raise TypeError(f"seed: expected an integer, got {type(seed).__name__}")
    s = int(seed)
    if not 0 <= s < 2**64:
        raise InvalidInputError(f"seed: must be in [0, 2**64), got {s}")
    return s


def normalise_columns(arrays: list[NDArray[np.float64]]) -> list[NDArray[np.float64]]:
    """Copies of `arrays` with each column at mean 0 and sample standard deviation 1 (JIDT's
    normalisation); a constant column is only centred."""
    out = []
    with np.errstate(all="ignore"):  # non-finite input stays non-finite and is refused by name later
        for a in arrays:
            # Scaled by the largest magnitude first: the variance of values near 1e300 cannot overflow.
            big = np.max(np.abs(a), axis=0)
            big = np.where(np.isfinite(big) & (big > 0), big, 1.0)
            b = a / big
            centred = b - b.mean(axis=0)
            sd = b.std(axis=0, ddof=1) if b.shape[0] > 1 else np.zeros(b.shape[1:])
            scale = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
            out.append(np.ascontiguousarray(centred / scale))
    return out


def add_noise(arrays: list[NDArray[np.float64]], noise: float, seed: int) -> list[NDArray[np.float64]]:
    """Adds independent N(0, noise^2) noise to copies of `arrays` (no-op for noise == 0), seeded.

    Small noise breaks ties in discrete-valued data, which k-NN estimators assume away; JIDT adds 1e-8 by
    default, here it is off unless asked for.
    """
    if isinstance(noise, bool) or not isinstance(noise, (numbers.Real, np.floating)):
        raise TypeError(f"noise: expected a number, got {type(noise).__name__}")
    if not np.isfinite(noise) or noise < 0:
        raise InvalidInputError(f"noise: must be a finite number >= 0, got {noise}")
    if noise == 0:
        return arrays
    rng = np.random.default_rng(seed)
    return [a + noise * rng.standard_normal(a.shape) for a in arrays]


def check_device(device: str) -> str:
    """A ``device`` argument: "auto", "cpu", "cuda" or "cuda:N" (checked further by the native module)."""
    if not isinstance(device, str):
        raise TypeError(f'device: expected "auto", "cpu", "cuda" or "cuda:N", got {type(device).__name__}')
    return device


_T = TypeVar("_T")


def on_device(call: Callable[[str], _T], device: str, what: str) -> _T:
    """``call(device)``; under "auto" a failing GPU (set-up or run) warns (RuntimeWarning) and the call is
    rerun on the CPU, so "auto" never fails where the CPU would succeed. An explicit "cuda" raises the
    GpuError. This is the one place of that fallback: the engines decide CPU or GPU
    (``thermoconsensus_runtime::resolve``) and report a GPU failure, whatever was asked."""
    device = check_device(device)
    try:
        return call(device)
    except GpuError as e:
        if device.strip().lower() != "auto":
            raise
        warnings.warn(f"{what}: the GPU failed ({e}); ran on the CPU instead", RuntimeWarning, stacklevel=3)
        return call("cpu")
