//! The decode loop: prefill, one token per step (sampling, its log-probability, the top-n alternatives,
//! the entropy of the distribution), token- and string-level stops that never cut a UTF-8 character,
//! and cancellation between tokens; plus the two whole-sequence reductions, the NLL of a window
//! (perplexity) and mean pooling (embeddings).
//!
//! A [`Sequence`] holds everything one generation owns (KV cache, sampler, history, text) and borrows
//! the [`Model`] and [`Tokenizer`] only while it steps, so several sequences over one model are plain
//! values side by side: a batched decode advances a slice of them.

use crate::constrain::Constraints;
use crate::error::{Error, Result};
use crate::model::{KvCache, Model};
use crate::prefix::PrefixCache;
use crate::sampler::{log_softmax, Sampler};
use crate::tokenizer::{StreamDecoder, Tokenizer};
use thermoconsensus_runtime::Progress;

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// A stop token or stop string.
    Stop,
    /// `max_tokens` were generated.
    Length,
    /// The context (`n_ctx` positions) is full.
    Context,
    /// The caller cancelled through the [`Progress`] handle.
    Cancelled,
}

impl Finish {
    /// The name the Python package and the OpenAI-style server report.
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::Context => "context",
            Finish::Cancelled => "cancelled",
        }
    }
}

/// How long a generation may run and what ends it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerateParams {
    /// Most tokens to generate (at least 1).
    pub max_tokens: usize,
    /// Positions the prompt and the generated tokens share (more than the prompt's length).
    pub n_ctx: usize,
    /// Tokens that end the generation (e.g. EOS); they are not part of the output.
    pub stop_tokens: Vec<u32>,
    /// Strings that end the generation; the text stops before the first one found.
    pub stop_strings: Vec<String>,
    /// Alternatives recorded per token (0: none).
    pub top_n: usize,
}

/// One sampled token: its id, log-probability, the `top_n` most likely ids with theirs (most likely
/// first, ties by id), and the entropy in nats of the model's distribution at that position.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    /// The token drawn.
    pub token: u32,
    /// Its log-probability under the model (before sampling filters).
    pub logprob: f32,
    /// The most likely tokens with their log-probabilities.
    pub top: Vec<(u32, f32)>,
    /// Entropy of the model's next-token distribution (nats).
    pub entropy: f32,
}

impl TokenInfo {
    /// The record of `token` drawn from `logits`.
    pub fn new(logits: &[f32], token: u32, top_n: usize) -> Self {
        let lp = log_softmax(logits);
        let entropy = -lp.iter().map(|&l| (l.exp() * l) as f64).sum::<f64>() as f32;
        Self {
            token,
            logprob: lp.get(token as usize).copied().unwrap_or(f32::NEG_INFINITY),
            top: top_n_of(&lp, top_n),
            entropy,
        }
    }
}

/// The `n` largest entries of `lp` as (index, value), largest first, ties by index.
pub fn top_n_of(lp: &[f32], n: usize) -> Vec<(u32, f32)> {
    let k = n.min(lp.len());
    if k == 0 {
        return Vec::new();
    }
    let order = |a: &u32, b: &u32| lp[*b as usize].total_cmp(&lp[*a as usize]).then(a.cmp(b));
    let mut idx: Vec<u32> = (0..lp.len() as u32).collect();
    idx.select_nth_unstable_by(k - 1, order);
    idx.truncate(k);
    idx.sort_by(order);
    idx.into_iter().map(|t| (t, lp[t as usize])).collect()
}

/// One step of a [`Sequence`].
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The token sampled at this step; `None` on a closing step (length, context, cancelled).
    pub token: Option<TokenInfo>,
    /// True when that token is a stop token (it ended the generation and is not output).
    pub stop_token: bool,
    /// Text that became safe to show (possibly empty: a character or a stop string still forming).
    pub piece: String,
}

