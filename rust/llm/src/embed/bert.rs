//! The BERT encoder (Devlin et al. 2019) as Hugging Face `BertModel` computes it, on candle-core f32
//! tensors (CPU): word + absolute position + token-type embeddings, LayerNorm, then post-norm encoder
//! layers (multi-head self-attention, residual, LayerNorm; erf-GELU feed-forward, residual, LayerNorm).
//!
//! Batches are stacked, not padded: the token rows of all sequences go through each dense layer as one
//! matrix product and attention runs per sequence. Hugging Face pads a batch and masks the padding keys
//! to -inf before the softmax; attending within each sequence computes exactly the unmasked part of
//! that, so no mask is needed and a sequence's states do not depend on the batch it came in. candle's
//! CPU matrix product (the `gemm` crate) reads PyTorch's `[out, in]` weights and K^T as transposed
//! views without a copy.

use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor, D};
use rayon::prelude::*;
use safetensors::SafeTensors;

/// Hyper-parameters of a BERT encoder (`config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct BertConfig {
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_layers: usize,
    /// Attention heads per layer (hidden_size must be a multiple).
    pub num_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Epsilon of every LayerNorm.
    pub layer_norm_eps: f32,
    /// Positions the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Token ids the word embeddings cover.
    pub vocab_size: usize,
}

impl BertConfig {
    /// Reads the fields BERT needs from a Hugging Face `config.json` text.
    pub fn from_json(text: &str, path: &str) -> Result<Self> {
        let bad = |reason: String| Error::Format {
            path: path.to_string(),
            reason,
        };
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON ({e})")))?;
        let int = |key: &str| -> Result<usize> {
            v.get(key)
                .and_then(serde_json::Value::as_u64)
                .and_then(|x| usize::try_from(x).ok())
                .filter(|&x| x > 0)
                .ok_or_else(|| bad(format!("{key}: expected a positive integer")))
        };
        if let Some(act) = v.get("hidden_act").and_then(serde_json::Value::as_str) {
            if act != "gelu" {
                return Err(bad(format!(
                    "hidden_act {act:?}: only \"gelu\" is supported"
                )));
            }
        }
        let eps = v
            .get("layer_norm_eps")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(1e-12);
        let config = Self {
            hidden_size: int("hidden_size")?,
            num_layers: int("num_hidden_layers")?,
            num_heads: int("num_attention_heads")?,
            intermediate_size: int("intermediate_size")?,
            layer_norm_eps: eps as f32,
            max_position_embeddings: int("max_position_embeddings")?,
            vocab_size: int("vocab_size")?,
        };
        if !config.hidden_size.is_multiple_of(config.num_heads) {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_heads
            )));
        }
        Ok(config)
    }
}

/// `y = x W^T + b` for PyTorch's `[n_out, n_in]` weight.
#[derive(Debug, Clone)]
struct Linear {
    w: Tensor,
    b: Tensor,
}

impl Linear {
    /// `x`: rows x n_in -> rows x n_out.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.w.t()?)?.broadcast_add(&self.b)
    }
}

/// LayerNorm over the last dimension (biased variance, as PyTorch).
#[derive(Debug, Clone)]
struct LayerNorm {
    g: Tensor,
    b: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        centred
            .broadcast_div(&(var + self.eps)?.sqrt()?)?
            .broadcast_mul(&self.g)?
            .broadcast_add(&self.b)
    }
}

/// Softmax over the last dimension (max subtracted first).
fn softmax_last(x: &Tensor) -> candle_core::Result<Tensor> {
    let e = x.broadcast_sub(&x.max_keepdim(D::Minus1)?)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

#[derive(Debug, Clone)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    up: Linear,
    down: Linear,
    out_norm: LayerNorm,
}

/// Multi-head self-attention of one sequence without a mask: `q`, `k`, `v` are rows x hidden, the
/// result is the heads' context, rows x hidden.
fn attention(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (rows, hidden) = q.dims2()?;
    let dh = hidden / heads;
    // rows x hidden -> heads x rows x dh
    let split = |t: &Tensor| t.reshape((rows, heads, dh))?.transpose(0, 1)?.contiguous();
    let (q, k, v) = (split(q)?, split(k)?, split(v)?);
    let scores = (q.matmul(&k.t()?)? * (1.0 / (dh as f64).sqrt()))?;
    softmax_last(&scores)?
        .matmul(&v)?
        .transpose(0, 1)?
        .reshape((rows, hidden))
}

