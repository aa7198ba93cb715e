//! GGUF reader (versions 2 and 3; the format of ggml/docs/gguf.md): header, typed metadata, tensor
//! infos, alignment, and zero-copy access to tensor data through a memory map.
//!
//! Every read is bounds-checked against the bytes actually present, counts are checked against what the
//! remaining bytes could hold before anything is allocated, and tensor extents are checked against the
//! file: a truncated, corrupt or hostile file gives [`Error::Format`] naming the byte offset, never a
//! panic, an out-of-bounds read or a huge allocation.

use crate::error::{Error, Result};
use crate::ggml_type::GgmlType;
use std::collections::HashMap;
use std::path::Path;

/// "GGUF" read as a little-endian u32.
const MAGIC: &[u8; 4] = b"GGUF";
/// Alignment of the tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Most dimensions of a tensor (GGML_MAX_DIMS).
const MAX_DIMS: u32 = 4;
/// Deepest nesting of arrays accepted (real files use one level).
const MAX_ARRAY_DEPTH: usize = 4;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// uint8
    U8(u8),
    /// int8
    I8(i8),
    /// uint16
    U16(u16),
    /// int16
    I16(i16),
    /// uint32
    U32(u32),
    /// int32
    I32(i32),
    /// float32
    F32(f32),
    /// bool
    Bool(bool),
    /// UTF-8 string
    String(String),
    /// Array of values of one type.
    Array(Vec<Value>),
    /// uint64
    U64(u64),
    /// int64
    I64(i64),
    /// float64
    F64(f64),
}

impl Value {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, when it is any number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v as f64),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    /// The string, when the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, when the value is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The GGUF type name ("uint32", "string", "array"...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "uint8",
            Value::I8(_) => "int8",
            Value::U16(_) => "uint16",
            Value::I16(_) => "int16",
            Value::U32(_) => "uint32",
            Value::I32(_) => "int32",
            Value::F32(_) => "float32",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::U64(_) => "uint64",
            Value::I64(_) => "int64",
            Value::F64(_) => "float64",
        }
    }
}

/// Where one tensor's data lies and how it is laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The tensor's name ("blk.0.attn_q.weight").
    pub name: String,
    /// Dimensions, fastest-varying first (ggml's ne[0], ne[1], ...).
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Number of elements.
    pub n_elements: u64,
    /// Bytes of data.
    pub n_bytes: u64,
}

/// A parsed GGUF header: everything but the tensor data.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    /// Tensor infos in file order.
    pub tensors: Vec<TensorInfo>,
    /// Alignment of the data section and of every tensor in it.
    pub alignment: u64,
    /// File offset of the data section.
    pub data_offset: u64,
    index: HashMap<String, usize>,
    tensor_index: HashMap<String, usize>,
}

/// A bounds-checked little-endian reader over the header bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    source: &'a str,
}

impl<'a> Reader<'a> {
    fn fail(&self, reason: impl Into<String>) -> Error {
        Error::Format {
            path: self.source.to_string(),
            reason: format!("{} (at byte {})", reason.into(), self.pos),
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.fail(format!(
                "truncated: {what} needs {n} bytes, {} left",
                self.remaining()
            )));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that must fit in what is left, each item taking at least `min_item` bytes.
    fn count(&mut self, what: &str, min_item: usize) -> Result<usize> {
        let n = self.u64(what)?;
        let fits = (self.remaining() / min_item.max(1)) as u64;
        if n > fits {
            return Err(self.fail(format!(
                "{what} is {n}, more than the {} bytes left could hold",
                self.remaining()
            )));
        }
        Ok(n as usize)
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.count(what, 1)?;
        let start = self.pos;
        let raw = self.take(n, what)?;
        String::from_utf8(raw.to_vec()).map_err(|e| Error::Format {
            path: self.source.to_string(),
            reason: format!(
                "{what} is not valid UTF-8 (at byte {})",
                start + e.utf8_error().valid_up_to()
            ),
        })
    }

    /// A value of GGUF type `ty`; `depth` counts enclosing arrays.
    fn value(&mut self, ty: u32, key: &str, depth: usize) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>(key)?[0]),
            1 => Value::I8(self.array::<1>(key)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(key)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(key)?)),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(i32::from_le_bytes(self.array(key)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(key)?)),
            7 => match self.array::<1>(key)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(self.fail(format!("{key}: bool byte is {b}, not 0 or 1"))),
            },
            8 => Value::String(self.string(key)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(self.fail(format!(
                        "{key}: arrays nested deeper than {MAX_ARRAY_DEPTH}"
                    )));
                }
                let elem = self.u32(key)?;
                let min = match elem {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    other => {
                        return Err(self.fail(format!("{key}: unknown array element type {other}")))
                    }
                };
                let n = self.count(key, min)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(elem, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(i64::from_le_bytes(self.array(key)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(key)?)),
            other => return Err(self.fail(format!("{key}: unknown metadata value type {other}"))),
        })
    }
}

