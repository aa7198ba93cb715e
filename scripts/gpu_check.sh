#!/bin/bash
# Device check: the wheel built on the CPU machine, its GPU paths on a real GPU, and the test suite.
# Prepare on the CPU machine (the device has no Rust toolchain and no network):
#   maturin build --release -o .devwheel            # abi3 wheel
#   cargo test -p thermoconsensus-gpu --features cuda --release --no-run   # then copy the test binaries
#   into .devwheel/bin/gpu_<name>, and run this script on the device with .devwheel carried.
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .devwheel/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
ls -la /usr/local/cuda/lib64/ 2>/dev/null | grep -i nvrtc | head -5
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
echo "== python GPU paths"
python3 - <<'PY'
import time
import thermoconsensus as tc
from thermoconsensus import _core
print("version", tc.__version__, "gpu_available", tc.gpu_available(), "reason", tc.gpu_unavailable_reason())
print("devices", tc.devices())
print("resolve auto/cuda/cuda:0/cpu:", tc.resolve_device("auto"), tc.resolve_device("cuda"), tc.resolve_device("cuda:0"), tc.resolve_device("cpu"))
try:
    tc.resolve_device("cuda:7")
except Exception as e:
    print("cuda:7 ->", type(e).__name__, e)
print("nvrtc_available", _core.nvrtc_available())
t = time.perf_counter(); k = _core.compile_kernels(); print("compiled", k, f"{time.perf_counter() - t:.3f}s")
t = time.perf_counter(); k = _core.compile_kernels(); print("cached", k, f"{time.perf_counter() - t:.6f}s")
PY
echo "== rust gpu crate tests (built on the CPU machine, cuda feature)"
for t in .devwheel/bin/gpu_*; do echo "-- $t"; THERMOCONSENSUS_REQUIRE_NVRTC=1 "$t" --test-threads=1 2>&1 | tail -15; done
echo "== pytest -m gpu"
python3 -m pytest -q -p no:cacheprovider -m gpu -rs tests 2>&1 | tail -8
echo "== full pytest on this machine"
timeout 300 python3 -m pytest -q -p no:cacheprovider -x tests 2>&1 | tail -15
echo "== annealing on 16 cores"
python3 -m thermoconsensus anneal --sk 1024 --sampler sa --reads 64 --sweeps 1000 --threads 16
python3 -m thermoconsensus anneal --sk 1024 --sampler sa --reads 64 --sweeps 1000 --threads 1
