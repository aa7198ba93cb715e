//! The GPU twin of the quantized products and conversions (`cuda/llm.cu`) against the CPU engine on identical
//! inputs: on the host emulator everywhere (a C++20 compiler suffices) and on every real GPU present. The
//! whole forward pass is compared on the real models by `tests/test_gpu.py`.

use half::f16;
use thermoconsensus_gpu::Executor;
use thermoconsensus_llm::gpu::{f16_round_on_device, matmul_on_device};
use thermoconsensus_llm::matmul::QMatrix;
use thermoconsensus_llm::GgmlType;

fn executors() -> Vec<std::sync::Arc<Executor>> {
    Executor::all_for_tests()
        .into_iter()
        .filter_map(|e| e.map_err(|err| eprintln!("SKIP a device: {err}")).ok())
        .collect()
}

/// Deterministic pseudo-random bytes.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as u8
        })
        .collect()
}

/// `rows` random rows of `ty` with sane f16 scales (random bytes could be NaN or huge).
fn random_matrix(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let mut data = bytes(rows * cols / ty.block_size() * ty.type_size(), seed);
    for (k, blk) in data.chunks_exact_mut(ty.type_size()).enumerate() {
        let scale = f16::from_f32(0.01 + 0.001 * (k % 7) as f32).to_le_bytes();
        let at = if ty == GgmlType::Q6K { 208 } else { 0 };
        blk[at..at + 2].copy_from_slice(&scale);
        if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K) {
            blk[2..4].copy_from_slice(&f16::from_f32(-0.004).to_le_bytes());
        }
    }
    data
}

#[test]
fn quantized_products_match_the_cpu_for_every_type() {
    let types = GgmlType::INTEGER_DOT;
    for exec in executors() {
        for (t, ty) in types.into_iter().enumerate() {
            let (rows, cols) = (37, 1024);
            let data = random_matrix(ty, rows, cols, t as u64);
            let w = QMatrix {
                ty,
                rows,
                cols,
                data: &data,
            };
            for n_in in [1usize, 3] {
                let x: Vec<f32> = bytes(n_in * cols, 100 + t as u64)
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| (b as f32 - 128.0) / 16.0 * if i % 97 == 0 { 8.0 } else { 1.0 })
                    .collect();
                let mut cpu = vec![0.0f32; n_in * rows];
                w.matmul(&x, &mut cpu);
                let dev = matmul_on_device(&exec, &w, &x).unwrap();
                // Same quantized activations and integer block sums; only the float sum over blocks is
                // ordered differently, so the error is relative to the sum of |terms|.
                let mut wf = vec![0.0f32; cols];
                for (k, (c, g)) in cpu.iter().zip(&dev).enumerate() {
                    let (i, r) = (k / rows, k % rows);
                    w.row(r, &mut wf);
                    let scale: f32 = wf
                        .iter()
                        .zip(&x[i * cols..(i + 1) * cols])
                        .map(|(a, b)| (a * b).abs())
                        .sum();
                    assert!(
                        (c - g).abs() <= 1e-5 * scale + 1e-6,
                        "{} {ty} n_in={n_in} out {k}: cpu {c} device {g}",
                        exec.name()
                    );
                }
            }
        }
    }
}

#[test]
fn f16_rounding_matches_the_half_crate() {
    let mut xs: Vec<f32> = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        65504.0,
        65519.0,
        65520.0,
        1e6,
        -1e6,
        6.0e-8,
        2.9e-8,
        3.0e-8,
        1.0e-5,
        6.1e-5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE,
    ];
    // Exact ties between neighbouring f16 values, and a spread of magnitudes.
    for bits in (0u16..0x7c00).step_by(97) {
        let a = f16::from_bits(bits).to_f32();
        let b = f16::from_bits(bits + 1).to_f32();
        xs.extend([
            a,
            -a,
            (a + b) / 2.0,
            -(a + b) / 2.0,
            a + (b - a) * 0.49,
            a + (b - a) * 0.51,
        ]);
    }
    for exec in executors() {
        let got = f16_round_on_device(&exec, &xs).unwrap();
        for (x, g) in xs.iter().zip(&got) {
            let want = f16::from_f32(*x).to_f32();
            assert!(
                want.to_bits() == g.to_bits(),
                "{}: f16({x}) = {want}, device {g}",
                exec.name()
            );
        }
        let nan = f16_round_on_device(&exec, &[f32::NAN]).unwrap();
        assert!(nan[0].is_nan());
    }
}
