//! The one error type of the information-theory engine.

/// Everything that can go wrong in `thermoconsensus-info`; each variant names the bad input.
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
    /// Two inputs that must have one sample per row have different numbers of rows.
    #[error("{name} has {got} samples but {other} has {expected}")]
    LengthMismatch {
        /// The argument with the unexpected length.
        name: &'static str,
        /// Its number of samples.
        got: usize,
        /// The argument it was compared with.
        other: &'static str,
        /// That argument's number of samples.
        expected: usize,
    },
    /// An input holds NaN or an infinity.
    #[error("{name} contains a non-finite value (NaN or infinity) at sample {row}, column {col}")]
    NonFinite {
        /// The argument holding the value.
        name: &'static str,
        /// Row of the first non-finite value.
        row: usize,
        /// Column of the first non-finite value.
        col: usize,
    },
    /// Too few samples for the requested estimate (e.g. N <= k, or an embedding longer than the series).
    #[error("{name}: {reason}")]
    TooFewSamples {
        /// The argument that is too short.
        name: &'static str,
        /// Why it is too short.
        reason: String,
    },
    /// A thread-pool, cancellation or device failure, with its kind kept.
    #[error(transparent)]
    Runtime(#[from] thermoconsensus_runtime::Error),
}

impl From<thermoconsensus_gpu::Error> for Error {
    fn from(e: thermoconsensus_gpu::Error) -> Self {
        Error::Runtime(e.into())
    }
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
