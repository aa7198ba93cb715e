"""Can the server be jammed? A real ``thermoconsensus serve`` (SmolLM2, ``--max-queue 32``) takes 1,000
malformed requests (each kind the schemas refuse, the slot-leak request of issue 19, 100,000 nested
brackets, 5 MiB bodies, clients that disconnect mid-generation, streaming or not), 16 at a time,
interleaved with valid chat requests; then 32 concurrent streams through the official ``openai`` client.

Printed: the status codes seen per kind, valid requests answered, slots still held afterwards, and the 32
streams' outcome (all 200, none 503) with their wall time. Exits 1 if anything was refused with 503, a
malformed request got a 5xx, or a slot stayed held.

Run: ``python benches/bench_server_hostile.py [--malformed 1000] [--streams 32]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import openai

from thermoconsensus import models
from thermoconsensus.server import free_port

KEY = "bench-hostile-key-5f4e3d2c1b0a"
MSG = [{"role": "user", "content": "Say hi."}]
LONG = {"messages": [{"role": "user", "content": "Write a very long story."}], "max_tokens": 2000}

# (kind, body bytes): what a careless or hostile client sends.
_BAD: list[tuple[str, bytes]] = [
    ("stream_options", json.dumps({"messages": MSG, "stream": True, "stream_options": "x"}).encode()),
    ("deep nesting", b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ("wrong type", json.dumps({"messages": MSG, "temperature": "hot"}).encode()),
    ("wrong type", json.dumps({"messages": MSG, "max_tokens": True}).encode()),
    ("wrong type", json.dumps({"messages": [{"role": "user", "content": 5}]}).encode()),
    ("wrong type", json.dumps({"messages": MSG, "stop": [""], "n": 2}).encode()),
    ("not json", b"{not json"),
    ("not json", b'{"messages": [], "temperature": NaN}'),
    ("not an object", b"[1, 2, 3]"),
    ("huge", b'{"messages": [{"role": "user", "content": "' + b"x" * (5 << 20) + b'"}]}'),
]


async def _send_bad(h: httpx.AsyncClient, i: int, seen: dict[str, collections.Counter[int]]) -> None:
    if i % 25 == 0:  # a client that gives up mid-generation, non-streaming
        try:
            await h.post("/v1/chat/completions", json=LONG, timeout=0.2)
            seen["disconnect"][200] += 1
        except httpx.TimeoutException:
            seen["disconnect"][0] += 1
        return
    if i % 25 == 1:  # and streaming: reads one event and leaves
        async with h.stream("POST", "/v1/chat/completions", json={**LONG, "stream": True}) as r:
            seen["stream disconnect"][r.status_code] += 1
            async for _ in r.aiter_lines():
                break
        return
    kind, body = _BAD[i % len(_BAD)]
    r = await h.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    seen[kind][r.status_code] += 1


async def hostile(url: str, n: int) -> tuple[dict[str, collections.Counter[int]], int, int]:
    seen: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    valid_ok = valid_total = 0
    sem, valid_sem = asyncio.Semaphore(16), asyncio.Semaphore(4)  # 16 + 4 stays within the 32 slots
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as h:

        async def bad(i: int) -> None:
            async with sem:
                await _send_bad(h, i, seen)

        async def valid() -> bool:
            async with valid_sem:
                r = await h.post("/v1/chat/completions", json={"messages": MSG, "max_tokens": 1})
            return r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 1

        tasks: list[asyncio.Future[Any]] = []
        valids: list[asyncio.Future[bool]] = []
        for i in range(n):
            tasks.append(asyncio.ensure_future(bad(i)))
            if i % 20 == 19:  # a valid request every 20 malformed ones, in the same stream of traffic
                valids.append(asyncio.ensure_future(valid()))
        await asyncio.gather(*tasks)
        results = await asyncio.gather(*valids)
        valid_total, valid_ok = len(results), sum(results)
    return seen, valid_ok, valid_total


async def streams(base_url: str, n: int) -> tuple[collections.Counter[str], float]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=300)
    outcome: collections.Counter[str] = collections.Counter()

    async def one(i: int) -> None:
        try:
            stream = await client.chat.completions.create(
                model="smollm2",
                messages=[{"role": "user", "content": f"Count to {i}."}],
                max_tokens=8,
                stream=True,
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            outcome["200 with text" if text else "200 empty"] += 1
        except openai.APIStatusError as exc:
            outcome[str(exc.status_code)] += 1

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    await client.close()
    return outcome, time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--malformed", type=int, default=1000)
    ap.add_argument("--streams", type=int, default=32)
    args = ap.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "THERMOCONSENSUS_API_KEY": KEY}
    cmd = [sys.executable, "-m", "thermoconsensus", "serve", str(models.path("smollm2-135m"))]
    cmd += [
        "--port",
        str(port),
        "--max-queue",
        str(args.streams),
        "--name",
        "smollm2",
        "--log-level",
        "error",
    ]
    proc = subprocess.Popen(cmd, env=env)
    try:
        for _ in range(600):
            try:
                httpx.get(url + "/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        t0 = time.monotonic()
        seen, ok, total = asyncio.run(hostile(url, args.malformed))
        wall = time.monotonic() - t0
        print(f"== {args.malformed} malformed requests (16 at a time) + {total} valid, {wall:.1f} s")
        failures = 0
        for kind, counts in sorted(seen.items()):
            shown = ", ".join(f"{'timed out' if c == 0 else c}: {k}" for c, k in sorted(counts.items()))
            print(f"{kind:18s} {shown}")
            failures += sum(k for c, k in counts.items() if c >= 500)
        print(f"valid requests answered: {ok}/{total}")
        time.sleep(0.5)
        pending = httpx.get(url + "/health").json()["pending"]
        print(f"slots held afterwards: {pending}")
        outcome, wall = asyncio.run(streams(url + "/v1", args.streams))
        print(f"== {args.streams} concurrent streams: {dict(outcome)} in {wall:.1f} s")
        bad = failures + (total - ok) + pending + sum(v for k, v in outcome.items() if k != "200 with text")
        print("PASS" if bad == 0 else f"FAIL ({bad} problems)")
        return 0 if bad == 0 else 1
    finally:
        proc.terminate()
        proc.wait(15)


if __name__ == "__main__":
    sys.exit(main())
