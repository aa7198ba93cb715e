//! Kraskov-Stögbauer-Grassberger estimators of mutual information and conditional mutual information.
//!
//! Kraskov, Stögbauer & Grassberger, "Estimating mutual information", Phys. Rev. E 69, 066138 (2004),
//! eqs. (8) and (9); Frenzel & Pompe, "Partial mutual information for coupling analysis of multivariate
//! time series", PRL 99, 204101 (2007) for the conditional form. Conventions follow JIDT's
//! `*Kraskov1`/`*Kraskov2` calculators (normalisation and noise off):
//!
//! * distances are max-norm; the k-th neighbour in the joint space excludes the point itself;
//! * algorithm 1 counts marginal neighbours with a strict inequality `d < eps_i`,
//!   and its digamma terms carry +1: `psi(n + 1)`;
//! * algorithm 2 takes per-variable radii `eps_v` = the largest variable-`v` distance among the k
//!   neighbours, counts with `d <= eps_v` (self excluded), and uses `psi(n)`, with the `-1/k`
//!   (MI) and `-2/k + 1/n_xz + 1/n_yz` (CMI) corrections;
//! * all values in nats.

use crate::counts::{box_counts, RankedAxis};
use crate::digamma::{digamma, integer_table};
use crate::error::{invalid, Error, Result};
use crate::gpu::{neighbour_counts_on, Compute};
// The shared types live in `problem` so the device twin (`gpu`) needs nothing from this module.
use crate::grid::AxisOrder;
use crate::kdtree::Neighbour;
use crate::matrix::{check_same_rows, Matrix, MatrixRef};
pub(crate) use crate::problem::KsgProblem;
pub use crate::problem::{Algorithm, KsgOptions, Norm};
use crate::search::Searcher;
use rayon::prelude::*;

/// Neighbour counts of every point in every marginal, self excluded, in a fixed order (the searcher's
/// point order, or the input order for the brute-force scan). Row `i` of the result holds the counts for
/// one point; `m = marginals.len()` values per row.
pub(crate) fn neighbour_counts(
    joint: MatrixRef<'_>,
    problem: &KsgProblem<'_>,
    k: usize,
    algorithm: Algorithm,
) -> Vec<u32> {
    if !problem.options.is_plain() || crate::brute::preferred(joint.rows(), joint.cols()) {
        return crate::brute::neighbour_counts(joint, problem, k, algorithm);
    }
    tree_counts(joint, problem, k, algorithm).0
}

/// [`neighbour_counts`] in input order: row `i` belongs to row `i` of `joint`.
pub(crate) fn neighbour_counts_by_input(
    joint: MatrixRef<'_>,
    problem: &KsgProblem<'_>,
    k: usize,
    algorithm: Algorithm,
) -> Vec<u32> {
    if !problem.options.is_plain() || crate::brute::preferred(joint.rows(), joint.cols()) {
        return crate::brute::neighbour_counts(joint, problem, k, algorithm);
    }
    tree_counts_by_input(joint, problem, k, algorithm)
}

/// The tree (or grid) search's counts, reordered from its point order to the input order.
pub(crate) fn tree_counts_by_input(
    joint: MatrixRef<'_>,
    problem: &KsgProblem<'_>,
    k: usize,
    algorithm: Algorithm,
) -> Vec<u32> {
    let m = problem.marginals.len();
    let (counts, original) = tree_counts(joint, problem, k, algorithm);
    let mut out = vec![0u32; counts.len()];
    for (pos, &i) in original.iter().enumerate() {
        out[i * m..(i + 1) * m].copy_from_slice(&counts[pos * m..(pos + 1) * m]);
    }
    out
}

