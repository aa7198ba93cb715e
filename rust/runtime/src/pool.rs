//! Per-call rayon thread pools: `n_threads`, else `THERMOCONSENSUS_NUM_THREADS`, else all cores.
//!
//! Results never depend on the pool size: work is split by data, not by thread, and sums are taken in a
//! fixed order after the parallel part.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Name of the environment variable that sets the default thread count.
pub const THREADS_ENV: &str = "THERMOCONSENSUS_NUM_THREADS";

fn default_threads() -> usize {
    std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

/// Thread pools by size.
type PoolCache = HashMap<usize, Arc<rayon::ThreadPool>>;

/// Most threads one call may use.
pub const MAX_THREADS: usize = 1024;
/// Thread pools kept for reuse.
const MAX_CACHED_POOLS: usize = 4;

/// Runs `f` inside a rayon pool of `n_threads` threads (None: the default above). Pools are cached.
///
/// # Errors
/// [`Error::InvalidThreads`] for 0 or more than [`MAX_THREADS`]; [`Error::ThreadPool`] when the OS
/// refuses the threads.
pub fn run_with_threads<R: Send>(
    n_threads: Option<usize>,
    f: impl FnOnce() -> R + Send,
) -> Result<R> {
    let n = match n_threads {
        Some(0) => {
            return Err(Error::InvalidThreads(
                "must be at least 1 (or None for the default)".into(),
            ))
        }
        Some(n) if n > MAX_THREADS => {
            return Err(Error::InvalidThreads(format!(
                "must be at most {MAX_THREADS}, got {n}"
            )))
        }
        Some(n) => n,
        None => default_threads().min(MAX_THREADS),
    };
    // Cached pools with the id of the process that made them: a forked child (multiprocessing's default
    // on Linux) inherits the cache but not the worker threads, so it must never use those pools.
    static POOLS: OnceLock<Mutex<(u32, PoolCache)>> = OnceLock::new();
    let pool = {
        let mut guard = POOLS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (owner, pools) = &mut *guard;
        if *owner != std::process::id() {
            // Leak, don't drop: dropping would signal threads that do not exist in this process.
            std::mem::forget(std::mem::take(pools));
            *owner = std::process::id();
        }
        match pools.get(&n) {
            Some(p) => Arc::clone(p),
            None => {
                // A few sizes are reused in practice; beyond that, drop the idle pools rather than
                // keep their threads alive forever (running calls hold their own Arc).
                if pools.len() >= MAX_CACHED_POOLS {
                    pools.clear();
                }
                let p = Arc::new(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(n)
                        .thread_name(|i| format!("thermoconsensus-{i}"))
                        .build()
                        .map_err(|e| Error::ThreadPool(e.to_string()))?,
                );
                pools.insert(n, Arc::clone(&p));
                p
            }
        }
    };
    Ok(pool.install(f))
}

/// [`run_with_threads`] for a fallible `f` whose error type takes runtime errors: one `Result` back,
/// with a pool failure converted, never relabelled.
///
/// # Errors
/// The pool's errors (converted with `From`) or `f`'s.
pub fn with_threads<R: Send, E: From<Error> + Send>(
    n_threads: Option<usize>,
    f: impl FnOnce() -> std::result::Result<R, E> + Send,
) -> std::result::Result<R, E> {
    run_with_threads(n_threads, f)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_out_of_range_are_refused() {
        assert!(matches!(
            run_with_threads(Some(0), || ()),
            Err(Error::InvalidThreads(_))
        ));
        let too_many = run_with_threads(Some(MAX_THREADS + 1), || ());
        assert!(matches!(too_many, Err(Error::InvalidThreads(_))));
    }

    #[test]
    fn runs_on_the_requested_number_of_threads() {
        assert_eq!(run_with_threads(Some(3), rayon::current_num_threads), Ok(3));
        let r: std::result::Result<usize, Error> = with_threads(Some(2), || Ok(7));
        assert_eq!(r, Ok(7));
        let cancelled: std::result::Result<(), Error> =
            with_threads(Some(2), || Err(Error::Cancelled));
        assert_eq!(cancelled, Err(Error::Cancelled));
    }
}
