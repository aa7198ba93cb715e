"""Response validity: which responses may carry weight in a consensus at all.

A small model that copies the prompt back, loops on one phrase, says nothing, runs out of tokens before
its final answer or drifts into another language produces a response that looks confident (copying is
cheap to predict) and can agree with nothing, yet the free-energy minimum would happily weigh it.
:func:`assess` checks every response before weighting and says why one is invalid:

* ``empty``: nothing but whitespace;
* ``echo``: the response copies the prompt back — spans of at least ``ECHO_NGRAM`` words found in
  the prompt cover at least ``ECHO_COVERAGE`` of the prompt's words and of the response's own words —
  and adds no answer of its own (with an extractor: the answer is not found in the words it did not
  copy). Quoting the chosen option, or restating the question before solving it, is not an echo;
* ``loop``: a repetition loop (more than ``LOOP_SHARE`` of its word 4-grams repeat an earlier one)
  before any stated final answer ("The answer is D." followed by a loop keeps its answer, flagged);
* ``truncated``: cut at ``max_tokens`` (finish reason "length") with no final answer: nothing was
  extracted, or only the last-number fallback found something in unfinished working. A free-text
  response that ran out of tokens stays valid but carries the ``truncated`` flag;
* ``language``: the prompt is clearly in one language and the response clearly in another
  (py3langid's normalised probabilities over letters only).

The thresholds were set on development data (GSM8K train, ARC train/dev, CommonsenseQA train
responses of the local models); see the README's evaluation section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

__all__ = ["ECHO_COVERAGE", "ECHO_NGRAM", "LOOP_SHARE", "Validity", "assess", "load_language_identifier"]

ECHO_NGRAM = 5
ECHO_COVERAGE = 0.5
LOOP_SHARE = 0.5
# Languages are only compared with enough letters on both sides: short texts are too ambiguous.
_MIN_LETTERS = 40
_PROMPT_SURE = 0.9
_RESPONSE_SURE = 0.9
_RESPONSE_DOUBT = 0.02

_WORD = re.compile(r"\w+", re.UNICODE)
_NOT_LETTERS = re.compile(r"[\W\d_]+", re.UNICODE)
_EXPLICIT_ANSWER = re.compile(
    r"####|\\boxed\{|(?:final\s+)?answer\s*(?:is|:|=)|(?:option|choice)\s*(?:is|:)", re.IGNORECASE
)


@dataclass(frozen=True)
class Validity:
    """Whether a response may carry weight and why not: ``reasons`` lists every check it failed
    ("empty", "echo", "loop", "truncated", "language"); ``flags`` what is worth knowing but does not
    invalidate it (a free-text response cut at max_tokens: "truncated"). ``echo`` is the share of its
    words inside spans copied from the prompt, ``repetition`` the share of its repeated word 4-grams."""

    valid: bool
    reasons: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    echo: float = 0.0
    repetition: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "valid": self.valid,
            "reasons": list(self.reasons),
            "flags": list(self.flags),
            "echo": self.echo,
            "repetition": self.repetition,
        }


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def copied_masks(
    response: list[str], prompt: list[str], n: int = ECHO_NGRAM
) -> tuple[list[bool], list[bool]]:
    """Which response words lie in a run of ``n`` or more words that also occurs in the prompt, and
    which prompt words were so copied (word n-gram matching; shorter texts copy nothing)."""
    mask = [False] * len(response)
    used = [False] * len(prompt)
    if len(response) < n or len(prompt) < n:
        return mask, used
    grams: dict[tuple[str, ...], list[int]] = {}
    for i in range(len(prompt) - n + 1):
        grams.setdefault(tuple(prompt[i : i + n]), []).append(i)
    for i in range(len(response) - n + 1):
        for start in grams.get(tuple(response[i : i + n]), ()):
            for j in range(n):
                mask[i + j] = True
                used[start + j] = True
    return mask, used


def first_repeat(words: list[str], n: int = 4) -> int:
    """The index of the first word of the first word n-gram that repeats an earlier one (the length
    of ``words`` when none repeats)."""
    seen: set[tuple[str, ...]] = set()
    for i in range(len(words) - n + 1):
        g = tuple(words[i : i + n])
        if g in seen:
            return i
        seen.add(g)
    return len(words)


def repetition_share(words: list[str], n: int = 4) -> float:
    """The share of word n-grams that repeat an earlier one (0 for short texts)."""
    if len(words) < 4 * n:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    total = len(words) - n + 1
    for i in range(total):
        g = tuple(words[i : i + n])
        if g in seen:
            repeats += 1
        else:
            seen.add(g)
    return repeats / total


@lru_cache(maxsize=1)
def load_language_identifier() -> Any:
    """py3langid's identifier with normalised probabilities (loaded once, about 0.5 s)."""
    from py3langid.langid import _load_identifier  # the public classify() gives unnormalised scores

    return _load_identifier(norm_probs=True)


