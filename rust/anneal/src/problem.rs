//! Ising problems with sparse couplings, and their QUBO twins.
//!
//! Convention (dimod's): spins s_i in {-1, +1} and
//! `E(s) = offset + sum_i h_i s_i + sum_{i<j} J_ij s_i s_j`, minimised. Couplings are given as a list of
//! (i, j, value) triples; each triple adds its value to the pair {i, j} once, so (i, j) and (j, i) both
//! add to the same coupling and a dense matrix M means J_ij = M_ij + M_ji. A self-coupling (i, i) is the
//! constant s_i^2 = 1 and goes to the offset. Couplings are stored as a symmetric CSR adjacency (each
//! pair in both rows) so that a spin's local field is one contiguous scan.
//!
//! QUBO: binary x_i in {0, 1} and `E(x) = offset + sum_{i<=j} Q_ij x_i x_j`, the diagonal being linear
//! (x_i^2 = x_i); x = (s + 1) / 2 maps one onto the other with identical energies.

use crate::error::{finite, invalid, Result};
use rayon::prelude::*;

/// An Ising problem over `num_variables` spins (see the module docs for the convention).
#[derive(Debug, Clone, PartialEq)]
pub struct IsingProblem {
    h: Vec<f64>,
    offset: f64,
    row_start: Vec<usize>,
    cols: Vec<u32>,
    vals: Vec<f64>,
    /// Row-major n x n couplings (zero diagonal) for dense problems: updating all fields after a flip
    /// is then one contiguous, vectorised pass instead of an indexed scatter.
    dense: Option<Dense>,
    /// The integer form of a sparse problem whose biases all lie on one grid (see [`Grid`]).
    grid: Option<Grid>,
}

/// A sparse problem whose biases and couplings are all integer multiples of one `quantum`, with every
/// local field within `max_field` quanta: fields are then exact integers and the Metropolis test is a
/// lookup in a table of 2 max_field + 1 thresholds per beta instead of an exponential per attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grid {
    /// The energy of one unit.
    pub(crate) quantum: f64,
    /// h_i / quantum.
    pub(crate) h: Vec<i32>,
    /// J / quantum, aligned with the CSR columns.
    pub(crate) vals: Vec<i32>,
    /// The largest |h_i| + sum_j |J_ij|, in quanta.
    pub(crate) max_field: i32,
}

/// Largest local field (in quanta) for which the grid form is kept: its table then has at most 2049
/// entries (16 KiB), filled once per beta.
const GRID_MAX_FIELD: i64 = 1024;
/// Candidate quanta are the smallest non-zero |value| divided by 1..=GRID_DIVISORS.
const GRID_DIVISORS: u32 = 12;

/// The grid form of (h, CSR values), when one exists. The largest field is also held to n / 8 + 16
/// quanta: the table is refilled whenever beta changes (every sweep of a schedule), and its max_field
/// exponentials then cost less than the sweep's n attempts.
fn find_grid(h: &[f64], row_start: &[usize], vals: &[f64]) -> Option<Grid> {
    let smallest = h
        .iter()
        .chain(vals)
        .map(|v| v.abs())
        .filter(|&v| v > 0.0)
        .fold(f64::INFINITY, f64::min);
    if !smallest.is_finite() {
        return None;
    }
    let limit = GRID_MAX_FIELD.min(h.len() as i64 / 8 + 16);
    // Exact to rounding: the integer form moves no value by more than 1e-12 of itself.
    let units = |v: f64, q: f64| -> Option<i32> {
        let k = (v / q).round();
        ((v - k * q).abs() <= 1e-12 * v.abs() && k.abs() <= limit as f64).then_some(k as i32)
    };
    (1..=GRID_DIVISORS).find_map(|d| {
        let q = smallest / f64::from(d);
        let hu: Vec<i32> = h.iter().map(|&v| units(v, q)).collect::<Option<_>>()?;
        let vu: Vec<i32> = vals.iter().map(|&v| units(v, q)).collect::<Option<_>>()?;
        let mut max_field = 0i64;
        for i in 0..h.len() {
            let row = &vu[row_start[i]..row_start[i + 1]];
            let f = i64::from(hu[i].unsigned_abs())
                + row.iter().map(|v| i64::from(v.unsigned_abs())).sum::<i64>();
            if f > limit {
                return None;
            }
            max_field = max_field.max(f);
        }
        Some(Grid {
            quantum: q,
            h: hu,
            vals: vu,
            max_field: max_field as i32,
        })
    })
}

