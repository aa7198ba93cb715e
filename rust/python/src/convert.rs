//! Conversions shared by the binding files: zero-copy views of numpy arrays and the engine-call helper.

use crate::detach::run_in_pool;
use crate::errors::info_error;
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use thermoconsensus_info as info;
use thermoconsensus_info::MatrixRef;

/// A borrowed view of a contiguous 2-D float64 array; `name` is the Python argument's name.
pub fn view<'a>(name: &'static str, a: &'a PyReadonlyArray2<'_, f64>) -> PyResult<MatrixRef<'a>> {
    let shape = a.shape();
    let data = a.as_slice().map_err(|_| not_contiguous(name))?;
    MatrixRef::new(name, data, shape[0], shape[1])
        .map_err(|e| Python::attach(|py| info_error(py, e)))
}

/// A borrowed slice of a contiguous 1-D int64 array; `name` is the Python argument's name.
pub fn series<'a>(name: &'static str, a: &'a PyReadonlyArray1<'_, i64>) -> PyResult<&'a [i64]> {
    a.as_slice().map_err(|_| not_contiguous(name))
}

fn not_contiguous(name: &str) -> PyErr {
    crate::errors::invalid_input(format!("{name}: array must be C-contiguous"))
}

/// [`run_in_pool`] for an information-engine call.
pub fn compute<T: Send>(
    py: Python<'_>,
    n_threads: Option<usize>,
    f: impl FnOnce() -> info::Result<T> + Send,
) -> PyResult<T> {
    run_in_pool(py, n_threads, f, info_error)
}
