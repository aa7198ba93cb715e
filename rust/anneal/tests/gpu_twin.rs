//! The GPU twins of simulated annealing and replica exchange (`cuda/anneal.cu`) against the CPU samplers and
//! exact enumeration. They run on the host emulator everywhere (a C++20 compiler is enough) and on every real
//! GPU present. The random streams differ from the CPU's (Philox on the device), so the checks are
//! distributional: exact ground states and Boltzmann frequencies, as for the CPU samplers.

mod common;

use thermoconsensus_anneal::*;
use thermoconsensus_gpu::{Arg, Executor, Grid};

/// 99.9% quantile of chi-square with 15 degrees of freedom.
const CHI2_15_999: f64 = 37.70;

fn executors() -> Vec<std::sync::Arc<Executor>> {
    Executor::all_for_tests()
        .into_iter()
        .filter_map(|e| e.map_err(|err| eprintln!("SKIP a device: {err}")).ok())
        .collect()
}

/// A frustrated ring of 12 spins with a field: sparse, so the one-thread-per-chain CSR kernel runs.
fn ring() -> IsingProblem {
    let n = 12;
    let couplings: Vec<Coupling> = (0..n)
        .map(|i| (i, (i + 1) % n, if i % 3 == 0 { -0.7 } else { 0.9 }))
        .collect();
    let h = (0..n).map(|i| 0.1 * (i as f64 - 5.5) / 5.5).collect();
    IsingProblem::new(h, &couplings, 0.25).unwrap()
}

/// 99.9% quantile of chi-square with `dof` degrees of freedom (Wilson-Hilferty).
fn chi2_999(dof: usize) -> f64 {
    let k = dof as f64;
    let z = 3.090_232;
    k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
}

#[test]
fn philox_matches_the_random123_known_answers() {
    // Random123's kat_vectors: counter[4], key[2] -> output[4].
    let cases: [([u32; 6], [u32; 4]); 3] = [
        ([0; 6], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),
        (
            [u32::MAX; 6],
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
        ),
        (
            [
                0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
            ],
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
        ),
    ];
    for exec in executors() {
        let input: Vec<u32> = cases.iter().flat_map(|c| c.0).collect();
        let inp = exec.upload(&input).unwrap();
        let out = exec.zeros::<u32>(12).unwrap();
        // SAFETY: philox_kat(const unsigned*, unsigned*, unsigned long long) with 3 x 6 inputs, 3 x 4 outputs.
        unsafe {
            exec.launch(
                "anneal",
                "philox_kat",
                Grid::linear(1, 32),
                &[inp.arg(), out.arg(), Arg::U64(3)],
            )
        }
        .unwrap();
        let got = exec.download(&out).unwrap();
        for (k, c) in cases.iter().enumerate() {
            assert_eq!(&got[4 * k..4 * k + 4], &c.1, "{}: case {k}", exec.name());
        }
    }
}

#[test]
fn sa_finds_exact_ground_states() {
    for exec in executors() {
        for (name, p) in [
            ("sk16", instances::sherrington_kirkpatrick(16, 4).unwrap()),
            ("ring", ring()),
        ] {
            let ground = common::ground_energy(&p);
            let params = SaParams {
                num_reads: 32,
                num_sweeps: 300,
                seed: 1,
                ..Default::default()
            };
            let r =
                simulated_annealing_on(&Compute::Device(exec.clone()), &p, &params, None).unwrap();
            let (_, best) = r.samples.best().unwrap();
            assert!(
                (best - ground).abs() < 1e-9,
                "{name}: best {best}, ground {ground}"
            );
            assert_eq!(r.samples.num_reads(), 32);
            // The reported energies are the states' energies.
            for (k, &e) in r.samples.energies.iter().enumerate() {
                let s = &r.samples.states[k * p.num_variables()..(k + 1) * p.num_variables()];
                assert!(
                    (p.energy(s) - e).abs() < 1e-9,
                    "{name}: energy of state {k}"
                );
            }
        }
    }
}

#[test]
fn sa_at_fixed_beta_samples_the_boltzmann_distribution() {
    for exec in executors() {
        for (name, p, beta) in [
            ("tiny (dense kernel)", common::tiny(), 0.8),
            ("ring (CSR kernel)", ring(), 0.7),
        ] {
            let params = SaParams {
                num_reads: 4000,
                schedule: Schedule::Custom(vec![beta; 30]),
                seed: 5,
                ..Default::default()
            };
            let r =
                simulated_annealing_on(&Compute::Device(exec.clone()), &p, &params, None).unwrap();
            let (chi2, dof) = common::chi_square_levels(&p, beta, &r.samples);
            assert!(chi2 < chi2_999(dof), "{name}: chi2 = {chi2} with {dof} dof");
            // Control: the same samples are rejected as draws at a clearly different beta.
            let (wrong, _) = common::chi_square_levels(&p, beta * 2.5, &r.samples);
            assert!(wrong > chi2_999(dof), "{name}: control chi2 = {wrong}");
        }
        assert!(chi2_999(15) > CHI2_15_999 - 0.5 && chi2_999(15) < CHI2_15_999 + 0.5);
    }
}

