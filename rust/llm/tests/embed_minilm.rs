//! all-MiniLM-L6-v2 against sentence-transformers: the token ids and the normalised mean-pooled vectors
//! of the 17 reference sentences in tests/fixtures/minilm_reference.json (recorded with
//! sentence-transformers 6.2.0 on torch CPU). Skips when the model folder is not in the cache
//! (`thermoconsensus.models.path("all-minilm-l6-v2")` installs it).

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

fn reference() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/minilm_reference.json"
    );
    let text =
        std::fs::read_to_string(path).expect("the reference fixture is part of the repository");
    serde_json::from_str(&text).expect("the reference fixture is JSON")
}

#[test]
fn minilm_matches_sentence_transformers() {
    let Some(dir) = model_dir() else {
        eprintln!("skipped: all-MiniLM-L6-v2 is not in the cache (thermoconsensus.models.path installs it)");
        return;
    };
    let model = SentenceEmbedder::load(&dir).expect("the cached model loads");
    let reference = reference();
    assert_eq!(
        model.max_seq_length(),
        reference["max_seq_length"].as_u64().unwrap() as usize
    );
    let items = reference["items"].as_array().unwrap();
    assert_eq!(items.len(), 17);
    let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap()).collect();
    let vectors = model.embed(&texts).expect("embedding works");
    let dim = model.dim();
    let mut worst = 0.0f32;
    for (n, item) in items.iter().enumerate() {
        let ids: Vec<u32> = item["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            model.tokenize(texts[n]).unwrap(),
            ids,
            "token ids of {:?}",
            texts[n]
        );
        let want = item["embedding"].as_array().unwrap();
        assert_eq!(want.len(), dim);
        for (got, w) in vectors[n * dim..(n + 1) * dim].iter().zip(want) {
            worst = worst.max((got - w.as_f64().unwrap() as f32).abs());
        }
    }
    eprintln!("all-MiniLM-L6-v2: largest |difference| from sentence-transformers {worst:.2e}");
    assert!(worst < 1e-4, "largest difference {worst}");
    // A sentence's vector does not depend on the batch it is embedded in, nor on the thread count.
    let alone = model.embed(&texts[3..4]).unwrap();
    assert_eq!(alone, vectors[3 * dim..4 * dim].to_vec());
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        assert_eq!(
            pool.install(|| model.embed(&texts)).unwrap(),
            vectors,
            "{threads} threads"
        );
    }
}

#[test]
fn a_missing_folder_is_an_io_error() {
    let err = SentenceEmbedder::load("/nonexistent/minilm").unwrap_err();
    assert!(
        matches!(err, thermoconsensus_llm::Error::Io { .. }),
        "{err}"
    );
}