/// Text assembly of a generation: token bytes to UTF-8 (a character split over tokens is held back,
/// invalid bytes become U+FFFD), and stop strings (text that may still turn into one is held back; the
/// text ends before the first one found).
#[derive(Debug, Default)]
pub struct TextAssembler {
    decoder: StreamDecoder,
    text: String,
    emitted: usize,
    stops: Vec<String>,
    /// Bytes of the longest stop string, less one: the tail that may still be a stop's beginning.
    hold: usize,
}

impl TextAssembler {
    /// An assembler that ends the text at any of `stops`.
    pub fn new(stops: Vec<String>) -> Self {
        let hold = stops
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(1)
            .saturating_sub(1);
        Self {
            stops,
            hold,
            ..Default::default()
        }
    }

    /// The text so far (without a stop string that ended it).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Adds one token's bytes; returns the piece now safe to show and whether a stop string ended the
    /// text (the piece then runs up to it).
    pub fn push(&mut self, bytes: &[u8]) -> (String, bool) {
        let before = self.text.len();
        self.text.push_str(&self.decoder.push(bytes));
        // A stop string found now ends in the new text, so it starts at most `hold` bytes before it.
        let from = floor_char_boundary(&self.text, before.saturating_sub(self.hold));
        let cut = self
            .stops
            .iter()
            .filter_map(|s| self.text[from..].find(s.as_str()).map(|i| from + i))
            .min();
        if let Some(cut) = cut {
            self.text.truncate(cut);
            return (self.take_to(cut), true);
        }
        let safe = floor_char_boundary(&self.text, self.text.len().saturating_sub(self.hold));
        (self.take_to(safe.max(self.emitted)), false)
    }

    /// Ends the text: the held-back rest, with an incomplete final character as U+FFFD unless the
    /// generation stopped while stop strings were set (the cut text is final as it is).
    pub fn finish(&mut self, stopped: bool) -> String {
        if !stopped || self.stops.is_empty() {
            let rest = self.decoder.finish();
            self.text.push_str(&rest);
        }
        self.take_to(self.text.len())
    }

    fn take_to(&mut self, end: usize) -> String {
        let piece = self.text[self.emitted..end].to_string();
        self.emitted = end;
        piece
    }
}

/// The largest char boundary of `s` at or below `i`.
fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One generation in progress over a model it does not own.
#[derive(Debug)]
pub struct Sequence {
    cache: KvCache,
    sampler: Sampler,
    history: Vec<u32>,
    /// Logits of the next position, until the token sampled from them has been run.
    pending: Option<Vec<f32>>,
    params: GenerateParams,
    text: TextAssembler,
    generated: usize,
    finish: Option<Finish>,
    /// Logit biases and a grammar on the next token (empty: none).
    constraints: Constraints,
    /// Prompt positions copied from a prefix cache rather than run.
    reused: usize,
    /// A prompt admitted but not yet run ([`Sequence::admit_with_prefix`]): its first step runs it.
    prefill: Option<Prefill>,
}

/// The part of an admitted prompt still to run, and the prefix cache to store the whole prompt in.
#[derive(Debug)]
struct Prefill {
    from: usize,
    prefix: Option<std::sync::Arc<PrefixCache>>,
}

impl Sequence {
    /// Runs `prompt` through a fresh context of `params.n_ctx` positions (the prefill).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty prompt, `max_tokens == 0` or a prompt that leaves no
    /// room in `n_ctx`; the model's errors.
    pub fn start(
        model: &Model,
        prompt: &[u32],
        sampler: Sampler,
        params: GenerateParams,
    ) -> Result<Self> {
        Self::start_with_prefix(model, prompt, sampler, params, None)
    }

