"""KL-divergence health monitor, compatible with ``llama-perplexity --kl-divergence``.

:func:`save_base` runs a trusted (base) model over a text and saves its log probabilities;
:func:`kl_divergence` runs another model file over the same tokens and reports, as llama.cpp's
perplexity tool does, the mean KL divergence KL(base || model) with its uncertainty, its percentiles,
"same top p" (how often both pick the same most likely token) and the statistics of
delta-p = p_model(next token) - p_base(next token). :func:`drift_check` turns a report into a verdict.

The file is llama.cpp's own ``--kl-divergence-base`` format, so either tool can write the base and
either can score against it: ``_logits_``, then n_ctx (u32), n_vocab, n_chunk (i32), the n_chunk * n_ctx
evaluated tokens (i32), then for each chunk and each scored position a row of 2 * ceil(n_vocab / 2) + 4
uint16: float32 scale, float32 min_log_prob, and the log probabilities quantized to 16 bits over
[max - 16, max] (log p = scale * q + min_log_prob). As in llama.cpp, the text is cut into windows of
n_ctx tokens (BOS first where the model uses one) and only the second half of each window is scored,
every token given everything before it in its window.

The numerics are the Rust core's (``log_softmax``, ``kl_divergence``, ``cross_entropy_targets``) over
the engine's logits; what is here is the file format and llama.cpp's bookkeeping. llama.cpp sums the
KL divergence over the base tokens with log p > -16 without renormalising them; the Rust
``kl_divergence`` renormalises p over those tokens, so the sum is taken back to llama.cpp's definition
with the kept mass M (KL_llama = M (KL_renorm + ln M)), which keeps a model scored against itself at 0.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Union

import numpy as np

from . import _core

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .llm import Model

__all__ = [
    "BaseLogProbs",
    "DriftThresholds",
    "DriftVerdict",
    "KLDReport",
    "corrupt_tensor",
    "drift_check",
    "kl_divergence",
    "save_base",
]

PathArg = Union[str, "os.PathLike[str]"]
MAGIC = b"_logits_"
_HEADER = 8 + 4 + 4 + 4
# llama.cpp keeps log probabilities within 16 nats of the top one and drops the rest from the KL sum.
LOG_PROB_RANGE = 16.0
KLD_PERCENTILES = (99.9, 99.0, 95.0, 90.0, 10.0, 5.0, 1.0, 0.1)
DP_PERCENTILES = (99.9, 99.0, 95.0, 90.0, 75.0, 25.0, 10.0, 5.0, 1.0, 0.1)


def _exp(x: float) -> float:
    """e^x, +inf past the float range (a perplexity of a badly broken model)."""
    return math.exp(x) if x < 709.0 else math.inf


def _row_width(n_vocab: int) -> int:
    """uint16 per stored row: two float32 (scale, min_log_prob) and the vocabulary padded to even."""
    return 2 * ((n_vocab + 1) // 2) + 4


def _window(tokens: NDArray[np.int32], i: int, n_ctx: int, bos: int | None) -> list[int]:
    """Chunk ``i``'s tokens as evaluated: BOS in place of the first one where the model adds BOS."""
    w = [int(t) for t in tokens[i * n_ctx : (i + 1) * n_ctx]]
    if bos is not None:
        w[0] = bos
    return w


def _bos(model: Model) -> int | None:
    """The BOS id when the model's tokenizer adds one (the convention of ``Model.perplexity``)."""
    bos = model.metadata.get("tokenizer.ggml.bos_token_id")
    add = bool(model.metadata.get("tokenizer.ggml.add_bos_token", False))
    return int(bos) if add and isinstance(bos, int) else None


