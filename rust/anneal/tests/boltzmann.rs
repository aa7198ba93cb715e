//! At fixed beta the samplers draw states with the Boltzmann probabilities exp(-beta E) / Z:
//! Pearson's chi-square over all 2^4 states of a small frustrated system stays below the 99.9%
//! quantile of chi-square with 15 degrees of freedom (37.70).

mod common;

use thermoconsensus_anneal::*;

const CHI2_15_999: f64 = 37.70;

fn chi_square(p: &IsingProblem, beta: f64, samples: &SampleSet) -> f64 {
    let energies = common::all_energies(p);
    let z: f64 = energies.iter().map(|e| (-beta * e).exp()).sum();
    let mut counts = vec![0u64; energies.len()];
    for (k, &c) in samples.num_occurrences.iter().enumerate() {
        let s = &samples.states[k * p.num_variables()..(k + 1) * p.num_variables()];
        counts[common::state_index(s)] += c;
    }
    let total = samples.num_reads() as f64;
    energies
        .iter()
        .zip(&counts)
        .map(|(e, &c)| {
            let expected = total * (-beta * e).exp() / z;
            (c as f64 - expected).powi(2) / expected
        })
        .sum()
}

#[test]
fn metropolis_at_fixed_beta_samples_the_boltzmann_distribution() {
    let p = common::tiny();
    let beta = 0.8;
    let params = SaParams {
        num_reads: 20_000,
        schedule: Schedule::Custom(vec![beta; 30]),
        seed: 3,
        ..Default::default()
    };
    let r = simulated_annealing(&p, &params, None).unwrap();
    let chi2 = chi_square(&p, beta, &r.samples);
    assert!(chi2 < CHI2_15_999, "chi2 = {chi2}");
}

#[test]
fn replica_exchange_coldest_replica_samples_its_beta() {
    let p = common::tiny();
    let params = PtParams {
        num_reads: 10_000,
        num_replicas: 4,
        num_sweeps: 40,
        beta_range: Some((0.2, 1.2)),
        keep: Keep::Last,
        seed: 4,
        ..Default::default()
    };
    let r = replica_exchange(&p, &params, None).unwrap();
    let chi2 = chi_square(&p, 1.2, &r.samples);
    assert!(chi2 < CHI2_15_999, "chi2 = {chi2}");
}

#[test]
fn chi_square_detects_the_wrong_temperature() {
    // The check is not vacuous: the same samples fail against a different beta.
    let p = common::tiny();
    let params = SaParams {
        num_reads: 20_000,
        schedule: Schedule::Custom(vec![0.8; 30]),
        seed: 3,
        ..Default::default()
    };
    let r = simulated_annealing(&p, &params, None).unwrap();
    assert!(chi_square(&p, 1.2, &r.samples) > 100.0);
}

#[test]
fn path_integral_without_transverse_field_is_classical_boltzmann() {
    // Gamma -> 0 locks the slices together (J_perp -> infinity); world-line moves then sample the
    // classical distribution at beta, which checks the Trotter action's classical part and its 1/P.
    let p = common::tiny();
    let beta = 0.8;
    let params = PimcParams {
        num_reads: 20_000,
        num_sweeps: 30,
        trotter_slices: 4,
        gamma_range: Some((1e-9, 1e-9)),
        beta: Some(beta),
        seed: 5,
        ..Default::default()
    };
    let r = path_integral_annealing(&p, &params, None).unwrap();
    let chi2 = chi_square(&p, beta, &r.samples);
    assert!(chi2 < CHI2_15_999, "chi2 = {chi2}");
}

#[test]
fn integer_and_real_sweeps_sample_the_boltzmann_distribution_on_sparse_problems() {
    // The ring on a grid runs the branch-free integer sweep, the bent one the real-valued sweep; both
    // must draw energy levels with the Boltzmann weights, under SA at fixed beta and under replica
    // exchange (whose swaps use the energies the sweeps track).
    for irrational in [false, true] {
        let p = common::sparse_ring(irrational);
        assert_eq!(p.grid_quantum().is_none(), irrational);
        let beta = 0.9;
        let sa = SaParams {
            num_reads: 20_000,
            schedule: Schedule::Custom(vec![beta; 40]),
            seed: 5,
            ..Default::default()
        };
        let r = simulated_annealing(&p, &sa, None).unwrap();
        let (chi2, dof) = common::chi_square_levels(&p, beta, &r.samples);
        assert!(
            chi2 < common::chi2_999(dof),
            "SA, irrational = {irrational}: chi2 {chi2}, dof {dof}"
        );
        let (wrong, _) = common::chi_square_levels(&p, 1.5 * beta, &r.samples);
        assert!(
            wrong > 4.0 * common::chi2_999(dof),
            "the check must see a wrong beta: {wrong}"
        );
        let pt = PtParams {
            num_reads: 10_000,
            num_replicas: 4,
            num_sweeps: 60,
            beta_range: Some((0.2, beta)),
            keep: Keep::Last,
            seed: 6,
            ..Default::default()
        };
        let r = replica_exchange(&p, &pt, None).unwrap();
        let (chi2, dof) = common::chi_square_levels(&p, beta, &r.samples);
        assert!(
            chi2 < common::chi2_999(dof),
            "PT, irrational = {irrational}: chi2 {chi2}, dof {dof}"
        );
    }
}
