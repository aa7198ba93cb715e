//! Random streams: one independent, seeded generator per read (and per replica), so results never
//! depend on how reads are spread over threads.

use rand::{Rng as _, SeedableRng};

/// The generator of every Monte Carlo loop: xoshiro256++ (fast, 256-bit state, passes BigCrush).
pub type Rng = rand::rngs::Xoshiro256PlusPlus;

/// Streams drawn from one seed, kept apart by purpose so adding a stream never shifts another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Metropolis decisions and initial states of a read.
    Read = 1,
    /// Temperature noise of the Langevin schedule.
    Schedule = 2,
    /// Replica swaps of a replica-exchange read.
    Swaps = 3,
    /// Starting points of the simplex minimiser.
    Simplex = 4,
}

/// SplitMix64 mixing of (seed, stream, index): well-separated seeds for nearby indices.
pub fn derive_seed(seed: u64, stream: Stream, index: u64) -> u64 {
    let mut z = seed
        .wrapping_add((stream as u64).wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator for `index` in `stream` of `seed`.
pub fn rng_for(seed: u64, stream: Stream, index: u64) -> Rng {
    Rng::seed_from_u64(derive_seed(seed, stream, index))
}

/// A uniform draw in [0, 1) with 53 random bits.
#[inline(always)]
pub fn uniform(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniformly random spin, -1 or +1.
#[inline]
pub fn random_spin(rng: &mut Rng) -> i8 {
    if rng.next_u64() >> 63 == 0 {
        -1
    } else {
        1
    }
}

/// Beyond this exponent `exp(-x)` is below 2^-53, the smallest non-zero uniform draw, so a Metropolis
/// move is rejected without drawing (the acceptance it drops is < 1.2e-16).
const MAX_EXPONENT: f64 = 36.8;

/// The Metropolis rule for a change `x = beta * dE` of the action: accept with min(1, exp(-x)).
///
/// The decision is u < exp(-x), i.e. u e^x < 1. Since e^x >= 1 + x + x^2/2 + x^3/6 for x >= 0, a draw
/// with u (1 + x + x^2/2 + x^3/6) >= 1 is certainly rejected, and since exp(-x) >= 1 - x + x^2/2 -
/// x^3/6, a draw below that is certainly accepted; the exponential is only evaluated for the few
/// draws between the bounds (a small margin absorbs rounding, so decisions are exactly those of the
/// plain rule).
#[inline(always)]
pub fn metropolis(rng: &mut Rng, x: f64) -> bool {
    if x >= MAX_EXPONENT {
        return false;
    }
    let u = uniform(rng);
    // Alternating Taylor series cut after a negative term: a lower bound of exp(-x) for x >= 0, and
    // >= 1 > u for x <= 0, so downhill moves take this branch too (one predictable branch at high
    // acceptance instead of a coin-flip one on the sign of x).
    let below = 1.0 - x * (1.0 - x * (0.5 - x * (1.0 / 6.0)));
    if u < below - if x > 0.0 { 1e-12 } else { 0.0 } {
        return true;
    }
    let taylor = 1.0 + x * (1.0 + x * (0.5 + x * (1.0 / 6.0)));
    if u * taylor >= 1.0 + 1e-12 {
        return false;
    }
    u < (-x).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        assert_ne!(
            derive_seed(1, Stream::Read, 0),
            derive_seed(1, Stream::Read, 1)
        );
        assert_ne!(
            derive_seed(1, Stream::Read, 0),
            derive_seed(1, Stream::Swaps, 0)
        );
        assert_eq!(
            derive_seed(7, Stream::Read, 3),
            derive_seed(7, Stream::Read, 3)
        );
    }

    #[test]
    fn uniform_in_unit_interval_with_right_mean() {
        let mut r = rng_for(3, Stream::Read, 0);
        let n = 200_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let u = uniform(&mut r);
            assert!((0.0..1.0).contains(&u));
            sum += u;
        }
        assert!((sum / n as f64 - 0.5).abs() < 0.005);
    }

    #[test]
    fn metropolis_acceptance_matches_exp() {
        let mut r = rng_for(5, Stream::Read, 0);
        let n = 200_000;
        let accepted = (0..n).filter(|_| metropolis(&mut r, 1.0)).count();
        let p = accepted as f64 / n as f64;
        assert!((p - (-1.0f64).exp()).abs() < 0.005, "{p}");
        assert!(metropolis(&mut r, -3.0));
        assert!(!metropolis(&mut r, 100.0));
    }

    #[test]
    fn metropolis_decisions_equal_the_plain_rule() {
        // Same stream, same draws: the shortcut never changes a decision.
        for x in [
            1e-9f64, 1e-4, 0.01, 0.1, 0.3, 0.7, 1.0, 2.5, 7.0, 20.0, 36.0,
        ] {
            let (mut a, mut b) = (rng_for(8, Stream::Read, 0), rng_for(8, Stream::Read, 0));
            for _ in 0..50_000 {
                let plain = uniform(&mut b) < (-x).exp();
                assert_eq!(metropolis(&mut a, x), plain, "x = {x}");
            }
        }
    }
}
