"""The package surface: import, version, exception hierarchy, GPU discovery, device resolution and the CLI."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import thermoconsensus
from thermoconsensus import info

ROOT = Path(__file__).resolve().parents[1]


def test_public_names_exist():
    for name in thermoconsensus.__all__:
        assert hasattr(thermoconsensus, name), name
    for name in info.__all__:
        assert hasattr(info, name), name


def test_import_is_lazy():
    # numpy, httpx and the server stack load only when a submodule that needs them is used.
    code = (
        "import sys, thermoconsensus as tc; heavy = ('numpy', 'httpx', 'starlette', 'uvicorn'); "
        "print([m for m in heavy if m in sys.modules]); tc.info; print('numpy' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.split("\n")[:2] == ["[]", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        thermoconsensus.nope  # noqa: B018


def test_version_matches_cargo_workspace_and_metadata():
    assert re.fullmatch(r"\d+\.\d+\.\d+([-.]?(a|b|rc|dev)\d*)?", thermoconsensus.__version__)
    cargo = (ROOT / "Cargo.toml").read_text()
    section = cargo.split("[workspace.package]", 1)[1]
    cargo_version = re.search(r'^version\s*=\s*"([^"]+)"', section, re.MULTILINE).group(1)
    assert thermoconsensus.__version__ == cargo_version
    assert importlib.metadata.version("thermoconsensus") == cargo_version


def test_exception_hierarchy():
    assert issubclass(thermoconsensus.Error, Exception)
    assert issubclass(thermoconsensus.InvalidInputError, thermoconsensus.Error)
    assert issubclass(thermoconsensus.InvalidInputError, ValueError)
    assert issubclass(thermoconsensus.GpuError, thermoconsensus.Error)
    assert issubclass(thermoconsensus.GpuError, RuntimeError)
    assert not issubclass(thermoconsensus.GpuError, ValueError)
    assert thermoconsensus.InvalidInputError.__module__ == "thermoconsensus"


def test_gpu_available_is_a_bool_and_reason_matches():
    available = thermoconsensus.gpu_available()
    assert isinstance(available, bool)
    assert thermoconsensus.gpu_available() is available  # stable between calls
    reason = thermoconsensus.gpu_unavailable_reason()
    if available:
        assert reason is None
    else:
        assert isinstance(reason, str) and reason.strip()


@pytest.mark.parametrize(
    "name, builtin",
    [
        ("FileNotFoundError", FileNotFoundError),
        ("IsADirectoryError", IsADirectoryError),
        ("OSError", OSError),
        ("MemoryError", MemoryError),
    ],
)
def test_io_and_memory_errors_are_package_errors_and_builtins(name: str, builtin: type) -> None:
    cls = getattr(thermoconsensus, name)
    assert cls is not builtin and issubclass(cls, builtin) and issubclass(cls, thermoconsensus.Error)
    assert cls.__module__ == "thermoconsensus"
    # Not star-exported: `from thermoconsensus import *` must not shadow the built-in.
    assert name not in thermoconsensus.__all__


def test_a_missing_model_file_is_a_package_file_not_found_error(tmp_path: Path) -> None:
    from thermoconsensus import llm

    with pytest.raises(thermoconsensus.FileNotFoundError, match=r"absent\.gguf"):
        llm.read_gguf(tmp_path / "absent.gguf")
    (tmp_path / "dir.gguf").mkdir()
    with pytest.raises(thermoconsensus.IsADirectoryError):
        llm.read_gguf(tmp_path / "dir.gguf")


def test_devices_list():
    devs = thermoconsensus.devices()
    assert isinstance(devs, list)
    assert bool(devs) == thermoconsensus.gpu_available()
    for i, d in enumerate(devs):
        assert isinstance(d, dict)
        assert d["ordinal"] == i
        assert isinstance(d["name"], str) and d["total_memory"] > 0


def test_resolve_device_cpu_and_auto():
    assert thermoconsensus.resolve_device("cpu") == "cpu"
    auto = thermoconsensus.resolve_device("auto")
    assert auto in ("cpu", "cuda:0")
    assert (auto == "cuda:0") == thermoconsensus.gpu_available()
    assert thermoconsensus.resolve_device() == auto
    assert thermoconsensus.resolve_device("auto", large_enough=False) == "cpu"


def test_resolve_device_cuda_without_gpu_raises_gpu_error():
    if thermoconsensus.gpu_available():
        pytest.skip("a GPU is available here")
    for device in ("cuda", "cuda:0"):
        with pytest.raises(thermoconsensus.GpuError) as exc:
            thermoconsensus.resolve_device(device)
        assert thermoconsensus.gpu_unavailable_reason() in str(exc.value)


@pytest.mark.gpu
def test_resolve_device_cuda_with_gpu():
    if not thermoconsensus.gpu_available():
        pytest.skip("no GPU: " + str(thermoconsensus.gpu_unavailable_reason()))
    assert thermoconsensus.resolve_device("cuda") == "cuda:0"
    assert thermoconsensus.resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(thermoconsensus.GpuError):
        thermoconsensus.resolve_device(f"cuda:{len(thermoconsensus.devices())}")


@pytest.mark.parametrize("device", ["bogus", "", "gpu", "cuda:x", "cuda:-1", "cuda: 0"])
def test_resolve_device_rejects_unknown_names(device):
    # Raised whether or not a GPU is present, and the message quotes what was given.
    with pytest.raises(thermoconsensus.Error, match=f'invalid device "{re.escape(device)}"'):
        thermoconsensus.resolve_device(device)


def test_resolve_device_rejects_non_strings():
    with pytest.raises(TypeError, match="device"):
        thermoconsensus.resolve_device(0)  # type: ignore[arg-type]


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thermoconsensus", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_demo():
    proc = _run_cli("demo", "--n", "3000", "--surrogates", "20", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    forward = [ln for ln in lines if "TE(X -> Y)" in ln and "p = " in ln]
    assert len(forward) == 1
    closed_form = [ln for ln in lines if ln.strip().startswith("closed form:")]
    assert len(closed_form) == 1 and "TE(X -> Y) = 0.1470 nats" in closed_form[0]
    # X drives Y with coupling 0.5: every one of the 20 surrogates falls below, p = 1/21.
    assert "significant" in forward[0] and "not significant" not in forward[0]
    assert "p = 0.0476" in forward[0]
    assert any("TE(Y -> X)" in ln for ln in lines)
    assert any("MI(X_t; Y_t+1)" in ln for ln in lines)
    assert thermoconsensus.__version__ in lines[0]


def test_cli_version_and_devices():
    proc = _run_cli("version")
    assert proc.returncode == 0 and proc.stdout.strip() == thermoconsensus.__version__
    proc = _run_cli("devices")
    assert proc.returncode == 0
    if not thermoconsensus.gpu_available():
        assert proc.stdout.startswith("no CUDA device")


def test_cli_rejects_unknown_command():
    proc = _run_cli("frobnicate")
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


def test_bundled_kernels_compile_through_nvrtc_when_available():
    # `make test` installs NVRTC from PyPI, and the package finds it without any setting.
    if not thermoconsensus._core.nvrtc_available():
        pytest.skip("no NVRTC library (pip install nvidia-cuda-nvrtc-cu12)")
    assert thermoconsensus._core.compile_kernels() == ["selftest", "ksg", "anneal", "llm"]


def test_cli_reports_bad_input_in_one_line():
    proc = _run_cli("anneal", "--problem", "/nonexistent/problem.json")
    assert proc.returncode == 2
    assert proc.stderr.startswith("thermoconsensus: error:") and "Traceback" not in proc.stderr
    assert "problem.json" in proc.stderr


def test_cli_device_names_are_checked_in_one_line():
    proc = _run_cli(
        "anneal", "--sk", "16", "--sampler", "sa", "--reads", "2", "--sweeps", "5", "--device", "tpu"
    )
    assert proc.returncode == 2
    assert "device" in proc.stderr and "Traceback" not in proc.stderr


def test_the_binding_raises_package_errors_for_bad_arrays() -> None:
    import numpy as np

    from thermoconsensus import _core

    strided = np.zeros((50, 4))[:, ::2]
    with pytest.raises(thermoconsensus.InvalidInputError, match="x: array must be C-contiguous"):
        _core.mutual_information(strided, np.zeros((50, 2)), 3, 1)


@pytest.mark.parametrize(
    ("module", "name"),
    [("llm", "Model"), ("anneal", "IsingProblem"), ("embeddings", "SentenceEmbedder")],
)
def test_python_classes_over_core_classes_share_their_names(module: str, name: str) -> None:
    from thermoconsensus import _core

    wrapper = getattr(importlib.import_module(f"thermoconsensus.{module}"), name)
    assert wrapper.__name__ == getattr(_core, name).__name__ == name


def test_native_arguments_are_type_checked_in_python_and_range_checked_once_in_rust() -> None:
    # Python only converts a value bound for Rust (the range error comes from the engine, naming it),
    # and checks in full what only Python uses.
    from thermoconsensus import _arrays

    assert _arrays.native_int("k", np.int64(0)) == 0  # a native usize: Rust decides if k = 0 is valid
    with pytest.raises(TypeError, match="k"):
        _arrays.native_int("k", 1.5)
    with pytest.raises(TypeError, match="k"):
        _arrays.native_int("k", True)
    with pytest.raises(ValueError, match="k"):
        _arrays.native_int("k", -1)  # cannot be converted to an unsigned native integer
    with pytest.raises(ValueError, match="k: must be at least 1"):
        info.mutual_information(np.arange(10.0), np.arange(10.0), k=0)  # the engine's own check
    with pytest.raises(ValueError, match="n: must be at least 3"):
        _arrays.check_int("n", 2, 3)
    assert _arrays.check_real("p", 0.5, above=0, below=1) == 0.5
    with pytest.raises(ValueError, match="p: must be less than 1"):
        _arrays.check_real("p", 1, above=0, below=1)
    with pytest.raises(ValueError, match="finite"):
        _arrays.check_real("p", float("nan"))
