"""Local inference speed and fidelity against llama.cpp (llama-cpp-python), same files, same run.

    python benches/bench_llm.py [--models M ...] [--threads 2] [--repeats 3] [--peer-python PATH]

For each model (default: all four registered ones): prompt processing of a 256-token prompt (pp) and
generation of 64 tokens (tg, greedy, EOS ignored) in tokens per second (median over ``--repeats``),
the process's peak resident memory, and ours / llama.cpp for each. Each engine runs in its own
subprocess so its memory is its own.

Fidelity (``--no-fidelity`` skips it): on the first 256 tokens of the long text of
tests/fixtures/llama_cpp_<model>.json, tokenized by llama.cpp, the share of positions whose top-1
token agrees and the mean and largest KL divergence KL(llama.cpp || ours) of the next-token
distributions, all positions' logits from one batch each.

The peer is llama-cpp-python built the way a user gets it: ``pip install llama-cpp-python`` compiles
llama.cpp with ``GGML_NATIVE=ON`` (AVX-512 and VNNI where the CPU has them). It may live in another
environment: ``--peer-python /path/to/venv/bin/python`` (or ``$THERMOCONSENSUS_PEER_PYTHON``) runs its
side there; that interpreter needs only llama-cpp-python and numpy. The llama.cpp lines show the CPU
features its build uses (``system_info``), so a build that fell back to AVX2 is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROMPT_TOKENS = 256
GEN_TOKENS = 64
FIDELITY_TOKENS = 256
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
MODELS = ["smollm2-135m", "qwen2.5-coder-0.5b", "gemma3-270m", "qwen2.5-coder-1.5b"]


def prompt_ids(n_vocab: int, bos: int | None) -> list[int]:
    """A fixed, model-independent prompt: 256 ids spread over the vocabulary (BOS first if any)."""
    ids = [(i * 7919 + 13) % min(n_vocab, 30000) + 100 for i in range(PROMPT_TOKENS)]
    if bos is not None:
        ids[0] = bos
    return ids


def run_ours(path: str, threads: int, repeats: int) -> dict[str, float]:
    from thermoconsensus import llm

    m = llm.Model.load(path, n_threads=threads)
    ids = prompt_ids(m.n_vocab, None)
    pp, tg = [], []
    for _ in range(repeats):
        # Prompt processing as llama.cpp's eval does it: all positions through the model, logits of the last.
        first = m.generate(ids[:PROMPT_TOKENS], max_tokens=1, temperature=0, n_ctx=PROMPT_TOKENS + 2)
        pp.append(PROMPT_TOKENS / first.timings["prompt_seconds"])  # type: ignore[union-attr]
        g = m.generate(ids[:8], max_tokens=GEN_TOKENS, temperature=0, n_ctx=8 + GEN_TOKENS + 1)
        tg.append(len(g.token_ids) / g.timings["generation_seconds"])  # type: ignore[union-attr]
    return {"pp": statistics.median(pp), "tg": statistics.median(tg)}


def llama(path: str, threads: int, logits_all: bool = False):  # type: ignore[no-untyped-def]
    from llama_cpp import Llama

    return Llama(
        model_path=path,
        n_ctx=512,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=logits_all,
        verbose=False,
    )


def run_llama_cpp(path: str, threads: int, repeats: int) -> dict[str, float]:
    m = llama(path, threads)
    ids = prompt_ids(m.n_vocab(), None)
    pp, tg = [], []
    for _ in range(repeats):
        m.reset()
        t = time.perf_counter()
        m.eval(ids[:PROMPT_TOKENS])
        pp.append(PROMPT_TOKENS / (time.perf_counter() - t))
        m.reset()
        m.eval(ids[:8])
        t = time.perf_counter()
        for _ in range(GEN_TOKENS):
            nxt = int(np.argmax(m.scores[m.n_tokens - 1]))
            m.eval([nxt])
        tg.append(GEN_TOKENS / (time.perf_counter() - t))
    return {"pp": statistics.median(pp), "tg": statistics.median(tg)}


def peer_info() -> dict[str, str]:
    from llama_cpp import __version__, llama_print_system_info

    return {"version": __version__, "system_info": llama_print_system_info().decode().strip()}


def fidelity_llama_cpp(path: str, threads: int, text: str, out: str) -> None:
    """llama.cpp's ids for `text` (BOS as the file says, FIDELITY_TOKENS of them) and every position's
    logits, into the .npz `out`."""
    m = llama(path, threads, logits_all=True)
    add_bos = m.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
    ids = m.tokenize(text.encode(), add_bos=add_bos, special=False)[:FIDELITY_TOKENS]
    m.reset()
    m.eval(ids)
    np.savez(out, ids=np.array(ids, dtype=np.int64), logits=np.array(m.scores[: len(ids)], dtype=np.float32))


def fidelity_ours(path: str, threads: int, reference: str) -> dict[str, float]:
    from thermoconsensus import llm

    ref = np.load(reference)
    ids = [int(t) for t in ref["ids"]]
    ours = llm.Model.load(path, n_threads=threads).logits(ids).astype(np.float64)
    theirs = ref["logits"].astype(np.float64)

    def log_softmax(x: np.ndarray) -> np.ndarray:
        x = x - x.max(axis=1, keepdims=True)
        return x - np.log(np.exp(x).sum(axis=1, keepdims=True))

    lp, lq = log_softmax(theirs), log_softmax(ours)
    kl = (np.exp(lp) * (lp - lq)).sum(axis=1)
    top1 = float((theirs.argmax(axis=1) == ours.argmax(axis=1)).mean())
    return {"top1": top1, "kl_mean": float(kl.mean()), "kl_max": float(kl.max()), "positions": len(ids)}


def child(args: argparse.Namespace) -> None:
    if args.child == "peer-info":
        print(json.dumps(peer_info()))
        return
    if args.child == "fidelity-llama.cpp":
        fidelity_llama_cpp(args.model_path, args.threads, args.text, args.out)
        print(json.dumps({}))
        return
    if args.child == "fidelity-ours":
        print(json.dumps(fidelity_ours(args.model_path, args.threads, args.out)))
        return
    run = run_ours if args.child == "thermoconsensus" else run_llama_cpp
    result = run(args.model_path, args.threads, args.repeats)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def call(python: str, what: str, extra: list[str]) -> dict | None:
    """Runs this script as a child in `python`; its last stdout line is JSON."""
    cmd = [python, __file__, "--child", what, *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  {what}: failed ({proc.stderr.strip().splitlines()[-1:]})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fidelity(model: str, path: str, peer: str, threads: int) -> dict | None:
    fixture = json.loads((FIXTURES / f"llama_cpp_{model}.json").read_text(encoding="utf-8"))
    text = fixture["perplexity_long"]["text"]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "reference.npz")
        common = ["--model-path", path, "--threads", str(threads), "--out", out]
        if call(peer, "fidelity-llama.cpp", [*common, "--text", text]) is None:
            return None
        return call(sys.executable, "fidelity-ours", common)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--peer-python",
        default=os.environ.get("THERMOCONSENSUS_PEER_PYTHON", sys.executable),
        help="interpreter with llama-cpp-python (default: this one, or $THERMOCONSENSUS_PEER_PYTHON)",
    )
    parser.add_argument("--no-fidelity", action="store_true", help="skip the logits comparison")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model-path", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--text", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from thermoconsensus import models

    info = call(args.peer_python, "peer-info", [])
    if info:
        print(f"llama-cpp-python {info['version']} ({args.peer_python}): {info['system_info']}")
        if "AVX512 = 1" not in info["system_info"]:
            print("  note: this llama.cpp build does not use AVX-512 (a non-native or fallback build)")
    print(
        f"prompt {PROMPT_TOKENS} tokens, generation {GEN_TOKENS} tokens, {args.threads} threads, "
        f"median of {args.repeats}"
    )
    for model in args.models:
        path = str(models.path(model, quiet=True))
        common = ["--model-path", path, "--threads", str(args.threads), "--repeats", str(args.repeats)]
        ours = call(sys.executable, "thermoconsensus", common)
        peer = call(args.peer_python, "llama.cpp", common)
        for name, r in (("thermoconsensus", ours), ("llama.cpp", peer)):
            if r:
                print(
                    f"{model:20s} {name:16s} pp {r['pp']:8.1f} tok/s  tg {r['tg']:7.1f} tok/s  "
                    f"peak {r['peak_mb']:7.1f} MB"
                )
        if ours and peer:
            print(
                f"{model:20s} ratio (ours / llama.cpp): pp {ours['pp'] / peer['pp']:.2f}x, "
                f"tg {ours['tg'] / peer['tg']:.2f}x, memory {ours['peak_mb'] / peer['peak_mb']:.2f}x"
            )
        if not args.no_fidelity:
            fid = fidelity(model, path, args.peer_python, args.threads)
            if fid:
                print(
                    f"{model:20s} fidelity over {fid['positions']} positions: top-1 agrees "
                    f"{100 * fid['top1']:.1f}%, KL mean {fid['kl_mean']:.5f}, max {fid['kl_max']:.4f}"
                )


if __name__ == "__main__":
    main()
