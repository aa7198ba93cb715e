//! Multivariate transfer-entropy network inference with IDTxl's greedy algorithm (Lizier & Rubinov
//! 2012; Novelli, Wollstadt et al. 2019, "Large-scale directed network inference with multivariate
//! transfer entropy and hierarchical statistical testing").
//!
//! For each target, with every variable a (process, lag) pair read at `t - lag` against the target's
//! current value at `t`:
//! 1. the target's own past is selected greedily: the candidate with the largest CMI with the current
//!    value given what is selected so far enters while it passes the *maximum statistic* (its CMI
//!    against the maximum over all remaining candidates of their surrogate CMIs);
//! 2. the other processes' past is selected the same way, conditioned on everything selected;
//! 3. selected sources are pruned: the one with the smallest CMI given all the others is removed while
//!    it fails the *minimum statistic* (against the minimum over the selected of their surrogates);
//! 4. the *omnibus test*: the TE of all selected sources together, against surrogates that permute them
//!    jointly;
//! 5. if it passes, the *sequential maximum statistic*: the sources' CMIs given all other selected
//!    variables, in decreasing order, each against the distribution of the same rank over surrogates;
//!    the first failure ends the list.
//!
//! Surrogates permute a variable's realisations within each replication (trial), which keeps its
//! distribution and the trial structure and destroys its relation to the current value (or rotate
//! them, or shuffle blocks of them: [`Surrogates`]). p-values are
//! (1 + #{surrogate >= value}) / (1 + n) as everywhere in this crate; a test passes when p < alpha.

use crate::error::{invalid, Error, Result};
use crate::ksg::{cmi_of_joint, cmi_of_joint_cpu, mi_from_counts, mi_problem, Algorithm};
use crate::matrix::{Matrix, MatrixRef};
use crate::network::{benjamini_hochberg, derive_seed};
use crate::significance::{permutation_p_value as p_value, Surrogates};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use thermoconsensus_runtime::Progress;

/// One variable of the network: the value of `process` at `lag` steps before the target's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Variable {
    /// Column of the data.
    pub process: usize,
    /// Steps into the past, at least 1.
    pub lag: usize,
}

/// Settings of [`multivariate_te`]; the defaults are IDTxl's except the lags, which IDTxl requires.
///
/// Where this differs from IDTxl 1.6: p-values are (1 + #{>=}) / (1 + n) rather than #{>=} / n (at
/// n = 100 and alpha = 0.05 both pass with at most 4 surrogates at or above the value); the minimum
/// statistic conditions each selected source on all the others, where IDTxl's surrogate table uses
/// one conditioning set that holds the other sources' own values (which makes its pruning lenient).
#[derive(Debug, Clone, PartialEq)]
pub struct MultivariateTeSettings {
    /// Largest source lag considered.
    pub max_lag_sources: usize,
    /// Smallest source lag considered (>= 1).
    pub min_lag_sources: usize,
    /// Spacing of the source lags.
    pub tau_sources: usize,
    /// Largest target lag considered (the target's past: lags 1, 1 + tau_target, ...).
    pub max_lag_target: usize,
    /// Spacing of the target lags.
    pub tau_target: usize,
    /// Nearest neighbours of the KSG estimator.
    pub k: usize,
    /// KSG algorithm.
    pub algorithm: Algorithm,
    /// Surrogates of the maximum statistic (selection).
    pub n_perm_max_stat: usize,
    /// Surrogates of the minimum statistic (pruning).
    pub n_perm_min_stat: usize,
    /// Surrogates of the omnibus test.
    pub n_perm_omnibus: usize,
    /// Surrogates of the sequential maximum statistic.
    pub n_perm_max_seq: usize,
    /// Level of the maximum statistic.
    pub alpha_max_stat: f64,
    /// Level of the minimum statistic.
    pub alpha_min_stat: f64,
    /// Level of the omnibus test.
    pub alpha_omnibus: f64,
    /// Level of the sequential maximum statistic.
    pub alpha_max_seq: f64,
    /// How surrogates reorder a variable's samples (within each replication).
    pub surrogates: Surrogates,
    /// Seed of every permutation.
    pub seed: u64,
}

