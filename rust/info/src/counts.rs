//! Marginal neighbour counts: how many points lie within a max-norm box around each point.
//!
//! Every query is `|p_d - q_d| < r_d` (strict) or `<= r_d` in each dimension d, evaluated exactly as a
//! brute-force scan would (see [`crate::kdtree`]). Three exact strategies, chosen by dimension:
//! * 1-D: a sorted copy and two binary searches per point;
//! * 2-D: per-axis binary searches turn each box into a rectangle of ranks, and all rectangles are counted
//!   offline in one sweep with a Fenwick tree (Bentley's plane sweep; O(N log N) for all points);
//! * 3-D and more: box counting in a k-d tree.

use crate::grid::AxisOrder;
use crate::kdtree::KdTree;
use rayon::prelude::*;

/// `partition_point` for a predicate that holds on a prefix, searched outward from `hint` (the caller
/// knows the boundary is near): exponential steps, then a binary search, O(log distance).
#[inline]
fn partition_point_near(v: &[f64], hint: usize, pred: impl Fn(f64) -> bool) -> usize {
    let n = v.len();
    if hint < n && pred(v[hint]) {
        // Boundary is right of hint: find a step where the predicate fails.
        let (mut lo, mut step) = (hint + 1, 1usize);
        loop {
            let probe = lo + step - 1;
            if probe >= n || !pred(v[probe]) {
                let hi = probe.min(n);
                return lo + v[lo..hi].partition_point(|&p| pred(p));
            }
            lo = probe + 1;
            step *= 2;
        }
    } else {
        // Boundary is at or left of hint.
        let (mut hi, mut step) = (hint.min(n), 1usize);
        loop {
            if hi < step || pred(v[hi - step]) {
                let lo = hi.saturating_sub(step) + (hi >= step) as usize;
                return lo + v[lo..hi].partition_point(|&p| pred(p));
            }
            hi -= step;
            step *= 2;
        }
    }
}

/// Positions `[lo, hi)` of the values `p` of an ascending slice with `|p - q| < r` (strict) or `<= r`.
/// `q - p` falls and `p - q` rises along the slice, so each test splits it in two (IEEE subtraction is
/// monotone), and the range is exact.
/// The search starts at `rank`, the position of `q` itself in `sorted`. An empty box (`r == 0`, strict) gives `lo == hi`.
#[inline]
pub(crate) fn rank_range_near(
    sorted: &[f64],
    rank: usize,
    q: f64,
    r: f64,
    strict: bool,
) -> (usize, usize) {
    let (lo, hi) = if strict {
        (
            partition_point_near(sorted, rank, |p| q - p >= r),
            partition_point_near(sorted, rank, |p| p - q < r),
        )
    } else {
        (
            partition_point_near(sorted, rank, |p| q - p > r),
            partition_point_near(sorted, rank, |p| p - q <= r),
        )
    };
    (lo, hi.max(lo))
}

/// One axis of a marginal space: its values sorted, and the rank of each point (in the caller's point
/// order) among them. Computed here, or handed down when the caller already sorted that column.
pub(crate) struct RankedAxis<'a> {
    /// Values in ascending order.
    pub sorted: &'a [f64],
    /// `rank[i]`: position of point i's value in `sorted` (ties in any consistent order).
    pub rank: Vec<u32>,
}

/// Counts, for every point `i` of the row-major `n x dim` matrix `points`, the points (itself included)
/// inside the box of half-widths `radii[i * dim..(i + 1) * dim]` centred on it. `axes`, when given,
/// holds the sorted columns (1-D and 2-D marginals reuse them instead of sorting again).
pub(crate) fn box_counts(
    points: &[f64],
    dim: usize,
    radii: &[f64],
    strict: bool,
    axes: Option<Vec<RankedAxis<'_>>>,
) -> Vec<u32> {
    let n = points.len() / dim;
    if dim > 2 {
        let tree = KdTree::new(points, dim);
        return (0..n)
            .into_par_iter()
            .with_min_len(256)
            .map(|i| {
                let s = i * dim..(i + 1) * dim;
                tree.count_box(&points[s.clone()], &radii[s], strict) as u32
            })
            .collect();
    }
    let owned: Vec<AxisOrder>;
    let axes = match axes {
        Some(a) => a,
        None => {
            owned = (0..dim).map(|d| AxisOrder::new(points, dim, d)).collect();
            owned
                .iter()
                .map(|o| RankedAxis {
                    sorted: &o.sorted,
                    rank: o.rank.clone(),
                })
                .collect()
        }
    };
    if dim == 1 {
        let ax = &axes[0];
        (0..n)
            .into_par_iter()
            .with_min_len(1024)
            .map(|i| {
                let (lo, hi) =
                    rank_range_near(ax.sorted, ax.rank[i] as usize, points[i], radii[i], strict);
                (hi - lo) as u32
            })
            .collect()
    } else {
        plane_sweep_counts(points, radii, strict, &axes[0], &axes[1])
    }
}

