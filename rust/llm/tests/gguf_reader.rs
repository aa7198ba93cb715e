//! The GGUF reader on files written here byte by byte: every value type, tensor layout checks, and
//! corrupt input (truncation at every byte, random mutations) that must give errors, never panics.

use proptest::prelude::*;
use thermoconsensus_llm::gguf::{Array, Header};
use thermoconsensus_llm::{Error, GgmlType, Value};

/// A minimal GGUF writer for tests.
#[derive(Default)]
struct Writer {
    kv: Vec<u8>,
    n_kv: u64,
    tensors: Vec<u8>,
    n_tensors: u64,
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Writer {
    fn kv(&mut self, key: &str, ty: u32, payload: &[u8]) -> &mut Self {
        string(&mut self.kv, key);
        self.kv.extend_from_slice(&ty.to_le_bytes());
        self.kv.extend_from_slice(payload);
        self.n_kv += 1;
        self
    }

    fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> &mut Self {
        string(&mut self.tensors, name);
        self.tensors
            .extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            self.tensors.extend_from_slice(&d.to_le_bytes());
        }
        self.tensors.extend_from_slice(&ty.to_le_bytes());
        self.tensors.extend_from_slice(&offset.to_le_bytes());
        self.n_tensors += 1;
        self
    }

    fn bytes(&self, version: u32, data: usize) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&self.n_tensors.to_le_bytes());
        out.extend_from_slice(&self.n_kv.to_le_bytes());
        out.extend_from_slice(&self.kv);
        out.extend_from_slice(&self.tensors);
        while !out.len().is_multiple_of(32) {
            out.push(0);
        }
        out.extend(std::iter::repeat_n(0u8, data));
        out
    }
}

fn parse(bytes: &[u8]) -> Result<Header, Error> {
    Header::parse(bytes, bytes.len() as u64, "<test>")
}

fn sample() -> Writer {
    let mut w = Writer::default();
    let mut s = Vec::new();
    string(&mut s, "llama");
    let mut arr = Vec::new();
    arr.extend_from_slice(&8u32.to_le_bytes());
    arr.extend_from_slice(&2u64.to_le_bytes());
    string(&mut arr, "<s>");
    string(&mut arr, "héllo");
    w.kv("general.architecture", 8, &s)
        .kv("u8", 0, &[7])
        .kv("i8", 1, &[0xff])
        .kv("u16", 2, &500u16.to_le_bytes())
        .kv("i16", 3, &(-500i16).to_le_bytes())
        .kv("u32", 4, &70000u32.to_le_bytes())
        .kv("i32", 5, &(-70000i32).to_le_bytes())
        .kv("f32", 6, &1.5f32.to_le_bytes())
        .kv("bool", 7, &[1])
        .kv("tokens", 9, &arr)
        .kv("u64", 10, &u64::MAX.to_le_bytes())
        .kv("i64", 11, &i64::MIN.to_le_bytes())
        .kv("f64", 12, &0.25f64.to_le_bytes())
        .tensor("w", &[64, 2], GgmlType::Q8_0.id(), 0)
        .tensor("b", &[64], GgmlType::F32.id(), 160);
    w
}

#[test]
fn every_value_type_and_tensor_layout_is_read() {
    let bytes = sample().bytes(3, 160 + 256);
    let h = parse(&bytes).unwrap();
    assert_eq!(h.version, 3);
    assert_eq!(h.architecture(), Some("llama"));
    assert_eq!(h.get("u8"), Some(&Value::U8(7)));
    assert_eq!(h.get("i8"), Some(&Value::I8(-1)));
    assert_eq!(h.get("i16"), Some(&Value::I16(-500)));
    assert_eq!(h.get("u32").and_then(Value::as_u64), Some(70000));
    assert_eq!(h.get("f32"), Some(&Value::F32(1.5)));
    assert_eq!(h.get("bool"), Some(&Value::Bool(true)));
    assert_eq!(h.get("u64"), Some(&Value::U64(u64::MAX)));
    assert_eq!(h.get("i64"), Some(&Value::I64(i64::MIN)));
    assert_eq!(h.get("f64").and_then(Value::as_f64), Some(0.25));
    let tokens = h.get("tokens").and_then(Value::as_array).unwrap();
    assert_eq!(tokens.strings().and_then(|s| s.get(1)), Some("héllo"));
    let w = h.tensor("w").unwrap();
    assert_eq!(
        (w.n_elements, w.n_bytes, w.ggml_type),
        (128, 136, GgmlType::Q8_0)
    );
    assert_eq!(h.data_offset % 32, 0);
    assert_eq!(h.tensor("b").unwrap().n_bytes, 256);
    // Version 2 has the same layout.
    assert!(parse(&sample().bytes(2, 160 + 256)).is_ok());
}

