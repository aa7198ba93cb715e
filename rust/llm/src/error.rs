//! The one error type of the inference engine.

/// Everything that can go wrong in `thermoconsensus-llm`; each variant says what and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not a GGUF file this reader understands, or its header is inconsistent.
    #[error("{path}: {reason}")]
    Format {
        /// The file (or "<memory>").
        path: String,
        /// What is wrong, with the byte offset where it was found.
        reason: String,
    },
    /// The file could not be opened or mapped.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An argument is out of its valid range.
    #[error("{name}: {reason}")]
    InvalidArgument {
        /// The argument's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A buffer sized by the request could not be allocated (`what` names the request).
    #[error("{what}: cannot allocate {bytes} bytes")]
    OutOfMemory {
        /// What the memory was for, and the argument that sized it.
        what: String,
        /// Bytes asked for (saturated at u128::MAX when the size itself overflows).
        bytes: u128,
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
