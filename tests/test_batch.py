"""The batch consensus without Ray: a JSONL that a rerun resumes from (same results, no model asked again),
progress, partial results when some questions fail, and the embedding cache (each text embedded once)."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from thermoconsensus.batch import BatchError, EmbeddingCache
from thermoconsensus.clients import LLMResponse, TokenLogprob
from thermoconsensus.consensus import Orchestrator


class Model:
    """Answers (prompt hash + bias) mod 3; counts its calls; ``down`` prompts raise."""

    def __init__(self, name: str, bias: int, down: Sequence[str] = ()) -> None:
        self.name, self.bias, self.down = name, bias, set(down)
        self.calls = 0

    async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
        self.calls += 1
        text = prompt[-1]["content"]
        if any(d in text for d in self.down):
            raise ConnectionError(f"{self.name} is down")
        reply = f"The answer is {(zlib.crc32(text.encode()) + self.bias) % 3}."
        lps = [TokenLogprob(w + " ", -0.25 - 0.01 * self.bias) for w in reply.split()]
        return LLMResponse(text=reply, model=self.name, provider="mock", logprobs=lps, completion_tokens=4)


class CountingEmbedder:
    def __init__(self) -> None:
        self.texts = 0

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        out = np.full((len(texts), 16), 1e-3)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, zlib.crc32(w.encode()) % 16] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


PROMPTS = [f"What is {i} modulo 3?" for i in range(10)]


def run(
    models: list[Model], path: Path | None = None, cache: EmbeddingCache | None = None, **kw: Any
) -> list[Any]:
    orch = Orchestrator(models, embedder=CountingEmbedder(), embedding_cache=cache)
    return asyncio.run(orch.consensus_many(PROMPTS, "number", concurrency=3, results=path, **kw))


def summary(out: list[Any]) -> list[Any]:
    return [None if c is None else (c.answer, c.weights.tolist(), c.free_energy) for c in out]


def models(**kw: Any) -> list[Model]:
    return [Model("a", 0, **kw), Model("b", 0), Model("c", 1)]


def test_a_rerun_resumes_from_the_jsonl_without_asking_again(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    fresh = summary(run(models()))
    seen: list[tuple[int, int]] = []
    first_models = models()
    first = summary(run(first_models, path, progress=lambda d, t: seen.append((d, t))))
    assert first == fresh and seen[-1] == (10, 10) and len(seen) == 10
    assert sum(m.calls for m in first_models) == 30
    kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
    assert kinds.count("asked") == 10 and kinds.count("consensus") == 10
    # A run killed while writing leaves half a line: it is skipped.
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"kind": "asked", "key": "trunc')
    again_models = models()
    assert summary(run(again_models, path)) == fresh
    assert sum(m.calls for m in again_models) == 0


def test_failed_questions_leave_the_others_and_a_rerun_asks_only_them(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    broken = [Model("a", 0, down=["3 modulo"]), Model("b", 0, down=["3 modulo"]), Model("c", 1)]
    with pytest.raises(BatchError, match="1 of 10 questions failed") as err:
        run(broken, path)
    assert list(err.value.errors) == [3] and err.value.results[3] is None
    fresh = summary(run(models()))
    # The same answers; the weights differ a little, as the reliability evidence lacks question 3.
    partial = [None if c is None else c.answer for c in err.value.results]
    assert partial == [None if i == 3 else s[0] for i, s in enumerate(fresh)]
    healed = models()
    assert summary(run(healed, path)) == fresh
    assert sum(m.calls for m in healed) == 3  # only question 3, once per model


def test_the_embedding_cache_embeds_each_text_once_per_embedder() -> None:
    cache = EmbeddingCache()
    orch = Orchestrator(models(), embedder=CountingEmbedder(), embedding_cache=cache)
    plain = summary(run(models()))
    got = summary(asyncio.run(orch.consensus_many(PROMPTS, "number")))
    assert got == plain
    embedder = orch.embedder.embedder  # type: ignore[attr-defined]
    assert embedder.texts == len(cache) == 3  # "The answer is 0/1/2." and nothing else
    assert cache.hits == 30 - 3
    other = cache.wrap(CountingEmbedder())
    asyncio.run(other.aembed(["The answer is 0."]))
    assert len(cache) == 4  # another embedder: its own entry
    with pytest.raises(ValueError, match="max_entries"):
        EmbeddingCache(0)


def test_the_cache_drops_the_least_recently_used_and_checks_shapes() -> None:
    cache = EmbeddingCache(max_entries=2)
    emb = CountingEmbedder()
    wrapped = cache.wrap(emb, key="words")
    first = asyncio.run(wrapped.aembed(["x", "y", "x"]))
    assert emb.texts == 2 and np.array_equal(first[0], first[2])
    asyncio.run(wrapped.aembed(["z"]))  # drops "x"
    asyncio.run(wrapped.aembed(["x", "z"]))
    assert emb.texts == 4

    class Bad:
        async def aembed(self, texts: Sequence[str]) -> np.ndarray:
            return np.zeros((1, 3))

    with pytest.raises(ValueError, match="one row each"):
        asyncio.run(cache.wrap(Bad()).aembed(["p", "q"]))
    with pytest.raises(TypeError, match="aembed"):
        cache.wrap(object())