/// Counts by the grid or k-d tree search, in the searcher's point order, with the input row of each
/// position.
fn tree_counts(
    joint: MatrixRef<'_>,
    problem: &KsgProblem<'_>,
    k: usize,
    algorithm: Algorithm,
) -> (Vec<u32>, Vec<usize>) {
    let n = joint.rows();
    let groups = problem.group_dims.len();
    let offsets: Vec<usize> = problem
        .group_dims
        .iter()
        .scan(0, |acc, &w| {
            let o = *acc;
            *acc += w;
            Some(o)
        })
        .collect();
    let dim = joint.cols();
    // Sorted columns serve both the grid search and the 1-D / 2-D marginal counts.
    let axes: Option<Vec<AxisOrder>> = (dim <= 3).then(|| {
        (0..dim)
            .into_par_iter()
            .map(|d| AxisOrder::new(joint.data(), dim, d))
            .collect()
    });
    let search = Searcher::new(joint.data(), dim, axes.as_deref());
    // Pass 1: the radius of every variable around every point (one eps for all in algorithm 1).
    let mut radii = vec![0.0_f64; n * groups];
    radii
        .par_chunks_mut(groups)
        .enumerate()
        .with_min_len(256)
        .for_each_init(
            || (Vec::<Neighbour>::with_capacity(k + 1), Vec::new()),
            |(nbrs, scratch), (pos, out)| match algorithm {
                Algorithm::One => out.fill(search.kth_distance(pos, k, scratch, nbrs)),
                Algorithm::Two => {
                    search.knn(pos, k, nbrs);
                    let p = search.point(pos);
                    for (g, &w) in problem.group_dims.iter().enumerate() {
                        let o = offsets[g];
                        out[g] = nbrs.iter().fold(0.0_f64, |acc, nb| {
                            let np = search.point(nb.pos as usize);
                            (o..o + w).fold(acc, |a, c| a.max((np[c] - p[c]).abs()))
                        });
                    }
                }
            },
        );
    // Pass 2: counts in each marginal space, over points in the same (searcher) order.
    let m = problem.marginals.len();
    let per_marginal: Vec<Vec<u32>> = problem
        .marginals
        .par_iter()
        .map(|vars| {
            let cols: Vec<(usize, usize)> = vars
                .iter()
                .flat_map(|&v| {
                    (offsets[v]..offsets[v] + problem.group_dims[v]).map(move |c| (c, v))
                })
                .collect();
            let mut pts = Vec::with_capacity(n * cols.len());
            let mut rad = Vec::with_capacity(n * cols.len());
            for pos in 0..n {
                let p = search.point(pos);
                for &(c, v) in &cols {
                    pts.push(p[c]);
                    rad.push(radii[pos * groups + v]);
                }
            }
            let strict = algorithm == Algorithm::One;
            let ranked = axes.as_ref().filter(|_| cols.len() <= 2).map(|axes| {
                cols.iter()
                    .map(|&(c, _)| RankedAxis {
                        sorted: &axes[c].sorted,
                        rank: (0..n)
                            .map(|pos| axes[c].rank[search.original_index(pos)])
                            .collect(),
                    })
                    .collect()
            });
            let mut counts = box_counts(&pts, cols.len(), &rad, strict, ranked);
            // Remove the point itself: always inside a closed box, inside an open one only if eps > 0.
            for (pos, c) in counts.iter_mut().enumerate() {
                let self_inside = !strict || radii[pos * groups] > 0.0;
                *c -= self_inside as u32;
            }
            counts
        })
        .collect();
    let mut out = vec![0u32; n * m];
    for (mi, counts) in per_marginal.iter().enumerate() {
        for (pos, &c) in counts.iter().enumerate() {
            out[pos * m + mi] = c;
        }
    }
    let original = (0..n).map(|pos| search.original_index(pos)).collect();
    (out, original)
}

/// [`neighbour_counts`] on the CPU or on a device. The two orders of points differ (the CPU's searcher order,
/// the input order on a device); the estimates only average over the rows.
pub(crate) fn counts_on(
    joint: MatrixRef<'_>,
    problem: &KsgProblem<'_>,
    k: usize,
    algorithm: Algorithm,
    compute: &Compute,
) -> Result<Vec<u32>> {
    match compute {
        Compute::Cpu => Ok(neighbour_counts(joint, problem, k, algorithm)),
        Compute::Device(_) if !problem.options.is_plain() => Err(invalid(
            "device",
            "a Theiler window or the Euclidean norm runs on the CPU only",
        )),
        Compute::Device(exec) => neighbour_counts_on(exec, joint, problem, k, algorithm),
    }
}

