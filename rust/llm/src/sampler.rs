//! Next-token sampling in llama.cpp's default order: repetition / frequency / presence penalties over
//! the recent tokens, then top-k, top-p, min-p, temperature, and a seeded draw. A temperature of 0 (or
//! below) is greedy decoding.

use crate::error::{Error, Result};
use rand::{RngExt, SeedableRng};

/// Sampling settings; the defaults leave every filter off at temperature 1.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerParams {
    /// Softmax temperature; <= 0 picks the most likely token.
    pub temperature: f32,
    /// Keep the k most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p (1: all).
    pub top_p: f32,
    /// Drop tokens less likely than min_p times the most likely one (0: none).
    pub min_p: f32,
    /// Divide positive logits (multiply negative ones) of recent tokens by this (1: off).
    pub repeat_penalty: f32,
    /// Subtract this times a recent token's count (0: off).
    pub frequency_penalty: f32,
    /// Subtract this once from every recent token (0: off).
    pub presence_penalty: f32,
    /// How many of the last tokens the penalties look at.
    pub penalty_last_n: usize,
    /// Seed of the draws.
    pub seed: u64,
}

impl Default for SamplerParams {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            penalty_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplerParams {
    /// Checks every setting's range.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, reason: String| Err(Error::InvalidArgument { name, reason });
        if !self.temperature.is_finite() {
            return bad(
                "temperature",
                format!("must be finite, got {}", self.temperature),
            );
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", format!("must be in (0, 1], got {}", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", format!("must be in [0, 1], got {}", self.min_p));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return bad(
                "repeat_penalty",
                format!("must be > 0, got {}", self.repeat_penalty),
            );
        }
        for (name, v) in [
            ("frequency_penalty", self.frequency_penalty),
            ("presence_penalty", self.presence_penalty),
        ] {
            if !v.is_finite() {
                return bad(name, format!("must be finite, got {v}"));
            }
        }
        Ok(())
    }
}

/// A seeded sampler.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplerParams,
    rng: rand::rngs::Xoshiro256PlusPlus,
}

impl Sampler {
    /// A sampler with validated `params`.
    pub fn new(params: SamplerParams) -> Result<Self> {
        params.validate()?;
        let rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(params.seed);
        Ok(Self { params, rng })
    }

    /// A sampler with the same parameters and another seed (for another sample of one prompt).
    pub fn reseeded(&self, seed: u64) -> Self {
        let params = SamplerParams {
            seed,
            ..self.params.clone()
        };
        let rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        Self { params, rng }
    }

    /// Picks the next token from `logits` given the tokens so far (`history`, for the penalties).
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let p = &self.params;
        let mut cand: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, l))
            .collect();
        let recent = &history[history.len().saturating_sub(p.penalty_last_n)..];
        if !recent.is_empty()
            && (p.repeat_penalty != 1.0 || p.frequency_penalty != 0.0 || p.presence_penalty != 0.0)
        {
            let mut counts = std::collections::HashMap::new();
            for &t in recent {
                *counts.entry(t).or_insert(0u32) += 1;
            }
            for (&t, &n) in &counts {
                if let Some(c) = cand.get_mut(t as usize) {
                    if c.1 > 0.0 {
                        c.1 /= p.repeat_penalty;
                    } else {
                        c.1 *= p.repeat_penalty;
                    }
                    c.1 -= n as f32 * p.frequency_penalty + p.presence_penalty;
                }
            }
        }
        // Most likely first; ties by token id, so results never depend on the sort's stability.
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if p.temperature <= 0.0 {
            return cand.iter().min_by(|a, b| order(a, b)).map_or(0, |c| c.0);
        }
        if p.top_k > 0 && p.top_k < cand.len() {
            // Partial selection first: sorting a 150k vocabulary every step would dominate decoding.
            cand.select_nth_unstable_by(p.top_k - 1, order);
            cand.truncate(p.top_k);
        }
        cand.sort_by(order);
        let max = cand[0].1;
        let mut probs: Vec<f32> = cand.iter().map(|c| (c.1 - max).exp()).collect();
        let sum: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|q| *q /= sum);
        if p.top_p < 1.0 {
            let mut acc = 0.0;
            let keep = probs
                .iter()
                .position(|&q| {
                    acc += q;
                    acc >= p.top_p
                })
                .map_or(probs.len(), |i| i + 1);
            cand.truncate(keep);
        }
        if p.min_p > 0.0 {
            let floor = p.min_p * probs[0];
            let keep = probs
                .iter()
                .take(cand.len())
                .take_while(|&&q| q >= floor)
                .count()
                .max(1);
            cand.truncate(keep);
        }
        // Temperature on the surviving logits, then a draw.
        let weights: Vec<f32> = cand
            .iter()
            .map(|c| ((c.1 - max) / p.temperature).exp())
            .collect();
        let total: f32 = weights.iter().sum();
        let mut u = self.rng.random::<f32>() * total;
        for (c, w) in cand.iter().zip(&weights) {
            if u < *w {
                return c.0;
            }
            u -= w;
        }
        cand[cand.len() - 1].0
    }
}

