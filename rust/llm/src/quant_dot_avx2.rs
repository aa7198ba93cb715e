//! AVX2 + FMA dot products of quantized weight rows with quantized activations: the same integer
//! block sums as the portable [`crate::quant_dot::row_dot`], computed 32 bytes at a time the way
//! ggml-cpu's x86 kernels do (`_mm256_maddubs_epi16` on unsigned x signed bytes, the sign trick for
//! signed x signed, one fused multiply-add of the block scale into eight float lanes). Only the order
//! of the float additions differs from the portable path; tests compare the two.
//!
//! Each kernel multiplies one weight row with up to [`TILE`] activation rows at once, so a prompt
//! batch unpacks every weight block once for several tokens.

use crate::dequant::scale_min_k4;
use crate::ggml_type::GgmlType;
use crate::quant_dot::{Activation, Q8Block, Q8KBlock};
use std::arch::x86_64::*;

/// True when this CPU runs these kernels.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_at(b: &[u8], i: usize) -> f32 {
    let bits = u16::from_le_bytes([b[i], b[i + 1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load32(b: &[u8]) -> __m256i {
    assert!(b.len() >= 32);
    // SAFETY: 32 readable bytes, checked above; unaligned load.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_i8(q: &[i8]) -> __m256i {
    assert!(q.len() >= 32);
    // SAFETY: 32 readable bytes, checked above; unaligned load.
    unsafe { _mm256_loadu_si256(q.as_ptr().cast()) }
}

/// Asks for the cache line `AHEAD` bytes past `b` (a hint: never faults, even past the end).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn prefetch(b: &[u8]) {
    const AHEAD: usize = 4096;
    // A hint that never faults; wrapping_add keeps the pointer arithmetic defined past the end.
    _mm_prefetch::<_MM_HINT_T0>(b.as_ptr().wrapping_add(AHEAD).cast())
}

/// Sums of adjacent products of unsigned `x` and signed `y` bytes, as eight i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_u8_i8(x: __m256i, y: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1))
}

/// The 32 nibbles of 16 bytes: low nibbles as elements 0..16, high nibbles as 16..32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles(qs: &[u8]) -> __m256i {
    assert!(qs.len() >= 16);
    // SAFETY: 16 readable bytes, checked above.
    let lo = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let hi = _mm_srli_epi16(lo, 4);
    _mm256_and_si256(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(0x0f))
}

/// 0xFF in byte j where bit j of the 32-bit word is set, 0 elsewhere.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bits_to_bytes(bits: u32) -> __m256i {
    let shuffle = _mm256_set_epi64x(
        0x0303030303030303,
        0x0202020202020202,
        0x0101010101010101,
        0,
    );
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(bits as i32), shuffle);
    let with_others = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    _mm256_cmpeq_epi8(with_others, _mm256_set1_epi64x(-1))
}

/// Activation rows that share each unpacked weight block.
pub(crate) const TILE: usize = 4;

/// The float lanes of each accumulator, summed.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsums<const N: usize>(acc: [__m256; N]) -> [f32; N] {
    let mut out = [0.0; N];
    for (o, a) in out.iter_mut().zip(acc) {
        *o = hsum(a);
    }
    out
}

/// Q8_0 row (34-byte blocks) with Q8_0 activations.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q8_0<const N: usize>(row: &[u8], ys: [&[Q8Block]; N]) -> [f32; N] {
    let mut acc = [_mm256_setzero_ps(); N];
    for (i, b) in row.chunks_exact(34).enumerate() {
        prefetch(b);
        let x = load32(&b[2..]);
        let ax = _mm256_sign_epi8(x, x);
        let dx = f16_at(b, 0);
        for (a, y) in acc.iter_mut().zip(ys) {
            let yb = &y[i];
            let p = dot_u8_i8(ax, _mm256_sign_epi8(load_i8(&yb.qs), x));
            *a = _mm256_fmadd_ps(_mm256_set1_ps(dx * yb.d), _mm256_cvtepi32_ps(p), *a);
        }
    }
    hsums(acc)
}

/// Adds one block of 32 weights `x` (scale `dx`, min `mx`) times each activation block into the
/// accumulators: unsigned weights with a min when `MIN` (Q4_1, Q5_1), signed ones otherwise, whose
/// sign moves onto the activations so that the product still takes unsigned x signed bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn block_into<const N: usize, const MIN: bool>(
    x: __m256i,
    dx: f32,
    mx: f32,
    ys: [&Q8Block; N],
    acc: &mut [__m256; N],
    mins: &mut [f32; N],
) {
    let ax = if MIN { x } else { _mm256_sign_epi8(x, x) };
    for ((a, m), yb) in acc.iter_mut().zip(mins.iter_mut()).zip(ys) {
        let y8 = load_i8(&yb.qs);
        let p = if MIN {
            *m += mx * yb.s;
            dot_u8_i8(ax, y8)
        } else {
            dot_u8_i8(ax, _mm256_sign_epi8(y8, x))
        };
        *a = _mm256_fmadd_ps(_mm256_set1_ps(dx * yb.d), _mm256_cvtepi32_ps(p), *a);
    }
}