fn reason(r: Result<Header, Error>) -> String {
    match r {
        Err(Error::Format { reason, .. }) => reason,
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn bad_headers_are_named() {
    let good = sample().bytes(3, 416);
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(reason(parse(&bad)).contains("not a GGUF file"));
    assert!(reason(parse(&sample().bytes(1, 416))).contains("version 1"));
    assert!(reason(parse(&sample().bytes(3, 100))).contains("past the end"));
    let mut w = Writer::default();
    w.tensor("x", &[64], 99, 0);
    assert!(reason(parse(&w.bytes(3, 1024))).contains("unknown or unsupported type id 99"));
    let mut w = Writer::default();
    w.tensor("x", &[64], 0, 3);
    assert!(reason(parse(&w.bytes(3, 1024))).contains("not aligned"));
    let mut w = Writer::default();
    w.tensor("x", &[1 << 40, 1 << 40], 0, 0);
    assert!(reason(parse(&w.bytes(3, 64))).contains("absurd"));
    let mut w = Writer::default();
    w.tensor("x", &[30], GgmlType::Q4_0.id(), 0);
    assert!(reason(parse(&w.bytes(3, 64))).contains("multiple of"));
    let mut w = Writer::default();
    w.tensor("x", &[1, 1, 1, 1, 1], 0, 0);
    assert!(reason(parse(&w.bytes(3, 64))).contains("dimensions"));
    let mut w = Writer::default();
    w.kv("a", 4, &1u32.to_le_bytes())
        .kv("a", 4, &1u32.to_le_bytes());
    assert!(reason(parse(&w.bytes(3, 0))).contains("twice"));
    let mut w = Writer::default();
    w.kv("general.alignment", 4, &3u32.to_le_bytes());
    assert!(reason(parse(&w.bytes(3, 0))).contains("power of two"));
    let mut w = Writer::default();
    let mut huge = 8u32.to_le_bytes().to_vec();
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    w.kv("tokens", 9, &huge);
    assert!(reason(parse(&w.bytes(3, 0))).contains("more than the"));
    let mut w = Writer::default();
    w.kv("s", 8, &[2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe]);
    assert!(reason(parse(&w.bytes(3, 0))).contains("UTF-8"));
}

#[test]
fn arrays_are_packed_and_typed() {
    let mut w = Writer::default();
    let mut bytes = 0u32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&5u64.to_le_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4, 250]);
    let mut nested = 9u32.to_le_bytes().to_vec();
    nested.extend_from_slice(&1u64.to_le_bytes());
    nested.extend_from_slice(&4u32.to_le_bytes());
    nested.extend_from_slice(&2u64.to_le_bytes());
    nested.extend_from_slice(&7u32.to_le_bytes());
    nested.extend_from_slice(&8u32.to_le_bytes());
    w.kv("bytes", 9, &bytes).kv("nested", 9, &nested);
    let h = parse(&w.bytes(3, 0)).unwrap();
    let a = h.get("bytes").and_then(Value::as_array).unwrap();
    assert_eq!(a, &Array::U8(vec![1, 2, 3, 4, 250]));
    assert_eq!((a.len(), a.get(4)), (5, Some(Value::U8(250))));
    let n = h.get("nested").and_then(Value::as_array).unwrap();
    assert_eq!(n, &Array::Array(vec![Array::U32(vec![7, 8])]));
    // A bool array with a byte other than 0 or 1 is refused.
    let mut w = Writer::default();
    let mut bools = 7u32.to_le_bytes().to_vec();
    bools.extend_from_slice(&3u64.to_le_bytes());
    bools.extend_from_slice(&[0, 1, 2]);
    w.kv("b", 9, &bools);
    assert!(reason(parse(&w.bytes(3, 0))).contains("bool byte is 2"));
}

