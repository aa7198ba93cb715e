#!/bin/bash
# Device check: the wheel built on the CPU machine, every GPU twin on a real GPU, and the GPU benchmark.
# Prepare on the CPU machine (the device has no Rust toolchain and no network):
#   scripts/gpu_check.sh --prepare        # abi3 wheel + the twin-test binaries, built with the cuda feature,
#                                         # into .devwheel/ (git-ignored; carry it)
# then on the device, from the repository root, with .devwheel carried:
#   bash scripts/gpu_check.sh
# Models cannot travel (over the 64 MiB carry limit), so the real-model tests skip there unless the machine
# has them; the synthetic-model and kernel twins run everywhere.
cd "$(dirname "$0")/.."
if [ "$1" = "--prepare" ]; then
    set -e
    rm -rf .devwheel && mkdir -p .devwheel/bin
    .venv/bin/maturin build --release -o .devwheel
    for crate in thermoconsensus-gpu thermoconsensus-info thermoconsensus-anneal thermoconsensus-llm; do
        cargo test -p "$crate" --features "$crate/cuda" --release --no-run --message-format=json 2>/dev/null |
            python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if (m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["kind"]==["test"]
            and m["target"]["name"] in ("gpu_twin", "emulator", "launch", "nvrtc", "discovery")):
        print(m["target"]["name"], m["executable"])' |
            while read -r name exe; do cp "$exe" ".devwheel/bin/gpu_${crate#thermoconsensus-}_$name"; done
    done
    ls -la .devwheel .devwheel/bin
    exit 0
fi
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .devwheel/*.whl || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
echo "== python GPU discovery and NVRTC"
python3 - <<'PY'
import time
import thermoconsensus as tc
from thermoconsensus import _core
print("version", tc.__version__, "gpu_available", tc.gpu_available(), "reason", tc.gpu_unavailable_reason())
print("devices", tc.devices())
print("nvrtc_available", _core.nvrtc_available())
t = time.perf_counter(); k = _core.compile_kernels(); print("compiled", k, f"{time.perf_counter() - t:.3f}s")
PY
echo "== rust twin tests (emulator and every GPU present)"
# Without a C++ compiler there the emulator half of each twin test skips, and its own tests cannot run.
for t in .devwheel/bin/gpu_*; do
    if [[ "$t" == *emulator ]] && ! command -v c++ >/dev/null; then echo "-- $t: skipped (no c++)"; continue; fi
    echo "-- $t"; THERMOCONSENSUS_REQUIRE_NVRTC=1 "$t" --test-threads=1 --nocapture 2>&1 | tail -12
done
echo "== pytest -m gpu"
python3 -m pytest -q -p no:cacheprovider -m gpu -rs tests 2>&1 | tail -12
echo "== benchmarks"
python3 benches/bench_gpu.py --repeats 3 --skip-llm
