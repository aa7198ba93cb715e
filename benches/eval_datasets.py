"""Question sets for the evaluation: read a published release file, detect its layout, draw a seeded subset.

Layouts read, one record at a time (a file may be JSON lines or one JSON list):

* GSM8K: ``{"question", "answer": "... #### 42"}`` (a bare number as the answer is accepted too);
* ARC and CommonsenseQA as published: ``{"id", "question": {"stem", "choices": [{"text", "label"}]},
  "answerKey"}``; labels may be letters or digits (a few ARC questions use "1".."4"), the gold is the
  position of ``answerKey`` among the choices;
* simple multiple choice: ``{"question", "choices": ["...", ...], "answer": "B"}``;
* LLM-Adapters (AGI-Edgerunners/LLM-Adapters, ``dataset/*/*.json``): ``{"instruction", "input",
  "output", "answer"}``. Math sets give the number as the answer ("576.0"); the commonsense sets inline
  the options in the instruction ("Answer1: ... Answer2: ...", or Solution/Option/Ending) and answer
  "answer2"; AQuA lists "Answer Choices: (A) ... (B) ..." and answers with the letter.

Every question comes back as a :class:`Question` whose prompt is the question with its options lettered
"A) ..." one per line, and whose gold answer is in the canonical form of the package's extractors
(:func:`thermoconsensus.consensus.extractors.extract_number` / ``extract_option``), so scoring is a plain
string comparison. The answer-format instruction is left to the caller.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from thermoconsensus.consensus.extractors import extract_number

__all__ = ["Question", "load_questions"]

Kind = Literal["number", "option"]
LETTERS = "ABCDEFGHIJ"
# File names that say the split, not the set: the set is then named after the folder.
_SPLIT_NAMES = {"train", "dev", "valid", "validation", "val", "test"}

# A gold answer field that is one number and nothing else ("1,000", "$3", "-0.5", "576.0", "3/4").
_WHOLE_NUMBER = re.compile(r"[-+]?\$?\d[\d,]*(?:\.\d+)?(?:/\d+)?\.?")
# LLM-Adapters' inline options: "Answer1: dry palms Answer2: wet palms" (also Solution/Option/Ending).
_INLINE_OPTION = re.compile(r"\b(Answer|Solution|Option|Ending)(\d+):\s*")
_ANSWER_FORMAT = re.compile(r"\s*Answer format:.*$", re.DOTALL)
_INLINE_ANSWER = re.compile(r"^(answer|solution|option|ending)(\d+)$", re.IGNORECASE)
# AQuA in LLM-Adapters: "... Answer Choices: (A) 23.65 (B) 1000 (C) 35.62".
_AQUA_CHOICES = re.compile(r"\s*Answer Choices:\s*", re.IGNORECASE)
_AQUA_LABEL = re.compile(r"\(([A-J])\)\s*")
# A lead-in that carries no information beyond "multiple choice": dropped so that the LLM-Adapters copy of
# ARC gives the same prompt as the published file. Task-specific lead-ins (fill in the blank) are kept.
_GENERIC_LEAD = re.compile(r"^Please choose the correct (?:answer|solution) to the question:\s*")


@dataclass(frozen=True)
class Question:
    """One question ready to ask: the prompt, the canonical gold answer and where it came from."""

    id: str
    """The record's own id, else ``h`` plus 16 hex digits of the sha256 of prompt and gold."""
    prompt: str
    """The question; for multiple choice followed by one "A) option" line per option."""
    gold: str
    """Canonical gold: a number as ``extract_number`` writes it ("1000", "0.5") or a letter "B"."""
    kind: Kind
    """"number" or "option": the extractor that reads a response's answer."""
    set_name: str
    """The question set, e.g. "gsm8k", "arc-challenge" (the file's folder when the file is "train.jsonl")."""
    choices: tuple[str, ...] = field(default=())
    """The option texts in letter order (empty for numeric questions)."""


class _Malformed(ValueError):
    """A record that does not fit its layout; turned into a ValueError naming file and line."""


def _lettered(question: str, choices: list[str]) -> str:
    if not question.strip():
        raise _Malformed("empty question text")
    if len(choices) < 2:
        raise _Malformed(f"a multiple-choice question needs at least 2 choices, got {len(choices)}")
    if len(choices) > len(LETTERS):
        raise _Malformed(f"at most {len(LETTERS)} choices are supported, got {len(choices)}")
    lines = [f"{LETTERS[i]}) {c}" for i, c in enumerate(choices)]
    return question.strip() + "\n" + "\n".join(lines)


