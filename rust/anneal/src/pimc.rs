//! Path-integral Monte Carlo, i.e. simulated quantum annealing (Martoňák, Santoro & Tosatti 2002;
//! Santoro et al. 2002): the transverse-field Ising model at temperature T is mapped by the
//! Suzuki-Trotter decomposition onto P classical replicas ("Trotter slices") coupled along imaginary
//! time by J_perp = -(P T / 2) ln tanh(Gamma / (P T)), sampled at the temperature P T. Gamma is lowered
//! linearly over the sweeps; each sweep makes a local Metropolis move on every spin of every slice and a
//! world-line move (the spin flipped in all slices at once) on every spin. Each read returns its
//! lowest-energy slice.

use crate::error::{invalid, positive, Result};
use crate::limits::{check_sampler_memory, check_work, product};
use crate::problem::IsingProblem;
use crate::reads::{at_least_one, run_reads, stream_index};
use crate::rng::{metropolis, rng_for, Stream};
use crate::sa::random_state;
use crate::sampleset::{collect, ReadOutcome, RunStats, SampleSet};
use std::time::Instant;
use thermoconsensus_runtime::Progress;

/// Parameters of [`path_integral_annealing`].
#[derive(Debug, Clone, PartialEq)]
pub struct PimcParams {
    /// Independent reads.
    pub num_reads: usize,
    /// Sweeps per read.
    pub num_sweeps: usize,
    /// Trotter slices P (at least 2).
    pub trotter_slices: usize,
    /// Transverse field (start, end), lowered linearly; None: (max field, max field / 1000).
    pub gamma_range: Option<(f64, f64)>,
    /// Inverse temperature 1/T of the quantum system; None: the cold end of the default beta range.
    pub beta: Option<f64>,
    /// Seed of every random stream.
    pub seed: u64,
    /// Also make world-line moves.
    pub world_line_moves: bool,
    /// Record the best slice energy every this many sweeps (0: no trace).
    pub trace_every: usize,
    /// Stream index of the first read (see [`crate::SaParams::first_read`]); 0 for a whole run.
    pub first_read: u64,
}

impl Default for PimcParams {
    fn default() -> Self {
        Self {
            num_reads: 10,
            num_sweeps: 1000,
            trotter_slices: 16,
            gamma_range: None,
            beta: None,
            seed: 0,
            world_line_moves: true,
            trace_every: 0,
            first_read: 0,
        }
    }
}

/// What path-integral annealing returns.
#[derive(Debug, Clone, PartialEq)]
pub struct PimcResult {
    /// The best slice of every read, aggregated.
    pub samples: SampleSet,
    /// Acceptance of local moves, timing and traces.
    pub stats: RunStats,
    /// The transverse-field range used.
    pub gamma_range: (f64, f64),
    /// The inverse temperature used.
    pub beta: f64,
    /// Fraction of accepted world-line moves over all reads (0 when they are off).
    pub world_line_acceptance: f64,
}

/// ln tanh(x) for x > 0 without overflow or cancellation.
fn ln_tanh(x: f64) -> f64 {
    if x < 0.5 {
        // tanh is accurate here; the exp form would cancel in ln(1 - e^-2x).
        return x.tanh().ln();
    }
    let e = (-2.0 * x).exp();
    (-e).ln_1p() - e.ln_1p()
}

/// The inter-slice coupling J_perp for transverse field `gamma` at temperature 1/`beta` with `p` slices.
pub fn trotter_coupling(gamma: f64, beta: f64, p: usize) -> f64 {
    let pt = p as f64 / beta;
    -(pt / 2.0) * ln_tanh(gamma / pt)
}

