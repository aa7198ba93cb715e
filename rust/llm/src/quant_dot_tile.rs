//! Prompt batches without re-unpacking: a tile of weight rows is unpacked once into plain unsigned
//! bytes and per-lane scales, every token's quantized activation is packed once into signed bytes,
//! lane scales and integer offset corrections, and a SIMD kernel ([`crate::quant_dot_avx512`])
//! multiplies the tile with all the tokens. One layout serves every block type:
//!
//! `dot(row, token) = sum over lanes (sw * sy) * (sum of 4 q * y + corr) + sum over groups mw * ys`
//!
//! where a lane is 4 consecutive elements (one i32 lane of `vpdpbusd`), `q` the weight's stored
//! unsigned value, `y` the activation's i8, `sw`/`sy` the weight's and activation's block scales,
//! `corr = -offset * sum of 4 y` moves a signed type's offset (8 for Q4_0, 16 for Q5_0, 128 for Q8_0,
//! 32 for Q6_K) into integers, and `mw * ys` is the min term of Q4_1, Q5_1 and Q4_K. The integer
//! block sums are exactly those of [`crate::quant_dot::row_dot`]; only the float summation order
//! differs (tests compare the two).

use crate::dequant::{q6k_values, scale_min_k4};
use crate::ggml_type::GgmlType;
use crate::quant_dot::Activation;
use half::f16;

/// Elements per chunk: one 512-bit register of bytes.
pub(crate) const CHUNK: usize = 64;
/// i32 lanes per chunk (4 elements each).
pub(crate) const LANES: usize = 16;
/// Elements per min-term group.
const GROUP: usize = 32;

/// How a type's stored values become signed weights.
struct Form {
    /// Subtracted from every stored value (0 for the types with a min).
    offset: i32,
    /// Whether a min term (`mw * ys` per 32 elements) applies.
    min: bool,
}

fn form(ty: GgmlType) -> Option<Form> {
    let (offset, min) = match ty {
        GgmlType::Q4_0 => (8, false),
        GgmlType::Q5_0 => (16, false),
        GgmlType::Q8_0 => (128, false),
        GgmlType::Q6K => (32, false),
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K => (0, true),
        _ => return None,
    };
    Some(Form { offset, min })
}

/// Whether the tile product covers weights of type `ty`.
pub(crate) fn covers(ty: GgmlType) -> bool {
    form(ty).is_some()
}

#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Chunks holding `cols` elements (the last one zero-padded).
pub(crate) fn chunks_for(cols: usize) -> usize {
    cols.div_ceil(CHUNK)
}

/// Weight rows unpacked for the tile product: `q` (rows x chunks x 64 bytes), `sw` (rows x chunks x
/// 16 lane scales) and, for types with a min, `mw` (rows x groups).
#[derive(Default)]
pub(crate) struct WeightTile {
    pub(crate) rows: usize,
    pub(crate) chunks: usize,
    pub(crate) groups: usize,
    pub(crate) q: Vec<u8>,
    pub(crate) sw: Vec<f32>,
    pub(crate) mw: Vec<f32>,
    /// Whether the kernel sums its float lanes block after block in eight lanes (the 32-element
    /// types: their AVX2 dots, and llama.cpp's, sum so; the K-quants sum in integers first there).
    pub(crate) block_order: bool,
}

impl WeightTile {
    /// Unpacks `rows` (consecutive rows of `rb` bytes, `cols` weights each) into this tile, reusing its
    /// buffers. The type must be one [`covers`] accepts.
    pub(crate) fn unpack(&mut self, ty: GgmlType, rows: &[u8], rb: usize, cols: usize) {
        let f = form(ty).expect("the tile product covers this type");
        let n = rows.len() / rb;
        let chunks = chunks_for(cols);
        let groups = chunks * CHUNK / GROUP;
        self.rows = n;
        self.chunks = chunks;
        self.groups = groups;
        self.block_order = ty.block_size() == 32;
        self.q.clear();
        self.q.resize(n * chunks * CHUNK, 0);
        self.sw.clear();
        self.sw.resize(n * chunks * LANES, 0.0);
        self.mw.clear();
        if f.min {
            self.mw.resize(n * groups, 0.0);
        }
        let (bs, ts) = (ty.block_size(), ty.type_size());
        for (r, row) in rows.chunks_exact(rb).enumerate() {
            let q = &mut self.q[r * chunks * CHUNK..(r + 1) * chunks * CHUNK];
            let sw = &mut self.sw[r * chunks * LANES..(r + 1) * chunks * LANES];
            let mw: &mut [f32] = if f.min {
                &mut self.mw[r * groups..(r + 1) * groups]
            } else {
                &mut []
            };
            for (i, b) in row.chunks_exact(ts).enumerate() {
                let at = i * bs;
                unpack_block(
                    ty,
                    b,
                    &mut q[at..at + bs],
                    &mut sw[at / 4..(at + bs) / 4],
                    if f.min {
                        &mut mw[at / GROUP..(at + bs) / GROUP]
                    } else {
                        &mut []
                    },
                );
            }
        }
    }
}

