//! The crate's one error type.

/// Everything that can go wrong choosing a device or compiling a kernel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The crate was built without the `cuda` feature.
    #[error("built without the `cuda` feature")]
    CudaNotCompiled,
    /// CUDA was asked for but no usable GPU is present; carries the reason from
    /// [`unavailable_reason`](crate::unavailable_reason).
    #[error("CUDA requested but not available: {0}")]
    Unavailable(String),
    /// A device string that is none of `"auto"`, `"cpu"`, `"cuda"`, `"cuda:N"`.
    #[error("invalid device {0:?}: expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\"")]
    InvalidDevice(String),
    /// `"cuda:N"` with `N` at or past the number of devices.
    #[error("CUDA device {ordinal} requested but only {count} device(s) present")]
    DeviceOutOfRange {
        /// The ordinal asked for.
        ordinal: usize,
        /// How many devices the driver reports.
        count: usize,
    },
    /// No NVRTC library could be loaded; carries the libraries and directories searched.
    #[error("NVRTC not available: {0}")]
    NvrtcUnavailable(String),
    /// NVRTC rejected a kernel; `log` is NVRTC's program log.
    #[error("NVRTC failed to compile kernel `{name}`:\n{log}")]
    Compile {
        /// The kernel name given to [`compile_ptx`](crate::compile_ptx).
        name: String,
        /// NVRTC's compile log (or the failure that stopped compilation).
        log: String,
    },
    /// The driver failed: context creation, allocation, copy, or a launch (carries the driver's message).
    #[error("CUDA driver error: {0}")]
    Driver(String),
    /// A kernel could not be found or launched.
    #[error("kernel launch failed: {0}")]
    Launch(String),
    /// The host emulator could not build or load the kernels.
    #[error("CUDA emulator: {0}")]
    Emulator(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
