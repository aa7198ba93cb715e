//! Shared helpers of the integration tests: seeded random instances and exact enumeration.
#![allow(dead_code)]

use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use thermoconsensus_anneal::IsingProblem;

/// A dense random instance with Gaussian fields and couplings.
pub fn gaussian(n: usize, seed: u64) -> IsingProblem {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let h: Vec<f64> = (0..n)
        .map(|_| 0.3 * rng.sample::<f64, _>(StandardNormal))
        .collect();
    let mut j = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            j.push((a, b, rng.sample::<f64, _>(StandardNormal)));
        }
    }
    IsingProblem::new(h, &j, 0.0).expect("valid instance")
}

/// Every state's energy, state index b having spin i = +1 when bit i of b is set.
pub fn all_energies(p: &IsingProblem) -> Vec<f64> {
    let n = p.num_variables();
    assert!(n <= 22, "enumeration is for small problems");
    // Gray-code walk: one flip per step, fields updated incrementally.
    let mut s = vec![-1i8; n];
    let mut fields = vec![0.0; n];
    p.local_fields(&s, &mut fields);
    let mut e = p.energy(&s);
    let mut out = vec![0.0; 1 << n];
    let mut index = 0usize;
    out[0] = e;
    for step in 1u64..(1u64 << n) {
        let i = step.trailing_zeros() as usize;
        let si = s[i] as f64;
        e += -2.0 * si * fields[i];
        s[i] = -s[i];
        p.add_to_fields(i, -2.0 * si, &mut fields);
        index ^= 1 << i;
        out[index] = e;
    }
    out
}

/// The exact ground energy.
pub fn ground_energy(p: &IsingProblem) -> f64 {
    all_energies(p).into_iter().fold(f64::INFINITY, f64::min)
}

/// Index of a state in the enumeration order of [`all_energies`].
pub fn state_index(s: &[i8]) -> usize {
    s.iter()
        .enumerate()
        .filter(|(_, &v)| v == 1)
        .map(|(i, _)| 1usize << i)
        .sum()
}

/// Four spins, five couplings: a small frustrated system whose Boltzmann law is checked exactly.
pub fn tiny() -> IsingProblem {
    IsingProblem::new(
        vec![0.3, -0.2, 0.1, 0.0],
        &[
            (0, 1, 1.0),
            (1, 2, 1.0),
            (0, 2, 1.0),
            (2, 3, -0.5),
            (0, 3, 0.4),
        ],
        0.0,
    )
    .expect("valid instance")
}

/// Pearson's chi-square of the sampled energy levels against exp(-beta E) / Z, and its degrees of
/// freedom (levels closer than 1e-9 are one level).
pub fn chi_square_levels(
    p: &IsingProblem,
    beta: f64,
    samples: &thermoconsensus_anneal::SampleSet,
) -> (f64, usize) {
    let mut levels: Vec<(f64, f64)> = Vec::new(); // (energy, Boltzmann weight)
    for e in all_energies(p) {
        match levels.iter_mut().find(|(l, _)| (l - e).abs() < 1e-9) {
            Some(level) => level.1 += (-beta * e).exp(),
            None => levels.push((e, (-beta * e).exp())),
        }
    }
    let z: f64 = levels.iter().map(|l| l.1).sum();
    let mut counts = vec![0u64; levels.len()];
    for (k, &c) in samples.num_occurrences.iter().enumerate() {
        let e = samples.energies[k];
        let at = levels
            .iter()
            .position(|(l, _)| (l - e).abs() < 1e-9)
            .expect("a known level");
        counts[at] += c;
    }
    let total = samples.num_reads() as f64;
    let chi2 = levels
        .iter()
        .zip(&counts)
        .map(|((_, w), &c)| {
            let expected = total * w / z;
            (c as f64 - expected).powi(2) / expected
        })
        .sum();
    (chi2, levels.len() - 1)
}

/// 99.9% quantile of chi-square with `dof` degrees of freedom (Wilson-Hilferty).
pub fn chi2_999(dof: usize) -> f64 {
    let k = dof as f64;
    let z = 3.090_232;
    k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
}

/// A sparse frustrated ring of 12 spins with a chord and fields: on a grid of quantum 0.25 when
/// `irrational` is false (integer sweeps), off every grid when true (real-valued sweeps).
pub fn sparse_ring(irrational: bool) -> IsingProblem {
    let n = 12;
    let bend = if irrational {
        std::f64::consts::SQRT_2 / 4.0
    } else {
        0.0
    };
    let mut couplings: Vec<(usize, usize, f64)> = (0..n)
        .map(|i| (i, (i + 1) % n, if i % 3 == 0 { -0.75 } else { 1.0 + bend }))
        .collect();
    couplings.push((0, 6, 0.5));
    let h = (0..n).map(|i| 0.25 * (i % 3) as f64 - 0.25).collect();
    IsingProblem::new(h, &couplings, 0.0).expect("valid instance")
}
