//! The device contract: where a computation runs, decided in one function.
//!
//! Users write `"auto"`, `"cpu"`, `"cuda"` or `"cuda:N"`; each engine describes a job as [`Work`] (may
//! its options run on the device at all, and is it large enough to repay the transfer); [`resolve`]
//! turns the two into a [`Compute`], which is the one type the engines take. In the manner of candle's
//! `Device::cuda_if_available`: `"auto"` picks the GPU only for eligible, large work and otherwise the
//! CPU; an explicit `"cuda"` always means the device and fails loudly with the reason. What happens
//! after a device failure under `"auto"` (warn, rerun on the CPU) is the caller's single fallback, in
//! the Python package's `_arrays.on_device`.

use std::str::FromStr;
use std::sync::Arc;

use thermoconsensus_gpu::{DeviceInfo, Error as GpuError, Executor};

use crate::error::Result;

/// Where an engine runs its parallel work: the CPU engines, or a device through its [`Executor`]. The
/// engines take it as an argument (`mutual_information_on`, `simulated_annealing_on`, `Model::place`...).
#[derive(Clone, Default)]
pub enum Compute {
    /// The CPU engines (rayon).
    #[default]
    Cpu,
    /// A CUDA device (or the host emulator of one).
    Device(Arc<Executor>),
}

impl Compute {
    /// `"cpu"`, or the name of the device.
    pub fn name(&self) -> &str {
        match self {
            Compute::Cpu => "cpu",
            Compute::Device(e) => e.name(),
        }
    }

    /// The executor when this is a device.
    pub fn executor(&self) -> Option<&Arc<Executor>> {
        match self {
            Compute::Cpu => None,
            Compute::Device(e) => Some(e),
        }
    }
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compute::Cpu => f.write_str("Cpu"),
            Compute::Device(e) => write!(f, "Device({})", e.name()),
        }
    }
}

/// What a user asked for with `device=`: a request, not yet a place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// The GPU when the work is eligible and large enough and a GPU is present, else the CPU.
    Auto,
    /// The CPU engines.
    Cpu,
    /// The CUDA device with this ordinal (`"cuda"` is ordinal 0).
    Cuda(usize),
}

impl FromStr for Request {
    type Err = GpuError;

    /// Parses `"auto"`, `"cpu"`, `"cuda"` or `"cuda:N"`, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> std::result::Result<Self, GpuError> {
        let invalid = || GpuError::InvalidDevice(s.to_string());
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "auto" => Ok(Request::Auto),
            "cpu" => Ok(Request::Cpu),
            "cuda" => Ok(Request::Cuda(0)),
            _ => {
                let n = t.strip_prefix("cuda:").ok_or_else(invalid)?;
                // usize::from_str accepts a leading '+'; only plain digits are a device ordinal.
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                n.parse().map(Request::Cuda).map_err(|_| invalid())
            }
        }
    }
}

/// An engine's description of one job for the device decision: whether its options can run on the
/// device, and its size against the engine's threshold (below it `"auto"` stays on the CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    /// `None` when the device path handles every option asked for; else the first option it does not.
    pub cpu_only: Option<&'static str>,
    /// The job's size in the engine's unit (samples, spin updates per sweep, ...).
    pub size: usize,
    /// The size from which the device repays its transfer and launch overhead.
    pub min_size: usize,
}

impl Work {
    /// A job of `size` that runs on the device from `min_size` up.
    pub fn sized(size: usize, min_size: usize) -> Self {
        Self {
            cpu_only: None,
            size,
            min_size,
        }
    }

    /// The same job, marked as needing the CPU because of `option` when `needs_cpu`.
    pub fn unless(self, needs_cpu: bool, option: &'static str) -> Self {
        if needs_cpu && self.cpu_only.is_none() {
            Self {
                cpu_only: Some(option),
                ..self
            }
        } else {
            self
        }
    }

    /// True when `"auto"` should take a device for this job.
    pub fn worth_a_device(&self) -> bool {
        self.cpu_only.is_none() && self.size >= self.min_size
    }
}

/// The devices present, or why there are none.
type Probe = std::result::Result<Vec<DeviceInfo>, String>;

fn probe() -> Probe {
    match thermoconsensus_gpu::unavailable_reason() {
        Some(reason) => Err(reason),
        None => Ok(thermoconsensus_gpu::devices()),
    }
}

/// The ordinal of the device `requested` and `work` choose, or `None` for the CPU.
///
/// # Errors
/// [`GpuError::InvalidDevice`] for a malformed string, [`GpuError::Unavailable`] (with the reason) for
/// `"cuda"`/`"cuda:N"` without a usable GPU, [`GpuError::DeviceOutOfRange`] for `"cuda:N"` past the
/// device count. `"auto"` and `"cpu"` never fail here.
pub fn choose(requested: &str, work: &Work) -> Result<Option<usize>> {
    Ok(choose_with(requested.parse()?, work, &probe())?)
}

