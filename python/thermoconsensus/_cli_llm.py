"""The LLM commands of the CLI: ``serve``, ``ask`` (one prompt, one or more models at once) and ``route``.

Concurrent calls show a one-line live status on stderr (when it is a terminal, or with ``--progress``):
each model's state and elapsed time, redrawn ten times a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .clients import LLMClient, LLMResponse

__all__ = ["add_parsers", "run_ask", "run_route", "run_serve"]


class LiveStatus:
    """``[2/3 done] openai:gpt-4o-mini 1.2s ok | local:smollm2 0.8s ...`` redrawn in place on ``stream``."""

    def __init__(self, names: list[str], stream: TextIO, enabled: bool) -> None:
        self.names = names
        self.stream = stream
        self.enabled = enabled
        self.start = time.monotonic()
        self.state = {n: "..." for n in names}
        self.ended: dict[str, float] = {}

    def finish(self, name: str, state: str) -> None:
        self.state[name] = state
        self.ended[name] = time.monotonic() - self.start
        self.draw()

    def draw(self) -> None:
        if not self.enabled:
            return
        now = time.monotonic() - self.start
        parts = [f"{n} {self.ended.get(n, now):.1f}s {self.state[n]}" for n in self.names]
        self.stream.write(f"\r\x1b[K[{len(self.ended)}/{len(self.names)} done] " + " | ".join(parts))
        self.stream.flush()

    async def run(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(0.1)

    def close(self) -> None:
        if self.enabled:
            self.draw()
            self.stream.write("\n")
            self.stream.flush()


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"max_tokens": args.max_tokens}
    if args.temperature is not None:
        options["temperature"] = args.temperature
    if args.seed is not None:
        options["seed"] = args.seed
    return options


def _print_response(label: str | None, r: LLMResponse, as_json: bool) -> None:
    if as_json:
        return
    if label:
        print(f"== {label}")
    print(r.text)
    cost = "" if r.cost_usd is None else f", ${r.cost_usd:.6f}"
    print(
        f"[{r.provider}:{r.model}: {r.prompt_tokens}+{r.completion_tokens} tokens, {r.latency_s:.2f} s, "
        f"finish {r.finish_reason}{cost}]",
        file=sys.stderr,
    )


async def _ask(args: argparse.Namespace) -> int:
    from .clients import ClientError, create_client

    clients: list[LLMClient] = [create_client(spec, timeout=args.timeout) for spec in args.model]
    options = _options(args)
    try:
        if len(clients) == 1 and args.stream and not args.json:
            async with clients[0].stream(args.prompt, **options) as s:
                async for piece in s:
                    print(piece, end="", flush=True)
            print()
            if s.response is not None:
                _print_response(None, s.response, False)
            return 0
        status = LiveStatus(args.model, sys.stderr, args.progress or sys.stderr.isatty())

        async def one(spec: str, client: LLMClient) -> LLMResponse | ClientError:
            try:
                r = await client.chat(args.prompt, **options)
            except ClientError as exc:
                status.finish(spec, f"failed ({type(exc).__name__})")
                return exc
            status.finish(spec, "ok")
            return r

        ticker = asyncio.ensure_future(status.run())
        try:
            results = await asyncio.gather(*(one(s, c) for s, c in zip(args.model, clients)))
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            status.close()
        failed = 0
        for spec, r in zip(args.model, results):
            if isinstance(r, ClientError):
                failed += 1
                print(f"== {spec}\nerror: {type(r).__name__}: {r}", file=sys.stderr)
            else:
                _print_response(spec if len(clients) > 1 else None, r, args.json)
        if args.json:
            out = [
                {"model": s, "error": str(r)} if isinstance(r, ClientError) else r.to_dict()
                for s, r in zip(args.model, results)
            ]
            print(json.dumps(out if len(out) > 1 else out[0], indent=2))
        return 1 if failed == len(clients) else 0
    finally:
        for c in clients:
            await c.aclose()


async def _route(args: argparse.Namespace) -> int:
    from .clients import ClientError
    from .routing import load_router

    router = load_router(args.config, timeout=args.timeout)
    try:
        if args.health:
            status = await router.check_health()
            print(
                "health: " + ", ".join(f"{n} {'up' if ok else 'down'}" for n, ok in status.items()),
                file=sys.stderr,
            )
        if args.dry_run:
            d = router.route(args.prompt, force=args.force)
            print(
                json.dumps(
                    {"endpoint": d.endpoint, "reason": d.reason, "domain": d.domain, "ranking": d.ranking}
                )
            )
            return 0
        status_line = LiveStatus(["route"], sys.stderr, args.progress or sys.stderr.isatty())
        ticker = asyncio.ensure_future(status_line.run())
        try:
            r = await router.chat(args.prompt, force=args.force, **_options(args))
            status_line.finish("route", f"ok via {router.metadata.routes[-1].answered_by}")
        except ClientError as exc:
            status_line.finish("route", "failed")
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            status_line.close()
        record = router.metadata.routes[-1]
        print(
            f"[route: {record.chosen} ({record.reason}); answered by {record.answered_by}]", file=sys.stderr
        )
        _print_response(None, r, False)
        if args.trace:
            router.metadata.save(args.trace)
            print(f"[trace written to {args.trace}]", file=sys.stderr)
        return 0
    finally:
        await router.aclose()


def run_ask(args: argparse.Namespace) -> int:
    """``thermoconsensus ask``."""
    return asyncio.run(_ask(args))


def run_route(args: argparse.Namespace) -> int:
    """``thermoconsensus route``."""
    return asyncio.run(_route(args))


def run_serve(args: argparse.Namespace) -> int:
    """``thermoconsensus serve``: blocks until Ctrl-C / SIGTERM."""
    from .server import KEY_ENV, resolve_api_key, serve

    if args.api_key is not None:
        print(
            f"warning: --api-key is visible to every user in `ps`; prefer {KEY_ENV} or --api-key-file",
            file=sys.stderr,
        )
    try:
        key = resolve_api_key(args.api_key, args.api_key_file)
    except ValueError as exc:
        print(f"thermoconsensus serve: {exc}", file=sys.stderr)
        return 2
    consensus = None
    if args.consensus:
        from .clients.local import load_runner
        from .server import consensus_pool

        try:
            runner = load_runner(args.model, args.name, args.threads, args.parallel, args.prefix_cache_mb)
            consensus = consensus_pool(runner, args.consensus, args.consensus_embedder)
        except (ValueError, TypeError) as exc:
            print(f"thermoconsensus serve: --consensus: {exc}", file=sys.stderr)
            return 2
        args.model = runner
    serve(
        args.model,
        host=args.host,
        port=args.port,
        api_key=key,
        max_queue=args.max_queue,
        name=args.name,
        n_threads=args.threads,
        parallel=args.parallel,
        prefix_cache_mb=args.prefix_cache_mb,
        log_level=args.log_level,
        consensus=consensus,
        ui=not args.no_ui,
    )
    return 0


def _sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per attempt (default 60)")
    p.add_argument(
        "--progress", action="store_true", help="live status line on stderr even when not a terminal"
    )


def add_parsers(sub: Any) -> None:
    """Registers ``serve``, ``ask`` and ``route`` on the CLI's subparsers."""
    p = sub.add_parser("serve", help="serve a GGUF model over an OpenAI- and llama.cpp-compatible HTTP API")
    p.add_argument("model", help="a .gguf path or a model name (smollm2-135m, ...)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8080)
    keys = p.add_mutually_exclusive_group()
    keys.add_argument(
        "--api-key-file",
        default=None,
        metavar="PATH",
        help="require 'Authorization: Bearer KEY', KEY read from PATH (default: $THERMOCONSENSUS_API_KEY)",
    )
    keys.add_argument(
        "--api-key", default=None, help="the key itself (visible in `ps`: prefer the environment or a file)"
    )
    p.add_argument("--max-queue", type=int, default=16, help="requests admitted at once; the rest get 503")
    p.add_argument(
        "--parallel",
        "-np",
        type=int,
        default=4,
        help="generations decoded together, one batched pass per token (default 4)",
    )
    p.add_argument(
        "--prefix-cache-mb",
        type=float,
        default=256,
        help="MiB of prompt keys and values kept for prompts with the same start (0: off; default 256)",
    )
    p.add_argument("--name", default=None, help="model id to report (default: from the file name)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument(
        "--consensus",
        action="append",
        default=[],
        metavar="SPEC",
        help="another model for /v1/consensus and the page, with the served one (repeat for several): "
        "local:qwen2.5-coder-0.5b, openai:gpt-4o-mini, openai-compatible:M@http://host:port/v1",
    )
    p.add_argument(
        "--consensus-embedder",
        default="served",
        choices=["served", "minilm"],
        help="embeddings the consensus compares answers with (default: the served model's)",
    )
    p.add_argument("--no-ui", action="store_true", help="do not serve the web page at /")
    p = sub.add_parser("ask", help="ask one or more models (concurrently) a prompt")
    p.add_argument(
        "--model",
        action="append",
        required=True,
        help="provider:model[@base_url], e.g. openai:gpt-4o-mini, local:smollm2-135m, "
        "openai-compatible:smollm2@http://127.0.0.1:8080/v1 (repeat for several)",
    )
    p.add_argument("prompt")
    p.add_argument("--stream", action="store_true", help="stream the reply (one model)")
    p.add_argument("--json", action="store_true", help="print the full responses as JSON")
    _sampling_args(p)
    p = sub.add_parser("route", help="route a prompt to one endpoint of a router config and ask it")
    p.add_argument("--config", required=True, help="router config (.toml or .json)")
    p.add_argument("prompt")
    p.add_argument("--force", default=None, help="send to this endpoint")
    p.add_argument("--dry-run", action="store_true", help="print the decision only")
    p.add_argument("--health", action="store_true", help="check every endpoint first")
    p.add_argument("--trace", default=None, help="write the llm_metadata trace (JSON) here")
    _sampling_args(p)
