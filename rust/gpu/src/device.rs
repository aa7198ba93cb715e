//! Device names as users write them (`"auto"`, `"cpu"`, `"cuda"`, `"cuda:N"`) and the choice between CPU and
//! GPU, in the manner of candle's `Device::cuda_if_available`: "auto" never fails, an explicit "cuda" fails
//! loudly with the reason.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Probe, Result};

/// Where an engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    /// The CPU engines.
    Cpu,
    /// The CUDA device with this ordinal.
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = Error;

    /// Parses `"cpu"`, `"cuda"` (ordinal 0) or `"cuda:N"`, ignoring ASCII case and surrounding whitespace.
    /// `"auto"` is not a device but a request; see [`resolve`].
    fn from_str(s: &str) -> Result<Self> {
        let invalid = || Error::InvalidDevice(s.to_string());
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => {
                let n = t.strip_prefix("cuda:").ok_or_else(invalid)?;
                // usize::from_str accepts a leading '+'; only plain digits are a device ordinal.
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid());
                }
                n.parse().map(Device::Cuda).map_err(|_| invalid())
            }
        }
    }
}

/// Chooses the device for a request of `"auto"`, `"cpu"`, `"cuda"` or `"cuda:N"`.
///
/// `"auto"` picks `Cuda(0)` only when [`gpu_available`](crate::gpu_available) and `large_enough` (the caller's
/// judgement that the problem repays the transfer and launch overhead), else `Cpu`; it never fails.
///
/// # Errors
/// [`Error::Unavailable`] (with the reason) for `"cuda"`/`"cuda:N"` without a usable GPU,
/// [`Error::DeviceOutOfRange`] for `"cuda:N"` with `N` at or past the device count, and
/// [`Error::InvalidDevice`] for anything else.
pub fn resolve(requested: &str, large_enough: bool) -> Result<Device> {
    resolve_with(requested, large_enough, crate::probe())
}

/// [`resolve`] against a given probe outcome, so the logic is tested on machines with and without GPUs alike.
fn resolve_with(requested: &str, large_enough: bool, probe: &Probe) -> Result<Device> {
    if requested.trim().eq_ignore_ascii_case("auto") {
        return Ok(match probe {
            Ok(devices) if large_enough && !devices.is_empty() => Device::Cuda(0),
            _ => Device::Cpu,
        });
    }
    match requested.parse::<Device>()? {
        Device::Cpu => Ok(Device::Cpu),
        Device::Cuda(ordinal) => match probe {
            Err(reason) => Err(Error::Unavailable(reason.clone())),
            Ok(devices) if ordinal >= devices.len() => Err(Error::DeviceOutOfRange {
                ordinal,
                count: devices.len(),
            }),
            Ok(_) => Ok(Device::Cuda(ordinal)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceInfo;

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

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
        assert_eq!(" CPU ".parse::<Device>(), Ok(Device::Cpu));
        assert_eq!("cuda".parse::<Device>(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:0".parse::<Device>(), Ok(Device::Cuda(0)));
        assert_eq!("CUDA:7".parse::<Device>(), Ok(Device::Cuda(7)));
    }

    #[test]
    fn rejects_malformed_device_names() {
        for bad in [
            "", "gpu", "auto", "cuda:", "cuda:-1", "cuda:+1", "cuda:1.0", "cuda:x", "cuda0",
            "cuda:0:1",
        ] {
            assert_eq!(
                bad.parse::<Device>(),
                Err(Error::InvalidDevice(bad.to_string())),
                "{bad:?}"
            );
        }
        let huge = "cuda:99999999999999999999999999";
        assert_eq!(
            huge.parse::<Device>(),
            Err(Error::InvalidDevice(huge.to_string()))
        );
    }

    #[test]
    fn display_round_trips() {
        for d in [Device::Cpu, Device::Cuda(0), Device::Cuda(3)] {
            assert_eq!(d.to_string().parse::<Device>(), Ok(d));
        }
    }

    #[test]
    fn auto_needs_a_gpu_and_a_large_problem() {
        assert_eq!(
            resolve_with("auto", true, &fake_gpus(2)),
            Ok(Device::Cuda(0))
        );
        assert_eq!(resolve_with("auto", false, &fake_gpus(2)), Ok(Device::Cpu));
        assert_eq!(resolve_with("auto", true, &no_gpu()), Ok(Device::Cpu));
        assert_eq!(
            resolve_with("Auto", true, &fake_gpus(1)),
            Ok(Device::Cuda(0))
        );
    }

    #[test]
    fn cpu_always_resolves() {
        assert_eq!(resolve_with("cpu", true, &no_gpu()), Ok(Device::Cpu));
        assert_eq!(resolve_with("cpu", true, &fake_gpus(1)), Ok(Device::Cpu));
    }

    #[test]
    fn explicit_cuda_without_gpu_says_why() {
        let want = Err(Error::Unavailable("no CUDA devices".to_string()));
        assert_eq!(resolve_with("cuda", false, &no_gpu()), want);
        assert_eq!(resolve_with("cuda:1", true, &no_gpu()), want);
    }

    #[test]
    fn cuda_ordinal_must_exist() {
        assert_eq!(
            resolve_with("cuda", false, &fake_gpus(1)),
            Ok(Device::Cuda(0))
        );
        assert_eq!(
            resolve_with("cuda:1", false, &fake_gpus(2)),
            Ok(Device::Cuda(1))
        );
        assert_eq!(
            resolve_with("cuda:2", false, &fake_gpus(2)),
            Err(Error::DeviceOutOfRange {
                ordinal: 2,
                count: 2
            })
        );
    }

    #[test]
    fn anything_else_is_invalid() {
        assert_eq!(
            resolve_with("tpu", true, &fake_gpus(1)),
            Err(Error::InvalidDevice("tpu".to_string()))
        );
    }

    #[test]
    fn real_resolve_never_fails_for_auto_and_cpu() {
        assert!(resolve("auto", true).is_ok());
        assert_eq!(resolve("cpu", true), Ok(Device::Cpu));
        assert_eq!(resolve("cuda", true).is_ok(), crate::gpu_available());
    }
}
