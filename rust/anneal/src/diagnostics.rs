//! Convergence diagnostics over several chains of one scalar (e.g. energy traces of the reads):
//! Gelman-Rubin potential scale reduction (R-hat) and the effective sample size with Geyer's initial
//! monotone sequence estimator, as in Gelman et al., Bayesian Data Analysis (3rd ed.), section 11.4-11.5.

use crate::error::{invalid, Result};

/// Checks `values` holds `chains` chains of equal length >= `min_len`; returns the length.
fn chain_len(values: &[f64], chains: usize, min_len: usize) -> Result<usize> {
    if chains < 2 {
        return Err(invalid(
            "chains",
            format!("need at least 2 chains, got {chains}"),
        ));
    }
    if !values.len().is_multiple_of(chains) {
        return Err(invalid(
            "chains",
            format!(
                "{} values do not split into {chains} equal chains",
                values.len()
            ),
        ));
    }
    let n = values.len() / chains;
    if n < min_len {
        return Err(invalid(
            "chains",
            format!("each chain needs at least {min_len} values, got {n}"),
        ));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(invalid("chains", format!("value {i} is not finite")));
    }
    Ok(n)
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn variance(x: &[f64]) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64
}

/// R-hat of `chains` chains stored one after another; ~1 when they sample the same distribution.
/// Constant chains that agree give 1; constant chains that disagree give +inf.
pub fn gelman_rubin(values: &[f64], chains: usize) -> Result<f64> {
    let n = chain_len(values, chains, 2)?;
    let rows: Vec<&[f64]> = values.chunks(n).collect();
    let means: Vec<f64> = rows.iter().map(|c| mean(c)).collect();
    let w = rows.iter().map(|c| variance(c)).sum::<f64>() / chains as f64;
    let b = n as f64 * variance(&means);
    let var_plus = (n as f64 - 1.0) / n as f64 * w + b / n as f64;
    Ok(if w > 0.0 {
        (var_plus / w).sqrt()
    } else if b > 0.0 {
        f64::INFINITY
    } else {
        1.0
    })
}

/// Effective sample size of `chains` chains stored one after another (multi-chain autocorrelation,
/// truncated by Geyer's initial positive and monotone sequence). At most chains x length.
pub fn effective_sample_size(values: &[f64], chains: usize) -> Result<f64> {
    let n = chain_len(values, chains, 4)?;
    let rows: Vec<&[f64]> = values.chunks(n).collect();
    let means: Vec<f64> = rows.iter().map(|c| mean(c)).collect();
    let w = rows.iter().map(|c| variance(c)).sum::<f64>() / chains as f64;
    let b_over_n = variance(&means);
    let var_plus = (n as f64 - 1.0) / n as f64 * w + b_over_n;
    let total = (chains * n) as f64;
    if var_plus <= 0.0 {
        return Ok(total);
    }
    // Autocovariance at lag t averaged over chains (biased estimator, as BDA and Stan use).
    let autocov = |lag: usize| -> f64 {
        rows.iter()
            .zip(&means)
            .map(|(c, &m)| {
                (0..n - lag)
                    .map(|i| (c[i] - m) * (c[i + lag] - m))
                    .sum::<f64>()
                    / n as f64
            })
            .sum::<f64>()
            / chains as f64
    };
    let rho = |lag: usize| 1.0 - (w - autocov(lag)) / var_plus;
    // Geyer: sum pairs (rho_2k + rho_2k+1) while positive, forced non-increasing.
    let mut sum = 0.0;
    let mut previous = f64::INFINITY;
    let mut lag = 0;
    while lag + 1 < n {
        let pair = rho(lag) + rho(lag + 1);
        if pair <= 0.0 {
            break;
        }
        let pair = pair.min(previous);
        sum += pair;
        previous = pair;
        lag += 2;
    }
    // tau = -1 + 2 sum_{k>=0} (rho_2k + rho_2k+1), with rho_0 = 1.
    let tau = (2.0 * sum - 1.0).max(1.0 / total.log10().max(1.0));
    Ok((total / tau).min(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{rng_for, Stream};
    use rand::RngExt;
    use rand_distr::StandardNormal;

    fn ar1(phi: f64, chains: usize, n: usize, shift: f64) -> Vec<f64> {
        let mut out = Vec::new();
        for c in 0..chains {
            let mut r = rng_for(9, Stream::Read, c as u64);
            let mut x = 0.0;
            for _ in 0..n {
                let e: f64 = r.sample(StandardNormal);
                x = phi * x + e;
                out.push(x + shift * c as f64);
            }
        }
        out
    }

    #[test]
    fn rhat_near_one_for_agreeing_chains_and_large_for_shifted() {
        assert!((gelman_rubin(&ar1(0.0, 4, 2000, 0.0), 4).unwrap() - 1.0).abs() < 0.01);
        assert!(gelman_rubin(&ar1(0.0, 4, 2000, 3.0), 4).unwrap() > 2.0);
        assert_eq!(gelman_rubin(&[1.0; 10], 2).unwrap(), 1.0);
    }

    #[test]
    fn ess_matches_ar1_theory() {
        // AR(1) with phi: integrated autocorrelation time (1 + phi) / (1 - phi) = 3 for phi = 0.5.
        let ess = effective_sample_size(&ar1(0.5, 4, 20_000, 0.0), 4).unwrap();
        let want = 80_000.0 / 3.0;
        assert!((ess / want - 1.0).abs() < 0.1, "{ess} vs {want}");
        let iid = effective_sample_size(&ar1(0.0, 4, 5_000, 0.0), 4).unwrap();
        assert!((iid / 20_000.0 - 1.0).abs() < 0.1, "{iid}");
    }

    #[test]
    fn diagnostics_reject_bad_shapes() {
        assert!(gelman_rubin(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(gelman_rubin(&[1.0, 2.0], 1).is_err());
        assert!(effective_sample_size(&[1.0, f64::NAN, 1.0, 2.0, 0.0, 1.0, 2.0, 3.0], 2).is_err());
    }
}
