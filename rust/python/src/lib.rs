//! `thermoconsensus._core`: the native module. Conversions, error mapping and GIL release only; every
//! algorithm lives in the engine crates.

mod anneal;
mod convert;
mod detach;
mod discrete;
mod embed;
mod errors;
mod gpu;
mod info;
mod llm;

use pyo3::prelude::*;

/// The native core of thermoconsensus (private: import `thermoconsensus` instead).
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    info::register(m)?;
    anneal::register(m)?;
    llm::register(m)?;
    discrete::register(m)?;
    embed::register(m)?;
    gpu::register(m)?;
    Ok(())
}
