//! Bindings of the plug-in measures of `thermoconsensus_info::discrete` (`thermoconsensus.info` wraps these).
//!
//! Logit and probability matrices arrive C-contiguous float64 (rows x vocab), targets and symbol series
//! C-contiguous int64 (the Python wrapper normalises them once); all are read in place, without copying,
//! while the GIL is released.

use crate::convert::{compute, series, view};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use thermoconsensus_info::discrete;

/// A row-major `rows x cols` result as a 2-D numpy array.
fn matrix<'py>(
    py: Python<'py>,
    v: Vec<f64>,
    rows: usize,
    cols: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    PyArray1::from_vec(py, v).reshape([rows, cols])
}

/// Row-wise log-softmax of `logits / temperature` (rows x vocab), same shape; -inf logits stay -inf.
#[pyfunction]
#[pyo3(signature = (logits, temperature=1.0, n_threads=None))]
fn log_softmax<'py>(
    py: Python<'py>,
    logits: PyReadonlyArray2<'py, f64>,
    temperature: f64,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let z = view("logits", &logits)?;
    let out = compute(py, n_threads, || discrete::log_softmax(z, temperature))?;
    matrix(py, out, z.rows(), z.cols())
}

/// Row-wise softmax of `logits / temperature` (rows x vocab), same shape; every row sums to 1.
#[pyfunction]
#[pyo3(signature = (logits, temperature=1.0, n_threads=None))]
fn softmax<'py>(
    py: Python<'py>,
    logits: PyReadonlyArray2<'py, f64>,
    temperature: f64,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let z = view("logits", &logits)?;
    let out = compute(py, n_threads, || discrete::softmax(z, temperature))?;
    matrix(py, out, z.rows(), z.cols())
}

/// Shannon entropy (nats) of softmax(`logits` / `temperature`), one value per row.
#[pyfunction]
#[pyo3(signature = (logits, temperature=1.0, n_threads=None))]
fn entropy_from_logits<'py>(
    py: Python<'py>,
    logits: PyReadonlyArray2<'py, f64>,
    temperature: f64,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let z = view("logits", &logits)?;
    let out = compute(py, n_threads, || {
        discrete::entropy_from_logits(z, temperature)
    })?;
    Ok(PyArray1::from_vec(py, out))
}

/// Shannon entropy (nats) of each row of the probability matrix `p` (renormalised when `normalize`).
#[pyfunction]
#[pyo3(signature = (p, normalize=false, n_threads=None))]
fn entropy_from_probs<'py>(
    py: Python<'py>,
    p: PyReadonlyArray2<'py, f64>,
    normalize: bool,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let p = view("p", &p)?;
    let out = compute(py, n_threads, || discrete::entropy_from_probs(p, normalize))?;
    Ok(PyArray1::from_vec(py, out))
}

/// Cross-entropy H(p, q) (nats) per row, p = softmax(`p_logits`), q = softmax(`q_logits`).
#[pyfunction]
#[pyo3(signature = (p_logits, q_logits, n_threads=None))]
fn cross_entropy<'py>(
    py: Python<'py>,
    p_logits: PyReadonlyArray2<'py, f64>,
    q_logits: PyReadonlyArray2<'py, f64>,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (p, q) = (view("p_logits", &p_logits)?, view("q_logits", &q_logits)?);
    let out = compute(py, n_threads, || discrete::cross_entropy(p, q))?;
    Ok(PyArray1::from_vec(py, out))
}

/// Kullback-Leibler divergence KL(p || q) (nats) per row, from logits.
#[pyfunction]
#[pyo3(signature = (p_logits, q_logits, n_threads=None))]
fn kl_divergence<'py>(
    py: Python<'py>,
    p_logits: PyReadonlyArray2<'py, f64>,
    q_logits: PyReadonlyArray2<'py, f64>,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (p, q) = (view("p_logits", &p_logits)?, view("q_logits", &q_logits)?);
    let out = compute(py, n_threads, || discrete::kl_divergence(p, q))?;
    Ok(PyArray1::from_vec(py, out))
}

/// Jensen-Shannon divergence (nats, in [0, ln 2]) per row, from logits.
#[pyfunction]
#[pyo3(signature = (p_logits, q_logits, n_threads=None))]
fn js_divergence<'py>(
    py: Python<'py>,
    p_logits: PyReadonlyArray2<'py, f64>,
    q_logits: PyReadonlyArray2<'py, f64>,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (p, q) = (view("p_logits", &p_logits)?, view("q_logits", &q_logits)?);
    let out = compute(py, n_threads, || discrete::js_divergence(p, q))?;
    Ok(PyArray1::from_vec(py, out))
}

