"""thermoconsensus: one trustworthy answer from several LLMs, with a Rust core for information theory.

The public face of the package; the native module ``thermoconsensus._core`` is private. Submodules load
on first use (``thermoconsensus.info``...), so ``import thermoconsensus`` stays fast: numpy, httpx and the
server stack are imported only by the parts that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._cuda_env import configure_cuda_library_dirs

# NVRTC from the optional `nvidia-cuda-nvrtc-cu12` wheel must be made known before the first GPU probe.
configure_cuda_library_dirs()

from . import _core  # noqa: E402
from ._core import Error, GpuError, InvalidInputError  # noqa: E402

# The I/O and memory errors are thermoconsensus.Error subclasses of the built-ins of the same names; they
# are attributes (`except thermoconsensus.FileNotFoundError`) but not in __all__, so a star import does not
# shadow the built-ins.
from ._core import FileNotFoundError as FileNotFoundError  # noqa: E402
from ._core import IsADirectoryError as IsADirectoryError  # noqa: E402
from ._core import MemoryError as MemoryError  # noqa: E402
from ._core import OSError as OSError  # noqa: E402

if TYPE_CHECKING:
    from . import anneal, clients, consensus, diagnostics, embeddings, info, llm, models, routing, server

__version__: str = _core.__version__

_SUBMODULES = frozenset(
    {
        "anneal",
        "clients",
        "consensus",
        "diagnostics",
        "embeddings",
        "info",
        "llm",
        "models",
        "routing",
        "server",
    }
)

__all__ = [
    "Error",
    "GpuError",
    "InvalidInputError",
    "__version__",
    "anneal",
    "clients",
    "consensus",
    "devices",
    "diagnostics",
    "embeddings",
    "gpu_available",
    "gpu_unavailable_reason",
    "info",
    "llm",
    "models",
    "resolve_device",
    "routing",
    "server",
]


def __getattr__(name: str) -> Any:
    # PEP 562: a submodule is imported the first time it is asked for, then cached in the namespace.
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)


def gpu_available() -> bool:
    """True when a CUDA driver and at least one CUDA device can be used; never raises."""
    return _core.gpu_available()


def gpu_unavailable_reason() -> str | None:
    """Why no GPU can be used (None when one can): missing driver, no devices, built without CUDA..."""
    return _core.gpu_unavailable_reason()


def devices() -> list[dict[str, Any]]:
    """The CUDA devices (ordinal, name, total_memory, compute_capability, multiprocessors); [] without."""
    return _core.devices()


def resolve_device(device: str = "auto", large_enough: bool = True) -> str:
    """Resolves ``"auto" | "cpu" | "cuda" | "cuda:N"`` to ``"cpu"`` or ``"cuda:N"``.

    "auto" picks the GPU only when one is present and ``large_enough``; "cuda" without a GPU raises
    GpuError with the reason.
    """
    if not isinstance(device, str):
        raise TypeError(f"device: expected a string, got {type(device).__name__}")
    return _core.resolve_device(device, large_enough)
