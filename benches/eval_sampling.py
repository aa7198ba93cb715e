"""Decoding strategies on development questions: accuracy of one local model's answers under greedy decoding,
min-p sampling and entropy-guided sampling (``llm.EntropyGuide``), on the same seeded subset, in one run.

    python benches/eval_sampling.py --dataset ~/.cache/thermoconsensus-eval/gsm8k/train.jsonl \\
        [--n 60] [--subset-seed 0] [--model qwen2.5-coder-0.5b] [--max-tokens 320] [--seeds 0 1]
        [--batch 8] [--threads 2]

Each question is asked in the model's chat template with the package's answer-format instruction
(``consensus.INSTRUCTIONS["number"]`` or ``["option"]``) and scored by the package's extractor against the
gold answer. Methods: ``greedy`` (temperature 0); ``min-p`` (temperature 1, min-p 0.1, no top-k / top-p:
min-p's recommended setting); ``entropy`` (the same with ``entropy_guide=True``: greedy where the model is
confident, hotter at forks, the most likely of five draws elsewhere); ``contrastive`` (``--model`` the
expert, ``--amateur`` the amateur, alpha 0.1 and beta 0.5 as O'Brien and Lewis 2023 use them; deterministic,
one question at a time); ``beam`` (4 beams) and ``diverse-beam`` (2 groups of 2, diversity 0.5), the
best-scoring hypothesis of all groups (length penalty 1, as Hugging Face ranks them; the token counts
sum every hypothesis). The sampled methods run once per ``--seeds`` value. The others are decoded
``--batch`` questions at a time with ``Model.generate_batch``.

    python benches/eval_sampling.py --dataset ... --model qwen2.5-coder-1.5b --methods greedy contrastive

The report gives each method's accuracy (mean over seeds) and, against greedy and against min-p, the
paired difference with a 95% bootstrap interval over questions (2,000 resamples, seed 0). Use training
or development splits only: GSM8K train, ARC train/dev, CommonsenseQA train.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eval_datasets import Question, load_questions
from thermoconsensus import llm, models
from thermoconsensus.consensus import EXTRACTORS, INSTRUCTIONS

STOPS = ["<|im_end|>", "<end_of_turn>"]
SAMPLED = {"temperature": 1.0, "min_p": 0.1, "top_k": 0, "top_p": 1.0}
METHODS: dict[str, dict[str, Any]] = {
    "greedy": {"temperature": 0.0},
    "min-p": SAMPLED,
    "entropy": {**SAMPLED, "entropy_guide": True},
    "contrastive": {"alpha": 0.1, "beta": 0.5},
    "beam": {"beams": 4, "groups": 1},
    "diverse-beam": {"beams": 2, "groups": 2, "diversity": 0.5},
}


def prompt_of(model: llm.Model, q: Question) -> list[int]:
    text = f"{q.prompt.rstrip()}\n{INSTRUCTIONS[q.kind]}"
    chat = model.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
    return model.tokenize(chat, add_special=False, parse_special=True)


def run(
    model: llm.Model, questions: list[Question], settings: dict[str, Any], seed: int, args: argparse.Namespace
) -> tuple[np.ndarray, int, float]:
    """Correctness per question, tokens generated and seconds, for one method and seed."""
    correct, tokens, t0 = [], 0, time.perf_counter()
    if "beams" in settings:  # (diverse) beam search: the best-scoring hypothesis of all groups
        marks = [model.tokenize(s, add_special=False, parse_special=True) for s in STOPS]
        end_of_turn = [m[0] for m in marks if len(m) == 1]  # the template's end-of-turn token
        for q in questions:
            hyps = model.beam_search(
                prompt_of(model, q), max_tokens=args.max_tokens, stop_token_ids=end_of_turn, **settings
            )
            best = max(hyps, key=lambda h: h.score)
            correct.append(EXTRACTORS[q.kind](best.text) == q.gold)
            tokens += sum(len(h.token_ids) for h in hyps)
        return np.array(correct, dtype=float), tokens, time.perf_counter() - t0
    if "beta" in settings:  # contrastive decoding: one question at a time, both models every step
        for q in questions:
            g = model.generate_contrastive(
                prompt_of(model, q), args.amateur_model, max_tokens=args.max_tokens, stop=STOPS, **settings
            )
            correct.append(EXTRACTORS[q.kind](g.text) == q.gold)
            tokens += len(g.token_ids)
        return np.array(correct, dtype=float), tokens, time.perf_counter() - t0
    for i in range(0, len(questions), args.batch):
        chunk = questions[i : i + args.batch]
        outs = model.generate_batch(
            [prompt_of(model, q) for q in chunk],
            max_tokens=args.max_tokens,
            seed=seed + 1000 * i,
            stop=STOPS,
            **settings,
        )
        for q, g in zip(chunk, outs):
            correct.append(EXTRACTORS[q.kind](g.text) == q.gold)
            tokens += len(g.token_ids)
    return np.array(correct, dtype=float), tokens, time.perf_counter() - t0


def paired_interval(a: np.ndarray, b: np.ndarray, resamples: int = 2000) -> tuple[float, float, float]:
    """Mean of a - b over questions (points) and its 95% bootstrap interval."""
    diff = (a - b) * 100
    rng = np.random.default_rng(0)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--subset-seed", type=int, default=0)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--max-tokens", type=int, default=320)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", nargs="+", default=["greedy", "min-p", "entropy"], choices=list(METHODS))
    ap.add_argument("--amateur", default="qwen2.5-coder-0.5b", help="the amateur of contrastive decoding")
    args = ap.parse_args()
    questions = load_questions(args.dataset, n=args.n, seed=args.subset_seed)
    model = llm.Model.load(models.path(args.model), n_threads=args.threads)
    if "contrastive" in args.methods:
        args.amateur_model = llm.Model.load(models.path(args.amateur), n_threads=args.threads)
    print(
        f"{args.model} on {len(questions)} questions of {args.dataset.name} "
        f"(subset seed {args.subset_seed}), max {args.max_tokens} tokens, batch {args.batch}, "
        f"{args.threads} threads"
    )
    scores: dict[str, np.ndarray] = {}
    for name in args.methods:
        seeds = args.seeds if name in ("min-p", "entropy") else [0]
        runs = []
        for seed in seeds:
            correct, tokens, seconds = run(model, questions, METHODS[name], seed, args)
            runs.append(correct)
            print(
                f"  {name:8s} seed {seed}: {correct.mean() * 100:5.1f}%  "
                f"({tokens} tokens, {tokens / seconds:.1f} tok/s)",
                flush=True,
            )
        scores[name] = np.mean(runs, axis=0)
    print("\nmethod    accuracy  vs greedy (95% CI)        vs min-p (95% CI)")
    for name, s in scores.items():
        cells = []
        for base in ("greedy", "min-p"):
            if base in scores and base != name:
                d, lo, hi = paired_interval(s, scores[base])
                cells.append(f"{d:+5.1f} [{lo:+5.1f}, {hi:+5.1f}]")
            else:
                cells.append(" " * 20)
        print(f"{name:8s}  {s.mean() * 100:6.1f}%  {cells[0]:24s}  {cells[1]}")


if __name__ == "__main__":
    main()
