"""Response validity and comparable confidence: echoes, loops, empty, truncated and other-language
responses are caught (and legitimate quoting is not); the answer-token log probability and the
per-model calibration; an invalid response gets no weight in the consensus."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermoconsensus.clients import LLMResponse, TokenLogprob
from thermoconsensus.consensus import (
    ConfidenceCalibrator,
    Orchestrator,
    answer_logprob,
    assess,
    extract_number,
    extract_option,
    mean_logprob,
)
from thermoconsensus.consensus.confidence import PRIORS

SHEEP = "A farmer has 17 sheep and buys 25 more. How many sheep does he have now?"
GRASS = (
    "Which of the following is an observation about grasshoppers that a science class could have made "
    "on their nature walk?\nA) The grasshoppers will live longest in a container filled with plants.\n"
    "B) The grasshoppers are green with long back legs and antennae.\nC) The grasshoppers will probably "
    "eat more grass than leaves.\nD) The grasshoppers all hatched from eggs laid the year before."
)


def test_an_echo_of_the_prompt_is_invalid_and_its_number_is_not_an_answer() -> None:
    echo = SHEEP + "\nAnswer briefly and end your reply with the final number."
    v = assess(echo, SHEEP, extractor=extract_number, answer=extract_number(echo))
    assert not v.valid and v.reasons == ("echo",) and v.echo > 0.5


def test_restating_the_question_then_solving_it_is_not_an_echo() -> None:
    text = SHEEP + " He starts with 17 and adds 25, so 17 + 25 = 42. The answer is 42."
    v = assess(text, SHEEP, extractor=extract_number, answer="42")
    assert v.valid, v


def test_quoting_the_chosen_option_is_not_an_echo() -> None:
    text = "The answer is B. The grasshoppers are green with long back legs and antennae."
    v = assess(text, GRASS, extractor=extract_option, answer="B")
    assert v.valid and v.echo > 0.5


def test_a_repetition_loop_is_invalid_unless_an_answer_came_first() -> None:
    text = "Let me think. " + "navidad navidad feliz navidad " * 30 + " The answer is 42."
    v = assess(text, SHEEP, extractor=extract_number, answer="42")
    assert not v.valid and "loop" in v.reasons and v.repetition > 0.5
    # Free text has no stated answer to keep.
    assert not assess("navidad feliz navidad " * 40, SHEEP).valid
    # "The answer is D." and then a loop: the answer was given before the text degenerated.
    stated = "The answer is D. " * 30
    v = assess(stated, SHEEP, extractor=extract_option, answer="D")
    assert v.valid and v.flags == ("loop",)


def test_empty_and_whitespace_replies_are_invalid() -> None:
    for text in ("", "   \n\t "):
        v = assess(text, SHEEP)
        assert not v.valid and v.reasons == ("empty",)


def test_truncated_without_a_final_answer_is_invalid_with_one_it_is_flagged() -> None:
    cut = "First, 17 sheep. Then he buys 25 more, which gives 17 + 25 ="
    v = assess(cut, SHEEP, finish_reason="length", extractor=extract_number, answer=extract_number(cut))
    assert not v.valid and v.reasons == ("truncated",)
    done = "17 + 25 = 42. The answer is 42. Also, sheep are"
    v = assess(done, SHEEP, finish_reason="length", extractor=extract_number, answer="42")
    assert v.valid and v.flags == ("truncated",)
    free = "The capital of France is Paris, a city on the Seine, which"
    v = assess(free, "What is the capital of France?", finish_reason="length")
    assert v.valid and v.flags == ("truncated",)


def test_a_reply_in_another_language_than_a_clear_prompt_is_invalid() -> None:
    prompt = "Explain in a few sentences why the sky looks blue during the day and red at sunset."
    french = (
        "Le ciel est bleu pendant la journée parce que la lumière du soleil est diffusée par les "
        "molécules de l'air, et il devient rouge au coucher du soleil."
    )
    v = assess(french, prompt)
    assert not v.valid and v.reasons == ("language",)
    english = "The sky is blue because air molecules scatter short wavelengths of sunlight more strongly."
    assert assess(english, prompt).valid
    # Too little text to judge: a short answer is never called another language.
    assert assess("42", prompt).valid


def test_bad_input_is_named() -> None:
    with pytest.raises(TypeError, match="strings"):
        assess(None, SHEEP)  # type: ignore[arg-type]


def test_the_answer_logprob_sums_the_tokens_that_spell_the_last_answer() -> None:
    tokens = [("The", -0.1), (" sum", -0.2), (" is", -0.1), (" 1", -0.3), (",", -0.4), ("000", -0.5)]
    assert answer_logprob("1000", tokens) == pytest.approx(-1.2)
    assert answer_logprob("7", tokens) is None and answer_logprob(None, tokens) is None
    letters = [("The", -0.1), (" answer", -0.1), (" is", -0.1), (" B", -0.7), (".", -0.05)]
    assert answer_logprob("B", letters) == pytest.approx(-0.7)
    assert mean_logprob(letters) == pytest.approx(-1.05 / 5)
    assert mean_logprob([]) is None


def test_calibration_starts_at_the_population_prior_and_learns_each_model() -> None:
    cal = ConfidenceCalibrator()
    mu, sd = PRIORS["answer_logprob"]
    assert cal.score("m", "answer_logprob", mu + sd) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    for x in rng.normal(-3.0, 0.1, 500):
        cal.observe("m", "answer_logprob", float(x))
    # After a long history the model is scored against itself: -3 is its average, not a low value.
    assert abs(cal.score("m", "answer_logprob", -3.0) or 0.0) < 0.5
    assert cal.score("m", "answer_logprob", float("nan")) is None
    back = ConfidenceCalibrator.from_dict(cal.to_dict())
    assert back.score("m", "answer_logprob", -2.9) == cal.score("m", "answer_logprob", -2.9)
    with pytest.raises(ValueError, match="confidence state"):
        ConfidenceCalibrator.from_dict({"version": 2})
    with pytest.raises(ValueError, match="measure"):
        cal.score("m", "vibes", 1.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-20, 0, allow_nan=False), min_size=1, max_size=30), st.floats(-20, 0))
def test_calibrated_scores_are_bounded_and_monotone(history: list[float], x: float) -> None:
    cal = ConfidenceCalibrator()
    for v in history:
        cal.observe("m", "mean_logprob", v)
    a = cal.score("m", "mean_logprob", x)
    b = cal.score("m", "mean_logprob", x + 0.5)
    assert a is not None and b is not None and -5.0 <= a <= b <= 5.0


class Scripted:
    def __init__(self, name: str, text: str, logprob: float = -0.3, finish: str = "stop") -> None:
        self.name, self.text, self.logprob, self.finish = name, text, logprob, finish

    async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
        return LLMResponse(
            text=self.text,
            model=self.name,
            provider="fake",
            finish_reason=self.finish,
            logprobs=[TokenLogprob(w + " ", self.logprob) for w in self.text.split()],
        )


class Bag:
    async def aembed(self, texts: list[str]) -> np.ndarray[Any, Any]:
        out = np.full((len(texts), 32), 1e-3)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, hash(w) % 32] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_an_echoing_model_gets_no_weight_even_when_most_confident() -> None:
    clients = [
        Scripted("echo", SHEEP + "\nAnswer briefly and end your reply with the final number.", -0.01),
        Scripted("right", "17 + 25 = 42. The answer is 42.", -0.4),
        Scripted("wrong", "17 * 2 = 34. The answer is 34.", -0.6),
    ]
    c = Orchestrator(clients, embedder=Bag()).consensus_sync(SHEEP, answer_extractor="number")
    w = c.weights_per_model
    assert w["echo"] < 1e-3 and c.extracted_answer == "42"
    echo = next(r for r in c.responses if r.model == "echo")
    assert not echo.valid and echo.validity is not None and echo.validity.reasons == ("echo",)
    assert c.to_dict()["responses"][0]["validity"]["reasons"] == ["echo"]


def test_three_empty_replies_are_less_confident_than_two_that_agree() -> None:
    empty = Orchestrator([Scripted(f"e{i}", " ") for i in range(3)], embedder=Bag())
    e = empty.consensus_sync("What is the capital of France?")
    agree = Orchestrator([Scripted("a", "Paris."), Scripted("b", "Paris.")], embedder=Bag())
    a = agree.consensus_sync("What is the capital of France?")
    assert all(not r.valid for r in e.responses)
    assert e.free_energy > a.free_energy + 5.0


def test_non_finite_logprobs_do_not_break_the_consensus() -> None:
    clients = [Scripted("a", "The answer is 3.", -1e308), Scripted("b", "The answer is 3.", float("-inf"))]
    c = Orchestrator(clients, embedder=Bag()).consensus_sync("1 + 2?", answer_extractor="number")
    assert c.extracted_answer == "3" and all(math.isfinite(r.mean_logprob or 0.0) for r in c.responses)


def test_the_batch_learns_who_is_reliable_without_labels() -> None:
    """Two models agree on the truth most of the time, a third answers at random: over a batch the
    label-free estimate ranks them, and a question where the noisy model sides with one of the good
    ones against the other goes the good pair's way once reliabilities are known."""
    rng = np.random.default_rng(3)
    truths = [str(int(x)) for x in rng.integers(10, 99, 40)]

    class Worker:
        def __init__(self, name: str, accuracy: float) -> None:
            self.name, self.accuracy, self.calls = name, accuracy, 0

        async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
            q = int(prompt[-1]["content"].split()[1])
            right = rng.random() < self.accuracy
            answer = truths[q] if right else str(int(rng.integers(100, 999)))
            return LLMResponse(text=f"The answer is {answer}.", model=self.name, provider="fake")

    workers = [Worker("good1", 0.9), Worker("good2", 0.85), Worker("noise", 0.1)]
    orch = Orchestrator(workers, embedder=Bag(), reliability=True)
    prompts = [f"Question {i} : what is it?" for i in range(len(truths))]
    out = asyncio.run(orch.consensus_many(prompts, "number", concurrency=8))
    rel = orch.reliability_estimates("number")
    assert orch.reliability_estimates("option")["noise"]["source"] == "prior"  # another answer format
    assert rel["noise"]["source"] == "agreement"
    assert rel["good1"]["accuracy"] > rel["noise"]["accuracy"] + 0.4
    assert rel["good2"]["accuracy"] > rel["noise"]["accuracy"] + 0.4
    right = sum(c.extracted_answer == t for c, t in zip(out, truths))
    assert right >= 34
    with pytest.raises(TypeError, match="prompts"):
        asyncio.run(orch.consensus_many("one prompt"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency"):
        asyncio.run(orch.consensus_many(["q"], concurrency=0))


def test_what_the_orchestrator_learns_is_persisted_and_read_back(tmp_path: Any) -> None:
    state = tmp_path / "state.json"

    class Fixed:
        def __init__(self, name: str, answers: list[str]) -> None:
            self.name, self.answers, self.calls = name, answers, 0

        async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
            self.calls += 1
            a = self.answers[(self.calls - 1) % len(self.answers)]
            return LLMResponse(
                text=f"The answer is {a}.",
                model=self.name,
                provider="fake",
                logprobs=[TokenLogprob(w + " ", -0.2) for w in f"The answer is {a}.".split()],
            )

    good = [str(i) for i in range(8)]
    clients = [Fixed("a", good), Fixed("b", good), Fixed("c", ["99"])]
    orch = Orchestrator(clients, embedder=Bag(), state_path=state)
    for i in range(8):
        orch.consensus_sync(f"Question {i}?", answer_extractor="number")
    before = orch.reliability_estimates("number")
    assert before["c"]["source"] == "agreement" and before["c"]["accuracy"] < before["a"]["accuracy"]
    again = Orchestrator(clients, embedder=Bag(), state_path=state)
    assert again.reliability_estimates("number") == before
    assert again.calibrator.to_dict() == orch.calibrator.to_dict()
    # Feedback labels take precedence over the label-free estimate.
    c = again.consensus_sync("Question 9?", answer_extractor="number")
    again.feedback(c, correct=False)
    assert again.reliability_estimates("number")["a"]["source"] == "feedback"


def test_option_questions_count_their_options_for_the_reliability_model() -> None:
    from thermoconsensus.consensus.orchestrator import _possible_answers

    o = Orchestrator([Scripted("a", "The answer is B.")], embedder=Bag())
    q = o.question(GRASS, "option")
    assert _possible_answers(q, 2) == 4
    assert _possible_answers(o.question("Is water wet?", "yesno"), 1) == 2
    assert _possible_answers(o.question("2 + 2?", "number"), 3) is None
