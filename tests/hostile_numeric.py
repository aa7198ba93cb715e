"""The hostile numeric calls of the robustness suite: each annealing and information-theory entry point with
one argument set to an absurd count, a wrong type or a non-finite value (the others small and valid), as
expressions for tests/hostile_runner.py. tests/test_hostile_numeric.py runs a sample; scripts/fuzz_hostile.py
runs 1,000."""

from __future__ import annotations

import numpy as np

# Values that must be refused or handled for a count argument. None may start a long run: counts below the
# work limit (2^44 spin updates for annealing) are legitimate and may run for minutes, interruptibly.
HOSTILE_COUNTS = [
    "0",
    "-1",
    "2**45",
    "2**40",
    "2**62",
    "2**63 - 1",
    "2**64",
    "1.5",
    "float('nan')",
    "True",
    "None",
    "'3'",
]
HOSTILE_SCALES = ["0.0", "1e150", "1e-300", "1e308", "-1e308", "float('inf')", "float('nan')"]
HOSTILE_REALS = [
    "0.0",
    "-1.0",
    "float('nan')",
    "float('inf')",
    "1e308",
    "-1e308",
    "1e-320",
    "True",
    "None",
    "'x'",
]

_P = "anneal.sherrington_kirkpatrick(8, seed=1)"
_K = "1 - np.eye(3)"
_X = "np.random.default_rng(0).standard_normal(200)"
_Y = "np.random.default_rng(1).standard_normal(200)"
_Z = "np.random.default_rng(2).standard_normal(200)"
_D = "np.random.default_rng(3).standard_normal((60, 3))"

# (call template with {v} for the hostile value, values to try)
TEMPLATES: list[tuple[str, list[str]]] = [
    (f"anneal.simulated_annealing({_P}, num_reads={{v}}, num_sweeps=10)", HOSTILE_COUNTS),
    (f"anneal.simulated_annealing({_P}, num_reads=2, num_sweeps={{v}})", HOSTILE_COUNTS),
    (f"anneal.simulated_annealing({_P}, num_reads=2, num_sweeps=10, trace_every={{v}})", HOSTILE_COUNTS),
    (f"anneal.simulated_annealing({_P}, num_reads=2, num_sweeps=10, seed={{v}})", HOSTILE_COUNTS),
    (f"anneal.simulated_annealing({_P}, num_reads=2, num_sweeps=10, beta_range=(0.1, {{v}}))", HOSTILE_REALS),
    (
        f"anneal.path_integral_annealing({_P}, num_reads=2, num_sweeps=10, trotter_slices={{v}})",
        HOSTILE_COUNTS,
    ),
    (f"anneal.path_integral_annealing({_P}, num_reads={{v}}, num_sweeps=10)", HOSTILE_COUNTS),
    (f"anneal.path_integral_annealing({_P}, num_reads=2, num_sweeps={{v}})", HOSTILE_COUNTS),
    (f"anneal.path_integral_annealing({_P}, num_reads=2, num_sweeps=10, beta={{v}})", HOSTILE_REALS),
    (f"anneal.replica_exchange({_P}, num_reads=2, num_sweeps=10, num_replicas={{v}})", HOSTILE_COUNTS),
    (f"anneal.replica_exchange({_P}, num_reads={{v}}, num_sweeps=10)", HOSTILE_COUNTS),
    (f"anneal.replica_exchange({_P}, num_reads=2, num_sweeps={{v}})", HOSTILE_COUNTS),
    (f"anneal.minimize_free_energy(1.0, {_K}, chains={{v}}, langevin_steps=10)", HOSTILE_COUNTS),
    (f"anneal.minimize_free_energy(1.0, {_K}, chains=2, langevin_steps={{v}})", HOSTILE_COUNTS),
    (f"anneal.minimize_free_energy(1.0, {_K}, chains=2, max_iterations={{v}})", HOSTILE_COUNTS),
    (f"anneal.minimize_free_energy(1.0, {_K}, chains=2, temperature={{v}})", HOSTILE_REALS),
    ("anneal.minimize_free_energy({v}, 1 - np.eye(3), chains=2)", HOSTILE_REALS),
    ("anneal.sherrington_kirkpatrick({v})", HOSTILE_COUNTS),
    ("anneal.random_regular({v}, 3)", HOSTILE_COUNTS),
    ("anneal.random_regular(10, {v})", HOSTILE_COUNTS),
    ("anneal.planted_frustrated_loops(10, {v})", HOSTILE_COUNTS),
    ("anneal.planted_frustrated_loops({v}, 3)", HOSTILE_COUNTS),
    ("anneal.planted_frustrated_loops(10, 3, loop_length={v})", HOSTILE_COUNTS),
    (f"{_P}.energy([{{v}}] * 8)", HOSTILE_REALS),
    (f"info.mutual_information({_X}, {_Y}, k={{v}})", HOSTILE_COUNTS),
    (f"info.mutual_information({_X}, {_Y}, algorithm={{v}})", HOSTILE_COUNTS),
    (f"info.mutual_information({_X}, {_Y}, noise={{v}})", HOSTILE_REALS),
    (f"info.mutual_information({_X} * {{v}}, {_Y}, normalise=True)", HOSTILE_SCALES),
    (f"info.conditional_mutual_information({_X}, {_Y}, {_Z}, k={{v}})", HOSTILE_COUNTS),
    (f"info.transfer_entropy({_X}, {_Y}, k_history={{v}})", HOSTILE_COUNTS),
    (f"info.transfer_entropy({_X}, {_Y}, delay={{v}})", HOSTILE_COUNTS),
    (f"info.active_information_storage({_X}, k_history={{v}})", HOSTILE_COUNTS),
    (f"info.significance('mi', {_X}, {_Y}, n_surrogates={{v}})", HOSTILE_COUNTS),
    (f"info.te_network({_D}, n_surrogates={{v}})", HOSTILE_COUNTS),
    (f"info.te_network({_D}, n_surrogates=5, alpha={{v}})", HOSTILE_REALS),
    (f"info.mutual_information({_X}, {_Y}, n_threads={{v}})", HOSTILE_COUNTS),
]

