//! Constraints on the next token: additive logit biases (OpenAI's `logit_bias`) and grammars
//! (`response_format` `json_object` / `json_schema`, a Lark grammar or a regular expression) enforced
//! by the `llguidance` crate, the structured-output engine llama.cpp itself uses.
//!
//! A [`GrammarVocab`] is built once per tokenizer (a token trie over every token's bytes); each
//! generation then gets its own [`Constraints`], which masks the logits before sampling (tokens the
//! grammar cannot take next get -inf) and is told each token taken. Once the grammar is complete, only
//! the end-of-sequence tokens stay allowed, so a constrained reply always parses.

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{TokEnv, TokRxInfo, TokTrie, TokenId, TokenizerEnv};
use llguidance::{Matcher, ParserFactory};

use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;

/// Most entries a `logit_bias` may carry (OpenAI accepts up to 300).
pub const MAX_BIASES: usize = 1024;

fn invalid(name: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        name,
        reason: reason.into(),
    }
}

/// What the reply must match.
#[derive(Debug, Clone, PartialEq)]
pub enum Grammar {
    /// Any JSON object (`response_format: {"type": "json_object"}`).
    JsonObject,
    /// A JSON value valid under this JSON Schema (`{"type": "json_schema", ...}`).
    JsonSchema(serde_json::Value),
    /// A grammar in llguidance's Lark syntax.
    Lark(String),
    /// A regular expression the whole reply matches.
    Regex(String),
}

impl Grammar {
    fn top_level(&self) -> Result<TopLevelGrammar> {
        Ok(match self {
            Grammar::JsonObject => {
                TopLevelGrammar::from_json_schema(compact(serde_json::json!({"type": "object"})))
            }
            Grammar::JsonSchema(schema) => {
                if !schema.is_object() && !schema.is_boolean() {
                    return Err(invalid(
                        "json_schema",
                        "must be a JSON Schema object (or true/false)",
                    ));
                }
                TopLevelGrammar::from_json_schema(compact(schema.clone()))
            }
            Grammar::Lark(text) => TopLevelGrammar::from_lark(text.clone()),
            Grammar::Regex(re) => TopLevelGrammar::from_regex(re),
        })
    }
}

/// `schema` with JSON written compactly (no whitespace between tokens) unless it sets llguidance's
/// `x-guidance` options itself: flexible whitespace lets a small model pad a reply with newlines
/// until it runs out of tokens, and compact JSON parses the same.
fn compact(mut schema: serde_json::Value) -> serde_json::Value {
    if let Some(obj) = schema.as_object_mut() {
        obj.entry("x-guidance")
            .or_insert_with(|| serde_json::json!({"whitespace_flexible": false}));
    }
    schema
}

/// The model's own tokenizer lent to llguidance, so that the text a grammar forces is tokenized as
/// the model would tokenize it (llguidance fast-forwards only through a canonical tokenizer).
struct ModelTokEnv {
    trie: TokTrie,
    tokenizer: Arc<Tokenizer>,
}

impl TokenizerEnv for ModelTokEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        // Forced text is UTF-8 in practice; a split character falls back to the trie's longest match.
        match std::str::from_utf8(s) {
            Ok(text) => self
                .tokenizer
                .encode(text, false, false)
                .unwrap_or_else(|_| self.trie.greedy_tokenize(s)),
            Err(_) => self.trie.greedy_tokenize(s),
        }
    }

    fn tokenize_is_canonical(&self) -> bool {
        true
    }
}

/// The vocabulary as llguidance sees it: every token's bytes in a trie, built once per tokenizer.
pub struct GrammarVocab {
    factory: ParserFactory,
    /// Tokens that end a reply (the tokenizer's EOS, the template's end-of-turn...): allowed when the
    /// grammar is complete, refused before.
    ends: Vec<u32>,
}

impl std::fmt::Debug for GrammarVocab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrammarVocab")
            .field(
                "vocab_size",
                &self.factory.tok_env().tok_trie().vocab_size(),
            )
            .field("ends", &self.ends)
            .finish()
    }
}

