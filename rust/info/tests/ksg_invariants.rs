//! Invariants (proptest): symmetry, permutation and shift invariance, thread-count independence.

mod common;

mod ksg_invariants {
    use super::common::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

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
}
