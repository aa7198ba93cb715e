"""Coherence as a wrong-answer detector: AUROC of the Kuramoto order parameter of an answer's hidden states
(``diagnostics.kuramoto_order``) beside mean token entropy and semantic entropy, on development questions.

    python benches/eval_coherence.py --dataset ~/.cache/thermoconsensus-eval/gsm8k/train.jsonl \\
        [--n 80] [--subset-seed 1] [--model qwen2.5-coder-0.5b] [--samples 4] [--max-tokens 256]
        [--batch 8] [--threads 2] [--out records.jsonl]

Per question: the model's greedy answer (chat template, the package's answer-format instruction), scored
against the gold answer; its mean next-token entropy; ``--samples`` more answers (temperature 1, min-p 0.1)
whose extracted final answers, with the greedy one, give the semantic entropy (clusters = the same final
answer); and the coherence of the greedy answer's tokens, from ``Model.internals`` of prompt + answer. The
decision rule was fixed before any run: the primary coherence is the middle layer's (``n_layer // 2``)
hidden states, 64 planes, seed 0, with low coherence read as "wrong" (the notes' claim); the last layer's
is reported beside it. Coherence stays a feature only if its AUROC beats token entropy's by >= 0.02 with
a 95% bootstrap interval (2,000 paired resamples of questions) that excludes 0.

AUROC is the probability that a wrong answer scores higher than a right one (ties count half).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eval_datasets import load_questions
from eval_sampling import STOPS, prompt_of
from thermoconsensus import diagnostics, llm, models
from thermoconsensus.consensus import EXTRACTORS


def auroc(score: np.ndarray, wrong: np.ndarray) -> float:
    """P(score of a wrong answer > score of a right one), ties half (the Mann-Whitney statistic)."""
    pos, neg = score[wrong], score[~wrong]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def bootstrap_difference(
    a: np.ndarray, b: np.ndarray, wrong: np.ndarray, resamples: int = 2000
) -> tuple[float, float, float]:
    """AUROC(a) - AUROC(b) and its 95% paired bootstrap interval over questions."""
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(resamples):
        i = rng.integers(0, len(wrong), len(wrong))
        d = auroc(a[i], wrong[i]) - auroc(b[i], wrong[i])
        if np.isfinite(d):
            diffs.append(d)
    return (
        auroc(a, wrong) - auroc(b, wrong),
        float(np.percentile(diffs, 2.5)),
        float(np.percentile(diffs, 97.5)),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--n", type=int, default=80)
    ap.add_argument("--subset-seed", type=int, default=1)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, help="write one JSON record per question here")
    args = ap.parse_args()
    questions = load_questions(args.dataset, n=args.n, seed=args.subset_seed)
    model = llm.Model.load(models.path(args.model), n_threads=args.threads)
    n_layer = int(model.config["n_layer"])
    layers = {"middle": n_layer // 2, "last": n_layer}
    records = []
    t0 = time.perf_counter()
    for at in range(0, len(questions), args.batch):
        chunk = questions[at : at + args.batch]
        prompts = [prompt_of(model, q) for q in chunk]
        greedy = model.generate_batch(prompts, max_tokens=args.max_tokens, temperature=0.0, stop=STOPS)
        sampled = model.generate_batch(
            prompts, n=args.samples, max_tokens=args.max_tokens, temperature=1.0, min_p=0.1, top_k=0,
            top_p=1.0, seed=at, stop=STOPS,
        )  # fmt: skip
        for j, (q, ids, g) in enumerate(zip(chunk, prompts, greedy)):
            extract = EXTRACTORS[q.kind]
            answer = extract(g.text)
            others = [extract(s.text) for s in sampled[j * args.samples : (j + 1) * args.samples]]
            record = {
                "id": q.id,
                "correct": answer == q.gold,
                "token_entropy": float(np.mean(g.entropies[: max(len(g.token_ids), 1)])),
                "semantic_entropy": diagnostics.semantic_entropy([answer, *others]),
            }
            if len(g.token_ids) >= 2:
                span = list(range(len(ids), len(ids) + len(g.token_ids)))
                got = model.internals(ids + g.token_ids, hidden_layers=list(layers.values()), positions=span)
                for name, layer in layers.items():
                    record[f"coherence_{name}"] = diagnostics.kuramoto_order(got.hidden[layer])
            else:
                record.update({f"coherence_{name}": float("nan") for name in layers})
            records.append(record)
        done = len(records)
        print(
            f"  {done}/{len(questions)} questions, {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in records))
    keep = [r for r in records if np.isfinite(r["coherence_middle"])]
    wrong = np.array([not r["correct"] for r in keep])
    scores = {
        "token entropy": np.array([r["token_entropy"] for r in keep]),
        "semantic entropy": np.array([r["semantic_entropy"] for r in keep]),
        # Low coherence is read as "wrong", so the detector's score is 1 - r.
        "coherence (middle layer)": 1 - np.array([r["coherence_middle"] for r in keep]),
        "coherence (last layer)": 1 - np.array([r["coherence_last"] for r in keep]),
    }
    print(
        f"{args.model} on {len(keep)} questions of {args.dataset.name} (subset seed {args.subset_seed}): "
        f"{int((~wrong).sum())} right, {int(wrong.sum())} wrong; {args.samples} samples + greedy per question"
    )
    for name, s in scores.items():
        print(f"  AUROC {name:26s} {auroc(s, wrong):.3f}")
    for name in ("coherence (middle layer)", "coherence (last layer)", "semantic entropy"):
        d, lo, hi = bootstrap_difference(scores[name], scores["token entropy"], wrong)
        print(f"  {name} - token entropy: {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    d, lo, _ = bootstrap_difference(scores["coherence (middle layer)"], scores["token entropy"], wrong)
    verdict = "keeps" if d >= 0.02 and lo > 0 else "does not earn"
    print(f"decision (primary, middle layer): coherence {verdict} a place as a feature")


if __name__ == "__main__":
    main()
