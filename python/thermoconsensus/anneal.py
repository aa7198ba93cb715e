"""Annealing: simulated annealing, path-integral quantum annealing and replica exchange for Ising/QUBO
problems, and free-energy minimisation over the probability simplex (consensus weights).

Conventions are dimod's: spins in {-1, +1} and ``E(s) = offset + sum_i h_i s_i + sum_{i<j} J_ij s_i s_j``,
minimised. A dict ``{(i, j): v}`` adds ``v`` once per listed pair (so ``(i, j)`` and ``(j, i)`` add up);
a dense or sparse matrix ``M`` adds ``M_ij + M_ji`` for ``i != j`` (an upper-triangular matrix means what
it says); a diagonal entry of an Ising coupling matrix is the constant ``s_i^2 = 1`` and goes to the
offset. A QUBO is the same over ``x`` in {0, 1} with ``E(x) = offset + sum_{i<=j} Q_ij x_i x_j`` (the
diagonal is linear).

Variables: with arrays, or dicts keyed only by integers, they are the indices
``0 .. num_variables - 1``; dicts with any other hashable labels (strings, tuples, ...) number them in
order of first appearance (``h`` first, then ``J``), and ``IsingProblem.variables`` / ``SampleSet.variables``
give the labels in index order. A ``dimod.BinaryQuadraticModel`` is accepted wherever a problem is
(:meth:`IsingProblem.from_bqm`), and :meth:`SampleSet.to_dimod` converts results; ``thermoconsensus.samplers``
holds ``dimod.Sampler`` classes (``pip install thermoconsensus[dimod]``).

Every sampler takes a ``seed`` (None draws one and records it in ``info["seed"]``); results are the same
for any ``n_threads``. Reads run in parallel with the GIL released; ``progress=True`` draws a bar on
stderr and Ctrl-C stops the run within a few sweeps.
"""

from __future__ import annotations

import numbers
import secrets
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from ._arrays import (
    check_device,
    check_int,
    check_real,
    check_seed,
    check_threads,
    native_int,
    number,
    on_device,
)
from ._progress import ProgressArg, resolve_progress
from .distributed import RayBackend, anneal_ray, check_backend

__all__ = [
    "FreeEnergyResult",
    "IsingProblem",
    "Sample",
    "SampleSet",
    "effective_sample_size",
    "gelman_rubin",
    "minimize_free_energy",
    "path_integral_annealing",
    "planted_frustrated_loops",
    "random_regular",
    "replica_exchange",
    "sherrington_kirkpatrick",
    "simulated_annealing",
]

Vartype = Literal["SPIN", "BINARY"]
Schedule = Literal["geometric", "linear", "logarithmic", "adaptive", "langevin", "custom"]
LinearArg = Union[ArrayLike, Mapping[Hashable, float], None]
QuadraticArg = Union[ArrayLike, Mapping[tuple[Hashable, Hashable], float], Any, None]

_INVALID = _core.InvalidInputError


def _pair(name: str, value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        a, b = value
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a pair (start, end), got {value!r}") from None
    return number(name, a), number(name, b)


def _seed(seed: int | None) -> int:
    return secrets.randbits(64) if seed is None else check_seed(seed)


def _index(name: str, key: Any) -> int:
    if isinstance(key, bool) or not isinstance(key, (numbers.Integral, np.integer)):
        raise TypeError(f"{name}: variables are integers 0..n-1, got {key!r}")
    k = int(key)
    if k < 0:
        raise _INVALID(f"{name}: variable indices must be >= 0, got {k}")
    return k


def _quadratic(
    name: str, q: QuadraticArg
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], int]:
    """(rows, cols, values, size hint) of a dict, a scipy.sparse matrix or a dense square array."""
    if q is None:
        empty_i = np.zeros(0, dtype=np.int64)
        return empty_i, empty_i.copy(), np.zeros(0), 0
    if isinstance(q, Mapping):
        rows, cols, vals = [], [], []
        for key, v in q.items():
            try:
                i, j = key
            except (TypeError, ValueError):
                raise TypeError(f"{name}: dict keys must be pairs (i, j), got {key!r}") from None
            rows.append(_index(name, i))
            cols.append(_index(name, j))
            if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.floating, np.integer)):
                raise TypeError(f"{name}: value of {key!r} is not a number ({type(v).__name__})")
            vals.append(float(v))
        size = max(max(rows, default=-1), max(cols, default=-1)) + 1
        return (
            np.asarray(rows, dtype=np.int64),
            np.asarray(cols, dtype=np.int64),
            np.asarray(vals, dtype=np.float64),
            size,
        )
    if hasattr(q, "tocoo") and hasattr(q, "shape"):  # scipy.sparse, without importing scipy
        coo = q.tocoo()
        if coo.ndim != 2 or coo.shape[0] != coo.shape[1]:
            raise _INVALID(f"{name}: must be a square matrix, got shape {coo.shape}")
        if np.asarray(coo.data).dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected real numbers, got dtype {coo.data.dtype}")
        return (
            np.ascontiguousarray(coo.row, dtype=np.int64),
            np.ascontiguousarray(coo.col, dtype=np.int64),
            np.ascontiguousarray(coo.data, dtype=np.float64),
            int(coo.shape[0]),
        )
    arr = np.asarray(q)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name}: expected a dict, a scipy.sparse matrix or a real array, got dtype {arr.dtype}"
        )
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise _INVALID(f"{name}: must be a square matrix, got shape {arr.shape}")
    nz_rows, nz_cols = np.nonzero(arr)  # NaN is non-zero, so the native check sees and rejects it
    return (
        nz_rows.astype(np.int64),
        nz_cols.astype(np.int64),
        np.ascontiguousarray(arr[nz_rows, nz_cols], dtype=np.float64),
        int(arr.shape[0]),
    )