impl Default for MultivariateTeSettings {
    fn default() -> Self {
        Self {
            max_lag_sources: 5,
            min_lag_sources: 1,
            tau_sources: 1,
            max_lag_target: 5,
            tau_target: 1,
            k: 4,
            algorithm: Algorithm::One,
            n_perm_max_stat: 200,
            n_perm_min_stat: 500,
            n_perm_omnibus: 500,
            n_perm_max_seq: 500,
            alpha_max_stat: 0.05,
            alpha_min_stat: 0.05,
            alpha_omnibus: 0.05,
            alpha_max_seq: 0.05,
            surrogates: Surrogates::Permutation,
            seed: 0,
        }
    }
}

impl MultivariateTeSettings {
    fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("max_lag_sources", self.max_lag_sources),
            ("min_lag_sources", self.min_lag_sources),
            ("tau_sources", self.tau_sources),
            ("max_lag_target", self.max_lag_target),
            ("tau_target", self.tau_target),
            ("k", self.k),
        ] {
            if v < 1 {
                return Err(invalid(name, format!("must be at least 1, got {v}")));
            }
        }
        if self.min_lag_sources > self.max_lag_sources {
            return Err(invalid(
                "min_lag_sources",
                format!(
                    "must not exceed max_lag_sources = {}, got {}",
                    self.max_lag_sources, self.min_lag_sources
                ),
            ));
        }
        for (name, n) in [
            ("n_perm_max_stat", self.n_perm_max_stat),
            ("n_perm_min_stat", self.n_perm_min_stat),
            ("n_perm_omnibus", self.n_perm_omnibus),
            ("n_perm_max_seq", self.n_perm_max_seq),
        ] {
            if !(1..=crate::significance::MAX_SURROGATES).contains(&n) {
                return Err(invalid(
                    name,
                    format!(
                        "must be in 1..={}, got {n}",
                        crate::significance::MAX_SURROGATES
                    ),
                ));
            }
        }
        for (name, a, perm_name, n) in [
            (
                "alpha_max_stat",
                self.alpha_max_stat,
                "n_perm_max_stat",
                self.n_perm_max_stat,
            ),
            (
                "alpha_min_stat",
                self.alpha_min_stat,
                "n_perm_min_stat",
                self.n_perm_min_stat,
            ),
            (
                "alpha_omnibus",
                self.alpha_omnibus,
                "n_perm_omnibus",
                self.n_perm_omnibus,
            ),
            (
                "alpha_max_seq",
                self.alpha_max_seq,
                "n_perm_max_seq",
                self.n_perm_max_seq,
            ),
        ] {
            if !(a > 0.0 && a <= 1.0) {
                return Err(invalid(name, format!("must be in (0, 1], got {a}")));
            }
            // The smallest p-value n surrogates can give is 1 / (n + 1); a test it cannot pass would
            // silently find nothing.
            let smallest = 1.0 / (n + 1) as f64;
            if smallest >= a {
                let needed = (1.0 / a).floor() as usize;
                return Err(invalid(
                    perm_name,
                    format!(
                        "{n} surrogates give p-values of at least 1/{} = {smallest:.4}, which can never pass \
                         {name} = {a}; use at least {needed}",
                        n + 1
                    ),
                ));
            }
        }
        Ok(())
    }

    fn max_lag(&self) -> usize {
        self.max_lag_sources.max(self.max_lag_target)
    }
}

/// What the inference found for one target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetResult {
    /// The target's column.
    pub target: usize,
    /// The target's own past that was selected (the conditioning set of every source test).
    pub target_past: Vec<Variable>,
    /// Source variables that passed every test, strongest first.
    pub sources: Vec<Variable>,
    /// CMI (nats) of each entry of `sources` with the current value given all other selected variables.
    pub source_te: Vec<f64>,
    /// Sequential maximum-statistic p-value of each entry of `sources`.
    pub source_p: Vec<f64>,
    /// TE (nats) of all selected sources together given the selected target past; 0 without sources.
    pub omnibus_te: f64,
    /// p-value of the omnibus test; 1 without sources.
    pub omnibus_p: f64,
    /// Number of estimates this target took (observed and surrogate), for cost accounting.
    pub estimates: usize,
}

