"""Splits a GGUF file into its parts (metadata pairs, tensor infos, data) and puts it back together, so tests
can change one field (re-type it, give it a hostile value or count) and keep the rest of the file valid. Also
the mutation operators of the GGUF fuzzer (tests/test_gguf_fuzz.py, scripts/fuzz_hostile.py)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

# GGUF value type ids and the struct format of the fixed-size ones.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


@dataclass
class Gguf:
    """A GGUF file as editable parts: `kv` maps each key to (type id, encoded payload)."""

    version: int
    kv: dict[str, tuple[int, bytes]]
    tensors: list[bytes]
    data: bytes
    alignment: int = 32
    extra_tensor_count: int = 0
    notes: list[str] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        out = bytearray(b"GGUF")
        out += struct.pack(
            "<IQQ", self.version, (len(self.tensors) + self.extra_tensor_count) % 2**64, len(self.kv)
        )
        for key, (ty, payload) in self.kv.items():
            out += encode_string(key) + struct.pack("<I", ty) + payload
        for t in self.tensors:
            out += t
        out += b"\0" * (-len(out) % self.alignment)
        return bytes(out + self.data)


def encode_string(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(raw)) + raw


def scalar(ty: int, value: float | int | bool) -> bytes:
    """The payload of a scalar of type `ty`."""
    return struct.pack(_FMT[ty], value)


def array(elem: int, items: list[float | int | bool | str] | bytes, count: int | None = None) -> bytes:
    """The payload of an array of `elem` elements; `count` overrides the stated length (a lie)."""
    if isinstance(items, bytes):  # raw element bytes (string and array elements: a length of 0 if given)
        body, n = items, len(items) // struct.calcsize(_FMT.get(elem, "<Q"))
    elif elem == STRING:
        body, n = b"".join(encode_string(str(s)) for s in items), len(items)
    else:
        body, n = b"".join(struct.pack(_FMT[elem], v) for v in items), len(items)
    return struct.pack("<IQ", elem, n if count is None else count) + body


class _Cursor:
    def __init__(self, raw: bytes) -> None:
        self.raw, self.pos = raw, 0

    def take(self, n: int) -> bytes:
        out = self.raw[self.pos : self.pos + n]
        if len(out) != n:
            raise ValueError("truncated GGUF")
        self.pos += n
        return out

    def unpack(self, fmt: str) -> int:
        (v,) = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return int(v)

    def string(self) -> bytes:
        return self.take(self.unpack("<Q"))

    def value(self, ty: int) -> None:
        if ty == STRING:
            self.string()
        elif ty == ARRAY:
            elem, n = self.unpack("<I"), self.unpack("<Q")
            for _ in range(n):
                self.value(elem)
        else:
            self.take(struct.calcsize(_FMT[ty]))


def parse(raw: bytes) -> Gguf:
    """The parts of a valid GGUF file (as tiny_gguf writes them)."""
    c = _Cursor(raw)
    if c.take(4) != b"GGUF":
        raise ValueError("not GGUF")
    version, n_tensors, n_kv = c.unpack("<I"), c.unpack("<Q"), c.unpack("<Q")
    kv: dict[str, tuple[int, bytes]] = {}
    for _ in range(n_kv):
        key = c.string().decode()
        ty = c.unpack("<I")
        start = c.pos
        c.value(ty)
        kv[key] = (ty, raw[start : c.pos])
    alignment = 32
    if "general.alignment" in kv:
        alignment = struct.unpack("<I", kv["general.alignment"][1])[0]
    tensors = []
    for _ in range(n_tensors):
        start = c.pos
        c.string()
        n_dims = c.unpack("<I")
        c.take(8 * n_dims + 4 + 8)
        tensors.append(raw[start : c.pos])
    data_offset = -(-c.pos // alignment) * alignment
    return Gguf(version, kv, tensors, raw[data_offset:], alignment)


def tensor_info(name: str, dims: list[int], ty: int, offset: int) -> bytes:
    return (
        encode_string(name)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack("<Q", d) for d in dims)
        + struct.pack("<IQ", ty, offset)
    )


def split_tensor_info(raw: bytes) -> tuple[str, list[int], int, int]:
    c = _Cursor(raw)
    name = c.string().decode()
    dims = [c.unpack("<Q") for _ in range(c.unpack("<I"))]
    return name, dims, c.unpack("<I"), c.unpack("<Q")


# Values a hostile header uses for counts and sizes.
HOSTILE_INTS = [0, 1, 2, 3, 7, 127, 128, 255, 256, 4095, 65535, 65536, 2**24 - 1, 2**24, 2**31 - 1, 2**32 - 1]
HOSTILE_U64 = [*HOSTILE_INTS, 2**40, 2**62, 2**63 - 1, 2**64 - 1]
HOSTILE_FLOATS = [0.0, -1.0, 1e-45, 1e38, float("inf"), float("-inf"), float("nan")]


def mutate(seed_file: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One mutation of `seed_file` chosen at random; returns the bytes and a description of what changed."""
    g = parse(seed_file)
    kind = int(rng.integers(0, 9))
    keys = list(g.kv)
    if kind == 0:  # flip random header bytes
        raw = bytearray(g.to_bytes())
        header_end = len(raw) - len(g.data)
        edits = []
        for _ in range(int(rng.integers(1, 9))):
            at = int(rng.integers(0, header_end))
            raw[at] = int(rng.integers(0, 256))
            edits.append(at)
        return bytes(raw), f"bytes {edits} replaced"
    if kind == 1:  # truncate
        raw = g.to_bytes()
        cut = int(rng.integers(0, len(raw)))
        return raw[:cut], f"truncated at {cut}"
    if kind == 2:  # an integer field gets a hostile value, in its type or re-typed to uint64
        ints = [k for k in keys if g.kv[k][0] in (UINT32, INT32, UINT64, INT64)]
        key = ints[int(rng.integers(0, len(ints)))]
        v = HOSTILE_U64[int(rng.integers(0, len(HOSTILE_U64)))]
        g.kv[key] = (UINT64, scalar(UINT64, v))
        return g.to_bytes(), f"{key} = {v}"
    if kind == 3:  # a float field gets a hostile value
        floats = [k for k in keys if g.kv[k][0] == FLOAT32]
        key = floats[int(rng.integers(0, len(floats)))]
        fv = HOSTILE_FLOATS[int(rng.integers(0, len(HOSTILE_FLOATS)))]
        g.kv[key] = (FLOAT32, scalar(FLOAT32, fv))
        return g.to_bytes(), f"{key} = {fv}"
    if kind == 4:  # an architecture key that tiny models leave out, with a hostile value
        arch = g.kv["general.architecture"][1][8:].decode()
        extra = ["rope.dimension_count", "attention.sliding_window", "vocab_size", "attention.head_count_kv"]
        key = f"{arch}.{extra[int(rng.integers(0, len(extra)))]}"
        v = HOSTILE_U64[int(rng.integers(0, len(HOSTILE_U64)))]
        g.kv[key] = (UINT64, scalar(UINT64, v))
        return g.to_bytes(), f"{key} = {v}"
    if kind == 5:  # an array whose count lies (re-typed as a huge uint8/string array)
        elem = [UINT8, STRING, UINT64, ARRAY][int(rng.integers(0, 4))]
        count = HOSTILE_U64[int(rng.integers(0, len(HOSTILE_U64)))]
        body = bytes(int(rng.integers(0, 64)))
        g.kv["tokenizer.ggml.tokens"] = (ARRAY, array(elem, body, count=count))
        return g.to_bytes(), f"tokens array of type {elem} claiming {count} items over {len(body)} bytes"
    if kind == 6:  # a tensor's dims, type or offset
        i = int(rng.integers(0, len(g.tensors)))
        name, dims, ty, off = split_tensor_info(g.tensors[i])
        what = int(rng.integers(0, 3))
        if what == 0:
            d = int(rng.integers(0, len(dims)))
            dims[d] = HOSTILE_U64[int(rng.integers(0, len(HOSTILE_U64)))]
        elif what == 1:
            ty = int(rng.integers(0, 40))
        else:
            off = HOSTILE_U64[int(rng.integers(0, len(HOSTILE_U64)))] // 32 * 32
        g.tensors[i] = tensor_info(name, dims, ty, off)
        return g.to_bytes(), f"tensor {name}: dims {dims} type {ty} offset {off}"
    if kind == 7:  # a tensor dropped or duplicated, or the tensor count lies
        i = int(rng.integers(0, len(g.tensors)))
        choice = int(rng.integers(0, 3))
        if choice == 0:
            dropped = g.tensors.pop(i)
            return g.to_bytes(), f"tensor {split_tensor_info(dropped)[0]} dropped"
        if choice == 1:
            g.tensors.append(g.tensors[i])
            return g.to_bytes(), "tensor duplicated"
        g.extra_tensor_count = HOSTILE_U64[int(rng.integers(0, len(HOSTILE_U64)))]
        return g.to_bytes(), f"tensor count raised by {g.extra_tensor_count}"
    # kind 8: a key re-typed (string where a number is expected and vice versa), or nested arrays
    key = keys[int(rng.integers(0, len(keys)))]
    choice = int(rng.integers(0, 3))
    if choice == 0:
        g.kv[key] = (STRING, encode_string("x" * int(rng.integers(0, 5))))
    elif choice == 1:
        g.kv[key] = (BOOL, b"\x02")
    else:
        depth = int(rng.integers(1, 7))
        payload = array(UINT8, [1, 2])
        for _ in range(depth):
            payload = struct.pack("<IQ", ARRAY, 1) + payload
        g.kv[key] = (ARRAY, payload)
    return g.to_bytes(), f"{key} re-typed ({choice})"
