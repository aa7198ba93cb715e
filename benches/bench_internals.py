"""What engine internals cost: decode and prompt speed with internals off, against a build without them,
and the price of recording them, in one run.

    python benches/bench_internals.py [--model smollm2-135m] [--threads 2] [--prompt-tokens 256]
                                      [--tokens 64] [--rounds 5] [--base-python PATH]

Off: greedy decoding of ``--tokens`` tokens after a ``--prompt-tokens`` prompt (``Model.generate``), as
tokens per second of the decode and of the prompt pass. With ``--base-python`` (the interpreter of an
environment where the package is built from a commit before internals existed, e.g. in a scratch
worktree), the same measurement runs there too, alternating with ours round by round, and the report
gives ours / base of the medians. On: ``Model.internals`` of the same prompt recording every layer's
hidden states and attention, against ``Model.logits`` (the same layers unrecorded, but with every
position's logits where ``internals`` computes the last one's only), median seconds; and
what ``diagnostics.attention_entropy`` and ``layer_mutual_information`` read on that pass.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

TEXT = (
    "The history of the printing press begins with movable type in East Asia and continues in Europe, "
    "where the combination of a screw press, oil-based inks and a hand mould for casting metal type made "
    "books cheap enough to spread literacy. Within fifty years presses were running in hundreds of towns. "
)


def measure(model_name: str, threads: int, prompt_tokens: int, tokens: int) -> dict[str, float]:
    """One round of the off-path measurement (runs in whichever interpreter calls it)."""
    from thermoconsensus import llm, models

    model = llm.Model.load(models.path(model_name, quiet=True), n_threads=threads)
    ids = model.tokenize(TEXT * 20)[:prompt_tokens]
    g = model.generate(ids, max_tokens=tokens, temperature=0.0, n_ctx=prompt_tokens + tokens + 1)
    assert isinstance(g, llm.Generation)
    t = g.timings
    return {
        "prompt_tok_s": prompt_tokens / t["prompt_seconds"],
        "decode_tok_s": len(g.token_ids) / t["generation_seconds"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=256)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--base-python", help="interpreter of a build without internals, to compare with")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.model, args.threads, args.prompt_tokens, args.tokens)))
        return
    cmd = [
        __file__, "--measure", "--model", args.model, "--threads", str(args.threads),
        "--prompt-tokens", str(args.prompt_tokens), "--tokens", str(args.tokens),
    ]  # fmt: skip
    pythons = {"ours": sys.executable} | ({"base": args.base_python} if args.base_python else {})
    rounds: dict[str, list[dict[str, float]]] = {k: [] for k in pythons}
    for _ in range(args.rounds):
        for name, python in pythons.items():  # alternating, so drift hits both alike
            out = subprocess.run([python, *cmd], check=True, capture_output=True, text=True).stdout
            rounds[name].append(json.loads(out.strip().splitlines()[-1]))
    print(
        f"{args.model}, {args.threads} threads, {args.prompt_tokens}-token prompt, "
        f"{args.tokens} greedy tokens, medians of {args.rounds} rounds"
    )
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in rounds.items()}
    for key in ("prompt_tok_s", "decode_tok_s"):
        line = f"  internals off, {key}: ours {med['ours'][key]:.1f}"
        if "base" in med:
            line += f", base {med['base'][key]:.1f}, ours / base {med['ours'][key] / med['base'][key]:.3f}"
        print(line)

    from thermoconsensus import llm, models

    model = llm.Model.load(models.path(args.model, quiet=True), n_threads=args.threads)
    ids = model.tokenize(TEXT * 20)[: args.prompt_tokens]
    plain, probed = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        model.logits(ids)
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        got = model.internals(ids, hidden_layers="all", attention_layers="all")
        probed.append(time.perf_counter() - t0)
    size = sum(a.nbytes for a in got.hidden.values()) + sum(a.nbytes for a in got.attention.values())
    p, q = statistics.median(plain), statistics.median(probed)
    print(
        f"  internals on (every layer's hidden states and attention, {size / 2**20:.0f} MiB): "
        f"{q:.3f} s vs {p:.3f} s unrecorded ({q / p:.2f}x)"
    )
    # What the diagnostics read on that pass: how spread attention is, and how much each layer's
    # states tell about the next one's (over the prompt's positions).
    from thermoconsensus import diagnostics

    h = diagnostics.attention_entropy(got, normalized=True)
    mi = diagnostics.layer_mutual_information(got, dims=4)
    layers = [0, len(h) // 4, len(h) // 2, 3 * len(h) // 4, len(h) - 1]
    print("  normalised attention entropy (mean over heads), layer: " + ", ".join(
        f"{la}: {h[la].mean():.2f}" for la in layers
    ))  # fmt: skip
    print("  KSG MI (nats, 4 projected dims) between residual streams l and l+1: " + ", ".join(
        f"{la}: {mi.mi[la, la + 1]:.2f}" for la in layers
    ))  # fmt: skip


if __name__ == "__main__":
    main()
