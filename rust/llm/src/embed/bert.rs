//! The BERT encoder (Devlin et al. 2019) as Hugging Face `BertModel` computes it, on f32 weights read
//! from safetensors: word + absolute position + token-type embeddings, LayerNorm, then post-norm encoder
//! layers (multi-head self-attention, residual, LayerNorm; erf-GELU feed-forward, residual, LayerNorm).
//!
//! Batches are stacked, not padded: the token rows of all sequences go through each dense layer as one
//! matrix product (row blocks on the rayon pool) and attention runs per sequence. Hugging Face pads a
//! batch and masks the padding keys to -inf before the softmax; attending within each sequence computes
//! exactly the unmasked part of that, so no mask is needed and a sequence's states do not depend on the
//! batch it came in (nor on the thread count). Matrix products use the `matrixmultiply` f32 GEMM (pure
//! Rust, runtime-detected AVX2/FMA kernels), whose arbitrary strides read PyTorch's `[out, in]` weights
//! and K^T as transposes without a copy.

use crate::error::{Error, Result};
use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};

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
    w: Vec<f32>,
    b: Vec<f32>,
    n_in: usize,
    n_out: usize,
}

impl Linear {
    /// `x`: rows x n_in -> rows x n_out, in row blocks on the rayon pool. A row's result does not
    /// depend on the blocking (the GEMM accumulates each output over k in the same order), so the
    /// output is the same for any thread count.
    fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut y = vec![0.0f32; rows * self.n_out];
        let block = rows.div_ceil(rayon::current_num_threads().max(1)).max(16);
        y.par_chunks_mut(block * self.n_out)
            .zip(x[..rows * self.n_in].par_chunks(block * self.n_in))
            .for_each(|(yb, xb)| {
                let r = xb.len() / self.n_in;
                for row in yb.chunks_exact_mut(self.n_out) {
                    row.copy_from_slice(&self.b);
                }
                gemm(
                    r, self.n_in, self.n_out, xb, self.n_in, 1, &self.w, 1, self.n_in, 1.0, yb,
                    self.n_out,
                );
            });
        y
    }
}

/// `c[m x n] (row stride rsc) = alpha * a[m x k] b[k x n] + c`, strides in elements.
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    alpha: f32,
    c: &mut [f32],
    rsc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // The extent each operand's strides reach: the unsafe call below may only touch memory inside.
    let reach =
        |rows: usize, rs: usize, cols: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs + 1;
    if k > 0 {
        assert!(a.len() >= reach(m, rsa, k, csa) && b.len() >= reach(k, rsb, n, csb));
    }
    assert!(c.len() >= reach(m, rsc, n, 1));
    // SAFETY: the asserts above keep every element the strides address inside the slices.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            1.0,
            c.as_mut_ptr(),
            rsc as isize,
            1,
        );
    }
}

/// LayerNorm over each row of width `g.len()`, in place.
#[derive(Debug, Clone)]
struct LayerNorm {
    g: Vec<f32>,
    b: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    fn forward(&self, x: &mut [f32]) {
        let n = self.g.len();
        for row in x.chunks_exact_mut(n) {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
            let inv = 1.0 / (var + self.eps as f64).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&self.g).zip(&self.b) {
                *v = ((*v as f64 - mean) * inv) as f32 * g + b;
            }
        }
    }
}

/// GELU in BERT's exact form, `x Phi(x) = x/2 (1 + erf(x / sqrt 2))`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Softmax of each row of width `n`, in place (max subtracted first).
fn softmax_rows(x: &mut [f32], n: usize) {
    for row in x.chunks_exact_mut(n) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
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

/// Multi-head self-attention of `x` (rows x hidden) without a mask; returns the heads' context.
fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    rows: usize,
    hidden: usize,
    heads: usize,
) -> Vec<f32> {
    let dh = hidden / heads;
    let scale = 1.0 / (dh as f32).sqrt();
    let mut ctx = vec![0.0f32; rows * hidden];
    let mut scores = vec![0.0f32; rows * rows];
    for h in 0..heads {
        let off = h * dh;
        scores.iter_mut().for_each(|s| *s = 0.0);
        // scores = Q_h K_h^T / sqrt(dh): K_h^T read through strides.
        gemm(
            rows,
            dh,
            rows,
            &q[off..],
            hidden,
            1,
            &k[off..],
            1,
            hidden,
            scale,
            &mut scores,
            rows,
        );
        softmax_rows(&mut scores, rows);
        gemm(
            rows,
            rows,
            dh,
            &scores,
            rows,
            1,
            &v[off..],
            hidden,
            1,
            1.0,
            &mut ctx[off..],
            hidden,
        );
    }
    ctx
}

/// The encoder's weights, converted to f32 at load.
#[derive(Debug, Clone)]
pub struct BertModel {
    /// Its hyper-parameters.
    pub config: BertConfig,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
}

