//! Simulated annealing and replica exchange on a CUDA device (`cuda/anneal.cu`): the GPU twins of
//! [`crate::sa`] and [`crate::replica`]. The same Metropolis move, schedules and swap rule; many chains at once
//! (one thread per chain for sparse couplings, one block per chain for dense ones); Philox4x32-10 counter-based
//! random numbers, so a seed reproduces a run exactly on a given device. The random streams differ from the
//! CPU's xoshiro streams, so the twins agree in distribution (ground states found, Boltzmann frequencies),
//! not state by state.
//!
//! Not on the device: the adaptive and Langevin schedules (they steer each read by its own acceptance or
//! noise), the adaptive replica-exchange ladder, and energy traces; asking for them is an error naming the
//! option, so `device="auto"` callers can stay on the CPU.

use std::time::Instant;

use thermoconsensus_gpu::{Arg, Buffer, Executor, Grid};
use thermoconsensus_runtime::Progress;

use crate::error::{invalid, Error, Result};
use crate::problem::IsingProblem;
use crate::replica::{Keep, PtParams, PtResult};
use crate::sa::{SaParams, SaResult};
use crate::sampleset::{RunStats, SampleSet};
use crate::schedule::{geometric, Schedule};

/// Where the work runs: the CPU engines or a device (one type for every engine).
pub use thermoconsensus_runtime::{Compute, Work};

/// `device="auto"` uses a GPU from this many spin updates per sweep over all chains (chains x spins).
pub const GPU_MIN_SPIN_UPDATES: usize = 1 << 16;

/// Matches `ANNEAL_DENSE_MAX_N` in `cuda/anneal.cu`.
const DENSE_MAX_N: usize = 4096;
const DENSE_THREADS: u32 = 256;
const THREADS: u32 = 128;
/// Sweeps per launch: progress and cancellation are checked between launches.
const SWEEPS_PER_LAUNCH: usize = 32;
/// Couplings per pair above which the dense kernel is used (as the CPU's dense copy).
const DENSE_FRACTION: f64 = 0.25;

/// The problem's couplings on the device: symmetric CSR rows, plus the dense matrix when it pays.
struct DeviceProblem {
    h: Buffer<f64>,
    row_start: Buffer<u64>,
    cols: Buffer<u32>,
    vals: Buffer<f64>,
    dense: Option<Buffer<f64>>,
    offset: f64,
    n: usize,
}

impl DeviceProblem {
    fn upload(exec: &Executor, problem: &IsingProblem) -> Result<Self> {
        let n = problem.num_variables();
        let mut row_start = Vec::with_capacity(n + 1);
        let (mut cols, mut vals) = (Vec::new(), Vec::new());
        row_start.push(0u64);
        for i in 0..n {
            let (c, v) = problem.neighbours(i);
            cols.extend_from_slice(c);
            vals.extend_from_slice(v);
            row_start.push(cols.len() as u64);
        }
        let pairs = (n * n.saturating_sub(1)) as f64;
        let dense =
            (n <= DENSE_MAX_N && pairs > 0.0 && cols.len() as f64 >= DENSE_FRACTION * pairs)
                .then(|| {
                    let mut d = vec![0.0f64; n * n];
                    for i in 0..n {
                        for q in row_start[i] as usize..row_start[i + 1] as usize {
                            d[i * n + cols[q] as usize] = vals[q];
                        }
                    }
                    exec.upload(&d)
                })
                .transpose()?;
        Ok(Self {
            h: exec.upload(problem.h())?,
            row_start: exec.upload(&row_start)?,
            cols: exec.upload(&cols)?,
            vals: exec.upload(&vals)?,
            dense,
            offset: problem.offset(),
            n,
        })
    }
}

/// The chains' state on the device.
struct Chains {
    count: usize,
    states: Buffer<i8>,
    fields: Buffer<f64>,
    energy: Buffer<f64>,
    accepted: Buffer<u64>,
    chain_temp: Buffer<u32>,
}

fn seed_words(seed: u64) -> (Arg<'static>, Arg<'static>) {
    (Arg::U32(seed as u32), Arg::U32((seed >> 32) as u32))
}

