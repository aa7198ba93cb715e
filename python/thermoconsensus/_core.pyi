"""Stubs of the native module (private: use ``thermoconsensus``)."""

from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

__version__: str
__all__ = [
    "Error",
    "GpuError",
    "InvalidInputError",
    "__version__",
    "active_information_storage",
    "compile_kernels",
    "conditional_mutual_information",
    "cross_entropy",
    "cross_entropy_targets",
    "devices",
    "entropy",
    "entropy_from_logits",
    "entropy_from_probs",
    "gpu_available",
    "gpu_unavailable_reason",
    "js_divergence",
    "kl_divergence",
    "log_softmax",
    "mutual_information",
    "nvrtc_available",
    "perplexity",
    "plugin_conditional_mutual_information",
    "plugin_entropy",
    "plugin_mutual_information",
    "plugin_transfer_entropy",
    "ragwitz",
    "resolve_device",
    "significance",
    "softmax",
    "te_network",
    "transfer_entropy",
]

class Error(Exception): ...
class InvalidInputError(Error, ValueError): ...
class GpuError(Error, RuntimeError): ...

_F2 = NDArray[np.float64]
_Embedding = tuple[int, int, int, int, int]

def mutual_information(x: _F2, y: _F2, k: int, algorithm: int, n_threads: int | None = None) -> float: ...
def conditional_mutual_information(
    x: _F2, y: _F2, z: _F2, k: int, algorithm: int, n_threads: int | None = None
) -> float: ...
def transfer_entropy(
    source: _F2,
    target: _F2,
    k: int,
    embedding: _Embedding,
    algorithm: int,
    conditionals: _F2 | None = None,
    cond_delays: list[int] = ...,
    n_threads: int | None = None,
) -> float: ...
def active_information_storage(
    x: _F2, k_history: int, k_tau: int, k: int, algorithm: int, n_threads: int | None = None
) -> float: ...
def entropy(x: _F2, k: int, n_threads: int | None = None) -> float: ...
def significance(
    measure: str,
    arrays: list[_F2 | None],
    k: int,
    algorithm: int,
    n_surrogates: int,
    seed: int,
    embedding: _Embedding = ...,
    cond_delays: list[int] = ...,
    n_threads: int | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[float, float, float, float, int, NDArray[np.float64]]: ...
def ragwitz(
    x: _F2,
    k_max: int,
    tau_max: int,
    n_neighbours: int,
    n_threads: int | None = None,
    name: str = "x",
) -> tuple[int, int, list[tuple[int, int, float]]]: ...
def te_network(
    data: _F2,
    k: int,
    embedding: _Embedding,
    algorithm: int,
    n_surrogates: int,
    alpha: float,
    seed: int,
    n_threads: int | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> tuple[_F2, _F2, _F2, NDArray[np.bool_]]: ...
def gpu_available() -> bool: ...
def gpu_unavailable_reason() -> str | None: ...
def devices() -> list[dict[str, Any]]: ...
def compile_kernels() -> list[str]: ...
def nvrtc_available() -> bool: ...
def resolve_device(device: str, large_enough: bool = True) -> str: ...

# Plug-in measures of discrete distributions, logits and integer series (rust/python/src/discrete.rs).
_I1 = NDArray[np.int64]

def log_softmax(logits: _F2, temperature: float = 1.0, n_threads: int | None = None) -> _F2: ...
def softmax(logits: _F2, temperature: float = 1.0, n_threads: int | None = None) -> _F2: ...
def entropy_from_logits(
    logits: _F2, temperature: float = 1.0, n_threads: int | None = None
) -> NDArray[np.float64]: ...
def entropy_from_probs(
    p: _F2, normalize: bool = False, n_threads: int | None = None
) -> NDArray[np.float64]: ...
def cross_entropy(p_logits: _F2, q_logits: _F2, n_threads: int | None = None) -> NDArray[np.float64]: ...
def kl_divergence(p_logits: _F2, q_logits: _F2, n_threads: int | None = None) -> NDArray[np.float64]: ...
def js_divergence(p_logits: _F2, q_logits: _F2, n_threads: int | None = None) -> NDArray[np.float64]: ...
def cross_entropy_targets(logits: _F2, targets: _I1, n_threads: int | None = None) -> NDArray[np.float64]: ...
def perplexity(logits: _F2, targets: _I1, n_threads: int | None = None) -> float: ...
def plugin_entropy(x: _I1, n_threads: int | None = None) -> float: ...
def plugin_mutual_information(x: _I1, y: _I1, n_threads: int | None = None) -> float: ...
def plugin_conditional_mutual_information(x: _I1, y: _I1, z: _I1, n_threads: int | None = None) -> float: ...
def plugin_transfer_entropy(
    source: _I1,
    target: _I1,
    k_history: int = 1,
    l_history: int = 1,
    delay: int = 1,
    n_threads: int | None = None,
) -> float: ...