/// [`choose`] against a given probe outcome, so the logic is tested with and without GPUs alike.
fn choose_with(
    request: Request,
    work: &Work,
    probe: &Probe,
) -> std::result::Result<Option<usize>, GpuError> {
    match request {
        Request::Cpu => Ok(None),
        Request::Auto => Ok(match probe {
            Ok(devices) if work.worth_a_device() && !devices.is_empty() => Some(0),
            _ => None,
        }),
        Request::Cuda(ordinal) => match probe {
            Err(reason) => Err(GpuError::Unavailable(reason.clone())),
            Ok(devices) if ordinal >= devices.len() => Err(GpuError::DeviceOutOfRange {
                ordinal,
                count: devices.len(),
            }),
            Ok(_) => Ok(Some(ordinal)),
        },
    }
}

/// Where `work` runs for a user's `requested` device: the one place the CPU-or-GPU decision is made.
/// A chosen device's executor is set up here (once per process and device).
///
/// # Errors
/// Those of [`choose`], and the executor's set-up failure ([`GpuError::Driver`], [`GpuError::Emulator`])
/// whatever was requested: under `"auto"` the caller decides whether to fall back to the CPU.
pub fn resolve(requested: &str, work: &Work) -> Result<Compute> {
    Ok(match choose(requested, work)? {
        None => Compute::Cpu,
        Some(ordinal) => Compute::Device(Executor::get(ordinal)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_gpus(n: usize) -> Probe {
        Ok((0..n)
            .map(|ordinal| DeviceInfo {
                ordinal,
                name: format!("Fake GPU {ordinal}"),
                total_memory: 1 << 30,
                compute_capability: (9, 0),
                multiprocessors: 132,
            })
            .collect())
    }

    fn no_gpu() -> Probe {
        Err("no CUDA devices".to_string())
    }

    const BIG: Work = Work {
        cpu_only: None,
        size: 10,
        min_size: 10,
    };
    const SMALL: Work = Work {
        cpu_only: None,
        size: 9,
        min_size: 10,
    };

    fn pick(s: &str, work: &Work, probe: &Probe) -> std::result::Result<Option<usize>, GpuError> {
        choose_with(s.parse()?, work, probe)
    }

    #[test]
    fn parses_requests() {
        assert_eq!("auto".parse::<Request>(), Ok(Request::Auto));
        assert_eq!(" AUTO ".parse::<Request>(), Ok(Request::Auto));
        assert_eq!("cpu".parse::<Request>(), Ok(Request::Cpu));
        assert_eq!(" CPU ".parse::<Request>(), Ok(Request::Cpu));
        assert_eq!("cuda".parse::<Request>(), Ok(Request::Cuda(0)));
        assert_eq!("cuda:0".parse::<Request>(), Ok(Request::Cuda(0)));
        assert_eq!("CUDA:7".parse::<Request>(), Ok(Request::Cuda(7)));
    }

    #[test]
    fn rejects_malformed_requests() {
        for bad in [
            "",
            "gpu",
            "cuda:",
            "cuda:-1",
            "cuda:+1",
            "cuda:1.0",
            "cuda:x",
            "cuda0",
            "cuda:0:1",
            "cuda:99999999999999999999999999",
        ] {
            assert_eq!(
                bad.parse::<Request>(),
                Err(GpuError::InvalidDevice(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn auto_needs_a_gpu_and_eligible_large_work() {
        assert_eq!(pick("auto", &BIG, &fake_gpus(2)), Ok(Some(0)));
        assert_eq!(pick("auto", &SMALL, &fake_gpus(2)), Ok(None));
        assert_eq!(pick("auto", &BIG, &no_gpu()), Ok(None));
        let cpu_only = BIG.unless(true, "trace_every");
        assert_eq!(cpu_only.cpu_only, Some("trace_every"));
        assert_eq!(pick("auto", &cpu_only, &fake_gpus(1)), Ok(None));
        assert_eq!(BIG.unless(false, "trace_every"), BIG);
    }

    #[test]
    fn cpu_always_resolves() {
        assert_eq!(pick("cpu", &BIG, &no_gpu()), Ok(None));
        assert_eq!(pick("cpu", &BIG, &fake_gpus(1)), Ok(None));
    }

    #[test]
    fn explicit_cuda_ignores_size_and_says_why_not() {
        let want = Err(GpuError::Unavailable("no CUDA devices".to_string()));
        assert_eq!(pick("cuda", &SMALL, &no_gpu()), want);
        assert_eq!(pick("cuda:1", &BIG, &no_gpu()), want);
        assert_eq!(pick("cuda", &SMALL, &fake_gpus(1)), Ok(Some(0)));
        assert_eq!(pick("cuda:1", &SMALL, &fake_gpus(2)), Ok(Some(1)));
        assert_eq!(
            pick("cuda:2", &BIG, &fake_gpus(2)),
            Err(GpuError::DeviceOutOfRange {
                ordinal: 2,
                count: 2
            })
        );
    }

    #[test]
    fn real_resolve_never_fails_for_auto_and_cpu_without_a_gpu() {
        assert!(matches!(resolve("cpu", &BIG), Ok(Compute::Cpu)));
        if !thermoconsensus_gpu::gpu_available() {
            assert!(matches!(resolve("auto", &BIG), Ok(Compute::Cpu)));
            assert!(resolve("cuda", &BIG).is_err());
        }
    }
}