    /// [`Sequence::start`] reusing the longest prefix of `prompt` held in `prefix` (only the rest is
    /// run), and storing the prompt's keys and values there for later prompts.
    ///
    /// # Errors
    /// As [`Sequence::start`].
    pub fn start_with_prefix(
        model: &Model,
        prompt: &[u32],
        sampler: Sampler,
        params: GenerateParams,
        prefix: Option<&PrefixCache>,
    ) -> Result<Self> {
        let mut s = Self::admitted(model, prompt, sampler, params, prefix)?;
        s.pending = Some(model.forward(&prompt[s.reused..], &mut s.cache, false)?);
        s.prefilled(model, prefix);
        Ok(s)
    }

    /// A sequence over `prompt` with the longest stored prefix of it copied into a fresh cache and
    /// the rest not yet run.
    fn admitted(
        model: &Model,
        prompt: &[u32],
        sampler: Sampler,
        params: GenerateParams,
        prefix: Option<&PrefixCache>,
    ) -> Result<Self> {
        check_prompt(prompt, params.max_tokens, params.n_ctx)?;
        let hit = match prefix {
            Some(p) => p.lookup(model, prompt, params.n_ctx)?,
            None => None,
        };
        let (cache, reused) = match hit {
            Some(hit) => hit,
            None => (model.new_cache(params.n_ctx)?, 0),
        };
        Ok(Self {
            reused,
            cache,
            sampler,
            history: prompt.to_vec(),
            pending: None,
            text: TextAssembler::new(params.stop_strings.clone()),
            params,
            generated: 0,
            finish: None,
            constraints: Constraints::default(),
            prefill: None,
        })
    }

    /// [`Sequence::start_with_prefix`] without running the prompt: the longest stored prefix is
    /// copied now and the rest of the prompt runs in this sequence's first step. In [`step_batch`]
    /// that step shares its pass with the other sequences' next tokens, so a request that arrives
    /// does not stall the batch for a prompt pass of its own (llama-server's mixed batches). Such a
    /// sequence cannot be forked (forks need the prompt's logits).
    ///
    /// # Errors
    /// As [`Sequence::start`], less the model's errors of the pass (they come from the first step).
    pub fn admit_with_prefix(
        model: &Model,
        prompt: &[u32],
        sampler: Sampler,
        params: GenerateParams,
        prefix: Option<std::sync::Arc<PrefixCache>>,
    ) -> Result<Self> {
        let mut s = Self::admitted(model, prompt, sampler, params, prefix.as_deref())?;
        s.prefill = Some(Prefill {
            from: s.reused,
            prefix,
        });
        Ok(s)
    }

    /// Stores the whole prompt in `prefix` once its rest has run into the cache.
    fn prefilled(&self, model: &Model, prefix: Option<&PrefixCache>) {
        if let Some(p) = prefix {
            p.insert(model, &self.history, &self.cache);
        }
    }

    /// This sequence with `constraints` on every token it samples from now on.
    pub fn with_constraints(mut self, constraints: Constraints) -> Self {
        self.constraints = constraints;
        self
    }

    /// Prompt positions copied from a prefix cache rather than run (0 without one, or on a miss).
    pub fn reused_prefix(&self) -> usize {
        self.reused
    }

    /// Positions of the context in use.
    pub fn n_past(&self) -> usize {
        self.cache.len()
    }

    /// Why the generation ended, once it has.
    pub fn finish(&self) -> Option<Finish> {
        self.finish
    }

    /// The text so far.
    pub fn text(&self) -> &str {
        self.text.text()
    }

