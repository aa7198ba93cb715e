"""Evaluation of the thermodynamic consensus against the usual ways of combining several LLMs.

Two steps, so that every method is scored on the very same responses and a rerun costs no model time:

``generate`` asks each model every question of a seeded random subset (``--n``, ``--seed``) of a
standard release (GSM8K jsonl; ARC and CommonsenseQA jsonl as published; simple multiple-choice jsonl;
the LLM-Adapters JSON layout: see ``eval_datasets.py``), ``--samples`` times (the first greedy), with
exactly the messages and options the Orchestrator sends, and appends every response with its token
log probabilities to a JSONL file (a rerun resumes where it stopped).

``score`` replays those responses through the real Orchestrator and prints, per question set:
each model's greedy answer, each model's self-consistency over its samples, majority vote over all
responses, the most confident response (raw mean token log probability), a confidence-weighted vote,
embedding MBR (the unweighted medoid), the consensus (reliability learned online over the questions
in order, and as a batch with ``consensus_many``), two ablations, and the oracle (any response right);
paired McNemar p-values against the best single model and majority vote; AUROC of -F* for the
consensus being right beside the vote share's; the response-level AUROC of the calibrated confidence
against the raw mean log probability; how many responses were invalid and why; calls, tokens and
model seconds per question; the orchestration overhead.

    python benches/eval_consensus.py generate --dataset ~/.cache/thermoconsensus-eval/gsm8k/train.jsonl \\
        --n 30 --out responses.jsonl
    python benches/eval_consensus.py score responses.jsonl

Develop on training splits only; the test splits are for held-out measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_datasets import Question, load_questions
from thermoconsensus.clients import LLMResponse, LocalClient, TokenLogprob
from thermoconsensus.consensus import (
    Consensus,
    ConsensusConfig,
    Orchestrator,
    cosine_distances,
    mean_logprob,
    resolve_extractor,
    weighted_medoid,
)
from thermoconsensus.embeddings import SentenceEmbedder

DEFAULT_MODELS = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m")


# ---- generate -----------------------------------------------------------------------------------------


def _done(out: Path) -> set[tuple[str, str, str, int]]:
    seen: set[tuple[str, str, str, int]] = set()
    if out.exists():
        for line in out.read_text("utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                seen.add((r["set"], r["qid"], r["model"], int(r["sample"])))
    return seen


async def generate(args: argparse.Namespace) -> int:
    questions: list[Question] = load_questions(args.dataset, args.n, args.seed)
    models = args.models.split(",")
    out = Path(args.out)
    done = _done(out)
    print(f"loading {', '.join(models)} ...", file=sys.stderr)
    clients = [LocalClient(m, n_threads=args.threads) for m in models]
    orch = Orchestrator(clients, samples_per_model=args.samples, max_tokens=args.max_tokens, quorum=1)
    t_run = time.perf_counter()
    with out.open("a", encoding="utf-8") as f:
        for k, item in enumerate(questions):
            q = orch.question(item.prompt, item.kind)
            for job in orch.first_jobs(q):
                if (item.set_name, item.id, job.name, job.sample) in done:
                    continue
                t0 = time.perf_counter()
                r = await clients[job.client].chat(job.messages, **job.options)
                rec = {
                    "set": item.set_name,
                    "qid": item.id,
                    "kind": item.kind,
                    "gold": item.gold,
                    "question": item.prompt,
                    "messages": job.messages,
                    "options": job.options,
                    "model": job.name,
                    "sample": job.sample,
                    "text": r.text,
                    "finish_reason": r.finish_reason,
                    "prompt_tokens": r.prompt_tokens,
                    "completion_tokens": r.completion_tokens,
                    "latency_s": time.perf_counter() - t0,
                    "logprobs": [[t.token, t.logprob] for t in r.logprobs or ()],
                }
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                f.flush()
            print(
                f"[{k + 1}/{len(questions)}] {item.set_name} {item.id} ({time.perf_counter() - t_run:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    return 0


# ---- score --------------------------------------------------------------------------------------------


@dataclass
class Item:
    """One question with every recorded response, keyed by (model, sample)."""

    set: str
    qid: str
    kind: str
    gold: str
    question: str
    records: dict[tuple[str, int], dict[str, Any]]


def read(paths: Sequence[str], models: Sequence[str] = ()) -> dict[str, list[Item]]:
    """The recorded questions of each set (with ``models``, only those models' responses, and only
    the questions every one of them answered)."""
    items: dict[tuple[str, str], Item] = {}
    for path in paths:
        for line in Path(path).read_text("utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            if models and r["model"] not in models:
                continue
            key = (r["set"], r["qid"])
            if key not in items:
                items[key] = Item(r["set"], r["qid"], r["kind"], r["gold"], r["question"], {})
            items[key].records[(r["model"], int(r["sample"]))] = r
    by_set: dict[str, list[Item]] = defaultdict(list)
    for it in items.values():
        if not models or {m for m, _ in it.records} == set(models):
            by_set[it.set].append(it)
    return by_set


class Replay:
    """A client that answers from the recorded responses: the question is found by its text; a
    greedy call (temperature 0) gets the recorded sample 0, the k-th sampled call on a question the
    recorded sample k (the orchestrator asks for samples in order)."""

    def __init__(self, name: str, items: Sequence[Item]) -> None:
        self.name = name
        self.by_question = {it.question: it for it in items}
        self.calls = 0
        self.sampled: Counter[str] = Counter()

    async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
        text = prompt[-1]["content"] if isinstance(prompt, list) else str(prompt)
        it = next((v for q, v in self.by_question.items() if text.startswith(q)), None)
        sample = 0
        if it is not None and float(options.get("temperature") or 0.0) > 0:
            self.sampled[it.qid] += 1
            sample = self.sampled[it.qid]
        if it is None or (self.name, sample) not in it.records:
            raise LookupError(f"{self.name}: no recorded response for sample {sample}")
        r = it.records[(self.name, sample)]
        self.calls += 1
        tokens, text, finish = r["logprobs"], r["text"], r["finish_reason"]
        limit = int(options.get("max_tokens") or len(tokens))
        if len(tokens) > limit:
            # A shorter limit replays as the same generation cut earlier (greedy and seeded sampling
            # produce the same prefix), so one recording serves every max_tokens up to its own.
            tokens, finish = tokens[:limit], "length"
            text = "".join(t for t, _ in tokens)
        return LLMResponse(
            text=text,
            model=self.name,
            provider="replay",
            prompt_tokens=r["prompt_tokens"],
            completion_tokens=len(tokens),
            finish_reason=finish,
            logprobs=[TokenLogprob(t, float(lp)) for t, lp in tokens],
            latency_s=r["latency_s"] * len(tokens) / max(1, len(r["logprobs"])),
        )


class Fixed:
    """An embedder cache: MiniLM once per text."""

    def __init__(self, inner: SentenceEmbedder) -> None:
        self.inner = inner
        self.memo: dict[str, np.ndarray[Any, Any]] = {}

    async def aembed(self, texts: list[str]) -> np.ndarray[Any, Any]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            for t, v in zip(missing, await self.inner.aembed(missing)):
                self.memo[t] = np.asarray(v)
        return np.stack([self.memo[t] for t in texts])

    def embed(self, texts: list[str]) -> np.ndarray[Any, Any]:
        return asyncio.run(self.aembed(texts))


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """P(score of a right item > score of a wrong one), ties counted half (Mann-Whitney)."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Exact two-sided McNemar p-value (binomial on the discordant pairs)."""
    n01 = sum(1 for x, y in zip(a, b) if x and not y)
    n10 = sum(1 for x, y in zip(a, b) if y and not x)
    n = n01 + n10
    if n == 0:
        return 1.0
    k = min(n01, n10)
    p = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * p)


