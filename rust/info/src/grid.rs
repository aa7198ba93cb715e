//! Exact k-nearest-neighbour search in the max norm on an equal-frequency grid (D = 2 or 3).
//!
//! The box-assisted search of the original KSG code, with cell edges at quantiles of each axis so cells
//! hold about the same number of points whatever the marginal distributions. A query scans its own cell,
//! then rings of cells at Chebyshev cell distance 1, 2, ...; a cell is skipped when its box is farther
//! than the current k-th distance, and the search stops once every point outside the scanned block is
//! provably farther (`lower bound > k-th distance`, strict so that equal-distance ties are all seen and
//! broken by original index exactly as in [`crate::kdtree`]). Every bound is computed from the same
//! floating-point differences as the point distances, so the neighbour set equals a brute-force scan's.
//!
//! Values that repeat heavily would pile into single cells, or fill whole cells with one value that no
//! bound can separate; [`Grid::build`] declines such data (returns None) and the caller uses the k-d
//! tree instead.

use crate::kdtree::{KBest, Neighbour};

/// Target number of points per cell: a 3^D block then holds a few dozen candidates.
const OCCUPANCY: f64 = 2.0;
/// A cell may hold at most this many times the average before the grid is declined.
const MAX_OVERLOAD: usize = 64;

/// Sorted values of one axis and each point's rank along it (ties broken by original index).
pub(crate) struct AxisOrder {
    /// Values in ascending order.
    pub sorted: Vec<f64>,
    /// `rank[i]` = position of point i in `sorted`.
    pub rank: Vec<u32>,
}

impl AxisOrder {
    /// Sorts column `axis` of the row-major `n x dim` matrix `points`.
    pub fn new(points: &[f64], dim: usize, axis: usize) -> Self {
        let n = points.len() / dim;
        let mut keyed: Vec<(f64, u32)> =
            (0..n).map(|i| (points[i * dim + axis], i as u32)).collect();
        // LSD radix sort: stable, so equal values stay in index order; several times faster than a
        // comparison sort on 10^5..10^6 keys.
        radsort::sort_by_key(&mut keyed, |e| e.0);
        let mut rank = vec![0u32; n];
        for (r, &(_, i)) in keyed.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        Self {
            sorted: keyed.into_iter().map(|(v, _)| v).collect(),
            rank,
        }
    }
}

/// An equal-frequency grid over `n` points of dimension `D`.
pub(crate) struct Grid<const D: usize> {
    cells: [usize; D],
    /// `edges[d][j]` = smallest value in cell j along axis d; every point of cell j' < j is <= it, every
    /// point of cell j' > j is >= `edges[d][j + 1]`.
    edges: [Vec<f64>; D],
    /// Points of linear cell c occupy positions `start[c]..start[c + 1]`.
    start: Vec<u32>,
    pts: Vec<[f64; D]>,
    orig: Vec<u32>,
    /// Cell coordinates of the point at each position.
    cell_of: Vec<[u32; D]>,
}

