//! The real backend, built with the `cuda` feature: driver probing and NVRTC compilation through cudarc.
//! Every function first makes sure cudarc can load its library (cudarc panics when it cannot), then talks to
//! it; the callers in `lib.rs` add `catch_unwind` and caching.

pub(crate) mod exec;
mod libs;

use cudarc::driver::{result as drv, sys as drv_sys};
use cudarc::nvrtc::{self, sys as nvrtc_sys};

use crate::DeviceInfo;

use crate::CUDA_LIB_DIRS_ENV as LIB_DIRS_ENV;

/// `CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected`.
fn describe(e: drv::DriverError) -> String {
    let name = e.error_name().map(|s| s.to_string_lossy().into_owned());
    let text = e.error_string().map(|s| s.to_string_lossy().into_owned());
    match (name, text) {
        (Ok(name), Ok(text)) => format!("{name}: {text}"),
        _ => format!("{:?}", e.0),
    }
}

pub(crate) fn probe_devices() -> Result<Vec<DeviceInfo>, String> {
    // The driver library ships with the driver and sits on the loader path; the extra directories are for
    // unusual installs only. Toolkit directories are not searched: they hold a stub libcuda that fails cuInit.
    libs::ensure(&["cuda", "nvcuda"], &libs::env_dirs(), || unsafe {
        drv_sys::is_culib_present()
    })
    .map_err(|searched| format!("CUDA driver library (libcuda.so) not found: {searched}"))?;
    drv::init().map_err(|e| match e.0 {
        drv_sys::CUresult::CUDA_ERROR_NO_DEVICE => "no CUDA devices".to_string(),
        _ => format!("cuInit failed: {}", describe(e)),
    })?;
    let count = drv::device::get_count()
        .map_err(|e| format!("cuDeviceGetCount failed: {}", describe(e)))?;
    if count <= 0 {
        return Err("no CUDA devices".to_string());
    }
    (0..count).map(device_info).collect()
}

fn device_info(ordinal: i32) -> Result<DeviceInfo, String> {
    use drv_sys::CUdevice_attribute as A;
    let fail = |what: &str, e| format!("{what} failed for device {ordinal}: {}", describe(e));
    let dev = drv::device::get(ordinal).map_err(|e| fail("cuDeviceGet", e))?;
    let name = drv::device::get_name(dev).map_err(|e| fail("cuDeviceGetName", e))?;
    // SAFETY: `dev` came from cuDeviceGet above.
    let attr = |a| {
        unsafe { drv::device::get_attribute(dev, a) }.map_err(|e| fail("cuDeviceGetAttribute", e))
    };
    Ok(DeviceInfo {
        ordinal: ordinal as usize,
        name,
        total_memory: unsafe { drv::device::total_mem(dev) }
            .map_err(|e| fail("cuDeviceTotalMem", e))? as u64,
        compute_capability: (
            attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        ),
        multiprocessors: attr(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
    })
}

/// Finds NVRTC and returns its version. NVRTC needs no driver or GPU, so kernels can be checked anywhere.
pub(crate) fn probe_nvrtc() -> Result<(i32, i32), String> {
    let mut dirs = libs::env_dirs();
    dirs.extend(libs::toolkit_dirs());
    libs::ensure(&["nvrtc"], &dirs, || unsafe {
        nvrtc_sys::is_culib_present()
    })
    .map_err(|searched| {
        format!(
            "NVRTC library (libnvrtc.so.12) not found: {searched}. Install it with \
             `pip install nvidia-cuda-nvrtc-cu12` and put its nvidia/cuda_nvrtc/lib directory in \
             {LIB_DIRS_ENV} or LD_LIBRARY_PATH"
        )
    })?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: two valid out-pointers; the library is loaded (checked above).
    unsafe { nvrtc_sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| format!("nvrtcVersion failed: {e:?}"))?;
    Ok((major, minor))
}

/// Compiles one kernel to PTX; the error is the NVRTC log followed by the NVRTC status.
pub(crate) fn compile(name: &str, source: &str) -> Result<String, String> {
    // No fused multiply-adds, IEEE division and square roots, no flush to zero: the kernels round as their
    // CPU twins do (Rust never contracts a*b+c), so the twins differ only where the order of sums does.
    let opts = nvrtc::CompileOptions {
        name: Some(format!("{name}.cu")),
        fmad: Some(false),
        ftz: Some(false),
        prec_div: Some(true),
        prec_sqrt: Some(true),
        ..Default::default()
    };
    match nvrtc::compile_ptx_with_opts(source, opts) {
        Ok(ptx) => Ok(ptx.to_src()),
        Err(nvrtc::CompileError::CompileError { nvrtc, log, .. }) => {
            Err(format!("{}\n({nvrtc:?})", log.to_string_lossy().trim_end()))
        }
        Err(e) => Err(e.to_string()),
    }
}
