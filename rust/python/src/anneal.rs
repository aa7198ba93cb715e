//! Bindings of the annealing engine (`thermoconsensus.anneal` wraps these).
//!
//! The problem lives in a native `IsingProblem` object, built once from COO triples and shared by every
//! sampler call without copying; samplers run with the GIL released, report progress in sweeps and
//! stop on Ctrl-C.

use crate::detach::{run_detached, run_with_progress};
use crate::errors::anneal_error;
use crate::gpu::compute_for;
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use numpy::{PyUntypedArrayMethods, ToPyArray};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;
use thermoconsensus_anneal as an;
use thermoconsensus_anneal::{IsingProblem, RunStats, SampleSet};

fn slice<'a, T: numpy::Element>(name: &str, a: &'a PyReadonlyArray1<'_, T>) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| crate::errors::invalid_input(format!("{name}: array must be C-contiguous")))
}

fn err(e: an::Error) -> PyErr {
    Python::attach(|py| anneal_error(py, e))
}

/// COO triples from index and value arrays; negative indices are rejected.
fn triples(
    rows: &PyReadonlyArray1<'_, i64>,
    cols: &PyReadonlyArray1<'_, i64>,
    vals: &PyReadonlyArray1<'_, f64>,
    name: &'static str,
) -> PyResult<Vec<an::Coupling>> {
    let (rows, cols, vals) = (
        slice("rows", rows)?,
        slice("cols", cols)?,
        slice("values", vals)?,
    );
    if rows.len() != cols.len() || rows.len() != vals.len() {
        return Err(err(an::Error::InvalidArgument {
            name,
            reason: format!(
                "rows, cols and values differ in length ({}, {}, {})",
                rows.len(),
                cols.len(),
                vals.len()
            ),
        }));
    }
    rows.iter()
        .zip(cols)
        .zip(vals)
        .map(|((&i, &j), &v)| {
            if i < 0 || j < 0 {
                Err(err(an::Error::InvalidArgument {
                    name,
                    reason: format!("negative variable index in ({i}, {j})"),
                }))
            } else {
                Ok((i as usize, j as usize, v))
            }
        })
        .collect()
}

/// An Ising problem held natively (`thermoconsensus.anneal.IsingProblem` wraps it).
#[pyclass(frozen, name = "IsingProblem", module = "thermoconsensus._core")]
pub struct PyIsingProblem {
    inner: Arc<IsingProblem>,
}

#[pymethods]
impl PyIsingProblem {
    /// Builds from linear biases `h` and coupling triples (rows[k], cols[k], values[k]).
    #[new]
    #[pyo3(signature = (h, rows, cols, values, offset=0.0))]
    fn new(
        h: PyReadonlyArray1<'_, f64>,
        rows: PyReadonlyArray1<'_, i64>,
        cols: PyReadonlyArray1<'_, i64>,
        values: PyReadonlyArray1<'_, f64>,
        offset: f64,
    ) -> PyResult<Self> {
        let t = triples(&rows, &cols, &values, "J")?;
        let inner = IsingProblem::new(slice("h", &h)?.to_vec(), &t, offset).map_err(err)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Builds the Ising twin of a QUBO over `num_variables` binaries given as triples.
    #[staticmethod]
    #[pyo3(signature = (num_variables, rows, cols, values, offset=0.0))]
    fn from_qubo(
        num_variables: usize,
        rows: PyReadonlyArray1<'_, i64>,
        cols: PyReadonlyArray1<'_, i64>,
        values: PyReadonlyArray1<'_, f64>,
        offset: f64,
    ) -> PyResult<Self> {
        let t = triples(&rows, &cols, &values, "Q")?;
        let inner = IsingProblem::from_qubo(num_variables, &t, offset).map_err(err)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Number of spins.
    #[getter]
    fn num_variables(&self) -> usize {
        self.inner.num_variables()
    }

    /// Constant offset.
    #[getter]
    fn offset(&self) -> f64 {
        self.inner.offset()
    }

    /// Number of coupled pairs.
    #[getter]
    fn num_couplings(&self) -> usize {
        self.inner.num_couplings()
    }

    /// Linear biases (a copy).
    fn h<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.inner.h().to_pyarray(py)
    }

    /// The couplings once per pair (i < j) as (rows, cols, values).
    fn couplings<'py>(&self, py: Python<'py>) -> Triples<'py> {
        to_arrays(py, self.inner.couplings())
    }

    /// The equivalent QUBO as upper-triangular (rows, cols, values) and its offset.
    fn to_qubo<'py>(&self, py: Python<'py>) -> (Triples<'py>, f64) {
        let (q, off) = self.inner.to_qubo();
        (to_arrays(py, q.into_iter()), off)
    }

    /// Energies of the spin states in the rows of `states` (int8, entries +-1).
    fn energies<'py>(
        &self,
        py: Python<'py>,
        states: PyReadonlyArray2<'_, i8>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        if states.shape()[1] != self.inner.num_variables() {
            return Err(err(an::Error::InvalidArgument {
                name: "states",
                reason: format!(
                    "rows have {} entries but the problem has {} variables",
                    states.shape()[1],
                    self.inner.num_variables()
                ),
            }));
        }
        let data = states
            .as_slice()
            .map_err(|_| crate::errors::invalid_input("states: array must be C-contiguous"))?;
        let p = Arc::clone(&self.inner);
        let e = run_detached(py, || p.energies(data), anneal_error)?;
        Ok(PyArray1::from_vec(py, e))
    }

    /// The default (hot, cold) inverse-temperature range derived from the biases.
    fn default_beta_range(&self) -> (f64, f64) {
        self.inner.default_beta_range()
    }

    /// The largest |h_i| + sum_j |J_ij|.
    fn max_field(&self) -> f64 {
        self.inner.max_field()
    }
}