impl<const D: usize> Grid<D> {
    /// Builds the grid from a row-major `n x D` buffer and its per-axis orders; None when the values
    /// repeat so much that some cell would be overloaded.
    pub fn build(data: &[f64], axes: &[AxisOrder]) -> Option<Self> {
        let n = data.len() / D;
        if n == 0 || axes.len() != D {
            return None;
        }
        let per_axis = ((n as f64 / OCCUPANCY).powf(1.0 / D as f64).floor() as usize).max(1);
        let cells = [per_axis; D];
        let total: usize = cells.iter().product();
        let coord = |rank: u32, d: usize| (rank as usize * cells[d] / n) as u32;
        let edges: [Vec<f64>; D] = std::array::from_fn(|d| {
            (0..cells[d])
                .map(|j| axes[d].sorted[(j * n).div_ceil(cells[d]).min(n - 1)])
                .collect()
        });
        // A value repeated across a whole cell makes equal edges: the bounds then cannot separate those
        // cells and searches would sweep all of them. Such (discrete-valued) data goes to the tree.
        if edges.iter().any(|e| e.windows(2).any(|w| w[0] == w[1])) {
            return None;
        }
        let mut linear = vec![0u32; n];
        let mut count = vec![0u32; total + 1];
        for (i, lin) in linear.iter_mut().enumerate() {
            let mut c = 0usize;
            for d in 0..D {
                c = c * cells[d] + coord(axes[d].rank[i], d) as usize;
            }
            *lin = c as u32;
            count[c + 1] += 1;
        }
        let limit = (MAX_OVERLOAD as f64 * n as f64 / total as f64).ceil() as u32;
        if count.iter().any(|&c| c > limit.max(MAX_OVERLOAD as u32)) {
            return None;
        }
        for c in 1..=total {
            count[c] += count[c - 1];
        }
        let start = count.clone();
        let mut fill = count;
        let mut pts = vec![[0.0; D]; n];
        let mut orig = vec![0u32; n];
        let mut cell_of = vec![[0u32; D]; n];
        for i in 0..n {
            let c = linear[i] as usize;
            let p = fill[c] as usize;
            fill[c] += 1;
            pts[p].copy_from_slice(&data[i * D..(i + 1) * D]);
            orig[p] = i as u32;
            cell_of[p] = std::array::from_fn(|d| coord(axes[d].rank[i], d));
        }
        Some(Self {
            cells,
            edges,
            start,
            pts,
            orig,
            cell_of,
        })
    }

    /// Coordinates of the point at `pos`.
    #[inline]
    pub fn point(&self, pos: usize) -> &[f64] {
        &self.pts[pos]
    }

    /// Original row of the point at `pos`.
    #[inline]
    pub fn original_index(&self, pos: usize) -> usize {
        self.orig[pos] as usize
    }

    #[inline(always)]
    fn dist(&self, pos: usize, q: &[f64; D]) -> f64 {
        let p = &self.pts[pos];
        let mut m = 0.0_f64;
        for d in 0..D {
            m = m.max((p[d] - q[d]).abs());
        }
        m
    }

    /// Smallest possible distance from `q` to a point of the cell at `c` (query cell `qc`).
    #[inline(always)]
    fn cell_bound(&self, c: &[usize; D], qc: &[u32; D], q: &[f64; D]) -> f64 {
        let mut b = 0.0_f64;
        for d in 0..D {
            let (cd, qd) = (c[d], qc[d] as usize);
            if cd < qd {
                b = b.max(q[d] - self.edges[d][cd + 1]);
            } else if cd > qd {
                b = b.max(self.edges[d][cd] - q[d]);
            }
        }
        b
    }

    /// Distance to the k-th nearest neighbour of the point at `pos` (itself excluded), which is all
    /// KSG algorithm 1 and the entropy need: which of several equidistant points is "the" k-th does not
    /// change it. Without branches on the data, the k + 1 smallest distances (the point's own zero
    /// included) are kept by a min/max insertion network over the 3^D block around its cell and then
    /// ring by ring (see [`Grid::kth_by_rings`]); the full search runs only if the whole grid holds
    /// fewer than k + 1 points.
    pub fn kth_distance(
        &self,
        pos: usize,
        k: usize,
        scratch: &mut Vec<f64>,
        nbrs: &mut Vec<Neighbour>,
    ) -> f64 {
        // Common k get a fixed-size network (unrolled, in registers); others a slice of k + 1.
        let fast = match k {
            1 => self.block_kth::<2>(pos),
            2 => self.block_kth::<3>(pos),
            3 => self.block_kth::<4>(pos),
            4 => self.block_kth::<5>(pos),
            5 => self.block_kth::<6>(pos),
            6 => self.block_kth::<7>(pos),
            _ => {
                scratch.clear();
                scratch.resize(k + 1, f64::INFINITY);
                self.block_kth_slice(pos, scratch)
            }
        };
        if let Some(eps) = fast {
            return eps;
        }
        self.knn(pos, k, nbrs);
        nbrs.last().map_or(0.0, |nb| nb.dist)
    }

