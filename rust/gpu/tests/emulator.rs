//! The host emulator runs the kernel sources on CPU fibers: launch shapes, grid-stride loops, `__shared__`
//! memory, `__syncthreads`, warp shuffles and atomics behave as on a GPU (see `cuda/emulator.hpp`).

use thermoconsensus_gpu::{Arg, Executor, Grid};

#[test]
fn selftest_axpy_runs_on_the_emulator() {
    let exec = Executor::emulator().expect("emulator builds (needs a C++20 compiler)");
    assert!(exec.is_emulated());
    let n = 10_007usize;
    let x: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
    let y: Vec<f64> = (0..n).map(|i| 1.0 - i as f64).collect();
    let xd = exec.upload(&x).unwrap();
    let yd = exec.upload(&y).unwrap();
    // A small grid, so the grid-stride loop must cover the rest.
    unsafe {
        exec.launch(
            "selftest",
            "axpy_f64",
            Grid::linear(3, 64),
            &[Arg::F64(2.0), xd.arg(), yd.arg(), Arg::U64(n as u64)],
        )
    }
    .unwrap();
    let got = exec.download(&yd).unwrap();
    for i in 0..n {
        assert_eq!(got[i], 2.0 * x[i] + y[i], "element {i}");
    }
}

#[test]
fn unknown_kernels_and_bad_shapes_are_errors() {
    let exec = Executor::emulator().unwrap();
    let e = unsafe { exec.launch("selftest", "nope", Grid::linear(1, 32), &[]) }.unwrap_err();
    assert!(e.to_string().contains("no kernel `nope`"), "{e}");
    let e = unsafe { exec.launch("nomodule", "axpy_f64", Grid::linear(1, 32), &[]) }.unwrap_err();
    assert!(e.to_string().contains("no kernel module"), "{e}");
    let b = exec.zeros::<f64>(4).unwrap();
    let e = unsafe {
        exec.launch(
            "selftest",
            "axpy_f64",
            Grid::linear(1, 2048),
            &[Arg::F64(1.0), b.arg(), b.arg(), Arg::U64(4)],
        )
    }
    .unwrap_err();
    assert!(e.to_string().contains("invalid launch"), "{e}");
}

#[test]
fn barriers_and_warp_shuffles_reduce_exactly() {
    let exec = Executor::emulator().unwrap();
    let n = 1000usize;
    // Small integers: every partial sum is exact, so any order gives the same answer.
    let x: Vec<f64> = (0..n).map(|i| (i % 17) as f64).collect();
    let threads = 256u32;
    let blocks = n.div_ceil(threads as usize);
    let xd = exec.upload(&x).unwrap();
    let out = exec.zeros::<f64>(blocks).unwrap();
    unsafe {
        exec.launch(
            "selftest",
            "block_sums_f64",
            Grid::linear(blocks as u32, threads),
            &[xd.arg(), out.arg(), Arg::U64(n as u64)],
        )
    }
    .unwrap();
    let got = exec.download(&out).unwrap();
    for (b, g) in got.iter().enumerate() {
        let want: f64 = x[b * threads as usize..((b + 1) * threads as usize).min(n)]
            .iter()
            .sum();
        assert_eq!(*g, want, "block {b}");
    }
}
