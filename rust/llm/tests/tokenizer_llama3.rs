//! The Llama 3 ("llama-bpe") byte-level BPE tokenizer against Hugging Face `tokenizers` built from the same
//! vocabulary and merges with Llama 3's tokenizer.json pre-tokenizer (its original `(?i:...)` regex, then
//! ByteLevel) and `ignore_merges`: random strings over letters, digits, apostrophes, spaces, newlines and
//! non-ASCII characters tokenize to the same ids. Also: the digit runs of three, whole-word tokens taken
//! before merging, and BOS by default.

use proptest::prelude::*;
use thermoconsensus_llm::gguf::Header;
use thermoconsensus_llm::Tokenizer;

/// GPT-2's byte-to-character map (printable bytes stand for themselves, the rest from U+0100 on).
fn byte_chars() -> Vec<char> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut extra = 0;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap()
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap()
            }
        })
        .collect()
}

/// The 256 byte tokens, then merged ones, then whole words no merge reaches.
fn vocabulary() -> (Vec<String>, Vec<String>) {
    let mut tokens: Vec<String> = byte_chars().iter().map(char::to_string).collect();
    let merges: Vec<String> = [
        "Ġ t", "h e", "Ġt he", "i n", "Ġ a", "1 2", "12 3", "e r", "o n", "Ġ 1", "' s", "Ċ Ċ",
        "Ġ Ġ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for m in &merges {
        tokens.push(m.replace(' ', ""));
    }
    // Reachable only as whole words (ignore_merges): "abc", " the1"-free "45", "Ġcab".
    tokens.extend(["abc", "45", "Ġcab"].iter().map(|s| s.to_string()));
    (tokens, merges)
}

fn gguf_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A GGUF header with only the tokenizer metadata (gpt2 model, `pre`, and add_bos_token if given).
fn header(pre: &str, add_bos: Option<bool>) -> Header {
    let (tokens, merges) = vocabulary();
    let mut kv = Vec::new();
    let mut n_kv = 0u64;
    let mut put = |key: &str, ty: u32, payload: &[u8]| {
        gguf_string(&mut kv, key);
        kv.extend_from_slice(&ty.to_le_bytes());
        kv.extend_from_slice(payload);
        n_kv += 1;
    };
    let mut s = Vec::new();
    gguf_string(&mut s, "gpt2");
    put("tokenizer.ggml.model", 8, &s);
    let mut s = Vec::new();
    gguf_string(&mut s, pre);
    put("tokenizer.ggml.pre", 8, &s);
    for (key, list) in [
        ("tokenizer.ggml.tokens", &tokens),
        ("tokenizer.ggml.merges", &merges),
    ] {
        let mut a = 8u32.to_le_bytes().to_vec();
        a.extend_from_slice(&(list.len() as u64).to_le_bytes());
        for t in list {
            gguf_string(&mut a, t);
        }
        put(key, 9, &a);
    }
    put("tokenizer.ggml.bos_token_id", 4, &0u32.to_le_bytes());
    if let Some(b) = add_bos {
        put("tokenizer.ggml.add_bos_token", 7, &[b as u8]);
    }
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&n_kv.to_le_bytes());
    out.extend_from_slice(&kv);
    while !out.len().is_multiple_of(32) {
        out.push(0);
    }
    Header::parse(&out, out.len() as u64, "<test>").unwrap()
}

fn ours(pre: &str) -> Tokenizer {
    Tokenizer::from_header(&header(pre, None)).unwrap()
}

/// Hugging Face's tokenizer with Llama 3's tokenizer.json pre-tokenizer over the same vocabulary.
fn reference() -> tokenizers::Tokenizer {
    let (tokens, merges) = vocabulary();
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), serde_json::json!(i)))
        .collect();
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "post_processor": null, "decoder": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "behavior": "Isolated", "invert": false, "pattern": {"Regex":
                "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
        ]},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": true,
            "vocab": vocab, "merges": merges}
    });
    json.to_string().parse().unwrap()
}

fn hf_ids(t: &tokenizers::Tokenizer, text: &str) -> Vec<u32> {
    t.encode(text, false).unwrap().get_ids().to_vec()
}

#[test]
fn digits_come_in_threes_and_whole_words_skip_the_merges() {
    let (tokens, _) = vocabulary();
    let id = |s: &str| tokens.iter().position(|t| t == s).unwrap() as u32;
    let llama3 = ours("llama-bpe");
    // "12345" pre-tokenizes as "123" + "45": both whole tokens.
    assert_eq!(
        llama3.encode("12345", false, false).unwrap(),
        [id("123"), id("45")]
    );
    // "abc" is a token no merge reaches: llama-bpe takes it whole, qwen2 (merges only) does not.
    assert_eq!(llama3.encode("abc", false, false).unwrap(), [id("abc")]);
    assert_eq!(
        ours("qwen2").encode("abc", false, false).unwrap(),
        [id("a"), id("b"), id("c")]
    );
    assert_eq!(
        llama3.encode("x cab", false, false).unwrap(),
        [id("x"), id("Ġcab")]
    );
}

#[test]
fn llama_bpe_adds_bos_unless_the_file_says_no() {
    assert!(ours("llama-bpe").add_bos);
    assert_eq!(ours("llama-bpe").encode("the", true, false).unwrap()[0], 0);
    let no = Tokenizer::from_header(&header("llama-bpe", Some(false))).unwrap();
    assert!(!no.add_bos);
    assert!(!ours("qwen2").add_bos);
}

#[test]
fn fixed_strings_match_hugging_face() {
    let (ours, hf) = (ours("llama-bpe"), reference());
    for text in [
        "the cat's 12345 abc",
        "Hello,  world!\n\n  1234567 ĠIt'S they'LL",
        "naïve café — 日本語 3.14159",
        "  leading and trailing  ",
        "\r\n\t x",
    ] {
        assert_eq!(
            ours.encode(text, false, false).unwrap(),
            hf_ids(&hf, text),
            "{text:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn random_strings_match_hugging_face(parts in prop::collection::vec(
        prop::sample::select(vec![
            "a", "b", "c", "t", "h", "e", "the", " ", "  ", "\n", "\r", "\t", "1", "2", "3", "45",
            "'", "s", "S", "'ll", "'LL", "é", "日", "!", ".", ",", "-", "abc", " cab", "x",
        ]),
        0..24,
    )) {
        let text: String = parts.concat();
        let (ours, hf) = (ours("llama-bpe"), reference());
        prop_assert_eq!(ours.encode(&text, false, false).unwrap(), hf_ids(&hf, &text), "{:?}", text);
    }
}
