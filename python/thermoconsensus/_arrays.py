"""Input normalisation shared by the typed wrappers: one conversion per array, clear errors."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Callable, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._core import GpuError, InvalidInputError

_NUMERIC_KINDS = "biuf"
#: Largest integer parameter accepted (the native layer counts in 64 bits).
MAX_INT = 2**63 - 1


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


# Types are checked here and ranges in the native layer, once. A value that goes to Rust is only converted
# here (`native_int`, `number`, `check_threads`, `check_seed`): its range (k >= 1, temperature > 0,
# n_threads <= 1024, ...) is checked by Rust, whose error names the argument. Values that only Python uses
# (a batch size, a prior, a privacy budget) are checked here in full (`check_int`, `check_real`).


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    return int(value)


def native_int(name: str, value: Any) -> int:
    """`value` for a native unsigned integer parameter whose range Rust checks: TypeError for non-integers
    (bool included); InvalidInputError only where the value cannot be converted (negative, or 2**63 and
    above)."""
    v = _integer(name, value)
    if v < 0:
        raise InvalidInputError(f"{name}: must be at least 0, got {v}")
    if v > MAX_INT:
        raise InvalidInputError(f"{name}: must be at most 2**63 - 1, got {v}")
    return v


def check_int(name: str, value: Any, minimum: int) -> int:
    """`value` as an int >= `minimum`, for parameters that only Python uses; TypeError for non-integers
    (bool included), InvalidInputError below the minimum or above 2**63 - 1."""
    v = _integer(name, value)
    if v < minimum:
        raise InvalidInputError(f"{name}: must be at least {minimum}, got {v}")
    if v > MAX_INT:
        raise InvalidInputError(f"{name}: must be at most 2**63 - 1, got {v}")
    return v


def number(name: str, value: Any) -> float:
    """`value` as a float for a native parameter whose range (finite, positive, ...) Rust checks; TypeError
    for anything but a real number (bool included)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    return float(value)


def check_real(
    name: str,
    value: Any,
    *,
    above: float | None = None,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
) -> float:
    """`value` as a finite float within the given bounds, for parameters that only Python uses; TypeError
    for anything but a real number (bool included), InvalidInputError outside the bounds."""
    v = number(name, value)
    if not math.isfinite(v):
        raise InvalidInputError(f"{name}: must be a finite number, got {v}")
    if above is not None and not v > above:
        raise InvalidInputError(f"{name}: must be greater than {above:g}, got {v:g}")
    if at_least is not None and not v >= at_least:
        raise InvalidInputError(f"{name}: must be at least {at_least:g}, got {v:g}")
    if below is not None and not v < below:
        raise InvalidInputError(f"{name}: must be less than {below:g}, got {v:g}")
    if at_most is not None and not v <= at_most:
        raise InvalidInputError(f"{name}: must be at most {at_most:g}, got {v:g}")
    return v


def check_threads(n_threads: int | None) -> int | None:
    """The optional `n_threads` argument, converted (the native pools check 1..=1024)."""
    return None if n_threads is None else native_int("n_threads", n_threads)


def check_seed(seed: Any) -> int:
    """A seed as an unsigned 64-bit integer."""
    s = _integer("seed", seed)
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
