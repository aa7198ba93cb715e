//! Results depend on the seed only: identical for any thread count, different for another seed.

use thermoconsensus_anneal::*;

fn problem() -> IsingProblem {
    instances::random_regular(300, 3, 5).unwrap()
}

#[test]
fn samplers_are_independent_of_the_thread_count() {
    let p = problem();
    let sa = SaParams {
        num_reads: 12,
        num_sweeps: 200,
        seed: 9,
        schedule: Schedule::Langevin {
            gamma: None,
            eta: None,
        },
        trace_every: 10,
        ..Default::default()
    };
    let pimc = PimcParams {
        num_reads: 6,
        num_sweeps: 50,
        trotter_slices: 4,
        seed: 9,
        ..Default::default()
    };
    let pt = PtParams {
        num_reads: 3,
        num_replicas: 40,
        num_sweeps: 60,
        adaptive: true,
        seed: 9,
        ..Default::default()
    };
    let run = |threads| {
        with_threads(Some(threads), || {
            Ok((
                simulated_annealing(&p, &sa, None)?,
                path_integral_annealing(&p, &pimc, None)?,
                replica_exchange(&p, &pt, None)?,
            ))
        })
        .unwrap()
    };
    let (a, b) = (run(1), run(3));
    assert_eq!(a.0.samples, b.0.samples);
    assert_eq!(a.0.stats.trace, b.0.stats.trace);
    assert_eq!(a.0.final_betas, b.0.final_betas);
    assert_eq!(a.1.samples, b.1.samples);
    assert_eq!(a.2.samples, b.2.samples);
    assert_eq!(a.2.betas, b.2.betas);
    assert_eq!(a.2.swap_acceptance, b.2.swap_acceptance);
    let other = SaParams { seed: 10, ..sa };
    let c = simulated_annealing(&p, &other, None).unwrap();
    assert_ne!(a.0.samples, c.samples);
}

#[test]
fn cancelled_runs_stop_with_an_error() {
    let p = problem();
    let progress = Progress::new(0);
    progress.cancel();
    let params = SaParams::default();
    assert_eq!(
        simulated_annealing(&p, &params, Some(&progress)).unwrap_err(),
        Error::Runtime(RuntimeError::Cancelled)
    );
}

#[test]
fn progress_counts_every_sweep() {
    let p = problem();
    let progress = Progress::new(0);
    let params = SaParams {
        num_reads: 3,
        num_sweeps: 37,
        ..Default::default()
    };
    simulated_annealing(&p, &params, Some(&progress)).unwrap();
    assert_eq!(progress.done(), 3 * 37);
}

#[test]
fn bad_parameters_name_the_argument() {
    let p = problem();
    let named = |e: Error| match e {
        Error::InvalidArgument { name, .. } => name,
        other => panic!("{other:?}"),
    };
    let sa = |f: fn(&mut SaParams)| {
        let mut s = SaParams::default();
        f(&mut s);
        named(simulated_annealing(&p, &s, None).unwrap_err())
    };
    assert_eq!(sa(|s| s.num_reads = 0), "num_reads");
    assert_eq!(sa(|s| s.num_sweeps = 0), "num_sweeps");
    assert_eq!(sa(|s| s.beta_range = Some((0.0, 1.0))), "beta_range");
    assert_eq!(sa(|s| s.beta_range = Some((1.0, f64::NAN))), "beta_range");
    let pimc = PimcParams {
        trotter_slices: 1,
        ..Default::default()
    };
    assert_eq!(
        named(path_integral_annealing(&p, &pimc, None).unwrap_err()),
        "trotter_slices"
    );
    let pimc = PimcParams {
        beta: Some(-1.0),
        ..Default::default()
    };
    assert_eq!(
        named(path_integral_annealing(&p, &pimc, None).unwrap_err()),
        "beta"
    );
    let pt = PtParams {
        num_replicas: 1,
        ..Default::default()
    };
    assert_eq!(
        named(replica_exchange(&p, &pt, None).unwrap_err()),
        "num_replicas"
    );
}