fn read_tensor(st: &SafeTensors<'_>, name: &str, shape: &[usize], path: &str) -> Result<Vec<f32>> {
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
    let data = t.data();
    Ok(match t.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => {
            return Err(bad(format!(
                "tensor {name}: dtype {other:?} is not supported"
            )))
        }
    })
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
                eps: c.layer_norm_eps,
            })
        };
        let linear = |name: &str, n_in: usize, n_out: usize| -> Result<Linear> {
            Ok(Linear {
                w: get(&format!("{name}.weight"), &[n_out, n_in])?,
                b: get(&format!("{name}.bias"), &[n_out])?,
                n_in,
                n_out,
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
            token_type: get("embeddings.token_type_embeddings.weight", &[type_rows, hd])?,
            emb_norm: norm("embeddings.LayerNorm")?,
            layers,
            config,
        })
    }

    /// Last hidden states (ids.len() x hidden, row-major) of one unpadded sequence, token type 0.
    pub fn forward(&self, ids: &[u32]) -> Result<Vec<f32>> {
        self.forward_batch(&[ids])
    }

    /// Last hidden states of several unpadded sequences, stacked (total tokens x hidden). Their rows
    /// go through each dense layer as one product (amortising the GEMM's packing of the weights) and
    /// attention runs per sequence, so no padding or mask is needed and each sequence's states are the
    /// same as when it runs alone.
    pub fn forward_batch(&self, seqs: &[&[u32]]) -> Result<Vec<f32>> {
        let c = &self.config;
        let hd = c.hidden_size;
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let rows: usize = lens.iter().sum();
        let mut x = vec![0.0f32; rows * hd];
        let mut start = 0;
        for ids in seqs {
            self.embed_tokens(ids, &mut x[start * hd..(start + ids.len()) * hd])?;
            start += ids.len();
        }
        self.emb_norm.forward(&mut x);
        for layer in &self.layers {
            let q = layer.query.forward(&x, rows);
            let k = layer.key.forward(&x, rows);
            let v = layer.value.forward(&x, rows);
            let ctx = attention_batch(&q, &k, &v, &lens, hd, c.num_heads);
            let attn = layer.attn_out.forward(&ctx, rows);
            x.iter_mut().zip(&attn).for_each(|(a, b)| *a += b);
            layer.attn_norm.forward(&mut x);
            let mut inter = layer.up.forward(&x, rows);
            inter
                .par_chunks_mut(4096)
                .for_each(|chunk| chunk.iter_mut().for_each(|v| *v = gelu(*v)));
            let out = layer.down.forward(&inter, rows);
            x.iter_mut().zip(&out).for_each(|(a, b)| *a += b);
            layer.out_norm.forward(&mut x);
        }
        Ok(x)
    }

    /// Word + position + token-type-0 embeddings of `ids` into `out` (ids.len() x hidden).
    fn embed_tokens(&self, ids: &[u32], out: &mut [f32]) -> Result<()> {
        let c = &self.config;
        let hd = c.hidden_size;
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
        for (pos, (&id, row)) in ids.iter().zip(out.chunks_exact_mut(hd)).enumerate() {
            let id = id as usize;
            if id >= c.vocab_size {
                return Err(Error::InvalidArgument {
                    name: "ids",
                    reason: format!(
                        "token id {id} is outside the vocabulary of {}",
                        c.vocab_size
                    ),
                });
            }
            let word = &self.word[id * hd..(id + 1) * hd];
            let position = &self.position[pos * hd..(pos + 1) * hd];
            for (((v, w), p), t) in row
                .iter_mut()
                .zip(word)
                .zip(position)
                .zip(&self.token_type[..hd])
            {
                *v = w + p + t;
            }
        }
        Ok(())
    }
}

/// [`attention`] of each sequence of a stacked batch (sequence lengths `lens`), in parallel.
fn attention_batch(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    lens: &[usize],
    hidden: usize,
    heads: usize,
) -> Vec<f32> {
    let mut spans = Vec::with_capacity(lens.len());
    let mut start = 0;
    for &len in lens {
        spans.push((start * hidden, (start + len) * hidden, len));
        start += len;
    }
    let parts: Vec<Vec<f32>> = spans
        .par_iter()
        .map(|&(a, b, len)| attention(&q[a..b], &k[a..b], &v[a..b], len, hidden, heads))
        .collect();
    parts.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_matmul_t(x: &[f32], w: &[f32], rows: usize, n_in: usize, n_out: usize) -> Vec<f32> {
        let mut y = vec![0.0f32; rows * n_out];
        for r in 0..rows {
            for o in 0..n_out {
                y[r * n_out + o] = (0..n_in).map(|i| x[r * n_in + i] * w[o * n_in + i]).sum();
            }
        }
        y
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn gelu_matches_reference_values() {
        // x * Phi(x) from the normal CDF: Phi(1) = 0.8413447, Phi(-1) = 0.1586553, Phi(2) = 0.9772499.
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu(-1.0) + 0.158_655_3).abs() < 1e-6);
        assert!((gelu(2.0) - 1.954_499_7).abs() < 1e-6);
        assert_eq!(gelu(0.0), 0.0);
    }

    #[test]
    fn layernorm_matches_hand_computation() {
        let ln = LayerNorm {
            g: vec![1.0, 2.0, 1.0, 1.0],
            b: vec![0.0, 0.0, 0.5, 0.0],
            eps: 0.0,
        };
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        ln.forward(&mut x);
        // mean 2.5, variance 1.25: (x - 2.5) / sqrt(1.25) = [-1.3416408, -0.4472136, 0.4472136, 1.3416408]
        let want = [-1.341_640_8, -0.894_427_2, 0.947_213_6, 1.341_640_8];
        for (a, b) in x.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn linear_equals_naive_product() {
        let (rows, n_in, n_out) = (5, 7, 3);
        let lin = Linear {
            w: pseudo(n_in * n_out, 1),
            b: vec![0.5, -1.0, 2.0],
            n_in,
            n_out,
        };
        let x = pseudo(rows * n_in, 2);
        let got = lin.forward(&x, rows);
        let mut want = naive_matmul_t(&x, &lin.w, rows, n_in, n_out);
        for r in want.chunks_exact_mut(n_out) {
            r.iter_mut().zip(&lin.b).for_each(|(a, b)| *a += b);
        }
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn attention_equals_naive_softmax_attention() {
        let (rows, hidden, heads) = (4, 6, 2);
        let (q, k, v) = (pseudo(24, 3), pseudo(24, 4), pseudo(24, 5));
        let got = attention(&q, &k, &v, rows, hidden, heads);
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
