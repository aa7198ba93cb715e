//! The transformer forward pass on a CUDA device: the GPU twin of [`crate::cpu`], running `cuda/llm.cu`.
//! The quantized weights are copied to the device once, as stored in the GGUF file, and dequantised in
//! registers; the KV cache lives on the device; each forward pass uploads the new tokens' embedding rows
//! (looked up on the CPU) and downloads only the logits (or hidden states) it returns. Every step rounds as
//! the CPU engine does (see the kernel file), so the two agree to float summation order.
//!
//! Greedy decoding picks the token on the device ([`Model::forward_greedy`](crate::Model::forward_greedy): one index comes back). Not done
//! on the device: the embedding lookup (one row per token), sampling with temperature, top-k/top-p and
//! penalties (the last position's logits are downloaded and the CPU sampler runs), and launch-overhead removal
//! with CUDA graphs.

use std::sync::Arc;

use thermoconsensus_gpu::{Arg, Buffer, Executor, Grid};

use crate::config::Architecture;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ggml_type::GgmlType;
use crate::weights::{Block, Weight, Weights};

const THREADS: u32 = 256;
/// Rows of a prompt whose attention runs in one launch (bounds the score scratch: rows x heads x context).
const ATTENTION_ROWS: usize = 256;

/// A weight matrix on the device, in its GGUF encoding.
struct DeviceMatrix {
    ty: GgmlType,
    rows: usize,
    cols: usize,
    data: Buffer<u8>,
}

/// The tensors of one transformer block, on the device.
type DeviceBlock = crate::block::Layer<DeviceMatrix, Buffer<f32>>;

/// A model's weights on one device.
pub(crate) struct DeviceWeights {
    exec: Arc<Executor>,
    blocks: Vec<DeviceBlock>,
    output: DeviceMatrix,
    output_norm: Buffer<f32>,
}

/// A KV cache on the device: per layer, keys transposed (kv_dim rows of `capacity`) and values by position.
pub(crate) struct DeviceKv {
    k: Vec<Buffer<f32>>,
    v: Vec<Buffer<f32>>,
}

impl std::fmt::Debug for DeviceWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DeviceWeights({}, {} blocks)",
            self.exec.name(),
            self.blocks.len()
        )
    }
}

impl std::fmt::Debug for DeviceKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKv({} layers)", self.k.len())
    }
}

fn upload_matrix(exec: &Executor, model: &Weights, w: &Weight, name: &str) -> Result<DeviceMatrix> {
    let ty = w.info.ggml_type;
    if !GgmlType::INTEGER_DOT.contains(&ty) {
        return Err(thermoconsensus_runtime::Error::Unsupported(format!(
            "tensor {name} is {ty}, which the GPU kernels do not multiply (supported: Q4_0, Q4_1, Q5_0, \
             Q5_1, Q8_0, Q4_K, Q6_K); use device=\"cpu\""
        ))
        .into());
    }
    Ok(DeviceMatrix {
        ty,
        rows: w.rows,
        cols: w.cols,
        data: exec.upload(model.file().tensor_data(&w.info))?,
    })
}

fn upload_vec(exec: &Executor, v: &[f32]) -> Result<Buffer<f32>> {
    exec.upload(v).map_err(Error::from)
}

impl DeviceWeights {
    /// Copies `model`'s weights to the device of `exec`.
    pub(crate) fn upload(model: &Weights, exec: Arc<Executor>) -> Result<Self> {
        let e = &*exec;
        let mut blocks = Vec::with_capacity(model.blocks.len());
        for (l, b) in model.blocks.iter().enumerate() {
            let m = |w: &Weight, what: &str| upload_matrix(e, model, w, &format!("blk.{l}.{what}"));
            blocks.push(device_block(e, b, m)?);
        }
        Ok(Self {
            output: upload_matrix(e, model, &model.output, "output")?,
            output_norm: upload_vec(e, &model.output_norm)?,
            blocks,
            exec,
        })
    }

    /// The executor the weights live on.
    pub(crate) fn executor(&self) -> &Arc<Executor> {
        &self.exec
    }

