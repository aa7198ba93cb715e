//! Transfer entropy (Schreiber 2000) and active information storage (Lizier et al. 2012) with KSG estimators.
//!
//! TE(X -> Y) = I(X_past ; Y_{t+1} | Y_past [, C]) estimated by the Frenzel-Pompe KSG conditional MI over the
//! time-delay embeddings of [`crate::embed`]; AIS(Y) = I(Y_past ; Y_{t+1}) by KSG MI. Both follow JIDT's
//! `TransferEntropyCalculatorKraskov` / `ActiveInfoStorageCalculatorKraskov` sample alignment.

use crate::embed::{check_length, embed_past, TeEmbedding};
use crate::error::{invalid, Result};
use crate::gpu::Compute;
use crate::ksg::{
    check_inputs, cmi_of_joint, cmi_of_joint_cpu, local_cmi_of_joint, local_mutual_information,
    mutual_information, Algorithm, KsgOptions,
};
use crate::matrix::{check_same_rows, Matrix, MatrixRef};

/// Conditioning series for a conditional transfer entropy: one value per series at `t + 1 - delay`.
#[derive(Debug, Clone, Copy)]
pub struct Conditionals<'a> {
    /// `T x m` matrix of m conditioning series.
    pub series: MatrixRef<'a>,
    /// Delay of each conditioning series (length m, each >= 1; 1 means C_t).
    pub delays: &'a [usize],
}

/// The embedded variables of a TE estimate: `[source past | target next | target past, conditionals]`.
#[derive(Debug, Clone)]
pub struct TeSamples {
    /// Joint matrix with the three variable groups side by side.
    pub joint: Matrix,
    /// Column widths of source past, target next, and conditioning set.
    pub widths: [usize; 3],
}

impl TeSamples {
    /// Where this estimate can run: see [`crate::gpu::work`].
    pub fn work(&self, k: usize) -> crate::gpu::Work {
        crate::gpu::work(self.joint.view().rows(), self.joint.view().cols(), k)
    }

    /// Builds the embedding, checking lengths and parameters.
    pub fn new(
        source: MatrixRef<'_>,
        target: MatrixRef<'_>,
        emb: &TeEmbedding,
        conditionals: Option<Conditionals<'_>>,
        k: usize,
    ) -> Result<Self> {
        emb.validate()?;
        let mut inputs = vec![("source", source), ("target", target)];
        if let Some(c) = &conditionals {
            inputs.push(("conditionals", c.series));
            if c.delays.len() != c.series.cols() {
                return Err(invalid(
                    "cond_delays",
                    format!(
                        "has {} entries for {} conditional series",
                        c.delays.len(),
                        c.series.cols()
                    ),
                ));
            }
            if let Some(&d) = c.delays.iter().find(|&&d| d < 1) {
                return Err(invalid(
                    "cond_delays",
                    format!("each must be at least 1, got {d}"),
                ));
            }
        }
        if k < 1 {
            return Err(invalid("k", "must be at least 1"));
        }
        // Lengths and finiteness here; whether N exceeds k is checked on the embedded length below.
        let t_len = check_same_rows(&inputs)?;
        let max_cd = conditionals.map_or(0, |c| c.delays.iter().copied().max().unwrap_or(0));
        let first = emb.first_time(max_cd)?;
        check_length("target", t_len, first, k)?;
        let src = embed_past(source, emb.l_history, emb.l_tau, emb.delay, first);
        let next = embed_past(target, 1, 1, 0, first);
        let past = embed_past(target, emb.k_history, emb.k_tau, 1, first);
        let mut z_parts = vec![past];
        if let Some(c) = conditionals {
            for (col, &d) in c.delays.iter().enumerate() {
                let one: Vec<f64> = (0..t_len).map(|t| c.series.get(t, col)).collect();
                let view = MatrixRef::column("conditionals", &one)?;
                z_parts.push(embed_past(view, 1, 1, d, first));
            }
        }
        let z_views: Vec<MatrixRef<'_>> = z_parts.iter().map(Matrix::view).collect();
        let z = Matrix::hstack(&z_views);
        let widths = [src.view().cols(), next.view().cols(), z.view().cols()];
        let joint = Matrix::hstack(&[src.view(), next.view(), z.view()]);
        Ok(Self { joint, widths })
    }