type Triples<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
);

fn to_arrays<'py>(py: Python<'py>, it: impl Iterator<Item = an::Coupling>) -> Triples<'py> {
    let (mut r, mut c, mut v) = (Vec::new(), Vec::new(), Vec::new());
    for (i, j, x) in it {
        r.push(i as i64);
        c.push(j as i64);
        v.push(x);
    }
    (
        PyArray1::from_vec(py, r),
        PyArray1::from_vec(py, c),
        PyArray1::from_vec(py, v),
    )
}

/// (states, energies, num_occurrences, info) as the Python wrapper expects them.
type Sampled<'py> = (
    Bound<'py, PyArray2<i8>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
    Bound<'py, PyDict>,
);

fn sampled<'py>(py: Python<'py>, s: SampleSet, stats: RunStats) -> PyResult<Sampled<'py>> {
    let rows = s.len();
    let states = PyArray1::from_vec(py, s.states).reshape([rows, s.num_variables])?;
    let info = PyDict::new(py);
    let rates = &stats.acceptance_rates;
    info.set_item(
        "acceptance_rate",
        rates.iter().sum::<f64>() / rates.len().max(1) as f64,
    )?;
    info.set_item("acceptance_rates", PyArray1::from_slice(py, rates))?;
    info.set_item("flip_attempts", stats.flip_attempts)?;
    info.set_item("elapsed_seconds", stats.elapsed_seconds)?;
    info.set_item(
        "flips_per_second",
        stats.flip_attempts as f64 / stats.elapsed_seconds.max(1e-12),
    )?;
    if let Some(t) = stats.trace {
        let reads = t.energies.len() / t.points.max(1);
        let arr = PyArray1::from_vec(py, t.energies).reshape([reads, t.points])?;
        info.set_item("trace", arr)?;
        info.set_item("trace_every", t.every)?;
    }
    Ok((
        states,
        PyArray1::from_vec(py, s.energies),
        PyArray1::from_vec(py, s.num_occurrences),
        info,
    ))
}

/// Runs a sampler in a thread pool with progress over `total` sweeps.
fn sample<T: Send>(
    py: Python<'_>,
    total: usize,
    n_threads: Option<usize>,
    progress: Option<&Bound<'_, PyAny>>,
    f: impl FnOnce(&an::Progress) -> an::Result<T> + Send,
) -> PyResult<T> {
    run_with_progress(py, total, progress, n_threads, f, anneal_error)
}

/// Simulated annealing; `schedule` names the schedule and the other arguments feed it.
#[pyfunction]
#[pyo3(signature = (model, num_reads, num_sweeps, schedule, beta_range, beta_schedule,
    acceptance_range, gamma, eta, seed, trace_every, n_threads=None, progress=None, device="auto",
    first_read=0))]
