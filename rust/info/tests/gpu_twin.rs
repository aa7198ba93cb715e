//! The GPU twin of the KSG neighbour search (`cuda/ksg.cu`) against the CPU engine on identical inputs. Runs on
//! the host emulator everywhere (needs a C++20 compiler) and on every real GPU present.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thermoconsensus_gpu::Executor;
use thermoconsensus_info::{
    conditional_mutual_information, conditional_mutual_information_on, mutual_information,
    mutual_information_on, Algorithm, Compute, JointSamples, MatrixRef, TeEmbedding, TeSamples,
};

fn executors() -> Vec<Compute> {
    Executor::all_for_tests()
        .into_iter()
        .filter_map(|e| match e {
            Ok(e) => Some(Compute::Device(e)),
            Err(err) => {
                eprintln!("SKIP a device: {err}");
                None
            }
        })
        .collect()
}

/// Correlated uniform columns; `levels` > 0 rounds to that many steps per unit, to force tied distances.
fn data(n: usize, cols: usize, seed: u64, levels: f64) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![Vec::with_capacity(n); cols];
    for i in 0..n {
        let common: f64 = rng.random::<f64>() - 0.5;
        for (c, col) in out.iter_mut().enumerate() {
            let v = common + 0.7 * (rng.random::<f64>() - 0.5);
            col.push(if levels > 0.0 {
                // A distinct sub-grid offset in the first column keeps every joint point unique (the
                // engine refuses heavily tied points) while the distances along the others still tie.
                let unique = if c == 0 { i as f64 * 1e-9 } else { 0.0 };
                (v * levels).round() / levels + unique
            } else {
                v
            });
        }
    }
    out
}

fn rows(cols: &[Vec<f64>]) -> Vec<f64> {
    let n = cols[0].len();
    (0..n)
        .flat_map(|i| cols.iter().map(move |c| c[i]))
        .collect()
}

fn close(a: f64, b: f64, what: &str) {
    // Equal counts leave only the summation order: a count off by one moves the estimate by > 1e-7 here.
    assert!(
        (a - b).abs() <= 1e-12 * (1.0 + a.abs()),
        "{what}: cpu {a} vs device {b}"
    );
}

#[test]
fn mi_and_cmi_match_the_cpu_for_both_algorithms() {
    let computes = executors();
    assert!(!computes.is_empty(), "the emulator must build here");
    let n = 300; // not a multiple of the kernel's tile of 128
    for (levels, algorithms) in [
        (0.0, &[Algorithm::One, Algorithm::Two][..]),
        // Ties: the k-th distance (algorithm 1) does not depend on which tied neighbour is taken.
        (4.0, &[Algorithm::One][..]),
    ] {
        let cols = data(n, 5, 11, levels);
        let x = rows(&cols[0..2]);
        let y = rows(&cols[2..3]);
        let z = rows(&cols[3..5]);
        let xm = MatrixRef::new("x", &x, n, 2).unwrap();
        let ym = MatrixRef::new("y", &y, n, 1).unwrap();
        let zm = MatrixRef::new("z", &z, n, 2).unwrap();
        for &alg in algorithms {
            for k in [1, 4, 9] {
                let mi = mutual_information(xm, ym, k, alg).unwrap();
                let cmi = conditional_mutual_information(xm, ym, zm, k, alg).unwrap();
                for c in &computes {
                    let what = format!("{c:?} {alg:?} k={k} levels={levels}");
                    close(
                        mi,
                        mutual_information_on(xm, ym, k, alg, c).unwrap(),
                        &format!("MI {what}"),
                    );
                    close(
                        cmi,
                        conditional_mutual_information_on(xm, ym, zm, k, alg, c).unwrap(),
                        &format!("CMI {what}"),
                    );
                }
            }
        }
    }
}

