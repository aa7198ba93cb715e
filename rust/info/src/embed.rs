//! Time-delay embeddings for transfer entropy and active information storage (Takens; JIDT conventions).
//!
//! For a target Y, source X and "current" time t, with next value Y_{t+1}:
//! target past  = (Y_{t-(k-1)k_tau}, ..., Y_{t-k_tau}, Y_t)            (k_history values, spacing k_tau),
//! source past  = (X_{t+1-delay-(l-1)l_tau}, ..., X_{t+1-delay})        (l_history values, spacing l_tau),
//! conditional  = C_{t+1-cond_delay} for each conditional series.
//! The first usable t is max((k-1)k_tau, (l-1)l_tau + delay - 1, cond_delay - 1) and the last is T - 2,
//! so the number of samples is N = T - 1 - first, as in JIDT's TransferEntropyCalculatorKraskov.

use crate::error::{invalid, Error, Result};
use crate::matrix::{Matrix, MatrixRef};

/// Embedding parameters of a transfer-entropy estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeEmbedding {
    /// Target history length k.
    pub k_history: usize,
    /// Spacing between target history values.
    pub k_tau: usize,
    /// Source history length l.
    pub l_history: usize,
    /// Spacing between source history values.
    pub l_tau: usize,
    /// Source-target delay u: the most recent source value used is X_{t+1-u}.
    pub delay: usize,
}

impl Default for TeEmbedding {
    fn default() -> Self {
        Self {
            k_history: 1,
            k_tau: 1,
            l_history: 1,
            l_tau: 1,
            delay: 1,
        }
    }
}

impl TeEmbedding {
    /// Checks that every parameter is at least 1.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("k_history", self.k_history),
            ("k_tau", self.k_tau),
            ("l_history", self.l_history),
            ("l_tau", self.l_tau),
            ("delay", self.delay),
        ] {
            if v < 1 {
                return Err(invalid(name, format!("must be at least 1, got {v}")));
            }
        }
        Ok(())
    }

    /// First usable "current" time index, given the largest conditional delay (0 when none); an error
    /// when the embedding spans more time steps than a `usize` can count.
    pub fn first_time(&self, max_cond_delay: usize) -> Result<usize> {
        let target = span("k_history", self.k_history, self.k_tau)?;
        let source = span("l_history", self.l_history, self.l_tau)?
            .checked_add(self.delay - 1)
            .ok_or_else(|| too_long("delay"))?;
        Ok(target.max(source).max(max_cond_delay.saturating_sub(1)))
    }
}

/// Time steps spanned by `history` values `tau` apart: (history - 1) * tau, checked.
pub(crate) fn span(name: &'static str, history: usize, tau: usize) -> Result<usize> {
    (history.max(1) - 1)
        .checked_mul(tau)
        .ok_or_else(|| too_long(name))
}

fn too_long(name: &'static str) -> Error {
    Error::TooFewSamples {
        name,
        reason: "the embedding spans more time steps than any series can hold".into(),
    }
}

/// Rows `t = first..=T-2` of `[lags of series]` where lag `j` (0-based, oldest first) is taken at
/// `t + 1 - offset - (history - 1 - j) * tau`; every column of `series` is embedded in turn.
pub(crate) fn embed_past(
    series: MatrixRef<'_>,
    history: usize,
    tau: usize,
    offset: usize,
    first: usize,
) -> Matrix {
    let t_len = series.rows();
    let cols = series.cols();
    let n = t_len - 1 - first;
    let mut data = Vec::with_capacity(n * history * cols);
    for t in first..t_len - 1 {
        for c in 0..cols {
            for j in 0..history {
                let idx = t + 1 - offset - (history - 1 - j) * tau;
                data.push(series.get(idx, c));
            }
        }
    }
    Matrix::from_vec(data, n, history * cols)
}

/// Checks that a series of length `t_len` leaves more than `k` samples after an embedding starting at
/// `first`, naming `name` otherwise.
pub(crate) fn check_length(
    name: &'static str,
    t_len: usize,
    first: usize,
    k: usize,
) -> Result<usize> {
    let n = t_len.saturating_sub(first).saturating_sub(1);
    if n <= k {
        return Err(Error::TooFewSamples {
            name,
            reason: format!(
                "a series of length {t_len} leaves {n} embedded samples (first usable time {first}), \
                 which must exceed k = {k}; shorten the histories/delays or supply more data"
            ),
        });
    }
    Ok(n)
}