impl Header {
    /// Parses the header of a GGUF file held in `bytes` (the whole file, or at least its header when
    /// `file_len` gives the full length for the tensor-extent checks); `source` names it in errors.
    pub fn parse(bytes: &[u8], file_len: u64, source: &str) -> Result<Header> {
        let mut r = Reader {
            bytes,
            pos: 0,
            source,
        };
        let magic = r.take(4, "magic")?;
        if magic != MAGIC {
            return Err(r.fail(format!(
                "not a GGUF file (magic {magic:02x?}, expected \"GGUF\")"
            )));
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(r.fail(format!(
                "GGUF version {version} is not supported (2 and 3 are)"
            )));
        }
        // Each tensor info takes at least 8 + 4 + 8 + 4 + 8 bytes, each metadata pair at least 8 + 4 + 1.
        let n_tensors = r.u64("tensor count")?;
        let n_kv = r.count("metadata count", 13)?;
        let mut metadata = Vec::with_capacity(n_kv);
        let mut index = HashMap::with_capacity(n_kv);
        for _ in 0..n_kv {
            let key = r.string("metadata key")?;
            let ty = r.u32(&key)?;
            let value = r.value(ty, &key, 0)?;
            if index.insert(key.clone(), metadata.len()).is_some() {
                return Err(r.fail(format!("metadata key {key:?} appears twice")));
            }
            metadata.push((key, value));
        }
        let alignment = match index.get("general.alignment").map(|&i| &metadata[i].1) {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a,
                _ => return Err(r.fail(format!("general.alignment {v:?} is not a power of two"))),
            },
        };
        if n_tensors > (r.remaining() / 32) as u64 {
            return Err(r.fail(format!("tensor count {n_tensors} cannot fit in the header")));
        }
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        let mut tensor_index = HashMap::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            let name = r.string("tensor name")?;
            let n_dims = r.u32(&name)?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(r.fail(format!(
                    "tensor {name:?} has {n_dims} dimensions (1..={MAX_DIMS})"
                )));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            let mut n_elements: u64 = 1;
            for _ in 0..n_dims {
                let d = r.u64(&name)?;
                if d == 0 {
                    return Err(r.fail(format!("tensor {name:?} has a zero dimension")));
                }
                n_elements = n_elements
                    .checked_mul(d)
                    .filter(|&n| n < 1 << 48)
                    .ok_or_else(|| {
                        r.fail(format!(
                            "tensor {name:?} has absurd dimensions {dims:?} x {d}"
                        ))
                    })?;
                dims.push(d);
            }
            let type_id = r.u32(&name)?;
            let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| {
                r.fail(format!(
                    "tensor {name:?} has unknown or unsupported type id {type_id}"
                ))
            })?;
            if dims[0] % ggml_type.block_size() as u64 != 0 {
                return Err(r.fail(format!(
                    "tensor {name:?}: row length {} is not a multiple of the {} block of {}",
                    dims[0],
                    ggml_type,
                    ggml_type.block_size()
                )));
            }
            let n_bytes = ggml_type
                .bytes_for(n_elements)
                .ok_or_else(|| r.fail(format!("tensor {name:?} size overflows")))?;
            let offset = r.u64(&name)?;
            if offset % alignment != 0 {
                return Err(r.fail(format!(
                    "tensor {name:?} offset {offset} is not aligned to {alignment}"
                )));
            }
            if tensor_index.insert(name.clone(), tensors.len()).is_some() {
                return Err(r.fail(format!("tensor {name:?} appears twice")));
            }
            tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                offset,
                n_elements,
                n_bytes,
            });
        }
        let data_offset = (r.pos as u64).div_ceil(alignment) * alignment;
        for t in &tensors {
            let end = data_offset
                .checked_add(t.offset)
                .and_then(|s| s.checked_add(t.n_bytes));
            if end.is_none_or(|e| e > file_len) {
                return Err(Error::Format {
                    path: source.to_string(),
                    reason: format!(
                        "tensor {:?} ({} bytes at data offset {}) runs past the end of the {file_len}-byte file",
                        t.name, t.n_bytes, t.offset
                    ),
                });
            }
        }
        Ok(Header {
            version,
            metadata,
            tensors,
            alignment,
            data_offset,
            index,
            tensor_index,
        })
    }

    /// The metadata value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// `general.architecture`, when present.
    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(Value::as_str)
    }
}

/// An open GGUF file: its header and its memory-mapped bytes.
#[derive(Debug)]
pub struct GgufFile {
    header: Header,
    map: memmap2::Mmap,
    path: String,
}

impl GgufFile {
    /// Opens and maps `path` and parses its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let p = path.as_ref();
        let name = p.display().to_string();
        let io = |source| Error::Io {
            path: name.clone(),
            source,
        };
        let file = std::fs::File::open(p).map_err(io)?;
        // SAFETY: the map is read-only; like every reader of mapped model files (llama.cpp included),
        // we rely on the file not being truncated by another process while it is open.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let header = Header::parse(&map, map.len() as u64, &name)?;
        Ok(Self {
            header,
            map,
            path: name,
        })
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file's path as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The bytes of tensor `t` (extents were checked when the header was parsed).
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        let start = (self.header.data_offset + t.offset) as usize;
        &self.map[start..start + t.n_bytes as usize]
    }
}