def _gold_number(value: Any) -> str:
    """The gold number in the form extract_number gives a response's answer, so scoring compares strings."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Malformed(f"answer must be a number or a string, got {type(value).__name__}")
    # A JSON float such as 1e-05 is written out in full; the extractors read no exponents.
    text = format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value).strip()
    gold = extract_number(text) if _WHOLE_NUMBER.fullmatch(text) else None
    if gold is None:
        raise _Malformed(f"answer {value!r} is not a number")
    return gold


def _gold_letter(value: Any, n_choices: int) -> str:
    if not isinstance(value, str) or len(value.strip()) != 1 or value.strip().upper() not in LETTERS:
        raise _Malformed(f"answer must be an option letter, got {value!r}")
    letter = value.strip().upper()
    if LETTERS.index(letter) >= n_choices:
        raise _Malformed(f"answer {letter!r} is beyond the {n_choices} choices")
    return letter


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise _Malformed(f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def _published_mc(record: dict[str, Any]) -> tuple[str, str, Kind, tuple[str, ...]]:
    """ARC / CommonsenseQA: gold is the position of answerKey among the choices' labels."""
    q = record["question"]
    stem = _text(q, "stem")
    raw = q.get("choices")
    if not isinstance(raw, list) or not all(
        isinstance(c, dict) and isinstance(c.get("text"), str) and isinstance(c.get("label"), str)
        for c in raw
    ):
        raise _Malformed('"question.choices" must be a list of {"text", "label"} strings')
    labels = [c["label"].strip() for c in raw]
    key = str(record.get("answerKey", "")).strip()
    if key not in labels:
        raise _Malformed(f"answerKey {key!r} is not among the choice labels {labels}")
    choices = [c["text"].strip() for c in raw]
    return _lettered(stem, choices), LETTERS[labels.index(key)], "option", tuple(choices)


def _simple_mc(record: dict[str, Any]) -> tuple[str, str, Kind, tuple[str, ...]]:
    raw = record["choices"]
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise _Malformed('"choices" must be a list of strings')
    choices = [c.strip() for c in raw]
    prompt = _lettered(_text(record, "question"), choices)
    return prompt, _gold_letter(record.get("answer"), len(choices)), "option", tuple(choices)


def _gsm8k(record: dict[str, Any]) -> tuple[str, str, Kind, tuple[str, ...]]:
    question = _text(record, "question").strip()
    if not question:
        raise _Malformed("empty question text")
    answer = record.get("answer")
    if isinstance(answer, str) and "####" in answer:
        answer = answer.rsplit("####", 1)[1].strip()
    return question, _gold_number(answer), "number", ()


def _inline_options(text: str) -> tuple[str, list[str]] | None:
    """LLM-Adapters' "Answer1: x Answer2: y" options, numbered 1, 2, ... in order; None if absent."""
    marks = list(_INLINE_OPTION.finditer(text))
    if not marks or marks[0].group(2) != "1":
        return None
    words = {m.group(1) for m in marks}
    numbers = [int(m.group(2)) for m in marks]
    if len(words) != 1 or numbers != list(range(1, len(marks) + 1)):
        raise _Malformed(f"inline options are not numbered 1..{len(marks)} with one word: {text[:120]!r}")
    ends = [m.start() for m in marks[1:]] + [len(text)]
    options = [_ANSWER_FORMAT.sub("", text[m.end() : end]).strip() for m, end in zip(marks, ends)]
    return text[: marks[0].start()].strip(), options


def _aqua_options(text: str) -> tuple[str, list[str]] | None:
    """AQuA's "Answer Choices: (A) x (B) y"; None if absent."""
    split = _AQUA_CHOICES.split(text, maxsplit=1)
    if len(split) != 2:
        return None
    parts = _AQUA_LABEL.split(split[1])  # ["", "A", "x ", "B", "y"]
    labels, options = parts[1::2], [p.strip() for p in parts[2::2]]
    if parts[0].strip() or labels != list(LETTERS[: len(labels)]):
        raise _Malformed(f"'Answer Choices:' is not followed by (A) (B) ... options: {split[1][:120]!r}")
    return split[0].strip(), options


def _llm_adapters(record: dict[str, Any]) -> tuple[str, str, Kind, tuple[str, ...]]:
    instruction = _text(record, "instruction")
    extra = record.get("input") or ""
    if not isinstance(extra, str):
        raise _Malformed(f'field "input" must be a string, got {type(extra).__name__}')
    text = (instruction.strip() + ("\n" + extra.strip() if extra.strip() else "")).strip()
    if not text:
        raise _Malformed("empty instruction")
    answer = record.get("answer")
    named = _INLINE_ANSWER.match(answer.strip()) if isinstance(answer, str) else None
    if named:  # "answer2" -> option B of the inline options
        parsed = _inline_options(text)
        if parsed is None:
            raise _Malformed(f"answer {answer!r} names an option but the instruction lists none")
        question, options = parsed
        index = int(named.group(2)) - 1
        if not 0 <= index < len(options):
            raise _Malformed(f"answer {answer!r} is beyond the {len(options)} options")
        question = _GENERIC_LEAD.sub("", question)
        return _lettered(question, options), LETTERS[index], "option", tuple(options)
    if isinstance(answer, str) and len(answer.strip()) == 1 and answer.strip().isalpha():
        parsed = _aqua_options(text) or _inline_options(text)
        if parsed is None:
            raise _Malformed(f"answer {answer!r} is a letter but the instruction lists no options")
        question, options = parsed
        return _lettered(question, options), _gold_letter(answer, len(options)), "option", tuple(options)
    try:
        return text, _gold_number(answer), "number", ()
    except _Malformed:
        raise _Malformed(
            f"answer {answer!r} is neither a number, an option letter nor answerN/solutionN/optionN/endingN"
            " (yes/no sets such as BoolQ are not supported)"
        ) from None