/// Realisations of every variable for one target: the current values at t = max_lag..T-1 of every
/// replication, pooled, and the ranges of each replication (permutations stay inside them).
struct Pool<'a> {
    data: &'a [MatrixRef<'a>],
    max_lag: usize,
    ranges: Vec<(usize, usize)>,
    n: usize,
}

impl<'a> Pool<'a> {
    fn new(data: &'a [MatrixRef<'a>], max_lag: usize) -> Self {
        let mut ranges = Vec::with_capacity(data.len());
        let mut n = 0;
        for r in data {
            let len = r.rows() - max_lag;
            ranges.push((n, n + len));
            n += len;
        }
        Self {
            data,
            max_lag,
            ranges,
            n,
        }
    }

    /// The realisations of `process` at `lag` (0: the current value), pooled over replications.
    fn column(&self, process: usize, lag: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.n);
        for r in self.data {
            out.extend((self.max_lag..r.rows()).map(|t| r.get(t - lag, process)));
        }
        out
    }

    /// Surrogate reordering `s` of the stream seeded by `seed`, within each replication.
    fn permutation(&self, kind: &Surrogates, seed: u64, s: usize) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(s as u64);
        let mut perm = Vec::with_capacity(self.n);
        for &(a, b) in &self.ranges {
            perm.extend(kind.draw(b - a, &mut rng).into_iter().map(|i| a + i));
        }
        perm
    }
}

/// The joint `[a | b | cond...]` of columns, row-major.
fn joint(a: &[&[f64]], b: &[f64], cond: &[&[f64]]) -> Matrix {
    let n = b.len();
    let w = a.len() + 1 + cond.len();
    let mut data = Vec::with_capacity(n * w);
    for i in 0..n {
        data.extend(a.iter().map(|c| c[i]));
        data.push(b[i]);
        data.extend(cond.iter().map(|c| c[i]));
    }
    Matrix::from_vec(data, n, w)
}

/// I(a ; b | cond) (MI when `cond` is empty); `checked` refuses heavily tied data (observed values),
/// surrogates skip the check, as their ties are the observed ones.
fn cmi(
    a: &[&[f64]],
    b: &[f64],
    cond: &[&[f64]],
    k: usize,
    algorithm: Algorithm,
    checked: bool,
) -> Result<f64> {
    let j = joint(a, b, cond);
    if cond.is_empty() {
        if checked {
            crate::ksg::check_ties(j.view(), k, "data")?;
        }
        let problem = mi_problem([a.len(), 1]);
        let counts = crate::ksg::neighbour_counts(j.view(), &problem, k, algorithm);
        return Ok(mi_from_counts(&counts, b.len(), k, algorithm));
    }
    let widths = [a.len(), 1, cond.len()];
    if checked {
        cmi_of_joint(j.view(), widths, k, algorithm, &crate::gpu::Compute::Cpu)
    } else {
        Ok(cmi_of_joint_cpu(j.view(), widths, k, algorithm))
    }
}

/// The inference for one target.
struct TargetSearch<'a> {
    pool: Pool<'a>,
    settings: &'a MultivariateTeSettings,
    target: usize,
    current: Vec<f64>,
    columns: std::collections::HashMap<Variable, Vec<f64>>,
    selected: Vec<Variable>,
    estimates: usize,
    progress: Option<&'a Progress>,
}

/// Stages of the search, for the seeds of their permutations.
#[derive(Clone, Copy)]
enum Stage {
    Target = 0,
    Sources = 1,
    Prune = 2,
    Omnibus = 3,
    Sequential = 4,
}

impl<'a> TargetSearch<'a> {
    fn column(&self, v: Variable) -> &[f64] {
        &self.columns[&v]
    }

    fn seed(&self, stage: Stage, step: usize, var: usize) -> u64 {
        let s = derive_seed(self.settings.seed, self.target as u64);
        let s = derive_seed(s, (stage as u64) << 32 | step as u64);
        derive_seed(s, var as u64)
    }

    fn check(&self) -> Result<()> {
        self.progress
            .map_or(Ok(()), |p| p.check().map_err(Error::from))
    }

