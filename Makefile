# thermoconsensus: the commands README and CI use. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export THERMOCONSENSUS_NUM_THREADS ?=

.PHONY: help venv install demo demo-info test test-rust test-nvrtc test-python test-gpu-emulated lint bench bench-python bench-rust bench-llm bench-server bench-ray clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

venv: $(PY) ## create the virtual environment

install: $(PY) ## build the Rust core and install the package with test/dev tools into .venv
	$(PIP) install -q "maturin>=1.9.4,<2"
	$(PIP) install -q -e ".[dev]"

QUESTION ?= A farmer has 17 sheep and buys 25 more. How many sheep does he have now?
EXTRACT ?= number

demo: install ## the main job: ask three local models (installed on first use) and print their consensus
	$(VENV)/bin/thermoconsensus consensus "$(QUESTION)" --extract $(EXTRACT) \
		--local qwen2.5-coder-1.5b --local qwen2.5-coder-0.5b --local smollm2-135m

demo-info: install ## estimate MI and TE on a coupled system with significance tests
	$(VENV)/bin/thermoconsensus demo

test-rust: ## Rust unit, property and integration tests (no Python needed)
	cargo test --workspace --exclude thermoconsensus-python --release

test-nvrtc: install ## every cuda/*.cu kernel compiles through NVRTC (from PyPI; no GPU or toolkit needed)
	$(PIP) install -q nvidia-cuda-nvrtc-cu12
	THERMOCONSENSUS_REQUIRE_NVRTC=1 THERMOCONSENSUS_CUDA_LIB_DIRS="$$($(PY) -c 'import os, nvidia.cuda_nvrtc as m; print(os.path.join(m.__path__[0], "lib"))')" \
		cargo test -p thermoconsensus-gpu --features cuda --release

test-python: install ## pytest over the installed package
	$(PY) -m pytest

test-gpu-emulated: install ## pytest -m gpu with "cuda" being the host emulator of the kernels (no GPU needed)
	THERMOCONSENSUS_CUDA_EMULATOR=1 $(PY) -m pytest -m gpu -p no:cacheprovider

test: test-rust test-nvrtc test-python test-gpu-emulated ## every test: cargo test (engines, NVRTC kernel compilation), pytest, GPU twins on the emulator

lint: install ## fmt, clippy -D warnings, ruff, mypy and stubtest
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p thermoconsensus-gpu --all-targets --features cuda -- -D warnings
	$(VENV)/bin/ruff check python tests benches scripts
	$(VENV)/bin/ruff format --check python tests benches scripts
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest thermoconsensus._core

bench-rust: ## criterion benches (KSG at N = 1e3..1e5; annealing flips/s; quantized matmul per block type)
	cargo bench -p thermoconsensus-info --bench ksg
	cargo bench -p thermoconsensus-anneal --bench anneal
	cargo bench -p thermoconsensus-llm --bench matmul

bench-python: install ## thermoconsensus vs scikit-learn, dwave-samplers (and OpenJij) on the same data
	$(PY) benches/bench_info.py
	$(PIP) install -q dwave-samplers
	$(PIP) install -q openjij || echo "OpenJij did not install: its column is skipped"
	$(PY) benches/bench_anneal.py

bench-llm: install ## local inference vs llama-cpp-python (native build from source: ~40 minutes on 2 cores)
	$(PIP) install -q llama-cpp-python
	$(PY) benches/bench_llm.py

bench-server: install ## client overhead, leak check, import time, server under 32 concurrent requests (SmolLM2)
	$(PY) benches/bench_server.py

bench-ray: install ## 64-variable TE network and 200-prompt batch: local vs a local Ray cluster of 1 and 2 workers
	$(PY) benches/bench_ray.py

bench: bench-python bench-rust bench-llm bench-server bench-ray ## all benchmarks

clean: ## remove build outputs and the virtual environment
	cargo clean
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache .mypy_cache
