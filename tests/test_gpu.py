"""Every GPU path against its CPU twin on identical inputs (``pytest -m gpu``).

On a machine with a GPU these run on it. Without one they skip, except under
``THERMOCONSENSUS_CUDA_EMULATOR=1`` (``make test-gpu-emulated``, part of ``make test``), where "cuda" is the
host emulator of the CUDA kernels: the same kernel sources, compiled as host C++ and run on CPU fibers, so CI
checks the kernels' logic and the whole dispatch path without a GPU (but not their speed, the driver, or PTX).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import thermoconsensus as tc
from thermoconsensus import anneal, info, llm, models
from tiny_gguf import write_tiny_model

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


def _exact_levels(problem: anneal.IsingProblem, beta: float) -> dict[float, float]:
    """Boltzmann probability of every energy level, by enumeration (small problems)."""
    n = problem.num_variables
    states = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
    energies = np.round(problem.energy(states), 9)
    weights = np.exp(-beta * (energies - energies.min()))
    levels: dict[float, float] = {}
    for e, w in zip(energies, weights):
        levels[float(e)] = levels.get(float(e), 0.0) + float(w)
    z = sum(levels.values())
    return {e: w / z for e, w in levels.items()}


def _chi2(levels: dict[float, float], samples: anneal.SampleSet) -> tuple[float, int]:
    """Pearson's chi-square over energy bins (consecutive levels merged until each expects >= 10 reads)."""
    total = samples.num_reads
    sampled: dict[float, int] = {}
    for e, c in zip(np.round(samples.energies, 9), samples.num_occurrences):
        sampled[float(e)] = sampled.get(float(e), 0) + int(c)
    bins: list[list[float]] = [[0.0, 0.0]]  # (expected, observed)
    for e in sorted(levels):
        if bins[-1][0] >= 10:
            bins.append([0.0, 0.0])
        bins[-1][0] += total * levels[e]
        bins[-1][1] += sampled.pop(e, 0)
    assert not sampled, f"energies that are no level: {sampled}"
    if len(bins) > 1 and bins[-1][0] < 10:
        last = bins.pop()
        bins[-1][0] += last[0]
        bins[-1][1] += last[1]
    chi2 = sum((o - x) ** 2 / x for x, o in bins)
    return chi2, len(bins) - 1


def _chi2_999(dof: int) -> float:
    """99.9% quantile of chi-square (Wilson-Hilferty)."""
    return dof * (1 - 2 / (9 * dof) + 3.090232 * (2 / (9 * dof)) ** 0.5) ** 3


def _gaussian_problem(edges: list[tuple[int, int]], n: int, seed: int) -> anneal.IsingProblem:
    # Continuous couplings and fields: no zero-energy moves, whose certain acceptance makes sequential
    # sweeps periodic on symmetric instances.
    rng = np.random.default_rng(seed)
    return anneal.IsingProblem(h=0.2 * rng.normal(size=n), J={e: float(rng.normal()) for e in edges})


@pytest.mark.parametrize(
    "edges",
    [
        [(i, (i + 1) % 10) for i in range(10)],  # a ring: sparse, one thread per chain
        [(i, j) for i in range(8) for j in range(i + 1, 8)],  # complete: dense, one block per chain
    ],
    ids=["ring", "complete"],
)
def test_sa_on_device_samples_boltzmann_like_the_cpu(edges: list[tuple[int, int]]) -> None:
    problem = _gaussian_problem(edges, max(max(e) for e in edges) + 1, seed=3)
    beta = 0.6
    levels = _exact_levels(problem, beta)
    for device in ("cpu", "cuda"):
        s = anneal.simulated_annealing(
            problem, num_reads=3000, schedule="custom", beta_schedule=np.full(25, beta), seed=1, device=device
        )
        assert (s.info["device"] == "cpu") == (device == "cpu")
        chi2, dof = _chi2(levels, s)
        assert chi2 < _chi2_999(dof), (device, chi2, dof)
        # Control: the same samples are rejected as draws at twice the temperature.
        wrong, wrong_dof = _chi2(_exact_levels(problem, beta / 2), s)
        assert wrong > _chi2_999(wrong_dof), (device, wrong, wrong_dof)