def _languages(text: str) -> dict[str, float] | None:
    letters = _NOT_LETTERS.sub(" ", text)
    if sum(c.isalpha() for c in letters) < _MIN_LETTERS:
        return None
    return {lang: float(p) for lang, p in load_language_identifier().rank(letters)}


def other_language(response: str, prompt: str) -> bool:
    """Whether the prompt is clearly in one language and the response clearly in another."""
    p = _languages(prompt)
    if p is None:
        return False
    lang, sure = max(p.items(), key=lambda kv: kv[1])
    if sure < _PROMPT_SURE:
        return False
    r = _languages(response)
    if r is None:
        return False
    top, top_p = max(r.items(), key=lambda kv: kv[1])
    return top != lang and top_p >= _RESPONSE_SURE and r.get(lang, 0.0) <= _RESPONSE_DOUBT


def assess(
    text: str,
    prompt: str,
    *,
    finish_reason: str | None = None,
    extractor: Callable[[str], str | None] | None = None,
    answer: str | None = None,
    question: str | None = None,
) -> Validity:
    """Checks one response against its prompt (see the module docs). ``extractor``: the answer
    extractor that ran, and ``answer`` what it found (None for nothing); ``question``: the user's own
    text when ``prompt`` adds an instruction to it (an echo need not repeat the instruction)."""
    if (
        not isinstance(text, str)
        or not isinstance(prompt, str)
        or not isinstance(question, (str, type(None)))
    ):
        raise TypeError("assess: text, prompt and question must be strings")
    if not text.strip():
        return Validity(False, ("empty",))
    words, prompt_words = _words(text), _words(prompt)
    mask, used = copied_masks(words, prompt_words)
    echo = sum(mask) / len(words) if words else 0.0
    covered = sum(used) / len(prompt_words) if prompt_words else 0.0
    if question is not None:
        asked = _words(question)
        covered = max(covered, sum(copied_masks(words, asked)[1]) / len(asked) if asked else 0.0)
    repetition = repetition_share(words)
    reasons: list[str] = []
    flags: list[str] = []
    if echo >= ECHO_COVERAGE and covered >= ECHO_COVERAGE:
        own = " ".join(w for w, copied in zip(words, mask) if not copied)
        if extractor is None or answer is None or extractor(own) != answer:
            reasons.append("echo")
    if repetition > LOOP_SHARE:
        # An answer stated before the text degenerates still stands ("The answer is D. The answer is
        # D. ..."); a loop before any stated answer leaves nothing to trust.
        stated = _EXPLICIT_ANSWER.search(text) if extractor is not None and answer is not None else None
        if stated is not None and len(_words(text[: stated.start()])) < first_repeat(words):
            flags.append("loop")
        else:
            reasons.append("loop")
    if finish_reason == "length":
        if extractor is not None and (answer is None or not _EXPLICIT_ANSWER.search(text)):
            reasons.append("truncated")
        else:
            flags.append("truncated")
    if other_language(text, prompt):
        reasons.append("language")
    return Validity(not reasons, tuple(reasons), tuple(flags), echo, repetition)
