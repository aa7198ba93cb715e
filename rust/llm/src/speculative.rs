//! Greedy speculative decoding: a cheap drafter proposes the next few tokens, the target model checks them
//! all in one pass, and the longest run it agrees with is kept together with its own next token. The text is
//! the target's greedy continuation; what changes is how many target passes it takes. Drafters: a smaller
//! model with the same vocabulary (llama.cpp's speculative-simple, transformers' assisted generation) or
//! the tokens that followed an earlier occurrence of the latest n-gram (prompt-lookup decoding, for edits
//! and rewrites whose output repeats the prompt).

use std::collections::VecDeque;

use crate::error::{Error, Result};
use crate::generate::{Finish, TextAssembler};
use crate::model::{KvCache, Model};
use crate::tokenizer::Tokenizer;
use thermoconsensus_runtime::Progress;

/// Where draft tokens come from.
#[derive(Debug, Clone, Copy)]
pub enum Drafter<'a> {
    /// A smaller model with the target's vocabulary, decoding greedily.
    Model(&'a Model),
    /// The tokens after the latest earlier occurrence of the text's last n-gram (n from `max_ngram`
    /// down to 1), taken from the prompt and the output so far.
    PromptLookup {
        /// Shortest n-gram matched: a lone repeated token is a poor guess outside edits.
        min_ngram: usize,
        /// Longest n-gram matched.
        max_ngram: usize,
    },
}

/// How long a speculative generation may run and what ends it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeculativeParams {
    /// Tokens to generate at most.
    pub max_tokens: usize,
    /// Context positions (prompt plus output) of each model's cache.
    pub n_ctx: usize,
    /// Draft tokens proposed per target pass, at most.
    pub n_draft: usize,
    /// A draft model stops proposing once its own probability of its next token is below this (0 never
    /// stops early): unlikely drafts are mostly rejected and make the verifying pass dearer.
    pub p_min: f32,
    /// Tokens that end the generation (not output).
    pub stop_tokens: Vec<u32>,
    /// Strings that end the text (cut before them).
    pub stop_strings: Vec<String>,
}

/// What a speculative generation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpeculativeStats {
    /// Draft tokens proposed.
    pub drafted: u64,
    /// Draft tokens the target agreed with.
    pub accepted: u64,
    /// Passes of the target model (the prompt pass included).
    pub target_passes: u64,
    /// Passes of the draft model (0 for prompt lookup).
    pub draft_passes: u64,
}

/// A finished speculative generation.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeculativeOutput {
    /// The tokens generated (a stop token excluded).
    pub tokens: Vec<u32>,
    /// Their text (a stop string that ended it excluded).
    pub text: String,
    /// Why it ended.
    pub finish: Finish,
    /// Drafting and verification counts.
    pub stats: SpeculativeStats,
}

fn bad(name: &'static str, reason: String) -> Error {
    Error::InvalidArgument { name, reason }
}

