//! Free-energy minimisation over the probability simplex: the continuous mode behind consensus weights.
//!
//! Minimises `F(s) = sum_ij K_ij s_i s_j + sum_i h_i s_i - T S(s)` with `S(s) = -sum_i s_i ln s_i` over
//! s_i >= 0, sum_i s_i = 1 (K = J * d elementwise in the consensus Hamiltonian). Two stages:
//!
//! 1. global search: `chains` annealed Langevin chains in softmax coordinates (s = softmax(theta)),
//!    theta <- theta - eta grad F + sqrt(2 eta tau) xi with the search temperature tau lowered
//!    geometrically, each from its own random start;
//! 2. refinement of every chain's end by the mean-field fixed point
//!    `s_i ~ exp(-(sum_j (K_ij + K_ji) s_j + h_i) / T)` (2 K s for symmetric K), taken in log space
//!    with a damping that halves whenever F would rise (mirror descent with step a / T, so F never
//!    increases), until the weights stop moving.
//!
//! The lowest-F refined chain is returned with F, E, S, the iterations it took and whether it
//! converged (fixed point reached within tolerance).

use crate::error::{invalid, positive, Result};
use crate::rng::{rng_for, Stream};
use rand::RngExt;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use thermoconsensus_runtime::Progress;

/// Parameters of [`minimize_free_energy`].
#[derive(Debug, Clone, PartialEq)]
pub struct SimplexParams {
    /// Temperature T > 0 of the entropy term.
    pub temperature: f64,
    /// Independent Langevin chains (random starts).
    pub chains: usize,
    /// Langevin steps per chain (0: refine from the starts only).
    pub langevin_steps: usize,
    /// Most mean-field refinement iterations per chain.
    pub max_iterations: usize,
    /// Convergence: largest change of a weight in one refinement step.
    pub tolerance: f64,
    /// Seed of the starts and the Langevin noise.
    pub seed: u64,
}

impl Default for SimplexParams {
    fn default() -> Self {
        Self {
            temperature: 0.1,
            chains: 16,
            langevin_steps: 1000,
            max_iterations: 10_000,
            tolerance: 1e-10,
            seed: 0,
        }
    }
}

/// The minimiser found and its thermodynamics.
#[derive(Debug, Clone, PartialEq)]
pub struct SimplexResult {
    /// Weights on the simplex.
    pub weights: Vec<f64>,
    /// F = E - T S at the weights.
    pub free_energy: f64,
    /// E = s^T K s + h^T s.
    pub energy: f64,
    /// S = -sum s ln s (nats).
    pub entropy: f64,
    /// Langevin steps plus refinement iterations of the returned chain.
    pub iterations: usize,
    /// Whether the refinement reached the fixed point within tolerance.
    pub converged: bool,
    /// Free energy reached by every chain (the spread shows how rugged the landscape is).
    pub chain_free_energies: Vec<f64>,
}

/// The quadratic problem, validated.
struct Problem<'a> {
    m: usize,
    k: &'a [f64],
    h: &'a [f64],
    t: f64,
}

impl Problem<'_> {
    /// u_i = sum_j (K_ij + K_ji) s_j + h_i, the gradient of E.
    fn potentials(&self, s: &[f64], u: &mut [f64]) {
        let m = self.m;
        for (i, ui) in u.iter_mut().enumerate() {
            *ui = self.h[i];
        }
        for i in 0..m {
            let row = &self.k[i * m..(i + 1) * m];
            let mut acc = 0.0;
            for (j, &kij) in row.iter().enumerate() {
                acc += kij * s[j];
                u[j] += kij * s[i];
            }
            u[i] += acc;
        }
    }

    /// (F, E, S) at `s`.
    fn evaluate(&self, s: &[f64]) -> (f64, f64, f64) {
        let m = self.m;
        let mut e = 0.0;
        for i in 0..m {
            let row = &self.k[i * m..(i + 1) * m];
            e += s[i] * (self.h[i] + row.iter().zip(s).map(|(a, b)| a * b).sum::<f64>());
        }
        let entropy = -s
            .iter()
            .filter(|&&x| x > 0.0)
            .map(|&x| x * x.ln())
            .sum::<f64>();
        (e - self.t * entropy, e, entropy)
    }
}

/// log-sum-exp normalisation of log weights in place; returns the weights.
fn normalise(log_w: &mut [f64], s: &mut [f64]) {
    let max = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = log_w.iter().map(|&l| (l - max).exp()).sum();
    let lse = max + z.ln();
    for (l, si) in log_w.iter_mut().zip(s.iter_mut()) {
        *l -= lse;
        *si = l.exp();
    }
}

