//! A host emulator for the `cuda/*.cu` kernels, for tests on machines without a GPU (CI): each source is
//! compiled with the system C++ compiler against `cuda/emulator.hpp` (host stand-ins for `threadIdx`,
//! `__syncthreads`, warp shuffles, atomics) into a shared library, and a launch runs the grid's blocks one
//! after another, a block's threads as fibers on the calling thread. It checks the kernels' logic, indexing
//! and synchronisation against the CPU engines on identical inputs; it says nothing about speed, and it does
//! not exercise the driver or PTX.
//!
//! Enabled by `THERMOCONSENSUS_CUDA_EMULATOR=1`; the compiler is `$CXX`, else `c++`. Libraries are cached in
//! the temporary directory under a hash of the sources, so a process pays the compile once per change.

use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use crate::launch::{Arg, Backend, BufRef, Grid, HostMemory, RawBuffer};
use crate::{Error, Result, KERNEL_SOURCES};

/// The shim header every kernel source is compiled against.
const SHIM: &str = include_str!("../../../cuda/emulator.hpp");

/// The compiler flags: C++20, optimised, no fused multiply-adds (the CPU twins round each operation).
const FLAGS: [&str; 6] = [
    "-std=c++20",
    "-O2",
    "-ffp-contract=off",
    "-shared",
    "-fPIC",
    "-w",
];

type LaunchFn = unsafe extern "C" fn(*const u32, *mut *mut c_void, *mut c_char, usize) -> i32;

/// The emulator backend: one loaded library per kernel module.
pub(crate) struct Emulator {
    libraries: HashMap<String, libloading::Library>,
    /// Launches share the shim's globals (grid and block shape), so they run one at a time.
    serial: Mutex<()>,
}

/// The names of the `extern "C" __global__` functions in a source, in order.
pub(crate) fn kernel_names(source: &str) -> Vec<String> {
    const MARK: &str = "extern \"C\" __global__ void";
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(MARK) {
        rest = &rest[at + MARK.len()..];
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

fn compiler() -> String {
    std::env::var("CXX")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "c++".to_string())
}

fn cache_dir() -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&(SHIM, KERNEL_SOURCES, FLAGS, compiler()), &mut h);
    std::env::temp_dir().join(format!(
        "thermoconsensus-emulator-{:016x}",
        std::hash::Hasher::finish(&h)
    ))
}

/// Compiles one module to `<dir>/<name>.so` unless it is there already.
fn build_module(dir: &Path, name: &str, source: &str) -> Result<PathBuf> {
    let lib = dir.join(format!("{name}.so"));
    if lib.exists() {
        return Ok(lib);
    }
    let fail = |what: String| Error::Emulator(format!("building kernel module `{name}`: {what}"));
    let mut unit = format!("#include \"emulator.hpp\"\n#line 1 \"{name}.cu\"\n{source}\n");
    for k in kernel_names(source) {
        unit.push_str(&format!("TC_EMU_EXPORT({k})\n"));
    }
    let cpp = dir.join(format!("{name}.cpp"));
    std::fs::write(&cpp, unit).map_err(|e| fail(e.to_string()))?;
    // Build under a unique name and rename: concurrent test processes may build the same module.
    let tmp = dir.join(format!("{name}.{}.tmp.so", std::process::id()));
    let out = Command::new(compiler())
        .args(FLAGS)
        .arg("-I")
        .arg(dir)
        .arg("-o")
        .arg(&tmp)
        .arg(&cpp)
        .output()
        .map_err(|e| fail(format!("cannot run the C++ compiler `{}`: {e}", compiler())))?;
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    std::fs::rename(&tmp, &lib).map_err(|e| fail(e.to_string()))?;
    Ok(lib)
}

impl Emulator {
    /// Compiles (or finds cached) and loads every kernel module.
    pub(crate) fn build() -> Result<Self> {
        let dir = cache_dir();
        std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(dir.join("emulator.hpp"), SHIM))
            .map_err(|e| Error::Emulator(format!("{}: {e}", dir.display())))?;
        let mut libraries = HashMap::new();
        for (name, source) in KERNEL_SOURCES {
            let path = build_module(&dir, name, source)?;
            // SAFETY: the library is ours, built just now from the kernel sources; its initialisers only set
            // up the shim's thread-locals.
            let lib = unsafe { libloading::Library::new(&path) }
                .map_err(|e| Error::Emulator(format!("loading {}: {e}", path.display())))?;
            libraries.insert(name.to_string(), lib);
        }
        Ok(Self {
            libraries,
            serial: Mutex::new(()),
        })
    }
}