    /// CMI of `vars` (jointly) with the current value given `cond`, observed.
    fn value(&mut self, vars: &[Variable], cond: &[Variable]) -> Result<f64> {
        self.estimates += 1;
        let a: Vec<&[f64]> = vars.iter().map(|&v| self.column(v)).collect();
        let c: Vec<&[f64]> = cond.iter().map(|&v| self.column(v)).collect();
        let s = self.settings;
        cmi(&a, &self.current, &c, s.k, s.algorithm, true)
    }

    /// Surrogate CMIs of each of `tests` (vars permuted jointly, condition) over `n_perm` permutations:
    /// row t holds test t's surrogates. All (test, surrogate) pairs run in parallel.
    fn surrogate_table(
        &mut self,
        tests: &[(Vec<Variable>, Vec<Variable>)],
        n_perm: usize,
        stage: Stage,
        step: usize,
    ) -> Result<Vec<Vec<f64>>> {
        self.check()?;
        self.estimates += tests.len() * n_perm;
        let s = self.settings;
        let jobs: Vec<(usize, usize)> = (0..tests.len())
            .flat_map(|t| (0..n_perm).map(move |p| (t, p)))
            .collect();
        let this = &*self;
        let flat: Vec<f64> = jobs
            .par_iter()
            .map(|&(t, p)| {
                let (vars, cond) = &tests[t];
                let perm = this
                    .pool
                    .permutation(&s.surrogates, this.seed(stage, step, t), p);
                let shuffled: Vec<Vec<f64>> = vars
                    .iter()
                    .map(|&v| {
                        let col = this.column(v);
                        perm.iter().map(|&i| col[i]).collect()
                    })
                    .collect();
                let a: Vec<&[f64]> = shuffled.iter().map(Vec::as_slice).collect();
                let c: Vec<&[f64]> = cond.iter().map(|&v| this.column(v)).collect();
                cmi(&a, &this.current, &c, s.k, s.algorithm, false)
            })
            .collect::<Result<_>>()?;
        Ok(flat.chunks_exact(n_perm).map(<[f64]>::to_vec).collect())
    }

    /// Step 1 and 2: adds candidates greedily while the best passes the maximum statistic.
    fn include(&mut self, mut candidates: Vec<Variable>, stage: Stage) -> Result<usize> {
        let mut added = 0;
        let s = self.settings;
        while !candidates.is_empty() {
            let cond = self.selected.clone();
            let values: Vec<f64> = candidates
                .iter()
                .map(|&c| self.value(&[c], &cond))
                .collect::<Result<_>>()?;
            let best = (0..values.len())
                .max_by(|&a, &b| values[a].total_cmp(&values[b]).then(b.cmp(&a)))
                .unwrap_or(0);
            let tests: Vec<_> = candidates
                .iter()
                .map(|&c| (vec![c], cond.clone()))
                .collect();
            let table = self.surrogate_table(&tests, s.n_perm_max_stat, stage, added)?;
            let max_null = (0..s.n_perm_max_stat)
                .map(|p| table.iter().map(|row| row[p]).fold(f64::MIN, f64::max));
            if p_value(values[best], max_null) >= s.alpha_max_stat {
                break;
            }
            self.selected.push(candidates.remove(best));
            added += 1;
        }
        Ok(added)
    }

    /// The selected variables other than `v`.
    fn others(&self, v: Variable) -> Vec<Variable> {
        self.selected.iter().copied().filter(|&o| o != v).collect()
    }

    fn selected_sources(&self) -> Vec<Variable> {
        self.selected
            .iter()
            .copied()
            .filter(|v| v.process != self.target)
            .collect()
    }

