"""The orchestrator: ask every client, check and weigh the answers, anneal, answer.

``clients -> responses -> validity, answers, calibrated confidence -> embedder -> distances ->
fields (reliability, confidence, validity) -> Hamiltonian -> annealer -> weights -> answer (+ trace)``.
Each solve is one typed :class:`~thermoconsensus.consensus.types.Round`; refinement (extra samples or
a debate turn, within a call budget) adds rounds; a synthesizer can write a final answer. What the
orchestrator learns across questions — each model's reliability (from feedback labels, else without
labels from agreement), its confidence statistics — is kept with the quality posteriors the router
shares, and persisted at ``state_path``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from ..batch import BatchError, EmbeddingCache, ResultsFile, question_key
from ..embeddings import Embedder, SupportsEmbed, as_embedder, unit_rows
from ..routing.learning import QualityModel
from .confidence import ConfidenceCalibrator, answer_logprob, mean_logprob
from .config import ConsensusConfig
from .distances import answer_distances, cosine_distances
from .extractors import EXTRACTORS, INSTRUCTIONS, Extractor, resolve_extractor
from .gather import ChatClient, Job, Progress, QuorumError, gather
from .hamiltonian import Hamiltonian, fields
from .privacy import GaussianMechanism
from .refine import choose_calls
from .reliability import ReliabilityState
from .solve import anneal, select
from .types import Consensus, Refinement, Response, Round
from .validity import assess, load_language_identifier

__all__ = ["Orchestrator"]

PathArg = Union[str, "os.PathLike[str]"]
Messages = list[dict[str, Any]]
# Feedback counts as labels once a model has this many (a Beta(1, 1) prior has none).
_LABELS_NEEDED = 1.0
_STATE_KEY = "consensus"
_INVALID_TEXT = "(invalid response)"
_OPTION_LINE = re.compile(r"^\s*\(?([A-J])[).:]\s", re.MULTILINE)


def _possible_answers(q: Question, given: int) -> int | None:
    """How many answers a question allows, for the reliability model: 2 for yes/no, the lettered
    options of the prompt for multiple choice (5 when none are listed), None (open) otherwise."""
    if q.extractor_name == "yesno":
        return max(2, given)
    if q.extractor_name == "option":
        letters = set(_OPTION_LINE.findall(q.text))
        return max(2, given, len(letters) or 5)
    return None


# The label-free estimate is used once this many questions were seen in the domain (before, 1/2).
_QUESTIONS_NEEDED = 5
# ... and once one mode of the likelihood holds this share of the posterior over the modes found.
_MODE_SHARE_NEEDED = 0.9


def _messages(prompt: str | Messages) -> Messages:
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ValueError("prompt: is empty")
        return [{"role": "user", "content": prompt}]
    if not isinstance(prompt, list) or not prompt:
        raise TypeError("prompt: expected a non-empty string or a non-empty list of messages")
    for m in prompt:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise TypeError(f"prompt: each message needs a role and a content, got {m!r}")
    if not any(isinstance(m["content"], str) and m["content"].strip() for m in prompt):
        raise ValueError("prompt: every message is empty")
    return [dict(m) for m in prompt]


def _text_of(messages: Messages) -> str:
    return next((str(m["content"]) for m in reversed(messages) if m.get("role") == "user"), "")


@dataclass
class Question:
    """One prompt as the pipeline sees it: the messages sent (with the answer-format instruction when
    an extractor is named), the user's text, and the extractor."""

    messages: Messages
    text: str
    extractor: Extractor | None
    extractor_name: str | None
    max_tokens: int