/// The 32 stored values of a Q4_0/Q4_1 block's 16 bytes: low nibbles first.
#[inline(always)]
fn nibbles(qs: &[u8], q: &mut [u8]) {
    for j in 0..16 {
        q[j] = qs[j] & 0x0f;
        q[j + 16] = qs[j] >> 4;
    }
}

/// One block's stored values into `q`, its lane scales into `sw` and group mins into `mw`.
fn unpack_block(ty: GgmlType, b: &[u8], q: &mut [u8], sw: &mut [f32], mw: &mut [f32]) {
    match ty {
        GgmlType::Q8_0 => {
            // The signed byte plus 128 (offset 128): flipping the top bit.
            for (d, &s) in q.iter_mut().zip(&b[2..34]) {
                *d = s ^ 0x80;
            }
            sw.fill(f16_at(b, 0));
        }
        GgmlType::Q4_0 => {
            nibbles(&b[2..18], q);
            sw.fill(f16_at(b, 0));
        }
        GgmlType::Q4_1 => {
            nibbles(&b[4..20], q);
            sw.fill(f16_at(b, 0));
            mw[0] = f16_at(b, 2);
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let at = if ty == GgmlType::Q5_1 { 4 } else { 2 };
            let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
            let qs = &b[at + 4..at + 20];
            for j in 0..16 {
                let xh0 = (((qh >> j) << 4) & 0x10) as u8;
                let xh1 = ((qh >> (j + 12)) & 0x10) as u8;
                q[j] = (qs[j] & 0x0f) | xh0;
                q[j + 16] = (qs[j] >> 4) | xh1;
            }
            sw.fill(f16_at(b, 0));
            if ty == GgmlType::Q5_1 {
                mw[0] = f16_at(b, 2);
            }
        }
        GgmlType::Q4K => {
            let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
            let (scales, qs) = (&b[4..16], &b[16..144]);
            for j in 0..8 {
                let (sc, m) = scale_min_k4(j, scales);
                let src = &qs[32 * (j / 2)..32 * (j / 2) + 32];
                let shift = 4 * (j % 2);
                for (d, &s) in q[32 * j..32 * j + 32].iter_mut().zip(src) {
                    *d = (s >> shift) & 0x0f;
                }
                sw[8 * j..8 * j + 8].fill(d * sc as f32);
                mw[j] = -(dmin * m as f32);
            }
        }
        GgmlType::Q6K => {
            let (ql_all, qh_all, sc) = (&b[0..128], &b[128..192], &b[192..208]);
            let d = f16_at(b, 208);
            for n in 0..2 {
                let (ql, qh) = (&ql_all[64 * n..64 * n + 64], &qh_all[32 * n..32 * n + 32]);
                let q = &mut q[128 * n..128 * n + 128];
                for l in 0..32 {
                    // q6k_values subtracts 32; the stored value is what the tile keeps.
                    let v = q6k_values(ql, qh, l);
                    for (k, v) in v.iter().enumerate() {
                        q[l + 32 * k] = (v + 32) as u8;
                    }
                }
            }
            // Scale j covers elements 16 j .. 16 j + 16: four lanes.
            for (j, &s) in sc.iter().enumerate() {
                sw[4 * j..4 * j + 4].fill(d * (s as i8) as f32);
            }
        }
        _ => unreachable!("form() admits only the types unpacked here"),
    }
}