impl Chains {
    /// `count` chains in random states (Philox purpose 1), with fields and energies computed on the device.
    fn start(exec: &Executor, p: &DeviceProblem, count: usize, seed: u64) -> Result<Self> {
        let chains = Self {
            count,
            states: exec.zeros(p.n * count)?,
            fields: exec.zeros(p.n * count)?,
            energy: exec.zeros(count)?,
            accepted: exec.zeros(count)?,
            chain_temp: exec.zeros(count)?,
        };
        chains.refresh(exec, p, true, seed)?;
        Ok(chains)
    }

    /// Recomputes fields and energies from the states (exact energies at the end of a run).
    fn refresh(
        &self,
        exec: &Executor,
        p: &DeviceProblem,
        randomize: bool,
        seed: u64,
    ) -> Result<()> {
        let (lo, hi) = seed_words(seed);
        // SAFETY: matches `anneal_init`; states/fields hold n x count values, energy count, the CSR arrays
        // n + 1 row starts and their column/value entries.
        unsafe {
            exec.launch(
                "anneal",
                "anneal_init",
                Grid::cover(self.count, THREADS),
                &[
                    p.h.arg(),
                    p.row_start.arg(),
                    p.cols.arg(),
                    p.vals.arg(),
                    Arg::F64(p.offset),
                    Arg::U64(p.n as u64),
                    Arg::U64(self.count as u64),
                    self.states.arg(),
                    self.fields.arg(),
                    self.energy.arg(),
                    Arg::U32(randomize as u32),
                    lo,
                    hi,
                ],
            )
        }
        .map_err(Error::from)
    }

    /// `nsweeps` sweeps from global sweep `sweep0`; chain c runs at `beta_table[s * temps + chain_temp[c]]`.
    #[allow(clippy::too_many_arguments)]
    fn sweep(
        &self,
        exec: &Executor,
        p: &DeviceProblem,
        beta_table: &Buffer<f64>,
        temps: usize,
        sweep0: usize,
        nsweeps: usize,
        seed: u64,
    ) -> Result<()> {
        let (lo, hi) = seed_words(seed);
        let tail = [
            self.states.arg(),
            self.fields.arg(),
            self.energy.arg(),
            self.accepted.arg(),
            beta_table.arg(),
            Arg::U32(temps as u32),
            self.chain_temp.arg(),
            Arg::U32(sweep0 as u32),
            Arg::U32(nsweeps as u32),
            lo,
            hi,
        ];
        // SAFETY: matches `anneal_sweeps_dense` / `anneal_sweeps_csr`; beta_table holds nsweeps x temps
        // values, chain_temp entries are < temps, the dense matrix is n x n with n <= DENSE_MAX_N.
        unsafe {
            match &p.dense {
                Some(j) => {
                    let mut args = vec![j.arg(), Arg::U64(p.n as u64), Arg::U64(self.count as u64)];
                    args.extend(tail);
                    let blocks = self.count.min(65_535) as u32;
                    // The emulator runs a block's threads as fibers: fewer of them, same result.
                    let threads = if exec.is_emulated() {
                        32
                    } else {
                        DENSE_THREADS
                    };
                    exec.launch(
                        "anneal",
                        "anneal_sweeps_dense",
                        Grid::linear(blocks, threads),
                        &args,
                    )
                }
                None => {
                    let mut args = vec![
                        p.row_start.arg(),
                        p.cols.arg(),
                        p.vals.arg(),
                        Arg::U64(p.n as u64),
                        Arg::U64(self.count as u64),
                    ];
                    args.extend(tail);
                    exec.launch(
                        "anneal",
                        "anneal_sweeps_csr",
                        Grid::cover(self.count, THREADS),
                        &args,
                    )
                }
            }
        }
        .map_err(Error::from)
    }

    /// The states as `[chain][spin]`.
    fn states_by_chain(&self, exec: &Executor, n: usize) -> Result<Vec<i8>> {
        let spin_major = exec.download(&self.states)?;
        let mut out = vec![0i8; n * self.count];
        for i in 0..n {
            for c in 0..self.count {
                out[c * n + i] = spin_major[i * self.count + c];
            }
        }
        Ok(out)
    }
}