def _scored_logits(model: Model, window: list[int]) -> NDArray[np.float64]:
    """The model's logits at the scored positions n_ctx/2 .. n_ctx-2 of ``window`` (float64 rows)."""
    n_ctx = len(window)
    return model.logits(window)[n_ctx // 2 : n_ctx - 1].astype(np.float64)


@dataclass(frozen=True)
class BaseLogProbs:
    """A ``--kl-divergence-base`` file, memory-mapped: the tokens and, per chunk, the quantized rows."""

    path: str
    n_ctx: int
    n_vocab: int
    n_chunk: int
    tokens: NDArray[np.int32]
    _rows: NDArray[np.uint16] = field(repr=False)

    @property
    def n_scored(self) -> int:
        """Scored positions per chunk (the second half of the window, less its last token)."""
        return self.n_ctx - 1 - self.n_ctx // 2

    @classmethod
    def open(cls, path: PathArg) -> BaseLogProbs:
        """Opens and checks a base file (its magic, sizes, and that its length is what they promise)."""
        p = os.fspath(path)
        size = os.path.getsize(p)
        with open(p, "rb") as f:
            head = f.read(_HEADER)
        if len(head) < _HEADER or head[:8] != MAGIC:
            raise _core.InvalidInputError(f"{p}: not a llama.cpp log-probability file (no '_logits_' header)")
        n_ctx, n_vocab, n_chunk = struct.unpack("<Iii", head[8:])
        if n_ctx < 4 or n_vocab < 1 or n_chunk < 1:
            raise _core.InvalidInputError(
                f"{p}: bad header (n_ctx = {n_ctx}, n_vocab = {n_vocab}, n_chunk = {n_chunk})"
            )
        nv = _row_width(n_vocab)
        n_rows = n_ctx - 1 - n_ctx // 2
        want = _HEADER + 4 * n_ctx * n_chunk + 2 * nv * n_rows * n_chunk
        if size != want:
            raise _core.InvalidInputError(
                f"{p}: {size} bytes, but n_ctx = {n_ctx}, n_vocab = {n_vocab}, n_chunk = {n_chunk} "
                f"make {want} (truncated or not this format)"
            )
        tokens = np.fromfile(p, dtype="<i4", count=n_ctx * n_chunk, offset=_HEADER)
        if tokens.min() < 0 or tokens.max() >= n_vocab:
            raise _core.InvalidInputError(f"{p}: a token id outside the vocabulary of {n_vocab}")
        rows = np.memmap(
            p, dtype="<u2", mode="r", offset=_HEADER + 4 * n_ctx * n_chunk, shape=(n_chunk, n_rows, nv)
        )
        return cls(p, n_ctx, n_vocab, n_chunk, tokens, rows)

    def log_probs(self, chunk: int) -> NDArray[np.float32]:
        """Chunk ``chunk``'s base log probabilities (scored positions x vocabulary), dequantized in
        float32 as llama.cpp does: scale * q + min_log_prob."""
        if not 0 <= chunk < self.n_chunk:
            raise _core.InvalidInputError(f"chunk {chunk} outside 0..{self.n_chunk - 1}")
        rows = np.asarray(self._rows[chunk])
        head = np.ascontiguousarray(rows[:, :4]).view("<f4")  # (rows, 2): scale, min_log_prob
        q = rows[:, 4 : 4 + self.n_vocab].astype(np.float32)
        out: NDArray[np.float32] = q * head[:, :1] + head[:, 1:2]
        return out


def _encode_rows(log_probs: NDArray[np.float64], n_vocab: int) -> NDArray[np.uint16]:
    """llama.cpp's 16-bit encoding of log-probability rows (its ``log_softmax`` with a uint16 output)."""
    top = log_probs.max(axis=1)
    low = np.maximum(log_probs.min(axis=1), top - LOG_PROB_RANGE)
    scale = ((top - low) / 65535.0).astype(np.float32)
    inv = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale > 0).astype(np.float64)
    q = np.rint((log_probs - low[:, None]) * inv[:, None])
    q = np.where(log_probs > low[:, None], np.clip(q, 0, 65535), 0).astype("<u2")
    out = np.zeros((log_probs.shape[0], _row_width(n_vocab)), dtype="<u2")
    head = np.stack([scale, low.astype(np.float32)], axis=1).astype("<f4")
    out[:, :4] = head.view("<u2")
    out[:, 4 : 4 + n_vocab] = q
    return out


