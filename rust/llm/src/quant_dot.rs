//! Dot products of quantized weight rows with quantized activations, with llama.cpp's CPU semantics
//! (ggml-cpu/quants.c `ggml_vec_dot_*_generic`): the activation row is quantized once to Q8_0, Q8_1 or
//! Q8_K (ggml's `vec_dot_type` for the weight type), each block's products are summed in integers and
//! scaled once. Matching the quantization, not only the algebra, keeps logits close to llama.cpp's.

use crate::dequant::{q6k_values, scale_min_k4};
use crate::ggml_type::GgmlType;
use half::f16;

/// 32 activations quantized to 8 bits with one scale (and, for Q8_1, the scaled sum).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q8Block {
    pub(crate) d: f32,
    pub(crate) s: f32,
    pub(crate) qs: [i8; 32],
}

/// 256 activations quantized to 8 bits, with sums of each 16.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Q8KBlock {
    pub(crate) d: f32,
    pub(crate) qs: [i8; 256],
    pub(crate) bsums: [i16; 16],
}

/// An activation row in the form its weight type's dot product wants.
pub(crate) enum Activation {
    Q8(Vec<Q8Block>),
    Q8K(Vec<Q8KBlock>),
}

fn round_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// quantize_row_q8_0 / q8_1: d = max|x| / 127, q = round(x / d) (ties away from zero), d kept as f16.
// Compiled for AVX2 too, where rounding is an instruction instead of a libm call (same results:
// Rust never contracts a multiply and an add into an FMA).
#[multiversion::multiversion(targets("x86_64+avx2+fma+f16c"))]
fn quantize_q8(x: &[f32], with_sum: bool) -> Vec<Q8Block> {
    x.chunks_exact(32)
        .map(|xs| {
            let amax = xs.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let mut qs = [0i8; 32];
            let mut sum = 0i32;
            for (q, &v) in qs.iter_mut().zip(xs) {
                *q = (v * id).round() as i8;
                sum += *q as i32;
            }
            Q8Block {
                d: round_f16(d),
                s: if with_sum {
                    round_f16(d * sum as f32)
                } else {
                    0.0
                },
                qs,
            }
        })
        .collect()
}

/// quantize_row_q8_K_ref: scale from the value of largest magnitude (sign kept), q = nearest(x * -127 /
/// max) clamped to 127, d = 1 / iscale in f32, sums of each 16.
// Compiled for AVX2 too, where rounding is an instruction instead of a libm call (same results:
// Rust never contracts a multiply and an add into an FMA).
#[multiversion::multiversion(targets("x86_64+avx2+fma+f16c"))]
fn quantize_q8k(x: &[f32]) -> Vec<Q8KBlock> {
    x.chunks_exact(256)
        .map(|xs| {
            let (mut amax, mut max) = (0.0f32, 0.0f32);
            for &v in xs {
                if v.abs() > amax {
                    amax = v.abs();
                    max = v;
                }
            }
            let mut b = Q8KBlock {
                d: 0.0,
                qs: [0; 256],
                bsums: [0; 16],
            };
            if amax == 0.0 {
                return b;
            }
            let iscale = -127.0 / max;
            for (q, &v) in b.qs.iter_mut().zip(xs) {
                // nearest_int: round half to even through the float magic-number trick; round_ties_even.
                *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
            }
            for (j, s) in b.bsums.iter_mut().enumerate() {
                *s = b.qs[16 * j..16 * j + 16].iter().map(|&q| q as i16).sum();
            }
            b.d = 1.0 / iscale;
            b
        })
        .collect()
}

/// The activation form for weights of type `ty`, or None when that type is multiplied in f32.
pub(crate) fn quantize_activation(ty: GgmlType, x: &[f32]) -> Option<Activation> {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => {
            Some(Activation::Q8(quantize_q8(x, false)))
        }
        GgmlType::Q4_1 | GgmlType::Q5_1 => Some(Activation::Q8(quantize_q8(x, true))),
        GgmlType::Q4K | GgmlType::Q6K => Some(Activation::Q8K(quantize_q8k(x))),
        _ => None,
    }
}

#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// The 32 products of two blocks summed into 8 lanes (lane l holds elements l, l + 8, l + 16, l + 24):
/// a shape that vectorises into whole-register integer multiply-adds with no per-block horizontal sum.
#[inline(always)]
fn lanes32(a: &[i8; 32], b: &[i8; 32]) -> [i32; 8] {
    let mut p = [0i32; 8];
    for k in 0..4 {
        for l in 0..8 {
            p[l] += a[8 * k + l] as i32 * b[8 * k + l] as i32;
        }
    }
    p
}

/// Adds `scale * lanes` into the float accumulator lanes.
#[inline(always)]
fn accumulate(acc: &mut [f32; 8], lanes: [i32; 8], scale: f32) {
    for l in 0..8 {
        acc[l] += lanes[l] as f32 * scale;
    }
}

