//! The transformer forward pass on the CPU for the llama, qwen2 and gemma3 graphs (as llama.cpp builds
//! them in src/models/), multiplying the quantized weights where the file maps them, with an f16-rounded
//! KV cache as llama.cpp's default one.

use crate::config::{Architecture, Config};
use crate::error::{Error, Result};
use crate::internals::Recorder;
use crate::matmul::matmul_shared_input;
use crate::weights::{Block, Weights};
use rayon::prelude::*;

/// Keys and values on the host, per layer. Keys are stored transposed (per KV head, one row of
/// `capacity` positions for each dimension) so that a query's dot products with every position run
/// along contiguous rows; values are stored position by position.
#[derive(Debug)]
pub(crate) struct HostKv {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    capacity: usize,
    kv_dim: usize,
}

impl HostKv {
    /// An empty cache for `capacity` positions of a model of `config`.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] when the cache's size overflows or cannot be allocated.
    pub(crate) fn new(config: &Config, capacity: usize) -> Result<Self> {
        let kv_dim = config.n_head_kv * config.head_dim;
        let per_layer = crate::weights::kv_buffer_len(config, capacity)?;
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
            capacity,
            kv_dim,
        })
    }

    /// A cache of `capacity` positions holding the first `len` of this one's (`len` is at most both
    /// capacities and the positions held), its memory reserved fallibly as [`HostKv::new`] reserves it.
    pub(crate) fn copy_prefix(&self, config: &Config, len: usize, capacity: usize) -> Result<Self> {
        let mut out = Self::new(config, capacity)?;
        for (dst, src) in out.k.iter_mut().zip(&self.k) {
            crate::weights::copy_key_prefix(src, self.capacity, dst, capacity, len, self.kv_dim);
        }
        for (dst, src) in out.v.iter_mut().zip(&self.v) {
            dst.extend_from_slice(&src[..len * self.kv_dim]);
        }
        Ok(out)
    }

    /// Forgets every position from `keep` on (transposed keys past it are simply overwritten later).
    pub(crate) fn truncate(&mut self, keep: usize) {
        for v in &mut self.v {
            v.truncate(keep * self.kv_dim);
        }
    }
}

/// One sequence of a batched pass: its cache, the positions already in it, and how many of the
/// batch's rows (consecutive, in batch order) are its new tokens.
pub(crate) struct Segment<'a> {
    pub(crate) kv: &'a mut HostKv,
    pub(crate) start: usize,
    pub(crate) rows: usize,
}

impl Weights {
    /// The last layer's hidden states of `tokens` after the final norm (positions x n_embd), the
    /// tokens at positions `start..` after the `start` already in `kv`, whose keys and values are
    /// appended. The caller has checked the tokens and the room.
    pub(crate) fn hidden_on_host(&self, tokens: &[u32], kv: &mut HostKv, start: usize) -> Vec<f32> {
        self.hidden_on_host_probed(tokens, kv, start, None)
    }

    /// [`Weights::hidden_on_host`], filling `rec` (when given) with what its probe asks for.
    pub(crate) fn hidden_on_host_probed(
        &self,
        tokens: &[u32],
        kv: &mut HostKv,
        start: usize,
        rec: Option<&mut Recorder>,
    ) -> Vec<f32> {
        let mut one = [Segment {
            kv,
            start,
            rows: tokens.len(),
        }];
        self.run_layers(tokens, &mut one, rec)
    }

