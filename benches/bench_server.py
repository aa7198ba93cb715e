"""Client overhead, server throughput and import time, each printed as medians and ratios.

1. Client overhead per call: ``OpenAICompatibleClient.chat`` against a minimal keep-alive HTTP stub on
   loopback, beside a bare ``httpx.AsyncClient.post`` + ``.json()`` to the same stub in the same run;
   the difference is what the client adds (request building, pipeline, parsing). Target < 1 ms.
2. Leaks: 10,000 calls (16 at a time), then the open file descriptors and pooled clients are counted.
3. Server: ``thermoconsensus serve`` (in a thread) with SmolLM2 and Qwen2.5-Coder-0.5B under 32
   concurrent chat requests of 16 tokens, for ``--parallel`` 1 (one generation at a time) and 8 (decoded
   together): requests/s, generated tokens/s, latency p50/p95, against one request alone, and the ratio
   of aggregate tokens/s between the two.
5. Memory: the server's RSS after 100 and after 1,000 requests (goal: within 10%).
4. ``python -c "import thermoconsensus"`` wall time minus ``python -c pass`` (target < 0.3 s).

Run: ``python benches/bench_server.py [--sections client,import,server,memory] [--models ...]
[--parallels 1,8]`` (``make bench-server``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

from thermoconsensus.clients import OpenAICompatibleClient, _pool

REPLY = json.dumps(
    {
        "id": "x",
        "model": "stub",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1},
    }
).encode()
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(REPLY),
    REPLY,
)


class Stub(asyncio.Protocol):
    """Answers every HTTP/1.1 request on the connection with the same chat completion (keep-alive)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if len(rest) < length:
                return
            self.buf = rest[length:]
            self.transport.write(RESPONSE)


def fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1


