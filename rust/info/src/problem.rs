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

/// The joint space of several variables (column groups) and the marginal spaces to count in.
pub(crate) struct KsgProblem<'a> {
    /// Column widths of each variable, in the order they appear in `joint`.
    pub group_dims: Vec<usize>,
    /// Each marginal space as a list of variable indices.
    pub marginals: &'a [&'a [usize]],
}
