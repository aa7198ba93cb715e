"""A local GGUF model shared by async callers: one generation at a time, off the event loop.

The engine is synchronous and releases the GIL, so each call runs in a worker thread. Calls on one model
are serialised twice over: an asyncio lock queues waiting requests on the event loop (so they do not
occupy worker threads), and a thread lock guards the model when several loops share it. A cancelled
caller (streaming or not) stops its generation at the next token and the lock is held until the thread
has let go, so a timeout or a departed client frees the engine within one token.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ._core import InvalidInputError

if TYPE_CHECKING:
    from .llm import Generation, Model

__all__ = ["EngineRunner"]

T = TypeVar("T")

# Turn-end markers of the chat templates the engine knows (ChatML, Gemma).
_TURN_ENDS = ("<|im_end|>", "<end_of_turn>")


class _Abandoned(Exception):
    """Raised in a worker thread whose caller was cancelled before the engine was free."""


class EngineRunner:
    """Serves ``model`` (a :class:`thermoconsensus.llm.Model`) under ``name`` to coroutines."""

    def __init__(self, model: Model, name: str) -> None:
        self.model = model
        self.name = name
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

    async def generate(self, ids: list[int], **options: Any) -> Generation:
        """A finished generation (options: :meth:`thermoconsensus.llm.Model.generate`'s). A cancelled
        caller stops the engine at its next token (prompt processing itself is one engine call)."""

        opts = self.options_for(ids, options)
        cancel = threading.Event()

        def work() -> Generation:
            results: list[Generation] = []
            # The streaming form is the same token loop, with a point between tokens to stop at.
            pieces = self.model.generate(ids, stream=True, on_result=results.append, **opts)
            assert isinstance(pieces, Generator)
            try:
                for _ in pieces:
                    if cancel.is_set():
                        break
            finally:
                pieces.close()
            return results[0]

        return await self._run(work, cancel)

    async def stream(self, ids: list[int], **options: Any) -> AsyncGenerator[str | Generation, None]:
        """Text pieces as the engine produces them, then the finished :class:`Generation` (token
        counts, finish reason) as the last item. Closing the iterator early stops the engine."""

        opts = self.options_for(ids, options)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancel = threading.Event()
        results: list[Generation] = []

        def post(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the loop closed under us: nobody is listening any more
                cancel.set()

        def work() -> None:
            if cancel.is_set():
                return  # the consumer left while this waited for the engine
            try:
                pieces = self.model.generate(ids, stream=True, on_result=results.append, **opts)
                assert isinstance(pieces, Generator)
                try:
                    for piece in pieces:
                        if cancel.is_set():
                            break
                        post("piece", piece)
                finally:
                    pieces.close()
            except Exception as exc:
                post("error", exc)
            else:
                post("end", results[0] if results else None)

        async with self._turn():
            task = asyncio.ensure_future(asyncio.to_thread(self._locked, work))
            try:
                while True:
                    kind, value = await queue.get()
                    if kind == "piece":
                        yield str(value)
                    elif kind == "error":
                        raise value
                    else:
                        if value is not None:
                            yield value
                        break
            finally:
                cancel.set()
                await asyncio.wait([task])

    def _locked(self, fn: Callable[[], None]) -> None:
        with self._thread_lock:
            fn()

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