    /// The samples of several trials (replications) pooled into one estimate: ensemble TE, as JIDT's
    /// calculators do with several observation sets. Every trial needs the same embedding widths.
    pub fn pooled(trials: Vec<TeSamples>) -> Result<Self> {
        let first = trials
            .first()
            .ok_or_else(|| invalid("sources", "needs at least one trial"))?;
        let widths = first.widths;
        if let Some(t) = trials.iter().position(|t| t.widths != widths) {
            return Err(invalid(
                "sources",
                format!("trial {t} has other column counts than trial 0"),
            ));
        }
        let cols = first.joint.view().cols();
        let rows = trials.iter().map(|t| t.joint.view().rows()).sum();
        let mut data = Vec::with_capacity(rows * cols);
        for t in &trials {
            data.extend_from_slice(t.joint.view().data());
        }
        Ok(Self {
            joint: Matrix::from_vec(data, rows, cols),
            widths,
        })
    }

    /// Number of embedded samples N.
    pub fn len(&self) -> usize {
        self.joint.view().rows()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// KSG estimate of the conditional MI over these samples.
    pub fn estimate(&self, k: usize, algorithm: Algorithm) -> f64 {
        cmi_of_joint_cpu(self.joint.view(), self.widths, k, algorithm)
    }

    /// Local (pointwise) TE of every embedded sample, in time order: entry `i` belongs to the target's
    /// value at `first + 1 + i` (`first` as in [`crate::embed`]); their mean is [`TeSamples::estimate`].
    pub fn local(&self, k: usize, algorithm: Algorithm, options: KsgOptions) -> Result<Vec<f64>> {
        local_cmi_of_joint(self.joint.view(), self.widths, k, algorithm, options)
    }

    /// [`TeSamples::estimate`] with a Theiler window or another norm (`options`), on the exact scan.
    pub fn estimate_with(
        &self,
        k: usize,
        algorithm: Algorithm,
        options: KsgOptions,
    ) -> Result<f64> {
        let local = self.local(k, algorithm, options)?;
        Ok(local.iter().sum::<f64>() / local.len() as f64)
    }

    /// [`TeSamples::estimate`] with the neighbour searches on `compute`.
    pub fn estimate_on(&self, k: usize, algorithm: Algorithm, compute: &Compute) -> Result<f64> {
        cmi_of_joint(self.joint.view(), self.widths, k, algorithm, compute)
    }
}

/// KSG transfer entropy from `source` to `target` in nats.
pub fn transfer_entropy(
    source: MatrixRef<'_>,
    target: MatrixRef<'_>,
    emb: &TeEmbedding,
    conditionals: Option<Conditionals<'_>>,
    k: usize,
    algorithm: Algorithm,
) -> Result<f64> {
    Ok(TeSamples::new(source, target, emb, conditionals, k)?.estimate(k, algorithm))
}

/// The (past, next) samples of an active-information-storage estimate.
pub fn ais_samples(
    x: MatrixRef<'_>,
    k_history: usize,
    k_tau: usize,
    k: usize,
) -> Result<(Matrix, Matrix)> {
    if k_history < 1 {
        return Err(invalid("k_history", "must be at least 1"));
    }
    if k_tau < 1 {
        return Err(invalid("k_tau", "must be at least 1"));
    }
    check_inputs(&[("x", x)], 1)?;
    let first = crate::embed::span("k_history", k_history, k_tau)?;
    check_length("x", x.rows(), first, k)?;
    Ok((
        embed_past(x, k_history, k_tau, 1, first),
        embed_past(x, 1, 1, 0, first),
    ))
}

/// KSG active information storage I(X_past^(k) ; X_{t+1}) in nats.
pub fn active_information_storage(
    x: MatrixRef<'_>,
    k_history: usize,
    k_tau: usize,
    k: usize,
    algorithm: Algorithm,
) -> Result<f64> {
    let (past, next) = ais_samples(x, k_history, k_tau, k)?;
    mutual_information(past.view(), next.view(), k, algorithm)
}

/// Local (pointwise) active information storage of every embedded sample, in time order (entry `i`
/// belongs to `x[(k_history - 1) * k_tau + 1 + i]`); their mean is [`active_information_storage`].
pub fn local_active_information_storage(
    x: MatrixRef<'_>,
    k_history: usize,
    k_tau: usize,
    k: usize,
    algorithm: Algorithm,
    options: KsgOptions,
) -> Result<Vec<f64>> {
    let (past, next) = ais_samples(x, k_history, k_tau, k)?;
    local_mutual_information(past.view(), next.view(), k, algorithm, options)
}
