//! Plug-in information measures for discrete distributions and LLM logits, in nats.
//!
//! Row-wise measures read each row of a `rows x vocab` row-major matrix as one distribution, or as one
//! logit vector z with p = softmax(z / temperature):
//! * Shannon entropy H(p) = -sum_j p_j ln p_j = logsumexp(z) - sum_j p_j z_j, with 0 ln 0 = 0;
//! * cross-entropy H(p, q) = -sum_j p_j ln q_j and Kullback-Leibler KL(p || q) = sum_j p_j ln(p_j / q_j);
//! * Jensen-Shannon JS(p, q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2 (Lin 1991), in [0, ln 2];
//! * per-token negative log-likelihood -ln softmax(z)_target and perplexity exp(mean NLL).
//!
//! Logits may be -inf (probability exactly 0); NaN and +inf are rejected. Supports are exact: a finite logit
//! is a positive probability even where its exp underflows, so KL(p || q) is +inf whenever p has a finite
//! logit where q has -inf. Each row is computed sequentially after subtracting its maximum, rows run in
//! parallel with rayon, so results do not depend on the thread count.
//!
//! Plug-in (maximum-likelihood) estimators for integer series replace probabilities by frequencies of
//! counts c over N samples: H(X) = (1/N) sum_x c_x ln(N / c_x), I(X;Y) = (1/N) sum c_xy ln(N c_xy / (c_x c_y)),
//! I(X;Y|Z) = (1/N) sum c_xyz ln(c_xyz c_z / (c_xz c_yz)), and transfer entropy (Schreiber 2000)
//! TE_{X->Y} = I(X_past ; Y_{t+1} | Y_past) with the time alignment of JIDT's calculators
//! (see [`plugin_transfer_entropy`] and [`crate::embed`]). Symbols are arbitrary `i64` values, mapped to
//! dense codes by sorting, and integer count products are compared exactly, so independent exhaustive
//! products give exactly 0.

use crate::error::{invalid, Error, Result};
use crate::matrix::MatrixRef;
use rayon::prelude::*;
use std::f64::consts::LN_2;

/// Absolute tolerance on the row sums of [`entropy_from_probs`] with `normalize = false`.
pub const PROB_SUM_TOLERANCE: f64 = 1e-6;

fn check_temperature(temperature: f64) -> Result<()> {
    if temperature.is_finite() && temperature > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            "temperature",
            format!("must be finite and > 0, got {temperature}"),
        ))
    }
}

/// Rejects NaN and +inf ([`Error::NonFinite`]), logits that overflow when divided by `temperature`, and
/// rows without a finite logit; reports the first offence in row-major order.
fn check_logits(name: &'static str, m: MatrixRef<'_>, temperature: f64) -> Result<()> {
    m.data()
        .par_chunks(m.cols())
        .enumerate()
        .find_map_first(|(row, z)| {
            for (col, &v) in z.iter().enumerate() {
                if v.is_nan() || v == f64::INFINITY {
                    return Some(Error::NonFinite { name, row, col });
                }
                if v.is_finite() && (v / temperature).is_infinite() {
                    return Some(invalid(
                        "temperature",
                        format!(
                            "{name}[{row}, {col}] = {v} overflows when divided by {temperature}"
                        ),
                    ));
                }
            }
            z.iter()
                .all(|&v| v == f64::NEG_INFINITY)
                .then(|| invalid(name, format!("row {row} has no finite logit (all -inf)")))
        })
        .map_or(Ok(()), Err)
}

/// Shift and log-normaliser of a validated row: ln softmax(z / t)_j = (z_j / t - shift) - ln_sum.
#[inline]
fn row_lse(z: &[f64], t: f64) -> (f64, f64) {
    let shift = z.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v / t));
    let sum: f64 = z.iter().map(|&v| (v / t - shift).exp()).sum();
    (shift, sum.ln())
}

/// Per-row map of one or two validated matrices, in row order.
fn per_row(m: MatrixRef<'_>, f: impl Fn(&[f64]) -> f64 + Sync + Send) -> Vec<f64> {
    m.data().par_chunks(m.cols()).map(f).collect()
}

fn per_row_pair(
    p: MatrixRef<'_>,
    q: MatrixRef<'_>,
    f: impl Fn(&[f64], &[f64]) -> f64 + Sync + Send,
) -> Vec<f64> {
    let c = p.cols();
    p.data()
        .par_chunks(c)
        .zip(q.data().par_chunks(c))
        .map(|(a, b)| f(a, b))
        .collect()
}