    /// An empty device cache for `capacity` positions.
    pub(crate) fn new_cache(&self, c: &Config, capacity: usize) -> Result<DeviceKv> {
        let len = crate::weights::kv_buffer_len(c, capacity)?;
        let mut k = Vec::with_capacity(c.n_layer);
        let mut v = Vec::with_capacity(c.n_layer);
        for _ in 0..c.n_layer {
            k.push(self.exec.zeros(len)?);
            v.push(self.exec.zeros(len)?);
        }
        Ok(DeviceKv { k, v })
    }

    /// A cache of `capacity` positions on the same device holding the first `len` positions of `kv`
    /// (of `kv_capacity`): a fork of a sequence, or a shared prefix reused. Copied through the host.
    pub(crate) fn copy_prefix(
        &self,
        c: &Config,
        kv: &DeviceKv,
        kv_capacity: usize,
        len: usize,
        capacity: usize,
    ) -> Result<DeviceKv> {
        let kv_dim = c.n_head_kv * c.head_dim;
        let size = crate::weights::kv_buffer_len(c, capacity)?;
        let mut k = Vec::with_capacity(kv.k.len());
        let mut v = Vec::with_capacity(kv.v.len());
        for (kl, vl) in kv.k.iter().zip(&kv.v) {
            let mut keys = vec![0.0f32; size];
            let old = self.exec.download(kl)?;
            crate::weights::copy_key_prefix(&old, kv_capacity, &mut keys, capacity, len, kv_dim);
            k.push(self.exec.upload(&keys)?);
            let mut values = self.exec.download(vl)?;
            values.truncate(len * kv_dim);
            values.resize(size, 0.0);
            v.push(self.exec.upload(&values)?);
        }
        Ok(DeviceKv { k, v })
    }
}

fn device_block(
    e: &Executor,
    b: &Block,
    m: impl Fn(&Weight, &str) -> Result<DeviceMatrix>,
) -> Result<DeviceBlock> {
    b.try_map(|w, name| m(w, name), |v| upload_vec(e, v))
}

/// The launch helpers of one forward pass.
struct Pass<'a> {
    e: &'a Executor,
}

impl Pass<'_> {
    fn zeros(&self, n: usize) -> Result<Buffer<f32>> {
        self.e.zeros(n).map_err(Error::from)
    }

    /// Launches `kernel` of `cuda/llm.cu`.
    ///
    /// SAFETY (callers): `args` must match the kernel's parameters and every buffer must hold what the
    /// kernel indexes for the sizes passed; each call site states why.
    unsafe fn launch(&self, kernel: &str, grid: Grid, args: &[Arg<'_>]) -> Result<()> {
        unsafe { self.e.launch("llm", kernel, grid, args) }.map_err(Error::from)
    }

    fn rms_norm(
        &self,
        x: &Buffer<f32>,
        w: &Buffer<f32>,
        out: &Buffer<f32>,
        len: usize,
        eps: f32,
    ) -> Result<()> {
        let rows = x.len() / len;
        // SAFETY: x and out hold rows x len floats, w len floats; blocks of 256 (the kernel's shared array).
        unsafe {
            self.launch(
                "rms_norm",
                Grid::linear(rows.min(65_535) as u32, 256),
                &[
                    x.arg(),
                    w.arg(),
                    out.arg(),
                    Arg::U64(rows as u64),
                    Arg::U64(len as u64),
                    Arg::F32(eps),
                ],
            )
        }
    }

    fn add_bias(&self, x: &Buffer<f32>, bias: &Buffer<f32>) -> Result<()> {
        let cols = bias.len();
        // SAFETY: x holds rows x cols floats, bias cols.
        unsafe {
            self.launch(
                "add_bias",
                Grid::cover(x.len(), THREADS),
                &[
                    x.arg(),
                    bias.arg(),
                    Arg::U64((x.len() / cols) as u64),
                    Arg::U64(cols as u64),
                ],
            )
        }
    }

    fn add_into(&self, x: &Buffer<f32>, y: &Buffer<f32>) -> Result<()> {
        // SAFETY: x and y hold the same number of floats.
        unsafe {
            self.launch(
                "add_into",
                Grid::cover(x.len(), THREADS),
                &[x.arg(), y.arg(), Arg::U64(x.len() as u64)],
            )
        }
    }

    /// `out = W x` for the `x.len() / cols` inputs: quantizes them as the CPU does, then multiplies.
    fn matmul(&self, w: &DeviceMatrix, x: &Buffer<f32>, out: &Buffer<f32>) -> Result<()> {
        let n_in = x.len() / w.cols;
        let k_quant = matches!(w.ty, GgmlType::Q4K | GgmlType::Q6K);
        let bs = if k_quant { 256 } else { 32 };
        let nblocks = x.len() / bs;
        let aq = self.e.zeros::<i8>(x.len())?;
        let ad = self.zeros(nblocks)?;
        let as_ = self.zeros(nblocks)?;
        let bsums = self.e.zeros::<i16>(x.len() / 16)?;
        let warps_grid = |items: usize| Grid::cover(items * 32, THREADS);
        // SAFETY: x holds nblocks x bs floats; aq, ad/as_ and bsums hold the quantized form of that many
        // blocks; W holds rows x cols weights of type ty in rows of cols/bs blocks; out holds n_in x rows.
        unsafe {
            if k_quant {
                self.launch(
                    "quantize_q8k",
                    warps_grid(nblocks),
                    &[
                        x.arg(),
                        Arg::U64(nblocks as u64),
                        aq.arg(),
                        ad.arg(),
                        bsums.arg(),
                    ],
                )?;
            } else {
                let with_sum = matches!(w.ty, GgmlType::Q4_1 | GgmlType::Q5_1);
                self.launch(
                    "quantize_q8",
                    warps_grid(nblocks),
                    &[
                        x.arg(),
                        Arg::U64(nblocks as u64),
                        Arg::U32(with_sum as u32),
                        aq.arg(),
                        ad.arg(),
                        as_.arg(),
                    ],
                )?;
            }
            self.launch(
                "qmatmul",
                warps_grid(w.rows),
                &[
                    w.data.arg(),
                    Arg::U32(w.ty.id()),
                    Arg::U64(w.rows as u64),
                    Arg::U64(w.cols as u64),
                    Arg::U64(n_in as u64),
                    aq.arg(),
                    ad.arg(),
                    as_.arg(),
                    bsums.arg(),
                    out.arg(),
                ],
            )
        }
    }
}

