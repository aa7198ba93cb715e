"""Greedy speculative decoding against the target model alone: wall time per generated token, same run.

    python benches/bench_speculative.py [--target qwen2.5-coder-1.5b] [--draft qwen2.5-coder-0.5b]
                                        [--threads 2] [--tokens 64] [--n-draft 3 7]
                                        [--p-min 0 0.75] [--min-ngram 1 2] [--llama-bin DIR]

Three workloads. Code completion: three function stubs continued by the target alone
(``generate(temperature=0)``), then with the draft model proposing ``--n-draft`` tokens per target pass,
then with prompt-lookup drafts, for every ``--n-draft`` and every draft-model ``--p-min`` (drafting stops
before a token the draft gives a lower probability) or prompt-lookup ``--min-ngram``. Chat: three
general questions in the chat template, the same three ways. Rewriting: two "rename a variable" prompts
whose answer (a fenced code block, ended at its closing fence) repeats the prompt, with prompt-lookup
drafts. Each line gives the total time of the workload (prompt
passes included), tokens per second, the speed-up over the target alone, the share of drafted tokens
accepted, and whether every output equals the target's own greedy tokens.

With ``--llama-bin DIR`` (llama.cpp built from its public source: ``llama-completion``,
``llama-speculative-simple`` and ``llama-lookup``), llama.cpp's own greedy speculative decoding runs on
the same files and prompts in the same run: the target alone (``llama-completion --temp 0``), the
draft model (``llama-speculative-simple --spec-type draft-simple --spec-draft-n-max k --spec-draft-p-min
p``) and prompt lookup (``llama-lookup --spec-draft-n-max k``, its own n-gram sizes) on the code and
chat workloads. Its tokens per second count its prompt and decode times as it reports them (model
loading excluded); the line gives llama.cpp's own speed-up over its target alone and ours / llama.cpp
in tokens per second. The rewriting workload is left out there: those tools have no stop string, so
they would run past the closing fence.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from pathlib import Path

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
) -> float:
    n = sum(len(o) for o in outs)
    same = sum(a == b for a, b in zip(outs, ref))
    print(
        f"  {label:<32} {seconds:7.2f} s  {n / seconds:6.2f} tok/s  {base / seconds:5.2f}x  "
        f"accepted {acc:>5}  equal to greedy {same}/{len(ref)}"
    )
    return n / seconds


def llama_run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout + r.stderr


def llama_rate(
    bin_dir: Path, target: Path, prompts: list[str], tokens: int, threads: int, **mode: object
) -> float:
    """llama.cpp's generated tokens per second over the prompts (prompt and decode time, as it reports)."""
    tokens_out, seconds = 0, 0.0
    for p in prompts:
        common = [
            "-m",
            str(target),
            "-p",
            p,
            "-n",
            str(tokens),
            "--temp",
            "0",
            "-t",
            str(threads),
            "-c",
            "2048",
        ]
        if "draft" in mode:
            spec = [
                "-md",
                str(mode["draft"]),
                "-td",
                str(threads),
                "--spec-type",
                "draft-simple",
                "--spec-draft-n-max",
                str(mode["n_draft"]),
            ]
            spec += ["--spec-draft-n-min", "0", "--spec-draft-p-min", str(mode["p_min"])]
            out = llama_run([str(bin_dir / "llama-speculative-simple"), *common, *spec])
        elif "lookup" in mode:
            spec = ["--spec-draft-n-max", str(mode["n_draft"])]
            out = llama_run([str(bin_dir / "llama-lookup"), *common, *spec])
        else:
            out = llama_run([str(bin_dir / "llama-completion"), *common, "-no-cnv", "--no-warmup"])
            pe = re.search(r"prompt eval time =\s*([\d.]+) ms", out)
            ev = re.search(r"\beval time =\s*([\d.]+) ms /\s*(\d+) runs", out)
            if not pe or not ev:
                raise SystemExit(f"no timings in llama-completion's output:\n{out[-2000:]}")
            seconds += (float(pe.group(1)) + float(ev.group(1))) / 1e3
            tokens_out += int(ev.group(2)) + 1  # the first token comes from the prompt pass
            continue
        enc = re.search(r"encoded\s+\d+ tokens in\s+([\d.]+) seconds", out)
        dec = re.search(r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds", out)
        if not enc or not dec:
            raise SystemExit(f"no timings in llama.cpp's output:\n{out[-2000:]}")
        seconds += float(enc.group(1)) + float(dec.group(2))
        tokens_out += int(dec.group(1))
    return tokens_out / seconds


def peer(args: argparse.Namespace, prompts: list[str], ours: dict[str, float]) -> None:
    """llama.cpp's greedy speculative decoding on the same prompts; ``ours`` maps a line's label to tok/s."""
    target, draft = Path(models.path(args.target)), Path(models.path(args.draft))
    base = llama_rate(args.llama_bin, target, prompts, args.tokens, args.threads)
    print(
        f"  llama.cpp target alone {base:27.2f} tok/s  ours / llama.cpp {ours['target alone'] / base:4.2f}x"
    )
    for k in args.n_draft:
        for p_min in args.p_min:
            r = llama_rate(
                args.llama_bin,
                target,
                prompts,
                args.tokens,
                args.threads,
                draft=draft,
                n_draft=k,
                p_min=p_min,
            )
            label = f"draft, n_draft={k}, p_min={p_min:g}"
            print(
                f"  llama.cpp {label:<28} {r:7.2f} tok/s  {r / base:5.2f}x  "
                f"ours / llama.cpp {ours[label] / r:4.2f}x"
            )
        r = llama_rate(args.llama_bin, target, prompts, args.tokens, args.threads, lookup=True, n_draft=k)
        label = f"lookup, n_draft={k}"
        best = max(v for key, v in ours.items() if key.startswith(label))
        print(
            f"  llama.cpp {label:<28} {r:7.2f} tok/s  {r / base:5.2f}x  "
            f"ours (best min_ngram) / llama.cpp {best / r:4.2f}x"
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
    ap.add_argument(
        "--llama-bin", type=Path, help="folder with llama-completion, -speculative-simple, -lookup"
    )
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
        rates = {"target alone": line("target alone", base, ref, base, ref, "-")}
        for k in args.n_draft:
            for p_min in args.p_min if with_draft else []:
                s, outs, acc = speculative(
                    target, prompts, args.tokens, draft=draft, n_draft=k, p_min=p_min, stop=stop
                )
                label = f"draft, n_draft={k}, p_min={p_min:g}"
                rates[label] = line(label, s, outs, base, ref, f"{acc:.0%}")
            for m in args.min_ngram:
                s, outs, acc = speculative(target, prompts, args.tokens, n_draft=k, min_ngram=m, stop=stop)
                label = f"lookup, n_draft={k}, min_ngram={m}"
                rates[label] = line(label, s, outs, base, ref, f"{acc:.0%}")
        if args.llama_bin and with_draft:
            peer(args, prompts, rates)


if __name__ == "__main__":
    main()
