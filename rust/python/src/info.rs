//! Bindings of the information-theory engine (`thermoconsensus.info` wraps these).
//!
//! Arrays arrive C-contiguous float64 (the Python wrapper normalises them once) and are read in place,
//! without copying, while the GIL is released.

use crate::convert::{compute, view};
use crate::detach::run_with_progress;
use crate::errors::info_error;
use crate::gpu::compute_for;
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2};
use pyo3::prelude::*;
use thermoconsensus_info as info;
use thermoconsensus_info::{Algorithm, MatrixRef, TeEmbedding};

/// The search options from the Python arguments `theiler` and `norm`.
fn options(theiler: usize, norm: &str) -> PyResult<info::KsgOptions> {
    let norm = info::Norm::from_name(norm).map_err(|e| Python::attach(|py| info_error(py, e)))?;
    Ok(info::KsgOptions { theiler, norm })
}

fn algorithm(n: i64) -> PyResult<Algorithm> {
    Algorithm::from_number(n).map_err(|e| Python::attach(|py| info_error(py, e)))
}

/// KSG mutual information I(X; Y) in nats.
#[pyfunction]
#[pyo3(signature = (x, y, k, algorithm, n_threads=None, device="auto", theiler=0, norm="max"))]
#[allow(clippy::too_many_arguments)]
fn mutual_information(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray2<'_, f64>,
    k: usize,
    algorithm: i64,
    n_threads: Option<usize>,
    device: &str,
    theiler: usize,
    norm: &str,
) -> PyResult<f64> {
    let (x, y, alg) = (view("x", &x)?, view("y", &y)?, self::algorithm(algorithm)?);
    let opts = options(theiler, norm)?;
    if !opts.is_plain() {
        return compute(py, n_threads, || {
            info::mutual_information_with(x, y, k, alg, opts)
        });
    }
    let on = compute_for(
        py,
        device,
        &info::gpu::work(x.rows(), x.cols() + y.cols(), k),
    )?;
    compute(py, n_threads, || {
        info::mutual_information_on(x, y, k, alg, &on)
    })
}

/// KSG conditional mutual information I(X; Y | Z) in nats.
#[pyfunction]
#[pyo3(signature = (x, y, z, k, algorithm, n_threads=None, device="auto", theiler=0, norm="max"))]
#[allow(clippy::too_many_arguments)]
fn conditional_mutual_information(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray2<'_, f64>,
    z: PyReadonlyArray2<'_, f64>,
    k: usize,
    algorithm: i64,
    n_threads: Option<usize>,
    device: &str,
    theiler: usize,
    norm: &str,
) -> PyResult<f64> {
    let (x, y, z) = (view("x", &x)?, view("y", &y)?, view("z", &z)?);
    let alg = self::algorithm(algorithm)?;
    let opts = options(theiler, norm)?;
    if !opts.is_plain() {
        return compute(py, n_threads, || {
            info::conditional_mutual_information_with(x, y, z, k, alg, opts)
        });
    }
    let joint_dim = x.cols() + y.cols() + z.cols();
    let on = compute_for(py, device, &info::gpu::work(x.rows(), joint_dim, k))?;
    compute(py, n_threads, || {
        info::conditional_mutual_information_on(x, y, z, k, alg, &on)
    })
}

/// Embedding parameters in the order the Python API lists them.
type EmbeddingArgs = (usize, usize, usize, usize, usize);

fn embedding((k_history, k_tau, l_history, l_tau, delay): EmbeddingArgs) -> TeEmbedding {
    TeEmbedding {
        k_history,
        k_tau,
        l_history,
        l_tau,
        delay,
    }
}

/// Builds the TE samples (embedding) from Python arguments.
fn te_samples(
    source: MatrixRef<'_>,
    target: MatrixRef<'_>,
    emb: EmbeddingArgs,
    conditionals: Option<MatrixRef<'_>>,
    cond_delays: &[usize],
    k: usize,
) -> info::Result<info::TeSamples> {
    let conds = conditionals.map(|series| info::Conditionals {
        series,
        delays: cond_delays,
    });
    info::TeSamples::new(source, target, &embedding(emb), conds, k)
}

