//! GGUF reader (versions 2 and 3; the format of ggml/docs/gguf.md): header, typed metadata, tensor
//! infos, alignment, and zero-copy access to tensor data through a memory map.
//!
//! Every read is bounds-checked against the bytes actually present, counts are checked against what the
//! remaining bytes could hold before anything is allocated, and tensor extents are checked against the
//! file: a truncated, corrupt or hostile file gives [`Error::Format`] naming the byte offset, never a
//! panic, an out-of-bounds read or a huge allocation.
//!
//! Memory stays proportional to the header's bytes: arrays are stored typed and packed ([`Array`]: a
//! uint8 array costs one byte per element, a string array its text plus one offset per string), and the
//! counts whose items cost more in memory than in the file (metadata pairs, tensor infos, nested arrays)
//! have documented maxima far above any real model's.

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
/// Most metadata pairs in one file (real models have under a hundred).
pub const MAX_METADATA: usize = 1 << 16;
/// Most tensors in one file (real models of the supported architectures have a few thousand at most).
pub const MAX_TENSORS: usize = 1 << 16;
/// Most arrays nested inside other arrays, over the whole file (real files have none).
pub const MAX_NESTED_ARRAYS: usize = 1 << 16;

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
    Array(Array),
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
    pub fn as_array(&self) -> Option<&Array> {
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

/// The strings of a string array, packed: one buffer of text and where each string ends in it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Strings {
    text: String,
    ends: Vec<usize>,
}

impl Strings {
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// String `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// The strings in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// A metadata array: elements of one GGUF type, stored packed so that its memory is at most the bytes
/// it took in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Array {
    /// uint8 elements
    U8(Vec<u8>),
    /// int8 elements
    I8(Vec<i8>),
    /// uint16 elements
    U16(Vec<u16>),
    /// int16 elements
    I16(Vec<i16>),
    /// uint32 elements
    U32(Vec<u32>),
    /// int32 elements
    I32(Vec<i32>),
    /// float32 elements
    F32(Vec<f32>),
    /// bool elements
    Bool(Vec<bool>),
    /// string elements
    String(Strings),
    /// uint64 elements
    U64(Vec<u64>),
    /// int64 elements
    I64(Vec<i64>),
    /// float64 elements
    F64(Vec<f64>),
    /// array elements (each of its own element type)
    Array(Vec<Array>),
}

