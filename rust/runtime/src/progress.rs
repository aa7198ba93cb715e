//! Progress reporting and cancellation for long computations (permutation tests, TE networks, annealing
//! sweeps, generated tokens).
//!
//! Engines advance a shared counter after each unit of work (a surrogate, a pair) and check the cancel
//! flag before starting the next one, so a caller on another thread can show progress and stop the work
//! (e.g. on Ctrl-C) within one unit.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Shared progress state: units done, units in total, and a cancel request.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicUsize,
    total: AtomicUsize,
    cancel: AtomicBool,
}

impl Progress {
    /// A fresh state expecting `total` units.
    pub fn new(total: usize) -> Self {
        Self {
            done: AtomicUsize::new(0),
            total: AtomicUsize::new(total),
            cancel: AtomicBool::new(false),
        }
    }

    /// Units finished so far.
    pub fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    /// Units expected in total.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Asks the computation to stop at its next check.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Records one finished unit.
    pub fn advance(&self) {
        self.advance_by(1);
    }

    /// Records `units` finished units.
    pub fn advance_by(&self, units: usize) {
        self.done.fetch_add(units, Ordering::Relaxed);
    }

    /// True once cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// `Err(Error::Cancelled)` once cancellation was requested.
    ///
    /// # Errors
    /// [`Error::Cancelled`] after [`Progress::cancel`].
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}