#[allow(clippy::too_many_arguments)]
fn simulated_annealing<'py>(
    py: Python<'py>,
    model: &PyIsingProblem,
    num_reads: usize,
    num_sweeps: usize,
    schedule: &str,
    beta_range: Option<(f64, f64)>,
    beta_schedule: Option<PyReadonlyArray1<'_, f64>>,
    acceptance_range: (f64, f64),
    gamma: Option<f64>,
    eta: Option<f64>,
    seed: u64,
    trace_every: usize,
    n_threads: Option<usize>,
    progress: Option<Bound<'py, PyAny>>,
    device: &str,
    first_read: u64,
) -> PyResult<Sampled<'py>> {
    let schedule = match schedule {
        "geometric" => an::Schedule::Geometric,
        "linear" => an::Schedule::Linear,
        "logarithmic" => an::Schedule::Logarithmic,
        "adaptive" => an::Schedule::Adaptive {
            initial_acceptance: acceptance_range.0,
            final_acceptance: acceptance_range.1,
        },
        "langevin" => an::Schedule::Langevin { gamma, eta },
        "custom" => match &beta_schedule {
            Some(b) => an::Schedule::Custom(slice("beta_schedule", b)?.to_vec()),
            None => {
                return Err(err(an::Error::InvalidArgument {
                    name: "beta_schedule",
                    reason: "schedule 'custom' needs an array of betas".into(),
                }))
            }
        },
        other => {
            return Err(err(an::Error::InvalidArgument {
                name: "schedule",
                reason: format!(
                    "must be 'geometric', 'linear', 'logarithmic', 'adaptive', 'langevin' or \
                     'custom', got {other:?}"
                ),
            }))
        }
    };
    let params = an::SaParams {
        num_reads,
        num_sweeps,
        beta_range,
        seed,
        trace_every,
        schedule,
        first_read,
    };
    let total = num_reads.saturating_mul(params.schedule.sweeps(num_sweeps));
    let p = Arc::clone(&model.inner);
    let on = compute_for(py, device, &an::sa_work(&p, &params))?;
    let r = sample(py, total, n_threads, progress.as_ref(), |prog| {
        an::simulated_annealing_on(&on, &p, &params, Some(prog))
    })?;
    let out = sampled(py, r.samples, r.stats)?;
    out.3.set_item("device", on.name())?;
    out.3.set_item("beta_range", r.beta_range)?;
    out.3
        .set_item("final_betas", PyArray1::from_vec(py, r.final_betas))?;
    Ok(out)
}

/// Path-integral Monte Carlo (simulated quantum annealing).
#[pyfunction]
#[pyo3(signature = (model, num_reads, num_sweeps, trotter_slices, gamma_range, beta, seed,
    world_line_moves, trace_every, n_threads=None, progress=None, first_read=0))]
#[allow(clippy::too_many_arguments)]
fn path_integral_annealing<'py>(
    py: Python<'py>,
    model: &PyIsingProblem,
    num_reads: usize,
    num_sweeps: usize,
    trotter_slices: usize,
    gamma_range: Option<(f64, f64)>,
    beta: Option<f64>,
    seed: u64,
    world_line_moves: bool,
    trace_every: usize,
    n_threads: Option<usize>,
    progress: Option<Bound<'py, PyAny>>,
    first_read: u64,
) -> PyResult<Sampled<'py>> {
    let params = an::PimcParams {
        num_reads,
        num_sweeps,
        trotter_slices,
        gamma_range,
        beta,
        seed,
        world_line_moves,
        trace_every,
        first_read,
    };
    let p = Arc::clone(&model.inner);
    let total = num_reads.saturating_mul(num_sweeps);
    let r = sample(py, total, n_threads, progress.as_ref(), |prog| {
        an::path_integral_annealing(&p, &params, Some(prog))
    })?;
    let out = sampled(py, r.samples, r.stats)?;
    out.3.set_item("gamma_range", r.gamma_range)?;
    out.3.set_item("beta", r.beta)?;
    out.3.set_item("trotter_slices", trotter_slices)?;
    out.3
        .set_item("world_line_acceptance", r.world_line_acceptance)?;
    Ok(out)
}

