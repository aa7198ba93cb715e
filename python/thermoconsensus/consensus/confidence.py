"""Self-confidence of a response that can be compared across models.

The raw mean token log probability says more about a tokenizer and a model's habits than about being
right: vocabularies of 49k, 152k and 262k tokens give different scales, and copying the prompt is cheap
to predict, so an echo looks most confident. Two measures replace it:

* :func:`answer_logprob`: when an answer was extracted, the log probability the model gave to the
  tokens that spell that answer (the letter after "The answer is", the digits of the final number) —
  the probability of the answer itself rather than of the prose around it;
* :class:`ConfidenceCalibrator`: each model's measures standardised against that model's own history
  (running mean and variance per model and measure, learned online and persisted with the quality
  state), so "confident for this model" is comparable between models.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PRIORS", "ConfidenceCalibrator", "RunningStats", "answer_logprob", "mean_logprob"]

# Population priors (mean, sd) of each measure, from the local models' responses on development
# questions (GSM8K, ARC, CommonsenseQA train): a model's own statistics replace them as its history
# grows, weighted as this many pseudo-observations.
PRIORS: dict[str, tuple[float, float]] = {"answer_logprob": (-1.0, 0.8), "mean_logprob": (-0.45, 0.25)}
_PSEUDO = 8.0
_MIN_SD = 1e-3


TokenLogprobs = Sequence[tuple[str, float]]


def mean_logprob(logprobs: TokenLogprobs | None) -> float | None:
    """The mean log probability of the generated ``(token, logprob)`` pairs (None without any);
    non-finite values are left out."""
    values = [float(lp) for _, lp in logprobs or () if math.isfinite(float(lp))]
    return sum(values) / len(values) if values else None


def _answer_span(joined: str, answer: str) -> tuple[int, int] | None:
    """The character span of the last spelling of ``answer`` in ``joined``: a number in any form
    that canonicalises to it ("1,000.0" for "1000"), otherwise the answer as a standalone word."""
    from .extractors import NUMBER_PATTERN, canonical_number

    if canonical_number(answer) == answer:
        spots = [m.span() for m in NUMBER_PATTERN.finditer(joined) if canonical_number(m.group()) == answer]
    else:
        word = re.compile(r"(?<![A-Za-z0-9])" + re.escape(answer) + r"(?![A-Za-z0-9])", re.IGNORECASE)
        spots = [m.span() for m in word.finditer(joined)]
    return spots[-1] if spots else None


def answer_logprob(answer: str | None, logprobs: TokenLogprobs | None) -> float | None:
    """The summed log probability of the ``(token, logprob)`` pairs spelling the last occurrence of
    ``answer`` in the generated tokens (None when there is no answer, no log probabilities, or the
    answer is not found in the tokens' text)."""
    if answer is None or not logprobs:
        return None
    tokens = [(str(t), float(lp) if math.isfinite(float(lp)) else -100.0) for t, lp in logprobs]
    joined = "".join(t for t, _ in tokens)
    span = _answer_span(joined, answer)
    if span is None:
        return None
    start, end = span
    total, pos = 0.0, 0
    for tok, lp in tokens:
        nxt = pos + len(tok)
        if nxt > start and pos < end:
            total += lp
        pos = nxt
        if pos >= end:
            break
    return total


@dataclass
class RunningStats:
    """Welford's running mean and variance of one measure of one model."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        """Folds one observation in."""
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)

    @property
    def sd(self) -> float:
        """The sample standard deviation (0 below two observations)."""
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0


class ConfidenceCalibrator:
    """Per-model standardisation of confidence measures, learned online.

    :meth:`score` standardises a value against what the model gave before (not including it): its
    running mean and variance, shrunk toward the population prior of the measure (:data:`PRIORS`,
    worth 8 observations), so a model seen for the first time is scored against the population and a
    model with a long history against itself. :meth:`observe` adds values after a consensus. The
    state is a plain dict (:meth:`to_dict` / :meth:`from_dict`) kept with the quality posteriors."""

    def __init__(self) -> None:
        self.stats: dict[tuple[str, str], RunningStats] = {}

    def score(self, model: str, measure: str, value: float | None) -> float | None:
        """The z-score of ``value`` against ``model``'s shrunk statistics, clipped to [-5, 5] (None
        for None or a non-finite value; ValueError for a measure without a prior)."""
        if value is None or not math.isfinite(value):
            return None
        if measure not in PRIORS:
            raise ValueError(f"measure: expected one of {sorted(PRIORS)}, got {measure!r}")
        mu0, sd0 = PRIORS[measure]
        s = self.stats.get((model, measure), RunningStats())
        n = float(s.n)
        mean = (n * s.mean + _PSEUDO * mu0) / (n + _PSEUDO)
        var = (s.m2 + _PSEUDO * sd0 * sd0) / (n + _PSEUDO)
        z = (value - mean) / max(math.sqrt(var), _MIN_SD)
        return max(-5.0, min(5.0, z))

    def observe(self, model: str, measure: str, value: float | None) -> None:
        """Adds one value of ``measure`` for ``model`` (None and non-finite values are skipped)."""
        if value is not None and math.isfinite(value):
            self.stats.setdefault((model, measure), RunningStats()).add(float(value))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "version": 1,
            "stats": [[m, k, s.n, s.mean, s.m2] for (m, k), s in sorted(self.stats.items())],
        }

    @classmethod
    def from_dict(cls, data: Any) -> ConfidenceCalibrator:
        """The inverse of :meth:`to_dict`; ValueError on a malformed state."""
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ValueError("confidence state: expected an object with version 1")
        out = cls()
        try:
            for m, k, n, mean, m2 in data.get("stats", []):
                if int(n) < 0 or float(m2) < 0 or not math.isfinite(float(mean)):
                    raise ValueError(f"bad statistics for {m}/{k}")
                out.stats[(str(m), str(k))] = RunningStats(int(n), float(mean), float(m2))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"confidence state: malformed ({exc})") from None
        return out
