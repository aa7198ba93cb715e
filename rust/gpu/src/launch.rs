//! The interface both backends implement (cudarc in `cuda/exec.rs`, the host emulator in `emulator.rs`) and
//! the launch types they share. It depends on neither backend nor on the [`Executor`](crate::Executor) that
//! drives them, so the modules form a tree: runtime -> {launch, cuda, emulator}, cuda/emulator -> launch.

use crate::Result;

/// Plain data that may be copied to and from a device byte for byte.
pub use bytemuck::Pod;

/// Grid and block shape of one launch (no dynamic shared memory: kernels size their `__shared__` arrays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Blocks in x, y, z.
    pub blocks: (u32, u32, u32),
    /// Threads per block in x, y, z (at most 1024 in all).
    pub threads: (u32, u32, u32),
}

impl Grid {
    /// A one-dimensional grid of `blocks` blocks of `threads` threads.
    pub fn linear(blocks: u32, threads: u32) -> Self {
        Self {
            blocks: (blocks.max(1), 1, 1),
            threads: (threads, 1, 1),
        }
    }

    /// Enough blocks of `threads` threads for one thread per item (at least one block).
    pub fn cover(items: usize, threads: u32) -> Self {
        let blocks = items.div_ceil(threads as usize).clamp(1, u32::MAX as usize) as u32;
        Self::linear(blocks, threads)
    }
}

/// Backing memory of a [`Buffer`].
pub(crate) enum RawBuffer {
    /// Host memory handed to the emulator's kernels as a raw pointer (8-byte aligned).
    Host(HostMemory),
    #[cfg(feature = "cuda")]
    /// Device memory owned by cudarc.
    Cuda(cudarc::driver::CudaSlice<u8>),
}

/// A heap block the emulated kernels write through raw pointers, so it is never reached through `&mut`.
pub(crate) struct HostMemory {
    ptr: *mut u64,
    words: usize,
}

// SAFETY: the memory is owned uniquely by this value; kernels write it only during a launch, which the
// emulator serialises, and reads go through `download`, which copies after the launch has returned.
unsafe impl Send for HostMemory {}
unsafe impl Sync for HostMemory {}

impl HostMemory {
    pub(crate) fn zeroed(bytes: usize) -> Self {
        let words = bytes.div_ceil(8).max(1);
        let ptr = Box::into_raw(vec![0u64; words].into_boxed_slice()) as *mut u64;
        Self { ptr, words }
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr as *mut u8
    }
}

impl Drop for HostMemory {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `words` came from `Box::into_raw` of a boxed slice of exactly that length.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.ptr, self.words,
            )))
        };
    }
}

/// A borrowed device buffer inside an [`Arg`]; opaque.
#[derive(Clone, Copy)]
pub struct BufRef<'a>(pub(crate) &'a RawBuffer);

/// One kernel argument. Scalars must match the kernel's parameter type exactly (`unsigned long long` is
/// [`Arg::U64`], `unsigned int` [`Arg::U32`], `int` [`Arg::I32`], `float` [`Arg::F32`], `double` [`Arg::F64`]).
#[derive(Clone, Copy)]
pub enum Arg<'a> {
    /// A device pointer (from [`Buffer::arg`]).
    Buf(BufRef<'a>),
    /// `unsigned int`.
    U32(u32),
    /// `int`.
    I32(i32),
    /// `unsigned long long`.
    U64(u64),
    /// `float`.
    F32(f32),
    /// `double`.
    F64(f64),
}

/// What a backend must do; implemented by the emulator and, with the `cuda` feature, by cudarc.
pub(crate) trait Backend: Send + Sync {
    fn alloc_zeroed(&self, bytes: usize) -> Result<RawBuffer>;
    fn upload(&self, bytes: &[u8]) -> Result<RawBuffer>;
    fn download(&self, buf: &RawBuffer, bytes: usize) -> Result<Vec<u8>>;
    fn launch(&self, module: &str, kernel: &str, grid: Grid, args: &[Arg<'_>]) -> Result<()>;
}

#[cfg(feature = "cuda")]
/// The CUDA source of `cuda/<module>.cu` from [`KERNEL_SOURCES`](crate::KERNEL_SOURCES).
pub(crate) fn module_source(module: &str) -> Result<&'static str> {
    crate::KERNEL_SOURCES
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, src)| *src)
        .ok_or_else(|| crate::Error::Launch(format!("no kernel module `{module}`")))
}