def _parse(record: Any) -> tuple[str, str, Kind, tuple[str, ...]]:
    if not isinstance(record, dict):
        raise _Malformed(f"expected a JSON object, got {type(record).__name__}")
    if isinstance(record.get("question"), dict):
        return _published_mc(record)
    if "instruction" in record:
        return _llm_adapters(record)
    if "question" in record and "choices" in record:
        return _simple_mc(record)
    if "question" in record and "answer" in record:
        return _gsm8k(record)
    raise _Malformed(
        f"unknown layout (keys {sorted(record)}); expected GSM8K {{question, answer}}, ARC/CommonsenseQA "
        "{id, question: {stem, choices}, answerKey}, {question, choices, answer} or LLM-Adapters "
        "{instruction, input, output, answer}"
    )


def _json_list(path: Path, text: str) -> list[tuple[str, Any]]:
    """The records of a JSON list, each with the line its object starts on (LLM-Adapters pretty-prints)."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    out: list[tuple[str, Any]] = []

    counted = [0, 1]  # newlines counted up to this position: line = that + 1 (records come in order)

    def line_at(i: int) -> int:
        counted[1] += text.count("\n", counted[0], i)
        counted[0] = i
        return counted[1]

    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos < len(text) and text[pos] == "]" and not out:
            break
        try:
            record, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: line {e.lineno}: not valid JSON: {e.msg}") from None
        out.append((f"line {line_at(pos)} (record {len(out)})", record))
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos < len(text) and text[pos] == "]":
            break
        else:
            raise ValueError(f"{path}: line {line_at(pos)}: expected ',' or ']' in the JSON list")
    if text[pos + 1 :].strip():
        raise ValueError(f"{path}: line {line_at(pos + 1)}: text after the end of the JSON list")
    return out


def _records(path: Path, text: str) -> list[tuple[str, Any]]:
    """(where, record) pairs, where is "line N" (and the 0-based record number in a JSON list)."""
    if text.lstrip().startswith("["):
        return _json_list(path, text)
    out: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: line {number}: not valid JSON: {e.msg}") from None
    return out


def _default_set_name(path: Path) -> str:
    stem = path.name.split(".", 1)[0]
    return path.parent.name if stem.lower() in _SPLIT_NAMES and path.parent.name else stem


def load_questions(
    path: str | Path, n: int | None = None, seed: int = 0, set_name: str | None = None
) -> list[Question]:
    """The questions of one file, or a seeded random subset of ``n`` of them (without replacement).

    The subset is the first ``n`` of a permutation drawn with ``random.Random(seed)``, returned in file
    order: the same seed gives the same subset, and a smaller ``n`` gives a subset of a larger one. ``n``
    at least the file's size (or None) gives every question. ``set_name`` defaults to the file's name, or
    its folder's when the file is named after a split (``arc-challenge/train.jsonl`` -> "arc-challenge").
    Raises ValueError naming the file and line (or record) of a malformed record, and for an empty file.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
        raise TypeError(f"n must be an int or None, got {type(n).__name__}")
    if n is not None and n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as e:
        raise ValueError(f"{path}: cannot read the question file: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text: {e.reason}") from None
    name = set_name if set_name is not None else _default_set_name(path)

    questions: list[Question] = []
    seen: dict[str, str] = {}  # id -> where it was first seen
    for where, record in _records(path, text):
        try:
            prompt, gold, kind, choices = _parse(record)
        except _Malformed as e:
            raise ValueError(f"{path}: {where}: {e}") from None
        except (KeyError, TypeError, AttributeError) as e:  # a field of the wrong shape deep in a record
            raise ValueError(f"{path}: {where}: malformed record ({type(e).__name__}: {e})") from None
        own = record.get("id")
        if own is not None and not isinstance(own, bool) and isinstance(own, (str, int)):
            qid = str(own)
            if qid in seen:
                raise ValueError(f"{path}: {where}: id {qid!r} already used at {seen[qid]}")
        else:
            # Identical questions (same prompt and gold) get "~2", "~3" in file order to stay distinct.
            base = "h" + hashlib.sha256(f"{prompt}\x00{gold}".encode()).hexdigest()[:16]
            qid, k = base, 1
            while qid in seen:
                k += 1
                qid = f"{base}~{k}"
        seen[qid] = where
        questions.append(Question(qid, prompt, gold, kind, name, choices))
    if not questions:
        raise ValueError(f"{path}: no questions in the file")
    if n is None or n >= len(questions):
        return questions
    order = random.Random(seed).sample(range(len(questions)), len(questions))
    return [questions[i] for i in sorted(order[:n])]
