//! Criterion benchmarks: KSG MI, CMI and TE at N = 10^3, 10^4, 10^5 (1-D variables, k = 4), and CMI
//! with 2-8 conditioning dimensions at N = 1000.
//! Single-threaded by default so the figures compare with the one-core targets; set
//! THERMOCONSENSUS_BENCH_THREADS to use more.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use thermoconsensus_info::{
    conditional_mutual_information, mutual_information, run_with_threads, transfer_entropy,
    Algorithm, MatrixRef, TeEmbedding,
};

/// Coupled Gaussian AR(1) pair: y_t = 0.5 y_{t-1} + 0.4 x_{t-1} + noise.
fn coupled(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut gauss = move || {
        // Box-Muller: enough for benchmark data.
        let (u, v): (f64, f64) = (rng.random(), rng.random());
        (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let (mut x, mut y, mut z) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for t in 1..n {
        x[t] = 0.6 * x[t - 1] + gauss();
        y[t] = 0.5 * y[t - 1] + 0.4 * x[t - 1] + gauss();
        z[t] = 0.3 * x[t] + 0.3 * y[t] + gauss();
    }
    (x, y, z)
}

fn threads() -> Option<usize> {
    Some(
        std::env::var("THERMOCONSENSUS_BENCH_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
    )
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ksg");
    group.sample_size(10);
    for n in [1_000usize, 10_000, 100_000] {
        let (x, y, z) = coupled(n, 42);
        let (xm, ym, zm) = (
            MatrixRef::column("x", &x).expect("column"),
            MatrixRef::column("y", &y).expect("column"),
            MatrixRef::column("z", &z).expect("column"),
        );
        group.bench_with_input(BenchmarkId::new("mi", n), &n, |b, _| {
            b.iter(|| {
                run_with_threads(threads(), || {
                    mutual_information(black_box(xm), ym, 4, Algorithm::One)
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("cmi", n), &n, |b, _| {
            b.iter(|| {
                run_with_threads(threads(), || {
                    conditional_mutual_information(black_box(xm), ym, zm, 4, Algorithm::One)
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("te", n), &n, |b, _| {
            b.iter(|| {
                run_with_threads(threads(), || {
                    transfer_entropy(
                        black_box(xm),
                        ym,
                        &TeEmbedding::default(),
                        None,
                        4,
                        Algorithm::One,
                    )
                })
            })
        });
    }
    group.finish();
    // Conditioning sets of several variables (multivariate TE's estimates): N = 1000, the joint space
    // in 4 to 10 dimensions, where the exact scan replaces the k-d tree.
    let mut group = c.benchmark_group("ksg_conditioning_n1000");
    group.sample_size(10);
    let n = 1000;
    let (x, y, _) = coupled(n, 7);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for dz in [2usize, 3, 5, 8] {
        let z: Vec<f64> = (0..n * dz).map(|_| rng.random::<f64>()).collect();
        let (xm, ym) = (
            MatrixRef::column("x", &x).expect("column"),
            MatrixRef::column("y", &y).expect("column"),
        );
        let zm = MatrixRef::new("z", &z, n, dz).expect("matrix");
        group.bench_with_input(BenchmarkId::new("cmi_joint_dims", dz + 2), &dz, |b, _| {
            b.iter(|| {
                run_with_threads(threads(), || {
                    conditional_mutual_information(black_box(xm), ym, zm, 4, Algorithm::One)
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