#[test]
fn counts_beyond_the_documented_maxima_are_refused() {
    // More metadata pairs than MAX_METADATA, each an empty-keyed bool (13 bytes).
    let n = thermoconsensus_llm::gguf::MAX_METADATA as u64 + 1;
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&n.to_le_bytes());
    bytes.resize(bytes.len() + 13 * n as usize, 0);
    assert!(reason(parse(&bytes)).contains("this reader accepts"));
}

#[test]
fn non_regular_files_are_refused_without_blocking() {
    let dir = std::env::temp_dir().join(format!("tc-gguf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = thermoconsensus_llm::GgufFile::open(&dir).unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
    let err = thermoconsensus_llm::GgufFile::open("/dev/null").unwrap_err();
    assert!(err.to_string().contains("character device"), "{err}");
    #[cfg(unix)]
    {
        let fifo = dir.join("model.gguf");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = thermoconsensus_llm::GgufFile::open(&fifo).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        std::fs::remove_file(&fifo).unwrap();
    }
    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    let err = thermoconsensus_llm::GgufFile::open(&empty).unwrap_err();
    assert!(
        err.to_string().contains("shorter than a GGUF header"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncation_at_every_byte_is_an_error() {
    let good = sample().bytes(3, 416);
    let header_len = good.len() - 416;
    for cut in 0..header_len {
        assert!(parse(&good[..cut]).is_err(), "cut at {cut}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Random byte edits of a valid file never panic; whatever parses keeps its tensors in the file.
    #[test]
    fn mutated_files_never_panic(edits in prop::collection::vec((0usize..400, any::<u8>()), 1..8)) {
        let mut bytes = sample().bytes(3, 416);
        for (at, v) in edits {
            let i = at % bytes.len();
            bytes[i] = v;
        }
        if let Ok(h) = parse(&bytes) {
            for t in &h.tensors {
                prop_assert!(h.data_offset + t.offset + t.n_bytes <= bytes.len() as u64);
            }
        }
    }
}

/// A version-2 file as gguf-py 0.4.4 wrote it (tests/fixtures/gguf_v2_gguf_py_0_4_4.gguf, from
/// scripts/record_gguf_v2.py): metadata of each kind, a string array, and F32, F16 and Q8_0 tensors.
#[test]
fn a_version_2_file_from_gguf_py_is_read() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/gguf_v2_gguf_py_0_4_4.gguf"
    );
    let file = thermoconsensus_llm::GgufFile::open(path).unwrap();
    let h = file.header();
    assert_eq!(h.version, 2);
    assert_eq!(h.architecture(), Some("llama"));
    assert_eq!(
        h.get("general.name").and_then(Value::as_str),
        Some("gguf-v2-fixture")
    );
    assert_eq!(
        h.get("llama.context_length").and_then(Value::as_u64),
        Some(128)
    );
    assert_eq!(h.get("llama.rope.freq_base"), Some(&Value::F32(500000.0)));
    assert_eq!(h.get("fixture.flag"), Some(&Value::Bool(true)));
    assert_eq!(
        h.get("fixture.negative").and_then(Value::as_f64),
        Some(-7.0)
    );
    let words = h.get("fixture.words").and_then(Value::as_array).unwrap();
    let words: Vec<&str> = words.strings().unwrap().iter().collect();
    assert_eq!(words, ["alpha", "béta", ""]);
    let values = |name: &str| {
        let t = h.tensor(name).unwrap();
        let mut out = vec![0.0f32; t.n_elements as usize];
        thermoconsensus_llm::dequantize(t.ggml_type, file.tensor_data(t), &mut out).unwrap();
        (t.dims.clone(), t.ggml_type, out)
    };
    let want: Vec<f32> = (0..8).map(|i| i as f32 / 4.0).collect();
    assert_eq!(values("f32_vec"), (vec![8], GgmlType::F32, want));
    let want: Vec<f32> = (0..6).map(|i| i as f32 - 2.0).collect();
    assert_eq!(values("f16_mat"), (vec![3, 2], GgmlType::F16, want));
    let mut want: Vec<f32> = (-16..16).map(|q| q as f32 * 0.5).collect();
    want.extend((-16..16).rev().map(|q| q as f32 * -0.25));
    assert_eq!(values("q8_0_vec"), (vec![64], GgmlType::Q8_0, want));
}
