//! The one error type for what the engines run on: thread pools, cancellation and devices.
//!
//! Every engine error wraps it with `#[from]`, so a pool or device failure keeps its kind through the
//! layers and the Python binding maps it in one place.

/// A failure of the runtime rather than of an engine's input.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// `n_threads` is out of range (0, or more than [`crate::MAX_THREADS`]).
    #[error("n_threads: {0}")]
    InvalidThreads(String),
    /// The rayon thread pool could not be built (the OS refused the threads).
    #[error("could not start a thread pool: {0}")]
    ThreadPool(String),
    /// The computation was cancelled through its [`crate::Progress`] handle.
    #[error("cancelled")]
    Cancelled,
    /// Choosing, setting up or using a device failed (driver, launch, copy, emulator, device string).
    #[error("GPU: {0}")]
    Device(#[from] thermoconsensus_gpu::Error),
    /// The input is valid but the device path does not handle it (e.g. a weight type its kernels do
    /// not multiply); the message says what to use instead.
    #[error("GPU: {0}")]
    Unsupported(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
