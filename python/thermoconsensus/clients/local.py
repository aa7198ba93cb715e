"""The in-process client: the local GGUF engine behind the same interface as the remote clients."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Union

from .._runner import EngineRunner
from .base import LLMClient, StreamState
from .chat_tools import ToolCallParser, chat_prompt, forced_call_format, tool_names
from .errors import BadRequestError, TimeoutError
from .types import ChatRequest, LLMResponse, TokenLogprob

if TYPE_CHECKING:
    from ..llm import Generation, Model

__all__ = ["LocalClient"]

ModelArg = Union[str, "os.PathLike[str]", "Model", EngineRunner]


#: MiB of prefix cache a runner gives the model it loads (see `llm.Model.set_prefix_cache`).
DEFAULT_PREFIX_CACHE_MB = 256


def load_runner(
    model: ModelArg,
    name: str | None = None,
    n_threads: int | None = None,
    parallel: int = 4,
    prefix_cache_mb: float = DEFAULT_PREFIX_CACHE_MB,
) -> EngineRunner:
    """An :class:`EngineRunner` for a runner, a loaded model, a .gguf path or a model name of
    :mod:`thermoconsensus.models` ("smollm2-135m"), decoding up to ``parallel`` generations together
    (a given runner keeps its own). A model loaded here gets a prefix cache of ``prefix_cache_mb`` MiB
    (0: none), so repeated prompts and shared chat histories skip their common start; a given model
    keeps its own setting."""
    if isinstance(model, EngineRunner):
        return model
    from .. import llm, models

    if isinstance(model, llm.Model):
        return EngineRunner(model, name or os.path.basename(model.info.path), max_batch=parallel)
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model: expected a path, a model name or an llm.Model, got {type(model).__name__}")
    text = os.fspath(model)
    path = models.path(text) if text in models.MODELS else text
    label = name or (text if text in models.MODELS else os.path.basename(text).removesuffix(".gguf"))
    loaded = llm.Model.load(path, n_threads=n_threads)
    loaded.set_prefix_cache(prefix_cache_mb)
    return EngineRunner(loaded, label, max_batch=parallel)


def sampling(request: ChatRequest, default_max_tokens: int = 256) -> dict[str, Any]:
    """Engine options for ``request`` (OpenAI's defaults where it says nothing: temperature 1, top_p 1).
    A forced ``tool_choice`` ("required" or a named function) becomes the grammar of its calls;
    ValueError when it names a function that ``tools`` does not declare."""
    options: dict[str, Any] = {
        "max_tokens": request.max_tokens or default_max_tokens,
        "temperature": 1.0 if request.temperature is None else float(request.temperature),
        "top_p": 1.0 if request.top_p is None else float(request.top_p),
        "top_k": int(request.extra.get("top_k", 0)),
        "min_p": float(request.extra.get("min_p", 0.0)),
        "seed": request.seed,
        "logprobs": 0 if request.logprobs is None else max(request.logprobs, 1),
    }
    parallel = request.extra.get("parallel_tool_calls") is not False
    forced = forced_call_format(list(request.tools or []), request.tool_choice, parallel)
    if forced is not None:
        options["response_format"] = forced
    return options


def logprobs_of(runner: EngineRunner, gen: Generation, top_n: int) -> list[TokenLogprob]:
    """The generation's per-token log-probabilities with ``top_n`` alternatives, as text."""
    return [
        TokenLogprob(
            runner.token_text(tok), float(lp), tuple((runner.token_text(a), float(b)) for a, b in top[:top_n])
        )
        for tok, lp, top in zip(gen.token_ids, gen.logprobs, gen.top_logprobs)
    ]


class LocalClient(LLMClient):
    """``LocalClient("smollm2-135m")`` (or a .gguf path, or a loaded :class:`~thermoconsensus.llm.Model`):
    chat and streaming on the in-process engine, with the pipeline of every client (cache,
    concurrency cap, cost 0). Calls are serialised per model and run off the event loop.

    Sampling options beyond :meth:`chat`'s go in ``extra``: ``top_k``, ``min_p``.

    ``timeout`` (default 600 s) bounds each attempt (for a stream: the wait for each piece); when it
    passes, the engine stops at its next token and the call raises :class:`TimeoutError`. A caller that
    cancels (a consensus deadline) stops the engine the same way.
    """

    provider = "local"

    def __init__(
        self, model: ModelArg, *, name: str | None = None, n_threads: int | None = None, **options: Any
    ) -> None:
        self.runner = load_runner(model, name, n_threads)
        options.setdefault("timeout", 600.0)
        super().__init__(self.runner.name, **options)

    def _cost(self, response: LLMResponse) -> float | None:
        return 0.0

    def _price(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        return 0.0

    def _prompt(self, request: ChatRequest) -> tuple[list[int], list[str], dict[str, Any]]:
        """The prompt's token ids, its stop strings and the engine options (:func:`sampling`); a
        BadRequestError for a request neither can be made of."""
        choice = request.tool_choice
        tools = request.tools if choice != "none" else None
        try:
            options = sampling(request)  # a forced tool_choice naming no declared function fails here
            ids, stops = chat_prompt(self.runner, request.messages, tools)
        except (ValueError, TypeError) as exc:
            raise BadRequestError(f"{self.name}: {exc}", provider=self.provider) from None
        return ids, [*stops, *request.stop], options

    @staticmethod
    def _parser(request: ChatRequest) -> ToolCallParser | None:
        """The tool-call parser for ``request`` (None when it offers no tools)."""
        if not request.tools or request.tool_choice == "none":
            return None
        return ToolCallParser(tool_names(request.tools))

    async def _attempt(self, request: ChatRequest) -> LLMResponse:
        ids, stops, options = self._prompt(request)
        try:
            gen = await asyncio.wait_for(self.runner.generate(ids, stop=stops, **options), self.timeout)
        except asyncio.TimeoutError:
            raise self._timed_out() from None
        except ValueError as exc:
            raise BadRequestError(f"{self.name}: {exc}", provider=self.provider) from None
        text, calls = gen.text, list[dict[str, Any]]()
        parser = self._parser(request)
        if parser is not None:
            text, calls = parser.parse(gen.text)
        reason = "length" if gen.finish_reason in ("length", "context") else "stop"
        return LLMResponse(
            text=text,
            tool_calls=calls,
            model=self.model,
            provider=self.provider,
            prompt_tokens=len(gen.prompt_ids),
            completion_tokens=len(gen.token_ids),
            finish_reason="tool_calls" if calls else reason,
            logprobs=None if request.logprobs is None else logprobs_of(self.runner, gen, request.logprobs),
            raw={"seed": gen.seed, "timings": gen.timings, "finish_reason": gen.finish_reason},
        )

    async def _attempt_stream(self, request: ChatRequest, state: StreamState) -> AsyncIterator[str]:
        ids, stops, options = self._prompt(request)
        state.prompt_tokens = len(ids)
        parser = self._parser(request)
        items = self.runner.stream(ids, stop=stops, **options)
        try:
            while True:
                try:
                    item = await asyncio.wait_for(items.__anext__(), self.timeout)
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError:
                    raise self._timed_out() from None
                if isinstance(item, str):
                    for piece in self._pieces(parser.feed(item) if parser else [("content", item)], state):
                        yield piece
                else:  # the finished generation comes last
                    state.completion_tokens = len(item.token_ids)
                    state.finish_reason = "length" if item.finish_reason in ("length", "context") else "stop"
                    if parser is not None:
                        for piece in self._pieces(parser.finish(), state):
                            yield piece
                        if state.tool_calls:
                            state.finish_reason = "tool_calls"
                    if request.logprobs is not None:
                        state.logprobs = logprobs_of(self.runner, item, request.logprobs)
                    state.raw = {
                        "seed": item.seed,
                        "timings": item.timings,
                        "finish_reason": item.finish_reason,
                    }
        except ValueError as exc:
            raise BadRequestError(f"{self.name}: {exc}", provider=self.provider) from None
        finally:
            await items.aclose()  # stops the engine if the loop ended early
        state.done = True

    @staticmethod
    def _pieces(events: list[tuple[str, Any]], state: StreamState) -> list[str]:
        """The content pieces of ``events``; their tool calls go to ``state``."""
        out = []
        for kind, value in events:
            if kind == "content":
                out.append(str(value))
            else:
                state.tool_calls.append(value)
        return out

    def _timed_out(self) -> TimeoutError:
        return TimeoutError(
            f"{self.name}: no answer within {self.timeout:g} s (generation stopped)", provider=self.provider
        )

    async def embed(self, texts: str | list[str]) -> list[list[float]]:
        """Mean-pooled, unit-length embeddings of ``texts`` from the local model."""
        items = [texts] if isinstance(texts, str) else texts
        if not isinstance(items, list) or not items or not all(isinstance(t, str) for t in items):
            raise TypeError("texts: expected a string or a non-empty list of strings")
        return [vec for vec, _ in await self.runner.embed(items)]
