//! Products of quantized weight matrices with f32 activations, computed block by block on the packed
//! weights (each block is expanded into a small stack buffer, never the whole matrix), rows in parallel.

use crate::dequant::block;
use crate::ggml_type::GgmlType;
use crate::quant_dot::{quantize_activation, row_dots_fast, Activation};
use crate::quant_dot_tile::{self, PackedActs, WeightTile};
use rayon::prelude::*;

/// Weight rows per parallel task.
const ROWS_PER_TASK: usize = 16;

/// Weight rows unpacked together for a prompt batch: kept in cache while every input passes.
const ROWS_PER_TILE: usize = 16;

/// Inputs from which a batch goes through unpacked weight tiles (fewer: the per-row kernels, which
/// measured 15% faster for 8 decoding sequences of Qwen2.5-0.5B, and level at 16;
/// benches/bench_llm_batched.py).
const TILE_MIN_INPUTS: usize = 16;

/// A row-major weight matrix in its GGUF encoding: `rows` rows of `cols` weights.
#[derive(Debug, Clone, Copy)]
pub struct QMatrix<'a> {
    /// Block type.
    pub ty: GgmlType,
    /// Output dimension.
    pub rows: usize,
    /// Input dimension (a multiple of the block size).
    pub cols: usize,
    /// rows x row_bytes bytes.
    pub data: &'a [u8],
}

impl QMatrix<'_> {
    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.cols / self.ty.block_size() * self.ty.type_size()
    }

    /// Row `r` dequantised into `out` (length `cols`).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        let rb = self.row_bytes();
        let (bs, ts) = (self.ty.block_size(), self.ty.type_size());
        for (b, y) in self.data[r * rb..(r + 1) * rb]
            .chunks_exact(ts)
            .zip(out.chunks_exact_mut(bs))
        {
            block(self.ty, b, y);
        }
    }

    /// Dot product of row `r` with `x`.
    #[inline]
    fn row_dot(&self, r: usize, x: &[f32]) -> f32 {
        let rb = self.row_bytes();
        if self.ty == GgmlType::F32 {
            // Plain floats: the same running sum as the block loop below, without a call per weight.
            let mut acc = 0.0f32;
            for (w, &xv) in self.data[r * rb..(r + 1) * rb].chunks_exact(4).zip(x) {
                acc += f32::from_le_bytes([w[0], w[1], w[2], w[3]]) * xv;
            }
            return acc;
        }
        let (bs, ts) = (self.ty.block_size(), self.ty.type_size());
        let mut buf = [0.0f32; 256];
        let mut acc = 0.0f32;
        for (b, xs) in self.data[r * rb..(r + 1) * rb]
            .chunks_exact(ts)
            .zip(x.chunks_exact(bs))
        {
            let y = &mut buf[..bs];
            block(self.ty, b, y);
            acc += y.iter().zip(xs).map(|(a, b)| a * b).sum::<f32>();
        }
        acc
    }

    /// `out = W x` for each of the `x.len() / cols` input vectors (row-major), in parallel over rows.
    /// Types with an integer dot product quantize each input once (as llama.cpp does); the others
    /// are multiplied in f32.
    pub fn matmul(&self, x: &[f32], out: &mut [f32]) {
        debug_assert_eq!(out.len(), x.len() / self.cols * self.rows);
        let acts: Vec<Option<Activation>> = x
            .par_chunks_exact(self.cols)
            .map(|xi| quantize_activation(self.ty, xi))
            .collect();
        let n_in = acts.len();
        let quantized: Option<Vec<&Activation>> = acts.iter().map(Option::as_ref).collect();
        let rows_into =
            |first: usize, chunk: &mut [f32]| self.rows_into(x, quantized.as_deref(), first, chunk);
        if n_in == 1 {
            // One input: rows-major is already the output's layout.
            out.par_chunks_mut(ROWS_PER_TASK)
                .enumerate()
                .for_each(|(task, chunk)| rows_into(task * ROWS_PER_TASK, chunk));
            return;
        }
        // Rows outer, inputs inner: each weight row is read once for all inputs (prompt batches).
        let mut by_row = vec![0.0f32; n_in * self.rows];
        let tiled = match &quantized {
            Some(acts) if n_in >= TILE_MIN_INPUTS => self.tile_products(acts, &mut by_row),
            _ => false,
        };
        if !tiled {
            by_row
                .par_chunks_mut(n_in * ROWS_PER_TASK)
                .enumerate()
                .for_each(|(task, chunk)| rows_into(task * ROWS_PER_TASK, chunk));
        }
        // Transpose in tiles of 32 x 32 so that reads and writes both stay within a few cache lines.
        const T: usize = 32;
        for r0 in (0..self.rows).step_by(T) {
            for i0 in (0..n_in).step_by(T) {
                for r in r0..(r0 + T).min(self.rows) {
                    for i in i0..(i0 + T).min(n_in) {
                        out[i * self.rows + r] = by_row[r * n_in + i];
                    }
                }
            }
        }
    }
}

