//! thermoconsensus-runtime: what every engine runs on.
//!
//! * [`run_with_threads`] / [`with_threads`]: per-call rayon pools (`n_threads`, else
//!   `THERMOCONSENSUS_NUM_THREADS`, else all cores), cached and safe across `fork`;
//! * [`Progress`]: a shared counter and cancel flag that long computations advance and check;
//! * [`resolve`]: the device contract, the one place a user's `device=` and an engine's [`Work`]
//!   become a [`Compute`] (CPU or a device's executor);
//! * [`Error`]: the one error type of pool and device failures, which each engine's error wraps.
//!
//! It sits between `thermoconsensus-gpu` (the CUDA driver, NVRTC and the host emulator) and the engines
//! (info, anneal, llm), so no engine depends on another for these; device failures from the gpu crate
//! arrive here as [`Error::Device`].
#![deny(missing_docs)]

pub mod device;
pub mod error;
pub mod pool;
pub mod progress;

pub use device::{choose, resolve, Compute, Request, Work};
pub use error::{Error, Result};
pub use pool::{run_with_threads, with_threads, MAX_THREADS, THREADS_ENV};
pub use progress::Progress;
pub use thermoconsensus_gpu::{Executor, EMULATOR_ENV};
