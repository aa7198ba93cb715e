//! Exact nearest-neighbour search and range counting in the maximum (Chebyshev) norm with a k-d tree.
//!
//! Bentley (1975) k-d tree with bucket leaves, split at the median of the widest dimension, points stored
//! contiguously in tree order so leaves are scanned from cache. Queries use the lower bound
//! `max(bound, |q_s - split|)` when crossing a split, which is exact in the max norm.
//!
//! Every comparison is made on floating-point differences `|p_d - q_d|`, exactly as a brute-force scan
//! would compute them (IEEE subtraction is monotone, so the pruning bounds agree with the per-point tests);
//! counts therefore equal brute-force counts bit for bit. Ties in the k-th distance are broken by the
//! original sample index, so the neighbour set does not depend on traversal order or thread count.

/// Points per leaf: a compromise between tree depth and leaf scan length for 1-6 dimensions.
const LEAF_SIZE: usize = 12;

#[derive(Debug, Clone, Copy)]
struct Node {
    start: u32,
    end: u32,
    /// Index of the left child (the right child is `left + 1`); 0 marks a leaf.
    left: u32,
    split_dim: u32,
    split: f64,
}

/// A max-norm k-d tree over `n` points of dimension `dim`.
#[derive(Debug, Clone)]
pub struct KdTree {
    dim: usize,
    /// Coordinates in tree order (`n * dim`).
    pts: Vec<f64>,
    /// Original row of each tree position.
    orig: Vec<u32>,
    nodes: Vec<Node>,
    /// Per-node bounding boxes: `lo` then `hi`, `dim` values each.
    bbox: Vec<f64>,
}

/// One neighbour found by [`KdTree::knn`]: max-norm distance and tree position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    /// Max-norm distance to the query.
    pub dist: f64,
    /// Position of the neighbour in tree order (see [`KdTree::point`], [`KdTree::original_index`]).
    pub pos: u32,
}

impl KdTree {
    /// Builds the tree from a row-major `n x dim` buffer (`n < 2^32`).
    pub fn new(data: &[f64], dim: usize) -> Self {
        assert!(dim > 0, "dimension must be positive");
        let n = data.len() / dim;
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut tree = KdTree {
            dim,
            pts: Vec::new(),
            orig: Vec::new(),
            nodes: vec![Node {
                start: 0,
                end: n as u32,
                left: 0,
                split_dim: 0,
                split: 0.0,
            }],
            bbox: Vec::new(),
        };
        tree.build(data, &mut order, 0);
        tree.pts = Vec::with_capacity(n * dim);
        for &i in &order {
            let i = i as usize;
            tree.pts.extend_from_slice(&data[i * dim..(i + 1) * dim]);
        }
        tree.orig = order;
        tree
    }

