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
    /// Adapt temperature and branching to the next-token entropy and varentropy (None: off).
    pub entropy_guide: Option<EntropyGuide>,
}

/// Entropy-guided sampling, after the entropix sampler: the entropy H and varentropy V (variance of
/// the surprisal, both in nats, at temperature 1 after the penalties) of each next-token distribution
/// pick the move. A confident step (H and V both low) takes the most likely token; a fork (V high:
/// a few very different continuations) samples hotter; elsewhere several tokens are drawn and the
/// most likely of them kept, which leans towards the mode without being greedy. The defaults are
/// entropix's thresholds (0.1 and 5 bits) in nats; top-k, top-p and min-p still apply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntropyGuide {
    /// Entropy below which (with varentropy below `confident_varentropy`) the step is greedy.
    pub confident_entropy: f32,
    /// Varentropy below which (with entropy below `confident_entropy`) the step is greedy.
    pub confident_varentropy: f32,
    /// Varentropy above which the step is a fork, sampled at `fork_temperature` times the temperature.
    pub fork_varentropy: f32,
    /// Temperature multiplier at a fork.
    pub fork_temperature: f32,
    /// Tokens drawn elsewhere, the most likely kept (1: a plain draw).
    pub branches: usize,
}

impl Default for EntropyGuide {
    fn default() -> Self {
        let bits = std::f32::consts::LN_2;
        Self {
            confident_entropy: 0.1 * bits,
            confident_varentropy: 0.1 * bits,
            fork_varentropy: 5.0 * bits,
            fork_temperature: 1.3,
            branches: 5,
        }
    }
}