# The cases issue 19 names, each with what must come back: (expression, exception name, text in message).
NAMED: list[tuple[str, str, str]] = [
    (f"anneal.path_integral_annealing({_P}, trotter_slices=2**40)", "InvalidInputError", "trotter_slices"),
    (f"anneal.replica_exchange({_P}, num_replicas=2**40)", "InvalidInputError", "num_replicas"),
    (f"anneal.minimize_free_energy(1.0, {_K}, chains=2**40)", "InvalidInputError", "chains"),
    (f"anneal.simulated_annealing({_P}, num_sweeps=2**40)", "InvalidInputError", "num_sweeps"),
    (f"anneal.simulated_annealing({_P}, num_reads=2**63 - 1)", "InvalidInputError", "num_reads"),
    (f"anneal.path_integral_annealing({_P}, trotter_slices=2**62)", "InvalidInputError", "trotter_slices"),
    (f"anneal.simulated_annealing({_P}, num_reads=2, num_sweeps=2**38)", "MemoryError", "num_sweeps"),
    ("anneal.sherrington_kirkpatrick(10**6)", "MemoryError", "n:"),
    ("anneal.sherrington_kirkpatrick(2**40)", "InvalidInputError", "n:"),
    ("anneal.random_regular(2**40, 3)", "InvalidInputError", "n:"),
    ("anneal.planted_frustrated_loops(10, 2**40)", "MemoryError", "loops"),
    (
        f"anneal.minimize_free_energy(1.0, {_K}, langevin_steps=2**62)",
        "InvalidInputError",
        "langevin_steps",
    ),
    ("anneal.minimize_free_energy(1e308, 1 - np.eye(3))", "InvalidInputError", "coupling"),
    ("anneal.sherrington_kirkpatrick(3).energy([True, True, True])", "TypeError", "booleans"),
    (f"info.te_network({_D}, n_surrogates=5, alpha=0)", "InvalidInputError", "alpha"),
    (f"info.significance('mi', {_X}, {_Y}, n_surrogates=2**62)", "InvalidInputError", "n_surrogates"),
    ("info.mutual_information(np.zeros(500), np.zeros(500))", "InvalidInputError", "heavily tied"),
    (
        f"info.mutual_information(np.repeat({_X}[:50], 10), np.repeat({_Y}[:50], 10))",
        "InvalidInputError",
        "heavily tied",
    ),
]


def sample_calls(n: int, seed: int = 0) -> list[str]:
    """`n` hostile calls: every template-value pair once (in a seeded order), then repeats."""
    calls = [t.format(v=v) for t, vals in TEMPLATES for v in vals]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(calls))
    out = [calls[i] for i in order]
    while len(out) < n:
        out += [calls[i] for i in rng.permutation(len(calls))]
    return out[:n]