    fn build(&mut self, data: &[f64], order: &mut [u32], root: usize) {
        // Iterative over a stack of node ids so deep trees cannot overflow the call stack.
        let dim = self.dim;
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            let (start, end) = (self.nodes[id].start as usize, self.nodes[id].end as usize);
            let mut lo = vec![f64::INFINITY; dim];
            let mut hi = vec![f64::NEG_INFINITY; dim];
            for &i in &order[start..end] {
                let row = &data[i as usize * dim..(i as usize + 1) * dim];
                for d in 0..dim {
                    lo[d] = lo[d].min(row[d]);
                    hi[d] = hi[d].max(row[d]);
                }
            }
            let need = (id + 1) * 2 * dim;
            if self.bbox.len() < need {
                self.bbox.resize(need, 0.0);
            }
            self.bbox[id * 2 * dim..id * 2 * dim + dim].copy_from_slice(&lo);
            self.bbox[id * 2 * dim + dim..(id + 1) * 2 * dim].copy_from_slice(&hi);
            if end - start <= LEAF_SIZE {
                continue;
            }
            let split_dim = (0..dim)
                .max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b])))
                .unwrap_or(0);
            let mid = start + (end - start) / 2;
            let key = |i: &u32| data[*i as usize * dim + split_dim];
            order[start..end].select_nth_unstable_by(mid - start, |a, b| {
                key(a).total_cmp(&key(b)).then(a.cmp(b))
            });
            let split = key(&order[mid]);
            let left = self.nodes.len();
            self.nodes[id].left = left as u32;
            self.nodes[id].split_dim = split_dim as u32;
            self.nodes[id].split = split;
            for (s, e) in [(start, mid), (mid, end)] {
                self.nodes.push(Node {
                    start: s as u32,
                    end: e as u32,
                    left: 0,
                    split_dim: 0,
                    split: 0.0,
                });
            }
            stack.push(left + 1);
            stack.push(left);
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.orig.len()
    }

    /// True when the tree holds no points.
    pub fn is_empty(&self) -> bool {
        self.orig.is_empty()
    }

    /// Dimension of the points.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Coordinates of the point at tree position `pos`.
    #[inline]
    pub fn point(&self, pos: usize) -> &[f64] {
        &self.pts[pos * self.dim..(pos + 1) * self.dim]
    }

    /// Original row of the point at tree position `pos`.
    #[inline]
    pub fn original_index(&self, pos: usize) -> usize {
        self.orig[pos] as usize
    }

    /// The `k` nearest neighbours of the point at tree position `pos` (itself excluded), sorted by
    /// (distance, original index), written into `out`. Fewer than `k` when the tree is too small.
    pub fn knn(&self, pos: usize, k: usize, out: &mut Vec<Neighbour>) {
        out.clear();
        if k == 0 || self.nodes.is_empty() {
            return;
        }
        let q = self.point(pos);
        let mut search = KnnSearch {
            tree: self,
            q,
            exclude: pos as u32,
            k,
            best: out,
        };
        search.visit(0, 0.0);
    }

    /// Counts points `p` (the query point included when it qualifies) with `|p_d - q_d| < r_d` for every
    /// dimension `d` when `strict`, or `<= r_d` otherwise.
    pub fn count_box(&self, q: &[f64], r: &[f64], strict: bool) -> usize {
        debug_assert_eq!(q.len(), self.dim);
        debug_assert_eq!(r.len(), self.dim);
        if self.is_empty() {
            return 0;
        }
        if strict {
            self.count_node::<true>(0, q, r)
        } else {
            self.count_node::<false>(0, q, r)
        }
    }

    fn count_node<const STRICT: bool>(&self, id: usize, q: &[f64], r: &[f64]) -> usize {
        let dim = self.dim;
        let node = self.nodes[id];
        let b = &self.bbox[id * 2 * dim..(id + 1) * 2 * dim];
        let (lo, hi) = b.split_at(dim);
        let mut inside = true;
        for d in 0..dim {
            // Largest and smallest |p_d - q_d| over the box, by monotonicity of subtraction.
            let far = (hi[d] - q[d]).max(q[d] - lo[d]);
            let near = if lo[d] > q[d] {
                lo[d] - q[d]
            } else if hi[d] < q[d] {
                q[d] - hi[d]
            } else {
                0.0
            };
            if !within::<STRICT>(near, r[d]) {
                return 0;
            }
            inside &= within::<STRICT>(far, r[d]);
        }
        if inside {
            return (node.end - node.start) as usize;
        }
        if node.left == 0 {
            let mut c = 0;
            for pos in node.start as usize..node.end as usize {
                let p = self.point(pos);
                c += p
                    .iter()
                    .zip(q)
                    .zip(r)
                    .all(|((&pv, &qv), &rv)| within::<STRICT>((pv - qv).abs(), rv))
                    as usize;
            }
            return c;
        }
        let l = node.left as usize;
        self.count_node::<STRICT>(l, q, r) + self.count_node::<STRICT>(l + 1, q, r)
    }
}

#[inline(always)]
fn within<const STRICT: bool>(dist: f64, r: f64) -> bool {
    if STRICT {
        dist < r
    } else {
        dist <= r
    }
}

/// Max-norm distance between two points of equal dimension.
#[inline(always)]
pub fn max_norm(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .fold(0.0_f64, |m, (&x, &y)| m.max((x - y).abs()))
}

struct KnnSearch<'t, 'o> {
    tree: &'t KdTree,
    q: &'t [f64],
    exclude: u32,
    k: usize,
    best: &'o mut Vec<Neighbour>,
}

