//! A model's weights as the GGUF file stores them: the tensor layout of the llama, qwen2 and gemma3
//! graphs, checked at load, over the memory-mapped file. Both forward passes read these: the CPU one
//! ([`crate::cpu`]) multiplies the mapped bytes directly, the GPU one ([`crate::gpu`]) uploads them.

use crate::config::{Architecture, Config};
use crate::error::{Error, Result};
use crate::gguf::{GgufFile, TensorInfo};
use crate::matmul::QMatrix;
use std::path::Path;

/// One matrix of the model: where its bytes are and its shape.
#[derive(Debug, Clone)]
pub(crate) struct Weight {
    pub(crate) info: TensorInfo,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

/// The tensors of one transformer block, on the host.
pub(crate) type Block = crate::block::Layer<Weight, Vec<f32>>;

/// The mapped file, its configuration and the layout of its tensors (norms and biases dequantized).
#[derive(Debug)]
pub(crate) struct Weights {
    file: GgufFile,
    pub(crate) config: Config,
    pub(crate) token_embd: Weight,
    pub(crate) output: Weight,
    pub(crate) output_norm: Vec<f32>,
    pub(crate) blocks: Vec<Block>,
    /// Llama 3 RoPE scaling: `rope_freqs.weight`, one divisor per rotated pair (llama.cpp's
    /// `freq_factors`), when the file has it.
    pub(crate) rope_freqs: Option<Vec<f32>>,
}

/// Floats of one layer's keys (or values) for `capacity` positions, checked for overflow.
pub(crate) fn kv_buffer_len(config: &Config, capacity: usize) -> Result<usize> {
    capacity
        .checked_mul(config.n_head_kv * config.head_dim)
        .filter(|&n| n <= isize::MAX as usize / 4)
        .ok_or_else(|| Error::OutOfMemory {
            what: format!("KV cache of {capacity} positions (n_ctx)"),
            bytes: u128::MAX,
        })
}

/// Copies the first `len` positions of one layer's transposed keys (`kv_dim` rows of `src_capacity`
/// positions) into `dst` (rows of `dst_capacity`): the cache layout of both the host and the device pass.
pub(crate) fn copy_key_prefix(
    src: &[f32],
    src_capacity: usize,
    dst: &mut [f32],
    dst_capacity: usize,
    len: usize,
    kv_dim: usize,
) {
    for r in 0..kv_dim {
        dst[r * dst_capacity..r * dst_capacity + len]
            .copy_from_slice(&src[r * src_capacity..r * src_capacity + len]);
    }
}

fn format_err(file: &GgufFile, reason: String) -> Error {
    Error::Format {
        path: file.path().to_string(),
        reason,
    }
}

impl Weights {
    /// Maps the GGUF file at `path` and checks that every tensor the architecture needs is there with
    /// a consistent shape.
    pub(crate) fn load(path: impl AsRef<Path>) -> Result<Self> {
        let file = GgufFile::open(path)?;
        let config = Config::from_header(file.header()).map_err(|e| match e {
            Error::Format { reason, .. } => format_err(&file, reason),
            other => other,
        })?;
        let weight = |name: &str, rows: usize, cols: usize| -> Result<Weight> {
            let info = file
                .header()
                .tensor(name)
                .ok_or_else(|| format_err(&file, format!("tensor {name:?} is missing")))?
                .clone();
            if info.dims.len() != 2
                || info.dims[0] as usize != cols
                || info.dims[1] as usize != rows
            {
                return Err(format_err(
                    &file,
                    format!(
                        "tensor {name:?} has shape {:?}, expected [{cols}, {rows}]",
                        info.dims
                    ),
                ));
            }
            Ok(Weight { info, rows, cols })
        };
        let vector = |name: &str, len: usize| -> Result<Vec<f32>> {
            let info = file
                .header()
                .tensor(name)
                .ok_or_else(|| format_err(&file, format!("tensor {name:?} is missing")))?;
            if info.n_elements as usize != len {
                return Err(format_err(
                    &file,
                    format!(
                        "tensor {name:?} has {} values, expected {len}",
                        info.n_elements
                    ),
                ));
            }
            let mut out = vec![0.0; len];
            crate::dequantize(info.ggml_type, file.tensor_data(info), &mut out)?;
            Ok(out)
        };
        let optional = |name: &str, len: usize| -> Result<Option<Vec<f32>>> {
            match file.header().tensor(name) {
                Some(_) => vector(name, len).map(Some),
                None => Ok(None),
            }
        };
        let c = &config;
        let (q_dim, kv_dim) = (c.n_head * c.head_dim, c.n_head_kv * c.head_dim);
        let token_embd = weight("token_embd.weight", c.n_vocab, c.n_embd)?;
        let output = match file.header().tensor("output.weight") {
            Some(_) => weight("output.weight", c.n_vocab, c.n_embd)?,
            None => token_embd.clone(),
        };
        let gemma = c.arch == Architecture::Gemma3;
        let mut blocks = Vec::with_capacity(c.n_layer);
        for l in 0..c.n_layer {
            let n = |s: &str| format!("blk.{l}.{s}");
            blocks.push(Block {
                attn_norm: vector(&n("attn_norm.weight"), c.n_embd)?,
                wq: weight(&n("attn_q.weight"), q_dim, c.n_embd)?,
                wk: weight(&n("attn_k.weight"), kv_dim, c.n_embd)?,
                wv: weight(&n("attn_v.weight"), kv_dim, c.n_embd)?,
                wo: weight(&n("attn_output.weight"), c.n_embd, q_dim)?,
                bq: optional(&n("attn_q.bias"), q_dim)?,
                bk: optional(&n("attn_k.bias"), kv_dim)?,
                bv: optional(&n("attn_v.bias"), kv_dim)?,
                q_norm: optional(&n("attn_q_norm.weight"), c.head_dim)?,
                k_norm: optional(&n("attn_k_norm.weight"), c.head_dim)?,
                post_attn_norm: optional(&n("post_attention_norm.weight"), c.n_embd)?,
                ffn_norm: vector(&n("ffn_norm.weight"), c.n_embd)?,
                w_gate: weight(&n("ffn_gate.weight"), c.n_ff, c.n_embd)?,
                w_up: weight(&n("ffn_up.weight"), c.n_ff, c.n_embd)?,
                w_down: weight(&n("ffn_down.weight"), c.n_embd, c.n_ff)?,
                post_ffn_norm: optional(&n("post_ffw_norm.weight"), c.n_embd)?,
            });
            if gemma && (blocks[l].q_norm.is_none() || blocks[l].post_ffn_norm.is_none()) {
                return Err(format_err(
                    &file,
                    format!("gemma3 block {l} lacks its QK or post norms"),
                ));
            }
        }
        let output_norm = vector("output_norm.weight", c.n_embd)?;
        let rope_freqs = optional("rope_freqs.weight", c.rope_dim / 2)?;
        if let Some(f) = &rope_freqs {
            if let Some(bad) = f.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
                return Err(format_err(
                    &file,
                    format!("rope_freqs.weight holds {bad}; its factors must be positive"),
                ));
            }
        }
        Ok(Self {
            file,
            config,
            token_embd,
            output,
            output_norm,
            blocks,
            rope_freqs,
        })
    }

    /// The mapped file (metadata for the tokenizer and templates).
    pub(crate) fn file(&self) -> &GgufFile {
        &self.file
    }

    /// A matrix's bytes in the mapped file, with its shape.
    pub(crate) fn matrix(&self, w: &Weight) -> QMatrix<'_> {
        QMatrix {
            ty: w.info.ggml_type,
            rows: w.rows,
            cols: w.cols,
            data: self.file.tensor_data(&w.info),
        }
    }
}
