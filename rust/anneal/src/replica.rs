//! Replica exchange / parallel tempering (Swendsen & Wang 1986; Hukushima & Nemoto 1996): R replicas
//! at fixed inverse temperatures on a geometric ladder each make one Metropolis sweep per round, then
//! neighbouring temperatures exchange configurations with probability min(1, exp(d_beta * d_E)),
//! alternating even and odd pairs. Optionally, during the first half of the sweeps the ladder is
//! re-spaced from the swap acceptances measured in windows of rounds: a gap accepting A holds a
//! thermodynamic length erfc^-1(A) (Kofke 2002: for Gaussian energy distributions the acceptance is
//! erfc(d_beta sigma_E / 2)), and the interior betas move halfway towards the ladder that gives every
//! gap the same length, which equalises the acceptances (endpoints fixed). Measuring acceptance
//! directly, rather than energy widths within each replica, also holds in the frozen cold end, where
//! replicas sit in different valleys and the widths say nothing about swaps. Each read returns the
//! state of the coldest replica (its last, or the best it held).

use crate::chain::Chain;
use crate::error::Result;
use crate::problem::IsingProblem;
use crate::reads::{at_least_one, run_reads, stream_index};
use crate::rng::{derive_seed, metropolis, rng_for, Rng, Stream};
use crate::sa::random_state;
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
    /// Stream index of the first read (see [`crate::SaParams::first_read`]); 0 for a whole run.
    pub first_read: u64,
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
            first_read: 0,
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
    /// Swap acceptance per neighbouring pair (hot to cold), after adaptation when adaptive:
    /// `swap_accepts / swap_attempts`.
    pub swap_acceptance: Vec<f64>,
    /// Swaps attempted per neighbouring pair over all reads (those `swap_acceptance` counts).
    pub swap_attempts: Vec<u64>,
    /// Swaps accepted per neighbouring pair over all reads.
    pub swap_accepts: Vec<u64>,
    /// Every read's ladder at the end, row-major (reads x replicas); `betas` is their mean, summed in
    /// read order. With these and the swap counts, the statistics of runs over consecutive slices of
    /// reads merge into exactly those of the whole run.
    pub read_betas: Vec<f64>,
    /// Completed round trips (coldest -> hottest -> coldest) of configurations, over all reads.
    pub round_trips: u64,
}

/// One configuration moving along the ladder.
struct Walker {
    chain: Chain,
    energy: f64,
    rng: Rng,
    accepted: u64,
    /// +1 after touching the coldest slot, -1 after the hottest, 0 before either.
    heading: i8,
}