    /// Step 3: removes the weakest selected source while it fails the minimum statistic.
    fn prune(&mut self) -> Result<()> {
        let s = self.settings;
        let mut step = 0;
        loop {
            let sources = self.selected_sources();
            // As IDTxl: a lone source is left to the omnibus test, which tests exactly it.
            if sources.len() < 2 {
                return Ok(());
            }
            let tests: Vec<_> = sources.iter().map(|&v| (vec![v], self.others(v))).collect();
            let values: Vec<f64> = tests
                .iter()
                .map(|(v, c)| self.value(v, c))
                .collect::<Result<_>>()?;
            let weakest = (0..values.len())
                .min_by(|&a, &b| values[a].total_cmp(&values[b]))
                .unwrap_or(0);
            let table = self.surrogate_table(&tests, s.n_perm_min_stat, Stage::Prune, step)?;
            let min_null = (0..s.n_perm_min_stat)
                .map(|p| table.iter().map(|row| row[p]).fold(f64::MAX, f64::min));
            if p_value(values[weakest], min_null) < s.alpha_min_stat {
                return Ok(());
            }
            let gone = sources[weakest];
            self.selected.retain(|&v| v != gone);
            step += 1;
        }
    }

    /// Steps 4 and 5.
    fn final_tests(&mut self) -> Result<TargetResult> {
        let s = self.settings;
        let sources = self.selected_sources();
        let target_past: Vec<Variable> = self
            .selected
            .iter()
            .copied()
            .filter(|v| v.process == self.target)
            .collect();
        let mut result = TargetResult {
            target: self.target,
            target_past: target_past.clone(),
            sources: Vec::new(),
            source_te: Vec::new(),
            source_p: Vec::new(),
            omnibus_te: 0.0,
            omnibus_p: 1.0,
            estimates: 0,
        };
        if sources.is_empty() {
            result.estimates = self.estimates;
            return Ok(result);
        }
        let omnibus = self.value(&sources, &target_past)?;
        let table = self.surrogate_table(
            &[(sources.clone(), target_past.clone())],
            s.n_perm_omnibus,
            Stage::Omnibus,
            0,
        )?;
        result.omnibus_te = omnibus;
        result.omnibus_p = p_value(omnibus, table[0].iter().copied());
        if result.omnibus_p < s.alpha_omnibus {
            let tests: Vec<_> = sources.iter().map(|&v| (vec![v], self.others(v))).collect();
            let values: Vec<f64> = tests
                .iter()
                .map(|(v, c)| self.value(v, c))
                .collect::<Result<_>>()?;
            let mut table = self.surrogate_table(&tests, s.n_perm_max_seq, Stage::Sequential, 0)?;
            // Rank r's null: the r-th largest surrogate of each permutation.
            let n_perm = s.n_perm_max_seq;
            let mut ranked = vec![vec![0.0; n_perm]; sources.len()];
            let mut column = vec![0.0; sources.len()];
            for p in 0..n_perm {
                for (c, row) in column.iter_mut().zip(table.iter_mut()) {
                    *c = row[p];
                }
                column.sort_by(|a, b| b.total_cmp(a));
                for (r, &v) in column.iter().enumerate() {
                    ranked[r][p] = v;
                }
            }
            let mut order: Vec<usize> = (0..sources.len()).collect();
            order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
            for (r, &i) in order.iter().enumerate() {
                let p = p_value(values[i], ranked[r].iter().copied());
                if p >= s.alpha_max_seq {
                    break;
                }
                result.sources.push(sources[i]);
                result.source_te.push(values[i]);
                result.source_p.push(p);
            }
        }
        result.estimates = self.estimates;
        Ok(result)
    }
}

