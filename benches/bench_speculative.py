"""Greedy speculative decoding against the target model alone: wall time per generated token, same run.

    python benches/bench_speculative.py [--target qwen2.5-coder-1.5b] [--draft qwen2.5-coder-0.5b]
                                        [--threads 2] [--tokens 64] [--n-draft 3 7]
                                        [--p-min 0 0.75] [--min-ngram 1 2]

Three workloads. Code completion: three function stubs continued by the target alone
(``generate(temperature=0)``), then with the draft model proposing ``--n-draft`` tokens per target pass,
then with prompt-lookup drafts, for every ``--n-draft`` and every draft-model ``--p-min`` (drafting stops
before a token the draft gives a lower probability) or prompt-lookup ``--min-ngram``. Chat: three
general questions in the chat template, the same three ways. Rewriting: two "rename a variable" prompts
whose answer (a fenced code block, ended at its closing fence) repeats the prompt, with prompt-lookup
drafts. Each line gives the total time of the workload (prompt
passes included), tokens per second, the speed-up over the target alone, the share of drafted tokens
accepted, and whether every output equals the target's own greedy tokens.
"""

from __future__ import annotations

import argparse
import time

from thermoconsensus import llm, models

CHAT = [
    "Why do leaves change colour in autumn?",
    "Give three tips for a first job interview.",
    "What is the difference between weather and climate?",
]

CODE = [
    "def is_prime(n: int) -> bool:\n",
    "def merge_sorted(a: list[int], b: list[int]) -> list[int]:\n",
    'def parse_csv_line(line: str) -> list[str]:\n    """Split one CSV line, honouring double quotes."""\n',
]

REWRITES = [
    "Rewrite the function with the variable total renamed to result.\n\n"
    "def add_all(values):\n    total = 0\n    for v in values:\n"
    "        total = total + v\n    return total\n\n"
    "Rewritten:\n```python\n",
    "Rewrite the class with the attribute name renamed to label.\n\n"
    "class Item:\n    def __init__(self, name, price):\n"
    "        self.name = name\n        self.price = price\n\n"
    "    def describe(self):\n        return f'{self.name}: {self.price}'\n\nRewritten:\n```python\n",
]


def plain(
    model: llm.Model, prompts: list[str], tokens: int, stop: str | None
) -> tuple[float, list[list[int]]]:
    t0 = time.perf_counter()
    outs = []
    for p in prompts:
        g = model.generate(p, max_tokens=tokens, temperature=0, stop=stop)
        assert isinstance(g, llm.Generation)
        outs.append(g.token_ids)
    return time.perf_counter() - t0, outs


def speculative(
    model: llm.Model, prompts: list[str], tokens: int, **kw: object
) -> tuple[float, list[list[int]], float]:
    t0 = time.perf_counter()
    outs, drafted, accepted = [], 0, 0
    for p in prompts:
        g = model.generate_speculative(p, max_tokens=tokens, **kw)  # type: ignore[arg-type]
        outs.append(g.token_ids)
        drafted += g.speculative["drafted"]
        accepted += g.speculative["accepted"]
    return time.perf_counter() - t0, outs, accepted / max(drafted, 1)


def line(
    label: str, seconds: float, outs: list[list[int]], base: float, ref: list[list[int]], acc: str
) -> None:
    n = sum(len(o) for o in outs)
    same = sum(a == b for a, b in zip(outs, ref))
    print(
        f"  {label:<32} {seconds:7.2f} s  {n / seconds:6.2f} tok/s  {base / seconds:5.2f}x  "
        f"accepted {acc:>5}  equal to greedy {same}/{len(ref)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="qwen2.5-coder-1.5b")
    ap.add_argument("--draft", default="qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--n-draft", type=int, nargs="+", default=[3, 7])
    ap.add_argument("--p-min", type=float, nargs="+", default=[0.0, 0.75])
    ap.add_argument("--min-ngram", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    target = llm.Model.load(models.path(args.target), n_threads=args.threads)
    draft = llm.Model.load(models.path(args.draft), n_threads=args.threads)
    print(
        f"target {args.target}, draft {args.draft}, {args.threads} threads, {args.tokens} tokens per prompt"
    )
    chats = [target.apply_chat_template([{"role": "user", "content": q}]) for q in CHAT]
    workloads = [
        ("code completion", CODE, None, True),
        ("chat", chats, None, True),
        ("rewriting", REWRITES, "```", False),
    ]
    for name, prompts, stop, with_draft in workloads:
        print(f"{name} ({len(prompts)} prompts)")
        base, ref = plain(target, prompts, args.tokens, stop)
        line("target alone", base, ref, base, ref, "-")
        for k in args.n_draft:
            for p_min in args.p_min if with_draft else []:
                s, outs, acc = speculative(
                    target, prompts, args.tokens, draft=draft, n_draft=k, p_min=p_min, stop=stop
                )
                line(f"draft, n_draft={k}, p_min={p_min:g}", s, outs, base, ref, f"{acc:.0%}")
            for m in args.min_ngram:
                s, outs, acc = speculative(target, prompts, args.tokens, n_draft=k, min_ngram=m, stop=stop)
                line(f"lookup, n_draft={k}, min_ngram={m}", s, outs, base, ref, f"{acc:.0%}")


if __name__ == "__main__":
    main()