fn check_sweeps(sweeps: usize) -> Result<()> {
    if sweeps > u32::MAX as usize {
        return Err(invalid(
            "num_sweeps",
            "the GPU path counts sweeps in 32 bits",
        ));
    }
    Ok(())
}

/// Device runs draw Philox streams by chain, not the CPU's per-read streams, so a slice of reads
/// (`first_read > 0`) has no device twin.
fn check_whole_run(first_read: u64) -> Result<()> {
    if first_read > 0 {
        return Err(invalid(
            "first_read",
            "a slice of reads (first_read > 0) runs on the CPU only; use device=\"cpu\"",
        ));
    }
    Ok(())
}

/// What the device decision needs to know of a simulated-annealing run: its size in spin updates per
/// sweep over all reads, and the options only the CPU runs (adaptive and Langevin schedules, traces, more
/// sweeps than the kernels count in 32 bits).
pub fn sa_work(problem: &IsingProblem, params: &SaParams) -> Work {
    Work::sized(
        params.num_reads.saturating_mul(problem.num_variables()),
        GPU_MIN_SPIN_UPDATES,
    )
    .unless(
        matches!(
            params.schedule,
            Schedule::Adaptive { .. } | Schedule::Langevin { .. }
        ),
        "schedule",
    )
    .unless(params.trace_every > 0, "trace_every")
    .unless(params.first_read > 0, "first_read")
    .unless(
        params.schedule.sweeps(params.num_sweeps) > u32::MAX as usize,
        "num_sweeps above 2^32",
    )
}

/// [`sa_work`] for replica exchange: every replica of every read is a chain; the adaptive ladder and
/// traces run on the CPU only.
pub fn pt_work(problem: &IsingProblem, params: &PtParams) -> Work {
    Work::sized(
        params
            .num_reads
            .saturating_mul(params.num_replicas)
            .saturating_mul(problem.num_variables()),
        GPU_MIN_SPIN_UPDATES,
    )
    .unless(params.adaptive, "adaptive")
    .unless(params.trace_every > 0, "trace_every")
    .unless(params.first_read > 0, "first_read")
    .unless(
        params.num_sweeps > u32::MAX as usize,
        "num_sweeps above 2^32",
    )
}

/// [`crate::simulated_annealing`] on `compute`. On a device `progress` counts sweeps (reads x sweeps),
/// advanced and checked every [`SWEEPS_PER_LAUNCH`] sweeps.
///
/// # Errors
/// As the CPU sampler, plus, on a device, [`Error::InvalidArgument`] for the adaptive and Langevin
/// schedules and for `trace_every > 0` (see [`sa_work`]), and [`Error::Runtime`] when the device fails.
pub fn simulated_annealing_on(
    compute: &Compute,
    problem: &IsingProblem,
    params: &SaParams,
    progress: Option<&Progress>,
) -> Result<SaResult> {
    match compute {
        Compute::Cpu => crate::simulated_annealing(problem, params, progress),
        Compute::Device(exec) => sa_with(exec, problem, params, progress, true),
    }
}

