//! Simulated annealing (Kirkpatrick, Gelatt & Vecchi 1983): Metropolis single-spin flips in sequential
//! sweeps with incrementally updated local fields, beta following a [`Schedule`]; each read starts from
//! a uniformly random state and returns its final state, as dwave-samplers' SimulatedAnnealingSampler.

use crate::chain::Chain;
use crate::error::Result;
use crate::limits::{check_memory, check_sampler_memory, check_work};
use crate::problem::IsingProblem;
use crate::reads::{at_least_one, run_reads, stream_index};
use crate::rng::{metropolis, random_spin, rng_for, Rng, Stream};
use crate::sampleset::{collect, ReadOutcome, RunStats, SampleSet};
use crate::schedule::Schedule;
use std::time::Instant;
use thermoconsensus_runtime::Progress;

/// One Metropolis sweep over all spins in index order at inverse temperature `beta`.
/// Returns the accepted flips and the energy change they made; `fields` stays equal to the local fields.
#[inline]
pub(crate) fn metropolis_sweep(
    problem: &IsingProblem,
    state: &mut [i8],
    fields: &mut [f64],
    beta: f64,
    rng: &mut Rng,
) -> (u64, f64) {
    let mut accepted = 0u64;
    let mut delta_energy = 0.0;
    for i in 0..state.len() {
        let si = state[i] as f64;
        let de = -2.0 * si * fields[i];
        if metropolis(rng, beta * de) {
            state[i] = -state[i];
            problem.add_to_fields(i, -2.0 * si, fields);
            accepted += 1;
            delta_energy += de;
        }
    }
    (accepted, delta_energy)
}

/// A uniformly random state of `n` spins.
pub(crate) fn random_state(n: usize, rng: &mut Rng) -> Vec<i8> {
    (0..n).map(|_| random_spin(rng)).collect()
}

/// Parameters of [`simulated_annealing`].
#[derive(Debug, Clone, PartialEq)]
pub struct SaParams {
    /// Independent reads (one returned state each).
    pub num_reads: usize,
    /// Sweeps per read (ignored by a custom schedule, which has one beta per sweep).
    pub num_sweeps: usize,
    /// How beta moves over the sweeps.
    pub schedule: Schedule,
    /// (hot, cold) inverse temperatures; None: [`IsingProblem::default_beta_range`].
    pub beta_range: Option<(f64, f64)>,
    /// Seed of every random stream.
    pub seed: u64,
    /// Record the energy every this many sweeps (0: no trace).
    pub trace_every: usize,
    /// Stream index of the first read: read r draws from stream `first_read + r` of `seed`, so a run of
    /// reads `[first_read, first_read + num_reads)` returns exactly those reads of a longer run (how a
    /// run is split over machines). 0 for a whole run; CPU only.
    pub first_read: u64,
}

impl Default for SaParams {
    fn default() -> Self {
        Self {
            num_reads: 10,
            num_sweeps: 1000,
            schedule: Schedule::Geometric,
            beta_range: None,
            seed: 0,
            trace_every: 0,
            first_read: 0,
        }
    }
}

/// What simulated annealing returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SaResult {
    /// The final state of every read, aggregated.
    pub samples: SampleSet,
    /// Acceptance, timing and traces.
    pub stats: RunStats,
    /// The (hot, cold) range used.
    pub beta_range: (f64, f64),
    /// Final beta of each read (differs between reads only for adaptive and Langevin schedules).
    pub final_betas: Vec<f64>,
}

/// Runs simulated annealing; reads run in parallel on the current rayon pool and results do not
/// depend on the thread count. `progress` counts sweeps (num_reads x sweeps) and can cancel the run.
pub fn simulated_annealing(
    problem: &IsingProblem,
    params: &SaParams,
    progress: Option<&Progress>,
) -> Result<SaResult> {
    let num_reads = at_least_one("num_reads", params.num_reads)?;
    let beta_range = params
        .beta_range
        .unwrap_or_else(|| problem.default_beta_range());
    let n = problem.num_variables();
    let every = params.trace_every;
    let sweeps = params.schedule.sweeps(params.num_sweeps);
    check_work(&[
        ("num_reads", num_reads),
        ("num_sweeps", sweeps),
        ("spins", n),
    ])?;
    // The schedule holds one beta per sweep; each read its state, fields and trace.
    check_memory("num_sweeps", &[(sweeps, 8)])?;
    check_sampler_memory(
        num_reads,
        n,
        (sweeps, every),
        "num_variables",
        n.saturating_mul(9),
    )?;
    let driver = params.schedule.driver(beta_range, params.num_sweeps)?;
    let sweeps = driver.sweeps();
    let start = Instant::now();
    let reads = run_reads(num_reads, progress, |read, ticker| {
        let index = stream_index(params.first_read, read)?;
        let mut rng = rng_for(params.seed, Stream::Read, index);
        let mut chain = Chain::new(problem, random_state(n, &mut rng));
        let mut energy = problem.energy(chain.state());
        let mut cursor = driver.start(params.seed, index);
        let mut accepted = 0;
        let mut trace = Vec::with_capacity(sweeps.checked_div(every).unwrap_or(0));
        for t in 0..sweeps {
            let beta = cursor.beta(t);
            let (acc, de) = chain.sweep(problem, beta, &mut rng);
            accepted += acc;
            energy += de;
            cursor.after_sweep(t, acc as f64 / n as f64);
            if every > 0 && (t + 1) % every == 0 {
                trace.push(energy);
            }
            ticker.tick()?;
        }
        let state = chain.into_state();
        let energy = problem.energy(&state);
        Ok((
            ReadOutcome {
                state,
                energy,
                accepted,
                attempts: (sweeps * n) as u64,
                trace,
            },
            cursor.beta(sweeps - 1),
        ))
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    let final_betas = reads.iter().map(|r| r.1).collect();
    let (samples, stats) = collect(n, reads.into_iter().map(|r| r.0).collect(), every, elapsed);
    Ok(SaResult {
        samples,
        stats,
        beta_range,
        final_betas,
    })
}
