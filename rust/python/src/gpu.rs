//! Bindings of GPU discovery.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use thermoconsensus_gpu as gpu;
use thermoconsensus_runtime::{self as runtime, Compute, Work};

/// True when a CUDA driver and at least one device are usable.
#[pyfunction]
fn gpu_available(py: Python<'_>) -> bool {
    py.detach(gpu::gpu_available)
}

/// Why no GPU is usable (None when one is).
#[pyfunction]
fn gpu_unavailable_reason(py: Python<'_>) -> Option<String> {
    py.detach(gpu::unavailable_reason)
}

/// The CUDA devices, as dicts (empty without a GPU).
#[pyfunction]
fn devices(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    py.detach(gpu::devices)
        .into_iter()
        .map(|d| {
            let dict = PyDict::new(py);
            dict.set_item("ordinal", d.ordinal)?;
            dict.set_item("name", d.name)?;
            dict.set_item("total_memory", d.total_memory)?;
            dict.set_item("compute_capability", d.compute_capability)?;
            dict.set_item("multiprocessors", d.multiprocessors)?;
            Ok(dict)
        })
        .collect()
}

/// Compiles every bundled CUDA kernel through NVRTC; returns their names.
#[pyfunction]
fn compile_kernels(py: Python<'_>) -> PyResult<Vec<String>> {
    crate::detach::run_detached(
        py,
        || {
            gpu::compile_all()?;
            Ok(gpu::KERNEL_SOURCES
                .iter()
                .map(|(n, _)| n.to_string())
                .collect())
        },
        crate::errors::gpu_error,
    )
}

/// True when an NVRTC library can be loaded.
#[pyfunction]
fn nvrtc_available(py: Python<'_>) -> bool {
    py.detach(gpu::nvrtc_available)
}

/// Resolves "auto" | "cpu" | "cuda" | "cuda:N" to "cpu" or "cuda:N".
#[pyfunction]
#[pyo3(signature = (device, large_enough=true))]
fn resolve_device(py: Python<'_>, device: &str, large_enough: bool) -> PyResult<String> {
    let work = Work::sized(usize::from(large_enough), 1);
    match runtime::choose(device, &work) {
        Ok(None) => Ok("cpu".to_string()),
        Ok(Some(ordinal)) => Ok(format!("cuda:{ordinal}")),
        Err(e) => Err(crate::errors::runtime_error(py, e)),
    }
}

/// Registers this domain's functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gpu_available, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_unavailable_reason, m)?)?;
    m.add_function(wrap_pyfunction!(devices, m)?)?;
    m.add_function(wrap_pyfunction!(compile_kernels, m)?)?;
    m.add_function(wrap_pyfunction!(nvrtc_available, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_device, m)?)?;
    Ok(())
}

/// Where `work` runs for the user's `device` string: the binding only hands both to the runtime's one
/// decision ([`runtime::resolve`]). A device that cannot be set up is a `GpuError` even under "auto";
/// `_arrays.on_device` in the Python package is the one place that then warns and reruns on the CPU.
pub fn compute_for(py: Python<'_>, device: &str, work: &Work) -> PyResult<Compute> {
    py.detach(|| runtime::resolve(device, work))
        .map_err(|e| crate::errors::runtime_error(py, e))
}
