//! The joint-space neighbour searcher of the KSG estimators: an equal-frequency grid for 2-3
//! dimensions (fastest when values are spread out), a k-d tree otherwise or when values repeat heavily.
//! Both return the same neighbours (exact search, ties broken by original index; see [`crate::kdtree`]
//! for exact duplicates).

use crate::grid::{AxisOrder, Grid};
use crate::kdtree::{KdTree, Neighbour};

/// Below this many points the tree is as fast and simpler.
const GRID_MIN_POINTS: usize = 2048;

/// An exact max-norm k-NN structure over a fixed point set, queried by the position of a member point.
pub(crate) enum Searcher {
    /// k-d tree (any dimension).
    Tree(KdTree),
    /// Grid over 2-D points.
    Grid2(Grid<2>),
    /// Grid over 3-D points.
    Grid3(Grid<3>),
}

impl Searcher {
    /// Builds the best structure for the row-major `n x dim` data; `axes` are its sorted columns when the
    /// caller has them (required for the grid).
    pub fn new(data: &[f64], dim: usize, axes: Option<&[AxisOrder]>) -> Self {
        let n = data.len() / dim;
        if let Some(axes) = axes.filter(|_| n >= GRID_MIN_POINTS) {
            let grid = match dim {
                2 => Grid::<2>::build(data, axes).map(Searcher::Grid2),
                3 => Grid::<3>::build(data, axes).map(Searcher::Grid3),
                _ => None,
            };
            if let Some(g) = grid {
                return g;
            }
        }
        Searcher::Tree(KdTree::new(data, dim))
    }

    /// Coordinates of the point at `pos` (positions are the structure's own order).
    #[inline]
    pub fn point(&self, pos: usize) -> &[f64] {
        match self {
            Searcher::Tree(t) => t.point(pos),
            Searcher::Grid2(g) => g.point(pos),
            Searcher::Grid3(g) => g.point(pos),
        }
    }

    /// Original row of the point at `pos`.
    #[inline]
    pub fn original_index(&self, pos: usize) -> usize {
        match self {
            Searcher::Tree(t) => t.original_index(pos),
            Searcher::Grid2(g) => g.original_index(pos),
            Searcher::Grid3(g) => g.original_index(pos),
        }
    }

    /// Distance to the k-th nearest neighbour of the point at `pos` (itself excluded); `scratch` and
    /// `nbrs` are reusable buffers.
    #[inline]
    pub fn kth_distance(
        &self,
        pos: usize,
        k: usize,
        scratch: &mut Vec<f64>,
        nbrs: &mut Vec<Neighbour>,
    ) -> f64 {
        match self {
            Searcher::Tree(t) => {
                t.knn(pos, k, nbrs);
                nbrs.last().map_or(0.0, |nb| nb.dist)
            }
            Searcher::Grid2(g) => g.kth_distance(pos, k, scratch, nbrs),
            Searcher::Grid3(g) => g.kth_distance(pos, k, scratch, nbrs),
        }
    }

    /// The `k` nearest neighbours of the point at `pos`, itself excluded (see [`KdTree::knn`]).
    #[inline]
    pub fn knn(&self, pos: usize, k: usize, out: &mut Vec<Neighbour>) {
        match self {
            Searcher::Tree(t) => t.knn(pos, k, out),
            Searcher::Grid2(g) => g.knn(pos, k, out),
            Searcher::Grid3(g) => g.knn(pos, k, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn kth_distance_fast_path_matches_the_tree() {
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        for dim in [2usize, 3] {
            let n = 4000;
            // Correlated, heavy-tailed columns: uneven cell loads and many fallbacks to wider blocks.
            let data: Vec<f64> = (0..n)
                .flat_map(|_| {
                    let base: f64 = rng.random();
                    (0..dim)
                        .map(|_| (base + 0.5 * rng.random::<f64>()).powi(3))
                        .collect::<Vec<_>>()
                })
                .collect();
            let axes: Vec<AxisOrder> = (0..dim).map(|d| AxisOrder::new(&data, dim, d)).collect();
            let grid = Searcher::new(&data, dim, Some(&axes));
            assert!(
                !matches!(grid, Searcher::Tree(_)),
                "dim={dim}: grid declined"
            );
            let tree = KdTree::new(&data, dim);
            let mut tree_eps = vec![0.0; n];
            let mut buf = Vec::new();
            for k in [1usize, 4, 6, 7, 9] {
                for pos in 0..n {
                    tree.knn(pos, k, &mut buf);
                    tree_eps[tree.original_index(pos)] = buf[k - 1].dist;
                }
                let (mut scratch, mut nbrs) = (Vec::new(), Vec::new());
                for pos in 0..n {
                    let got = grid.kth_distance(pos, k, &mut scratch, &mut nbrs);
                    assert_eq!(
                        got,
                        tree_eps[grid.original_index(pos)],
                        "dim={dim} k={k} pos={pos}"
                    );
                }
            }
        }
    }

    #[test]
    fn grid_and_tree_find_identical_neighbours() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for dim in [2usize, 3] {
            for kind in 0..3 {
                let n = 5000;
                let data: Vec<f64> = (0..n * dim)
                    .map(|i| {
                        let u: f64 = rng.random();
                        match kind {
                            0 => u,
                            // Heavy tail and strong dependence between columns.
                            1 => (-(1.0 - u).ln()).powi(2) + (i % dim) as f64 * 0.0,
                            // Coarse values: many exact ties in distance.
                            _ => (u * 40.0).floor(),
                        }
                    })
                    .collect();
                let axes: Vec<AxisOrder> =
                    (0..dim).map(|d| AxisOrder::new(&data, dim, d)).collect();
                let grid = Searcher::new(&data, dim, Some(&axes));
                let tree = KdTree::new(&data, dim);
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for pos in 0..n {
                    grid.knn(pos, 4, &mut a);
                    let i = grid.original_index(pos);
                    let tpos = (0..n).find(|&p| tree.original_index(p) == i).unwrap_or(0);
                    tree.knn(tpos, 4, &mut b);
                    let ga: Vec<(f64, usize)> = a
                        .iter()
                        .map(|x| (x.dist, grid.original_index(x.pos as usize)))
                        .collect();
                    let tb: Vec<(f64, usize)> = b
                        .iter()
                        .map(|x| (x.dist, tree.original_index(x.pos as usize)))
                        .collect();
                    let dists = |v: &[(f64, usize)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
                    assert_eq!(dists(&ga), dists(&tb), "dim={dim} kind={kind} i={i}");
                    // Exact duplicates (distance 0) may be chosen in search order; all else by index.
                    if tb[3].0 > 0.0 {
                        assert_eq!(ga, tb, "dim={dim} kind={kind} i={i}");
                    }
                }
                assert!(matches!(grid, Searcher::Grid2(_) | Searcher::Grid3(_)) || kind == 2);
            }
        }
    }
}
