"""backend="ray" against a real local Ray cluster (started by this module, 2 CPUs, shared by its tests):
TE networks, permutation tests and annealing reads equal the local backend bit for bit, a worker killed
mid-run leaves the result unchanged, and the batch consensus over model actors equals the local batch (an
actor killed mid-batch included)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install thermoconsensus[ray])")

from thermoconsensus import anneal, info  # noqa: E402
from thermoconsensus.clients import LLMResponse, TokenLogprob  # noqa: E402
from thermoconsensus.consensus import Orchestrator  # noqa: E402
from thermoconsensus.distributed import RayBackend, actor_clients  # noqa: E402

# Ray's own start-up warnings are not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    """One local cluster for the module; the clients below travel to it by value (the tests folder is not
    importable in Ray's workers)."""
    if ray.is_initialized():
        ray.shutdown()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def coupled(t: int, n: int, seed: int) -> np.ndarray:
    """n series where series 0 drives 1 and 1 drives 2 with a lag of one step."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(t, n))
    x[1:, 1] += 0.9 * x[:-1, 0]
    x[1:, 2] += 0.9 * x[:-1, 1]
    return x


def assert_same_network(a: info.TeNetworkResult, b: info.TeNetworkResult) -> None:
    for f in ("te", "p_values", "q_values", "significant"):
        assert np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True), f


@pytest.mark.parametrize("split", ["target", "pair"])
def test_te_network_on_ray_equals_local_bit_for_bit(split: str) -> None:
    x = coupled(300, 5, seed=1)
    local = info.te_network(x, n_surrogates=19, seed=7, k_history=2)
    seen: list[tuple[int, int]] = []
    remote = info.te_network(
        x,
        n_surrogates=19,
        seed=7,
        k_history=2,
        backend=RayBackend(split=split),  # type: ignore[arg-type]
        progress=lambda d, t: seen.append((d, t)),
    )
    assert_same_network(local, remote)
    total = 5 if split == "target" else 20
    assert seen[-1] == (total, total) and len(seen) == total
    assert remote.te[0, 1] > 0.1 > remote.te[1, 0]  # the coupling is found (and only one way)


def test_te_network_ray_rejects_bad_input_like_local() -> None:
    x = coupled(100, 3, seed=2)
    with pytest.raises(ValueError, match="alpha"):
        info.te_network(x, alpha=0.0, n_surrogates=5, backend="ray")
    with pytest.raises(ValueError, match="2 columns"):
        info.te_network(x[:, :1], n_surrogates=5, backend="ray")
    with pytest.raises(ValueError, match="backend"):
        info.te_network(x, n_surrogates=5, backend="spark")


def _processes_titled(title: str) -> list[int]:
    """Pids whose command line (Ray sets it to ``ray::<task name>`` while a task runs) starts with title."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith(title):
            out.append(int(pid))
    return out


def test_a_worker_killed_mid_network_is_retried_and_the_result_is_unchanged() -> None:
    x = coupled(600, 6, seed=3)
    kw: dict[str, Any] = {"n_surrogates": 40, "seed": 11}
    local = info.te_network(x, **kw)
    box: dict[str, Any] = {}
    run = threading.Thread(target=lambda: box.update(result=info.te_network(x, backend="ray", **kw)))
    run.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and run.is_alive() and time.monotonic() < deadline:
        pids = _processes_titled("ray::te_network_target")
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.005)
    run.join(120)
    assert killed is not None, "no te_network task was seen running: nothing was killed"
    assert_same_network(local, box["result"])


@pytest.mark.parametrize(
    ("measure", "arrays", "kw"),
    [
        ("mi", 2, {}),
        ("cmi", 3, {"algorithm": 2}),
        ("te", 2, {"k_history": 2}),
        ("ais", 1, {"k_history": 2}),
    ],
)
def test_significance_chunks_on_ray_equal_local(measure: str, arrays: int, kw: dict[str, Any]) -> None:
    x = coupled(250, 3, seed=4)
    cols = [x[:, i] for i in range(arrays)]
    local = info.significance(measure, *cols, n_surrogates=23, seed=5, **kw)  # type: ignore[arg-type]
    remote = info.significance(
        measure,  # type: ignore[arg-type]
        *cols,
        n_surrogates=23,
        seed=5,
        backend=RayBackend(chunks=4),
        **kw,
    )
    assert remote.value == local.value and remote.p_value == local.p_value
    assert remote.null_mean == local.null_mean and remote.null_std == local.null_std
    assert np.array_equal(remote.null, local.null) and remote.n_surrogates == 23


# ---- annealing reads -------------------------------------------------------------------------------------

# Timings (and the chunk bookkeeping only a Ray run has) are the only entries allowed to differ.
_TIMING = {"elapsed_seconds", "flips_per_second", "ray_chunks", "ray_chunk_seconds"}