/// Quantized activations of many tokens packed for the tile product: `qs` (tokens x chunks x 64
/// bytes), `sy` and `corr` (tokens x chunks x 16 lanes) and, for types with a min, `ys` (tokens x
/// groups).
pub(crate) struct PackedActs {
    pub(crate) tokens: usize,
    pub(crate) chunks: usize,
    pub(crate) groups: usize,
    pub(crate) qs: Vec<i8>,
    pub(crate) sy: Vec<f32>,
    pub(crate) corr: Vec<i32>,
    pub(crate) ys: Vec<f32>,
}

impl PackedActs {
    /// Packs `acts` (each quantized for weights of type `ty`, `cols` elements) for the tile product.
    pub(crate) fn pack(ty: GgmlType, acts: &[&Activation], cols: usize) -> Self {
        let f = form(ty).expect("the tile product covers this type");
        let chunks = chunks_for(cols);
        let groups = chunks * CHUNK / GROUP;
        let n = acts.len();
        let mut p = PackedActs {
            tokens: n,
            chunks,
            groups,
            qs: vec![0; n * chunks * CHUNK],
            sy: vec![0.0; n * chunks * LANES],
            corr: vec![0; n * chunks * LANES],
            ys: if f.min {
                vec![0.0; n * groups]
            } else {
                Vec::new()
            },
        };
        for (t, act) in acts.iter().enumerate() {
            let qs = &mut p.qs[t * chunks * CHUNK..(t + 1) * chunks * CHUNK];
            let sy = &mut p.sy[t * chunks * LANES..(t + 1) * chunks * LANES];
            match act {
                Activation::Q8(y) => {
                    for (i, yb) in y.iter().enumerate() {
                        qs[32 * i..32 * i + 32].copy_from_slice(&yb.qs);
                        sy[8 * i..8 * i + 8].fill(yb.d);
                        if f.min {
                            p.ys[t * groups + i] = yb.s;
                        }
                    }
                }
                Activation::Q8K(y) => {
                    for (i, yb) in y.iter().enumerate() {
                        qs[256 * i..256 * i + 256].copy_from_slice(&yb.qs);
                        sy[64 * i..64 * i + 64].fill(yb.d);
                        if f.min {
                            for j in 0..8 {
                                let s = yb.bsums[2 * j] as i32 + yb.bsums[2 * j + 1] as i32;
                                p.ys[t * groups + 8 * i + j] = yb.d * s as f32;
                            }
                        }
                    }
                }
            }
            if f.offset != 0 {
                let corr = &mut p.corr[t * chunks * LANES..(t + 1) * chunks * LANES];
                for (c, y4) in corr.iter_mut().zip(qs.chunks_exact(4)) {
                    *c = -f.offset * y4.iter().map(|&v| v as i32).sum::<i32>();
                }
            }
        }
        p
    }
}

/// The min term of row `r` and token `t`: the sum over groups of `mw * ys` (0 for types without one).
#[inline]
pub(crate) fn min_term(w: &WeightTile, r: usize, a: &PackedActs, t: usize) -> f32 {
    if w.mw.is_empty() {
        return 0.0;
    }
    let mw = &w.mw[r * w.groups..(r + 1) * w.groups];
    let ys = &a.ys[t * a.groups..(t + 1) * a.groups];
    mw.iter().zip(ys).map(|(m, y)| m * y).sum()
}

