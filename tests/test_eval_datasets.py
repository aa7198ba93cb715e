"""The evaluation's question loader (benches/eval_datasets.py) on small invented records in each layout."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benches"))

from eval_datasets import Question, load_questions
from thermoconsensus.consensus.extractors import extract_number, extract_option


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return path


def write_json(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=4), "utf-8")  # pretty-printed, as LLM-Adapters ships it
    return path


def arc_record(qid: str, stem: str, texts: list[str], labels: str, key: str) -> dict[str, Any]:
    choices = [{"text": t, "label": lab} for t, lab in zip(texts, labels)]
    return {"id": qid, "question": {"stem": stem, "choices": choices}, "answerKey": key}


def test_gsm8k_layout_gold_is_the_canonical_number_after_the_hashes(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "gsm8k" / "train.jsonl",
        [
            {
                "question": "A pen costs 2 dollars. What do 500 pens cost?",
                "answer": "2 * 500 = 1000\n#### 1,000",
            },
            {"question": "Half of 7?", "answer": "7 / 2 = 3.5\n#### 3.50"},
            {"question": "A bare answer?", "answer": "$12"},
        ],
    )
    qs = load_questions(path)
    assert [q.gold for q in qs] == ["1000", "3.5", "12"]
    assert all(q.kind == "number" and q.set_name == "gsm8k" and q.choices == () for q in qs)
    assert qs[0].prompt == "A pen costs 2 dollars. What do 500 pens cost?"
    # The gold is what the package's extractor writes for a response ending in that number.
    assert [extract_number(f"so it is {q.gold}") for q in qs] == ["1000", "3.5", "12"]
    # Ids come from a hash of the question: the same on every load, distinct across questions.
    assert [q.id for q in load_questions(path)] == [q.id for q in qs]
    assert len({q.id for q in qs}) == 3 and all(q.id.startswith("h") for q in qs)


def test_arc_layout_letters_options_and_maps_digit_labels_by_position(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "arc-challenge" / "dev.jsonl",
        [
            arc_record("Q1", "Which is a metal?", ["wood", "iron", "glass", "paper"], "ABCD", "B"),
            arc_record("Q2", "Which is a gas?", ["steam", "ice", "water"], "123", "3"),
            arc_record("Q3", "Pick the fifth.", ["a", "b", "c", "d", "e"], "ABCDE", "E"),
        ],
    )
    q1, q2, q3 = load_questions(path)
    assert q1 == Question(
        id="Q1",
        prompt="Which is a metal?\nA) wood\nB) iron\nC) glass\nD) paper",
        gold="B",
        kind="option",
        set_name="arc-challenge",
        choices=("wood", "iron", "glass", "paper"),
    )
    assert q2.prompt == "Which is a gas?\nA) steam\nB) ice\nC) water" and q2.gold == "C"
    assert q3.gold == "E" and extract_option("The answer is E.") == q3.gold


def test_commonsenseqa_layout_with_its_extra_concept_field(tmp_path: Path) -> None:
    record = arc_record(
        "c0ffee", "Where do you keep milk cold?", ["oven", "fridge", "shelf", "car", "bag"], "ABCDE", "B"
    )
    record["question"]["question_concept"] = "milk"
    (q,) = load_questions(write_jsonl(tmp_path / "commonsenseqa" / "train.jsonl", [record]))
    assert (q.id, q.gold, q.kind, q.set_name, len(q.choices)) == ("c0ffee", "B", "option", "commonsenseqa", 5)
    assert q.prompt.splitlines()[1:] == ["A) oven", "B) fridge", "C) shelf", "D) car", "E) bag"]


def test_simple_multiple_choice_layout(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mine.jsonl",
        [{"question": "2 + 2?", "choices": ["3", "4", "5"], "answer": " b "}],
    )
    (q,) = load_questions(path)
    assert (q.prompt, q.gold, q.kind, q.set_name) == ("2 + 2?\nA) 3\nB) 4\nC) 5", "B", "option", "mine")
    assert load_questions(path, set_name="custom")[0].set_name == "custom"


def test_llm_adapters_layouts(tmp_path: Path) -> None:
    fmt = "\n\nAnswer format: answer1/answer2/answer3"
    records = [
        {  # the commonsense sets: options inline, answerN
            "instruction": "Please choose the correct answer to the question: Which is a metal?\n\n"
            "Answer1: wood Answer2: iron Answer3: glass" + fmt,
            "input": "",
            "output": "the correct answer is answer2",
            "answer": "answer2",
        },
        {  # Winogrande-like: the format line follows the last option on the same line, lead-in kept
            "instruction": "Please choose the correct answer to fill in the blank to complete the given "
            "sentence: Ann lent Bea a pen because _ had two.\n\n"
            "Option1: Ann Option2: Bea Answer format: option1/option2",
            "input": "",
            "output": "the correct answer is option1",
            "answer": "option1",
        },
        {  # PIQA-like: options on their own paragraphs
            "instruction": "Please choose the correct solution to the question: Dry a towel.\n\n"
            "Solution1: hang it in the sun\n\nSolution2: put it in the freezer\n\n"
            "Answer format: solution1/solution2",
            "input": "",
            "output": "the correct answer is solution1",
            "answer": "solution1",
        },
        {  # AQuA: (A) (B) choices and a letter
            "instruction": "What is 10% of 50? Answer Choices: (A) 2 (B) 5 (C) 10",
            "input": "",
            "output": "10% of 50 is 5. The answer is B.",
            "answer": "B",
        },
        {
            "instruction": "Tom has 3 apples and eats 1.",
            "input": "How many are left?",
            "output": "2",
            "answer": "2.0",
        },
        {"instruction": "Half of one?", "input": "", "output": "0.5", "answer": 0.5},
    ]
    qs = load_questions(write_json(tmp_path / "llm-adapters" / "train.json", records))
    assert [q.gold for q in qs] == ["B", "A", "A", "B", "2", "0.5"]
    assert [q.kind for q in qs] == ["option"] * 4 + ["number"] * 2
    assert qs[0].prompt == "Which is a metal?\nA) wood\nB) iron\nC) glass"
    assert qs[1].prompt.startswith("Please choose the correct answer to fill in the blank")
    assert qs[1].prompt.endswith("_ had two.\nA) Ann\nB) Bea")
    assert qs[2].prompt == "Dry a towel.\nA) hang it in the sun\nB) put it in the freezer"
    assert qs[3].prompt == "What is 10% of 50?\nA) 2\nB) 5\nC) 10"
    assert qs[4].prompt == "Tom has 3 apples and eats 1.\nHow many are left?"
    assert all(q.set_name == "llm-adapters" for q in qs)


def test_llm_adapters_and_published_arc_give_the_same_prompt(tmp_path: Path) -> None:
    published = arc_record("Q1", "Which is a metal?", ["wood", "iron", "glass"], "ABC", "B")
    adapters = {
        "instruction": "Please choose the correct answer to the question: Which is a metal?\n\n"
        "Answer1: wood Answer2: iron Answer3: glass\n\nAnswer format: answer1/answer2/answer3",
        "input": "",
        "output": "the correct answer is answer2",
        "answer": "answer2",
    }
    (a,) = load_questions(write_jsonl(tmp_path / "a.jsonl", [published]))
    (b,) = load_questions(write_json(tmp_path / "b.json", [adapters]))
    assert (a.prompt, a.gold, a.choices) == (b.prompt, b.gold, b.choices)


def test_seeded_subset_is_reproducible_nested_and_without_replacement(tmp_path: Path) -> None:
    records = [{"question": f"What is {i} + 1?", "answer": f"#### {i + 1}"} for i in range(60)]
    path = write_jsonl(tmp_path / "sums.jsonl", records)
    everything = load_questions(path)
    position = {q.id: i for i, q in enumerate(everything)}
    for seed in range(5):
        ten = load_questions(path, n=10, seed=seed)
        assert [q.id for q in ten] == [q.id for q in load_questions(path, n=10, seed=seed)]
        assert len({q.id for q in ten}) == 10
        assert [position[q.id] for q in ten] == sorted(position[q.id] for q in ten)  # file order
        assert {q.id for q in load_questions(path, n=4, seed=seed)} <= {q.id for q in ten}
    subsets = {tuple(q.id for q in load_questions(path, n=10, seed=s)) for s in range(5)}
    assert len(subsets) == 5  # different seeds draw different subsets
    assert load_questions(path, n=60) == everything == load_questions(path, n=1000, seed=3)


def test_identical_questions_without_ids_stay_distinct(tmp_path: Path) -> None:
    record = {"question": "Same?", "answer": "#### 1"}
    qs = load_questions(write_jsonl(tmp_path / "dup.jsonl", [record, record, record]))
    assert qs[1].id == qs[0].id + "~2" and qs[2].id == qs[0].id + "~3"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": "ok", "answer": "#### 1"}\n{not json}\n', r"line 2: not valid JSON"),
        (
            '{"question": "ok", "answer": "#### 1"}\n\n{"question": "q", "answer": "#### many"}\n',
            r"line 3: .*not a number",
        ),
        (
            json.dumps(arc_record("Q", "s", ["a", "b"], "AB", "C")) + "\n",
            r"line 1: answerKey 'C' is not among",
        ),
        (
            json.dumps(arc_record("Q", "s", ["a", "b"], "AB", "A"))
            + "\n"
            + json.dumps(arc_record("Q", "t", ["a", "b"], "AB", "B"))
            + "\n",
            r"line 2: id 'Q' already used at line 1",
        ),
        (
            '{"question": "q", "choices": ["x", "y"], "answer": "C"}\n',
            r"line 1: answer 'C' is beyond the 2 choices",
        ),
        ('{"question": "q", "choices": ["x"], "answer": "A"}\n', r"line 1: .*at least 2 choices"),
        ('{"prompt": "q"}\n', r"line 1: unknown layout \(keys \['prompt'\]\)"),
        ('["a list on one line"]\n', r"line 1 \(record 0\): expected a JSON object"),
        ("\n\n", r"no questions"),
    ],
)
def test_malformed_records_name_the_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, "utf-8")
    with pytest.raises(ValueError, match=message) as info:
        load_questions(path)
    assert str(path) in str(info.value)


def test_malformed_llm_adapters_records_name_the_line(tmp_path: Path) -> None:
    good = {"instruction": "1 + 1?", "input": "", "output": "2", "answer": "2"}
    boolq = {"instruction": "Is water wet?", "input": "", "output": "true", "answer": "true"}
    path = write_json(tmp_path / "boolq.json", [good, boolq])
    with pytest.raises(ValueError, match=r"line 8 \(record 1\): answer 'true' is neither.*BoolQ"):
        load_questions(path)
    no_options = {"instruction": "Pick one.", "input": "", "output": "", "answer": "answer1"}
    with pytest.raises(ValueError, match=r"record 0\): answer 'answer1' names an option but the instruction"):
        load_questions(write_json(tmp_path / "x.json", [no_options]))
    beyond = {"instruction": "Q?\n\nAnswer1: a Answer2: b", "input": "", "output": "", "answer": "answer3"}
    with pytest.raises(ValueError, match=r"answer 'answer3' is beyond the 2 options"):
        load_questions(write_json(tmp_path / "y.json", [beyond]))
    broken = tmp_path / "z.json"
    broken.write_text('[\n  {"instruction": "q", "answer": "1"},\n  {"instruction": \n]', "utf-8")
    with pytest.raises(ValueError, match=r"z\.json: line 4: not valid JSON"):
        load_questions(broken)


def test_bad_arguments(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "one.jsonl", [{"question": "q", "answer": "#### 1"}])
    with pytest.raises(ValueError, match="n must be at least 1"):
        load_questions(path, n=0)
    with pytest.raises(TypeError, match="n must be an int"):
        load_questions(path, n=True)
    with pytest.raises(TypeError, match="seed must be an int"):
        load_questions(path, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"missing\.jsonl: cannot read"):
        load_questions(tmp_path / "missing.jsonl")
