//! The transformer forward pass for the llama, qwen2 and gemma3 graphs (as llama.cpp builds them in
//! src/models/), over the weights as stored in the GGUF file, with a KV cache.

use crate::config::{Architecture, Config};
use crate::error::{Error, Result};
use crate::gguf::{GgufFile, TensorInfo};
use crate::gpu::{DeviceKv, DeviceWeights};
use crate::matmul::{matmul_shared_input, QMatrix};
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;
use thermoconsensus_gpu::Executor;
use thermoconsensus_runtime::{Compute, Work};

/// One matrix of the model: where its bytes are and its shape.
#[derive(Debug, Clone)]
pub(crate) struct Weight {
    pub(crate) info: TensorInfo,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

/// The tensors of one transformer block, on the host.
pub(crate) type Block = crate::block::Layer<Weight, Vec<f32>>;

/// A loaded model: the mapped file, its configuration and the layout of its tensors.
#[derive(Debug)]
pub struct Model {
    file: GgufFile,
    /// Hyper-parameters.
    pub config: Config,
    pub(crate) token_embd: Weight,
    pub(crate) output: Weight,
    pub(crate) output_norm: Vec<f32>,
    pub(crate) blocks: Vec<Block>,
    /// Llama 3 RoPE scaling: `rope_freqs.weight`, one divisor per rotated pair (llama.cpp's
    /// `freq_factors`), when the file has it.
    pub(crate) rope_freqs: Option<Vec<f32>>,
    /// The weights on a CUDA device, when the model runs there.
    device: Option<DeviceWeights>,
}

/// Keys and values of the positions processed so far, per layer. Keys are stored transposed (per KV
/// head, one row of `capacity` positions for each dimension) so that a query's dot products with every
/// position run along contiguous rows; values are stored position by position.
#[derive(Debug)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    capacity: usize,
    kv_dim: usize,
    /// The cache of a model on a device (then `k` and `v` stay empty).
    device: Option<DeviceKv>,
}

