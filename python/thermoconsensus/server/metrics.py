"""What the server counts and which requests hold the engine: the data behind ``/metrics`` (Prometheus
text exposition, llama-server's metric names where one exists) and ``/slots``.

The engine decodes one sequence at a time, so there is one slot; admitted requests wait for it in
arrival order ("deferred" in llama-server's words). Each request's :class:`Task` records its route,
prompt size, tokens decoded so far and when it started waiting and running.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EngineSlots", "Metrics", "Task"]


@dataclass
class Task:
    """One generation or embedding request from admission to its end."""

    id: int
    route: str
    prompt_tokens: int
    params: dict[str, Any] = field(default_factory=dict)
    queued_at: float = field(default_factory=time.time)
    started_at: float | None = None
    n_decoded: int = 0
    slot: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id_task": self.id,
            "route": self.route,
            "n_prompt_tokens": self.prompt_tokens,
            "n_decoded": self.n_decoded,
            "queued_at": self.queued_at,
            "started_at": self.started_at,
            "params": self.params,
        }


class EngineSlots:
    """The engine's slots (``n``: the generations its runner decodes together) and the tasks waiting
    for or holding one."""

    def __init__(self, n_ctx: int, n: int = 1) -> None:
        self.n_ctx = n_ctx
        self.n = n
        # One semaphore per event loop (a ServerThread's loop, a test's loop), created on first use.
        self._sem: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._ids = itertools.count(1)
        self.running: dict[int, Task] = {}  # slot id -> task
        self.waiting: dict[int, Task] = {}  # task id -> task

    def task(self, route: str, prompt_tokens: int, params: dict[str, Any] | None = None) -> Task:
        """A new task record (not yet waiting)."""
        return Task(next(self._ids), route, prompt_tokens, dict(params or {}))

    @asynccontextmanager
    async def hold(self, task: Task) -> AsyncIterator[Task]:
        """Waits for a free slot, runs the block in it, frees it however the block ends."""
        loop = asyncio.get_running_loop()
        sem = self._sem.get(loop)
        if sem is None:
            sem = self._sem[loop] = asyncio.Semaphore(self.n)
        self.waiting[task.id] = task
        try:
            await sem.acquire()
        finally:
            self.waiting.pop(task.id, None)
        try:
            task.slot = next(i for i in range(self.n) if i not in self.running)
            task.started_at = time.time()
            self.running[task.slot] = task
            yield task
        finally:
            if task.slot is not None:
                self.running.pop(task.slot, None)
            sem.release()

    def to_list(self) -> list[dict[str, Any]]:
        """llama-server's ``/slots``: one entry per slot, with the task it is processing."""
        out = []
        for i in range(self.n):
            task = self.running.get(i)
            out.append(
                {
                    "id": i,
                    "n_ctx": self.n_ctx,
                    "is_processing": task is not None,
                    "id_task": None if task is None else task.id,
                    "task": None if task is None else task.to_dict(),
                }
            )
        return out


class Metrics:
    """Counters since start; :meth:`render` gives the Prometheus text format (version 0.0.4)."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.prompt_tokens = 0
        self.predicted_tokens = 0
        self.prompt_seconds = 0.0
        self.predicted_seconds = 0.0
        self.rejected = 0
        self.started = time.time()

    def count_request(self, route: str, status: int) -> None:
        self.requests[(route, status)] += 1
        if status == 503:
            self.rejected += 1

    def count_generation(self, gen: Any, prompt: bool = True) -> None:
        """Adds a finished :class:`~thermoconsensus.llm.Generation`'s tokens and timings (its prompt's
        too unless ``prompt`` is False: the other samples of an ``n > 1`` request share one pass)."""
        if prompt:
            self.prompt_tokens += len(gen.prompt_ids)
            self.prompt_seconds += float(gen.timings.get("prompt_seconds", 0.0))
        self.predicted_tokens += len(gen.token_ids)
        self.predicted_seconds += float(gen.timings.get("generation_seconds", 0.0))

    def render(
        self, slots: EngineSlots, admitted: int, max_queue: int, prefix: dict[str, int] | None = None
    ) -> str:
        lines: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{name}{labels} {_number(v)}" for labels, v in samples)

        pt, ps = self.prompt_tokens, self.prompt_seconds
        gt, gs = self.predicted_tokens, self.predicted_seconds
        metric("llamacpp:prompt_tokens_total", "counter", "Prompt tokens processed.", [("", pt)])
        metric("llamacpp:prompt_seconds_total", "counter", "Prompt processing time.", [("", ps)])
        metric("llamacpp:tokens_predicted_total", "counter", "Generated tokens.", [("", gt)])
        metric("llamacpp:tokens_predicted_seconds_total", "counter", "Generation time.", [("", gs)])
        metric(
            "llamacpp:prompt_tokens_seconds",
            "gauge",
            "Average prompt throughput in tokens/s.",
            [("", pt / ps if ps > 0 else 0.0)],
        )
        metric(
            "llamacpp:predicted_tokens_seconds",
            "gauge",
            "Average generation throughput in tokens/s.",
            [("", gt / gs if gs > 0 else 0.0)],
        )
        busy = len(slots.running)
        metric("llamacpp:requests_processing", "gauge", "Requests holding a slot.", [("", busy)])
        metric(
            "llamacpp:requests_deferred", "gauge", "Requests waiting for a slot.", [("", len(slots.waiting))]
        )
        metric("thermoconsensus_slots_total", "gauge", "Engine slots.", [("", slots.n)])
        metric("thermoconsensus_slots_busy_ratio", "gauge", "Share of slots in use.", [("", busy / slots.n)])
        metric(
            "thermoconsensus_requests_admitted",
            "gauge",
            "Requests admitted (running or queued).",
            [("", admitted)],
        )
        metric(
            "thermoconsensus_queue_limit",
            "gauge",
            "Requests admitted at most (--max-queue).",
            [("", max_queue)],
        )
        metric(
            "thermoconsensus_requests_total",
            "counter",
            "Requests answered, by route and HTTP status.",
            [(f'{{route="{r}",status="{s}"}}', n) for (r, s), n in sorted(self.requests.items())],
        )
        metric(
            "thermoconsensus_requests_rejected_total",
            "counter",
            "Requests refused with 503.",
            [("", self.rejected)],
        )
        if prefix is not None:  # the model's prefix cache (Model.prefix_cache_stats)
            for key, kind, help_ in (
                ("lookups", "counter", "Prompts looked up in the prefix cache."),
                ("hits", "counter", "Prompts that reused a cached prefix."),
                ("reused_tokens", "counter", "Prompt tokens copied from the prefix cache instead of run."),
                ("evictions", "counter", "Prefix-cache entries dropped to stay within its budget."),
                ("entries", "gauge", "Prompts held in the prefix cache."),
                ("bytes", "gauge", "Bytes held in the prefix cache."),
                ("budget_bytes", "gauge", "Prefix-cache budget in bytes."),
            ):
                suffix = "_total" if kind == "counter" else ""
                metric(f"thermoconsensus_prefix_cache_{key}{suffix}", kind, help_, [("", prefix[key])])
        metric(
            "thermoconsensus_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
            [("", time.time() - self.started)],
        )
        return "\n".join(lines) + "\n"


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))