/// Common argument checks: equal lengths, finite values, 1 <= k < N.
pub(crate) fn check_inputs(inputs: &[(&'static str, MatrixRef<'_>)], k: usize) -> Result<usize> {
    let n = check_same_rows(inputs)?;
    if k < 1 {
        return Err(invalid("k", "must be at least 1"));
    }
    if n <= k {
        return Err(Error::TooFewSamples {
            name: inputs[0].0,
            reason: format!("needs more than k = {k} samples, got {n}"),
        });
    }
    if n > u32::MAX as usize {
        return Err(invalid(inputs[0].0, "more than 2^32 - 1 samples"));
    }
    Ok(n)
}

/// Refuses heavily tied data: when more than `k` samples share one joint value, their k-th neighbour
/// is at distance 0 and the KSG estimate is meaningless (constant data gives a large positive "MI").
/// `names` lists the variables for the message.
pub(crate) fn check_ties(joint: MatrixRef<'_>, k: usize, names: &'static str) -> Result<()> {
    let (n, d) = (joint.rows(), joint.cols());
    let data = joint.data();
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let mut order: Vec<usize> = (0..n).collect();
    let cmp = |a: usize, b: usize| {
        row(a)
            .iter()
            .zip(row(b))
            .map(|(p, q)| p.partial_cmp(q).unwrap_or(std::cmp::Ordering::Equal))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    order.par_sort_unstable_by(|&a, &b| cmp(a, b));
    let (mut most, mut run) = (1usize, 1usize);
    for w in order.windows(2) {
        run = if cmp(w[0], w[1]).is_eq() { run + 1 } else { 1 };
        most = most.max(run);
    }
    if most > k {
        return Err(invalid(
            names,
            format!(
                "the data are heavily tied: {most} of the {n} samples share one joint value, more than \
                 k = {k}, so their k-th neighbour is at distance 0 and the KSG estimate is meaningless; \
                 use the discrete estimators, or add noise of your own (JIDT adds 1e-8 after normalising)"
            ),
        ));
    }
    Ok(())
}

/// Mean of `f(row)` over rows of `counts`, summed in order (deterministic).
fn mean_rows(counts: &[u32], m: usize, f: impl Fn(&[u32]) -> f64) -> f64 {
    let n = counts.len() / m;
    counts.chunks_exact(m).map(f).sum::<f64>() / n as f64
}

/// KSG mutual information I(X; Y) in nats between the rows of `x` and `y` (same number of rows).
pub fn mutual_information(
    x: MatrixRef<'_>,
    y: MatrixRef<'_>,
    k: usize,
    algorithm: Algorithm,
) -> Result<f64> {
    mutual_information_on(x, y, k, algorithm, &Compute::Cpu)
}

/// [`mutual_information`] with the neighbour searches on `compute` (same counts, hence the same value up to
/// the order of summation).
pub fn mutual_information_on(
    x: MatrixRef<'_>,
    y: MatrixRef<'_>,
    k: usize,
    algorithm: Algorithm,
    compute: &Compute,
) -> Result<f64> {
    check_inputs(&[("x", x), ("y", y)], k)?;
    let joint = Matrix::hstack(&[x, y]);
    mi_of_joint(joint.view(), [x.cols(), y.cols()], k, algorithm, compute)
}

/// KSG conditional mutual information I(X; Y | Z) in nats (Frenzel-Pompe form).
pub fn conditional_mutual_information(
    x: MatrixRef<'_>,
    y: MatrixRef<'_>,
    z: MatrixRef<'_>,
    k: usize,
    algorithm: Algorithm,
) -> Result<f64> {
    conditional_mutual_information_on(x, y, z, k, algorithm, &Compute::Cpu)
}

/// [`conditional_mutual_information`] with the neighbour searches on `compute`.
pub fn conditional_mutual_information_on(
    x: MatrixRef<'_>,
    y: MatrixRef<'_>,
    z: MatrixRef<'_>,
    k: usize,
    algorithm: Algorithm,
    compute: &Compute,
) -> Result<f64> {
    check_inputs(&[("x", x), ("y", y), ("z", z)], k)?;
    let joint = Matrix::hstack(&[x, y, z]);
    cmi_of_joint(
        joint.view(),
        [x.cols(), y.cols(), z.cols()],
        k,
        algorithm,
        compute,
    )
}

/// CMI over an already assembled joint matrix `[X | Y | Z]` with the given column widths.
pub(crate) fn cmi_of_joint(
    joint: MatrixRef<'_>,
    widths: [usize; 3],
    k: usize,
    algorithm: Algorithm,
    compute: &Compute,
) -> Result<f64> {
    check_ties(joint, k, "x, y, z")?;
    let counts = counts_on(joint, &cmi_problem(widths), k, algorithm, compute)?;
    Ok(cmi_from_counts(&counts, k, algorithm))
}

/// The (X,Z), (Y,Z) and Z spaces of a CMI over `[X | Y | Z]`.
pub(crate) fn cmi_problem(widths: [usize; 3]) -> KsgProblem<'static> {
    KsgProblem {
        group_dims: widths.to_vec(),
        marginals: &[&[0, 2], &[1, 2], &[2]],
        options: KsgOptions::default(),
    }
}