impl GrammarVocab {
    /// The trie of `tokenizer`'s tokens for logits of `n_vocab` entries (rows past the tokenizer's
    /// vocabulary never match). `ends` are the tokens that close a reply; the first is the EOS the
    /// grammar engine knows.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] without an end token or for an end token past `n_vocab`.
    pub fn new(tokenizer: Arc<Tokenizer>, n_vocab: usize, ends: &[u32]) -> Result<Self> {
        let first_end = *ends
            .first()
            .ok_or_else(|| invalid("stop_tokens", "a grammar needs an end-of-sequence token"))?;
        if let Some(&bad) = ends.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(invalid(
                "stop_tokens",
                format!("token {bad} is past the vocabulary of {n_vocab}"),
            ));
        }
        let n = u32::try_from(n_vocab).map_err(|_| invalid("n_vocab", "exceeds u32"))?;
        // Control tokens (and padding rows) decode to nothing; llguidance marks special tokens with a
        // leading 0xFF byte, which no UTF-8 text contains, so the grammar can never produce them.
        let words: Vec<Vec<u8>> = (0..n)
            .map(|id| {
                let plain = tokenizer.decode_bytes(&[id], false);
                if plain.is_empty() {
                    let mut w = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                    w.extend_from_slice(&tokenizer.decode_bytes(&[id], true));
                    w.extend_from_slice(format!("[{id}]").as_bytes());
                    w
                } else {
                    plain
                }
            })
            .collect();
        let mut info = TokRxInfo::new(n, first_end);
        info.tok_bos = tokenizer.bos;
        let trie = TokTrie::from(&info, &words);
        let env: TokEnv = Arc::new(ModelTokEnv { trie, tokenizer });
        let mut factory = ParserFactory::new_simple(&env)
            .map_err(|e| invalid("response_format", format!("grammar engine: {e}")))?;
        factory.quiet();
        Ok(Self {
            factory,
            ends: ends.to_vec(),
        })
    }

    /// A matcher for one reply under `grammar`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `response_format` when the grammar or schema is invalid (the
    /// engine's message says where).
    pub fn matcher(&self, grammar: &Grammar) -> Result<GrammarMatcher> {
        let parser = self
            .factory
            .create_parser(grammar.top_level()?)
            .map_err(|e| invalid("response_format", e.to_string()))?;
        let matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(invalid("response_format", e));
        }
        Ok(GrammarMatcher {
            matcher,
            ends: self.ends.clone(),
        })
    }
}

/// One reply's position in its grammar.
#[derive(Clone)]
pub struct GrammarMatcher {
    matcher: Matcher,
    ends: Vec<u32>,
}

impl std::fmt::Debug for GrammarMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrammarMatcher")
            .field("stopped", &self.matcher.is_stopped())
            .finish()
    }
}

fn grammar_error(e: impl std::fmt::Display) -> Error {
    invalid("response_format", format!("the grammar engine failed: {e}"))
}

impl GrammarMatcher {
    /// Sets every token the grammar cannot take next to -inf. When the grammar is complete, only the
    /// end tokens remain. Where the grammar forces the next text (a key, a tag, a function name),
    /// llguidance leaves only the first token of the model's own tokenization of it (see
    /// [`ModelTokEnv`]): otherwise a model may spell forced text one character per token, which costs
    /// a step each and leaves it reading a tokenization it never saw in training.
    ///
    /// # Errors
    /// The grammar engine's failure (its parser in an error state).
    pub fn mask(&mut self, logits: &mut [f32]) -> Result<()> {
        let allowed = self.matcher.compute_mask_or_eos().map_err(grammar_error)?;
        let ends_ok = allowed.is_allowed(self.ends[0]);
        for (id, l) in logits.iter_mut().enumerate() {
            let id = id as u32;
            let ok = if self.ends.contains(&id) {
                ends_ok
            } else {
                allowed.is_allowed(id)
            };
            if !ok {
                *l = f32::NEG_INFINITY;
            }
        }
        Ok(())
    }

    /// Records that `token` was taken.
    ///
    /// # Errors
    /// The grammar engine's failure (a token the mask did not allow).
    pub fn accept(&mut self, token: u32) -> Result<()> {
        if self.ends.contains(&token) {
            return Ok(());
        }
        self.matcher.consume_token(token).map_err(grammar_error)
    }

