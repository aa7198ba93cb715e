"""Beam search and diverse beam search against brute force on a tiny random model: with as many beams as
tokens, two steps of beam search are an exhaustive search; and diverse beam search step by step against a
numpy re-implementation over full-pass logits."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from thermoconsensus import InvalidInputError, llm

sys.path.insert(0, str(Path(__file__).parent))
from tiny_gguf import N_VOCAB, write_tiny_model

PROMPT = [12, 200, 3, 77]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> llm.Model:
    path = write_tiny_model(
        tmp_path_factory.mktemp("beam") / "tiny.gguf", "llama", seed=5, float_weights=True
    )
    return llm.Model.load(path)


def log_softmax(row: np.ndarray) -> np.ndarray:
    r = row.astype(np.float64)
    return r - (r.max() + np.log(np.exp(r - r.max()).sum()))


def test_as_many_beams_as_tokens_is_an_exhaustive_search(tiny: llm.Model) -> None:
    first = log_softmax(tiny.logits(PROMPT)[-1])
    pairs = np.array([first[t] + log_softmax(tiny.logits([*PROMPT, t])[-1]) for t in range(N_VOCAB)])
    want = np.argsort(-pairs.ravel(), kind="stable")[:N_VOCAB]
    got = tiny.beam_search(PROMPT, beams=N_VOCAB, max_tokens=2, length_penalty=0.0)
    assert len(got) == N_VOCAB
    assert [tuple(h.token_ids) for h in got] == [divmod(int(i), N_VOCAB) for i in want]
    np.testing.assert_allclose([h.logprob for h in got], pairs.ravel()[want], atol=1e-4)
    assert all(h.score == pytest.approx(h.logprob) and not h.stopped for h in got)


def diverse_reference(
    model: llm.Model, beams: int, groups: int, diversity: float, steps: int
) -> list[list[tuple[list[int], float]]]:
    """Group beam search as Vijayakumar et al. describe it (Hamming diversity), over full passes."""
    state: list[list[tuple[list[int], float]]] = [[([], 0.0)] for _ in range(groups)]
    for _ in range(steps):
        chosen: dict[int, int] = {}
        for g in range(groups):
            cands = []
            for bi, (toks, score) in enumerate(state[g]):
                lp = log_softmax(model.logits(PROMPT + toks)[-1])
                pen = lp - diversity * np.array([chosen.get(t, 0) for t in range(N_VOCAB)])
                cands += [(score + pen[t], bi, t) for t in range(N_VOCAB)]
            cands.sort(key=lambda c: (-c[0], c[1], c[2]))
            state[g] = [(state[g][bi][0] + [t], s) for s, bi, t in cands[:beams]]
            for _, _, t in cands[:beams]:
                chosen[t] = chosen.get(t, 0) + 1
    return state


def test_diverse_beam_search_matches_the_reference(tiny: llm.Model) -> None:
    got = tiny.beam_search(PROMPT, beams=2, groups=3, diversity=2.0, max_tokens=5, length_penalty=0.0)
    want = diverse_reference(tiny, beams=2, groups=3, diversity=2.0, steps=5)
    assert [h.group for h in got] == [0, 0, 1, 1, 2, 2]
    for g in range(3):
        mine = [(h.token_ids, h.score) for h in got if h.group == g]
        assert [t for t, _ in mine] == [t for t, _ in want[g]]
        np.testing.assert_allclose([s for _, s in mine], [s for _, s in want[g]], atol=1e-4)
    # The penalty spreads the groups: together they open with more tokens than one group does.
    assert len({h.token_ids[0] for h in got}) > len({h.token_ids[0] for h in got if h.group == 0})


def test_without_diversity_every_group_is_plain_beam_search(tiny: llm.Model) -> None:
    plain = tiny.beam_search(PROMPT, beams=3, max_tokens=4)
    groups = tiny.beam_search(PROMPT, beams=3, groups=2, diversity=0.0, max_tokens=4)
    assert [h.token_ids for h in groups[:3]] == [h.token_ids for h in plain]
    assert [h.token_ids for h in groups[3:]] == [h.token_ids for h in plain]
    # One beam is greedy decoding.
    assert tiny.beam_search(PROMPT, beams=1, max_tokens=6)[0].token_ids == tiny.greedy(
        PROMPT, max_tokens=6, stop_at_eos=False
    )


def test_beam_arguments_are_checked(tiny: llm.Model) -> None:
    with pytest.raises(InvalidInputError, match="beams"):
        tiny.beam_search(PROMPT, beams=0)
    with pytest.raises(InvalidInputError, match="beams"):
        tiny.beam_search(PROMPT, beams=64, groups=32)
    with pytest.raises(InvalidInputError, match="diversity"):
        tiny.beam_search(PROMPT, groups=2, diversity=float("nan"))
    with pytest.raises(InvalidInputError, match="length_penalty"):
        tiny.beam_search(PROMPT, length_penalty=-1.0)
