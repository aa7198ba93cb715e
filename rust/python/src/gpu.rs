//! Bindings of GPU discovery.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use thermoconsensus_gpu as gpu;

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
    gpu::resolve(device, large_enough)
        .map(|d| d.to_string())
        .map_err(|e| crate::errors::gpu_error(py, e))
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

/// The executor for a user's `device` string, or `None` for the CPU. `"auto"` takes the GPU only when
/// `large_enough`, and falls back to the CPU if the GPU cannot be set up; an explicit `"cuda"` reports why not.
pub fn executor_for(
    py: Python<'_>,
    device: &str,
    large_enough: bool,
) -> PyResult<Option<std::sync::Arc<gpu::Executor>>> {
    let auto = device.trim().eq_ignore_ascii_case("auto");
    match gpu::resolve(device, large_enough).map_err(|e| crate::errors::gpu_error(py, e))? {
        gpu::Device::Cpu => Ok(None),
        d => match py.detach(|| gpu::Executor::get(d)) {
            Ok(e) => Ok(Some(e)),
            Err(_) if auto => Ok(None),
            Err(e) => Err(crate::errors::gpu_error(py, e)),
        },
    }
}

/// [`executor_for`] as the information engine's [`Compute`](thermoconsensus_info::Compute).
pub fn info_compute(
    py: Python<'_>,
    device: &str,
    n_samples: usize,
) -> PyResult<thermoconsensus_info::Compute> {
    let large = n_samples >= thermoconsensus_info::gpu::GPU_MIN_SAMPLES;
    Ok(executor_for(py, device, large)?.map_or(
        thermoconsensus_info::Compute::Cpu,
        thermoconsensus_info::Compute::Device,
    ))
}
