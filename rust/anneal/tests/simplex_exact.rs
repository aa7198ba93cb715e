//! The simplex minimiser against the exact minimum by exhaustive grid search on small problems.

use rand::{RngExt, SeedableRng};
use thermoconsensus_anneal::*;

fn free_energy(k: &[f64], h: &[f64], t: f64, s: &[f64]) -> f64 {
    let m = h.len();
    let mut e = 0.0;
    for i in 0..m {
        e += h[i] * s[i];
        for j in 0..m {
            e += k[i * m + j] * s[i] * s[j];
        }
    }
    let entropy: f64 = -s
        .iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| x * x.ln())
        .sum::<f64>();
    e - t * entropy
}

/// The lowest F over the grid of step 1/steps on the simplex (m = 3 or 4).
fn grid_minimum(k: &[f64], h: &[f64], t: f64, steps: usize) -> f64 {
    let m = h.len();
    let mut best = f64::INFINITY;
    let mut s = vec![0.0; m];
    let rec = |s: &mut Vec<f64>, best: &mut f64| {
        let mut idx = vec![0usize; m - 1];
        loop {
            let used: usize = idx.iter().sum();
            if used <= steps {
                for (i, &v) in idx.iter().enumerate() {
                    s[i] = v as f64 / steps as f64;
                }
                s[m - 1] = (steps - used) as f64 / steps as f64;
                *best = best.min(free_energy(k, h, t, s));
            }
            let mut d = 0;
            loop {
                if d == m - 1 {
                    return;
                }
                idx[d] += 1;
                if idx[d] <= steps {
                    break;
                }
                idx[d] = 0;
                d += 1;
            }
        }
    };
    rec(&mut s, &mut best);
    best
}

fn random_problem(m: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut d = vec![0.0; m * m];
    for i in 0..m {
        for j in i + 1..m {
            let v: f64 = rng.random();
            d[i * m + j] = v;
            d[j * m + i] = v;
        }
    }
    let h: Vec<f64> = (0..m).map(|_| 0.3 * (rng.random::<f64>() - 0.5)).collect();
    (d, h)
}

#[test]
fn matches_grid_search_minimum() {
    for (m, steps, seed) in [(3, 1000, 1), (3, 1000, 2), (4, 150, 3), (4, 150, 4)] {
        for t in [0.02, 0.1, 0.5] {
            let (k, h) = random_problem(m, seed);
            let params = SimplexParams {
                temperature: t,
                seed,
                ..Default::default()
            };
            let r = minimize_free_energy(&k, &h, &params).unwrap();
            let grid = grid_minimum(&k, &h, t, steps);
            // The minimiser is at least as good as the grid, and the grid is within its resolution.
            assert!(
                r.free_energy <= grid + 1e-12,
                "m={m} t={t}: {} > grid {grid}",
                r.free_energy
            );
            assert!(
                r.free_energy > grid - 0.02,
                "m={m} t={t}: {} << grid {grid}",
                r.free_energy
            );
            let direct = free_energy(&k, &h, t, &r.weights);
            assert!((direct - r.free_energy).abs() < 1e-12);
            assert!((r.energy - t * r.entropy - r.free_energy).abs() < 1e-12);
            assert!(r.converged, "m={m} t={t}");
        }
    }
}

#[test]
fn refinement_is_a_mean_field_fixed_point() {
    let (k, h) = random_problem(6, 8);
    let t = 0.2;
    let r = minimize_free_energy(
        &k,
        &h,
        &SimplexParams {
            temperature: t,
            ..Default::default()
        },
    )
    .unwrap();
    let m = 6;
    let u: Vec<f64> = (0..m)
        .map(|i| {
            h[i] + (0..m)
                .map(|j| (k[i * m + j] + k[j * m + i]) * r.weights[j])
                .sum::<f64>()
        })
        .collect();
    let z: f64 = u.iter().map(|x| (-x / t).exp()).sum();
    for (w, ui) in r.weights.iter().zip(&u) {
        assert!((w - (-ui / t).exp() / z).abs() < 1e-8);
    }
}