impl DeviceWeights {
    /// The GPU forward pass: [`Model::hidden`](crate::Model::hidden) with these weights (and `host`'s
    /// configuration and embedding rows) and the device cache `kv` holding `start` positions. Returns the final-norm hidden states of the new positions on the device.
    pub(crate) fn hidden(
        &self,
        host: &Weights,
        kv: &DeviceKv,
        capacity: usize,
        tokens: &[u32],
        start: usize,
    ) -> Result<Buffer<f32>> {
        let c = &host.config;
        let p = Pass { e: &self.exec };
        let (n, d, hd) = (tokens.len(), c.n_embd, c.head_dim);
        let (q_dim, kv_dim) = (c.n_head * hd, c.n_head_kv * hd);
        let gemma = c.arch == Architecture::Gemma3;
        // The embedding rows on the CPU: one row per token, straight from the mapped file.
        let embd = host.matrix(&host.token_embd);
        let mut host = vec![0.0f32; n * d];
        for (t, row) in tokens.iter().zip(host.chunks_exact_mut(d)) {
            embd.row(*t as usize, row);
            if gemma {
                let s = (d as f32).sqrt();
                row.iter_mut().for_each(|v| *v *= s);
            }
        }
        let x = p.e.upload(&host)?;
        let h = p.zeros(n * d)?;
        let q = p.zeros(n * q_dim)?;
        let k = p.zeros(n * kv_dim)?;
        let v = p.zeros(n * kv_dim)?;
        let attn = p.zeros(n * q_dim)?;
        let proj = p.zeros(n * d)?;
        let gate = p.zeros(n * c.n_ff)?;
        let up = p.zeros(n * c.n_ff)?;
        let attention_blocks = (n.min(ATTENTION_ROWS) * c.n_head).min(65_535);
        let scores = p.zeros(attention_blocks * capacity)?;
        let group = c.n_head / c.n_head_kv;
        for (l, b) in self.blocks.iter().enumerate() {
            p.rms_norm(&x, &b.attn_norm, &h, d, c.rms_eps)?;
            p.matmul(&b.wq, &h, &q)?;
            p.matmul(&b.wk, &h, &k)?;
            p.matmul(&b.wv, &h, &v)?;
            for (buf, bias) in [(&q, &b.bq), (&k, &b.bk), (&v, &b.bv)] {
                if let Some(bias) = bias {
                    p.add_bias(buf, bias)?;
                }
            }
            if let (Some(qn), Some(kn)) = (&b.q_norm, &b.k_norm) {
                p.rms_norm(&q, qn, &q, hd, c.rms_eps)?;
                p.rms_norm(&k, kn, &k, hd, c.rms_eps)?;
            }
            let local = c.is_local(l);
            let base = if local {
                c.rope_base_local
            } else {
                c.rope_base
            };
            for (buf, heads) in [(&q, c.n_head), (&k, c.n_head_kv)] {
                let pairs = n * heads * (c.rope_dim / 2);
                // SAFETY: buf holds n x heads x hd floats and rope_dim <= hd.
                unsafe {
                    p.launch(
                        "rope",
                        Grid::cover(pairs, THREADS),
                        &[
                            buf.arg(),
                            Arg::U64(n as u64),
                            Arg::U32(heads as u32),
                            Arg::U32(hd as u32),
                            Arg::U64(start as u64),
                            Arg::F32(c.rope_scale),
                            Arg::F32(base),
                            Arg::U32(c.rope_dim as u32),
                            Arg::U32(c.rope_neox() as u32),
                        ],
                    )?;
                }
            }
            // SAFETY: k and v hold n x kv_dim floats; the layer's caches kv_dim x capacity, and
            // start + n <= capacity (checked by the caller).
            unsafe {
                p.launch(
                    "kv_store",
                    Grid::cover(n * kv_dim, THREADS),
                    &[
                        k.arg(),
                        v.arg(),
                        kv.k[l].arg(),
                        kv.v[l].arg(),
                        Arg::U64(n as u64),
                        Arg::U64(kv_dim as u64),
                        Arg::U64(start as u64),
                        Arg::U64(capacity as u64),
                    ],
                )?;
            }
            let q_scale = if gemma { 1.0 / (hd as f32).sqrt() } else { 1.0 };
            let scale = if gemma { 1.0 } else { 1.0 / (hd as f32).sqrt() };
            // SAFETY: q holds n x q_dim floats.
            unsafe {
                p.launch(
                    "scale_to_f16",
                    Grid::cover(n * q_dim, THREADS),
                    &[q.arg(), Arg::U64((n * q_dim) as u64), Arg::F32(q_scale)],
                )?;
            }
            let window = if local { c.sliding_window } else { 0 };
            for row0 in (0..n).step_by(ATTENTION_ROWS) {
                let rows = ATTENTION_ROWS.min(n - row0);
                let blocks = (rows * c.n_head).min(attention_blocks);
                // SAFETY: q and attn hold n x q_dim floats (rows row0.. < n), the caches kv_dim x capacity
                // with positions < start + n <= capacity filled, scores `blocks` x capacity; 128 threads.
                unsafe {
                    p.launch(
                        "attention",
                        Grid::linear(blocks as u32, 128),
                        &[
                            q.arg(),
                            kv.k[l].arg(),
                            kv.v[l].arg(),
                            attn.arg(),
                            scores.arg(),
                            Arg::U64(row0 as u64),
                            Arg::U64(rows as u64),
                            Arg::U64(start as u64),
                            Arg::U32(c.n_head as u32),
                            Arg::U32(group as u32),
                            Arg::U32(hd as u32),
                            Arg::U64(kv_dim as u64),
                            Arg::U64(capacity as u64),
                            Arg::U64(window as u64),
                            Arg::F32(scale),
                        ],
                    )?;
                }
            }
            p.matmul(&b.wo, &attn, &proj)?;
            if let Some(w) = &b.post_attn_norm {
                p.rms_norm(&proj, w, &proj, d, c.rms_eps)?;
            }
            p.add_into(&x, &proj)?;
            p.rms_norm(&x, &b.ffn_norm, &h, d, c.rms_eps)?;
            p.matmul(&b.w_gate, &h, &gate)?;
            p.matmul(&b.w_up, &h, &up)?;
            // SAFETY: gate and up hold n x n_ff floats.
            unsafe {
                p.launch(
                    "glu",
                    Grid::cover(n * c.n_ff, THREADS),
                    &[
                        gate.arg(),
                        up.arg(),
                        Arg::U64((n * c.n_ff) as u64),
                        Arg::U32(gemma as u32),
                    ],
                )?;
            }
            p.matmul(&b.w_down, &gate, &proj)?;
            if let Some(w) = &b.post_ffn_norm {
                p.rms_norm(&proj, w, &proj, d, c.rms_eps)?;
            }
            p.add_into(&x, &proj)?;
        }
        p.rms_norm(&x, &self.output_norm, &x, d, c.rms_eps)?;
        Ok(x)
    }