#[test]
fn replica_exchange_samples_boltzmann_and_finds_ground_states() {
    for exec in executors() {
        let p = ring();
        let params = PtParams {
            num_reads: 1500,
            num_replicas: 4,
            num_sweeps: 40,
            beta_range: Some((0.1, 0.9)),
            seed: 2,
            ..Default::default()
        };
        let r = replica_exchange_on(&Compute::Device(exec.clone()), &p, &params, None).unwrap();
        let (chi2, dof) = common::chi_square_levels(&p, 0.9, &r.samples);
        assert!(
            chi2 < chi2_999(dof),
            "coldest replica: chi2 = {chi2} with {dof} dof"
        );
        assert_eq!(r.swap_acceptance.len(), 3);
        assert!(
            r.swap_acceptance.iter().all(|&a| a > 0.05 && a <= 1.0),
            "{:?}",
            r.swap_acceptance
        );
        assert!(r.round_trips > 0);

        let sk = instances::sherrington_kirkpatrick(14, 9).unwrap();
        let best = PtParams {
            num_reads: 8,
            num_replicas: 8,
            num_sweeps: 200,
            keep: Keep::Best,
            seed: 3,
            ..Default::default()
        };
        let r = replica_exchange_on(&Compute::Device(exec.clone()), &sk, &best, None).unwrap();
        let ground = common::ground_energy(&sk);
        assert!((r.samples.best().unwrap().1 - ground).abs() < 1e-9);
    }
}

#[test]
fn a_seed_reproduces_a_run_and_another_seed_does_not() {
    for exec in executors() {
        let p = instances::sherrington_kirkpatrick(20, 2).unwrap();
        let params = SaParams {
            num_reads: 16,
            num_sweeps: 20,
            seed: 11,
            ..Default::default()
        };
        let a = simulated_annealing_on(&Compute::Device(exec.clone()), &p, &params, None).unwrap();
        let b = simulated_annealing_on(&Compute::Device(exec.clone()), &p, &params, None).unwrap();
        assert_eq!(a.samples, b.samples);
        let c = simulated_annealing_on(
            &Compute::Device(exec.clone()),
            &p,
            &SaParams { seed: 12, ..params },
            None,
        )
        .unwrap();
        assert_ne!(a.samples, c.samples);
    }
}

#[test]
fn cpu_only_options_are_named_errors() {
    let Some(exec) = executors().into_iter().next() else {
        return;
    };
    let p = common::tiny();
    let adaptive = SaParams {
        schedule: Schedule::Adaptive {
            initial_acceptance: 0.5,
            final_acceptance: 0.01,
        },
        ..Default::default()
    };
    let e =
        simulated_annealing_on(&Compute::Device(exec.clone()), &p, &adaptive, None).unwrap_err();
    assert!(e.to_string().starts_with("schedule:"), "{e}");
    let traced = SaParams {
        trace_every: 10,
        ..Default::default()
    };
    let e = simulated_annealing_on(&Compute::Device(exec.clone()), &p, &traced, None).unwrap_err();
    assert!(e.to_string().starts_with("trace_every:"), "{e}");
    let e = replica_exchange_on(
        &Compute::Device(exec.clone()),
        &p,
        &PtParams {
            adaptive: true,
            ..Default::default()
        },
        None,
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("adaptive:"), "{e}");
    // A slice of reads has no device twin (the device draws Philox streams by chain).
    let slice = SaParams {
        first_read: 4,
        ..Default::default()
    };
    let e = simulated_annealing_on(&Compute::Device(exec.clone()), &p, &slice, None).unwrap_err();
    assert!(e.to_string().starts_with("first_read:"), "{e}");
    let pt_slice = PtParams {
        first_read: 4,
        ..Default::default()
    };
    let e = replica_exchange_on(&Compute::Device(exec.clone()), &p, &pt_slice, None).unwrap_err();
    assert!(e.to_string().starts_with("first_read:"), "{e}");
    assert_eq!(sa_work(&p, &slice).cpu_only, Some("first_read"));
    assert_eq!(pt_work(&p, &pt_slice).cpu_only, Some("first_read"));
    // The device decision sees the same options as CPU-only, so "auto" never picks the device for them.
    assert_eq!(sa_work(&p, &adaptive).cpu_only, Some("schedule"));
    assert_eq!(sa_work(&p, &traced).cpu_only, Some("trace_every"));
    let ladder = PtParams {
        adaptive: true,
        ..Default::default()
    };
    assert_eq!(pt_work(&p, &ladder).cpu_only, Some("adaptive"));
    assert_eq!(sa_work(&p, &SaParams::default()).cpu_only, None);
}
