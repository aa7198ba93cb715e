"""The GGUF reader and loader under hostile files: tiny random models (tests/tiny_gguf.py) mutated field by
field and byte by byte, each loaded and run greedily in a worker subprocess under an address-space cap, so an
abort, a panic reaching Python or a hang fails the test. Also the named cases of issue 19 and the memory a
rejection costs. scripts/fuzz_hostile.py runs the same mutations at 1,000 files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gguf", reason="the gguf package writes the seed models (pip install -e '.[test]')")

sys.path.insert(0, str(Path(__file__).parent))
import gguf_mutate as gm
from hostile_runner import peak_rss_rejecting, run_cases
from tiny_gguf import write_tiny_model

CI_CASES = 90


def _seeds(d: Path) -> list[bytes]:
    return [write_tiny_model(d / f"seed_{a}.gguf", a).read_bytes() for a in ("llama", "qwen2", "gemma3")]


def mutated_files(d: Path, n: int, seed: int = 0) -> list[tuple[Path, str]]:
    """`n` mutated copies of the three tiny seed models under `d`, with what each mutation did."""
    seeds = _seeds(d)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        raw, what = gm.mutate(seeds[i % len(seeds)], rng)
        p = d / f"mut_{i:04d}.gguf"
        p.write_bytes(raw)
        out.append((p, what))
    return out


def test_seed_models_round_trip_through_the_mutator(tmp_path: Path) -> None:
    for raw in _seeds(tmp_path):
        assert gm.parse(raw).to_bytes() == raw


def test_mutated_models_never_abort_panic_or_hang(tmp_path: Path) -> None:
    files = mutated_files(tmp_path, CI_CASES)
    outcomes = run_cases([f"load_and_run({str(p)!r})" for p, _ in files], case_timeout=30)
    failures = [(files[o.id][1], o.status, o.detail) for o in outcomes if o.failed]
    assert not failures, failures
    # The mutations must reach both outcomes: most files rejected, some still loading and running.
    statuses = {o.status for o in outcomes}
    assert statuses == {"ok", "error"}, statuses


def _variant(seed: bytes, path: Path, **kv: tuple[int, bytes]) -> Path:
    g = gm.parse(seed)
    g.kv.update(kv)
    path.write_bytes(g.to_bytes())
    return path


def test_the_hostile_headers_of_issue_19_are_refused_by_name(tmp_path: Path) -> None:
    seed = write_tiny_model(tmp_path / "seed.gguf", "llama").read_bytes()
    u32 = gm.UINT32
    cases = {
        "llama.block_count is 16777215": _variant(
            seed, tmp_path / "blocks.gguf", **{"llama.block_count": (u32, gm.scalar(u32, 16777215))}
        ),
        "llama.rope.dimension_count is 128": _variant(
            seed, tmp_path / "rope.gguf", **{"llama.rope.dimension_count": (u32, gm.scalar(u32, 128))}
        ),
        "more than the": _variant(
            seed,
            tmp_path / "count.gguf",
            **{"tokenizer.ggml.tokens": (gm.ARRAY, gm.array(gm.UINT8, bytes(10), count=98_000_000))},
        ),
    }
    (tmp_path / "dir.gguf").mkdir()
    os.mkfifo(tmp_path / "fifo.gguf")
    paths = [*cases.values(), tmp_path / "dir.gguf", tmp_path / "fifo.gguf", Path("/dev/null")]
    outcomes = run_cases([f"load_and_run({str(p)!r})" for p in paths], case_timeout=20)
    expected = [
        *(("InvalidInputError", text) for text in cases),
        ("IsADirectoryError", "is a directory"),
        ("OSError", "is a FIFO"),
        ("OSError", "is a character device"),
    ]
    for o, (kind, text) in zip(outcomes, expected):
        assert o.status == "error" and o.detail.startswith(kind) and text in o.detail, (o.code, o.detail)


def test_rejecting_a_file_costs_at_most_twice_its_bytes(tmp_path: Path) -> None:
    """A 16 MB metadata array (uint8, then strings) followed by a bad field: the reader reads it all, then
    refuses the file; its peak memory stays within twice the bytes plus a few MB."""
    seed = write_tiny_model(tmp_path / "seed.gguf", "llama").read_bytes()
    bad = (gm.BOOL, b"\x05")
    arrays = {
        "bytes": gm.array(gm.UINT8, bytes(16_000_000)),
        "strings": gm.array(gm.STRING, ["ab"] * 1_600_000),
    }
    for name, payload in arrays.items():
        p = _variant(
            seed, tmp_path / f"{name}.gguf", **{"tokenizer.ggml.tokens": (gm.ARRAY, payload), "zz.bad": bad}
        )
        for call in ("read_gguf", "Model.load"):
            grew, size, what = peak_rss_rejecting(p, call)
            assert "bool byte is 5" in what, what
            assert 0 <= grew <= 2 * size + 8 * 2**20, (name, call, grew, size)
