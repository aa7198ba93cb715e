//! Multivariate TE network inference on networks with known edges, including the common-driver case
//! that pairwise TE gets wrong.

mod common;

mod multivariate {
    use super::common::*;
    use thermoconsensus_info::{
        multivariate_te, network_fdr, MultivariateTeSettings, TargetResult, Variable,
    };

    fn gauss_series(
        seed: u64,
        t_len: usize,
        n: usize,
        step: impl Fn(&[Vec<f64>], usize, usize) -> f64,
    ) -> Matrix {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut cols = vec![vec![0.0; t_len]; n];
        for t in 0..t_len {
            for j in 0..n {
                let drive = if t >= 3 { step(&cols, j, t) } else { 0.0 };
                cols[j][t] = drive + gauss(&mut rng);
            }
        }
        let data = (0..t_len)
            .flat_map(|t| cols.iter().map(move |c| c[t]))
            .collect();
        Matrix::from_vec(data, t_len, n)
    }

    fn settings() -> MultivariateTeSettings {
        MultivariateTeSettings {
            max_lag_sources: 3,
            max_lag_target: 2,
            n_perm_max_stat: 60,
            n_perm_min_stat: 60,
            n_perm_omnibus: 100,
            n_perm_max_seq: 100,
            seed: 5,
            ..Default::default()
        }
    }

    fn sources(r: &TargetResult) -> Vec<(usize, usize)> {
        let mut s: Vec<_> = r.sources.iter().map(|v| (v.process, v.lag)).collect();
        s.sort();
        s
    }

    /// 0 drives 1 at lag 1 and 2 at lag 2; 1 and 2 are not coupled. Pairwise TE 1 -> 2 is large (both
    /// echo 0); conditioning on 0's past removes it.
    #[test]
    fn a_common_driver_yields_only_the_true_edges() {
        let data = gauss_series(3, 800, 4, |c, j, t| match j {
            0 => 0.5 * c[0][t - 1],
            1 => 0.8 * c[0][t - 1],
            2 => 0.8 * c[0][t - 2],
            _ => 0.0,
        });
        let emb = TeEmbedding::default();
        let pairwise = transfer_entropy(
            MatrixRef::column(
                "x",
                &(0..800).map(|t| data.view().get(t, 1)).collect::<Vec<_>>(),
            )
            .unwrap(),
            MatrixRef::column(
                "y",
                &(0..800).map(|t| data.view().get(t, 2)).collect::<Vec<_>>(),
            )
            .unwrap(),
            &emb,
            None,
            4,
            Algorithm::One,
        )
        .unwrap();
        assert!(
            pairwise > 0.05,
            "the pairwise TE 1 -> 2 this test is about: {pairwise}"
        );
        let results = multivariate_te(&[data.view()], &[], &settings(), None).unwrap();
        assert_eq!(results.len(), 4);
        assert_eq!(sources(&results[0]), vec![]);
        assert_eq!(sources(&results[1]), vec![(0, 1)]);
        assert_eq!(sources(&results[2]), vec![(0, 2)]);
        assert_eq!(sources(&results[3]), vec![]);
        // 0 is AR(1): its own lag 1 is selected as target past.
        assert!(results[0]
            .target_past
            .contains(&Variable { process: 0, lag: 1 }));
        for r in &results[1..3] {
            assert!(r.omnibus_p < 0.05 && r.omnibus_te > 0.1, "{r:?}");
            assert_eq!(r.source_te.len(), 1);
            assert!(r.source_p[0] < 0.05);
        }
    }

    /// Results depend on the seed only, not on the thread count; replications pool their samples.
    #[test]
    fn results_are_reproducible_and_replications_pool() {
        let make = |seed| {
            gauss_series(seed, 300, 3, |c, j, t| match j {
                1 => 0.7 * c[0][t - 2] + 0.3 * c[1][t - 1],
                _ => 0.0,
            })
        };
        let (a, b) = (make(11), make(12));
        let s = MultivariateTeSettings {
            max_lag_sources: 2,
            max_lag_target: 1,
            ..settings()
        };
        let one = run_with_threads(Some(1), || {
            multivariate_te(&[a.view(), b.view()], &[1], &s, None)
        })
        .unwrap()
        .unwrap();
        let two = run_with_threads(Some(2), || {
            multivariate_te(&[a.view(), b.view()], &[1], &s, None)
        })
        .unwrap()
        .unwrap();
        assert_eq!(one, two);
        assert_eq!(sources(&one[0]), vec![(0, 2)]);
        let mut fdr = one.clone();
        let q = network_fdr(&mut fdr, 0.05).unwrap();
        assert!(q[0] <= 0.05 && fdr == one);
    }

    #[test]
    fn bad_settings_and_data_are_refused_by_name() {
        let data = gauss_series(1, 50, 2, |_, _, _| 0.0);
        let check = |s: MultivariateTeSettings, name: &str| {
            let e = multivariate_te(&[data.view()], &[], &s, None).unwrap_err();
            assert!(format!("{e}").contains(name), "{e}");
        };
        check(
            MultivariateTeSettings {
                min_lag_sources: 4,
                max_lag_sources: 3,
                ..settings()
            },
            "min_lag_sources",
        );
        check(
            MultivariateTeSettings {
                n_perm_omnibus: 0,
                ..settings()
            },
            "n_perm_omnibus",
        );
        check(
            MultivariateTeSettings {
                alpha_max_stat: 0.0,
                ..settings()
            },
            "alpha_max_stat",
        );
        check(
            MultivariateTeSettings {
                max_lag_target: 60,
                ..settings()
            },
            "data",
        );
        let e = multivariate_te(&[data.view()], &[2], &settings(), None).unwrap_err();
        assert!(format!("{e}").contains("targets"), "{e}");
        let e = multivariate_te(&[], &[], &settings(), None).unwrap_err();
        assert!(format!("{e}").contains("data"), "{e}");
    }
}