/// The dense copy of the couplings: f32 when every coupling is exactly an f32 (half the memory
/// traffic, same arithmetic, since the product is taken in f64), else f64.
#[derive(Debug, Clone, PartialEq)]
enum Dense {
    Exact32(Vec<f32>),
    Full(Vec<f64>),
}

/// Smallest fraction of coupled pairs for which the dense copy is kept.
const DENSE_FRACTION: f64 = 0.25;
/// Largest dense copy kept, in values (128 MiB of f64).
const DENSE_MAX_VALUES: usize = 1 << 24;

/// A coupling triple (i, j, value).
pub type Coupling = (usize, usize, f64);

/// Checks that every triple names variables in 0..n and holds a finite value (`name`: "J" or "Q").
fn check_triples(name: &'static str, n: usize, triples: &[Coupling]) -> Result<()> {
    for (k, &(i, j, v)) in triples.iter().enumerate() {
        if i >= n || j >= n {
            return Err(invalid(
                name,
                format!("entry #{k} ({i}, {j}) names a variable outside 0..{n}"),
            ));
        }
        if !v.is_finite() {
            return Err(invalid(
                name,
                format!("entry ({i}, {j}) is not finite ({v})"),
            ));
        }
    }
    Ok(())
}

/// Merges triples into one value per unordered pair (i < j), sorted; self-couplings are returned apart.
fn merge_pairs(n: usize, couplings: &[Coupling]) -> Result<(Vec<Coupling>, f64)> {
    check_triples("J", n, couplings)?;
    let mut diagonal = 0.0;
    let mut pairs = Vec::with_capacity(couplings.len());
    for &(i, j, v) in couplings {
        if i == j {
            diagonal += v;
        } else {
            pairs.push((i.min(j), i.max(j), v));
        }
    }
    pairs.sort_unstable_by_key(|&(i, j, _)| (i, j));
    let mut merged: Vec<Coupling> = Vec::with_capacity(pairs.len());
    for (i, j, v) in pairs {
        match merged.last_mut() {
            Some(last) if last.0 == i && last.1 == j => last.2 += v,
            _ => merged.push((i, j, v)),
        }
    }
    merged.retain(|&(_, _, v)| v != 0.0);
    Ok((merged, diagonal))
}

