//! Greedy continuation of a list of token ids through the engine's decode loop:
//! `cargo run --release --example greedy -- MODEL.gguf 1 2 3`.

use thermoconsensus_llm::{GenerateParams, Model, Sampler, SamplerParams, Sequence, Tokenizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or("usage: greedy MODEL.gguf TOKEN...")?;
    let model = Model::load(path)?;
    let tokenizer = Tokenizer::from_header(model.file().header())?;
    let tokens: Vec<u32> = args[2..]
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let greedy = Sampler::new(SamplerParams {
        temperature: 0.0,
        ..Default::default()
    })?;
    let params = GenerateParams {
        max_tokens: 16,
        n_ctx: tokens.len() + 16,
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let mut seq = Sequence::start(&model, &tokens, greedy, params)?;
    println!("prefill {} tokens: {:?}", tokens.len(), t0.elapsed());
    let t1 = std::time::Instant::now();
    let mut out = Vec::new();
    while let Some(step) = seq.step(&model, &tokenizer, None)? {
        out.extend(step.token.map(|t| t.token));
    }
    println!("{} tokens: {:?}", out.len(), t1.elapsed());
    println!("{out:?}");
    println!("{}", seq.text());
    Ok(())
}