/// Rounds in each of the first four adaptation windows; later windows grow by this much every four, so that late adjustments rest on more swaps (less
/// noise) while early ones come quickly.
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
    let table_bytes = problem
        .grid()
        .map_or(0, |g| 8 * (2 * g.max_field as usize + 1));
    let walker_bytes = crate::limits::product("num_replicas", n, 9)?
        .saturating_add(160)
        .saturating_add(table_bytes);
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
        let index = stream_index(params.first_read, read)?;
        let read_seed = derive_seed(params.seed, Stream::Read, index);
        let mut walkers: Vec<Walker> = (0..r)
            .map(|w| {
                let mut rng = rng_for(read_seed, Stream::Read, w as u64);
                let chain = Chain::new(problem, random_state(n, &mut rng));
                let energy = problem.energy(chain.state());
                Walker {
                    chain,
                    energy,
                    rng,
                    accepted: 0,
                    heading: 0,
                }
            })
            .collect();
        let mut swap_rng = rng_for(params.seed, Stream::Swaps, index);
        let mut betas = geometric(hot, cold, r);
        // at[slot] = walker at that temperature; slot 0 is the hottest.
        let mut at: Vec<usize> = (0..r).collect();
        let (mut tried, mut taken) = (vec![0u64; r - 1], vec![0u64; r - 1]);
        let mut round_trips = 0u64;
        let (mut window_start, mut windows) = (0usize, 0usize);
        let mut best = (f64::INFINITY, Vec::new());
        let mut trace = Vec::new();
        for t in 0..sweeps {
            let mut beta_of = vec![0.0; r];
            for (slot, &w) in at.iter().enumerate() {
                beta_of[w] = betas[slot];
            }
            let sweep = |(w, walker): (usize, &mut Walker)| {
                let (acc, de) = walker.chain.sweep(problem, beta_of[w], &mut walker.rng);
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
                best = (
                    walkers[coldest].energy,
                    walkers[coldest].chain.state().to_vec(),
                );
            }
            if every > 0 && (t + 1) % every == 0 {
                trace.push(walkers[coldest].energy);
            }
            if t < adapt_until && t + 1 - window_start >= ADAPT_EVERY * (1 + windows / 4) {
                // Re-space from this window's swap acceptances; the next window counts afresh.
                // Halfway steps: the latest windows weigh most, since the cold end's acceptance
                // keeps rising while its replicas equilibrate (shrinking steps measured worse).
                adapt_ladder(&mut betas, &gap_lengths(&tried, &taken), 0.5);
                tried.iter_mut().for_each(|c| *c = 0);
                taken.iter_mut().for_each(|c| *c = 0);
                window_start = t + 1;
                windows += 1;
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
            _ => walkers[coldest].chain.state().to_vec(),
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
    let mut read_betas = Vec::with_capacity(num_reads * r);
    for run in &reads {
        for (m, b) in betas.iter_mut().zip(&run.betas) {
            *m += b / num_reads as f64;
        }
        read_betas.extend_from_slice(&run.betas);
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
        swap_attempts: tried,
        swap_accepts: taken,
        read_betas,
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

/// erfc(x) for x >= 0 (Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    poly * (-x * x).exp()
}

/// x >= 0 with erfc(x) = a, for a in (0, 1], by bisection (erfc falls monotonically).
fn erfc_inverse(a: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 10.0);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if erfc(mid) > a {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The thermodynamic length of each gap from its swap counts. Between two temperatures whose energy
/// distributions are Gaussian with width sigma the mean swap acceptance is erfc(d_beta sigma / 2)
/// (Kofke 2002), so erfc^-1 of the measured acceptance is that gap's share of the integral of
/// sigma_E d beta. The acceptance is kept within half a count of 0 and 1, so that a gap that never or
/// always swapped still has a finite, non-zero length.
fn gap_lengths(tried: &[u64], taken: &[u64]) -> Vec<f64> {
    tried
        .iter()
        .zip(taken)
        .map(|(&n, &k)| {
            let n = n.max(1) as f64;
            let a = (k as f64).clamp(0.5, n - 0.5) / n;
            erfc_inverse(a).max(1e-3)
        })
        .collect()
}

/// Re-spaces the interior betas (all > 0) so that every gap holds an equal share of the total
/// length, taking each gap's length as spread evenly over it in log beta, and moves the fraction
/// `step` of the way (in log beta) towards that ladder; the ends stay. Log beta, not beta: the
/// coldest gaps span a factor of several while their length sits at the hot side, where the
/// replicas still fluctuate, and linear interpolation there overshoots.
fn adapt_ladder(betas: &mut [f64], lengths: &[f64], step: f64) {
    let r = betas.len();
    let mut cumulative = vec![0.0; r];
    for k in 1..r {
        cumulative[k] = cumulative[k - 1] + lengths[k - 1];
    }
    let total = cumulative[r - 1];
    if !(total > 0.0 && total.is_finite()) {
        return;
    }
    let mut target = betas.to_vec();
    let mut seg = 0;
    for (k, slot) in target.iter_mut().enumerate().take(r - 1).skip(1) {
        let want = total * k as f64 / (r - 1) as f64;
        while seg + 1 < r - 1 && cumulative[seg + 1] < want {
            seg += 1;
        }
        let span = cumulative[seg + 1] - cumulative[seg];
        let frac = if span > 0.0 {
            ((want - cumulative[seg]) / span).clamp(0.0, 1.0)
        } else {
            0.0
        };
        *slot = (betas[seg].ln() + frac * (betas[seg + 1] / betas[seg]).ln()).exp();
    }
    for k in 1..r - 1 {
        betas[k] = (betas[k].ln() + step * (target[k] / betas[k]).ln()).exp();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length of the gap (a, b) under sigma(beta) = 10 / (1 + beta): its integral.
    fn length(a: f64, b: f64) -> f64 {
        10.0 * ((1.0 + b) / (1.0 + a)).ln()
    }

    #[test]
    fn adaptation_keeps_ends_and_evens_the_lengths() {
        let spread = |b: &[f64]| {
            let l: Vec<f64> = b.windows(2).map(|w| length(w[0], w[1])).collect();
            l.iter().copied().fold(0.0, f64::max) / l.iter().copied().fold(f64::INFINITY, f64::min)
        };
        let mut b = geometric(0.1, 10.0, 6);
        let before = spread(&b);
        for _ in 0..30 {
            let lengths: Vec<f64> = b.windows(2).map(|w| length(w[0], w[1])).collect();
            adapt_ladder(&mut b, &lengths, 0.5);
        }
        assert!((b[0] - 0.1).abs() < 1e-12 && (b[5] - 10.0).abs() < 1e-9);
        assert!(b.windows(2).all(|w| w[1] > w[0]), "{b:?}");
        let after = spread(&b);
        assert!(after < 1.05 && after < before, "{before} -> {after}: {b:?}");
    }

    #[test]
    fn equal_lengths_are_a_fixed_point() {
        let mut b: Vec<f64> = (0..5).map(|k| 1.0 + k as f64 * k as f64).collect();
        let want = b.clone();
        adapt_ladder(&mut b, &[2.0; 4], 0.5);
        for (x, w) in b.iter().zip(&want) {
            assert!((x - w).abs() < 1e-12, "{b:?}");
        }
    }

    #[test]
    fn gap_lengths_invert_the_gaussian_acceptance() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-6 && (erfc(1.0) - 0.157_299_2).abs() < 1e-6);
        for x in [0.05, 0.3, 1.0, 2.0] {
            assert!((erfc_inverse(erfc(x)) - x).abs() < 1e-6);
        }
        // Higher acceptance means a shorter gap; never-swapping and always-swapping gaps stay finite.
        let l = gap_lengths(&[100, 100, 100, 100], &[0, 20, 80, 100]);
        assert!(l.windows(2).all(|w| w[1] < w[0]), "{l:?}");
        assert!(l.iter().all(|&x| x.is_finite() && x > 0.0));
    }
}