impl KvCache {
    /// An empty cache for `capacity` positions of `model`.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] when the cache's size overflows or cannot be allocated.
    pub fn new(config: &Config, capacity: usize) -> Result<Self> {
        let kv_dim = config.n_head_kv * config.head_dim;
        let per_layer = kv_buffer_len(config, capacity)?;
        let oom = || Error::OutOfMemory {
            what: format!("KV cache of {capacity} positions (n_ctx)"),
            bytes: (per_layer as u128) * 8 * config.n_layer as u128,
        };
        let mut k = Vec::new();
        let mut v = Vec::new();
        k.try_reserve_exact(config.n_layer).map_err(|_| oom())?;
        v.try_reserve_exact(config.n_layer).map_err(|_| oom())?;
        for _ in 0..config.n_layer {
            // Zeroed lazily by the OS: untouched pages of a long context cost no memory.
            k.push(bytemuck::allocation::try_zeroed_vec::<f32>(per_layer).map_err(|_| oom())?);
            let mut values = Vec::new();
            values.try_reserve_exact(per_layer).map_err(|_| oom())?;
            v.push(values);
        }
        Ok(Self {
            k,
            v,
            len: 0,
            capacity,
            kv_dim,
            device: None,
        })
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been processed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every position from `len` on (to reuse a shared prefix).
    pub fn truncate(&mut self, len: usize) {
        let keep = len.min(self.len);
        // Transposed keys past `keep` are simply overwritten later.
        for v in &mut self.v {
            v.truncate(keep * self.kv_dim);
        }
        self.len = keep;
    }
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

fn format_err(file: &GgufFile, reason: String) -> Error {
    Error::Format {
        path: file.path().to_string(),
        reason,
    }
}

impl Model {
    /// Maps the GGUF file at `path` and checks that every tensor the architecture needs is there with
    /// a consistent shape.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
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
            device: None,
        })
    }

    /// Moves the weights to the device of `exec` (the model then runs there; see [`crate::gpu`]).
    ///
    /// # Errors
    /// [`Error::Runtime`] when a weight type has no GPU kernel or the device fails.
    pub fn to_device(mut self, exec: Arc<Executor>) -> Result<Self> {
        if self.rope_freqs.is_some() {
            return Err(thermoconsensus_runtime::Error::Unsupported(
                "rope_freqs (Llama 3 RoPE scaling) has no GPU kernel yet; use device=\"cpu\""
                    .into(),
            )
            .into());
        }
        self.device = Some(DeviceWeights::upload(&self, exec)?);
        Ok(self)
    }

    /// The model placed on `compute`: unchanged for the CPU, its weights uploaded for a device.
    ///
    /// # Errors
    /// As [`Model::to_device`].
    pub fn place(self, compute: &Compute) -> Result<Self> {
        match compute {
            Compute::Cpu => Ok(self),
            Compute::Device(exec) => self.to_device(Arc::clone(exec)),
        }
    }

    /// What the device decision needs to know of inference: every option runs on the device and any
    /// model repays it (the weights are uploaded once, then every token runs there).
    pub fn work() -> Work {
        Work::sized(1, 1)
    }

    /// The name of the device the model runs on, or "cpu".
    pub fn device_name(&self) -> String {
        self.device
            .as_ref()
            .map_or_else(|| "cpu".to_string(), |d| d.executor().name().to_string())
    }

    /// An empty cache for `capacity` positions, on the model's device.
    ///
    /// # Errors
    /// [`Error::Runtime`] when device memory cannot be allocated.
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        match &self.device {
            None => KvCache::new(&self.config, capacity),
            Some(dev) => Ok(KvCache {
                k: Vec::new(),
                v: Vec::new(),
                len: 0,
                capacity,
                kv_dim: self.config.n_head_kv * self.config.head_dim,
                device: Some(dev.new_cache(self, capacity)?),
            }),
        }
    }

    /// The mapped file (metadata for the tokenizer and templates).
    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    pub(crate) fn matrix(&self, w: &Weight) -> QMatrix<'_> {
        QMatrix {
            ty: w.info.ggml_type,
            rows: w.rows,
            cols: w.cols,
            data: self.file.tensor_data(&w.info),
        }
    }

    /// Runs `tokens` through the model after the positions already in `cache`, appends their keys and
    /// values, and returns the logits of every new position (positions x vocabulary) when `all`, else of
    /// the last one only.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache, all: bool) -> Result<Vec<f32>> {
        if let Some(dev) = &self.device {
            self.check_tokens(tokens, cache)?;
            let kv = device_cache(cache)?;
            let hidden = self.hidden_on_device(dev, kv, cache.capacity, tokens, cache.len)?;
            let logits = self.logits_on_device(dev, &hidden, all)?;
            cache.len += tokens.len();
            return Ok(logits);
        }
        let d = self.config.n_embd;
        let hidden = self.hidden(tokens, cache)?;
        let rows = if all {
            &hidden[..]
        } else {
            &hidden[hidden.len() - d..]
        };
        let out_m = self.matrix(&self.output);
        let mut logits = vec![0.0f32; rows.len() / d * self.config.n_vocab];
        out_m.matmul(rows, &mut logits);
        Ok(logits)
    }

    /// Runs `tokens` as [`Model::forward`] does and returns the most likely next token (the first of equal
    /// logits). On a device the choice is made there and only the token comes back.
    pub fn forward_greedy(&self, tokens: &[u32], cache: &mut KvCache) -> Result<u32> {
        if let Some(dev) = &self.device {
            self.check_tokens(tokens, cache)?;
            let kv = device_cache(cache)?;
            let hidden = self.hidden_on_device(dev, kv, cache.capacity, tokens, cache.len)?;
            let token = self.argmax_on_device(dev, &hidden)?;
            cache.len += tokens.len();
            return Ok(token);
        }
        let logits = self.forward(tokens, cache, false)?;
        Ok(logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map_or(0, |(i, _)| i as u32))
    }

    /// The last layer's hidden states of the new positions after the final norm (positions x n_embd):
    /// what the output matrix turns into logits, and what sentence embeddings pool.
    pub fn hidden(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        self.check_tokens(tokens, cache)?;
        if let Some(dev) = &self.device {
            let kv = device_cache(cache)?;
            let hidden = self.hidden_on_device(dev, kv, cache.capacity, tokens, cache.len)?;
            cache.len += tokens.len();
            return dev.executor().download(&hidden).map_err(Error::from);
        }
        let c = &self.config;
        let n = tokens.len();
        let d = c.n_embd;
        let embd = self.matrix(&self.token_embd);
        let mut x = vec![0.0f32; n * d];
        for (t, row) in tokens.iter().zip(x.chunks_exact_mut(d)) {
            embd.row(*t as usize, row);
            if c.arch == Architecture::Gemma3 {
                let s = (d as f32).sqrt();
                row.iter_mut().for_each(|v| *v *= s);
            }
        }
        let start = cache.len;
        for (l, b) in self.blocks.iter().enumerate() {
            self.block(l, b, &mut x, start, cache);
        }
        cache.len += n;
        for row in x.chunks_exact_mut(d) {
            rms_norm(row, &self.output_norm, c.rms_eps);
        }
        Ok(x)
    }

    /// The checks every pass makes: tokens present, in the vocabulary, and fitting the cache, and a cache
    /// on the model's device.
    fn check_tokens(&self, tokens: &[u32], cache: &KvCache) -> Result<()> {
        let c = &self.config;
        if tokens.is_empty() {
            return Err(Error::InvalidArgument {
                name: "tokens",
                reason: "no tokens to process".into(),
            });
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= c.n_vocab) {
            return Err(Error::InvalidArgument {
                name: "tokens",
                reason: format!("token id {t} is outside the vocabulary of {}", c.n_vocab),
            });
        }
        if cache.len + tokens.len() > cache.capacity {
            return Err(Error::InvalidArgument {
                name: "tokens",
                reason: format!(
                    "{} positions do not fit the context of {} ({} already used)",
                    tokens.len(),
                    cache.capacity,
                    cache.len
                ),
            });
        }
        if self.device.is_some() != cache.device.is_some() {
            return Err(Error::InvalidArgument {
                name: "cache",
                reason: "the cache is not on the model's device; make it with Model::new_cache"
                    .into(),
            });
        }
        Ok(())
    }

    fn block(&self, l: usize, b: &Block, x: &mut [f32], start: usize, cache: &mut KvCache) {
        let c = &self.config;
        let (d, hd) = (c.n_embd, c.head_dim);
        let n = x.len() / d;
        let (q_dim, kv_dim) = (c.n_head * hd, c.n_head_kv * hd);
        let mut h = x.to_vec();
        for row in h.chunks_exact_mut(d) {
            rms_norm(row, &b.attn_norm, c.rms_eps);
        }
        let mut q = vec![0.0; n * q_dim];
        let mut k = vec![0.0; n * kv_dim];
        let mut v = vec![0.0; n * kv_dim];
        matmul_shared_input(
            &[self.matrix(&b.wq), self.matrix(&b.wk), self.matrix(&b.wv)],
            &h,
            &mut [&mut q, &mut k, &mut v],
        );
        for (buf, bias) in [(&mut q, &b.bq), (&mut k, &b.bk), (&mut v, &b.bv)] {
            if let Some(bias) = bias {
                for row in buf.chunks_exact_mut(bias.len()) {
                    row.iter_mut().zip(bias).for_each(|(a, b)| *a += b);
                }
            }
        }
        if let (Some(qn), Some(kn)) = (&b.q_norm, &b.k_norm) {
            q.chunks_exact_mut(hd)
                .for_each(|hv| rms_norm(hv, qn, c.rms_eps));
            k.chunks_exact_mut(hd)
                .for_each(|hv| rms_norm(hv, kn, c.rms_eps));
        }
        let local = c.is_local(l);
        let base = if local {
            c.rope_base_local
        } else {
            c.rope_base
        };
        let factors = self.rope_freqs.as_deref();
        for i in 0..n {
            let pos = (start + i) as f32 / c.rope_scale;
            for hv in q[i * q_dim..(i + 1) * q_dim].chunks_exact_mut(hd) {
                rope(hv, pos, base, c.rope_dim, c.rope_neox(), factors);
            }
            for hv in k[i * kv_dim..(i + 1) * kv_dim].chunks_exact_mut(hd) {
                rope(hv, pos, base, c.rope_dim, c.rope_neox(), factors);
            }
        }
        // llama.cpp keeps K and V in f16 and multiplies them in f16 (queries and probabilities too).
        let cap = cache.capacity;
        for (i, row) in k.chunks_exact(kv_dim).enumerate() {
            for (j, &value) in row.iter().enumerate() {
                cache.k[l][j * cap + start + i] = f16_round(value);
            }
        }
        cache.v[l].extend(v.iter().map(|&v| f16_round(v)));
        // Gemma 3 scales the queries before attention (kq scale 1); the others scale the products.
        let gemma = c.arch == Architecture::Gemma3;
        let q_scale = if gemma { 1.0 / (hd as f32).sqrt() } else { 1.0 };
        q.iter_mut().for_each(|v| *v = f16_round(*v * q_scale));
        let (kc, vc) = (&cache.k[l], &cache.v[l]);
        let group = c.n_head / c.n_head_kv;
        let scale = if gemma { 1.0 } else { 1.0 / (hd as f32).sqrt() };
        let mut attn = vec![0.0f32; n * q_dim];
        // One task per (position, head): each writes its own `hd` outputs.
        attn.par_chunks_mut(hd)
            .enumerate()
            .for_each_init(Vec::new, |scores, (task, out)| {
                let (i, head) = (task / c.n_head, task % c.n_head);
                let pos = start + i;
                let first = if local && c.sliding_window > 0 {
                    (pos + 1).saturating_sub(c.sliding_window)
                } else {
                    0
                };
                let kvh = head / group;
                let qv = &q[i * q_dim + head * hd..i * q_dim + (head + 1) * hd];
                let head_view = HeadView {
                    keys_t: &kc[kvh * hd * cap..(kvh + 1) * hd * cap],
                    capacity: cap,
                    values: vc,
                    stride: kv_dim,
                    offset: kvh * hd,
                    dim: hd,
                };
                attend(qv, first, pos, &head_view, scale, scores, out);
            });
        let mut proj = vec![0.0; n * d];
        self.matrix(&b.wo).matmul(&attn, &mut proj);
        if let Some(w) = &b.post_attn_norm {
            proj.chunks_exact_mut(d)
                .for_each(|r| rms_norm(r, w, c.rms_eps));
        }
        x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
        let mut h = x.to_vec();
        for row in h.chunks_exact_mut(d) {
            rms_norm(row, &b.ffn_norm, c.rms_eps);
        }
        let mut gate = vec![0.0; n * c.n_ff];
        let mut up = vec![0.0; n * c.n_ff];
        matmul_shared_input(
            &[self.matrix(&b.w_gate), self.matrix(&b.w_up)],
            &h,
            &mut [&mut gate, &mut up],
        );
        gate.iter_mut().zip(&up).for_each(|(g, u)| {
            *g = if gemma { gelu_tanh(*g) } else { silu(*g) } * u;
        });
        self.matrix(&b.w_down).matmul(&gate, &mut proj);
        if let Some(w) = &b.post_ffn_norm {
            proj.chunks_exact_mut(d)
                .for_each(|r| rms_norm(r, w, c.rms_eps));
        }
        x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
    }
}

