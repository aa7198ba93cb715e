//! KSG MI and CMI against a brute-force O(N^2) reference, and analytic values.

mod common;

mod ksg_reference {
    use super::common::*;

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

    /// The most samples that share one joint value of `vars` (rows compared exactly).
    fn most_tied(vars: &[&Var]) -> usize {
        let n = vars[0].rows();
        let mut keys: Vec<Vec<u64>> = (0..n)
            .map(|i| {
                vars.iter()
                    .flat_map(|v| (0..v.cols).map(move |c| v.get(i, c).to_bits()))
                    .collect()
            })
            .collect();
        keys.sort();
        let (mut most, mut run) = (0, 0);
        for i in 0..n {
            run = if i > 0 && keys[i] == keys[i - 1] {
                run + 1
            } else {
                1
            };
            most = most.max(run);
        }
        most
    }

    /// The engine's estimate compared with the brute force, or, for data where more than k samples
    /// share one joint value, its refusal as heavily tied (the estimate would be meaningless).
    fn check_or_refused(got: Result<f64, Error>, want: f64, tied: usize, k: usize, what: &str) {
        match got {
            Ok(v) => {
                assert!(
                    tied <= k,
                    "{what}: {tied} tied samples > k = {k} were not refused"
                );
                assert!(want.is_finite(), "{what}: reference not finite");
                assert_close(v, want, 1e-10, what);
            }
            Err(e) => {
                assert!(
                    tied > k,
                    "{what}: refused with only {tied} tied samples: {e:?}"
                );
                assert!(format!("{e:?}").contains("heavily tied"), "{what}: {e:?}");
            }
        }
    }

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
                let tied = most_tied(&[&x, &y]);
                for (alg, w) in ALGS.into_iter().zip(want) {
                    let got = mutual_information(x.view("x"), y.view("y"), k, alg);
                    let what = format!("MI n={n} dims=({dx},{dy}) k={k} {kind:?} {alg:?}");
                    check_or_refused(got, w, tied, k, &what);
                }
            }
            for &[dx, dy, dz] in cmi_dims {
                case += 1;
                let k = ks[case as usize % ks.len()].min(n - 1);
                let [x, y, z] = dependent(2000 + case + n as u64, n, [dx, dy, dz], kind);
                let want = ref_cmi(&x, &y, &z, k);
                let tied = most_tied(&[&x, &y, &z]);
                for (alg, w) in ALGS.into_iter().zip(want) {
                    let got = conditional_mutual_information(
                        x.view("x"),
                        y.view("y"),
                        z.view("z"),
                        k,
                        alg,
                    );
                    let what = format!("CMI n={n} dims=({dx},{dy},{dz}) k={k} {kind:?} {alg:?}");
                    check_or_refused(got, w, tied, k, &what);
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

    /// Local values point by point against the brute force: the scan (small, 4+ dimensions) and the
    /// tree / grid (3000 points) both return them in input order.
    #[test]
    fn local_values_match_brute_force_point_by_point() {
        let n_list: &[usize] = if DEBUG { &[200] } else { &[200, 3000] };
        for &n in n_list {
            for (case, dims) in [[1, 1, 1], [2, 1, 3], [1, 2, 2]].into_iter().enumerate() {
                let k = [4, 2, 6][case];
                let [x, y, z] = dependent(77 + case as u64 + n as u64, n, dims, Kind::Gaussian);
                let want_mi = ref_local_mi(&x, &y, k);
                let want_cmi = ref_local_cmi(&x, &y, &z, k);
                for (a, alg) in ALGS.into_iter().enumerate() {
                    let mi = local_mutual_information(
                        x.view("x"),
                        y.view("y"),
                        k,
                        alg,
                        Default::default(),
                    )
                    .unwrap();
                    let cmi = local_conditional_mutual_information(
                        x.view("x"),
                        y.view("y"),
                        z.view("z"),
                        k,
                        alg,
                        Default::default(),
                    )
                    .unwrap();
                    for (got, want, what) in [(&mi, &want_mi[a], "MI"), (&cmi, &want_cmi[a], "CMI")]
                    {
                        assert_eq!(got.len(), n);
                        for (i, (g, w)) in got.iter().zip(want).enumerate() {
                            assert_close(
                                *g,
                                *w,
                                1e-12,
                                &format!("local {what} n={n} {dims:?} {alg:?} point {i}"),
                            );
                        }
                    }
                    let mean = cmi.iter().sum::<f64>() / n as f64;
                    let whole = conditional_mutual_information(
                        x.view("x"),
                        y.view("y"),
                        z.view("z"),
                        k,
                        alg,
                    )
                    .unwrap();
                    assert_close(mean, whole, 1e-12, "mean of local CMI");
                }
            }
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
            let (tied_mi, tied_cmi) = (most_tied(&[&x, &y]), most_tied(&[&x, &y, &z]));
            // Whole-point duplicates on a 3 x 2 grid: far more than k samples share each value.
            assert!(tied_mi > k && tied_cmi > k);
            for (i, alg) in ALGS.into_iter().enumerate() {
                let got = mutual_information(x.view("x"), y.view("y"), k, alg);
                check_or_refused(got, mi[i], tied_mi, k, &format!("dup MI n={n} {alg:?}"));
                let got =
                    conditional_mutual_information(x.view("x"), y.view("y"), z.view("z"), k, alg);
                check_or_refused(got, cmi[i], tied_cmi, k, &format!("dup CMI n={n} {alg:?}"));
            }
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
}