impl IsingProblem {
    /// Builds a problem from linear biases `h` (its length is the number of spins), coupling triples
    /// and a constant offset. Errors: no variables, more than 2^32 - 1 of them, a non-finite value, or
    /// a coupling index out of range.
    pub fn new(h: Vec<f64>, couplings: &[Coupling], offset: f64) -> Result<Self> {
        let n = h.len();
        if n == 0 {
            return Err(invalid("h", "the problem has no variables"));
        }
        if n > u32::MAX as usize {
            return Err(invalid("h", format!("at most 2^32 - 1 variables, got {n}")));
        }
        if let Some(i) = h.iter().position(|v| !v.is_finite()) {
            return Err(invalid("h", format!("h[{i}] is not finite ({})", h[i])));
        }
        finite("offset", offset)?;
        let (pairs, diagonal) = merge_pairs(n, couplings)?;
        let mut degree = vec![0usize; n + 1];
        for &(i, j, _) in &pairs {
            degree[i + 1] += 1;
            degree[j + 1] += 1;
        }
        for i in 0..n {
            degree[i + 1] += degree[i];
        }
        let row_start = degree;
        let mut fill = row_start.clone();
        let mut cols = vec![0u32; 2 * pairs.len()];
        let mut vals = vec![0.0; 2 * pairs.len()];
        for &(i, j, v) in &pairs {
            cols[fill[i]] = j as u32;
            vals[fill[i]] = v;
            fill[i] += 1;
            cols[fill[j]] = i as u32;
            vals[fill[j]] = v;
            fill[j] += 1;
        }
        let offset = finite("offset", offset + diagonal)?;
        let dense = (n * n <= DENSE_MAX_VALUES
            && pairs.len() as f64 >= DENSE_FRACTION * (n * (n - 1) / 2) as f64
            && !pairs.is_empty())
        .then(|| {
            if pairs.iter().all(|&(_, _, v)| f64::from(v as f32) == v) {
                let mut d = vec![0.0f32; n * n];
                for &(i, j, v) in &pairs {
                    d[i * n + j] = v as f32;
                    d[j * n + i] = v as f32;
                }
                Dense::Exact32(d)
            } else {
                let mut d = vec![0.0; n * n];
                for &(i, j, v) in &pairs {
                    d[i * n + j] = v;
                    d[j * n + i] = v;
                }
                Dense::Full(d)
            }
        });
        let grid = if dense.is_none() {
            find_grid(&h, &row_start, &vals)
        } else {
            None
        };
        Ok(Self {
            h,
            offset,
            row_start,
            cols,
            vals,
            dense,
            grid,
        })
    }

    /// Builds the Ising problem whose energies equal those of the QUBO over `num_variables` binaries with
    /// entries `q` (triples (i, j, value), diagonal = linear terms, each off-diagonal triple added once
    /// to its pair) plus `offset`.
    pub fn from_qubo(num_variables: usize, q: &[Coupling], offset: f64) -> Result<Self> {
        if num_variables == 0 {
            return Err(invalid("Q", "the problem has no variables"));
        }
        if num_variables > u32::MAX as usize {
            return Err(invalid(
                "num_variables",
                format!("at most 2^32 - 1 variables, got {num_variables}"),
            ));
        }
        crate::limits::check_memory("num_variables", &[(num_variables, 64)])?;
        let mut h = vec![0.0; num_variables];
        let mut couplings = Vec::with_capacity(q.len());
        let mut off = finite("offset", offset)?;
        check_triples("Q", num_variables, q)?;
        for &(i, j, v) in q {
            if i == j {
                // Q x = Q (s + 1) / 2
                h[i] += v / 2.0;
                off += v / 2.0;
            } else {
                // Q x_i x_j = Q (s_i s_j + s_i + s_j + 1) / 4
                couplings.push((i, j, v / 4.0));
                h[i] += v / 4.0;
                h[j] += v / 4.0;
                off += v / 4.0;
            }
        }
        Self::new(h, &couplings, off)
    }

    /// The QUBO with the same energies: upper-triangular triples (i <= j) and its offset.
    pub fn to_qubo(&self) -> (Vec<Coupling>, f64) {
        let n = self.num_variables();
        // s = 2x - 1: h s = 2h x - h; J s_i s_j = 4J x_i x_j - 2J x_i - 2J x_j + J.
        let mut diag: Vec<f64> = self.h.iter().map(|&h| 2.0 * h).collect();
        let mut offset = self.offset - self.h.iter().sum::<f64>();
        let mut q = Vec::with_capacity(n + self.cols.len() / 2);
        for (i, j, v) in self.couplings() {
            q.push((i, j, 4.0 * v));
            diag[i] -= 2.0 * v;
            diag[j] -= 2.0 * v;
            offset += v;
        }
        q.extend(
            diag.iter()
                .enumerate()
                .filter(|(_, &d)| d != 0.0)
                .map(|(i, &d)| (i, i, d)),
        );
        q.sort_unstable_by_key(|&(i, j, _)| (i, j));
        (q, offset)
    }

