//! CUDA device discovery and run-time compilation of the `cuda/*.cu` kernels through NVRTC.
//!
//! The GPU is optional and never assumed (see `ARCHITECTURE.md`): everything here answers "no" with a reason
//! instead of failing when the crate was built without the `cuda` feature, when the driver library
//! (`libcuda.so.1`) or NVRTC (`libnvrtc.so.12`) is missing, or when no device is present. cudarc is built with
//! `dynamic-loading`, so building needs no CUDA toolkit; its loaders panic when a library is absent, so every
//! path here checks `is_culib_present()` first and wraps the rest in `catch_unwind` as a last line of defence.
//!
//! Library lookup (see [`nvrtc_available`]): the dynamic loader's usual path (`LD_LIBRARY_PATH`, ldconfig)
//! first, then the directories in `THERMOCONSENSUS_CUDA_LIB_DIRS` (separated like `PATH`), then, for NVRTC
//! only, `$CUDA_HOME`/`$CUDA_PATH` `lib64`/`lib`/`bin` and `/usr/local/cuda/lib64`. The Python package points
//! the variable at the `nvidia-cuda-nvrtc-cu12` wheel's `lib` directory so a plain `pip install` is enough.
//! A library on the loader path wins: cudarc (built for CUDA 12.8) opens `libnvrtc.so` before
//! `libnvrtc.so.12`, so a toolkit's unversioned `libnvrtc.so` is used even when the variable is set.
//!
//! The design follows candle's `cuda_if_available` (device choice) and `get_or_load_func` (kernels compiled
//! once, cached behind a read lock, NVRTC log carried in the error).

#![deny(missing_docs)]

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{OnceLock, PoisonError, RwLock};

#[cfg(feature = "cuda")]
mod cuda;
#[cfg(feature = "cuda")]
use cuda as backend;
#[cfg(not(feature = "cuda"))]
mod dummy;
#[cfg(not(feature = "cuda"))]
use dummy as backend;

mod emulator;
mod error;
mod launch;
mod runtime;

pub use error::{Error, Result};
pub use runtime::{Arg, BufRef, Buffer, Executor, Grid, Pod};

/// Set to `1` to run every CUDA path on the host emulator (`cuda/emulator.hpp`) instead of a GPU: the probe
/// then reports one emulated device and [`Executor`] compiles the kernels with the system C++ compiler. For
/// testing the GPU twins on machines without a GPU; read once, at the first probe.
pub const EMULATOR_ENV: &str = "THERMOCONSENSUS_CUDA_EMULATOR";

/// The name the emulated device reports.
pub const EMULATOR_NAME: &str = "thermoconsensus CUDA emulator (host threads)";

/// `true` when [`EMULATOR_ENV`] is `1` (read once per process).
pub fn emulator_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var(EMULATOR_ENV).is_ok_and(|v| v.trim() == "1"))
}

/// Every kernel source under `cuda/`, as `(name, CUDA C source)`, embedded at build time so the wheel carries
/// them; [`compile_all`] compiles each (CI runs it wherever an NVRTC library exists).
pub const KERNEL_SOURCES: &[(&str, &str)] = &[
    ("selftest", include_str!("../../../cuda/selftest.cu")),
    ("ksg", include_str!("../../../cuda/ksg.cu")),
    ("anneal", include_str!("../../../cuda/anneal.cu")),
    ("llm", include_str!("../../../cuda/llm.cu")),
];

/// One CUDA device as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Driver ordinal, the `N` in `"cuda:N"`.
    pub ordinal: usize,
    /// Marketing name, e.g. `"NVIDIA H100 80GB HBM3"`.
    pub name: String,
    /// Total device memory in bytes.
    pub total_memory: u64,
    /// Compute capability `(major, minor)`, e.g. `(9, 0)` for Hopper.
    pub compute_capability: (i32, i32),
    /// Number of streaming multiprocessors.
    pub multiprocessors: i32,
}

/// Outcome of the one-time driver probe: the devices found (never empty), or why there are none.
type Probe = std::result::Result<Vec<DeviceInfo>, String>;

/// Runs `f`, turning a panic (cudarc panics on a missing library or symbol) into `Err(reason)`.
fn guarded<T>(
    what: &str,
    f: impl FnOnce() -> std::result::Result<T, String>,
) -> std::result::Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(format!("{what} panicked: {msg}"))
    })
}

/// The driver is probed once per process: cuInit and the device queries are cheap but not free, and the
/// answer cannot change without a restart of the driver.
fn probe() -> &'static Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    PROBE.get_or_init(|| {
        if emulator_enabled() {
            return Ok(vec![DeviceInfo {
                ordinal: 0,
                name: EMULATOR_NAME.to_string(),
                total_memory: 0,
                compute_capability: (0, 0),
                multiprocessors: 1,
            }]);
        }
        guarded("CUDA driver probe", backend::probe_devices)
    })
}

/// `true` only when the crate was built with the `cuda` feature, the driver library is present, `cuInit`
/// succeeds and at least one device exists. Never panics; the answer is computed once and cached.
pub fn gpu_available() -> bool {
    probe().is_ok()
}

