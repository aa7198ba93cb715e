//! The sentence embedder (all-MiniLM-L6-v2) on 5 and on 64 sentences: the candle-core encoder against
//! the previous matrixmultiply one, side by side in one run. Both load the same weights and tokenize
//! the same way; only the encoder differs. Skips when the model is not in the cache
//! (`thermoconsensus.models.path("all-minilm-l6-v2")` installs it).
//!
//! `cargo bench -p thermoconsensus-llm --bench embed`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::path::PathBuf;
use thermoconsensus_llm::embed::SentenceEmbedder;

fn model_dir() -> Option<PathBuf> {
    let cache = std::env::var_os("THERMOCONSENSUS_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/thermoconsensus"))
        })?;
    let dir = cache.join("models").join("all-minilm-l6-v2");
    dir.join("model.safetensors").is_file().then_some(dir)
}

/// `n` sentences: the 17 reference sentences of tests/fixtures/minilm_reference.json, cycled, each
/// repeat numbered so that no two are the same text.
fn sentences(n: usize) -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/minilm_reference.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    let base: Vec<String> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["text"].as_str().map(str::to_string))
        .filter(|t| !t.trim().is_empty())
        .collect();
    (0..n)
        .map(|i| match i / base.len() {
            0 => base[i].clone(),
            r => format!("{} (take {r})", base[i % base.len()]),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let Some(dir) = model_dir() else {
        eprintln!("skipped: all-MiniLM-L6-v2 is not in the cache");
        return;
    };
    let candle = SentenceEmbedder::load(&dir).expect("loads");
    std::env::set_var("THERMOCONSENSUS_BERT_MATRIXMULTIPLY", "1");
    let old = SentenceEmbedder::load(&dir).expect("loads");
    std::env::remove_var("THERMOCONSENSUS_BERT_MATRIXMULTIPLY");
    let mut g = c.benchmark_group("embed");
    g.sample_size(20);
    for n in [5usize, 64] {
        let texts = sentences(n);
        // The two encoders agree before they are timed.
        let (a, b) = (candle.embed(&texts).unwrap(), old.embed(&texts).unwrap());
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-5, "encoders differ by {worst}");
        g.bench_with_input(BenchmarkId::new("candle", n), &texts, |bch, t| {
            bch.iter(|| candle.embed(t).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("matrixmultiply", n), &texts, |bch, t| {
            bch.iter(|| old.embed(t).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