/// Minimises the free energy; `coupling` is the m x m matrix K (row-major), `h` the fields.
pub fn minimize_free_energy(
    coupling: &[f64],
    h: &[f64],
    params: &SimplexParams,
) -> Result<SimplexResult> {
    minimize_free_energy_with(coupling, h, params, None)
}

/// Langevin steps between two cancellation checks.
const CHECK_EVERY: usize = 1024;

/// [`minimize_free_energy`] with a `progress` handle: it counts Langevin steps over all chains and
/// cancels the run (every chain checks it every few steps).
pub fn minimize_free_energy_with(
    coupling: &[f64],
    h: &[f64],
    params: &SimplexParams,
    progress: Option<&Progress>,
) -> Result<SimplexResult> {
    let m = h.len();
    if m == 0 {
        return Err(invalid("h", "there are no weights to find (empty problem)"));
    }
    if coupling.len() != m.saturating_mul(m) {
        return Err(invalid(
            "coupling",
            format!(
                "expected a {m} x {m} matrix ({} values), got {}",
                m * m,
                coupling.len()
            ),
        ));
    }
    if let Some(i) = coupling.iter().position(|v| !v.is_finite()) {
        return Err(invalid(
            "coupling",
            format!("entry ({}, {}) is not finite", i / m, i % m),
        ));
    }
    if let Some(i) = h.iter().position(|v| !v.is_finite()) {
        return Err(invalid("h", format!("h[{i}] is not finite ({})", h[i])));
    }
    let t = positive("temperature", params.temperature)?;
    let chains = crate::reads::at_least_one("chains", params.chains)?;
    positive("tolerance", params.tolerance)?;
    if params.max_iterations == 0 {
        return Err(invalid("max_iterations", "must be at least 1"));
    }
    // Each step of each chain costs about m^2 (the potentials).
    crate::limits::check_work(&[
        ("chains", chains),
        (
            "langevin_steps",
            params.langevin_steps.saturating_add(params.max_iterations),
        ),
        ("weights", m.saturating_mul(m)),
    ])?;
    crate::limits::check_memory(
        "chains",
        &[(chains, m.saturating_mul(48).saturating_add(64))],
    )?;
    let p = Problem {
        m,
        k: coupling,
        h,
        t,
    };
    // Largest possible spread of the gradient: sets the Langevin step and the search temperatures.
    let scale = (0..m)
        .map(|i| {
            (0..m)
                .map(|j| (coupling[i * m + j] + coupling[j * m + i]).abs())
                .sum::<f64>()
        })
        .fold(0.0, f64::max)
        + h.iter().fold(0.0f64, |a, &b| a.max(b.abs()))
        + t;
    if !scale.is_finite() {
        return Err(invalid(
            "coupling",
            "the couplings and fields are too large: the gradient's scale (sum of |K| and |h|) \
             overflows a double; rescale the problem",
        ));
    }
    let eta = 0.5 / scale;
    let cancelled = || progress.is_some_and(Progress::is_cancelled);
    let results: Vec<(Vec<f64>, f64, usize, bool)> = (0..chains)
        .into_par_iter()
        .map(|c| {
            if cancelled() {
                return Err(crate::Error::cancelled());
            }
            let mut rng = rng_for(params.seed, Stream::Simplex, c as u64);
            // Chain 0 starts at the uniform weights, the others at random points of the simplex.
            let mut theta: Vec<f64> = (0..m)
                .map(|_| {
                    if c == 0 {
                        0.0
                    } else {
                        2.0 * rng.sample::<f64, _>(StandardNormal)
                    }
                })
                .collect();
            let mut s = vec![0.0; m];
            let mut u = vec![0.0; m];
            let steps = params.langevin_steps;
            let (tau_hot, tau_cold) = (scale, scale * 1e-4);
            for step in 0..steps {
                if (step + 1) % CHECK_EVERY == 0 {
                    if let Some(p) = progress {
                        p.advance_by(CHECK_EVERY);
                    }
                    if cancelled() {
                        return Err(crate::Error::cancelled());
                    }
                }
                normalise(&mut theta, &mut s);
                p.potentials(&s, &mut u);
                // theta now holds ln s; g_i = u_i + T (ln s_i + 1), dF/dtheta_k = s_k (g_k - <g>).
                let mean: f64 = (0..m).map(|i| s[i] * (u[i] + t * theta[i])).sum();
                let frac = step as f64 / steps.max(2).saturating_sub(1) as f64;
                let tau = tau_hot * (tau_cold / tau_hot).powf(frac);
                let noise = (2.0 * eta * tau).sqrt();
                for i in 0..m {
                    let grad = s[i] * (u[i] + t * theta[i] - mean);
                    let xi: f64 = rng.sample(StandardNormal);
                    theta[i] += -eta * grad + noise * xi;
                }
            }
            let mut log_w = theta;
            normalise(&mut log_w, &mut s);
            let (s, iterations, converged) = refine(&p, log_w, params);
            let f = p.evaluate(&s).0;
            Ok((s, f, steps + iterations, converged))
        })
        .collect::<Result<_>>()?;
    let chain_free_energies: Vec<f64> = results.iter().map(|r| r.1).collect();
    let best = results
        .into_iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or_else(|| invalid("chains", "must be at least 1"))?;
    let (free_energy, energy, entropy) = p.evaluate(&best.0);
    // Never a NaN answer reported as converged: overflow inside the iteration is an error.
    if !(free_energy.is_finite() && best.0.iter().all(|w| w.is_finite())) {
        return Err(invalid(
            "coupling",
            format!(
                "the free energy overflowed (F = {free_energy}); the couplings, fields or \
                 temperature are too extreme for double precision"
            ),
        ));
    }
    Ok(SimplexResult {
        weights: best.0,
        free_energy,
        energy,
        entropy,
        iterations: best.2,
        converged: best.3,
        chain_free_energies,
    })
}

