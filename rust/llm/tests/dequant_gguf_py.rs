//! The reference dequantisation of every block format against gguf-py's `gguf.quants.dequantize`: seeded
//! random blocks (finite random f16 scales, negative mins among them) and the values gguf-py gave, in
//! tests/fixtures/gguf_py_dequant.json (recorded by scripts/record_gguf_dequant.py).

use thermoconsensus_llm::{dequantize, GgmlType};

fn fixture() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/gguf_py_dequant.json"
    );
    let text = std::fs::read_to_string(path).expect("the fixture is part of the repository");
    serde_json::from_str(&text).expect("the fixture is JSON")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digits"))
        .collect()
}

#[test]
fn every_block_format_matches_gguf_py() {
    let fixture = fixture();
    let types = fixture["types"].as_object().unwrap();
    let mut seen = Vec::new();
    for (name, t) in types {
        let ty = GgmlType::from_id(t["id"].as_u64().unwrap() as u32).unwrap();
        let bytes = hex(t["bytes"].as_str().unwrap());
        let want: Vec<f32> = t["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let mut got = vec![0.0f32; want.len()];
        dequantize(ty, &bytes, &mut got).unwrap();
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!("{name}: largest |difference| {worst:.2e} (largest |value| {scale:.2e})");
        // gguf-py computes in f32 numpy with the same products; only the rounding of d * scale may differ.
        assert!(
            worst <= 1e-6 * scale,
            "{name}: largest difference {worst} against values up to {scale}"
        );
        seen.push(name.as_str());
    }
    for k in ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"] {
        assert!(seen.contains(&k), "{k} is in the fixture");
    }
}
