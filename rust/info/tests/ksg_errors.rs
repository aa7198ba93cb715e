//! Errors name the bad input and never panic.

mod common;

mod ksg_errors {
    use super::common::*;

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
            Err(thermoconsensus_info::RuntimeError::InvalidThreads(_))
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