/// Log-probabilities of the model's distribution (log-softmax of `logits`).
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max
        + logits
            .iter()
            .map(|l| ((l - max) as f64).exp())
            .sum::<f64>()
            .ln() as f32;
    logits.iter().map(|l| l - lse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![1.0, 3.0, 2.0, 0.5, 2.9]
    }

    #[test]
    fn zero_temperature_and_top_k_one_are_greedy() {
        let mut s = Sampler::new(SamplerParams {
            temperature: 0.0,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.sample(&logits(), &[]), 1);
        let mut s = Sampler::new(SamplerParams {
            top_k: 1,
            seed: 4,
            ..Default::default()
        })
        .unwrap();
        for _ in 0..20 {
            assert_eq!(s.sample(&logits(), &[]), 1);
        }
    }

    #[test]
    fn draws_follow_the_softmax_and_repeat_for_a_seed() {
        let mut s = Sampler::new(SamplerParams {
            seed: 7,
            ..Default::default()
        })
        .unwrap();
        let n = 50_000;
        let mut counts = [0usize; 5];
        for _ in 0..n {
            counts[s.sample(&logits(), &[]) as usize] += 1;
        }
        let z: f32 = logits().iter().map(|l| l.exp()).sum();
        for (i, &c) in counts.iter().enumerate() {
            let want = logits()[i].exp() / z;
            assert!((c as f32 / n as f32 - want).abs() < 0.01, "{i}: {c}");
        }
        let draw = |seed| {
            let mut s = Sampler::new(SamplerParams {
                seed,
                ..Default::default()
            })
            .unwrap();
            (0..10)
                .map(|_| s.sample(&logits(), &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    #[test]
    fn filters_and_penalties() {
        // top-p 0.5 keeps tokens 1 and 4 only (p ~ 0.36 + 0.33).
        let mut s = Sampler::new(SamplerParams {
            top_p: 0.5,
            seed: 1,
            ..Default::default()
        })
        .unwrap();
        for _ in 0..200 {
            assert!(matches!(s.sample(&logits(), &[]), 1 | 4));
        }
        // min-p 0.9 keeps tokens within 10% of the best: 1 and 4 (e^-0.1 = 0.905).
        let mut s = Sampler::new(SamplerParams {
            min_p: 0.9,
            seed: 1,
            ..Default::default()
        })
        .unwrap();
        for _ in 0..200 {
            assert!(matches!(s.sample(&logits(), &[]), 1 | 4));
        }
        // A heavy presence penalty on token 1 makes greedy pick token 4.
        let mut s = Sampler::new(SamplerParams {
            temperature: 0.0,
            presence_penalty: 5.0,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.sample(&logits(), &[1]), 4);
        assert!(Sampler::new(SamplerParams {
            top_p: 0.0,
            ..Default::default()
        })
        .is_err());
        assert!(Sampler::new(SamplerParams {
            repeat_penalty: 0.0,
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn log_softmax_normalises() {
        let l = log_softmax(&logits());
        let s: f32 = l.iter().map(|v| v.exp()).sum();
        assert!((s - 1.0).abs() < 1e-6);
    }
}
