//! thermoconsensus-anneal: Monte Carlo annealing for Ising/QUBO problems and free-energy minimisation
//! on the probability simplex.
//!
//! * [`simulated_annealing`]: Metropolis single-spin flips with incrementally updated local fields and
//!   geometric, linear, logarithmic, adaptive, Langevin or user schedules (Kirkpatrick et al. 1983);
//! * [`path_integral_annealing`]: simulated quantum annealing by path-integral Monte Carlo over Trotter
//!   slices (Martoňák, Santoro & Tosatti 2002);
//! * [`replica_exchange`]: parallel tempering on a geometric, optionally adaptive, ladder (Hukushima &
//!   Nemoto 1996);
//! * [`minimize_free_energy`]: annealed Langevin in softmax coordinates refined by the mean-field fixed
//!   point, for consensus weights;
//! * [`diagnostics`]: Gelman-Rubin R-hat and effective sample size.
//!
//! Problems follow dimod's conventions (spins +-1, `E = offset + h.s + sum_{i<j} J_ij s_i s_j`).
//! Reads run in parallel with rayon; every read draws from its own seeded stream, so results are the
//! same for any thread count.
#![deny(missing_docs)]

pub(crate) mod chain;
pub mod diagnostics;
pub mod error;
pub mod gpu;
pub mod instances;
pub mod limits;
pub mod pimc;
pub mod problem;
pub(crate) mod reads;
pub mod replica;
pub mod rng;
pub mod sa;
pub mod sampleset;
pub mod schedule;
pub mod simplex;

pub use diagnostics::{effective_sample_size, gelman_rubin};
pub use error::{Error, Result};
pub use gpu::{pt_work, replica_exchange_on, sa_work, simulated_annealing_on, Compute, Work};
pub use pimc::{path_integral_annealing, PimcParams, PimcResult};
pub use problem::{Coupling, IsingProblem};
pub use replica::{replica_exchange, Keep, PtParams, PtResult};
pub use sa::{simulated_annealing, SaParams, SaResult};
pub use sampleset::{RunStats, SampleSet, Trace};
pub use schedule::Schedule;
pub use simplex::{minimize_free_energy, minimize_free_energy_with, SimplexParams, SimplexResult};
pub use thermoconsensus_runtime::{run_with_threads, Error as RuntimeError, Progress};

/// Runs `f` in a rayon pool of `n_threads` threads (None: `THERMOCONSENSUS_NUM_THREADS` or all cores):
/// [`thermoconsensus_runtime::with_threads`] with this crate's error type.
pub fn with_threads<R: Send>(
    n_threads: Option<usize>,
    f: impl FnOnce() -> Result<R> + Send,
) -> Result<R> {
    thermoconsensus_runtime::with_threads(n_threads, f)
}