/// Row-wise log-softmax of `logits / temperature`, same shape (row-major); -inf logits stay -inf.
///
/// Errors: `temperature` not finite and > 0, or a logit that overflows when divided by it
/// ([`Error::InvalidArgument`] naming `temperature`); NaN or +inf ([`Error::NonFinite`] naming `logits`);
/// a row of only -inf ([`Error::InvalidArgument`] naming `logits` and the row).
pub fn log_softmax(logits: MatrixRef<'_>, temperature: f64) -> Result<Vec<f64>> {
    check_temperature(temperature)?;
    check_logits("logits", logits, temperature)?;
    let c = logits.cols();
    let mut out = vec![0.0; logits.data().len()];
    out.par_chunks_mut(c)
        .zip(logits.data().par_chunks(c))
        .for_each(|(o, z)| {
            let (shift, ln_sum) = row_lse(z, temperature);
            for (o, &v) in o.iter_mut().zip(z) {
                *o = (v / temperature - shift) - ln_sum;
            }
        });
    Ok(out)
}

/// Row-wise softmax of `logits / temperature`, same shape; every row sums to 1. Errors as [`log_softmax`].
pub fn softmax(logits: MatrixRef<'_>, temperature: f64) -> Result<Vec<f64>> {
    let mut out = log_softmax(logits, temperature)?;
    out.par_iter_mut().for_each(|v| *v = v.exp());
    Ok(out)
}

/// Shannon entropy of softmax(`logits` / `temperature`), one value per row, in nats.
///
/// Computed as ln S - sum_j e_j d_j / S with d_j = z_j / t - max <= 0, e_j = exp(d_j), S = sum_j e_j, so
/// nothing overflows and -inf logits contribute 0. Errors as [`log_softmax`].
pub fn entropy_from_logits(logits: MatrixRef<'_>, temperature: f64) -> Result<Vec<f64>> {
    check_temperature(temperature)?;
    check_logits("logits", logits, temperature)?;
    Ok(per_row(logits, |z| {
        let shift = z
            .iter()
            .fold(f64::NEG_INFINITY, |a, &v| a.max(v / temperature));
        // One exp per logit: the normaliser and the weighted sum come from the same pass.
        let (mut sum, mut acc) = (0.0, 0.0);
        for &v in z.iter().filter(|&&v| v > f64::NEG_INFINITY) {
            let d = v / temperature - shift;
            let e = d.exp();
            sum += e;
            acc += e * d;
        }
        (sum.ln() - acc / sum).max(0.0)
    }))
}

/// Shannon entropy of each row of the probability matrix `p`, in nats, with 0 ln 0 = 0.
///
/// Entries must be finite ([`Error::NonFinite`] naming `p`) and >= 0 ([`Error::InvalidArgument`] naming `p`
/// with row and column). With `normalize = false` each row must sum to 1 within [`PROB_SUM_TOLERANCE`] and is
/// used as given; with `normalize = true` each row is divided by its sum, which must be > 0. A row breaking
/// either rule is an [`Error::InvalidArgument`] naming `p` and the row.
pub fn entropy_from_probs(p: MatrixRef<'_>, normalize: bool) -> Result<Vec<f64>> {
    p.check_finite("p")?;
    p.data()
        .par_chunks(p.cols())
        .enumerate()
        .find_map_first(|(row, r)| {
            if let Some(col) = r.iter().position(|&v| v < 0.0) {
                return Some(invalid(
                    "p",
                    format!("negative probability {} at row {row}, column {col}", r[col]),
                ));
            }
            let sum: f64 = r.iter().sum();
            if normalize && sum <= 0.0 {
                return Some(invalid(
                    "p",
                    format!("row {row} sums to 0 and cannot be normalised"),
                ));
            }
            if !normalize && (sum - 1.0).abs() > PROB_SUM_TOLERANCE {
                return Some(invalid(
                    "p",
                    format!("row {row} sums to {sum}, not 1 (pass normalize=true to renormalise)"),
                ));
            }
            None
        })
        .map_or(Ok(()), Err)?;
    Ok(per_row(p, |r| {
        // Dividing by the row maximum first keeps the sum finite (1 <= sum <= cols); probabilities that
        // underflow to 0 then contribute 0 (the limit of -p ln p), never NaN.
        let scale = if normalize {
            r.iter().fold(0.0_f64, |m, &v| m.max(v))
        } else {
            1.0
        };
        let sum: f64 = if normalize {
            r.iter().map(|&v| v / scale).sum()
        } else {
            1.0
        };
        let h: f64 = r
            .iter()
            .map(|&v| {
                let pj = v / scale / sum;
                if pj > 0.0 {
                    -pj * pj.ln()
                } else {
                    0.0
                }
            })
            .sum();
        h.max(0.0)
    }))
}

