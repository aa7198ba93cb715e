//! Tokenizers built from GGUF metadata (`tokenizer.ggml.*`): byte-level BPE (the "gpt2" model type) with
//! each model's pre-tokenizer as llama.cpp defines it (llama-vocab.cpp), special tokens, and byte-exact
//! decoding, and SentencePiece vocabularies (the "llama" model type, Gemma) merged by score (see
//! [`crate::spm`]). Control and user-defined tokens are split out of the text first, exactly as
//! llama.cpp's `tokenizer_st_partition` does.

use crate::error::{Error, Result};
use crate::gguf::{Header, Value};
use crate::spm;
use fancy_regex::Regex;
use std::collections::HashMap;

/// llama.cpp's token types (tokenizer.ggml.token_type).
const TOKEN_UNKNOWN: i64 = 2;
const TOKEN_CONTROL: i64 = 3;
const TOKEN_USER_DEFINED: i64 = 4;

/// The GPT-2 map from bytes to printable characters used by byte-level BPE vocabularies.
fn byte_chars() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..256u32 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        out[b as usize] = if printable {
            char::from_u32(b).unwrap_or('?')
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap_or('?')
        };
    }
    out
}

/// The `tokenizer.ggml.pre` names llama.cpp treats as Llama 3 (`LLAMA_VOCAB_PRE_TYPE_LLAMA3`): its
/// expression, whole-word tokens before merges (`ignore_merges`) and BOS by default.
const LLAMA3_PRE: [&str; 8] = [
    "llama-bpe",
    "llama3",
    "llama-v3",
    "falcon3",
    "falcon-h1",
    "pixtral",
    "midm-2.0",
    "lfm2",
];

/// The pre-tokenizer regexes of llama.cpp for a `tokenizer.ggml.pre` name; each splits the fragments
/// the previous one left (matches and the text between them both stay fragments).
fn pre_tokenizer(pre: &str) -> Result<Vec<&'static str>> {
    const GPT2: &str =
        r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    Ok(match pre {
        "gpt2" | "default" => vec![GPT2],
        "smollm" | "starcoder" | "refact" => vec![
            r"\p{N}",
            r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
        ],
        "qwen2" => vec![
            r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ],
        // Llama 3: qwen2's expression with digits in runs of up to three.
        p if LLAMA3_PRE.contains(&p) => vec![
            r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ],
        other => {
            return Err(Error::Format {
                path: "<tokenizer>".into(),
                reason: format!(
                    "pre-tokenizer {other:?} is not supported (gpt2, smollm, qwen2, llama-bpe are)"
                ),
            })
        }
    })
}

/// The vocabulary's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Byte-level BPE ("gpt2").
    BytePairs,
    /// SentencePiece ("llama"): '▁' for spaces, <0xXX> byte tokens.
    SentencePiece,
}

/// A tokenizer built from GGUF metadata.
#[derive(Debug)]
pub struct Tokenizer {
    /// The vocabulary's model.
    pub kind: Kind,
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    ranks: HashMap<(String, String), usize>,
    scores: Vec<f32>,
    pre: Vec<Regex>,
    /// Llama 3 (llama.cpp's `ignore_merges`): a pre-tokenized word that is itself a token is taken
    /// whole, without merging.
    ignore_merges: bool,
    /// Control, unknown and user-defined tokens, longest first, split out of the text before merging
    /// (user-defined ones always; the others when parsing specials).
    specials: Vec<Special>,
    control: Vec<bool>,
    byte_char: [char; 256],
    char_byte: HashMap<char, u8>,
    /// Beginning-of-sequence token.
    pub bos: Option<u32>,
    /// End-of-sequence token.
    pub eos: Option<u32>,
    /// Whether `encode(add_special = true)` prepends BOS (tokenizer.ggml.add_bos_token).
    pub add_bos: bool,
    /// Whether `encode(add_special = true)` appends EOS (tokenizer.ggml.add_eos_token).
    pub add_eos: bool,
    /// SentencePiece: whether a space is put before text that starts the input or follows a special
    /// token (tokenizer.ggml.add_space_prefix; true unless the file says otherwise).
    pub add_space_prefix: bool,
    unk: Option<u32>,
}

