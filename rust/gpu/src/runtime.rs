//! The [`Executor`] (one per device) and its typed [`Buffer`]s: device memory and kernel launches behind one
//! small interface (`launch.rs`), so the engines' GPU twins are written once and run on a real GPU (cudarc)
//! or, for tests on machines without one, on the host emulator (`emulator.rs`).
//!
//! The engines only ever: upload slices, allocate zeroed buffers, launch a kernel of a `cuda/*.cu` module by
//! name with a list of [`Arg`]s, and download results. Kernel arguments follow the CUDA convention (an array of
//! pointers to the argument values), which both backends honour, so argument order and types are checked the
//! same way on both: by the twin tests.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

pub use crate::launch::{Arg, BufRef, Grid, Pod};
use crate::launch::{Backend, RawBuffer};
use crate::{Error, Result};

/// A typed array in device memory (host memory under the emulator).
pub struct Buffer<T: Pod> {
    pub(crate) raw: RawBuffer,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> Buffer<T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer as a kernel argument (a pointer to its first element).
    pub fn arg(&self) -> Arg<'_> {
        Arg::Buf(BufRef(&self.raw))
    }
}

/// Runs kernels on one device. Obtain it with [`Executor::get`]; one per device per process.
pub struct Executor {
    backend: Box<dyn Backend>,
    name: String,
    emulated: bool,
}

impl Executor {
    /// The executor of CUDA device `ordinal`, created on first use and shared. Which device a job uses is
    /// decided elsewhere (the runtime crate's `resolve`).
    ///
    /// With `THERMOCONSENSUS_CUDA_EMULATOR=1` every CUDA device is the host emulator (see
    /// [`EMULATOR_ENV`](crate::EMULATOR_ENV)).
    ///
    /// # Errors
    /// [`Error::Unavailable`] without a usable device, [`Error::Driver`] when the context cannot be created,
    /// [`Error::Emulator`] when the emulator's kernels cannot be built.
    pub fn get(ordinal: usize) -> Result<Arc<Executor>> {
        type Cache = Mutex<HashMap<usize, Arc<Executor>>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let mut cache = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = cache.get(&ordinal) {
            return Ok(e.clone());
        }
        let devices = crate::devices();
        let info = devices
            .get(ordinal)
            .ok_or_else(|| match crate::unavailable_reason() {
                Some(reason) => Error::Unavailable(reason),
                None => Error::DeviceOutOfRange {
                    ordinal,
                    count: devices.len(),
                },
            })?;
        let exec = if crate::emulator_enabled() {
            Executor::emulator()?
        } else {
            Arc::new(Executor {
                backend: real_backend(ordinal)?,
                name: info.name.clone(),
                emulated: false,
            })
        };
        cache.insert(ordinal, exec.clone());
        Ok(exec)
    }

    /// The host emulator (see [`EMULATOR_ENV`](crate::EMULATOR_ENV)), whatever the environment says: for tests
    /// that run a GPU twin on the CPU. Built on first use and shared.
    ///
    /// # Errors
    /// [`Error::Emulator`] when no C++20 compiler is found or a kernel does not compile as host C++.
    pub fn emulator() -> Result<Arc<Executor>> {
        static EMU: OnceLock<std::result::Result<Arc<Executor>, Error>> = OnceLock::new();
        EMU.get_or_init(|| {
            Ok(Arc::new(Executor {
                backend: Box::new(crate::emulator::Emulator::build()?),
                name: crate::EMULATOR_NAME.to_string(),
                emulated: true,
            }))
        })
        .clone()
    }

    /// The executors a twin test should compare with the CPU: the emulator, plus every real GPU present.
    /// Returns the reason in place of an executor that cannot be created.
    pub fn all_for_tests() -> Vec<std::result::Result<Arc<Executor>, Error>> {
        let mut out = vec![Executor::emulator()];
        if !crate::emulator_enabled() {
            for d in crate::devices() {
                out.push(Executor::get(d.ordinal));
            }
        }
        out
    }

    /// The device's name as the driver reports it (or the emulator's).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `true` when kernels run on the host emulator rather than a GPU.
    pub fn is_emulated(&self) -> bool {
        self.emulated
    }

    /// Copies `data` to a new device buffer.
    ///
    /// # Errors
    /// [`Error::Driver`] when the allocation or copy fails (e.g. out of device memory).
    pub fn upload<T: Pod>(&self, data: &[T]) -> Result<Buffer<T>> {
        let raw = self.backend.upload(bytemuck::cast_slice(data))?;
        Ok(Buffer {
            raw,
            len: data.len(),
            _t: PhantomData,
        })
    }

    /// A new device buffer of `len` zeroed elements.
    ///
    /// # Errors
    /// [`Error::Driver`] when the allocation fails.
    pub fn zeros<T: Pod>(&self, len: usize) -> Result<Buffer<T>> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| Error::Driver(format!("buffer of {len} elements is too large")))?;
        Ok(Buffer {
            raw: self.backend.alloc_zeroed(bytes)?,
            len,
            _t: PhantomData,
        })
    }

    /// Waits for the device and copies `buf` back.
    ///
    /// # Errors
    /// [`Error::Driver`] when a kernel launched earlier failed or the copy fails.
    pub fn download<T: Pod>(&self, buf: &Buffer<T>) -> Result<Vec<T>> {
        let bytes = self
            .backend
            .download(&buf.raw, buf.len * std::mem::size_of::<T>())?;
        // The bytes may not be aligned for T: copy element by element through bytemuck's unaligned read.
        Ok(bytes
            .chunks_exact(std::mem::size_of::<T>().max(1))
            .take(buf.len)
            .map(bytemuck::pod_read_unaligned)
            .collect())
    }

    /// Launches `kernel` of the `cuda/<module>.cu` source with `args`.
    ///
    /// # Safety
    /// The argument list must match the kernel's parameters in number, order and type, and every buffer must
    /// be as large as the kernel will index for the given sizes: a kernel reads and writes raw memory.
    ///
    /// # Errors
    /// [`Error::Compile`], [`Error::Driver`] or [`Error::Emulator`] when the module cannot be loaded or the
    /// launch is rejected.
    pub unsafe fn launch(
        &self,
        module: &str,
        kernel: &str,
        grid: Grid,
        args: &[Arg<'_>],
    ) -> Result<()> {
        self.backend.launch(module, kernel, grid, args)
    }
}

#[cfg(feature = "cuda")]
fn real_backend(ordinal: usize) -> Result<Box<dyn Backend>> {
    Ok(Box::new(crate::cuda::exec::CudaBackend::new(ordinal)?))
}

#[cfg(not(feature = "cuda"))]
fn real_backend(_ordinal: usize) -> Result<Box<dyn Backend>> {
    Err(Error::CudaNotCompiled)
}
