//! Shared helpers of the KSG integration tests: test data, a brute-force O(N^2) reference KSG and
//! explicit time-delay embeddings. Each test file uses a different subset.
#![allow(dead_code, unused_imports)]

/// Unoptimised builds run the O(N^2) reference ~50x slower: there the N = 3000 checks keep one data
/// kind (`cargo test --release` runs them all).
pub const DEBUG: bool = cfg!(debug_assertions);

pub use rand::seq::SliceRandom;
pub use rand::{RngExt, SeedableRng};
pub use rand_chacha::ChaCha8Rng;
pub use std::f64::consts::{PI, TAU};
pub use thermoconsensus_info::{
    active_information_storage, conditional_mutual_information, entropy,
    local_conditional_mutual_information, local_mutual_information, mutual_information, ragwitz,
    run_with_threads, te_network, transfer_entropy, Algorithm, Conditionals, Error, JointSamples,
    Matrix, MatrixRef, TeEmbedding, TeSamples,
};

pub const EULER: f64 = 0.577_215_664_901_532_9;
pub const ALGS: [Algorithm; 2] = [Algorithm::One, Algorithm::Two];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A row-major `rows x cols` variable owned by the test.
#[derive(Debug, Clone)]
pub struct Var {
    pub data: Vec<f64>,
    pub cols: usize,
}

impl Var {
    pub fn rows(&self) -> usize {
        self.data.len() / self.cols
    }

    pub fn view(&self, name: &'static str) -> MatrixRef<'_> {
        MatrixRef::new(name, &self.data, self.rows(), self.cols).unwrap()
    }

    pub fn get(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }

    /// Max-norm distance between rows `i` and `j` of this variable.
    pub fn dist(&self, i: usize, j: usize) -> f64 {
        let (a, b) = (
            &self.data[i * self.cols..(i + 1) * self.cols],
            &self.data[j * self.cols..(j + 1) * self.cols],
        );
        a.iter()
            .zip(b)
            .fold(0.0_f64, |m, (&p, &q)| m.max((p - q).abs()))
    }

    pub fn permuted(&self, order: &[usize]) -> Var {
        let m = Matrix::take_rows(self.view("v"), order);
        Var {
            data: m.view().data().to_vec(),
            cols: self.cols,
        }
    }

    pub fn shifted(&self, by: &[f64]) -> Var {
        Var {
            data: self
                .data
                .iter()
                .enumerate()
                .map(|(i, v)| v + by[i % self.cols])
                .collect(),
            cols: self.cols,
        }
    }
}

pub fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:.17e}, want {want:.17e} (diff {:.3e}, tol {tol:e})",
        (got - want).abs()
    );
}

pub fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    let (u, v): (f64, f64) = (rng.random(), rng.random());
    (-2.0 * (1.0 - u).ln()).sqrt() * (TAU * v).cos()
}

/// Kinds of test data.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Gaussian,
    /// Standard Cauchy: heavy tails, values up to ~1e6 and beyond.
    Cauchy,
    /// Integers 0..levels: many exact duplicates and distance ties.
    Coarse(u32),
}

pub fn draw(rng: &mut ChaCha8Rng, kind: Kind) -> f64 {
    let u: f64 = rng.random();
    match kind {
        Kind::Gaussian => gauss(rng),
        Kind::Cauchy => (PI * (u - 0.5)).tan(),
        Kind::Coarse(levels) => (u * levels as f64).floor(),
    }
}

/// Dependent variables X (dx), Y (dy), Z (dz): a shared base drives all three, and Y also follows X.
/// Sums of draws keep coarse data integer-valued.
pub fn dependent(seed: u64, n: usize, dims: [usize; 3], kind: Kind) -> [Var; 3] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let [dx, dy, dz] = dims;
    let (mut x, mut y, mut z) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let base = draw(&mut rng, kind);
        for _ in 0..dz {
            z.push(base + draw(&mut rng, kind));
        }
        let x0 = base + draw(&mut rng, kind);
        x.push(x0);
        for _ in 1..dx {
            x.push(base + draw(&mut rng, kind));
        }
        for c in 0..dy {
            let v = if c == 0 { x0 } else { base };
            y.push(v + draw(&mut rng, kind));
        }
    }
    [
        Var { data: x, cols: dx },
        Var { data: y, cols: dy },
        Var { data: z, cols: dz },
    ]
}

pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut p: Vec<usize> = (0..n).collect();
    p.shuffle(&mut rng);
    p
}

// ---------------------------------------------------------------------------------------------
// Brute-force reference KSG
// ---------------------------------------------------------------------------------------------

/// psi(0..=max) at the integers: psi(n) = -gamma + H_{n-1}, harmonic numbers summed in f64.
pub fn psi_table(max: usize) -> Vec<f64> {
    let mut t = vec![f64::NAN; max + 1];
    let mut h = 0.0_f64;
    for (n, slot) in t.iter_mut().enumerate().skip(1) {
        *slot = h - EULER;
        h += 1.0 / n as f64;
    }
    t
}

/// Per-point neighbour counts of the brute-force reference, for both algorithms at once:
/// `one[i][m]` (strict, joint radius) and `two[i][m]` (inclusive, per-variable radii), self excluded.
pub struct BruteCounts {
    pub one: Vec<Vec<usize>>,
    pub two: Vec<Vec<usize>>,
}

/// O(N^2) KSG neighbour counts over the variables `vars` in the marginal spaces `marginals`.
/// The k nearest neighbours in the joint max norm exclude the point itself; ties at equal distance
/// are broken by the smaller sample index (as the engine does).
pub fn brute_counts(vars: &[&Var], marginals: &[&[usize]], k: usize) -> BruteCounts {
    let n = vars[0].rows();
    let g = vars.len();
    let mut one = Vec::with_capacity(n);
    let mut two = Vec::with_capacity(n);
    let mut cand: Vec<(f64, usize)> = Vec::with_capacity(n);
    let mut dv = vec![0.0_f64; g];
    for i in 0..n {
        cand.clear();
        for j in (0..n).filter(|&j| j != i) {
            let d = vars.iter().fold(0.0_f64, |m, v| m.max(v.dist(i, j)));
            cand.push((d, j));
        }
        let by_dist_then_index =
            |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        cand.select_nth_unstable_by(k - 1, by_dist_then_index);
        let nbrs = &cand[..k];
        let eps = nbrs.iter().fold(0.0_f64, |m, c| m.max(c.0));
        let eps_v: Vec<f64> = vars
            .iter()
            .map(|v| nbrs.iter().fold(0.0_f64, |m, c| m.max(v.dist(i, c.1))))
            .collect();
        let mut c1 = vec![0usize; marginals.len()];
        let mut c2 = vec![0usize; marginals.len()];
        for j in (0..n).filter(|&j| j != i) {
            for (d, v) in dv.iter_mut().zip(vars) {
                *d = v.dist(i, j);
            }
            for (mi, marg) in marginals.iter().enumerate() {
                c1[mi] += marg.iter().all(|&v| dv[v] < eps) as usize;
                c2[mi] += marg.iter().all(|&v| dv[v] <= eps_v[v]) as usize;
            }
        }
        one.push(c1);
        two.push(c2);
    }
    BruteCounts { one, two }
}

/// Reference KSG MI for algorithms 1 and 2.
pub fn ref_mi(x: &Var, y: &Var, k: usize) -> [f64; 2] {
    let n = x.rows();
    let c = brute_counts(&[x, y], &[&[0], &[1]], k);
    let psi = psi_table(n + 1);
    let nf = n as f64;
    let s1: f64 = c.one.iter().map(|c| psi[c[0] + 1] + psi[c[1] + 1]).sum();
    let s2: f64 = c.two.iter().map(|c| psi[c[0]] + psi[c[1]]).sum();
    [
        psi[k] + psi[n] - s1 / nf,
        psi[k] - 1.0 / k as f64 + psi[n] - s2 / nf,
    ]
}

/// Reference local (pointwise) KSG MI of every sample for algorithms 1 and 2.
pub fn ref_local_mi(x: &Var, y: &Var, k: usize) -> [Vec<f64>; 2] {
    let n = x.rows();
    let c = brute_counts(&[x, y], &[&[0], &[1]], k);
    let psi = psi_table(n + 1);
    [
        c.one
            .iter()
            .map(|c| psi[k] + psi[n] - psi[c[0] + 1] - psi[c[1] + 1])
            .collect(),
        c.two
            .iter()
            .map(|c| psi[k] - 1.0 / k as f64 + psi[n] - psi[c[0]] - psi[c[1]])
            .collect(),
    ]
}

