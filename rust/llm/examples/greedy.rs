//! Greedy continuation of a list of token ids: `cargo run --release --example greedy -- MODEL.gguf 1 2 3`.

use thermoconsensus_llm::{KvCache, Model, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let model = Model::load(&args[1])?;
    let tokens: Vec<u32> = args[2..]
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let vocab = model
        .file()
        .header()
        .get("tokenizer.ggml.tokens")
        .and_then(Value::as_array)
        .and_then(|a| a.strings());
    let name = |t: u32| {
        vocab
            .and_then(|v| v.get(t as usize))
            .unwrap_or("?")
            .to_string()
    };
    let mut cache = KvCache::new(&model.config, 512)?;
    let t0 = std::time::Instant::now();
    let mut logits = model.forward(&tokens, &mut cache, false)?;
    println!("prefill {} tokens: {:?}", tokens.len(), t0.elapsed());
    let mut out = Vec::new();
    let t1 = std::time::Instant::now();
    for _ in 0..16 {
        let next = logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i as u32)
            .unwrap_or(0);
        out.push(next);
        logits = model.forward(&[next], &mut cache, false)?;
    }
    println!("16 tokens: {:?}", t1.elapsed());
    println!("{:?}", out);
    println!(
        "{}",
        out.iter().map(|&t| name(t)).collect::<Vec<_>>().join("|")
    );
    Ok(())
}