/// Whether the AVX2 kernels run here (checked once). `THERMOCONSENSUS_KERNELS=portable` turns them
/// off, to compare against the portable reference end to end.
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::env::var("THERMOCONSENSUS_KERNELS").map_or(true, |v| v != "portable")
            && crate::quant_dot_avx2::available()
    })
}

/// Whether the AVX-512 (F, BW, VNNI) kernels run here (checked once). `THERMOCONSENSUS_KERNELS=avx2`
/// keeps only the AVX2 ones, `=portable` neither.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx512() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        std::env::var("THERMOCONSENSUS_KERNELS").map_or(true, |v| v != "portable" && v != "avx2")
            && crate::quant_dot_avx512::available()
    })
}

/// Dots of one weight row with each activation row, into `out`: the AVX2 kernels where the CPU has
/// them (several activations per unpacked weight block), the portable loop elsewhere.
#[inline]
pub(crate) fn row_dots_fast(ty: GgmlType, row: &[u8], acts: &[&Activation], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: avx2() checked that the CPU has AVX2, FMA and F16C.
    if avx2() && unsafe { crate::quant_dot_avx2::row_dots(ty, row, acts, out) } {
        return;
    }
    for (o, a) in out.iter_mut().zip(acts) {
        *o = row_dot(ty, row, a);
    }
}