def test_sa_and_pt_on_device_reach_the_cpu_ground_state() -> None:
    problem = anneal.sherrington_kirkpatrick(18, seed=5)
    cpu = anneal.simulated_annealing(problem, num_reads=32, num_sweeps=500, seed=2, device="cpu")
    dev = anneal.simulated_annealing(problem, num_reads=32, num_sweeps=500, seed=2, device="cuda")
    assert dev.info["device"] != "cpu"
    assert dev.best[1] == pytest.approx(cpu.best[1], abs=1e-9)
    again = anneal.simulated_annealing(problem, num_reads=32, num_sweeps=500, seed=2, device="cuda")
    np.testing.assert_array_equal(again.states, dev.states)
    pt = anneal.replica_exchange(
        problem, num_replicas=8, num_sweeps=300, num_reads=4, keep="best", seed=3, device="cuda"
    )
    assert pt.best[1] == pytest.approx(cpu.best[1], abs=1e-9)
    assert len(pt.info["swap_acceptance"]) == 7


def test_cpu_only_options_say_so_on_the_device_and_auto_stays_on_the_cpu() -> None:
    problem = anneal.sherrington_kirkpatrick(300, seed=1)
    with pytest.raises(tc.InvalidInputError, match="schedule"):
        anneal.simulated_annealing(problem, num_reads=2, num_sweeps=5, schedule="adaptive", device="cuda")
    s = anneal.simulated_annealing(problem, num_reads=256, num_sweeps=2, schedule="adaptive", device="auto")
    assert s.info["device"] == "cpu"


# Logit gap between the CPU's two most likely tokens above which both devices must pick the same token:
# the quantized products' rounding moves logits by up to ~1 on these models (as between the CPU's own AVX2 and
# portable kernels), but the top of the distribution by far less.
CLEAR_GAP = 0.5


