"""Records tests/fixtures/gguf_py_dequant.json: seeded random blocks of every block format the GGUF reader
dequantises (the K-quants Q2_K..Q6_K included) and the values gguf-py's reference `gguf.quants.dequantize`
gives for them. rust/llm/tests/dequant_gguf_py.rs checks the Rust dequantisation against it.

Run: .venv/bin/python scripts/record_gguf_dequant.py (needs `gguf`, a test dependency)."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize

# Byte offsets of each format's f16 scale fields (d, and dmin / m where the format has one), from
# ggml-common.h; random bytes there could be NaN or infinity, so they get finite values instead.
F16_FIELDS = {
    Q.Q4_0: (0,),
    Q.Q4_1: (0, 2),
    Q.Q5_0: (0,),
    Q.Q5_1: (0, 2),
    Q.Q8_0: (0,),
    Q.Q2_K: (80, 82),
    Q.Q3_K: (108,),
    Q.Q4_K: (0, 2),
    Q.Q5_K: (0, 2),
    Q.Q6_K: (208,),
}
BLOCKS = 3
SEED = 20260


def record() -> dict:
    rng = np.random.default_rng(SEED)
    types = {}
    for ty, fields in F16_FIELDS.items():
        block_size, type_size = GGML_QUANT_SIZES[ty]
        data = rng.integers(0, 256, size=(BLOCKS, type_size), dtype=np.uint8)
        for at in fields:
            # Signed scales of varied size: a negative dmin and a large d occur among the blocks.
            scale = rng.standard_normal(BLOCKS) * np.array([0.01, 0.1, 2.0])
            data[:, at : at + 2] = scale.astype(np.float16).view(np.uint8).reshape(BLOCKS, 2)
        values = dequantize(data.reshape(-1), ty).astype(np.float32).reshape(-1)
        assert values.size == BLOCKS * block_size and np.isfinite(values).all()
        types[ty.name] = {
            "id": int(ty),
            "bytes": data.tobytes().hex(),
            "values": [float(v) for v in values],
        }
    return {"gguf_py": version("gguf"), "seed": SEED, "blocks_per_type": BLOCKS, "types": types}


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gguf_py_dequant.json"
    out.write_text(json.dumps(record(), separators=(",", ":")) + "\n", "utf-8")
    print(f"wrote {out} ({out.stat().st_size} bytes)")