impl KnnSearch<'_, '_> {
    /// Worse-than test under the (distance, original index) order.
    #[inline(always)]
    fn beats_worst(&self, dist: f64, pos: u32) -> bool {
        if self.best.len() < self.k {
            return true;
        }
        let w = self.best[self.k - 1];
        dist < w.dist
            || (dist == w.dist && self.tree.orig[pos as usize] < self.tree.orig[w.pos as usize])
    }

    fn visit(&mut self, id: usize, bound: f64) {
        let node = self.tree.nodes[id];
        if node.left == 0 {
            for pos in node.start..node.end {
                if pos == self.exclude {
                    continue;
                }
                let dist = max_norm(self.tree.point(pos as usize), self.q);
                if self.beats_worst(dist, pos) {
                    self.insert(Neighbour { dist, pos });
                }
            }
            return;
        }
        let sd = node.split_dim as usize;
        let qv = self.q[sd];
        let (near, far, gap) = if qv < node.split {
            (node.left, node.left + 1, node.split - qv)
        } else {
            (node.left + 1, node.left, qv - node.split)
        };
        self.visit(near as usize, bound);
        let far_bound = bound.max(gap);
        // `<=` keeps equal-distance candidates reachable for the index tie-break.
        if self.best.len() < self.k || far_bound <= self.best[self.k - 1].dist {
            self.visit(far as usize, far_bound);
        }
    }

    #[inline(always)]
    fn insert(&mut self, nb: Neighbour) {
        let orig = &self.tree.orig;
        let key = |n: &Neighbour| (n.dist, orig[n.pos as usize]);
        let at = self.best.partition_point(|b| {
            key(b).0 < nb.dist || (key(b).0 == nb.dist && key(b).1 < orig[nb.pos as usize])
        });
        if self.best.len() == self.k {
            self.best.pop();
        }
        self.best.insert(at, nb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(n: usize, dim: usize, seed: u64, grid: Option<f64>) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n * dim)
            .map(|_| {
                let v: f64 = rng.random::<f64>();
                grid.map_or(v, |g| (v * g).floor())
            })
            .collect()
    }

    fn brute_knn(data: &[f64], dim: usize, i: usize, k: usize) -> Vec<(f64, usize)> {
        let n = data.len() / dim;
        let q = &data[i * dim..(i + 1) * dim];
        let mut all: Vec<(f64, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| (max_norm(&data[j * dim..(j + 1) * dim], q), j))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        all
    }

    #[test]
    fn knn_matches_brute_force_including_ties() {
        for (dim, grid) in [
            (1, None),
            (2, None),
            (3, None),
            (2, Some(7.0)),
            (4, Some(3.0)),
        ] {
            let data = random(500, dim, 7 + dim as u64, grid);
            let tree = KdTree::new(&data, dim);
            let mut out = Vec::new();
            for pos in 0..tree.len() {
                let i = tree.original_index(pos);
                tree.knn(pos, 5, &mut out);
                let got: Vec<(f64, usize)> = out
                    .iter()
                    .map(|nb| (nb.dist, tree.original_index(nb.pos as usize)))
                    .collect();
                assert_eq!(got, brute_knn(&data, dim, i, 5), "dim={dim} i={i}");
            }
        }
    }

    #[test]
    fn box_counts_match_brute_force() {
        for (dim, grid) in [(1, None), (2, None), (3, Some(5.0))] {
            let data = random(400, dim, 11 + dim as u64, grid);
            let tree = KdTree::new(&data, dim);
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            for i in 0..100 {
                let q = &data[i * dim..(i + 1) * dim];
                let r: Vec<f64> = (0..dim)
                    .map(|_| {
                        if grid.is_some() {
                            rng.random_range(0..3) as f64
                        } else {
                            rng.random::<f64>() * 0.3
                        }
                    })
                    .collect();
                for strict in [true, false] {
                    let brute = (0..400)
                        .filter(|&j| {
                            (0..dim).all(|d| {
                                let dd = (data[j * dim + d] - q[d]).abs();
                                if strict {
                                    dd < r[d]
                                } else {
                                    dd <= r[d]
                                }
                            })
                        })
                        .count();
                    assert_eq!(tree.count_box(q, &r, strict), brute);
                }
            }
        }
    }
}