# The host emulator runs every kernel on CPU fibers: a model of this size or more (Qwen2.5-Coder-1.5B,
# 1.1 GB) did not finish in 10 minutes there on 2 cores, so only a real device checks it.
EMULATOR_MAX_BYTES = 600_000_000


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_model_forward_matches_cpu(name: str) -> None:
    if os.environ.get("THERMOCONSENSUS_CUDA_EMULATOR") == "1" and (
        models.MODELS[name].size_bytes >= EMULATOR_MAX_BYTES
    ):
        pytest.skip(
            f"{name} is too large for the host emulator (unfinished after 10 minutes); it runs on a real GPU"
        )
    try:
        path = models.path(name, quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(str(exc))
    cpu = llm.Model.load(path, device="cpu")
    dev = llm.Model.load(path, device="cuda")
    assert dev.config["device"] != "cpu"
    prompt = cpu._native.tokenize("1, 2, 3, 4, 5, 6,", True, False)
    cont = cpu._native.greedy(prompt, 4, [])
    seq = prompt + cont
    lc = cpu._native.logits(seq).reshape(len(seq), -1)
    ld = dev._native.logits(seq).reshape(len(seq), -1)
    diff = np.abs(lc - ld).max(axis=1)
    assert diff.max() < 1.5, diff
    top2 = np.sort(lc, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > CLEAR_GAP
    np.testing.assert_array_equal(ld.argmax(axis=1)[clear], lc.argmax(axis=1)[clear])
    # Greedy decoding on the device, through its KV cache, up to the first near-tie of the CPU's choices.
    gaps = (top2[:, 1] - top2[:, 0])[len(prompt) - 1 : len(seq) - 1]
    n_clear = int(np.argmin(gaps > CLEAR_GAP)) if not (gaps > CLEAR_GAP).all() else len(cont)
    if n_clear:
        assert dev._native.greedy(prompt, n_clear, []) == cont[:n_clear]
    print(f"{name}: max |logit diff| {diff.max():.3f}, greedy agrees on {n_clear} clear steps")


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
def test_tiny_model_of_each_architecture_matches_cpu(arch: str, tmp_path: Path) -> None:
    # Seven block types across the matrices, QKV biases (qwen2), QK norms, post norms, sliding-window and
    # global layers and a tied output (gemma3): the whole forward pass, small enough to compare tightly.
    path = write_tiny_model(tmp_path / f"{arch}.gguf", arch, seed=1)
    cpu = llm.Model.load(path, device="cpu")
    dev = llm.Model.load(path, device="cuda")
    ids = [int(t) for t in np.random.default_rng(0).integers(0, 300, 12)]
    lc = cpu._native.logits(ids).reshape(len(ids), -1)
    ld = dev._native.logits(ids).reshape(len(ids), -1)
    # Summation order only: a wrong mask, rotation or norm moves these logits by whole units.
    assert np.abs(lc - ld).max() <= 1e-5 * np.abs(lc).max(), np.abs(lc - ld).max()
    hc = cpu._native.hidden(ids).reshape(len(ids), -1)
    hd = dev._native.hidden(ids).reshape(len(ids), -1)
    assert np.abs(hc - hd).max() <= 1e-5 * np.abs(hc).max()
    # Decoding through the device cache, one position at a time, gives the same tokens.
    assert dev._native.greedy(ids, 6, []) == cpu._native.greedy(ids, 6, [])


def test_internals_on_a_device_say_they_are_recorded_on_the_cpu(tmp_path: Path) -> None:
    dev = llm.Model.load(write_tiny_model(tmp_path / "t.gguf", "llama", seed=1), device="cuda")
    with pytest.raises(tc.GpuError, match="CPU only"):
        dev.internals([1, 2, 3], hidden_layers=[0])
    # Beam search and contrastive decoding run on the device model like any pass.
    cpu = llm.Model.load(tmp_path / "t.gguf", device="cpu")
    assert [h.token_ids for h in dev.beam_search([1, 2, 3], beams=2, max_tokens=3)] == [
        h.token_ids for h in cpu.beam_search([1, 2, 3], beams=2, max_tokens=3)
    ]


def test_batched_and_forked_decoding_on_the_device_match_the_cpu() -> None:
    # On a device the batch runs its sequences one after another, a fork copies the device cache and the
    # prefix cache copies a stored prompt's device keys and values.
    try:
        path = models.path("smollm2-135m", quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(str(exc))
    cpu = llm.Model.load(path, device="cpu")
    dev = llm.Model.load(path, device="cuda")
    prompts = ["1, 2, 3, 4,"]  # one prompt, two forks: the emulator is slow
    kw = dict(n=2, max_tokens=2, temperature=0.0)
    dev.set_prefix_cache(16, min_tokens=2)  # the first call stores the prompt, the second reuses it
    got = [g.token_ids for g in dev.generate_batch(prompts, **kw)]  # type: ignore[arg-type]
    assert got == [g.token_ids for g in cpu.generate_batch(prompts, **kw)]  # type: ignore[arg-type]
    again = dev.generate_batch(prompts, n=1, max_tokens=2, temperature=0.0)
    assert again[0].reused_prefix == len(again[0].prompt_ids) - 1 and [again[0].token_ids] == got[:1]


def test_cli_runs_the_annealers_on_the_device() -> None:
    args = "anneal --sk 32 --sampler all --reads 4 --sweeps 20 --replicas 4 --device cuda".split()
    proc = subprocess.run(
        [sys.executable, "-m", "thermoconsensus", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    name = tc.devices()[0]["name"]
    assert f"simulated annealing (geometric, 4 reads x 20 sweeps) on {name}" in proc.stdout
    assert f"replica exchange (4 replicas, 4 reads x 20 sweeps) on {name}" in proc.stdout
