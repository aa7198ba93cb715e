//! Spin-flip throughput of the samplers on a Sherrington-Kirkpatrick N = 1024 instance and a sparse
//! 3-regular N = 2000 instance (single thread, one read, so the figure is per core).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng as _, RngExt, SeedableRng};
use thermoconsensus_anneal::{
    path_integral_annealing, replica_exchange, simulated_annealing, IsingProblem, PimcParams,
    PtParams, SaParams,
};

fn sk(n: usize, seed: u64) -> IsingProblem {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut j = Vec::with_capacity(n * (n - 1) / 2);
    for a in 0..n {
        for b in a + 1..n {
            j.push((a, b, if rng.next_u64() >> 63 == 0 { -1.0 } else { 1.0 }));
        }
    }
    IsingProblem::new(vec![0.0; n], &j, 0.0).expect("valid instance")
}

fn three_regular(n: usize, seed: u64) -> IsingProblem {
    // A random perfect matching three times over (multi-edges merge, so degrees are ~3).
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut j = Vec::new();
    for _ in 0..3 {
        let mut perm: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            perm.swap(i, rng.random_range(0..=i));
        }
        for pair in perm.chunks(2) {
            j.push((
                pair[0],
                pair[1],
                if rng.next_u64() >> 63 == 0 { -1.0 } else { 1.0 },
            ));
        }
    }
    IsingProblem::new(vec![0.0; n], &j, 0.0).expect("valid instance")
}

fn bench(c: &mut Criterion) {
    let sweeps = 100;
    for (name, p) in [
        ("sk1024", sk(1024, 1)),
        ("3reg2000", three_regular(2000, 2)),
    ] {
        let mut g = c.benchmark_group(name);
        g.sample_size(10);
        g.throughput(Throughput::Elements((sweeps * p.num_variables()) as u64));
        let sa = SaParams {
            num_reads: 1,
            num_sweeps: sweeps,
            ..Default::default()
        };
        g.bench_function("sa", |b| {
            b.iter(|| {
                thermoconsensus_anneal::with_threads(Some(1), || simulated_annealing(&p, &sa, None))
            })
        });
        let pt = PtParams {
            num_reads: 1,
            num_replicas: 2,
            num_sweeps: sweeps / 2,
            ..Default::default()
        };
        g.bench_function("replica_exchange", |b| {
            b.iter(|| {
                thermoconsensus_anneal::with_threads(Some(1), || replica_exchange(&p, &pt, None))
            })
        });
        let pimc = PimcParams {
            num_reads: 1,
            num_sweeps: sweeps / 4,
            trotter_slices: 4,
            world_line_moves: false,
            ..Default::default()
        };
        g.bench_function("pimc_local_moves", |b| {
            b.iter(|| {
                thermoconsensus_anneal::with_threads(Some(1), || {
                    path_integral_annealing(&p, &pimc, None)
                })
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