/// Negative log-likelihood -ln softmax(`logits` row r)[`targets[r]`] per row.
#[pyfunction]
#[pyo3(signature = (logits, targets, n_threads=None))]
fn cross_entropy_targets<'py>(
    py: Python<'py>,
    logits: PyReadonlyArray2<'py, f64>,
    targets: PyReadonlyArray1<'py, i64>,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (z, t) = (view("logits", &logits)?, series("targets", &targets)?);
    let out = compute(py, n_threads, || discrete::cross_entropy_targets(z, t))?;
    Ok(PyArray1::from_vec(py, out))
}

/// Perplexity exp(mean NLL) of `targets` under `logits`.
#[pyfunction]
#[pyo3(signature = (logits, targets, n_threads=None))]
fn perplexity(
    py: Python<'_>,
    logits: PyReadonlyArray2<'_, f64>,
    targets: PyReadonlyArray1<'_, i64>,
    n_threads: Option<usize>,
) -> PyResult<f64> {
    let (z, t) = (view("logits", &logits)?, series("targets", &targets)?);
    compute(py, n_threads, || discrete::perplexity(z, t))
}

/// Plug-in Shannon entropy (nats) of the integer symbols in `x`.
#[pyfunction]
#[pyo3(signature = (x, n_threads=None))]
fn plugin_entropy(
    py: Python<'_>,
    x: PyReadonlyArray1<'_, i64>,
    n_threads: Option<usize>,
) -> PyResult<f64> {
    let x = series("x", &x)?;
    compute(py, n_threads, || discrete::plugin_entropy(x))
}

/// Plug-in mutual information I(X; Y) (nats) of paired integer series.
#[pyfunction]
#[pyo3(signature = (x, y, n_threads=None))]
fn plugin_mutual_information(
    py: Python<'_>,
    x: PyReadonlyArray1<'_, i64>,
    y: PyReadonlyArray1<'_, i64>,
    n_threads: Option<usize>,
) -> PyResult<f64> {
    let (x, y) = (series("x", &x)?, series("y", &y)?);
    compute(py, n_threads, || discrete::plugin_mutual_information(x, y))
}

/// Plug-in conditional mutual information I(X; Y | Z) (nats) of paired integer series.
#[pyfunction]
#[pyo3(signature = (x, y, z, n_threads=None))]
fn plugin_conditional_mutual_information(
    py: Python<'_>,
    x: PyReadonlyArray1<'_, i64>,
    y: PyReadonlyArray1<'_, i64>,
    z: PyReadonlyArray1<'_, i64>,
    n_threads: Option<usize>,
) -> PyResult<f64> {
    let (x, y, z) = (series("x", &x)?, series("y", &y)?, series("z", &z)?);
    compute(py, n_threads, || {
        discrete::plugin_conditional_mutual_information(x, y, z)
    })
}

/// Plug-in transfer entropy TE(source -> target) (nats) of integer series, JIDT alignment.
#[pyfunction]
#[pyo3(signature = (source, target, k_history=1, l_history=1, delay=1, n_threads=None))]
fn plugin_transfer_entropy(
    py: Python<'_>,
    source: PyReadonlyArray1<'_, i64>,
    target: PyReadonlyArray1<'_, i64>,
    k_history: usize,
    l_history: usize,
    delay: usize,
    n_threads: Option<usize>,
) -> PyResult<f64> {
    let (s, t) = (series("source", &source)?, series("target", &target)?);
    compute(py, n_threads, || {
        discrete::plugin_transfer_entropy(s, t, k_history, l_history, delay)
    })
}

/// Registers this domain's functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(log_softmax, m)?)?;
    m.add_function(wrap_pyfunction!(softmax, m)?)?;
    m.add_function(wrap_pyfunction!(entropy_from_logits, m)?)?;
    m.add_function(wrap_pyfunction!(entropy_from_probs, m)?)?;
    m.add_function(wrap_pyfunction!(cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(kl_divergence, m)?)?;
    m.add_function(wrap_pyfunction!(js_divergence, m)?)?;
    m.add_function(wrap_pyfunction!(cross_entropy_targets, m)?)?;
    m.add_function(wrap_pyfunction!(perplexity, m)?)?;
    m.add_function(wrap_pyfunction!(plugin_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(plugin_mutual_information, m)?)?;
    m.add_function(wrap_pyfunction!(plugin_conditional_mutual_information, m)?)?;
    m.add_function(wrap_pyfunction!(plugin_transfer_entropy, m)?)?;
    Ok(())
}