    /// [`Weights::hidden_on_host`] for several independent sequences in one pass: `tokens` holds every
    /// segment's new tokens back to back. Each matrix is read once for all rows (what makes batched
    /// decoding cheaper than one pass per sequence); attention stays within each segment's cache.
    pub(crate) fn hidden_on_host_batch(
        &self,
        tokens: &[u32],
        segments: &mut [Segment<'_>],
    ) -> Vec<f32> {
        self.run_layers(tokens, segments, None)
    }

    /// The pass itself; a recorder only ever comes with a single segment.
    fn run_layers(
        &self,
        tokens: &[u32],
        segments: &mut [Segment<'_>],
        mut rec: Option<&mut Recorder>,
    ) -> Vec<f32> {
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
        for (l, b) in self.blocks.iter().enumerate() {
            let probs = match rec.as_deref_mut() {
                Some(r) => {
                    r.hidden_at(l, &x);
                    r.attention_slot(l)
                }
                None => None,
            };
            self.block(l, b, &mut x, segments, probs);
        }
        if let Some(r) = rec {
            r.hidden_at(self.blocks.len(), &x);
        }
        for row in x.chunks_exact_mut(d) {
            rms_norm(row, &self.output_norm, c.rms_eps);
        }
        x
    }

    /// Logits of the rows of `hidden` (all, or the last only): positions x vocabulary.
    pub(crate) fn logits_on_host(&self, hidden: &[f32], all: bool) -> Vec<f32> {
        let d = self.config.n_embd;
        let rows = if all {
            hidden
        } else {
            &hidden[hidden.len() - d..]
        };
        let mut logits = vec![0.0f32; rows.len() / d * self.config.n_vocab];
        self.matrix(&self.output).matmul(rows, &mut logits);
        logits
    }

    /// Layer `l` over the rows of `x`; `probs` (rows to record, rows x heads x context) gets the
    /// attention probabilities of those rows, recomputed after the pass so that the pass itself runs
    /// as it does unrecorded.
    fn block(
        &self,
        l: usize,
        b: &Block,
        x: &mut [f32],
        segments: &mut [Segment<'_>],
        probs: Option<(&[usize], &mut [f32])>,
    ) {
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
        // Row r of the batch is segment seg_of_row[r]'s position start + (r - first row).
        let mut seg_of_row = Vec::with_capacity(n);
        let mut first_row = Vec::with_capacity(segments.len());
        for (s, seg) in segments.iter().enumerate() {
            first_row.push(seg_of_row.len());
            seg_of_row.extend(std::iter::repeat_n(s, seg.rows));
        }
        for (r, &s) in seg_of_row.iter().enumerate() {
            let pos = (segments[s].start + r - first_row[s]) as f32 / c.rope_scale;
            for hv in q[r * q_dim..(r + 1) * q_dim].chunks_exact_mut(hd) {
                rope(hv, pos, base, c.rope_dim, c.rope_neox(), factors);
            }
            for hv in k[r * kv_dim..(r + 1) * kv_dim].chunks_exact_mut(hd) {
                rope(hv, pos, base, c.rope_dim, c.rope_neox(), factors);
            }
        }
        // llama.cpp keeps K and V in f16 and multiplies them in f16 (queries and probabilities too).
        for (seg, &r0) in segments.iter_mut().zip(&first_row) {
            let (cap, start) = (seg.kv.capacity, seg.start);
            let rows = r0 * kv_dim..(r0 + seg.rows) * kv_dim;
            for (i, row) in k[rows.clone()].chunks_exact(kv_dim).enumerate() {
                for (j, &value) in row.iter().enumerate() {
                    seg.kv.k[l][j * cap + start + i] = f16_round(value);
                }
            }
            seg.kv.v[l].extend(v[rows].iter().map(|&v| f16_round(v)));
        }
        // Gemma 3 scales the queries before attention (kq scale 1); the others scale the products.
        let gemma = c.arch == Architecture::Gemma3;
        let q_scale = if gemma { 1.0 / (hd as f32).sqrt() } else { 1.0 };
        q.iter_mut().for_each(|v| *v = f16_round(*v * q_scale));
        let caches: Vec<(&[f32], &[f32], usize, usize)> = segments
            .iter()
            .map(|s| (&s.kv.k[l][..], &s.kv.v[l][..], s.kv.capacity, s.start))
            .collect();
        let group = c.n_head / c.n_head_kv;
        let scale = if gemma { 1.0 } else { 1.0 / (hd as f32).sqrt() };
        // Row r's query of `head`, the cached head it reads, and the positions it sees.
        let query = |r: usize, head: usize| {
            let s = seg_of_row[r];
            let (kc, vc, cap, start) = caches[s];
            let pos = start + r - first_row[s];
            let first = if local && c.sliding_window > 0 {
                (pos + 1).saturating_sub(c.sliding_window)
            } else {
                0
            };
            let kvh = head / group;
            let view = HeadView {
                keys_t: &kc[kvh * hd * cap..(kvh + 1) * hd * cap],
                capacity: cap,
                values: vc,
                stride: kv_dim,
                offset: kvh * hd,
                dim: hd,
            };
            let qv = &q[r * q_dim + head * hd..r * q_dim + (head + 1) * hd];
            (qv, first, pos, view)
        };
        let mut attn = vec![0.0f32; n * q_dim];
        // One task per (row, head): each writes its own `hd` outputs.
        attn.par_chunks_mut(hd)
            .enumerate()
            .for_each_init(Vec::new, |scores, (task, out)| {
                let (qv, first, pos, view) = query(task / c.n_head, task % c.n_head);
                attend(qv, first, pos, &view, scale, scores, out);
            });
        if let Some((rows, buf)) = probs {
            if let Some(context) = buf.len().checked_div(c.n_head * rows.len()) {
                let mut scores = Vec::new();
                for (dst, task) in buf.chunks_exact_mut(context).zip(
                    rows.iter()
                        .flat_map(|&r| (0..c.n_head).map(move |h| (r, h))),
                ) {
                    let (qv, first, pos, view) = query(task.0, task.1);
                    attention_probabilities(qv, first, pos, &view, scale, &mut scores);
                    dst[first..=pos].copy_from_slice(&scores);
                }
            }
        }
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
    attention_probabilities(q, first, pos, head, scale, scores);
    for (j, p) in (first..=pos).enumerate() {
        out.iter_mut()
            .zip(head.value(p))
            .for_each(|(o, v)| *o += scores[j] * v);
    }
}

/// The probabilities one query gives positions `first..=pos` into `scores`, as [`attend`] weighs the
/// values with them (inlined there, so compiled for its targets too).
#[inline(always)]
fn attention_probabilities(
    q: &[f32],
    first: usize,
    pos: usize,
    head: &HeadView<'_>,
    scale: f32,
    scores: &mut Vec<f32>,
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
