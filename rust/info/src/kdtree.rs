//! Exact nearest-neighbour search and range counting in the maximum (Chebyshev) norm with a k-d tree.
//!
//! Bentley (1975) k-d tree with bucket leaves, split at the median of the widest dimension, points stored
//! contiguously in tree order so leaves are scanned from cache. Queries use the lower bound
//! `max(bound, |q_s - split|)` when crossing a split, which is exact in the max norm.
//!
//! Every comparison is made on floating-point differences `|p_d - q_d|`, exactly as a brute-force scan
//! would compute them (IEEE subtraction is monotone, so the pruning bounds agree with the per-point tests);
//! counts therefore equal brute-force counts bit for bit. Ties in the k-th distance are broken by the
//! original sample index, so the neighbour set does not depend on traversal order or thread count; the
//! one exception is a k-th distance of 0 (k exact duplicates), where the first duplicates found are kept:
//! every radius is 0 whichever they are, and listing all duplicates would be quadratic on repeated data.

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
        match dim {
            1 => Self::from_rows::<1>(data),
            2 => Self::from_rows::<2>(data),
            3 => Self::from_rows::<3>(data),
            4 => Self::from_rows::<4>(data),
            _ => Self::from_indices(data, dim),
        }
    }

    fn empty(dim: usize, n: usize) -> Self {
        KdTree {
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
        }
    }

    /// Small dimensions: partition the rows themselves, so selection reads contiguous memory.
    fn from_rows<const D: usize>(data: &[f64]) -> Self {
        let mut items: Vec<([f64; D], u32)> = data
            .chunks_exact(D)
            .enumerate()
            .map(|(i, c)| {
                let mut row = [0.0; D];
                row.copy_from_slice(c);
                (row, i as u32)
            })
            .collect();
        let mut tree = Self::empty(D, items.len());
        tree.build(&mut items, |it, d| it.0[d], |it| it.1);
        tree.pts = items.iter().flat_map(|it| it.0).collect();
        tree.orig = items.iter().map(|it| it.1).collect();
        tree
    }

    /// Any dimension: partition an index permutation.
    fn from_indices(data: &[f64], dim: usize) -> Self {
        let n = data.len() / dim;
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut tree = Self::empty(dim, n);
        tree.build(&mut order, |&i, d| data[i as usize * dim + d], |&i| i);
        tree.pts = Vec::with_capacity(n * dim);
        for &i in &order {
            let i = i as usize;
            tree.pts.extend_from_slice(&data[i * dim..(i + 1) * dim]);
        }
        tree.orig = order;
        tree
    }

    /// Splits `items` recursively at the median of the widest dimension; `key(item, d)` is a coordinate,
    /// `id(item)` the original row (ties in the key are ordered by it, so the tree is deterministic).
    fn build<T>(
        &mut self,
        items: &mut [T],
        key: impl Fn(&T, usize) -> f64,
        id: impl Fn(&T) -> u32,
    ) {
        // Iterative over a stack of node ids so deep trees cannot overflow the call stack.
        let dim = self.dim;
        let mut stack = vec![0usize];
        let (mut lo, mut hi) = (vec![0.0; dim], vec![0.0; dim]);
        while let Some(node_id) = stack.pop() {
            let (start, end) = (
                self.nodes[node_id].start as usize,
                self.nodes[node_id].end as usize,
            );
            lo.fill(f64::INFINITY);
            hi.fill(f64::NEG_INFINITY);
            for it in &items[start..end] {
                for d in 0..dim {
                    let v = key(it, d);
                    lo[d] = lo[d].min(v);
                    hi[d] = hi[d].max(v);
                }
            }
            let need = (node_id + 1) * 2 * dim;
            if self.bbox.len() < need {
                self.bbox.resize(need, 0.0);
            }
            self.bbox[node_id * 2 * dim..node_id * 2 * dim + dim].copy_from_slice(&lo);
            self.bbox[node_id * 2 * dim + dim..(node_id + 1) * 2 * dim].copy_from_slice(&hi);
            if end - start <= LEAF_SIZE {
                continue;
            }
            let split_dim = (0..dim)
                .max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b])))
                .unwrap_or(0);
            let mid = start + (end - start) / 2;
            items[start..end].select_nth_unstable_by(mid - start, |a, b| {
                key(a, split_dim)
                    .total_cmp(&key(b, split_dim))
                    .then(id(a).cmp(&id(b)))
            });
            let split = key(&items[mid], split_dim);
            let left = self.nodes.len();
            self.nodes[node_id].left = left as u32;
            self.nodes[node_id].split_dim = split_dim as u32;
            self.nodes[node_id].split = split;
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
        match self.dim {
            1 => self.knn_in::<1>(pos, k, out),
            2 => self.knn_in::<2>(pos, k, out),
            3 => self.knn_in::<3>(pos, k, out),
            4 => self.knn_in::<4>(pos, k, out),
            _ => self.knn_in::<0>(pos, k, out),
        }
    }

    fn knn_in<const D: usize>(&self, pos: usize, k: usize, out: &mut Vec<Neighbour>) {
        let mut search = KnnSearch::<D> {
            tree: self,
            q: self.point(pos),
            exclude: pos as u32,
            best: KBest::new(k, out, &self.orig),
        };
        search.run();
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

/// The k best neighbours found so far, sorted by (distance, original index).
pub(crate) struct KBest<'o, 'i> {
    k: usize,
    best: &'o mut Vec<Neighbour>,
    /// Original index of each position of the searched structure (the tie-break key).
    orig: &'i [u32],
    /// Distance of the current k-th neighbour (infinite until k are found).
    worst: f64,
}

impl<'o, 'i> KBest<'o, 'i> {
    /// An empty list writing into `best` (cleared by the caller).
    pub(crate) fn new(k: usize, best: &'o mut Vec<Neighbour>, orig: &'i [u32]) -> Self {
        Self {
            k,
            best,
            orig,
            worst: f64::INFINITY,
        }
    }

    /// Distance of the k-th neighbour so far (infinite until k are found).
    #[inline(always)]
    pub(crate) fn worst(&self) -> f64 {
        self.worst
    }

    /// Whether a point (or a region whose points are all) at distance `dist` could still enter the list.
    ///
    /// Equal distances are admitted so the (distance, index) tie-break sees every candidate, except at
    /// distance 0: once k exact duplicates are held every variable's radius is 0 whichever duplicates
    /// they are, and enumerating all duplicates would make heavily repeated data quadratic.
    #[inline(always)]
    pub(crate) fn admits(&self, dist: f64) -> bool {
        dist < self.worst || (dist == self.worst && self.worst > 0.0)
    }

    /// True once k neighbours are held.
    #[inline(always)]
    pub(crate) fn is_full(&self) -> bool {
        self.best.len() == self.k
    }

    /// Keeps `nb` if it beats the current k-th under the (distance, original index) order.
    #[inline(always)]
    pub(crate) fn offer(&mut self, nb: Neighbour) {
        let key = self.orig[nb.pos as usize];
        if nb.dist == self.worst && self.is_full() {
            let w = self.best[self.k - 1];
            if self.orig[w.pos as usize] < key {
                return;
            }
        } else if nb.dist > self.worst {
            return;
        }
        // Insertion by shifting (k is small: cheaper than a memmove call).
        let best = &mut *self.best;
        let mut i = if best.len() < self.k {
            best.push(nb);
            best.len() - 1
        } else {
            self.k - 1
        };
        while i > 0 {
            let prev = best[i - 1];
            if prev.dist < nb.dist || (prev.dist == nb.dist && self.orig[prev.pos as usize] < key) {
                break;
            }
            best[i] = prev;
            i -= 1;
        }
        best[i] = nb;
        if best.len() == self.k {
            self.worst = best[self.k - 1].dist;
        }
    }
}

/// One k-NN query. `D` is the dimension when known at compile time (1-4, the common KSG cases, which
/// lets the distance loop unroll), or 0 for any dimension read at run time.
struct KnnSearch<'t, 'o, const D: usize> {
    tree: &'t KdTree,
    q: &'t [f64],
    exclude: u32,
    best: KBest<'o, 't>,
}

impl<const D: usize> KnnSearch<'_, '_, D> {
    #[inline(always)]
    fn dist(&self, pos: usize) -> f64 {
        if D == 0 {
            max_norm(self.tree.point(pos), self.q)
        } else {
            let p = &self.tree.pts[pos * D..pos * D + D];
            let q = &self.q[..D];
            let mut m = 0.0_f64;
            for d in 0..D {
                m = m.max((p[d] - q[d]).abs());
            }
            m
        }
    }

    /// Depth-first, nearer child first; a far child waits on a small stack with its lower bound and is
    /// skipped if the bound exceeds the k-th distance by the time it is popped (`<=` keeps
    /// equal-distance candidates reachable for the index tie-break).
    fn run(&mut self) {
        // A median-split tree over < 2^32 points is at most ~32 levels deep; 64 slots leave room.
        let mut stack = [(0u32, 0.0_f64); 64];
        let mut sp = 0usize;
        let mut id = 0usize;
        let mut bound = 0.0_f64;
        loop {
            let node = self.tree.nodes[id];
            if node.left != 0 {
                let qv = self.q[node.split_dim as usize];
                let (near, far, gap) = if qv < node.split {
                    (node.left, node.left + 1, node.split - qv)
                } else {
                    (node.left + 1, node.left, qv - node.split)
                };
                stack[sp] = (far, bound.max(gap));
                sp += 1;
                id = near as usize;
                continue;
            }
            for pos in node.start..node.end {
                let dist = self.dist(pos as usize);
                if self.best.admits(dist) && pos != self.exclude {
                    self.best.offer(Neighbour { dist, pos });
                }
            }
            loop {
                if sp == 0 {
                    return;
                }
                sp -= 1;
                let (next, b) = stack[sp];
                if self.best.admits(b) {
                    (id, bound) = (next as usize, b);
                    break;
                }
            }
        }
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
                let want = brute_knn(&data, dim, i, 5);
                let dists = |v: &[(f64, usize)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
                assert_eq!(dists(&got), dists(&want), "dim={dim} i={i}");
                // Which of several exact duplicates (distance 0) fill the list is left to the search
                // order (see `KBest::admits`); every other tie follows the index rule.
                if want[4].0 > 0.0 {
                    assert_eq!(got, want, "dim={dim} i={i}");
                }
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
