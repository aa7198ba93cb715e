//! KSG neighbour counts on a CUDA device: the GPU twin of [`crate::ksg`]'s `neighbour_counts`, running
//! `cuda/ksg.cu` (tiled exact brute force in the max-norm). Same distances in double precision, same radii, same
//! strict/inclusive comparisons, hence the same counts: the estimates differ from the CPU's only in the order
//! the digamma terms are summed. Brute force costs O(N^2 dim) on the device against the CPU's k-d tree, so it
//! wins from about 10^4 samples up ([`GPU_MIN_SAMPLES`]).

use thermoconsensus_gpu::{Arg, Executor, Grid};

use crate::error::{invalid, Error, Result};
use crate::matrix::MatrixRef;
use crate::problem::{Algorithm, KsgProblem};

/// Bytes of point sets uploaded at once when a permutation test batches its surrogates.
pub(crate) const BATCH_BYTES: usize = 256 << 20;

/// Where the work runs: the CPU engines or a device (one type for every engine).
pub use thermoconsensus_runtime::{Compute, Work};

/// Below this many samples `device="auto"` stays on the CPU: the transfer and the O(N^2) scan do not pay.
pub const GPU_MIN_SAMPLES: usize = 10_000;

/// What the device decision needs to know of a KSG estimate (MI, CMI, TE, a permutation test) on
/// `n_samples` samples of `joint_dim` joint columns with `k` neighbours: it runs on the device from
/// [`GPU_MIN_SAMPLES`] up, within the kernel's limits (at most 16 joint columns and k up to 64); past
/// them `"auto"` stays on the CPU, and an explicit `"cuda"` is refused by the device path with the reason.
pub fn work(n_samples: usize, joint_dim: usize, k: usize) -> Work {
    Work::sized(n_samples, GPU_MIN_SAMPLES)
        .unless(joint_dim > MAX_DIM, "joint dimension above 16")
        .unless(k > MAX_K, "k above 64")
}

/// Kernel limits, matching the `#define`s of `cuda/ksg.cu`.
const TILE: u32 = 128;
const MAX_DIM: usize = 16;
const MAX_K: usize = 64;
const MAX_MARGINALS: usize = 8;

/// Counts of every point (in the input's row order) in every marginal space of `problem`, self excluded;
/// row `i` holds `problem.marginals.len()` values.
pub(crate) fn neighbour_counts_on(
    exec: &Executor,
    joint: MatrixRef<'_>,
    problem: &KsgProblem<'_>,
    k: usize,
    algorithm: Algorithm,
) -> Result<Vec<u32>> {
    neighbour_counts_batch_on(exec, joint.data(), 1, joint.cols(), problem, k, algorithm)
}

/// [`neighbour_counts_on`] for `batch` point sets of equal shape stored one after another in `data` (each
/// `n x dim`, row-major), in one pair of launches: the counts of set `b` follow those of set `b - 1`.
pub(crate) fn neighbour_counts_batch_on(
    exec: &Executor,
    data: &[f64],
    batch: usize,
    dim: usize,
    problem: &KsgProblem<'_>,
    k: usize,
    algorithm: Algorithm,
) -> Result<Vec<u32>> {
    let n = data.len() / (batch * dim).max(1);
    if dim > MAX_DIM {
        return Err(invalid(
            "device",
            format!("the GPU path handles at most {MAX_DIM} joint dimensions, got {dim}; use device=\"cpu\""),
        ));
    }
    if k > MAX_K {
        return Err(invalid(
            "k",
            format!("the GPU path handles k up to {MAX_K}, got {k}; use device=\"cpu\""),
        ));
    }
    let m = problem.marginals.len();
    if m > MAX_MARGINALS {
        return Err(invalid(
            "device",
            format!("the GPU path handles at most {MAX_MARGINALS} marginal spaces, got {m}"),
        ));
    }
    let groups = problem.group_dims.len();
    let col_group: Vec<u32> = problem
        .group_dims
        .iter()
        .enumerate()
        .flat_map(|(g, &w)| std::iter::repeat_n(g as u32, w))
        .collect();
    let masks: Vec<u32> = problem
        .marginals
        .iter()
        .map(|vars| {
            col_group
                .iter()
                .enumerate()
                .filter(|(_, g)| vars.contains(&(**g as usize)))
                .fold(0u32, |acc, (c, _)| acc | (1 << c))
        })
        .collect();
    if batch == 0 || batch > u16::MAX as usize || n * batch * dim != data.len() {
        return Err(invalid(
            "batch",
            format!(
                "{batch} sets do not tile {} values of width {dim}",
                data.len()
            ),
        ));
    }
    let pts = exec.upload(data)?;
    let col_group_d = exec.upload(&col_group)?;
    let masks_d = exec.upload(&masks)?;
    let radii = exec.zeros::<f64>(batch * n * groups)?;
    let counts = exec.zeros::<u32>(batch * n * m)?;
    let grid = Grid {
        blocks: (Grid::cover(n, TILE).blocks.0, batch as u32, 1),
        threads: (TILE, 1, 1),
    };
    let per_variable = (algorithm == Algorithm::Two) as u32;
    let strict = (algorithm == Algorithm::One) as u32;
    // Both kernels start with the points and their layout.
    let points = [
        pts.arg(),
        Arg::U64(n as u64),
        Arg::U32(dim as u32),
        col_group_d.arg(),
        Arg::U32(groups as u32),
    ];
    // SAFETY: argument lists match `ksg_radii` and `ksg_counts` in cuda/ksg.cu; pts holds batch x n x dim
    // doubles, col_group dim entries, masks m, radii batch x n x groups, counts batch x n x m (grid.y = batch);
    // dim, k and m are within the kernel limits checked above, and the block size is the kernel's tile.
    unsafe {
        let radii_args = [Arg::U32(k as u32), Arg::U32(per_variable), radii.arg()];
        exec.launch(
            "ksg",
            "ksg_radii",
            grid,
            &[&points[..], &radii_args].concat(),
        )?;
        let count_args = [
            radii.arg(),
            masks_d.arg(),
            Arg::U32(m as u32),
            Arg::U32(strict),
            counts.arg(),
        ];
        exec.launch(
            "ksg",
            "ksg_counts",
            grid,
            &[&points[..], &count_args].concat(),
        )?;
    }
    exec.download(&counts).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_keeps_work_past_the_kernel_limits_on_the_cpu() {
        assert!(work(GPU_MIN_SAMPLES, MAX_DIM, MAX_K).worth_a_device());
        assert!(!work(GPU_MIN_SAMPLES - 1, 2, 4).worth_a_device());
        let wide = work(GPU_MIN_SAMPLES, MAX_DIM + 1, 4);
        assert_eq!(wide.cpu_only, Some("joint dimension above 16"));
        assert_eq!(
            work(GPU_MIN_SAMPLES, 2, MAX_K + 1).cpu_only,
            Some("k above 64")
        );
    }
}
