"""The annealing API: problem construction conventions, samplers end to end, free energy, diagnostics,
and clear errors on bad input. The numerics are tested in depth in rust/anneal/tests; here the Python
layer is checked against brute force on small problems."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import thermoconsensus as tc
from thermoconsensus import anneal as an


def all_spin_states(n: int) -> np.ndarray:
    return np.array(list(itertools.product([-1, 1], repeat=n)), dtype=np.int8)


def naive_energy(h: np.ndarray, jd: dict[tuple[int, int], float], offset: float, s: np.ndarray) -> float:
    return offset + float(h @ s) + sum(v * s[i] * s[j] for (i, j), v in jd.items())


def random_problem(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    h = rng.normal(0, 0.3, n)
    j = np.triu(rng.normal(0, 1, (n, n)), 1)
    return h, j


# ---------------------------------------------------------------- problem conventions


def test_dict_pairs_add_once_per_listed_pair() -> None:
    p = an.IsingProblem({0: 0.5}, {(0, 1): 1.0, (1, 0): 0.5, (1, 2): -2.0})
    assert p.num_variables == 3
    assert p.J == {(0, 1): 1.5, (1, 2): -2.0}
    np.testing.assert_array_equal(p.h, [0.5, 0.0, 0.0])


def test_dense_matrix_adds_both_triangles_and_diagonal_goes_to_offset() -> None:
    m = np.array([[3.0, 1.0, 0.0], [0.5, 0.0, 2.0], [0.0, 0.0, 0.0]])
    p = an.IsingProblem(np.zeros(3), m)
    assert p.J == {(0, 1): 1.5, (1, 2): 2.0}
    assert p.offset == 3.0
    upper = an.IsingProblem(None, np.triu(m, 1))
    assert upper.J == {(0, 1): 1.0, (1, 2): 2.0}


def test_sparse_and_dense_and_dict_agree(rng: np.random.Generator) -> None:
    h, j = random_problem(rng, 6)
    a = an.IsingProblem(h, j)
    b = an.IsingProblem(h, sp.csr_matrix(j))
    c = an.IsingProblem(h, {(int(i), int(k)): float(j[i, k]) for i, k in zip(*np.nonzero(j))})
    states = all_spin_states(6)
    np.testing.assert_allclose(a.energy(states), b.energy(states), atol=1e-12)
    np.testing.assert_allclose(a.energy(states), c.energy(states), atol=1e-12)


@given(st.integers(2, 7), st.integers(0, 2**32 - 1))
def test_energy_matches_the_definition(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, j = random_problem(rng, n)
    off = float(rng.normal())
    p = an.IsingProblem(h, j, off)
    jd = {(i, k): j[i, k] for i in range(n) for k in range(i + 1, n)}
    states = all_spin_states(n)
    want = [naive_energy(h, jd, off, s) for s in states]
    np.testing.assert_allclose(p.energy(states), want, atol=1e-9)
    assert p.energy(states[3]) == pytest.approx(want[3], abs=1e-9)


@given(st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_ising_qubo_round_trip_keeps_energies(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, j = random_problem(rng, n)
    p = an.IsingProblem(h, j, 0.25)
    q, off = p.to_qubo()
    assert all(i <= k for i, k in q)
    back = an.IsingProblem.from_qubo(q, off)
    assert back.vartype == "BINARY"
    spins = all_spin_states(n)
    binary = (spins + 1) // 2
    qubo_e = [off + sum(v * x[i] * x[k] for (i, k), v in q.items()) for x in binary]
    np.testing.assert_allclose(p.energy(spins), qubo_e, atol=1e-9)
    np.testing.assert_allclose(back.energy(binary), qubo_e, atol=1e-9)
    np.testing.assert_allclose(back.spin().energy(spins), qubo_e, atol=1e-9)


def test_qubo_problem_samples_binary_states() -> None:
    q = {(0, 0): -1.0, (1, 1): -1.0, (0, 1): 2.0, (2, 2): 1.0}
    p = an.IsingProblem.from_qubo(q)
    ss = an.simulated_annealing(p, num_reads=20, num_sweeps=200, seed=1)
    assert set(np.unique(ss.states)) <= {0, 1}
    state, e = ss.best
    assert e == pytest.approx(-1.0)
    assert state[2] == 0 and state[0] + state[1] == 1
    assert p.energy(state) == pytest.approx(e)


# ---------------------------------------------------------------- samplers


def brute_force_ground(p: an.IsingProblem) -> float:
    return float(p.energy(all_spin_states(p.num_variables)).min())


@pytest.mark.parametrize("sampler", ["sa", "pimc", "pt"])
def test_samplers_find_the_exact_ground_state(sampler: str, rng: np.random.Generator) -> None:
    h, j = random_problem(rng, 12)
    p = an.IsingProblem(h, j)
    exact = brute_force_ground(p)
    if sampler == "sa":
        ss = an.simulated_annealing(p, num_reads=20, num_sweeps=300, seed=1)
    elif sampler == "pimc":
        ss = an.path_integral_annealing(p, num_reads=10, num_sweeps=300, trotter_slices=8, seed=1)
    else:
        ss = an.replica_exchange(p, num_replicas=8, num_sweeps=300, seed=1, num_reads=2, keep="best")
    state, e = ss.best
    assert e == pytest.approx(exact, abs=1e-9)
    assert p.energy(state) == pytest.approx(e, abs=1e-9)
    assert ss.states.dtype == np.int8 and ss.states.shape[1] == 12
    assert np.all(np.diff(ss.energies) >= 0)
    assert ss.num_reads == {"sa": 20, "pimc": 10, "pt": 2}[sampler]
    assert len(ss) == ss.energies.shape[0]


@pytest.mark.parametrize("schedule", ["geometric", "linear", "logarithmic", "adaptive", "langevin"])
def test_every_schedule_runs_and_reports(schedule: str) -> None:
    p = an.random_regular(60, 3, seed=2)
    ss = an.simulated_annealing(p, num_reads=4, num_sweeps=100, schedule=schedule, seed=3, trace_every=10)
    assert ss.info["trace"].shape == (4, 10)
    assert 0 < ss.info["acceptance_rate"] < 1
    assert ss.info["flip_attempts"] == 4 * 100 * 60
    assert ss.info["final_betas"].shape == (4,)
    assert ss.info["seed"] == 3


def test_custom_schedule_sets_the_sweeps() -> None:
    p = an.random_regular(20, 3, seed=1)
    ss = an.simulated_annealing(
        p, num_reads=2, schedule="custom", beta_schedule=np.linspace(0.1, 3, 50), seed=1
    )
    assert ss.info["flip_attempts"] == 2 * 50 * 20
    with pytest.raises(tc.InvalidInputError, match="num_sweeps"):
        an.simulated_annealing(p, num_sweeps=10, schedule="custom", beta_schedule=[1.0, 2.0])
    with pytest.raises(ValueError, match="beta_schedule"):
        an.simulated_annealing(p, schedule="custom")
    with pytest.raises(ValueError, match="beta_schedule"):
        an.simulated_annealing(p, schedule="custom", beta_schedule=[1.0, -2.0])


def test_results_do_not_depend_on_threads_and_seed_is_recorded() -> None:
    p = an.sherrington_kirkpatrick(64, seed=4)
    one = an.replica_exchange(p, num_replicas=6, num_sweeps=50, seed=7, num_reads=3, n_threads=1)
    two = an.replica_exchange(p, num_replicas=6, num_sweeps=50, seed=7, num_reads=3, n_threads=2)
    np.testing.assert_array_equal(one.states, two.states)
    np.testing.assert_array_equal(one.info["swap_acceptance"], two.info["swap_acceptance"])
    a = an.simulated_annealing(p, num_reads=3, num_sweeps=50)
    b = an.simulated_annealing(p, num_reads=3, num_sweeps=50, seed=a.info["seed"])
    np.testing.assert_array_equal(a.states, b.states)


def test_replica_exchange_reports_its_ladder() -> None:
    p = an.sherrington_kirkpatrick(32, seed=1)
    ss = an.replica_exchange(p, num_replicas=8, num_sweeps=400, adaptive=True, seed=2)
    betas = ss.info["betas"]
    assert betas.shape == (8,) and np.all(np.diff(betas) > 0)
    lo, hi = p.default_beta_range()
    assert betas[0] == pytest.approx(lo) and betas[-1] == pytest.approx(hi)
    assert ss.info["swap_acceptance"].shape == (7,)
    assert ss.info["round_trips"] >= 0


def test_planted_instance_is_solved() -> None:
    p, hidden, ground = an.planted_frustrated_loops(100, 60, 6, seed=3)
    assert p.energy(hidden) == pytest.approx(ground)
    ss = an.simulated_annealing(p, num_reads=10, num_sweeps=1500, seed=1)
    assert ss.best[1] == pytest.approx(ground)


def test_progress_callback_sees_every_sweep() -> None:
    seen: list[tuple[int, int]] = []
    p = an.random_regular(200, 3, seed=1)
    an.simulated_annealing(p, num_reads=2, num_sweeps=500, seed=1, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (1000, 1000)


def test_progress_callback_error_stops_the_run() -> None:
    p = an.sherrington_kirkpatrick(300, seed=1)

    def boom(done: int, total: int) -> None:
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        an.simulated_annealing(p, num_reads=2, num_sweeps=100_000, seed=1, progress=boom)


# ---------------------------------------------------------------- free energy and diagnostics


def test_free_energy_matches_a_fine_grid() -> None:
    d = np.array([[0.0, 0.2, 0.8], [0.2, 0.0, 0.7], [0.8, 0.7, 0.0]])
    h = np.array([0.05, -0.02, 0.0])
    t = 0.15
    r = an.minimize_free_energy(1.0, d, h, temperature=t, seed=1)
    g = np.linspace(0, 1, 801)
    a, b = np.meshgrid(g, g)
    c = 1 - a - b
    ok = c >= 0
    s = np.stack([a[ok], b[ok], c[ok]], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(s > 0, s * np.log(s), 0).sum(axis=1)
    f = np.einsum("ni,ij,nj->n", s, d, s) + s @ h - t * ent
    assert r.free_energy <= f.min() + 1e-12
    assert r.free_energy > f.min() - 1e-3
    assert r.weights.sum() == pytest.approx(1.0)
    assert r.converged
    assert r.energy - t * r.entropy == pytest.approx(r.free_energy)
    assert 1.0 <= r.effective_number <= 3.0


def test_free_energy_accepts_a_coupling_matrix() -> None:
    d = np.ones((4, 4)) - np.eye(4)
    jm = np.full((4, 4), 2.0)
    a = an.minimize_free_energy(jm, d, temperature=0.3, seed=1)
    b = an.minimize_free_energy(2.0, d, temperature=0.3, seed=1)
    np.testing.assert_allclose(a.weights, b.weights)


def test_diagnostics() -> None:
    rng = np.random.default_rng(0)
    mixed = rng.normal(size=(4, 1000))
    assert an.gelman_rubin(mixed) == pytest.approx(1.0, abs=0.01)
    assert an.gelman_rubin(mixed + np.arange(4)[:, None] * 3) > 2
    assert an.effective_sample_size(mixed) == pytest.approx(4000, rel=0.1)
    p = an.sherrington_kirkpatrick(16, seed=1)
    ss = an.simulated_annealing(
        p,
        num_reads=4,
        num_sweeps=200,
        schedule="custom",
        beta_schedule=np.full(200, 0.3),
        trace_every=1,
        seed=2,
    )
    assert an.gelman_rubin(ss.info["trace"][:, 100:]) < 1.2


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: an.IsingProblem(np.zeros(3), np.zeros((3, 2))), "square"),
        (lambda: an.IsingProblem(np.zeros(2), np.array([[0, np.nan], [0, 0]])), "not finite"),
        (lambda: an.IsingProblem(np.array([np.nan, 0.0]), None), "not finite"),
        (lambda: an.IsingProblem(np.zeros(2), np.zeros((3, 3))), "h has 2 entries"),
        (lambda: an.IsingProblem(), "no variables"),
        (lambda: an.IsingProblem(np.zeros(0)), "no variables"),
        (lambda: an.IsingProblem(np.zeros((2, 2))), "1-D"),
        (lambda: an.IsingProblem(None, {(0, -1): 1.0}), ">= 0"),
        (lambda: an.IsingProblem.from_qubo({}), "no variables"),
        (lambda: an.IsingProblem(np.zeros(2), None, float("inf")), "finite"),
    ],
)
def test_bad_problems_raise_value_errors(make, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_types_raise_type_errors() -> None:
    with pytest.raises(TypeError, match="labelled"):
        an.IsingProblem(np.zeros(2), {("a", "b"): 1.0})  # labels need h as a dict too
    with pytest.raises(TypeError):
        an.IsingProblem(None, {(0, 1): "x"})
    with pytest.raises(TypeError):
        an.IsingProblem(["a", "b"])
    p = an.IsingProblem(np.zeros(2))
    with pytest.raises(TypeError):
        an.simulated_annealing(p, num_reads=True)
    with pytest.raises(TypeError):
        an.simulated_annealing("not a problem")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        an.simulated_annealing(p, beta_range=1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: an.simulated_annealing(p, num_reads=0), "num_reads"),
        (lambda p: an.simulated_annealing(p, num_sweeps=0), "num_sweeps"),
        (lambda p: an.simulated_annealing(p, beta_range=(0.0, 1.0)), "beta_range"),
        (lambda p: an.simulated_annealing(p, beta_range=(-1.0, 1.0)), "beta_range"),
        (lambda p: an.simulated_annealing(p, beta_range=(2.0, 1.0)), "beta_range"),
        (lambda p: an.simulated_annealing(p, schedule="cosine"), "schedule"),
        (lambda p: an.simulated_annealing(p, schedule="adaptive", acceptance_range=(0.5, 2.0)), "acceptance"),
        (lambda p: an.simulated_annealing(p, seed=-1), "seed"),
        (lambda p: an.simulated_annealing(p, n_threads=0), "n_threads"),
        (lambda p: an.path_integral_annealing(p, trotter_slices=1), "trotter_slices"),
        (lambda p: an.path_integral_annealing(p, beta=0.0), "beta"),
        (lambda p: an.path_integral_annealing(p, gamma_range=(1.0, 0.0)), "gamma_range"),
        (lambda p: an.replica_exchange(p, num_replicas=1), "num_replicas"),
        (lambda p: an.replica_exchange(p, keep="median"), "keep"),  # type: ignore[arg-type]
        (lambda p: an.minimize_free_energy(1.0, 1 - np.eye(2), max_iterations=0), "max_iterations"),
        (lambda p: an.minimize_free_energy(1.0, 1 - np.eye(2), tolerance=-1.0), "tolerance"),
        (lambda p: an.planted_frustrated_loops(10, 0), "loops"),
        (lambda p: an.planted_frustrated_loops(10, 2, loop_length=2), "loop_length"),
        (lambda p: an.sherrington_kirkpatrick(1), "n"),
        (lambda p: an.random_regular(4, degree=0), "degree"),
        (lambda p: p.energy(np.zeros((2, 3))), "spins"),
        (lambda p: p.energy(np.ones((2, 4))), "variables"),
    ],
)
def test_bad_sampler_arguments_raise_value_errors(call, match: str) -> None:  # type: ignore[no-untyped-def]
    p = an.IsingProblem(np.zeros(3), {(0, 1): 1.0})
    with pytest.raises(ValueError, match=match):
        call(p)


def test_bad_free_energy_inputs() -> None:
    d = np.zeros((3, 3))
    with pytest.raises(ValueError, match="square"):
        an.minimize_free_energy(1.0, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="h"):
        an.minimize_free_energy(1.0, d, h=np.zeros(2))
    with pytest.raises(ValueError, match="temperature"):
        an.minimize_free_energy(1.0, d, temperature=0.0)
    with pytest.raises(ValueError, match="not finite"):
        an.minimize_free_energy(1.0, np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="J"):
        an.minimize_free_energy(np.ones((2, 2)), d)
    with pytest.raises(ValueError, match="chains"):
        an.gelman_rubin(np.ones((1, 10)))


# ---------------------------------------------------------------- command line


def test_cli_solves_a_planted_instance(capsys: pytest.CaptureFixture[str]) -> None:
    from thermoconsensus.cli import main

    assert main(["anneal", "--planted", "120", "--reads", "4", "--sweeps", "500", "--replicas", "8"]) == 0
    out = capsys.readouterr().out
    assert out.count("= ground") == 3, out


def test_cli_reads_a_qubo_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from thermoconsensus.cli import main

    f = tmp_path / "q.json"
    f.write_text(json.dumps({"Q": [[0, 0, -1], [1, 1, -1], [0, 1, 2]], "offset": 0.5}))
    assert main(["anneal", "--problem", str(f), "--sampler", "sa", "--reads", "8", "--sweeps", "100"]) == 0
    assert "best energy -0.5 in 8/8 reads" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        main(["anneal", "--problem", str(bad)])