/// Entropy and varentropy (nats) of the softmax of `logits`.
pub fn entropy_varentropy(logits: impl Iterator<Item = f32> + Clone) -> (f64, f64) {
    let max = logits.clone().fold(f32::NEG_INFINITY, f32::max) as f64;
    let (mut z, mut s1, mut s2) = (0.0f64, 0.0f64, 0.0f64);
    for l in logits {
        let x = l as f64 - max;
        let e = x.exp();
        z += e;
        s1 += e * x;
        s2 += e * x * x;
    }
    // log p = x - ln z: H = ln z - E[x], V = Var[x].
    let (m1, m2) = (s1 / z, s2 / z);
    (z.ln() - m1, (m2 - m1 * m1).max(0.0))
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
            entropy_guide: None,
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
        if let Some(g) = &self.entropy_guide {
            for (name, v) in [
                ("confident_entropy", g.confident_entropy),
                ("confident_varentropy", g.confident_varentropy),
                ("fork_varentropy", g.fork_varentropy),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    return bad(name, format!("must be finite and >= 0, got {v}"));
                }
            }
            if !(g.fork_temperature.is_finite() && g.fork_temperature > 0.0) {
                return bad(
                    "fork_temperature",
                    format!("must be > 0, got {}", g.fork_temperature),
                );
            }
            if !(1..=64).contains(&g.branches) {
                return bad(
                    "branches",
                    format!("must be in [1, 64], got {}", g.branches),
                );
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
        let greedy =
            |cand: &[(u32, f32)]| cand.iter().min_by(|a, b| order(a, b)).map_or(0, |c| c.0);
        if p.temperature <= 0.0 {
            return greedy(&cand);
        }
        let (mut temperature, mut draws) = (p.temperature, 1);
        if let Some(g) = &p.entropy_guide {
            let (h, v) = entropy_varentropy(cand.iter().map(|c| c.1));
            if h < g.confident_entropy as f64 && v < g.confident_varentropy as f64 {
                return greedy(&cand);
            }
            if v > g.fork_varentropy as f64 {
                temperature *= g.fork_temperature;
            } else {
                draws = g.branches;
            }
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
        // Temperature on the surviving logits, then a draw (the most likely of `draws` draws: the
        // candidates are sorted most likely first, so that is the smallest index drawn).
        let weights: Vec<f32> = cand
            .iter()
            .map(|c| ((c.1 - max) / temperature).exp())
            .collect();
        let total: f32 = weights.iter().sum();
        let best = (0..draws)
            .map(|_| self.draw(&weights, total))
            .min()
            .unwrap_or(0);
        cand[best].0
    }

    /// The index drawn from `weights` (summing to `total`).
    fn draw(&mut self, weights: &[f32], total: f32) -> usize {
        let mut u = self.rng.random::<f32>() * total;
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return i;
            }
            u -= w;
        }
        weights.len() - 1
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

    fn guided(guide: EntropyGuide, seed: u64) -> Sampler {
        Sampler::new(SamplerParams {
            seed,
            entropy_guide: Some(guide),
            ..Default::default()
        })
        .unwrap()
    }

    /// How often each of `logits`' tokens comes out of `n` draws.
    fn frequencies(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<f64> {
        let mut counts = vec![0usize; logits.len()];
        for _ in 0..n {
            counts[s.sample(logits, &[]) as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    #[test]
    fn entropy_and_varentropy_match_their_definitions() {
        let l = logits();
        let lp: Vec<f64> = log_softmax(&l).iter().map(|&v| v as f64).collect();
        let h: f64 = -lp.iter().map(|v| v.exp() * v).sum::<f64>();
        let v: f64 = lp.iter().map(|x| x.exp() * (x + h) * (x + h)).sum::<f64>();
        let (gh, gv) = entropy_varentropy(l.iter().copied());
        assert!(
            (gh - h).abs() < 1e-6 && (gv - v).abs() < 1e-6,
            "{gh} {gv} vs {h} {v}"
        );
        // Uniform over 8: H = ln 8, V = 0.
        let (uh, uv) = entropy_varentropy([0.5f32; 8].into_iter());
        assert!((uh - 8f64.ln()).abs() < 1e-12 && uv.abs() < 1e-12);
    }

    #[test]
    fn a_confident_step_is_greedy_and_elsewhere_branches_lean_to_the_mode() {
        // A near one-hot distribution: H and V below the default thresholds, always the argmax.
        let sharp = [0.0f32, 20.0, 1.0, 0.5];
        let mut s = guided(EntropyGuide::default(), 3);
        assert!((0..200).all(|_| s.sample(&sharp, &[]) == 1));
        // The most likely of 5 draws from p picks token 1 with probability 1 - (1 - p1)^5.
        let l = logits();
        let p1 = log_softmax(&l)[1].exp() as f64;
        let f = frequencies(&mut guided(EntropyGuide::default(), 5), &l, 40_000);
        let want = 1.0 - (1.0 - p1).powi(5);
        assert!((f[1] - want).abs() < 0.01, "{} vs {want}", f[1]);
        // One branch and no greedy zone: the plain softmax draw.
        let plain = EntropyGuide {
            confident_entropy: 0.0,
            branches: 1,
            ..Default::default()
        };
        let f = frequencies(&mut guided(plain, 5), &l, 40_000);
        assert!((f[1] - p1).abs() < 0.01, "{} vs {p1}", f[1]);
    }

    #[test]
    fn a_fork_samples_hotter() {
        // Two likely tokens and a long unlikely tail: varentropy far above the fork threshold of 0.
        let mut l = vec![-12.0f32; 1000];
        l[0] = 0.0;
        l[1] = -1.0;
        let fork = EntropyGuide {
            fork_varentropy: 0.0,
            fork_temperature: 2.0,
            ..Default::default()
        };
        let (_, v) = entropy_varentropy(l.iter().copied());
        assert!(v > 0.0);
        let f = frequencies(&mut guided(fork, 9), &l, 40_000);
        // At temperature 2 the ratio p0/p1 is e^(1/2), not e.
        let ratio = f[0] / f[1];
        assert!((ratio - 0.5f64.exp()).abs() < 0.1, "{ratio}");
        let bad = EntropyGuide {
            branches: 0,
            ..Default::default()
        };
        assert!(Sampler::new(SamplerParams {
            entropy_guide: Some(bad),
            ..Default::default()
        })
        .is_err());
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
