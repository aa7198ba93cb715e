//! Contrastive decoding (Li et al. 2023, "Contrastive Decoding: Open-ended Text Generation as
//! Optimization", in the form O'Brien and Lewis 2023 use for reasoning): each step takes the token
//! that the expert model likes much more than a smaller amateur of the same vocabulary, among the
//! tokens the expert finds plausible. With expert and amateur logits e and a, the score is
//! `(1 + beta) * e - beta * a`, and only tokens with expert probability at least `alpha` times the
//! expert's most likely token compete (the plausibility cut-off, which keeps the amateur's blind spots
//! from promoting nonsense). `beta = 0` is the expert's greedy decoding.

use crate::error::{Error, Result};
use crate::generate::{Finish, TextAssembler};
use crate::model::Model;
use crate::tokenizer::Tokenizer;
use thermoconsensus_runtime::Progress;

/// Settings of a contrastive generation.
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastiveParams {
    /// Tokens to generate at most.
    pub max_tokens: usize,
    /// Context positions (prompt plus output) of each model's cache.
    pub n_ctx: usize,
    /// Plausibility cut-off in (0, 1]: tokens below `alpha` times the expert's top probability are out.
    pub alpha: f32,
    /// Weight of the contrast (>= 0; 0 is the expert's greedy decoding).
    pub beta: f32,
    /// Tokens that end the generation (not output).
    pub stop_tokens: Vec<u32>,
    /// Strings that end the text (cut before them).
    pub stop_strings: Vec<String>,
}

/// A finished contrastive generation.
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastiveOutput {
    /// The tokens generated (a stop token excluded).
    pub tokens: Vec<u32>,
    /// Their text (a stop string that ended it excluded); empty without a tokenizer.
    pub text: String,
    /// Why it ended.
    pub finish: Finish,
    /// Steps where the contrast chose another token than the expert's most likely one.
    pub changed: usize,
}

/// The contrastive choice for one step: the argmax of `(1 + beta) * expert - beta * amateur` over
/// the tokens whose expert logit is within `ln(alpha)` of the expert's maximum (the first of equal
/// scores, so that `beta = 0` is the expert's first argmax).
pub fn contrastive_choice(expert: &[f32], amateur: &[f32], alpha: f32, beta: f32) -> u32 {
    let top = expert.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let floor = top + alpha.ln();
    let mut best = (0u32, f32::NEG_INFINITY);
    for (i, (&e, &a)) in expert.iter().zip(amateur).enumerate() {
        if e >= floor {
            let score = (1.0 + beta) * e - beta * a;
            if score > best.1 {
                best = (i as u32, score);
            }
        }
    }
    best.0
}

fn bad(name: &'static str, reason: String) -> Error {
    Error::InvalidArgument { name, reason }
}

/// Contrastive decoding of `prompt` with `expert` and `amateur` (same vocabulary), both run step by
/// step in caches of their own. `cancel` is checked before each step. Without a tokenizer the text
/// stays empty and stop strings are refused.
///
/// # Errors
/// [`Error::InvalidArgument`] for an empty prompt, `max_tokens` of 0, a prompt without room in
/// `n_ctx`, `alpha` outside (0, 1], a negative or non-finite `beta`, models of different
/// vocabularies, or stop strings without a tokenizer; the models' errors.
pub fn generate_contrastive(
    expert: &Model,
    amateur: &Model,
    tokenizer: Option<&Tokenizer>,
    prompt: &[u32],
    params: &ContrastiveParams,
    cancel: Option<&Progress>,
) -> Result<ContrastiveOutput> {
    crate::generate::check_prompt(prompt, params.max_tokens, params.n_ctx)?;
    if !(params.alpha > 0.0 && params.alpha <= 1.0) {
        return Err(bad(
            "alpha",
            format!("must be in (0, 1], got {}", params.alpha),
        ));
    }
    if !(params.beta.is_finite() && params.beta >= 0.0) {
        return Err(bad(
            "beta",
            format!("must be finite and >= 0, got {}", params.beta),
        ));
    }
    let (ve, va) = (expert.config().n_vocab, amateur.config().n_vocab);
    if ve != va {
        return Err(bad(
            "amateur",
            format!("has a vocabulary of {va} tokens, the expert {ve}"),
        ));
    }
    if tokenizer.is_none() && !params.stop_strings.is_empty() {
        return Err(bad(
            "stop",
            "stop strings need the model's tokenizer, which this file lacks".into(),
        ));
    }
    let mut expert_cache = expert.new_cache(params.n_ctx)?;
    let mut amateur_cache = amateur.new_cache(params.n_ctx)?;
    let mut e = expert.forward(prompt, &mut expert_cache, false)?;
    let mut a = amateur.forward(prompt, &mut amateur_cache, false)?;
    let mut text = TextAssembler::new(params.stop_strings.clone());
    let (mut tokens, mut changed) = (Vec::new(), 0);
    let mut len = prompt.len();
    let finish = loop {
        let token = contrastive_choice(&e, &a, params.alpha, params.beta);
        if token != contrastive_choice(&e, &a, 1.0, 0.0) {
            changed += 1;
        }
        if params.stop_tokens.contains(&token) {
            break Finish::Stop;
        }
        tokens.push(token);
        len += 1;
        if let Some(tok) = tokenizer {
            if text.push(&tok.decode_bytes(&[token], false)).1 {
                break Finish::Stop;
            }
        }
        if tokens.len() >= params.max_tokens {
            break Finish::Length;
        }
        if len >= params.n_ctx {
            break Finish::Context;
        }
        if cancel.is_some_and(Progress::is_cancelled) {
            break Finish::Cancelled;
        }
        e = expert.forward(&[token], &mut expert_cache, false)?;
        a = amateur.forward(&[token], &mut amateur_cache, false)?;
    };
    text.finish(finish == Finish::Stop);
    Ok(ContrastiveOutput {
        tokens,
        text: text.text().to_string(),
        finish,
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contrast_picks_what_the_expert_likes_more_among_plausible_tokens() {
        let expert = [2.0, 1.9, -5.0, 0.0];
        let amateur = [3.0, 0.0, -20.0, 0.0];
        // Greedy expert: token 0. The amateur likes 0 even more, so the contrast moves to 1.
        assert_eq!(contrastive_choice(&expert, &amateur, 1.0, 0.0), 0);
        assert_eq!(contrastive_choice(&expert, &amateur, 0.1, 0.5), 1);
        // Token 2 has the largest contrast but is implausible for the expert (e^-7 of the top).
        assert_eq!(contrastive_choice(&expert, &amateur, 0.1, 10.0), 1);
        // With the cut-off at e^-8 it is plausible and wins.
        assert_eq!(
            contrastive_choice(&expert, &amateur, (-8.0f32).exp(), 10.0),
            2
        );
        // beta = 0 is the first argmax of the expert, whatever alpha.
        assert_eq!(contrastive_choice(&[1.0, 1.0], &[0.0, -9.0], 0.5, 0.0), 0);
    }
}