    /// True when nothing but an end token can follow.
    pub fn is_complete(&self) -> bool {
        self.matcher.is_stopped()
    }
}

/// Everything that constrains one generation's next token.
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    /// Added to the logits of these tokens before sampling (-inf or a large negative value bans one).
    pub bias: Vec<(u32, f32)>,
    /// The grammar the reply must match.
    pub grammar: Option<GrammarMatcher>,
}

impl Constraints {
    /// `bias` checked against a vocabulary of `n_vocab` logits: ids in range, each at most once, values
    /// finite or -inf, at most [`MAX_BIASES`] entries.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `logit_bias`.
    pub fn with_bias(mut self, bias: Vec<(u32, f32)>, n_vocab: usize) -> Result<Self> {
        if bias.len() > MAX_BIASES {
            return Err(invalid(
                "logit_bias",
                format!("at most {MAX_BIASES} entries, got {}", bias.len()),
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(bias.len());
        for &(id, b) in &bias {
            if id as usize >= n_vocab {
                return Err(invalid(
                    "logit_bias",
                    format!("token {id} is past the vocabulary of {n_vocab}"),
                ));
            }
            if b.is_nan() || b == f32::INFINITY {
                return Err(invalid(
                    "logit_bias",
                    format!("token {id}: the bias must be finite or -inf, got {b}"),
                ));
            }
            if !seen.insert(id) {
                return Err(invalid("logit_bias", format!("token {id} appears twice")));
            }
        }
        self.bias = bias;
        Ok(self)
    }

    /// True when nothing is constrained.
    pub fn is_empty(&self) -> bool {
        self.bias.is_empty() && self.grammar.is_none()
    }

    /// Applies the biases, then the grammar's mask, to `logits`.
    ///
    /// # Errors
    /// The grammar engine's failure; [`Error::InvalidArgument`] when the biases and the grammar
    /// together leave no token.
    pub fn apply(&mut self, logits: &mut [f32]) -> Result<()> {
        for &(id, b) in &self.bias {
            if let Some(l) = logits.get_mut(id as usize) {
                *l += b;
            }
        }
        if let Some(g) = &mut self.grammar {
            g.mask(logits)?;
        }
        if !self.is_empty() && logits.iter().all(|l| *l == f32::NEG_INFINITY) {
            return Err(invalid(
                "logit_bias",
                "together with the grammar it leaves no token to sample",
            ));
        }
        Ok(())
    }

    /// Records the token taken; true when the grammar is now complete.
    ///
    /// # Errors
    /// The grammar engine's failure.
    pub fn accept(&mut self, token: u32) -> Result<bool> {
        match &mut self.grammar {
            Some(g) => {
                g.accept(token)?;
                Ok(g.is_complete())
            }
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::Header;
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng};

    /// GPT-2's byte-to-character map (printable bytes stand for themselves).
    fn byte_char(b: u8) -> char {
        let mut extra = 0u32;
        for x in 0..=255u8 {
            let printable = (33..=126).contains(&x) || (161..=172).contains(&x) || x >= 174;
            if !printable {
                extra += 1;
            }
            if x == b {
                return if printable {
                    char::from(b)
                } else {
                    char::from_u32(255 + extra).unwrap_or('?')
                };
            }
        }
        unreachable!()
    }

    /// A byte-level BPE vocabulary: the 256 bytes, some longer pieces, and a control end token.
    fn tokenizer(pieces: &[&str]) -> Arc<Tokenizer> {
        tokenizer_with_merges(pieces, &[])
    }

    /// [`tokenizer`] with BPE merges ("a b" pairs of byte characters), so that it encodes as BPE does.
    fn tokenizer_with_merges(pieces: &[&str], merges: &[&str]) -> Arc<Tokenizer> {
        let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
        tokens.extend(
            pieces
                .iter()
                .map(|p| p.bytes().map(byte_char).collect::<String>()),
        );
        tokens.push("<|end|>".into());
        let mut types = vec![1i32; tokens.len()];
        *types.last_mut().unwrap() = 3;
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend(4u64.to_le_bytes());
        let key = |b: &mut Vec<u8>, k: &str, t: u32| {
            b.extend((k.len() as u64).to_le_bytes());
            b.extend(k.as_bytes());
            b.extend(t.to_le_bytes());
        };
        let strings = |b: &mut Vec<u8>, v: &[String]| {
            b.extend(8u32.to_le_bytes());
            b.extend((v.len() as u64).to_le_bytes());
            for s in v {
                b.extend((s.len() as u64).to_le_bytes());
                b.extend(s.as_bytes());
            }
        };
        key(&mut b, "tokenizer.ggml.model", 8);
        b.extend(4u64.to_le_bytes());
        b.extend(b"gpt2");
        key(&mut b, "tokenizer.ggml.tokens", 9);
        strings(&mut b, &tokens);
        key(&mut b, "tokenizer.ggml.token_type", 9);
        b.extend(5u32.to_le_bytes());
        b.extend((types.len() as u64).to_le_bytes());
        for t in &types {
            b.extend(t.to_le_bytes());
        }
        key(&mut b, "tokenizer.ggml.merges", 9);
        strings(
            &mut b,
            &merges.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
        );
        let h = Header::parse(&b, b.len() as u64, "<test>").unwrap();
        Arc::new(Tokenizer::from_header(&h).unwrap())
    }

    const PIECES: &[&str] = &[
        "{\"", "\":", "\"}", "true", "false", " ", "name", "age", "12",
    ];

    /// Samples a reply under `grammar` from random logits (seeded): what a model that ignores the
    /// format entirely would produce once constrained.
    fn constrained_reply(grammar: &Grammar, seed: u64, max_tokens: usize) -> (String, bool) {
        let tok = tokenizer(PIECES);
        let n_vocab = tok.len() + 3; // padding rows past the tokenizer's vocabulary
        let end = (tok.len() - 1) as u32;
        let vocab = GrammarVocab::new(tok.clone(), n_vocab, &[end]).unwrap();
        let mut c = Constraints {
            grammar: Some(vocab.matcher(grammar).unwrap()),
            ..Default::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut out = Vec::new();
        for _ in 0..max_tokens {
            let mut logits: Vec<f32> = (0..n_vocab).map(|_| rng.random::<f32>() * 8.0).collect();
            c.apply(&mut logits).unwrap();
            let (best, _) = logits
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |a, (i, &l)| if l > a.1 { (i, l) } else { a },
                );
            let t = best as u32;
            if t == end {
                return (String::from_utf8(out).unwrap(), true);
            }
            assert!((t as usize) < tok.len(), "a padding row was allowed");
            out.extend(tok.decode_bytes(&[t], false));
            if c.accept(t).unwrap() {
                return (String::from_utf8(out).unwrap(), true);
            }
        }
        (String::from_utf8(out).unwrap(), false)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn random_logits_under_a_schema_always_give_valid_json(seed in any::<u64>()) {
            let schema = serde_json::json!({
                "type": "object",
                "properties": {"name": {"type": "string", "maxLength": 6},
                               "age": {"type": "integer", "minimum": 0, "maximum": 120},
                               "ok": {"type": "boolean"}},
                "required": ["name", "age", "ok"],
                "additionalProperties": false
            });
            let (text, done) = constrained_reply(&Grammar::JsonSchema(schema), seed, 400);
            prop_assert!(done, "no end within 400 tokens: {text:?}");
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                TestCaseError::fail(format!("{text:?}: {e}"))
            })?;
            let obj = v.as_object().unwrap();
            prop_assert_eq!(obj.len(), 3);
            prop_assert!(obj["name"].as_str().is_some_and(|s| s.chars().count() <= 6));
            prop_assert!(obj["age"].as_i64().is_some_and(|a| (0..=120).contains(&a)));
            prop_assert!(obj["ok"].is_boolean());
        }

        #[test]
        fn a_regex_grammar_is_matched_whole(seed in any::<u64>()) {
            let (text, done) = constrained_reply(&Grammar::Regex("(yes|no), [0-9]{1,3}".into()), seed, 50);
            prop_assert!(done);
            let (word, num) = text.split_once(", ").unwrap();
            prop_assert!(word == "yes" || word == "no", "{text:?}");
            prop_assert!(!num.is_empty() && num.len() <= 3 && num.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn forced_text_is_taken_in_the_tokenizers_own_tokens() {
        // `{"` is one BPE token here; the grammar forces it, then a digit. A flat model without the
        // fast-forward would take `{` (id 123, the lowest allowed) and spell the rest byte by byte.
        let tok = tokenizer_with_merges(PIECES, &["{ \""]);
        let end = (tok.len() - 1) as u32;
        let merged = 256 + PIECES.iter().position(|p| *p == "{\"").unwrap() as u32;
        assert_eq!(tok.encode("{\"", false, false).unwrap(), vec![merged]);
        let vocab = GrammarVocab::new(tok.clone(), tok.len(), &[end]).unwrap();
        let grammar = Grammar::Lark(r#"start: "{\"" /[0-9]/"#.into());
        let mut c = Constraints {
            grammar: Some(vocab.matcher(&grammar).unwrap()),
            ..Default::default()
        };
        let mut logits = vec![0.0f32; tok.len()];
        c.apply(&mut logits).unwrap();
        let open: Vec<usize> = (0..logits.len()).filter(|&i| logits[i] == 0.0).collect();
        assert_eq!(open, vec![merged as usize]);
        c.accept(merged).unwrap();
        let mut logits = vec![0.0f32; tok.len()];
        c.apply(&mut logits).unwrap();
        let digits = (0..logits.len()).filter(|&i| logits[i] == 0.0).count();
        assert!(
            digits >= 10,
            "free text is not forced: {digits} tokens open"
        );
    }

    #[test]
    fn json_object_mode_gives_an_object() {
        let (text, done) = constrained_reply(&Grammar::JsonObject, 7, 2000);
        assert!(done, "{text:?}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v.is_object());
    }

    #[test]
    fn biases_shift_and_ban_tokens_and_are_checked() {
        let mut c = Constraints::default()
            .with_bias(vec![(0, 5.0), (2, f32::NEG_INFINITY)], 4)
            .unwrap();
        let mut logits = vec![0.0, 1.0, 2.0, 3.0];
        c.apply(&mut logits).unwrap();
        assert_eq!(logits, vec![5.0, 1.0, f32::NEG_INFINITY, 3.0]);
        let bad = |bias: Vec<(u32, f32)>| Constraints::default().with_bias(bias, 4).unwrap_err();
        assert!(bad(vec![(4, 1.0)])
            .to_string()
            .contains("past the vocabulary"));
        assert!(bad(vec![(1, f32::NAN)])
            .to_string()
            .contains("finite or -inf"));
        assert!(bad(vec![(1, f32::INFINITY)])
            .to_string()
            .contains("finite or -inf"));
        assert!(bad(vec![(1, 1.0), (1, 2.0)]).to_string().contains("twice"));
        let mut all_banned = Constraints::default()
            .with_bias((0..4).map(|i| (i, f32::NEG_INFINITY)).collect(), 4)
            .unwrap();
        assert!(all_banned.apply(&mut [0.0; 4]).is_err());
    }

    #[test]
    fn invalid_grammars_name_response_format() {
        let tok = tokenizer(PIECES);
        let end = (tok.len() - 1) as u32;
        let vocab = GrammarVocab::new(tok.clone(), tok.len(), &[end]).unwrap();
        for g in [
            Grammar::JsonSchema(serde_json::json!({"type": "no-such-type"})),
            Grammar::JsonSchema(serde_json::json!(3)),
            Grammar::Regex("(unclosed".into()),
            Grammar::Lark("start: missing_rule".into()),
        ] {
            let e = vocab.matcher(&g).unwrap_err().to_string();
            assert!(
                e.contains("json_schema") || e.contains("response_format"),
                "{g:?}: {e}"
            );
        }
        assert!(GrammarVocab::new(tok.clone(), tok.len(), &[]).is_err());
        assert!(GrammarVocab::new(tok.clone(), tok.len(), &[tok.len() as u32]).is_err());
    }
}