/// 2-D box counts by an offline sweep over the first axis with a Fenwick tree over second-axis ranks.
fn plane_sweep_counts(
    points: &[f64],
    radii: &[f64],
    strict: bool,
    a: &RankedAxis<'_>,
    b: &RankedAxis<'_>,
) -> Vec<u32> {
    let n = points.len() / 2;
    let (sorted_a, rank_a, sorted_b, rank_b) = (a.sorted, &a.rank, b.sorted, &b.rank);
    // Each box becomes the rank rectangle [a0, a1) x [b0, b1).
    let rects: Vec<[u32; 4]> = (0..n)
        .into_par_iter()
        .with_min_len(1024)
        .map(|i| {
            let (ra, rb) = (rank_a[i] as usize, rank_b[i] as usize);
            let (a0, a1) = rank_range_near(sorted_a, ra, points[2 * i], radii[2 * i], strict);
            let (b0, b1) =
                rank_range_near(sorted_b, rb, points[2 * i + 1], radii[2 * i + 1], strict);
            [a0 as u32, a1 as u32, b0 as u32, b1 as u32]
        })
        .collect();
    // Second-axis rank of the point at each first-axis rank, to insert in sweep order.
    let mut b_at_a = vec![0u32; n];
    for i in 0..n {
        b_at_a[rank_a[i] as usize] = rank_b[i];
    }
    // Bucket the 2n prefix queries by sweep position (counting sort keeps it O(n)).
    let mut start = vec![0u32; n + 2];
    for r in &rects {
        start[r[0] as usize + 1] += 1;
        start[r[1] as usize + 1] += 1;
    }
    for t in 1..start.len() {
        start[t] += start[t - 1];
    }
    let mut fill = start.clone();
    let mut events = vec![0u32; 2 * n];
    for (i, r) in rects.iter().enumerate() {
        for (side, &t) in [r[0], r[1]].iter().enumerate() {
            events[fill[t as usize] as usize] = (i as u32) << 1 | side as u32;
            fill[t as usize] += 1;
        }
    }
    let mut fenwick = vec![0u32; n + 1];
    let mut counts = vec![0i64; n];
    for t in 0..=n {
        for &e in &events[start[t] as usize..start[t + 1] as usize] {
            let (i, upper) = ((e >> 1) as usize, e & 1 == 1);
            let r = &rects[i];
            let c = prefix(&fenwick, r[3] as usize) as i64 - prefix(&fenwick, r[2] as usize) as i64;
            counts[i] += if upper { c } else { -c };
        }
        if t < n {
            let mut j = b_at_a[t] as usize + 1;
            while j <= n {
                fenwick[j] += 1;
                j += j & j.wrapping_neg();
            }
        }
    }
    counts.into_iter().map(|c| c as u32).collect()
}

/// Sum of the first `end` entries of a Fenwick tree.
#[inline]
fn prefix(fenwick: &[u32], end: usize) -> u32 {
    let (mut s, mut j) = (0u32, end);
    while j > 0 {
        s += fenwick[j];
        j &= j - 1;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn brute(points: &[f64], dim: usize, radii: &[f64], strict: bool) -> Vec<u32> {
        let n = points.len() / dim;
        (0..n)
            .map(|i| {
                (0..n)
                    .filter(|&j| {
                        (0..dim).all(|d| {
                            let dist = (points[j * dim + d] - points[i * dim + d]).abs();
                            if strict {
                                dist < radii[i * dim + d]
                            } else {
                                dist <= radii[i * dim + d]
                            }
                        })
                    })
                    .count() as u32
            })
            .collect()
    }

    #[test]
    fn galloping_search_matches_binary_search() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for n in [0usize, 1, 2, 3, 10, 100, 1000] {
            let mut v: Vec<f64> = (0..n)
                .map(|_| (rng.random::<f64>() * 20.0).floor())
                .collect();
            v.sort_unstable_by(f64::total_cmp);
            for _ in 0..50 {
                let t = rng.random::<f64>() * 22.0 - 1.0;
                let want = v.partition_point(|&p| p < t);
                for hint in [0, n / 3, n / 2, n.saturating_sub(1), n] {
                    assert_eq!(
                        partition_point_near(&v, hint, |p| p < t),
                        want,
                        "n={n} hint={hint} t={t}"
                    );
                }
            }
        }
    }

    #[test]
    fn all_strategies_match_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for dim in 1..=4 {
            for discrete in [false, true] {
                let n = 300;
                let points: Vec<f64> = (0..n * dim)
                    .map(|_| {
                        let v: f64 = rng.random();
                        if discrete {
                            (v * 6.0).floor()
                        } else {
                            v
                        }
                    })
                    .collect();
                let radii: Vec<f64> = (0..n * dim)
                    .map(|_| {
                        if discrete {
                            rng.random_range(0..3) as f64
                        } else {
                            rng.random::<f64>() * 0.2
                        }
                    })
                    .collect();
                for strict in [true, false] {
                    assert_eq!(
                        box_counts(&points, dim, &radii, strict, None),
                        brute(&points, dim, &radii, strict),
                        "dim={dim} discrete={discrete} strict={strict}"
                    );
                }
            }
        }
    }
}