/// Replica exchange (parallel tempering).
#[pyfunction]
#[pyo3(signature = (model, num_reads, num_replicas, num_sweeps, beta_range, adaptive, keep, seed,
    trace_every, n_threads=None, progress=None, device="auto", first_read=0))]
#[allow(clippy::too_many_arguments)]
fn replica_exchange<'py>(
    py: Python<'py>,
    model: &PyIsingProblem,
    num_reads: usize,
    num_replicas: usize,
    num_sweeps: usize,
    beta_range: Option<(f64, f64)>,
    adaptive: bool,
    keep: &str,
    seed: u64,
    trace_every: usize,
    n_threads: Option<usize>,
    progress: Option<Bound<'py, PyAny>>,
    device: &str,
    first_read: u64,
) -> PyResult<Sampled<'py>> {
    let keep = match keep {
        "last" => an::Keep::Last,
        "best" => an::Keep::Best,
        other => {
            return Err(err(an::Error::InvalidArgument {
                name: "keep",
                reason: format!("must be 'last' or 'best', got {other:?}"),
            }))
        }
    };
    let params = an::PtParams {
        num_reads,
        num_replicas,
        num_sweeps,
        beta_range,
        adaptive,
        keep,
        seed,
        trace_every,
        first_read,
    };
    let p = Arc::clone(&model.inner);
    let total = num_reads.saturating_mul(num_sweeps);
    let on = compute_for(py, device, &an::pt_work(&p, &params))?;
    let r = sample(py, total, n_threads, progress.as_ref(), |prog| {
        an::replica_exchange_on(&on, &p, &params, Some(prog))
    })?;
    let out = sampled(py, r.samples, r.stats)?;
    out.3.set_item("device", on.name())?;
    out.3.set_item("betas", PyArray1::from_vec(py, r.betas))?;
    out.3
        .set_item("swap_acceptance", PyArray1::from_vec(py, r.swap_acceptance))?;
    out.3
        .set_item("swap_attempts", PyArray1::from_vec(py, r.swap_attempts))?;
    out.3
        .set_item("swap_accepts", PyArray1::from_vec(py, r.swap_accepts))?;
    let reads = r.read_betas.len() / num_replicas.max(1);
    let read_betas = PyArray1::from_vec(py, r.read_betas).reshape([reads, num_replicas])?;
    out.3.set_item("read_betas", read_betas)?;
    out.3.set_item("round_trips", r.round_trips)?;
    Ok(out)
}

/// (states, energies, num_occurrences) of a merged sample set.
type Merged<'py> = (
    Bound<'py, PyArray2<i8>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
);

/// Re-aggregates sample-set rows (states, energies, counts) into distinct states, lowest energy first
/// (ties by state), with their counts summed: the sample set of several runs' reads together.
#[pyfunction]
fn merge_samples<'py>(
    py: Python<'py>,
    states: PyReadonlyArray2<'_, i8>,
    energies: PyReadonlyArray1<'_, f64>,
    counts: PyReadonlyArray1<'_, u64>,
) -> PyResult<Merged<'py>> {
    let num_variables = states.shape()[1];
    let part = SampleSet {
        num_variables,
        states: states
            .as_slice()
            .map_err(|_| crate::errors::invalid_input("states: array must be C-contiguous"))?
            .to_vec(),
        energies: slice("energies", &energies)?.to_vec(),
        num_occurrences: slice("counts", &counts)?.to_vec(),
    };
    let s = run_detached(py, || SampleSet::merge(&[part]), anneal_error)?;
    let rows = s.len();
    Ok((
        PyArray1::from_vec(py, s.states).reshape([rows, num_variables])?,
        PyArray1::from_vec(py, s.energies),
        PyArray1::from_vec(py, s.num_occurrences),
    ))
}

/// Free-energy minimisation on the simplex; returns a dict of the result's fields.
#[pyfunction]
#[pyo3(signature = (coupling, h, temperature, chains, langevin_steps, max_iterations, tolerance,
    seed, n_threads=None))]
