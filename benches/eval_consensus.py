"""Evaluation of the thermodynamic consensus against the usual ways of combining several LLMs.

One run asks the three local models (SmolLM2-135M, Qwen2.5-Coder-0.5B, Gemma-3-270M) every question of
a GSM8K-format jsonl file ({"question", "answer": "... #### 42"}) or a multiple-choice jsonl file
({"question", "choices": [...], "answer": "B"}), ``--samples`` times each (the first greedy), and
scores on the same responses, side by side:

* best single model (its greedy answer; the best of the three in hindsight, an optimistic baseline);
* majority vote over every response's extracted answer;
* embedding MBR: the unweighted medoid under cosine distance of the MiniLM embeddings;
* thermodynamic consensus (answer-mixed distances, free-energy weights, weighted vote);
* the same with learned priors (feedback after each question updates the Beta posteriors used for the
  next one: prequential, never peeking at the current answer);
* the same with refinement (one debate round when F* is above ``--refine``).

Accuracy carries a 95% bootstrap interval over questions; AUROC says how well -F* ranks correct above
wrong consensus answers; calls, tokens and model seconds are per question. The orchestration overhead
(everything but model time: embedding, distances, annealing, selection) is measured on 5 fixed
responses with instant fake clients and the embedder loaded.

Run: ``python benches/eval_consensus.py --dataset benches/data/sample_gsm8k.jsonl --n 20``.
Bring the full GSM8K test set (or a multiple-choice set) for a real measurement: the sample file here
is 20 easy questions written for this script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from thermoconsensus.clients import LLMResponse, LocalClient
from thermoconsensus.consensus import Consensus, Orchestrator, cosine_distances, weighted_medoid
from thermoconsensus.embeddings import MiniLM

MODELS = ("smollm2-135m", "qwen2.5-coder-0.5b", "gemma3-270m")


class Recorded:
    """A client that remembers every reply by request, so several methods share the same responses."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.memo: dict[str, LLMResponse] = {}
        self.fresh_calls = 0

    async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
        key = json.dumps([prompt, options], sort_keys=True, default=str)
        if key not in self.memo:
            self.memo[key] = await self.inner.chat(prompt, **options)
            self.fresh_calls += 1
        return self.memo[key]


def load(path: Path, n: int) -> list[dict[str, Any]]:
    items = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        if "choices" in d:
            letters = "ABCDE"
            opts = "\n".join(f"{letters[i]}) {c}" for i, c in enumerate(d["choices"]))
            q = f"{d['question']}\n{opts}\nReply with the letter of the correct option first."
            items.append({"prompt": q, "gold": str(d["answer"]).strip().upper(), "extractor": "option"})
        else:
            gold = re.split(r"####", d["answer"])[-1].strip().replace(",", "")
            q = f"{d['question']}\nAnswer briefly and end your reply with the final number."
            items.append({"prompt": q, "gold": gold, "extractor": "number"})
        if len(items) == n:
            break
    return items