/// Q4_0 (18-byte blocks) or, with `MIN`, Q4_1 (20-byte blocks) row with Q8_0/Q8_1 activations.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q4<const N: usize, const MIN: bool>(row: &[u8], ys: [&[Q8Block]; N]) -> [f32; N] {
    let mut acc = [_mm256_setzero_ps(); N];
    let mut mins = [0.0f32; N];
    let (ts, off) = if MIN { (20, 4) } else { (18, 2) };
    for (i, b) in row.chunks_exact(ts).enumerate() {
        prefetch(b);
        let q = nibbles(&b[off..off + 16]);
        // Q4_0 is signed (nibble - 8): |x| times y with x's sign moved onto y.
        let x = if MIN {
            q
        } else {
            _mm256_sub_epi8(q, _mm256_set1_epi8(8))
        };
        let mx = if MIN { f16_at(b, 2) } else { 0.0 };
        block_into::<N, MIN>(x, f16_at(b, 0), mx, ys.map(|y| &y[i]), &mut acc, &mut mins);
    }
    let mut out = hsums(acc);
    for (o, m) in out.iter_mut().zip(mins) {
        *o += m;
    }
    out
}

/// Q5_0 (22-byte blocks) or, with `MIN`, Q5_1 (24-byte blocks) row with Q8_0/Q8_1 activations.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q5<const N: usize, const MIN: bool>(row: &[u8], ys: [&[Q8Block]; N]) -> [f32; N] {
    let mut acc = [_mm256_setzero_ps(); N];
    let mut mins = [0.0f32; N];
    let (ts, at) = if MIN { (24, 4) } else { (22, 2) };
    for (i, b) in row.chunks_exact(ts).enumerate() {
        prefetch(b);
        let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let lo = nibbles(&b[at + 4..at + 20]);
        let high = bits_to_bytes(qh);
        let x = if MIN {
            _mm256_or_si256(lo, _mm256_and_si256(high, _mm256_set1_epi8(0x10)))
        } else {
            // nibble - 16 where the fifth bit is clear: 0xF0 | nibble read as a signed byte.
            _mm256_or_si256(lo, _mm256_andnot_si256(high, _mm256_set1_epi8(-16)))
        };
        let mx = if MIN { f16_at(b, 2) } else { 0.0 };
        block_into::<N, MIN>(x, f16_at(b, 0), mx, ys.map(|y| &y[i]), &mut acc, &mut mins);
    }
    let mut out = hsums(acc);
    for (o, m) in out.iter_mut().zip(mins) {
        *o += m;
    }
    out
}

/// Q4_K row (144-byte super-blocks) with Q8_K activations.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q4k<const N: usize>(row: &[u8], ys: [&[Q8KBlock]; N]) -> [f32; N] {
    let mut acc = [_mm256_setzero_ps(); N];
    let mut mins = [0.0f32; N];
    let low = _mm256_set1_epi8(0x0f);
    for (i, b) in row.chunks_exact(144).enumerate() {
        prefetch(b);
        let (scales, qs) = (&b[4..16], &b[16..144]);
        let mut sc = [0i16; 8];
        let mut mn = [0i32; 8];
        for (j, (s, m)) in sc.iter_mut().zip(&mut mn).enumerate() {
            let (s8, m8) = scale_min_k4(j, scales);
            (*s, *m) = (s8 as i16, m8 as i32);
        }
        let mut q = [_mm256_setzero_si256(); 8];
        for j in 0..4 {
            let q4 = load32(&qs[32 * j..]);
            q[2 * j] = _mm256_and_si256(q4, low);
            q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low);
        }
        let (dx, mx) = (f16_at(b, 0), f16_at(b, 2));
        for ((a, m), y) in acc.iter_mut().zip(&mut mins).zip(ys) {
            let yb = &y[i];
            let mut sumi = _mm256_setzero_si256();
            let mut sum_mins = 0i32;
            for j in 0..8 {
                let p = _mm256_maddubs_epi16(q[j], load_i8(&yb.qs[32 * j..]));
                let p = _mm256_madd_epi16(p, _mm256_set1_epi16(sc[j]));
                sumi = _mm256_add_epi32(sumi, p);
                sum_mins += mn[j] * (yb.bsums[2 * j] as i32 + yb.bsums[2 * j + 1] as i32);
            }
            *a = _mm256_fmadd_ps(_mm256_set1_ps(dx * yb.d), _mm256_cvtepi32_ps(sumi), *a);
            *m += mx * yb.d * sum_mins as f32;
        }
    }
    let mut out = hsums(acc);
    for (o, m) in out.iter_mut().zip(mins) {
        *o -= m;
    }
    out
}

