//! Tests of the KSG estimators (MI, CMI, TE, AIS, Kozachenko-Leonenko entropy) through the public API:
//! a brute-force O(N^2) reference, explicit time-delay embeddings, invariants (proptest), analytic
//! values and error handling. Wrapped in `mod ksg` so `cargo test ksg` selects them.

mod ksg {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};
    use rand::seq::SliceRandom;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::f64::consts::{PI, TAU};
    use thermoconsensus_info::{
        active_information_storage, conditional_mutual_information, entropy, mutual_information,
        ragwitz, run_with_threads, te_network, transfer_entropy, Algorithm, Conditionals, Error,
        JointSamples, Matrix, MatrixRef, TeEmbedding, TeSamples,
    };

    const EULER: f64 = 0.577_215_664_901_532_9;
    const ALGS: [Algorithm; 2] = [Algorithm::One, Algorithm::Two];

    // ---------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------

    /// A row-major `rows x cols` variable owned by the test.
    #[derive(Debug, Clone)]
    struct Var {
        data: Vec<f64>,
        cols: usize,
    }

    impl Var {
        fn rows(&self) -> usize {
            self.data.len() / self.cols
        }

        fn view(&self, name: &'static str) -> MatrixRef<'_> {
            MatrixRef::new(name, &self.data, self.rows(), self.cols).unwrap()
        }

        fn get(&self, r: usize, c: usize) -> f64 {
            self.data[r * self.cols + c]
        }

        /// Max-norm distance between rows `i` and `j` of this variable.
        fn dist(&self, i: usize, j: usize) -> f64 {
            let (a, b) = (
                &self.data[i * self.cols..(i + 1) * self.cols],
                &self.data[j * self.cols..(j + 1) * self.cols],
            );
            a.iter()
                .zip(b)
                .fold(0.0_f64, |m, (&p, &q)| m.max((p - q).abs()))
        }

        fn permuted(&self, order: &[usize]) -> Var {
            let m = Matrix::take_rows(self.view("v"), order);
            Var {
                data: m.view().data().to_vec(),
                cols: self.cols,
            }
        }

        fn shifted(&self, by: &[f64]) -> Var {
            Var {
                data: self
                    .data
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v + by[i % self.cols])
                    .collect(),
                cols: self.cols,
            }
        }
    }

    fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
        assert!(
            (got - want).abs() <= tol,
            "{what}: got {got:.17e}, want {want:.17e} (diff {:.3e}, tol {tol:e})",
            (got - want).abs()
        );
    }

    fn gauss(rng: &mut ChaCha8Rng) -> f64 {
        let (u, v): (f64, f64) = (rng.random(), rng.random());
        (-2.0 * (1.0 - u).ln()).sqrt() * (TAU * v).cos()
    }

    /// Kinds of test data.
    #[derive(Debug, Clone, Copy)]
    enum Kind {
        Gaussian,
        /// Standard Cauchy: heavy tails, values up to ~1e6 and beyond.
        Cauchy,
        /// Integers 0..levels: many exact duplicates and distance ties.
        Coarse(u32),
    }

    fn draw(rng: &mut ChaCha8Rng, kind: Kind) -> f64 {
        let u: f64 = rng.random();
        match kind {
            Kind::Gaussian => gauss(rng),
            Kind::Cauchy => (PI * (u - 0.5)).tan(),
            Kind::Coarse(levels) => (u * levels as f64).floor(),
        }
    }

    /// Dependent variables X (dx), Y (dy), Z (dz): a shared base drives all three, and Y also follows X.
    /// Sums of draws keep coarse data integer-valued.
    fn dependent(seed: u64, n: usize, dims: [usize; 3], kind: Kind) -> [Var; 3] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let [dx, dy, dz] = dims;
        let (mut x, mut y, mut z) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let base = draw(&mut rng, kind);
            for _ in 0..dz {
                z.push(base + draw(&mut rng, kind));
            }
            let x0 = base + draw(&mut rng, kind);
            x.push(x0);
            for _ in 1..dx {
                x.push(base + draw(&mut rng, kind));
            }
            for c in 0..dy {
                let v = if c == 0 { x0 } else { base };
                y.push(v + draw(&mut rng, kind));
            }
        }
        [
            Var { data: x, cols: dx },
            Var { data: y, cols: dy },
            Var { data: z, cols: dz },
        ]
    }

    fn permutation(n: usize, seed: u64) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut p: Vec<usize> = (0..n).collect();
        p.shuffle(&mut rng);
        p
    }

    // ---------------------------------------------------------------------------------------------
    // Brute-force reference KSG
    // ---------------------------------------------------------------------------------------------

    /// psi(0..=max) at the integers: psi(n) = -gamma + H_{n-1}, harmonic numbers summed in f64.
    fn psi_table(max: usize) -> Vec<f64> {
        let mut t = vec![f64::NAN; max + 1];
        let mut h = 0.0_f64;
        for (n, slot) in t.iter_mut().enumerate().skip(1) {
            *slot = h - EULER;
            h += 1.0 / n as f64;
        }
        t
    }

    /// Per-point neighbour counts of the brute-force reference, for both algorithms at once:
    /// `one[i][m]` (strict, joint radius) and `two[i][m]` (inclusive, per-variable radii), self excluded.
    struct BruteCounts {
        one: Vec<Vec<usize>>,
        two: Vec<Vec<usize>>,
    }

    /// O(N^2) KSG neighbour counts over the variables `vars` in the marginal spaces `marginals`.
    /// The k nearest neighbours in the joint max norm exclude the point itself; ties at equal distance
    /// are broken by the smaller sample index (as the engine does).
    fn brute_counts(vars: &[&Var], marginals: &[&[usize]], k: usize) -> BruteCounts {
        let n = vars[0].rows();
        let g = vars.len();
        let mut one = Vec::with_capacity(n);
        let mut two = Vec::with_capacity(n);
        let mut cand: Vec<(f64, usize)> = Vec::with_capacity(n);
        let mut dv = vec![0.0_f64; g];
        for i in 0..n {
            cand.clear();
            for j in (0..n).filter(|&j| j != i) {
                let d = vars.iter().fold(0.0_f64, |m, v| m.max(v.dist(i, j)));
                cand.push((d, j));
            }
            let by_dist_then_index =
                |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            cand.select_nth_unstable_by(k - 1, by_dist_then_index);
            let nbrs = &cand[..k];
            let eps = nbrs.iter().fold(0.0_f64, |m, c| m.max(c.0));
            let eps_v: Vec<f64> = vars
                .iter()
                .map(|v| nbrs.iter().fold(0.0_f64, |m, c| m.max(v.dist(i, c.1))))
                .collect();
            let mut c1 = vec![0usize; marginals.len()];
            let mut c2 = vec![0usize; marginals.len()];
            for j in (0..n).filter(|&j| j != i) {
                for (d, v) in dv.iter_mut().zip(vars) {
                    *d = v.dist(i, j);
                }
                for (mi, marg) in marginals.iter().enumerate() {
                    c1[mi] += marg.iter().all(|&v| dv[v] < eps) as usize;
                    c2[mi] += marg.iter().all(|&v| dv[v] <= eps_v[v]) as usize;
                }
            }
            one.push(c1);
            two.push(c2);
        }
        BruteCounts { one, two }
    }

    /// Reference KSG MI for algorithms 1 and 2.
    fn ref_mi(x: &Var, y: &Var, k: usize) -> [f64; 2] {
        let n = x.rows();
        let c = brute_counts(&[x, y], &[&[0], &[1]], k);
        let psi = psi_table(n + 1);
        let nf = n as f64;
        let s1: f64 = c.one.iter().map(|c| psi[c[0] + 1] + psi[c[1] + 1]).sum();
        let s2: f64 = c.two.iter().map(|c| psi[c[0]] + psi[c[1]]).sum();
        [
            psi[k] + psi[n] - s1 / nf,
            psi[k] - 1.0 / k as f64 + psi[n] - s2 / nf,
        ]
    }

    /// Reference KSG (Frenzel-Pompe) CMI for algorithms 1 and 2.
    fn ref_cmi(x: &Var, y: &Var, z: &Var, k: usize) -> [f64; 2] {
        let n = x.rows();
        let c = brute_counts(&[x, y, z], &[&[0, 2], &[1, 2], &[2]], k);
        let psi = psi_table(n + 1);
        let nf = n as f64;
        let s1: f64 = c
            .one
            .iter()
            .map(|c| psi[c[0] + 1] + psi[c[1] + 1] - psi[c[2] + 1])
            .sum();
        let s2: f64 = c
            .two
            .iter()
            .map(|c| psi[c[2]] - psi[c[0]] - psi[c[1]] + 1.0 / c[0] as f64 + 1.0 / c[1] as f64)
            .sum();
        [psi[k] - s1 / nf, psi[k] - 2.0 / k as f64 + s2 / nf]
    }

    #[test]
    fn reference_digamma_and_hand_computed_mi() {
        let psi = psi_table(10);
        assert_close(psi[1], -EULER, 1e-16, "psi(1)");
        assert_close(psi[2], 1.0 - EULER, 1e-16, "psi(2)");
        assert_close(psi[10], 2.251_752_589_066_721, 1e-14, "psi(10)");
        // N = 3, k = 1, x = y = (0, 1, 3): the nearest neighbours are 0->1, 1->0 (distance 1; the tie-free
        // choice over 3 at distance 2), 3->1 (distance 2), so the radii are 1, 1, 2.
        // Algorithm 1 (strict): n_x = n_y = 0 for every point: MI = psi(1) + psi(3) - 2 psi(1) = psi(3) - psi(1).
        // Algorithm 2 (inclusive): n_x = n_y = 1 for every point: MI = psi(1) - 1 + psi(3) - 2 psi(1).
        let v = Var {
            data: vec![0.0, 1.0, 3.0],
            cols: 1,
        };
        let [a1, a2] = ref_mi(&v, &v, 1);
        assert_close(a1, psi[3] - psi[1], 1e-15, "hand alg 1");
        let want2 = psi[1] - 1.0 + psi[3] - 2.0 * psi[1];
        assert_close(a2, want2, 1e-15, "hand alg 2");
        for (alg, want) in ALGS.into_iter().zip([a1, a2]) {
            let got = mutual_information(v.view("x"), v.view("y"), 1, alg).unwrap();
            assert_close(got, want, 1e-14, "engine on hand example");
        }
    }

    const KINDS: [Kind; 4] = [
        Kind::Gaussian,
        Kind::Cauchy,
        Kind::Coarse(4),
        Kind::Coarse(30),
    ];

    /// Unoptimised builds run the O(N^2) reference ~50x slower: there the N = 3000 checks keep one data
    /// kind (`cargo test --release` runs them all).
    const DEBUG: bool = cfg!(debug_assertions);

    /// Engine MI and CMI vs the brute force for the given data kinds, both algorithms, several widths
    /// and k.
    fn check_against_brute_force(
        n: usize,
        kinds: &[Kind],
        mi_dims: &[[usize; 2]],
        cmi_dims: &[[usize; 3]],
    ) {
        let ks = [1usize, 4, 3, 8, 2, 6];
        let mut case = 0u64;
        for &kind in kinds {
            for &[dx, dy] in mi_dims {
                case += 1;
                let k = ks[case as usize % ks.len()].min(n - 1);
                let [x, y, _] = dependent(1000 + case + n as u64, n, [dx, dy, 1], kind);
                let want = ref_mi(&x, &y, k);
                for (alg, w) in ALGS.into_iter().zip(want) {
                    let got = mutual_information(x.view("x"), y.view("y"), k, alg).unwrap();
                    let what = format!("MI n={n} dims=({dx},{dy}) k={k} {kind:?} {alg:?}");
                    assert!(w.is_finite(), "{what}: reference not finite");
                    assert_close(got, w, 1e-10, &what);
                }
            }
            for &[dx, dy, dz] in cmi_dims {
                case += 1;
                let k = ks[case as usize % ks.len()].min(n - 1);
                let [x, y, z] = dependent(2000 + case + n as u64, n, [dx, dy, dz], kind);
                let want = ref_cmi(&x, &y, &z, k);
                for (alg, w) in ALGS.into_iter().zip(want) {
                    let got = conditional_mutual_information(
                        x.view("x"),
                        y.view("y"),
                        z.view("z"),
                        k,
                        alg,
                    )
                    .unwrap();
                    let what = format!("CMI n={n} dims=({dx},{dy},{dz}) k={k} {kind:?} {alg:?}");
                    assert!(w.is_finite(), "{what}: reference not finite");
                    assert_close(got, w, 1e-10, &what);
                }
            }
        }
    }

    #[test]
    fn brute_force_n50() {
        check_against_brute_force(
            50,
            &KINDS,
            &[[1, 1], [1, 2], [2, 1], [2, 2], [3, 1], [3, 3]],
            &[[1, 1, 1], [1, 2, 1], [2, 1, 3], [1, 1, 2], [3, 3, 3]],
        );
    }

    #[test]
    fn brute_force_n300() {
        check_against_brute_force(
            300,
            &KINDS,
            &[[1, 1], [1, 2], [2, 1], [2, 3], [3, 3]],
            &[[1, 1, 1], [2, 1, 1], [1, 3, 2], [3, 2, 3]],
        );
    }

    /// N = 3000: the joint-space grid search (2-3-D joint spaces, N >= 2048), the 2-D plane-sweep
    /// marginal counts (MI with a 2-D variable, CMI's xz / yz marginals) and the k-d tree beyond 3-D.
    #[test]
    fn brute_force_n3000_mi() {
        if DEBUG {
            check_against_brute_force(3000, &KINDS[..1], &[[1, 1], [1, 2]], &[]);
        } else {
            check_against_brute_force(3000, &KINDS, &[[1, 1], [1, 2], [2, 1], [2, 3]], &[]);
        }
    }

    #[test]
    fn brute_force_n3000_cmi() {
        if DEBUG {
            check_against_brute_force(3000, &KINDS[..1], &[], &[[1, 1, 1]]);
        } else {
            check_against_brute_force(3000, &KINDS, &[], &[[1, 1, 1], [2, 1, 2]]);
        }
    }

    /// Exact duplicates of whole points: the k-th joint distance is 0 for most points, so algorithm 1's
    /// strict counts are empty and algorithm 2's radii are 0.
    #[test]
    fn brute_force_with_duplicate_points() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for (n, k) in [(40usize, 3usize), (2500, 5)] {
            let xs: Vec<f64> = (0..n)
                .map(|_| (rng.random::<f64>() * 3.0).floor())
                .collect();
            let ys: Vec<f64> = xs
                .iter()
                .map(|&x| x + (rng.random::<f64>() * 2.0).floor())
                .collect();
            let zs: Vec<f64> = (0..n)
                .map(|_| (rng.random::<f64>() * 2.0).floor())
                .collect();
            let (x, y, z) = (
                Var { data: xs, cols: 1 },
                Var { data: ys, cols: 1 },
                Var { data: zs, cols: 1 },
            );
            let mi = ref_mi(&x, &y, k);
            let cmi = ref_cmi(&x, &y, &z, k);
            for (i, alg) in ALGS.into_iter().enumerate() {
                let got = mutual_information(x.view("x"), y.view("y"), k, alg).unwrap();
                assert_close(got, mi[i], 1e-10, &format!("dup MI n={n} {alg:?}"));
                let got =
                    conditional_mutual_information(x.view("x"), y.view("y"), z.view("z"), k, alg)
                        .unwrap();
                assert_close(got, cmi[i], 1e-10, &format!("dup CMI n={n} {alg:?}"));
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // TE and AIS as MI / CMI of explicit embeddings
    // ---------------------------------------------------------------------------------------------

    /// Coupled AR processes: `cols` columns of source X, target Y and `m` conditioning series C.
    fn coupled(seed: u64, t_len: usize, cols: usize, m: usize) -> (Var, Var, Var) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut x, mut y, mut c) = (
            vec![0.0; t_len * cols],
            vec![0.0; t_len * cols],
            vec![0.0; t_len * m],
        );
        for t in 0..t_len {
            for j in 0..m {
                let prev = if t > 0 { c[(t - 1) * m + j] } else { 0.0 };
                c[t * m + j] = 0.5 * prev + gauss(&mut rng);
            }
            for j in 0..cols {
                let px = if t > 0 { x[(t - 1) * cols + j] } else { 0.0 };
                let py = if t > 0 { y[(t - 1) * cols + j] } else { 0.0 };
                let px2 = if t > 1 { x[(t - 2) * cols + j] } else { 0.0 };
                let pc = if t > 2 && m > 0 { c[(t - 3) * m] } else { 0.0 };
                x[t * cols + j] = 0.6 * px + gauss(&mut rng);
                y[t * cols + j] = 0.4 * py + 0.5 * px2 + 0.3 * pc + gauss(&mut rng);
            }
        }
        (
            Var { data: x, cols },
            Var { data: y, cols },
            Var {
                data: c,
                cols: m.max(1),
            },
        )
    }

    /// Rows `t = first..=T-2` of `series` values at times `t + 1 - offset - (history - 1 - j) * tau` for
    /// j = 0..history (oldest first), each column of `series` in turn, built straight from embed.rs' docs.
    fn lags(s: &Var, history: usize, tau: usize, offset: usize, first: usize) -> Var {
        let t_len = s.rows();
        let mut data = Vec::new();
        for t in first..=t_len - 2 {
            for c in 0..s.cols {
                for j in 0..history {
                    data.push(s.get(t + 1 - offset - (history - 1 - j) * tau, c));
                }
            }
        }
        Var {
            data,
            cols: history * s.cols,
        }
    }

    fn hstack(parts: &[&Var]) -> Var {
        let rows = parts[0].rows();
        let cols = parts.iter().map(|p| p.cols).sum();
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for p in parts {
                data.extend_from_slice(&p.data[r * p.cols..(r + 1) * p.cols]);
            }
        }
        Var { data, cols }
    }

    #[test]
    fn te_equals_cmi_of_explicit_embedding() {
        // (k_history, k_tau, l_history, l_tau, delay, conditional delays, columns per series, k)
        type Case = (
            usize,
            usize,
            usize,
            usize,
            usize,
            &'static [usize],
            usize,
            usize,
        );
        let cases: [Case; 10] = [
            (1, 1, 1, 1, 1, &[], 1, 4),
            (2, 1, 1, 1, 1, &[], 1, 3),
            (3, 2, 2, 3, 1, &[], 1, 4),
            (1, 1, 2, 1, 3, &[], 1, 5),
            (2, 3, 1, 1, 4, &[2], 1, 4),
            (1, 1, 1, 1, 1, &[1, 5], 1, 4),
            (4, 1, 3, 2, 2, &[3, 1], 1, 2),
            (1, 1, 1, 1, 1, &[30], 1, 4),
            (2, 1, 2, 2, 1, &[1], 2, 4),
            (1, 2, 3, 1, 2, &[], 2, 1),
        ];
        for (ci, &(kh, kt, lh, lt, delay, cds, cols, k)) in cases.iter().enumerate() {
            let t_len = 400;
            let (x, y, c) = coupled(70 + ci as u64, t_len, cols, cds.len());
            let emb = TeEmbedding {
                k_history: kh,
                k_tau: kt,
                l_history: lh,
                l_tau: lt,
                delay,
            };
            let max_cd = cds.iter().copied().max().unwrap_or(0);
            let first = ((kh - 1) * kt)
                .max((lh - 1) * lt + delay - 1)
                .max(max_cd.saturating_sub(1));
            let src = lags(&x, lh, lt, delay, first);
            let next = lags(&y, 1, 1, 0, first);
            let mut z_parts = vec![lags(&y, kh, kt, 1, first)];
            for (j, &d) in cds.iter().enumerate() {
                let col = Var {
                    data: (0..t_len).map(|t| c.get(t, j)).collect(),
                    cols: 1,
                };
                z_parts.push(lags(&col, 1, 1, d, first));
            }
            let z = hstack(&z_parts.iter().collect::<Vec<_>>());
            assert_eq!(
                src.rows(),
                t_len - 1 - first,
                "case {ci}: N = T - 1 - first"
            );
            let conds = (!cds.is_empty()).then(|| Conditionals {
                series: c.view("conditionals"),
                delays: cds,
            });
            let samples =
                TeSamples::new(x.view("source"), y.view("target"), &emb, conds, k).unwrap();
            assert_eq!(samples.len(), src.rows(), "case {ci}: sample count");
            assert_eq!(samples.widths, [src.cols, next.cols, z.cols], "case {ci}");
            for alg in ALGS {
                let te = transfer_entropy(x.view("source"), y.view("target"), &emb, conds, k, alg)
                    .unwrap();
                let cmi = conditional_mutual_information(
                    src.view("x"),
                    next.view("y"),
                    z.view("z"),
                    k,
                    alg,
                )
                .unwrap();
                assert_close(te, cmi, 1e-12, &format!("TE case {ci} {alg:?}"));
                assert_close(samples.estimate(k, alg), te, 1e-12, "TeSamples::estimate");
                let sig = JointSamples::te(samples.clone())
                    .test(k, alg, 2, 9)
                    .unwrap();
                assert_close(sig.value, te, 1e-12, "JointSamples::te value");
            }
        }
    }

    #[test]
    fn ais_equals_mi_of_explicit_embedding() {
        let (x, _, _) = coupled(11, 500, 1, 0);
        let (x2, _, _) = coupled(12, 300, 2, 0);
        for (series, kh, kt, k) in [
            (&x, 1usize, 1usize, 4usize),
            (&x, 2, 1, 3),
            (&x, 3, 2, 4),
            (&x, 5, 3, 6),
            (&x2, 2, 2, 4),
        ] {
            let first = (kh - 1) * kt;
            let past = lags(series, kh, kt, 1, first);
            let next = lags(series, 1, 1, 0, first);
            assert_eq!(past.rows(), series.rows() - 1 - first);
            for alg in ALGS {
                let ais = active_information_storage(series.view("x"), kh, kt, k, alg).unwrap();
                let mi = mutual_information(past.view("x"), next.view("y"), k, alg).unwrap();
                let what = format!("AIS k_history={kh} k_tau={kt} cols={} {alg:?}", series.cols);
                assert_close(ais, mi, 1e-12, &what);
                if series.cols == 1 {
                    // Multi-column series: see `joint_samples_ais_of_multicolumn_series` (known bug).
                    let sig = JointSamples::ais(series.view("x"), kh, kt, k)
                        .unwrap()
                        .test(k, alg, 2, 3)
                        .unwrap();
                    assert_close(sig.value, ais, 1e-12, "JointSamples::ais value");
                }
            }
        }
    }

    #[test]
    fn te_network_entries_equal_pairwise_te() {
        let (x, y, c) = coupled(21, 300, 1, 1);
        let data = hstack(&[&x, &y, &c]);
        // Y_{t+1} depends on X_{t-1}: delay 2.
        let emb = TeEmbedding {
            k_history: 2,
            delay: 2,
            ..TeEmbedding::default()
        };
        let net = te_network(data.view("data"), &emb, 4, Algorithm::One, 5, 0.05, 1).unwrap();
        let cols: Vec<Var> = (0..3)
            .map(|j| Var {
                data: (0..data.rows()).map(|t| data.get(t, j)).collect(),
                cols: 1,
            })
            .collect();
        for i in 0..3 {
            assert!(net.te[i * 3 + i].is_nan());
            for j in (0..3).filter(|&j| j != i) {
                let te = transfer_entropy(
                    cols[i].view("source"),
                    cols[j].view("target"),
                    &emb,
                    None,
                    4,
                    Algorithm::One,
                )
                .unwrap();
                assert_close(net.te[i * 3 + j], te, 1e-12, &format!("network {i}->{j}"));
            }
        }
        // X drives Y strongly: that edge is the largest.
        let others = [2usize, 3, 5, 6, 7].map(|e| net.te[e]);
        assert!(
            net.te[1] > 0.05 && others.iter().all(|&o| o < net.te[1]),
            "{:?}",
            net.te
        );
    }

    // ---------------------------------------------------------------------------------------------
    // Invariants (proptest) and thread-count independence
    // ---------------------------------------------------------------------------------------------

    /// 32 fixed-seed cases (8 in unoptimised builds).
    fn config() -> Config {
        Config {
            cases: if DEBUG { 8 } else { 32 },
            rng_seed: RngSeed::Fixed(0x6b73_6731),
            failure_persistence: None,
            ..Config::default()
        }
    }

    fn mi(x: &Var, y: &Var, k: usize, alg: Algorithm) -> f64 {
        mutual_information(x.view("x"), y.view("y"), k, alg).unwrap()
    }

    fn cmi(x: &Var, y: &Var, z: &Var, k: usize, alg: Algorithm) -> f64 {
        conditional_mutual_information(x.view("x"), y.view("y"), z.view("z"), k, alg).unwrap()
    }

    fn kind_of(i: u8) -> Kind {
        match i % 3 {
            0 => Kind::Gaussian,
            1 => Kind::Cauchy,
            _ => Kind::Coarse(1000),
        }
    }

    proptest! {
        #![proptest_config(config())]

        /// MI is symmetric in (x, y) and invariant to a common row permutation and to constant shifts.
        #[test]
        fn mi_invariants(
            seed in any::<u64>(),
            n in 20usize..400,
            dx in 1usize..4,
            dy in 1usize..4,
            k in 1usize..8,
            kind in 0u8..2,
            shift in prop::collection::vec(-64.0f64..64.0, 6),
        ) {
            let [x, y, _] = dependent(seed, n, [dx, dy, 1], kind_of(kind));
            let perm = permutation(n, seed ^ 1);
            let (xp, yp) = (x.permuted(&perm), y.permuted(&perm));
            let (xs, ys) = (x.shifted(&shift[..3]), y.shifted(&shift[3..]));
            for alg in ALGS {
                let base = mi(&x, &y, k, alg);
                prop_assert!(base.is_finite());
                let swapped = mi(&y, &x, k, alg);
                prop_assert!((base - swapped).abs() <= 1e-12, "{alg:?}: symmetry {base} vs {swapped}");
                if alg == Algorithm::One {
                    prop_assert_eq!(base.to_bits(), swapped.to_bits(), "alg 1 symmetry exact");
                }
                let p = mi(&xp, &yp, k, alg);
                prop_assert!((base - p).abs() < 1e-9, "{alg:?}: permutation {base} vs {p}");
                let s = mi(&xs, &ys, k, alg);
                prop_assert!((base - s).abs() < 1e-9, "{alg:?}: shift {base} vs {s}");
            }
        }

        /// CMI is symmetric in (x, y) and invariant to a common row permutation and to constant shifts.
        #[test]
        fn cmi_invariants(
            seed in any::<u64>(),
            n in 20usize..300,
            dims in prop::array::uniform3(1usize..3),
            k in 1usize..6,
            kind in 0u8..2,
            shift in prop::collection::vec(-64.0f64..64.0, 3),
        ) {
            let [x, y, z] = dependent(seed, n, dims, kind_of(kind));
            let perm = permutation(n, seed ^ 2);
            let (xp, yp, zp) = (x.permuted(&perm), y.permuted(&perm), z.permuted(&perm));
            let sh = |v: &Var, c: f64| v.shifted(&vec![c; v.cols]);
            let (xs, ys, zs) = (sh(&x, shift[0]), sh(&y, shift[1]), sh(&z, shift[2]));
            for alg in ALGS {
                let base = cmi(&x, &y, &z, k, alg);
                prop_assert!(base.is_finite());
                let swapped = cmi(&y, &x, &z, k, alg);
                prop_assert!((base - swapped).abs() <= 1e-12, "{alg:?}: symmetry {base} vs {swapped}");
                let p = cmi(&xp, &yp, &zp, k, alg);
                prop_assert!((base - p).abs() < 1e-9, "{alg:?}: permutation {base} vs {p}");
                let s = cmi(&xs, &ys, &zs, k, alg);
                prop_assert!((base - s).abs() < 1e-9, "{alg:?}: shift {base} vs {s}");
            }
        }

        /// One thread and two threads give bit-identical MI, CMI, TE and permutation nulls.
        #[test]
        fn thread_count_independence(
            seed in any::<u64>(),
            n in 50usize..1500,
            k in 1usize..6,
            alg2 in any::<bool>(),
            kind in 0u8..3,
        ) {
            let alg = if alg2 { Algorithm::Two } else { Algorithm::One };
            let [x, y, z] = dependent(seed, n, [1, 2, 1], kind_of(kind));
            let emb = TeEmbedding { k_history: 2, ..TeEmbedding::default() };
            let (xs, ys) = (
                Var { data: x.data.clone(), cols: 1 },
                Var { data: (0..n).map(|t| y.get(t, 1)).collect(), cols: 1 },
            );
            let run = |threads: usize| {
                run_with_threads(Some(threads), || {
                    let m = mi(&x, &y, k, alg);
                    let c = cmi(&x, &y, &z, k, alg);
                    let te = transfer_entropy(xs.view("source"), ys.view("target"), &emb, None, k, alg)
                        .unwrap();
                    let null_mi = JointSamples::mi(x.view("x"), y.view("y"), k).unwrap()
                        .test(k, alg, 4, seed).unwrap();
                    let null_cmi = JointSamples::cmi(x.view("x"), y.view("y"), z.view("z"), k).unwrap()
                        .test(k, alg, 3, seed).unwrap();
                    let te_samples = TeSamples::new(xs.view("source"), ys.view("target"), &emb, None, k)
                        .unwrap();
                    let null_te = JointSamples::te(te_samples).test(k, alg, 3, seed).unwrap();
                    let mut bits = vec![m.to_bits(), c.to_bits(), te.to_bits()];
                    for r in [&null_mi, &null_cmi, &null_te] {
                        bits.extend(r.null.iter().map(|v| v.to_bits()));
                        bits.push(r.p_value.to_bits());
                    }
                    bits
                })
                .unwrap()
            };
            prop_assert_eq!(run(1), run(2));
        }
    }

    /// Thread-count independence on the grid-search path (N >= 2048) and at N where the parallel
    /// parts split into many chunks.
    #[test]
    fn thread_count_independence_large_n() {
        let n = 6000;
        let [x, y, z] = dependent(31, n, [1, 1, 1], Kind::Gaussian);
        for alg in ALGS {
            let run = |threads| {
                run_with_threads(Some(threads), || {
                    let sig = JointSamples::mi(x.view("x"), y.view("y"), 4)
                        .unwrap()
                        .test(4, alg, 3, 77)
                        .unwrap();
                    let c = cmi(&x, &y, &z, 4, alg);
                    let mut v: Vec<u64> = sig.null.iter().map(|v| v.to_bits()).collect();
                    v.push(sig.value.to_bits());
                    v.push(c.to_bits());
                    v
                })
                .unwrap()
            };
            assert_eq!(run(1), run(2), "{alg:?}");
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Analytic values
    // ---------------------------------------------------------------------------------------------

    #[test]
    fn bivariate_gaussian_mi_matches_analytic() {
        let rho: f64 = 0.8;
        let n = 20_000;
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let (mut x, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let (a, b) = (gauss(&mut rng), gauss(&mut rng));
            x.push(a);
            y.push(rho * a + (1.0 - rho * rho).sqrt() * b);
        }
        let truth = -0.5 * (1.0 - rho * rho).ln();
        let (xv, yv) = (
            MatrixRef::column("x", &x).unwrap(),
            MatrixRef::column("y", &y).unwrap(),
        );
        for alg in ALGS {
            let got = mutual_information(xv, yv, 4, alg).unwrap();
            assert!(
                (got - truth).abs() < 0.03 * truth,
                "{alg:?}: MI {got} vs analytic {truth}"
            );
        }
    }

    #[test]
    fn uniform_square_entropy_is_near_zero() {
        let n = 20_000;
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let data: Vec<f64> = (0..2 * n).map(|_| rng.random::<f64>()).collect();
        let h = entropy(MatrixRef::new("x", &data, n, 2).unwrap(), 4).unwrap();
        assert!(h.abs() < 0.05, "H = {h}");
        // Scaling by s adds d ln s.
        let scaled: Vec<f64> = data.iter().map(|v| v * 4.0).collect();
        let hs = entropy(MatrixRef::new("x", &scaled, n, 2).unwrap(), 4).unwrap();
        assert_close(hs, h + 2.0 * 4.0_f64.ln(), 1e-9, "scaled entropy");
    }

    // ---------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------

    fn col(v: &[f64]) -> MatrixRef<'_> {
        MatrixRef::column("x", v).unwrap()
    }

    #[test]
    fn length_mismatch_names_the_argument() {
        let a: Vec<f64> = (0..10).map(f64::from).collect();
        let b: Vec<f64> = (0..11).map(f64::from).collect();
        for alg in ALGS {
            assert_eq!(
                mutual_information(col(&a), col(&b), 2, alg),
                Err(Error::LengthMismatch {
                    name: "y",
                    got: 11,
                    other: "x",
                    expected: 10
                })
            );
            match conditional_mutual_information(col(&a), col(&a), col(&b), 2, alg) {
                Err(Error::LengthMismatch { name: "z", .. }) => {}
                other => panic!("CMI z mismatch: {other:?}"),
            }
        }
        let emb = TeEmbedding::default();
        match transfer_entropy(col(&a), col(&b), &emb, None, 2, Algorithm::One) {
            Err(Error::LengthMismatch { name: "target", .. }) => {}
            other => panic!("TE mismatch: {other:?}"),
        }
        let two = [1usize];
        let cond = Conditionals {
            series: col(&b),
            delays: &two,
        };
        match transfer_entropy(col(&a), col(&a), &emb, Some(cond), 2, Algorithm::One) {
            Err(Error::LengthMismatch {
                name: "conditionals",
                ..
            }) => {}
            other => panic!("TE conditionals mismatch: {other:?}"),
        }
    }

    #[test]
    fn non_finite_values_are_located() {
        let good: Vec<f64> = (0..30).map(|i| (i as f64 * 0.7).sin()).collect();
        let mut bad = good.clone();
        bad[3 * 5 + 2] = f64::NAN; // 10 x 3: row 5, column 2
        let bad3 = MatrixRef::new("x", &bad, 10, 3).unwrap();
        let good3 = MatrixRef::new("x", &good, 10, 3).unwrap();
        assert_eq!(
            mutual_information(bad3, good3, 2, Algorithm::One),
            Err(Error::NonFinite {
                name: "x",
                row: 5,
                col: 2
            })
        );
        assert_eq!(
            mutual_information(good3, bad3, 2, Algorithm::Two),
            Err(Error::NonFinite {
                name: "y",
                row: 5,
                col: 2
            })
        );
        let mut inf = good.clone();
        inf[7] = f64::NEG_INFINITY; // 15 x 2: row 3, column 1
        let inf2 = MatrixRef::new("x", &inf, 15, 2).unwrap();
        let good2 = MatrixRef::new("x", &good, 15, 2).unwrap();
        assert_eq!(
            conditional_mutual_information(good2, good2, inf2, 2, Algorithm::One),
            Err(Error::NonFinite {
                name: "z",
                row: 3,
                col: 1
            })
        );
        assert_eq!(
            entropy(inf2, 2),
            Err(Error::NonFinite {
                name: "x",
                row: 3,
                col: 1
            })
        );
        let mut nan1 = good.clone();
        nan1[17] = f64::NAN;
        let emb = TeEmbedding::default();
        assert_eq!(
            transfer_entropy(col(&good), col(&nan1), &emb, None, 2, Algorithm::One),
            Err(Error::NonFinite {
                name: "target",
                row: 17,
                col: 0
            })
        );
        assert!(matches!(
            active_information_storage(col(&nan1), 1, 1, 2, Algorithm::One),
            Err(Error::NonFinite {
                row: 17,
                col: 0,
                ..
            })
        ));
        assert!(matches!(
            ragwitz("x", col(&nan1), 2, 2, 3),
            Err(Error::NonFinite {
                name: "x",
                row: 17,
                col: 0
            })
        ));
    }

    #[test]
    fn bad_k_and_too_few_samples() {
        let v: Vec<f64> = (0..5).map(|i| (i * i) as f64).collect();
        for alg in ALGS {
            assert!(matches!(
                mutual_information(col(&v), col(&v), 0, alg),
                Err(Error::InvalidArgument { name: "k", .. })
            ));
            assert!(matches!(
                conditional_mutual_information(col(&v), col(&v), col(&v), 0, alg),
                Err(Error::InvalidArgument { name: "k", .. })
            ));
            for k in [5usize, 6, usize::MAX] {
                assert!(matches!(
                    mutual_information(col(&v), col(&v), k, alg),
                    Err(Error::TooFewSamples { name: "x", .. })
                ));
                assert!(matches!(
                    conditional_mutual_information(col(&v), col(&v), col(&v), k, alg),
                    Err(Error::TooFewSamples { name: "x", .. })
                ));
            }
            // N = k + 1 is the smallest valid size.
            assert!(mutual_information(col(&v), col(&v), 4, alg)
                .unwrap()
                .is_finite());
            assert!(matches!(
                active_information_storage(col(&v), 1, 1, 4, alg),
                Err(Error::TooFewSamples { .. })
            ));
            assert!(matches!(
                transfer_entropy(col(&v), col(&v), &TeEmbedding::default(), None, 4, alg),
                Err(Error::TooFewSamples { .. })
            ));
        }
        assert!(matches!(
            entropy(col(&v), 0),
            Err(Error::InvalidArgument { name: "k", .. })
        ));
        assert!(matches!(
            entropy(col(&v), 5),
            Err(Error::TooFewSamples { .. })
        ));
        // An empty input cannot satisfy N > k either.
        assert!(matches!(
            mutual_information(col(&[]), col(&[]), 1, Algorithm::One),
            Err(Error::TooFewSamples { .. })
        ));
        assert!(matches!(
            run_with_threads(Some(0), || ()),
            Err(Error::InvalidArgument {
                name: "n_threads",
                ..
            })
        ));
    }

    #[test]
    fn bad_embeddings_are_errors_not_panics() {
        let (x, y, _) = coupled(3, 100, 1, 0);
        let (xv, yv) = (x.view("source"), y.view("target"));
        let te = |emb: TeEmbedding| {
            std::panic::catch_unwind(|| transfer_entropy(xv, yv, &emb, None, 4, Algorithm::One))
                .unwrap_or_else(|_| panic!("{emb:?} panicked"))
        };
        let d = TeEmbedding::default();
        for (name, emb) in [
            ("k_history", TeEmbedding { k_history: 0, ..d }),
            ("k_tau", TeEmbedding { k_tau: 0, ..d }),
            ("l_history", TeEmbedding { l_history: 0, ..d }),
            ("l_tau", TeEmbedding { l_tau: 0, ..d }),
            ("delay", TeEmbedding { delay: 0, ..d }),
        ] {
            match te(emb) {
                Err(Error::InvalidArgument { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{emb:?}: {other:?}"),
            }
        }
        // Spans that overflow usize, or that no series can hold.
        for emb in [
            TeEmbedding {
                k_history: usize::MAX / 2,
                k_tau: 4,
                ..d
            },
            TeEmbedding {
                l_history: usize::MAX / 2,
                l_tau: 4,
                ..d
            },
            TeEmbedding {
                l_history: 2,
                l_tau: usize::MAX,
                delay: 2,
                ..d
            },
            TeEmbedding {
                delay: usize::MAX,
                ..d
            },
            TeEmbedding {
                k_history: usize::MAX,
                ..d
            },
            TeEmbedding {
                k_history: 60,
                k_tau: 2,
                ..d
            },
            TeEmbedding { l_history: 99, ..d },
        ] {
            assert!(
                matches!(te(emb), Err(Error::TooFewSamples { .. })),
                "{emb:?}"
            );
        }
        let huge = [usize::MAX];
        let cond = Conditionals {
            series: xv,
            delays: &huge,
        };
        assert!(matches!(
            transfer_entropy(xv, yv, &d, Some(cond), 4, Algorithm::One),
            Err(Error::TooFewSamples { .. })
        ));
        let zero = [0usize];
        let cond = Conditionals {
            series: xv,
            delays: &zero,
        };
        assert!(matches!(
            transfer_entropy(xv, yv, &d, Some(cond), 4, Algorithm::One),
            Err(Error::InvalidArgument {
                name: "cond_delays",
                ..
            })
        ));
        let two = [1usize, 2];
        let cond = Conditionals {
            series: xv,
            delays: &two,
        };
        assert!(matches!(
            transfer_entropy(xv, yv, &d, Some(cond), 4, Algorithm::One),
            Err(Error::InvalidArgument {
                name: "cond_delays",
                ..
            })
        ));
        for (kh, kt) in [(usize::MAX / 2, 4usize), (0, 1), (1, 0), (60, 2)] {
            assert!(
                active_information_storage(x.view("x"), kh, kt, 4, Algorithm::One).is_err(),
                "AIS k_history={kh} k_tau={kt}"
            );
        }
    }

    /// Known bug (reported, not fixed here): when an embedding spans exactly `usize::MAX` time steps,
    /// `embed::check_length` computes `first + 1`, which overflows (a panic in debug builds; in release it
    /// wraps to 0, the length check passes and `embed_past` then panics with "capacity overflow" or, for
    /// other lengths, aborts the process on a failed allocation). Expected: `Err(TooFewSamples)`.
    #[test]
    fn embedding_span_of_exactly_usize_max_is_an_error() {
        let (x, y, _) = coupled(3, 100, 1, 0);
        let (xv, yv) = (x.view("source"), y.view("target"));
        // (usize::MAX / 3 + 1 - 1) * 3 == usize::MAX exactly.
        let emb = TeEmbedding {
            k_history: usize::MAX / 3 + 1,
            k_tau: 3,
            ..TeEmbedding::default()
        };
        assert!(transfer_entropy(xv, yv, &emb, None, 4, Algorithm::One).is_err());
        let emb = TeEmbedding {
            l_history: usize::MAX,
            l_tau: 1,
            delay: 2,
            ..TeEmbedding::default()
        };
        assert!(transfer_entropy(xv, yv, &emb, None, 4, Algorithm::One).is_err());
        assert!(
            active_information_storage(x.view("x"), usize::MAX / 3 + 1, 3, 4, Algorithm::One)
                .is_err()
        );
    }

    /// Known bug (reported, not fixed here): `transfer_entropy` (through `TeSamples::new`, which checks
    /// `k.min(T - 1).max(1)` instead of `k`) accepts k = 0 and returns `Ok(NaN)`. Expected:
    /// `Err(InvalidArgument { name: "k" })`, as `mutual_information` does. (Python rejects k < 1 itself.)
    #[test]
    fn te_with_k_zero_is_an_error() {
        let v: Vec<f64> = (0..40).map(|i| ((i * 37) % 41) as f64).collect();
        for alg in ALGS {
            let r = transfer_entropy(col(&v), col(&v), &TeEmbedding::default(), None, 0, alg);
            assert!(
                matches!(r, Err(Error::InvalidArgument { name: "k", .. })),
                "{alg:?}: {r:?}"
            );
        }
    }

    /// Known bug (reported, not fixed here): `JointSamples::ais` sets the group widths to
    /// `[past.cols(), 1]` although the next-value group has one column per series column, so for a
    /// multi-column series its value differs from `active_information_storage` (and its surrogates
    /// permute only the first next-value column). Expected widths `[k_history * d, d]`.
    #[test]
    fn joint_samples_ais_of_multicolumn_series() {
        let (x2, _, _) = coupled(12, 300, 2, 0);
        let ais = active_information_storage(x2.view("x"), 2, 1, 4, Algorithm::One).unwrap();
        let js = JointSamples::ais(x2.view("x"), 2, 1, 4).unwrap();
        assert_eq!(js.widths, vec![4, 2]);
        let sig = js.test(4, Algorithm::One, 2, 3).unwrap();
        assert_close(sig.value, ais, 1e-12, "JointSamples::ais value (2 columns)");
    }
}
