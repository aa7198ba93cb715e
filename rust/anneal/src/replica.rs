//! Replica exchange / parallel tempering (Swendsen & Wang 1986; Hukushima & Nemoto 1996): R replicas
//! at fixed inverse temperatures on a geometric ladder each make one Metropolis sweep per round, then
//! neighbouring temperatures exchange configurations with probability min(1, exp(d_beta * d_E)),
//! alternating even and odd pairs. Optionally, during the first half of the sweeps the ladder is
//! re-spaced from the energy fluctuations measured at each temperature so that every gap holds the
//! same share of the integral of sigma_E(beta) d beta (Kofke 2002: the swap acceptance between two
//! temperatures falls with d_beta * sigma_E, so equal shares give roughly equal acceptance; endpoints
//! fixed). Each read returns the state of
//! the coldest replica (its last, or the best it held).

use crate::error::Result;
use crate::problem::IsingProblem;
use crate::reads::{at_least_one, run_reads};
use crate::rng::{derive_seed, metropolis, rng_for, Rng, Stream};
use crate::sa::{metropolis_sweep, random_state};
use crate::sampleset::{collect, ReadOutcome, RunStats, SampleSet};
use crate::schedule::geometric;
use rayon::prelude::*;
use std::time::Instant;
use thermoconsensus_runtime::Progress;

/// Which state of the coldest replica a read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The state at the end (a sample at the coldest beta).
    Last,
    /// The lowest-energy state the coldest replica held (for optimisation).
    Best,
}

/// Parameters of [`replica_exchange`].
#[derive(Debug, Clone, PartialEq)]
pub struct PtParams {
    /// Independent runs, each of `num_replicas` replicas.
    pub num_reads: usize,
    /// Replicas (temperatures) per run, at least 2.
    pub num_replicas: usize,
    /// Sweeps (= exchange rounds) per run.
    pub num_sweeps: usize,
    /// (hot, cold) ends of the ladder; None: [`IsingProblem::default_beta_range`].
    pub beta_range: Option<(f64, f64)>,
    /// Adapt the ladder spacing during the first half of the sweeps.
    pub adaptive: bool,
    /// Which state each read returns.
    pub keep: Keep,
    /// Seed of every random stream.
    pub seed: u64,
    /// Record the coldest replica's energy every this many sweeps (0: no trace).
    pub trace_every: usize,
}

impl Default for PtParams {
    fn default() -> Self {
        Self {
            num_reads: 1,
            num_replicas: 16,
            num_sweeps: 1000,
            beta_range: None,
            adaptive: false,
            keep: Keep::Last,
            seed: 0,
            trace_every: 0,
        }
    }
}

/// What replica exchange returns.
#[derive(Debug, Clone, PartialEq)]
pub struct PtResult {
    /// The coldest replica's state of every read, aggregated.
    pub samples: SampleSet,
    /// Acceptance of single-spin moves, timing and traces.
    pub stats: RunStats,
    /// The ladder at the end, hottest first (averaged over reads when adaptive).
    pub betas: Vec<f64>,
    /// Swap acceptance per neighbouring pair (hot to cold), after adaptation when adaptive.
    pub swap_acceptance: Vec<f64>,
    /// Completed round trips (coldest -> hottest -> coldest) of configurations, over all reads.
    pub round_trips: u64,
}

/// One configuration moving along the ladder.
struct Walker {
    state: Vec<i8>,
    fields: Vec<f64>,
    energy: f64,
    rng: Rng,
    accepted: u64,
    /// +1 after touching the coldest slot, -1 after the hottest, 0 before either.
    heading: i8,
}

/// Rounds between two ladder adaptations.
const ADAPT_EVERY: usize = 50;
/// Walkers swept in parallel when a run holds at least this many spins in total.
const PARALLEL_SPINS: usize = 8192;

/// The (hot, cold) ends of the ladder: `beta_range`, or the problem's default range; both positive, hot <= cold.
pub(crate) fn ladder_ends(
    problem: &IsingProblem,
    beta_range: Option<(f64, f64)>,
) -> Result<(f64, f64)> {
    let (hot, cold) = beta_range.unwrap_or_else(|| problem.default_beta_range());
    crate::error::positive("beta_range", hot)?;
    crate::error::positive("beta_range", cold)?;
    if cold < hot {
        return Err(crate::error::invalid(
            "beta_range",
            format!("must be (hot, cold) with hot <= cold, got ({hot}, {cold})"),
        ));
    }
    Ok((hot, cold))
}

