//! Tests of `thermoconsensus_info::discrete`: analytic values, invariants (proptest) and errors.
//! Wrapped in `mod discrete` so `cargo test discrete` selects them.

mod discrete {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};
    use std::f64::consts::LN_2;
    use thermoconsensus_info::discrete::*;
    use thermoconsensus_info::{Error, MatrixRef};

    const NEG: f64 = f64::NEG_INFINITY;

    fn m(data: &[f64], cols: usize) -> MatrixRef<'_> {
        MatrixRef::new("logits", data, data.len() / cols, cols).unwrap()
    }

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} != {b} (tol {tol})");
    }

    fn config() -> Config {
        Config {
            cases: 256,
            rng_seed: RngSeed::Fixed(0x7e57_d15c),
            failure_persistence: None,
            ..Config::default()
        }
    }

    #[test]
    fn uniform_logits_entropy_and_perplexity() {
        for v in [1usize, 2, 7, 50_000] {
            let z = vec![3.25; 2 * v];
            for h in entropy_from_logits(m(&z, v), 1.0).unwrap() {
                close(h, (v as f64).ln(), 1e-12);
            }
            let ppl = perplexity(m(&z, v), &[0, v as i64 - 1]).unwrap();
            close(ppl, v as f64, 1e-9 * v as f64);
            let p = vec![1.0 / v as f64; v];
            close(
                entropy_from_probs(m(&p, v), false).unwrap()[0],
                (v as f64).ln(),
                1e-9,
            );
        }
    }

    #[test]
    fn entropy_handles_neg_inf_and_extreme_logits() {
        // Half the vocabulary masked out: uniform over the rest.
        let z = [0.0, NEG, 0.0, NEG, 0.0, NEG];
        close(
            entropy_from_logits(m(&z, 6), 1.0).unwrap()[0],
            3f64.ln(),
            1e-15,
        );
        // One-hot and huge logits do not overflow.
        let z = [1e300, 0.0, -1e300, 800.0, 800.0, -800.0];
        let h = entropy_from_logits(m(&z, 3), 1.0).unwrap();
        assert_eq!(h[0], 0.0);
        close(h[1], LN_2, 1e-15);
        let ls = log_softmax(m(&[0.0, NEG], 2), 1.0).unwrap();
        assert_eq!(ls, vec![0.0, NEG]);
    }

    #[test]
    fn entropy_matches_probs_and_temperature() {
        let z = [0.3, -1.2, 2.0, 0.0, 0.7, -0.4, 5.0, 1.0];
        let p = softmax(m(&z, 4), 1.0).unwrap();
        let h_logits = entropy_from_logits(m(&z, 4), 1.0).unwrap();
        let h_probs = entropy_from_probs(m(&p, 4), false).unwrap();
        for (a, b) in h_logits.iter().zip(&h_probs) {
            close(*a, *b, 1e-12);
        }
        // Temperature t divides the logits.
        let scaled: Vec<f64> = z.iter().map(|v| v / 2.5).collect();
        let a = log_softmax(m(&z, 4), 2.5).unwrap();
        let b = log_softmax(m(&scaled, 4), 1.0).unwrap();
        for (a, b) in a.iter().zip(&b) {
            close(*a, *b, 1e-14);
        }
        // High temperature tends to uniform, low to one-hot.
        close(
            entropy_from_logits(m(&z, 4), 1e9).unwrap()[0],
            4f64.ln(),
            1e-8,
        );
        close(entropy_from_logits(m(&z, 4), 1e-3).unwrap()[0], 0.0, 1e-12);
        // Renormalisation.
        let unnorm = [2.0, 2.0, 0.0, 4.0];
        close(
            entropy_from_probs(m(&unnorm, 4), true).unwrap()[0],
            1.5 * LN_2,
            1e-15,
        );
    }

    #[test]
    fn divergences_analytic() {
        let p = [0.1, 2.0, -3.0, 0.5];
        let kl = kl_divergence(m(&p, 4), m(&p, 4)).unwrap()[0];
        assert_eq!(kl, 0.0);
        assert_eq!(js_divergence(m(&p, 4), m(&p, 4)).unwrap()[0], 0.0);
        // Disjoint one-hot distributions.
        let a = [0.0, NEG, NEG, 5.0];
        let b = [NEG, 0.0, 7.0, NEG];
        assert_eq!(js_divergence(m(&a, 2), m(&b, 2)).unwrap(), vec![LN_2, LN_2]);
        assert_eq!(
            kl_divergence(m(&a, 2), m(&b, 2)).unwrap(),
            vec![f64::INFINITY; 2]
        );
        assert_eq!(
            cross_entropy(m(&a, 2), m(&b, 2)).unwrap(),
            vec![f64::INFINITY; 2]
        );
        // q has zero mass only where p does: finite.
        let q = [0.0, 0.0];
        close(
            kl_divergence(m(&[0.0, NEG], 2), m(&q, 2)).unwrap()[0],
            LN_2,
            1e-15,
        );
        // Bernoulli(0.5) vs Bernoulli(0.25).
        let p = [0.0, 0.0];
        let q = [0.0, 3f64.ln()];
        let want_kl = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
        close(
            kl_divergence(m(&p, 2), m(&q, 2)).unwrap()[0],
            want_kl,
            1e-15,
        );
        let ce = cross_entropy(m(&p, 2), m(&q, 2)).unwrap()[0];
        close(ce, LN_2 + want_kl, 1e-15);
        let mix = [0.375, 0.625];
        let kl_m = |a: [f64; 2]| {
            a.iter()
                .zip(&mix)
                .map(|(a, b)| a * (a / b).ln())
                .sum::<f64>()
        };
        let want_js = 0.5 * kl_m([0.5, 0.5]) + 0.5 * kl_m([0.25, 0.75]);
        close(
            js_divergence(m(&p, 2), m(&q, 2)).unwrap()[0],
            want_js,
            1e-15,
        );
    }

    #[test]
    fn nll_per_token() {
        let z = [1.0, 2.0, 3.0, 0.0, 0.0, NEG];
        let nll = cross_entropy_targets(m(&z, 3), &[2, 2]).unwrap();
        let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        close(nll[0], lse - 3.0, 1e-15);
        assert_eq!(nll[1], f64::INFINITY);
        let ppl = perplexity(m(&z[..3], 3), &[0]).unwrap();
        close(ppl, (lse - 1.0).exp(), 1e-12);
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn kl_nonnegative_js_symmetric_bounded(
            rows in prop::collection::vec(
                (prop::collection::vec(-30.0f64..30.0, 5), prop::collection::vec(-30.0f64..30.0, 5),
                 prop::collection::vec(prop::bool::weighted(0.2), 5)),
                1..6,
            )
        ) {
            let mut p = Vec::new();
            let mut q = Vec::new();
            for (a, b, mask) in &rows {
                // Mask some of q's tokens (never all) to exercise -inf.
                p.extend_from_slice(a);
                q.extend(b.iter().zip(mask).enumerate().map(|(j, (v, &mk))| if mk && j > 0 { NEG } else { *v }));
            }
            let (p, q) = (m(&p, 5), m(&q, 5));
            for kl in kl_divergence(p, q).unwrap() {
                prop_assert!(kl >= 0.0);
            }
            let pq = js_divergence(p, q).unwrap();
            let qp = js_divergence(q, p).unwrap();
            for (a, b) in pq.iter().zip(&qp) {
                prop_assert!((a - b).abs() <= 1e-12);
                prop_assert!((0.0..=LN_2).contains(a));
            }
            // H(p, q) = H(p) + KL(p || q).
            let h = entropy_from_logits(p, 1.0).unwrap();
            for ((ce, kl), h) in cross_entropy(p, q).unwrap().iter().zip(kl_divergence(p, q).unwrap()).zip(h) {
                if kl.is_finite() {
                    prop_assert!((ce - h - kl).abs() <= 1e-9 * (1.0 + ce.abs()));
                } else {
                    prop_assert!(ce.is_infinite());
                }
            }
        }

        #[test]
        fn softmax_normalised_and_shift_invariant(
            z in prop::collection::vec(-100.0f64..100.0, 12),
            shift in -1e3f64..1e3,
            t in 0.05f64..20.0,
        ) {
            let s = softmax(m(&z, 4), t).unwrap();
            for row in s.chunks(4) {
                prop_assert!((row.iter().sum::<f64>() - 1.0).abs() <= 1e-12);
            }
            let shifted: Vec<f64> = z.iter().map(|v| v + shift).collect();
            let a = log_softmax(m(&z, 4), t).unwrap();
            let b = log_softmax(m(&shifted, 4), t).unwrap();
            for (a, b) in a.iter().zip(&b) {
                prop_assert!((a - b).abs() <= 1e-9 * (1.0 + a.abs()));
            }
            let h = entropy_from_logits(m(&z, 4), t).unwrap();
            for h in h {
                prop_assert!((0.0..=4f64.ln() + 1e-12).contains(&h));
            }
        }

        #[test]
        fn plugin_mi_identity_and_symmetry(
            xy in prop::collection::vec((-3i64..3, prop::sample::select(vec![i64::MIN, 0, i64::MAX])), 1..200)
        ) {
            let (x, y): (Vec<i64>, Vec<i64>) = xy.into_iter().unzip();
            let mi = plugin_mutual_information(&x, &y).unwrap();
            prop_assert!(mi >= 0.0);
            prop_assert!((mi - plugin_mutual_information(&y, &x).unwrap()).abs() <= 1e-12);
            let joint: Vec<i64> = x.iter().zip(&y).map(|(a, b)| a * 3 + b.signum()).collect();
            let via_h = plugin_entropy(&x).unwrap() + plugin_entropy(&y).unwrap() - plugin_entropy(&joint).unwrap();
            prop_assert!((mi - via_h).abs() <= 1e-12);
        }
    }

    #[test]
    fn plugin_analytic() {
        let x: Vec<i64> = (0..1000).map(|i| (i % 2) * 17 - 5).collect();
        close(plugin_entropy(&x).unwrap(), LN_2, 1e-15);
        close(plugin_mutual_information(&x, &x).unwrap(), LN_2, 1e-15);
        assert_eq!(plugin_entropy(&[42; 9]).unwrap(), 0.0);
        // Exhaustive product of 3 x 4 symbols, each pair twice: exactly independent.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..3 {
            for j in 0..4 {
                a.extend([i, i]);
                b.extend([j * 1000, j * 1000]);
            }
        }
        assert_eq!(plugin_mutual_information(&a, &b).unwrap(), 0.0);
        // I(X;Y|Z) with Y = X xor Z, X, Z independent uniform bits: I(X;Y) = 0, I(X;Y|Z) = ln 2.
        let (mut x, mut y, mut z) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..4 {
            let (xi, zi) = (i & 1, i >> 1);
            x.push(xi);
            z.push(zi);
            y.push(xi ^ zi);
        }
        assert_eq!(plugin_mutual_information(&x, &y).unwrap(), 0.0);
        close(
            plugin_conditional_mutual_information(&x, &y, &z).unwrap(),
            LN_2,
            1e-15,
        );
        close(
            plugin_conditional_mutual_information(&x, &z, &y).unwrap(),
            LN_2,
            1e-15,
        );
    }

    /// Binary de Bruijn sequence B(2, n) as a cyclic pattern: every n-bit word once per period.
    fn de_bruijn(n: u32) -> Vec<i64> {
        let len = 1usize << n;
        let mut seen = vec![false; len];
        let mut s = vec![0i64; n as usize];
        let mut word = 0usize;
        seen[0] = true;
        while s.len() < len + n as usize - 1 {
            // Prefer-one greedy construction.
            let next1 = ((word << 1) | 1) & (len - 1);
            let next0 = (word << 1) & (len - 1);
            let (bit, w) = if !seen[next1] { (1, next1) } else { (0, next0) };
            seen[w] = true;
            word = w;
            s.push(bit);
        }
        s.truncate(len);
        let words: std::collections::HashSet<usize> = (0..len)
            .map(|i| (0..n as usize).fold(0, |w, j| (w << 1) | s[(i + j) % len] as usize))
            .collect();
        assert_eq!(words.len(), len, "not a de Bruijn sequence");
        s
    }

    #[test]
    fn te_of_lagged_copy_is_source_entropy() {
        // y[t+1] = x[t] with x periodic over all (k+1)-bit words: TE = H(x_t | x_{t-k..t-1}) = ln 2.
        for k in 1..=3usize {
            let pat = de_bruijn(k as u32 + 1);
            let period = pat.len();
            let t_len = 5 * period + k; // N = T - 1 - (k - 1) = 5 periods
            let x: Vec<i64> = (0..t_len).map(|t| pat[t % period]).collect();
            let y: Vec<i64> = (0..t_len).map(|t| pat[(t + period - 1) % period]).collect();
            let te = plugin_transfer_entropy(&x, &y, k, 1, 1).unwrap();
            close(te, LN_2, 1e-14);
            // With k >= 2 the target past already holds x_{t-1}: nothing flows back from the copy.
            if k >= 2 {
                assert_eq!(plugin_transfer_entropy(&y, &x, k, 1, 1).unwrap(), 0.0);
            }
        }
    }

    #[test]
    fn te_matches_explicit_cmi_with_jidt_alignment() {
        let mut state = 12345u64;
        let mut bits = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 3) as i64
        };
        let x: Vec<i64> = (0..300).map(|_| bits()).collect();
        let y: Vec<i64> = (0..300)
            .map(|t| (if t >= 2 { x[t - 2] } else { 0 }) + bits() % 2)
            .collect();
        for (k, l, delay) in [(1, 1, 1), (2, 1, 2), (1, 3, 1), (3, 2, 4), (2, 2, 1)] {
            let first = (k - 1).max(l - 1 + delay - 1);
            let enc = |s: &[i64]| s.iter().fold(0i64, |a, v| a * 10 + v);
            let (mut src, mut nxt, mut tgt) = (Vec::new(), Vec::new(), Vec::new());
            for t in first..x.len() - 1 {
                tgt.push(enc(&y[t + 1 - k..=t]));
                src.push(enc(&x[t + 2 - delay - l..=t + 1 - delay]));
                nxt.push(y[t + 1]);
            }
            let want = plugin_conditional_mutual_information(&src, &nxt, &tgt).unwrap();
            let got = plugin_transfer_entropy(&x, &y, k, l, delay).unwrap();
            assert_eq!(got, want, "k={k} l={l} delay={delay}");
            if delay == 2 {
                assert!(got > 0.1);
            }
        }
    }

    #[test]
    fn errors_name_the_argument() {
        let z = [0.0, 1.0, f64::NAN, 0.0];
        assert_eq!(
            entropy_from_logits(m(&z, 2), 1.0).unwrap_err(),
            Error::NonFinite {
                name: "logits",
                row: 1,
                col: 0
            }
        );
        let z = [0.0, f64::INFINITY];
        assert!(matches!(
            softmax(m(&z, 2), 1.0),
            Err(Error::NonFinite {
                name: "logits",
                row: 0,
                col: 1
            })
        ));
        let z = [0.0, 1.0, NEG, NEG];
        let e = log_softmax(m(&z, 2), 1.0).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { name: "logits", reason } if reason.contains("row 1")),
            "{e}"
        );
        for t in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                log_softmax(m(&[0.0], 1), t),
                Err(Error::InvalidArgument {
                    name: "temperature",
                    ..
                })
            ));
        }
        assert!(matches!(
            log_softmax(m(&[1e308], 1), 1e-3),
            Err(Error::InvalidArgument {
                name: "temperature",
                ..
            })
        ));
        let (p, q3, q_cols) = ([0.0; 4], [0.0; 6], [0.0; 6]);
        assert!(matches!(
            kl_divergence(m(&p, 2), m(&q3, 2)),
            Err(Error::LengthMismatch {
                name: "q_logits",
                got: 3,
                expected: 2,
                ..
            })
        ));
        assert!(matches!(
            js_divergence(m(&p, 2), m(&q_cols, 3)),
            Err(Error::InvalidArgument {
                name: "q_logits",
                ..
            })
        ));
        assert!(matches!(
            cross_entropy(m(&p, 2), m(&[0.0, 0.0, f64::NAN, 0.0], 2)),
            Err(Error::NonFinite {
                name: "q_logits",
                row: 1,
                col: 0
            })
        ));
        let e = cross_entropy_targets(m(&p, 2), &[0, 2]).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { name: "targets", reason } if reason.contains("row 1")),
            "{e}"
        );
        assert!(matches!(
            cross_entropy_targets(m(&p, 2), &[-1, 0]),
            Err(Error::InvalidArgument {
                name: "targets",
                ..
            })
        ));
        assert!(matches!(
            perplexity(m(&p, 2), &[0]),
            Err(Error::LengthMismatch {
                name: "targets",
                ..
            })
        ));
        assert!(matches!(
            perplexity(m(&[], 2), &[]),
            Err(Error::TooFewSamples { name: "logits", .. })
        ));
        // Probabilities.
        let bad = [0.5, 0.5, 0.7, 0.2];
        let e = entropy_from_probs(m(&bad, 2), false).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { name: "p", reason } if reason.contains("row 1")),
            "{e}"
        );
        assert!(entropy_from_probs(m(&bad, 2), true).is_ok());
        assert!(matches!(
            entropy_from_probs(m(&[1.5, -0.5], 2), false),
            Err(Error::InvalidArgument { name: "p", .. })
        ));
        assert!(matches!(
            entropy_from_probs(m(&[0.0, 0.0], 2), true),
            Err(Error::InvalidArgument { name: "p", .. })
        ));
        assert!(matches!(
            entropy_from_probs(m(&[f64::NAN, 1.0], 2), true),
            Err(Error::NonFinite { name: "p", .. })
        ));
        // Series.
        assert!(matches!(
            plugin_entropy(&[]),
            Err(Error::TooFewSamples { name: "x", .. })
        ));
        assert!(matches!(
            plugin_mutual_information(&[1, 2], &[1]),
            Err(Error::LengthMismatch { name: "y", .. })
        ));
        assert!(matches!(
            plugin_mutual_information(&[], &[]),
            Err(Error::TooFewSamples { name: "x", .. })
        ));
        assert!(matches!(
            plugin_conditional_mutual_information(&[1], &[1], &[1, 2]),
            Err(Error::LengthMismatch { name: "z", .. })
        ));
        let s = [0i64, 1, 0, 1, 1];
        assert!(matches!(
            plugin_transfer_entropy(&s, &s[..4], 1, 1, 1),
            Err(Error::LengthMismatch { name: "target", .. })
        ));
        for (k, l, d, name) in [
            (0, 1, 1, "k_history"),
            (1, 0, 1, "l_history"),
            (1, 1, 0, "delay"),
        ] {
            assert!(
                matches!(plugin_transfer_entropy(&s, &s, k, l, d), Err(Error::InvalidArgument { name: n, .. }) if n == name)
            );
        }
        assert!(matches!(
            plugin_transfer_entropy(&s, &s, 5, 1, 1),
            Err(Error::TooFewSamples { name: "target", .. })
        ));
        assert!(matches!(
            plugin_transfer_entropy(&s, &s, 1, 3, 3),
            Err(Error::TooFewSamples { name: "source", .. })
        ));
        assert!(plugin_transfer_entropy(&s, &s, 4, 1, 1).is_ok());
        assert!(plugin_transfer_entropy(&s, &s, 1, 2, 2).is_ok());
        assert!(matches!(
            plugin_transfer_entropy(&[], &[], 1, 1, 1),
            Err(Error::TooFewSamples { .. })
        ));
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let z: Vec<f64> = (0..64 * 257)
            .map(|i| ((i * 7919) % 1000) as f64 / 37.0 - 13.0)
            .collect();
        let q: Vec<f64> = z.iter().rev().copied().collect();
        let run = |n| {
            thermoconsensus_info::run_with_threads(Some(n), || {
                (
                    entropy_from_logits(m(&z, 257), 0.7).unwrap(),
                    js_divergence(m(&z, 257), m(&q, 257)).unwrap(),
                    kl_divergence(m(&z, 257), m(&q, 257)).unwrap(),
                )
            })
            .unwrap()
        };
        assert_eq!(run(1), run(4));
    }
}
