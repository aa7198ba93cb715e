"""The orchestrator over fake clients: quorum and timeout with failing and slow clients, the
Consensus and its JSON trace, validity (echoes, loops, empty and truncated replies get no weight),
refinement within a budget (fixed rule and expected free energy), synthesis, feedback and the
label-free reliability persisted to disk, privacy accounting, and bad input."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import thermoconsensus as tc
from thermoconsensus.clients import LLMResponse, TokenLogprob
from thermoconsensus.consensus import Consensus, ConsensusConfig, GaussianMechanism, Orchestrator, QuorumError
from thermoconsensus.consensus.confidence import PRIORS
from thermoconsensus.routing import QualityModel


class FakeClient:
    """Answers from a script: each call returns the next text (the last one repeats)."""

    def __init__(
        self,
        name: str,
        texts: Sequence[str],
        delay: float = 0.0,
        fail: bool = False,
        finish_reason: str = "stop",
        logprob: float = -0.5,
    ) -> None:
        self.name = name
        self.texts = list(texts)
        self.delay = delay
        self.fail = fail
        self.finish_reason = finish_reason
        self.logprob = logprob
        self.prompts: list[Any] = []

    async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
        self.prompts.append(prompt)
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionError(f"{self.name} is down")
        text = self.texts[min(len(self.prompts) - 1, len(self.texts) - 1)]
        return LLMResponse(
            text=text,
            model=self.name,
            provider="fake",
            prompt_tokens=5,
            completion_tokens=len(text.split()),
            finish_reason=self.finish_reason,
            logprobs=[TokenLogprob(w + " ", self.logprob) for w in text.split()],
            latency_s=self.delay,
            cost_usd=0.0,
        )


class FailsAfter(FakeClient):
    """Answers its first ``n`` calls, then fails."""

    def __init__(self, name: str, text: str, n: int) -> None:
        super().__init__(name, [text])
        self.n = n

    async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
        if len(self.prompts) >= self.n:
            self.prompts.append(prompt)
            raise ConnectionError(f"{self.name} went away")
        return await super().chat(prompt, **options)


class WordEmbedder:
    """Bag of hashed words: texts with the same words get the same unit vector."""

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.full((len(texts), 64), 1e-3)
        for i, t in enumerate(texts):
            for w in t.lower().replace(".", " ").split():
                out[i, zlib.crc32(w.encode()) % 64] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def orch(clients: list[FakeClient], **kw: Any) -> Orchestrator:
    return Orchestrator(clients, embedder=WordEmbedder(), **kw)


def test_the_majority_cluster_wins_and_the_trace_is_json() -> None:
    clients = [
        FakeClient("a", ["The answer is 42."]),
        FakeClient("b", ["The answer is 42."]),
        FakeClient("c", ["I believe it is 17, because of the weather."]),
    ]
    c = orch(clients).consensus_sync("What is six times seven?", answer_extractor="number")
    assert isinstance(c, Consensus)
    assert c.extracted_answer == "42" and "42" in c.answer
    w = c.weights_per_model
    assert w["a"] + w["b"] > 0.9 and sum(w.values()) == pytest.approx(1.0)
    assert c.answer_weight > 0.9 and 1.5 < c.effective_agreeing < 2.01
    assert c.distances.shape == (3, 3) and c.votes["42"] > 0.9
    d = json.loads(c.to_json())
    for key in (
        "answer",
        "extracted_answer",
        "weights",
        "free_energy",
        "entropy",
        "effective_agreeing",
        "latency_s",
    ):
        assert key in d
    assert len(d["responses"]) == 3 and len(d["trace"]["calls"]) == 3 and d["trace"]["failures"] == []
    assert d["trace"]["tokens"] == c.tokens > 0
    assert c.timings["overhead_s"] >= 0 and c.parameters["quality"] == {"a": 0.5, "b": 0.5, "c": 0.5}
    assert all(r.mean_logprob == pytest.approx(-0.5) for r in c.responses)
    # The answer's own tokens: "42." is one token at -0.5; with no history yet the calibrated score is
    # the z-score against the population prior.
    mu, sd = PRIORS["answer_logprob"]
    assert [r.answer_logprob for r in c.responses[:2]] == [pytest.approx(-0.5)] * 2
    assert c.responses[0].confidence == pytest.approx((-0.5 - mu) / sd)
    assert all(r["valid"] for r in d["responses"]) and d["refinement"]["used"] == 0


def test_a_failing_minority_does_not_block() -> None:
    clients = [FakeClient("a", ["Paris."]), FakeClient("b", ["Paris."]), FakeClient("down", ["x"], fail=True)]
    c = orch(clients).consensus_sync("Capital of France?")
    assert [r.model for r in c.responses] == ["a", "b"]
    assert len(c.failures) == 1 and c.failures[0]["model"] == "down"
    assert c.failures[0]["error_type"] == "ConnectionError"


def test_a_slow_minority_is_cut_at_the_timeout() -> None:
    clients = [
        FakeClient("a", ["Paris."]),
        FakeClient("b", ["Paris."]),
        FakeClient("slow", ["Lyon."], delay=30),
    ]
    loop_time = asyncio.run(_timed(orch(clients, timeout=0.5)))
    assert loop_time < 5
    c = orch(clients, timeout=60, grace=0.2).consensus_sync("Capital of France?")
    assert {r.model for r in c.responses} == {"a", "b"}
    assert c.failures[0]["error_type"] == "TimeoutError"


async def _timed(o: Orchestrator) -> float:
    t0 = asyncio.get_running_loop().time()
    c = await o.consensus("Capital of France?")
    assert c.failures and c.failures[0]["model"] == "slow"
    return asyncio.get_running_loop().time() - t0


def test_quorum_not_met_raises_with_the_reasons() -> None:
    clients = [FakeClient("a", ["x"]), FakeClient("b", ["y"], fail=True), FakeClient("c", ["z"], fail=True)]
    with pytest.raises(QuorumError, match="only 1 of 3 models answered, quorum is 2") as info:
        orch(clients).consensus_sync("q")
    assert {f["model"] for f in info.value.failures} == {"b", "c"}
    assert isinstance(info.value, tc.Error)
    # quorum=1 accepts a single answer.
    assert orch(clients, quorum=1).consensus_sync("q").responses[0].model == "a"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="no clients"):
        Orchestrator([], embedder=WordEmbedder())
    with pytest.raises(ValueError, match="quorum: 3 is larger"):
        orch([FakeClient("a", ["x"]), FakeClient("b", ["x"])], quorum=3)
    with pytest.raises(TypeError, match="name and chat"):
        Orchestrator([object()], embedder=WordEmbedder())  # type: ignore[list-item]
    o = orch([FakeClient("a", ["x"])])
    with pytest.raises(ValueError, match="prompt: is empty"):
        o.consensus_sync("   ")
    with pytest.raises(TypeError, match="prompt"):
        o.consensus_sync([])
    with pytest.raises(ValueError, match="temperature"):
        orch([FakeClient("a", ["x"])], temperature=0.0)
    with pytest.raises(ValueError, match="refine_strategy"):
        orch([FakeClient("a", ["x"])], refine_strategy="vote")


class NaNEmbedder:
    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        return np.full((len(texts), 4), np.nan)


def test_nan_embeddings_are_a_clear_error() -> None:
    o = Orchestrator([FakeClient("a", ["x"]), FakeClient("b", ["y"])], embedder=NaNEmbedder())
    with pytest.raises(tc.InvalidInputError, match="NaN"):
        o.consensus_sync("q")


def test_samples_per_model_and_duplicate_names() -> None:
    clients = [FakeClient("m", ["one", "two", "three"]), FakeClient("m", ["one"])]
    c = orch(clients, samples_per_model=3).consensus_sync("count")
    assert sorted({r.model for r in c.responses}) == ["m", "m#2"]
    assert len(c.responses) == 6 and sorted(r.sample for r in c.responses) == [0, 0, 1, 1, 2, 2]


def test_debate_refinement_spends_a_bounded_budget() -> None:
    clients = [
        FakeClient("a", ["The answer is 10.", "The answer is 12.", "The answer is 12."]),
        FakeClient("b", ["The answer is 12.", "The answer is 12.", "The answer is 12."]),
        FakeClient("c", ["It is 15 apples.", "The answer is 12.", "The answer is 12."]),
    ]
    o = orch(
        clients, refine_threshold=-5.0, refine_budget=3, refine_strategy="debate", refine_policy="threshold"
    )
    c = o.consensus_sync("How many?", answer_extractor="number")
    ref = c.refinement
    assert ref is not None and ref.used == 3 and ref.rounds == 1 and len(ref.free_energy) == 2
    assert ref.free_energy[1] < ref.free_energy[0]
    assert c.extracted_answer == "12" and c.answer_weight > 0.9
    assert len(c.responses) == 6 and [r.round for r in c.responses] == [0, 0, 0, 1, 1, 1]
    # Each model saw the others' answers in its debate prompt.
    assert "It is 15 apples." in clients[0].prompts[1][-1]["content"]
    assert [s["model"] for s in ref.steps] == ["b", "a", "c"] or len(ref.steps) == 3
    json.loads(c.to_json())


def test_sample_refinement_asks_the_uncertain_models_and_stops_at_the_budget() -> None:
    clients = [FakeClient("a", ["red"]), FakeClient("b", ["blue"]), FakeClient("c", ["green"])]
    o = orch(
        clients, refine_threshold=-10.0, refine_budget=4, refine_strategy="samples", refine_policy="threshold"
    )
    c = o.consensus_sync("Colour?")
    assert c.refinement is not None and c.refinement.used == 4 and len(c.responses) == 7
    assert len(c.refinement.free_energy) == 3


def test_no_refinement_when_confident() -> None:
    clients = [FakeClient("a", ["Paris."]), FakeClient("b", ["Paris."])]
    c = orch(clients, refine_threshold=10.0, refine_budget=5).consensus_sync("Capital?")
    assert c.refinement is not None and c.refinement.used == 0 and c.refinement.free_energy


def test_synthesis_is_returned_beside_the_selected_answer() -> None:
    writer = FakeClient("writer", ["Paris is the capital of France."])
    clients = [FakeClient("a", ["Paris."]), FakeClient("b", ["It is Paris."])]
    c = orch(clients, synthesizer=writer).consensus_sync("Capital of France?")
    assert c.synthesis == "Paris is the capital of France." and c.answer in ("Paris.", "It is Paris.")
    assert "weight" in writer.prompts[0][-1]["content"]
    broken = orch(clients, synthesizer=FakeClient("w", ["x"], fail=True)).consensus_sync("Capital?")
    assert broken.synthesis is None and broken.answer


def test_feedback_updates_and_persists_the_posteriors(tmp_path: Path) -> None:
    state = tmp_path / "quality.json"
    clients = [FakeClient("a", ["#### 4"]), FakeClient("b", ["#### 4"]), FakeClient("c", ["#### 5"])]
    o = orch(clients, state_path=state)
    c = o.consensus_sync("2+2?", answer_extractor="number")
    means = o.feedback(c, correct=True)
    assert means == {"a": pytest.approx(2 / 3), "b": pytest.approx(2 / 3), "c": pytest.approx(1 / 3)}
    saved = QualityModel.load(state)
    assert saved.get("c", "general").beta == 2.0
    # A new orchestrator reads the state back, and the priors now tilt the fields.
    o2 = orch(clients, state_path=state)
    assert o2.quality_means()["a"] == pytest.approx(2 / 3)
    wrong = o2.consensus_sync("2+2?", answer_extractor="number")
    o2.feedback(wrong, correct=False)  # a and b agreed with a wrong consensus; c is left out
    assert QualityModel.load(state).get("c", "general").beta == 2.0
    assert QualityModel.load(state).get("a", "general").beta == 2.0
    with pytest.raises(TypeError, match="correct"):
        o2.feedback(wrong, correct=1)  # type: ignore[arg-type]


def test_privacy_noise_is_accounted_across_calls() -> None:
    mech = GaussianMechanism(epsilon=50.0, delta=1e-5, seed=0)
    clients = [FakeClient("a", ["Paris."]), FakeClient("b", ["Paris."]), FakeClient("c", ["Rome, surely."])]
    o = orch(clients, privacy=mech)
    first = o.consensus_sync("Capital?")
    second = o.consensus_sync("Capital?")
    assert first.privacy is not None and second.privacy is not None
    assert first.privacy["releases"] == 1 and second.privacy["releases"] == 2
    assert second.privacy["epsilon_spent"] > first.privacy["epsilon_spent"] > 0


def test_sync_wrapper_refuses_a_running_loop() -> None:
    o = orch([FakeClient("a", ["x"])])

    async def inside() -> None:
        with pytest.raises(RuntimeError, match="event loop"):
            o.consensus_sync("q")

    asyncio.run(inside())


def test_a_failed_refinement_round_keeps_the_first_consensus() -> None:
    clients = [FailsAfter("a", "The answer is 2.", 1), FailsAfter("b", "The answer is 3.", 1)]
    o = orch(clients, quorum=2, refine_threshold=-10.0, refine_budget=2, refine_policy="threshold")
    c = o.consensus_sync("q", answer_extractor="number")
    assert c.refinement is not None and c.refinement.stopped is not None
    assert len(c.responses) == 2 and "no model answered" in c.refinement.stopped
    assert c.refinement.used == 2 and len(c.failures) == 2
    assert c.extracted_answer in ("2", "3")


def test_a_temperature_schedule_is_recorded_in_the_trace() -> None:
    from thermoconsensus.consensus import geometric_schedule

    clients = [FakeClient("a", ["Paris."]), FakeClient("b", ["Paris."]), FakeClient("c", ["Rome."])]
    temps = geometric_schedule(2.0, 0.05, 4)
    c = orch(clients, temperature=temps).consensus_sync("Capital?")
    assert [p["temperature"] for p in c.curve] == temps and c.temperature == temps[-1]
    assert c.parameters["temperature"] == temps
    assert c.weights_per_model["a"] + c.weights_per_model["b"] > 0.9


def test_the_config_is_validated_once_and_names_the_setting() -> None:
    cfg = ConsensusConfig(samples_per_model=2)
    assert cfg.temperatures == [0.5] and cfg.tokens_for("number") == 512 and cfg.tokens_for("option") == 160
    assert ConsensusConfig(max_tokens=64).tokens_for("option") == 64
    o = Orchestrator([FakeClient("a", ["x"])], cfg, embedder=WordEmbedder(), beta=0.0)
    assert o.config.samples_per_model == 2 and o.config.beta == 0.0
    with pytest.raises(TypeError, match="unknown consensus setting"):
        Orchestrator([FakeClient("a", ["x"])], embedder=WordEmbedder(), temprature=1.0)
    with pytest.raises(TypeError, match="ConsensusConfig"):
        Orchestrator([FakeClient("a", ["x"])], {"J": 1.0})  # type: ignore[arg-type]
    for bad, match in [
        ({"J": -1.0}, "J"),
        ({"invalid_penalty": float("nan")}, "invalid_penalty"),
        ({"refine_policy": "psychic"}, "refine_policy"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": [1.0, 0.0]}, "temperature"),
        ({"lam": 2.0}, "lam"),
        ({"domain": ""}, "domain"),
    ]:
        with pytest.raises(ValueError, match=match):
            ConsensusConfig(**bad)


def test_expected_free_energy_refinement_asks_where_it_helps_and_stops() -> None:
    # a and c say 4, b says 5: each step buys the one sample expected to lower F* most, and the
    # policy stops when no call is expected to lower it.
    clients = [
        FakeClient("a", ["The answer is 4.", "The answer is 4."]),
        FakeClient("b", ["The answer is 5.", "The answer is 4."]),
        FakeClient("c", ["The answer is 4.", "The answer is 4."]),
    ]
    o = orch(
        clients,
        refine_threshold=10.0,
        refine_budget=3,
        refine_strategy="samples",
        refine_policy="expected-free-energy",
    )
    c = o.consensus_sync("2 + 2?", answer_extractor="number")
    ref = c.refinement
    assert ref is not None and ref.policy == "expected-free-energy" and ref.used <= 3
    assert all("expected_free_energy" in s for s in ref.steps)
    # Every step expected to lower F*, and F* never rose.
    assert all(s["expected_free_energy"] < s["free_energy_before"] for s in ref.steps)
    assert ref.free_energy == sorted(ref.free_energy, reverse=True)
    assert c.extracted_answer == "4" and len(c.calls) == 3 + ref.used