/// Validates a pair of logit matrices of equal shape, named `p_logits` and `q_logits`.
fn check_pair(p: MatrixRef<'_>, q: MatrixRef<'_>) -> Result<()> {
    if q.rows() != p.rows() {
        return Err(Error::LengthMismatch {
            name: "q_logits",
            got: q.rows(),
            other: "p_logits",
            expected: p.rows(),
        });
    }
    if q.cols() != p.cols() {
        let reason = format!("has {} columns but p_logits has {}", q.cols(), p.cols());
        return Err(invalid("q_logits", reason));
    }
    check_logits("p_logits", p, 1.0)?;
    check_logits("q_logits", q, 1.0)
}

/// Cross-entropy H(p, q) = -sum_j p_j ln q_j per row, p = softmax(`p_logits`), q = softmax(`q_logits`).
///
/// +inf where q_j = 0 (a -inf logit) but p_j > 0. Errors: `q_logits` with another number of rows
/// ([`Error::LengthMismatch`]) or columns ([`Error::InvalidArgument`]); non-finite logits as in
/// [`log_softmax`], naming `p_logits` or `q_logits`.
pub fn cross_entropy(p_logits: MatrixRef<'_>, q_logits: MatrixRef<'_>) -> Result<Vec<f64>> {
    check_pair(p_logits, q_logits)?;
    Ok(per_row_pair(p_logits, q_logits, |zp, zq| {
        let (sp, lp) = row_lse(zp, 1.0);
        let (sq, lq) = row_lse(zq, 1.0);
        let mut h = 0.0;
        for (&a, &b) in zp.iter().zip(zq).filter(|(&a, _)| a > f64::NEG_INFINITY) {
            if b == f64::NEG_INFINITY {
                return f64::INFINITY;
            }
            h -= ((a - sp) - lp).exp() * ((b - sq) - lq);
        }
        h.max(0.0)
    }))
}

/// Kullback-Leibler divergence KL(p || q) = sum_j p_j (ln p_j - ln q_j) per row, from logits; >= 0, and
/// +inf where q_j = 0 but p_j > 0. Errors as [`cross_entropy`].
pub fn kl_divergence(p_logits: MatrixRef<'_>, q_logits: MatrixRef<'_>) -> Result<Vec<f64>> {
    check_pair(p_logits, q_logits)?;
    Ok(per_row_pair(p_logits, q_logits, |zp, zq| {
        let (sp, lp) = row_lse(zp, 1.0);
        let (sq, lq) = row_lse(zq, 1.0);
        let mut kl = 0.0;
        for (&a, &b) in zp.iter().zip(zq).filter(|(&a, _)| a > f64::NEG_INFINITY) {
            if b == f64::NEG_INFINITY {
                return f64::INFINITY;
            }
            let log_p = (a - sp) - lp;
            kl += log_p.exp() * (log_p - ((b - sq) - lq));
        }
        kl.max(0.0)
    }))
}

/// ln(1 + e^x) without overflow; 0 at -inf.
#[inline]
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Jensen-Shannon divergence per row, from logits, in [0, ln 2]; symmetric in its arguments.
///
/// Evaluated in the log domain: ln(p_j / m_j) = ln 2 - softplus(ln q_j - ln p_j), so disjoint supports give
/// exactly ln 2 and identical rows exactly 0. Errors as [`cross_entropy`].
pub fn js_divergence(p_logits: MatrixRef<'_>, q_logits: MatrixRef<'_>) -> Result<Vec<f64>> {
    check_pair(p_logits, q_logits)?;
    Ok(per_row_pair(p_logits, q_logits, |zp, zq| {
        let (sp, lp) = row_lse(zp, 1.0);
        let (sq, lq) = row_lse(zq, 1.0);
        let mut js = 0.0;
        for (&a, &b) in zp.iter().zip(zq) {
            let (log_p, log_q) = ((a - sp) - lp, (b - sq) - lq);
            js += match (a > f64::NEG_INFINITY, b > f64::NEG_INFINITY) {
                (true, true) => {
                    // softplus(-x) = softplus(x) - x, so one softplus serves both terms.
                    let x = log_q - log_p;
                    let s = softplus(x);
                    log_p.exp() * (LN_2 - s) + log_q.exp() * (LN_2 - s + x)
                }
                (true, false) => log_p.exp() * LN_2,
                (false, true) => log_q.exp() * LN_2,
                (false, false) => 0.0,
            };
        }
        (0.5 * js).clamp(0.0, LN_2)
    }))
}

