//! Stand-in for `cuda.rs` when the crate is built without the `cuda` feature: same signatures, every answer
//! "not compiled in", so callers need no `cfg` of their own (candle `quantized/dummy_cuda.rs`).

use crate::DeviceInfo;

const NOT_COMPILED: &str = "built without the `cuda` feature";

pub(crate) fn probe_devices() -> Result<Vec<DeviceInfo>, String> {
    Err(NOT_COMPILED.to_string())
}

pub(crate) fn probe_nvrtc() -> Result<(i32, i32), String> {
    Err(NOT_COMPILED.to_string())
}

pub(crate) fn compile(_name: &str, _source: &str) -> Result<String, String> {
    Err(NOT_COMPILED.to_string())
}
