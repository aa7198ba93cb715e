//! Bindings of the inference engine (`thermoconsensus.llm` wraps these).

use crate::detach::run_detached;
use crate::errors::llm_error;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use thermoconsensus_llm::{dequantize, GgufFile, Value};

fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::U8(x) => x.into_pyobject(py)?.into_any(),
        Value::I8(x) => x.into_pyobject(py)?.into_any(),
        Value::U16(x) => x.into_pyobject(py)?.into_any(),
        Value::I16(x) => x.into_pyobject(py)?.into_any(),
        Value::U32(x) => x.into_pyobject(py)?.into_any(),
        Value::I32(x) => x.into_pyobject(py)?.into_any(),
        Value::U64(x) => x.into_pyobject(py)?.into_any(),
        Value::I64(x) => x.into_pyobject(py)?.into_any(),
        Value::F32(x) => x.into_pyobject(py)?.into_any(),
        Value::F64(x) => x.into_pyobject(py)?.into_any(),
        Value::Bool(x) => x.into_pyobject(py)?.to_owned().into_any(),
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
    })
}

fn open(py: Python<'_>, path: &str) -> PyResult<GgufFile> {
    let p = path.to_string();
    run_detached(py, move || GgufFile::open(&p), llm_error)
}

/// The header of a GGUF file: {"version", "alignment", "data_offset", "metadata", "tensors"}.
#[pyfunction]
fn gguf_header<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyDict>> {
    let file = open(py, path)?;
    let h = file.header();
    let out = PyDict::new(py);
    out.set_item("version", h.version)?;
    out.set_item("alignment", h.alignment)?;
    out.set_item("data_offset", h.data_offset)?;
    let meta = PyDict::new(py);
    for (k, v) in &h.metadata {
        meta.set_item(k, to_py(py, v)?)?;
    }
    out.set_item("metadata", meta)?;
    let tensors = PyList::empty(py);
    for t in &h.tensors {
        let d = PyDict::new(py);
        d.set_item("name", &t.name)?;
        d.set_item("dims", t.dims.clone())?;
        d.set_item("type", t.ggml_type.name())?;
        d.set_item("offset", t.offset)?;
        d.set_item("n_bytes", t.n_bytes)?;
        tensors.append(d)?;
    }
    out.set_item("tensors", tensors)?;
    Ok(out)
}

/// Tensor `name` of a GGUF file dequantised to float32, flat (ggml order: dims[0] fastest).
#[pyfunction]
fn gguf_tensor<'py>(
    py: Python<'py>,
    path: &str,
    name: &str,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let file = open(py, path)?;
    let info = file.header().tensor(name).cloned().ok_or_else(|| {
        llm_error(
            py,
            thermoconsensus_llm::Error::InvalidArgument {
                name: "name",
                reason: format!("no tensor {name:?} in {path}"),
            },
        )
    })?;
    let n = usize::try_from(info.n_elements).map_err(|_| {
        pyo3::exceptions::PyMemoryError::new_err(format!("tensor {name:?} is too large"))
    })?;
    let data = run_detached(
        py,
        || {
            let mut out = vec![0.0f32; n];
            dequantize(info.ggml_type, file.tensor_data(&info), &mut out)?;
            Ok(out)
        },
        llm_error,
    )?;
    Ok(PyArray1::from_vec(py, data))
}

/// Registers the inference functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gguf_header, m)?)?;
    m.add_function(wrap_pyfunction!(gguf_tensor, m)?)?;
    Ok(())
}
