//! Device discovery answers without panicking on every machine, and says why when there is no GPU.

use thermoconsensus_gpu::{devices, gpu_available, unavailable_reason, Error, Executor};

#[test]
fn discovery_is_consistent_and_never_panics() {
    // Concurrent first calls must agree (the probe runs once behind a OnceLock).
    let answers: Vec<bool> = std::thread::scope(|s| {
        (0..8)
            .map(|_| s.spawn(gpu_available))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect()
    });
    assert!(answers.iter().all(|&a| a == answers[0]));
    let available = gpu_available();
    assert_eq!(unavailable_reason().is_none(), available);
    let devs = devices();
    assert_eq!(devs.is_empty(), !available);
    for (i, d) in devs.iter().enumerate() {
        assert_eq!(d.ordinal, i);
        assert!(
            !d.name.is_empty() && d.total_memory > 0 && d.multiprocessors > 0,
            "{d:?}"
        );
        assert!(d.compute_capability.0 >= 3, "{d:?}");
        eprintln!("found {d:?}");
    }
    if let Some(reason) = unavailable_reason() {
        eprintln!("no GPU: {reason}");
    }
}

#[cfg(not(feature = "cuda"))]
#[test]
fn without_the_feature_there_is_no_gpu() {
    assert!(!gpu_available());
    assert_eq!(
        unavailable_reason().as_deref(),
        Some("built without the `cuda` feature")
    );
    assert!(matches!(
        Executor::get(0),
        Err(Error::Unavailable(r)) if r == "built without the `cuda` feature"
    ));
}

/// A Linux machine without the NVIDIA device node has no usable GPU whatever libraries are installed, so the
/// probe must say no (this is the case on CI and on the development machines).
#[cfg(all(feature = "cuda", target_os = "linux"))]
#[test]
fn no_driver_means_no_gpu() {
    if std::path::Path::new("/dev/nvidiactl").exists() {
        eprintln!("SKIP no_driver_means_no_gpu: /dev/nvidiactl exists");
        return;
    }
    assert!(!gpu_available());
    let reason = unavailable_reason().expect("a reason");
    assert!(!reason.is_empty());
    assert!(matches!(Executor::get(0), Err(Error::Unavailable(r)) if r == reason));
}