    /// Advances by one token (running the previous one first), or closes the generation when it is
    /// done; `None` once it has ended. `cancel` is checked before each token.
    ///
    /// # Errors
    /// The model's errors (the sequence is then ended).
    pub fn step(
        &mut self,
        model: &Model,
        tokenizer: &Tokenizer,
        cancel: Option<&Progress>,
    ) -> Result<Option<Step>> {
        let logits = match self.prepare(cancel.is_some_and(Progress::is_cancelled)) {
            None => return Ok(None),
            Some(Next::Closed(step)) => return Ok(Some(step)),
            Some(Next::Logits(logits)) => logits,
            Some(next) => {
                let tokens = next.tokens().unwrap_or_default();
                match model.forward(tokens, &mut self.cache, false) {
                    Ok(l) => {
                        if let Next::Prefill(_, prefix) = &next {
                            self.prefilled(model, prefix.as_deref());
                        }
                        l
                    }
                    Err(e) => {
                        self.finish = Some(Finish::Stop);
                        return Err(e);
                    }
                }
            }
        };
        self.advance(logits, tokenizer)
    }

    /// A second sequence continuing from the same prompt with the same sampling but `seed`: the
    /// prompt's keys and values are copied, not recomputed. Only before the first step.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] once this sequence has stepped; the copy's allocation errors.
    pub fn fork(&self, model: &Model, seed: u64) -> Result<Self> {
        let Some(pending) = &self.pending else {
            return Err(Error::InvalidArgument {
                name: "sequence",
                reason: "can only be forked before its first token".into(),
            });
        };
        Ok(Self {
            cache: model.copy_cache(&self.cache)?,
            sampler: self.sampler.reseeded(seed),
            history: self.history.clone(),
            pending: Some(pending.clone()),
            params: self.params.clone(),
            text: TextAssembler::new(self.params.stop_strings.clone()),
            generated: 0,
            finish: None,
            constraints: self.constraints.clone(),
            reused: self.reused,
            prefill: None,
        })
    }

    /// What the next step needs: nothing (ended), nothing more (it closes now), the logits it has,
    /// or a pass over its last token.
    fn prepare(&mut self, cancelled: bool) -> Option<Next> {
        if self.finish.is_some() {
            return None;
        }
        let close = if self.generated >= self.params.max_tokens {
            Some(Finish::Length)
        } else if cancelled {
            Some(Finish::Cancelled)
        } else if self.cache.len() >= self.params.n_ctx {
            Some(Finish::Context)
        } else {
            None
        };
        if let Some(why) = close {
            return Some(Next::Closed(self.close(why, None)));
        }
        if let Some(Prefill { from, prefix }) = self.prefill.take() {
            return Some(Next::Prefill(self.history[from..].to_vec(), prefix));
        }
        match self.pending.take() {
            Some(logits) => Some(Next::Logits(logits)),
            // `start` refuses an empty prompt, so the history always has a last token.
            None => Some(Next::Run(self.history.last().copied().unwrap_or(0))),
        }
    }

    /// Samples the token of `logits` and records it.
    fn advance(&mut self, logits: Vec<f32>, tokenizer: &Tokenizer) -> Result<Option<Step>> {
        let mut logits = logits;
        if !self.constraints.is_empty() {
            if let Err(e) = self.constraints.apply(&mut logits) {
                self.finish = Some(Finish::Stop);
                return Err(e);
            }
        }
        let token = self.sampler.sample(&logits, &self.history);
        let info = TokenInfo::new(&logits, token, self.params.top_n);
        if self.params.stop_tokens.contains(&token) {
            return Ok(Some(self.close(Finish::Stop, Some(info))));
        }
        let complete = match self.constraints.accept(token) {
            Ok(c) => c,
            Err(e) => {
                self.finish = Some(Finish::Stop);
                return Err(e);
            }
        };
        self.history.push(token);
        self.generated += 1;
        let (mut piece, stopped) = self.text.push(&tokenizer.decode_bytes(&[token], false));
        if stopped {
            self.finish = Some(Finish::Stop);
        } else if complete {
            // A complete grammar allows only an end token next: stop now rather than run one more
            // pass, with the text held back for stop strings released.
            piece.push_str(&self.text.finish(false));
            self.finish = Some(Finish::Stop);
        }
        Ok(Some(Step {
            token: Some(info),
            stop_token: false,
            piece,
        }))
    }