/// Reference local (pointwise) KSG CMI of every sample for algorithms 1 and 2.
pub fn ref_local_cmi(x: &Var, y: &Var, z: &Var, k: usize) -> [Vec<f64>; 2] {
    let n = x.rows();
    let c = brute_counts(&[x, y, z], &[&[0, 2], &[1, 2], &[2]], k);
    let psi = psi_table(n + 1);
    [
        c.one
            .iter()
            .map(|c| psi[k] - psi[c[0] + 1] - psi[c[1] + 1] + psi[c[2] + 1])
            .collect(),
        c.two
            .iter()
            .map(|c| {
                psi[k] - 2.0 / k as f64 + psi[c[2]] - psi[c[0]] - psi[c[1]]
                    + 1.0 / c[0] as f64
                    + 1.0 / c[1] as f64
            })
            .collect(),
    ]
}

/// Reference KSG (Frenzel-Pompe) CMI for algorithms 1 and 2.
pub fn ref_cmi(x: &Var, y: &Var, z: &Var, k: usize) -> [f64; 2] {
    let n = x.rows();
    let c = brute_counts(&[x, y, z], &[&[0, 2], &[1, 2], &[2]], k);
    let psi = psi_table(n + 1);
    let nf = n as f64;
    let s1: f64 = c
        .one
        .iter()
        .map(|c| psi[c[0] + 1] + psi[c[1] + 1] - psi[c[2] + 1])
        .sum();
    let s2: f64 = c
        .two
        .iter()
        .map(|c| psi[c[2]] - psi[c[0]] - psi[c[1]] + 1.0 / c[0] as f64 + 1.0 / c[1] as f64)
        .sum();
    [psi[k] - s1 / nf, psi[k] - 2.0 / k as f64 + s2 / nf]
}

// ---------------------------------------------------------------------------------------------
// TE and AIS as MI / CMI of explicit embeddings
// ---------------------------------------------------------------------------------------------

/// Coupled AR processes: `cols` columns of source X, target Y and `m` conditioning series C.
pub fn coupled(seed: u64, t_len: usize, cols: usize, m: usize) -> (Var, Var, Var) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut x, mut y, mut c) = (
        vec![0.0; t_len * cols],
        vec![0.0; t_len * cols],
        vec![0.0; t_len * m],
    );
    for t in 0..t_len {
        for j in 0..m {
            let prev = if t > 0 { c[(t - 1) * m + j] } else { 0.0 };
            c[t * m + j] = 0.5 * prev + gauss(&mut rng);
        }
        for j in 0..cols {
            let px = if t > 0 { x[(t - 1) * cols + j] } else { 0.0 };
            let py = if t > 0 { y[(t - 1) * cols + j] } else { 0.0 };
            let px2 = if t > 1 { x[(t - 2) * cols + j] } else { 0.0 };
            let pc = if t > 2 && m > 0 { c[(t - 3) * m] } else { 0.0 };
            x[t * cols + j] = 0.6 * px + gauss(&mut rng);
            y[t * cols + j] = 0.4 * py + 0.5 * px2 + 0.3 * pc + gauss(&mut rng);
        }
    }
    (
        Var { data: x, cols },
        Var { data: y, cols },
        Var {
            data: c,
            cols: m.max(1),
        },
    )
}

/// Rows `t = first..=T-2` of `series` values at times `t + 1 - offset - (history - 1 - j) * tau` for
/// j = 0..history (oldest first), each column of `series` in turn, built straight from embed.rs' docs.
pub fn lags(s: &Var, history: usize, tau: usize, offset: usize, first: usize) -> Var {
    let t_len = s.rows();
    let mut data = Vec::new();
    for t in first..=t_len - 2 {
        for c in 0..s.cols {
            for j in 0..history {
                data.push(s.get(t + 1 - offset - (history - 1 - j) * tau, c));
            }
        }
    }
    Var {
        data,
        cols: history * s.cols,
    }
}

pub fn hstack(parts: &[&Var]) -> Var {
    let rows = parts[0].rows();
    let cols = parts.iter().map(|p| p.cols).sum();
    let mut data = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for p in parts {
            data.extend_from_slice(&p.data[r * p.cols..(r + 1) * p.cols]);
        }
    }
    Var { data, cols }
}

pub fn col(v: &[f64]) -> MatrixRef<'_> {
    MatrixRef::column("x", v).unwrap()
}