def _tokens_for(model: Model, text: str | list[int] | NDArray[Any], n_ctx: int) -> NDArray[np.int32]:
    if isinstance(text, str):
        # llama.cpp tokenizes the whole text once, with BOS where the model adds one.
        ids = model.tokenize(text, add_special=True)
    else:
        ids = [int(t) for t in text]
        bad = [t for t in ids if not 0 <= t < model.n_vocab]
        if bad:
            raise _core.InvalidInputError(f"tokens: {bad[0]} is outside the vocabulary of {model.n_vocab}")
    if len(ids) < 2 * n_ctx:
        raise _core.InvalidInputError(
            f"the text has {len(ids)} tokens; llama.cpp needs at least 2 * n_ctx = {2 * n_ctx}"
        )
    return np.asarray(ids, dtype=np.int32)


def save_base(
    model: Model,
    text: str | list[int] | NDArray[Any],
    path: PathArg,
    n_ctx: int = 512,
    n_chunks: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> float:
    """Writes ``model``'s log probabilities on ``text`` (a string, tokenized with BOS where the model adds
    one, or token ids) to ``path`` in llama.cpp's ``--kl-divergence-base`` format; returns the
    perplexity of the scored tokens (llama-perplexity's "Final estimate" on the same options).

    ``n_ctx``: window length (llama-perplexity ``-c``); ``n_chunks``: at most this many windows
    (``--chunks``; default all whole windows); ``progress(done, total)`` after each window."""
    from ._arrays import check_int

    n_ctx = check_int("n_ctx", n_ctx, 4)
    if n_ctx > model.n_ctx:
        raise _core.InvalidInputError(f"n_ctx = {n_ctx} is longer than the model's context ({model.n_ctx})")
    tokens = _tokens_for(model, text, n_ctx)
    n_chunk = len(tokens) // n_ctx
    if n_chunks is not None:
        n_chunk = min(n_chunk, check_int("n_chunks", n_chunks, 1))
    bos, first = _bos(model), n_ctx // 2
    nll, count = 0.0, 0
    tmp = Path(os.fspath(path) + ".part")
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<Iii", n_ctx, model.n_vocab, n_chunk))
        f.write(tokens[: n_chunk * n_ctx].astype("<i4").tobytes())
        for i in range(n_chunk):
            rows = _scored_logits(model, _window(tokens, i, n_ctx, bos))
            targets = tokens[i * n_ctx + first + 1 : (i + 1) * n_ctx].astype(np.int64)
            lp = _core.log_softmax(rows, n_threads=model.n_threads)
            nll -= float(lp[np.arange(len(targets)), targets].sum())
            count += len(targets)
            f.write(_encode_rows(lp, model.n_vocab).tobytes())
            if progress is not None:
                progress(i + 1, n_chunk)
    os.replace(tmp, path)
    return _exp(nll / count)


@dataclass
class _Chunk:
    kld: NDArray[np.float64]
    p_diff: NDArray[np.float64]
    nll: NDArray[np.float64]
    nll_base: NDArray[np.float64]
    same_top: NDArray[np.bool_]
    non_finite: int


def _score_chunk(rows: NDArray[np.float64], base: NDArray[np.float32], targets: NDArray[np.int64]) -> _Chunk:
    """llama.cpp's per-position statistics of one chunk: KL(base || model), delta-p, both NLLs, same top."""
    r = np.arange(len(targets))
    nll_base = -base[r, targets].astype(np.float64)
    top_base = np.argmax(base, axis=1)
    finite = np.isfinite(rows).all(axis=1)
    kld = np.full(len(targets), np.inf)
    nll = np.full(len(targets), np.inf)
    same = np.zeros(len(targets), dtype=bool)
    if finite.any():
        good = rows[finite]
        kept = np.where(base[finite] > -LOG_PROB_RANGE, base[finite], -np.inf).astype(np.float64)
        kl_renorm = _core.kl_divergence(kept, good)
        # ln M, the log of the kept base mass, from the Rust log-softmax at each row's top token.
        tb = top_base[finite]
        ls = _core.log_softmax(kept)
        ln_m = kept[np.arange(len(tb)), tb] - ls[np.arange(len(tb)), tb]
        kld[finite] = np.exp(ln_m) * (kl_renorm + ln_m)
        nll[finite] = _core.cross_entropy_targets(good, targets[finite])
        same[finite] = np.argmax(good, axis=1) == tb
    p_diff = np.exp(-nll) - np.exp(-nll_base)
    return _Chunk(kld, p_diff, nll, nll_base, same, int((~finite).sum()))


def _mean_unc(values: NDArray[np.float64]) -> tuple[float, float]:
    """llama.cpp's mean and its standard error (0 below 11 values or for a non-positive variance)."""
    n = len(values)
    if n < 1:
        return 0.0, 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        f = float(np.mean(values))
        var = float(np.mean(values * values)) - f * f
    return f, math.sqrt(var / (n - 1)) if var > 0 and n > 10 else 0.0


@dataclass
class KLDReport:
    """llama-perplexity's ``--kl-divergence`` statistics, with the per-position values behind them."""

    n_tokens: int
    kld: NDArray[np.float64]
    p_diff: NDArray[np.float64]
    nll: NDArray[np.float64]
    nll_base: NDArray[np.float64]
    same_top: NDArray[np.bool_]
    non_finite: int

    @property
    def ppl(self) -> tuple[float, float]:
        """Mean PPL(Q) and its uncertainty."""
        m, u = _mean_unc(self.nll)
        return _exp(m), _exp(m) * u

    @property
    def ppl_base(self) -> tuple[float, float]:
        """Mean PPL(base) and its uncertainty."""
        m, u = _mean_unc(self.nll_base)
        return _exp(m), _exp(m) * u

    @property
    def ln_ppl_ratio(self) -> tuple[float, float]:
        """Mean ln(PPL(Q)/PPL(base)) and its uncertainty (with the covariance of the two)."""
        (a, ua), (b, ub) = _mean_unc(self.nll), _mean_unc(self.nll_base)
        n = self.n_tokens
        cov = 0.0
        if n >= 10:
            cov = (float(np.mean(self.nll * self.nll_base)) - a * b) / (n - 1)
        return a - b, math.sqrt(max(ua * ua + ub * ub - 2 * cov, 0.0))

    @property
    def mean_kld(self) -> tuple[float, float]:
        """Mean KL(base || Q) in nats and its standard error."""
        return _mean_unc(self.kld)

    def kld_percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100) of the per-token KLD, interpolated as llama.cpp does."""
        return float(np.percentile(self.kld, q))

    @property
    def mean_p_diff(self) -> tuple[float, float]:
        """Mean delta-p (a fraction, not %) and its standard error."""
        return _mean_unc(self.p_diff)

    def p_diff_percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100) of delta-p."""
        return float(np.percentile(self.p_diff, q))

    @property
    def rms_p_diff(self) -> tuple[float, float]:
        """RMS delta-p and its uncertainty."""
        m, u = _mean_unc(self.p_diff * self.p_diff)
        rms = math.sqrt(max(m, 0.0))
        return rms, (0.5 / rms * u if rms > 0 else 0.0)

    @property
    def same_top_p(self) -> tuple[float, float]:
        """Fraction of positions where both pick the same most likely token, and its standard error."""
        n = self.n_tokens
        p = float(np.mean(self.same_top)) if n else 0.0
        return p, math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain numbers (JSON-ready)."""

        def pair(v: tuple[float, float]) -> dict[str, float]:
            return {"value": v[0], "uncertainty": v[1]}

        return {
            "n_tokens": self.n_tokens,
            "non_finite_positions": self.non_finite,
            "ppl": pair(self.ppl),
            "ppl_base": pair(self.ppl_base),
            "ln_ppl_ratio": pair(self.ln_ppl_ratio),
            "mean_kld": pair(self.mean_kld),
            "kld_percentiles": {
                "max": float(np.max(self.kld)),
                **{f"{q:g}": self.kld_percentile(q) for q in KLD_PERCENTILES[:4]},
                "median": self.kld_percentile(50.0),
                **{f"{q:g}": self.kld_percentile(q) for q in KLD_PERCENTILES[4:]},
                "min": float(np.min(self.kld)),
            },
            "mean_p_diff": pair(self.mean_p_diff),
            "p_diff_percentiles": {
                "max": float(np.max(self.p_diff)),
                **{f"{q:g}": self.p_diff_percentile(q) for q in DP_PERCENTILES[:5]},
                "median": self.p_diff_percentile(50.0),
                **{f"{q:g}": self.p_diff_percentile(q) for q in DP_PERCENTILES[5:]},
                "min": float(np.min(self.p_diff)),
            },
            "rms_p_diff": pair(self.rms_p_diff),
            "same_top_p": pair(self.same_top_p),
        }

    def format(self) -> str:
        """The three statistics blocks in llama-perplexity's layout."""
        ppl, base, (r, ru) = self.ppl, self.ppl_base, self.ln_ppl_ratio
        lines = ["====== Perplexity statistics ======"]
        lines.append(f"Mean PPL(Q)                   : {ppl[0]:10.6f} ± {ppl[1]:10.6f}")
        lines.append(f"Mean PPL(base)                : {base[0]:10.6f} ± {base[1]:10.6f}")
        lines.append(f"Mean ln(PPL(Q)/PPL(base))     : {r:10.6f} ± {ru:10.6f}")
        lines.append(f"Mean PPL(Q)/PPL(base)         : {_exp(r):10.6f} ± {_exp(r) * ru:10.6f}")
        lines += ["", "====== KL divergence statistics ======"]
        k, ku = self.mean_kld
        lines.append(f"Mean    KLD: {k:10.6f} ± {ku:10.6f}")
        lines.append(f"Maximum KLD: {float(np.max(self.kld)):10.6f}")
        for q in KLD_PERCENTILES[:4]:
            lines.append(f"{q:4.1f}%   KLD: {self.kld_percentile(q):10.6f}")
        lines.append(f"Median  KLD: {self.kld_percentile(50.0):10.6f}")
        for q in KLD_PERCENTILES[4:]:
            lines.append(f"{q:4.1f}%   KLD: {self.kld_percentile(q):10.6f}")
        lines.append(f"Minimum KLD: {float(np.min(self.kld)):10.6f}")
        lines += ["", "====== Token probability statistics ======"]
        d, du = self.mean_p_diff
        lines.append(f"Mean    Δp: {100 * d:6.3f} ± {100 * du:5.3f} %")
        lines.append(f"Maximum Δp: {100 * float(np.max(self.p_diff)):6.3f}%")
        for q in DP_PERCENTILES[:5]:
            lines.append(f"{q:4.1f}%   Δp: {100 * self.p_diff_percentile(q):6.3f}%")
        lines.append(f"Median  Δp: {100 * self.p_diff_percentile(50.0):6.3f}%")
        for q in DP_PERCENTILES[5:]:
            lines.append(f"{q:4.1f}%   Δp: {100 * self.p_diff_percentile(q):6.3f}%")
        lines.append(f"Minimum Δp: {100 * float(np.min(self.p_diff)):6.3f}%")
        rms, rmsu = self.rms_p_diff
        lines.append(f"RMS Δp    : {100 * rms:6.3f} ± {100 * rmsu:5.3f} %")
        s, su = self.same_top_p
        lines.append(f"Same top p: {100 * s:6.3f} ± {100 * su:5.3f} %")
        if self.non_finite:
            lines.append(f"Non-finite logits at {self.non_finite} of {self.n_tokens} positions")
        return "\n".join(lines)