def assert_same_samples(a: anneal.SampleSet, b: anneal.SampleSet) -> None:
    assert np.array_equal(a.states, b.states) and a.states.dtype == b.states.dtype
    assert np.array_equal(a.energies, b.energies)
    assert np.array_equal(a.num_occurrences, b.num_occurrences)
    assert (a.variables, a.vartype) == (b.variables, b.vartype)
    assert set(a.info) - _TIMING == set(b.info) - _TIMING
    for key in set(a.info) - _TIMING:
        x, y = a.info[key], b.info[key]
        if isinstance(x, np.ndarray):
            assert isinstance(y, np.ndarray) and x.dtype == y.dtype and np.array_equal(x, y), key
        else:
            assert type(x) is type(y) and x == y, key


def _regular() -> anneal.IsingProblem:
    return anneal.random_regular(48, 3, seed=4)


ANNEALERS: list[tuple[str, Any, dict[str, Any]]] = [
    # Langevin: every read also draws its own temperature noise (its final beta differs by read).
    (
        "sa",
        anneal.simulated_annealing,
        {"num_reads": 13, "num_sweeps": 150, "schedule": "langevin", "trace_every": 25, "seed": 3},
    ),
    (
        "pimc",
        anneal.path_integral_annealing,
        {"num_reads": 7, "num_sweeps": 40, "trotter_slices": 4, "trace_every": 10, "seed": 5},
    ),
    (
        "pt",
        anneal.replica_exchange,
        {"num_reads": 5, "num_replicas": 6, "num_sweeps": 200, "adaptive": True, "keep": "best", "seed": 8},
    ),
]


@pytest.mark.parametrize(("name", "sampler", "kw"), ANNEALERS, ids=[a[0] for a in ANNEALERS])
def test_annealing_reads_on_ray_equal_local_bit_for_bit(name: str, sampler: Any, kw: dict[str, Any]) -> None:
    p = _regular()
    device = {} if name == "pimc" else {"device": "cpu"}
    local = sampler(p, **kw, **device)
    seen: list[tuple[int, int]] = []
    remote = sampler(p, **kw, backend=RayBackend(chunks=3), progress=lambda d, t: seen.append((d, t)))
    assert_same_samples(local, remote)
    # Three consecutive slices covering the reads, one task each.
    firsts, counts = zip(*remote.info["ray_chunks"])
    assert list(firsts) == [0, counts[0], counts[0] + counts[1]] and sum(counts) == kw["num_reads"]
    assert len(seen) == 3 and seen[-1] == (3, 3)


def test_annealing_on_ray_by_default_chunks_and_labels_equal_local() -> None:
    # A labelled QUBO (BINARY states), more chunks asked than there are reads, and plain backend="ray".
    q = {("a", "b"): 1.0, ("b", "c"): -2.0, ("a", "c"): 0.5, ("c", "c"): -1.0, ("d", "a"): 1.5}
    p = anneal.IsingProblem.from_qubo(q)
    local = anneal.simulated_annealing(p, num_reads=40, num_sweeps=50, seed=2, device="cpu")
    remote = anneal.simulated_annealing(p, num_reads=40, num_sweeps=50, seed=2, backend="ray")
    assert_same_samples(local, remote)
    few = anneal.replica_exchange(p, num_reads=3, num_sweeps=30, seed=6, device="cpu")
    more = anneal.replica_exchange(p, num_reads=3, num_sweeps=30, seed=6, backend=RayBackend(chunks=8))
    assert_same_samples(few, more)
    assert more.info["ray_chunks"] == [(0, 1), (1, 1), (2, 1)]


def test_the_dimod_samplers_pass_backend_through() -> None:
    pytest.importorskip("dimod")
    from thermoconsensus.samplers import SimulatedAnnealingSampler

    bqm = _regular().to_bqm()
    sampler = SimulatedAnnealingSampler()
    local = sampler.sample(bqm, num_reads=9, num_sweeps=60, seed=1, device="cpu")
    remote = sampler.sample(bqm, num_reads=9, num_sweeps=60, seed=1, backend="ray")
    assert np.array_equal(local.record.sample, remote.record.sample)
    assert np.array_equal(local.record.energy, remote.record.energy)
    assert np.array_equal(local.record.num_occurrences, remote.record.num_occurrences)