/// [`cmi_of_joint`] on the CPU, which cannot fail.
pub(crate) fn cmi_of_joint_cpu(
    joint: MatrixRef<'_>,
    widths: [usize; 3],
    k: usize,
    algorithm: Algorithm,
) -> f64 {
    let counts = neighbour_counts(joint, &cmi_problem(widths), k, algorithm);
    cmi_from_counts(&counts, k, algorithm)
}

/// The Frenzel-Pompe estimate from the counts in the (X,Z), (Y,Z) and Z spaces.
pub(crate) fn cmi_from_counts(counts: &[u32], k: usize, algorithm: Algorithm) -> f64 {
    let local = cmi_local_term(counts, k, algorithm);
    mean_rows(counts, 3, local)
}

/// The local (pointwise) CMI of one point from its (X,Z), (Y,Z) and Z counts; the estimate is their mean.
fn cmi_local_term(counts: &[u32], k: usize, algorithm: Algorithm) -> impl Fn(&[u32]) -> f64 {
    // psi at every count that occurs (+1 for algorithm 1), and no further: counts are mostly << N.
    let psi = integer_table(counts.iter().copied().max().unwrap_or(0) as usize + 1);
    let psi_k = digamma(k as f64);
    move |c: &[u32]| match algorithm {
        Algorithm::One => {
            psi_k - (psi[c[0] as usize + 1] + psi[c[1] as usize + 1] - psi[c[2] as usize + 1])
        }
        Algorithm::Two => {
            let (xz, yz, z) = (c[0] as f64, c[1] as f64, c[2] as usize);
            psi_k - 2.0 / k as f64 + psi[z] - psi[c[0] as usize] - psi[c[1] as usize]
                + 1.0 / xz
                + 1.0 / yz
        }
    }
}

/// MI over an already assembled joint matrix `[X | Y]` with the given column widths.
pub(crate) fn mi_of_joint(
    joint: MatrixRef<'_>,
    widths: [usize; 2],
    k: usize,
    algorithm: Algorithm,
    compute: &Compute,
) -> Result<f64> {
    let n = joint.rows();
    check_ties(joint, k, "x, y")?;
    let counts = counts_on(joint, &mi_problem(widths), k, algorithm, compute)?;
    Ok(mi_from_counts(&counts, n, k, algorithm))
}

/// The X and Y spaces of an MI over `[X | Y]`.
pub(crate) fn mi_problem(widths: [usize; 2]) -> KsgProblem<'static> {
    KsgProblem {
        group_dims: widths.to_vec(),
        marginals: &[&[0], &[1]],
        options: KsgOptions::default(),
    }
}

/// The KSG estimate from the counts in the X and Y spaces of `n` points.
pub(crate) fn mi_from_counts(counts: &[u32], n: usize, k: usize, algorithm: Algorithm) -> f64 {
    let local = mi_local_term(counts, n, k, algorithm);
    mean_rows(counts, 2, local)
}

