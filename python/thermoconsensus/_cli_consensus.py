"""``thermoconsensus consensus "question" --local smollm2-135m --local qwen2.5-coder-0.5b ...``: ask several
models, print live progress per model on stderr, then the consensus answer, the weights and the
confidence (or, with ``--json``, one JSON object)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

__all__ = ["add_parser", "run_consensus"]


def add_parser(sub: Any) -> None:
    """Registers ``consensus`` on the CLI's subparsers."""
    p = sub.add_parser("consensus", help="ask several models and print their thermodynamic consensus")
    p.add_argument("question")
    p.add_argument(
        "--local",
        action="append",
        default=[],
        metavar="NAME",
        help="a local model: smollm2-135m, qwen2.5-coder-0.5b, gemma3-270m or a .gguf path (repeat)",
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="SPEC",
        help="any client: provider:model[@base_url], e.g. openai-compatible:m@http://127.0.0.1:8080/v1",
    )
    p.add_argument("--json", action="store_true", help="print the Consensus as one JSON object")
    p.add_argument("--trace", default=None, help="write the full Consensus with its trace (JSON) here")
    p.add_argument("--extract", choices=["number", "option", "yesno"], default=None, help="answer extractor")
    p.add_argument("--samples", type=int, default=1, help="samples per model (default 1)")
    p.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="T of the free energy (default: the Orchestrator's, 0.5)",
    )
    p.add_argument(
        "--schedule", type=int, default=0, metavar="STEPS", help="anneal from 4 T down to T (--temperature)"
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="tokens per answer (default: 512 for --extract number and free text, 160 for option/yesno)",
    )
    p.add_argument(
        "--no-instruct",
        action="store_true",
        help="do not append the extractor's answer-format instruction to the question",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds before slow models are dropped")
    p.add_argument("--quorum", type=int, default=None, help="models that must answer (default: a majority)")
    p.add_argument("--refine", type=float, default=None, metavar="F", help="refine while F* is above F")
    p.add_argument("--budget", type=int, default=3, help="extra calls refinement may spend (default 3)")
    p.add_argument("--strategy", choices=["debate", "samples"], default="debate")
    p.add_argument(
        "--policy",
        choices=["threshold", "expected-free-energy"],
        default="expected-free-energy",
        help="how refinement picks its calls: the fixed rule, or the largest expected drop of F*",
    )
    p.add_argument("--synthesize", default=None, metavar="NAME", help="this model writes a final answer too")
    p.add_argument("--state", default=None, help="file of the per-model quality posteriors (shared)")
    p.add_argument("--plot", default=None, metavar="PREFIX", help="save PNG plots (needs matplotlib)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="threads per local model")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _progress(quiet: bool) -> Any:
    start = time.perf_counter()

    def report(event: str, model: str, info: dict[str, Any]) -> None:
        if quiet:
            return
        t = time.perf_counter() - start
        if event == "start":
            what = f"asking (sample {info['sample']}" + (
                f", round {info['round']})" if info["round"] else ")"
            )
        elif event == "done":
            what = f"answered in {info['latency_s']:.1f} s ({info['tokens']} tokens)"
        elif event == "failed":
            what = f"failed: {info['error']}"
        else:
            what = "timed out, dropped"
        print(f"[{t:6.1f} s] {model:26s} {what}", file=sys.stderr, flush=True)

    return report


def _print(c: Any) -> None:
    print(f"\nConsensus answer ({c.responses[c.selected].model}):\n  {c.answer.strip()}")
    if c.extracted_answer is not None:
        votes = ", ".join(f"{a}: {w:.2f}" for a, w in c.votes.items())
        print(f"Extracted answer: {c.extracted_answer}   (weighted vote {votes})")
    if c.synthesis is not None:
        print(f"Synthesis:\n  {c.synthesis.strip()}")
    print("\nWeights per model:")
    width = max(len(m) for m in c.weights_per_model)
    for m, w in sorted(c.weights_per_model.items(), key=lambda kv: -kv[1]):
        print(f"  {m:{width}s} {w:5.3f}  {'#' * round(40 * w)}")
    rel = c.parameters.get("reliability", {})
    if rel:
        print(
            "Reliability: "
            + ", ".join(f"{m} {v['accuracy']:.2f} ({v['source']})" for m, v in sorted(rel.items()))
        )
    n = len(c.responses)
    print(
        f"\nConfidence: F* = {c.free_energy:.4f} (E = {c.energy:.4f}, S = {c.entropy:.3f}, "
        f"T = {c.temperature:g}); {c.effective_agreeing:.2f} of {n} responses effectively agree; "
        f"answer weight {c.answer_weight:.2f}"
    )
    lat = ", ".join(f"{m} {s:.1f} s" for m, s in c.latency_per_model.items())
    print(f"Latency: {lat}; orchestration overhead {1e3 * c.timings.get('overhead_s', 0.0):.0f} ms")
    if c.failures:
        print("Dropped: " + "; ".join(f"{f['model']} ({f['error_type']})" for f in c.failures))
    invalid = [r for r in c.responses if not r.valid]
    if invalid:
        print(
            "Invalid (no weight): "
            + "; ".join(
                f"{r.model} sample {r.sample} ({', '.join(r.validity.reasons if r.validity else ())})"
                for r in invalid
            )
        )
    truncated = [r for r in c.responses if r.valid and r.finish_reason == "length"]
    if truncated:
        print("Ran out of tokens (kept): " + ", ".join(f"{r.model} sample {r.sample}" for r in truncated))
    if c.refinement is not None and c.refinement.used:
        r = c.refinement
        fs = " -> ".join(f"{f:.3f}" for f in r.free_energy)
        print(f"Refinement ({r.strategy}, {r.policy}): {r.used} of {r.budget} extra calls, F* {fs}")


def run_consensus(args: argparse.Namespace) -> int:
    """Runs the ``consensus`` command."""
    from .clients import LocalClient, create_client
    from .consensus import ConsensusConfig, Orchestrator
    from .consensus.solve import geometric_schedule

    if not args.local and not args.model:
        print("consensus: give at least one --local NAME or --model SPEC", file=sys.stderr)
        return 2
    clients: list[Any] = []
    for name in args.local:
        if not args.quiet:
            print(f"[thermoconsensus] loading {name}", file=sys.stderr, flush=True)
        clients.append(LocalClient(name, n_threads=args.threads))
    clients.extend(create_client(spec) for spec in args.model)
    synthesizer = None
    if args.synthesize is not None:
        synthesizer = next((c for c in clients if c.name == args.synthesize), None)
        if synthesizer is None:
            synthesizer = LocalClient(args.synthesize, n_threads=args.threads)
    settings: dict[str, Any] = {}
    if args.temperature is not None:
        settings["temperature"] = args.temperature
    if args.schedule > 1:
        t_end = args.temperature if args.temperature is not None else ConsensusConfig().temperatures[-1]
        settings["temperature"] = geometric_schedule(max(4.0, 4 * t_end), t_end, args.schedule)
    orch = Orchestrator(
        clients,
        samples_per_model=args.samples,
        **settings,
        quorum=args.quorum,
        timeout=args.timeout,
        max_tokens=args.max_tokens,
        seed=args.seed,
        refine_threshold=args.refine,
        refine_budget=args.budget if args.refine is not None else 0,
        refine_strategy=args.strategy,
        refine_policy=args.policy,
        instruct=not args.no_instruct,
        synthesizer=synthesizer,
        state_path=args.state,
        progress=_progress(args.quiet),
    )
    c = orch.consensus_sync(args.question, answer_extractor=args.extract)
    if args.trace:
        with open(args.trace, "w", encoding="utf-8") as f:
            f.write(c.to_json(indent=1))
    if args.json:
        print(json.dumps(c.summary(), ensure_ascii=False))
    else:
        _print(c)
    if args.plot:
        from .consensus.plots import plot_all

        for path in plot_all(c, args.plot):
            print(f"plot: {path}", file=sys.stderr)
    return 0
