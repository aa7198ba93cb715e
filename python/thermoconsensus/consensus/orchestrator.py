"""The orchestrator: ask every client, embed the answers, build the Hamiltonian, anneal, answer.

``clients -> responses -> embedder -> distances -> Hamiltonian (J, h, T) -> annealer -> weights ->
answer (+ trace)``; optionally refined when the free energy says the models disagree (extra samples or
a debate round, within a call budget), synthesised by one model, and learned from through feedback on
per-model Beta posteriors that the router shares.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Sequence
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from ..embeddings import Embedder, SupportsEmbed, as_embedder
from ..routing.learning import QualityModel
from .distances import answer_distances, cosine_distances
from .extractors import Extractor, resolve_extractor
from .gather import ChatClient, Job, Progress, QuorumError, gather
from .hamiltonian import Hamiltonian, fields
from .privacy import GaussianMechanism
from .solve import Schedule, anneal, select, temperature_schedule
from .types import Consensus, Response

__all__ = ["Orchestrator"]

PathArg = Union[str, "os.PathLike[str]"]
Messages = list[dict[str, Any]]
STRATEGIES = ("debate", "samples")


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


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def _positive(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


class Orchestrator:
    """Thermodynamic consensus over several LLM clients.

    ``clients``: LLM clients (anything with a ``name`` and an async ``chat``); ``embedder``: None for
    all-MiniLM-L6-v2, any :class:`~thermoconsensus.embeddings.Embedder`, a client with an async
    ``embed`` (LocalClient, OpenAICompatibleClient's ``/v1/embeddings``) or a loaded ``llm.Model``.
    ``samples_per_model`` calls per client (the first greedy, the others at ``sampling_temperature``);
    ``temperature``: T of the free energy, or a schedule of temperatures; ``J``, ``alpha``, ``beta``,
    ``lam``: the Hamiltonian's coupling, prior and confidence strengths and the answer mix of the
    distance. ``quorum`` (default: a majority of the clients) models must answer within ``timeout``
    seconds; once they have, stragglers get ``grace`` more seconds (None: until the timeout).

    Refinement: when F* > ``refine_threshold``, spend up to ``refine_budget`` more calls on
    ``refine_strategy`` ("debate": every model sees the others' latest answers and may revise, the
    revisions joining the earlier responses; "samples": more samples from the models holding the most
    weight entropy), re-annealing after each round. ``synthesizer``: a client that writes a
    final answer from the top-weighted responses. ``privacy``: a
    :class:`~thermoconsensus.consensus.privacy.GaussianMechanism` applied to the embeddings.
    ``quality``/``state_path``: the per-model Beta posteriors (a router's ``quality`` can be shared), kept
    at ``state_path`` when given; ``domain`` keys them as the router does.
    """

    def __init__(
        self,
        clients: Sequence[ChatClient],
        *,
        embedder: Embedder | SupportsEmbed | Any = None,
        samples_per_model: int = 1,
        temperature: Schedule = 0.1,
        J: float = 1.0,
        alpha: float = 1.0,
        beta: float = 0.1,
        lam: float = 0.5,
        quorum: int | None = None,
        timeout: float = 300.0,
        grace: float | None = None,
        max_tokens: int = 256,
        sampling_temperature: float = 0.7,
        logprobs: bool = True,
        seed: int = 0,
        agreement_radius: float = 0.25,
        refine_threshold: float | None = None,
        refine_budget: int = 0,
        refine_strategy: str = "debate",
        synthesizer: ChatClient | None = None,
        synthesis_top_k: int = 3,
        privacy: GaussianMechanism | None = None,
        causal: bool = True,
        quality: QualityModel | None = None,
        state_path: PathArg | None = None,
        domain: str = "general",
        progress: Progress | None = None,
        anneal_chains: int = 32,
        anneal_steps: int = 300,
    ) -> None:
        if isinstance(clients, (str, bytes)) or not isinstance(clients, Sequence):
            raise TypeError("clients: expected a list of LLM clients")
        if not clients:
            raise ValueError("clients: no clients given; the consensus needs at least one")
        for c in clients:
            if not callable(getattr(c, "chat", None)) or not isinstance(getattr(c, "name", None), str):
                raise TypeError(f"clients: {type(c).__name__} has no name and chat(); pass LLM clients")
        self.clients = list(clients)
        self.names = self._unique_names([c.name for c in self.clients])
        self.quorum = _int("quorum", quorum, 1) if quorum is not None else len(self.clients) // 2 + 1
        if self.quorum > len(self.clients):
            raise ValueError(
                f"quorum: {self.quorum} is larger than the number of clients ({len(self.clients)})"
            )
        self.samples_per_model = _int("samples_per_model", samples_per_model, 1)
        self.temperature = temperature_schedule(temperature)
        self.hamiltonian_params = {"J": J, "alpha": alpha, "beta": beta}
        Hamiltonian(np.zeros((1, 1)), np.zeros(1), J)  # validates J
        fields(["m"], {}, [None], alpha, beta)  # validates alpha and beta
        answer_distances(np.zeros((1, 1)), None, lam)  # validates lam
        self.lam = float(lam)
        self.timeout = _positive("timeout", timeout)
        self.grace = None if grace is None else _positive("grace", grace)
        self.max_tokens = _int("max_tokens", max_tokens, 1)
        self.sampling_temperature = float(sampling_temperature)
        self.logprobs = bool(logprobs)
        self.seed = _int("seed", seed, 0)
        self.agreement_radius = float(agreement_radius)
        if refine_strategy not in STRATEGIES:
            raise ValueError(f"refine_strategy: expected one of {STRATEGIES}, got {refine_strategy!r}")
        self.refine_threshold = refine_threshold
        self.refine_budget = _int("refine_budget", refine_budget, 0)
        self.refine_strategy = refine_strategy
        self.synthesizer = synthesizer
        self.synthesis_top_k = _int("synthesis_top_k", synthesis_top_k, 1)
        self.privacy = privacy
        self.causal = causal
        self.state_path = state_path
        if quality is None:
            exists = state_path is not None and os.path.exists(state_path)
            quality = QualityModel.load(state_path) if exists and state_path is not None else QualityModel()
        self.quality = quality
        self.domain = domain
        self.progress = progress
        self.anneal_chains = _int("anneal_chains", anneal_chains, 1)
        self.anneal_steps = _int("anneal_steps", anneal_steps, 0)
        self._embedder_arg = embedder
        self._embedder: Embedder | None = None

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
            self._embedder = as_embedder(self._embedder_arg)
        return self._embedder

    def quality_means(self) -> dict[str, float]:
        """Posterior mean quality of each client's model (1/2 before any feedback)."""
        return {n: self.quality.get(n, self.domain).mean for n in self.names}

    # ---- the pipeline -------------------------------------------------------------------------------

    def _job(self, client: int, messages: Messages, sample: int, rnd: int) -> Job:
        options: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": 0.0 if sample == 0 else self.sampling_temperature,
            "seed": self.seed + 1000 * rnd + sample,
        }
        if self.logprobs:
            options["logprobs"] = 0
        return Job(client, self.names[client], messages, options, sample, rnd)

    async def _ask(
        self, jobs: list[Job], timings: dict[str, float], quorum: int
    ) -> tuple[list[Response], list[dict[str, Any]]]:
        t0 = time.perf_counter()
        try:
            return await gather(
                self.clients,
                jobs,
                quorum=quorum,
                timeout=self.timeout,
                grace=self.grace,
                progress=self.progress,
            )
        finally:
            timings["models_s"] = timings.get("models_s", 0.0) + time.perf_counter() - t0

    async def _embed(self, responses: list[Response], timings: dict[str, float]) -> NDArray[np.float64]:
        t0 = time.perf_counter()
        vecs = await self.embedder.aembed([r.text if r.text.strip() else "(empty)" for r in responses])
        if self.privacy is not None:
            vecs = self.privacy.privatize(vecs)
        timings["embed_s"] = timings.get("embed_s", 0.0) + time.perf_counter() - t0
        return vecs

    def _solve(
        self,
        responses: list[Response],
        vectors: NDArray[np.float64],
        extractor: Extractor | None,
        timings: dict[str, float],
    ) -> dict[str, Any]:
        t0 = time.perf_counter()
        if extractor is not None:
            for r in responses:
                a = extractor(r.text)
                if a is not None and not isinstance(a, str):
                    a = str(a)
                r.answer = a
        answers = [r.answer for r in responses] if extractor is not None else None
        d = answer_distances(cosine_distances(vectors), answers, self.lam)
        h = fields(
            [r.model for r in responses],
            self.quality_means(),
            [r.confidence for r in responses],
            self.hamiltonian_params["alpha"],
            self.hamiltonian_params["beta"],
        )
        ham = Hamiltonian(d, h, self.hamiltonian_params["J"])
        sol = anneal(
            ham, self.temperature, seed=self.seed, chains=self.anneal_chains, langevin_steps=self.anneal_steps
        )
        sel = select(d, sol.weights, answers, self.agreement_radius)
        timings["anneal_s"] = timings.get("anneal_s", 0.0) + time.perf_counter() - t0
        return {"distances": d, "h": h, "solution": sol, "selection": sel}

    async def consensus(
        self, prompt: str | Messages, answer_extractor: str | Extractor | None = None
    ) -> Consensus:
        """Asks every client, anneals, and returns the :class:`Consensus` (see the class docs)."""
        t_start = time.perf_counter()
        messages = _messages(prompt)
        extractor = resolve_extractor(answer_extractor)
        timings: dict[str, float] = {}
        jobs = [
            self._job(c, messages, k, 0)
            for c in range(len(self.clients))
            for k in range(self.samples_per_model)
        ]
        responses, calls = await self._ask(jobs, timings, self.quorum)
        rounds: list[tuple[list[Response], NDArray[np.float64]]] = []
        vectors = await self._embed(responses, timings)
        rounds.append((responses, vectors))
        state = self._solve(responses, vectors, extractor, timings)
        refinement: dict[str, Any] = {
            "strategy": self.refine_strategy,
            "threshold": self.refine_threshold,
            "budget": self.refine_budget,
            "used": 0,
            "rounds": 0,
            "free_energy": [state["solution"].free_energy],
        }
        if self.refine_threshold is not None and self.refine_budget > 0:
            responses, vectors, state, calls = await self._refine(
                messages, extractor, responses, vectors, state, calls, refinement, rounds, timings
            )
        sol, sel = state["solution"], state["selection"]
        synthesis = None
        if self.synthesizer is not None:
            t0 = time.perf_counter()
            synthesis = await self._synthesise(messages, responses, sol.weights, calls)
            timings["models_s"] = timings.get("models_s", 0.0) + time.perf_counter() - t0
        causal = None
        if self.causal and len(rounds) >= 2 and self.refine_strategy == "debate":
            from .causal import debate_graph

            t0 = time.perf_counter()
            causal = debate_graph(rounds, seed=self.seed)
            timings["causal_s"] = time.perf_counter() - t0
        timings["total_s"] = time.perf_counter() - t_start
        timings["overhead_s"] = timings["total_s"] - timings.get("models_s", 0.0)
        return Consensus(
            prompt=_text_of(messages),
            answer=responses[sel.index].text,
            extracted_answer=sel.answer,
            selected=sel.index,
            responses=responses,
            weights=sol.weights,
            free_energy=sol.free_energy,
            energy=sol.energy,
            entropy=sol.entropy,
            temperature=sol.temperature,
            answer_weight=sel.answer_weight,
            distances=state["distances"],
            votes=sel.votes,
            curve=sol.curve,
            failures=[c for c in calls if not c["ok"]],
            calls=calls,
            parameters={
                **self.hamiltonian_params,
                "lam": self.lam,
                "temperature": self.temperature,
                "samples_per_model": self.samples_per_model,
                "quorum": self.quorum,
                "quality": self.quality_means(),
                "extractor": getattr(extractor, "__name__", None) if extractor is not None else None,
                "converged": sol.converged,
            },
            refinement=refinement,
            synthesis=synthesis,
            causal=causal,
            privacy=None if self.privacy is None else self.privacy.report(),
            timings=timings,
            h=state["h"],
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

    # ---- refinement, synthesis ----------------------------------------------------------------------

    def _entropy_share(self, responses: list[Response], weights: NDArray[np.float64]) -> dict[str, float]:
        share: dict[str, float] = {n: 0.0 for n in self.names}
        for r, w in zip(responses, weights):
            if w > 0:
                share[r.model] -= float(w * math.log(w))
        return share

    async def _refine(
        self,
        messages: Messages,
        extractor: Extractor | None,
        responses: list[Response],
        vectors: NDArray[np.float64],
        state: dict[str, Any],
        calls: list[dict[str, Any]],
        refinement: dict[str, Any],
        rounds: list[tuple[list[Response], NDArray[np.float64]]],
        timings: dict[str, float],
    ) -> tuple[list[Response], NDArray[np.float64], dict[str, Any], list[dict[str, Any]]]:
        assert self.refine_threshold is not None
        budget = self.refine_budget
        index = {n: i for i, n in enumerate(self.names)}
        while state["solution"].free_energy > self.refine_threshold and refinement["used"] < budget:
            left = budget - refinement["used"]
            rnd = refinement["rounds"] + 1
            weights = state["solution"].weights
            if self.refine_strategy == "debate":
                last = max(r.round for r in responses)
                # Each model's heaviest response of the last round speaks for it.
                ranked = sorted(zip(weights, range(len(responses))), key=lambda wi: (wi[0], -wi[1]))
                latest = {responses[i].model: responses[i] for _, i in ranked if responses[i].round == last}
                models = sorted(
                    latest, key=lambda m: -sum(w for r, w in zip(responses, weights) if r.model == m)
                )
                jobs = [
                    self._job(index[m], self._debate_messages(messages, latest, m), 0, rnd)
                    for m in models[:left]
                ]
                what = "the debate round"
            else:
                share = self._entropy_share(responses, weights)
                models = sorted(share, key=lambda m: (-share[m], m))[: min(left, len(self.names))]
                first = 1 + max(r.sample for r in responses)
                jobs = [self._job(index[m], messages, first + k, 0) for k, m in enumerate(models)]
                what = "the extra samples"
            try:
                new, new_calls = await self._ask(jobs, timings, 1)
            except QuorumError as exc:
                refinement["stopped"] = f"no model answered {what}: {exc}"
                calls = calls + exc.records
                refinement["used"] += len(jobs)
                break
            new_vectors = await self._embed(new, timings)
            # New answers (debate revisions included) join the earlier ones instead of replacing them:
            # a debate that goes astray (weak models copy noise) cannot erase the first round's agreement.
            responses = responses + new
            vectors = np.vstack([vectors, new_vectors])
            rounds.append((new, new_vectors))
            calls = calls + new_calls
            refinement["used"] += len(jobs)
            refinement["rounds"] = rnd
            state = self._solve(responses, vectors, extractor, timings)
            refinement["free_energy"].append(state["solution"].free_energy)
        return responses, vectors, state, calls

    def _debate_messages(self, messages: Messages, latest: dict[str, Response], model: str) -> Messages:
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
                + others
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
        top = sorted(range(len(responses)), key=lambda i: -weights[i])[: self.synthesis_top_k]
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
        job = Job(0, f"{name} (synthesis)", prompt, {"max_tokens": self.max_tokens, "temperature": 0.0})
        try:
            out, records = await gather([self.synthesizer], [job], quorum=1, timeout=self.timeout)
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

    # ---- learning -----------------------------------------------------------------------------------

    def feedback(self, consensus: Consensus, correct: bool) -> dict[str, float]:
        """Updates each model's Beta posterior from whether ``consensus`` was right, and persists it.

        A response agrees with the consensus when it has the same extracted answer (or, without one,
        lies within ``agreement_radius`` of the selected response). Right consensus: agreeing responses
        count as successes, the others as failures. Wrong consensus: agreeing responses count as failures
        and the others are left out (being different is not being right). Returns each updated model's
        new posterior mean."""
        if not isinstance(correct, bool):
            raise TypeError(f"correct: expected a bool, got {type(correct).__name__}")
        if not isinstance(consensus, Consensus):
            raise TypeError(f"consensus: expected a Consensus, got {type(consensus).__name__}")
        updated: dict[str, float] = {}
        for i, r in enumerate(consensus.responses):
            if consensus.extracted_answer is not None:
                agrees = r.answer == consensus.extracted_answer
            else:
                agrees = bool(consensus.distances[consensus.selected, i] <= self.agreement_radius)
            if not correct and not agrees:
                continue
            self.quality.update(r.model, self.domain, 1.0 if (agrees and correct) else 0.0)
            updated[r.model] = self.quality.get(r.model, self.domain).mean
        if self.state_path is not None:
            self.quality.save(self.state_path)
        return updated
