"""Local inference on GGUF models: reading GGUF files (header, metadata, tensor infos, tensors
dequantised to float32), tokenizing with the model's byte-level BPE, and running llama, qwen2 and gemma3
models on the CPU: logits, generation with sampling and streaming, chat formatting from the model's
own template, perplexity and embeddings. Tokenizers follow llama.cpp's: byte-level BPE with each model's
pre-tokenizer (SmolLM2, Qwen2.5) and SentencePiece merging by score (Gemma 3).

Files are memory-mapped and every header field is checked against the file's real size, so a
truncated or corrupt file raises :class:`thermoconsensus.InvalidInputError` (a ValueError) naming the
problem and its byte offset; a missing file raises FileNotFoundError.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Union

import numpy as np
from numpy.typing import NDArray

from . import _core

__all__ = [
    "EntropyGuide",
    "Generation",
    "GgufInfo",
    "Internals",
    "Model",
    "TensorInfo",
    "load_tensor",
    "read_gguf",
]

PathArg = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a GGUF file: name, shape (ggml order, fastest dimension first), type and extent."""

    name: str
    dims: tuple[int, ...]
    type: str
    offset: int
    n_bytes: int

    @property
    def shape(self) -> tuple[int, ...]:
        """The numpy (row-major) shape: ``dims`` reversed."""
        return tuple(reversed(self.dims))


@dataclass(frozen=True)
class GgufInfo:
    """A GGUF file's header: version, alignment, data offset, metadata and tensors."""

    path: str
    version: int
    alignment: int
    data_offset: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]

    @property
    def architecture(self) -> str | None:
        """``general.architecture`` ("llama", "qwen2", "gemma3"...)."""
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    def tensor(self, name: str) -> TensorInfo:
        """The tensor called ``name`` (KeyError if absent)."""
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"no tensor {name!r} in {self.path}")


def _path(path: PathArg) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def read_gguf(path: PathArg) -> GgufInfo:
    """Reads the header of the GGUF file at ``path`` (versions 2 and 3)."""
    p = _path(path)
    raw = _core.gguf_header(p)
    tensors = [
        TensorInfo(t["name"], tuple(t["dims"]), t["type"], t["offset"], t["n_bytes"]) for t in raw["tensors"]
    ]
    return GgufInfo(p, raw["version"], raw["alignment"], raw["data_offset"], raw["metadata"], tensors)


def load_tensor(path: PathArg, name: str) -> NDArray[np.float32]:
    """Tensor ``name`` of the GGUF file at ``path``, dequantised to float32 in its numpy shape."""
    p = _path(path)
    info = read_gguf(p).tensor(name)
    return _core.gguf_tensor(p, name).reshape(info.shape)