/// Dot product of one weight row (`row`: its blocks) with a quantized activation row: the portable
/// reference the SIMD kernels are tested against.
#[inline(always)]
pub(crate) fn row_dot(ty: GgmlType, row: &[u8], act: &Activation) -> f32 {
    match (ty, act) {
        (GgmlType::Q8_0, Activation::Q8(y)) => {
            let mut acc = [0.0f32; 8];
            for (b, yb) in row.chunks_exact(34).zip(y) {
                let mut q = [0i8; 32];
                for (d, &s) in q.iter_mut().zip(&b[2..34]) {
                    *d = s as i8;
                }
                accumulate(&mut acc, lanes32(&q, &yb.qs), f16_at(b, 0) * yb.d);
            }
            acc.iter().sum()
        }
        (GgmlType::Q4_0 | GgmlType::Q4_1, Activation::Q8(y)) => {
            let with_min = ty == GgmlType::Q4_1;
            let (ts, off) = if with_min { (20, 4) } else { (18, 2) };
            let mut acc = [0.0f32; 8];
            let mut mins = 0.0f32;
            let bias = if with_min { 0 } else { 8 };
            for (b, yb) in row.chunks_exact(ts).zip(y) {
                let qs = &b[off..off + 16];
                let mut q = [0i8; 32];
                for j in 0..16 {
                    q[j] = (qs[j] & 0x0f) as i8 - bias;
                    q[j + 16] = (qs[j] >> 4) as i8 - bias;
                }
                accumulate(&mut acc, lanes32(&q, &yb.qs), f16_at(b, 0) * yb.d);
                if with_min {
                    mins += f16_at(b, 2) * yb.s;
                }
            }
            acc.iter().sum::<f32>() + mins
        }
        (GgmlType::Q5_0 | GgmlType::Q5_1, Activation::Q8(y)) => {
            let with_min = ty == GgmlType::Q5_1;
            let (ts, at) = if with_min { (24, 4) } else { (22, 2) };
            let mut acc = [0.0f32; 8];
            let mut mins = 0.0f32;
            let bias = if with_min { 0 } else { 16 };
            for (b, yb) in row.chunks_exact(ts).zip(y) {
                let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
                let qs = &b[at + 4..at + 20];
                let mut q = [0i8; 32];
                for j in 0..16 {
                    let xh0 = (((qh >> j) << 4) & 0x10) as u8;
                    let xh1 = ((qh >> (j + 12)) & 0x10) as u8;
                    q[j] = ((qs[j] & 0x0f) | xh0) as i8 - bias;
                    q[j + 16] = ((qs[j] >> 4) | xh1) as i8 - bias;
                }
                accumulate(&mut acc, lanes32(&q, &yb.qs), f16_at(b, 0) * yb.d);
                if with_min {
                    mins += f16_at(b, 2) * yb.s;
                }
            }
            acc.iter().sum::<f32>() + mins
        }
        (GgmlType::Q4K, Activation::Q8K(y)) => row
            .chunks_exact(144)
            .zip(y)
            .map(|(b, yb)| {
                let (d, dmin) = (f16_at(b, 0) * yb.d, f16_at(b, 2) * yb.d);
                let (scales, qs) = (&b[4..16], &b[16..144]);
                let mut sum_scaled = 0i32;
                let mut sum_mins = 0i32;
                for j in 0..8 {
                    let (sc, m) = scale_min_k4(j, scales);
                    let q = &qs[32 * (j / 2)..32 * (j / 2) + 32];
                    let y8 = &yb.qs[32 * j..32 * j + 32];
                    let shift = if j % 2 == 0 { 0 } else { 4 };
                    let dot: i32 = q
                        .iter()
                        .zip(y8)
                        .map(|(&w, &a)| ((w >> shift) & 0x0f) as i32 * a as i32)
                        .sum();
                    sum_scaled += sc as i32 * dot;
                    sum_mins += m as i32 * (yb.bsums[2 * j] as i32 + yb.bsums[2 * j + 1] as i32);
                }
                d * sum_scaled as f32 - dmin * sum_mins as f32
            })
            .sum(),
        (GgmlType::Q6K, Activation::Q8K(y)) => row
            .chunks_exact(210)
            .zip(y)
            .map(|(b, yb)| {
                let (ql_all, qh_all, sc_all) = (&b[0..128], &b[128..192], &b[192..208]);
                let mut isum = 0i32;
                for n in 0..2 {
                    let (ql, qh) = (&ql_all[64 * n..64 * n + 64], &qh_all[32 * n..32 * n + 32]);
                    let sc = &sc_all[8 * n..8 * n + 8];
                    let y8 = &yb.qs[128 * n..128 * n + 128];
                    let mut acc = [0i32; 8];
                    for l in 0..32 {
                        let is = l / 16;
                        let [q1, q2, q3, q4] = q6k_values(ql, qh, l);
                        acc[is] += q1 * y8[l] as i32;
                        acc[is + 2] += q2 * y8[l + 32] as i32;
                        acc[is + 4] += q3 * y8[l + 64] as i32;
                        acc[is + 6] += q4 * y8[l + 96] as i32;
                    }
                    for (k, a) in acc.iter().enumerate() {
                        isum += (sc[k] as i8) as i32 * a;
                    }
                }
                f16_at(b, 208) * yb.d * isum as f32
            })
            .sum(),
        _ => unreachable!("quantize_activation pairs each weight type with its activation form"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dequant::dequantize;

    /// Deterministic pseudo-random bytes.
    pub(crate) fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 33) as u8
            })
            .collect()
    }

    /// A row of `n` weights in random blocks with sane f16 scales (random bytes could be NaN): 0.01,
    /// and `min` for the types that keep one.
    pub(crate) fn random_row(ty: GgmlType, n: usize, seed: u64, min: f32) -> Vec<u8> {
        let mut row = bytes(n / ty.block_size() * ty.type_size(), seed);
        for blk in row.chunks_exact_mut(ty.type_size()) {
            let at = if ty == GgmlType::Q6K { 208 } else { 0 };
            blk[at..at + 2].copy_from_slice(&f16::from_f32(0.01).to_le_bytes());
            if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K) {
                blk[2..4].copy_from_slice(&f16::from_f32(min).to_le_bytes());
            }
        }
        row
    }

    #[test]
    fn fast_kernels_agree_with_the_portable_dot() {
        for ty in GgmlType::INTEGER_DOT {
            for seed in 0..20u64 {
                let n = 1024;
                let row = random_row(ty, n, seed * 31 + ty.id() as u64, -0.004);
                // Extremes included: -128 can come out of Q8_K's rounding of the largest value.
                let x: Vec<f32> = bytes(n, seed)
                    .iter()
                    .map(|&b| (b as f32 - 128.0) / 16.0)
                    .collect();
                // 1 + seed % 7 activation rows: full tiles of four and every remainder.
                let xs: Vec<Vec<f32>> = (0..1 + seed as usize % 7)
                    .map(|k| x.iter().map(|v| v * (1.0 + k as f32) - k as f32).collect())
                    .collect();
                let acts: Vec<Activation> = xs
                    .iter()
                    .map(|x| quantize_activation(ty, x).unwrap())
                    .collect();
                let refs: Vec<&Activation> = acts.iter().collect();
                let mut fast = vec![0.0f32; acts.len()];
                row_dots_fast(ty, &row, &refs, &mut fast);
                let mut w = vec![0.0; n];
                dequantize(ty, &row, &mut w).unwrap();
                for ((x, act), fast) in xs.iter().zip(&acts).zip(fast) {
                    let slow = row_dot(ty, &row, act);
                    // Only the float summation order differs: error relative to the sum of |terms|.
                    let scale: f32 = w.iter().zip(x).map(|(a, b)| (a * b).abs()).sum();
                    assert!(
                        (slow - fast).abs() <= 1e-6 * scale,
                        "{ty} seed {seed}: {slow} vs {fast}"
                    );
                }
            }
        }
    }

    #[test]
    fn quantized_dots_track_the_f32_dot() {
        for ty in GgmlType::INTEGER_DOT {
            let n = 512;
            let row = random_row(ty, n, ty.id() as u64, 0.005);
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                .collect();
            let mut w = vec![0.0; n];
            dequantize(ty, &row, &mut w).unwrap();
            let exact: f32 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
            let act = quantize_activation(ty, &x).unwrap();
            let got = row_dot(ty, &row, &act);
            let scale: f32 = w.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
            assert!(
                (got - exact).abs() <= 0.02 * scale + 1e-6,
                "{ty}: {got} vs {exact}"
            );
        }
    }
}