def bootstrap(correct: list[bool], seed: int = 0, reps: int = 2000) -> tuple[float, float, float]:
    x = np.array(correct, dtype=float)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(reps, len(x)))].mean(axis=1)
    return float(x.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def auroc(scores: list[float], labels: list[bool]) -> float | None:
    """P(score of a correct item > score of a wrong one), ties counted half (Mann-Whitney)."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def majority(answers: list[str | None]) -> str | None:
    votes = Counter(a for a in answers if a is not None)
    return votes.most_common(1)[0][0] if votes else None


def call_stats(c: Consensus) -> tuple[int, int, float]:
    return (
        len(c.calls),
        sum(int(x.get("prompt_tokens", 0)) + int(x.get("completion_tokens", 0)) for x in c.calls),
        sum(float(x["latency_s"]) for x in c.calls),
    )


async def overhead(embedder: MiniLM, runs: int = 30) -> float:
    """Median orchestration overhead (ms) of one consensus over 5 fixed responses from instant clients."""
    texts = [
        "The answer is 42.",
        "6 times 7 is 42.",
        "It equals 42.",
        "I think the answer is 48.",
        "Forty-two, because 6 * 7 = 42.",
    ]

    class Instant:
        def __init__(self, name: str, text: str) -> None:
            self.name, self.text = name, text

        async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
            return LLMResponse(text=self.text, model=self.name, provider="fake")

    orch = Orchestrator([Instant(f"m{i}", t) for i, t in enumerate(texts)], embedder=embedder)
    await orch.consensus("warm up", answer_extractor="number")
    times = []
    for _ in range(runs):
        c = await orch.consensus("What is 6 times 7?", answer_extractor="number")
        times.append(c.timings["overhead_s"] * 1e3)
    return statistics.median(times)


async def main(args: argparse.Namespace) -> int:
    items = load(Path(args.dataset), args.n)
    embedder = MiniLM.load()
    print(f"loading {', '.join(MODELS)} ...", file=sys.stderr)
    clients = [Recorded(LocalClient(m, n_threads=args.threads)) for m in MODELS]
    common = {
        "embedder": embedder,
        "samples_per_model": args.samples,
        "max_tokens": args.max_tokens,
        "quorum": 1,
        "seed": args.seed,
        "temperature": args.temperature,
    }
    plain = Orchestrator(clients, **common)
    learned = Orchestrator(clients, **common)
    refined = Orchestrator(
        clients, **common, refine_threshold=args.refine, refine_budget=len(MODELS), refine_strategy="debate"
    )
    rows: dict[str, dict[str, list[Any]]] = {}

    def record(
        method: str, ok: bool, calls: int, tokens: int, seconds: float, f: float | None = None
    ) -> None:
        r = rows.setdefault(method, {"ok": [], "calls": [], "tokens": [], "seconds": [], "f": []})
        r["ok"].append(ok)
        r["calls"].append(calls)
        r["tokens"].append(tokens)
        r["seconds"].append(seconds)
        if f is not None:
            r["f"].append(f)

    overheads = []
    t_run = time.perf_counter()
    for k, item in enumerate(items):
        t0 = time.perf_counter()
        gold, ex = item["gold"], item["extractor"]
        c = await plain.consensus(item["prompt"], answer_extractor=ex)
        overheads.append(c.timings["overhead_s"] * 1e3)
        n_calls, tokens, seconds = call_stats(c)
        record("thermodynamic consensus", c.extracted_answer == gold, n_calls, tokens, seconds, c.free_energy)
        answers = [r.answer for r in c.responses]
        record("majority vote", majority(answers) == gold, n_calls, tokens, seconds)
        cos = cosine_distances(await embedder.aembed([r.text or "(empty)" for r in c.responses]))
        medoid = weighted_medoid(cos, np.full(len(answers), 1.0 / len(answers)))
        record("embedding MBR (medoid)", answers[medoid] == gold, n_calls, tokens, seconds)
        for r in c.responses:
            if r.sample == 0:
                record(
                    f"single: {r.model}",
                    r.answer == gold,
                    1,
                    r.prompt_tokens + r.completion_tokens,
                    r.latency_s,
                )
        cl = await learned.consensus(item["prompt"], answer_extractor=ex)
        ok = cl.extracted_answer == gold
        record("thermo + learned priors", ok, n_calls, tokens, seconds, cl.free_energy)
        learned.feedback(cl, correct=ok)
        cr = await refined.consensus(item["prompt"], answer_extractor=ex)
        rc, rt, rs = call_stats(cr)
        record("thermo + refinement (debate)", cr.extracted_answer == gold, rc, rt, rs, cr.free_energy)
        print(
            f"[{k + 1}/{len(items)}] gold {gold}: answers {answers} -> {c.extracted_answer} "
            f"(F* {c.free_energy:.3f}; refined {cr.extracted_answer}, +{cr.refinement['used']} calls) "
            f"{time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    wall = time.perf_counter() - t_run
    singles = {m: r for m, r in rows.items() if m.startswith("single: ")}
    best = max(singles, key=lambda m: np.mean(singles[m]["ok"]))
    order = [
        *sorted(singles),
        "majority vote",
        "embedding MBR (medoid)",
        "thermodynamic consensus",
        "thermo + learned priors",
        "thermo + refinement (debate)",
    ]
    print(
        f"\n{len(items)} questions from {args.dataset}; {len(MODELS)} models x {args.samples} samples "
        f"(first greedy), max_tokens {args.max_tokens}, T = {args.temperature}; {wall:.0f} s in all"
    )
    head = ("method", "accuracy [95% CI]", "AUROC(-F*)", "calls/q", "tokens/q", "s/q")
    print(f"{head[0]:40s} {head[1]:>22s} {head[2]:>10s} {head[3]:>8s} {head[4]:>9s} {head[5]:>7s}")
    for m in order:
        r = rows[m]
        acc, lo, hi = bootstrap(r["ok"], seed=args.seed)
        au = auroc([-f for f in r["f"]], r["ok"]) if r["f"] else None
        label = m + (" (best)" if m == best else "")
        print(
            f"{label:40s} {acc:6.2f} [{lo:4.2f}, {hi:4.2f}]      "
            f"{'-' if au is None else f'{au:.2f}':>10s} {np.mean(r['calls']):8.1f} "
            f"{np.mean(r['tokens']):9.0f} {np.mean(r['seconds']):7.1f}"
        )
    med = statistics.median(overheads)
    print(f"\norchestration overhead per question (all but model time): median {med:.1f} ms")
    ms = await overhead(embedder)
    print(f"orchestration overhead, 5 responses, embedder loaded, instant clients: median {ms:.1f} ms")
    fresh = sum(c.fresh_calls for c in clients)
    print(f"model calls made in the run: {fresh} (methods share the same responses)")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default=str(Path(__file__).parent / "data" / "sample_gsm8k.jsonl"))
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--samples", type=int, default=2, help="samples per model (default 2: greedy + 1)")
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--temperature", type=float, default=0.1, help="T of the free energy")
    p.add_argument("--refine", type=float, default=0.66, help="debate when F* is above this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    sys.exit(asyncio.run(main(p.parse_args())))