    /// Calls `visit(run)` for every run of points in the block of cells within Chebyshev cell distance
    /// `r` of `qc`; cells adjacent along the last axis are adjacent in memory, so there is one run per
    /// index of the leading axes.
    #[inline(always)]
    fn for_each_block_run(&self, qc: &[u32; D], r: usize, mut visit: impl FnMut(&[[f64; D]])) {
        let lo: [usize; D] = std::array::from_fn(|d| (qc[d] as usize).saturating_sub(r));
        let hi: [usize; D] = std::array::from_fn(|d| (qc[d] as usize + r).min(self.cells[d] - 1));
        let mut c = lo;
        loop {
            c[D - 1] = lo[D - 1];
            let first = (0..D).fold(0usize, |acc, d| acc * self.cells[d] + c[d]);
            let last = first + (hi[D - 1] - lo[D - 1]);
            visit(&self.pts[self.start[first] as usize..self.start[last + 1] as usize]);
            let mut d = D - 1;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                if c[d] < hi[d] {
                    c[d] += 1;
                    break;
                }
                c[d] = lo[d];
            }
        }
    }

    /// The K-th smallest distance (K = k + 1: the point's own zero is among them), with a fixed-size
    /// network the compiler unrolls; see [`Grid::kth_by_rings`].
    #[inline(always)]
    fn block_kth<const K: usize>(&self, pos: usize) -> Option<f64> {
        self.kth_by_rings(pos, &mut [f64::INFINITY; K])
    }

    /// [`Grid::kth_by_rings`] for any k, with the K smallest kept in `best` (length k + 1, all infinite).
    fn block_kth_slice(&self, pos: usize, best: &mut [f64]) -> Option<f64> {
        self.kth_by_rings(pos, best)
    }

    /// Keeps the `best.len()` smallest distances from the point at `pos` to the points of the 3^D block
    /// around its cell, then of the rings of cells at Chebyshev cell distance 2, 3, ... (each cell read
    /// once), until every point outside the scanned block is provably at least as far as the current
    /// last one. None only if the whole grid holds fewer points than `best.len()`.
    #[inline(always)]
    fn kth_by_rings(&self, pos: usize, best: &mut [f64]) -> Option<f64> {
        let q = self.pts[pos];
        let qc = self.cell_of[pos];
        let kk = best.len();
        let mut seen = 0usize;
        let scan = |run: &[[f64; D]], best: &mut [f64], seen: &mut usize| {
            *seen += run.len();
            for p in run {
                let mut dist = 0.0_f64;
                for d in 0..D {
                    dist = dist.max((p[d] - q[d]).abs());
                }
                // Branch-free insertion network keeping the smallest distances, sorted.
                for j in (1..best.len()).rev() {
                    best[j] = best[j - 1].max(dist.min(best[j]));
                }
                best[0] = best[0].min(dist);
            }
        };
        self.for_each_block_run(&qc, 1, |run| scan(run, best, &mut seen));
        let mut r = 1usize;
        loop {
            let eps = best[kk - 1];
            let outside = self.outside_bound(&qc, &q, r);
            if outside == f64::INFINITY {
                return (seen >= kk).then_some(eps);
            }
            if seen >= kk && (outside >= eps || eps == 0.0) {
                return Some(eps);
            }
            r += 1;
            let eps = best[kk - 1];
            self.for_each_ring_run(&qc, &q, r, eps, |run| scan(run, best, &mut seen));
        }
    }

    /// Calls `visit(run)` for the points of the cells at Chebyshev cell distance exactly `r` from `qc`:
    /// whole runs along the last axis where a leading coordinate is on the ring, otherwise the two end
    /// cells. Cells whose box is farther than `eps` are skipped.
    #[inline(always)]
    fn for_each_ring_run(
        &self,
        qc: &[u32; D],
        q: &[f64; D],
        r: usize,
        eps: f64,
        mut visit: impl FnMut(&[[f64; D]]),
    ) {
        let lo: [usize; D] = std::array::from_fn(|d| (qc[d] as usize).saturating_sub(r));
        let hi: [usize; D] = std::array::from_fn(|d| (qc[d] as usize + r).min(self.cells[d] - 1));
        let last = D - 1;
        let qlast = qc[last] as usize;
        let mut c = lo;
        loop {
            let on_ring = (0..last).any(|d| (c[d] as isize - qc[d] as isize).unsigned_abs() == r);
            let mut cell = |at: usize, c: &mut [usize; D]| {
                c[last] = at;
                if self.cell_bound(c, qc, q) <= eps {
                    let lin = (0..D).fold(0usize, |acc, d| acc * self.cells[d] + c[d]);
                    visit(&self.pts[self.start[lin] as usize..self.start[lin + 1] as usize]);
                }
            };
            if on_ring {
                for at in lo[last]..=hi[last] {
                    cell(at, &mut c);
                }
            } else {
                if qlast >= r {
                    cell(qlast - r, &mut c);
                }
                if qlast + r < self.cells[last] {
                    cell(qlast + r, &mut c);
                }
            }
            // Next leading index.
            let mut d = last;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                if c[d] < hi[d] {
                    c[d] += 1;
                    break;
                }
                c[d] = lo[d];
            }
        }
    }

    /// Lower bound on the distance from `q` to any point outside the block of cells within Chebyshev
    /// cell distance `r` of `qc` (infinite when that block is the whole grid).
    #[inline]
    fn outside_bound(&self, qc: &[u32; D], q: &[f64; D], r: usize) -> f64 {
        let mut outside = f64::INFINITY;
        for d in 0..D {
            let qd = qc[d] as usize;
            if qd > r {
                outside = outside.min(q[d] - self.edges[d][qd - r]);
            }
            if qd + r + 1 < self.cells[d] {
                outside = outside.min(self.edges[d][qd + r + 1] - q[d]);
            }
        }
        outside
    }

    /// The `k` nearest neighbours of the point at `pos` (itself excluded), sorted by (distance, original
    /// index), into `out`.
    pub fn knn(&self, pos: usize, k: usize, out: &mut Vec<Neighbour>) {
        out.clear();
        if k == 0 {
            return;
        }
        let q = self.pts[pos];
        let qc = self.cell_of[pos];
        let mut best = KBest::new(k, out, &self.orig);
        let mut r = 0usize;
        loop {
            // Visit the cells at Chebyshev cell distance exactly r (the ring), clamped to the grid.
            let lo: [usize; D] = std::array::from_fn(|d| (qc[d] as usize).saturating_sub(r));
            let hi: [usize; D] =
                std::array::from_fn(|d| (qc[d] as usize + r).min(self.cells[d] - 1));
            let mut c = lo;
            loop {
                let on_ring = (0..D).any(|d| (c[d] as isize - qc[d] as isize).unsigned_abs() == r);
                if on_ring && best.admits(self.cell_bound(&c, &qc, &q)) {
                    let lin = (0..D).fold(0usize, |acc, d| acc * self.cells[d] + c[d]);
                    for p in self.start[lin]..self.start[lin + 1] {
                        let dist = self.dist(p as usize, &q);
                        if best.admits(dist) && p as usize != pos {
                            best.offer(Neighbour { dist, pos: p });
                        }
                    }
                }
                // Odometer over the block lo..=hi.
                let mut d = D;
                let mut done = true;
                while d > 0 {
                    d -= 1;
                    if c[d] < hi[d] {
                        c[d] += 1;
                        done = false;
                        break;
                    }
                    c[d] = lo[d];
                }
                if done {
                    break;
                }
            }
            // Every point outside the scanned block is at least `outside` away.
            let outside = self.outside_bound(&qc, &q, r);
            // A k-th distance of 0 cannot improve (see `KBest::admits`).
            let settled = best.is_full() && (outside > best.worst() || best.worst() == 0.0);
            if outside == f64::INFINITY || settled {
                return;
            }
            r += 1;
        }
    }
}
