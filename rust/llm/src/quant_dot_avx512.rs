//! AVX-512 (F, BW, VNNI) kernel of the tile product ([`crate::quant_dot_tile`]): a register block of
//! 4 weight rows x 4 tokens, each 64-element chunk one `vpdpbusd` per (row, token) pair (unsigned
//! weight bytes x signed activation bytes, started from the integer offset correction), converted
//! and scaled by the two lane scales into 16 float lanes. Each weight chunk loaded serves 4 tokens,
//! each activation chunk 4 rows, and the caller keeps a tile of weight rows in cache for every token.

use crate::quant_dot_tile::{min_term, PackedActs, WeightTile, CHUNK, LANES};
use std::arch::x86_64::*;

/// True when this CPU runs these kernels.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
}

/// Rows times tokens of one register block: `R` rows from `r0`, `T` tokens from `t0`, without the
/// min term.
// The row and token indices also address the buffers, so index loops read plainest here.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn block<const R: usize, const T: usize, const BLOCK_ORDER: bool>(
    w: &WeightTile,
    r0: usize,
    a: &PackedActs,
    t0: usize,
) -> [[f32; T]; R] {
    let chunks = w.chunks;
    assert!(a.chunks == chunks && r0 + R <= w.rows && t0 + T <= a.tokens);
    assert!(w.q.len() >= w.rows * chunks * CHUNK && w.sw.len() >= w.rows * chunks * LANES);
    assert!(a.qs.len() >= a.tokens * chunks * CHUNK);
    assert!(a.sy.len() >= a.tokens * chunks * LANES && a.corr.len() >= a.tokens * chunks * LANES);
    let wq = w.q[r0 * chunks * CHUNK..].as_ptr();
    let ws = w.sw[r0 * chunks * LANES..].as_ptr();
    let yq = a.qs[t0 * chunks * CHUNK..].as_ptr();
    let ys = a.sy[t0 * chunks * LANES..].as_ptr();
    let yc = a.corr[t0 * chunks * LANES..].as_ptr();
    let mut acc = [[_mm512_setzero_ps(); T]; R];
    // BLOCK_ORDER: eight float lanes summed block after block, as the AVX2 kernels (and llama.cpp's
    // x86 dots) sum them, so the results are theirs bit for bit; the other way sums 16 lanes.
    let mut acc8 = [[_mm256_setzero_ps(); T]; R];
    for c in 0..chunks {
        let mut wv = [_mm512_setzero_si512(); R];
        let mut sv = [_mm512_setzero_ps(); R];
        for r in 0..R {
            // SAFETY: rows r0..r0+R and chunk c lie inside the buffers (asserted above).
            unsafe {
                wv[r] = _mm512_loadu_si512(wq.add((r * chunks + c) * CHUNK).cast());
                sv[r] = _mm512_loadu_ps(ws.add((r * chunks + c) * LANES));
            }
        }
        for t in 0..T {
            // SAFETY: tokens t0..t0+T and chunk c lie inside the buffers (asserted above).
            let (y, sy, corr) = unsafe {
                (
                    _mm512_loadu_si512(yq.add((t * chunks + c) * CHUNK).cast()),
                    _mm512_loadu_ps(ys.add((t * chunks + c) * LANES)),
                    _mm512_loadu_si512(yc.add((t * chunks + c) * LANES).cast()),
                )
            };
            for r in 0..R {
                let dot = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(corr, wv[r], y));
                let scale = _mm512_mul_ps(sv[r], sy);
                if BLOCK_ORDER {
                    let a = _mm256_fmadd_ps(low(dot), low(scale), acc8[r][t]);
                    acc8[r][t] = _mm256_fmadd_ps(high(dot), high(scale), a);
                } else {
                    acc[r][t] = _mm512_fmadd_ps(dot, scale, acc[r][t]);
                }
            }
        }
    }
    let mut out = [[0.0f32; T]; R];
    for r in 0..R {
        for t in 0..T {
            out[r][t] = if BLOCK_ORDER {
                hsum8(acc8[r][t])
            } else {
                _mm512_reduce_add_ps(acc[r][t])
            };
        }
    }
    out
}

/// Lanes 0..8 of `v`.
#[inline]
#[target_feature(enable = "avx512f")]
fn low(v: __m512) -> __m256 {
    _mm512_castps512_ps256(v)
}

/// Lanes 8..16 of `v`.
#[inline]
#[target_feature(enable = "avx512f")]
fn high(v: __m512) -> __m256 {
    _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))
}

/// The eight lanes summed in the AVX2 kernels' order.
#[inline]
#[target_feature(enable = "avx512f")]
fn hsum8(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// One register block with its min terms into `out[r * tokens + t]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn block_into<const R: usize, const T: usize>(
    w: &WeightTile,
    r0: usize,
    a: &PackedActs,
    t0: usize,
    out: &mut [f32],
) {
    let v = if w.block_order {
        block::<R, T, true>(w, r0, a, t0)
    } else {
        block::<R, T, false>(w, r0, a, t0)
    };
    for (r, vr) in v.iter().enumerate() {
        for (t, x) in vr.iter().enumerate() {
            out[(r0 + r) * a.tokens + t0 + t] = x + min_term(w, r0 + r, a, t0 + t);
        }
    }
}

/// Rows of a register block.
const BR: usize = 4;
/// Tokens of a register block.
const BT: usize = 4;

/// `R` rows from `r0` times `nt` (1..=4) tokens from `t0`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn rows_into<const R: usize>(
    w: &WeightTile,
    r0: usize,
    a: &PackedActs,
    t0: usize,
    nt: usize,
    out: &mut [f32],
) {
    match nt {
        4 => block_into::<R, 4>(w, r0, a, t0, out),
        3 => block_into::<R, 3>(w, r0, a, t0, out),
        2 => block_into::<R, 2>(w, r0, a, t0, out),
        _ => block_into::<R, 1>(w, r0, a, t0, out),
    }
}

/// The tile product: `out[r * tokens + t]` = dot of weight row `r` of the tile with token `t`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) fn product(w: &WeightTile, a: &PackedActs, out: &mut [f32]) {
    assert_eq!(out.len(), w.rows * a.tokens);
    for t0 in (0..a.tokens).step_by(BT) {
        let nt = BT.min(a.tokens - t0);
        for r0 in (0..w.rows).step_by(BR) {
            match BR.min(w.rows - r0) {
                4 => rows_into::<4>(w, r0, a, t0, nt, out),
                3 => rows_into::<3>(w, r0, a, t0, nt, out),
                2 => rows_into::<2>(w, r0, a, t0, nt, out),
                _ => rows_into::<1>(w, r0, a, t0, nt, out),
            }
        }
    }
}
