"""``thermoconsensus kl-divergence base|score``: the KL-divergence health monitor on the command line
(the two halves of ``llama-perplexity --kl-divergence-base`` / ``--kl-divergence``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser", "run_kl_divergence"]


def _progress(label: str) -> Any:
    def report(done: int, total: int) -> None:
        print(f"\r{label}: chunk {done}/{total}", end="\n" if done == total else "", file=sys.stderr)

    return report


def _model(name: str, threads: int | None, n_ctx: int | None) -> Any:
    from . import llm, models

    path = models.path(name) if name in models.MODELS else name
    return llm.Model.load(path, n_threads=threads, n_ctx=n_ctx, device="cpu")


def run_kl_divergence(args: argparse.Namespace) -> int:
    """``base``: writes the log-probability file; ``score``: prints the statistics and the drift verdict
    (exit status 1 when ``--probe`` and the file drifted)."""
    from . import kl_monitor

    if args.action == "base":
        with open(args.text, encoding="utf-8") as f:
            text = f.read()
        model = _model(args.model, args.threads, max(args.ctx, 4))
        ppl = kl_monitor.save_base(model, text, args.out, args.ctx, args.chunks, _progress("base"))
        print(f"wrote {args.out}; perplexity of the scored tokens: {ppl:.4f}")
        return 0
    base = kl_monitor.BaseLogProbs.open(args.base)
    model = _model(args.model, args.threads, base.n_ctx)
    report = kl_monitor.kl_divergence(model, base, args.chunks, _progress("score"))
    d = kl_monitor.DriftThresholds()
    thresholds = kl_monitor.DriftThresholds(
        d.max_mean_kld if args.max_kld is None else args.max_kld,
        d.min_same_top_p if args.min_same_top is None else args.min_same_top / 100.0,
    )
    verdict = kl_monitor.drift_check(report, thresholds)
    if args.json:
        out = report.to_dict()
        out["drift"] = {"drifted": verdict.drifted, "reasons": list(verdict.reasons)}
        print(json.dumps(out, indent=2))
    else:
        print(report.format())
        print()
        print("Drift: " + ("; ".join(verdict.reasons) if verdict.drifted else "none"))
    return 1 if args.probe and verdict.drifted else 0


def add_parser(sub: Any) -> None:
    """Registers ``kl-divergence`` on the CLI's subparsers."""
    p = sub.add_parser(
        "kl-divergence",
        help="save a base model's log probabilities on a text, or score another file against them "
        "(llama-perplexity --kl-divergence compatible)",
    )
    acts = p.add_subparsers(dest="action", required=True)
    b = acts.add_parser(
        "base", help="write the base log probabilities (llama.cpp's --kl-divergence-base file)"
    )
    b.add_argument("model", help="a .gguf path or a model name (smollm2-135m, ...)")
    b.add_argument("--text", required=True, help="a UTF-8 text file (llama.cpp's -f)")
    b.add_argument("--out", required=True, help="the log-probability file to write")
    b.add_argument("--ctx", type=int, default=512, help="window length (llama.cpp's -c, default 512)")
    b.add_argument("--chunks", type=int, default=None, help="at most this many windows")
    b.add_argument("--threads", type=int, default=None)
    s = acts.add_parser("score", help="KL divergence and token statistics of a model against a base file")
    s.add_argument("model", help="a .gguf path or a model name")
    s.add_argument("--base", required=True, help="a file from 'base' or from llama-perplexity")
    s.add_argument("--chunks", type=int, default=None, help="at most this many windows")
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--json", action="store_true", help="print the statistics as JSON")
    # Defaults are kl_monitor.DriftThresholds' (not imported here: numpy stays out of CLI start-up).
    s.add_argument("--max-kld", type=float, default=None, help="drift above this mean KLD (default 0.05)")
    s.add_argument(
        "--min-same-top", type=float, default=None, help="drift below this same-top-p %% (default 80)"
    )
    s.add_argument("--probe", action="store_true", help="exit with status 1 when the file drifted")
