"""Writes tiny random GGUF models of each supported architecture, for tests that need a model but not a real
one: every tensor the loader expects, in the quantization types the real models use (so every GPU kernel is
exercised), seeded, a few hundred kilobytes. The weights are random blocks with sane f16 scales, so the
model's outputs are meaningless but finite and deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFWriter

# Block size and bytes per block of each quantized type used here.
_LAYOUT = {Q.Q4_0: (32, 18), Q.Q4_1: (32, 20), Q.Q5_0: (32, 22), Q.Q5_1: (32, 24), Q.Q8_0: (32, 34)}
_LAYOUT.update({Q.Q4_K: (256, 144), Q.Q6_K: (256, 210)})

N_EMBD, N_FF, N_HEAD, N_HEAD_KV, HEAD_DIM, N_VOCAB = 256, 512, 4, 2, 64, 300


def _blocks(rng: np.random.Generator, ty: Q, rows: int, cols: int) -> np.ndarray:
    bs, ts = _LAYOUT[ty]
    data = rng.integers(0, 256, size=(rows, cols // bs, ts), dtype=np.uint8)
    scale = np.array([0.02], dtype=np.float16).view(np.uint8)
    at = 208 if ty == Q.Q6_K else 0
    data[:, :, at : at + 2] = scale
    if ty in (Q.Q4_1, Q.Q5_1, Q.Q4_K):
        data[:, :, 2:4] = np.array([-0.005], dtype=np.float16).view(np.uint8)
    return data.reshape(rows, cols // bs * ts)


def llama3_rope_factors(
    base: float = 10000.0,
    dim: int = HEAD_DIM,
    factor: float = 8.0,
    low_freq_factor: float = 1.0,
    high_freq_factor: float = 4.0,
    original_context: int = 8192,
) -> np.ndarray:
    """The `rope_freqs` tensor of a Llama 3.1-style `rope_scaling` ("rope_type": "llama3"), as llama.cpp's
    convert_hf_to_gguf.py computes it: 1 for short wavelengths, `factor` for long ones, smooth in between."""
    freqs = 1.0 / base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    wavelen = 2 * np.pi / freqs
    smooth = (original_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    mid = 1 / ((1 - smooth) / factor + smooth)
    out = np.where(wavelen < original_context / high_freq_factor, 1.0, mid)
    out = np.where(wavelen > original_context / low_freq_factor, factor, out)
    return out.astype(np.float32)


def write_tiny_model(
    path: Path,
    arch: str,
    seed: int = 0,
    rope_freqs: np.ndarray | None = None,
    rope_linear_scale: float | None = None,
    float_weights: bool = False,
) -> Path:
    """A random `arch` model ("llama", "qwen2" or "gemma3") at `path`: 256 wide, 4 query and 2 KV heads of 64,
        feed-forward 512, 300 tokens; gemma3 gets 7 layers (sliding window 4, layer 6 global), the others 2.
        `rope_freqs` (HEAD_DIM / 2 values) adds Llama 3's `rope_freqs.weight`; `rope_linear_scale` sets linear
        RoPE scaling in the metadata. `float_weights` writes every matrix in f32 instead (Gaussian, variance
    1 / columns), for comparisons with a float reference. The random weights depend on `seed` alone."""
    rng = np.random.default_rng(seed)
    n_layer = 7 if arch == "gemma3" else 2
    w = GGUFWriter(str(path), arch)
    w.add_uint32(f"{arch}.embedding_length", N_EMBD)
    w.add_uint32(f"{arch}.block_count", n_layer)
    w.add_uint32(f"{arch}.feed_forward_length", N_FF)
    w.add_uint32(f"{arch}.attention.head_count", N_HEAD)
    w.add_uint32(f"{arch}.attention.head_count_kv", N_HEAD_KV)
    w.add_uint32(f"{arch}.attention.key_length", HEAD_DIM)
    w.add_uint32(f"{arch}.context_length", 256)
    w.add_uint32(f"{arch}.vocab_size", N_VOCAB)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-6)
    w.add_float32(f"{arch}.rope.freq_base", 10000.0)
    if arch == "gemma3":
        w.add_uint32(f"{arch}.attention.sliding_window", 4)
    if rope_linear_scale is not None:
        w.add_string(f"{arch}.rope.scaling.type", "linear")
        w.add_float32(f"{arch}.rope.scaling.factor", rope_linear_scale)

    def matrix(name: str, ty: Q, rows: int, cols: int) -> None:
        if float_weights:
            w.add_tensor(name, (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32))
        else:
            w.add_tensor(name, _blocks(rng, ty, rows, cols), raw_dtype=ty)

    def vector(name: str, n: int, around: float = 1.0) -> None:
        w.add_tensor(name, (around + 0.1 * rng.standard_normal(n)).astype(np.float32))

    q_dim, kv_dim = N_HEAD * HEAD_DIM, N_HEAD_KV * HEAD_DIM
    matrix("token_embd.weight", Q.Q8_0, N_VOCAB, N_EMBD)
    if arch != "gemma3":  # gemma3 ties the output to the embedding
        matrix("output.weight", Q.Q6_K, N_VOCAB, N_EMBD)
    vector("output_norm.weight", N_EMBD)
    # Each layer uses a different mix, so that all seven block types meet every matrix role somewhere.
    mixes = [
        (Q.Q4_1, Q.Q5_0, Q.Q4_K, Q.Q6_K),
        (Q.Q4_0, Q.Q5_1, Q.Q8_0, Q.Q4_K),
        (Q.Q5_0, Q.Q4_K, Q.Q6_K, Q.Q8_0),
    ]
    for layer in range(n_layer):
        qkv, out, gate_up, down = mixes[layer % len(mixes)]
        p = f"blk.{layer}."
        vector(p + "attn_norm.weight", N_EMBD)
        matrix(p + "attn_q.weight", qkv, q_dim, N_EMBD)
        matrix(p + "attn_k.weight", qkv, kv_dim, N_EMBD)
        matrix(p + "attn_v.weight", qkv, kv_dim, N_EMBD)
        matrix(p + "attn_output.weight", out, N_EMBD, q_dim)
        vector(p + "ffn_norm.weight", N_EMBD)
        matrix(p + "ffn_gate.weight", gate_up, N_FF, N_EMBD)
        matrix(p + "ffn_up.weight", gate_up, N_FF, N_EMBD)
        matrix(p + "ffn_down.weight", down, N_EMBD, N_FF)
        if arch == "qwen2":
            for name, n in (("attn_q.bias", q_dim), ("attn_k.bias", kv_dim), ("attn_v.bias", kv_dim)):
                vector(p + name, n, around=0.0)
        if arch == "gemma3":
            vector(p + "attn_q_norm.weight", HEAD_DIM)
            vector(p + "attn_k_norm.weight", HEAD_DIM)
            vector(p + "post_attention_norm.weight", N_EMBD)
            vector(p + "post_ffw_norm.weight", N_EMBD)
    if rope_freqs is not None:
        w.add_tensor("rope_freqs.weight", np.asarray(rope_freqs, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
