"""Stubs of the native module (private: use ``thermoconsensus``)."""

import builtins
from typing import Any, Callable, final

import numpy as np
from numpy.typing import NDArray

__version__: str
__all__ = [
    "Error",
    "FileNotFoundError",
    "GpuError",
    "InvalidInputError",
    "IsADirectoryError",
    "IsingProblem",
    "MemoryError",
    "Model",
    "OSError",
    "SentenceEmbedder",
    "Sequence",
    "__version__",
    "active_information_storage",
    "compile_kernels",
    "conditional_mutual_information",
    "cross_entropy",
    "cross_entropy_targets",
    "devices",
    "effective_sample_size",
    "entropy",
    "entropy_from_logits",
    "entropy_from_probs",
    "gelman_rubin",
    "gguf_header",
    "gguf_tensor",
    "gpu_available",
    "gpu_unavailable_reason",
    "js_divergence",
    "kl_divergence",
    "local_values",
    "log_softmax",
    "merge_samples",
    "minimize_free_energy",
    "multivariate_te",
    "mutual_information",
    "nvrtc_available",
    "path_integral_annealing",
    "perplexity",
    "planted_frustrated_loops",
    "plugin_conditional_mutual_information",
    "plugin_entropy",
    "plugin_mutual_information",
    "plugin_transfer_entropy",
    "ragwitz",
    "random_regular",
    "render_chat_template",
    "replica_exchange",
    "resolve_device",
    "sherrington_kirkpatrick",
    "significance",
    "significance_null",
    "simulated_annealing",
    "softmax",
    "step_batch",
    "te_network",
    "transfer_entropy",
    "transfer_entropy_trials",
]

class Error(Exception): ...
class InvalidInputError(Error, ValueError): ...
class GpuError(Error, RuntimeError): ...
class FileNotFoundError(Error, builtins.FileNotFoundError): ...
class IsADirectoryError(Error, builtins.IsADirectoryError): ...
class OSError(Error, builtins.OSError): ...
class MemoryError(Error, builtins.MemoryError): ...

_F2 = NDArray[np.float64]
_Embedding = tuple[int, int, int, int, int]

def mutual_information(
    x: _F2,
    y: _F2,
    k: int,
    algorithm: int,
    n_threads: int | None = None,
    device: str = "auto",
    theiler: int = 0,
    norm: str = "max",
) -> float: ...
def conditional_mutual_information(
    x: _F2,
    y: _F2,
    z: _F2,
    k: int,
    algorithm: int,
    n_threads: int | None = None,
    device: str = "auto",
    theiler: int = 0,
    norm: str = "max",
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
    device: str = "auto",
    theiler: int = 0,
    norm: str = "max",
) -> float: ...
def transfer_entropy_trials(
    sources: list[_F2],
    targets: list[_F2],
    k: int,
    embedding: _Embedding,
    algorithm: int,
    n_threads: int | None = None,
    norm: str = "max",
) -> float: ...
def active_information_storage(
    x: _F2,
    k_history: int,
    k_tau: int,
    k: int,
    algorithm: int,
    n_threads: int | None = None,
    theiler: int = 0,
    norm: str = "max",
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
    device: str = "auto",
    surrogates: str = "permutation",
    surrogate_param: int | None = None,
) -> tuple[float, float, float, float, int, NDArray[np.float64]]: ...
def significance_null(
    measure: str,
    arrays: list[_F2 | None],
    k: int,
    algorithm: int,
    seed: int,
    first: int,
    count: int,
    with_value: bool,
    embedding: _Embedding = ...,
    cond_delays: list[int] = ...,
    n_threads: int | None = None,
    surrogates: str = "permutation",
    surrogate_param: int | None = None,
) -> tuple[float | None, NDArray[np.float64]]: ...
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

_Lags = tuple[int, int, int, int, int]
_Var = tuple[int, int]