impl QMatrix<'_> {
    /// The product of many inputs through weight tiles unpacked once each (AVX-512 only), into
    /// `by_row` (row-major: each row's results for every input). False, writing nothing, where the
    /// CPU or the type has no tile kernel.
    fn tile_products(&self, acts: &[&Activation], by_row: &mut [f32]) -> bool {
        #[cfg(target_arch = "x86_64")]
        // Only where the tile's sums are bit for bit the AVX2 kernels' (the 32-element types): the
        // K-quant tile sums its float lanes in another order, which moved Gemma 3's perplexity
        // against llama.cpp's by 1-3% (llama.cpp sums K-quant blocks in integers first).
        if crate::quant_dot::avx512()
            && quant_dot_tile::covers(self.ty)
            && self.ty.block_size() == 32
        {
            let packed = PackedActs::pack(self.ty, acts, self.cols);
            let (n_in, rb) = (acts.len(), self.row_bytes());
            by_row
                .par_chunks_mut(n_in * ROWS_PER_TILE)
                .enumerate()
                .for_each_init(WeightTile::default, |tile, (task, chunk)| {
                    let first = task * ROWS_PER_TILE;
                    let rows = &self.data[first * rb..(first + chunk.len() / n_in) * rb];
                    tile.unpack(self.ty, rows, rb, self.cols);
                    // SAFETY: avx512() checked that the CPU has AVX-512 F, BW and VNNI.
                    unsafe { crate::quant_dot_avx512::product(tile, &packed, chunk) };
                });
            return true;
        }
        let _ = (acts, by_row);
        false
    }

    /// Rows `first..` times every input of `x`, into `chunk` (row-major: each row's results for every
    /// input); `acts` holds the quantized inputs for types with an integer dot product.
    fn rows_into(&self, x: &[f32], acts: Option<&[&Activation]>, first: usize, chunk: &mut [f32]) {
        let n_in = x.len() / self.cols;
        let rb = self.row_bytes();
        if let Some(acts) = acts {
            let rows = &self.data[first * rb..(first + chunk.len() / n_in) * rb];
            quantized_rows(self.ty, rows, rb, acts, chunk);
            return;
        }
        for (k, slot) in chunk.chunks_exact_mut(n_in).enumerate() {
            for (i, o) in slot.iter_mut().enumerate() {
                *o = self.row_dot(first + k, &x[i * self.cols..(i + 1) * self.cols]);
            }
        }
    }
}

/// `outs[i] = mats[i] x` for matrices that share their input (a layer's query, key and value
/// projections). For a single input vector every matrix's rows go to the thread pool in one pass: a
/// generated token's products are small, and one dispatch instead of three saves the pool's wake-ups.
pub fn matmul_shared_input(mats: &[QMatrix<'_>], x: &[f32], outs: &mut [&mut [f32]]) {
    if mats.iter().any(|m| m.cols != x.len()) {
        for (m, o) in mats.iter().zip(outs.iter_mut()) {
            m.matmul(x, o);
        }
        return;
    }
    let acts: Vec<Option<Activation>> = mats.iter().map(|m| quantize_activation(m.ty, x)).collect();
    let mut tasks = Vec::new();
    for (i, o) in outs.iter_mut().enumerate() {
        for (t, chunk) in o.chunks_mut(ROWS_PER_TASK).enumerate() {
            tasks.push((i, t * ROWS_PER_TASK, chunk));
        }
    }
    let refs: Vec<Option<[&Activation; 1]>> =
        acts.iter().map(|a| a.as_ref().map(|a| [a])).collect();
    tasks.into_par_iter().for_each(|(i, first, chunk)| {
        mats[i].rows_into(x, refs[i].as_ref().map(|a| &a[..]), first, chunk);
    });
}

/// Dots of consecutive weight rows (`rb` bytes each) with every quantized input, compiled for AVX2 and
/// AVX-512 as well and picked at run time (the integer block loops vectorise far better there than on
/// the x86-64 baseline the wheel targets). No FMA is enabled, so every path rounds alike.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512vnni+avx2+f16c",
    "x86_64+avx2+f16c",
))]
fn quantized_rows(ty: GgmlType, rows: &[u8], rb: usize, acts: &[&Activation], out: &mut [f32]) {
    for (row, slot) in rows.chunks_exact(rb).zip(out.chunks_exact_mut(acts.len())) {
        row_dots_fast(ty, row, acts, slot);
    }
}
