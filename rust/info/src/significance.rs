//! Permutation (surrogate) significance tests for KSG MI, CMI, TE and AIS.
//!
//! As in JIDT's `computeSignificance`: MI permutes the rows of `y` (AIS: the next values), CMI permutes
//! `x` only, TE permutes the embedded source-past vectors, so the null keeps each variable's marginal
//! distribution and destroys only their dependence. Differences from JIDT, on purpose:
//! * the p-value is (1 + #{null >= value}) / (1 + n_surrogates) (Phipson & Smyth 2010), which is never 0
//!   and is a valid permutation p-value; JIDT reports #{null >= value} / n_surrogates;
//! * surrogate `s` draws its permutation from ChaCha8 seeded with `seed` on stream `s`, so results are
//!   reproducible and independent of the thread count.

use crate::error::{invalid, Result};
use crate::gpu::Compute;
use crate::ksg::{
    cmi_from_counts, cmi_of_joint, cmi_problem, mi_from_counts, mi_of_joint, mi_problem, Algorithm,
    KsgProblem,
};
use crate::matrix::{Matrix, MatrixRef};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use thermoconsensus_runtime::Progress;

/// Outcome of a permutation test.
#[derive(Debug, Clone, PartialEq)]
pub struct SignificanceResult {
    /// The estimate on the original data.
    pub value: f64,
    /// (1 + #{surrogate >= value}) / (1 + n_surrogates).
    pub p_value: f64,
    /// Mean of the surrogate estimates.
    pub null_mean: f64,
    /// Sample standard deviation (n - 1) of the surrogate estimates.
    pub null_std: f64,
    /// Number of surrogates.
    pub n_surrogates: usize,
    /// The surrogate estimates, in surrogate order.
    pub null: Vec<f64>,
}

/// How a surrogate reorders the rows (samples) of the permuted variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Surrogates {
    /// A uniformly random permutation (JIDT's and IDTxl's default): destroys all temporal structure.
    #[default]
    Permutation,
    /// Time-shifted surrogates (Quian Quiroga et al. 2002): rows rotated by a random shift drawn
    /// uniformly from `min_shift..=n - min_shift`, which keeps the variable's own autocorrelation.
    Circular {
        /// Smallest shift, at least 1 and at most n / 2.
        min_shift: usize,
    },
    /// Block surrogates: consecutive blocks of `size` rows (the last may be shorter) in random order,
    /// which keeps structure shorter than a block.
    Block {
        /// Rows per block; at least 1, and at least two blocks.
        size: usize,
    },
}

impl Surrogates {
    /// The kind the user names ("permutation", "circular" or "block") with its parameter (the
    /// smallest shift or the block size), which defaults to a tenth of the `n` samples (at least 1).
    pub fn from_name(name: &str, param: Option<usize>, n: usize) -> Result<Self> {
        let param = param.unwrap_or((n / 10).max(1));
        match name {
            "permutation" => Ok(Surrogates::Permutation),
            "circular" => Ok(Surrogates::Circular { min_shift: param }),
            "block" => Ok(Surrogates::Block { size: param }),
            other => Err(invalid(
                "surrogates",
                format!("must be 'permutation', 'circular' or 'block', got {other:?}"),
            )),
        }
    }

