//! The one helper through which every engine call runs: GIL released, panics contained.

use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;
use thermoconsensus_runtime::{with_threads, Error as RuntimeError, Progress};

/// Runs `f` with the GIL released. A panic inside the engine (a bug, never expected) becomes
/// `thermoconsensus.Error` instead of crossing into Python as a `PanicException`.
pub fn run_detached<T: Send, E: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, E> + Send,
    map: impl FnOnce(Python<'_>, E) -> PyErr,
) -> PyResult<T> {
    match py.detach(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(map(py, e)),
        Err(payload) => Err(panic_error(payload)),
    }
}

/// The one pool wrapper: runs `f` in a rayon pool of `n_threads` threads (None: the default) with the
/// GIL released. A pool failure reaches `map` as the engine error's runtime variant, never relabelled.
pub fn run_in_pool<T: Send, E: From<RuntimeError> + Send>(
    py: Python<'_>,
    n_threads: Option<usize>,
    f: impl FnOnce() -> Result<T, E> + Send,
    map: impl FnOnce(Python<'_>, E) -> PyErr,
) -> PyResult<T> {
    run_detached(py, || with_threads(n_threads, f), map)
}

/// [`run_in_pool`] on a worker thread, waited for in short slices between which Python's signal
/// handlers run (Ctrl-C cancels the computation through `Progress` and raises KeyboardInterrupt) and
/// `callback(done, total)` is called whenever progress moved.
pub fn run_with_progress<T: Send, E: From<RuntimeError> + Send>(
    py: Python<'_>,
    total: usize,
    callback: Option<&Bound<'_, PyAny>>,
    n_threads: Option<usize>,
    f: impl FnOnce(&Progress) -> Result<T, E> + Send,
    map: impl FnOnce(Python<'_>, E) -> PyErr,
) -> PyResult<T> {
    let progress = Progress::new(total);
    let (tx, mut rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let progress = &progress;
        let worker = scope.spawn(move || {
            let out = catch_unwind(AssertUnwindSafe(|| with_threads(n_threads, || f(progress))));
            // The receiver only waits for this signal; if it is gone there is no one to tell.
            let _ = tx.send(());
            out
        });
        let mut failure: Option<PyErr> = None;
        let mut reported = usize::MAX;
        loop {
            // The receiver is Send but not Sync: move it into the GIL-free wait and back out.
            let (waited, back) = py.detach(move || {
                let r = rx.recv_timeout(Duration::from_millis(100));
                (r, rx)
            });
            rx = back;
            let finished = !matches!(waited, Err(RecvTimeoutError::Timeout));
            if failure.is_none() {
                if let Err(e) = py.check_signals() {
                    progress.cancel();
                    failure = Some(e);
                }
            }
            let done = progress.done();
            if let (Some(cb), None) = (callback, &failure) {
                if done != reported {
                    reported = done;
                    if let Err(e) = cb.call1((done, total)) {
                        progress.cancel();
                        failure = Some(e);
                    }
                }
            }
            if finished {
                break;
            }
        }
        let outcome = py.detach(|| worker.join());
        if let Some(e) = failure {
            return Err(e);
        }
        match outcome {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(e))) => Err(map(py, e)),
            Ok(Err(payload)) | Err(payload) => Err(panic_error(payload)),
        }
    })
}

/// The error a contained engine panic becomes.
fn panic_error(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    crate::errors::Error::new_err(format!(
        "internal error in the native engine (please report): {what}"
    ))
}