    /// Number of spins.
    pub fn num_variables(&self) -> usize {
        self.h.len()
    }

    /// Linear biases.
    pub fn h(&self) -> &[f64] {
        &self.h
    }

    /// Constant energy offset.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// Number of distinct coupled pairs.
    pub fn num_couplings(&self) -> usize {
        self.cols.len() / 2
    }

    /// Neighbours of spin `i` and the couplings to them.
    #[inline(always)]
    pub fn neighbours(&self, i: usize) -> (&[u32], &[f64]) {
        let (a, b) = (self.row_start[i], self.row_start[i + 1]);
        (&self.cols[a..b], &self.vals[a..b])
    }

    /// The energy quantum when the problem is sparse and every bias is an integer multiple of it (with
    /// small local fields): samplers then keep exact integer fields and look acceptances up in a table.
    pub fn grid_quantum(&self) -> Option<f64> {
        self.grid.as_ref().map(|g| g.quantum)
    }

    /// The integer form, for sparse problems on a grid.
    pub(crate) fn grid(&self) -> Option<&Grid> {
        self.grid.as_ref()
    }

    /// Neighbours of spin `i` and the couplings to them in quanta of `grid`.
    #[inline(always)]
    pub(crate) fn grid_neighbours<'a>(
        &'a self,
        grid: &'a Grid,
        i: usize,
    ) -> (&'a [u32], &'a [i32]) {
        let (a, b) = (self.row_start[i], self.row_start[i + 1]);
        (&self.cols[a..b], &grid.vals[a..b])
    }

    /// Adds `change * J_ij` to `fields[j]` for every neighbour j of `i`: the field update after
    /// spin i moved by `change` (-2 s_i for a flip).
    #[inline(always)]
    pub fn add_to_fields(&self, i: usize, change: f64, fields: &mut [f64]) {
        match &self.dense {
            Some(Dense::Exact32(d)) => {
                let n = fields.len();
                for (f, &v) in fields.iter_mut().zip(&d[i * n..(i + 1) * n]) {
                    *f += f64::from(v) * change;
                }
            }
            Some(Dense::Full(d)) => {
                let n = fields.len();
                for (f, &v) in fields.iter_mut().zip(&d[i * n..(i + 1) * n]) {
                    *f += v * change;
                }
            }
            None => {
                let (cols, vals) = self.neighbours(i);
                for (&j, &v) in cols.iter().zip(vals) {
                    fields[j as usize] += v * change;
                }
            }
        }
    }

    /// Every coupled pair once, as (i, j, J_ij) with i < j, ordered by (i, j).
    pub fn couplings(&self) -> impl Iterator<Item = Coupling> + '_ {
        (0..self.num_variables()).flat_map(move |i| {
            let (cols, vals) = self.neighbours(i);
            cols.iter()
                .zip(vals)
                .filter(move |(&j, _)| (j as usize) > i)
                .map(move |(&j, &v)| (i, j as usize, v))
        })
    }

    /// Local fields `f_i = h_i + sum_j J_ij s_j` of state `s` into `out`.
    pub fn local_fields(&self, s: &[i8], out: &mut [f64]) {
        for (i, f) in out.iter_mut().enumerate() {
            let (cols, vals) = self.neighbours(i);
            *f = self.h[i]
                + cols
                    .iter()
                    .zip(vals)
                    .map(|(&j, &v)| v * s[j as usize] as f64)
                    .sum::<f64>();
        }
    }

    /// Energy of one state (length `num_variables`, entries +-1; not checked).
    pub fn energy(&self, s: &[i8]) -> f64 {
        let mut e = self.offset;
        for (i, &si) in s.iter().enumerate() {
            let (cols, vals) = self.neighbours(i);
            let pair: f64 = cols
                .iter()
                .zip(vals)
                .filter(|(&j, _)| (j as usize) > i)
                .map(|(&j, &v)| v * s[j as usize] as f64)
                .sum();
            e += si as f64 * (self.h[i] + pair);
        }
        e
    }

    /// Energies of many states stored row-major (states x num_variables); checks every entry is +-1.
    pub fn energies(&self, states: &[i8]) -> Result<Vec<f64>> {
        let n = self.num_variables();
        if !states.len().is_multiple_of(n) {
            return Err(invalid(
                "states",
                format!("{} values do not make rows of {n} spins", states.len()),
            ));
        }
        if let Some(k) = states.iter().position(|&v| v != 1 && v != -1) {
            return Err(invalid(
                "states",
                format!(
                    "spins must be -1 or +1; state {} variable {} is {}",
                    k / n,
                    k % n,
                    states[k]
                ),
            ));
        }
        Ok(states.par_chunks(n).map(|s| self.energy(s)).collect())
    }

    /// The largest |h_i| + sum_j |J_ij|: the most the energy can change by flipping one spin, halved.
    pub fn max_field(&self) -> f64 {
        (0..self.num_variables())
            .map(|i| self.h[i].abs() + self.neighbours(i).1.iter().map(|v| v.abs()).sum::<f64>())
            .fold(0.0, f64::max)
    }

    /// The default inverse-temperature range, as dwave-samplers derives it: hot enough that the spin
    /// with the largest possible field flips with probability ~1/2, cold enough that a spin whose
    /// smallest non-zero bias is the problem's smallest flips with probability ~1% (times the number of
    /// such spins).
    pub fn default_beta_range(&self) -> (f64, f64) {
        let max_field = self.max_field();
        if max_field == 0.0 {
            return (1.0, 1.0);
        }
        let hot = std::f64::consts::LN_2 / (2.0 * max_field);
        let min_bias = |i: usize| -> Option<f64> {
            std::iter::once(self.h[i].abs())
                .chain(self.neighbours(i).1.iter().map(|v| v.abs()))
                .filter(|&v| v > 0.0)
                .reduce(f64::min)
        };
        let mins: Vec<f64> = (0..self.num_variables()).filter_map(min_bias).collect();
        let smallest = mins.iter().copied().fold(f64::INFINITY, f64::min);
        let count = mins.iter().filter(|&&m| m == smallest).count() as f64;
        let cold = (count / 0.01).ln() / (2.0 * smallest);
        (hot, cold.max(hot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_states(n: usize) -> impl Iterator<Item = Vec<i8>> {
        (0u32..1 << n).map(move |b| {
            (0..n)
                .map(|i| if b >> i & 1 == 1 { 1 } else { -1 })
                .collect()
        })
    }

    fn naive_energy(h: &[f64], j: &[Coupling], off: f64, s: &[i8]) -> f64 {
        let mut e = off;
        for (i, &hi) in h.iter().enumerate() {
            e += hi * s[i] as f64;
        }
        for &(a, b, v) in j {
            e += v * (s[a] * s[b]) as f64;
        }
        e
    }

    #[test]
    fn energy_matches_the_definition_with_duplicates_and_diagonal() {
        let h = vec![0.5, -1.0, 0.25];
        let j = vec![(0, 1, 1.0), (1, 0, 0.5), (1, 2, -2.0), (2, 2, 3.0)];
        let p = IsingProblem::new(h.clone(), &j, 0.1).unwrap();
        assert_eq!(p.num_couplings(), 2);
        for s in all_states(3) {
            let want = naive_energy(&h, &j, 0.1, &s);
            assert!((p.energy(&s) - want).abs() < 1e-12);
        }
    }

    #[test]
    fn qubo_round_trip_keeps_energies() {
        let h = vec![0.3, -0.7, 1.1, 0.0];
        let j = vec![(0, 1, 1.5), (1, 3, -0.5), (0, 2, 0.25)];
        let p = IsingProblem::new(h, &j, -0.4).unwrap();
        let (q, off) = p.to_qubo();
        let back = IsingProblem::from_qubo(4, &q, off).unwrap();
        for s in all_states(4) {
            let x: Vec<f64> = s.iter().map(|&v| ((v + 1) / 2) as f64).collect();
            let eq = off + q.iter().map(|&(a, b, v)| v * x[a] * x[b]).sum::<f64>();
            assert!((p.energy(&s) - eq).abs() < 1e-12);
            assert!((back.energy(&s) - eq).abs() < 1e-12);
        }
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(IsingProblem::new(vec![], &[], 0.0).is_err());
        assert!(IsingProblem::new(vec![f64::NAN], &[], 0.0).is_err());
        assert!(IsingProblem::new(vec![0.0; 2], &[(0, 2, 1.0)], 0.0).is_err());
        assert!(IsingProblem::new(vec![0.0; 2], &[(0, 1, f64::INFINITY)], 0.0).is_err());
        let p = IsingProblem::new(vec![0.0; 2], &[(0, 1, 1.0)], 0.0).unwrap();
        assert!(p.energies(&[1, 0]).is_err());
        assert!(p.energies(&[1, 1, 1]).is_err());
        assert_eq!(p.energies(&[1, 1, 1, -1]).unwrap(), vec![1.0, -1.0]);
    }

    #[test]
    fn sparse_problems_on_a_grid_get_their_integer_form() {
        let ring =
            |n: usize, v: f64| -> Vec<Coupling> { (0..n).map(|i| (i, (i + 1) % n, v)).collect() };
        // Quantum 0.25 (1.5 = 6 quanta, 0.75 = 3, -0.5 = -2): the form reproduces every value.
        let mut j = ring(20, 1.5);
        j.push((0, 10, 0.75));
        let mut h = vec![0.0; 20];
        h[3] = -0.5;
        let p = IsingProblem::new(h.clone(), &j, 0.0).unwrap();
        assert_eq!(p.grid_quantum(), Some(0.25));
        let g = p.grid().unwrap();
        assert_eq!(g.max_field, 6 + 6 + 3);
        for (i, &hi) in h.iter().enumerate() {
            assert_eq!(f64::from(g.h[i]) * 0.25, hi);
            let (_, real) = p.neighbours(i);
            let (_, units) = p.grid_neighbours(g, i);
            for (&r, &u) in real.iter().zip(units) {
                assert_eq!(f64::from(u) * 0.25, r);
            }
        }
        // One value, even an irrational one, is its own quantum. Off every grid, dense, or with
        // fields beyond n / 8 + 16 quanta: the real-valued form only.
        let off = IsingProblem::new(vec![0.0; 20], &ring(20, std::f64::consts::PI), 0.1);
        assert_eq!(off.unwrap().grid_quantum(), Some(std::f64::consts::PI));
        let mut irrational = ring(20, 1.0);
        irrational.push((0, 5, std::f64::consts::SQRT_2));
        assert!(IsingProblem::new(vec![0.0; 20], &irrational, 0.0)
            .unwrap()
            .grid_quantum()
            .is_none());
        let dense = IsingProblem::new(vec![0.0; 3], &[(0, 1, 1.0), (1, 2, 1.0)], 0.0).unwrap();
        assert!(dense.grid_quantum().is_none());
        let mut wide = ring(20, 1.0);
        wide.push((0, 10, 40.0));
        assert!(IsingProblem::new(vec![0.0; 20], &wide, 0.0)
            .unwrap()
            .grid_quantum()
            .is_none());
    }

    #[test]
    fn default_beta_range_is_ordered() {
        let p = IsingProblem::new(vec![0.1, 0.0], &[(0, 1, 1.0)], 0.0).unwrap();
        let (hot, cold) = p.default_beta_range();
        assert!(hot > 0.0 && cold > hot);
        assert!((hot - std::f64::consts::LN_2 / 2.2).abs() < 1e-12);
    }
}
