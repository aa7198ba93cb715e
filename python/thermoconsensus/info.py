"""Information theory on samples: KSG estimators, significance tests, auto-embedding, TE networks.

All estimates are in nats. Inputs are 1-D series or 2-D (samples x dims) arrays of real numbers; lists,
integer and float32 arrays and non-contiguous views are accepted and converted once to C-contiguous
float64 (a float64 C-contiguous array is read in place, without copying). The GIL is released during the
computation, which runs on ``n_threads`` threads (default: ``THERMOCONSENSUS_NUM_THREADS`` or all cores);
results do not depend on the thread count.

Conventions are those of JIDT's Kraskov calculators with normalisation and added noise switched off
(Kraskov, Stögbauer & Grassberger 2004; Frenzel & Pompe 2007):

* distances are max-norm; the k-th nearest neighbour in the joint space excludes the point itself;
* algorithm 1 counts marginal neighbours with a strict inequality (distance < eps) and its digamma
  terms carry +1: MI = psi(k) + psi(N) - <psi(n_x + 1) + psi(n_y + 1)>;
  CMI = psi(k) - <psi(n_xz + 1) + psi(n_yz + 1) - psi(n_z + 1)>;
* algorithm 2 uses per-variable radii (the largest distance of each variable among the k neighbours),
  inclusive counts (<=): MI = psi(k) - 1/k + psi(N) - <psi(n_x) + psi(n_y)>;
  CMI = psi(k) - 2/k + <psi(n_z) - psi(n_xz) - psi(n_yz) + 1/n_xz + 1/n_yz>;
* the digamma function is exact to ~1e-15 (JIDT's is off by ~6.5e-8 below 10000, so values agree with
  JIDT to ~1e-6 nats and with exact-digamma peers such as scikit-learn's kernel to ~1e-9);
* with ties at the k-th distance (repeated values), the neighbour with the smaller sample index is
  preferred (among exact duplicates at distance 0, the first found: the counts are the same either way);
  only algorithm 2 can be affected. Use ``noise=`` to break ties in discrete-valued data. Heavily tied
  data (more than k samples with one joint value, e.g. constant data) raise InvalidInputError.
* ``normalise=True`` rescales each variable to mean 0, standard deviation 1 first (JIDT's default).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from ._arrays import (
    add_noise,
    as_samples,
    check_seed,
    check_threads,
    native_int,
    normalise_columns,
    number,
    on_device,
)
from ._discrete import (
    cross_entropy,
    entropy_from_logits,
    entropy_from_probs,
    js_divergence,
    kl_divergence,
    log_softmax,
    perplexity,
    plugin_conditional_mutual_information,
    plugin_entropy,
    plugin_mutual_information,
    plugin_transfer_entropy,
    softmax,
    token_nll,
)
from ._progress import ProgressArg, resolve_progress
from .distributed import RayBackend, check_backend, significance_ray, te_network_ray

__all__ = [
    "EmbeddingChoice",
    "MultivariateTeResult",
    "Norm",
    "SignificanceResult",
    "Surrogates",
    "TargetInference",
    "TeNetworkResult",
    "UnreachableThresholdWarning",
    "active_information_storage",
    "auto_embedding",
    "conditional_mutual_information",
    "cross_entropy",
    "ensemble_transfer_entropy",
    "entropy",
    "entropy_from_logits",
    "entropy_from_probs",
    "js_divergence",
    "kl_divergence",
    "local_active_information_storage",
    "local_conditional_mutual_information",
    "local_mutual_information",
    "local_transfer_entropy",
    "log_softmax",
    "multivariate_te_network",
    "mutual_information",
    "perplexity",
    "plugin_conditional_mutual_information",
    "plugin_entropy",
    "plugin_mutual_information",
    "plugin_transfer_entropy",
    "significance",
    "softmax",
    "te_network",
    "token_nll",
    "transfer_entropy",
]

Measure = Literal["mi", "cmi", "te", "ais"]
Surrogates = Literal["permutation", "circular", "block"]
Norm = Literal["max", "euclidean"]


class _SearchOptions(TypedDict):
    theiler: int
    norm: str


def _options(theiler: int, norm: str, device: str) -> _SearchOptions:
    """The ``theiler`` and ``norm`` keywords of the native estimators, checked."""
    window = native_int("theiler", theiler)
    if window < 0:
        raise _core.InvalidInputError(f"theiler: must be >= 0, got {window}")
    if not isinstance(norm, str) or norm not in ("max", "euclidean"):
        raise _core.InvalidInputError(f"norm: must be 'max' or 'euclidean', got {norm!r}")
    if (window or norm != "max") and isinstance(device, str) and device.startswith("cuda"):
        raise _core.InvalidInputError("device: a Theiler window or the Euclidean norm runs on the CPU only")
    return {"theiler": window, "norm": norm}


def _surrogates(kind: str, param: int | None) -> tuple[str, int | None]:
    if kind not in ("permutation", "circular", "block"):
        raise _core.InvalidInputError(
            f"surrogates: must be 'permutation', 'circular' or 'block', got {kind!r}"
        )
    return kind, None if param is None else native_int("surrogate_param", param)


def _algorithm(algorithm: int) -> int:
    return native_int("algorithm", algorithm)


def _prepare(
    named: list[tuple[str, ArrayLike]], noise: float, seed: int, normalise: bool
) -> list[NDArray[np.float64]]:
    arrays = [as_samples(name, a) for name, a in named]
    if not isinstance(normalise, (bool, np.bool_)):
        raise TypeError(f"normalise: expected a bool, got {type(normalise).__name__}")
    # JIDT's order: normalise, then add noise.
    if normalise:
        arrays = normalise_columns(arrays)
    return add_noise(arrays, noise, check_seed(seed))


def mutual_information(
    x: ArrayLike,
    y: ArrayLike,
    k: int = 4,
    algorithm: int = 1,
    *,
    noise: float = 0.0,
    normalise: bool = False,
    seed: int = 0,
    n_threads: int | None = None,
    device: str = "auto",
    theiler: int = 0,
    norm: Norm = "max",
) -> float:
    """KSG estimate of the mutual information I(X; Y) in nats.

    Args:
        x, y: samples, 1-D (N,) or 2-D (N, d), same N.
        k: number of nearest neighbours in the joint space (1 <= k < N).
        algorithm: KSG algorithm 1 (eq. 8) or 2 (eq. 9).
        noise: standard deviation of Gaussian noise added to every value first (0: none).
        normalise: rescale each variable (each column) to mean 0 and standard deviation 1 first, as JIDT
            does by default (its NORMALISE property; the noise is added after). The max-norm mixes the
            variables' scales, so without it a variable on a much larger scale dominates the neighbour
            search (``x * 1e150`` gives ~0). Off by default so that values match JIDT with NORMALISE=false.
            A constant column is only centred.
        seed: seed of that noise.
        n_threads: threads to use (default: ``THERMOCONSENSUS_NUM_THREADS`` or all cores).
        device: where the neighbour searches run: "auto" (a GPU when present and N >= 10,000), "cpu",
            "cuda" or "cuda:N". The GPU path finds the same neighbours, so the estimate differs from the
            CPU's only in summation order.
        theiler: Theiler window (JIDT's DYN_CORR_EXCL): samples at most this many rows apart are neither
            neighbours nor counted, so that samples close in time do not pass for independent ones
            (0: only the sample itself). Needs N > k + 2 * theiler.
        norm: "max" (JIDT's default) or "euclidean", the norm within each multi-column variable; the
            joint space takes the largest of the variables' norms, as JIDT does. A window or the
            Euclidean norm runs on the CPU's exact O(N^2) scan.

    Raises:
        InvalidInputError (ValueError): mismatched lengths, NaN/Inf, N <= k, k < 1, bad algorithm, a malformed
            device, (on a GPU) k > 64 or more than 16 joint dimensions, or heavily tied data: more than k
            samples sharing one joint value (constant data, repeated rows), where the k-th neighbour is at
            distance 0 and KSG is meaningless; add ``noise=`` or use the plug-in estimators.
        GpuError: "cuda" was asked for and no usable GPU is present (the message says why).
        TypeError: complex, object or string data; non-integer k.
    """
    xa, ya = _prepare([("x", x), ("y", y)], noise, seed, normalise)
    args = (xa, ya, native_int("k", k), _algorithm(algorithm), check_threads(n_threads))
    opts = _options(theiler, norm, device)
    return on_device(lambda dev: _core.mutual_information(*args, dev, **opts), device, "mutual_information")


def conditional_mutual_information(
    x: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    k: int = 4,
    algorithm: int = 1,
    *,
    noise: float = 0.0,
    normalise: bool = False,
    seed: int = 0,
    n_threads: int | None = None,
    device: str = "auto",
    theiler: int = 0,
    norm: Norm = "max",
) -> float:
    """KSG (Frenzel-Pompe) estimate of the conditional mutual information I(X; Y | Z) in nats.

    Arguments and errors as in :func:`mutual_information`; ``z`` is the conditioning variable.
    """
    xa, ya, za = _prepare([("x", x), ("y", y), ("z", z)], noise, seed, normalise)
    args = (xa, ya, za, native_int("k", k), _algorithm(algorithm), check_threads(n_threads))
    opts = _options(theiler, norm, device)
    return on_device(
        lambda dev: _core.conditional_mutual_information(*args, dev, **opts),
        device,
        "conditional_mutual_information",
    )


def _embedding(
    k_history: int, k_tau: int, l_history: int, l_tau: int, delay: int
) -> tuple[int, int, int, int, int]:
    return (
        native_int("k_history", k_history),
        native_int("k_tau", k_tau),
        native_int("l_history", l_history),
        native_int("l_tau", l_tau),
        native_int("delay", delay),
    )


def _conditionals(
    conditionals: ArrayLike | None, cond_delays: list[int] | None
) -> tuple[ArrayLike | None, list[int]]:
    if conditionals is None:
        if cond_delays:
            raise _core.InvalidInputError("cond_delays: given without conditionals")
        return None, []
    n_cond = as_samples("conditionals", conditionals).shape[1]
    delays = [1] * n_cond if cond_delays is None else list(cond_delays)
    return conditionals, [native_int("cond_delays", d) for d in delays]


def _te_arrays(
    source: ArrayLike,
    target: ArrayLike,
    conditionals: ArrayLike | None,
    cond_delays: list[int] | None,
    noise: float,
    seed: int,
    normalise: bool,
) -> tuple[list[NDArray[np.float64] | None], list[int]]:
    """[source, target, conditionals or None], prepared, and the conditionals' delays."""
    cond, delays = _conditionals(conditionals, cond_delays)
    named: list[tuple[str, ArrayLike]] = [("source", source), ("target", target)]
    if cond is not None:
        named.append(("conditionals", cond))
    arrays: list[NDArray[np.float64] | None] = list(_prepare(named, noise, seed, normalise))
    if cond is None:
        arrays.append(None)
    return arrays, delays


def transfer_entropy(
    source: ArrayLike,
    target: ArrayLike,
    k: int = 4,
    k_history: int = 1,
    k_tau: int = 1,
    l_history: int = 1,
    l_tau: int = 1,
    delay: int = 1,
    algorithm: int = 1,
    conditionals: ArrayLike | None = None,
    *,
    cond_delays: list[int] | None = None,
    noise: float = 0.0,
    normalise: bool = False,
    seed: int = 0,
    n_threads: int | None = None,
    device: str = "auto",
    theiler: int = 0,
    norm: Norm = "max",
) -> float:
    """KSG transfer entropy TE(source -> target) in nats.

    TE = I(X_past ; Y_{t+1} | Y_past [, C]) over time-delay embeddings, as JIDT's
    TransferEntropyCalculatorKraskov aligns them: for "current" time t, the target past is
    (Y_{t-(k_history-1)k_tau}, ..., Y_t), the source past is (X_{t+1-delay-(l_history-1)l_tau}, ...,
    X_{t+1-delay}) and the next value Y_{t+1}; t runs from max((k_history-1)k_tau,
    (l_history-1)l_tau + delay - 1) to T-2, so N = T - 1 - that start. Multi-column source/target
    series embed every column. Each column of ``conditionals`` (T x m) adds C_{t+1-d} to the conditioning
    set, with d from ``cond_delays`` (default 1 each). ``device``, ``theiler`` (over the embedded
    samples) and ``norm`` as in :func:`mutual_information`.

    Raises:
        InvalidInputError: histories/delays < 1 or too long for the series, and the errors of
            :func:`mutual_information`.
    """
    (src, dst, cond_array), delays = _te_arrays(
        source, target, conditionals, cond_delays, noise, seed, normalise
    )
    assert src is not None and dst is not None
    k_checked, emb, alg = (
        native_int("k", k),
        _embedding(k_history, k_tau, l_history, l_tau, delay),
        _algorithm(algorithm),
    )
    threads = check_threads(n_threads)
    opts = _options(theiler, norm, device)
    return on_device(
        lambda dev: _core.transfer_entropy(
            src, dst, k_checked, emb, alg, cond_array, delays, threads, dev, **opts
        ),
        device,
        "transfer_entropy",
    )


def ensemble_transfer_entropy(
    sources: list[ArrayLike],
    targets: list[ArrayLike],
    k: int = 4,
    k_history: int = 1,
    k_tau: int = 1,
    l_history: int = 1,
    l_tau: int = 1,
    delay: int = 1,
    algorithm: int = 1,
    *,
    noise: float = 0.0,
    normalise: bool = False,
    seed: int = 0,
    n_threads: int | None = None,
    norm: Norm = "max",
) -> float:
    """Ensemble TE over trials (replications): every trial's (source, target) pair is embedded on its own
    as in :func:`transfer_entropy`, and the embedded samples of all trials are pooled into one KSG
    estimate, as JIDT's calculators do with several observation sets (``addObservations``). Trials may
    differ in length. ``normalise`` rescales each trial's series on its own; a Theiler window is not
    offered here (it would span trial boundaries; JIDT refuses it too).
    """
    if not isinstance(sources, (list, tuple)) or not isinstance(targets, (list, tuple)):
        raise TypeError("sources, targets: expected lists of per-trial arrays")
    if len(sources) != len(targets) or not sources:
        raise _core.InvalidInputError(
            f"targets: needs one trial per source trial, and at least one; got {len(sources)} source and "
            f"{len(targets)} target trials"
        )
    pairs = [
        _prepare([("sources", s), ("targets", t)], noise, seed + i, normalise)
        for i, (s, t) in enumerate(zip(sources, targets, strict=True))
    ]
    _options(0, norm, "cpu")
    return _core.transfer_entropy_trials(
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        native_int("k", k),
        _embedding(k_history, k_tau, l_history, l_tau, delay),
        _algorithm(algorithm),
        n_threads=check_threads(n_threads),
        norm=norm,
    )


def active_information_storage(
    x: ArrayLike,
    k_history: int = 1,
    k_tau: int = 1,
    k: int = 4,
    *,
    algorithm: int = 1,
    noise: float = 0.0,
    normalise: bool = False,
    seed: int = 0,
    n_threads: int | None = None,
    theiler: int = 0,
    norm: Norm = "max",
) -> float:
    """KSG active information storage I(X_past ; X_{t+1}) in nats, past = k_history values k_tau apart.

    N = T - (k_history - 1) k_tau - 1 samples, as in JIDT's ActiveInfoStorageCalculatorKraskov (whose
    default algorithm is 2; here it is 1, like every other estimator: pass ``algorithm=2`` to match).
    """
    (xa,) = _prepare([("x", x)], noise, seed, normalise)
    return _core.active_information_storage(
        xa,
        native_int("k_history", k_history),
        native_int("k_tau", k_tau),
        native_int("k", k),
        _algorithm(algorithm),
        check_threads(n_threads),
        **_options(theiler, norm, "cpu"),
    )


def entropy(
    x: ArrayLike,
    k: int = 4,
    *,
    noise: float = 0.0,
    normalise: bool = False,
    seed: int = 0,
    n_threads: int | None = None,
) -> float:
    """Kozachenko-Leonenko differential entropy in nats, in the max norm (Kraskov et al. eq. 20).

    H = psi(N) - psi(k) + d <ln(2 eps_i)>, eps_i the max-norm distance to the k-th neighbour.

    Raises:
        InvalidInputError: the errors of :func:`mutual_information`, or points with k or more exact
            duplicates (the estimate diverges: add ``noise``).
    """
    (xa,) = _prepare([("x", x)], noise, seed, normalise)
    return _core.entropy(xa, native_int("k", k), check_threads(n_threads))


def local_mutual_information(
    x: ArrayLike,
    y: ArrayLike,
    k: int = 4,
    algorithm: int = 1,
    *,
    noise: float = 0.0,
    normalise: bool = False,
    seed: int = 0,
    n_threads: int | None = None,
    theiler: int = 0,
    norm: Norm = "max",
) -> NDArray[np.float64]:
    """Local (pointwise) KSG MI of every sample, in sample order; their mean is :func:`mutual_information`.

    As JIDT's ``computeLocalOfPreviousObservations``: sample i's term of the KSG average, e.g. for
    algorithm 1 psi(k) + psi(N) - psi(n_x,i + 1) - psi(n_y,i + 1). Arguments and errors as in
    :func:`mutual_information` (CPU only).
    """
    xa, ya = _prepare([("x", x), ("y", y)], noise, seed, normalise)
    return _core.local_values(
        "mi",
        [xa, ya],
        native_int("k", k),
        _algorithm(algorithm),
        n_threads=check_threads(n_threads),
        **_options(theiler, norm, "cpu"),
    )


def local_conditional_mutual_information(
    x: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    k: int = 4,
    algorithm: int = 1,
    *,
    noise: float = 0.0,
    normalise: bool = False,
    seed: int = 0,
    n_threads: int | None = None,
    theiler: int = 0,
    norm: Norm = "max",
) -> NDArray[np.float64]:
    """Local KSG CMI of every sample; their mean is :func:`conditional_mutual_information`."""
    arrays = _prepare([("x", x), ("y", y), ("z", z)], noise, seed, normalise)
    return _core.local_values(
        "cmi",
        list(arrays),
        native_int("k", k),
        _algorithm(algorithm),
        n_threads=check_threads(n_threads),
        **_options(theiler, norm, "cpu"),
    )


def local_transfer_entropy(
    source: ArrayLike,
    target: ArrayLike,
    k: int = 4,
    k_history: int = 1,
    k_tau: int = 1,
    l_history: int = 1,
    l_tau: int = 1,
    delay: int = 1,
    algorithm: int = 1,
    conditionals: ArrayLike | None = None,
    *,
    cond_delays: list[int] | None = None,
    noise: float = 0.0,
    normalise: bool = False,
    seed: int = 0,
    n_threads: int | None = None,
    theiler: int = 0,
    norm: Norm = "max",
) -> NDArray[np.float64]:
    """Local TE of every embedded sample; their mean is :func:`transfer_entropy`.

    Entry i belongs to the target's value at time ``first + 1 + i``, where ``first`` is the first usable
    time of the embedding (see :func:`transfer_entropy`), so the array has N = T - 1 - first entries.
    """
    views, delays = _te_arrays(source, target, conditionals, cond_delays, noise, seed, normalise)
    return _core.local_values(
        "te",
        views,
        native_int("k", k),
        _algorithm(algorithm),
        embedding=_embedding(k_history, k_tau, l_history, l_tau, delay),
        cond_delays=delays,
        n_threads=check_threads(n_threads),
        **_options(theiler, norm, "cpu"),
    )


def local_active_information_storage(
    x: ArrayLike,
    k_history: int = 1,
    k_tau: int = 1,
    k: int = 4,
    *,
    algorithm: int = 1,
    noise: float = 0.0,
    normalise: bool = False,
    seed: int = 0,
    n_threads: int | None = None,
    theiler: int = 0,
    norm: Norm = "max",
) -> NDArray[np.float64]:
    """Local AIS of every embedded sample (entry i belongs to ``x[(k_history - 1) * k_tau + 1 + i]``);
    their mean is :func:`active_information_storage`."""
    (xa,) = _prepare([("x", x)], noise, seed, normalise)
    emb = (native_int("k_history", k_history), native_int("k_tau", k_tau), 1, 1, 1)
    return _core.local_values(
        "ais",
        [xa],
        native_int("k", k),
        _algorithm(algorithm),
        embedding=emb,
        n_threads=check_threads(n_threads),
        **_options(theiler, norm, "cpu"),
    )


@dataclass(frozen=True)
class SignificanceResult:
    """Outcome of a permutation test."""

    value: float
    """The estimate on the original data (nats)."""
    p_value: float
    """(1 + #{surrogates >= value}) / (1 + n_surrogates)."""
    null_mean: float
    """Mean of the surrogate estimates."""
    null_std: float
    """Sample standard deviation of the surrogate estimates."""
    n_surrogates: int
    """Number of surrogates."""
    null: NDArray[np.float64]
    """The surrogate estimates."""

    def significant(self, alpha: float = 0.05) -> bool:
        """True when p_value <= alpha."""
        return self.p_value <= alpha


def significance(
    measure: Measure,
    *arrays: ArrayLike,
    n_surrogates: int = 100,
    seed: int = 0,
    k: int = 4,
    algorithm: int = 1,
    k_history: int = 1,
    k_tau: int = 1,
    l_history: int = 1,
    l_tau: int = 1,
    delay: int = 1,
    conditionals: ArrayLike | None = None,
    cond_delays: list[int] | None = None,
    noise: float = 0.0,
    normalise: bool = False,
    n_threads: int | None = None,
    progress: ProgressArg = False,
    device: str = "auto",
    backend: str | RayBackend = "local",
    surrogates: Surrogates = "permutation",
    surrogate_param: int | None = None,
) -> SignificanceResult:
    """Permutation test of an estimate against the null hypothesis of no dependence.

    ``significance("mi", x, y)``, ``significance("cmi", x, y, z)``, ``significance("te", source, target,
    k_history=...)``, ``significance("ais", x, k_history=...)``. As in JIDT, MI permutes the rows of y, CMI
    permutes x, TE permutes the embedded source-past vectors and AIS the next values. Surrogate s uses the
    ChaCha8 stream s of ``seed``: reproducible, independent of the thread count. The p-value is
    (1 + #{surrogate >= value}) / (1 + n_surrogates) (JIDT reports #{...} / n_surrogates, which can be 0).

    ``progress=True`` draws a progress bar on stderr; a callable is called as ``progress(done, total)``
    (surrogates). Ctrl-C stops the computation within one surrogate and raises KeyboardInterrupt.
    ``device`` as in :func:`mutual_information`: the surrogates are the same permutations on every device.
    ``backend="ray"`` (or a :class:`~thermoconsensus.distributed.RayBackend`) splits the surrogates into
    chunks of Ray tasks on CPUs (``device`` is then unused): the same result, bit for bit; ``progress`` then
    counts chunks.

    ``surrogates`` chooses how the permuted variable's samples are reordered: ``"permutation"`` (a random
    permutation, JIDT's and IDTxl's default), ``"circular"`` (time-shifted surrogates: the samples rotated
    by a random shift of at least ``surrogate_param`` and at most N - ``surrogate_param`` steps, which
    keeps the variable's autocorrelation; the right null for two autocorrelated series, where random
    permutations give far too many false positives) or ``"block"`` (blocks of ``surrogate_param``
    consecutive samples in random order). ``surrogate_param`` defaults to N // 10 (at least 1).
    """
    kind = _surrogates(surrogates, surrogate_param)
    expected = {"mi": 2, "cmi": 3, "te": 2, "ais": 1}
    if measure not in expected:
        raise _core.InvalidInputError(f"measure: must be 'mi', 'cmi', 'te' or 'ais', got {measure!r}")
    if len(arrays) != expected[measure]:
        raise TypeError(f"significance({measure!r}, ...) takes {expected[measure]} arrays, got {len(arrays)}")
    names = {"mi": ["x", "y"], "cmi": ["x", "y", "z"], "te": ["source", "target"], "ais": ["x"]}[measure]
    named = list(zip(names, arrays))
    delays: list[int] = []
    if measure == "te":
        cond, delays = _conditionals(conditionals, cond_delays)
        if cond is not None:
            named.append(("conditionals", cond))
    elif conditionals is not None:
        raise _core.InvalidInputError(f"conditionals: only used with measure 'te', not {measure!r}")
    seed = check_seed(seed)
    prepared: list[NDArray[np.float64] | None] = list(_prepare(named, noise, seed, normalise))
    if measure == "te" and len(prepared) == 2:
        prepared.append(None)
    emb = _embedding(k_history, k_tau, l_history, l_tau, delay)
    remote = check_backend(backend)
    if remote is not None:
        k_checked, alg, count = (
            native_int("k", k),
            _algorithm(algorithm),
            native_int("n_surrogates", n_surrogates),
        )
        label = f"significance({measure!r})"
        out = significance_ray(
            measure,
            prepared,
            k_checked,
            alg,
            count,
            seed,
            emb,
            delays,
            remote,
            resolve_progress(progress, label),
            kind,
        )
        return SignificanceResult(*out)
    args = (
        measure,
        prepared,
        native_int("k", k),
        _algorithm(algorithm),
        native_int("n_surrogates", n_surrogates),
        seed,
        emb,
        delays,
        check_threads(n_threads),
        resolve_progress(progress, f"significance({measure!r})"),
    )
    r = on_device(
        lambda dev: _core.significance(*args, dev, surrogates=kind[0], surrogate_param=kind[1]),
        device,
        "significance",
    )
    return SignificanceResult(*r)


@dataclass(frozen=True)
class EmbeddingChoice:
    """Embedding chosen by the Ragwitz criterion, with the error of every candidate."""

    k_history: int
    k_tau: int
    l_history: int | None
    l_tau: int | None
    target_errors: list[tuple[int, int, float]]
    """(history, tau, mean squared prediction error) of every target candidate, in search order."""
    source_errors: list[tuple[int, int, float]] | None
    delay: int | None = None
    """The source-target delay with the largest TE (``delay_max`` given), else None."""
    delay_te: list[tuple[int, float]] | None = None
    """(delay, TE in nats) of every delay searched."""

    def te_kwargs(self) -> dict[str, int]:
        """Keyword arguments for :func:`transfer_entropy` / :func:`significance`."""
        kw = {"k_history": self.k_history, "k_tau": self.k_tau}
        if self.l_history is not None and self.l_tau is not None:
            kw.update(l_history=self.l_history, l_tau=self.l_tau)
        if self.delay is not None:
            kw["delay"] = self.delay
        return kw


def auto_embedding(
    target: ArrayLike,
    source: ArrayLike | None = None,
    *,
    k_max: int = 5,
    tau_max: int = 3,
    n_neighbours: int = 4,
    delay_max: int | None = None,
    k: int = 4,
    n_threads: int | None = None,
) -> EmbeddingChoice:
    """Chooses history length and delay by the Ragwitz criterion, as JIDT's auto-embedding does.

    For every candidate (k, tau), k in 1..k_max and tau in 1..tau_max (k = 1 only with tau = 1), the series
    is embedded and its next value predicted by the mean next value of the ``n_neighbours`` nearest other
    embedded points (max norm); the candidate with the smallest mean squared error wins (ties: smaller k,
    then smaller tau). With ``source``, the source's (l_history, l_tau) are chosen the same way on the
    source alone (as JIDT does for TE). With ``delay_max`` too, the source-target delay u in
    1..delay_max is then the one with the largest TE (``k`` neighbours) from the single source value
    X_{t+1-u} under the chosen target embedding: the interaction-delay estimator of Wibral et al.
    (2013). (A source history of l values would cover lags u..u + (l-1) l_tau and blur which one
    carries the information.) Ties go to the smaller delay; ``te_kwargs()`` then includes it.
    """
    ta = as_samples("target", target)
    args = (native_int("k_max", k_max), native_int("tau_max", tau_max))
    nn, threads = native_int("n_neighbours", n_neighbours), check_threads(n_threads)
    kh, kt, terr = _core.ragwitz(ta, *args, nn, threads, "target")
    if source is None:
        if delay_max is not None:
            raise _core.InvalidInputError("delay_max: needs a source")
        return EmbeddingChoice(kh, kt, None, None, terr, None)
    sa = as_samples("source", source)
    lh, lt, serr = _core.ragwitz(sa, *args, nn, threads, "source")
    if delay_max is None:
        return EmbeddingChoice(kh, kt, lh, lt, terr, serr)
    top = native_int("delay_max", delay_max)
    if top < 1:
        raise _core.InvalidInputError(f"delay_max: must be at least 1, got {top}")
    delay_te = [
        (u, transfer_entropy(sa, ta, k, k_history=kh, k_tau=kt, delay=u, n_threads=threads))
        for u in range(1, top + 1)
    ]
    best = max(delay_te, key=lambda d: (d[1], -d[0]))[0]
    return EmbeddingChoice(kh, kt, lh, lt, terr, serr, best, delay_te)


@dataclass(frozen=True)
class TeNetworkResult:
    """Pairwise TE network; entry [i, j] is series i -> series j (the diagonal is NaN / False)."""

    te: NDArray[np.float64]
    p_values: NDArray[np.float64]
    q_values: NDArray[np.float64]
    """Benjamini-Hochberg adjusted p-values over all n(n-1) pairs."""
    significant: NDArray[np.bool_]
    """q_values <= alpha."""

    def edges(self) -> list[tuple[int, int, float]]:
        """Significant edges as (source, target, te), strongest first."""
        idx = np.argwhere(self.significant)
        out = [(int(i), int(j), float(self.te[i, j])) for i, j in idx]
        return sorted(out, key=lambda e: -e[2])


class UnreachableThresholdWarning(RuntimeWarning):
    """A test's surrogates cannot give a p-value small enough to pass its corrected threshold."""


def _reachable_surrogates(n_series: int, n_surrogates: int | None, alpha: float) -> int:
    """The surrogate count of :func:`te_network`: chosen so one edge can pass Benjamini-Hochberg at
    ``alpha`` over all ordered pairs, or the caller's, with a warning when it cannot."""
    pairs = n_series * (n_series - 1)
    a = number("alpha", alpha)
    if not 0.0 < a <= 1.0 or pairs < 1:
        # The engine names the bad argument.
        return 100 if n_surrogates is None else native_int("n_surrogates", n_surrogates)
    needed = max(1, math.ceil(pairs / a - 1e-9) - 1)
    if n_surrogates is None:
        return max(100, needed)
    count = native_int("n_surrogates", n_surrogates)
    if 0 < count < needed:
        warnings.warn(
            f"te_network: with {count} surrogates every p-value is at least 1/{count + 1} = "
            f"{1 / (count + 1):.3g}, and Benjamini-Hochberg over {pairs} pairs turns that into at least "
            f"{pairs / (count + 1):.3g} for a single edge, above alpha = {a}: no edge can be found. "
            f"Use n_surrogates >= {needed} (or None).",
            UnreachableThresholdWarning,
            stacklevel=3,
        )
    return count


def te_network(
    data: ArrayLike,
    k: int = 4,
    k_history: int = 1,
    k_tau: int = 1,
    l_history: int = 1,
    l_tau: int = 1,
    delay: int = 1,
    algorithm: int = 1,
    *,
    n_surrogates: int | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    noise: float = 0.0,
    normalise: bool = False,
    n_threads: int | None = None,
    progress: ProgressArg = False,
    backend: str | RayBackend = "local",
) -> TeNetworkResult:
    """Pairwise TE for every ordered pair of columns of a (T x n) array, in parallel, with FDR control.

    Each pair gets a permutation test with its own seed derived from ``seed`` (so the result does not
    depend on scheduling), and the Benjamini-Hochberg procedure is applied once to all m = n(n-1)
    p-values. A permutation p-value is at least 1 / (n_surrogates + 1), so an edge can only pass the
    correction when that bound times m is at most ``alpha``; the default ``n_surrogates=None`` takes
    the smallest count that makes it reachable, and at least 100 (8 series at alpha 0.05: 1119). A
    smaller explicit count warns with :class:`UnreachableThresholdWarning`. Pairwise TE reports edges
    that only echo a common driver or a relay; :func:`multivariate_te_network` conditions them away.
    ``progress`` as in :func:`significance`, counting pairs; Ctrl-C stops within one pair.
    ``backend="ray"`` (or a :class:`~thermoconsensus.distributed.RayBackend`) runs one Ray task per target
    column (or per pair) with the same seeds: the same result, bit for bit, on a cluster; ``progress``
    then counts tasks.
    """
    (d,) = _prepare([("data", data)], noise, seed, normalise)
    n_surrogates = _reachable_surrogates(d.shape[1], n_surrogates, alpha)
    remote = check_backend(backend)
    if remote is not None:
        out = te_network_ray(
            d,
            native_int("k", k),
            _embedding(k_history, k_tau, l_history, l_tau, delay),
            _algorithm(algorithm),
            native_int("n_surrogates", n_surrogates),
            number("alpha", alpha),
            check_seed(seed),
            remote,
            resolve_progress(progress, "te_network"),
        )
        return TeNetworkResult(*out)
    te, p, q, sig = _core.te_network(
        d,
        native_int("k", k),
        _embedding(k_history, k_tau, l_history, l_tau, delay),
        _algorithm(algorithm),
        native_int("n_surrogates", n_surrogates),
        number("alpha", alpha),
        check_seed(seed),
        check_threads(n_threads),
        resolve_progress(progress, "te_network"),
    )
    return TeNetworkResult(te, p, q, sig)


@dataclass(frozen=True)
class TargetInference:
    """What :func:`multivariate_te_network` found for one target; variables are (process, lag) pairs."""

    target: int
    target_past: list[tuple[int, int]]
    """The target's own past that was selected (the conditioning set of every source test)."""
    sources: list[tuple[int, int]]
    """Source variables that passed every test, strongest first."""
    source_te: list[float]
    """CMI (nats) of each source with the target's current value given all other selected variables."""
    source_p: list[float]
    """Sequential maximum-statistic p-value of each source."""
    omnibus_te: float
    """TE (nats) of all selected sources together given the selected target past (0 without sources)."""
    omnibus_p: float
    omnibus_q: float
    """Benjamini-Hochberg q-value of the omnibus p-value across targets (NaN without FDR or sources)."""
    n_estimates: int
    """Estimates this target took, surrogates included."""


@dataclass(frozen=True)
class MultivariateTeResult:
    """Multivariate TE network: one :class:`TargetInference` per analysed target."""

    n_processes: int
    targets: dict[int, TargetInference]

    def edges(self) -> list[tuple[int, int, int, float]]:
        """Every selected source variable as (source, target, lag, te), strongest first."""
        out = [
            (p, t, lag, te)
            for t, r in self.targets.items()
            for (p, lag), te in zip(r.sources, r.source_te, strict=True)
        ]
        return sorted(out, key=lambda e: -e[3])

    def adjacency(self) -> NDArray[np.bool_]:
        """n x n: entry [i, j] is True when some lag of process i is a selected source of target j."""
        a = np.zeros((self.n_processes, self.n_processes), dtype=bool)
        for p, t, _, _ in self.edges():
            a[p, t] = True
        return a


def _replications(data: ArrayLike | list[ArrayLike]) -> list[NDArray[np.float64]]:
    """A (T x n) array, a (replications x T x n) array or a list of (T_r x n) arrays, as 2-D arrays."""
    if isinstance(data, (list, tuple)) and data and np.ndim(data[0]) == 2:
        reps = [as_samples("data", r) for r in data]
    else:
        arr = np.asarray(data)
        if arr.ndim == 3:
            reps = [as_samples("data", r) for r in arr]
        elif arr.ndim == 2:
            reps = [as_samples("data", arr)]
        else:
            raise _core.InvalidInputError(
                "data: expected a (T x n) array, a (replications x T x n) array or a list of (T x n) "
                f"arrays, got {arr.ndim} dimensions"
            )
    return reps


def multivariate_te_network(
    data: ArrayLike | list[ArrayLike],
    *,
    max_lag_sources: int = 5,
    min_lag_sources: int = 1,
    tau_sources: int = 1,
    max_lag_target: int = 5,
    tau_target: int = 1,
    k: int = 4,
    algorithm: int = 1,
    n_perm_max_stat: int = 200,
    n_perm_min_stat: int = 500,
    n_perm_omnibus: int = 500,
    n_perm_max_seq: int = 500,
    alpha: float = 0.05,
    fdr: bool = True,
    targets: list[int] | None = None,
    seed: int = 0,
    noise: float = 0.0,
    normalise: bool = False,
    n_threads: int | None = None,
    progress: ProgressArg = False,
    surrogates: Surrogates = "permutation",
    surrogate_param: int | None = None,
) -> MultivariateTeResult:
    """Multivariate TE network inference with IDTxl's ``MultivariateTE`` algorithm and statistics.

    Every variable is a (process, lag) pair. For each target, its own past (lags 1, 1 + tau_target, ...,
    up to max_lag_target) and then the other processes' past (lags min_lag_sources..max_lag_sources,
    tau_sources apart) are selected greedily: the candidate with the largest CMI with the target's
    current value, given everything selected so far, enters while it passes the maximum statistic
    (against the maximum over all candidates of their surrogate CMIs). Selected sources are then pruned
    with the minimum statistic, all of them together pass an omnibus test or none is kept, and the
    sequential maximum statistic tests each one given all the others. Unlike pairwise
    :func:`te_network`, a source that only echoes another (a common driver, a relay) is not reported.

    Args:
        data: a (T x n) array (columns are processes), a (replications x T x n) array, or a list of
            (T_r x n) arrays; replications (trials) pool their samples, which is ensemble TE.
        alpha: the level of every test (IDTxl's alpha_max_stat, alpha_min_stat, alpha_omnibus,
            alpha_max_seq and alpha_fdr).
        fdr: Benjamini-Hochberg over the targets' omnibus p-values (IDTxl's network-level correction
            by target, with a target without sources counted as p = 1): targets whose q-value exceeds
            alpha lose their sources. (IDTxl's default is the stricter Benjamini-Yekutieli form, and it
            skips the correction without an error when 1 / n_perm_omnibus cannot pass it.)
        n_perm_*: surrogates of each test (IDTxl's defaults). Surrogates permute a variable's
            realisations within each replication; p-values are (1 + #{surrogate >= value}) / (1 + n).
        surrogates, surrogate_param: as in :func:`significance`, within each replication (the default
            parameter is a tenth of the shortest one).
        targets: the columns to analyse (default: all).
        noise, normalise, seed, n_threads: as in :func:`mutual_information` (``normalise`` rescales each
            process over all replications; ``seed`` also seeds the permutations).
        progress: as in :func:`significance`, counting targets.

    Raises:
        InvalidInputError: bad lags, a test its surrogates could never pass (1 / (n_perm + 1) >= alpha),
            replications with different columns or shorter than the largest lag, a target that is not a
            column, and the errors of :func:`mutual_information`.
    """
    reps = _replications(data)
    kind = _surrogates(surrogates, surrogate_param)
    if not isinstance(fdr, (bool, np.bool_)):
        raise TypeError(f"fdr: expected a bool, got {type(fdr).__name__}")
    if not isinstance(normalise, (bool, np.bool_)):
        raise TypeError(f"normalise: expected a bool, got {type(normalise).__name__}")
    n_proc = reps[0].shape[1]
    if normalise:
        lengths = np.cumsum([len(r) for r in reps])[:-1]
        if any(r.shape[1] != n_proc for r in reps):
            raise _core.InvalidInputError("data: every replication needs the same number of columns")
        (pooled,) = normalise_columns([np.concatenate(reps)])
        reps = [np.ascontiguousarray(r) for r in np.split(pooled, lengths)]
    reps = add_noise(reps, noise, check_seed(seed))
    chosen = [] if targets is None else sorted({native_int("targets", t) for t in targets})
    a = number("alpha", alpha)
    lags = (
        native_int("max_lag_sources", max_lag_sources),
        native_int("min_lag_sources", min_lag_sources),
        native_int("tau_sources", tau_sources),
        native_int("max_lag_target", max_lag_target),
        native_int("tau_target", tau_target),
    )
    perms = (
        native_int("n_perm_max_stat", n_perm_max_stat),
        native_int("n_perm_min_stat", n_perm_min_stat),
        native_int("n_perm_omnibus", n_perm_omnibus),
        native_int("n_perm_max_seq", n_perm_max_seq),
    )
    settings = (lags, perms, (a, a, a, a))
    n_targets = len(chosen) or n_proc
    if fdr and 0.0 < a <= 1.0 and perms[2] > 0 and n_targets / (perms[2] + 1) > a:
        warnings.warn(
            f"multivariate_te_network: {perms[2]} omnibus surrogates give p >= 1/{perms[2] + 1}, which "
            f"Benjamini-Hochberg over {n_targets} targets cannot bring to alpha = {a}, so the correction "
            f"removes every edge; use n_perm_omnibus >= {math.ceil(n_targets / a - 1e-9) - 1} or fdr=False.",
            UnreachableThresholdWarning,
            stacklevel=2,
        )
    out, q = _core.multivariate_te(
        reps,
        chosen,
        native_int("k", k),
        _algorithm(algorithm),
        settings,
        check_seed(seed),
        fdr_alpha=a if fdr else None,
        n_threads=check_threads(n_threads),
        progress=resolve_progress(progress, "multivariate_te_network"),
        surrogates=kind[0],
        surrogate_param=kind[1],
    )
    results = {
        t: TargetInference(t, past, src, te, p, omni_te, omni_p, qi, est)
        for (t, past, src, te, p, omni_te, omni_p, est), qi in zip(out, q, strict=True)
    }
    return MultivariateTeResult(n_proc, results)