/// The local (pointwise) MI of one point from its X and Y counts; the estimate is their mean.
fn mi_local_term(
    counts: &[u32],
    n: usize,
    k: usize,
    algorithm: Algorithm,
) -> impl Fn(&[u32]) -> f64 {
    // psi at every count that occurs (+1 for algorithm 1), and no further: counts are mostly << N.
    let psi = integer_table(counts.iter().copied().max().unwrap_or(0) as usize + 1);
    let base = digamma(k as f64) + digamma(n as f64);
    move |c: &[u32]| match algorithm {
        Algorithm::One => base - (psi[c[0] as usize + 1] + psi[c[1] as usize + 1]),
        Algorithm::Two => base - 1.0 / k as f64 - (psi[c[0] as usize] + psi[c[1] as usize]),
    }
}

/// Local (pointwise) KSG mutual information of every row of `x` and `y`, in input order (JIDT's
/// `computeLocalOfPreviousObservations`); their mean is [`mutual_information`].
pub fn local_mutual_information(
    x: MatrixRef<'_>,
    y: MatrixRef<'_>,
    k: usize,
    algorithm: Algorithm,
    options: KsgOptions,
) -> Result<Vec<f64>> {
    let (counts, n) = mi_counts_with(x, y, k, algorithm, options)?;
    let local = mi_local_term(&counts, n, k, algorithm);
    Ok(counts.chunks_exact(2).map(local).collect())
}

/// The MI counts of `x` and `y` in input order under `options`, with N.
fn mi_counts_with(
    x: MatrixRef<'_>,
    y: MatrixRef<'_>,
    k: usize,
    algorithm: Algorithm,
    options: KsgOptions,
) -> Result<(Vec<u32>, usize)> {
    let n = check_inputs(&[("x", x), ("y", y)], k)?;
    options.check(n, k)?;
    let joint = Matrix::hstack(&[x, y]);
    check_ties(joint.view(), k, "x, y")?;
    let problem = KsgProblem {
        options,
        ..mi_problem([x.cols(), y.cols()])
    };
    Ok((
        neighbour_counts_by_input(joint.view(), &problem, k, algorithm),
        n,
    ))
}

/// [`mutual_information`] with a Theiler window or another norm (`options`), on the exact scan.
pub fn mutual_information_with(
    x: MatrixRef<'_>,
    y: MatrixRef<'_>,
    k: usize,
    algorithm: Algorithm,
    options: KsgOptions,
) -> Result<f64> {
    let (counts, n) = mi_counts_with(x, y, k, algorithm, options)?;
    Ok(mi_from_counts(&counts, n, k, algorithm))
}

/// [`conditional_mutual_information`] with a Theiler window or another norm (`options`).
pub fn conditional_mutual_information_with(
    x: MatrixRef<'_>,
    y: MatrixRef<'_>,
    z: MatrixRef<'_>,
    k: usize,
    algorithm: Algorithm,
    options: KsgOptions,
) -> Result<f64> {
    let local = local_conditional_mutual_information(x, y, z, k, algorithm, options)?;
    Ok(local.iter().sum::<f64>() / local.len() as f64)
}

/// Local (pointwise) KSG conditional mutual information of every row, in input order; their mean is
/// [`conditional_mutual_information`].
pub fn local_conditional_mutual_information(
    x: MatrixRef<'_>,
    y: MatrixRef<'_>,
    z: MatrixRef<'_>,
    k: usize,
    algorithm: Algorithm,
    options: KsgOptions,
) -> Result<Vec<f64>> {
    check_inputs(&[("x", x), ("y", y), ("z", z)], k)?;
    let joint = Matrix::hstack(&[x, y, z]);
    local_cmi_of_joint(
        joint.view(),
        [x.cols(), y.cols(), z.cols()],
        k,
        algorithm,
        options,
    )
}

/// Local CMI values over an assembled joint matrix `[X | Y | Z]`, in row order.
pub(crate) fn local_cmi_of_joint(
    joint: MatrixRef<'_>,
    widths: [usize; 3],
    k: usize,
    algorithm: Algorithm,
    options: KsgOptions,
) -> Result<Vec<f64>> {
    options.check(joint.rows(), k)?;
    check_ties(joint, k, "x, y, z")?;
    let problem = KsgProblem {
        options,
        ..cmi_problem(widths)
    };
    let counts = neighbour_counts_by_input(joint, &problem, k, algorithm);
    let local = cmi_local_term(&counts, k, algorithm);
    Ok(counts.chunks_exact(3).map(local).collect())
}
