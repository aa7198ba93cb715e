"""Stubs of the native module (private: use ``thermoconsensus``)."""

from typing import Any, Optional

import numpy as np
from numpy.typing import NDArray

__version__: str

class Error(Exception): ...
class InvalidInputError(Error, ValueError): ...
class GpuError(Error, RuntimeError): ...

_F2 = NDArray[np.float64]
_Embedding = tuple[int, int, int, int, int]

def mutual_information(
    x: _F2, y: _F2, k: int, algorithm: int, n_threads: Optional[int] = None
) -> float: ...
def conditional_mutual_information(
    x: _F2, y: _F2, z: _F2, k: int, algorithm: int, n_threads: Optional[int] = None
) -> float: ...
def transfer_entropy(
    source: _F2,
    target: _F2,
    k: int,
    embedding: _Embedding,
    algorithm: int,
    conditionals: Optional[_F2] = None,
    cond_delays: list[int] = ...,
    n_threads: Optional[int] = None,
) -> float: ...
def active_information_storage(
    x: _F2, k_history: int, k_tau: int, k: int, algorithm: int, n_threads: Optional[int] = None
) -> float: ...
def entropy(x: _F2, k: int, n_threads: Optional[int] = None) -> float: ...
def significance(
    measure: str,
    arrays: list[Optional[_F2]],
    k: int,
    algorithm: int,
    n_surrogates: int,
    seed: int,
    embedding: _Embedding = (1, 1, 1, 1, 1),
    cond_delays: list[int] = ...,
    n_threads: Optional[int] = None,
) -> tuple[float, float, float, float, int, NDArray[np.float64]]: ...
def ragwitz(
    x: _F2, k_max: int, tau_max: int, n_neighbours: int, n_threads: Optional[int] = None
) -> tuple[int, int, list[tuple[int, int, float]]]: ...
def te_network(
    data: _F2,
    k: int,
    embedding: _Embedding,
    algorithm: int,
    n_surrogates: int,
    alpha: float,
    seed: int,
    n_threads: Optional[int] = None,
) -> tuple[_F2, _F2, _F2, NDArray[np.bool_]]: ...
def gpu_available() -> bool: ...
def gpu_unavailable_reason() -> Optional[str]: ...
def devices() -> list[dict[str, Any]]: ...
def compile_kernels() -> list[str]: ...
def nvrtc_available() -> bool: ...
def resolve_device(device: str, large_enough: bool = True) -> str: ...
