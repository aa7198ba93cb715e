"""Writes tests/fixtures/gguf_v2_gguf_py_0_4_4.gguf: a small GGUF version-2 file written by gguf-py 0.4.4 (the
last gguf-py line that wrote version 2), with metadata of several types, a string array and three tensors
(F32, F16 and two Q8_0 blocks). rust/llm/tests/gguf_reader.rs reads it back.

Run in a scratch venv that has gguf==0.4.4 (not the project's gguf): python scripts/record_gguf_v2.py"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

assert gguf.GGUF_VERSION == 2, f"needs gguf-py 0.4.x (writes version 2), found version {gguf.GGUF_VERSION}"

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gguf_v2_gguf_py_0_4_4.gguf"


def q8_0_blocks() -> np.ndarray:
    """Two Q8_0 blocks: scales 0.5 and -0.25, quants -16..15 and 15..-16."""
    out = bytearray()
    for d, qs in ((0.5, range(-16, 16)), (-0.25, range(15, -17, -1))):
        out += np.array([d], dtype=np.float16).tobytes()
        out += np.array(list(qs), dtype=np.int8).tobytes()
    return np.frombuffer(bytes(out), dtype=np.uint8)


w = gguf.GGUFWriter(str(OUT), "llama", use_temp_file=False)
w.add_name("gguf-v2-fixture")
w.add_uint32("llama.context_length", 128)
w.add_float32("llama.rope.freq_base", 500000.0)
w.add_bool("fixture.flag", True)
w.add_int32("fixture.negative", -7)
w.add_array("fixture.words", ["alpha", "béta", ""])
w.add_tensor("f32_vec", np.arange(8, dtype=np.float32) / 4)
w.add_tensor("f16_mat", (np.arange(6, dtype=np.float16) - 2).reshape(2, 3))
w.add_tensor("q8_0_vec", q8_0_blocks(), raw_shape=(64,), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
