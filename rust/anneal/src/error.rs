//! The one error type of the annealing engine.

/// Everything that can go wrong in `thermoconsensus-anneal`; each variant names the bad input.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// An argument is out of its valid range (`name` is the argument's name).
    #[error("{name}: {reason}")]
    InvalidArgument {
        /// Name of the argument, as the user spells it.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The memory a run needs, sized by argument `name`, cannot be allocated (or its size overflows).
    #[error("{name}: the run needs {bytes} bytes of memory, which cannot be allocated")]
    OutOfMemory {
        /// The argument that sized the request.
        name: &'static str,
        /// Bytes needed (u128::MAX when the size itself overflows).
        bytes: u128,
    },
    /// A thread-pool, cancellation or device failure, with its kind kept.
    #[error(transparent)]
    Runtime(#[from] thermoconsensus_runtime::Error),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for [`Error::InvalidArgument`].
pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        name,
        reason: reason.into(),
    }
}

/// `Ok` when `x` is finite, else an error naming `name`.
pub(crate) fn finite(name: &'static str, x: f64) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(invalid(name, format!("must be finite, got {x}")))
    }
}

/// `Ok` when `x` is finite and > 0, else an error naming `name`.
pub(crate) fn positive(name: &'static str, x: f64) -> Result<f64> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(invalid(
            name,
            format!("must be a finite number > 0, got {x}"),
        ))
    }
}

impl From<thermoconsensus_gpu::Error> for Error {
    fn from(e: thermoconsensus_gpu::Error) -> Self {
        Error::Runtime(e.into())
    }
}

impl Error {
    /// The error of a cancelled run.
    pub(crate) fn cancelled() -> Self {
        Error::Runtime(thermoconsensus_runtime::Error::Cancelled)
    }
}
