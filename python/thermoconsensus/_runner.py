"""A local GGUF model shared by async callers, off the event loop, generations batched.

Generations go to one decode thread per model (continuous batching): it starts each request's sequence
(its prompt pass) as it arrives, up to ``max_batch`` at once, and advances all of them together, one
batched engine pass per token (each weight read once for the whole batch), so concurrent requests share
the model instead of queueing behind each other. Each sequence samples exactly as it would alone. Other
calls (embeddings) run in a worker thread; a thread lock makes them alternate with the decode steps.
A cancelled caller (streaming or not) ends its sequence at the next step and waits until the decode
thread has let it go, so a timeout or a departed client frees the engine within one token.
``n`` samples of one prompt (:meth:`EngineRunner.stream_many`) run the prompt once and fork the other
``n - 1`` sequences from it (keys and values copied), sample ``j`` seeded ``seed + j``, as
:meth:`thermoconsensus.llm.Model.generate_batch` does.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from . import _core
from ._core import InvalidInputError

if TYPE_CHECKING:
    from .llm import Generation, Model

__all__ = ["EngineRunner"]

T = TypeVar("T")

# Turn-end markers of the chat templates the engine knows (ChatML, Gemma).
_TURN_ENDS = ("<|im_end|>", "<end_of_turn>")


class _Abandoned(Exception):
    """Raised in a worker thread whose caller was cancelled before the engine was free."""


@dataclass(eq=False)
class _Job:
    """One generation request, from its caller's event loop to the decode thread and back."""

    ids: list[int]
    options: dict[str, Any]
    post: Callable[[str, Any], None]
    cancel: threading.Event = field(default_factory=threading.Event)
    sequence: _core.Sequence | None = None
    result: Generation | None = None
    top_n: int = 0
    started: float = 0.0
    # The other samples of this prompt: forked from this job's prompt pass when it runs.
    forks: list[_Job] = field(default_factory=list)

    @property
    def size(self) -> int:
        """How many sequences of the running batch this job takes."""
        return 1 + len(self.forks)

    def post_all(self, kind: str, value: Any) -> None:
        for job in (self, *self.forks):
            job.post(kind, value)