    fn close(&mut self, why: Finish, token: Option<TokenInfo>) -> Step {
        self.finish = Some(why);
        Step {
            stop_token: token.is_some(),
            token,
            piece: self.text.finish(why == Finish::Stop),
        }
    }
}

/// What [`Sequence::prepare`] found the next step needs.
enum Next {
    Closed(Step),
    Logits(Vec<f32>),
    Run(u32),
    /// The rest of an admitted prompt, and where to store it once run.
    Prefill(Vec<u32>, Option<std::sync::Arc<PrefixCache>>),
}

impl Next {
    /// The tokens this step runs through the model (none for a step that has its logits).
    fn tokens(&self) -> Option<&[u32]> {
        match self {
            Next::Run(t) => Some(std::slice::from_ref(t)),
            Next::Prefill(rest, _) => Some(rest),
            _ => None,
        }
    }
}

/// Advances every sequence of `sequences` by one token, as [`Sequence::step`] does each, with one
/// batched pass ([`Model::forward_batch`]) over the last tokens of all that need one: the weights
/// are read once per step for the whole batch. Entry i of the result is sequence i's step (`None`
/// once it has ended); a sequence whose entry in `cancelled` is true closes instead (a missing entry
/// is false). Every sequence must come from `model`.
///
/// # Errors
/// The model's errors; every sequence that was waiting on the pass is then ended.
pub fn step_batch(
    model: &Model,
    sequences: &mut [&mut Sequence],
    tokenizer: &Tokenizer,
    cancelled: &[bool],
) -> Result<Vec<Option<Step>>> {
    let mut next: Vec<Option<Next>> = sequences
        .iter_mut()
        .enumerate()
        .map(|(i, s)| s.prepare(cancelled.get(i).copied().unwrap_or(false)))
        .collect();
    // Each sequence's tokens for the pass: its last token, or the rest of an admitted prompt.
    let runs: Vec<Option<&[u32]>> = next
        .iter()
        .map(|n| n.as_ref().and_then(Next::tokens))
        .collect();
    if runs.iter().any(Option::is_some) {
        let mut batch: Vec<(&[u32], &mut KvCache)> = sequences
            .iter_mut()
            .zip(&runs)
            .filter_map(|(s, r)| r.map(|t| (t, &mut s.cache)))
            .collect();
        let result = model.forward_batch(&mut batch, false);
        drop(batch);
        let ran: Vec<bool> = runs.iter().map(Option::is_some).collect();
        drop(runs);
        let mut logits = match result {
            Ok(l) => l.into_iter(),
            Err(e) => {
                for (s, &r) in sequences.iter_mut().zip(&ran) {
                    if r {
                        s.finish = Some(Finish::Stop);
                    }
                }
                return Err(e);
            }
        };
        for (s, n) in sequences.iter_mut().zip(&mut next) {
            if let Some(Next::Prefill(_, prefix)) = n {
                s.prefilled(model, prefix.as_deref());
            }
            if matches!(n, Some(Next::Run(_) | Next::Prefill(..))) {
                *n = logits.next().map(Next::Logits);
            }
        }
    }
    sequences
        .iter_mut()
        .zip(next)
        .map(|(s, n)| match n {
            None => Ok(None),
            Some(Next::Closed(step)) => Ok(Some(step)),
            Some(Next::Logits(l)) => s.advance(l, tokenizer),
            Some(Next::Run(_) | Next::Prefill(..)) => Ok(None),
        })
        .collect()
}

