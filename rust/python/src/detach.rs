//! The one helper through which every engine call runs: GIL released, panics contained.

use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f` with the GIL released. A panic inside the engine (a bug, never expected) becomes
/// `thermoconsensus.Error` instead of crossing into Python as a `PanicException`.
pub fn run_detached<T: Send, E: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, E> + Send,
    map: impl FnOnce(Python<'_>, E) -> PyErr,
) -> PyResult<T> {
    match py.detach(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(map(py, e)),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(crate::errors::Error::new_err(format!(
                "internal error in the native engine (please report): {what}"
            )))
        }
    }
}
