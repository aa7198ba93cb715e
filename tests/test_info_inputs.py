"""Input handling of ``thermoconsensus.info``: accepted array forms, shapes and dtypes, and the errors raised
for bad input (type, class hierarchy and the argument named in the message)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import thermoconsensus
from thermoconsensus import info

# --------------------------------------------------------------------------------------------------
# Shapes: any N in 10..200 and 1..3 dimensions per variable give a finite estimate
# --------------------------------------------------------------------------------------------------

shapes = st.tuples(
    st.integers(10, 200),  # N
    st.integers(1, 3),  # dims of x
    st.integers(1, 3),  # dims of y
    st.integers(1, 3),  # dims of z
    st.integers(0, 2**32 - 1),  # data seed
)


@given(shape=shapes, k=st.integers(1, 9), algorithm=st.sampled_from([1, 2]))
def test_estimates_are_finite_for_any_shape(shape, k, algorithm):
    n, dx, dy, dz, seed = shape
    r = np.random.default_rng(seed)
    x, y, z = r.standard_normal((n, dx)), r.standard_normal((n, dy)), r.standard_normal((n, dz))
    if dx == 1:
        x = x[:, 0]  # 1-D and 2-D inputs both appear
    mi = info.mutual_information(x, y, k=k, algorithm=algorithm)
    cmi = info.conditional_mutual_information(x, y, z, k=k, algorithm=algorithm)
    h = info.entropy(y, k=k)
    for v in (mi, cmi, h):
        assert isinstance(v, float) and np.isfinite(v)


@given(n=st.integers(12, 200), k_history=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_te_and_ais_are_finite_for_any_length(n, k_history, seed):
    r = np.random.default_rng(seed)
    x, y = r.standard_normal((2, n))
    for v in (
        info.transfer_entropy(x, y, k=2, k_history=k_history),
        info.active_information_storage(y, k_history=k_history, k=2),
    ):
        assert isinstance(v, float) and np.isfinite(v)


finite_values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)


@given(
    data=hnp.arrays(np.float64, st.tuples(st.integers(2, 60), st.integers(1, 2)), elements=finite_values),
    k=st.integers(1, 6),
    algorithm=st.sampled_from([1, 2]),
)
def test_arbitrary_finite_data_gives_a_finite_value_or_a_clear_error(data, k, algorithm):
    # Repeated values, constant columns and wild scales included: never a crash, never NaN.
    x, y = data[:, 0], data[:, -1]
    try:
        v = info.mutual_information(x, y, k=k, algorithm=algorithm)
    except thermoconsensus.InvalidInputError as exc:
        # Too few samples, or more than k samples on one joint value (heavily tied data, issue 19).
        assert len(data) <= k or "heavily tied" in str(exc), exc
    else:
        assert np.isfinite(v)


# --------------------------------------------------------------------------------------------------
# Accepted array forms give exactly the float64 C-contiguous result
# --------------------------------------------------------------------------------------------------


def _estimators() -> dict[str, Callable[..., float]]:
    return {
        "mi": lambda a, b, c: info.mutual_information(a, b),
        "mi2": lambda a, b, c: info.mutual_information(a, b, algorithm=2),
        "cmi": lambda a, b, c: info.conditional_mutual_information(a, b, c),
        "te": lambda a, b, c: info.transfer_entropy(a, b, k_history=2),
        "te_cond": lambda a, b, c: info.transfer_entropy(a, b, conditionals=c),
        "ais": lambda a, b, c: info.active_information_storage(b, k_history=2),
        "significance": lambda a, b, c: info.significance("mi", a, b, n_surrogates=5, seed=1).p_value,
    }


def _base(rng: np.random.Generator, n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Small integers so that integer and float32 versions hold exactly the same values.
    x = rng.integers(-50, 50, n).astype(np.float64)
    y = x + rng.integers(-30, 30, n)
    z = rng.integers(0, 40, n).astype(np.float64)
    return x, y, z


CONVERSIONS: dict[str, Callable[[np.ndarray], Any]] = {
    "list": lambda a: a.tolist(),
    "tuple": lambda a: tuple(a.tolist()),
    "int64": lambda a: a.astype(np.int64),
    "int32": lambda a: a.astype(np.int32),
    "int16": lambda a: a.astype(np.int16),
    "float32": lambda a: a.astype(np.float32),
    "readonly": lambda a: _readonly(a),
    "strided_view": lambda a: np.repeat(a, 2)[::2],
    "column": lambda a: a.reshape(-1, 1),
    "fortran_column": lambda a: np.asfortranarray(a.reshape(-1, 1)),
    "big_endian": lambda a: a.astype(">f8"),
}


def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("conversion", CONVERSIONS)
@pytest.mark.parametrize("estimator", _estimators())
def test_array_forms_give_the_float64_result(rng, estimator, conversion):
    fn, conv = _estimators()[estimator], CONVERSIONS[conversion]
    x, y, z = _base(rng)
    assert fn(conv(x), conv(y), conv(z)) == fn(x, y, z)


@pytest.mark.parametrize("algorithm", [1, 2])
def test_two_dimensional_layouts_give_the_same_result(rng, algorithm):
    x = rng.standard_normal((300, 3))
    y = x[:, :2] + rng.standard_normal((300, 2))
    ref = info.mutual_information(x, y, algorithm=algorithm)
    wide = np.zeros((600, 6))
    wide[::2, ::2] = x
    views = {
        "fortran": (np.asfortranarray(x), np.asfortranarray(y)),
        "strided": (wide[::2, ::2], y),
        "transposed_copy": (np.ascontiguousarray(x.T).T, y),
        "float32": (x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)),
    }
    for name, (a, b) in views.items():
        assert not (name == "strided" and a.flags.c_contiguous)
        expected = ref
        if name == "float32":  # rounding changes the data itself; compare with the rounded float64
            expected = info.mutual_information(
                x.astype(np.float32), y.astype(np.float32), algorithm=algorithm
            )
        assert info.mutual_information(a, b, algorithm=algorithm) == expected, name


def test_te_network_accepts_fortran_and_strided_data(rng):
    data = rng.standard_normal((300, 3))
    ref = info.te_network(data, n_surrogates=5, seed=2)
    padded = np.zeros((300, 6))
    padded[:, ::2] = data
    for d in (np.asfortranarray(data), padded[:, ::2], data.astype(np.float32).astype(np.float64)):
        got = info.te_network(d, n_surrogates=5, seed=2)
        assert np.array_equal(got.te, ref.te, equal_nan=True)
        assert np.array_equal(got.p_values, ref.p_values, equal_nan=True)


def test_inputs_are_not_modified(rng):
    x, y = rng.standard_normal((2, 200))
    x0, y0 = x.copy(), y.copy()
    info.mutual_information(x, y, noise=0.1, seed=3)
    info.significance("mi", x, y, n_surrogates=5, noise=0.1)
    info.transfer_entropy(x, y, noise=0.1)
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


def test_noise_is_seeded_and_breaks_ties(rng):
    x = rng.integers(0, 3, 500)  # heavy ties
    with pytest.raises(thermoconsensus.InvalidInputError, match="noise"):
        info.entropy(x)
    a = info.entropy(x, noise=1e-6, seed=1)
    assert np.isfinite(a)
    assert info.entropy(x, noise=1e-6, seed=1) == a
    assert info.entropy(x, noise=1e-6, seed=2) != a
    y = x + rng.integers(0, 2, 500)
    assert info.mutual_information(x, y, noise=1e-8, seed=1) == info.mutual_information(
        x, y, noise=1e-8, seed=1
    )


def test_bool_arrays_are_accepted_as_numbers(rng):
    x = rng.random(300) < 0.5
    y = x ^ (rng.random(300) < 0.1)
    got = info.mutual_information(x, y, noise=1e-6, seed=4)
    assert got == info.mutual_information(x.astype(np.float64), y.astype(np.float64), noise=1e-6, seed=4)


def test_numpy_integer_scalars_are_accepted_as_parameters(rng):
    x, y = rng.standard_normal((2, 200))
    assert info.mutual_information(x, y, k=np.int64(3), algorithm=np.int32(2)) == info.mutual_information(
        x, y, k=3, algorithm=2
    )


# --------------------------------------------------------------------------------------------------
# Bad input: the right exception class, naming the argument
# --------------------------------------------------------------------------------------------------

_R = np.random.default_rng(20240601)
X, Y, Z = _R.standard_normal((3, 100))
X_NAN = X.copy()
X_NAN[7] = np.nan
Y_INF = Y.copy()
Y_INF[3] = np.inf
Y_NEG_INF = Y.copy()
Y_NEG_INF[-1] = -np.inf
SHORT = X[:10]
mi, cmi, te, ais = (
    info.mutual_information,
    info.conditional_mutual_information,
    info.transfer_entropy,
    info.active_information_storage,
)

# (id, call, exception, regex the message must match)
VALUE_ERRORS: list[tuple[str, Callable[[], Any], str]] = [
    ("nan_x", lambda: mi(X_NAN, Y), r"\bx\b.*(NaN|non-finite)"),
    ("inf_y", lambda: mi(X, Y_INF), r"\by\b.*(infinity|non-finite)"),
    ("neg_inf_y", lambda: mi(X, Y_NEG_INF), r"\by\b"),
    ("nan_z", lambda: cmi(X, Y, X_NAN), r"\bz\b"),
    ("nan_source", lambda: te(X_NAN, Y), r"\bsource\b"),
    ("inf_target", lambda: te(X, Y_INF), r"\btarget\b"),
    ("nan_conditionals", lambda: te(X, Y, conditionals=X_NAN), r"\bconditionals\b"),
    ("nan_ais", lambda: ais(X_NAN), r"\bx\b"),
    ("nan_entropy", lambda: info.entropy(X_NAN), r"\bx\b"),
    ("length_y", lambda: mi(X, Y[:50]), r"\by\b"),
    ("length_z", lambda: cmi(X, Y, Z[:99]), r"\bz\b"),
    ("length_target", lambda: te(X, Y[:60]), r"\btarget\b"),
    ("length_conditionals", lambda: te(X, Y, conditionals=Z[:60]), r"\bconditionals\b"),
    ("n_equals_k", lambda: mi(X[:4], Y[:4], k=4), r"\bk\b"),
    ("n_below_k", lambda: cmi(X[:3], Y[:3], Z[:3], k=4), r"\bk\b"),
    ("entropy_n_le_k", lambda: info.entropy(X[:2], k=2), r"\bk\b"),
    ("k_zero", lambda: mi(X, Y, k=0), r"\bk\b"),
    ("k_negative", lambda: mi(X, Y, k=-1), r"\bk\b"),
    ("algorithm_3", lambda: mi(X, Y, algorithm=3), r"\balgorithm\b"),
    ("algorithm_0", lambda: cmi(X, Y, Z, algorithm=0), r"\balgorithm\b"),
    ("te_algorithm_3", lambda: te(X, Y, algorithm=3), r"\balgorithm\b"),
    ("ndim_3", lambda: mi(np.zeros((10, 2, 2)), Y[:10]), r"\bx\b.*dimension"),
    ("ndim_0", lambda: mi(1.5, Y), r"\bx\b"),
    ("ndim_3_y", lambda: mi(X[:10], np.zeros((10, 1, 1))), r"\by\b"),
    ("empty", lambda: mi(np.array([]), np.array([])), r"\bx\b.*empty"),
    ("empty_rows", lambda: mi(np.zeros((0, 2)), np.zeros((0, 2))), r"\bx\b"),
    ("empty_cols", lambda: mi(np.zeros((10, 0)), np.zeros(10)), r"\bx\b"),
    ("empty_list", lambda: mi([], []), r"\bx\b"),
    ("ragged", lambda: mi([[1.0, 2.0], [3.0]], [1.0, 2.0]), r"\bx\b"),
    ("te_k_history_long", lambda: te(SHORT, SHORT, k_history=8), r"(\btarget\b|histor)"),
    ("te_l_history_long", lambda: te(SHORT, SHORT, l_history=8), r"(\btarget\b|\bsource\b|histor)"),
    ("te_k_tau_long", lambda: te(SHORT, SHORT, k_history=2, k_tau=9), r"(\btarget\b|histor)"),
    ("te_delay_long", lambda: te(SHORT, SHORT, delay=9), r"(\btarget\b|\bsource\b|histor|delay)"),
    ("te_cond_delay_long", lambda: te(SHORT, SHORT, conditionals=SHORT, cond_delays=[9]), r"."),
    ("te_k_history_0", lambda: te(X, Y, k_history=0), r"\bk_history\b"),
    ("te_k_tau_0", lambda: te(X, Y, k_tau=0), r"\bk_tau\b"),
    ("te_l_history_0", lambda: te(X, Y, l_history=0), r"\bl_history\b"),
    ("te_l_tau_0", lambda: te(X, Y, l_tau=0), r"\bl_tau\b"),
    ("te_delay_0", lambda: te(X, Y, delay=0), r"\bdelay\b"),
    ("cond_delays_without_conditionals", lambda: te(X, Y, cond_delays=[1]), r"\bcond_delays\b"),
    ("cond_delays_count", lambda: te(X, Y, conditionals=np.c_[X, Z], cond_delays=[1]), r"\bcond_delays\b"),
    ("cond_delays_0", lambda: te(X, Y, conditionals=Z, cond_delays=[0]), r"\bcond_delays\b"),
    ("ais_history_long", lambda: ais(SHORT, k_history=9), r"\bx\b"),
    ("ais_k_tau_0", lambda: ais(X, k_tau=0), r"\bk_tau\b"),
    ("ais_algorithm_3", lambda: ais(X, algorithm=3), r"\balgorithm\b"),
    ("entropy_duplicates", lambda: info.entropy(np.repeat(X[:20], 5)), r"\bx\b.*noise"),
    ("n_threads_negative", lambda: mi(X, Y, n_threads=-1), r"\bn_threads\b"),
    ("n_threads_zero", lambda: cmi(X, Y, Z, n_threads=0), r"\bn_threads\b"),
    ("te_n_threads_negative", lambda: te(X, Y, n_threads=-2), r"\bn_threads\b"),
    ("noise_negative", lambda: mi(X, Y, noise=-1.0), r"\bnoise\b"),
    ("noise_nan", lambda: mi(X, Y, noise=float("nan")), r"\bnoise\b"),
    ("noise_inf", lambda: mi(X, Y, noise=float("inf")), r"\bnoise\b"),
    ("seed_negative", lambda: mi(X, Y, noise=0.1, seed=-1), r"\bseed\b"),
    ("measure", lambda: info.significance("entropy", X, Y), r"\bmeasure\b"),
    ("measure_case", lambda: info.significance("MI", X, Y), r"\bmeasure\b"),
    ("n_surrogates_0", lambda: info.significance("mi", X, Y, n_surrogates=0), r"\bn_surrogates\b"),
    ("significance_seed", lambda: info.significance("mi", X, Y, seed=-5), r"\bseed\b"),
    ("significance_seed_2_64", lambda: info.significance("mi", X, Y, seed=2**64), r"\bseed\b"),
    ("significance_nan", lambda: info.significance("cmi", X, Y, X_NAN), r"\bz\b"),
    ("significance_length", lambda: info.significance("te", X, Y[:50]), r"\btarget\b"),
    ("significance_conditionals_mi", lambda: info.significance("mi", X, Y, conditionals=Z), r"conditionals"),
    ("significance_n_threads", lambda: info.significance("mi", X, Y, n_threads=0), r"\bn_threads\b"),
    ("network_one_column", lambda: info.te_network(X), r"\bdata\b"),
    ("network_nan", lambda: info.te_network(np.c_[X_NAN, Y]), r"\bdata\b"),
    ("network_alpha", lambda: info.te_network(np.c_[X, Y], alpha=1.5), r"\balpha\b"),
    ("network_alpha_nan", lambda: info.te_network(np.c_[X, Y], alpha=float("nan")), r"\balpha\b"),
    ("network_n_surrogates", lambda: info.te_network(np.c_[X, Y], n_surrogates=0), r"\bn_surrogates\b"),
    ("network_3d", lambda: info.te_network(np.zeros((10, 2, 2))), r"\bdata\b"),
    ("embedding_k_max", lambda: info.auto_embedding(X, k_max=0), r"\bk_max\b"),
    ("embedding_tau_max", lambda: info.auto_embedding(X, tau_max=0), r"\btau_max\b"),
    ("embedding_neighbours", lambda: info.auto_embedding(X, n_neighbours=0), r"\bn_neighbours\b"),
    ("embedding_nan_target", lambda: info.auto_embedding(X_NAN), r"."),
    ("embedding_source_length", lambda: info.auto_embedding(X, SHORT), r"."),
]

TYPE_ERRORS: list[tuple[str, Callable[[], Any], str]] = [
    ("k_float", lambda: mi(X, Y, k=2.5), r"\bk\b"),
    ("k_integral_float", lambda: mi(X, Y, k=4.0), r"\bk\b"),
    ("k_str", lambda: mi(X, Y, k="4"), r"\bk\b"),
    ("k_bool", lambda: mi(X, Y, k=True), r"\bk\b"),
    ("k_none", lambda: mi(X, Y, k=None), r"\bk\b"),
    ("algorithm_float", lambda: mi(X, Y, algorithm=1.0), r"\balgorithm\b"),
    ("complex_x", lambda: mi(X + 1j, Y), r"\bx\b.*complex"),
    ("complex_y", lambda: cmi(X, Y.astype(np.complex64), Z), r"\by\b.*complex"),
    ("object_x", lambda: mi(np.array([1.0, "a"] * 50, dtype=object), Y), r"\bx\b"),
    ("object_numbers", lambda: mi(X.astype(object), Y), r"\bx\b"),
    ("string_y", lambda: mi(X, np.array(["a"] * 100)), r"\by\b"),
    ("bytes_x", lambda: mi(np.array([b"a"] * 100), Y), r"\bx\b"),
    ("datetime_x", lambda: mi(np.arange(100).astype("datetime64[s]"), Y), r"\bx\b"),
    ("none_x", lambda: mi(None, Y), r"\bx\b"),
    ("complex_target", lambda: te(X, Y + 0j), r"\btarget\b"),
    ("string_conditionals", lambda: te(X, Y, conditionals=np.array(["c"] * 100)), r"\bconditionals\b"),
    ("te_k_history_float", lambda: te(X, Y, k_history=1.5), r"\bk_history\b"),
    ("te_delay_str", lambda: te(X, Y, delay="1"), r"\bdelay\b"),
    ("n_threads_float", lambda: mi(X, Y, n_threads=1.5), r"\bn_threads\b"),
    ("noise_str", lambda: mi(X, Y, noise="0.1"), r"\bnoise\b"),
    ("seed_float", lambda: mi(X, Y, noise=0.1, seed=1.5), r"\bseed\b"),
    ("significance_count", lambda: info.significance("mi", X), r"2 arrays"),
    ("significance_count_cmi", lambda: info.significance("cmi", X, Y), r"3 arrays"),
    ("significance_n_surrogates_float", lambda: info.significance("mi", X, Y, n_surrogates=9.0), r"."),
    ("network_alpha_str", lambda: info.te_network(np.c_[X, Y], alpha="0.05"), r"\balpha\b"),
    ("embedding_complex", lambda: info.auto_embedding(X + 1j), r"\btarget\b"),
    ("entropy_k_float", lambda: info.entropy(X, k=1.5), r"\bk\b"),
]


@pytest.mark.parametrize(("call", "pattern"), [c[1:] for c in VALUE_ERRORS], ids=[c[0] for c in VALUE_ERRORS])
def test_invalid_values_raise_invalid_input_error(call, pattern):
    with pytest.raises(ValueError, match=pattern) as exc:
        call()
    assert isinstance(exc.value, thermoconsensus.InvalidInputError)
    assert isinstance(exc.value, thermoconsensus.Error)


@pytest.mark.parametrize(("call", "pattern"), [c[1:] for c in TYPE_ERRORS], ids=[c[0] for c in TYPE_ERRORS])
def test_wrong_types_raise_type_error(call, pattern):
    with pytest.raises(TypeError, match=pattern):
        call()


@pytest.mark.parametrize("args", [(SHORT,), (X, SHORT)], ids=["target", "source"])
def test_auto_embedding_length_error_names_the_argument(args):
    name = "target" if len(args) == 1 else "source"
    with pytest.raises(thermoconsensus.InvalidInputError) as exc:
        info.auto_embedding(*args)
    assert name in str(exc.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: mi(X, Y, k=2**64),
        lambda: info.significance("mi", X, Y, n_surrogates=2**64),
        lambda: te(X, Y, k_history=2**70),
    ],
    ids=["k", "n_surrogates", "k_history"],
)
def test_huge_integer_parameters_raise_invalid_input_error(call):
    with pytest.raises(thermoconsensus.InvalidInputError):
        call()


@pytest.mark.parametrize(
    "call",
    [
        "info.transfer_entropy(y, y, k_history=2**32 + 1, k_tau=2**32)",
        "info.active_information_storage(y, k_history=2**32 + 1, k_tau=2**32)",
    ],
    ids=["te", "ais"],
)
def test_huge_embeddings_do_not_crash_the_process(call):
    # In a child process: the failure mode is an abort, which would take the test session down with it.
    script = textwrap.dedent(
        f"""
        import numpy as np
        import thermoconsensus
        from thermoconsensus import info
        y = np.random.default_rng(0).standard_normal(100)
        try:
            {call}
        except thermoconsensus.InvalidInputError:
            print("raised InvalidInputError")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "raised InvalidInputError" in proc.stdout


