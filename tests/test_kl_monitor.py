"""The KL-divergence monitor (thermoconsensus.kl_monitor) on tiny random models (tests/tiny_gguf.py) and, for
the command line, SmolLM2 on a short text.

The references are llama.cpp's per-position formulas (tools/perplexity/perplexity.cpp: the uint16 encoding
of a row, and the KL sum over base log probabilities above -16 without renormalisation), written out
here as plain loops in float64; the agreement with llama-perplexity itself on real files is measured by
benches/bench_kl_monitor.py (README, "KL-divergence health monitor")."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest

from thermoconsensus import InvalidInputError, kl_monitor, llm, models
from thermoconsensus.cli import main
from tiny_gguf import N_VOCAB, write_tiny_model

N_CTX = 16


def softened(path: Path, factor: float = 200.0) -> Path:
    """The tiny model with its final norm's gain divided by ``factor``: its random weights give logits
    with a spread of ~400 (one-hot distributions); /200 leaves a spread of ~2, so every statistic here
    sees many tokens with real probability."""
    info = llm.read_gguf(path).tensor("output_norm.weight")
    at = llm.read_gguf(path).data_offset + info.offset
    raw = bytearray(path.read_bytes())
    gain = np.frombuffer(bytes(raw[at : at + info.n_bytes]), "<f4") / factor
    raw[at : at + info.n_bytes] = gain.astype("<f4").tobytes()
    path.write_bytes(bytes(raw))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("kl")
    return {
        "a": softened(write_tiny_model(d / "a.gguf", "llama", seed=0)),
        "b": softened(write_tiny_model(d / "b.gguf", "llama", seed=1)),
    }


@pytest.fixture(scope="module")
def tokens() -> list[int]:
    return np.random.default_rng(7).integers(0, N_VOCAB, size=3 * N_CTX + 5).tolist()


@pytest.fixture(scope="module")
def base_file(tiny: dict[str, Path], tokens: list[int], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("base") / "a.kld"
    kl_monitor.save_base(llm.Model.load(tiny["a"], n_threads=1), tokens, path, n_ctx=N_CTX)
    return path


def llama_cpp_row(logits: np.ndarray) -> tuple[float, float, np.ndarray]:
    """llama.cpp's log_softmax(n_vocab, logits, log_prob, tok): scale, min_log_prob, quantized row."""
    mx, mn = float(logits.max()), max(float(logits.min()), float(logits.max()) - 16)
    lse = math.log(sum(math.exp(v - mx) for v in logits))
    scale = (mx - mn) / 65535
    q = np.array([round((v - mn) / scale) if v > mn else 0 for v in logits], dtype=np.int64)
    return scale, mn - mx - lse, q