/// [`simulated_annealing_on`], with the dense kernel allowed or not (tests compare the two kernels).
fn sa_with(
    exec: &Executor,
    problem: &IsingProblem,
    params: &SaParams,
    progress: Option<&Progress>,
    allow_dense: bool,
) -> Result<SaResult> {
    let reads = crate::reads::at_least_one("num_reads", params.num_reads)?;
    if matches!(
        params.schedule,
        Schedule::Adaptive { .. } | Schedule::Langevin { .. }
    ) {
        return Err(invalid(
            "schedule",
            "adaptive and Langevin schedules run on the CPU only; use device=\"cpu\"",
        ));
    }
    if params.trace_every > 0 {
        return Err(invalid(
            "trace_every",
            "energy traces are recorded on the CPU only; use device=\"cpu\"",
        ));
    }
    check_whole_run(params.first_read)?;
    let beta_range = params
        .beta_range
        .unwrap_or_else(|| problem.default_beta_range());
    let n = problem.num_variables();
    let planned = params.schedule.sweeps(params.num_sweeps);
    crate::limits::check_work(&[("num_reads", reads), ("num_sweeps", planned), ("spins", n)])?;
    crate::limits::check_memory("num_sweeps", &[(planned, 8)])?;
    crate::limits::check_memory(
        "num_reads",
        &[(reads, n.saturating_mul(6).saturating_add(64))],
    )?;
    let betas = params.schedule.fixed_betas(beta_range, params.num_sweeps)?;
    let sweeps = betas.len();
    check_sweeps(sweeps)?;
    let start = Instant::now();
    let mut p = DeviceProblem::upload(exec, problem)?;
    if !allow_dense {
        p.dense = None;
    }
    let chains = Chains::start(exec, &p, reads, params.seed)?;
    let mut done = 0;
    while done < sweeps {
        if let Some(pr) = progress {
            if pr.is_cancelled() {
                return Err(Error::cancelled());
            }
        }
        let now = SWEEPS_PER_LAUNCH.min(sweeps - done);
        let table = exec.upload(&betas[done..done + now])?;
        chains.sweep(exec, &p, &table, 1, done, now, params.seed)?;
        done += now;
        if let Some(pr) = progress {
            // Wait for the device so that progress reflects work done, not work queued.
            exec.download(&chains.energy)?;
            pr.advance_by(now * reads);
        }
    }
    chains.refresh(exec, &p, false, params.seed)?;
    let energies = exec.download(&chains.energy)?;
    let accepted = exec.download(&chains.accepted)?;
    let states = chains.states_by_chain(exec, n)?;
    let elapsed = start.elapsed().as_secs_f64();
    let attempts = (sweeps * n) as f64;
    Ok(SaResult {
        samples: SampleSet::aggregate(n, &states, &energies),
        stats: RunStats {
            acceptance_rates: accepted
                .iter()
                .map(|&a| {
                    if attempts > 0.0 {
                        a as f64 / attempts
                    } else {
                        0.0
                    }
                })
                .collect(),
            flip_attempts: (sweeps * n * reads) as u64,
            elapsed_seconds: elapsed,
            trace: None,
        },
        beta_range,
        final_betas: vec![betas[sweeps - 1]; reads],
    })
}

/// [`crate::replica_exchange`] on `compute`. On a device every read's replicas are chains, swept
/// together, then one thread per read attempts the swaps (even pairs on even rounds, odd on odd, as on
/// the CPU); `progress` counts sweeps (reads x sweeps).
///
/// # Errors
/// As the CPU sampler, plus, on a device, [`Error::InvalidArgument`] for `adaptive` and
/// `trace_every > 0` (see [`pt_work`]), and [`Error::Runtime`] when the device fails.
pub fn replica_exchange_on(
    compute: &Compute,
    problem: &IsingProblem,
    params: &PtParams,
    progress: Option<&Progress>,
) -> Result<PtResult> {
    match compute {
        Compute::Cpu => crate::replica_exchange(problem, params, progress),
        Compute::Device(exec) => pt_on_device(exec, problem, params, progress),
    }
}

