//! Spin-flip throughput of the samplers on a Sherrington-Kirkpatrick N = 1024 instance and a sparse
//! 3-regular N = 2000 instance (single thread, one read, so the figure is per core).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use thermoconsensus_anneal::{
    instances, path_integral_annealing, replica_exchange, simulated_annealing, PimcParams,
    PtParams, SaParams,
};

fn bench(c: &mut Criterion) {
    let sweeps = 100;
    let sk = instances::sherrington_kirkpatrick(1024, 1).expect("valid instance");
    let regular = instances::random_regular(2000, 3, 2).expect("valid instance");
    for (name, p) in [("sk1024", sk), ("3reg2000", regular)] {
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