/// [`attention`] of each sequence of a stacked batch (sequence lengths `lens`), in parallel.
fn attention_batch(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    lens: &[usize],
    heads: usize,
) -> candle_core::Result<Tensor> {
    let mut spans = Vec::with_capacity(lens.len());
    let mut start = 0;
    for &len in lens {
        spans.push((start, len));
        start += len;
    }
    let parts = spans
        .par_iter()
        .map(|&(start, len)| {
            attention(
                &q.narrow(0, start, len)?,
                &k.narrow(0, start, len)?,
                &v.narrow(0, start, len)?,
                heads,
            )
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::cat(&parts, 0)
}

/// The encoder's weights, f32 tensors on the CPU.
#[derive(Debug, Clone)]
pub struct BertModel {
    /// Its hyper-parameters.
    pub config: BertConfig,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
    path: String,
}

/// The named tensor as f32 on the CPU, after checking its shape.
fn read_tensor(st: &SafeTensors<'_>, name: &str, shape: &[usize], path: &str) -> Result<Tensor> {
    let bad = |reason: String| Error::Format {
        path: path.to_string(),
        reason,
    };
    let t = st
        .tensor(name)
        .map_err(|e| bad(format!("tensor {name}: {e}")))?;
    if t.shape() != shape {
        return Err(bad(format!(
            "tensor {name}: shape {:?}, expected {shape:?}",
            t.shape()
        )));
    }
    let dtype = match t.dtype() {
        safetensors::Dtype::F32 => DType::F32,
        safetensors::Dtype::F16 => DType::F16,
        safetensors::Dtype::BF16 => DType::BF16,
        other => {
            return Err(bad(format!(
                "tensor {name}: dtype {other:?} is not supported"
            )))
        }
    };
    Tensor::from_raw_buffer(t.data(), dtype, shape, &Device::Cpu)
        .and_then(|t| t.to_dtype(DType::F32))
        .map_err(|e| bad(format!("tensor {name}: {e}")))
}

impl BertModel {
    /// Reads the encoder from safetensors bytes (names with or without a `bert.` prefix).
    pub fn from_safetensors(bytes: &[u8], config: BertConfig, path: &str) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Format {
            path: path.to_string(),
            reason: format!("not a safetensors file ({e})"),
        })?;
        let prefix = if st.tensor("embeddings.word_embeddings.weight").is_ok() {
            ""
        } else {
            "bert."
        };
        let c = &config;
        let (hd, ff) = (c.hidden_size, c.intermediate_size);
        let get =
            |name: &str, shape: &[usize]| read_tensor(&st, &format!("{prefix}{name}"), shape, path);
        let norm = |name: &str| -> Result<LayerNorm> {
            Ok(LayerNorm {
                g: get(&format!("{name}.weight"), &[hd])?,
                b: get(&format!("{name}.bias"), &[hd])?,
                eps: f64::from(c.layer_norm_eps),
            })
        };
        let linear = |name: &str, n_in: usize, n_out: usize| -> Result<Linear> {
            Ok(Linear {
                w: get(&format!("{name}.weight"), &[n_out, n_in])?,
                b: get(&format!("{name}.bias"), &[n_out])?,
            })
        };
        let type_rows = st
            .tensor(&format!("{prefix}embeddings.token_type_embeddings.weight"))
            .map(|t| t.shape().first().copied().unwrap_or(0))
            .unwrap_or(0)
            .max(1);
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                query: linear(&format!("{p}.attention.self.query"), hd, hd)?,
                key: linear(&format!("{p}.attention.self.key"), hd, hd)?,
                value: linear(&format!("{p}.attention.self.value"), hd, hd)?,
                attn_out: linear(&format!("{p}.attention.output.dense"), hd, hd)?,
                attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                up: linear(&format!("{p}.intermediate.dense"), hd, ff)?,
                down: linear(&format!("{p}.output.dense"), ff, hd)?,
                out_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(Self {
            word: get("embeddings.word_embeddings.weight", &[c.vocab_size, hd])?,
            position: get(
                "embeddings.position_embeddings.weight",
                &[c.max_position_embeddings, hd],
            )?,
            token_type: get("embeddings.token_type_embeddings.weight", &[type_rows, hd])?
                .narrow(0, 0, 1)
                .map_err(|e| Error::Format {
                    path: path.to_string(),
                    reason: format!("token_type_embeddings: {e}"),
                })?,
            emb_norm: norm("embeddings.LayerNorm")?,
            layers,
            config,
            path: path.to_string(),
        })
    }

    /// Last hidden states (ids.len() x hidden, row-major) of one unpadded sequence, token type 0.
    pub fn forward(&self, ids: &[u32]) -> Result<Vec<f32>> {
        self.forward_batch(&[ids])
    }

    /// Last hidden states of several unpadded sequences, stacked (total tokens x hidden). Their rows
    /// go through each dense layer as one product and attention runs per sequence, so no padding or
    /// mask is needed and each sequence's states are the same as when it runs alone.
    pub fn forward_batch(&self, seqs: &[&[u32]]) -> Result<Vec<f32>> {
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        for seq in seqs {
            self.check_ids(seq)?;
            ids.extend_from_slice(seq);
            positions.extend(0..seq.len() as u32);
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        self.encode(ids, positions, &lens)
            .map_err(|e| Error::Format {
                path: self.path.clone(),
                reason: format!("BERT forward pass failed ({e})"),
            })
    }

    /// The encoder over stacked token rows (`ids`, their `positions`, sequence lengths `lens`).
    fn encode(
        &self,
        ids: Vec<u32>,
        positions: Vec<u32>,
        lens: &[usize],
    ) -> candle_core::Result<Vec<f32>> {
        let rows = ids.len();
        let ids = Tensor::from_vec(ids, rows, &Device::Cpu)?;
        let positions = Tensor::from_vec(positions, rows, &Device::Cpu)?;
        let embedded = self
            .word
            .index_select(&ids, 0)?
            .add(&self.position.index_select(&positions, 0)?)?
            .broadcast_add(&self.token_type)?;
        let mut x = self.emb_norm.forward(&embedded)?;
        for layer in &self.layers {
            let q = layer.query.forward(&x)?;
            let k = layer.key.forward(&x)?;
            let v = layer.value.forward(&x)?;
            let ctx = attention_batch(&q, &k, &v, lens, self.config.num_heads)?;
            x = layer
                .attn_norm
                .forward(&(x + layer.attn_out.forward(&ctx)?)?)?;
            let inter = layer.up.forward(&x)?.gelu_erf()?;
            x = layer
                .out_norm
                .forward(&(x + layer.down.forward(&inter)?)?)?;
        }
        x.flatten_all()?.to_vec1()
    }

    /// Rejects sequences longer than the position table and ids outside the vocabulary.
    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        let c = &self.config;
        if ids.len() > c.max_position_embeddings {
            return Err(Error::InvalidArgument {
                name: "ids",
                reason: format!(
                    "{} tokens exceed the model's {} positions",
                    ids.len(),
                    c.max_position_embeddings
                ),
            });
        }
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= c.vocab_size) {
            return Err(Error::InvalidArgument {
                name: "ids",
                reason: format!(
                    "token id {id} is outside the vocabulary of {}",
                    c.vocab_size
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    fn tensor(v: Vec<f32>, shape: &[usize]) -> Tensor {
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn gelu_matches_reference_values() {
        // x * Phi(x) from the normal CDF: Phi(1) = 0.8413447, Phi(-1) = 0.1586553, Phi(2) = 0.9772499.
        let got = flat(&tensor(vec![1.0, -1.0, 2.0, 0.0], &[4]).gelu_erf().unwrap());
        let want = [0.841_344_7, -0.158_655_3, 1.954_499_7, 0.0];
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn layernorm_matches_hand_computation() {
        let ln = LayerNorm {
            g: tensor(vec![1.0, 2.0, 1.0, 1.0], &[4]),
            b: tensor(vec![0.0, 0.0, 0.5, 0.0], &[4]),
            eps: 0.0,
        };
        let got = flat(
            &ln.forward(&tensor(vec![1.0, 2.0, 3.0, 4.0], &[1, 4]))
                .unwrap(),
        );
        // mean 2.5, variance 1.25: (x - 2.5) / sqrt(1.25) = [-1.3416408, -0.4472136, 0.4472136, 1.3416408]
        let want = [-1.341_640_8, -0.894_427_2, 0.947_213_6, 1.341_640_8];
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn linear_equals_naive_product() {
        let (rows, n_in, n_out) = (5, 7, 3);
        let (w, b, x) = (
            pseudo(n_in * n_out, 1),
            vec![0.5, -1.0, 2.0],
            pseudo(rows * n_in, 2),
        );
        let lin = Linear {
            w: tensor(w.clone(), &[n_out, n_in]),
            b: tensor(b.clone(), &[n_out]),
        };
        let got = flat(&lin.forward(&tensor(x.clone(), &[rows, n_in])).unwrap());
        for r in 0..rows {
            for o in 0..n_out {
                let want: f32 = (0..n_in)
                    .map(|i| x[r * n_in + i] * w[o * n_in + i])
                    .sum::<f32>()
                    + b[o];
                assert!((got[r * n_out + o] - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn attention_equals_naive_softmax_attention() {
        let (rows, hidden, heads) = (4, 6, 2);
        let (q, k, v) = (pseudo(24, 3), pseudo(24, 4), pseudo(24, 5));
        let t = |x: &[f32]| tensor(x.to_vec(), &[rows, hidden]);
        let got = flat(&attention(&t(&q), &t(&k), &t(&v), heads).unwrap());
        let dh = hidden / heads;
        for h in 0..heads {
            for i in 0..rows {
                let s: Vec<f32> = (0..rows)
                    .map(|j| {
                        (0..dh)
                            .map(|d| q[i * hidden + h * dh + d] * k[j * hidden + h * dh + d])
                            .sum::<f32>()
                            / (dh as f32).sqrt()
                    })
                    .collect();
                let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let z: f32 = s.iter().map(|x| (x - m).exp()).sum();
                for d in 0..dh {
                    let want: f32 = (0..rows)
                        .map(|j| (s[j] - m).exp() / z * v[j * hidden + h * dh + d])
                        .sum();
                    assert!((got[i * hidden + h * dh + d] - want).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn config_rejects_bad_fields() {
        let ok = r#"{"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 4, "vocab_size": 10}"#;
        let c = BertConfig::from_json(ok, "c").unwrap();
        assert_eq!(c.layer_norm_eps, 1e-12);
        assert!(BertConfig::from_json("{}", "c").is_err());
        assert!(BertConfig::from_json(
            &ok.replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3"),
            "c"
        )
        .is_err());
        assert!(BertConfig::from_json("[", "c").is_err());
    }
}
