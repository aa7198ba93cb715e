//! Kozachenko-Leonenko k-NN differential entropy in the max norm (Kraskov et al. 2004, eq. 20).
//!
//! H(X) = psi(N) - psi(k) + (d / N) * sum_i ln(2 eps_i), where eps_i is the max-norm distance from x_i to
//! its k-th neighbour: the max-norm ball of radius eps has volume (2 eps)^d.

use crate::digamma::digamma;
use crate::error::{invalid, Result};
use crate::kdtree::KdTree;
use crate::ksg::check_inputs;
use crate::matrix::MatrixRef;
use rayon::prelude::*;

/// Max-norm distance of every point to its k-th neighbour, in joint-tree order.
pub(crate) fn kth_distances(tree: &KdTree, k: usize) -> Vec<f64> {
    (0..tree.len())
        .into_par_iter()
        .map_init(Vec::new, |buf, pos| {
            tree.knn(pos, k, buf);
            buf.last().map_or(0.0, |n| n.dist)
        })
        .collect()
}

/// Kozachenko-Leonenko entropy of the rows of `x`, in nats.
pub fn entropy(x: MatrixRef<'_>, k: usize) -> Result<f64> {
    let n = check_inputs(&[("x", x)], k)?;
    let tree = KdTree::new(x.data(), x.cols());
    let eps = kth_distances(&tree, k);
    if eps.contains(&0.0) {
        return Err(invalid(
            "x",
            format!(
                "has points with at least k = {k} exact duplicates, so the entropy diverges; \
                 add noise (noise=...) or use the plug-in entropy for discrete data"
            ),
        ));
    }
    let mean_log: f64 = eps.iter().map(|&e| (2.0 * e).ln()).sum::<f64>() / n as f64;
    Ok(digamma(n as f64) - digamma(k as f64) + x.cols() as f64 * mean_log)
}