class EngineRunner:
    """Serves ``model`` (a :class:`thermoconsensus.llm.Model`) under ``name`` to coroutines, decoding
    up to ``max_batch`` generations together."""

    def __init__(self, model: Model, name: str, max_batch: int = 8) -> None:
        from ._arrays import check_int

        self.model = model
        self.name = name
        self.max_batch = check_int("max_batch", max_batch, 1)
        self._waiting: collections.deque[_Job] = collections.deque()
        self._jobs_lock = threading.Lock()
        self._decoder: threading.Thread | None = None
        # The context this model instance was loaded with (Model.load's n_ctx).
        self.context_length = model.n_ctx
        self._thread_lock = threading.Lock()
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"EngineRunner({self.name!r})"

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            yield

    async def _run(self, fn: Callable[[], T], cancel: threading.Event | None = None) -> T:
        """``fn()`` in a worker thread under both locks; if the caller is cancelled, the turn is kept
        until the thread returns (``cancel`` tells it to stop early)."""

        def locked() -> T:
            with self._thread_lock:
                if cancel is not None and cancel.is_set():
                    raise _Abandoned  # the caller left while this waited for the engine
                return fn()

        async with self._turn():
            task = asyncio.ensure_future(asyncio.to_thread(locked))
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                if cancel is not None:
                    cancel.set()
                await asyncio.wait([task])
                if not task.cancelled():
                    task.exception()  # retrieved, so an engine error here is not reported as unhandled
                raise

    def chat_prompt(
        self, messages: list[dict[str, Any]], tools: list[Any] | None = None
    ) -> tuple[list[int], list[str]]:
        """Token ids of the chat-formatted ``messages`` and the turn-end stop strings of the template."""
        plain = [{"role": m["role"], "content": _text(m.get("content"))} for m in messages]
        prompt = self.model.apply_chat_template(plain, add_generation_prompt=True, tools=tools)
        ids = self.model.tokenize(prompt, add_special=False, parse_special=True)
        return ids, [end for end in _TURN_ENDS if end in prompt]

    def text_prompt(self, text: str) -> list[int]:
        """Token ids of a raw prompt (BOS as the model wants it)."""
        return self.model.tokenize(text)

    def options_for(self, ids: list[int], options: dict[str, Any]) -> dict[str, Any]:
        """``options`` with the context size for ``ids``; InvalidInputError when the prompt does not fit."""
        if len(ids) >= self.context_length:
            raise InvalidInputError(
                f"prompt of {len(ids)} tokens does not fit the context of {self.context_length} tokens"
            )
        options = dict(options)
        options["n_ctx"] = min(len(ids) + int(options.get("max_tokens", 128)), self.context_length)
        return options

    def check_samples(self, n: int, name: str = "n") -> int:
        """``n`` samples of one prompt, which must fit in one running batch; InvalidInputError naming
        the parameter ``name`` (``n``, ``best_of``) if not."""
        from ._arrays import check_int

        n = check_int(name, n, 1)
        if n > self.max_batch:
            raise InvalidInputError(
                f"'{name}': at most {self.max_batch} samples per request (the sequences decoded at once), "
                f"got {n}"
            )
        return n

    async def generate(self, ids: list[int], **options: Any) -> Generation:
        """A finished generation (options: :meth:`thermoconsensus.llm.Model.generate`'s). A cancelled
        caller stops the engine at its next token (prompt processing itself is one engine call)."""
        result: Generation | None = None
        async for item in self.stream(ids, **options):
            if not isinstance(item, str):
                result = item
        assert result is not None
        return result

    async def stream(self, ids: list[int], **options: Any) -> AsyncGenerator[str | Generation, None]:
        """Text pieces as the engine produces them, then the finished :class:`Generation` (token
        counts, finish reason) as the last item. Closing the iterator early stops the engine."""
        items = self.stream_many(ids, 1, **options)
        try:
            async for _, item in items:
                yield item
        finally:
            await items.aclose()

    async def generate_many(self, ids: list[int], n: int, **options: Any) -> list[Generation]:
        """``n`` finished samples of one prompt (see :meth:`stream_many`), sample ``j`` at index ``j``."""
        results: list[Generation | None] = [None] * n
        async for index, item in self.stream_many(ids, n, **options):
            if not isinstance(item, str):
                results[index] = item
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    async def stream_many(
        self, ids: list[int], n: int, **options: Any
    ) -> AsyncGenerator[tuple[int, str | Generation], None]:
        """``(j, piece)`` as sample ``j`` of ``n`` produces text, and ``(j, Generation)`` when it is done.
        The prompt runs once; the other samples fork from it (keys and values copied), sample ``j``
        seeded ``seed + j``. They decode in the running batch together, so ``n`` may be at most
        ``max_batch``. Closing the iterator early stops all of them."""
        n = self.check_samples(n)
        opts = self.options_for(ids, options)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[int, str, Any]] = asyncio.Queue()
        cancel = threading.Event()

        def poster(index: int) -> Callable[[str, Any], None]:
            def post(kind: str, value: Any) -> None:
                try:
                    loop.call_soon_threadsafe(queue.put_nowait, (index, kind, value))
                except RuntimeError:  # the loop closed under us: nobody is listening any more
                    cancel.set()

            return post

        job = _Job(ids, opts, poster(0), cancel)
        job.forks = [_Job(ids, opts, poster(j), cancel) for j in range(1, n)]
        self._submit(job)
        running = n
        try:
            while running:
                index, kind, value = await queue.get()
                if kind == "piece":
                    yield index, str(value)
                elif kind == "error":
                    running -= 1
                    raise value
                else:
                    running -= 1
                    if value is not None:
                        yield index, value
        finally:
            if running:
                # Left early (closed, cancelled, timed out, an error): end the sequences and wait until
                # the decode thread has let every one go, so the engine is free when this returns.
                cancel.set()
                while running:
                    _, kind, _ = await asyncio.shield(queue.get())
                    if kind in ("end", "error"):
                        running -= 1

    def _submit(self, job: _Job) -> None:
        with self._jobs_lock:
            self._waiting.append(job)
            if self._decoder is None:
                self._decoder = threading.Thread(
                    target=self._decode, name=f"thermoconsensus-decode-{self.name}", daemon=True
                )
                self._decoder.start()

    def _decode(self) -> None:
        """The decode thread: admits waiting jobs, steps every active sequence once per engine pass,
        and exits when nothing is left (the next request starts a new one)."""
        from .llm import record_step

        active: list[_Job] = []
        while True:
            with self._jobs_lock:
                # A caller that left while waiting is let go at once, even with the batch full.
                for job in [j for j in self._waiting if j.cancel.is_set()]:
                    self._waiting.remove(job)
                    job.post_all("end", None)
                while self._waiting and len(active) + self._waiting[0].size <= self.max_batch:
                    active.append(self._waiting.popleft())
                if not active:
                    self._decoder = None
                    return
            running = []
            for job in active:
                if job.sequence is None:
                    if not self._begin(job):
                        continue
                    running.extend(job.forks)  # their sequences were forked from this prompt pass
                running.append(job)
            active = running
            if not active:
                continue
            for job in active:
                if job.cancel.is_set():
                    assert job.sequence is not None
                    job.sequence.cancel()
            try:
                with self._thread_lock:
                    steps = _core.step_batch([j.sequence for j in active if j.sequence is not None])
            except Exception as exc:  # the engine failed the pass: every sequence in it has ended
                for job in active:
                    job.post("error", exc)
                active = []
                continue
            running = []
            for job, step in zip(active, steps):
                assert job.result is not None
                if step is None:
                    self._finish(job)
                    continue
                record_step(job.result, step, job.top_n)
                if step[0]:
                    job.post("piece", step[0])
                running.append(job)
            active = running

    def _begin(self, job: _Job) -> bool:
        """Runs the job's prompt; False when it is over already (left while waiting, or refused)."""
        from .llm import fork_sample

        if job.cancel.is_set():
            job.post_all("end", None)  # the caller left while this waited for the engine
            return False
        try:
            with self._thread_lock:
                # A lone sample's prompt runs inside the next batched step (no stall for the
                # others); samples forked from one prompt need its logits now.
                defer = not job.forks
                job.sequence, job.result, job.top_n = self.model._start(
                    job.ids, **job.options, defer_prompt=defer
                )
                first = job.result
                for j, fork in enumerate(job.forks, start=1):
                    fork.sequence, fork.result = fork_sample(job.sequence, first, j)
                    fork.top_n = job.top_n
                    fork.result.timings["prompt_seconds"] = first.timings.get("prompt_seconds", 0.0)
        except Exception as exc:
            job.post_all("error", exc)
            return False
        started = time.perf_counter()
        for member in (job, *job.forks):
            assert member.result is not None
            member.result.finish_reason = "length"
            member.started = started
        return True

    def _finish(self, job: _Job) -> None:
        from .llm import close_generation

        assert job.sequence is not None and job.result is not None
        close_generation(job.result, job.sequence, time.perf_counter() - job.started)
        job.post("end", job.result)

    async def embed(self, texts: list[str]) -> list[tuple[list[float], int]]:
        """For each text: its embedding (unit length) and its token count."""

        def work() -> list[tuple[list[float], int]]:
            out = []
            for text in texts:
                ids = self.model.tokenize(text)
                if not ids:
                    raise InvalidInputError("cannot embed an empty text")
                out.append(([float(x) for x in self.model.embed(ids)], len(ids)))
            return out

        return await self._run(work)

    def token_text(self, token_id: int) -> str:
        """The text of one token (control tokens included)."""
        return self.model.detokenize([token_id], special=True)


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise InvalidInputError("message content must be a string or a list of text parts")
