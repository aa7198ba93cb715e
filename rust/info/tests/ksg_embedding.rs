//! TE and AIS equal the CMI / MI of explicitly built time-delay embeddings; TE networks.

mod common;

mod ksg_embedding {
    use super::common::*;

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
}
