"""Routing: one request -> one endpoint, by keyword/regex rules, Thompson sampling over Beta
posteriors of quality, or a multi-factor energy with Boltzmann selection; with health checks,
fallback down the ranking and an ``llm_metadata`` trace exportable as JSON.
"""

from __future__ import annotations

from .config import load_router, parse_config
from .learning import BetaPosterior, Candidate, EnergyWeights, QualityModel, boltzmann, energies
from .router import STRATEGIES, AllEndpointsFailedError, Endpoint, RouteDecision, Router
from .rules import Rule, RuleMatch, match_rules
from .trace import CallRecord, LLMMetadata, RouteRecord

__all__ = [
    "STRATEGIES",
    "AllEndpointsFailedError",
    "BetaPosterior",
    "CallRecord",
    "Candidate",
    "Endpoint",
    "EnergyWeights",
    "LLMMetadata",
    "QualityModel",
    "RouteDecision",
    "RouteRecord",
    "Router",
    "Rule",
    "RuleMatch",
    "boltzmann",
    "energies",
    "load_router",
    "match_rules",
    "parse_config",
]
