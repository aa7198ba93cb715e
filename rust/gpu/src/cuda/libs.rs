//! Finding CUDA libraries the dynamic loader does not see, e.g. NVRTC from the `nvidia-cuda-nvrtc-cu12`
//! wheel under `site-packages/nvidia/cuda_nvrtc/lib`.
//!
//! cudarc has no way to load a library from a path: it `dlopen`s a fixed list of file names
//! (`cudarc::get_lib_name_candidates`, e.g. `libnvrtc.so`, `libnvrtc.so.12`, ...) through the loader path.
//! But the loader also matches a requested name against the SONAME of every library already in the process,
//! so once we have opened `<dir>/libnvrtc.so.12` by its full path, cudarc's later `dlopen("libnvrtc.so.12")`
//! finds that copy. We therefore open candidates by full path and keep them open for the life of the process.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::CUDA_LIB_DIRS_ENV as LIB_DIRS_ENV;

/// Libraries opened by path must outlive cudarc's by-name handles to them, i.e. the whole process.
static KEPT: Mutex<Vec<libloading::Library>> = Mutex::new(Vec::new());

/// Directories named in [`LIB_DIRS_ENV`], read at call time so the Python layer can set it before first use.
pub(crate) fn env_dirs() -> Vec<PathBuf> {
    std::env::var_os(LIB_DIRS_ENV)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Where a CUDA toolkit keeps its libraries when it is installed but not on the loader path.
pub(crate) fn toolkit_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(root) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let root = PathBuf::from(root);
            // Windows toolkits keep their DLLs in bin/.
            for sub in ["lib64", "lib", "bin"] {
                dirs.push(root.join(sub));
            }
        }
    }
    dirs.push(PathBuf::from("/usr/local/cuda/lib64"));
    dirs
}

/// Makes `present()` (cudarc's `is_culib_present`) true if it is not already, by opening, directory by
/// directory, files named like cudarc's candidates for `libs`. A file that does not make cudarc find the
/// library (its SONAME is of another CUDA major version, say) is closed again. On failure returns what was
/// searched and tried, for the user.
pub(crate) fn ensure(
    libs: &[&str],
    dirs: &[PathBuf],
    present: impl Fn() -> bool,
) -> Result<(), String> {
    if present() {
        return Ok(());
    }
    // cudarc's candidate list repeats names, and the directories repeat when CUDA_HOME=/usr/local/cuda.
    let names = dedup(libs.iter().flat_map(|l| cudarc::get_lib_name_candidates(l)));
    let dirs = dedup(dirs.iter().cloned());
    let mut rejected = Vec::new();
    for dir in &dirs {
        for name in &names {
            let path = dir.join(name);
            if !path.is_file() {
                continue;
            }
            match open(&path) {
                Ok(lib) if present() => {
                    KEPT.lock().unwrap_or_else(|e| e.into_inner()).push(lib);
                    return Ok(());
                }
                Ok(_) => rejected.push(format!(
                    "{} (loaded, but its soname is none of those names: another CUDA major version?)",
                    path.display()
                )),
                Err(e) => rejected.push(format!("{} ({e})", path.display())),
            }
        }
    }
    let mut msg = format!(
        "searched the loader path for {}",
        shown_names(libs, &names).join(", ")
    );
    if dirs.is_empty() {
        msg.push_str(&format!(" ({LIB_DIRS_ENV} is not set)"));
    } else {
        let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        msg.push_str(&format!(" and the directories [{}]", shown.join(", ")));
    }
    if !rejected.is_empty() {
        msg.push_str(&format!("; tried {}", rejected.join(", ")));
    }
    Err(msg)
}

fn dedup<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The candidate names worth showing a user: cudarc's list mixes in Windows-style names (`libnvrtc64_12.so`);
/// on Unix only `lib<name>.so*` exist in practice.
fn shown_names(libs: &[&str], names: &[String]) -> Vec<String> {
    use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
    let plausible = |name: &&String| {
        cfg!(windows)
            || libs
                .iter()
                .any(|l| name.starts_with(&format!("{DLL_PREFIX}{l}{DLL_SUFFIX}")))
    };
    names.iter().filter(plausible).cloned().collect()
}

fn open(path: &Path) -> Result<libloading::Library, libloading::Error> {
    // SAFETY: loading a CUDA library runs only its initialisers, which have no preconditions on us.
    unsafe { libloading::Library::new(path) }
}