/// One KV head in the cache: its transposed keys (row d holds dimension d of every position) and the
/// values, where position p's vector starts at `p * stride + offset`.
struct HeadView<'a> {
    keys_t: &'a [f32],
    capacity: usize,
    values: &'a [f32],
    stride: usize,
    offset: usize,
    dim: usize,
}

impl HeadView<'_> {
    fn value(&self, p: usize) -> &[f32] {
        &self.values[p * self.stride + self.offset..p * self.stride + self.offset + self.dim]
    }
}

/// Attention of one query over positions `first..=pos` into `out`: scaled dot products, softmax,
/// probabilities rounded through f16 (as llama.cpp's f16 products take them), weighted values.
/// Compiled for AVX2 as well; Rust never fuses a multiply and an add, so both versions round alike.
#[multiversion::multiversion(targets("x86_64+avx2+fma+f16c"))]
fn attend<'a>(
    q: &[f32],
    first: usize,
    pos: usize,
    head: &HeadView<'a>,
    scale: f32,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    scores.clear();
    scores.resize(pos + 1 - first, 0.0);
    // Each score is a running sum over the dimensions in order (measured closer to llama.cpp's
    // perplexity than lane-wise sums: within 0.1-0.5% vs up to 1.1% on the long fixture text), and
    // the positions, contiguous in the transposed keys, go in parallel lanes.
    for (d, &qd) in q.iter().enumerate() {
        let row = &head.keys_t[d * head.capacity + first..d * head.capacity + pos + 1];
        scores.iter_mut().zip(row).for_each(|(s, k)| *s += qd * k);
    }
    scores.iter_mut().for_each(|v| *v *= scale);
    softmax(scores);
    scores.iter_mut().for_each(|p| *p = f16_round(*p));
    for (j, p) in (first..=pos).enumerate() {
        out.iter_mut()
            .zip(head.value(p))
            .for_each(|(o, v)| *o += scores[j] * v);
    }
}