/// KSG transfer entropy TE(source -> target) in nats.
#[pyfunction]
#[pyo3(signature = (source, target, k, embedding, algorithm, conditionals=None, cond_delays=Vec::new(), n_threads=None, device="auto", theiler=0, norm="max"))]
#[allow(clippy::too_many_arguments)]
fn transfer_entropy(
    py: Python<'_>,
    source: PyReadonlyArray2<'_, f64>,
    target: PyReadonlyArray2<'_, f64>,
    k: usize,
    embedding: EmbeddingArgs,
    algorithm: i64,
    conditionals: Option<PyReadonlyArray2<'_, f64>>,
    cond_delays: Vec<usize>,
    n_threads: Option<usize>,
    device: &str,
    theiler: usize,
    norm: &str,
) -> PyResult<f64> {
    let (s, t) = (view("source", &source)?, view("target", &target)?);
    let opts = options(theiler, norm)?;
    let c = conditionals
        .as_ref()
        .map(|c| view("conditionals", c))
        .transpose()?;
    let alg = self::algorithm(algorithm)?;
    let samples = py
        .detach(|| te_samples(s, t, embedding, c, &cond_delays, k))
        .map_err(|e| info_error(py, e))?;
    if !opts.is_plain() {
        return compute(py, n_threads, || samples.estimate_with(k, alg, opts));
    }
    let on = compute_for(py, device, &samples.work(k))?;
    compute(py, n_threads, || samples.estimate_on(k, alg, &on))
}

/// Ensemble TE over trials: the embedded samples of every (source, target) pair pooled.
#[pyfunction]
#[pyo3(signature = (sources, targets, k, embedding, algorithm, n_threads=None, norm="max"))]
#[allow(clippy::too_many_arguments)]
fn transfer_entropy_trials(
    py: Python<'_>,
    sources: Vec<PyReadonlyArray2<'_, f64>>,
    targets: Vec<PyReadonlyArray2<'_, f64>>,
    k: usize,
    embedding: EmbeddingArgs,
    algorithm: i64,
    n_threads: Option<usize>,
    norm: &str,
) -> PyResult<f64> {
    if sources.len() != targets.len() {
        return Err(crate::errors::invalid_input(format!(
            "targets: {} trials for {} source trials",
            targets.len(),
            sources.len()
        )));
    }
    let s: Vec<MatrixRef<'_>> = sources
        .iter()
        .map(|a| view("sources", a))
        .collect::<PyResult<_>>()?;
    let t: Vec<MatrixRef<'_>> = targets
        .iter()
        .map(|a| view("targets", a))
        .collect::<PyResult<_>>()?;
    let alg = self::algorithm(algorithm)?;
    let opts = options(0, norm)?;
    compute(py, n_threads, || {
        let trials = s
            .iter()
            .zip(&t)
            .map(|(&s, &t)| te_samples(s, t, embedding, None, &[], k))
            .collect::<info::Result<Vec<_>>>()?;
        let pooled = info::TeSamples::pooled(trials)?;
        if opts.is_plain() {
            Ok(pooled.estimate(k, alg))
        } else {
            pooled.estimate_with(k, alg, opts)
        }
    })
}

/// KSG active information storage in nats.
#[pyfunction]
#[pyo3(signature = (x, k_history, k_tau, k, algorithm, n_threads=None, theiler=0, norm="max"))]
#[allow(clippy::too_many_arguments)]
fn active_information_storage(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    k_history: usize,
    k_tau: usize,
    k: usize,
    algorithm: i64,
    n_threads: Option<usize>,
    theiler: usize,
    norm: &str,
) -> PyResult<f64> {
    let (x, alg) = (view("x", &x)?, self::algorithm(algorithm)?);
    let opts = options(theiler, norm)?;
    compute(py, n_threads, || {
        if opts.is_plain() {
            return info::active_information_storage(x, k_history, k_tau, k, alg);
        }
        let (past, next) = info::te::ais_samples(x, k_history, k_tau, k)?;
        info::mutual_information_with(past.view(), next.view(), k, alg, opts)
    })
}