def _linear(h: LinearArg, size: int) -> NDArray[np.float64]:
    if h is None:
        return np.zeros(size)
    if isinstance(h, Mapping):
        keys = [_index("h", k) for k in h]
        out = np.zeros(max(size, max(keys, default=-1) + 1))
        for k, v in zip(keys, h.values()):
            out[k] += check_real(f"h[{k}]", v)
        return out
    arr = np.asarray(h)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"h: expected real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise _INVALID(f"h: must be 1-D, got {arr.ndim} dimensions")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _is_integer(key: Any) -> bool:
    return isinstance(key, (numbers.Integral, np.integer)) and not isinstance(key, bool)


def _pair_key(name: str, key: Any) -> tuple[Any, Any]:
    try:
        i, j = key
    except (TypeError, ValueError):
        raise TypeError(f"{name}: dict keys must be pairs (i, j), got {key!r}") from None
    return i, j


def _labelled(
    h: LinearArg, J: QuadraticArg, name: str
) -> tuple[LinearArg, QuadraticArg, tuple[Hashable, ...] | None]:
    """Dicts keyed by labels other than integers, renumbered 0..n-1 in order of first appearance (h,
    then J), and the labels in index order; anything else is returned as it is."""
    h_map = h if isinstance(h, Mapping) else None
    j_map = J if isinstance(J, Mapping) else None
    if h_map is None and j_map is None:
        return h, J, None
    h_keys = list(h_map) if h_map is not None else []
    pairs = [_pair_key(name, k) for k in j_map] if j_map is not None else []
    # Integer keys are indices (a negative one is then an error, as before labels existed).
    if all(_is_integer(k) for k in h_keys) and all(_is_integer(i) and _is_integer(j) for i, j in pairs):
        return h, J, None
    if (h is not None and h_map is None) or (J is not None and j_map is None):
        raise TypeError(
            f"{name}: labelled variables need h and {name} both as dicts (or None); got "
            f"{type(h).__name__} and {type(J).__name__}"
        )
    index: dict[Hashable, int] = {}
    for label in [*h_keys, *(v for p in pairs for v in p)]:
        index.setdefault(label, len(index))
    h_new: dict[Hashable, float] | None = None
    if h_map is not None:
        h_new = {index[k]: v for k, v in h_map.items()}
    # (a, b) and (b, a) stay distinct keys and add up natively, as for integer keys.
    j_new: dict[tuple[Hashable, Hashable], float] | None = None
    if j_map is not None:
        j_new = {(index[i], index[j]): v for (i, j), v in zip(pairs, j_map.values())}
    return h_new, j_new, tuple(index)


def _import_dimod() -> Any:
    try:
        import dimod
    except ImportError:
        raise ImportError(
            "dimod is not installed: pip install 'thermoconsensus[dimod]' (or pip install dimod)"
        ) from None
    return dimod


def _is_bqm(obj: Any) -> bool:
    """A dimod binary quadratic model, recognised without importing dimod."""
    return type(obj).__module__.split(".")[0] == "dimod" and hasattr(obj, "to_numpy_vectors")


