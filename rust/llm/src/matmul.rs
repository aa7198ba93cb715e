//! Products of quantized weight matrices with f32 activations, computed block by block on the packed
//! weights (each block is expanded into a small stack buffer, never the whole matrix), rows in parallel.

use crate::dequant::block;
use crate::ggml_type::GgmlType;
use rayon::prelude::*;

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
    pub fn matmul(&self, x: &[f32], out: &mut [f32]) {
        debug_assert_eq!(out.len(), x.len() / self.cols * self.rows);
        // One output row per weight row and input: walk the weights once per input.
        for (xi, oi) in x
            .chunks_exact(self.cols)
            .zip(out.chunks_exact_mut(self.rows))
        {
            oi.par_chunks_mut(64).enumerate().for_each(|(c, chunk)| {
                for (k, o) in chunk.iter_mut().enumerate() {
                    *o = self.row_dot(c * 64 + k, xi);
                }
            });
        }
    }
}
