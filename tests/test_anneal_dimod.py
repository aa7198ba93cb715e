"""dimod interoperability of the annealers: labelled variables, BinaryQuadraticModels in, dimod-style
SampleSet conveniences and conversion, and the dimod.Sampler classes, checked against dimod's own
energies and its ExactSolver."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

from thermoconsensus import anneal as an

dimod = pytest.importorskip("dimod")
samplers = pytest.importorskip("thermoconsensus.samplers")


def labelled_bqm(vartype: str) -> dimod.BinaryQuadraticModel:
    return dimod.BinaryQuadraticModel(
        {"a": 0.5, ("t", 1): -1.0, 7: 0.25, "z": -0.2},
        {("a", ("t", 1)): 1.0, (("t", 1), 7): -0.75, ("a", "z"): 0.5},
        0.3,
        vartype,
    )


def all_states(n: int, vartype: str) -> np.ndarray:
    values = [0, 1] if vartype == "BINARY" else [-1, 1]
    return np.array(list(itertools.product(values, repeat=n)), dtype=np.int8)


def test_string_labels_number_variables_in_order_of_appearance() -> None:
    p = an.IsingProblem({"x": 1.0}, {("y", "x"): -2.0, ("y", "z"): 0.5, ("x", "y"): 1.0})
    assert p.variables == ["x", "y", "z"]
    # (y, x) and (x, y) add up, as for integer keys.
    assert p.J == {(0, 1): -1.0, (1, 2): 0.5}
    bqm = dimod.BinaryQuadraticModel({"x": 1.0}, {("y", "x"): -1.0, ("y", "z"): 0.5}, 0.0, "SPIN")
    states = all_states(3, "SPIN")
    want = bqm.energies((states, ["x", "y", "z"]))
    np.testing.assert_allclose(p.energy(states), want, atol=1e-12)


def test_labelled_qubo_keeps_its_labels_and_energies() -> None:
    q = {("u", "u"): -1.0, ("u", "v"): 2.0, ("v", "w"): -0.5}
    p = an.IsingProblem.from_qubo(q, 0.25)
    assert p.variables == ["u", "v", "w"] and p.vartype == "BINARY"
    bqm = dimod.BinaryQuadraticModel.from_qubo(q, 0.25)
    states = all_states(3, "BINARY")
    np.testing.assert_allclose(p.energy(states), bqm.energies((states, p.variables)), atol=1e-12)


@pytest.mark.parametrize("vartype", ["SPIN", "BINARY"])
def test_bqm_round_trip_keeps_labels_vartype_and_energies(vartype: str) -> None:
    bqm = labelled_bqm(vartype)
    p = an.IsingProblem.from_bqm(bqm)
    assert p.variables == list(bqm.variables) and p.vartype == vartype
    states = all_states(len(bqm), vartype)
    np.testing.assert_allclose(p.energy(states), bqm.energies((states, p.variables)), atol=1e-12)
    back = p.to_bqm()
    assert back.vartype is bqm.vartype and list(back.variables) == list(bqm.variables)
    assert back.is_almost_equal(bqm, places=12)


@pytest.mark.parametrize("vartype", ["SPIN", "BINARY"])
def test_samplers_take_a_bqm_and_find_the_exact_ground_state(vartype: str) -> None:
    bqm = labelled_bqm(vartype)
    exact = dimod.ExactSolver().sample(bqm).first
    runs = [
        an.simulated_annealing(bqm, num_reads=20, num_sweeps=200, seed=1),
        an.replica_exchange(bqm, num_replicas=4, num_sweeps=200, seed=1, keep="best"),
        an.path_integral_annealing(bqm, num_reads=4, num_sweeps=200, trotter_slices=4, seed=1),
    ]
    for ss in runs:
        assert ss.vartype == vartype and ss.labels == list(bqm.variables)
        assert ss.first.sample == exact.sample
        assert ss.first.energy == pytest.approx(exact.energy)
        # Every returned energy is dimod's energy of that labelled state.
        np.testing.assert_allclose(ss.energies, bqm.energies((ss.states, ss.labels)), atol=1e-12)


def test_sampleset_conveniences_follow_dimod() -> None:
    bqm = labelled_bqm("SPIN")
    ss = an.simulated_annealing(bqm, num_reads=30, num_sweeps=5, beta_range=(0.01, 0.05), seed=2)
    assert ss.num_occurrences.dtype == np.int64
    np.testing.assert_array_equal(np.repeat(ss.energies, ss.num_occurrences).shape, (30,))
    rec = ss.record
    assert rec.dtype.names == ("sample", "energy", "num_occurrences")
    np.testing.assert_array_equal(rec.sample, ss.states)
    np.testing.assert_array_equal(rec.num_occurrences, ss.num_occurrences)
    rows = list(ss.data())
    assert len(rows) == len(ss) and rows[0] == ss.first
    assert [r.energy for r in rows] == sorted(r.energy for r in rows)
    top = list(ss.data(fields=["energy"], reverse=True))
    assert top[0].energy == max(ss.energies) and top[0]._fields == ("energy",)
    raw = next(ss.data(sample_dict_cast=False, sorted_by=None))
    np.testing.assert_array_equal(raw.sample, ss.states[0])
    by_count = [r.num_occurrences for r in ss.data(sorted_by="num_occurrences")]
    assert by_count == sorted(by_count)
    assert ss.samples()[0] == ss.first.sample
    with pytest.raises(ValueError, match="fields"):
        list(ss.data(fields=["bogus"]))
    with pytest.raises(ValueError, match="sorted_by"):
        list(ss.data(sorted_by="sample"))


def test_to_dimod_carries_rows_labels_and_info() -> None:
    bqm = labelled_bqm("BINARY")
    ss = an.simulated_annealing(bqm, num_reads=12, num_sweeps=5, beta_range=(0.01, 0.05), seed=3)
    d = ss.to_dimod()
    assert isinstance(d, dimod.SampleSet) and d.vartype is dimod.BINARY
    assert list(d.variables) == list(bqm.variables)
    np.testing.assert_array_equal(d.record.sample, ss.states)
    np.testing.assert_allclose(d.record.energy, ss.energies)
    np.testing.assert_array_equal(d.record.num_occurrences, ss.num_occurrences)
    assert d.info["seed"] == 3
    np.testing.assert_allclose(d.record.energy, bqm.energies(d))


@pytest.mark.parametrize(
    "cls",
    [
        samplers.SimulatedAnnealingSampler,
        samplers.ReplicaExchangeSampler,
        samplers.PathIntegralAnnealingSampler,
    ],
)
def test_dimod_samplers_drop_into_ocean_code(cls: type) -> None:
    sampler = cls()
    assert isinstance(sampler, dimod.Sampler)
    assert "num_sweeps" in sampler.parameters and "seed" in sampler.parameters
    h, J = {"a": 0.5, "b": 0.25}, {("a", "b"): -1.0, ("b", "c"): 0.75}
    spin = sampler.sample_ising(h, J, num_sweeps=200, seed=4)
    exact = dimod.ExactSolver().sample_ising(h, J).first
    assert spin.first.sample == exact.sample and spin.vartype is dimod.SPIN
    q = {(0, 0): -1.0, (1, 1): -1.0, (0, 1): 2.0, (1, 2): -0.5}
    binary = sampler.sample_qubo(q, num_sweeps=200, seed=4)
    assert binary.first.energy == pytest.approx(dimod.ExactSolver().sample_qubo(q).first.energy)
    # Composites wrap it like any Ocean sampler.
    tracked = dimod.TrackingComposite(sampler)
    tracked.sample_ising(h, J, num_sweeps=50, seed=1)
    assert tracked.input["num_sweeps"] == 50
    with pytest.raises(TypeError, match="unknown parameters"):
        sampler.sample_ising(h, J, num_sweep=10)


def test_without_dimod_conversion_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    ss = an.simulated_annealing(an.IsingProblem({"a": 1.0}), num_reads=2, num_sweeps=5, seed=1)
    monkeypatch.setitem(sys.modules, "dimod", None)
    with pytest.raises(ImportError, match=r"thermoconsensus\[dimod\]"):
        ss.to_dimod()


def test_bad_labelled_inputs_name_the_problem() -> None:
    with pytest.raises(TypeError, match="labelled"):
        an.IsingProblem(np.zeros(2), {("a", "b"): 1.0})
    with pytest.raises(ValueError, match="num_variables"):
        an.IsingProblem({"a": 1.0}, num_variables=3)
    with pytest.raises(TypeError, match="BinaryQuadraticModel"):
        an.IsingProblem.from_bqm({"a": 1.0})
    with pytest.raises(ValueError, match="no variables"):
        an.IsingProblem.from_bqm(dimod.BinaryQuadraticModel("SPIN"))