def majority(answers: Sequence[str | None], tiebreak: Sequence[str | None] = ()) -> str | None:
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return None
    top = max(votes.values())
    tied = [a for a, v in votes.items() if v == top]
    for a in tiebreak:
        if a in tied:
            return a
    return sorted(tied)[0]


def extracted(item: Item, model: str, sample: int) -> str | None:
    r = item.records.get((model, sample))
    extractor = resolve_extractor(item.kind)
    assert extractor is not None
    return None if r is None else extractor(r["text"])


def mean_lp(r: dict[str, Any]) -> float:
    value = mean_logprob([(t, float(lp)) for t, lp in r["logprobs"]])
    return -1e9 if value is None else value


async def score_set(
    name: str,
    items: list[Item],
    embedder: Fixed,
    config: ConsensusConfig,
    budget: int = 2,
    refine_threshold: float = -0.5,
) -> dict[str, Any]:
    models = sorted({m for it in items for m, _ in it.records})
    samples = max(s for it in items for _, s in it.records) + 1
    rows: dict[str, list[bool]] = defaultdict(list)
    f_star: dict[str, list[float]] = defaultdict(list)
    share: list[float] = []
    resp_scores: dict[str, list[float]] = defaultdict(list)
    resp_right: list[bool] = []
    invalid: Counter[str] = Counter()
    invalid_right = [0, 0]
    n_responses = 0
    cost: dict[str, list[float]] = {"calls": [], "tokens": [], "seconds": []}
    calls_per: dict[str, list[int]] = defaultdict(list)
    config = config.with_settings(samples_per_model=samples)

    def replayers() -> list[Replay]:
        return [Replay(m, items) for m in models]

    variants: dict[str, Orchestrator] = {
        "consensus (online reliability)": Orchestrator(replayers(), config, embedder=embedder, quorum=1),
        "consensus, no validity check": Orchestrator(
            replayers(), config.with_settings(invalid_penalty=0.0), embedder=embedder, quorum=1
        ),
        "consensus, no reliability": Orchestrator(
            replayers(), config.with_settings(reliability=False), embedder=embedder, quorum=1
        ),
    }
    # Refinement on the same responses: start from each model's greedy answer and let the policy buy
    # up to `budget` of the recorded second samples while F* is above the threshold.
    refine = config.with_settings(samples_per_model=1, refine_strategy="samples", refine_budget=budget)
    for policy in ("threshold", "expected-free-energy"):
        variants[f"greedy + refinement ({policy}, budget {budget})"] = Orchestrator(
            replayers(),
            refine.with_settings(refine_policy=policy, refine_threshold=refine_threshold),
            embedder=embedder,
            quorum=1,
        )
    online: dict[str, list[Consensus]] = {k: [] for k in variants}
    for it in items:
        for k, orch in variants.items():
            online[k].append(await orch.consensus(it.question, it.kind))
    batch_orch = Orchestrator(replayers(), config, embedder=embedder, quorum=1)
    batch = await batch_orch.consensus_many([it.question for it in items], items[0].kind, concurrency=8)

    for idx, it in enumerate(items):
        gold = it.gold
        c = online["consensus (online reliability)"][idx]
        for m in models:
            greedy = extracted(it, m, 0)
            rows[f"single: {m}"].append(greedy == gold)
            own = [extracted(it, m, s) for s in range(samples)]
            rows[f"self-consistency: {m}"].append(majority(own, [greedy]) == gold)
        every = [(m, s) for m in models for s in range(samples) if (m, s) in it.records]
        answers = [extracted(it, m, s) for m, s in every]
        greedy_all = [extracted(it, m, 0) for m in models]
        mv = majority(answers, greedy_all)
        rows["majority vote"].append(mv == gold)
        votes = Counter(a for a in answers if a is not None)
        share.append(votes[mv] / len(answers) if mv is not None else 0.0)
        best = max(every, key=lambda ms: mean_lp(it.records[ms]))
        rows["most confident (mean logprob)"].append(extracted(it, *best) == gold)
        weighted: Counter[str] = Counter()
        for (m, s), a in zip(every, answers):
            if a is not None:
                weighted[a] += math.exp(mean_lp(it.records[(m, s)]))
        rows["confidence-weighted vote"].append(
            (max(weighted, key=lambda a: (weighted[a], a)) if weighted else None) == gold
        )
        vecs = await embedder.aembed([it.records[ms]["text"] or "(empty)" for ms in every])
        medoid = weighted_medoid(cosine_distances(vecs), np.full(len(every), 1.0 / len(every)))
        rows["embedding MBR (medoid)"].append(answers[medoid] == gold)
        for k, cs in online.items():
            rows[k].append(cs[idx].extracted_answer == gold)
            f_star[k].append(cs[idx].free_energy)
            calls_per[k].append(len(cs[idx].calls))
        rows["consensus (batch reliability)"].append(batch[idx].extracted_answer == gold)
        f_star["consensus (batch reliability)"].append(batch[idx].free_energy)
        rows["oracle (any response right)"].append(gold in answers)
        for r in c.responses:
            right = r.answer == gold
            n_responses += 1
            if not r.valid:
                assert r.validity is not None
                invalid.update(r.validity.reasons)
                invalid_right[0] += right
                invalid_right[1] += 1
            if r.mean_logprob is not None:
                resp_right.append(right)
                resp_scores["raw mean logprob"].append(r.mean_logprob)
                resp_scores["calibrated confidence (+validity)"].append(
                    (r.confidence or 0.0) - (100.0 if not r.valid else 0.0)
                )
                resp_scores["calibrated confidence"].append(r.confidence or 0.0)
        cost["calls"].append(len(c.calls))
        cost["tokens"].append(c.tokens)
        cost["seconds"].append(sum(float(x["latency_s"]) for x in c.calls))
    return {
        "name": name,
        "n": len(items),
        "models": models,
        "samples": samples,
        "rows": rows,
        "f_star": f_star,
        "share": share,
        "resp_scores": resp_scores,
        "resp_right": resp_right,
        "invalid": invalid,
        "invalid_right": invalid_right,
        "n_responses": n_responses,
        "cost": {k: statistics.mean(v) for k, v in cost.items()},
        "calls": {k: statistics.mean(v) for k, v in calls_per.items()},
        "reliability": batch_orch.reliability_estimates(items[0].kind),
    }


