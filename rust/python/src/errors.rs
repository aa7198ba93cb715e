//! The one mapping from engine errors to the Python exception hierarchy.
//!
//! `thermoconsensus.Error` is the base of every error the engines raise; each subclass also derives
//! Python's usual class (`InvalidInputError` a `ValueError`, `GpuError` a `RuntimeError`,
//! `FileNotFoundError`, `IsADirectoryError` and `OSError` the built-ins of the same name, `MemoryError`
//! the built-in), so callers can catch either. The subclasses are made with `type(name, bases, {})`
//! because they inherit from two built-in bases.

use pyo3::exceptions::{
    PyException, PyFileNotFoundError, PyIsADirectoryError, PyMemoryError, PyOSError,
    PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

pyo3::create_exception!(
    thermoconsensus,
    Error,
    PyException,
    "Base class of every error raised by thermoconsensus."
);

static INVALID_INPUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static GPU_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static FILE_NOT_FOUND: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static IS_A_DIRECTORY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static OS_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static MEMORY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn subclass<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
    other: Bound<'py, PyType>,
    doc: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.get_or_try_init(py, || {
        let bases = PyTuple::new(py, [py.get_type::<Error>(), other])?;
        let ns = PyDict::new(py);
        ns.set_item("__doc__", doc)?;
        ns.set_item("__module__", "thermoconsensus")?;
        let t = py
            .get_type::<PyType>()
            .call1((name, bases, ns))?
            .cast_into::<PyType>()?;
        Ok(t.unbind())
    })
    .map(|t| t.bind(py))
}

/// `thermoconsensus.InvalidInputError(Error, ValueError)`.
pub fn invalid_input_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    subclass(
        py,
        &INVALID_INPUT,
        "InvalidInputError",
        py.get_type::<PyValueError>(),
        "An argument is invalid (wrong length, non-finite values, out-of-range parameter...).",
    )
}

/// `thermoconsensus.GpuError(Error, RuntimeError)`.
pub fn gpu_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    subclass(
        py,
        &GPU_ERROR,
        "GpuError",
        py.get_type::<PyRuntimeError>(),
        "A GPU was requested but cannot be used, or a CUDA call failed.",
    )
}

/// `thermoconsensus.FileNotFoundError(Error, FileNotFoundError)`.
pub fn file_not_found_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    subclass(
        py,
        &FILE_NOT_FOUND,
        "FileNotFoundError",
        py.get_type::<PyFileNotFoundError>(),
        "A file the call needs does not exist.",
    )
}

/// `thermoconsensus.IsADirectoryError(Error, IsADirectoryError)`.
pub fn is_a_directory_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    subclass(
        py,
        &IS_A_DIRECTORY,
        "IsADirectoryError",
        py.get_type::<PyIsADirectoryError>(),
        "A path the call reads as a file is a directory.",
    )
}

/// `thermoconsensus.OSError(Error, OSError)`.
pub fn os_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    subclass(
        py,
        &OS_ERROR,
        "OSError",
        py.get_type::<PyOSError>(),
        "A file could not be opened, read or mapped (a FIFO, a device, no permission...).",
    )
}

/// `thermoconsensus.MemoryError(Error, MemoryError)`.
pub fn memory_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    subclass(
        py,
        &MEMORY_ERROR,
        "MemoryError",
        py.get_type::<PyMemoryError>(),
        "The memory a call needs (sized by the argument named) cannot be allocated.",
    )
}

/// `thermoconsensus.InvalidInputError` with `msg`: for bad input the binding itself finds (an array
/// that is not C-contiguous, a missing argument), so it never raises a bare ValueError.
pub fn invalid_input(msg: impl Into<String>) -> PyErr {
    Python::attach(|py| raise(invalid_input_type(py), msg.into()))
}

/// `thermoconsensus.MemoryError` with `msg`, for a request the binding itself finds too large.
pub fn memory_error(msg: impl Into<String>) -> PyErr {
    Python::attach(|py| raise(memory_error_type(py), msg.into()))
}

fn raise(t: PyResult<&Bound<'_, PyType>>, msg: String) -> PyErr {
    match t {
        Ok(t) => PyErr::from_type(t.clone(), msg),
        Err(e) => e,
    }
}

/// Maps an engine error of the information-theory crate.
pub fn info_error(py: Python<'_>, err: thermoconsensus_info::Error) -> PyErr {
    use thermoconsensus_info::Error as E;
    match err {
        E::Runtime(e) => runtime_error(py, e),
        E::InvalidArgument { .. }
        | E::LengthMismatch { .. }
        | E::NonFinite { .. }
        | E::TooFewSamples { .. } => raise(invalid_input_type(py), err.to_string()),
    }
}

/// Maps an engine error of the annealing crate.
pub fn anneal_error(py: Python<'_>, err: thermoconsensus_anneal::Error) -> PyErr {
    use thermoconsensus_anneal::Error as E;
    match err {
        E::Runtime(e) => runtime_error(py, e),
        E::InvalidArgument { .. } => raise(invalid_input_type(py), err.to_string()),
        E::OutOfMemory { .. } => raise(memory_error_type(py), err.to_string()),
    }
}

/// Maps an error of the inference crate: a bad file or argument is invalid input, a missing file is
/// the package's FileNotFoundError, other I/O failures its IsADirectoryError or OSError.
pub fn llm_error(py: Python<'_>, err: thermoconsensus_llm::Error) -> PyErr {
    use thermoconsensus_llm::Error as E;
    match err {
        E::Runtime(e) => runtime_error(py, e),
        E::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            raise(file_not_found_type(py), err.to_string())
        }
        E::Io { ref source, .. } if source.kind() == std::io::ErrorKind::IsADirectory => {
            raise(is_a_directory_type(py), err.to_string())
        }
        E::Io { .. } => raise(os_error_type(py), err.to_string()),
        E::OutOfMemory { .. } => raise(memory_error_type(py), err.to_string()),
        E::Format { .. } | E::InvalidArgument { .. } => {
            raise(invalid_input_type(py), err.to_string())
        }
    }
}

/// Maps a runtime failure: a bad `n_threads` is invalid input, a device failure goes through
/// [`gpu_error`], a cancelled run or a pool the OS refused is the base `Error`.
pub fn runtime_error(py: Python<'_>, err: thermoconsensus_runtime::Error) -> PyErr {
    use thermoconsensus_runtime::Error as E;
    match err {
        E::InvalidThreads(_) => raise(invalid_input_type(py), err.to_string()),
        E::Device(e) => gpu_error(py, e),
        E::Unsupported(_) => raise(gpu_error_type(py), err.to_string()),
        E::ThreadPool(_) | E::Cancelled => Error::new_err(err.to_string()),
    }
}

/// Maps an error of the GPU crate: a malformed device string is bad input, the rest are GPU errors.
pub fn gpu_error(py: Python<'_>, err: thermoconsensus_gpu::Error) -> PyErr {
    use thermoconsensus_gpu::Error as E;
    match err {
        E::InvalidDevice(_) => raise(invalid_input_type(py), format!("device: {err}")),
        _ => raise(gpu_error_type(py), err.to_string()),
    }
}

/// Registers the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("InvalidInputError", invalid_input_type(py)?)?;
    m.add("GpuError", gpu_error_type(py)?)?;
    m.add("FileNotFoundError", file_not_found_type(py)?)?;
    m.add("IsADirectoryError", is_a_directory_type(py)?)?;
    m.add("OSError", os_error_type(py)?)?;
    m.add("MemoryError", memory_error_type(py)?)?;
    Ok(())
}
