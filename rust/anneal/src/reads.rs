//! Running independent reads in parallel, with progress and cancellation.

use crate::error::{Error, Result};
use rayon::prelude::*;
use thermoconsensus_runtime::Progress;

/// Runs `read(r)` for r in 0..num_reads on the current rayon pool; results in read order.
pub(crate) fn run_reads<R: Send>(
    num_reads: usize,
    progress: Option<&Progress>,
    read: impl Fn(usize, &mut Ticker<'_>) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    (0..num_reads)
        .into_par_iter()
        .map(|r| {
            let mut ticker = Ticker {
                progress,
                pending: 0,
            };
            ticker.check()?;
            let out = read(r, &mut ticker)?;
            ticker.flush();
            Ok(out)
        })
        .collect()
}

/// Counts sweeps towards the shared progress and checks for cancellation every few of them.
pub(crate) struct Ticker<'a> {
    progress: Option<&'a Progress>,
    pending: usize,
}

/// Sweeps between two progress updates / cancellation checks.
const TICK_EVERY: usize = 16;

impl Ticker<'_> {
    /// One sweep done; `Err(Cancelled)` when the caller asked to stop.
    #[inline]
    pub(crate) fn tick(&mut self) -> Result<()> {
        self.pending += 1;
        if self.pending >= TICK_EVERY {
            self.flush();
            self.check()?;
        }
        Ok(())
    }

    fn flush(&mut self) {
        if let Some(p) = self.progress {
            p.advance_by(self.pending);
        }
        self.pending = 0;
    }

    fn check(&self) -> Result<()> {
        match self.progress {
            Some(p) if p.is_cancelled() => Err(Error::cancelled()),
            _ => Ok(()),
        }
    }
}

/// The random-stream index of read `read` of a run whose first read is `first_read`; an error when the
/// index would pass u64::MAX (a `first_read` that no split of a real run reaches).
pub(crate) fn stream_index(first_read: u64, read: usize) -> Result<u64> {
    first_read.checked_add(read as u64).ok_or_else(|| {
        crate::error::invalid(
            "first_read",
            format!("first_read + read passes 2^64 - 1 (first_read = {first_read})"),
        )
    })
}

/// Validates a count argument that must be at least 1.
pub(crate) fn at_least_one(name: &'static str, value: usize) -> Result<usize> {
    if value == 0 {
        Err(crate::error::invalid(name, "must be at least 1"))
    } else {
        Ok(value)
    }
}
