//! Every sampler finds the exact ground state (by enumeration) of random dense instances with
//! N <= 20 at modest budgets, and the known ground energy of planted instances.

mod common;

use common::{gaussian, ground_energy};
use thermoconsensus_anneal::*;

const SIZES: [(usize, u64); 5] = [(8, 1), (12, 2), (16, 3), (18, 4), (20, 5)];

#[test]
fn enumeration_agrees_with_direct_energies() {
    let p = gaussian(6, 9);
    let all = common::all_energies(&p);
    for (b, &e) in all.iter().enumerate() {
        let s: Vec<i8> = (0..6)
            .map(|i| if b >> i & 1 == 1 { 1 } else { -1 })
            .collect();
        assert!((p.energy(&s) - e).abs() < 1e-9);
    }
}

#[test]
fn simulated_annealing_finds_exact_ground_states() {
    for (n, seed) in SIZES {
        let p = gaussian(n, seed);
        let exact = ground_energy(&p);
        let params = SaParams {
            num_reads: 20,
            num_sweeps: 500,
            seed,
            ..Default::default()
        };
        let r = simulated_annealing(&p, &params, None).unwrap();
        let (state, e) = r.samples.best().unwrap();
        assert!((e - exact).abs() < 1e-9, "n = {n}: {e} vs {exact}");
        assert!((p.energy(state) - e).abs() < 1e-9);
    }
}

#[test]
fn every_schedule_reaches_the_ground_state() {
    let p = gaussian(12, 7);
    let exact = ground_energy(&p);
    let schedules = [
        Schedule::Geometric,
        Schedule::Linear,
        Schedule::Logarithmic,
        Schedule::Adaptive {
            initial_acceptance: 0.5,
            final_acceptance: 0.001,
        },
        Schedule::Langevin {
            gamma: None,
            eta: None,
        },
        Schedule::Custom(schedule::geometric(0.05, 5.0, 400)),
    ];
    for schedule in schedules {
        let params = SaParams {
            num_reads: 20,
            num_sweeps: 400,
            schedule: schedule.clone(),
            seed: 11,
            ..Default::default()
        };
        let r = simulated_annealing(&p, &params, None).unwrap();
        let e = r.samples.best().unwrap().1;
        assert!((e - exact).abs() < 1e-9, "{schedule:?}: {e} vs {exact}");
    }
}

#[test]
fn path_integral_annealing_finds_exact_ground_states() {
    for (n, seed) in SIZES {
        let p = gaussian(n, seed);
        let exact = ground_energy(&p);
        let params = PimcParams {
            num_reads: 10,
            num_sweeps: 300,
            trotter_slices: 8,
            seed,
            ..Default::default()
        };
        let r = path_integral_annealing(&p, &params, None).unwrap();
        let e = r.samples.best().unwrap().1;
        assert!((e - exact).abs() < 1e-9, "n = {n}: {e} vs {exact}");
    }
}

#[test]
fn replica_exchange_finds_exact_ground_states() {
    for (n, seed) in SIZES {
        let p = gaussian(n, seed);
        let exact = ground_energy(&p);
        let params = PtParams {
            num_reads: 2,
            num_replicas: 8,
            num_sweeps: 300,
            keep: Keep::Best,
            adaptive: true,
            seed,
            ..Default::default()
        };
        let r = replica_exchange(&p, &params, None).unwrap();
        let e = r.samples.best().unwrap().1;
        assert!((e - exact).abs() < 1e-9, "n = {n}: {e} vs {exact}");
        assert_eq!(r.swap_acceptance.len(), 7);
        assert!(r.betas.windows(2).all(|w| w[1] > w[0]));
    }
}

#[test]
fn planted_instances_reach_their_ground_energy() {
    let (p, _, ground) = instances::planted_frustrated_loops(150, 90, 6, 4).unwrap();
    let sa = SaParams {
        num_reads: 16,
        num_sweeps: 2000,
        seed: 1,
        ..Default::default()
    };
    let r = simulated_annealing(&p, &sa, None).unwrap();
    let e = r.samples.best().unwrap().1;
    assert!((e - ground).abs() < 1e-9, "SA: {e} vs planted {ground}");
    assert!(r.samples.energies.iter().all(|&x| x >= ground - 1e-9));
    let pt = PtParams {
        num_reads: 2,
        num_replicas: 16,
        num_sweeps: 2000,
        keep: Keep::Best,
        seed: 2,
        ..Default::default()
    };
    let e = replica_exchange(&p, &pt, None)
        .unwrap()
        .samples
        .best()
        .unwrap()
        .1;
    assert!((e - ground).abs() < 1e-9, "PT: {e} vs planted {ground}");
}