/// Negative log-likelihood -ln softmax(`logits` row r)[`targets[r]`] per row (+inf on a -inf logit).
///
/// Errors: `targets.len() != rows` ([`Error::LengthMismatch`] naming `targets`); a target outside
/// `[0, vocab)` ([`Error::InvalidArgument`] naming `targets` and the row); logits as in [`log_softmax`].
pub fn cross_entropy_targets(logits: MatrixRef<'_>, targets: &[i64]) -> Result<Vec<f64>> {
    if targets.len() != logits.rows() {
        return Err(Error::LengthMismatch {
            name: "targets",
            got: targets.len(),
            other: "logits",
            expected: logits.rows(),
        });
    }
    let vocab = logits.cols();
    if let Some((row, &t)) = targets
        .iter()
        .enumerate()
        .find(|(_, &t)| usize::try_from(t).map_or(true, |t| t >= vocab))
    {
        return Err(invalid(
            "targets",
            format!("row {row}: target {t} is outside [0, {vocab})"),
        ));
    }
    check_logits("logits", logits, 1.0)?;
    Ok(logits
        .data()
        .par_chunks(vocab)
        .zip(targets.par_iter())
        .map(|(z, &t)| {
            let (shift, ln_sum) = row_lse(z, 1.0);
            ln_sum - (z[t as usize] - shift)
        })
        .collect())
}

/// Perplexity exp(mean NLL) of `targets` under `logits` (see [`cross_entropy_targets`]); the mean is summed
/// in row order. Errors as [`cross_entropy_targets`], plus [`Error::TooFewSamples`] naming `logits` when
/// there are no rows.
pub fn perplexity(logits: MatrixRef<'_>, targets: &[i64]) -> Result<f64> {
    let nll = cross_entropy_targets(logits, targets)?;
    if nll.is_empty() {
        return Err(Error::TooFewSamples {
            name: "logits",
            reason: "perplexity needs at least one row".into(),
        });
    }
    Ok((nll.iter().sum::<f64>() / nll.len() as f64).exp())
}

/// Dense codes `0..n_distinct` (in sorted key order) of `keys` and the count of each code.
fn densify<K: Ord + Copy + Send + Sync>(keys: &[K]) -> (Vec<usize>, Vec<u64>) {
    let mut uniq = keys.to_vec();
    uniq.par_sort_unstable();
    uniq.dedup();
    let codes: Vec<usize> = keys
        .par_iter()
        .map(|k| uniq.binary_search(k).unwrap_or_else(|i| i))
        .collect();
    let mut counts = vec![0u64; uniq.len()];
    for &c in &codes {
        counts[c] += 1;
    }
    (codes, counts)
}

fn pairs(a: &[usize], b: &[usize]) -> (Vec<usize>, Vec<u64>) {
    let keys: Vec<(usize, usize)> = a.iter().copied().zip(b.iter().copied()).collect();
    densify(&keys)
}

/// Plug-in I(X;Y|Z) of dense codes: (1/N) sum over cells of c_xyz ln(c_xyz c_z / (c_xz c_yz)). Count
/// products are formed in integers, so a conditionally independent table gives ln(1) = 0 exactly.
fn cmi_codes(x: &[usize], y: &[usize], z: &[usize]) -> f64 {
    let n = x.len();
    let (xz, c_xz) = pairs(x, z);
    let (yz, c_yz) = pairs(y, z);
    let (xyz, c_xyz) = pairs(&xz, y);
    let mut c_z = vec![0u64; z.iter().max().map_or(0, |m| m + 1)];
    for &v in z {
        c_z[v] += 1;
    }
    let mut rep = vec![usize::MAX; c_xyz.len()];
    for (i, &c) in xyz.iter().enumerate() {
        if rep[c] == usize::MAX {
            rep[c] = i;
        }
    }
    let sum: f64 = rep
        .iter()
        .zip(&c_xyz)
        .map(|(&i, &c)| {
            let num = u128::from(c) * u128::from(c_z[z[i]]);
            let den = u128::from(c_xz[xz[i]]) * u128::from(c_yz[yz[i]]);
            c as f64 * (num as f64 / den as f64).ln()
        })
        .sum();
    (sum / n as f64).max(0.0)
}