#[allow(clippy::too_many_arguments)]
fn minimize_free_energy<'py>(
    py: Python<'py>,
    coupling: PyReadonlyArray2<'_, f64>,
    h: PyReadonlyArray1<'_, f64>,
    temperature: f64,
    chains: usize,
    langevin_steps: usize,
    max_iterations: usize,
    tolerance: f64,
    seed: u64,
    n_threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let k = coupling
        .as_slice()
        .map_err(|_| crate::errors::invalid_input("coupling: array must be C-contiguous"))?;
    let h = slice("h", &h)?;
    let params = an::SimplexParams {
        temperature,
        chains,
        langevin_steps,
        max_iterations,
        tolerance,
        seed,
    };
    // With progress so that Ctrl-C cancels even a long Langevin phase.
    let r = sample(
        py,
        chains.saturating_mul(langevin_steps),
        n_threads,
        None,
        |prog| an::minimize_free_energy_with(k, h, &params, Some(prog)),
    )?;
    let d = PyDict::new(py);
    d.set_item("weights", PyArray1::from_vec(py, r.weights))?;
    d.set_item("free_energy", r.free_energy)?;
    d.set_item("energy", r.energy)?;
    d.set_item("entropy", r.entropy)?;
    d.set_item("iterations", r.iterations)?;
    d.set_item("converged", r.converged)?;
    d.set_item(
        "chain_free_energies",
        PyArray1::from_vec(py, r.chain_free_energies),
    )?;
    Ok(d)
}

fn chains_of<'a>(a: &'a PyReadonlyArray2<'_, f64>) -> PyResult<(&'a [f64], usize)> {
    let rows = a.shape()[0];
    let data = a
        .as_slice()
        .map_err(|_| crate::errors::invalid_input("chains: array must be C-contiguous"))?;
    Ok((data, rows))
}

/// Gelman-Rubin R-hat of the rows of `chains`.
#[pyfunction]
fn gelman_rubin(chains: PyReadonlyArray2<'_, f64>) -> PyResult<f64> {
    let (data, rows) = chains_of(&chains)?;
    an::gelman_rubin(data, rows).map_err(err)
}

/// Effective sample size over the rows of `chains`.
#[pyfunction]
fn effective_sample_size(chains: PyReadonlyArray2<'_, f64>) -> PyResult<f64> {
    let (data, rows) = chains_of(&chains)?;
    an::effective_sample_size(data, rows).map_err(err)
}

fn model(p: IsingProblem) -> PyIsingProblem {
    PyIsingProblem { inner: Arc::new(p) }
}

/// Sherrington-Kirkpatrick instance with +-1 couplings.
#[pyfunction]
fn sherrington_kirkpatrick(n: usize, seed: u64) -> PyResult<PyIsingProblem> {
    an::instances::sherrington_kirkpatrick(n, seed)
        .map(model)
        .map_err(err)
}

/// Random d-regular instance with +-1 couplings.
#[pyfunction]
fn random_regular(n: usize, degree: usize, seed: u64) -> PyResult<PyIsingProblem> {
    an::instances::random_regular(n, degree, seed)
        .map(model)
        .map_err(err)
}

/// Planted frustrated-loop instance: (model, hidden state, ground energy).
#[pyfunction]
fn planted_frustrated_loops<'py>(
    py: Python<'py>,
    n: usize,
    loops: usize,
    loop_length: usize,
    seed: u64,
) -> PyResult<(PyIsingProblem, Bound<'py, PyArray1<i8>>, f64)> {
    let (p, hidden, ground) =
        an::instances::planted_frustrated_loops(n, loops, loop_length, seed).map_err(err)?;
    Ok((model(p), PyArray1::from_vec(py, hidden), ground))
}

/// Registers the annealing functions and the `IsingProblem` class.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyIsingProblem>()?;
    m.add_function(wrap_pyfunction!(simulated_annealing, m)?)?;
    m.add_function(wrap_pyfunction!(path_integral_annealing, m)?)?;
    m.add_function(wrap_pyfunction!(replica_exchange, m)?)?;
    m.add_function(wrap_pyfunction!(merge_samples, m)?)?;
    m.add_function(wrap_pyfunction!(minimize_free_energy, m)?)?;
    m.add_function(wrap_pyfunction!(gelman_rubin, m)?)?;
    m.add_function(wrap_pyfunction!(effective_sample_size, m)?)?;
    m.add_function(wrap_pyfunction!(sherrington_kirkpatrick, m)?)?;
    m.add_function(wrap_pyfunction!(random_regular, m)?)?;
    m.add_function(wrap_pyfunction!(planted_frustrated_loops, m)?)?;
    Ok(())
}
