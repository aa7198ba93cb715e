//! Reference dequantisation of every supported block format to f32, following ggml-quants.c's
//! `dequantize_row_*` (the fast paths compute dot products on the packed blocks; these are the plain
//! references they are tested against, and the loader for small tensors such as norms).

use crate::error::{Error, Result};
use crate::ggml_type::GgmlType;
use half::{bf16, f16};

#[inline]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// The 6-bit (scale, min) pair `j` of the 12 packed bytes of a Q4_K / Q5_K super-block.
#[inline]
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// The four 6-bit values (minus 32) that a Q6_K half-block keeps at `l`, `l + 32`, `l + 64`, `l + 96`
/// (`ql`: its 64 low-nibble bytes, `qh`: its 32 high-bit bytes).
#[inline(always)]
pub(crate) fn q6k_values(ql: &[u8], qh: &[u8], l: usize) -> [i32; 4] {
    [
        ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32,
        ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32,
        ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32,
        ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32,
    ]
}

/// The sixteen signed 6-bit scales of a Q3_K super-block (stored as 12 bytes), minus nothing: the
/// caller subtracts 32.
fn q3k_scales(packed: &[u8]) -> [i8; 16] {
    let mut aux = [0u32; 4];
    for (k, a) in aux.iter_mut().take(3).enumerate() {
        *a = u32::from_le_bytes([
            packed[4 * k],
            packed[4 * k + 1],
            packed[4 * k + 2],
            packed[4 * k + 3],
        ]);
    }
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    let tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4);
    aux[3] = ((aux[1] >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4);
    aux[0] = (aux[0] & KMASK2) | ((tmp & KMASK1) << 4);
    aux[1] = (aux[1] & KMASK2) | (((tmp >> 2) & KMASK1) << 4);
    let mut out = [0i8; 16];
    for (k, a) in aux.iter().enumerate() {
        for (b, byte) in a.to_le_bytes().iter().enumerate() {
            out[4 * k + b] = *byte as i8;
        }
    }
    out
}