/// Runs replica exchange; reads (and, for large problems, replicas) run in parallel, and results do
/// not depend on the thread count. `progress` counts sweeps (num_reads x num_sweeps).
pub fn replica_exchange(
    problem: &IsingProblem,
    params: &PtParams,
    progress: Option<&Progress>,
) -> Result<PtResult> {
    let num_reads = at_least_one("num_reads", params.num_reads)?;
    let sweeps = at_least_one("num_sweeps", params.num_sweeps)?;
    let r = params.num_replicas;
    if r < 2 {
        return Err(crate::error::invalid(
            "num_replicas",
            format!("must be at least 2, got {r}"),
        ));
    }
    let (hot, cold) = ladder_ends(problem, params.beta_range)?;
    let n = problem.num_variables();
    crate::limits::check_work(&[
        ("num_reads", num_reads),
        ("num_sweeps", sweeps),
        ("num_replicas", r),
        ("spins", n),
    ])?;
    // Each read holds r walkers (state, fields, generator) and the ladder's per-slot statistics.
    let walker_bytes = crate::limits::product("num_replicas", n, 9)?.saturating_add(160);
    crate::limits::check_sampler_memory(
        num_reads,
        n,
        (sweeps, params.trace_every),
        "num_replicas",
        crate::limits::product("num_replicas", r, walker_bytes)?,
    )?;
    let every = params.trace_every;
    let adapt_until = if params.adaptive { sweeps / 2 } else { 0 };
    let start = Instant::now();
    let reads = run_reads(num_reads, progress, |read, ticker| {
        let read_seed = derive_seed(params.seed, Stream::Read, read as u64);
        let mut walkers: Vec<Walker> = (0..r)
            .map(|w| {
                let mut rng = rng_for(read_seed, Stream::Read, w as u64);
                let state = random_state(n, &mut rng);
                let mut fields = vec![0.0; n];
                problem.local_fields(&state, &mut fields);
                let energy = problem.energy(&state);
                Walker {
                    state,
                    fields,
                    energy,
                    rng,
                    accepted: 0,
                    heading: 0,
                }
            })
            .collect();
        let mut swap_rng = rng_for(params.seed, Stream::Swaps, read as u64);
        let mut betas = geometric(hot, cold, r);
        // at[slot] = walker at that temperature; slot 0 is the hottest.
        let mut at: Vec<usize> = (0..r).collect();
        let (mut tried, mut taken) = (vec![0u64; r - 1], vec![0u64; r - 1]);
        let mut round_trips = 0u64;
        // (count, sum E, sum E^2) per temperature slot over the current adaptation window.
        let mut moments = vec![(0.0f64, 0.0f64, 0.0f64); r];
        let mut best = (f64::INFINITY, Vec::new());
        let mut trace = Vec::new();
        for t in 0..sweeps {
            let mut beta_of = vec![0.0; r];
            for (slot, &w) in at.iter().enumerate() {
                beta_of[w] = betas[slot];
            }
            let sweep = |(w, walker): (usize, &mut Walker)| {
                let (acc, de) = metropolis_sweep(
                    problem,
                    &mut walker.state,
                    &mut walker.fields,
                    beta_of[w],
                    &mut walker.rng,
                );
                walker.accepted += acc;
                walker.energy += de;
            };
            if n * r >= PARALLEL_SPINS {
                walkers.par_iter_mut().enumerate().for_each(sweep);
            } else {
                walkers.iter_mut().enumerate().for_each(sweep);
            }
            for slot in (t % 2..r - 1).step_by(2) {
                let (a, b) = (at[slot], at[slot + 1]);
                let x = (betas[slot + 1] - betas[slot]) * (walkers[a].energy - walkers[b].energy);
                tried[slot] += 1;
                if metropolis(&mut swap_rng, x) {
                    at.swap(slot, slot + 1);
                    taken[slot] += 1;
                }
            }
            let (hottest, coldest) = (at[0], at[r - 1]);
            if walkers[hottest].heading == 1 {
                walkers[hottest].heading = -1;
            }
            if walkers[coldest].heading == -1 {
                round_trips += 1;
            }
            walkers[coldest].heading = 1;
            if params.keep == Keep::Best && walkers[coldest].energy < best.0 {
                best = (walkers[coldest].energy, walkers[coldest].state.clone());
            }
            if every > 0 && (t + 1) % every == 0 {
                trace.push(walkers[coldest].energy);
            }
            if t < adapt_until {
                for (slot, &w) in at.iter().enumerate() {
                    let e = walkers[w].energy;
                    moments[slot].0 += 1.0;
                    moments[slot].1 += e;
                    moments[slot].2 += e * e;
                }
                if (t + 1) % ADAPT_EVERY == 0 {
                    let sigma: Vec<f64> = moments
                        .iter()
                        .map(|&(n, s, s2)| ((s2 / n - (s / n) * (s / n)).max(0.0)).sqrt())
                        .collect();
                    adapt_ladder(&mut betas, &sigma);
                    moments.iter_mut().for_each(|m| *m = (0.0, 0.0, 0.0));
                }
            }
            if t + 1 == adapt_until {
                tried.iter_mut().for_each(|c| *c = 0);
                taken.iter_mut().for_each(|c| *c = 0);
            }
            ticker.tick()?;
        }
        let coldest = at[r - 1];
        let state = match params.keep {
            Keep::Best if !best.1.is_empty() => best.1,
            _ => walkers[coldest].state.clone(),
        };
        let energy = problem.energy(&state);
        let accepted = walkers.iter().map(|w| w.accepted).sum();
        Ok(ReadRun {
            outcome: ReadOutcome {
                state,
                energy,
                accepted,
                attempts: (sweeps * n * r) as u64,
                trace,
            },
            betas,
            tried,
            taken,
            round_trips,
        })
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    let mut betas = vec![0.0; r];
    let (mut tried, mut taken) = (vec![0u64; r - 1], vec![0u64; r - 1]);
    let mut round_trips = 0;
    for run in &reads {
        for (m, b) in betas.iter_mut().zip(&run.betas) {
            *m += b / num_reads as f64;
        }
        for s in 0..r - 1 {
            tried[s] += run.tried[s];
            taken[s] += run.taken[s];
        }
        round_trips += run.round_trips;
    }
    let swap_acceptance = tried
        .iter()
        .zip(&taken)
        .map(|(&t, &k)| k as f64 / t.max(1) as f64)
        .collect();
    let (samples, stats) = collect(
        n,
        reads.into_iter().map(|r| r.outcome).collect(),
        every,
        elapsed,
    );
    Ok(PtResult {
        samples,
        stats,
        betas,
        swap_acceptance,
        round_trips,
    })
}

/// One read's outcome and ladder statistics.
struct ReadRun {
    outcome: ReadOutcome,
    betas: Vec<f64>,
    tried: Vec<u64>,
    taken: Vec<u64>,
    round_trips: u64,
}

/// Re-spaces the interior betas so that each gap holds an equal share of the integral of sigma_E
/// over beta (trapezoids between the measured points), moving halfway towards that ladder per call.
fn adapt_ladder(betas: &mut [f64], sigma: &[f64]) {
    let r = betas.len();
    let mean_sigma = sigma.iter().sum::<f64>() / r as f64;
    if !(mean_sigma > 0.0 && mean_sigma.is_finite()) {
        return;
    }
    // A floor keeps frozen (sigma = 0) stretches from swallowing the whole ladder.
    let s: Vec<f64> = sigma.iter().map(|&x| x.max(0.05 * mean_sigma)).collect();
    let mut cumulative = vec![0.0; r];
    for k in 1..r {
        cumulative[k] = cumulative[k - 1] + (betas[k] - betas[k - 1]) * 0.5 * (s[k] + s[k - 1]);
    }
    let total = cumulative[r - 1];
    let mut target = betas.to_vec();
    let mut seg = 0;
    for (k, slot) in target.iter_mut().enumerate().take(r - 1).skip(1) {
        let want = total * k as f64 / (r - 1) as f64;
        while seg + 1 < r - 1 && cumulative[seg + 1] < want {
            seg += 1;
        }
        let span = cumulative[seg + 1] - cumulative[seg];
        let frac = if span > 0.0 {
            (want - cumulative[seg]) / span
        } else {
            0.0
        };
        *slot = betas[seg] + frac * (betas[seg + 1] - betas[seg]);
    }
    for k in 1..r - 1 {
        betas[k] = 0.5 * (betas[k] + target[k]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptation_keeps_ends_and_evens_the_shares() {
        // sigma as a function of beta (large when hot); the shares of its integral per gap even out.
        let sigma_at = |beta: f64| 10.0 / (1.0 + beta);
        let shares = |b: &[f64]| -> Vec<f64> {
            b.windows(2)
                .map(|w| (w[1] - w[0]) * 0.5 * (sigma_at(w[0]) + sigma_at(w[1])))
                .collect()
        };
        let spread = |v: Vec<f64>| {
            let max = v.iter().copied().fold(0.0, f64::max);
            max / v.iter().copied().fold(f64::INFINITY, f64::min)
        };
        let mut b = geometric(0.1, 10.0, 6);
        let before = spread(shares(&b));
        for _ in 0..20 {
            let sigma: Vec<f64> = b.iter().map(|&x| sigma_at(x)).collect();
            adapt_ladder(&mut b, &sigma);
        }
        assert!((b[0] - 0.1).abs() < 1e-12 && (b[5] - 10.0).abs() < 1e-9);
        assert!(b.windows(2).all(|w| w[1] > w[0]), "{b:?}");
        let after = spread(shares(&b));
        assert!(after < 1.2 && after < before, "{before} -> {after}: {b:?}");
    }

    #[test]
    fn equal_shares_are_a_fixed_point() {
        // With constant sigma the equal-share ladder is linear in beta.
        let mut b: Vec<f64> = (0..5).map(|k| 1.0 + k as f64).collect();
        adapt_ladder(&mut b, &[2.0; 5]);
        for (k, &x) in b.iter().enumerate() {
            assert!((x - (1.0 + k as f64)).abs() < 1e-12);
        }
    }
}