fn argmax(row: &[f32]) -> u32 {
    // The first maximum, as the samplers' greedy choice takes it.
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// The greedy token of `row` and its softmax probability.
fn greedy_probability(row: &[f32]) -> (u32, f32) {
    let best = argmax(row);
    let top = row[best as usize];
    let total: f32 = row.iter().map(|&v| (v - top).exp()).sum();
    (best, 1.0 / total)
}

/// Up to `k` tokens that followed the latest earlier occurrence of the last n tokens of `seq`, for the
/// longest n in `min_ngram..=max_ngram` that occurs earlier.
pub fn prompt_lookup(seq: &[u32], min_ngram: usize, max_ngram: usize, k: usize) -> Vec<u32> {
    let len = seq.len();
    for n in (min_ngram.max(1)..=max_ngram.min(len.saturating_sub(1))).rev() {
        let tail = &seq[len - n..];
        for start in (0..len - n).rev() {
            if &seq[start..start + n] == tail {
                let from = start + n;
                return seq[from..(from + k).min(len)].to_vec();
            }
        }
    }
    Vec::new()
}

/// Runs the draft model over what it has not seen of `seq` and then up to `k` greedy tokens of its own,
/// stopping before a token it gives a probability below `p_min`.
fn draft_with_model(
    draft: &Model,
    cache: &mut KvCache,
    seq: &[u32],
    k: usize,
    p_min: f32,
    stats: &mut SpeculativeStats,
) -> Result<Vec<u32>> {
    let mut out = Vec::with_capacity(k);
    if k == 0 {
        return Ok(out);
    }
    let mut logits = draft.forward(&seq[cache.len()..], cache, false)?;
    stats.draft_passes += 1;
    loop {
        let (token, p) = greedy_probability(&logits);
        if p < p_min {
            break;
        }
        out.push(token);
        if out.len() == k {
            break;
        }
        logits = draft.forward(&[token], cache, false)?;
        stats.draft_passes += 1;
    }
    Ok(out)
}

/// The greedy continuation of `prompt` by `target`, drafted by `drafter` and verified `n_draft` tokens at
/// a time. `cancel` is checked before each target pass.
///
/// # Errors
/// [`Error::InvalidArgument`] for an empty prompt, `max_tokens` or `n_draft` of 0, `p_min` outside
/// [0, 1], a prompt that leaves no room in `n_ctx`, a draft model of another vocabulary, or n-gram
/// bounds that are not `1 <= min_ngram <= max_ngram`; the models' errors.
pub fn generate_greedy(
    target: &Model,
    drafter: Drafter<'_>,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    params: &SpeculativeParams,
    cancel: Option<&Progress>,
) -> Result<SpeculativeOutput> {
    crate::generate::check_prompt(prompt, params.max_tokens, params.n_ctx)?;
    if params.n_draft == 0 {
        return Err(bad("n_draft", "must be at least 1".into()));
    }
    if !(0.0..=1.0).contains(&params.p_min) {
        return Err(bad(
            "p_min",
            format!("must be a probability in [0, 1], got {}", params.p_min),
        ));
    }
    let vocab = target.config().n_vocab;
    let mut draft_cache = match drafter {
        Drafter::Model(d) => {
            if d.config().n_vocab != vocab {
                return Err(bad(
                    "draft",
                    format!(
                        "has a vocabulary of {} tokens, the target {vocab}",
                        d.config().n_vocab
                    ),
                ));
            }
            Some(d.new_cache(params.n_ctx)?)
        }
        Drafter::PromptLookup {
            min_ngram,
            max_ngram,
        } if min_ngram == 0 || max_ngram < min_ngram => {
            return Err(bad(
                "max_ngram",
                format!("needs 1 <= min_ngram <= max_ngram, got {min_ngram} and {max_ngram}"),
            ))
        }
        Drafter::PromptLookup { .. } => None,
    };
    let mut stats = SpeculativeStats::default();
    let mut cache = target.new_cache(params.n_ctx)?;
    let logits = target.forward(prompt, &mut cache, false)?;
    stats.target_passes += 1;
    let mut seq = prompt.to_vec();
    let mut text = TextAssembler::new(params.stop_strings.clone());
    let mut tokens = Vec::new();
    // Tokens the target has chosen and not yet output; the target's cache holds every token of `seq`
    // but the last, which the next verification pass runs first.
    let mut queue = VecDeque::from([argmax(&logits)]);
    let finish = 'outer: loop {
        while let Some(token) = queue.pop_front() {
            if params.stop_tokens.contains(&token) {
                break 'outer Finish::Stop;
            }
            tokens.push(token);
            seq.push(token);
            if text.push(&tokenizer.decode_bytes(&[token], false)).1 {
                break 'outer Finish::Stop;
            }
            if tokens.len() >= params.max_tokens {
                break 'outer Finish::Length;
            }
            if seq.len() >= params.n_ctx {
                break 'outer Finish::Context;
            }
        }
        if cancel.is_some_and(Progress::is_cancelled) {
            break Finish::Cancelled;
        }
        // The pass runs the last token and k drafts: k + 1 positions after the cache's seq.len() - 1.
        let k = params
            .n_draft
            .min(params.max_tokens - tokens.len())
            .min(params.n_ctx - seq.len());
        let drafts = match (drafter, draft_cache.as_mut()) {
            (Drafter::Model(d), Some(dc)) => {
                draft_with_model(d, dc, &seq, k, params.p_min, &mut stats)?
            }
            (
                Drafter::PromptLookup {
                    min_ngram,
                    max_ngram,
                },
                _,
            ) => prompt_lookup(&seq, min_ngram, max_ngram, k),
            (Drafter::Model(_), None) => Vec::new(),
        };
        let mut input = Vec::with_capacity(1 + drafts.len());
        input.push(seq[seq.len() - 1]);
        input.extend_from_slice(&drafts);
        let before = cache.len();
        let logits = target.forward(&input, &mut cache, true)?;
        stats.target_passes += 1;
        let rows: Vec<&[f32]> = logits.chunks_exact(vocab).collect();
        let accepted = drafts
            .iter()
            .zip(&rows)
            .take_while(|(d, row)| argmax(row) == **d)
            .count();
        stats.drafted += drafts.len() as u64;
        stats.accepted += accepted as u64;
        // Keep the last token and the accepted drafts; the rejected drafts' positions go.
        cache.truncate(before + 1 + accepted);
        if let Some(dc) = draft_cache.as_mut() {
            // The draft cache holds seq and the drafts it ran (all but the last, or all when it stopped
            // early on p_min): keep what the accepted run confirmed.
            let confirmed = (seq.len() + accepted).min(dc.len());
            dc.truncate(confirmed);
        }
        queue.extend(&drafts[..accepted]);
        queue.push_back(argmax(rows[accepted]));
    };
    let stopped = finish == Finish::Stop;
    text.finish(stopped);
    Ok(SpeculativeOutput {
        tokens,
        text: text.text().to_string(),
        finish,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_lookup_takes_what_followed_the_latest_longest_match() {
        // "1 2 3 9 | 1 2 3 7 8 | 1 2 3": the trigram 1 2 3 last occurred before 7 8.
        let seq = [1, 2, 3, 9, 1, 2, 3, 7, 8, 1, 2, 3];
        assert_eq!(prompt_lookup(&seq, 1, 3, 4), vec![7, 8, 1, 2]);
        assert_eq!(prompt_lookup(&seq, 1, 3, 1), vec![7]);
        // Only a unigram matches: 5 occurred before 6, unless unigrams are too short.
        assert_eq!(prompt_lookup(&[5, 6, 4, 5], 1, 3, 2), vec![6, 4]);
        assert!(prompt_lookup(&[5, 6, 4, 5], 2, 3, 2).is_empty());
        // No earlier occurrence, or nothing after it.
        assert!(prompt_lookup(&[1, 2, 3], 1, 2, 4).is_empty());
        assert!(prompt_lookup(&[7], 1, 3, 4).is_empty());
    }

    #[test]
    fn greedy_probability_is_the_softmax_of_the_maximum() {
        let (t, p) = greedy_probability(&[0.0, 2.0_f32.ln(), 0.0]);
        assert_eq!(t, 1);
        assert!((p - 0.5).abs() < 1e-6);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.5, 2.0, 2.0, -1.0]), 1);
        assert_eq!(argmax(&[3.0]), 0);
    }
}