/// Dequantises one block `b` of type `ty` into `y` (`ty.block_size()` values).
pub(crate) fn block(ty: GgmlType, b: &[u8], y: &mut [f32]) {
    match ty {
        GgmlType::F32 => y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        GgmlType::F16 => y[0] = f16_at(b, 0),
        GgmlType::BF16 => y[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        GgmlType::Q4_0 => {
            let d = f16_at(b, 0);
            let qs = &b[2..18];
            for j in 0..16 {
                y[j] = ((qs[j] & 0x0f) as i32 - 8) as f32 * d;
                y[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
            }
        }
        GgmlType::Q4_1 => {
            let (d, m) = (f16_at(b, 0), f16_at(b, 2));
            let qs = &b[4..20];
            for j in 0..16 {
                y[j] = (qs[j] & 0x0f) as f32 * d + m;
                y[j + 16] = (qs[j] >> 4) as f32 * d + m;
            }
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let with_min = ty == GgmlType::Q5_1;
            let d = f16_at(b, 0);
            let (m, at) = if with_min {
                (f16_at(b, 2), 4)
            } else {
                (0.0, 2)
            };
            let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
            let qs = &b[at + 4..at + 20];
            for j in 0..16 {
                let xh0 = (((qh >> j) << 4) & 0x10) as u8;
                let xh1 = ((qh >> (j + 12)) & 0x10) as u8;
                let x0 = ((qs[j] & 0x0f) | xh0) as i32;
                let x1 = ((qs[j] >> 4) | xh1) as i32;
                if with_min {
                    y[j] = x0 as f32 * d + m;
                    y[j + 16] = x1 as f32 * d + m;
                } else {
                    y[j] = (x0 - 16) as f32 * d;
                    y[j + 16] = (x1 - 16) as f32 * d;
                }
            }
        }
        GgmlType::Q8_0 | GgmlType::Q8_1 => {
            let d = f16_at(b, 0);
            let qs = &b[ty.type_size() - 32..];
            for j in 0..32 {
                y[j] = (qs[j] as i8) as f32 * d;
            }
        }
        GgmlType::Q2K => {
            let (scales, qs) = (&b[0..16], &b[16..80]);
            let (d, min) = (f16_at(b, 80), f16_at(b, 82));
            let mut out = 0;
            let mut is = 0;
            for n in 0..2 {
                let q = &qs[32 * n..32 * n + 32];
                for shift in [0, 2, 4, 6] {
                    for half in 0..2 {
                        let sc = scales[is];
                        is += 1;
                        let (dl, ml) = (d * (sc & 0x0f) as f32, min * (sc >> 4) as f32);
                        for l in 0..16 {
                            y[out] = dl * ((q[l + 16 * half] >> shift) & 3) as f32 - ml;
                            out += 1;
                        }
                    }
                }
            }
        }
        GgmlType::Q3K => {
            let (hmask, qs, d_all) = (&b[0..32], &b[32..96], f16_at(b, 108));
            let scales = q3k_scales(&b[96..108]);
            let mut out = 0;
            let mut is = 0;
            let mut m = 1u8;
            for n in 0..2 {
                let q = &qs[32 * n..32 * n + 32];
                for shift in [0, 2, 4, 6] {
                    for half in 0..2 {
                        let dl = d_all * (scales[is] as i32 - 32) as f32;
                        is += 1;
                        for l in 0..16 {
                            let k = l + 16 * half;
                            let low = ((q[k] >> shift) & 3) as i32;
                            let high = if hmask[k] & m != 0 { 0 } else { 4 };
                            y[out] = dl * (low - high) as f32;
                            out += 1;
                        }
                    }
                    m <<= 1;
                }
            }
        }
        GgmlType::Q4K | GgmlType::Q5K => {
            let (d, min) = (f16_at(b, 0), f16_at(b, 2));
            let scales = &b[4..16];
            let (qh, ql) = if ty == GgmlType::Q5K {
                (&b[16..48], &b[48..176])
            } else {
                (&b[0..0], &b[16..144])
            };
            let mut out = 0;
            for chunk in 0..4 {
                let is = 2 * chunk;
                let q = &ql[32 * chunk..32 * chunk + 32];
                let (sc1, m1) = scale_min_k4(is, scales);
                let (sc2, m2) = scale_min_k4(is + 1, scales);
                let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
                let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
                let (u1, u2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
                for l in 0..32 {
                    let high = if !qh.is_empty() && qh[l] & u1 != 0 {
                        16
                    } else {
                        0
                    };
                    y[out + l] = d1 * ((q[l] & 0x0f) + high) as f32 - m1;
                }
                for l in 0..32 {
                    let high = if !qh.is_empty() && qh[l] & u2 != 0 {
                        16
                    } else {
                        0
                    };
                    y[out + 32 + l] = d2 * ((q[l] >> 4) + high) as f32 - m2;
                }
                out += 64;
            }
        }
        GgmlType::Q6K => {
            let (ql_all, qh_all, sc_all) = (&b[0..128], &b[128..192], &b[192..208]);
            let d = f16_at(b, 208);
            for n in 0..2 {
                let (ql, qh, sc) = (
                    &ql_all[64 * n..64 * n + 64],
                    &qh_all[32 * n..32 * n + 32],
                    &sc_all[8 * n..8 * n + 8],
                );
                let y = &mut y[128 * n..128 * n + 128];
                for l in 0..32 {
                    let is = l / 16;
                    let [q1, q2, q3, q4] = q6k_values(ql, qh, l);
                    y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                    y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                    y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                    y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
                }
            }
        }
        GgmlType::Q8K => {
            let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            for j in 0..256 {
                y[j] = (b[4 + j] as i8) as f32 * d;
            }
        }
    }
}

/// Dequantises `bytes` (whole blocks of type `ty`) into `out`, whose length must be the number of
/// weights they hold.
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    let (bs, ts) = (ty.block_size(), ty.type_size());
    if !bytes.len().is_multiple_of(ts) || bytes.len() / ts * bs != out.len() {
        return Err(Error::InvalidArgument {
            name: "bytes",
            reason: format!(
                "{} bytes of {ty} do not hold exactly {} weights ({bs} per {ts}-byte block)",
                bytes.len(),
                out.len()
            ),
        });
    }
    for (b, y) in bytes.chunks_exact(ts).zip(out.chunks_exact_mut(bs)) {
        block(ty, b, y);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_and_q4_0_blocks_by_hand() {
        let mut b = f16::from_f32(0.5).to_le_bytes().to_vec();
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let mut y = [0.0; 32];
        dequantize(GgmlType::Q8_0, &b, &mut y).unwrap();
        assert_eq!(y[0], -8.0);
        assert_eq!(y[31], 7.5);
        let mut b = f16::from_f32(2.0).to_le_bytes().to_vec();
        b.extend(std::iter::repeat_n(0x9f, 16)); // low nibble 15, high nibble 9
        dequantize(GgmlType::Q4_0, &b, &mut y).unwrap();
        assert_eq!((y[0], y[16]), (14.0, 2.0));
        assert!(dequantize(GgmlType::Q4_0, &b[..17], &mut y).is_err());
    }

    #[test]
    fn k_quant_scale_unpacking() {
        let q = [1, 2, 3, 4, 5, 6, 7, 8, 0x21, 0x43, 0x65, 0x87];
        assert_eq!(scale_min_k4(0, &q), (1, 5));
        assert_eq!(scale_min_k4(4, &q), (0x1, 0x2));
        let s = q3k_scales(&[0; 12]);
        assert!(s.iter().all(|&v| v == 0));
    }
}