/// Multivariate TE network inference over replications `data` (each `T_r x n` with the same n
/// columns; one replication for a single time series), for the given `targets` (all when empty).
/// Targets run one after another (each one's surrogates in parallel); `progress` advances once per
/// target and cancels between tests.
pub fn multivariate_te(
    data: &[MatrixRef<'_>],
    targets: &[usize],
    settings: &MultivariateTeSettings,
    progress: Option<&Progress>,
) -> Result<Vec<TargetResult>> {
    settings.validate()?;
    let first = data
        .first()
        .ok_or_else(|| invalid("data", "needs at least one replication"))?;
    let n_proc = first.cols();
    if n_proc < 2 {
        return Err(invalid(
            "data",
            format!("needs at least 2 columns (processes), got {n_proc}"),
        ));
    }
    let max_lag = settings.max_lag();
    for r in data {
        if r.cols() != n_proc {
            return Err(invalid(
                "data",
                format!(
                    "every replication needs {n_proc} columns, one has {}",
                    r.cols()
                ),
            ));
        }
        r.check_finite("data")?;
        if r.rows() <= max_lag {
            return Err(Error::TooFewSamples {
                name: "data",
                reason: format!(
                    "a replication of {} time steps leaves no sample after the largest lag {max_lag}",
                    r.rows()
                ),
            });
        }
    }
    let targets: Vec<usize> = if targets.is_empty() {
        (0..n_proc).collect()
    } else {
        targets.to_vec()
    };
    if let Some(&t) = targets.iter().find(|&&t| t >= n_proc) {
        return Err(invalid(
            "targets",
            format!("{t} is not a column of data with {n_proc} columns"),
        ));
    }
    let shortest = data.iter().map(|r| r.rows() - max_lag).min().unwrap_or(0);
    settings.surrogates.validate(shortest)?;
    let pooled: usize = data.iter().map(|r| r.rows() - max_lag).sum();
    if pooled <= settings.k {
        return Err(Error::TooFewSamples {
            name: "data",
            reason: format!(
                "{pooled} samples after the largest lag {max_lag}, which must exceed k = {}",
                settings.k
            ),
        });
    }
    targets
        .iter()
        .map(|&target| {
            let result = infer_target(data, target, n_proc, settings, progress);
            if let Some(p) = progress {
                p.advance();
            }
            result
        })
        .collect()
}

fn infer_target(
    data: &[MatrixRef<'_>],
    target: usize,
    n_proc: usize,
    s: &MultivariateTeSettings,
    progress: Option<&Progress>,
) -> Result<TargetResult> {
    let pool = Pool::new(data, s.max_lag());
    let target_candidates: Vec<Variable> = (1..=s.max_lag_target)
        .step_by(s.tau_target)
        .map(|lag| Variable {
            process: target,
            lag,
        })
        .collect();
    let source_candidates: Vec<Variable> = (0..n_proc)
        .filter(|&p| p != target)
        .flat_map(|process| {
            (s.min_lag_sources..=s.max_lag_sources)
                .step_by(s.tau_sources)
                .map(move |lag| Variable { process, lag })
        })
        .collect();
    let columns = target_candidates
        .iter()
        .chain(&source_candidates)
        .map(|&v| (v, pool.column(v.process, v.lag)))
        .collect();
    let mut search = TargetSearch {
        current: pool.column(target, 0),
        pool,
        settings: s,
        target,
        columns,
        selected: Vec::new(),
        estimates: 0,
        progress,
    };
    if search.include(target_candidates, Stage::Target)? == 0 {
        // As IDTxl does: with no informative target past, condition on its most recent value anyway so
        // that what follows is a transfer entropy rather than a lagged MI.
        search.selected.push(Variable {
            process: target,
            lag: 1,
        });
    }
    search.include(source_candidates, Stage::Sources)?;
    search.prune()?;
    search.final_tests()
}

/// Benjamini-Hochberg over the omnibus p-values of `results` (IDTxl's network-level correction by
/// target; a target without sources counts as p = 1, so there are as many tests as targets): the
/// targets whose omnibus q-value exceeds `alpha` lose their sources. Returns the q-values (NaN for
/// targets without sources). IDTxl's default is the Benjamini-Yekutieli variant, stricter by a
/// factor of 1 + 1/2 + ... + 1/m.
pub fn network_fdr(results: &mut [TargetResult], alpha: f64) -> Result<Vec<f64>> {
    if !(alpha > 0.0 && alpha <= 1.0) {
        return Err(invalid("alpha", format!("must be in (0, 1], got {alpha}")));
    }
    let p: Vec<f64> = results
        .iter()
        .map(|r| {
            if r.sources.is_empty() {
                1.0
            } else {
                r.omnibus_p
            }
        })
        .collect();
    let q = benjamini_hochberg(&p);
    let mut out = vec![f64::NAN; results.len()];
    for (i, &qi) in q.iter().enumerate() {
        if results[i].sources.is_empty() {
            continue;
        }
        out[i] = qi;
        if qi > alpha {
            results[i].sources.clear();
            results[i].source_te.clear();
            results[i].source_p.clear();
        }
    }
    Ok(out)
}