/// Damped mean-field iteration from log weights `log_w`; returns (weights, iterations, converged).
fn refine(p: &Problem<'_>, mut log_w: Vec<f64>, params: &SimplexParams) -> (Vec<f64>, usize, bool) {
    let m = p.m;
    let mut s = vec![0.0; m];
    normalise(&mut log_w, &mut s);
    let mut f = p.evaluate(&s).0;
    let mut u = vec![0.0; m];
    let (mut cand_log, mut cand) = (vec![0.0; m], vec![0.0; m]);
    let mut damping = 1.0f64;
    for it in 1..=params.max_iterations {
        p.potentials(&s, &mut u);
        for i in 0..m {
            // Mixing the log weights with the mean-field target's: a = 1 is the plain fixed point.
            cand_log[i] = (1.0 - damping) * log_w[i] + damping * (-u[i] / p.t);
        }
        normalise(&mut cand_log, &mut cand);
        let f_new = p.evaluate(&cand).0;
        let moved = s
            .iter()
            .zip(&cand)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if f_new <= f + 1e-15 * f.abs().max(1.0) {
            std::mem::swap(&mut log_w, &mut cand_log);
            std::mem::swap(&mut s, &mut cand);
            f = f_new;
            if moved < params.tolerance {
                return (s, it, true);
            }
            damping = (damping * 1.5).min(1.0);
        } else {
            damping *= 0.5;
            if damping < 1e-12 {
                // No step lowers F: a fixed point to working precision.
                return (s, it, moved < params.tolerance.sqrt());
            }
        }
    }
    (s, params.max_iterations, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(t: f64) -> SimplexParams {
        SimplexParams {
            temperature: t,
            ..Default::default()
        }
    }

    #[test]
    fn no_coupling_gives_the_boltzmann_weights() {
        let h = [0.0, 1.0, 2.0];
        let r = minimize_free_energy(&[0.0; 9], &h, &params(0.5)).unwrap();
        let z: f64 = h.iter().map(|x| (-x / 0.5f64).exp()).sum();
        for (w, x) in r.weights.iter().zip(h) {
            assert!((w - (-x / 0.5f64).exp() / z).abs() < 1e-8);
        }
        assert!(r.converged);
        assert!((r.free_energy + 0.5 * z.ln()).abs() < 1e-9);
    }

    #[test]
    fn weight_goes_to_the_tight_cluster() {
        // Three responses close together, one far away.
        let d = [
            0.0, 0.1, 0.1, 0.9, //
            0.1, 0.0, 0.1, 0.9, //
            0.1, 0.1, 0.0, 0.9, //
            0.9, 0.9, 0.9, 0.0,
        ];
        let r = minimize_free_energy(&d, &[0.0; 4], &params(0.05)).unwrap();
        assert!(r.weights[3] < 0.05, "{:?}", r.weights);
        assert!((r.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_rejected() {
        assert!(minimize_free_energy(&[], &[], &params(1.0)).is_err());
        assert!(minimize_free_energy(&[0.0; 3], &[0.0; 2], &params(1.0)).is_err());
        assert!(minimize_free_energy(&[f64::NAN], &[0.0], &params(1.0)).is_err());
        assert!(minimize_free_energy(&[0.0], &[0.0], &params(0.0)).is_err());
    }
}