/// Q6_K row (210-byte super-blocks) with Q8_K activations.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q6k<const N: usize>(row: &[u8], ys: [&[Q8KBlock]; N]) -> [f32; N] {
    let mut acc = [_mm256_setzero_ps(); N];
    let (low, two) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(3));
    let m32 = _mm256_set1_epi8(32);
    for (i, b) in row.chunks_exact(210).enumerate() {
        prefetch(b);
        let (ql_all, qh_all, sc) = (&b[0..128], &b[128..192], &b[192..208]);
        // The eight groups of 32 six-bit values (unsigned; 32 is subtracted through the y sums) and
        // their scales for elements 0..16 and 16..32.
        let mut q = [_mm256_setzero_si256(); 8];
        let mut scales = [_mm256_setzero_si256(); 8];
        for n in 0..2 {
            let (ql, qh) = (&ql_all[64 * n..], load32(&qh_all[32 * n..]));
            let (ql0, ql1) = (load32(ql), load32(&ql[32..]));
            let h = |v: __m256i| _mm256_slli_epi16(_mm256_and_si256(v, two), 4);
            q[4 * n] = _mm256_or_si256(_mm256_and_si256(ql0, low), h(qh));
            q[4 * n + 1] = _mm256_or_si256(_mm256_and_si256(ql1, low), h(_mm256_srli_epi16(qh, 2)));
            q[4 * n + 2] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low),
                h(_mm256_srli_epi16(qh, 4)),
            );
            q[4 * n + 3] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low),
                h(_mm256_srli_epi16(qh, 6)),
            );
            for k in 0..4 {
                scales[4 * n + k] = _mm256_set_m128i(
                    _mm_set1_epi16(sc[8 * n + 2 * k + 1] as i8 as i16),
                    _mm_set1_epi16(sc[8 * n + 2 * k] as i8 as i16),
                );
            }
        }
        let dx = f16_at(b, 208);
        for (a, y) in acc.iter_mut().zip(ys) {
            let yb = &y[i];
            let mut sumi = _mm256_setzero_si256();
            for g in 0..8 {
                let y8 = load_i8(&yb.qs[32 * g..]);
                // (q - 32) * y, as q * y - 32 * y: both fit i16 pair sums.
                let p = _mm256_sub_epi16(
                    _mm256_maddubs_epi16(q[g], y8),
                    _mm256_maddubs_epi16(m32, y8),
                );
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scales[g]));
            }
            *a = _mm256_fmadd_ps(_mm256_set1_ps(dx * yb.d), _mm256_cvtepi32_ps(sumi), *a);
        }
    }
    hsums(acc)
}

/// The Q8 blocks of each activation, when they all have that form.
fn q8<'a, const N: usize>(acts: &[&'a Activation]) -> Option<[&'a [Q8Block]; N]> {
    let mut out: [&[Q8Block]; N] = [&[]; N];
    for (o, a) in out.iter_mut().zip(acts) {
        let Activation::Q8(y) = a else { return None };
        *o = y;
    }
    Some(out)
}

/// The Q8_K blocks of each activation, when they all have that form.
fn q8k<'a, const N: usize>(acts: &[&'a Activation]) -> Option<[&'a [Q8KBlock]; N]> {
    let mut out: [&[Q8KBlock]; N] = [&[]; N];
    for (o, a) in out.iter_mut().zip(acts) {
        let Activation::Q8K(y) = a else { return None };
        *o = y;
    }
    Some(out)
}

/// `N` dots of one row; None for a type (or activation form) these kernels do not cover.
#[target_feature(enable = "avx2,fma,f16c")]
fn tile<const N: usize>(ty: GgmlType, row: &[u8], acts: &[&Activation]) -> Option<[f32; N]> {
    Some(match ty {
        GgmlType::Q8_0 => dot_q8_0(row, q8::<N>(acts)?),
        GgmlType::Q4_0 => dot_q4::<N, false>(row, q8::<N>(acts)?),
        GgmlType::Q4_1 => dot_q4::<N, true>(row, q8::<N>(acts)?),
        GgmlType::Q5_0 => dot_q5::<N, false>(row, q8::<N>(acts)?),
        GgmlType::Q5_1 => dot_q5::<N, true>(row, q8::<N>(acts)?),
        GgmlType::Q4K => dot_q4k(row, q8k::<N>(acts)?),
        GgmlType::Q6K => dot_q6k(row, q8k::<N>(acts)?),
        _ => return None,
    })
}

/// Dots of one weight row with every activation in `acts`, [`TILE`] at a time, into `out`. Returns
/// false, writing nothing, for a type these kernels do not cover.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn row_dots(ty: GgmlType, row: &[u8], acts: &[&Activation], out: &mut [f32]) -> bool {
    for (a, o) in acts.chunks(TILE).zip(out.chunks_mut(TILE)) {
        let done = match a.len() {
            4 => tile::<4>(ty, row, a).map(|v| o.copy_from_slice(&v)),
            3 => tile::<3>(ty, row, a).map(|v| o.copy_from_slice(&v)),
            2 => tile::<2>(ty, row, a).map(|v| o.copy_from_slice(&v)),
            _ => tile::<1>(ty, row, a).map(|v| o.copy_from_slice(&v)),
        };
        if done.is_none() {
            return false;
        }
    }
    true
}