/// The greedy continuation of `prompt`: up to `max_tokens` argmax tokens, ending early at (and
/// including) any of `stop_tokens`. On a device the argmax is taken there ([`Model::forward_greedy`]:
/// one index comes back per token instead of the logits), which is why this is not a [`Sequence`].
///
/// # Errors
/// [`Error::InvalidArgument`] for an empty prompt, `max_tokens == 0` or a length that overflows; the
/// model's errors.
pub fn greedy(
    model: &Model,
    prompt: &[u32],
    max_tokens: usize,
    stop_tokens: &[u32],
) -> Result<Vec<u32>> {
    if max_tokens == 0 {
        return Err(Error::InvalidArgument {
            name: "max_tokens",
            reason: "must be at least 1".into(),
        });
    }
    if prompt.is_empty() {
        return Err(Error::InvalidArgument {
            name: "prompt",
            reason: "is empty".into(),
        });
    }
    let positions = prompt
        .len()
        .checked_add(max_tokens)
        .ok_or_else(|| Error::InvalidArgument {
            name: "max_tokens",
            reason: format!("{max_tokens} is too large"),
        })?;
    let mut cache = model.new_cache(positions)?;
    let mut next = model.forward_greedy(prompt, &mut cache)?;
    let mut out = Vec::with_capacity(max_tokens);
    loop {
        out.push(next);
        if stop_tokens.contains(&next) || out.len() == max_tokens {
            return Ok(out);
        }
        next = model.forward_greedy(&[next], &mut cache)?;
    }
}

/// Sum of the negative log-likelihoods of `targets[j]` under logit row `j` (rows of `n_vocab`), in
/// f64: what perplexity averages.
///
/// # Errors
/// [`Error::InvalidArgument`] when the rows and targets disagree or a target is outside the vocabulary.
pub fn nll_sum(logits: &[f32], n_vocab: usize, targets: &[u32]) -> Result<f64> {
    if n_vocab == 0 || logits.len() != n_vocab * targets.len() {
        return Err(Error::InvalidArgument {
            name: "targets",
            reason: format!(
                "{} targets for {} logits of a vocabulary of {n_vocab}",
                targets.len(),
                logits.len()
            ),
        });
    }
    let mut nll = 0.0f64;
    for (row, &t) in logits.chunks_exact(n_vocab).zip(targets) {
        let x = *row.get(t as usize).ok_or_else(|| Error::InvalidArgument {
            name: "targets",
            reason: format!("{t} is outside the vocabulary of {n_vocab}"),
        })? as f64;
        let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let lse = m + row.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
        nll += lse - x;
    }
    Ok(nll)
}

/// Mean of the rows of `hidden` (rows of `dim`), computed in f64; unit length when `normalize` (a zero
/// mean stays zero).
pub fn mean_pool(hidden: &[f32], dim: usize, normalize: bool) -> Vec<f32> {
    let rows = hidden.len().checked_div(dim).unwrap_or(0);
    let mut mean = vec![0.0f64; dim];
    for row in hidden.chunks_exact(dim.max(1)).take(rows) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    for m in &mut mean {
        *m /= rows.max(1) as f64;
    }
    if normalize {
        let norm = mean.iter().map(|m| m * m).sum::<f64>().sqrt();
        if norm > 0.0 {
            for m in &mut mean {
                *m /= norm;
            }
        }
    }
    mean.into_iter().map(|m| m as f32).collect()
}