/// Why [`gpu_available`] is `false` (e.g. ``"built without the `cuda` feature"``,
/// `"CUDA driver library (libcuda.so) not found ..."`, `"cuInit failed: ..."`, `"no CUDA devices"`), or `None`
/// when a GPU is available.
pub fn unavailable_reason() -> Option<String> {
    probe().as_ref().err().cloned()
}

/// The CUDA devices present, in ordinal order; empty when [`gpu_available`] is `false`.
pub fn devices() -> Vec<DeviceInfo> {
    probe().clone().unwrap_or_default()
}

/// Environment variable naming extra directories (separated like `PATH`) in which to look for the CUDA
/// libraries (`libnvrtc.so.12`, `libcuda.so.1`) when the dynamic loader does not find them. Read once, at the
/// first probe, so it must be set before the first call into this crate.
pub const CUDA_LIB_DIRS_ENV: &str = "THERMOCONSENSUS_CUDA_LIB_DIRS";

/// NVRTC is probed (and, if need be, located) once per process; `Ok` holds its version.
fn nvrtc_probe() -> &'static std::result::Result<(i32, i32), String> {
    static PROBE: OnceLock<std::result::Result<(i32, i32), String>> = OnceLock::new();
    PROBE.get_or_init(|| guarded("NVRTC probe", backend::probe_nvrtc))
}

/// `true` when kernels can be compiled: built with `cuda` and an NVRTC library was found (no driver or GPU is
/// needed to compile). Looks on the loader path first, then in [`CUDA_LIB_DIRS_ENV`] and the usual toolkit
/// directories (see the crate docs). Never panics; computed once.
pub fn nvrtc_available() -> bool {
    nvrtc_probe().is_ok()
}

/// The NVRTC version `(major, minor)` found, or `None` when [`nvrtc_available`] is `false`.
pub fn nvrtc_version() -> Option<(i32, i32)> {
    nvrtc_probe().as_ref().ok().copied()
}

/// Why [`nvrtc_available`] is `false`, naming the libraries and directories searched; `None` when it is `true`.
pub fn nvrtc_unavailable_reason() -> Option<String> {
    nvrtc_probe().as_ref().err().cloned()
}

/// Compiled PTX by kernel name, with a hash of the source it came from so that a different source under the
/// same name is recompiled rather than silently served stale.
type PtxCache = RwLock<HashMap<String, (u64, String)>>;

fn ptx_cache() -> &'static PtxCache {
    static CACHE: OnceLock<PtxCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn source_hash(source: &str) -> u64 {
    let mut h = DefaultHasher::new();
    source.hash(&mut h);
    h.finish()
}

/// Compiles CUDA C `source` to PTX through NVRTC, once per process for each `name` (later calls hit a cache
/// behind a read lock). The PTX targets NVRTC's default virtual architecture, so the driver JIT-compiles it
/// for whichever device loads it.
///
/// # Errors
/// [`Error::CudaNotCompiled`] without the `cuda` feature; [`Error::NvrtcUnavailable`] when no NVRTC library
/// was found; [`Error::Compile`] with the NVRTC log when the source does not compile.
pub fn compile_ptx(name: &str, source: &str) -> Result<String> {
    if !cfg!(feature = "cuda") {
        return Err(Error::CudaNotCompiled);
    }
    let hash = source_hash(source);
    {
        let cache = ptx_cache().read().unwrap_or_else(PoisonError::into_inner);
        if let Some((h, ptx)) = cache.get(name) {
            if *h == hash {
                return Ok(ptx.clone());
            }
        }
    }
    if let Err(reason) = nvrtc_probe() {
        return Err(Error::NvrtcUnavailable(reason.clone()));
    }
    if source.contains('\0') {
        // cudarc would panic converting the source to a C string.
        return Err(Error::Compile {
            name: name.to_string(),
            log: "source contains a NUL byte".to_string(),
        });
    }
    let ptx = guarded("NVRTC compile", || backend::compile(name, source)).map_err(|log| {
        Error::Compile {
            name: name.to_string(),
            log,
        }
    })?;
    // Two threads may compile the same kernel at once; both results are equal, the last insert wins.
    ptx_cache()
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.to_string(), (hash, ptx.clone()));
    Ok(ptx)
}

/// Compiles every entry of [`KERNEL_SOURCES`], returning the PTX in the same order.
///
/// # Errors
/// The first error of [`compile_ptx`].
pub fn compile_all() -> Result<Vec<String>> {
    KERNEL_SOURCES
        .iter()
        .map(|(name, source)| compile_ptx(name, source))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_sources_are_named_and_nonempty() {
        assert!(!KERNEL_SOURCES.is_empty());
        for (name, source) in KERNEL_SOURCES {
            assert!(!name.is_empty());
            assert!(source.contains("__global__"), "{name} has no kernel");
        }
    }

    #[test]
    fn guarded_turns_panics_into_errors() {
        let r: std::result::Result<(), String> = guarded("test", || panic!("boom"));
        assert_eq!(r, Err("test panicked: boom".to_string()));
    }

    #[test]
    fn probes_are_consistent() {
        assert_eq!(gpu_available(), unavailable_reason().is_none());
        assert_eq!(gpu_available(), !devices().is_empty());
        assert_eq!(nvrtc_available(), nvrtc_unavailable_reason().is_none());
    }
}
