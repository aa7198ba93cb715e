//! Beam search, and diverse beam search (Vijayakumar et al. 2018, "Diverse Beam Search"): the beams are
//! split into groups that search one after another at every step, and a group pays `diversity` for each
//! time an earlier group chose the same token at that step (Hamming diversity), so the groups spread
//! over different continuations. One group is plain beam search. As in Hugging Face's group beam
//! search, a beam's score accumulates the penalised log probabilities, and a finished hypothesis is
//! ranked by its score divided by its length to the power `length_penalty`.
//! All live beams of a step run in one batched pass ([`Model::forward_batch`]).

use crate::error::{Error, Result};
use crate::model::{KvCache, Model};
use crate::sampler::log_softmax;
use thermoconsensus_runtime::Progress;

/// Settings of a (diverse) beam search.
#[derive(Debug, Clone, PartialEq)]
pub struct BeamParams {
    /// Beams per group.
    pub beams: usize,
    /// Groups (1: plain beam search).
    pub groups: usize,
    /// Penalty per earlier group's choice of the same token at the same step (0: independent groups).
    pub diversity: f32,
    /// Exponent of the length normalisation of finished hypotheses (0: raw sums).
    pub length_penalty: f32,
    /// Tokens to generate at most.
    pub max_tokens: usize,
    /// Context positions (prompt plus output) of each beam's cache.
    pub n_ctx: usize,
    /// Tokens that end a hypothesis (not part of it).
    pub stop_tokens: Vec<u32>,
}

/// One finished hypothesis.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Its group.
    pub group: usize,
    /// Generated tokens (a stop token excluded).
    pub tokens: Vec<u32>,
    /// Sum of the model's log probabilities of its tokens (and of the stop token, when it stopped).
    pub logprob: f64,
    /// The ranking score: accumulated penalised log probabilities over length^length_penalty.
    pub score: f64,
    /// True when it ended at a stop token, false when `max_tokens` or the context cut it.
    pub stopped: bool,
}

struct Beam {
    tokens: Vec<u32>,
    logprob: f64,
    score: f64,
    cache: KvCache,
}

fn bad(name: &'static str, reason: String) -> Error {
    Error::InvalidArgument { name, reason }
}

/// The `k` best `(index, value)` of `values` (largest first, the smaller index first among equals).
fn top_k(values: impl Iterator<Item = f64>, k: usize) -> Vec<(usize, f64)> {
    let mut all: Vec<(usize, f64)> = values.enumerate().collect();
    let order = |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if k < all.len() {
        all.select_nth_unstable_by(k, order);
        all.truncate(k);
    }
    all.sort_by(order);
    all
}

