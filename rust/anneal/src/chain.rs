//! One Markov chain of single-spin Metropolis sweeps: a state with its local fields, kept as reals or,
//! for a sparse problem on a grid ([`crate::problem::Grid`]), as exact integers whose acceptance
//! test is a table lookup.

use crate::problem::{Grid, IsingProblem};
use crate::rng::Rng;
use crate::sa::metropolis_sweep;
use rand::Rng as _;

/// Thresholds are compared with 63 random bits, so that "always" (2^63) fits a u64.
const ALWAYS: u64 = 1 << 63;
/// exp(-44) * 2^63 < 1: beyond this exponent a move is never accepted.
const NEVER_EXPONENT: f64 = 44.0;

/// A state and its local fields, updated together by [`Chain::sweep`].
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    state: Vec<i8>,
    fields: Fields,
}

#[derive(Debug, Clone)]
enum Fields {
    Real(Vec<f64>),
    Grid {
        /// Local fields in quanta.
        fields: Vec<i32>,
        /// Acceptance threshold (of 2^63) for each aligned field s_i f_i in -max..=max.
        table: Vec<u64>,
        /// The beta `table` was filled for.
        beta: f64,
    },
}

impl Chain {
    /// The chain at `state`, its fields computed from scratch.
    pub(crate) fn new(problem: &IsingProblem, state: Vec<i8>) -> Self {
        let fields = match problem.grid() {
            Some(grid) => Fields::Grid {
                fields: (0..state.len())
                    .map(|i| {
                        let (cols, vals) = problem.grid_neighbours(grid, i);
                        grid.h[i]
                            + cols
                                .iter()
                                .zip(vals)
                                .map(|(&j, &v)| v * i32::from(state[j as usize]))
                                .sum::<i32>()
                    })
                    .collect(),
                table: vec![0; 2 * grid.max_field as usize + 1],
                beta: f64::NAN,
            },
            None => {
                let mut fields = vec![0.0; state.len()];
                problem.local_fields(&state, &mut fields);
                Fields::Real(fields)
            }
        };
        Self { state, fields }
    }

    /// The current state.
    pub(crate) fn state(&self) -> &[i8] {
        &self.state
    }

    /// The state, giving the chain up.
    pub(crate) fn into_state(self) -> Vec<i8> {
        self.state
    }

    /// One sweep over all spins in index order at `beta`: the accepted flips and the energy change.
    #[inline]
    pub(crate) fn sweep(&mut self, problem: &IsingProblem, beta: f64, rng: &mut Rng) -> (u64, f64) {
        match (&mut self.fields, problem.grid()) {
            (
                Fields::Grid {
                    fields,
                    table,
                    beta: filled,
                },
                Some(grid),
            ) => {
                if *filled != beta {
                    fill_table(table, grid, beta);
                    *filled = beta;
                }
                let (accepted, units) =
                    grid_sweep(problem, grid, &mut self.state, fields, table, rng);
                (accepted, units as f64 * grid.quantum)
            }
            (Fields::Real(fields), _) => {
                metropolis_sweep(problem, &mut self.state, fields, beta, rng)
            }
            (Fields::Grid { .. }, None) => unreachable!("a chain is built for its problem"),
        }
    }
}

/// Fills the thresholds of beta: a flip against aligned field a = s_i f_i changes the energy by
/// -2 a quantum, so it is accepted always for a >= 0 and with probability exp(-2 beta quantum |a|) else
/// (rounded down to a multiple of 2^-63).
fn fill_table(table: &mut [u64], grid: &Grid, beta: f64) {
    let max = grid.max_field as i64;
    for (k, t) in table.iter_mut().enumerate() {
        let a = k as i64 - max;
        *t = if a >= 0 {
            ALWAYS
        } else {
            let x = 2.0 * beta * grid.quantum * (-a) as f64;
            if x >= NEVER_EXPONENT {
                0
            } else {
                ((-x).exp() * ALWAYS as f64) as u64
            }
        };
    }
}

/// A Metropolis sweep in integers without a data-dependent branch: every spin draws, and a rejected
/// move adds zero to its neighbours' fields. On low-degree problems this beats branching, whose
/// mispredictions cost more than the few wasted adds. Returns (accepted, energy change in quanta).
#[inline]
fn grid_sweep(
    problem: &IsingProblem,
    grid: &Grid,
    state: &mut [i8],
    fields: &mut [i32],
    table: &[u64],
    rng: &mut Rng,
) -> (u64, i64) {
    let max = grid.max_field;
    let mut accepted = 0u64;
    let mut units = 0i64;
    for i in 0..state.len() {
        let s = i32::from(state[i]);
        let a = s * fields[i];
        let flip = i32::from((rng.next_u64() >> 1) < table[(a + max) as usize]);
        let change = -2 * s * flip;
        state[i] = (s + change) as i8;
        accepted += flip as u64;
        units -= i64::from(2 * a * flip);
        let (cols, vals) = problem.grid_neighbours(grid, i);
        for (&j, &v) in cols.iter().zip(vals) {
            fields[j as usize] += v * change;
        }
    }
    (accepted, units)
}