def local_values(
    measure: str,
    arrays: list[_F2 | None],
    k: int,
    algorithm: int,
    embedding: _Embedding = ...,
    cond_delays: list[int] = ...,
    n_threads: int | None = None,
    theiler: int = 0,
    norm: str = "max",
) -> NDArray[np.float64]: ...
def multivariate_te(
    replications: list[_F2],
    targets: list[int],
    k: int,
    algorithm: int,
    settings: tuple[
        tuple[int, int, int, int, int], tuple[int, int, int, int], tuple[float, float, float, float]
    ],
    seed: int,
    fdr_alpha: float | None = None,
    n_threads: int | None = None,
    progress: Callable[[int, int], object] | None = None,
    surrogates: str = "permutation",
    surrogate_param: int | None = None,
) -> tuple[
    list[
        tuple[int, list[tuple[int, int]], list[tuple[int, int]], list[float], list[float], float, float, int]
    ],
    list[float],
]: ...
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

# ---- annealing

_Idx = NDArray[np.int64]
_Triples = tuple[_Idx, _Idx, NDArray[np.float64]]
_Sampled = tuple[NDArray[np.int8], NDArray[np.float64], NDArray[np.uint64], dict[str, Any]]

@final
class IsingProblem:
    def __new__(
        cls, h: NDArray[np.float64], rows: _Idx, cols: _Idx, values: NDArray[np.float64], offset: float = 0.0
    ) -> IsingProblem: ...
    @staticmethod
    def from_qubo(
        num_variables: int, rows: _Idx, cols: _Idx, values: NDArray[np.float64], offset: float = 0.0
    ) -> IsingProblem: ...
    @property
    def num_variables(self) -> int: ...
    @property
    def offset(self) -> float: ...
    @property
    def num_couplings(self) -> int: ...
    def h(self) -> NDArray[np.float64]: ...
    def couplings(self) -> _Triples: ...
    def to_qubo(self) -> tuple[_Triples, float]: ...
    def energies(self, states: NDArray[np.int8]) -> NDArray[np.float64]: ...
    def default_beta_range(self) -> tuple[float, float]: ...
    def max_field(self) -> float: ...

def simulated_annealing(
    model: IsingProblem,
    num_reads: int,
    num_sweeps: int,
    schedule: str,
    beta_range: tuple[float, float] | None,
    beta_schedule: NDArray[np.float64] | None,
    acceptance_range: tuple[float, float],
    gamma: float | None,
    eta: float | None,
    seed: int,
    trace_every: int,
    n_threads: int | None = None,
    progress: Callable[[int, int], object] | None = None,
    device: str = "auto",
    first_read: int = 0,
) -> _Sampled: ...
def path_integral_annealing(
    model: IsingProblem,
    num_reads: int,
    num_sweeps: int,
    trotter_slices: int,
    gamma_range: tuple[float, float] | None,
    beta: float | None,
    seed: int,
    world_line_moves: bool,
    trace_every: int,
    n_threads: int | None = None,
    progress: Callable[[int, int], object] | None = None,
    first_read: int = 0,
) -> _Sampled: ...
def replica_exchange(
    model: IsingProblem,
    num_reads: int,
    num_replicas: int,
    num_sweeps: int,
    beta_range: tuple[float, float] | None,
    adaptive: bool,
    keep: str,
    seed: int,
    trace_every: int,
    n_threads: int | None = None,
    progress: Callable[[int, int], object] | None = None,
    device: str = "auto",
    first_read: int = 0,
) -> _Sampled: ...
def merge_samples(
    states: NDArray[np.int8], energies: NDArray[np.float64], counts: NDArray[np.uint64]
) -> tuple[NDArray[np.int8], NDArray[np.float64], NDArray[np.uint64]]: ...
def minimize_free_energy(
    coupling: NDArray[np.float64],
    h: NDArray[np.float64],
    temperature: float,
    chains: int,
    langevin_steps: int,
    max_iterations: int,
    tolerance: float,
    seed: int,
    n_threads: int | None = None,
) -> dict[str, Any]: ...
def gelman_rubin(chains: NDArray[np.float64]) -> float: ...
def effective_sample_size(chains: NDArray[np.float64]) -> float: ...
def sherrington_kirkpatrick(n: int, seed: int) -> IsingProblem: ...
def random_regular(n: int, degree: int, seed: int) -> IsingProblem: ...
def planted_frustrated_loops(
    n: int, loops: int, loop_length: int, seed: int
) -> tuple[IsingProblem, NDArray[np.int8], float]: ...

# ---- inference