# Parameters a user may plausibly get wrong; every combination must return a number or raise
# TypeError / ValueError (a Rust panic would surface as pyo3's PanicException, a BaseException).
weird_arrays = st.one_of(
    hnp.arrays(
        st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.bool_, np.complex128]),
        st.tuples(st.integers(0, 30), st.integers(0, 3)),
        elements=None,
    ),
    hnp.arrays(np.float64, st.integers(0, 30)),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30),
)
small_ints = st.one_of(st.integers(-3, 12), st.floats(-2, 5), st.none(), st.booleans())


@given(
    x=weird_arrays,
    y=weird_arrays,
    k=small_ints,
    algorithm=small_ints,
    k_history=small_ints,
    n_threads=st.one_of(st.none(), st.integers(-2, 3)),
)
def test_no_input_crashes(x, y, k, algorithm, k_history, n_threads):
    calls = [
        lambda: mi(x, y, k=k, algorithm=algorithm, n_threads=n_threads),
        lambda: cmi(x, y, x, k=k, algorithm=algorithm, n_threads=n_threads),
        lambda: te(x, y, k=k, k_history=k_history, algorithm=algorithm, n_threads=n_threads),
        lambda: ais(y, k_history=k_history, k=k, n_threads=n_threads),
        lambda: info.entropy(x, k=k, n_threads=n_threads),
        lambda: info.significance("mi", x, y, k=k, n_surrogates=3, n_threads=n_threads),
        lambda: info.auto_embedding(y, k_max=2, tau_max=2, n_threads=n_threads),
    ]
    for call in calls:
        try:
            v = call()
        except (TypeError, ValueError):
            continue
        assert v is not None
