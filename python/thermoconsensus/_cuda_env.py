"""Points the native GPU loader at NVRTC shipped by the `nvidia-cuda-nvrtc-cu12` wheel, if installed."""

from __future__ import annotations

import os

CUDA_LIB_DIRS_ENV = "THERMOCONSENSUS_CUDA_LIB_DIRS"


def configure_cuda_library_dirs() -> None:
    """Adds the wheel's lib folder to THERMOCONSENSUS_CUDA_LIB_DIRS (a user's own setting comes first)."""
    try:
        import nvidia.cuda_nvrtc as nvrtc  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        return
    dirs = [os.path.join(p, "lib") for p in getattr(nvrtc, "__path__", [])]
    dirs = [d for d in dirs if os.path.isdir(d)]
    if not dirs:
        return
    current = os.environ.get(CUDA_LIB_DIRS_ENV, "")
    parts = [p for p in current.split(os.pathsep) if p] + [d for d in dirs if d not in current]
    os.environ[CUDA_LIB_DIRS_ENV] = os.pathsep.join(parts)