async def client_overhead(n: int = 2000, rounds: int = 5) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Stub, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    body = {"model": "stub", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    raw_t, ours_t = [], []
    async with httpx.AsyncClient(base_url=base) as raw, OpenAICompatibleClient("stub", base_url=base) as ours:
        for _ in range(200):  # warm both connections up
            (await raw.post("/chat/completions", json=body)).json()
            await ours.chat("hi", max_tokens=4)
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(n):
                (await raw.post("/chat/completions", json=body)).json()
            raw_t.append((time.perf_counter() - t0) / n)
            t0 = time.perf_counter()
            for _ in range(n):
                await ours.chat("hi", max_tokens=4)
            ours_t.append((time.perf_counter() - t0) / n)
        raw_m, ours_m = statistics.median(raw_t), statistics.median(ours_t)
        print(f"== client overhead per call (stub on loopback, {n} sequential calls x {rounds}, median)")
        print(f"bare httpx post + json      {raw_m * 1e3:7.3f} ms")
        print(f"OpenAICompatibleClient.chat {ours_m * 1e3:7.3f} ms")
        print(
            f"overhead {(ours_m - raw_m) * 1e3:.3f} ms per call (target < 1 ms); ratio {ours_m / raw_m:.2f}x"
        )

        before = fds()
        t0 = time.perf_counter()

        async def worker(k: int) -> None:
            for _ in range(k):
                await ours.chat("hi", max_tokens=4)

        await asyncio.gather(*(worker(625) for _ in range(16)))
        during = fds()
        elapsed = time.perf_counter() - t0
    after = fds()
    print(f"== leaks: 10000 calls, 16 concurrent, {elapsed:.2f} s ({10000 / elapsed:.0f} calls/s)")
    print(
        f"open fds before {before}, after the calls {during} (client + in-process stub sockets), "
        f"after close {after}; pooled httpx clients left {_pool.open_count()}"
    )
    server.close()
    await server.wait_closed()


MODEL_NAMES = {"smollm2-135m": "SmolLM2-135M", "qwen2.5-coder-0.5b": "Qwen2.5-Coder-0.5B"}


async def server_throughput(
    model_name: str = "smollm2-135m",
    concurrency: int = 32,
    tokens: int = 16,
    parallels: tuple[int, ...] = (1, 4, 8),
) -> None:
    from thermoconsensus import llm, models
    from thermoconsensus.server import ServerThread

    path = models.path(model_name)
    model = llm.Model.load(path)
    direct = []
    for i in range(3):
        t0 = time.perf_counter()
        msg = [{"role": "user", "content": f"Tell me a fact about the number {i}."}]
        model.chat(msg, max_tokens=tokens, temperature=0)
        direct.append(time.perf_counter() - t0)
    del model
    engine = statistics.median(direct)
    label = MODEL_NAMES.get(model_name, model_name)
    print(f"== server: {label}, {concurrency} concurrent chat requests of {tokens} tokens")
    print(f"engine alone (model.chat in-process, no HTTP): {engine:.3f} s ({tokens / engine:.1f} tokens/s)")
    rates: dict[int, float] = {}
    for parallel in parallels:
        with ServerThread(path, name="m", max_queue=64, parallel=parallel) as srv:
            async with OpenAICompatibleClient("m", base_url=srv.base_url, timeout=600) as c:
                await c.chat("warm up", max_tokens=4)
                singles = []
                for i in range(3):
                    t0 = time.perf_counter()
                    await c.chat(f"Tell me a fact about the number {i}.", max_tokens=tokens, temperature=0)
                    singles.append(time.perf_counter() - t0)
                single = statistics.median(singles)
                lat: list[float] = []

                async def one(i: int, lat: list[float] = lat) -> int:
                    t0 = time.perf_counter()
                    r = await c.chat(
                        f"Tell me a fact about the number {i}.", max_tokens=tokens, temperature=0
                    )
                    lat.append(time.perf_counter() - t0)
                    return r.completion_tokens

                t0 = time.perf_counter()
                done = await asyncio.gather(*(one(i) for i in range(concurrency)))
                wall = time.perf_counter() - t0
        lat.sort()
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        rates[parallel] = sum(done) / wall
        print(f"--parallel {parallel}: one request {single:.3f} s (server / engine {single / engine:.2f}x)")
        print(
            f"  {concurrency} concurrent: wall {wall:.2f} s, {concurrency / wall:.2f} requests/s, "
            f"{rates[parallel]:.1f} generated tokens/s, "
            f"p50 {statistics.median(lat):.2f} s, p95 {p95:.2f} s, "
            f"throughput / one alone {rates[parallel] / (tokens / single):.2f}x"
        )
    if 1 in rates:
        for parallel in parallels:
            if parallel != 1:
                print(
                    f"aggregate tokens/s, --parallel {parallel} / --parallel 1: "
                    f"{rates[parallel] / rates[1]:.2f}x"
                )


def profile_engine_calls() -> dict[str, list[float]]:
    """Wraps the decode thread's two engine calls (a request's prompt pass, one batched step) with
    timers: where a loaded server's time goes. Returns {call: [seconds, count]}, filled as they run."""
    from thermoconsensus import _core, llm

    spent: dict[str, list[float]] = {"prompt passes": [0.0, 0], "batched steps": [0.0, 0]}
    step, start = _core.step_batch, llm.Model._start

    def timed(key: str, fn: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key][0] += time.perf_counter() - t0
                spent[key][1] += 1

        return run

    _core.step_batch = timed("batched steps", step)
    llm.Model._start = timed("prompt passes", start)  # type: ignore[method-assign]
    return spent


def rss_mb() -> float:
    """This process's resident set (the server runs in it, in a thread), from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def server_memory(requests: int = 1000, warm: int = 100, parallel: int = 8) -> None:
    """RSS after ``warm`` requests and after ``requests`` (SmolLM2, 16 at a time, distinct prompts so the
    prefix cache keeps filling to its budget): bounded memory means the two stay close."""
    from thermoconsensus import models
    from thermoconsensus.server import ServerThread

    path = models.path("smollm2-135m")
    print(
        f"== server memory: SmolLM2-135M, --parallel {parallel}, {requests} requests of 8 tokens, "
        "16 at a time"
    )
    with ServerThread(path, name="m", max_queue=64, parallel=parallel) as srv:
        async with OpenAICompatibleClient("m", base_url=srv.base_url, timeout=600) as c:
            gate = asyncio.Semaphore(16)

            async def one(i: int) -> None:
                async with gate:
                    await c.chat(f"Request {i}: name a colour and a number.", max_tokens=8, seed=i)

            t0 = time.perf_counter()

            def cache_mb() -> float:
                stats = srv.runner.model.prefix_cache_stats() or {}
                return stats.get("bytes", 0) / 2**20

            await asyncio.gather(*(one(i) for i in range(warm)))
            after_warm, cache_warm = rss_mb(), cache_mb()
            marks = [f"{warm}: {after_warm:.0f}"]
            done = warm
            while done < requests:  # checkpoints show whether the growth levels off
                step = min(max(warm, (requests - warm) // 6), requests - done)
                await asyncio.gather(*(one(i) for i in range(done, done + step)))
                done += step
                marks.append(f"{done}: {rss_mb():.0f}")
            after_all, cache_all = rss_mb(), cache_mb()
            wall = time.perf_counter() - t0
    print("RSS MiB after n requests: " + ", ".join(marks))
    print(
        f"RSS after {warm} requests {after_warm:.1f} MiB, after {requests} {after_all:.1f} MiB "
        f"({100 * (after_all - after_warm) / after_warm:+.1f}%; goal within 10%), {wall:.1f} s"
    )
    rest_warm, rest_all = after_warm - cache_warm, after_all - cache_all
    print(
        f"of which the prefix cache (bounded by its budget, --prefix-cache-mb): {cache_warm:.1f} MiB, then "
        f"{cache_all:.1f} MiB; RSS without it {rest_warm:.1f} -> {rest_all:.1f} MiB "
        f"({100 * (rest_all - rest_warm) / rest_warm:+.1f}%)"
    )


def import_time(runs: int = 7) -> None:
    def wall(code: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t0

    base = statistics.median(wall("pass") for _ in range(runs))
    full = statistics.median(wall("import thermoconsensus") for _ in range(runs))
    numpy = statistics.median(wall("import numpy") for _ in range(runs))
    print(f"== import (median of {runs} fresh interpreters)")
    print(f"python -c 'import thermoconsensus': {full:.3f} s wall, {full - base:.3f} s over 'pass'")
    print(f"(import numpy alone: {numpy - base:.3f} s over an empty interpreter; target for ours < 0.3 s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sections", default="client,import,server,memory", help="comma list of client,import,server,memory"
    )
    parser.add_argument(
        "--models", default="smollm2-135m,qwen2.5-coder-0.5b", help="models for the server section"
    )
    parser.add_argument("--parallels", default="1,8", help="--parallel values for the server section")
    parser.add_argument("--requests", type=int, default=1000, help="requests for the memory section")
    parser.add_argument(
        "--profile", action="store_true", help="time the engine's prompt passes and batched steps (server)"
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    spent = profile_engine_calls() if args.profile else None
    if "client" in sections:
        asyncio.run(client_overhead())
    if "import" in sections:
        import_time()
    if "server" in sections:
        parallels = tuple(int(p) for p in args.parallels.split(","))
        for name in args.models.split(","):
            t0 = time.perf_counter()
            asyncio.run(server_throughput(name, parallels=parallels))
            if spent is not None:
                total = time.perf_counter() - t0
                parts = ", ".join(f"{k} {v[0]:.2f} s ({int(v[1])})" for k, v in spent.items())
                print(f"engine calls in the {total:.1f} s of this model's section: {parts}")
                for v in spent.values():
                    v[0], v[1] = 0.0, 0
    if "memory" in sections:
        asyncio.run(server_memory(args.requests))


if __name__ == "__main__":
    main()