/// The tile product in plain Rust, the reference the SIMD kernel is tested against: `out[r * tokens +
/// t]` for every row of `w` and token of `a`.
#[cfg(test)]
pub(crate) fn product_portable(w: &WeightTile, a: &PackedActs, out: &mut [f32]) {
    for r in 0..w.rows {
        for t in 0..a.tokens {
            let mut acc = 0.0f32;
            for c in 0..w.chunks {
                for l in 0..LANES {
                    let e = c * CHUNK + 4 * l;
                    let wq = &w.q[r * w.chunks * CHUNK + e..][..4];
                    let yq = &a.qs[t * a.chunks * CHUNK + e..][..4];
                    let dot: i32 = wq.iter().zip(yq).map(|(&x, &y)| x as i32 * y as i32).sum();
                    let li = c * LANES + l;
                    let s = w.sw[r * w.chunks * LANES + li] * a.sy[t * a.chunks * LANES + li];
                    acc += (dot + a.corr[t * a.chunks * LANES + li]) as f32 * s;
                }
            }
            out[r * a.tokens + t] = acc + min_term(w, r, a, t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dequant::dequantize;
    use crate::quant_dot::tests::{bytes, random_row};
    use crate::quant_dot::{quantize_activation, row_dot};
    use proptest::prelude::*;

    /// The tile products (portable, and AVX-512 where the CPU has it) of `rows` random rows of `cols`
    /// weights with `tokens` random activations, each checked against the portable row dot.
    fn check(ty: GgmlType, rows: usize, tokens: usize, cols: usize, seed: u64) {
        let rb = cols / ty.block_size() * ty.type_size();
        let data: Vec<u8> = (0..rows)
            .flat_map(|r| random_row(ty, cols, seed * 131 + r as u64, -0.004))
            .collect();
        let xs: Vec<Vec<f32>> = (0..tokens)
            .map(|t| {
                // Extremes included: -128 can come out of Q8_K's rounding of the largest value.
                bytes(cols, seed ^ ((t as u64 + 1) * 977))
                    .iter()
                    .map(|&b| (b as f32 - 128.0) / 16.0 * (1.0 + t as f32))
                    .collect()
            })
            .collect();
        let acts: Vec<Activation> = xs
            .iter()
            .map(|x| quantize_activation(ty, x).unwrap())
            .collect();
        let refs: Vec<&Activation> = acts.iter().collect();
        let mut tile = WeightTile::default();
        tile.unpack(ty, &data, rb, cols);
        let packed = PackedActs::pack(ty, &refs, cols);
        let mut portable = vec![0.0f32; rows * tokens];
        product_portable(&tile, &packed, &mut portable);
        let mut outs = vec![("portable", portable)];
        #[cfg(target_arch = "x86_64")]
        if crate::quant_dot_avx512::available() {
            let mut fast = vec![0.0f32; rows * tokens];
            // SAFETY: available() checked the CPU features.
            unsafe { crate::quant_dot_avx512::product(&tile, &packed, &mut fast) };
            // The 32-element types keep the AVX2 kernels' summation order: bit for bit their results.
            if ty.block_size() == 32 && crate::quant_dot_avx2::available() {
                for (r, row) in data.chunks_exact(rb).enumerate() {
                    let mut avx2 = vec![0.0f32; tokens];
                    // SAFETY: available() checked the CPU features.
                    assert!(unsafe { crate::quant_dot_avx2::row_dots(ty, row, &refs, &mut avx2) });
                    for (t, want) in avx2.iter().enumerate() {
                        let got = fast[r * tokens + t];
                        assert_eq!(got.to_bits(), want.to_bits(), "{ty} row {r} token {t}");
                    }
                }
            }
            outs.push(("avx512", fast));
        }
        for (r, row) in data.chunks_exact(rb).enumerate() {
            let mut w = vec![0.0; cols];
            dequantize(ty, row, &mut w).unwrap();
            for (t, (x, act)) in xs.iter().zip(&acts).enumerate() {
                let want = row_dot(ty, row, act);
                // Only the float summation order differs: error relative to the sum of |terms|.
                let scale: f32 = w.iter().zip(x).map(|(a, b)| (a * b).abs()).sum();
                for (name, out) in &outs {
                    let got = out[r * tokens + t];
                    assert!(
                        (got - want).abs() <= 2e-6 * scale + 1e-6,
                        "{name} {ty} row {r} token {t}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_covered_type_at_model_shapes() {
        for ty in GgmlType::INTEGER_DOT {
            assert!(covers(ty));
            // 896 columns: Qwen2.5-0.5B's width, not a multiple of 64 for the 32-element types'
            // chunks once halved; 512 a whole number of super-blocks.
            let cols = if ty.block_size() == 256 { 512 } else { 896 };
            check(ty, 9, 7, cols, ty.id() as u64);
        }
        assert!(!covers(GgmlType::F16));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn tile_products_agree_with_the_portable_dot(
            which in 0usize..GgmlType::INTEGER_DOT.len(),
            rows in 1usize..10,
            tokens in 1usize..10,
            blocks in 1usize..8,
            seed in any::<u64>(),
        ) {
            let ty = GgmlType::INTEGER_DOT[which];
            check(ty, rows, tokens, blocks * ty.block_size(), seed);
        }
    }
}
