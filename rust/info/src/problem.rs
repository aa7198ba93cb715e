//! The types the CPU estimators (`ksg`) and their device twin (`gpu`) share: which KSG algorithm, and
//! the joint and marginal spaces a neighbour count runs over.

use crate::error::{invalid, Result};

/// Which KSG estimator to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// KSG algorithm 1 (eq. 8): joint-space hypercubes, strict marginal counts.
    One,
    /// KSG algorithm 2 (eq. 9): per-variable hyper-rectangles, inclusive marginal counts.
    Two,
}

impl Algorithm {
    /// Parses the user's `algorithm=1|2`.
    pub fn from_number(n: i64) -> Result<Self> {
        match n {
            1 => Ok(Self::One),
            2 => Ok(Self::Two),
            _ => Err(invalid("algorithm", format!("must be 1 or 2, got {n}"))),
        }
    }
}

/// The norm within each variable; the joint space always takes the largest of the variables' norms
/// (as JIDT's `NORM_TYPE` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Norm {
    /// Max norm (JIDT's default).
    #[default]
    Max,
    /// Euclidean norm within each variable.
    Euclidean,
}

impl Norm {
    /// Parses the user's `norm="max"|"euclidean"`.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "max" => Ok(Self::Max),
            "euclidean" => Ok(Self::Euclidean),
            _ => Err(invalid(
                "norm",
                format!("must be 'max' or 'euclidean', got {name:?}"),
            )),
        }
    }
}

/// Options of the KSG neighbour search beyond k and the algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KsgOptions {
    /// Theiler window (JIDT's `DYN_CORR_EXCL`): samples less than or equal to this many rows apart are
    /// neither neighbours nor counted, so that temporally correlated samples do not pass for
    /// independent ones. 0 excludes only the sample itself.
    pub theiler: usize,
    /// Norm within each variable.
    pub norm: Norm,
}

impl KsgOptions {
    /// True for the plain search (max norm, no window), which every search structure supports.
    pub fn is_plain(&self) -> bool {
        *self == Self::default()
    }

    /// Refuses a window that leaves fewer than k + 1 candidate neighbours (JIDT: N <= k + 2 w).
    pub(crate) fn check(&self, n: usize, k: usize) -> Result<()> {
        if n <= k + 2 * self.theiler {
            return Err(crate::Error::TooFewSamples {
                name: "theiler",
                reason: format!(
                    "{n} samples are too few for k = {k} neighbours outside a Theiler window of {} \
                     either side (N must exceed k + 2 * theiler)",
                    self.theiler
                ),
            });
        }
        Ok(())
    }
}

/// The joint space of several variables (column groups) and the marginal spaces to count in.
pub(crate) struct KsgProblem<'a> {
    /// Column widths of each variable, in the order they appear in `joint`.
    pub group_dims: Vec<usize>,
    /// Each marginal space as a list of variable indices.
    pub marginals: &'a [&'a [usize]],
    /// Window and norm; anything but the plain search runs on the exact scan ([`crate::brute`]).
    pub options: KsgOptions,
}
