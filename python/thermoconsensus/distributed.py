"""Scale-out on Ray: TE networks, permutation tests, annealing reads and batch consensus on a Ray cluster.

Optional: ``pip install thermoconsensus[ray]``; nothing else in the package imports Ray, and every
function here has a ``backend="local"`` twin that is the default. What runs where:

* :func:`te_network_ray` (``te_network(..., backend="ray")``): the data matrix goes to the object store
  once (``ray.put``; workers on a node map that one copy, read-only, without copying it), one task per
  target column (or per ordered pair) runs the same native permutation tests as the local network with
  the same per-pair seeds, and Benjamini-Hochberg runs once on the driver after every task is gathered.
  A task that is retried (its worker died) recomputes exactly its result: all its randomness comes from
  its seed.
* :func:`significance_ray` (``significance(..., backend="ray")``): the surrogates split into chunks,
  surrogate s keeps ChaCha8 stream s of the seed wherever it runs, the p-value is computed on the driver.
* :func:`anneal_ray` (``simulated_annealing(..., backend="ray")``, and the path-integral and
  replica-exchange samplers): the reads split into chunks, the problem goes to the object store once, each
  chunk runs the native sampler on reads [first, first + count) (read r keeps stream r of the seed), and
  the chunks' sample sets and statistics are merged on the driver as the native run computes them.
* :func:`actor_clients`: LLM clients behind Ray actors (a local model loads once per actor; a remote
  endpoint's client lives in one async actor, so its rate limiter and budget hold for every caller).
  Hand them to :class:`~thermoconsensus.consensus.Orchestrator` and ``consensus_many`` fans out over them.

Results equal the local backend's bit for bit (the tests check it on a real local cluster).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import numpy as np
from numpy.typing import NDArray

from . import _core
from ._arrays import check_int

__all__ = [
    "RayBackend",
    "RayChatClient",
    "actor_clients",
    "anneal_ray",
    "benjamini_hochberg",
    "check_backend",
    "derive_seed",
    "init",
    "significance_ray",
    "te_network_ray",
]

_MASK = (1 << 64) - 1
# As many surrogates as the native layer accepts in one test (rust/info MAX_SURROGATES).
_MAX_SURROGATES = 1 << 24


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError(
            'backend="ray" needs Ray: pip install "thermoconsensus[ray]" (or pip install ray)'
        ) from None
    return ray


def init(address: str | None = None, *, num_cpus: int | None = None, **kwargs: Any) -> Any:
    """Connects to Ray once and returns the ``ray`` module.

    ``address``: None uses ``RAY_ADDRESS`` when it is set (an existing cluster, e.g. ``"auto"`` or
    ``"ray://head:10001"``) and otherwise starts a local cluster (``num_cpus`` workers' worth of CPUs, all
    cores by default); any other value is passed to ``ray.init(address=...)``. Does nothing when Ray is
    already initialised (so a caller's own ``ray.init(...)`` wins).
    """
    ray = _ray()
    if not ray.is_initialized():
        address = address if address is not None else os.environ.get("RAY_ADDRESS") or None
        ray.init(address=address, num_cpus=num_cpus, **kwargs)
    return ray


@dataclass(frozen=True)
class RayBackend:
    """How work is cut for Ray; ``backend="ray"`` is ``RayBackend()``.

    ``split``: te_network tasks, "target" (one task per target column: n tasks of n - 1 pairs) or "pair"
    (n(n - 1) tasks, for few long series); ``chunks``: significance and annealing tasks (default: the
    cluster's CPUs / ``threads_per_task``, at most one per surrogate or read);
    ``threads_per_task``: native threads inside each task (the CPUs each task reserves); ``address``: see
    :func:`init`; ``max_retries``: retries of a task whose worker died.
    """

    split: Literal["target", "pair"] = "target"
    chunks: int | None = None
    threads_per_task: int = 1
    address: str | None = None
    max_retries: int = 3

    def __post_init__(self) -> None:
        if self.split not in ("target", "pair"):
            raise ValueError(f"split: must be 'target' or 'pair', got {self.split!r}")
        for name in ("threads_per_task", "max_retries"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "threads_per_task" else 0):
                raise ValueError(
                    f"{name}: expected an integer >= {int(name == 'threads_per_task')}, got {v!r}"
                )
        if self.chunks is not None and (
            isinstance(self.chunks, bool) or not isinstance(self.chunks, int) or self.chunks < 1
        ):
            raise ValueError(f"chunks: expected an integer >= 1 or None, got {self.chunks!r}")


BackendArg = Union[str, RayBackend]


def check_backend(backend: Any) -> RayBackend | None:
    """None for "local", the :class:`RayBackend` for "ray" or a RayBackend; ValueError otherwise."""
    if isinstance(backend, RayBackend):
        return backend
    if backend == "local":
        return None
    if backend == "ray":
        return RayBackend()
    raise ValueError(f"backend: must be 'local', 'ray' or a RayBackend, got {backend!r}")


def derive_seed(seed: int, task: int) -> int:
    """The per-task seed of the native TE network (SplitMix64 of seed and task, as rust/info derives it)."""
    z = (seed + ((task + 1) * 0x9E3779B97F4A7C15 & _MASK)) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def benjamini_hochberg(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values in input order, the same arithmetic as the native one."""
    m = len(p)
    order = sorted(range(m), key=lambda i: float(p[i]))  # stable, as Rust's sort_by
    q = np.zeros(m)
    running = 1.0
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, float(p[i]) * float(m) / float(rank + 1))
        q[i] = running
    return q


def _gather(
    ray: Any, refs: list[Any], total: int, progress: Callable[[int, int], object] | None
) -> list[Any]:
    """Waits for ``refs`` (in order), reporting ``progress(done, total)``; cancels the rest on an error or
    Ctrl-C so a failed network does not keep the cluster busy."""
    index = {ref: i for i, ref in enumerate(refs)}
    out: list[Any] = [None] * len(refs)
    pending = list(refs)
    done = 0
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                out[index[ref]] = ray.get(ref)
                done += 1
                if progress is not None:
                    progress(done, total)
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise
    return out


# ---- TE networks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TeParams:
    k: int
    embedding: tuple[int, int, int, int, int]
    algorithm: int
    n_surrogates: int
    seed: int
    threads: int


def _pair_index(n: int, i: int, j: int) -> int:
    """Position of (i, j) among the ordered pairs i-major, j != i: the native network's task number."""
    return i * (n - 1) + (j - 1 if j > i else j)


def _pair_test(data: NDArray[np.float64], i: int, j: int, prm: _TeParams) -> tuple[float, float]:
    """(te, p) of source i -> target j: the native network's permutation test of that pair. Through
    ``significance_null`` (value and every surrogate in one call, p-value by the native summary's
    arithmetic): the same numbers as ``_core.significance`` at about half its per-call cost, which its
    progress and cancellation machinery (a thread and a pool per call) doubles for short tests."""
    n = data.shape[1]
    src = np.ascontiguousarray(data[:, i : i + 1])
    dst = np.ascontiguousarray(data[:, j : j + 1])
    value, null = _core.significance_null(
        "te",
        [src, dst, None],
        prm.k,
        prm.algorithm,
        derive_seed(prm.seed, _pair_index(n, i, j)),
        0,
        prm.n_surrogates,
        True,
        prm.embedding,
        [],
        prm.threads,
    )
    assert value is not None
    return float(value), summarise_null(value, null.tolist())[0]


def _target_task(data: NDArray[np.float64], j: int, prm: _TeParams) -> list[tuple[float, float]]:
    """Every source -> target j (sources in order, j skipped)."""
    return [_pair_test(data, i, j, prm) for i in range(data.shape[1]) if i != j]


def _check_remote_ranges(
    k: int, algorithm: int, n_surrogates: int, embedding: tuple[int, ...], delays: Sequence[int]
) -> None:
    """The ranges the native estimators check, checked here first: over Ray those checks run on the
    workers after the work is cut up, and a bad value must fail before any task is sent."""
    if algorithm not in (1, 2):
        raise _core.InvalidInputError(f"algorithm: must be 1 or 2, got {algorithm}")
    names = ("k_history", "k_tau", "l_history", "l_tau", "delay")
    for name, v in [("k", k), ("n_surrogates", n_surrogates), *zip(names, embedding)]:
        check_int(name, v, 1)
    for d in delays:
        check_int("cond_delays", d, 1)


def te_network_ray(
    data: NDArray[np.float64],
    k: int,
    embedding: tuple[int, int, int, int, int],
    algorithm: int,
    n_surrogates: int,
    alpha: float,
    seed: int,
    backend: RayBackend,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """The local network's (te, p, q, significant) from Ray tasks; arguments already validated by
    :func:`thermoconsensus.info.te_network`. ``progress(done, total)`` counts tasks."""
    n = data.shape[1]
    if n < 2:
        raise _core.InvalidInputError(f"data: needs at least 2 columns (series), got {n}")
    _check_remote_ranges(k, algorithm, n_surrogates, embedding, [])
    if not (0.0 < alpha <= 1.0):
        raise _core.InvalidInputError(f"alpha: must be in (0, 1], got {alpha}")
    if n_surrogates > _MAX_SURROGATES:
        raise _core.InvalidInputError(f"n_surrogates: must be in 1..={_MAX_SURROGATES}, got {n_surrogates}")
    if not np.isfinite(data).all():
        raise _core.InvalidInputError("data: contains NaN or infinite values")
    ray = init(backend.address)
    prm = _TeParams(k, embedding, algorithm, n_surrogates, seed, backend.threads_per_task)
    options = {"num_cpus": backend.threads_per_task, "max_retries": backend.max_retries}
    data_ref = ray.put(data)  # the one copy; tasks receive it by reference
    te = np.full((n, n), np.nan)
    p = np.full((n, n), np.nan)
    if backend.split == "target":
        task = ray.remote(_target_task).options(name="te_network_target", **options)
        refs = [task.remote(data_ref, j, prm) for j in range(n)]
        for j, results in enumerate(_gather(ray, refs, n, progress)):
            sources = [i for i in range(n) if i != j]
            for i, (v, pv) in zip(sources, results):
                te[i, j], p[i, j] = v, pv
    else:
        pairs = [(i, j) for i in range(n) for j in range(n) if j != i]
        task = ray.remote(_pair_test).options(name="te_network_pair", **options)
        refs = [task.remote(data_ref, i, j, prm) for i, j in pairs]
        for (i, j), (v, pv) in zip(pairs, _gather(ray, refs, len(pairs), progress)):
            te[i, j], p[i, j] = v, pv
    # Benjamini-Hochberg once, over every pair, in the native order of pairs.
    off = ~np.eye(n, dtype=bool)
    q = np.full((n, n), np.nan)
    q[off] = benjamini_hochberg(p[off])
    significant = np.zeros((n, n), dtype=bool)
    significant[off] = q[off] <= alpha
    return te, p, q, significant


# ---- permutation tests -------------------------------------------------------------------------------


def _null_chunk(
    measure: str,
    args: tuple[Any, ...],
    first: int,
    count: int,
    with_value: bool,
    *arrays: NDArray[np.float64] | None,
) -> tuple[float | None, NDArray[np.float64]]:
    k, algorithm, seed, embedding, delays, threads, kind, param = args
    return _core.significance_null(
        measure,
        list(arrays),
        k,
        algorithm,
        seed,
        first,
        count,
        with_value,
        embedding,
        delays,
        threads,
        surrogates=kind,
        surrogate_param=param,
    )


def summarise_null(value: float, null: Sequence[float]) -> tuple[float, float, float, int]:
    """(p_value, null_mean, null_std, n) of a null distribution, the native summary's arithmetic (plain
    left-to-right sums: ``math.fsum`` or numpy's pairwise sums would differ in the last bits)."""
    m = len(null)
    total = 0.0
    exceed = 0
    for v in null:
        total += v
        exceed += v >= value
    mean = total / m
    var = 0.0
    if m > 1:
        for v in null:
            var += (v - mean) * (v - mean)
        var /= m - 1
    return (1 + exceed) / (1 + m), mean, math.sqrt(var), m


def significance_ray(
    measure: str,
    arrays: list[NDArray[np.float64] | None],
    k: int,
    algorithm: int,
    n_surrogates: int,
    seed: int,
    embedding: tuple[int, int, int, int, int],
    delays: list[int],
    backend: RayBackend,
    progress: Callable[[int, int], object] | None = None,
    surrogates: tuple[str, int | None] = ("permutation", None),
) -> tuple[float, float, float, float, int, NDArray[np.float64]]:
    """The local test's (value, p, null mean, null std, n, null) with the surrogates in chunks on Ray;
    ``progress(done, total)`` counts chunks."""
    _check_remote_ranges(k, algorithm, n_surrogates, embedding, delays)
    if n_surrogates > _MAX_SURROGATES:
        raise _core.InvalidInputError(f"n_surrogates: must be in 1..={_MAX_SURROGATES}, got {n_surrogates}")
    ray = init(backend.address)
    chunks = backend.chunks or max(1, int(ray.cluster_resources().get("CPU", 1)) // backend.threads_per_task)
    chunks = min(chunks, n_surrogates)
    bounds = [n_surrogates * c // chunks for c in range(chunks + 1)]
    refs_in = [None if a is None else ray.put(a) for a in arrays]
    task = ray.remote(_null_chunk).options(
        name="significance_chunk", num_cpus=backend.threads_per_task, max_retries=backend.max_retries
    )
    args = (k, algorithm, seed, embedding, delays, backend.threads_per_task, *surrogates)
    # The arrays go as top-level arguments: Ray hands a task the objects of those references.
    refs = [
        task.remote(measure, args, bounds[c], bounds[c + 1] - bounds[c], c == 0, *refs_in)
        for c in range(chunks)
    ]
    results = _gather(ray, refs, chunks, progress)
    value = results[0][0]
    assert value is not None
    null = np.concatenate([r[1] for r in results])
    p_value, mean, std, m = summarise_null(value, null.tolist())
    return value, p_value, mean, std, m, null


# ---- annealing reads ---------------------------------------------------------------------------------

_SAMPLERS = ("simulated_annealing", "path_integral_annealing", "replica_exchange")


def _anneal_chunk(
    sampler: str,
    parts: tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], float],
    args: tuple[Any, ...],
    first: int,
    count: int,
    threads: int,
) -> tuple[NDArray[np.int8], NDArray[np.float64], NDArray[np.uint64], dict[str, Any]]:
    """Reads [first, first + count) of the native sampler on the problem rebuilt from ``parts`` (the
    stored h, couplings and offset: the same native problem, bit for bit)."""
    model = _core.IsingProblem(*parts)
    kw: dict[str, Any] = {"n_threads": threads, "first_read": first}
    if sampler != "path_integral_annealing":
        kw["device"] = "cpu"
    return getattr(_core, sampler)(model, count, *args, **kw)  # type: ignore[no-any-return]


def _sequential_sum(values: Sequence[float]) -> float:
    """Left-to-right sum, as Rust's ``iter().sum()`` (numpy's pairwise sum differs in the last bits)."""
    total = 0.0
    for v in values:
        total += v
    return total


def _merge_info(
    sampler: str,
    infos: list[dict[str, Any]],
    counts: list[int],
    num_reads: int,
    elapsed: float,
    world_line_attempts_per_read: int,
) -> dict[str, Any]:
    """One run's info from its chunks' (in read order), each statistic as the native run computes it;
    ``elapsed_seconds`` (and so ``flips_per_second``) is the driver's wall time of the whole run."""
    first = infos[0]
    rates = np.concatenate([i["acceptance_rates"] for i in infos])
    flips = sum(int(i["flip_attempts"]) for i in infos)
    out: dict[str, Any] = {
        "acceptance_rate": _sequential_sum(rates.tolist()) / max(len(rates), 1),
        "acceptance_rates": rates,
        "flip_attempts": flips,
        "elapsed_seconds": elapsed,
        "flips_per_second": flips / max(elapsed, 1e-12),
    }
    if "trace" in first:
        out["trace"] = np.concatenate([i["trace"] for i in infos], axis=0)
        out["trace_every"] = first["trace_every"]
    if sampler == "simulated_annealing":
        out["device"] = "cpu"
        out["beta_range"] = first["beta_range"]
        out["final_betas"] = np.concatenate([i["final_betas"] for i in infos])
    elif sampler == "path_integral_annealing":
        for key in ("gamma_range", "beta", "trotter_slices"):
            out[key] = first[key]
        # Each chunk reports accepted / attempted world-line moves; the counts come back exactly
        # (attempts <= 2^44 spin updates, so the quotient's rounding is far below half a move).
        accepted = 0
        if world_line_attempts_per_read > 0:
            for i, c in zip(infos, counts):
                accepted += round(float(i["world_line_acceptance"]) * (c * world_line_attempts_per_read))
        total = float(num_reads * world_line_attempts_per_read) if world_line_attempts_per_read else 1.0
        out["world_line_acceptance"] = accepted / total
    else:
        out["device"] = "cpu"
        read_betas = np.concatenate([i["read_betas"] for i in infos], axis=0)
        # The native mean: sum of beta / num_reads in read order (np.add.accumulate adds sequentially).
        out["betas"] = np.add.accumulate(read_betas / float(num_reads), axis=0)[-1]
        attempts = np.sum([i["swap_attempts"] for i in infos], axis=0, dtype=np.uint64)
        accepts = np.sum([i["swap_accepts"] for i in infos], axis=0, dtype=np.uint64)
        out["swap_acceptance"] = accepts.astype(np.float64) / np.maximum(attempts, 1).astype(np.float64)
        out["swap_attempts"] = attempts
        out["swap_accepts"] = accepts
        out["read_betas"] = read_betas
        out["round_trips"] = sum(int(i["round_trips"]) for i in infos)
    return out


def anneal_ray(
    sampler: str,
    model: Any,
    num_reads: int,
    args: tuple[Any, ...],
    backend: RayBackend,
    progress: Callable[[int, int], object] | None = None,
    *,
    world_line_attempts_per_read: int = 0,
) -> tuple[NDArray[np.int8], NDArray[np.float64], NDArray[np.uint64], dict[str, Any]]:
    """The native sampler's (states, energies, counts, info) with its reads split into Ray tasks.

    ``sampler``: "simulated_annealing", "path_integral_annealing" or "replica_exchange"; ``model`` the
    ``_core.IsingProblem``; ``args`` the native call's arguments after ``num_reads`` and before
    ``n_threads`` (their types converted by :mod:`thermoconsensus.anneal`). The problem goes to the object
    store once; task c runs reads [first_c, first_c + count_c) natively (``first_read``, so read r keeps
    stream r of the seed) on ``backend.threads_per_task`` threads, on the CPU. The chunks' sample sets
    are merged natively and their statistics as the native run computes them, so everything equals the
    local run bit for bit except the timings. ``progress(done, total)`` counts chunks;
    ``world_line_attempts_per_read``: sweeps x spins for path-integral runs with world-line moves (to
    merge their acceptance), else 0.

    ``num_reads`` is checked here, before any task is sent (the chunks are cut from it); the sampler's
    other ranges are checked natively by every task before its first sweep, so a bad value fails within
    milliseconds, as the same exception (Ray's task error derives from it), after the tasks are sent.
    """
    if sampler not in _SAMPLERS:
        raise ValueError(f"sampler: must be one of {', '.join(_SAMPLERS)}, got {sampler!r}")
    check_int("num_reads", num_reads, 1)
    ray = init(backend.address)
    t0 = time.perf_counter()
    chunks = backend.chunks or max(1, int(ray.cluster_resources().get("CPU", 1)) // backend.threads_per_task)
    chunks = min(chunks, num_reads)
    bounds = [num_reads * c // chunks for c in range(chunks + 1)]
    r, c, v = model.couplings()
    parts_ref = ray.put((model.h(), r, c, v, model.offset))  # the one copy of the problem
    task = ray.remote(_anneal_chunk).options(
        name=f"{sampler}_reads", num_cpus=backend.threads_per_task, max_retries=backend.max_retries
    )
    counts = [bounds[k + 1] - bounds[k] for k in range(chunks)]
    refs = [
        task.remote(sampler, parts_ref, args, bounds[k], counts[k], backend.threads_per_task)
        for k in range(chunks)
    ]
    results = _gather(ray, refs, chunks, progress)
    states, energies, occurrences = _core.merge_samples(
        np.concatenate([res[0] for res in results], axis=0),
        np.concatenate([res[1] for res in results]),
        np.concatenate([res[2] for res in results]),
    )
    elapsed = time.perf_counter() - t0
    infos = [res[3] for res in results]
    info = _merge_info(sampler, infos, counts, num_reads, elapsed, world_line_attempts_per_read)
    info["ray_chunks"] = [(bounds[k], counts[k]) for k in range(chunks)]
    info["ray_chunk_seconds"] = [float(i["elapsed_seconds"]) for i in infos]
    return states, energies, occurrences, info


# ---- LLM clients as actors ---------------------------------------------------------------------------


class _ChatActor:
    """Holds one client, built inside the actor so a local model loads there once."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.client = factory()

    def name(self) -> str:
        return str(self.client.name)

    def pid(self) -> int:
        return os.getpid()

    async def chat(self, prompt: Any, options: dict[str, Any]) -> Any:
        return await self.client.chat(prompt, **options)


class RayChatClient:
    """A client whose calls run in a Ray actor (see :func:`actor_clients`); awaits the actor's reply."""

    def __init__(self, name: str, actor: Any) -> None:
        self.name = name
        self.actor = actor

    async def chat(self, prompt: Any, **options: Any) -> Any:
        return await self.actor.chat.remote(prompt, options)

    def __repr__(self) -> str:
        return f"RayChatClient({self.name!r})"


def actor_clients(
    factories: Sequence[Callable[[], Any]],
    *,
    max_concurrency: int | Sequence[int] = 1,
    num_cpus: float | Sequence[float] = 1.0,
    max_restarts: int = 3,
    address: str | None = None,
) -> list[RayChatClient]:
    """One Ray actor per factory, each building its client (``lambda: LocalClient("smollm2-135m")``,
    ``lambda: create_client("openai:gpt-4o-mini")``); returns clients for the Orchestrator.

    ``max_concurrency``: calls an actor serves at once (1 for a local model, which generates one reply at a
    time; more for a remote endpoint: the client's own rate limiter, retries and budget apply inside the
    one actor, across every caller); ``num_cpus``: CPUs each actor reserves (a local model's threads).
    An actor whose process dies is restarted (up to ``max_restarts`` times) and its unfinished calls are
    retried; every call carries its seed, so a retry asks for the same reply.
    """
    if isinstance(factories, (str, bytes)) or not isinstance(factories, Sequence) or not factories:
        raise TypeError("factories: expected a non-empty list of callables that build clients")
    for f in factories:
        if not callable(f):
            raise TypeError(f"factories: expected callables that build clients, got {type(f).__name__}")
    n = len(factories)
    conc = [max_concurrency] * n if isinstance(max_concurrency, int) else list(max_concurrency)
    cpus = [num_cpus] * n if isinstance(num_cpus, (int, float)) else list(num_cpus)
    if len(conc) != n or len(cpus) != n:
        raise ValueError("max_concurrency, num_cpus: give one value, or one per factory")
    ray = init(address)
    cls = ray.remote(_ChatActor)
    actors = [
        cls.options(
            num_cpus=c,
            max_concurrency=mc,
            max_restarts=max_restarts,
            max_task_retries=max_restarts,
        ).remote(f)
        for f, c, mc in zip(factories, cpus, conc)
    ]
    names = ray.get([a.name.remote() for a in actors])
    return [RayChatClient(name, a) for name, a in zip(names, actors)]
