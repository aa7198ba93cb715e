//! AVX2 + FMA dot products of quantized weight rows with quantized activations: the same integer
//! block sums as the portable [`crate::quant_dot::row_dot`], computed 32 bytes at a time the way
//! ggml-cpu's x86 kernels do (`_mm256_maddubs_epi16` on unsigned x signed bytes, the sign trick for
//! signed x signed, one fused multiply-add of the block scale into eight float lanes). Only the order
//! of the float additions differs from the portable path; tests compare the two.

use crate::dequant::scale_min_k4;
use crate::quant_dot::{Q8Block, Q8KBlock};
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

/// The same for two signed operands: |x| times y with x's sign moved onto it.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_i8_i8(x: __m256i, y: __m256i) -> __m256i {
    dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
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

/// Q8_0 row (34-byte blocks) with Q8_0 activations.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q8_0(row: &[u8], y: &[Q8Block]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (b, yb) in row.chunks_exact(34).zip(y) {
        prefetch(b);
        let p = dot_i8_i8(load32(&b[2..]), load_i8(&yb.qs));
        let d = _mm256_set1_ps(f16_at(b, 0) * yb.d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    hsum(acc)
}

/// Q4_0 (18-byte blocks) or Q4_1 (20-byte blocks, with a min) row with Q8_0/Q8_1 activations.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q4(row: &[u8], y: &[Q8Block], with_min: bool) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0.0f32;
    let (ts, off) = if with_min { (20, 4) } else { (18, 2) };
    for (b, yb) in row.chunks_exact(ts).zip(y) {
        prefetch(b);
        let q = nibbles(&b[off..off + 16]);
        let p = if with_min {
            mins += f16_at(b, 2) * yb.s;
            dot_u8_i8(q, load_i8(&yb.qs))
        } else {
            dot_i8_i8(_mm256_sub_epi8(q, _mm256_set1_epi8(8)), load_i8(&yb.qs))
        };
        let d = _mm256_set1_ps(f16_at(b, 0) * yb.d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    hsum(acc) + mins
}

/// Q5_0 (22-byte blocks) or Q5_1 (24-byte blocks, with a min) row with Q8_0/Q8_1 activations.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q5(row: &[u8], y: &[Q8Block], with_min: bool) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0.0f32;
    let (ts, at) = if with_min { (24, 4) } else { (22, 2) };
    for (b, yb) in row.chunks_exact(ts).zip(y) {
        prefetch(b);
        let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let lo = nibbles(&b[at + 4..at + 20]);
        let high = bits_to_bytes(qh);
        let p = if with_min {
            mins += f16_at(b, 2) * yb.s;
            let q = _mm256_or_si256(lo, _mm256_and_si256(high, _mm256_set1_epi8(0x10)));
            dot_u8_i8(q, load_i8(&yb.qs))
        } else {
            // nibble - 16 where the fifth bit is clear: 0xF0 | nibble read as a signed byte.
            let q = _mm256_or_si256(lo, _mm256_andnot_si256(high, _mm256_set1_epi8(-16)));
            dot_i8_i8(q, load_i8(&yb.qs))
        };
        let d = _mm256_set1_ps(f16_at(b, 0) * yb.d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    hsum(acc) + mins
}

/// Q4_K row (144-byte super-blocks) with Q8_K activations.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q4k(row: &[u8], y: &[Q8KBlock]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0.0f32;
    let low = _mm256_set1_epi8(0x0f);
    for (b, yb) in row.chunks_exact(144).zip(y) {
        prefetch(b);
        let (scales, qs) = (&b[4..16], &b[16..144]);
        let mut sumi = _mm256_setzero_si256();
        let mut sum_mins = 0i32;
        for j in 0..4 {
            let (sc_l, m_l) = scale_min_k4(2 * j, scales);
            let (sc_h, m_h) = scale_min_k4(2 * j + 1, scales);
            sum_mins += m_l as i32 * (yb.bsums[4 * j] as i32 + yb.bsums[4 * j + 1] as i32)
                + m_h as i32 * (yb.bsums[4 * j + 2] as i32 + yb.bsums[4 * j + 3] as i32);
            let q4 = load32(&qs[32 * j..]);
            let q_l = _mm256_and_si256(q4, low);
            let q_h = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low);
            let p_l = _mm256_maddubs_epi16(q_l, load_i8(&yb.qs[64 * j..]));
            let p_h = _mm256_maddubs_epi16(q_h, load_i8(&yb.qs[64 * j + 32..]));
            let p_l = _mm256_madd_epi16(p_l, _mm256_set1_epi16(sc_l as i16));
            let p_h = _mm256_madd_epi16(p_h, _mm256_set1_epi16(sc_h as i16));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_l, p_h));
        }
        let d = _mm256_set1_ps(f16_at(b, 0) * yb.d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
        mins += f16_at(b, 2) * yb.d * sum_mins as f32;
    }
    hsum(acc) - mins
}

/// Q6_K row (210-byte super-blocks) with Q8_K activations.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q6k(row: &[u8], y: &[Q8KBlock]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let (low, two) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(3));
    let m32 = _mm256_set1_epi8(32);
    for (b, yb) in row.chunks_exact(210).zip(y) {
        prefetch(b);
        let (ql_all, qh_all, sc) = (&b[0..128], &b[128..192], &b[192..208]);
        let mut sumi = _mm256_setzero_si256();
        for n in 0..2 {
            let (ql, qh) = (&ql_all[64 * n..], load32(&qh_all[32 * n..]));
            let (ql0, ql1) = (load32(ql), load32(&ql[32..]));
            let high = |shift: i32| {
                let h = match shift {
                    0 => qh,
                    2 => _mm256_srli_epi16(qh, 2),
                    4 => _mm256_srli_epi16(qh, 4),
                    _ => _mm256_srli_epi16(qh, 6),
                };
                _mm256_slli_epi16(_mm256_and_si256(h, two), 4)
            };
            let q = [
                _mm256_or_si256(_mm256_and_si256(ql0, low), high(0)),
                _mm256_or_si256(_mm256_and_si256(ql1, low), high(2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low), high(4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low), high(6)),
            ];
            for (k, qk) in q.into_iter().enumerate() {
                let y8 = load_i8(&yb.qs[128 * n + 32 * k..]);
                // (q - 32) * y, as q * y - 32 * y: both fit i16 pair sums.
                let p =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(qk, y8), _mm256_maddubs_epi16(m32, y8));
                let s = _mm256_set_m128i(
                    _mm_set1_epi16(sc[8 * n + 2 * k + 1] as i8 as i16),
                    _mm_set1_epi16(sc[8 * n + 2 * k] as i8 as i16),
                );
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, s));
            }
        }
        let d = _mm256_set1_ps(f16_at(b, 208) * yb.d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}