impl Array {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::String(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F64(v) => v.len(),
            Array::Array(v) => v.len(),
        }
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as a [`Value`] (strings and nested arrays are copied).
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Array::U8(v) => Value::U8(*v.get(i)?),
            Array::I8(v) => Value::I8(*v.get(i)?),
            Array::U16(v) => Value::U16(*v.get(i)?),
            Array::I16(v) => Value::I16(*v.get(i)?),
            Array::U32(v) => Value::U32(*v.get(i)?),
            Array::I32(v) => Value::I32(*v.get(i)?),
            Array::F32(v) => Value::F32(*v.get(i)?),
            Array::Bool(v) => Value::Bool(*v.get(i)?),
            Array::String(v) => Value::String(v.get(i)?.to_string()),
            Array::U64(v) => Value::U64(*v.get(i)?),
            Array::I64(v) => Value::I64(*v.get(i)?),
            Array::F64(v) => Value::F64(*v.get(i)?),
            Array::Array(v) => Value::Array(v.get(i)?.clone()),
        })
    }

    /// The elements as [`Value`]s, in order.
    pub fn iter(&self) -> impl Iterator<Item = Value> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The strings, when this is an array of strings.
    pub fn strings(&self) -> Option<&Strings> {
        match self {
            Array::String(s) => Some(s),
            _ => None,
        }
    }

    /// The GGUF type name of the elements ("uint8", "string", "array"...).
    pub fn element_type_name(&self) -> &'static str {
        match self {
            Array::U8(_) => "uint8",
            Array::I8(_) => "int8",
            Array::U16(_) => "uint16",
            Array::I16(_) => "int16",
            Array::U32(_) => "uint32",
            Array::I32(_) => "int32",
            Array::F32(_) => "float32",
            Array::Bool(_) => "bool",
            Array::String(_) => "string",
            Array::U64(_) => "uint64",
            Array::I64(_) => "int64",
            Array::F64(_) => "float64",
            Array::Array(_) => "array",
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
    /// Nested arrays still allowed (see [`MAX_NESTED_ARRAYS`]).
    nested_left: usize,
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

    /// A length-prefixed UTF-8 string, borrowed from the file.
    fn str(&mut self, what: &str) -> Result<&'a str> {
        let n = self.count(what, 1)?;
        let start = self.pos;
        let raw = self.take(n, what)?;
        std::str::from_utf8(raw).map_err(|e| Error::Format {
            path: self.source.to_string(),
            reason: format!(
                "{what} is not valid UTF-8 (at byte {})",
                start + e.valid_up_to()
            ),
        })
    }

    fn string(&mut self, what: &str) -> Result<String> {
        self.str(what).map(str::to_string)
    }

    /// `n` fixed-size elements of `W` bytes each, decoded by `f`; the bytes are checked to be present
    /// before the vector is allocated.
    fn packed<const W: usize, T>(
        &mut self,
        n: usize,
        key: &str,
        f: impl Fn([u8; W]) -> T,
    ) -> Result<Vec<T>> {
        let raw = self.take(n * W, key)?;
        Ok(raw
            .chunks_exact(W)
            .map(|c| {
                let mut b = [0u8; W];
                b.copy_from_slice(c);
                f(b)
            })
            .collect())
    }

    /// `n` strings, packed. A first pass checks every length and finds the total, so the text buffer
    /// is allocated once at its exact size.
    fn strings(&mut self, n: usize, key: &str) -> Result<Strings> {
        let start = self.pos;
        let mut total = 0usize;
        for _ in 0..n {
            total += self.str(key)?.len();
        }
        self.pos = start;
        let mut out = Strings {
            text: String::with_capacity(total),
            ends: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let s = self.str(key)?;
            out.text.push_str(s);
            out.ends.push(out.text.len());
        }
        Ok(out)
    }

    /// An array (its element type, count and elements); `depth` counts enclosing arrays.
    fn array_value(&mut self, key: &str, depth: usize) -> Result<Array> {
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
            other => return Err(self.fail(format!("{key}: unknown array element type {other}"))),
        };
        let n = self.count(key, min)?;
        Ok(match elem {
            0 => Array::U8(self.packed(n, key, |[b]| b)?),
            1 => Array::I8(self.packed(n, key, |[b]| b as i8)?),
            2 => Array::U16(self.packed(n, key, u16::from_le_bytes)?),
            3 => Array::I16(self.packed(n, key, i16::from_le_bytes)?),
            4 => Array::U32(self.packed(n, key, u32::from_le_bytes)?),
            5 => Array::I32(self.packed(n, key, i32::from_le_bytes)?),
            6 => Array::F32(self.packed(n, key, f32::from_le_bytes)?),
            7 => {
                let at = self.pos;
                let raw = self.take(n, key)?;
                if let Some(i) = raw.iter().position(|&b| b > 1) {
                    self.pos = at + i;
                    return Err(self.fail(format!("{key}: bool byte is {}, not 0 or 1", raw[i])));
                }
                Array::Bool(raw.iter().map(|&b| b == 1).collect())
            }
            8 => Array::String(self.strings(n, key)?),
            10 => Array::U64(self.packed(n, key, u64::from_le_bytes)?),
            11 => Array::I64(self.packed(n, key, i64::from_le_bytes)?),
            12 => Array::F64(self.packed(n, key, f64::from_le_bytes)?),
            _ => {
                if n > self.nested_left {
                    return Err(self.fail(format!(
                        "{key}: more than {MAX_NESTED_ARRAYS} nested arrays in the file"
                    )));
                }
                self.nested_left -= n;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.array_value(key, depth + 1)?);
                }
                Array::Array(items)
            }
        })
    }

    /// A value of GGUF type `ty`.
    fn value(&mut self, ty: u32, key: &str) -> Result<Value> {
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
            9 => Value::Array(self.array_value(key, 0)?),
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
            nested_left: MAX_NESTED_ARRAYS,
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
        if n_kv > MAX_METADATA {
            return Err(r.fail(format!(
                "metadata count {n_kv} is more than the {MAX_METADATA} this reader accepts"
            )));
        }
        let mut metadata = Vec::with_capacity(n_kv);
        let mut index = HashMap::with_capacity(n_kv);
        for _ in 0..n_kv {
            let key = r.string("metadata key")?;
            let ty = r.u32(&key)?;
            let value = r.value(ty, &key)?;
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
        if n_tensors > MAX_TENSORS as u64 {
            return Err(r.fail(format!(
                "tensor count {n_tensors} is more than the {MAX_TENSORS} this reader accepts"
            )));
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

/// Ok for a regular file, else an error saying what the path is instead.
fn regular_file(meta: &std::fs::Metadata) -> std::io::Result<()> {
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(());
    }
    if ft.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory, not a GGUF file",
        ));
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "is {}, not a regular file; a GGUF model must be a regular file",
            special_kind(&ft)
        ),
    ))
}

#[cfg(unix)]
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "not a file"
}

/// An open GGUF file: its header and its memory-mapped bytes.
#[derive(Debug)]
pub struct GgufFile {
    header: Header,
    map: memmap2::Mmap,
    path: String,
}

impl GgufFile {
    /// Opens and maps `path` and parses its header. Anything but a regular file (a directory, a device,
    /// a FIFO, a socket) is refused with an [`Error::Io`] naming what it is; the file is opened
    /// non-blocking so a FIFO cannot stall the open.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let p = path.as_ref();
        let name = p.display().to_string();
        let io = |source| Error::Io {
            path: name.clone(),
            source,
        };
        // Checked before opening (a FIFO would block a plain open) and again on the open handle.
        regular_file(&std::fs::metadata(p).map_err(io)?).map_err(io)?;
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NONBLOCK);
        }
        let file = options.open(p).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        regular_file(&meta).map_err(io)?;
        if meta.len() < 24 {
            return Err(Error::Format {
                path: name,
                reason: format!(
                    "the file is {} bytes, shorter than a GGUF header (24 bytes)",
                    meta.len()
                ),
            });
        }
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