impl Backend for Emulator {
    fn alloc_zeroed(&self, bytes: usize) -> Result<RawBuffer> {
        Ok(RawBuffer::Host(HostMemory::zeroed(bytes)))
    }

    fn upload(&self, bytes: &[u8]) -> Result<RawBuffer> {
        let mem = HostMemory::zeroed(bytes.len());
        // SAFETY: `mem` holds at least `bytes.len()` bytes and is fresh, so nothing else aliases it.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), mem.as_ptr(), bytes.len()) };
        Ok(RawBuffer::Host(mem))
    }

    fn download(&self, buf: &RawBuffer, bytes: usize) -> Result<Vec<u8>> {
        match buf {
            RawBuffer::Host(mem) => {
                let mut out = vec![0u8; bytes];
                // SAFETY: the buffer was allocated with at least `bytes` bytes; no launch is running (they are
                // synchronous and serialised).
                unsafe { std::ptr::copy_nonoverlapping(mem.as_ptr(), out.as_mut_ptr(), bytes) };
                Ok(out)
            }
            #[cfg(feature = "cuda")]
            RawBuffer::Cuda(_) => Err(Error::Emulator(
                "a device buffer was passed to the emulator".to_string(),
            )),
        }
    }

    fn launch(&self, module: &str, kernel: &str, grid: Grid, args: &[Arg<'_>]) -> Result<()> {
        let lib = self
            .libraries
            .get(module)
            .ok_or_else(|| Error::Launch(format!("no kernel module `{module}`")))?;
        let symbol = format!("tc_emu_launch_{kernel}");
        // SAFETY: every `tc_emu_launch_*` symbol is generated by TC_EMU_EXPORT with exactly this signature.
        let launch: libloading::Symbol<'_, LaunchFn> = unsafe { lib.get(symbol.as_bytes()) }
            .map_err(|_| Error::Launch(format!("no kernel `{kernel}` in module `{module}`")))?;
        // Pointers to each argument's value, as the CUDA launch API takes them.
        let pointers: Vec<u64> = args
            .iter()
            .map(|a| match a {
                Arg::Buf(BufRef(RawBuffer::Host(mem))) => Ok(mem.as_ptr() as u64),
                #[cfg(feature = "cuda")]
                Arg::Buf(BufRef(RawBuffer::Cuda(_))) => Err(Error::Emulator(
                    "a device buffer was passed to the emulator".to_string(),
                )),
                _ => Ok(0),
            })
            .collect::<Result<_>>()?;
        let mut values: Vec<*mut c_void> = args
            .iter()
            .zip(&pointers)
            .map(|(a, p)| match a {
                Arg::Buf(_) => p as *const u64 as *mut c_void,
                Arg::U32(v) => v as *const u32 as *mut c_void,
                Arg::I32(v) => v as *const i32 as *mut c_void,
                Arg::U64(v) => v as *const u64 as *mut c_void,
                Arg::F32(v) => v as *const f32 as *mut c_void,
                Arg::F64(v) => v as *const f64 as *mut c_void,
            })
            .collect();
        let dims = [
            grid.blocks.0,
            grid.blocks.1,
            grid.blocks.2,
            grid.threads.0,
            grid.threads.1,
            grid.threads.2,
        ];
        let mut err = vec![0u8; 512];
        let _serial = self.serial.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: the caller of `Executor::launch` guarantees the argument list matches the kernel; the
        // pointers stay valid for the call, which is synchronous.
        let rc = unsafe {
            launch(
                dims.as_ptr(),
                values.as_mut_ptr(),
                err.as_mut_ptr() as *mut c_char,
                err.len(),
            )
        };
        if rc != 0 {
            let end = err.iter().position(|&b| b == 0).unwrap_or(err.len());
            return Err(Error::Launch(format!(
                "{module}::{kernel}: {}",
                String::from_utf8_lossy(&err[..end])
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::kernel_names;

    #[test]
    fn finds_kernel_names() {
        let src = "extern \"C\" __global__ void a_1(int x) {}\n__device__ int h();\n\
                   extern \"C\" __global__ void\nb(float y) {}";
        assert_eq!(kernel_names(src), vec!["a_1".to_string(), "b".to_string()]);
    }
}