/// Kozachenko-Leonenko differential entropy in nats.
#[pyfunction]
#[pyo3(signature = (x, k, n_threads=None))]
fn entropy(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    k: usize,
    n_threads: Option<usize>,
) -> PyResult<f64> {
    let x = view("x", &x)?;
    compute(py, n_threads, || info::entropy(x, k))
}

/// Significance result as (value, p_value, null_mean, null_std, n_surrogates, null).
type SignificanceTuple<'py> = (f64, f64, f64, f64, usize, Bound<'py, PyArray1<f64>>);

/// Argument names of each measure's arrays, in order.
fn measure_names(measure: &str) -> PyResult<&'static [&'static str]> {
    match measure {
        "mi" => Ok(&["x", "y"]),
        "cmi" => Ok(&["x", "y", "z"]),
        "te" => Ok(&["source", "target", "conditionals"]),
        "ais" => Ok(&["x"]),
        other => Err(crate::errors::invalid_input(format!(
            "measure: must be 'mi', 'cmi', 'te' or 'ais', got {other:?}"
        ))),
    }
}

/// Views of a measure's arrays (None where an optional one is absent), checked against its names.
fn measure_views<'a>(
    measure: &str,
    arrays: &'a [Option<PyReadonlyArray2<'_, f64>>],
) -> PyResult<Vec<Option<MatrixRef<'a>>>> {
    let names = measure_names(measure)?;
    if arrays.len() != names.len() {
        return Err(crate::errors::invalid_input(format!(
            "arrays: {measure} needs {} arrays, got {}",
            names.len(),
            arrays.len()
        )));
    }
    let mut views = Vec::with_capacity(names.len());
    for (a, &name) in arrays.iter().zip(names) {
        views.push(a.as_ref().map(|a| view(name, a)).transpose()?);
    }
    if views[0].is_none() {
        let name = if measure == "te" { "source" } else { "x" };
        return Err(crate::errors::invalid_input(format!(
            "{name}: required for measure {measure:?}"
        )));
    }
    Ok(views)
}

/// The permutation-test samples of `measure` over `views` (from [`measure_views`]).
fn joint_samples(
    measure: &str,
    views: &[Option<MatrixRef<'_>>],
    embedding: EmbeddingArgs,
    cond_delays: &[usize],
    k: usize,
    surrogates: (&str, Option<usize>),
) -> info::Result<info::JointSamples> {
    let samples = measure_samples(measure, views, embedding, cond_delays, k)?;
    let n = samples.joint.view().rows();
    samples.with_surrogates(info::Surrogates::from_name(surrogates.0, surrogates.1, n)?)
}

/// The samples of `measure` with the default (permutation) surrogates.
fn measure_samples(
    measure: &str,
    views: &[Option<MatrixRef<'_>>],
    embedding: EmbeddingArgs,
    cond_delays: &[usize],
    k: usize,
) -> info::Result<info::JointSamples> {
    let first = views[0].ok_or_else(|| info::Error::InvalidArgument {
        name: "x",
        reason: "required".into(),
    })?;
    let at = |i: usize| views.get(i).copied().flatten().unwrap_or(first);
    match measure {
        "mi" => info::JointSamples::mi(first, at(1), k),
        "cmi" => info::JointSamples::cmi(first, at(1), at(2), k),
        "te" => Ok(info::JointSamples::te(te_samples(
            first,
            at(1),
            embedding,
            views.get(2).copied().flatten(),
            cond_delays,
            k,
        )?)),
        _ => info::JointSamples::ais(first, embedding.0, embedding.1, k),
    }
}

/// Permutation test of MI ("mi"), CMI ("cmi"), TE ("te") or AIS ("ais").
#[pyfunction]
#[pyo3(signature = (measure, arrays, k, algorithm, n_surrogates, seed, embedding=(1, 1, 1, 1, 1), cond_delays=Vec::new(), n_threads=None, progress=None, device="auto", surrogates="permutation", surrogate_param=None))]
#[allow(clippy::too_many_arguments)]
fn significance<'py>(
    py: Python<'py>,
    measure: &str,
    arrays: Vec<Option<PyReadonlyArray2<'py, f64>>>,
    k: usize,
    algorithm: i64,
    n_surrogates: usize,
    seed: u64,
    embedding: EmbeddingArgs,
    cond_delays: Vec<usize>,
    n_threads: Option<usize>,
    progress: Option<Bound<'py, PyAny>>,
    device: &str,
    surrogates: &str,
    surrogate_param: Option<usize>,
) -> PyResult<SignificanceTuple<'py>> {
    let views = measure_views(measure, &arrays)?;
    let alg = self::algorithm(algorithm)?;
    let kind = (surrogates, surrogate_param);
    let samples = py
        .detach(|| joint_samples(measure, &views, embedding, &cond_delays, k, kind))
        .map_err(|e| info_error(py, e))?;
    let on = compute_for(py, device, &samples.work(k))?;
    let r = run_with_progress(
        py,
        n_surrogates,
        progress.as_ref(),
        n_threads,
        |prog| samples.test_with_progress(k, alg, n_surrogates, seed, Some(prog), &on),
        info_error,
    )?;
    let null = PyArray1::from_vec(py, r.null);
    Ok((
        r.value,
        r.p_value,
        r.null_mean,
        r.null_std,
        r.n_surrogates,
        null,
    ))
}