def test_bad_backend_values_for_the_annealers_raise_clear_errors() -> None:
    p = _regular()
    for sampler in (anneal.simulated_annealing, anneal.path_integral_annealing, anneal.replica_exchange):
        with pytest.raises(ValueError, match="backend: must be 'local', 'ray' or a RayBackend"):
            sampler(p, num_reads=2, num_sweeps=5, backend="spark")
        with pytest.raises(ValueError, match="backend"):
            sampler(p, num_reads=2, num_sweeps=5, backend=None)
        with pytest.raises(ValueError, match="n_threads"):
            sampler(p, num_reads=2, num_sweeps=5, backend="ray", n_threads=2)
    for sampler in (anneal.simulated_annealing, anneal.replica_exchange):
        with pytest.raises(ValueError, match=r'device: backend="ray" runs .* CPUs'):
            sampler(p, num_reads=2, num_sweeps=5, backend="ray", device="cuda")
    with pytest.raises(ValueError, match="chunks"):
        RayBackend(chunks=0)
    # A bad argument the native layer checks is the same error from inside a task.
    with pytest.raises(ValueError, match="beta_range"):
        anneal.replica_exchange(p, num_reads=2, num_sweeps=5, beta_range=(2.0, 1.0), backend="ray")


def test_a_worker_killed_mid_anneal_is_retried_and_the_result_is_unchanged() -> None:
    p = anneal.sherrington_kirkpatrick(96, seed=2)
    kw: dict[str, Any] = {"num_reads": 24, "num_sweeps": 2500, "seed": 17}
    local = anneal.simulated_annealing(p, device="cpu", **kw)
    box: dict[str, Any] = {}
    run = threading.Thread(
        target=lambda: box.update(result=anneal.simulated_annealing(p, backend="ray", **kw))
    )
    run.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and run.is_alive() and time.monotonic() < deadline:
        pids = _processes_titled("ray::simulated_annealing_reads")
        if pids:
            time.sleep(0.05)  # into the native run
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.005)
    run.join(120)
    assert killed is not None, "no annealing task was seen running: nothing was killed"
    assert_same_samples(local, box["result"])


# ---- batch consensus over model actors -----------------------------------------------------------------


class MockModel:
    """A deterministic stand-in for a model: its answer depends only on the prompt, its bias and the
    call's seed; ``delay`` seconds per call."""

    def __init__(self, name: str, bias: int, delay: float = 0.0) -> None:
        self.name = name
        self.bias = bias
        self.delay = delay

    async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
        await asyncio.sleep(self.delay)
        text = prompt[-1]["content"]
        value = (zlib.crc32(text.encode()) + self.bias + int(options.get("seed", 0)) % 2) % 3
        reply = f"The answer is {value}."
        lps = [TokenLogprob(w + " ", -0.1 - 0.01 * (self.bias + 1)) for w in reply.split()]
        return LLMResponse(text=reply, model=self.name, provider="mock", logprobs=lps, completion_tokens=4)


class WordEmbedder:
    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.full((len(texts), 32), 1e-3)
        for i, t in enumerate(texts):
            for w in t.lower().replace(".", " ").split():
                out[i, zlib.crc32(w.encode()) % 32] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


PROMPTS = [f"What is {i} modulo 3?" for i in range(16)]


def _summaries(clients: list[Any]) -> list[Any]:
    orch = Orchestrator(clients, embedder=WordEmbedder(), samples_per_model=2)
    out = asyncio.run(orch.consensus_many(PROMPTS, "number", concurrency=4))
    return [(c.answer, c.extracted_answer, c.weights.tolist(), c.free_energy) for c in out]


def test_batch_consensus_over_actors_equals_local_even_when_an_actor_dies() -> None:
    specs = [("a", 0), ("b", 0), ("c", 1)]
    local = _summaries([MockModel(n, b) for n, b in specs])
    clients = actor_clients([lambda n=n, b=b: MockModel(n, b, delay=0.05) for n, b in specs], num_cpus=0.5)
    assert [c.name for c in clients] == ["a", "b", "c"]
    victim = ray.get(clients[2].actor.pid.remote())
    timer = threading.Timer(0.4, os.kill, (victim, signal.SIGKILL))
    timer.start()
    try:
        remote = _summaries(clients)
    finally:
        timer.cancel()
    assert not os.path.exists(f"/proc/{victim}"), "the actor was not killed during the batch"
    assert ray.get(clients[2].actor.pid.remote()) != victim  # restarted
    assert remote == local


def test_the_te_network_command_on_ray_prints_the_local_edges(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from thermoconsensus.cli import main

    path = tmp_path / "data.csv"
    np.savetxt(path, coupled(300, 3, seed=6), delimiter=",")
    common = [str(path), "--surrogates", "99", "--json"]
    assert main(["te-network", *common]) == 0
    local = capsys.readouterr().out
    assert main(["te-network", *common, "--backend", "ray", "--split", "pair"]) == 0
    assert capsys.readouterr().out == local
    assert {(e["source"], e["target"]) for e in json.loads(local)} >= {(0, 1), (1, 2)}
