//! End to end on a real GPU: NVRTC-compiled `cuda/selftest.cu` loads into the driver and its `axpy_f64` agrees
//! with the CPU twin. Skips (saying why) without a GPU or NVRTC, i.e. on CI; runs on a GPU machine with
//! `THERMOCONSENSUS_CUDA_LIB_DIRS` pointing at NVRTC 12.
#![cfg(feature = "cuda")]

use cudarc::driver::{CudaContext, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;
use thermoconsensus_gpu::{
    compile_ptx, devices, gpu_available, nvrtc_available, unavailable_reason, KERNEL_SOURCES,
};

/// The CPU twin of `axpy_f64`.
fn axpy_cpu(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[test]
fn selftest_axpy_matches_cpu_on_every_device() {
    let n = 1_000_003usize; // not a multiple of the block size: the tail must be covered
    let a = 0.75;
    let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.001).sin()).collect();
    let y0: Vec<f64> = (0..n).map(|i| (i as f64 * 0.002).cos()).collect();
    let mut want = y0.clone();
    axpy_cpu(a, &x, &mut want);

    if !gpu_available() {
        eprintln!(
            "SKIP CUDA variant: {}",
            unavailable_reason().unwrap_or_default()
        );
        return;
    }
    if !nvrtc_available() {
        eprintln!(
            "SKIP CUDA variant: {}",
            thermoconsensus_gpu::nvrtc_unavailable_reason().unwrap_or_default()
        );
        return;
    }
    let (_, src) = KERNEL_SOURCES
        .iter()
        .find(|(name, _)| *name == "selftest")
        .expect("selftest kernel");
    let ptx = compile_ptx("selftest", src).unwrap();
    for dev in devices() {
        let ctx = CudaContext::new(dev.ordinal).unwrap();
        let stream = ctx.default_stream();
        let module = ctx.load_module(Ptx::from_src(ptx.clone())).unwrap();
        let f = module.load_function("axpy_f64").unwrap();
        let x_d = stream.clone_htod(&x).unwrap();
        let mut y_d = stream.clone_htod(&y0).unwrap();
        let n_u64 = n as u64;
        let mut launch = stream.launch_builder(&f);
        launch.arg(&a).arg(&x_d).arg(&mut y_d).arg(&n_u64);
        // A deliberately small grid: the kernel's grid-stride loop must cover the rest.
        let cfg = LaunchConfig {
            grid_dim: (64, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: argument types and order match `axpy_f64(double, const double*, double*, unsigned long long)`
        // and both buffers hold n elements.
        unsafe { launch.launch(cfg) }.unwrap();
        let got = stream.clone_dtoh(&y_d).unwrap();
        // NVRTC fuses a*x+y into one FMA; the CPU rounds twice, so allow an ulp or so.
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0, f64::max);
        assert!(
            worst <= 4.0 * f64::EPSILON,
            "{}: max |gpu - cpu| = {worst:e}",
            dev.name
        );
        eprintln!(
            "{} (cuda:{}, sm_{}{}): axpy_f64 matches the CPU (max diff {worst:e})",
            dev.name, dev.ordinal, dev.compute_capability.0, dev.compute_capability.1
        );
    }
}