/// (Diverse) beam search from `prompt`: up to `beams` hypotheses per group, each group's best first,
/// groups in order. `cancel` is checked before each step.
///
/// # Errors
/// [`Error::InvalidArgument`] for an empty prompt, `max_tokens`, `beams` or `groups` of 0, more than
/// 1024 beams in all, a negative or non-finite `diversity` or `length_penalty`, a prompt without room
/// in `n_ctx`; the model's errors.
pub fn beam_search(
    model: &Model,
    prompt: &[u32],
    params: &BeamParams,
    cancel: Option<&Progress>,
) -> Result<Vec<Hypothesis>> {
    crate::generate::check_prompt(prompt, params.max_tokens, params.n_ctx)?;
    let (b, g) = (params.beams, params.groups);
    if b == 0 || g == 0 || b.saturating_mul(g) > 1024 {
        return Err(bad(
            "beams",
            format!(
                "needs beams >= 1 and groups >= 1 with at most 1024 beams in all, got {b} x {g}"
            ),
        ));
    }
    for (name, v) in [
        ("diversity", params.diversity),
        ("length_penalty", params.length_penalty),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad(name, format!("must be finite and >= 0, got {v}")));
        }
    }
    let mut root = model.new_cache(params.n_ctx)?;
    let first = log_softmax(&model.forward(prompt, &mut root, false)?);
    // Every group starts from the prompt alone; the first step's rows are its logits.
    let mut groups: Vec<Vec<Beam>> = Vec::with_capacity(g);
    for _ in 0..g {
        groups.push(vec![Beam {
            tokens: Vec::new(),
            logprob: 0.0,
            score: 0.0,
            cache: model.copy_cache(&root)?,
        }]);
    }
    drop(root);
    let mut rows: Vec<Vec<Vec<f32>>> = vec![vec![first]; g];
    let mut finished: Vec<Vec<Hypothesis>> = vec![Vec::new(); g];
    let norm =
        |score: f64, len: usize| score / (len.max(1) as f64).powf(params.length_penalty as f64);
    let lambda = params.diversity as f64;
    for step in 0..params.max_tokens {
        if cancel.is_some_and(Progress::is_cancelled) {
            return Err(thermoconsensus_runtime::Error::Cancelled.into());
        }
        // Tokens the earlier groups chose at this step.
        let mut chosen = std::collections::HashMap::<u32, u32>::new();
        for (gi, group) in groups.iter_mut().enumerate() {
            if group.is_empty() {
                continue;
            }
            let penalised = |row: &[f32]| -> Vec<f64> {
                row.iter()
                    .enumerate()
                    .map(|(t, &lp)| {
                        lp as f64 - lambda * chosen.get(&(t as u32)).copied().unwrap_or(0) as f64
                    })
                    .collect()
            };
            // The 2b best continuations of each beam, then the 2b best overall (enough for b live
            // ones even when b of them stop).
            let mut candidates = Vec::new();
            for (bi, (beam, row)) in group.iter().zip(&rows[gi]).enumerate() {
                let p = penalised(row);
                for (t, v) in top_k(p.iter().copied(), 2 * b) {
                    candidates.push((beam.score + v, bi, t as u32, row[t] as f64));
                }
            }
            candidates.sort_by(|x, y| y.0.total_cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
            let mut live = Vec::with_capacity(b);
            for (score, bi, token, lp) in candidates {
                if live.len() == b {
                    break;
                }
                *chosen.entry(token).or_insert(0) += 1;
                let parent = &group[bi];
                if params.stop_tokens.contains(&token) {
                    if finished[gi].len() < b {
                        finished[gi].push(Hypothesis {
                            group: gi,
                            tokens: parent.tokens.clone(),
                            logprob: parent.logprob + lp,
                            score: norm(score, parent.tokens.len() + 1),
                            stopped: true,
                        });
                    }
                    continue;
                }
                live.push((score, bi, token, lp));
            }
            // A parent's last child takes its cache; the others get copies.
            let mut children = vec![0usize; group.len()];
            live.iter().for_each(|c| children[c.1] += 1);
            let mut parents: Vec<Option<Beam>> = group.drain(..).map(Some).collect();
            let mut next = Vec::with_capacity(b);
            for (score, bi, token, lp) in live {
                children[bi] -= 1;
                let Some(parent) = parents[bi].as_ref() else {
                    continue;
                };
                let mut tokens = parent.tokens.clone();
                tokens.push(token);
                let logprob = parent.logprob + lp;
                let cache = if children[bi] > 0 {
                    model.copy_cache(&parent.cache)?
                } else {
                    match parents[bi].take() {
                        Some(owned) => owned.cache,
                        None => continue,
                    }
                };
                next.push(Beam {
                    tokens,
                    logprob,
                    score,
                    cache,
                });
            }
            // A group with b finished hypotheses is done (its live beams could still do better, but
            // a hypothesis search this size does not chase them: Hugging Face's early stopping).
            *group = if finished[gi].len() >= b {
                Vec::new()
            } else {
                next
            };
        }
        let at_end = step + 1 == params.max_tokens
            || prompt.len() + step + 1 >= params.n_ctx
            || groups.iter().all(Vec::is_empty);
        if at_end {
            break;
        }
        // One batched pass over every live beam's last token.
        let mut batch: Vec<(&[u32], &mut KvCache)> = Vec::new();
        let mut owners = Vec::new();
        for (gi, group) in groups.iter_mut().enumerate() {
            for beam in group.iter_mut() {
                let last = beam.tokens.len() - 1;
                batch.push((&beam.tokens[last..], &mut beam.cache));
                owners.push(gi);
            }
        }
        let logits = model.forward_batch(&mut batch, false)?;
        rows = vec![Vec::new(); g];
        for (gi, l) in owners.into_iter().zip(logits) {
            rows[gi].push(log_softmax(&l));
        }
    }
    // Beams cut by the length limit finish as they are.
    for (gi, group) in groups.into_iter().enumerate() {
        for beam in group {
            if finished[gi].len() < b {
                finished[gi].push(Hypothesis {
                    group: gi,
                    score: norm(beam.score, beam.tokens.len()),
                    tokens: beam.tokens,
                    logprob: beam.logprob,
                    stopped: false,
                });
            }
        }
    }
    let mut out = Vec::new();
    for mut hyps in finished {
        hyps.sort_by(|x, y| y.score.total_cmp(&x.score));
        out.extend(hyps);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_largest_first_smaller_index_on_ties() {
        let v = [0.5, 2.0, -1.0, 2.0, 1.0];
        assert_eq!(top_k(v.into_iter(), 3), vec![(1, 2.0), (3, 2.0), (4, 1.0)]);
        assert_eq!(top_k(v.into_iter(), 9).len(), 5);
    }
}
