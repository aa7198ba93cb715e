//! The digamma function psi(x) = d/dx ln Gamma(x), to about 1e-15.
//!
//! KSG estimators evaluate psi at positive integers (neighbour counts, k, N). JIDT's own digamma is a
//! truncated series that is off by ~6.5e-8 below 10000; we use the recurrence psi(x) = psi(x + 1) - 1/x up to
//! x >= 10 and then the asymptotic (Stirling) series with Bernoulli terms to x^-14, whose truncation error
//! there is below 1e-16.

/// psi(x) for x > 0 (NaN for x <= 0 or NaN).
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    let mut x = x;
    let mut shift = 0.0;
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let inv2 = 1.0 / (x * x);
    // Bernoulli numbers B_{2j} / (2j) for j = 1..7.
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2
                        * (1.0 / 252.0
                            - inv2
                                * (1.0 / 240.0
                                    - inv2
                                        * (1.0 / 132.0
                                            - inv2 * (691.0 / 32760.0 - inv2 / 12.0))))));
    shift + x.ln() - 0.5 / x - series
}

/// psi(0..=max) at the integers, index n holding psi(n) (index 0 holds NaN); one lookup per count.
pub(crate) fn integer_table(max: usize) -> Vec<f64> {
    (0..=max).map(|n| digamma(n as f64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EULER: f64 = 0.577_215_664_901_532_9;

    #[test]
    fn known_values() {
        assert!((digamma(1.0) + EULER).abs() < 1e-15);
        assert!((digamma(0.5) - (-1.963_510_026_021_423_5)).abs() < 1e-14);
        assert!((digamma(10.0) - 2.251_752_589_066_721).abs() < 1e-14);
        assert!(digamma(0.0).is_nan() && digamma(-1.0).is_nan());
    }

    #[test]
    fn integers_match_harmonic_numbers() {
        // psi(n) = H_{n-1} - gamma, summed here in exact-enough order for n <= 2000.
        let mut h = 0.0_f64;
        for n in 1..2000usize {
            let expected = h - EULER;
            let got = digamma(n as f64);
            assert!(
                (got - expected).abs() < 1e-13 * expected.abs().max(1.0),
                "n={n}"
            );
            h += 1.0 / n as f64;
        }
    }

    #[test]
    fn recurrence_holds_for_reals() {
        for i in 1..200 {
            let x = i as f64 * 0.37;
            let lhs = digamma(x + 1.0);
            let rhs = digamma(x) + 1.0 / x;
            assert!((lhs - rhs).abs() < 1e-13 * lhs.abs().max(1.0), "x={x}");
        }
    }
}
