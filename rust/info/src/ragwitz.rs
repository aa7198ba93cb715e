//! Choice of embedding history length and delay by the Ragwitz criterion (Ragwitz & Kantz, PRE 65, 056201,
//! 2002), as JIDT's auto-embedding (`AUTO_EMBED_METHOD=RAGWITZ`) does it.
//!
//! For every candidate (k, tau) with k in 1..=k_max and tau in 1..=tau_max (k = 1 only with tau = 1) the
//! series is embedded as (x_{t-(k-1)tau}, ..., x_t) for t = (k-1)tau..=T-2; each point's next value x_{t+1}
//! is predicted by the mean next value of its `n_neighbours` nearest other points in the embedding (max
//! norm), and the candidate with the smallest mean squared prediction error wins (strictly smaller, so
//! ties keep the smaller k, then the smaller tau). For TE, JIDT embeds the target and the source each by
//! its own Ragwitz search, and so do we. Equal distances at the k-th neighbour are broken by sample index
//! here and by tree order in JIDT, which can differ on data with repeated values.

use crate::embed::{check_length, embed_past, span};
use crate::error::{invalid, Result};
use crate::kdtree::{KdTree, Neighbour};
use crate::matrix::MatrixRef;
use rayon::prelude::*;

/// The chosen embedding and the error of every candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct RagwitzResult {
    /// Chosen history length.
    pub history: usize,
    /// Chosen delay between history values.
    pub tau: usize,
    /// Every candidate as (history, tau, mean squared prediction error), in search order.
    pub errors: Vec<(usize, usize, f64)>,
}

/// Mean squared one-step prediction error of the local-mean predictor for one candidate.
pub fn prediction_error(
    name: &'static str,
    x: MatrixRef<'_>,
    history: usize,
    tau: usize,
    n_neighbours: usize,
) -> Result<f64> {
    let first = span("k_max", history, tau)?;
    let n = check_length(name, x.rows(), first, n_neighbours)?;
    let past = embed_past(x, history, tau, 1, first);
    let next = embed_past(x, 1, 1, 0, first);
    let (pv, nv) = (past.view(), next.view());
    let dims = x.cols();
    let tree = KdTree::new(pv.data(), pv.cols());
    let sse: Vec<f64> = (0..n)
        .into_par_iter()
        .with_min_len(256)
        .map_init(Vec::<Neighbour>::new, |nbrs, pos| {
            tree.knn(pos, n_neighbours, nbrs);
            let i = tree.original_index(pos);
            (0..dims)
                .map(|d| {
                    let pred = nbrs
                        .iter()
                        .map(|nb| nv.get(tree.original_index(nb.pos as usize), d))
                        .sum::<f64>()
                        / n_neighbours as f64;
                    let e = nv.get(i, d) - pred;
                    e * e
                })
                .sum()
        })
        .collect();
    Ok(sse.iter().sum::<f64>() / n as f64)
}

/// Searches (history, tau) by the Ragwitz criterion; `name` is the series' argument name for errors.
pub fn ragwitz(
    name: &'static str,
    x: MatrixRef<'_>,
    k_max: usize,
    tau_max: usize,
    n_neighbours: usize,
) -> Result<RagwitzResult> {
    if k_max < 1 {
        return Err(invalid("k_max", "must be at least 1"));
    }
    if tau_max < 1 {
        return Err(invalid("tau_max", "must be at least 1"));
    }
    if n_neighbours < 1 {
        return Err(invalid("n_neighbours", "must be at least 1"));
    }
    x.check_finite(name)?;
    // The longest candidate must still leave enough samples: fail early with a clear message.
    let longest = span("k_max", k_max, if k_max > 1 { tau_max } else { 1 })?;
    check_length(name, x.rows(), longest, n_neighbours)?;
    let mut errors = Vec::new();
    let mut best = (1, 1, f64::INFINITY);
    for history in 1..=k_max {
        for tau in 1..=tau_max {
            let e = prediction_error(name, x, history, tau, n_neighbours)?;
            errors.push((history, tau, e));
            if e < best.2 {
                best = (history, tau, e);
            }
            if history == 1 {
                break;
            }
        }
    }
    Ok(RagwitzResult {
        history: best.0,
        tau: best.1,
        errors,
    })
}