/// A chunk of a permutation test on the CPU: the estimates of surrogates `first..first + count` of
/// `seed` (the values [`significance`] computes for them), and the estimate on the data when
/// `with_value`. `thermoconsensus.distributed` splits one test into such chunks.
#[pyfunction]
#[pyo3(signature = (measure, arrays, k, algorithm, seed, first, count, with_value, embedding=(1, 1, 1, 1, 1), cond_delays=Vec::new(), n_threads=None, surrogates="permutation", surrogate_param=None))]
#[allow(clippy::too_many_arguments)]
fn significance_null<'py>(
    py: Python<'py>,
    measure: &str,
    arrays: Vec<Option<PyReadonlyArray2<'py, f64>>>,
    k: usize,
    algorithm: i64,
    seed: u64,
    first: usize,
    count: usize,
    with_value: bool,
    embedding: EmbeddingArgs,
    cond_delays: Vec<usize>,
    n_threads: Option<usize>,
    surrogates: &str,
    surrogate_param: Option<usize>,
) -> PyResult<(Option<f64>, Bound<'py, PyArray1<f64>>)> {
    let max = info::significance::MAX_SURROGATES;
    if count == 0 || count > max || first.checked_add(count).is_none_or(|end| end > max) {
        return Err(crate::errors::invalid_input(format!(
            "first, count: surrogates first..first + count must lie in 0..{max} with count >= 1, \
             got {first} and {count}"
        )));
    }
    let views = measure_views(measure, &arrays)?;
    let alg = self::algorithm(algorithm)?;
    let (value, null) = compute(py, n_threads, || {
        let kind = (surrogates, surrogate_param);
        let samples = joint_samples(measure, &views, embedding, &cond_delays, k, kind)?;
        let value = if with_value {
            Some(samples.estimate_on(samples.joint.view(), k, alg, &info::Compute::Cpu)?)
        } else {
            None
        };
        Ok((
            value,
            samples.null_range(k, alg, seed, first..first + count, None)?,
        ))
    })?;
    Ok((value, PyArray1::from_vec(py, null)))
}

/// Ragwitz embedding search: (history, tau, [(history, tau, error), ...]).
#[pyfunction]
#[pyo3(signature = (x, k_max, tau_max, n_neighbours, n_threads=None, name="x"))]
#[allow(clippy::type_complexity)]
fn ragwitz(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    k_max: usize,
    tau_max: usize,
    n_neighbours: usize,
    n_threads: Option<usize>,
    name: &str,
) -> PyResult<(usize, usize, Vec<(usize, usize, f64)>)> {
    // Error messages name the Python argument the series came from.
    let name: &'static str = match name {
        "target" => "target",
        "source" => "source",
        _ => "x",
    };
    let x = view(name, &x)?;
    let r = compute(py, n_threads, || {
        info::ragwitz(name, x, k_max, tau_max, n_neighbours)
    })?;
    Ok((r.history, r.tau, r.errors))
}