/// A token matched as literal text before merging.
#[derive(Debug)]
struct Special {
    text: String,
    id: u32,
    /// Control or unknown: only matched when parsing specials.
    parse_only: bool,
}

/// A piece of the input after special tokens are split out.
enum Fragment<'t> {
    Text(&'t str),
    Token(u32),
}

fn format(reason: impl Into<String>) -> Error {
    Error::Format {
        path: "<tokenizer>".into(),
        reason: reason.into(),
    }
}

impl Tokenizer {
    /// Builds the tokenizer described by the header's `tokenizer.ggml.*` metadata.
    pub fn from_header(h: &Header) -> Result<Self> {
        let model = h
            .get("tokenizer.ggml.model")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = match model {
            "gpt2" => Kind::BytePairs,
            "llama" => Kind::SentencePiece,
            other => {
                return Err(format(format!(
                    "tokenizer model {other:?} is not supported"
                )))
            }
        };
        let tokens: Vec<String> = h
            .get("tokenizer.ggml.tokens")
            .and_then(Value::as_array)
            .ok_or_else(|| format("tokenizer.ggml.tokens is missing"))?
            .strings()
            .ok_or_else(|| format("tokenizer.ggml.tokens is not an array of strings"))?
            .iter()
            .map(str::to_string)
            .collect();
        let types: Vec<i64> = match h.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
            Some(t) => t.iter().map(|v| v.as_f64().unwrap_or(1.0) as i64).collect(),
            None => vec![1; tokens.len()],
        };
        let scores: Vec<f32> = match h.get("tokenizer.ggml.scores").and_then(Value::as_array) {
            Some(s) => s.iter().map(|v| v.as_f64().unwrap_or(0.0) as f32).collect(),
            None if kind == Kind::SentencePiece => {
                return Err(format("tokenizer.ggml.scores is missing"))
            }
            None => Vec::new(),
        };
        let no_merges = crate::gguf::Strings::default();
        let merges = match (
            kind,
            h.get("tokenizer.ggml.merges").and_then(Value::as_array),
        ) {
            (_, Some(m)) => m
                .strings()
                .ok_or_else(|| format("tokenizer.ggml.merges is not an array of strings"))?,
            (Kind::SentencePiece, None) => &no_merges,
            (Kind::BytePairs, None) => return Err(format("tokenizer.ggml.merges is missing")),
        };
        let mut ranks = HashMap::with_capacity(merges.len());
        for (rank, s) in merges.iter().enumerate() {
            let (a, b) = s
                .split_once(' ')
                .ok_or_else(|| format(format!("merge {s:?} is not two symbols")))?;
            ranks.entry((a.to_string(), b.to_string())).or_insert(rank);
        }
        let pre_name = match kind {
            Kind::BytePairs => h
                .get("tokenizer.ggml.pre")
                .and_then(Value::as_str)
                .unwrap_or("default"),
            Kind::SentencePiece => "default",
        };
        let llama3 = LLAMA3_PRE.contains(&pre_name);
        let pre = pre_tokenizer(pre_name)?
            .into_iter()
            .map(|r| Regex::new(r).map_err(|e| format(format!("pre-tokenizer regex: {e}"))))
            .collect::<Result<_>>()?;
        let mut specials: Vec<Special> = tokens
            .iter()
            .zip(&types)
            .enumerate()
            .filter(|(_, (t, &ty))| {
                matches!(ty, TOKEN_CONTROL | TOKEN_USER_DEFINED | TOKEN_UNKNOWN) && !t.is_empty()
            })
            .map(|(i, (t, &ty))| Special {
                text: t.clone(),
                id: i as u32,
                parse_only: ty != TOKEN_USER_DEFINED,
            })
            .collect();
        specials.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.id.cmp(&b.id)));
        let n_tokens = tokens.len();
        let id = |key: &str| {
            h.get(key)
                .and_then(Value::as_u64)
                .map(|v| v as u32)
                .filter(|&v| (v as usize) < n_tokens)
        };
        let byte_char = byte_chars();
        Ok(Self {
            kind,
            ids: tokens
                .iter()
                .enumerate()
                .map(|(i, t)| (t.clone(), i as u32))
                .collect(),
            control: types.iter().map(|&t| t == TOKEN_CONTROL).collect(),
            tokens,
            ranks,
            scores,
            pre,
            ignore_merges: llama3,
            specials,
            char_byte: byte_char
                .iter()
                .enumerate()
                .map(|(b, &c)| (c, b as u8))
                .collect(),
            byte_char,
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            // llama.cpp's default for Llama 3 vocabularies is to add BOS; the file can say otherwise.
            add_bos: match h.get("tokenizer.ggml.add_bos_token") {
                Some(Value::Bool(b)) => *b,
                _ => llama3,
            },
            add_eos: matches!(
                h.get("tokenizer.ggml.add_eos_token"),
                Some(Value::Bool(true))
            ),
            add_space_prefix: !matches!(
                h.get("tokenizer.ggml.add_space_prefix"),
                Some(Value::Bool(false))
            ),
            unk: id("tokenizer.ggml.unknown_token_id"),
        })
    }

    /// Vocabulary size.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True for an empty vocabulary.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token's text as stored in the vocabulary.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// Token ids of `text`. `add_special` prepends BOS when the model asks for it; `parse_special`
    /// turns the text of control tokens (such as `<|im_start|>`) into those tokens instead of
    /// spelling them out.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let fragments = self.partition(text, parse_special);
        match self.kind {
            Kind::BytePairs => {
                for f in fragments {
                    match f {
                        Fragment::Text(t) => self.encode_plain(t, &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
            }
            Kind::SentencePiece => {
                let vocab = spm::Vocab {
                    ids: &self.ids,
                    scores: &self.scores,
                    unk: self.unk,
                };
                // The space prefix goes before the first text and before text that follows a special.
                let mut after_special = true;
                for f in fragments {
                    match f {
                        Fragment::Text(t) => {
                            let prefix = if self.add_space_prefix && after_special {
                                "\u{2581}"
                            } else {
                                ""
                            };
                            let escaped = format!("{prefix}{}", t.replace(' ', "\u{2581}"));
                            spm::encode(&vocab, &escaped, &mut out);
                            after_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            after_special = true;
                        }
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        Ok(out)
    }

    /// Splits the special tokens out of `text`: each token in turn, longest first, cuts every text
    /// fragment at its leftmost non-overlapping occurrences (llama.cpp's order, so results agree where
    /// special tokens overlap).
    fn partition<'t>(&self, text: &'t str, parse_special: bool) -> Vec<Fragment<'t>> {
        if text.is_empty() {
            return Vec::new();
        }
        let mut fragments = vec![Fragment::Text(text)];
        for sp in &self.specials {
            if sp.parse_only && !parse_special {
                continue;
            }
            if !fragments
                .iter()
                .any(|f| matches!(f, Fragment::Text(t) if t.contains(sp.text.as_str())))
            {
                continue;
            }
            let mut next = Vec::with_capacity(fragments.len() + 2);
            for f in fragments {
                let Fragment::Text(mut rest) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(at) = rest.find(sp.text.as_str()) {
                    if at > 0 {
                        next.push(Fragment::Text(&rest[..at]));
                    }
                    next.push(Fragment::Token(sp.id));
                    rest = &rest[at + sp.text.len()..];
                }
                if !rest.is_empty() {
                    next.push(Fragment::Text(rest));
                }
            }
            fragments = next;
        }
        fragments
    }

    fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut frags = vec![text];
        for re in &self.pre {
            let mut next = Vec::with_capacity(frags.len() * 2);
            for f in frags {
                let mut last = 0;
                for m in re.find_iter(f).flatten() {
                    if m.start() > last {
                        next.push(&f[last..m.start()]);
                    }
                    if m.end() > m.start() {
                        next.push(m.as_str());
                    }
                    last = m.end();
                }
                if last < f.len() {
                    next.push(&f[last..]);
                }
            }
            frags = next;
        }
        frags
    }

    fn encode_plain(&self, text: &str, out: &mut Vec<u32>) {
        for frag in self.split(text) {
            if self.ignore_merges {
                let word: String = frag.bytes().map(|b| self.byte_char[b as usize]).collect();
                if let Some(&id) = self.ids.get(&word) {
                    out.push(id);
                    continue;
                }
            }
            let mut symbols: Vec<String> = frag
                .bytes()
                .map(|b| self.byte_char[b as usize].to_string())
                .collect();
            // Repeatedly merge the best-ranked adjacent pair (leftmost on ties), as BPE defines it.
            loop {
                let best = symbols
                    .windows(2)
                    .enumerate()
                    .filter_map(|(i, w)| {
                        self.ranks
                            .get(&(w[0].clone(), w[1].clone()))
                            .map(|&r| (r, i))
                    })
                    .min();
                let Some((_, i)) = best else { break };
                let merged = format!("{}{}", symbols[i], symbols[i + 1]);
                symbols[i] = merged;
                symbols.remove(i + 1);
            }
            for s in symbols {
                match self.ids.get(&s) {
                    Some(&id) => out.push(id),
                    // Not in the vocabulary (never for a complete byte-level vocabulary): per character.
                    None => out.extend(
                        s.chars()
                            .filter_map(|c| self.ids.get(&c.to_string()).copied()),
                    ),
                }
            }
        }
    }

    /// The bytes of `ids`; control tokens are left out unless `special`. Bytes, not text: a token can
    /// end inside a UTF-8 character (see [`StreamDecoder`]).
    pub fn decode_bytes(&self, ids: &[u32], special: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for &id in ids {
            let Some(tok) = self.tokens.get(id as usize) else {
                continue;
            };
            if self.control.get(id as usize).copied().unwrap_or(false) {
                if special {
                    out.extend_from_slice(tok.as_bytes());
                }
                continue;
            }
            if self.kind == Kind::SentencePiece {
                let byte = tok
                    .strip_prefix("<0x")
                    .and_then(|r| r.strip_suffix('>'))
                    .filter(|h| h.len() == 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match byte {
                    Some(b) => out.push(b),
                    None => out.extend_from_slice(tok.replace('\u{2581}', " ").as_bytes()),
                }
                continue;
            }
            for c in tok.chars() {
                match self.char_byte.get(&c) {
                    Some(&b) => out.push(b),
                    None => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
        }
        out
    }

    /// Text of `ids` (invalid UTF-8, e.g. a character cut at the end, becomes U+FFFD).
    pub fn decode(&self, ids: &[u32], special: bool) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids, special)).into_owned()
    }
}

/// Turns tokens into text as they come, holding back the bytes of a character not yet complete, so a
/// stream never shows broken UTF-8.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    /// Adds the bytes of one token; returns the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // A byte that can never start or continue a character: show it as U+FFFD and move on.
            Err(e) => e.valid_up_to() + e.error_len().unwrap_or(1),
        };
        let done: Vec<u8> = self.pending.drain(..valid).collect();
        String::from_utf8_lossy(&done).into_owned()
    }

    /// The text still held back (an incomplete character at the end of the stream).
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        String::from_utf8_lossy(&rest).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection() {
        let m = byte_chars();
        let set: std::collections::HashSet<char> = m.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(m[b' ' as usize], 'Ġ');
        assert_eq!(m[b'\n' as usize], 'Ċ');
        assert_eq!(m[b'A' as usize], 'A');
    }

    #[test]
    fn stream_decoder_holds_back_partial_characters() {
        let mut d = StreamDecoder::default();
        let smile = "🙂".as_bytes();
        assert_eq!(d.push(&smile[..2]), "");
        assert_eq!(d.push(&smile[2..]), "🙂");
        assert_eq!(d.push(b"ok"), "ok");
        assert_eq!(d.push(&[0xe6]), "");
        assert_eq!(d.finish(), "\u{fffd}");
    }
}