/// Runs path-integral Monte Carlo annealing; reads in parallel, results independent of thread count.
/// `progress` counts sweeps (num_reads x num_sweeps) and can cancel the run.
pub fn path_integral_annealing(
    problem: &IsingProblem,
    params: &PimcParams,
    progress: Option<&Progress>,
) -> Result<PimcResult> {
    let num_reads = at_least_one("num_reads", params.num_reads)?;
    let sweeps = at_least_one("num_sweeps", params.num_sweeps)?;
    let p = params.trotter_slices;
    if p < 2 {
        return Err(invalid(
            "trotter_slices",
            format!("must be at least 2, got {p}"),
        ));
    }
    let beta = match params.beta {
        Some(b) => positive("beta", b)?,
        None => problem.default_beta_range().1,
    };
    let (g0, g1) = match params.gamma_range {
        Some((a, b)) => (positive("gamma_range", a)?, positive("gamma_range", b)?),
        None => {
            let m = problem.max_field().max(1e-12);
            (m, m * 1e-3)
        }
    };
    let n = problem.num_variables();
    check_work(&[
        ("num_reads", num_reads),
        ("num_sweeps", sweeps),
        ("trotter_slices", p),
        ("spins", n),
    ])?;
    // Each read holds p slices of n spins (state and fields) and p slice energies.
    let slice_bytes = product("trotter_slices", n.saturating_add(1), 9)?;
    check_sampler_memory(
        num_reads,
        n,
        (sweeps, params.trace_every),
        "trotter_slices",
        product("trotter_slices", p, slice_bytes)?,
    )?;
    let beta_p = beta / p as f64;
    let every = params.trace_every;
    let start = Instant::now();
    let reads = run_reads(num_reads, progress, |read, ticker| {
        let mut rng = rng_for(
            params.seed,
            Stream::Read,
            stream_index(params.first_read, read)?,
        );
        let mut st: Vec<i8> = random_state(n * p, &mut rng);
        let mut fld = vec![0.0; n * p];
        let mut energy = vec![0.0; p];
        for k in 0..p {
            let s = &st[k * n..(k + 1) * n];
            problem.local_fields(s, &mut fld[k * n..(k + 1) * n]);
            energy[k] = problem.energy(s);
        }
        let (mut accepted, mut wl_accepted) = (0u64, 0u64);
        let mut trace = Vec::new();
        for t in 0..sweeps {
            let frac = if sweeps > 1 {
                t as f64 / (sweeps - 1) as f64
            } else {
                1.0
            };
            let gamma = g0 + (g1 - g0) * frac;
            // beta_p * J_perp, the dimensionless inter-slice coupling.
            let k_perp = -0.5 * ln_tanh(gamma * beta_p);
            for (k, slice_energy) in energy.iter_mut().enumerate() {
                let (prev, next) = ((k + p - 1) % p * n, (k + 1) % p * n);
                let base = k * n;
                for i in 0..n {
                    let s = st[base + i] as f64;
                    let de = -2.0 * s * fld[base + i];
                    let neighbours = (st[prev + i] + st[next + i]) as f64;
                    if metropolis(&mut rng, beta_p * de + 2.0 * k_perp * s * neighbours) {
                        st[base + i] = -st[base + i];
                        problem.add_to_fields(i, -2.0 * s, &mut fld[base..base + n]);
                        *slice_energy += de;
                        accepted += 1;
                    }
                }
            }
            if params.world_line_moves {
                for i in 0..n {
                    let de: f64 = (0..p)
                        .map(|k| -2.0 * st[k * n + i] as f64 * fld[k * n + i])
                        .sum();
                    if metropolis(&mut rng, beta_p * de) {
                        for (k, e) in energy.iter_mut().enumerate() {
                            let base = k * n;
                            let s = st[base + i] as f64;
                            *e += -2.0 * s * fld[base + i];
                            st[base + i] = -st[base + i];
                            problem.add_to_fields(i, -2.0 * s, &mut fld[base..base + n]);
                        }
                        wl_accepted += 1;
                    }
                }
            }
            if every > 0 && (t + 1) % every == 0 {
                trace.push(energy.iter().copied().fold(f64::INFINITY, f64::min));
            }
            ticker.tick()?;
        }
        let (best, best_energy) = (0..p)
            .map(|k| (k, problem.energy(&st[k * n..(k + 1) * n])))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, f64::INFINITY));
        Ok((
            ReadOutcome {
                state: st[best * n..(best + 1) * n].to_vec(),
                energy: best_energy,
                accepted,
                attempts: (sweeps * n * p) as u64,
                trace,
            },
            wl_accepted,
        ))
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    let wl: u64 = reads.iter().map(|r| r.1).sum();
    let wl_attempts = if params.world_line_moves {
        (num_reads * sweeps * n) as f64
    } else {
        1.0
    };
    let (samples, stats) = collect(n, reads.into_iter().map(|r| r.0).collect(), every, elapsed);
    Ok(PimcResult {
        samples,
        stats,
        gamma_range: (g0, g1),
        beta,
        world_line_acceptance: wl as f64 / wl_attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_tanh_is_accurate_at_both_ends() {
        for x in [1e-8f64, 1e-3, 0.5, 3.0, 30.0] {
            let direct = x.tanh().ln();
            assert!((ln_tanh(x) - direct).abs() <= 1e-12 * direct.abs().max(1e-300) + 1e-15);
        }
    }

    #[test]
    fn trotter_coupling_grows_as_gamma_falls() {
        let strong = trotter_coupling(0.01, 1.0, 8);
        let weak = trotter_coupling(5.0, 1.0, 8);
        assert!(strong > weak && weak > 0.0);
        // J_perp = -(PT/2) ln tanh(Gamma/PT) with P = 8, T = 1, Gamma = 1.
        let want = -(8.0 / 2.0) * (1.0f64 / 8.0).tanh().ln();
        assert!((trotter_coupling(1.0, 1.0, 8) - want).abs() < 1e-12);
    }
}