    /// Logits on the device of the rows of `hidden` (all, or the last), left on the device.
    fn device_logits(&self, c: &Config, hidden: &Buffer<f32>, all: bool) -> Result<Buffer<f32>> {
        let p = Pass { e: &self.exec };
        let d = c.n_embd;
        let rows = if all {
            p.e.download(hidden)?
        } else {
            let h = p.e.download(hidden)?;
            h[h.len() - d..].to_vec()
        };
        let x = p.e.upload(&rows)?;
        let logits = p.zeros(rows.len() / d * c.n_vocab)?;
        p.matmul(&self.output, &x, &logits)?;
        Ok(logits)
    }

    /// Logits of the rows of `hidden` (all, or the last): positions x vocabulary.
    pub(crate) fn logits(&self, c: &Config, hidden: &Buffer<f32>, all: bool) -> Result<Vec<f32>> {
        let logits = self.device_logits(c, hidden, all)?;
        self.exec.download(&logits).map_err(Error::from)
    }

    /// The greedy choice after the last row of `hidden`, picked on the device: one index comes back instead of
    /// a vocabulary of logits.
    pub(crate) fn argmax(&self, c: &Config, hidden: &Buffer<f32>) -> Result<u32> {
        let logits = self.device_logits(c, hidden, false)?;
        let out = self.exec.zeros::<u32>(1)?;
        // SAFETY: argmax(const float*, unsigned long long n, unsigned*) with n logits and one output; one block
        // of 256 threads, the size of its shared arrays.
        unsafe {
            self.exec.launch(
                "llm",
                "argmax",
                Grid::linear(1, 256),
                &[logits.arg(), Arg::U64(logits.len() as u64), out.arg()],
            )
        }?;
        Ok(self.exec.download(&out)?[0])
    }
}