def report(res: dict[str, Any]) -> None:
    rows: dict[str, list[bool]] = res["rows"]
    singles = {k: v for k, v in rows.items() if k.startswith("single: ")}
    best = max(singles, key=lambda k: (np.mean(singles[k]), k))
    print(
        f"\n## {res['name']}: {res['n']} questions, {len(res['models'])} models x {res['samples']} samples\n"
    )
    print("| method | accuracy | McNemar p vs best single | vs majority | AUROC(-F*) | calls/q |")
    print("|---|---|---|---|---|---|")
    for k, v in rows.items():
        au = auroc([-f for f in res["f_star"][k]], v) if k in res["f_star"] else None
        if k == "majority vote":
            au_txt = (
                f"{auroc(res['share'], v):.2f} (vote share)" if auroc(res["share"], v) is not None else "-"
            )
        else:
            au_txt = "-" if au is None else f"{au:.2f}"
        label = k + (" (best single)" if k == best else "")
        n_models, n_samples = len(res["models"]), res["samples"]
        calls = res["calls"].get(k)
        if calls is None:
            calls = (
                1
                if k.startswith("single: ")
                else n_samples
                if k.startswith("self-")
                else n_models * n_samples
            )
        print(
            f"| {label} | {np.mean(v):.3f} | {mcnemar(v, rows[best]):.3f} | "
            f"{mcnemar(v, rows['majority vote']):.3f} | {au_txt} | {calls:.1f} |"
        )
    right = res["resp_right"]
    print(
        "\nresponse-level AUROC (right above wrong): "
        + ", ".join(
            f"{k} {auroc(v, right):.3f}" for k, v in res["resp_scores"].items() if auroc(v, right) is not None
        )
    )
    inv = res["invalid"]
    n_inv = res["invalid_right"][1]
    print(
        f"invalid responses: {n_inv} of {res['n_responses']} ({dict(inv)}); "
        f"right among them: {res['invalid_right'][0]}"
    )
    rel = ", ".join(f"{m} {v['accuracy']:.2f} ({v['source']})" for m, v in res["reliability"].items())
    print(f"label-free reliability after the batch: {rel}")
    c = res["cost"]
    print(f"per question: {c['calls']:.1f} calls, {c['tokens']:.0f} tokens, {c['seconds']:.1f} model s")


