"""Plots of a consensus (skipped without matplotlib) and the CLI's refusal without models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from thermoconsensus import cli
from thermoconsensus.consensus import Consensus, Hamiltonian, Response, anneal, cosine_distances, select


def made_consensus() -> Consensus:
    e = np.array([[1.0, 0.0, 0.0], [0.99, 0.1, 0.0], [0.0, 1.0, 0.0]])
    d = cosine_distances(e)
    h = np.zeros(3)
    sol = anneal(Hamiltonian(d, h), 0.1)
    sel = select(d, sol.weights)
    responses = [Response("a", "Paris"), Response("b", "Paris."), Response("c", "Rome")]
    return Consensus(
        prompt="Capital?",
        answer=responses[sel.index].text,
        extracted_answer=None,
        selected=sel.index,
        responses=responses,
        weights=sol.weights,
        free_energy=sol.free_energy,
        energy=sol.energy,
        entropy=sol.entropy,
        temperature=sol.temperature,
        answer_weight=sel.answer_weight,
        distances=d,
        h=h,
    )


def test_free_energy_curve_falls_with_temperature() -> None:
    from thermoconsensus.consensus.plots import free_energy_curve

    curve = free_energy_curve(made_consensus(), [0.01, 0.1, 1.0, 10.0])
    f = curve["free_energy"]
    assert all(b < a for a, b in zip(f, f[1:]))  # dF/dT = -S < 0
    assert curve["entropy"][-1] == pytest.approx(np.log(3), abs=1e-3)


def test_plots_are_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (the 'plot' extra)")
    from thermoconsensus.consensus.plots import plot_all

    paths = plot_all(made_consensus(), tmp_path / "c")
    assert [Path(p).name for p in paths] == ["c_weights.png", "c_distances.png", "c_free_energy.png"]
    assert all(Path(p).read_bytes()[:4] == b"\x89PNG" for p in paths)


def test_cli_consensus_needs_a_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["consensus", "hello"]) == 2
    assert "--local" in capsys.readouterr().err