/// The checks every decode loop makes before its prompt pass: a prompt, at least one token to
/// generate, and room for it in `n_ctx`.
pub(crate) fn check_prompt(prompt: &[u32], max_tokens: usize, n_ctx: usize) -> Result<()> {
    let bad = |name, reason: String| Error::InvalidArgument { name, reason };
    if prompt.is_empty() {
        return Err(bad("prompt", "is empty".into()));
    }
    if max_tokens == 0 {
        return Err(bad("max_tokens", "must be at least 1".into()));
    }
    if n_ctx <= prompt.len() {
        return Err(bad(
            "n_ctx",
            format!(
                "{n_ctx} leaves no room after a prompt of {} tokens",
                prompt.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], tokens: &[&[u8]]) -> (Vec<String>, String, bool) {
        let mut a = TextAssembler::new(stops.iter().map(|s| s.to_string()).collect());
        let mut pieces = Vec::new();
        let mut stopped = false;
        for t in tokens {
            let (p, s) = a.push(t);
            pieces.push(p);
            if s {
                stopped = true;
                break;
            }
        }
        pieces.push(a.finish(stopped));
        (pieces, a.text().to_string(), stopped)
    }

    #[test]
    fn characters_split_over_tokens_are_held_back() {
        let smile = "🙂".as_bytes();
        let (pieces, text, _) = run(&[], &[b"a", &smile[..1], &smile[1..], b"b"]);
        assert_eq!(pieces, ["a", "", "🙂", "b", ""]);
        assert_eq!(text, "a🙂b");
        // An incomplete character at the end becomes U+FFFD.
        let (_, text, _) = run(&[], &[b"x", &smile[..2]]);
        assert_eq!(text, "x\u{fffd}");
    }

    #[test]
    fn stop_strings_cut_the_text_and_are_held_while_forming() {
        let (pieces, text, stopped) = run(&["END"], &[b"hello E", b"N", b"D more"]);
        assert!(stopped);
        assert_eq!(text, "hello ");
        assert_eq!(pieces.concat(), "hello ");
        // "E" and "EN" could still become the stop: nothing past "hello" shows before it resolves.
        assert_eq!(pieces[0], "hello");
        // Text that turns out not to be a stop is released.
        let (pieces, text, stopped) = run(&["END"], &[b"ab E", b"x"]);
        assert!(!stopped);
        assert_eq!(text, "ab Ex");
        assert_eq!(pieces.concat(), "ab Ex");
    }

    #[test]
    fn the_hold_never_splits_a_character() {
        let (pieces, text, _) = run(&["zz"], &["é".as_bytes(), "ü".as_bytes(), b"q"]);
        assert_eq!(text, "éüq");
        assert!(pieces.iter().all(|p| !p.contains('\u{fffd}')));
        assert_eq!(pieces.concat(), "éüq");
    }

    #[test]
    fn the_earliest_stop_wins() {
        let (_, text, stopped) = run(&["cd", "b"], &[b"abcd"]);
        assert!(stopped);
        assert_eq!(text, "a");
    }

    #[test]
    fn token_info_ranks_and_measures_the_distribution() {
        let logits = [0.0f32, 2.0, 2.0, -1.0];
        let info = TokenInfo::new(&logits, 3, 2);
        assert_eq!(info.token, 3);
        assert_eq!(info.top.iter().map(|t| t.0).collect::<Vec<_>>(), [1, 2]);
        let lp = log_softmax(&logits);
        assert!((info.logprob - lp[3]).abs() < 1e-7);
        let h: f32 = -lp.iter().map(|l| l.exp() * l).sum::<f32>();
        assert!((info.entropy - h).abs() < 1e-5);
        assert!(top_n_of(&lp, 0).is_empty());
        assert_eq!(top_n_of(&lp, 10).len(), 4);
    }

    #[test]
    fn nll_and_pooling() {
        let logits = [0.0f32, 0.0, 1.0, 3.0];
        let nll = nll_sum(&logits, 2, &[0, 1]).unwrap();
        let want = 2f64.ln() + ((1f64.exp() + 3f64.exp()).ln() - 3.0);
        assert!((nll - want).abs() < 1e-12);
        assert!(nll_sum(&logits, 2, &[0]).is_err());
        assert!(nll_sum(&logits, 2, &[0, 2]).is_err());
        assert_eq!(mean_pool(&[1.0, 2.0, 3.0, 6.0], 2, false), [2.0, 4.0]);
        let unit = mean_pool(&[3.0, 4.0], 2, true);
        assert!((unit[0] - 0.6).abs() < 1e-7 && (unit[1] - 0.8).abs() < 1e-7);
        assert_eq!(mean_pool(&[0.0, 0.0], 2, true), [0.0, 0.0]);
    }
}