def gguf_header(path: str) -> dict[str, Any]: ...
def gguf_tensor(path: str, name: str) -> NDArray[np.float32]: ...

@final
class Model:
    def __new__(cls, path: str, device: str = "cpu") -> Model: ...
    def set_prefix_cache(self, budget_bytes: int, min_tokens: int = 8) -> None: ...
    def prefix_cache_stats(self) -> dict[str, int] | None: ...
    def beam_search(
        self,
        tokens: list[int],
        beams: int,
        groups: int,
        diversity: float,
        length_penalty: float,
        n_ctx: int,
        max_tokens: int,
        stop_ids: list[int],
        n_threads: int | None = None,
    ) -> list[tuple[int, list[int], float, float, bool]]: ...
    def generate_contrastive(
        self,
        tokens: list[int],
        amateur: Model,
        alpha: float,
        beta: float,
        n_ctx: int,
        max_tokens: int,
        stop_ids: list[int],
        stop_strings: list[str],
        n_threads: int | None = None,
    ) -> tuple[list[int], str, str, int]: ...
    def generate_speculative(
        self,
        tokens: list[int],
        draft: Model | None,
        min_ngram: int,
        max_ngram: int,
        p_min: float,
        n_ctx: int,
        n_draft: int,
        max_tokens: int,
        stop_ids: list[int],
        stop_strings: list[str],
        n_threads: int | None = None,
    ) -> tuple[list[int], str, str, dict[str, int]]: ...
    def config(self) -> dict[str, Any]: ...
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]: ...
    def detokenize_bytes(self, ids: list[int], special: bool = False) -> bytes: ...
    def logits(self, tokens: list[int], n_threads: int | None = None) -> NDArray[np.float32]: ...
    def hidden(self, tokens: list[int], n_threads: int | None = None) -> NDArray[np.float32]: ...
    def internals(
        self,
        tokens: list[int],
        hidden_layers: list[int],
        attention_layers: list[int],
        positions: list[int] | None = None,
        n_threads: int | None = None,
    ) -> dict[str, Any]: ...
    def window_nll(
        self, window: list[int], first: int, n_threads: int | None = None
    ) -> tuple[float, int]: ...
    def embed(
        self, tokens: list[int], normalize: bool, n_threads: int | None = None
    ) -> NDArray[np.float32]: ...
    def greedy(
        self, tokens: list[int], max_tokens: int, stop_ids: list[int], n_threads: int | None = None
    ) -> list[int]: ...
    def start(
        self,
        tokens: list[int],
        n_ctx: int,
        temperature: float,
        top_k: int,
        top_p: float,
        min_p: float,
        repeat_penalty: float,
        frequency_penalty: float,
        presence_penalty: float,
        penalty_last_n: int,
        seed: int,
        max_tokens: int,
        stop_ids: list[int],
        stop_strings: list[str],
        top_n: int,
        n_threads: int | None = None,
        logit_bias: list[tuple[int, float]] = ...,
        grammar: tuple[str, str] | None = None,
        defer_prompt: bool = False,
        entropy_guide: tuple[float, float, float, float, int] | None = None,
    ) -> Sequence: ...

@final
class Sequence:
    @property
    def n_past(self) -> int: ...
    @property
    def reused_prefix(self) -> int: ...
    @property
    def finish_reason(self) -> str | None: ...
    @property
    def text(self) -> str: ...
    def cancel(self) -> None: ...
    def next(self) -> tuple[str, tuple[int, float, list[tuple[int, float]], float] | None, bool] | None: ...
    def fork(self, seed: int) -> Sequence: ...

def step_batch(
    sequences: list[Sequence],
) -> list[tuple[str, tuple[int, float, list[tuple[int, float]], float] | None, bool] | None]: ...
def render_chat_template(
    template: str | None,
    messages_json: str,
    add_generation_prompt: bool,
    bos_token: str,
    eos_token: str,
    tools_json: str | None = None,
) -> str: ...

@final
class SentenceEmbedder:
    def __new__(cls, path: str) -> SentenceEmbedder: ...
    @property
    def dim(self) -> int: ...
    @property
    def max_seq_length(self) -> int: ...
    def tokenize(self, text: str) -> list[int]: ...
    def embed(self, texts: list[str], n_threads: int | None = None) -> NDArray[np.float32]: ...
