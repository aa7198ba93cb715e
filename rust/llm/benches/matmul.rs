//! Quantized matrix products at the shapes of the real models: one input (a generated token) and a
//! batch of 64 (a prompt chunk), for every block type with an integer dot product. Weights are random
//! blocks with sane scales, so the figures depend only on the format and the shape.
//!
//! `cargo bench -p thermoconsensus-llm --bench matmul`; `THERMOCONSENSUS_KERNELS=portable` measures
//! the portable loops instead of the AVX2 kernels.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::f16;
use thermoconsensus_llm::matmul::QMatrix;
use thermoconsensus_llm::GgmlType;

/// Deterministic pseudo-random bytes.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
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

/// A `rows x cols` matrix of random blocks whose f16 scales are small and finite.
fn matrix(ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let mut data = bytes(
        rows * cols / ty.block_size() * ty.type_size(),
        ty.id() as u64,
    );
    for blk in data.chunks_exact_mut(ty.type_size()) {
        let at = if ty == GgmlType::Q6K { 208 } else { 0 };
        blk[at..at + 2].copy_from_slice(&f16::from_f32(0.01).to_le_bytes());
        if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K) {
            blk[2..4].copy_from_slice(&f16::from_f32(0.005).to_le_bytes());
        }
    }
    data
}

fn bench(c: &mut Criterion) {
    // Qwen2.5-0.5B's FFN up/gate projection: 4864 rows of 896.
    let (rows, cols) = (4864, 896);
    for n_in in [1usize, 64] {
        let mut group = c.benchmark_group(format!("matmul_{rows}x{cols}_inputs_{n_in}"));
        group.throughput(Throughput::Elements((rows * cols * n_in) as u64));
        for ty in [
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
            GgmlType::Q8_0,
            GgmlType::Q4K,
            GgmlType::Q6K,
        ] {
            let data = matrix(ty, rows, cols);
            let m = QMatrix {
                ty,
                rows,
                cols,
                data: &data,
            };
            let x: Vec<f32> = (0..cols * n_in)
                .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
                .collect();
            let mut out = vec![0.0; rows * n_in];
            group.bench_with_input(BenchmarkId::from_parameter(ty), &ty, |b, _| {
                b.iter(|| m.matmul(&x, &mut out))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
