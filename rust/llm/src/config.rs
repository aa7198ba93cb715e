//! Model hyper-parameters read from GGUF metadata (`{arch}.embedding_length` and friends), with the
//! architecture's conventions (RoPE layout, biases, norms) decided in one place.

use crate::error::{Error, Result};
use crate::gguf::{Header, Value};

/// The architectures this engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Llama family (SmolLM2): pre-norm, SwiGLU, RoPE on adjacent pairs.
    Llama,
    /// Qwen2: Llama with QKV biases and NeoX RoPE (first half / second half).
    Qwen2,
    /// Gemma 3: GeGLU, (1 + w) RMSNorm, QK-norm, post-norms, sliding-window layers, scaled embeddings.
    Gemma3,
}

/// Hyper-parameters of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Architecture.
    pub arch: Architecture,
    /// Vocabulary size (rows of the embedding table).
    pub n_vocab: usize,
    /// Width of the residual stream.
    pub n_embd: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (grouped-query attention when fewer than query heads).
    pub n_head_kv: usize,
    /// Dimension of one head.
    pub head_dim: usize,
    /// Hidden width of the feed-forward block.
    pub n_ff: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f32,
    /// RoPE frequency base.
    pub rope_base: f32,
    /// RoPE base of the sliding-window (local) layers (Gemma 3), else equal to `rope_base`.
    pub rope_base_local: f32,
    /// Dimensions rotated by RoPE.
    pub rope_dim: usize,
    /// Linear RoPE scaling factor (positions are divided by it); 1 without scaling.
    pub rope_scale: f32,
    /// Training context length.
    pub n_ctx_train: usize,
    /// Sliding-window width of local attention layers (Gemma 3), 0 when all layers are global.
    pub sliding_window: usize,
    /// Gemma 3: every this-many-th layer is global (others use the sliding window).
    pub global_every: usize,
}

fn get<'a>(h: &'a Header, key: &str) -> Option<&'a Value> {
    h.get(key)
}

fn req_usize(h: &Header, key: &str) -> Result<usize> {
    get(h, key)
        .and_then(Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
        .filter(|&v| v > 0 && v < 1 << 24)
        .ok_or_else(|| {
            bad(format!(
                "metadata {key} is missing or not a positive integer below 2^24"
            ))
        })
}

/// An optional positive count below 2^24, or `default` when absent; present but out of range is an error.
fn opt_usize(h: &Header, key: &str, default: usize) -> Result<usize> {
    match get(h, key) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .and_then(|v| usize::try_from(v).ok())
            .filter(|&v| v > 0 && v < 1 << 24)
            .ok_or_else(|| {
                bad(format!(
                    "metadata {key} is {v:?}, not a positive integer below 2^24"
                ))
            }),
    }
}

fn bad(reason: String) -> Error {
    Error::Format {
        path: "<header>".into(),
        reason,
    }
}

/// Fewest tensors one transformer block has (norms, Q, K, V, output, gate, up, down).
const TENSORS_PER_BLOCK: usize = 9;
/// Largest head dimension accepted (real models use 64 to 256).
const MAX_HEAD_DIM: usize = 1 << 16;

fn opt_f32(h: &Header, key: &str, default: f32) -> f32 {
    get(h, key)
        .and_then(Value::as_f64)
        .map(|v| v as f32)
        .filter(|v| v.is_finite())
        .unwrap_or(default)
}

impl Config {
    /// Reads the configuration of the model described by `h`.
    pub fn from_header(h: &Header) -> Result<Self> {
        let name = h.architecture().unwrap_or("<none>");
        let arch = match name {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            "gemma3" => Architecture::Gemma3,
            other => {
                return Err(Error::Format {
                    path: "<header>".into(),
                    reason: format!(
                        "architecture {other:?} is not supported (llama, qwen2 and gemma3 are)"
                    ),
                })
            }
        };
        let k = |s: &str| format!("{name}.{s}");
        let n_embd = req_usize(h, &k("embedding_length"))?;
        let n_head = req_usize(h, &k("attention.head_count"))?;
        let n_head_kv = opt_usize(h, &k("attention.head_count_kv"), n_head)?;
        let head_dim = opt_usize(h, &k("attention.key_length"), n_embd / n_head)?;
        if n_head % n_head_kv != 0 || head_dim == 0 || head_dim > MAX_HEAD_DIM || head_dim % 2 != 0
        {
            return Err(bad(format!(
                "inconsistent attention shape: {n_head} heads, {n_head_kv} kv heads, head size {head_dim} \
                 (kv heads must divide heads; the head size must be even and at most {MAX_HEAD_DIM})"
            )));
        }
        let rope_dim = opt_usize(h, &k("rope.dimension_count"), head_dim)?;
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(bad(format!(
                "{} is {rope_dim}: RoPE must rotate an even number of dimensions within the head size {head_dim}",
                k("rope.dimension_count")
            )));
        }
        let n_layer = req_usize(h, &k("block_count"))?;
        // Checked before anything is allocated per layer: each block needs its own tensors.
        let n_tensors = h.tensors.len();
        if n_layer > n_tensors / TENSORS_PER_BLOCK {
            return Err(bad(format!(
                "{} is {n_layer} but the file has only {n_tensors} tensors (each block needs at least {TENSORS_PER_BLOCK})",
                k("block_count")
            )));
        }
        let n_vocab = match get(h, "tokenizer.ggml.tokens").and_then(Value::as_array) {
            Some(t) => t.len(),
            None => req_usize(h, &k("vocab_size"))?,
        };
        // Token ids are u32 and the vocabulary must have a row for each.
        if n_vocab == 0 || n_vocab > u32::MAX as usize {
            return Err(bad(format!("the vocabulary has {n_vocab} tokens")));
        }
        let rope_base = opt_f32(h, &k("rope.freq_base"), 10_000.0);
        let scaling = get(h, &k("rope.scaling.type")).and_then(Value::as_str);
        let rope_scale = match scaling {
            Some("linear") => opt_f32(h, &k("rope.scaling.factor"), 1.0).max(1.0),
            _ => 1.0,
        };
        let sliding_window = get(h, &k("attention.sliding_window"))
            .and_then(Value::as_u64)
            .map_or(0, |v| usize::try_from(v).unwrap_or(usize::MAX));
        Ok(Self {
            arch,
            n_vocab,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            n_ff: req_usize(h, &k("feed_forward_length"))?,
            rms_eps: opt_f32(h, &k("attention.layer_norm_rms_epsilon"), 1e-6),
            rope_base,
            rope_base_local: if arch == Architecture::Gemma3 {
                10_000.0
            } else {
                rope_base
            },
            rope_dim,
            rope_scale,
            n_ctx_train: req_usize(h, &k("context_length"))?,
            sliding_window,
            global_every: if arch == Architecture::Gemma3 { 6 } else { 0 },
        })
    }

    /// True when `layer` attends through the sliding window (Gemma 3's local layers).
    pub fn is_local(&self, layer: usize) -> bool {
        self.sliding_window > 0
            && self.global_every > 0
            && !(layer + 1).is_multiple_of(self.global_every)
    }

    /// True when RoPE rotates (i, i + d/2) pairs (NeoX) rather than adjacent ones.
    pub fn rope_neox(&self) -> bool {
        matches!(self.arch, Architecture::Qwen2 | Architecture::Gemma3)
    }
}