class IsingProblem:
    """An Ising problem ``E(s) = offset + h.s + sum_{i<j} J_ij s_i s_j`` over spins +-1.

    ``h``: a 1-D array (its length is the number of variables) or a dict ``{i: bias}``; ``J``: a dict
    ``{(i, j): coupling}``, a scipy.sparse matrix or a dense square array (see the module docs for how
    each adds up). ``num_variables`` fixes the size when neither says it. Dicts keyed by labels other than
    integers name the variables (``variables`` lists them in index order). Problems made by
    :meth:`from_qubo` have ``vartype == "BINARY"``: samplers then return 0/1 states and :meth:`energy`
    takes 0/1 states; the energies are the QUBO's.
    """

    __slots__ = ("_model", "_variables", "_vartype")

    def __init__(
        self,
        h: LinearArg = None,
        J: QuadraticArg = None,
        offset: float = 0.0,
        *,
        num_variables: int | None = None,
    ) -> None:
        h, J, labels = _labelled(h, J, "J")
        rows, cols, vals, size = _quadratic("J", J)
        if labels is not None:
            size = len(labels)
            if num_variables is not None and check_int("num_variables", num_variables, 1) != size:
                raise _INVALID(f"num_variables: {num_variables} differs from the {size} labelled variables")
        elif num_variables is not None:
            size = max(size, check_int("num_variables", num_variables, 1))
        hv = _linear(h, size)
        if not isinstance(h, Mapping) and h is not None and size > hv.shape[0]:
            raise _INVALID(f"h has {hv.shape[0]} entries but J couples {size} variables")
        if hv.shape[0] < size:
            hv = np.concatenate([hv, np.zeros(size - hv.shape[0])])
        if hv.shape[0] == 0:
            raise _INVALID("the problem has no variables (give h, J or num_variables)")
        self._model = _core.IsingProblem(hv, rows, cols, vals, check_real("offset", offset))
        self._vartype: Vartype = "SPIN"
        self._variables: tuple[Hashable, ...] | None = labels

    @classmethod
    def _wrap(
        cls,
        model: _core.IsingProblem,
        vartype: Vartype = "SPIN",
        variables: tuple[Hashable, ...] | None = None,
    ) -> IsingProblem:
        obj = cls.__new__(cls)
        obj._model = model
        obj._vartype = vartype
        obj._variables = variables
        return obj

    @classmethod
    def from_qubo(
        cls, Q: QuadraticArg, offset: float = 0.0, *, num_variables: int | None = None
    ) -> IsingProblem:
        """The problem of the QUBO ``Q`` (dict, scipy.sparse or dense square array) plus ``offset``."""
        _, Q, labels = _labelled(None, Q, "Q")
        rows, cols, vals, size = _quadratic("Q", Q)
        if labels is not None:
            size = len(labels)
            if num_variables is not None and check_int("num_variables", num_variables, 1) != size:
                raise _INVALID(f"num_variables: {num_variables} differs from the {size} labelled variables")
        elif num_variables is not None:
            size = max(size, check_int("num_variables", num_variables, 1))
        if size == 0:
            raise _INVALID("Q: the problem has no variables")
        model = _core.IsingProblem.from_qubo(size, rows, cols, vals, check_real("offset", offset))
        return cls._wrap(model, "BINARY", labels)

    @classmethod
    def from_bqm(cls, bqm: Any) -> IsingProblem:
        """The problem of a ``dimod.BinaryQuadraticModel``: same variables (in ``bqm.variables`` order),
        same energies, and ``vartype`` "BINARY" for a BINARY model (samplers then return 0/1 states)."""
        if not _is_bqm(bqm):
            raise TypeError(f"bqm: expected a dimod.BinaryQuadraticModel, got {type(bqm).__name__}")
        labels = tuple(bqm.variables)
        if not labels:
            raise _INVALID("bqm: the model has no variables")
        linear, (irow, icol, qdata), off = bqm.spin.to_numpy_vectors(variable_order=list(labels))
        model = _core.IsingProblem(
            np.ascontiguousarray(linear, dtype=np.float64),
            np.ascontiguousarray(irow, dtype=np.int64),
            np.ascontiguousarray(icol, dtype=np.int64),
            np.ascontiguousarray(qdata, dtype=np.float64),
            check_real("offset", off),
        )
        vartype: Vartype = "BINARY" if str(getattr(bqm.vartype, "name", bqm.vartype)) == "BINARY" else "SPIN"
        plain = labels == tuple(range(len(labels)))
        return cls._wrap(model, vartype, None if plain else labels)

    def to_bqm(self) -> Any:
        """The ``dimod.BinaryQuadraticModel`` with the same variables, energies and vartype (needs dimod)."""
        dimod = _import_dimod()
        labels = self.variables
        r, c, v = self._model.couplings()
        bqm = dimod.BinaryQuadraticModel(dimod.SPIN)
        # Linear terms first and one by one, so the model lists the variables in this problem's order.
        bqm.add_linear_from(zip(labels, self._model.h().tolist()))
        bqm.add_quadratic_from(
            (labels[i], labels[j], x) for i, j, x in zip(r.tolist(), c.tolist(), v.tolist())
        )
        bqm.offset = self.offset
        return bqm.change_vartype(dimod.BINARY, inplace=False) if self._vartype == "BINARY" else bqm

    @property
    def num_variables(self) -> int:
        """Number of variables."""
        return self._model.num_variables

    @property
    def variables(self) -> list[Hashable]:
        """The variables' labels in index order (the integers 0..n-1 unless labelled)."""
        if self._variables is None:
            return list(range(self.num_variables))
        return list(self._variables)

    @property
    def vartype(self) -> Vartype:
        """ "SPIN" (states +-1) or "BINARY" (states 0/1, from :meth:`from_qubo`)."""
        return self._vartype

    @property
    def offset(self) -> float:
        """Constant energy offset of the Ising form."""
        return self._model.offset

    @property
    def h(self) -> NDArray[np.float64]:
        """Linear biases of the Ising form (a copy)."""
        return self._model.h()

    @property
    def J(self) -> dict[tuple[int, int], float]:
        """Couplings of the Ising form, once per pair, as ``{(i, j): J_ij}`` with i < j."""
        r, c, v = self._model.couplings()
        return {(int(i), int(j)): float(x) for i, j, x in zip(r, c, v)}

    def couplings(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """Couplings once per pair as arrays (rows, cols, values), rows < cols."""
        return self._model.couplings()

    def spin(self) -> IsingProblem:
        """The same problem with ``vartype == "SPIN"``."""
        return IsingProblem._wrap(self._model, "SPIN", self._variables)

    def to_qubo(self) -> tuple[dict[tuple[int, int], float], float]:
        """``(Q, offset)``: the QUBO with the same energies, upper-triangular, as dimod's ``to_qubo``."""
        (r, c, v), off = self._model.to_qubo()
        return {(int(i), int(j)): float(x) for i, j, x in zip(r, c, v)}, off

    def default_beta_range(self) -> tuple[float, float]:
        """The (hot, cold) inverse temperatures samplers use by default (dwave-samplers' rule)."""
        return self._model.default_beta_range()

    def energy(self, states: ArrayLike) -> Any:
        """Energy of one state (1-D, returns a float) or of each row of a 2-D array of states.

        States are +-1 for SPIN problems and 0/1 for BINARY ones.
        """
        arr = np.asarray(states)
        if arr.dtype.kind == "b":
            # True/False are not spins: [True, True] would read as (+1, +1) and hide a mistake.
            raise TypeError("states: expected spins (-1/+1) or binaries (0/1) as numbers, got booleans")
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"states: expected numbers, got dtype {arr.dtype}")
        single = arr.ndim == 1
        if single:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2:
            raise _INVALID(f"states: expected 1-D or 2-D, got {arr.ndim} dimensions")
        if self._vartype == "BINARY":
            if not np.isin(arr, (0, 1)).all():
                raise _INVALID("states: a BINARY problem takes states of 0 and 1")
            arr = 2 * arr.astype(np.int64) - 1
        elif not np.isin(arr, (-1, 1)).all():
            raise _INVALID("states: spins must be -1 or +1")
        energies = self._model.energies(np.ascontiguousarray(arr, dtype=np.int8))
        return float(energies[0]) if single else energies

    def _states_out(self, spins: NDArray[np.int8]) -> NDArray[np.int8]:
        if self._vartype == "BINARY":
            return ((spins + 1) // 2).astype(np.int8)
        return spins

    def __repr__(self) -> str:
        return (
            f"IsingProblem(num_variables={self.num_variables}, couplings={self._model.num_couplings}, "
            f"offset={self.offset!r}, vartype={self._vartype!r})"
        )


class Sample(NamedTuple):
    """One row of a :class:`SampleSet`: the state as ``{label: value}``, its energy and count."""

    sample: dict[Hashable, int]
    energy: float
    num_occurrences: int


@dataclass(frozen=True)
class SampleSet:
    """Distinct states a sampler returned, lowest energy first, with how many reads found each.

    ``states`` is int8 (distinct states x variables; +-1, or 0/1 for BINARY problems), ``energies`` and
    ``num_occurrences`` (int64, usable as an ``np.repeat`` count) are aligned with it; ``info`` holds
    sampler statistics (acceptance rates, timings, flips per second, the seed, optional traces...);
    ``variables`` labels the columns and ``vartype`` says "SPIN" or "BINARY". ``record``, ``first``,
    ``data()`` and ``samples()`` follow dimod's ``SampleSet``; :meth:`to_dimod` converts to one.
    """

    states: NDArray[np.int8]
    energies: NDArray[np.float64]
    num_occurrences: NDArray[np.int64]
    info: dict[str, Any] = field(default_factory=dict)
    variables: tuple[Hashable, ...] | None = None
    vartype: Vartype = "SPIN"

    @property
    def labels(self) -> list[Hashable]:
        """The variables' labels in column order."""
        if self.variables is None:
            return list(range(self.states.shape[1]))
        return list(self.variables)

    @property
    def best(self) -> tuple[NDArray[np.int8], float]:
        """The lowest-energy state and its energy."""
        return self.states[0], float(self.energies[0])

    @property
    def first(self) -> Sample:
        """The lowest-energy sample, as dimod's ``SampleSet.first``."""
        return self._row(0, self.labels)

    @property
    def num_reads(self) -> int:
        """Reads in total (the sum of the occurrence counts)."""
        return int(self.num_occurrences.sum())

    @property
    def record(self) -> np.recarray:
        """The rows as a numpy record array with fields ``sample``, ``energy`` and ``num_occurrences``,
        as dimod's ``SampleSet.record``."""
        n = self.states.shape[1]
        out = np.rec.array(
            np.zeros(
                len(self),
                dtype=[("sample", np.int8, (n,)), ("energy", np.float64), ("num_occurrences", np.int64)],
            )
        )
        out["sample"] = self.states
        out["energy"] = self.energies
        out["num_occurrences"] = self.num_occurrences
        return out

    def _row(self, k: int, labels: list[Hashable]) -> Sample:
        return Sample(
            dict(zip(labels, self.states[k].tolist())),
            float(self.energies[k]),
            int(self.num_occurrences[k]),
        )

    def data(
        self,
        fields: Sequence[str] | None = None,
        sorted_by: str | None = "energy",
        name: str = "Sample",
        reverse: bool = False,
        sample_dict_cast: bool = True,
    ) -> Iterator[Any]:
        """Iterates over the rows as named tuples, as dimod's ``SampleSet.data``.

        ``fields``: any of "sample", "energy", "num_occurrences" (default: all three); ``sorted_by``:
        one of those numeric fields or None (stored order, which is by energy); ``sample_dict_cast=False``
        yields each state as its int8 row instead of a ``{label: value}`` dict.
        """
        names = ("sample", "energy", "num_occurrences")
        chosen = list(names if fields is None else fields)
        for f in chosen:
            if f not in names:
                raise _INVALID(f"fields: unknown field {f!r} (choose from {', '.join(names)})")
        if sorted_by is None:
            order = np.arange(len(self))
        elif sorted_by == "energy":
            order = np.argsort(self.energies, kind="stable")
        elif sorted_by == "num_occurrences":
            order = np.argsort(self.num_occurrences, kind="stable")
        else:
            raise _INVALID(f"sorted_by: must be 'energy', 'num_occurrences' or None, got {sorted_by!r}")
        if reverse:
            order = order[::-1]
        row_type = NamedTuple(name, [(f, Any) for f in chosen])  # type: ignore[misc]
        labels = self.labels
        for k in order:
            values = {
                "sample": dict(zip(labels, self.states[k].tolist())) if sample_dict_cast else self.states[k],
                "energy": float(self.energies[k]),
                "num_occurrences": int(self.num_occurrences[k]),
            }
            yield row_type(*(values[f] for f in chosen))

    def samples(self) -> list[dict[Hashable, int]]:
        """Every distinct state as ``{label: value}``, lowest energy first."""
        labels = self.labels
        return [dict(zip(labels, row)) for row in self.states.tolist()]

    def to_dimod(self) -> Any:
        """The same rows as a ``dimod.SampleSet`` (labels, vartype, energies, counts and ``info``)."""
        dimod = _import_dimod()
        return dimod.SampleSet.from_samples(
            (self.states, self.labels),
            dimod.BINARY if self.vartype == "BINARY" else dimod.SPIN,
            energy=self.energies,
            num_occurrences=self.num_occurrences,
            info=dict(self.info),
            sort_labels=False,
        )

    def __len__(self) -> int:
        return int(self.energies.shape[0])


def _sampleset(problem: IsingProblem, raw: tuple[Any, Any, Any, dict[str, Any]], seed: int) -> SampleSet:
    states, energies, counts, info = raw
    info["seed"] = seed
    return SampleSet(
        problem._states_out(states),
        energies,
        np.asarray(counts, dtype=np.int64),
        info,
        problem._variables,
        problem.vartype,
    )


def _ray_options(
    backend: str | RayBackend, n_threads: int | None, device: str, sampler: str
) -> RayBackend | None:
    """The RayBackend of ``backend`` (None for "local"); under Ray the reads run in CPU tasks, so a GPU
    ``device`` and ``n_threads`` (the tasks' threads are ``RayBackend.threads_per_task``) are refused."""
    remote = check_backend(backend)
    if remote is None:
        return None
    dev = check_device(device).strip().lower()
    if dev not in ("auto", "cpu"):
        raise _INVALID(
            f'device: backend="ray" runs {sampler} reads on the workers\' CPUs, got device={device!r} '
            '(use device="cpu", or backend="local" for a GPU)'
        )
    if n_threads is not None:
        raise _INVALID(
            'n_threads: under backend="ray" each task runs RayBackend(threads_per_task=...) threads, '
            f"got n_threads={n_threads!r}"
        )
    return remote


def _problem(problem: Any) -> IsingProblem:
    if _is_bqm(problem):
        return IsingProblem.from_bqm(problem)
    if not isinstance(problem, IsingProblem):
        raise TypeError(
            f"problem: expected an IsingProblem or a dimod.BinaryQuadraticModel, got {type(problem).__name__}"
        )
    return problem


def simulated_annealing(
    problem: IsingProblem,
    num_reads: int = 10,
    num_sweeps: int | None = None,
    schedule: Schedule = "geometric",
    beta_range: tuple[float, float] | None = None,
    seed: int | None = None,
    *,
    beta_schedule: ArrayLike | None = None,
    acceptance_range: tuple[float, float] = (0.5, 0.001),
    gamma: float | None = None,
    eta: float | None = None,
    trace_every: int = 0,
    n_threads: int | None = None,
    progress: ProgressArg = False,
    device: str = "auto",
    backend: str | RayBackend = "local",
) -> SampleSet:
    """Simulated annealing with Metropolis single-spin flips (each read returns its final state).

    ``num_sweeps`` defaults to 1000 (or the length of ``beta_schedule``). ``schedule``:

    * ``"geometric"`` (dwave-samplers' default) and ``"linear"``: beta from hot to cold over
      ``beta_range`` (default: :meth:`IsingProblem.default_beta_range`);
    * ``"logarithmic"``: Geman & Geman's law T_t = a / ln(b + t), fitted to run from the hot to the
      cold end (fast cooling first, ever slower after);
    * ``"adaptive"``: beta steered after each sweep so the acceptance rate follows a target decaying
      geometrically over ``acceptance_range`` (first, last);
    * ``"langevin"``: stochastic temperature dT = -gamma T dt + eta sqrt(T) dW from the hot end
      (defaults: gamma so the mean path ends at the cold end, eta = gamma sqrt(T_hot) / 2), kept
      within [T_cold, 10 T_hot], one path per read;
    * ``"custom"``: the betas of ``beta_schedule``, one per sweep.

    ``trace_every=k`` records each read's energy every k sweeps in ``info["trace"]`` (reads x points).

    ``device``: "auto" (a GPU when present, the problem is large enough — reads x spins >= 65,536 — and the
    options run there), "cpu", "cuda" or "cuda:N". On a GPU the chains use Philox random numbers, so a seed
    reproduces a run on that device but not the CPU's samples (the distribution is the same); the adaptive and
    Langevin schedules and ``trace_every`` are CPU-only. ``info["device"]`` names where it ran.

    ``backend="ray"`` (or a :class:`~thermoconsensus.distributed.RayBackend`) splits the reads into Ray
    tasks (see :func:`~thermoconsensus.distributed.anneal_ray`), on CPUs: the same sample set and
    statistics as ``backend="local"`` on the CPU, bit for bit, except the timings; ``device`` must then
    be "cpu" or "auto" (which means the CPU), ``n_threads`` unset, and ``progress`` counts tasks.
    """
    remote = _ray_options(backend, n_threads, device, "simulated_annealing")
    p = _problem(problem)
    s = _seed(seed)
    betas = None
    if schedule == "custom" or beta_schedule is not None:
        if beta_schedule is None:
            raise _INVALID("beta_schedule: schedule 'custom' needs an array of betas")
        if schedule != "custom":
            raise _INVALID(f"beta_schedule: only used with schedule='custom', not {schedule!r}")
        betas = np.ascontiguousarray(beta_schedule, dtype=np.float64)
        if betas.ndim != 1 or betas.shape[0] == 0:
            raise _INVALID("beta_schedule: must be a non-empty 1-D array of betas")
        if num_sweeps is not None and num_sweeps != betas.shape[0]:
            raise _INVALID(
                f"num_sweeps: {num_sweeps} differs from the {betas.shape[0]} betas of beta_schedule"
            )
        sweeps = int(betas.shape[0])
    else:
        sweeps = 1000 if num_sweeps is None else native_int("num_sweeps", num_sweeps)
    acc = _pair("acceptance_range", acceptance_range)
    assert acc is not None
    reads = native_int("num_reads", num_reads)
    rest = (
        sweeps,
        schedule,
        _pair("beta_range", beta_range),
        betas,
        acc,
        None if gamma is None else number("gamma", gamma),
        None if eta is None else number("eta", eta),
        s,
        native_int("trace_every", trace_every),
    )
    bar = resolve_progress(progress, "simulated_annealing")
    if remote is not None:
        return _sampleset(p, anneal_ray("simulated_annealing", p._model, reads, rest, remote, bar), s)
    args = (p._model, reads, *rest, check_threads(n_threads), bar)
    raw = on_device(lambda dev: _core.simulated_annealing(*args, dev), device, "simulated_annealing")
    return _sampleset(p, raw, s)


def path_integral_annealing(
    problem: IsingProblem,
    num_reads: int = 10,
    num_sweeps: int = 1000,
    trotter_slices: int = 16,
    gamma_range: tuple[float, float] | None = None,
    beta: float | None = None,
    seed: int | None = None,
    *,
    world_line_moves: bool = True,
    trace_every: int = 0,
    n_threads: int | None = None,
    progress: ProgressArg = False,
    backend: str | RayBackend = "local",
) -> SampleSet:
    """Simulated quantum annealing by path-integral Monte Carlo (each read returns its best slice).

    ``trotter_slices`` P >= 2 replicas coupled by J_perp = -(P T / 2) ln tanh(Gamma / (P T)) at
    temperature T = 1 / ``beta`` (default: the cold end of the default beta range); the transverse field
    Gamma falls linearly over ``gamma_range`` (default: (max field, max field / 1000)). Every sweep makes
    local moves on all spins of all slices and, unless ``world_line_moves=False``, a world-line move per
    spin. ``info["flip_attempts"]`` counts local moves.

    ``backend`` as in :func:`simulated_annealing`: ``"ray"`` splits the reads into Ray tasks with the same
    result, bit for bit, except the timings.
    """
    remote = _ray_options(backend, n_threads, "cpu", "path_integral_annealing")
    p = _problem(problem)
    s = _seed(seed)
    reads = native_int("num_reads", num_reads)
    sweeps = native_int("num_sweeps", num_sweeps)
    rest = (
        sweeps,
        native_int("trotter_slices", trotter_slices),
        _pair("gamma_range", gamma_range),
        None if beta is None else number("beta", beta),
        s,
        bool(world_line_moves),
        native_int("trace_every", trace_every),
    )
    bar = resolve_progress(progress, "path_integral_annealing")
    if remote is not None:
        per_read = sweeps * p.num_variables if world_line_moves else 0
        raw = anneal_ray(
            "path_integral_annealing",
            p._model,
            reads,
            rest,
            remote,
            bar,
            world_line_attempts_per_read=per_read,
        )
        return _sampleset(p, raw, s)
    raw = _core.path_integral_annealing(p._model, reads, *rest, check_threads(n_threads), bar)
    return _sampleset(p, raw, s)


def replica_exchange(
    problem: IsingProblem,
    num_replicas: int = 16,
    num_sweeps: int = 1000,
    beta_range: tuple[float, float] | None = None,
    seed: int | None = None,
    *,
    num_reads: int = 1,
    adaptive: bool = False,
    keep: Literal["last", "best"] = "last",
    trace_every: int = 0,
    n_threads: int | None = None,
    progress: ProgressArg = False,
    device: str = "auto",
    backend: str | RayBackend = "local",
) -> SampleSet:
    """Replica exchange (parallel tempering) on a geometric beta ladder over ``beta_range``.

    Each of ``num_reads`` independent runs sweeps ``num_replicas`` replicas and swaps neighbouring
    temperatures with probability min(1, exp(d_beta d_E)) after every sweep, and returns its coldest
    replica's state (``keep="last"``: the final one, a sample at the coldest beta; ``"best"``: the
    lowest-energy one it held). ``adaptive=True`` re-spaces the interior betas during the first half
    from the swap acceptance measured in windows of sweeps, towards equal acceptance for every pair
    (the ends stay); ``swap_acceptance`` is then measured over the second half. ``info`` carries
    ``betas`` (the mean ladder), ``read_betas`` (each read's ladder, reads x replicas),
    ``swap_acceptance`` per pair (``swap_accepts / swap_attempts``, counted over all reads) and
    ``round_trips``.

    ``device``: "auto" (a GPU when present, the problem is large enough — reads x replicas x spins >= 65,536 —
    and the options run there), "cpu", "cuda" or "cuda:N". On a GPU the chains use Philox random numbers, so a
    seed reproduces a run on that device but not the CPU's samples (the distribution is the same);
    ``adaptive`` and ``trace_every`` are CPU-only. ``info["device"]`` names where it ran.

    ``backend`` as in :func:`simulated_annealing`: ``"ray"`` splits the reads into Ray tasks on CPUs with
    the same result, bit for bit, except the timings.
    """
    remote = _ray_options(backend, n_threads, device, "replica_exchange")
    p = _problem(problem)
    s = _seed(seed)
    if keep not in ("last", "best"):
        raise _INVALID(f"keep: must be 'last' or 'best', got {keep!r}")
    reads = native_int("num_reads", num_reads)
    rest = (
        native_int("num_replicas", num_replicas),
        native_int("num_sweeps", num_sweeps),
        _pair("beta_range", beta_range),
        bool(adaptive),
        keep,
        s,
        native_int("trace_every", trace_every),
    )
    bar = resolve_progress(progress, "replica_exchange")
    if remote is not None:
        return _sampleset(p, anneal_ray("replica_exchange", p._model, reads, rest, remote, bar), s)
    args = (p._model, reads, *rest, check_threads(n_threads), bar)
    raw = on_device(lambda dev: _core.replica_exchange(*args, dev), device, "replica_exchange")
    return _sampleset(p, raw, s)


@dataclass(frozen=True)
class FreeEnergyResult:
    """The weights minimising F = E - T S on the simplex, and the thermodynamics there."""

    weights: NDArray[np.float64]
    free_energy: float
    energy: float
    entropy: float
    temperature: float
    iterations: int
    converged: bool
    chain_free_energies: NDArray[np.float64]

    @property
    def effective_number(self) -> float:
        """exp(S): the effective number of responses carrying the weight."""
        return float(np.exp(self.entropy))


def _square(name: str, a: ArrayLike, m: int | None) -> NDArray[np.float64]:
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise _INVALID(f"{name}: must be a square matrix, got shape {arr.shape}")
    if m is not None and arr.shape[0] != m:
        raise _INVALID(f"{name}: expected {m} x {m}, got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def minimize_free_energy(
    J: float | ArrayLike,
    d: ArrayLike,
    h: ArrayLike | None = None,
    temperature: float = 0.1,
    *,
    chains: int = 16,
    langevin_steps: int = 1000,
    max_iterations: int = 10_000,
    tolerance: float = 1e-10,
    seed: int | None = None,
    n_threads: int | None = None,
) -> FreeEnergyResult:
    """Minimises ``F(s) = sum_ij J_ij d_ij s_i s_j + sum_i h_i s_i - T S(s)`` over the simplex.

    ``J`` is a scalar or an m x m matrix, ``d`` the m x m distances, ``h`` the m fields (default 0),
    ``temperature`` T > 0, S = -sum s ln s. ``chains`` annealed Langevin chains in softmax coordinates
    (``langevin_steps`` each) explore; each end is refined by the damped mean-field fixed point
    s_i ~ exp(-(sum_j (K_ij + K_ji) s_j + h_i) / T), K = J * d; the lowest F wins.
    """
    dm = _square("d", d, None)
    m = dm.shape[0]
    if m == 0:
        raise _INVALID("d: there are no responses (0 x 0)")
    if isinstance(J, (numbers.Real, np.floating, np.integer)) and not isinstance(J, bool):
        coupling = check_real("J", J) * dm
    else:
        coupling = _square("J", J, m) * dm
    if h is None:
        hv = np.zeros(m)
    else:
        hv = np.ascontiguousarray(h, dtype=np.float64)
        if hv.ndim != 1 or hv.shape[0] != m:
            raise _INVALID(f"h: expected {m} values, got shape {hv.shape}")
    s = _seed(seed)
    t = number("temperature", temperature)
    r = _core.minimize_free_energy(
        np.ascontiguousarray(coupling),
        hv,
        t,
        native_int("chains", chains),
        native_int("langevin_steps", langevin_steps),
        native_int("max_iterations", max_iterations),
        number("tolerance", tolerance),
        s,
        check_threads(n_threads),
    )
    return FreeEnergyResult(temperature=t, **r)


def _chains(chains: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(chains)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"chains: expected real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise _INVALID(f"chains: expected a 2-D array (chains x draws), got {arr.ndim} dimensions")
    return np.ascontiguousarray(arr, dtype=np.float64)


def gelman_rubin(chains: ArrayLike) -> float:
    """Gelman-Rubin R-hat of a (chains x draws) array, e.g. ``info["trace"]``; ~1 when mixed."""
    return _core.gelman_rubin(_chains(chains))


def effective_sample_size(chains: ArrayLike) -> float:
    """Effective sample size of a (chains x draws) array (Geyer's initial monotone sequence)."""
    return _core.effective_sample_size(_chains(chains))


def sherrington_kirkpatrick(n: int, seed: int = 0) -> IsingProblem:
    """A Sherrington-Kirkpatrick instance: every pair coupled +-1 at random, no fields."""
    return IsingProblem._wrap(_core.sherrington_kirkpatrick(native_int("n", n), check_seed(seed)))


def random_regular(n: int, degree: int = 3, seed: int = 0) -> IsingProblem:
    """A random simple ``degree``-regular graph with +-1 couplings, no fields."""
    return IsingProblem._wrap(
        _core.random_regular(native_int("n", n), native_int("degree", degree), check_seed(seed))
    )


def planted_frustrated_loops(
    n: int, loops: int, loop_length: int = 6, seed: int = 0
) -> tuple[IsingProblem, NDArray[np.int8], float]:
    """A planted instance of ``loops`` frustrated cycles (Hen et al. 2015): (problem, hidden state,
    ground energy = -(loop_length - 2) * loops)."""
    model, hidden, ground = _core.planted_frustrated_loops(
        native_int("n", n),
        native_int("loops", loops),
        native_int("loop_length", loop_length),
        check_seed(seed),
    )
    return IsingProblem._wrap(model), hidden, ground