async def overhead(embedder: SentenceEmbedder, config: ConsensusConfig, runs: int = 30) -> float:
    """Median orchestration overhead (ms) of one consensus over 5 fixed responses from instant clients."""
    texts = [
        "The answer is 42.",
        "6 times 7 is 42. The answer is 42.",
        "It equals 42.",
        "I think the answer is 48.",
        "Forty-two, because 6 * 7 = 42. The answer is 42.",
    ]

    class Instant:
        def __init__(self, name: str, text: str) -> None:
            self.name, self.text = name, text

        async def chat(self, prompt: Any, **options: Any) -> LLMResponse:
            return LLMResponse(
                text=self.text,
                model=self.name,
                provider="fake",
                logprobs=[TokenLogprob(w + " ", -0.3) for w in self.text.split()],
            )

    orch = Orchestrator([Instant(f"m{i}", t) for i, t in enumerate(texts)], config, embedder=embedder)
    await orch.consensus("warm up", answer_extractor="number")
    times = []
    for _ in range(runs):
        c = await orch.consensus("What is 6 times 7?", answer_extractor="number")
        times.append(c.timings["overhead_s"] * 1e3)
    return statistics.median(times)


async def score(args: argparse.Namespace) -> int:
    by_set = read(args.responses, args.models.split(",") if args.models else ())
    minilm = SentenceEmbedder.load()
    embedder = Fixed(minilm)
    config = ConsensusConfig()
    if args.set:
        config = config.with_settings(**{k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)})
    print(f"config: {config}")
    for name in sorted(by_set):
        items = sorted(by_set[name], key=lambda it: it.qid)
        report(await score_set(name, items, embedder, config))
    ms = await overhead(minilm, config)
    print(f"\norchestration overhead, 5 responses, embedder loaded, instant clients: median {ms:.1f} ms")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="ask the models and append their responses to a JSONL file")
    g.add_argument("--dataset", required=True, help="a question file (see eval_datasets.py for layouts)")
    g.add_argument("--n", type=int, default=30, help="questions in the seeded random subset")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--models", default=",".join(DEFAULT_MODELS))
    g.add_argument("--samples", type=int, default=2, help="samples per model (the first greedy)")
    g.add_argument(
        "--max-tokens", type=int, default=None, help="default: the Orchestrator's by answer format"
    )
    g.add_argument("--threads", type=int, default=None)
    g.add_argument("--out", required=True)
    s = sub.add_parser("score", help="score every method on recorded responses")
    s.add_argument("responses", nargs="+", help="JSONL files written by generate")
    s.add_argument("--set", action="append", default=[], metavar="NAME=JSON", help="a ConsensusConfig field")
    s.add_argument(
        "--models", default="", help="score this pool only (comma-separated; default: every model)"
    )
    args = p.parse_args(argv)
    run: Callable[[argparse.Namespace], Any] = generate if args.command == "generate" else score
    return int(asyncio.run(run(args)))


if __name__ == "__main__":
    sys.exit(main())