class Orchestrator:
    """Thermodynamic consensus over several LLM clients.

    ``clients``: LLM clients (anything with a ``name`` and an async ``chat``); ``config``: a
    :class:`~thermoconsensus.consensus.ConsensusConfig`, or its fields as keywords (``samples_per_model=2``,
    ``temperature=0.5``, ...); ``embedder``: None for all-MiniLM-L6-v2, any
    :class:`~thermoconsensus.embeddings.Embedder`, a client with an async ``embed`` or a loaded
    ``llm.Model``; ``synthesizer``: a client that writes a final answer from the top-weighted
    responses; ``privacy``: a :class:`~thermoconsensus.consensus.privacy.GaussianMechanism` applied to
    the embeddings; ``quality``/``state_path``: the per-model state (feedback posteriors, which a
    router's ``quality`` can share, plus the reliability and confidence statistics learned here),
    kept at ``state_path`` when given; ``progress``: a callback ``(event, model, info)``;
    ``embedding_cache``: a :class:`~thermoconsensus.batch.EmbeddingCache`, so a text already embedded (by
    this embedder) is not embedded again.
    """

    def __init__(
        self,
        clients: Sequence[ChatClient],
        config: ConsensusConfig | None = None,
        *,
        embedder: Embedder | SupportsEmbed | Any = None,
        synthesizer: ChatClient | None = None,
        privacy: GaussianMechanism | None = None,
        quality: QualityModel | None = None,
        state_path: PathArg | None = None,
        progress: Progress | None = None,
        embedding_cache: EmbeddingCache | None = None,
        **settings: Any,
    ) -> None:
        if isinstance(clients, (str, bytes)) or not isinstance(clients, Sequence):
            raise TypeError("clients: expected a list of LLM clients")
        if not clients:
            raise ValueError("clients: no clients given; the consensus needs at least one")
        for c in clients:
            if not callable(getattr(c, "chat", None)) or not isinstance(getattr(c, "name", None), str):
                raise TypeError(f"clients: {type(c).__name__} has no name and chat(); pass LLM clients")
        if config is not None and not isinstance(config, ConsensusConfig):
            raise TypeError(f"config: expected a ConsensusConfig, got {type(config).__name__}")
        self.config = (config or ConsensusConfig()).with_settings(**settings)
        self.clients = list(clients)
        self.names = self._unique_names([c.name for c in self.clients])
        cfg = self.config
        self.quorum = cfg.quorum if cfg.quorum is not None else len(self.clients) // 2 + 1
        if self.quorum > len(self.clients):
            raise ValueError(
                f"quorum: {self.quorum} is larger than the number of clients ({len(self.clients)})"
            )
        self.synthesizer = synthesizer
        self.privacy = privacy
        self.state_path = state_path
        if quality is None:
            exists = state_path is not None and os.path.exists(state_path)
            quality = QualityModel.load(state_path) if exists and state_path is not None else QualityModel()
        self.quality = quality
        saved = quality.extras.get(_STATE_KEY, {})
        self.calibrator = (
            ConfidenceCalibrator.from_dict(saved["confidence"])
            if "confidence" in saved
            else ConfidenceCalibrator()
        )
        # One label-free reliability model per domain: a model's accuracy on arithmetic says little
        # about its accuracy on science questions.
        self.reliability: dict[str, ReliabilityState] = {
            str(domain): ReliabilityState.from_dict(state)
            for domain, state in saved.get("reliability", {}).items()
        }
        self.progress = progress
        self._embedder_arg = embedder
        self._embedder: Embedder | None = None
        if embedding_cache is not None and not isinstance(embedding_cache, EmbeddingCache):
            raise TypeError(
                f"embedding_cache: expected an EmbeddingCache, got {type(embedding_cache).__name__}"
            )
        self.embedding_cache = embedding_cache

    @staticmethod
    def _unique_names(names: list[str]) -> list[str]:
        seen: dict[str, int] = {}
        out = []
        for n in names:
            seen[n] = seen.get(n, 0) + 1
            out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
        return out

    @property
    def embedder(self) -> Embedder:
        """The embedder (all-MiniLM-L6-v2 loaded on first use unless one was given)."""
        if self._embedder is None:
            embedder = as_embedder(self._embedder_arg)
            cache = self.embedding_cache
            self._embedder = embedder if cache is None else cache.wrap(embedder)
        return self._embedder

    def quality_means(self) -> dict[str, float]:
        """Posterior mean quality of each client's model from feedback (1/2 before any)."""
        return {n: self.quality.get(n, self.config.domain).mean for n in self.names}

    def _reliability_key(self, extractor: str | None) -> str:
        """Reliabilities are kept per domain and answer format: a model's accuracy at arithmetic says
        little about its accuracy on science questions or in free text."""
        return f"{self.config.domain}/{extractor or 'text'}"

    def reliability_estimates(self, extractor: str | None = None) -> dict[str, dict[str, Any]]:
        """Each model's accuracy as the field uses it and where it comes from: "feedback" (labels
        given through :meth:`feedback` take precedence), "agreement" (estimated without labels from
        how its answers agree with the others' across the questions asked in the same domain and answer
        format, ``extractor``: "number", "option", "yesno", a custom extractor's name, or None for free
        text), or "prior" (1/2)."""
        cfg = self.config
        state = self.reliability.get(self._reliability_key(extractor))
        estimated: dict[str, float] = {}
        if cfg.reliability and state is not None and len(state) >= _QUESTIONS_NEEDED:
            found = state.estimate()
            # Only an estimate the answers single out is used: when several explanations fit about
            # equally well (two models that disagree, and nobody to side with either), every model
            # keeps the uninformative 1/2 rather than one of the explanations at random.
            if found is not None and found.mode_share >= _MODE_SHARE_NEEDED:
                estimated = state.accuracies()
        out: dict[str, dict[str, Any]] = {}
        for n in self.names:
            post = self.quality.get(n, cfg.domain)
            if post.alpha + post.beta - 2.0 >= _LABELS_NEEDED:
                out[n] = {"accuracy": post.mean, "source": "feedback"}
            elif n in estimated:
                out[n] = {"accuracy": estimated[n], "source": "agreement"}
            else:
                out[n] = {"accuracy": 0.5, "source": "prior"}
        return out

    # ---- the pipeline -------------------------------------------------------------------------------

    def question(self, prompt: str | Messages, answer_extractor: str | Extractor | None = None) -> Question:
        """The messages a prompt becomes: with a named extractor and ``instruct`` on, the extractor's
        answer-format instruction ends the last user message (unless it is already there)."""
        messages = _messages(prompt)
        extractor = resolve_extractor(answer_extractor)
        name = answer_extractor if isinstance(answer_extractor, str) else None
        if name is None and extractor is not None:
            name = next((k for k, f in EXTRACTORS.items() if f is extractor), None)
        text = _text_of(messages)
        if self.config.instruct and name in INSTRUCTIONS:
            instruction = INSTRUCTIONS[name]
            for m in reversed(messages):
                if m.get("role") == "user" and isinstance(m.get("content"), str):
                    if instruction not in m["content"]:
                        m["content"] = f"{m['content'].rstrip()}\n{instruction}"
                    break
        return Question(messages, text, extractor, name, self.config.tokens_for(name))

    def job(self, client: int, messages: Messages, sample: int, rnd: int, max_tokens: int) -> Job:
        """One call: sample 0 greedy, later samples at ``sampling_temperature``, each with its seed:
        derived from the orchestrator's seed, the messages, the sample and the round, so a rerun
        reproduces every call while two questions never share one random stream (with one seed per
        sample number, every question's second sample drew the same random numbers, and a model's
        sampled answers leaned the same way across questions)."""
        cfg = self.config
        key = json.dumps([cfg.seed, messages, sample, rnd], sort_keys=True, default=str)
        options: dict[str, Any] = {
            "max_tokens": max_tokens,
            "temperature": 0.0 if sample == 0 else cfg.sampling_temperature,
            "seed": int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little") >> 1,
        }
        if cfg.logprobs:
            options["logprobs"] = 0
        return Job(client, self.names[client], messages, options, sample, rnd)

    def first_jobs(self, q: Question) -> list[Job]:
        """The first round: every client, ``samples_per_model`` times."""
        return [
            self.job(c, q.messages, k, 0, q.max_tokens)
            for c in range(len(self.clients))
            for k in range(self.config.samples_per_model)
        ]

    async def _ask(
        self, jobs: list[Job], timings: dict[str, float], quorum: int
    ) -> tuple[list[Response], list[dict[str, Any]]]:
        t0 = time.perf_counter()
        try:
            return await gather(
                self.clients,
                jobs,
                quorum=quorum,
                timeout=self.config.timeout,
                grace=self.config.grace,
                progress=self.progress,
            )
        finally:
            timings["models_s"] = timings.get("models_s", 0.0) + time.perf_counter() - t0

    def assess(self, responses: list[Response], q: Question) -> None:
        """Fills in each response's extracted answer, validity and confidence measures."""
        for r in responses:
            if q.extractor is not None:
                a = q.extractor(r.text)
                r.answer = a if a is None or isinstance(a, str) else str(a)
            r.validity = assess(
                r.text,
                _text_of(q.messages),
                question=q.text,
                finish_reason=r.finish_reason,
                extractor=q.extractor,
                answer=r.answer,
            )
            lps = r.token_logprobs
            r.mean_logprob = mean_logprob(lps) if lps else r.mean_logprob
            r.answer_logprob = answer_logprob(r.answer, lps) if lps else None
            if r.answer_logprob is not None:
                r.confidence = self.calibrator.score(r.model, "answer_logprob", r.answer_logprob)
            else:
                r.confidence = self.calibrator.score(r.model, "mean_logprob", r.mean_logprob)

    async def _embed(self, responses: list[Response], timings: dict[str, float]) -> NDArray[np.float64]:
        t0 = time.perf_counter()
        # An invalid response carries no weight whatever its embedding: a short stand-in spares
        # embedding 500 tokens of a loop or a copied prompt.
        vecs = await self.embedder.aembed([r.text if r.valid else _INVALID_TEXT for r in responses])
        vecs = unit_rows(vecs, len(responses))  # a clear error for NaN or zero vectors, before any use
        if self.privacy is not None:
            vecs = self.privacy.privatize(vecs)
        timings["embed_s"] = timings.get("embed_s", 0.0) + time.perf_counter() - t0
        return vecs

    def solve(
        self,
        responses: list[Response],
        vectors: NDArray[np.float64],
        extracted: bool,
        answer_format: str | None = None,
    ) -> Round:
        """One round over ``responses`` (already assessed) and their embeddings: distances, fields, the
        free-energy minimum and the selected answer; ``extracted``: answers were extracted, so they
        enter the distances and the vote (an invalid response's answer does not); ``answer_format``:
        the extractor's name, which selects the reliability estimates."""
        cfg = self.config
        answers = [r.answer if r.valid else None for r in responses] if extracted else None
        d = answer_distances(cosine_distances(vectors), answers, cfg.lam)
        rel = self.reliability_estimates(answer_format if extracted else None)
        counts: dict[str, int] = {}
        for r in responses:
            counts[r.model] = counts.get(r.model, 0) + 1
        h = fields(
            [rel.get(r.model, {"accuracy": 0.5})["accuracy"] for r in responses],
            [r.confidence for r in responses],
            alpha=cfg.alpha,
            beta=cfg.beta,
            share=[counts[r.model] for r in responses],
            invalid=[not r.valid for r in responses],
            penalty=cfg.invalid_penalty,
            temperature=cfg.temperatures[-1],
        )
        sol = anneal(
            Hamiltonian(d, h, cfg.J),
            cfg.temperatures,
            seed=cfg.seed,
            chains=cfg.anneal_chains,
            langevin_steps=cfg.anneal_steps,
        )
        sel = select(d, sol.weights, answers, cfg.agreement_radius)
        return Round(responses, vectors, d, h, sol, sel, extracted, answer_format)

    async def _solve_timed(
        self,
        responses: list[Response],
        vectors: NDArray[np.float64],
        q: Question,
        timings: dict[str, float],
    ) -> Round:
        t0 = time.perf_counter()
        rnd = self.solve(responses, vectors, q.extractor is not None, q.extractor_name)
        timings["anneal_s"] = timings.get("anneal_s", 0.0) + time.perf_counter() - t0
        return rnd

    async def consensus(
        self, prompt: str | Messages, answer_extractor: str | Extractor | None = None
    ) -> Consensus:
        """Asks every client, anneals, and returns the :class:`Consensus` (see the class docs)."""
        t_start = time.perf_counter()
        q = self.question(prompt, answer_extractor)
        timings: dict[str, float] = {}
        # The embedder and the language model load while the models think, not after.
        ready = asyncio.ensure_future(asyncio.to_thread(self.prepare))
        try:
            responses, calls = await self._ask(self.first_jobs(q), timings, self.quorum)
        finally:
            await ready
        return await self._finish(q, responses, calls, timings, t_start)

    def prepare(self) -> None:
        """Loads what weighing needs (the embedder, the language identifier) ahead of the first use."""
        _ = self.embedder
        load_language_identifier()

    async def _finish(
        self,
        q: Question,
        responses: list[Response],
        calls: list[dict[str, Any]],
        timings: dict[str, float],
        t_start: float,
        vectors: NDArray[np.float64] | None = None,
    ) -> Consensus:
        if vectors is None:  # else consensus_many has assessed, embedded and observed the question
            vectors = await self._prepare_round(responses, q, timings)
        rnd = await self._solve_timed(responses, vectors, q, timings)
        cfg = self.config
        refinement = Refinement(
            cfg.refine_strategy, cfg.refine_policy, cfg.refine_threshold, cfg.refine_budget
        )
        refinement.free_energy.append(rnd.solution.free_energy)
        if cfg.refine_threshold is not None and cfg.refine_budget > 0:
            rnd, calls = await self._refine(q, rnd, calls, refinement, timings)
        synthesis = None
        if self.synthesizer is not None:
            t0 = time.perf_counter()
            synthesis = await self._synthesise(q.messages, rnd.responses, rnd.solution.weights, calls)
            timings["models_s"] = timings.get("models_s", 0.0) + time.perf_counter() - t0
        reliability = self.reliability_estimates(q.extractor_name)
        self.calibrate(rnd.responses)
        self._save()
        timings["total_s"] = time.perf_counter() - t_start
        timings["overhead_s"] = timings["total_s"] - timings.get("models_s", 0.0)
        sol, sel = rnd.solution, rnd.selection
        return Consensus(
            prompt=q.text,
            answer=rnd.responses[sel.index].text,
            extracted_answer=sel.answer,
            selected=sel.index,
            responses=rnd.responses,
            weights=sol.weights,
            free_energy=sol.free_energy,
            energy=sol.energy,
            entropy=sol.entropy,
            temperature=sol.temperature,
            answer_weight=sel.answer_weight,
            distances=rnd.distances,
            votes=sel.votes,
            curve=sol.curve,
            failures=[c for c in calls if not c["ok"]],
            calls=calls,
            parameters={
                "J": cfg.J,
                "alpha": cfg.alpha,
                "beta": cfg.beta,
                "lam": cfg.lam,
                "temperature": cfg.temperatures,
                "samples_per_model": cfg.samples_per_model,
                "max_tokens": q.max_tokens,
                "quorum": self.quorum,
                "quality": self.quality_means(),
                "reliability": reliability,
                "extractor": getattr(q.extractor, "__name__", None) if q.extractor is not None else None,
                "converged": sol.converged,
            },
            refinement=refinement,
            synthesis=synthesis,
            privacy=None if self.privacy is None else self.privacy.report(),
            timings=timings,
            h=rnd.fields,
        )

    def consensus_sync(
        self, prompt: str | Messages, answer_extractor: str | Extractor | None = None
    ) -> Consensus:
        """:meth:`consensus` for scripts (runs its own event loop; call the async form inside one)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.consensus(prompt, answer_extractor))
        raise RuntimeError(
            "consensus_sync: an event loop is running here; use `await orchestrator.consensus(...)`"
        )

    async def consensus_many(
        self,
        prompts: Sequence[str | Messages],
        answer_extractor: str | Extractor | None = None,
        *,
        concurrency: int = 4,
        results: PathArg | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> list[Consensus]:
        """The consensus of each prompt of a batch. All questions are asked first (at most
        ``concurrency`` at a time); then each model's reliability is estimated from agreement over the
        whole batch (and the questions before it), and only then is every question weighed, so the
        first question benefits from the last one's evidence as much as the reverse.

        ``results``: a JSONL file (see :mod:`thermoconsensus.batch`): each question's replies are appended
        as soon as they are in and each consensus once weighed; a rerun with the same file asks only the
        questions it lacks. ``progress(done, total)`` is called as each question's replies are in. When
        some questions fail (too few models answered), the others are still asked and weighed and
        :class:`~thermoconsensus.batch.BatchError` is raised with their results and the errors. With
        clients from :func:`thermoconsensus.distributed.actor_clients`, the calls run on a Ray cluster.
        """
        if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence) or not prompts:
            raise TypeError("prompts: expected a non-empty list of prompts")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency: expected an integer >= 1, got {concurrency!r}")
        if progress is not None and not callable(progress):
            raise TypeError(f"progress: expected a callable(done, total), got {type(progress).__name__}")
        questions = [self.question(p, answer_extractor) for p in prompts]
        store = None if results is None else ResultsFile(results)
        cfg = self.config
        keys = [
            question_key(
                [q.messages, q.extractor_name, q.max_tokens, self.names, cfg.samples_per_model, cfg.seed]
            )
            for q in questions
        ]
        gate = asyncio.Semaphore(concurrency)
        done = 0

        async def ask(
            i: int, q: Question
        ) -> tuple[list[Response], list[dict[str, Any]], dict[str, float], float]:
            nonlocal done
            t0 = time.perf_counter()
            timings: dict[str, float] = {}
            restored = None if store is None else store.restore(keys[i])
            if restored is not None:
                responses, calls = restored
            else:
                async with gate:
                    responses, calls = await self._ask(self.first_jobs(q), timings, self.quorum)
                if store is not None:
                    store.write_asked(keys[i], i, q.text, responses, calls)
            done += 1
            if progress is not None:
                progress(done, len(questions))
            return responses, calls, timings, t0

        asked = await asyncio.gather(*(ask(i, q) for i, q in enumerate(questions)), return_exceptions=True)
        errors: dict[int, BaseException] = {}
        for i, a in enumerate(asked):
            if isinstance(a, BaseException):
                if not isinstance(a, Exception):
                    raise a  # Ctrl-C, cancellation: not a question's failure
                errors[i] = a
        out: list[Any] = [None] * len(questions)
        ok = [i for i in range(len(questions)) if i not in errors]
        vectors = {}
        for i in ok:
            r, _, timings, _ = asked[i]  # type: ignore[misc]
            vectors[i] = await self._prepare_round(r, questions[i], timings)
        for i in ok:
            responses, calls, timings, t0 = asked[i]  # type: ignore[misc]
            out[i] = await self._finish(questions[i], responses, calls, timings, t0, vectors[i])
            if store is not None:
                store.write_consensus(keys[i], i, out[i])
        if errors:
            raise BatchError(out, errors)
        return out

    async def _prepare_round(
        self, responses: list[Response], q: Question, timings: dict[str, float]
    ) -> NDArray[np.float64]:
        """Assesses and embeds a question's first responses, and adds them to the label-free evidence
        before the question is weighed: no label is involved, and a model's agreement here is as
        informative as on earlier questions. Returns the embeddings."""
        self.assess(responses, q)
        vectors = await self._embed(responses, timings)
        if self.config.reliability:
            self._observe_agreement(responses, q, vectors)
        return vectors

    # ---- learning across questions ------------------------------------------------------------------

    @staticmethod
    def _firsts(responses: list[Response], extracted: bool) -> dict[str, int]:
        """Each model's voice on one question for the reliability model: the index of its first valid
        first-round response (with an extracted answer when ``extracted``; a model with none abstains)."""
        out: dict[str, int] = {}
        for i, r in sorted(enumerate(responses), key=lambda ir: (ir[1].round, ir[1].sample)):
            if r.round == 0 and r.valid and r.model not in out and (r.answer is not None or not extracted):
                out[r.model] = i
        return out

    def _observe_agreement(
        self, responses: list[Response], q: Question, vectors: NDArray[np.float64]
    ) -> None:
        """Adds one question to the label-free reliability model: extracted answers when an extractor
        ran, else the responses' embeddings."""
        state = self.reliability.get(self._reliability_key(q.extractor_name))
        if state is None:
            state = ReliabilityState()
            self.reliability[self._reliability_key(q.extractor_name)] = state
        firsts = self._firsts(responses, q.extractor is not None)
        if q.extractor is not None:
            votes: dict[str, str | None] = {m: None for m in {r.model for r in responses}}
            votes.update({m: responses[i].answer for m, i in firsts.items()})
            given = {a for a in votes.values() if a is not None}
            # Each model's own probability for its answer seeds the EM (see dawid_skene).
            weights = {
                m: min(1.0, max(0.01, math.exp(lp)))
                for m, i in firsts.items()
                if (lp := responses[i].answer_logprob) is not None
            }
            state.add_answers(votes, n_classes=_possible_answers(q, len(given)), weights=weights or None)
        elif len(firsts) >= 2:
            state.add_embeddings(list(firsts), vectors[list(firsts.values())])

    def calibrate(self, responses: list[Response]) -> None:
        """Folds a finished question's confidence measures into each model's statistics."""
        for r in responses:
            self.calibrator.observe(r.model, "answer_logprob", r.answer_logprob)
            self.calibrator.observe(r.model, "mean_logprob", r.mean_logprob)

    def _save(self) -> None:
        self.quality.extras[_STATE_KEY] = {
            "confidence": self.calibrator.to_dict(),
            "reliability": {d: state.to_dict() for d, state in sorted(self.reliability.items())},
        }
        if self.state_path is not None:
            self.quality.save(self.state_path)

    # ---- refinement, synthesis ----------------------------------------------------------------------

    async def _refine(
        self,
        q: Question,
        rnd: Round,
        calls: list[dict[str, Any]],
        refinement: Refinement,
        timings: dict[str, float],
    ) -> tuple[Round, list[dict[str, Any]]]:
        cfg = self.config
        assert cfg.refine_threshold is not None
        index = {n: i for i, n in enumerate(self.names)}
        while rnd.solution.free_energy > cfg.refine_threshold and refinement.used < cfg.refine_budget:
            left = cfg.refine_budget - refinement.used
            number = refinement.rounds + 1
            plan = choose_calls(self, rnd, left)
            if not plan:
                refinement.stopped = "no call is expected to lower F*"
                break
            jobs = []
            for step in plan:
                m = step["model"]
                if cfg.refine_strategy == "debate":
                    jobs.append(
                        self.job(index[m], self._debate_messages(q.messages, rnd, m), 0, number, q.max_tokens)
                    )
                else:
                    sample = (
                        1 + max(r.sample for r in rnd.responses if r.model == m)
                        if any(r.model == m for r in rnd.responses)
                        else 0
                    )
                    jobs.append(self.job(index[m], q.messages, sample, 0, q.max_tokens))
            what = "the debate round" if cfg.refine_strategy == "debate" else "the extra samples"
            try:
                new, new_calls = await self._ask(jobs, timings, 1)
            except QuorumError as exc:
                refinement.stopped = f"no model answered {what}: {exc}"
                calls = calls + exc.records
                refinement.used += len(jobs)
                break
            self.assess(new, q)
            new_vectors = await self._embed(new, timings)
            # New answers (debate revisions included) join the earlier ones instead of replacing them:
            # a debate that goes astray (weak models copy noise) cannot erase the first round's agreement.
            calls = calls + new_calls
            refinement.used += len(jobs)
            refinement.rounds = number
            before = rnd.solution.free_energy
            rnd = await self._solve_timed(
                rnd.responses + new, np.vstack([rnd.vectors, new_vectors]), q, timings
            )
            refinement.free_energy.append(rnd.solution.free_energy)
            for step in plan:
                refinement.steps.append(
                    {**step, "free_energy_before": before, "free_energy_after": rnd.solution.free_energy}
                )
        return rnd, calls

    def _debate_messages(self, messages: Messages, rnd: Round, model: str) -> Messages:
        weights = rnd.solution.weights
        last = max(r.round for r in rnd.responses)
        # Each model's heaviest response of the last round speaks for it.
        latest: dict[str, Response] = {}
        best: dict[str, float] = {}
        for r, w in zip(rnd.responses, weights):
            if r.round == last and r.valid and w >= best.get(r.model, -1.0):
                latest[r.model], best[r.model] = r, float(w)
        others = "\n\n".join(
            f"Answer {k + 1}: {r.text.strip()}"
            for k, r in enumerate(v for m, v in latest.items() if m != model)
        )
        own = latest[model].text if model in latest else ""
        return [
            *messages,
            {"role": "assistant", "content": own},
            {
                "role": "user",
                "content": "Other assistants answered the same question:\n\n"
                + (others or "(no other valid answer)")
                + "\n\nConsidering their answers, give your final answer to the original question.",
            },
        ]

    async def _synthesise(
        self,
        messages: Messages,
        responses: list[Response],
        weights: NDArray[np.float64],
        calls: list[dict[str, Any]],
    ) -> str | None:
        assert self.synthesizer is not None
        ranked = sorted(range(len(responses)), key=lambda i: -weights[i])
        top = [i for i in ranked if responses[i].valid][: self.config.synthesis_top_k] or ranked[:1]
        listing = "\n\n".join(
            f"Response {k + 1} (weight {weights[i]:.2f}): {responses[i].text.strip()}"
            for k, i in enumerate(top)
        )
        prompt = [
            *messages[:-1],
            {
                "role": "user",
                "content": f"Question: {_text_of(messages)}\n\nSeveral assistants answered; their answers, "
                f"with the weight the consensus gave each:\n\n{listing}\n\n"
                "Write the single best final answer.",
            },
        ]
        name = getattr(self.synthesizer, "name", "synthesizer")
        job = Job(
            0, f"{name} (synthesis)", prompt, {"max_tokens": self.config.tokens_for(None), "temperature": 0.0}
        )
        try:
            out, records = await gather([self.synthesizer], [job], quorum=1, timeout=self.config.timeout)
        except Exception as exc:  # the selected answer stands without a synthesis
            calls.append(
                {
                    "model": job.name,
                    "ok": False,
                    "latency_s": 0.0,
                    "error": str(exc),
                    "error_type": type(exc).__name__,
                }
            )
            return None
        calls.extend(records)
        return out[0].text

    # ---- feedback -----------------------------------------------------------------------------------

    def feedback(self, consensus: Consensus, correct: bool) -> dict[str, float]:
        """Updates each model's Beta posterior from whether ``consensus`` was right, and persists it.

        A response agrees with the consensus when it has the same extracted answer (or, without one,
        lies within ``agreement_radius`` of the selected response). Right consensus: agreeing responses
        count as successes, the others as failures. Wrong consensus: agreeing responses count as failures
        and the others are left out (being different is not being right). Invalid responses count as
        failures either way. Returns each updated model's new posterior mean. Once a model has feedback,
        it sets that model's reliability in place of the label-free estimate."""
        if not isinstance(correct, bool):
            raise TypeError(f"correct: expected a bool, got {type(correct).__name__}")
        if not isinstance(consensus, Consensus):
            raise TypeError(f"consensus: expected a Consensus, got {type(consensus).__name__}")
        updated: dict[str, float] = {}
        domain = self.config.domain
        for i, r in enumerate(consensus.responses):
            if not r.valid:
                self.quality.update(r.model, domain, 0.0)
            else:
                if consensus.extracted_answer is not None:
                    agrees = r.answer == consensus.extracted_answer
                else:
                    agrees = bool(consensus.distances[consensus.selected, i] <= self.config.agreement_radius)
                if not correct and not agrees:
                    continue
                self.quality.update(r.model, domain, 1.0 if (agrees and correct) else 0.0)
            updated[r.model] = self.quality.get(r.model, domain).mean
        self._save()
        return updated