/// Network result: (te, p_values, q_values, significant) as n x n arrays.
type NetworkTuple<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<bool>>,
);

/// Pairwise TE network with permutation p-values and Benjamini-Hochberg q-values.
#[pyfunction]
#[pyo3(signature = (data, k, embedding, algorithm, n_surrogates, alpha, seed, n_threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn te_network<'py>(
    py: Python<'py>,
    data: PyReadonlyArray2<'py, f64>,
    k: usize,
    embedding: EmbeddingArgs,
    algorithm: i64,
    n_surrogates: usize,
    alpha: f64,
    seed: u64,
    n_threads: Option<usize>,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<NetworkTuple<'py>> {
    let (d, alg) = (view("data", &data)?, self::algorithm(algorithm)?);
    let emb = self::embedding(embedding);
    let pairs = d.cols() * d.cols().saturating_sub(1);
    let net = run_with_progress(
        py,
        pairs,
        progress.as_ref(),
        n_threads,
        |prog| {
            info::te_network_with_progress(d, &emb, k, alg, n_surrogates, alpha, seed, Some(prog))
        },
        info_error,
    )?;
    let n = net.n;
    let square = |v: Vec<f64>| PyArray1::from_vec(py, v).reshape([n, n]);
    Ok((
        square(net.te)?,
        square(net.p_values)?,
        square(net.q_values)?,
        PyArray1::from_vec(py, net.significant).reshape([n, n])?,
    ))
}

/// Local (pointwise) values of MI ("mi"), CMI ("cmi"), TE ("te") or AIS ("ais"), in sample order.
#[pyfunction]
#[pyo3(signature = (measure, arrays, k, algorithm, embedding=(1, 1, 1, 1, 1), cond_delays=Vec::new(), n_threads=None, theiler=0, norm="max"))]
#[allow(clippy::too_many_arguments)]
fn local_values<'py>(
    py: Python<'py>,
    measure: &str,
    arrays: Vec<Option<PyReadonlyArray2<'py, f64>>>,
    k: usize,
    algorithm: i64,
    embedding: EmbeddingArgs,
    cond_delays: Vec<usize>,
    n_threads: Option<usize>,
    theiler: usize,
    norm: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let views = measure_views(measure, &arrays)?;
    let alg = self::algorithm(algorithm)?;
    let opts = options(theiler, norm)?;
    let first = views[0].ok_or_else(|| crate::errors::invalid_input("x: required"))?;
    let at = |i: usize| views.get(i).copied().flatten().unwrap_or(first);
    let values = compute(py, n_threads, || match measure {
        "mi" => info::local_mutual_information(first, at(1), k, alg, opts),
        "cmi" => info::local_conditional_mutual_information(first, at(1), at(2), k, alg, opts),
        "te" => te_samples(
            first,
            at(1),
            embedding,
            views.get(2).copied().flatten(),
            &cond_delays,
            k,
        )?
        .local(k, alg, opts),
        _ => info::local_active_information_storage(first, embedding.0, embedding.1, k, alg, opts),
    })?;
    Ok(PyArray1::from_vec(py, values))
}

/// Settings of the multivariate TE in the order the Python wrapper passes them: lags
/// (max_lag_sources, min_lag_sources, tau_sources, max_lag_target, tau_target), surrogates (max, min,
/// omnibus, sequential) and levels (the same order).
type MultivariateArgs = (
    (usize, usize, usize, usize, usize),
    (usize, usize, usize, usize),
    (f64, f64, f64, f64),
);

/// One target's result: (target, target past [(process, lag)], sources [(process, lag)], source TE,
/// source p-values, omnibus TE, omnibus p, estimates).
type TargetTuple = (
    usize,
    Vec<(usize, usize)>,
    Vec<(usize, usize)>,
    Vec<f64>,
    Vec<f64>,
    f64,
    f64,
    usize,
);

