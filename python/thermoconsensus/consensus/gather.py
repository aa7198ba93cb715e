"""Querying every client concurrently with a quorum and a deadline: a failing or slow minority never
blocks the consensus. Calls that fail are recorded; calls still running at the deadline are cancelled."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .._core import Error
from .types import Response

__all__ = ["ChatClient", "Job", "QuorumError", "gather"]

Progress = Callable[[str, str, dict[str, Any]], object]


class QuorumError(Error, RuntimeError):
    """Fewer models answered than the quorum asks for; ``failures`` lists why each one did not."""

    def __init__(
        self, message: str, failures: list[dict[str, Any]], records: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.failures = failures
        self.records = failures if records is None else records


class ChatClient(Protocol):
    """What the orchestrator needs of a client (every :class:`~thermoconsensus.clients.LLMClient` fits)."""

    @property
    def name(self) -> str: ...

    def chat(self, prompt: Any, **options: Any) -> Awaitable[Any]: ...


@dataclass
class Job:
    """One call to make: which client (by position and name), which sample and round, what to send."""

    client: int
    name: str
    messages: list[dict[str, Any]]
    options: dict[str, Any]
    sample: int = 0
    round: int = 0


# A log probability below this is a provider's stand-in for "impossible" (-inf, -1e308): clamped here so
# one such token cannot overflow a mean or a sum.
_LOGPROB_FLOOR = -100.0


def _token_logprobs(reply: Any) -> tuple[tuple[str, float], ...]:
    out = []
    for t in getattr(reply, "logprobs", None) or ():
        try:
            lp = float(t.logprob)
        except (TypeError, ValueError, AttributeError):
            continue
        if math.isnan(lp):
            continue
        out.append((str(getattr(t, "token", "")), max(_LOGPROB_FLOOR, min(0.0, lp))))
    return tuple(out)


def _call_record(
    job: Job, ok: bool, latency: float, reply: Any = None, error: BaseException | None = None
) -> dict[str, Any]:
    return {
        "model": job.name,
        "sample": job.sample,
        "round": job.round,
        "ok": ok,
        "latency_s": latency,
        "prompt_tokens": int(getattr(reply, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(reply, "completion_tokens", 0) or 0),
        "cost_usd": getattr(reply, "cost_usd", None) if ok else 0.0,
        "error": None if error is None else (str(error) or type(error).__name__),
        "error_type": None if error is None else type(error).__name__,
    }


async def gather(
    clients: Sequence[ChatClient],
    jobs: Sequence[Job],
    *,
    quorum: int,
    timeout: float,
    grace: float | None = None,
    progress: Progress | None = None,
) -> tuple[list[Response], list[dict[str, Any]]]:
    """Runs ``jobs`` concurrently and returns (responses in job order, call records). Waits until every
    call ended, or ``timeout`` seconds passed, or — once ``quorum`` distinct models have answered —
    ``grace`` more seconds passed. Raises :class:`QuorumError` when fewer than ``quorum`` models answered."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    started = time.perf_counter()

    async def run(job: Job) -> Any:
        if progress is not None:
            progress("start", job.name, {"sample": job.sample, "round": job.round})
        return await clients[job.client].chat(job.messages, **job.options)

    tasks: dict[asyncio.Task[Any], Job] = {asyncio.ensure_future(run(job)): job for job in jobs}
    order = {task: i for i, task in enumerate(tasks)}
    pending: set[asyncio.Task[Any]] = set(tasks)
    deadline = start + timeout
    results: dict[int, Response] = {}
    records: list[dict[str, Any]] = []
    answered: set[str] = set()
    try:
        while pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            done, pending = await asyncio.wait(
                pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                job = tasks[task]
                latency = time.perf_counter() - started
                exc = task.exception()
                if exc is not None:
                    records.append(_call_record(job, False, latency, error=exc))
                    if progress is not None:
                        progress("failed", job.name, {"error": f"{type(exc).__name__}: {exc}"})
                    continue
                reply = task.result()
                text = getattr(reply, "text", None)
                if not isinstance(text, str):
                    err = TypeError(f"{job.name}: the reply has no text")
                    records.append(_call_record(job, False, latency, error=err))
                    continue
                lat = float(getattr(reply, "latency_s", 0.0) or latency)
                records.append(_call_record(job, True, lat, reply))
                results[order[task]] = Response(
                    model=job.name,
                    text=text,
                    sample=job.sample,
                    round=job.round,
                    finish_reason=str(getattr(reply, "finish_reason", "stop") or "stop"),
                    token_logprobs=_token_logprobs(reply),
                    latency_s=lat,
                    prompt_tokens=int(getattr(reply, "prompt_tokens", 0) or 0),
                    completion_tokens=int(getattr(reply, "completion_tokens", 0) or 0),
                    cost_usd=getattr(reply, "cost_usd", None),
                )
                answered.add(job.name)
                if progress is not None:
                    progress(
                        "done", job.name, {"latency_s": lat, "tokens": results[order[task]].completion_tokens}
                    )
            if grace is not None and len(answered) >= quorum:
                deadline = min(deadline, loop.time() + grace)
    finally:
        for task in pending:
            task.cancel()
            job = tasks[task]
            records.append(
                _call_record(
                    job,
                    False,
                    time.perf_counter() - started,
                    error=TimeoutError("no answer before the deadline"),
                )
            )
            if progress is not None:
                progress("timeout", job.name, {})
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    if len(answered) < quorum:
        failures = [r for r in records if not r["ok"]]
        why = "; ".join(f"{r['model']}: {r['error_type']}: {r['error']}" for r in failures) or "no calls"
        asked = len({j.name for j in jobs})
        raise QuorumError(
            f"only {len(answered)} of {asked} models answered, quorum is {quorum} ({why})", failures, records
        )
    return [results[i] for i in sorted(results)], records