#[test]
fn transfer_entropy_and_its_surrogates_match_the_cpu() {
    let computes = executors();
    let n = 400;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut x = vec![0.0; n];
    let mut y = vec![0.0; n];
    for t in 1..n {
        x[t] = 0.6 * x[t - 1] + rng.random::<f64>() - 0.5;
        y[t] = 0.5 * y[t - 1] + 0.8 * x[t - 1] + 0.3 * (rng.random::<f64>() - 0.5);
    }
    let xm = MatrixRef::column("source", &x).unwrap();
    let ym = MatrixRef::column("target", &y).unwrap();
    let emb = TeEmbedding {
        k_history: 2,
        k_tau: 1,
        l_history: 1,
        l_tau: 1,
        delay: 1,
    };
    let samples = TeSamples::new(xm, ym, &emb, None, 4).unwrap();
    let te = samples.estimate(4, Algorithm::One);
    let sig_cpu = JointSamples::te(samples.clone())
        .test_with_progress(4, Algorithm::One, 3, 17, None, &Compute::Cpu)
        .unwrap();
    for c in &computes {
        close(te, samples.estimate_on(4, Algorithm::One, c).unwrap(), "TE");
        let sig = JointSamples::te(samples.clone())
            .test_with_progress(4, Algorithm::One, 3, 17, None, c)
            .unwrap();
        close(sig_cpu.null_mean, sig.null_mean, "surrogate mean");
        assert_eq!(sig_cpu.p_value, sig.p_value);
    }
}

#[test]
fn device_limits_are_named_errors() {
    let Some(c) = executors().into_iter().next() else {
        return;
    };
    let x: Vec<f64> = (0..200).map(|i| (i as f64).sin()).collect();
    let xm = MatrixRef::column("x", &x).unwrap();
    let e = mutual_information_on(xm, xm, 65, Algorithm::One, &c).unwrap_err();
    assert!(e.to_string().contains("k up to 64"), "{e}");
    let wide: Vec<f64> = (0..200 * 17).map(|i| (i as f64 * 0.37).sin()).collect();
    let wm = MatrixRef::new("x", &wide, 200, 17).unwrap();
    let e = mutual_information_on(wm, xm, 3, Algorithm::One, &c).unwrap_err();
    assert!(e.to_string().contains("at most 16 joint dimensions"), "{e}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// Any shape within the kernel limits: x, y, z widths 1..=3, k below N, N around the tile size, and
    /// integer-valued data (many tied distances, where algorithm 1's k-th distance is still unique).
    #[test]
    fn device_counts_equal_the_cpu_for_any_shape(
        n in 20usize..300,
        wx in 1usize..4,
        wy in 1usize..4,
        wz in 1usize..4,
        k in 1usize..10,
        seed in 0u64..1000,
        levels in proptest::prop_oneof![proptest::strategy::Just(0.0f64), proptest::strategy::Just(3.0f64)],
    ) {
        let k = k.min(n - 1);
        let cols = data(n, wx + wy + wz, seed, levels);
        let x = rows(&cols[..wx]);
        let y = rows(&cols[wx..wx + wy]);
        let z = rows(&cols[wx + wy..]);
        let xm = MatrixRef::new("x", &x, n, wx).unwrap();
        let ym = MatrixRef::new("y", &y, n, wy).unwrap();
        let zm = MatrixRef::new("z", &z, n, wz).unwrap();
        let algorithms: &[Algorithm] = if levels > 0.0 { &[Algorithm::One] } else { &[Algorithm::One, Algorithm::Two] };
        let exec = Executor::emulator().unwrap();
        let dev = Compute::Device(exec);
        for &alg in algorithms {
            let mi = mutual_information(xm, ym, k, alg).unwrap();
            close(mi, mutual_information_on(xm, ym, k, alg, &dev).unwrap(), "MI");
            let cmi = conditional_mutual_information(xm, ym, zm, k, alg).unwrap();
            close(cmi, conditional_mutual_information_on(xm, ym, zm, k, alg, &dev).unwrap(), "CMI");
        }
    }
}
