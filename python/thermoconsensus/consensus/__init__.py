"""The thermodynamic consensus: several LLMs' answers weighed as the free-energy minimum of an
information Hamiltonian.

``clients -> responses -> embedder -> distances -> Hamiltonian (J, h, T) -> annealer -> weights ->
answer (+ trace)``. Each arrow is a function here that can be called on its own:
:func:`cosine_distances` / :func:`answer_distances`, :func:`fields` and :class:`Hamiltonian`,
:func:`anneal`, :func:`select`; :class:`Orchestrator` runs them all over live clients.

>>> from thermoconsensus.clients import LocalClient
>>> from thermoconsensus.consensus import Orchestrator
>>> orch = Orchestrator([LocalClient("smollm2-135m"), LocalClient("qwen2.5-coder-0.5b")])
>>> c = orch.consensus_sync("What is 7 * 6?", answer_extractor="number")
>>> c.extracted_answer, c.free_energy, c.weights_per_model
"""

from __future__ import annotations

from .causal import adoption_graph
from .confidence import ConfidenceCalibrator, answer_logprob, mean_logprob
from .config import ConsensusConfig
from .distances import answer_distances, cosine_distances
from .extractors import (
    EXTRACTORS,
    INSTRUCTIONS,
    Extractor,
    extract_number,
    extract_option,
    extract_yesno,
    resolve_extractor,
)
from .gather import QuorumError
from .hamiltonian import Hamiltonian, fields
from .orchestrator import Orchestrator
from .privacy import GaussianMechanism, PrivacyAccountant, RDPAccountant
from .reliability import (
    DawidSkeneResult,
    ReliabilityState,
    agreement_reliability,
    dawid_skene,
)
from .solve import Selection, Solution, anneal, geometric_schedule, select, weighted_medoid, weighted_vote
from .types import Consensus, Refinement, Response, Round
from .validity import Validity, assess

__all__ = [
    "EXTRACTORS",
    "INSTRUCTIONS",
    "ConfidenceCalibrator",
    "Consensus",
    "ConsensusConfig",
    "DawidSkeneResult",
    "Extractor",
    "GaussianMechanism",
    "Hamiltonian",
    "Orchestrator",
    "PrivacyAccountant",
    "QuorumError",
    "RDPAccountant",
    "Refinement",
    "ReliabilityState",
    "Response",
    "Round",
    "Selection",
    "Solution",
    "Validity",
    "adoption_graph",
    "agreement_reliability",
    "anneal",
    "answer_distances",
    "answer_logprob",
    "assess",
    "cosine_distances",
    "dawid_skene",
    "extract_number",
    "extract_option",
    "extract_yesno",
    "fields",
    "geometric_schedule",
    "mean_logprob",
    "resolve_extractor",
    "select",
    "weighted_medoid",
    "weighted_vote",
]