/// Multivariate TE network inference (IDTxl's algorithm) over replications of a T x n array.
#[pyfunction]
/// With `fdr_alpha`, Benjamini-Hochberg over the targets' omnibus p-values removes the sources of
/// targets whose q-value exceeds it; the q-values come back (NaN for targets without sources).
#[pyo3(signature = (replications, targets, k, algorithm, settings, seed, fdr_alpha=None, n_threads=None, progress=None, surrogates="permutation", surrogate_param=None))]
#[allow(clippy::too_many_arguments)]
fn multivariate_te<'py>(
    py: Python<'py>,
    replications: Vec<PyReadonlyArray2<'py, f64>>,
    targets: Vec<usize>,
    k: usize,
    algorithm: i64,
    settings: MultivariateArgs,
    seed: u64,
    fdr_alpha: Option<f64>,
    n_threads: Option<usize>,
    progress: Option<Bound<'py, PyAny>>,
    surrogates: &str,
    surrogate_param: Option<usize>,
) -> PyResult<(Vec<TargetTuple>, Vec<f64>)> {
    let views: Vec<MatrixRef<'_>> = replications
        .iter()
        .map(|r| view("data", r))
        .collect::<PyResult<_>>()?;
    let ((max_src, min_src, tau_src, max_tgt, tau_tgt), perms, alphas) = settings;
    // The default parameter is a tenth of the shortest replication after the largest lag.
    let shortest = views
        .iter()
        .map(|v| v.rows().saturating_sub(max_src.max(max_tgt)))
        .min()
        .unwrap_or(0);
    let kind = info::Surrogates::from_name(surrogates, surrogate_param, shortest)
        .map_err(|e| info_error(py, e))?;
    let s = info::MultivariateTeSettings {
        max_lag_sources: max_src,
        min_lag_sources: min_src,
        tau_sources: tau_src,
        max_lag_target: max_tgt,
        tau_target: tau_tgt,
        k,
        algorithm: self::algorithm(algorithm)?,
        n_perm_max_stat: perms.0,
        n_perm_min_stat: perms.1,
        n_perm_omnibus: perms.2,
        n_perm_max_seq: perms.3,
        alpha_max_stat: alphas.0,
        alpha_min_stat: alphas.1,
        alpha_omnibus: alphas.2,
        alpha_max_seq: alphas.3,
        surrogates: kind,
        seed,
    };
    let total = if targets.is_empty() {
        views.first().map_or(0, |v| v.cols())
    } else {
        targets.len()
    };
    let results = run_with_progress(
        py,
        total,
        progress.as_ref(),
        n_threads,
        |prog| {
            let mut results = info::multivariate_te(&views, &targets, &s, Some(prog))?;
            let q = match fdr_alpha {
                Some(a) => info::network_fdr(&mut results, a)?,
                None => vec![f64::NAN; results.len()],
            };
            Ok::<_, info::Error>((results, q))
        },
        info_error,
    )?;
    let (results, q) = results;
    let pairs = |v: &[info::Variable]| v.iter().map(|v| (v.process, v.lag)).collect();
    let tuples = results
        .into_iter()
        .map(|r| {
            (
                r.target,
                pairs(&r.target_past),
                pairs(&r.sources),
                r.source_te,
                r.source_p,
                r.omnibus_te,
                r.omnibus_p,
                r.estimates,
            )
        })
        .collect();
    Ok((tuples, q))
}

/// Registers this domain's functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mutual_information, m)?)?;
    m.add_function(wrap_pyfunction!(conditional_mutual_information, m)?)?;
    m.add_function(wrap_pyfunction!(transfer_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(active_information_storage, m)?)?;
    m.add_function(wrap_pyfunction!(entropy, m)?)?;
    m.add_function(wrap_pyfunction!(significance, m)?)?;
    m.add_function(wrap_pyfunction!(significance_null, m)?)?;
    m.add_function(wrap_pyfunction!(ragwitz, m)?)?;
    m.add_function(wrap_pyfunction!(te_network, m)?)?;
    m.add_function(wrap_pyfunction!(local_values, m)?)?;
    m.add_function(wrap_pyfunction!(transfer_entropy_trials, m)?)?;
    m.add_function(wrap_pyfunction!(multivariate_te, m)?)?;
    Ok(())
}