    /// Checks the parameters against `n` rows.
    pub fn validate(&self, n: usize) -> Result<()> {
        match *self {
            Surrogates::Permutation => Ok(()),
            Surrogates::Circular { min_shift } if min_shift < 1 || 2 * min_shift > n => {
                Err(invalid(
                    "min_shift",
                    format!("must be in 1..={} for {n} samples, got {min_shift}", n / 2),
                ))
            }
            Surrogates::Block { size } if size < 1 || size >= n => Err(invalid(
                "block_size",
                format!(
                    "must be in 1..={} for {n} samples (two blocks at least), got {size}",
                    n.saturating_sub(1)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The reordering of `n` rows this kind draws from `rng`: row i of a surrogate takes row `perm[i]`.
    pub fn draw(&self, n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
        use rand::RngExt;
        match *self {
            Surrogates::Permutation => {
                let mut perm: Vec<usize> = (0..n).collect();
                perm.shuffle(rng);
                perm
            }
            Surrogates::Circular { min_shift } => {
                let shift = rng.random_range(min_shift..=n - min_shift);
                (0..n).map(|i| (i + shift) % n).collect()
            }
            Surrogates::Block { size } => {
                let mut blocks: Vec<usize> = (0..n.div_ceil(size)).collect();
                blocks.shuffle(rng);
                blocks
                    .iter()
                    .flat_map(|&b| b * size..((b + 1) * size).min(n))
                    .collect()
            }
        }
    }
}

/// Which estimate a [`JointSamples`] feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// I(A; B) over groups 0 and 1.
    Mi,
    /// I(A; B | C) over groups 0, 1 and 2.
    Cmi,
}

/// Samples of an estimate as one joint matrix of variable groups, with the group to permute.
#[derive(Debug, Clone)]
pub struct JointSamples {
    /// `[A | B (| C)]` side by side.
    pub joint: Matrix,
    /// Column widths of each group.
    pub widths: Vec<usize>,
    /// The statistic to compute.
    pub statistic: Statistic,
    /// Index of the group whose rows the surrogates permute.
    pub permuted: usize,
    /// How the surrogates reorder those rows.
    pub surrogates: Surrogates,
}

impl JointSamples {
    /// The estimate over `joint` (which has this object's group widths).
    pub fn estimate_on(
        &self,
        joint: MatrixRef<'_>,
        k: usize,
        algorithm: Algorithm,
        compute: &Compute,
    ) -> Result<f64> {
        match self.statistic {
            Statistic::Mi => mi_of_joint(
                joint,
                [self.widths[0], self.widths[1]],
                k,
                algorithm,
                compute,
            ),
            Statistic::Cmi => cmi_of_joint(
                joint,
                [self.widths[0], self.widths[1], self.widths[2]],
                k,
                algorithm,
                compute,
            ),
        }
    }

    /// Where this estimate (and its surrogates) can run: see [`crate::gpu::work`].
    pub fn work(&self, k: usize) -> crate::gpu::Work {
        crate::gpu::work(self.joint.view().rows(), self.joint.view().cols(), k)
    }

    /// The joint and marginal spaces of the statistic.
    fn problem(&self) -> KsgProblem<'static> {
        match self.statistic {
            Statistic::Mi => mi_problem([self.widths[0], self.widths[1]]),
            Statistic::Cmi => cmi_problem([self.widths[0], self.widths[1], self.widths[2]]),
        }
    }

    /// The estimate from the neighbour counts of `n` points in the spaces of [`Self::problem`].
    fn estimate_from_counts(
        &self,
        counts: &[u32],
        n: usize,
        k: usize,
        algorithm: Algorithm,
    ) -> f64 {
        match self.statistic {
            Statistic::Mi => mi_from_counts(counts, n, k, algorithm),
            Statistic::Cmi => cmi_from_counts(counts, k, algorithm),
        }
    }

    /// These samples with another kind of surrogate, checked against the number of samples.
    pub fn with_surrogates(mut self, surrogates: Surrogates) -> Result<Self> {
        surrogates.validate(self.joint.view().rows())?;
        self.surrogates = surrogates;
        Ok(self)
    }

    /// The surrogate reordering `s` of `seed` (ChaCha8 stream s): the same on every device.
    fn permutation(&self, n: usize, seed: u64, s: usize) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(s as u64);
        self.surrogates.draw(n, &mut rng)
    }

    /// The surrogates on a device, batched: as many permuted copies as fit `batch_bytes` go up together and
    /// their neighbour searches run in one pair of launches.
    #[allow(clippy::too_many_arguments)]
    fn device_null(
        &self,
        exec: &thermoconsensus_gpu::Executor,
        k: usize,
        algorithm: Algorithm,
        n_surrogates: usize,
        seed: u64,
        progress: Option<&Progress>,
        batch_bytes: usize,
    ) -> Result<Vec<f64>> {
        let view = self.joint.view();
        let (n, dim) = (view.rows(), view.cols());
        let problem = self.problem();
        let m = problem.marginals.len();
        let per_batch = (batch_bytes / (n * dim * 8).max(1)).clamp(1, u16::MAX as usize);
        let mut null = Vec::with_capacity(n_surrogates);
        for first in (0..n_surrogates).step_by(per_batch) {
            if let Some(p) = progress {
                p.check()?;
            }
            let batch = per_batch.min(n_surrogates - first);
            let mut data = Vec::with_capacity(batch * n * dim);
            for s in first..first + batch {
                let shuffled = self.permuted_copy(&self.permutation(n, seed, s));
                data.extend_from_slice(shuffled.view().data());
            }
            let counts = crate::gpu::neighbour_counts_batch_on(
                exec, &data, batch, dim, &problem, k, algorithm,
            )?;
            for c in counts.chunks_exact(n * m) {
                null.push(self.estimate_from_counts(c, n, k, algorithm));
            }
            if let Some(p) = progress {
                p.advance_by(batch);
            }
        }
        Ok(null)
    }

    /// A copy of the joint matrix with the permuted group's rows reordered: row i takes row `perm[i]`.
    fn permuted_copy(&self, perm: &[usize]) -> Matrix {
        let view = self.joint.view();
        let cols = view.cols();
        let start: usize = self.widths[..self.permuted].iter().sum();
        let end = start + self.widths[self.permuted];
        let mut data = view.data().to_vec();
        for (i, &src) in perm.iter().enumerate() {
            data[i * cols + start..i * cols + end]
                .copy_from_slice(&view.data()[src * cols + start..src * cols + end]);
        }
        Matrix::from_vec(data, view.rows(), cols)
    }

    /// Runs the permutation test with `n_surrogates` surrogates.
    pub fn test(
        &self,
        k: usize,
        algorithm: Algorithm,
        n_surrogates: usize,
        seed: u64,
    ) -> Result<SignificanceResult> {
        self.test_with_progress(k, algorithm, n_surrogates, seed, None, &Compute::Cpu)
    }

    /// [`JointSamples::test`], advancing `progress` once per surrogate and stopping with
    /// [`thermoconsensus_runtime::Error::Cancelled`] when it is cancelled; the estimates run on `compute`. The surrogates are the
    /// same permutations on every device (seeded per surrogate), so a device changes only summation order.
    /// On a device they are batched: up to 256 MiB of permuted copies per pair of launches.
    pub fn test_with_progress(
        &self,
        k: usize,
        algorithm: Algorithm,
        n_surrogates: usize,
        seed: u64,
        progress: Option<&Progress>,
        compute: &Compute,
    ) -> Result<SignificanceResult> {
        check_surrogates(n_surrogates)?;
        let n = self.joint.view().rows();
        if k < 1 {
            return Err(invalid("k", "must be at least 1"));
        }
        if n <= k {
            return Err(crate::Error::TooFewSamples {
                name: "k",
                reason: format!("needs more than k = {k} samples, got {n}"),
            });
        }
        let value = self.estimate_on(self.joint.view(), k, algorithm, compute)?;
        let null: Vec<f64> = match compute {
            Compute::Cpu => self.null_range(k, algorithm, seed, 0..n_surrogates, progress)?,
            Compute::Device(exec) => {
                let bytes = crate::gpu::BATCH_BYTES;
                self.device_null(exec, k, algorithm, n_surrogates, seed, progress, bytes)?
            }
        };
        Ok(summarise(value, null))
    }
}

impl JointSamples {
    /// The CPU estimates of surrogates `surrogates` (each the permutation of its own ChaCha8 stream of
    /// `seed`), in order: exactly the values [`JointSamples::test`] gets for them, so a test can be split
    /// into chunks that run anywhere. Advances `progress` once per surrogate and stops when it is cancelled.
    pub fn null_range(
        &self,
        k: usize,
        algorithm: Algorithm,
        seed: u64,
        surrogates: std::ops::Range<usize>,
        progress: Option<&Progress>,
    ) -> Result<Vec<f64>> {
        let n = self.joint.view().rows();
        surrogates
            .into_par_iter()
            .map(|s| {
                if let Some(p) = progress {
                    p.check()?;
                }
                let shuffled = self.permuted_copy(&self.permutation(n, seed, s));
                let v = self.estimate_on(shuffled.view(), k, algorithm, &Compute::Cpu)?;
                if let Some(p) = progress {
                    p.advance();
                }
                Ok(v)
            })
            .collect()
    }
}

/// Most surrogates one test may ask for: 2^24 (JIDT's examples use 100 to 1000).
pub const MAX_SURROGATES: usize = 1 << 24;

/// Checks `n_surrogates` is in 1..=[`MAX_SURROGATES`].
pub(crate) fn check_surrogates(n_surrogates: usize) -> Result<()> {
    if !(1..=MAX_SURROGATES).contains(&n_surrogates) {
        return Err(invalid(
            "n_surrogates",
            format!("must be in 1..={MAX_SURROGATES}, got {n_surrogates}"),
        ));
    }
    Ok(())
}

/// (1 + #{null >= value}) / (1 + n) (Phipson & Smyth 2010): never 0, a valid permutation p-value.
pub(crate) fn permutation_p_value(value: f64, null: impl Iterator<Item = f64>) -> f64 {
    let (mut exceed, mut n) = (0usize, 0usize);
    for v in null {
        n += 1;
        exceed += (v >= value) as usize;
    }
    (1 + exceed) as f64 / (1 + n) as f64
}

/// p-value, mean and standard deviation of a null distribution.
pub fn summarise(value: f64, null: Vec<f64>) -> SignificanceResult {
    let m = null.len();
    let p_value = permutation_p_value(value, null.iter().copied());
    let mean = null.iter().sum::<f64>() / m as f64;
    let var = if m > 1 {
        null.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (m - 1) as f64
    } else {
        0.0
    };
    SignificanceResult {
        value,
        p_value,
        null_mean: mean,
        null_std: var.sqrt(),
        n_surrogates: m,
        null,
    }
}

impl JointSamples {
    /// Samples of I(X; Y); surrogates permute `y`.
    pub fn mi(x: MatrixRef<'_>, y: MatrixRef<'_>, k: usize) -> Result<Self> {
        crate::ksg::check_inputs(&[("x", x), ("y", y)], k)?;
        Ok(Self {
            joint: Matrix::hstack(&[x, y]),
            widths: vec![x.cols(), y.cols()],
            statistic: Statistic::Mi,
            permuted: 1,
            surrogates: Surrogates::Permutation,
        })
    }

    /// Samples of I(X; Y | Z); surrogates permute `x`.
    pub fn cmi(x: MatrixRef<'_>, y: MatrixRef<'_>, z: MatrixRef<'_>, k: usize) -> Result<Self> {
        crate::ksg::check_inputs(&[("x", x), ("y", y), ("z", z)], k)?;
        Ok(Self {
            joint: Matrix::hstack(&[x, y, z]),
            widths: vec![x.cols(), y.cols(), z.cols()],
            statistic: Statistic::Cmi,
            permuted: 0,
            surrogates: Surrogates::Permutation,
        })
    }

    /// Samples of TE(source -> target); surrogates permute the source-past vectors.
    pub fn te(samples: crate::te::TeSamples) -> Self {
        Self {
            joint: samples.joint,
            widths: samples.widths.to_vec(),
            statistic: Statistic::Cmi,
            permuted: 0,
            surrogates: Surrogates::Permutation,
        }
    }

    /// Samples of AIS; surrogates permute the next values.
    pub fn ais(x: MatrixRef<'_>, k_history: usize, k_tau: usize, k: usize) -> Result<Self> {
        let (past, next) = crate::te::ais_samples(x, k_history, k_tau, k)?;
        Ok(Self {
            joint: Matrix::hstack(&[past.view(), next.view()]),
            widths: vec![past.view().cols(), next.view().cols()],
            statistic: Statistic::Mi,
            permuted: 1,
            surrogates: Surrogates::Permutation,
        })
    }
}

#[cfg(test)]
mod device_tests {
    use super::*;

    #[test]
    fn batched_device_surrogates_equal_the_cpu_ones_across_batches() {
        let exec = thermoconsensus_gpu::Executor::emulator().expect("emulator");
        let n = 150;
        let x: Vec<f64> = (0..n).map(|i| ((i * 37) % 101) as f64 / 7.0).collect();
        let y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| v.sin() + (i % 5) as f64 * 0.1)
            .collect();
        let samples = JointSamples::mi(
            MatrixRef::column("x", &x).unwrap(),
            MatrixRef::column("y", &y).unwrap(),
            3,
        )
        .unwrap();
        let cpu = samples
            .test_with_progress(3, Algorithm::One, 5, 7, None, &Compute::Cpu)
            .unwrap();
        // Room for two point sets per upload: batches of 2, 2 and 1.
        let progress = Progress::new(5);
        let null = samples
            .device_null(
                &exec,
                3,
                Algorithm::One,
                5,
                7,
                Some(&progress),
                2 * n * 2 * 8,
            )
            .unwrap();
        assert_eq!(progress.done(), 5);
        assert_eq!(null.len(), 5);
        for (c, d) in cpu.null.iter().zip(&null) {
            assert!((c - d).abs() <= 1e-12 * (1.0 + c.abs()), "{c} vs {d}");
        }
    }
}

#[cfg(test)]
mod surrogate_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_kind_draws_a_permutation_of_its_own_shape(n in 2usize..300, param in 1usize..200, seed in any::<u64>()) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for kind in [
                Surrogates::Permutation,
                Surrogates::Circular { min_shift: param.min(n / 2).max(1) },
                Surrogates::Block { size: param.min(n - 1) },
            ] {
                prop_assert!(kind.validate(n).is_ok());
                let perm = kind.draw(n, &mut rng);
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                prop_assert_eq!(sorted, (0..n).collect::<Vec<_>>());
                match kind {
                    Surrogates::Circular { min_shift } => {
                        let shift = perm[0];
                        prop_assert!(shift >= min_shift && shift <= n - min_shift, "shift {}", shift);
                        prop_assert!(perm.iter().enumerate().all(|(i, &p)| p == (i + shift) % n));
                    }
                    Surrogates::Block { size } => {
                        // Every block starts at a multiple of size and runs on consecutively.
                        let mut i = 0;
                        while i < n {
                            prop_assert_eq!(perm[i] % size, 0);
                            let len = size.min(n - perm[i]);
                            prop_assert!((0..len).all(|d| perm[i + d] == perm[i] + d));
                            i += len;
                        }
                    }
                    Surrogates::Permutation => {}
                }
            }
        }
    }

    #[test]
    fn parameters_out_of_range_are_refused_by_name() {
        let bad = [
            (Surrogates::Circular { min_shift: 0 }, "min_shift"),
            (Surrogates::Circular { min_shift: 6 }, "min_shift"),
            (Surrogates::Block { size: 0 }, "block_size"),
            (Surrogates::Block { size: 10 }, "block_size"),
        ];
        for (kind, name) in bad {
            let e = kind.validate(10).unwrap_err();
            assert!(format!("{e}").starts_with(name), "{e}");
        }
        assert!(Surrogates::from_name("shuffle", None, 10).is_err());
        assert_eq!(
            Surrogates::from_name("block", None, 250).unwrap(),
            Surrogates::Block { size: 25 }
        );
    }
}