/// RMSNorm in place: x * w / sqrt(mean(x^2) + eps), the sum of squares in f64 as ggml takes it.
fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    let ms = (x.iter().map(|&v| (v * v) as f64).sum::<f64>() / x.len() as f64) as f32;
    let s = 1.0 / (ms + eps).sqrt();
    x.iter_mut().zip(w).for_each(|(v, w)| *v = *v * s * w);
}

/// Rounds through f16, as llama.cpp's default f16 KV cache and f16 attention products do.
#[inline]
fn f16_round(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

/// Rotary position embedding of one head at position `pos`: adjacent pairs (GPT-J / llama.cpp "norm")
/// or halves (NeoX), over the first `dim` dimensions. Angles are built as ggml builds them: theta
/// starts at pos and is multiplied by base^(-2/dim) for each pair, in f32. Llama 3's `factors`
/// divide pair i's angle by factors[i] (ggml's `freq_factors`).
fn rope(x: &mut [f32], pos: f32, base: f32, dim: usize, neox: bool, factors: Option<&[f32]>) {
    let half = dim / 2;
    let theta_scale = base.powf(-2.0 / dim as f32);
    let mut theta = pos;
    for i in 0..half {
        let angle = match factors {
            Some(f) => theta / f[i],
            None => theta,
        };
        let (sin, cos) = angle.sin_cos();
        theta *= theta_scale;
        let (a, b) = if neox {
            (i, i + half)
        } else {
            (2 * i, 2 * i + 1)
        };
        let (x0, x1) = (x[a], x[b]);
        x[a] = x0 * cos - x1 * sin;
        x[b] = x0 * sin + x1 * cos;
    }
}

fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    x.iter_mut().for_each(|v| *v /= sum);
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// GELU with the tanh approximation, as ggml's CPU backend evaluates it: through its f16 table for
/// |x| < 10 (input and output rounded to f16), exact beyond.
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let exact = |x: f32| 0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x)).tanh());
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        // The table holds exact(f16 value) rounded to f16 for every f16 bit pattern, built once.
        static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
        let table = TABLE.get_or_init(|| {
            (0..=u16::MAX)
                .map(|bits| f16_round(exact(half::f16::from_bits(bits).to_f32())))
                .collect()
        });
        table[half::f16::from_f32(x).to_bits() as usize]
    }
}

/// The device half of a cache made by [`Model::new_cache`] (checked by `check_tokens`).
fn device_cache(cache: &KvCache) -> Result<&DeviceKv> {
    cache.device.as_ref().ok_or_else(|| Error::InvalidArgument {
        name: "cache",
        reason: "the cache is not on the model's device; make it with Model::new_cache".into(),
    })
}