class Model:
    """A GGUF model loaded for inference (memory-mapped; weights stay quantized).

    ``Model.load(path)`` checks the architecture and every tensor's shape. Matrix products use
    llama.cpp's CPU scheme (activations quantized to 8 bits per block, integer dot products).
    """

    #: The context length used when ``n_ctx`` is not given: the training length, capped here.
    DEFAULT_N_CTX = 4096

    def __init__(
        self, native: _core.Model, info: GgufInfo, n_threads: int | None, n_ctx: int | None = None
    ) -> None:
        from ._arrays import check_int

        self._native = native
        self.info = info
        self.n_threads = n_threads
        n_train = int(self.config["n_ctx_train"])
        if n_ctx is None:
            n_ctx = min(n_train, self.DEFAULT_N_CTX)
        n_ctx = check_int("n_ctx", n_ctx, 2)
        if n_ctx > n_train:
            raise _core.InvalidInputError(
                f"n_ctx = {n_ctx} is longer than the {n_train} tokens the model was trained on"
            )
        #: The context length (prompt plus generated tokens) this model instance accepts.
        self.n_ctx = n_ctx

    @classmethod
    def load(
        cls, path: PathArg, n_threads: int | None = None, n_ctx: int | None = None, device: str = "auto"
    ) -> Model:
        """Loads the model at ``path``; ``n_threads`` defaults to THERMOCONSENSUS_NUM_THREADS or all cores;
        ``n_ctx`` (prompt plus generated tokens) defaults to the training context, at most 4096.

        ``device``: "auto" (a GPU when one is present), "cpu", "cuda" or "cuda:N". On a GPU the quantized
        weights are copied there once and the whole forward pass and the KV cache stay there; the logits come
        back for sampling. Under "auto" a GPU that cannot take the model leaves it on the CPU with a
        RuntimeWarning. ``config["device"]`` names where it runs."""
        from ._arrays import check_threads, on_device

        p = _path(path)
        native = on_device(lambda dev: _core.Model(p, dev), device, "Model.load")
        return cls(native, read_gguf(p), check_threads(n_threads), n_ctx)

    @property
    def config(self) -> dict[str, Any]:
        """Hyper-parameters (architecture, n_vocab, n_embd, n_layer, heads, rope base...)."""
        return self._native.config()

    @property
    def metadata(self) -> dict[str, Any]:
        """The GGUF metadata."""
        return self.info.metadata

    def set_prefix_cache(self, max_mb: float = 256, min_tokens: int = 8) -> None:
        """Reuses prompt prefixes across calls: a prompt that begins with at least ``min_tokens`` of the
        tokens of an earlier prompt copies their keys and values instead of running them again (a chat's
        history, one question sampled k times, the rounds of a debate). At most ``max_mb`` MiB are held
        (least recently used prompts go first); ``max_mb=0`` turns it off and frees what it held. Off
        until set. The copied positions are the ones a fresh prompt pass would compute; only the rest of
        the prompt runs, so a reply's tokens can differ from an uncached run's in the last bits of
        floating point where the kernels for a shorter pass round differently."""
        from ._arrays import check_real, native_int

        mb = check_real("max_mb", max_mb, at_least=0)
        self._native.set_prefix_cache(int(mb * 2**20), native_int("min_tokens", min_tokens))

    def prefix_cache_stats(self) -> dict[str, int] | None:
        """What the prefix cache has done: lookups, hits, reused_tokens, prompt_tokens, insertions,
        evictions, entries, bytes and budget_bytes; None while it is off."""
        return self._native.prefix_cache_stats()

    @property
    def n_vocab(self) -> int:
        """Vocabulary size."""
        return int(self.config["n_vocab"])

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        """Token ids of ``text`` with the model's own tokenizer (byte-level BPE with its pre-tokenizer,
        or SentencePiece), giving the ids llama.cpp gives.

        ``add_special`` adds BOS/EOS where the model's metadata asks for them; ``parse_special`` turns the
        text of control tokens (``<|im_start|>``, ``<start_of_turn>``...) into those tokens instead of
        spelling them out. User-defined tokens are always matched whole, as llama.cpp does.
        """
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        return self._native.tokenize(text, bool(add_special), bool(parse_special))

    def detokenize(self, token_ids: Any, special: bool = False) -> str:
        """The text of ``token_ids`` (control tokens included only when ``special``); a character cut
        at the end becomes U+FFFD."""
        ids = [int(t) for t in token_ids]
        return self._native.detokenize_bytes(ids, bool(special)).decode("utf-8", errors="replace")

    def apply_chat_template(
        self,
        messages: list[dict[str, Any]],
        add_generation_prompt: bool = True,
        tools: list[Any] | None = None,
    ) -> str:
        """The prompt text for ``messages`` ([{"role": ..., "content": ...}, ...]) from the Jinja template
        stored in the GGUF file (rendered by minijinja); Gemma 3 base files, which carry none, get
        Gemma's documented turn format (<start_of_turn>user ... <end_of_turn>)."""
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise TypeError("messages: expected a list of {'role': ..., 'content': ...} dicts")
        for i, m in enumerate(messages):
            if not isinstance(m.get("role"), str) or not isinstance(m.get("content", ""), str):
                raise _core.InvalidInputError(f"messages[{i}]: needs a string 'role' and string 'content'")
        template = self.metadata.get("tokenizer.chat_template")
        tokens = self.metadata.get("tokenizer.ggml.tokens", [])

        def token_text(key: str) -> str:
            i = self.metadata.get(key)
            return tokens[i] if isinstance(i, int) and 0 <= i < len(tokens) else ""

        return _core.render_chat_template(
            template if isinstance(template, str) else None,
            json.dumps(messages),
            bool(add_generation_prompt),
            token_text("tokenizer.ggml.bos_token_id"),
            token_text("tokenizer.ggml.eos_token_id"),
            None if tools is None else json.dumps(tools),
        )

    def chat(self, messages: list[dict[str, Any]], **kwargs: Any) -> Generation | Iterator[str]:
        """:meth:`generate` on the chat-formatted ``messages`` (the template's special tokens parsed as
        such); stops at the end of the assistant's turn. Takes :meth:`generate`'s keyword arguments."""
        prompt = self.apply_chat_template(messages, add_generation_prompt=True)
        ids = self.tokenize(prompt, add_special=False, parse_special=True)
        stops = kwargs.pop("stop", None)
        stop_list = [stops] if isinstance(stops, str) else list(stops or [])
        for end in ("<|im_end|>", "<end_of_turn>"):
            if end in prompt and end not in stop_list:
                stop_list.append(end)
        return self.generate(ids, stop=stop_list, **kwargs)

    def _tokens(self, token_ids: Any) -> list[int]:
        ids = [int(t) for t in token_ids]
        if not ids:
            raise _core.InvalidInputError("token_ids: empty")
        if len(ids) > self.n_ctx:
            raise _core.InvalidInputError(
                f"token_ids: {len(ids)} tokens do not fit the context of n_ctx = {self.n_ctx}"
            )
        bad = [t for t in ids if not 0 <= t < self.n_vocab]
        if bad:
            raise _core.InvalidInputError(f"token_ids: {bad[0]} is outside the vocabulary of {self.n_vocab}")
        return ids

    def logits(self, token_ids: Any) -> NDArray[np.float32]:
        """Logits of every position of ``token_ids`` (positions x vocabulary)."""
        ids = self._tokens(token_ids)
        return self._native.logits(ids, self.n_threads).reshape(len(ids), self.n_vocab)

    def internals(
        self,
        token_ids: Any,
        hidden_layers: Any = (),
        attention_layers: Any = (),
        positions: Any = None,
    ) -> Internals:
        """Runs ``token_ids`` and records what the engine computes on the way (CPU only): the residual
        stream at each of ``hidden_layers`` (0 is the token embeddings, ``n_layer`` the last layer's
        output before the final norm, as Hugging Face numbers ``hidden_states``) and the attention
        probabilities of each of ``attention_layers`` (0-based), for the ``positions`` given (all when
        None). ``"all"`` names every index. Recording costs nothing when not asked for: the other calls
        run the same pass without it."""
        from ._arrays import native_int

        ids = self._tokens(token_ids)
        n_layer = int(self.config["n_layer"])

        def indices(name: str, value: Any, every: int) -> list[int]:
            if isinstance(value, str):
                if value != "all":
                    raise _core.InvalidInputError(f'{name}: a list of indices or "all", got {value!r}')
                return list(range(every))
            return [native_int(name, v) for v in value]

        got = self._native.internals(
            ids,
            indices("hidden_layers", hidden_layers, n_layer + 1),
            indices("attention_layers", attention_layers, n_layer),
            None if positions is None else indices("positions", positions, len(ids)),
            self.n_threads,
        )
        rows, n_head, context = len(got["rows"]), int(got["n_head"]), int(got["context"])
        return Internals(
            positions=list(got["positions"]),
            logits=got["logits"],
            hidden={int(i): a.reshape(rows, -1) for i, a in got["hidden"].items()},
            attention={int(i): a.reshape(rows, n_head, context) for i, a in got["attention"].items()},
            windows={int(i): int(w) for i, w in got["windows"].items()},
        )

    def embed(self, text: str | list[int], normalize: bool = True) -> NDArray[np.float32]:
        """Mean of the last layer's (final-norm) hidden states over the tokens of ``text``; unit length
        when ``normalize``."""
        ids = self._tokens(self.tokenize(text)) if isinstance(text, str) else self._tokens(text)
        return self._native.embed(ids, bool(normalize), self.n_threads)

    def perplexity(self, text: str | list[int], n_ctx: int = 512) -> float:
        """Perplexity of ``text`` (or token ids) as llama.cpp's perplexity tool computes it: the tokens
        are cut into windows of ``n_ctx`` (BOS first when the model uses one), and in each window only
        the second half is scored, each token given everything before it in the window."""
        from ._arrays import check_int

        n_ctx = check_int("n_ctx", n_ctx, 4)
        ids = self.tokenize(text, add_special=False) if isinstance(text, str) else self._tokens(text)
        bos = self.metadata.get("tokenizer.ggml.bos_token_id")
        add_bos = bool(self.metadata.get("tokenizer.ggml.add_bos_token", False)) and isinstance(bos, int)
        if len(ids) < n_ctx:
            raise _core.InvalidInputError(
                f"text has {len(ids)} tokens, fewer than one window of n_ctx = {n_ctx}"
            )
        nll, count = 0.0, 0
        for start in range(0, len(ids) - n_ctx + 1, n_ctx):
            window = list(ids[start : start + n_ctx])
            if add_bos:
                window[0] = int(bos)  # type: ignore[arg-type]
            s, c = self._native.window_nll(window, n_ctx // 2, self.n_threads)
            nll, count = nll + s, count + c
        return math.exp(nll / count)

    def greedy(self, token_ids: Any, max_tokens: int = 32, stop_at_eos: bool = True) -> list[int]:
        """The greedy (argmax) continuation of ``token_ids``: up to ``max_tokens`` ids, ending at EOS
        (``tokenizer.ggml.eos_token_id``) unless ``stop_at_eos=False``."""
        from ._arrays import native_int

        ids = self._tokens(token_ids)
        eos = self.metadata.get("tokenizer.ggml.eos_token_id")
        stops = [int(eos)] if stop_at_eos and isinstance(eos, int) else []
        return self._native.greedy(ids, native_int("max_tokens", max_tokens), stops, self.n_threads)

    def generate(
        self,
        prompt: str | list[int],
        max_tokens: int = 128,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        repeat_penalty: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        penalty_last_n: int = 64,
        seed: int | None = None,
        stop: str | list[str] | None = None,
        logprobs: int = 0,
        n_ctx: int | None = None,
        truncate: bool = False,
        stream: bool = False,
        on_result: Callable[[Generation], object] | None = None,
        logit_bias: dict[int, float] | None = None,
        response_format: dict[str, Any] | None = None,
        entropy_guide: EntropyGuide | bool | None = None,
    ) -> Generation | Iterator[str]:
        """Continues ``prompt`` (text, tokenized with BOS as the model wants, or token ids).

        Sampling follows llama.cpp's order: penalties over the last ``penalty_last_n`` tokens, top-k,
        top-p, min-p, temperature (``temperature=0``: greedy), a draw seeded by ``seed`` (None: a
        random seed, recorded in the result). Stops at EOS, at any ``stop`` string (not included in
        the text) or after ``max_tokens``. ``logprobs=n`` records each token's log-probability and
        the n most likely alternatives. ``stream=True`` returns an iterator of text pieces (never a
        broken UTF-8 character); otherwise a :class:`Generation`.

        The prompt and the generated tokens share ``n_ctx`` positions (default: the model's
        :attr:`n_ctx`); generation that reaches it ends with ``finish_reason == "context"``. A prompt
        that does not fit raises InvalidInputError, unless ``truncate=True``: then its oldest tokens
        are dropped (BOS kept) so that it leaves room for ``max_tokens``, or for half the context when
        ``max_tokens`` is larger; ``Generation.truncated`` counts what was dropped.
        ``on_result`` is called at once with the :class:`Generation` a stream fills in (token ids,
        logprobs, finish reason: complete when the stream is exhausted), for callers that need counts
        as well as text.

        ``logit_bias`` maps token ids to a value added to their logits before sampling (``-inf``
        bans a token). ``response_format`` constrains the text with a grammar (llguidance), so it
        always parses: ``{"type": "json_object"}``, ``{"type": "json_schema", "json_schema":
        {"schema": {...}}}`` (OpenAI's shapes; JSON is written without whitespace), ``{"type":
        "regex", "regex": "..."}`` or ``{"type": "lark", "lark": "..."}`` (llguidance's Lark
        syntax). The generation ends as soon as the grammar is complete; a reply cut by
        ``max_tokens`` first (``finish_reason == "length"``) is incomplete.

        ``entropy_guide`` (an :class:`EntropyGuide`, or True for its defaults) adapts each step to the
        entropy and varentropy of the next-token distribution: greedy when confident, hotter at a
        fork, the most likely of several draws elsewhere (see :class:`EntropyGuide`).
        """
        gen, result, top_n = self._start(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            min_p=min_p,
            repeat_penalty=repeat_penalty,
            frequency_penalty=frequency_penalty,
            presence_penalty=presence_penalty,
            penalty_last_n=penalty_last_n,
            seed=seed,
            stop=stop,
            logprobs=logprobs,
            n_ctx=n_ctx,
            truncate=truncate,
            logit_bias=logit_bias,
            response_format=response_format,
            entropy_guide=entropy_guide,
        )
        if on_result is not None:
            on_result(result)
        pieces = self._run(gen, result, top_n)
        if stream:
            return pieces
        for _ in pieces:
            pass
        return result

    def generate_speculative(
        self,
        prompt: str | list[int],
        draft: Model | None = None,
        max_tokens: int = 128,
        n_draft: int = 3,
        p_min: float = 0.75,
        min_ngram: int = 2,
        max_ngram: int = 3,
        stop: str | list[str] | None = None,
        n_ctx: int | None = None,
    ) -> Generation:
        """The greedy continuation of ``prompt`` (what ``generate(prompt, temperature=0)`` gives), decoded
        speculatively: ``draft`` (a smaller :class:`Model` with this model's vocabulary, such as
        Qwen2.5-Coder-0.5B for the 1.5B) proposes up to ``n_draft`` tokens, stopping before one it gives
        a probability below ``p_min``; this model checks them in one pass and keeps the run it agrees
        with plus its own next token. Without ``draft`` the proposals are the tokens that followed the
        latest earlier occurrence of the last n-gram (``min_ngram`` to ``max_ngram`` tokens) in the
        prompt and output (prompt-lookup decoding: it pays where the output repeats the prompt, as in
        edits and rewrites). ``Generation.speculative`` counts drafted and accepted tokens and the passes
        of each model. Greedy only: no sampling, log probabilities or streaming. Ends at EOS, a ``stop``
        string, ``max_tokens`` or the context (``n_ctx``, default the model's, for both models)."""
        from ._arrays import native_int, number

        if draft is not None and not isinstance(draft, Model):
            raise TypeError(f"draft: expected an llm.Model or None, got {type(draft).__name__}")
        ids, max_tokens, ctx, stops, eos = self._greedy_call(prompt, draft, max_tokens, n_ctx, stop)
        t0 = time.perf_counter()
        tokens, text, finish, stats = self._native.generate_speculative(
            ids,
            None if draft is None else draft._native,
            native_int("min_ngram", min_ngram),
            native_int("max_ngram", max_ngram),
            number("p_min", p_min),
            ctx,
            native_int("n_draft", n_draft),
            max_tokens,
            eos,
            stops,
            self.n_threads,
        )
        out = Generation(prompt_ids=ids, seed=0, text=text, token_ids=tokens, finish_reason=finish)
        out.speculative = stats
        out.timings["total_seconds"] = time.perf_counter() - t0
        return out

    def beam_search(
        self,
        prompt: str | list[int],
        beams: int = 4,
        groups: int = 1,
        diversity: float = 0.0,
        length_penalty: float = 1.0,
        max_tokens: int = 128,
        n_ctx: int | None = None,
        stop_token_ids: list[int] | None = None,
    ) -> list[Hypothesis]:
        """Beam search, or diverse beam search (Vijayakumar et al. 2018) with ``groups > 1``: the
        ``beams * groups`` beams form groups that search in turn at every step, a group paying
        ``diversity`` (subtracted from a token's log probability) for each earlier group that chose the
        same token at that step. ``groups=1`` is plain beam search. Hypotheses end at EOS (or any of
        ``stop_token_ids``, such as a chat template's end-of-turn token) or after ``max_tokens``. They
        are ranked by their accumulated (penalised) log probability over length**``length_penalty``,
        as Hugging Face's ``num_beam_groups`` search ranks them. Returns ``beams`` hypotheses per
        group, each group's best first; every live beam of a step runs in one batched pass."""
        from ._arrays import native_int, number

        ids, max_tokens, ctx, _, stops = self._greedy_call(prompt, None, max_tokens, n_ctx, None)
        stops += [t for t in self._tokens(stop_token_ids) if t not in stops] if stop_token_ids else []
        found = self._native.beam_search(
            ids,
            native_int("beams", beams),
            native_int("groups", groups),
            number("diversity", diversity),
            number("length_penalty", length_penalty),
            ctx,
            max_tokens,
            stops,
            self.n_threads,
        )
        has_vocab = bool(self.metadata.get("tokenizer.ggml.tokens"))
        return [
            Hypothesis(
                group=g,
                token_ids=t,
                text=self.detokenize(t) if has_vocab else "",
                logprob=lp,
                score=sc,
                stopped=st,
            )
            for g, t, lp, sc, st in found
        ]

    def generate_contrastive(
        self,
        prompt: str | list[int],
        amateur: Model,
        max_tokens: int = 128,
        alpha: float = 0.1,
        beta: float = 0.5,
        stop: str | list[str] | None = None,
        n_ctx: int | None = None,
    ) -> Generation:
        """Contrastive decoding (Li et al. 2023, as O'Brien and Lewis 2023 apply it to reasoning), this
        model the expert and ``amateur`` a smaller one with the same vocabulary (Qwen2.5-Coder-0.5B for
        the 1.5B): each step takes the token maximising ``(1 + beta) * expert - beta * amateur`` logits
        among those the expert gives at least ``alpha`` times its top probability. ``beta=0`` is the
        expert's greedy decoding. Deterministic; both models run every step, in caches of their own.
        ``Generation.speculative["changed"]`` counts the steps where the contrast overruled the
        expert's argmax. Ends at EOS, a ``stop`` string, ``max_tokens`` or the context."""
        from ._arrays import number

        if not isinstance(amateur, Model):
            raise TypeError(f"amateur: expected an llm.Model, got {type(amateur).__name__}")
        ids, max_tokens, ctx, stops, eos = self._greedy_call(prompt, amateur, max_tokens, n_ctx, stop)
        t0 = time.perf_counter()
        tokens, text, finish, changed = self._native.generate_contrastive(
            ids,
            amateur._native,
            number("alpha", alpha),
            number("beta", beta),
            ctx,
            max_tokens,
            eos,
            stops,
            self.n_threads,
        )
        out = Generation(prompt_ids=ids, seed=0, text=text, token_ids=tokens, finish_reason=finish)
        out.speculative = {"changed": changed}
        out.timings["total_seconds"] = time.perf_counter() - t0
        return out

    def _greedy_call(
        self, prompt: str | list[int], other: Model | None, max_tokens: int, n_ctx: int | None, stop: Any
    ) -> tuple[list[int], int, int, list[str], list[int]]:
        """The checked arguments of a deterministic decoder that may run a second model (speculative,
        contrastive, beam search): prompt ids, max_tokens, the positions each cache needs, the stop
        strings and the EOS ids."""
        from ._arrays import check_int, native_int

        max_tokens = native_int("max_tokens", max_tokens)
        ctx = check_int("n_ctx", n_ctx, 2) if n_ctx is not None else self.n_ctx
        if ctx > self.n_ctx or (other is not None and ctx > other.n_ctx):
            raise _core.InvalidInputError(f"n_ctx = {ctx} is larger than a model's n_ctx")
        ids = self.tokenize(prompt) if isinstance(prompt, str) else self._tokens(prompt)
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if any(not isinstance(s, str) or not s for s in stops):
            raise TypeError("stop: expected non-empty strings")
        eos = self.metadata.get("tokenizer.ggml.eos_token_id")
        eos_ids = [int(eos)] if isinstance(eos, int) else []
        return ids, max_tokens, min(ctx, len(ids) + max_tokens + 1), stops, eos_ids

    def generate_batch(
        self,
        prompts: list[str] | list[list[int]] | list[str | list[int]],
        n: int = 1,
        max_tokens: int = 128,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        repeat_penalty: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        penalty_last_n: int = 64,
        seed: int | None = None,
        stop: str | list[str] | None = None,
        logprobs: int = 0,
        n_ctx: int | None = None,
        truncate: bool = False,
        logit_bias: dict[int, float] | None = None,
        response_format: dict[str, Any] | None = None,
        entropy_guide: EntropyGuide | bool | None = None,
    ) -> list[Generation]:
        """``n`` samples of each prompt, decoded together: every step runs one batched pass over the
        last tokens of all unfinished sequences, so each weight matrix is read once per step for the
        whole batch instead of once per sequence. Each prompt is processed once; its ``n`` samples
        share those keys and values (copied, not recomputed).

        Arguments are :meth:`generate`'s. Returns ``len(prompts) * n`` :class:`Generation` objects,
        prompt by prompt (the samples of ``prompts[0]`` first). Sample ``j`` of a prompt is drawn
        with seed ``seed + j`` (``seed`` None: a random one, recorded in each result), so it equals
        ``generate(prompt, seed=seed + j, ...)``; with ``temperature=0`` every sample is the
        greedy continuation.
        """
        from ._arrays import check_int

        if isinstance(prompts, str) or not isinstance(prompts, (list, tuple)):
            raise TypeError("prompts: expected a list of prompts (strings or token-id lists)")
        if not prompts:
            raise _core.InvalidInputError("prompts: empty")
        n = check_int("n", n, 1)
        base_seed = secrets.randbits(64) if seed is None else seed
        seqs: list[_core.Sequence] = []
        results: list[Generation] = []
        top_n = 0
        t0 = time.perf_counter()
        for prompt in prompts:
            gen, result, top_n = self._start(
                prompt,
                max_tokens=max_tokens,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                min_p=min_p,
                repeat_penalty=repeat_penalty,
                frequency_penalty=frequency_penalty,
                presence_penalty=presence_penalty,
                penalty_last_n=penalty_last_n,
                seed=base_seed,
                stop=stop,
                logprobs=logprobs,
                n_ctx=n_ctx,
                truncate=truncate,
                logit_bias=logit_bias,
                response_format=response_format,
                entropy_guide=entropy_guide,
            )
            seqs.append(gen)
            results.append(result)
            for j in range(1, n):
                fork, fork_result = fork_sample(gen, result, j)
                seqs.append(fork)
                results.append(fork_result)
        prompt_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        live = list(range(len(seqs)))
        while live:
            steps = _core.step_batch([seqs[i] for i in live])
            still = []
            for i, step in zip(live, steps):
                if step is None:
                    continue
                still.append(i)
                record_step(results[i], step, top_n)
            live = still
        seconds = time.perf_counter() - t0
        for gen, out in zip(seqs, results):
            out.timings["prompt_seconds"] = prompt_seconds
            close_generation(out, gen, seconds)
        return results

    def _start(
        self,
        prompt: str | list[int],
        *,
        max_tokens: int = 128,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        repeat_penalty: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        penalty_last_n: int = 64,
        seed: int | None = None,
        stop: str | list[str] | None = None,
        logprobs: int = 0,
        n_ctx: int | None = None,
        truncate: bool = False,
        logit_bias: dict[int, float] | None = None,
        response_format: dict[str, Any] | None = None,
        defer_prompt: bool = False,
        entropy_guide: EntropyGuide | bool | None = None,
    ) -> tuple[_core.Sequence, Generation, int]:
        """Checks :meth:`generate`'s arguments (its defaults too) and runs the prompt: the engine's
        sequence, the :class:`Generation` it will fill in, and how many alternatives to record per
        token. The batching :class:`~thermoconsensus._runner.EngineRunner` starts its sequences here,
        with ``defer_prompt`` (the prompt then runs in the sequence's first batched step, beside the
        other sequences' tokens, instead of stalling them; ``prompt_seconds`` then counts only the
        admission)."""
        from ._arrays import check_int, check_seed, native_int, number

        max_tokens = native_int("max_tokens", max_tokens)
        ctx = check_int("n_ctx", n_ctx, 2) if n_ctx is not None else self.n_ctx
        if ctx > self.n_ctx:
            raise _core.InvalidInputError(f"n_ctx = {ctx} is larger than the model's n_ctx = {self.n_ctx}")
        if isinstance(prompt, str):
            ids = self.tokenize(prompt)
        else:
            ids = [int(t) for t in prompt]
            if len(ids) <= self.n_ctx:
                ids = self._tokens(ids)
        dropped = 0
        if len(ids) + 1 > ctx:
            if not truncate:
                raise _core.InvalidInputError(
                    f"prompt of {len(ids)} tokens does not fit n_ctx = {ctx} "
                    "(pass truncate=True to keep its most recent tokens)"
                )
            ids, dropped = self._truncate(ids, max(ctx - max_tokens, ctx // 2))
            ids = self._tokens(ids)
        ctx = min(ctx, len(ids) + max_tokens)  # the cache never needs more than this
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if any(not isinstance(s, str) or not s for s in stops):
            raise TypeError("stop: expected non-empty strings")
        used_seed = secrets.randbits(64) if seed is None else check_seed(seed)
        eos = self.metadata.get("tokenizer.ggml.eos_token_id")
        stop_ids = [int(eos)] if isinstance(eos, int) else []
        top_n = native_int("logprobs", logprobs)
        t0 = time.perf_counter()
        gen = self._native.start(
            ids,
            ctx,
            number("temperature", temperature),
            native_int("top_k", top_k),
            number("top_p", top_p),
            number("min_p", min_p),
            number("repeat_penalty", repeat_penalty),
            number("frequency_penalty", frequency_penalty),
            number("presence_penalty", presence_penalty),
            native_int("penalty_last_n", penalty_last_n),
            used_seed,
            max_tokens,
            stop_ids,
            stops,
            top_n,
            self.n_threads,
            _logit_bias(logit_bias),
            grammar_of(response_format),
            defer_prompt,
            _entropy_guide(entropy_guide),
        )
        result = Generation(
            prompt_ids=ids, seed=used_seed, truncated=dropped, reused_prefix=gen.reused_prefix
        )
        result.timings["prompt_seconds"] = time.perf_counter() - t0
        return gen, result, top_n

    def _truncate(self, ids: list[int], keep: int) -> tuple[list[int], int]:
        """The last ``keep`` tokens of ``ids`` (BOS, when it leads, stays first) and how many went."""
        bos = self.metadata.get("tokenizer.ggml.bos_token_id")
        head = ids[:1] if ids and isinstance(bos, int) and ids[0] == bos else []
        tail = ids[len(ids) - (keep - len(head)) :]
        return head + tail, len(ids) - len(head) - len(tail)

    def _run(self, gen: _core.Sequence, out: Generation, top_n: int) -> Iterator[str]:
        """Iterates the engine's decode loop (one token per step), recording each token into ``out``.
        A consumer that stops iterating stops the generation at the next token."""
        t0 = time.perf_counter()
        out.finish_reason = "length"
        while (step := gen.next()) is not None:
            record_step(out, step, top_n)
            if step[0]:
                yield step[0]
        close_generation(out, gen, time.perf_counter() - t0)


def fork_sample(gen: _core.Sequence, first: Generation, j: int) -> tuple[_core.Sequence, Generation]:
    """Sample ``j`` of the prompt that ``gen`` ran (``first`` its result): a sequence forked from that
    prompt pass (keys and values copied) seeded ``first.seed + j``, and the :class:`Generation` it fills."""
    seed = (first.seed + j) % 2**64
    out = Generation(
        prompt_ids=first.prompt_ids, seed=seed, truncated=first.truncated, reused_prefix=first.reused_prefix
    )
    return gen.fork(seed), out


def close_generation(out: Generation, gen: _core.Sequence, seconds: float) -> None:
    """Fills in ``out`` from its ended sequence: finish reason, text, decode time and rate."""
    out.finish_reason = gen.finish_reason or "length"
    out.text = gen.text
    out.timings["generation_seconds"] = seconds
    out.timings["tokens_per_second"] = max(len(out.token_ids), 1) / max(seconds, 1e-9)


def record_step(out: Generation, step: tuple[str, Any, bool], top_n: int) -> None:
    """Adds one step of the engine's decode loop (piece, token or None, stop token?) to ``out``."""
    _, token, stop_token = step
    if token is not None:
        token_id, lp, top, entropy = token
        out.entropies.append(entropy)
        if not stop_token:
            out.token_ids.append(token_id)
            if top_n:
                out.logprobs.append(lp)
                out.top_logprobs.append(top)


def _logit_bias(bias: Any) -> list[tuple[int, float]]:
    """``logit_bias`` as (token id, bias) pairs; the ranges are checked by the engine."""
    if bias is None:
        return []
    if not isinstance(bias, dict):
        raise TypeError(f"logit_bias: expected a dict of token id to bias, got {type(bias).__name__}")
    out = []
    for token, value in bias.items():
        if isinstance(token, bool) or not isinstance(token, (int, np.integer)):
            raise TypeError(f"logit_bias: token ids must be integers, got {token!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"logit_bias: the bias of token {token} must be a number, got {value!r}")
        if not 0 <= int(token) < 2**32:
            raise _core.InvalidInputError(f"logit_bias: token {token} is not a token id")
        out.append((int(token), float(value)))
    return out


@dataclass(frozen=True)
class EntropyGuide:
    """Entropy-guided sampling (the entropix sampler's idea): each step's next-token entropy H and
    varentropy V (the variance of the surprisal; nats, at temperature 1) choose the move. H and V both
    below their ``confident_*`` thresholds: the most likely token. V above ``fork_varentropy`` (a few
    very different continuations): sampled at ``fork_temperature`` times the temperature. Elsewhere:
    ``branches`` draws, the most likely kept. Top-k, top-p and min-p apply as usual. The defaults are
    entropix's thresholds (0.1 and 5 bits) in nats. Measured on GSM8K train questions in the README:
    not a gain over min-p or greedy there."""

    confident_entropy: float = 0.1 * math.log(2)
    confident_varentropy: float = 0.1 * math.log(2)
    fork_varentropy: float = 5.0 * math.log(2)
    fork_temperature: float = 1.3
    branches: int = 5


def _entropy_guide(guide: EntropyGuide | bool | None) -> tuple[float, float, float, float, int] | None:
    from ._arrays import native_int, number

    if guide is None or guide is False:
        return None
    if guide is True:
        guide = EntropyGuide()
    if not isinstance(guide, EntropyGuide):
        raise TypeError(f"entropy_guide: an EntropyGuide, True or None, got {type(guide).__name__}")
    return (
        number("confident_entropy", guide.confident_entropy),
        number("confident_varentropy", guide.confident_varentropy),
        number("fork_varentropy", guide.fork_varentropy),
        number("fork_temperature", guide.fork_temperature),
        native_int("branches", guide.branches),
    )


def grammar_of(response_format: Any) -> tuple[str, str] | None:
    """The engine's ``(kind, text)`` grammar of a ``response_format`` (None: free text)."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise TypeError(f"response_format: expected a dict, got {type(response_format).__name__}")
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json_object", ""
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, (dict, bool)):
            raise _core.InvalidInputError(
                "response_format: json_schema needs {'json_schema': {'schema': {...}}}"
            )
        return "json_schema", json.dumps(schema)
    if kind in ("regex", "lark"):
        text = response_format.get(kind)
        if not isinstance(text, str) or not text:
            raise _core.InvalidInputError(f"response_format: type {kind!r} needs a non-empty {kind!r} string")
        return kind, text
    raise _core.InvalidInputError(
        f"response_format: type must be text, json_object, json_schema, regex or lark, got {kind!r}"
    )


@dataclass(frozen=True)
class Internals:
    """What :meth:`Model.internals` recorded for one pass."""

    #: The recorded positions (rows of every array below), in increasing order.
    positions: list[int]
    #: Logits of the pass's last position (vocabulary).
    logits: NDArray[np.float32]
    #: Residual-stream index -> positions x n_embd (0: embeddings; n_layer: last layer's output).
    hidden: dict[int, NDArray[np.float32]]
    #: Layer -> positions x heads x context: the probability each head's query gave each position
    #: (rows sum to 1; 0 for later positions and those outside a sliding window).
    attention: dict[int, NDArray[np.float32]]
    #: Layer -> its sliding window (a query sees that many positions up to its own), 0 for none.
    windows: dict[int, int] = field(default_factory=dict)

    def visible(self, layer: int) -> NDArray[np.int64]:
        """How many positions each recorded position could attend to in ``layer``."""
        seen = np.asarray(self.positions, dtype=np.int64) + 1
        window = self.windows.get(layer, 0)
        return np.minimum(seen, window) if window > 0 else seen


@dataclass(frozen=True)
class Hypothesis:
    """One result of :meth:`Model.beam_search`."""

    #: Its beam group (0 for plain beam search).
    group: int
    token_ids: list[int]
    #: The text of its tokens ("" for a file without a tokenizer).
    text: str
    #: The model's log probability of its tokens (and of EOS when it stopped there).
    logprob: float
    #: The ranking score: accumulated penalised log probabilities over length**length_penalty.
    score: float
    #: True when it ended at EOS, False when the length limit cut it.
    stopped: bool


@dataclass
class Generation:
    """A finished generation: text, token ids, per-token log-probabilities (when asked), why it
    stopped ("stop", "length" or "context"), the seed and timings."""

    prompt_ids: list[int]
    seed: int
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    top_logprobs: list[list[tuple[int, float]]] = field(default_factory=list)
    finish_reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    #: Entropy (nats) of the model's next-token distribution at each step.
    entropies: list[float] = field(default_factory=list)
    #: Prompt tokens dropped to fit the context (``generate(..., truncate=True)``).
    truncated: int = 0
    #: Prompt tokens whose keys and values came from the prefix cache instead of being run.
    reused_prefix: int = 0
    #: Speculative decoding's counts (drafted, accepted, target_passes, draft_passes), contrastive
    #: decoding's (changed); empty otherwise.
    speculative: dict[str, int] = field(default_factory=dict)