def test_file_layout_and_rows_match_llama_cpp_encoding(
    tiny: dict[str, Path], tokens: list[int], base_file: Path
) -> None:
    raw = base_file.read_bytes()
    assert raw[:8] == b"_logits_"
    n_ctx, n_vocab, n_chunk = struct.unpack("<Iii", raw[8:20])
    assert (n_ctx, n_vocab, n_chunk) == (N_CTX, N_VOCAB, 3)
    assert np.frombuffer(raw[20 : 20 + 4 * 3 * N_CTX], "<i4").tolist() == tokens[: 3 * N_CTX]
    nv = 2 * ((N_VOCAB + 1) // 2) + 4
    assert len(raw) == 20 + 4 * 3 * N_CTX + 2 * nv * (N_CTX - 1 - N_CTX // 2) * 3
    base = kl_monitor.BaseLogProbs.open(base_file)
    model = llm.Model.load(tiny["a"], n_threads=1)
    logits = model.logits(tokens[N_CTX : 2 * N_CTX]).astype(np.float64)
    row = np.frombuffer(raw, "<u2", count=nv, offset=20 + 4 * 3 * N_CTX + 2 * nv * base.n_scored)
    scale, min_lp = np.frombuffer(row[:4].tobytes(), "<f4")
    want_scale, want_min, want_q = llama_cpp_row(logits[N_CTX // 2])
    assert scale == pytest.approx(want_scale, rel=1e-6)
    assert min_lp == pytest.approx(want_min, abs=1e-5)
    assert np.abs(row[4 : 4 + N_VOCAB].astype(np.int64) - want_q).max() <= 1
    # Dequantized rows are the log-softmax to within half a quantization step (above the -16 floor).
    lp = base.log_probs(1)
    exact = logits[N_CTX // 2 : N_CTX - 1] - np.log(np.exp(logits[N_CTX // 2 : N_CTX - 1]).sum(1))[:, None]
    above = exact > exact.max(1, keepdims=True) - 16
    assert np.abs(lp - exact)[above].max() < 1e-3


def test_model_against_its_own_base_is_zero_and_healthy(tiny: dict[str, Path], base_file: Path) -> None:
    report = kl_monitor.kl_divergence(llm.Model.load(tiny["a"], n_threads=2), base_file)
    assert report.n_tokens == 3 * (N_CTX - 1 - N_CTX // 2)
    assert abs(report.mean_kld[0]) < 1e-5
    assert report.same_top_p[0] == 1.0
    assert np.abs(report.p_diff).max() < 1e-3
    verdict = kl_monitor.drift_check(report)
    assert not verdict.drifted and verdict.reasons == ()


def test_per_position_statistics_match_llama_cpp_loops(
    tiny: dict[str, Path], tokens: list[int], base_file: Path
) -> None:
    other = llm.Model.load(tiny["b"], n_threads=1)
    report = kl_monitor.kl_divergence(other, base_file)
    base = kl_monitor.BaseLogProbs.open(base_file)
    first, n = N_CTX // 2, base.n_scored
    for chunk in range(3):
        logits = other.logits(tokens[chunk * N_CTX : (chunk + 1) * N_CTX]).astype(np.float64)
        lpb = base.log_probs(chunk).astype(np.float64)
        for r in range(n):
            z, tok = logits[first + r], tokens[chunk * N_CTX + first + r + 1]
            mx = z.max()
            log_q = z - mx - math.log(sum(math.exp(v - mx) for v in z))
            want_kld = sum(math.exp(p) * (p - lq) for p, lq in zip(lpb[r], log_q) if p > -16)
            i = chunk * n + r
            assert report.kld[i] == pytest.approx(want_kld, rel=1e-5, abs=1e-7)
            assert report.nll[i] == pytest.approx(-log_q[tok], rel=1e-6)
            assert report.nll_base[i] == pytest.approx(-lpb[r, tok], rel=1e-6)
            assert report.p_diff[i] == pytest.approx(math.exp(log_q[tok]) - math.exp(lpb[r, tok]), abs=1e-6)
            assert report.same_top[i] == (int(np.argmax(z)) == int(np.argmax(lpb[r])))
    # A different random model is far from the base: the probe must flag it.
    assert report.mean_kld[0] > 0.5
    assert kl_monitor.drift_check(report).drifted


def test_summary_statistics_follow_llama_cpp_formulas() -> None:
    rng = np.random.default_rng(3)
    n = 400
    kld = rng.exponential(0.1, n)
    nll, nll_base = rng.exponential(2.0, n), rng.exponential(2.0, n)
    p_diff = rng.normal(0, 0.05, n)
    same = rng.random(n) < 0.8
    rep = kl_monitor.KLDReport(n, kld, p_diff, nll, nll_base, same, 0)
    mean, unc = rep.mean_kld
    assert mean == pytest.approx(kld.mean())
    assert unc == pytest.approx(math.sqrt((np.mean(kld**2) - kld.mean() ** 2) / (n - 1)))
    s = np.sort(kld)
    p = 0.99 * (n - 1)
    ip = int(p)
    assert rep.kld_percentile(99.0) == pytest.approx((1 - (p - ip)) * s[ip] + (p - ip) * s[ip + 1])
    top, top_unc = rep.same_top_p
    assert top == pytest.approx(same.mean())
    assert top_unc == pytest.approx(math.sqrt(top * (1 - top) / (n - 1)))
    rms, _ = rep.rms_p_diff
    assert rms == pytest.approx(math.sqrt(np.mean(p_diff**2)))
    assert rep.ppl[0] == pytest.approx(math.exp(nll.mean()))
    d = rep.to_dict()
    assert d["kld_percentiles"]["max"] == s[-1] and d["kld_percentiles"]["median"] == pytest.approx(
        np.median(s)
    )
    text = rep.format()
    assert f"Mean    KLD: {mean:10.6f} ± {unc:10.6f}" in text
    assert "Same top p:" in text


def test_probe_flags_a_corrupted_tensor_and_non_finite_logits(
    tiny: dict[str, Path], base_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.gguf"
    changed = kl_monitor.corrupt_tensor(tiny["a"], bad, "blk.1.ffn_down.weight", fraction=0.2, seed=1)
    info = llm.read_gguf(tiny["a"]).tensor("blk.1.ffn_down.weight")
    assert changed == int(info.n_bytes * 0.2)
    assert bad.read_bytes() != Path(tiny["a"]).read_bytes()
    report = kl_monitor.kl_divergence(llm.Model.load(bad, n_threads=1), base_file)
    assert report.mean_kld[0] > 0 and report.n_tokens == 21
    # Non-finite logits count as drift whatever the other statistics say.
    rows = np.full((3, N_VOCAB), np.nan)
    base = kl_monitor.BaseLogProbs.open(base_file).log_probs(0)[:3]
    chunk = kl_monitor._score_chunk(rows, base, np.array([1, 2, 3]))
    assert chunk.non_finite == 3 and np.isinf(chunk.kld).all()
    nan_report = kl_monitor.KLDReport(
        3, chunk.kld, chunk.p_diff, chunk.nll, chunk.nll_base, chunk.same_top, 3
    )
    assert kl_monitor.drift_check(nan_report).drifted


def test_bad_input_is_a_clear_error(tiny: dict[str, Path], base_file: Path, tmp_path: Path) -> None:
    model = llm.Model.load(tiny["a"], n_threads=1)
    junk = tmp_path / "junk.kld"
    junk.write_bytes(b"not a logits file at all")
    with pytest.raises(InvalidInputError, match="_logits_"):
        kl_monitor.BaseLogProbs.open(junk)
    cut = tmp_path / "cut.kld"
    cut.write_bytes(base_file.read_bytes()[:-10])
    with pytest.raises(InvalidInputError, match="truncated"):
        kl_monitor.BaseLogProbs.open(cut)
    with pytest.raises(InvalidInputError, match="2 \\* n_ctx"):
        kl_monitor.save_base(model, [1, 2, 3], tmp_path / "x.kld", n_ctx=N_CTX)
    with pytest.raises(InvalidInputError, match="outside the vocabulary"):
        kl_monitor.save_base(model, [N_VOCAB] * 40, tmp_path / "x.kld", n_ctx=N_CTX)
    with pytest.raises(InvalidInputError, match="fraction"):
        kl_monitor.corrupt_tensor(tiny["a"], tmp_path / "y.gguf", "blk.1.ffn_down.weight", fraction=0)
    other_vocab = tmp_path / "v.kld"
    raw = bytearray(base_file.read_bytes())
    raw[12:16] = struct.pack("<i", N_VOCAB + 2)
    other_vocab.write_bytes(bytes(raw))
    with pytest.raises(InvalidInputError):
        kl_monitor.kl_divergence(model, other_vocab)


def test_cli_base_then_score_on_smollm2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        path = models.path("smollm2-135m")
    except models.ModelUnavailableError as exc:
        pytest.skip(f"SmolLM2 not installable here: {exc}")
    text = tmp_path / "t.txt"
    text.write_text(
        "The quick brown fox jumps over the lazy dog near the river bank. " * 4
        + "A second sentence follows, with other words, numbers like 17 and 25, and a full stop.",
        encoding="utf-8",
    )
    base = tmp_path / "s.kld"
    assert (
        main(["kl-divergence", "base", str(path), "--text", str(text), "--out", str(base), "--ctx", "32"])
        == 0
    )
    assert "wrote" in capsys.readouterr().out
    assert main(["kl-divergence", "score", str(path), "--base", str(base), "--json", "--probe"]) == 0
    out = capsys.readouterr().out
    import json

    d = json.loads(out[out.index("{") :])
    assert abs(d["mean_kld"]["value"]) < 1e-5 and d["same_top_p"]["value"] == 1.0
    assert d["drift"] == {"drifted": False, "reasons": []}
