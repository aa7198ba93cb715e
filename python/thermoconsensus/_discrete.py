"""Plug-in information measures of discrete distributions, LLM logits and integer series, in nats.

Row-wise measures read a 1-D array as one distribution (and return a float) and a 2-D (rows x vocab)
array as one distribution per row (and return one value per row). Logits are turned into probabilities by
p = softmax(logits / temperature); a logit of -inf is a probability of exactly 0, NaN and +inf are
rejected. Rows are computed in parallel on ``n_threads`` threads (default: ``THERMOCONSENSUS_NUM_THREADS``
or all cores) with the GIL released; results do not depend on the thread count.

Plug-in (maximum-likelihood) estimators of integer series replace probabilities by the frequencies of the
observed symbols; they are biased upwards for short series with many symbols.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from ._arrays import as_samples, check_threads, native_int

__all__ = [
    "cross_entropy",
    "entropy_from_logits",
    "entropy_from_probs",
    "js_divergence",
    "kl_divergence",
    "log_softmax",
    "perplexity",
    "plugin_conditional_mutual_information",
    "plugin_entropy",
    "plugin_mutual_information",
    "plugin_transfer_entropy",
    "softmax",
    "token_nll",
]

_INT64_MIN, _INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def _as_rows(name: str, a: ArrayLike) -> tuple[NDArray[np.float64], bool]:
    """`a` as a C-contiguous float64 (rows x vocab) matrix, and whether it was a single 1-D row."""
    try:
        one_row = np.ndim(a) == 1
    except ValueError:  # ragged nested lists: as_samples raises the error
        one_row = False
    m = as_samples(name, a)
    return (m.reshape(1, -1), True) if one_row else (m, False)


def _rows_result(v: NDArray[np.float64], one_row: bool) -> float | NDArray[np.float64]:
    return float(v[0]) if one_row else v


def _as_symbols(name: str, a: ArrayLike, *, allow_scalar: bool = False) -> NDArray[np.int64]:
    """`a` as a C-contiguous int64 1-D array of symbols (a scalar becomes one symbol if allowed).

    Accepts lists and boolean, integer and integer-valued float arrays; raises TypeError for complex,
    object or string data and for floats that are not integers, InvalidInputError for another number of
    dimensions or values outside the int64 range.
    """
    if a is None:
        raise TypeError(f"{name}: expected an array of integers, got None")
    try:
        arr = np.asarray(a)
    except ValueError as exc:  # ragged nested lists
        raise _core.InvalidInputError(f"{name}: cannot be read as a rectangular array ({exc})") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name}: complex values are not supported (dtype {arr.dtype})")
    if kind not in "biuf":
        raise TypeError(f"{name}: expected integers, got an array of dtype {arr.dtype}")
    if arr.ndim == 0 and allow_scalar:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise _core.InvalidInputError(f"{name}: expected a 1-D series, got {arr.ndim} dimensions")
    if kind == "f":
        non_integer = ~np.isfinite(arr) | (arr != np.floor(arr))
        if non_integer.any():
            bad = int(np.flatnonzero(non_integer)[0])
            raise TypeError(
                f"{name}: expected integer symbols, got the non-integer value {arr[bad]} at index {bad}"
            )
        # float(_INT64_MAX) rounds up to 2**63, which does not fit: the upper bound is exclusive.
        if arr.size and (arr.min() < _INT64_MIN or arr.max() >= 2.0**63):
            raise _core.InvalidInputError(f"{name}: values outside the int64 range")
    elif kind == "u" and arr.size and int(arr.max()) > _INT64_MAX:
        raise _core.InvalidInputError(f"{name}: values outside the int64 range")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _temperature(temperature: Any) -> float:
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(
        temperature, (numbers.Real, np.floating, np.integer)
    ):
        raise TypeError(f"temperature: expected a real number, got {type(temperature).__name__}")
    return float(temperature)


def _pair(p_logits: ArrayLike, q_logits: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    p, p_row = _as_rows("p_logits", p_logits)
    q, q_row = _as_rows("q_logits", q_logits)
    if p_row != q_row:
        raise _core.InvalidInputError(
            f"q_logits: has shape {np.shape(q_logits)} but p_logits has shape {np.shape(p_logits)}"
        )
    return p, q, p_row


def log_softmax(
    logits: ArrayLike, temperature: float = 1.0, *, n_threads: int | None = None
) -> NDArray[np.float64]:
    """Log-softmax of ``logits / temperature`` along the last axis, in a numerically stable way.

    Args:
        logits: one logit vector (V,) or one per row (rows, V); -inf entries are probability 0.
        temperature: finite and > 0.
        n_threads: threads to use (default: ``THERMOCONSENSUS_NUM_THREADS`` or all cores).

    Returns:
        An array of the shape of ``logits``; -inf logits stay -inf.

    Raises:
        InvalidInputError (ValueError): NaN or +inf logits, a row of only -inf, an empty array, more than
            2 dimensions, ``temperature`` not finite and > 0 or too small for the logits.
        TypeError: complex, object or string data; a non-real temperature.
    """
    t = _temperature(temperature)
    z, one_row = _as_rows("logits", logits)
    out = _core.log_softmax(z, t, check_threads(n_threads))
    return out[0] if one_row else out


def softmax(
    logits: ArrayLike, temperature: float = 1.0, *, n_threads: int | None = None
) -> NDArray[np.float64]:
    """Softmax of ``logits / temperature`` along the last axis; every row sums to 1.

    Args:
        logits: one logit vector (V,) or one per row (rows, V); -inf entries give probability 0.
        temperature: finite and > 0.
        n_threads: threads to use.

    Returns:
        An array of the shape of ``logits``.

    Raises:
        InvalidInputError (ValueError), TypeError: as :func:`log_softmax`.
    """
    t = _temperature(temperature)
    z, one_row = _as_rows("logits", logits)
    out = _core.softmax(z, t, check_threads(n_threads))
    return out[0] if one_row else out


def entropy_from_logits(
    logits: ArrayLike, temperature: float = 1.0, *, n_threads: int | None = None
) -> float | NDArray[np.float64]:
    """Shannon entropy H(p) = -sum_j p_j ln p_j of p = softmax(logits / temperature), in nats.

    Args:
        logits: one logit vector (V,) or one per row (rows, V).
        temperature: finite and > 0.
        n_threads: threads to use.

    Returns:
        A float for 1-D ``logits``, else an array with one entropy per row, each in [0, ln V].

    Raises:
        InvalidInputError (ValueError), TypeError: as :func:`log_softmax`.
    """
    t = _temperature(temperature)
    z, one_row = _as_rows("logits", logits)
    return _rows_result(_core.entropy_from_logits(z, t, check_threads(n_threads)), one_row)


def entropy_from_probs(
    p: ArrayLike, normalize: bool = False, *, n_threads: int | None = None
) -> float | NDArray[np.float64]:
    """Shannon entropy -sum_j p_j ln p_j of probability vectors, in nats, with 0 ln 0 = 0.

    Args:
        p: one probability vector (V,) or one per row (rows, V); entries finite and >= 0.
        normalize: divide each row by its sum (which must be > 0) instead of requiring it to be 1
            (within 1e-6).
        n_threads: threads to use.

    Returns:
        A float for 1-D ``p``, else an array with one entropy per row.

    Raises:
        InvalidInputError (ValueError): NaN/Inf or negative entries, a row not summing to 1 (or to 0 with
            ``normalize``), an empty array, more than 2 dimensions.
        TypeError: complex, object or string data; a non-boolean ``normalize``.
    """
    if not isinstance(normalize, (bool, np.bool_)):
        raise TypeError(f"normalize: expected a bool, got {type(normalize).__name__}")
    m, one_row = _as_rows("p", p)
    return _rows_result(_core.entropy_from_probs(m, bool(normalize), check_threads(n_threads)), one_row)


def cross_entropy(
    p_logits: ArrayLike, q_logits: ArrayLike, *, n_threads: int | None = None
) -> float | NDArray[np.float64]:
    """Cross-entropy H(p, q) = -sum_j p_j ln q_j, p = softmax(p_logits), q = softmax(q_logits), in nats.

    Args:
        p_logits, q_logits: logit vectors (V,) or matrices (rows, V) of the same shape.
        n_threads: threads to use.

    Returns:
        A float for 1-D inputs, else one value per row; +inf where q_j = 0 but p_j > 0.

    Raises:
        InvalidInputError (ValueError): ``q_logits`` of another shape than ``p_logits``, and the errors of
            :func:`log_softmax` for either argument.
        TypeError: complex, object or string data.
    """
    p, q, one_row = _pair(p_logits, q_logits)
    return _rows_result(_core.cross_entropy(p, q, check_threads(n_threads)), one_row)


def kl_divergence(
    p_logits: ArrayLike, q_logits: ArrayLike, *, n_threads: int | None = None
) -> float | NDArray[np.float64]:
    """Kullback-Leibler divergence KL(p || q) = sum_j p_j ln(p_j / q_j) from logits, in nats.

    Args:
        p_logits, q_logits: logit vectors (V,) or matrices (rows, V) of the same shape.
        n_threads: threads to use.

    Returns:
        A float for 1-D inputs, else one value per row; >= 0, +inf where q_j = 0 but p_j > 0.

    Raises:
        InvalidInputError (ValueError), TypeError: as :func:`cross_entropy`.
    """
    p, q, one_row = _pair(p_logits, q_logits)
    return _rows_result(_core.kl_divergence(p, q, check_threads(n_threads)), one_row)


def js_divergence(
    p_logits: ArrayLike, q_logits: ArrayLike, *, n_threads: int | None = None
) -> float | NDArray[np.float64]:
    """Jensen-Shannon divergence KL(p || m) / 2 + KL(q || m) / 2, m = (p + q) / 2, from logits, in nats.

    Symmetric and in [0, ln 2] (ln 2 for disjoint supports); it is the square of SciPy's
    ``jensenshannon`` distance with the natural logarithm.

    Args:
        p_logits, q_logits: logit vectors (V,) or matrices (rows, V) of the same shape.
        n_threads: threads to use.

    Returns:
        A float for 1-D inputs, else one value per row.

    Raises:
        InvalidInputError (ValueError), TypeError: as :func:`cross_entropy`.
    """
    p, q, one_row = _pair(p_logits, q_logits)
    return _rows_result(_core.js_divergence(p, q, check_threads(n_threads)), one_row)


def _logits_targets(
    logits: ArrayLike, targets: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.int64], bool]:
    z, one_row = _as_rows("logits", logits)
    return z, _as_symbols("targets", targets, allow_scalar=one_row), one_row


def token_nll(
    logits: ArrayLike, targets: ArrayLike, *, n_threads: int | None = None
) -> float | NDArray[np.float64]:
    """Negative log-likelihood -ln softmax(logits[r])[targets[r]] of each token, in nats.

    Args:
        logits: one logit vector (V,) or one per token (rows, V).
        targets: the observed token ids, one per row, in [0, V) (an int for 1-D ``logits``).
        n_threads: threads to use.

    Returns:
        A float for 1-D ``logits``, else one value per row; +inf where the target's logit is -inf.

    Raises:
        InvalidInputError (ValueError): ``targets`` of another length than the rows of ``logits`` or
            outside [0, V), and the errors of :func:`log_softmax`.
        TypeError: non-integer targets; complex, object or string data.
    """
    z, t, one_row = _logits_targets(logits, targets)
    return _rows_result(_core.cross_entropy_targets(z, t, check_threads(n_threads)), one_row)


def perplexity(logits: ArrayLike, targets: ArrayLike, *, n_threads: int | None = None) -> float:
    """Perplexity exp(mean token NLL) of ``targets`` under ``logits`` (see :func:`token_nll`).

    Args:
        logits: one logit vector (V,) or one per token (rows, V).
        targets: the observed token ids, one per row, in [0, V).
        n_threads: threads to use.

    Returns:
        The perplexity, in [1, +inf]; V for uniform logits.

    Raises:
        InvalidInputError (ValueError), TypeError: as :func:`token_nll`.
    """
    z, t, _ = _logits_targets(logits, targets)
    return _core.perplexity(z, t, check_threads(n_threads))


def plugin_entropy(x: ArrayLike, *, n_threads: int | None = None) -> float:
    """Plug-in Shannon entropy H(X) = -sum_x p(x) ln p(x) of a series of integer symbols, in nats.

    Args:
        x: a 1-D series of integer symbols (any int64 values; bool and integer-valued floats accepted).
        n_threads: threads to use.

    Returns:
        The entropy of the symbol frequencies.

    Raises:
        InvalidInputError (ValueError): an empty series, more than one dimension.
        TypeError: floats that are not integers; complex, object or string data.
    """
    return _core.plugin_entropy(_as_symbols("x", x), check_threads(n_threads))


def plugin_mutual_information(x: ArrayLike, y: ArrayLike, *, n_threads: int | None = None) -> float:
    """Plug-in mutual information I(X; Y) of two paired series of integer symbols, in nats.

    Args:
        x, y: 1-D series of integer symbols of the same length.
        n_threads: threads to use.

    Returns:
        sum p(x, y) ln(p(x, y) / (p(x) p(y))) over the observed frequencies (exactly 0 for a product
        table).

    Raises:
        InvalidInputError (ValueError): ``y`` of another length than ``x``, empty series.
        TypeError: as :func:`plugin_entropy`.
    """
    xa, ya = _as_symbols("x", x), _as_symbols("y", y)
    return _core.plugin_mutual_information(xa, ya, check_threads(n_threads))


def plugin_conditional_mutual_information(
    x: ArrayLike, y: ArrayLike, z: ArrayLike, *, n_threads: int | None = None
) -> float:
    """Plug-in conditional mutual information I(X; Y | Z) of paired series of integer symbols, in nats.

    Args:
        x, y, z: 1-D series of integer symbols of the same length; ``z`` is the condition.
        n_threads: threads to use.

    Returns:
        sum p(x, y, z) ln(p(x, y, z) p(z) / (p(x, z) p(y, z))) over the observed frequencies.

    Raises:
        InvalidInputError (ValueError): ``y`` or ``z`` of another length than ``x``, empty series.
        TypeError: as :func:`plugin_entropy`.
    """
    xa, ya, za = _as_symbols("x", x), _as_symbols("y", y), _as_symbols("z", z)
    return _core.plugin_conditional_mutual_information(xa, ya, za, check_threads(n_threads))


def plugin_transfer_entropy(
    source: ArrayLike,
    target: ArrayLike,
    k_history: int = 1,
    l_history: int = 1,
    delay: int = 1,
    *,
    n_threads: int | None = None,
) -> float:
    """Plug-in transfer entropy TE(source -> target) = I(X_past ; Y_{t+1} | Y_past) of integer series.

    Time alignment as in JIDT's discrete calculators: for "current" time t the target past is
    (Y_{t-k_history+1}, ..., Y_t), the source past (X_{t+1-delay-l_history+1}, ..., X_{t+1-delay}) and the
    next value Y_{t+1}; t runs from max(k_history - 1, l_history + delay - 2) to T - 2. Each past vector is
    one joint symbol.

    Args:
        source, target: 1-D series of integer symbols of the same length T.
        k_history: length of the target past (>= 1).
        l_history: length of the source past (>= 1).
        delay: source-target delay (>= 1); 1 means X_t informs Y_{t+1}.
        n_threads: threads to use.

    Returns:
        The transfer entropy of the observed frequencies, in nats.

    Raises:
        InvalidInputError (ValueError): ``target`` of another length than ``source``, a series too short
            for one sample, histories or delay < 1.
        TypeError: non-integer histories or delay, and the errors of :func:`plugin_entropy`.
    """
    s, t = _as_symbols("source", source), _as_symbols("target", target)
    return _core.plugin_transfer_entropy(
        s,
        t,
        native_int("k_history", k_history),
        native_int("l_history", l_history),
        native_int("delay", delay),
        check_threads(n_threads),
    )