fn check_series(pairs: &[(&'static str, &[i64])]) -> Result<usize> {
    let (first_name, first) = pairs[0];
    for &(name, s) in &pairs[1..] {
        if s.len() != first.len() {
            return Err(Error::LengthMismatch {
                name,
                got: s.len(),
                other: first_name,
                expected: first.len(),
            });
        }
    }
    if first.is_empty() {
        return Err(Error::TooFewSamples {
            name: first_name,
            reason: "needs at least one sample".into(),
        });
    }
    Ok(first.len())
}

/// Plug-in Shannon entropy (nats) of the symbols in `x`: (1/N) sum_x c_x ln(N / c_x).
///
/// Errors: empty `x` ([`Error::TooFewSamples`] naming `x`).
pub fn plugin_entropy(x: &[i64]) -> Result<f64> {
    let n = check_series(&[("x", x)])? as f64;
    let (_, counts) = densify(x);
    let h: f64 = counts.iter().map(|&c| c as f64 * (n / c as f64).ln()).sum();
    Ok((h / n).max(0.0))
}

/// Plug-in mutual information I(X;Y) = sum p(x,y) ln(p(x,y) / (p(x) p(y))) of paired symbol series.
///
/// Errors: `y` of another length ([`Error::LengthMismatch`] naming `y`); empty input
/// ([`Error::TooFewSamples`] naming `x`).
pub fn plugin_mutual_information(x: &[i64], y: &[i64]) -> Result<f64> {
    let n = check_series(&[("x", x), ("y", y)])?;
    Ok(cmi_codes(&densify(x).0, &densify(y).0, &vec![0; n]))
}

/// Plug-in conditional mutual information I(X;Y|Z) of paired symbol series.
///
/// Errors: `y` or `z` of another length than `x` ([`Error::LengthMismatch`] naming it); empty input
/// ([`Error::TooFewSamples`] naming `x`).
pub fn plugin_conditional_mutual_information(x: &[i64], y: &[i64], z: &[i64]) -> Result<f64> {
    check_series(&[("x", x), ("y", y), ("z", z)])?;
    Ok(cmi_codes(&densify(x).0, &densify(y).0, &densify(z).0))
}

/// Plug-in transfer entropy TE_{source -> target} = I(X_past ; Y_{t+1} | Y_past) in nats.
///
/// JIDT alignment: with s = max(k - 1, l - 1 + delay - 1), samples are t = s..=T-2 (N = T - 1 - s), the
/// target past is `target[t-k+1..=t]`, the source past `source[t+1-delay-l+1..=t+1-delay]` and the next
/// value `target[t+1]`; each past vector is one joint symbol.
///
/// Errors: `k_history`, `l_history` or `delay` < 1 ([`Error::InvalidArgument`] naming it); `target` of
/// another length than `source` ([`Error::LengthMismatch`] naming `target`); a series too short for one
/// sample, T < s + 2 ([`Error::TooFewSamples`] naming `source` when its history and delay set s, else
/// `target`).
pub fn plugin_transfer_entropy(
    source: &[i64],
    target: &[i64],
    k_history: usize,
    l_history: usize,
    delay: usize,
) -> Result<f64> {
    for (name, v) in [
        ("k_history", k_history),
        ("l_history", l_history),
        ("delay", delay),
    ] {
        if v < 1 {
            return Err(invalid(name, format!("must be at least 1, got {v}")));
        }
    }
    if target.len() != source.len() {
        return Err(Error::LengthMismatch {
            name: "target",
            got: target.len(),
            other: "source",
            expected: source.len(),
        });
    }
    let t_len = target.len();
    let (first_target, first_source) = (k_history - 1, (l_history - 1).saturating_add(delay - 1));
    let first = first_target.max(first_source);
    if t_len < first.saturating_add(2) {
        return Err(Error::TooFewSamples {
            name: if first_source > first_target {
                "source"
            } else {
                "target"
            },
            reason: format!(
                "a series of length {t_len} leaves no sample: k_history = {k_history}, l_history = \
                 {l_history}, delay = {delay} need at least {} values",
                first.saturating_add(2)
            ),
        });
    }
    let (xs, _) = densify(source);
    let (ys, _) = densify(target);
    let times = first..t_len - 1;
    let target_past: Vec<&[usize]> = times.clone().map(|t| &ys[t + 1 - k_history..=t]).collect();
    let source_past: Vec<&[usize]> = times
        .clone()
        .map(|t| &xs[t + 2 - delay - l_history..=t + 1 - delay])
        .collect();
    let next: Vec<usize> = times.map(|t| ys[t + 1]).collect();
    Ok(cmi_codes(
        &densify(&source_past).0,
        &next,
        &densify(&target_past).0,
    ))
}