/// The device twin of [`crate::replica_exchange`].
fn pt_on_device(
    exec: &Executor,
    problem: &IsingProblem,
    params: &PtParams,
    progress: Option<&Progress>,
) -> Result<PtResult> {
    let reads = crate::reads::at_least_one("num_reads", params.num_reads)?;
    let sweeps = crate::reads::at_least_one("num_sweeps", params.num_sweeps)?;
    check_sweeps(sweeps)?;
    let r = params.num_replicas;
    if r < 2 {
        return Err(invalid(
            "num_replicas",
            format!("must be at least 2, got {r}"),
        ));
    }
    if params.adaptive {
        return Err(invalid(
            "adaptive",
            "the adaptive ladder runs on the CPU only; use device=\"cpu\"",
        ));
    }
    if params.trace_every > 0 {
        return Err(invalid(
            "trace_every",
            "energy traces are recorded on the CPU only; use device=\"cpu\"",
        ));
    }
    check_whole_run(params.first_read)?;
    let (hot, cold) = crate::replica::ladder_ends(problem, params.beta_range)?;
    let n = problem.num_variables();
    crate::limits::check_work(&[
        ("num_reads", reads),
        ("num_sweeps", sweeps),
        ("num_replicas", r),
        ("spins", n),
    ])?;
    // Host copies of every chain's state and slot, and the returned samples.
    let chains = crate::limits::product("num_replicas", reads, r)?;
    crate::limits::check_memory(
        "num_replicas",
        &[(chains, n.saturating_mul(6).saturating_add(64))],
    )?;
    let start = Instant::now();
    let betas = geometric(hot, cold, r);
    let p = DeviceProblem::upload(exec, problem)?;
    let chains = Chains::start(exec, &p, reads * r, params.seed)?;
    // Chain read * r + w starts at slot w.
    let slots: Vec<u32> = (0..reads * r).map(|c| (c % r) as u32).collect();
    let chains = Chains {
        chain_temp: exec.upload(&slots)?,
        ..chains
    };
    let at: Vec<u32> = (0..reads * r).map(|c| c as u32).collect();
    let at = exec.upload(&at)?;
    let ladder = exec.upload(&betas)?;
    let heading = exec.zeros::<i8>(reads * r)?;
    let tried = exec.zeros::<u64>(reads * (r - 1))?;
    let taken = exec.zeros::<u64>(reads * (r - 1))?;
    let trips = exec.zeros::<u64>(reads)?;
    let best_energy = exec.upload(&vec![f64::INFINITY; reads])?;
    let keep_best = params.keep == Keep::Best;
    let best_state = exec.zeros::<i8>(if keep_best { reads * n } else { 1 })?;
    let (lo, hi) = seed_words(params.seed);
    for t in 0..sweeps {
        if t % SWEEPS_PER_LAUNCH == 0 {
            if let Some(pr) = progress {
                if pr.is_cancelled() {
                    return Err(Error::cancelled());
                }
            }
        }
        chains.sweep(exec, &p, &ladder, r, t, 1, params.seed)?;
        // SAFETY: matches `pt_swaps`; at/chain_temp/heading hold reads x r entries, tried/taken reads x (r-1),
        // trips/best_energy reads, best_state reads x n (when keep_best), states n x (reads x r).
        unsafe {
            exec.launch(
                "anneal",
                "pt_swaps",
                Grid::cover(reads, THREADS),
                &[
                    ladder.arg(),
                    Arg::U32(r as u32),
                    Arg::U64(reads as u64),
                    Arg::U64(n as u64),
                    chains.energy.arg(),
                    at.arg(),
                    chains.chain_temp.arg(),
                    heading.arg(),
                    tried.arg(),
                    taken.arg(),
                    trips.arg(),
                    Arg::U32(t as u32),
                    Arg::U32(1),
                    Arg::U32(keep_best as u32),
                    best_energy.arg(),
                    chains.states.arg(),
                    best_state.arg(),
                    lo,
                    hi,
                ],
            )
        }?;
        if let Some(pr) = progress {
            if (t + 1) % SWEEPS_PER_LAUNCH == 0 || t + 1 == sweeps {
                exec.download(&trips)?;
                pr.advance_by(reads * ((t % SWEEPS_PER_LAUNCH) + 1));
            }
        }
    }
    let at = exec.download(&at)?;
    let all_states = chains.states_by_chain(exec, n)?;
    let best_states = if keep_best {
        exec.download(&best_state)?
    } else {
        Vec::new()
    };
    let best_energies = exec.download(&best_energy)?;
    let mut states = Vec::with_capacity(reads * n);
    let mut energies = Vec::with_capacity(reads);
    for read in 0..reads {
        let state = if keep_best && best_energies[read].is_finite() {
            &best_states[read * n..(read + 1) * n]
        } else {
            let coldest = at[read * r + r - 1] as usize;
            &all_states[coldest * n..(coldest + 1) * n]
        };
        energies.push(problem.energy(state));
        states.extend_from_slice(state);
    }
    let accepted = exec.download(&chains.accepted)?;
    let tried = exec.download(&tried)?;
    let taken = exec.download(&taken)?;
    let round_trips = exec.download(&trips)?.iter().sum();
    let elapsed = start.elapsed().as_secs_f64();
    let attempts = (sweeps * n * r) as f64;
    let (swap_attempts, swap_accepts): (Vec<u64>, Vec<u64>) = (0..r - 1)
        .map(|s| {
            (0..reads).fold((0u64, 0u64), |(t, k), rd| {
                (t + tried[rd * (r - 1) + s], k + taken[rd * (r - 1) + s])
            })
        })
        .unzip();
    let swap_acceptance = swap_attempts
        .iter()
        .zip(&swap_accepts)
        .map(|(&t, &k)| if t == 0 { 0.0 } else { k as f64 / t as f64 })
        .collect();
    let read_betas = betas.repeat(reads);
    Ok(PtResult {
        samples: SampleSet::aggregate(n, &states, &energies),
        stats: RunStats {
            acceptance_rates: (0..reads)
                .map(|rd| {
                    let a: u64 = accepted[rd * r..(rd + 1) * r].iter().sum();
                    if attempts > 0.0 {
                        a as f64 / attempts
                    } else {
                        0.0
                    }
                })
                .collect(),
            flip_attempts: (sweeps * n * r * reads) as u64,
            elapsed_seconds: elapsed,
            trace: None,
        },
        betas,
        swap_acceptance,
        swap_attempts,
        swap_accepts,
        read_betas,
        round_trips,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instances::sherrington_kirkpatrick;

    #[test]
    fn auto_keeps_cpu_only_options_and_32_bit_sweep_counts_on_the_cpu() {
        let p = sherrington_kirkpatrick(256, 1).unwrap();
        let big = SaParams {
            num_reads: GPU_MIN_SPIN_UPDATES / 256,
            ..Default::default()
        };
        assert!(sa_work(&p, &big).worth_a_device());
        let long = SaParams {
            num_sweeps: u32::MAX as usize + 1,
            ..big.clone()
        };
        assert_eq!(sa_work(&p, &long).cpu_only, Some("num_sweeps above 2^32"));
        let traced = PtParams {
            num_reads: GPU_MIN_SPIN_UPDATES / 256,
            trace_every: 1,
            ..Default::default()
        };
        assert_eq!(pt_work(&p, &traced).cpu_only, Some("trace_every"));
    }

    #[test]
    fn dense_and_sparse_kernels_walk_the_same_chains() {
        // Both kernels draw the same Philox words for the same spins and add the same couplings to the same
        // fields, so they must agree state for state, not only in distribution.
        let exec = Executor::emulator().expect("emulator");
        let p = sherrington_kirkpatrick(40, 7).unwrap();
        let params = SaParams {
            num_reads: 12,
            num_sweeps: 25,
            seed: 3,
            ..Default::default()
        };
        let dense = sa_with(&exec, &p, &params, None, true).unwrap();
        let sparse = sa_with(&exec, &p, &params, None, false).unwrap();
        assert_eq!(dense.samples, sparse.samples);
        assert_eq!(dense.stats.acceptance_rates, sparse.stats.acceptance_rates);
    }

    #[test]
    fn progress_counts_sweeps_and_cancels() {
        let exec = Executor::emulator().expect("emulator");
        let p = sherrington_kirkpatrick(10, 1).unwrap();
        let params = SaParams {
            num_reads: 3,
            num_sweeps: 70,
            ..Default::default()
        };
        let progress = Progress::new(3 * 70);
        simulated_annealing_on(&Compute::Device(exec.clone()), &p, &params, Some(&progress))
            .unwrap();
        assert_eq!(progress.done(), 3 * 70);
        let cancelled = Progress::new(3 * 70);
        cancelled.cancel();
        let e = simulated_annealing_on(
            &Compute::Device(exec.clone()),
            &p,
            &params,
            Some(&cancelled),
        )
        .unwrap_err();
        assert_eq!(e, Error::cancelled());
        let pt = PtParams {
            num_reads: 2,
            num_replicas: 3,
            num_sweeps: 45,
            ..Default::default()
        };
        let progress = Progress::new(2 * 45);
        replica_exchange_on(&Compute::Device(exec.clone()), &p, &pt, Some(&progress)).unwrap();
        assert_eq!(progress.done(), 2 * 45);
    }
}