/// `W x` on the device of `exec` for the `x.len() / w.cols` input rows (row-major), with the kernels the
/// forward pass uses: the GPU twin of [`QMatrix::matmul`](crate::matmul::QMatrix::matmul).
///
/// # Errors
/// [`Error::InvalidArgument`] for a weight type without a GPU kernel, an `x` that is not whole rows, or a
/// device failure.
pub fn matmul_on_device(
    exec: &Executor,
    w: &crate::matmul::QMatrix<'_>,
    x: &[f32],
) -> Result<Vec<f32>> {
    if !GgmlType::INTEGER_DOT.contains(&w.ty) {
        return Err(Error::InvalidArgument {
            name: "w",
            reason: format!("{} has no GPU kernel", w.ty),
        });
    }
    if w.cols == 0 || !x.len().is_multiple_of(w.cols) || w.data.len() != w.rows * w.row_bytes() {
        return Err(Error::InvalidArgument {
            name: "x",
            reason: format!(
                "{} values are not whole rows of {} (or the weights are short)",
                x.len(),
                w.cols
            ),
        });
    }
    let p = Pass { e: exec };
    let m = DeviceMatrix {
        ty: w.ty,
        rows: w.rows,
        cols: w.cols,
        data: exec.upload(w.data)?,
    };
    let xd = exec.upload(x)?;
    let out = p.zeros(x.len() / w.cols * w.rows)?;
    p.matmul(&m, &xd, &out)?;
    exec.download(&out).map_err(Error::from)
}

/// `x` rounded to f16 and back on the device (tests the kernels' conversion against the `half` crate).
///
/// # Errors
/// [`Error::InvalidArgument`] naming `device` when the device fails.
pub fn f16_round_on_device(exec: &Executor, x: &[f32]) -> Result<Vec<f32>> {
    let xd = exec.upload(x)?;
    let out = exec.zeros::<f32>(x.len())?;
    // SAFETY: f16_round_kernel(const float*, float*, unsigned long long n) with n floats in each buffer.
    unsafe {
        exec.launch(
            "llm",
            "f16_round_kernel",
            Grid::cover(x.len(), THREADS),
            &[xd.arg(), out.arg(), Arg::U64(x.len() as u64)],
        )
    }?;
    exec.download(&out).map_err(Error::from)
}
