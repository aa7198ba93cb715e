"""Answer extractors: the short final answer of a response (a number, an option letter, yes/no), or
None when the response has none. Extracted answers sharpen the distance between responses
(:func:`~thermoconsensus.consensus.distances.answer_distances`) and allow a weighted vote."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Callable, Union

__all__ = [
    "EXTRACTORS",
    "INSTRUCTIONS",
    "Extractor",
    "extract_number",
    "extract_option",
    "extract_yesno",
    "resolve_extractor",
]

Extractor = Callable[[str], Union[str, None]]

_NUMBER = r"[-+]?\$?\d[\d,]*(?:\.\d+)?(?:/\d+)?"
_GSM8K = re.compile(r"####\s*(" + _NUMBER + ")")
_ANSWER_IS = re.compile(r"answer\s*(?:is|:|=)\s*\**\s*(" + _NUMBER + ")", re.IGNORECASE)
NUMBER_PATTERN = re.compile(_NUMBER)
_BOXED = re.compile(r"\\boxed\{\s*(" + _NUMBER + r")\s*\}")


def canonical_number(text: str) -> str | None:
    """'1,000.50' -> '1000.5', '$3' -> '3', '4/2' -> '2', '-0' -> '0'; None if not a number."""
    t = text.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        value = Fraction(t)
    except (ValueError, ZeroDivisionError):
        return None
    if value.denominator == 1:
        return str(value.numerator)
    as_float = float(value)
    return repr(round(as_float, 10)).rstrip("0").rstrip(".")


def extract_number(text: str) -> str | None:
    """The final number: GSM8K's ``#### 42`` first, then ``\\boxed{42}``, then "the answer is 42", then
    the last number in the text. Canonical form: no thousands separators or currency, integers plain."""
    for pattern in (_GSM8K, _BOXED, _ANSWER_IS):
        found = pattern.findall(text)
        if found:
            return canonical_number(found[-1])
    numbers = NUMBER_PATTERN.findall(text)
    return canonical_number(numbers[-1]) if numbers else None


_OPTION_EXPLICIT = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*(?:option\s*)?[\(\[]?([A-Ea-e])[\)\]]?(?![A-Za-z])",
    re.IGNORECASE,
)
_OPTION_ALONE = re.compile(r"(?<![A-Za-z])[\(\[]?([A-E])[\)\].:]?(?![A-Za-z])")


def extract_option(text: str) -> str | None:
    """The chosen option letter A-E: "the answer is (B)" first, else the first standalone capital letter
    (a line like "B" or "(B) ..."). Upper case."""
    found: list[str] = _OPTION_EXPLICIT.findall(text)
    if found:
        return found[-1].upper()
    alone: list[str] = _OPTION_ALONE.findall(text.strip())
    return alone[0] if alone else None


_YES = re.compile(r"\b(yes|true|correct)\b", re.IGNORECASE)
_NO = re.compile(r"\b(no|false|incorrect|not)\b", re.IGNORECASE)


def extract_yesno(text: str) -> str | None:
    """ "yes" or "no" from the first of yes/true/correct or no/false/incorrect/not in the text."""
    yes, no = _YES.search(text), _NO.search(text)
    if yes and (not no or yes.start() < no.start()):
        return "yes"
    if no:
        return "no"
    return None


EXTRACTORS: dict[str, Extractor] = {
    "number": extract_number,
    "option": extract_option,
    "yesno": extract_yesno,
}


# The answer-format instruction the orchestrator appends to the prompt when an extractor is named, so
# every model writes its final answer where the extractor looks first ("the answer is ...").
INSTRUCTIONS: dict[str, str] = {
    "number": 'Work it out step by step, then give the final answer on the last line as "The answer is N."',
    "option": 'Start your reply with "The answer is X." where X is the letter of the correct option, '
    "then explain briefly.",
    "yesno": 'Start your reply with "The answer is yes." or "The answer is no.", then explain briefly.',
}


def resolve_extractor(extractor: str | Extractor | None) -> Extractor | None:
    """A named extractor ("number", "option", "yesno"), a callable ``text -> str | None``, or None."""
    if extractor is None or callable(extractor):
        return extractor
    if isinstance(extractor, str):
        try:
            return EXTRACTORS[extractor]
        except KeyError:
            raise ValueError(
                f"answer_extractor: unknown name {extractor!r}; known: {', '.join(EXTRACTORS)} or a callable"
            ) from None
    raise TypeError(f"answer_extractor: expected a name or a callable, got {type(extractor).__name__}")