def kl_divergence(
    model: Model,
    base: PathArg | BaseLogProbs,
    n_chunks: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> KLDReport:
    """Scores ``model`` against the base log probabilities in ``base`` (a file from :func:`save_base` or
    ``llama-perplexity --kl-divergence-base``) on the tokens stored there, as
    ``llama-perplexity --kl-divergence`` does; ``n_chunks`` limits the windows scored."""
    from ._arrays import check_int

    b = base if isinstance(base, BaseLogProbs) else BaseLogProbs.open(base)
    if b.n_vocab != model.n_vocab:
        raise _core.InvalidInputError(
            f"{b.path}: the base has a vocabulary of {b.n_vocab}, the model {model.n_vocab}"
        )
    if b.n_ctx > model.n_ctx:
        raise _core.InvalidInputError(
            f"{b.path}: windows of {b.n_ctx} tokens do not fit the model's context ({model.n_ctx})"
        )
    n_chunk = b.n_chunk if n_chunks is None else min(b.n_chunk, check_int("n_chunks", n_chunks, 1))
    bos, first, parts = _bos(model), b.n_ctx // 2, []
    for i in range(n_chunk):
        rows = _scored_logits(model, _window(b.tokens, i, b.n_ctx, bos))
        targets = b.tokens[i * b.n_ctx + first + 1 : (i + 1) * b.n_ctx].astype(np.int64)
        parts.append(_score_chunk(rows, b.log_probs(i), targets))
        if progress is not None:
            progress(i + 1, n_chunk)

    def cat(name: str) -> Any:
        return np.concatenate([getattr(c, name) for c in parts])

    return KLDReport(
        n_tokens=sum(len(c.kld) for c in parts),
        kld=cat("kld"),
        p_diff=cat("p_diff"),
        nll=cat("nll"),
        nll_base=cat("nll_base"),
        same_top=cat("same_top"),
        non_finite=sum(c.non_finite for c in parts),
    )


@dataclass(frozen=True)
class DriftThresholds:
    """When a file counts as drifted from its base. A limit is crossed only when the statistic is past it
    by more than ``sigmas`` standard errors, so a short text does not raise false alarms.

    The defaults come from rounding noise alone, measured on SmolLM2 (Q4_1) with its own file: our
    portable kernels against the AVX2 ones gave a mean KLD of 0.0043 and a same top p of 91% (93
    wikitext tokens); the limits are about 10x that KLD and 10 points below that same top p."""

    max_mean_kld: float = 0.05
    min_same_top_p: float = 0.80
    sigmas: float = 2.0


@dataclass(frozen=True)
class DriftVerdict:
    """The probe's answer: ``drifted`` and the reasons (empty when healthy)."""

    drifted: bool
    reasons: tuple[str, ...]
    mean_kld: float
    same_top_p: float


def drift_check(report: KLDReport, thresholds: DriftThresholds | None = None) -> DriftVerdict:
    """Flags a file whose logits left its base's: non-finite logits anywhere, a mean KLD above
    ``max_mean_kld`` or a same-top-p below ``min_same_top_p`` (each beyond ``sigmas`` standard errors)."""
    t = thresholds or DriftThresholds()
    k, ku = report.mean_kld
    s, su = report.same_top_p
    reasons = []
    if report.non_finite:
        reasons.append(f"non-finite logits at {report.non_finite} of {report.n_tokens} positions")
    if k - t.sigmas * ku > t.max_mean_kld:
        reasons.append(f"mean KLD {k:.4f} ± {ku:.4f} above {t.max_mean_kld}")
    if s + t.sigmas * su < t.min_same_top_p:
        reasons.append(f"same top p {100 * s:.2f} ± {100 * su:.2f} % below {100 * t.min_same_top_p:g} %")
    return DriftVerdict(bool(reasons), tuple(reasons), k, s)


def corrupt_tensor(src: PathArg, dst: PathArg, tensor: str, fraction: float = 0.01, seed: int = 0) -> int:
    """Copies the GGUF file ``src`` to ``dst`` with one tensor damaged, for checking a monitor: one random
    bit flipped in each of a ``fraction`` of ``tensor``'s data bytes (seeded). Returns the bytes changed."""
    from .llm import read_gguf

    if not 0 < fraction <= 1:
        raise _core.InvalidInputError(f"fraction = {fraction} outside (0, 1]")
    info = read_gguf(src)
    t = info.tensor(tensor)
    data = bytearray(Path(src).read_bytes())
    start = info.data_offset + t.offset
    rng = np.random.default_rng(seed)
    n = max(1, int(t.n_bytes * fraction))
    where = start + rng.choice(t.n_bytes, size=n, replace=False)
    bits = rng.integers(0, 8, size=n)
    for at, bit in zip(where.tolist(), bits.tolist()):
        data[at] ^= 1 << bit
    Path(dst).write_bytes(bytes(data))
    return n
