//! Inverse-temperature schedules of simulated annealing.
//!
//! Deterministic schedules are expanded to one beta per sweep before the run; the adaptive and Langevin
//! schedules evolve during each read (from its acceptance rate, or from its own noise stream).

use crate::error::{invalid, positive, Result};
use crate::rng::{rng_for, Rng, Stream};
use rand::RngExt;
use rand_distr::StandardNormal;

/// How beta moves from the hot to the cold end of `beta_range` over the sweeps.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// beta_t = beta_hot * (beta_cold / beta_hot)^(t / (S - 1)), as dwave-samplers' default.
    Geometric,
    /// beta_t linear from beta_hot to beta_cold.
    Linear,
    /// The logarithmic law of Geman & Geman, T_t = a / ln(b + t), with a and b fitted so that it runs
    /// from T_hot = 1 / beta_hot at t = 0 to T_cold = 1 / beta_cold at the last sweep: it cools fast
    /// at first and ever more slowly.
    Logarithmic,
    /// Steers beta after each sweep so that the observed acceptance rate follows a target that decays
    /// geometrically from `initial_acceptance` to `final_acceptance`; starts at beta_hot.
    Adaptive {
        /// Target acceptance rate at the first sweep.
        initial_acceptance: f64,
        /// Target acceptance rate at the last sweep.
        final_acceptance: f64,
    },
    /// The user's betas, one per sweep (the number of sweeps is their count).
    Custom(Vec<f64>),
    /// Stochastic temperature (Euler-Maruyama of dT = -gamma T dt + eta sqrt(T) dW, dt = 1 sweep) from
    /// T_hot = 1 / beta_hot, kept within [T_cold, 10 T_hot]; each read draws its own path.
    Langevin {
        /// Cooling rate per sweep; None: ln(T_hot / T_cold) / (S - 1), so the mean path ends at T_cold.
        gamma: Option<f64>,
        /// Noise amplitude; None: gamma * sqrt(T_hot) / 2.
        eta: Option<f64>,
    },
}

/// A schedule ready to drive one read.
#[derive(Debug, Clone)]
pub(crate) enum Driver {
    /// One beta per sweep.
    Fixed(Vec<f64>),
    /// Acceptance-steered beta.
    Adaptive {
        beta_hot: f64,
        initial: f64,
        last: f64,
        sweeps: usize,
    },
    /// Stochastic temperature.
    Langevin {
        t_hot: f64,
        t_cold: f64,
        gamma: f64,
        eta: f64,
        sweeps: usize,
    },
}

fn check_beta_range((hot, cold): (f64, f64)) -> Result<(f64, f64)> {
    positive("beta_range", hot)?;
    positive("beta_range", cold)?;
    if cold < hot {
        return Err(invalid(
            "beta_range",
            format!("must be (hot, cold) with hot <= cold, got ({hot}, {cold})"),
        ));
    }
    Ok((hot, cold))
}

/// `num_sweeps` betas geometrically spaced from `hot` to `cold`.
pub fn geometric(hot: f64, cold: f64, num_sweeps: usize) -> Vec<f64> {
    if num_sweeps == 1 {
        return vec![cold];
    }
    let ratio = (cold / hot).ln() / (num_sweeps - 1) as f64;
    (0..num_sweeps)
        .map(|t| hot * (ratio * t as f64).exp())
        .collect()
}

/// `num_sweeps` betas of T_t = a / ln(b + t) from `hot` to `cold` (see [`Schedule::Logarithmic`]).
pub fn logarithmic(hot: f64, cold: f64, num_sweeps: usize) -> Vec<f64> {
    let ratio = cold / hot; // = T_hot / T_cold >= 1
    let last = num_sweeps.saturating_sub(1) as f64;
    if num_sweeps == 1 || ratio <= 1.0 + 1e-12 {
        return geometric(hot, cold, num_sweeps);
    }
    // b solves ln(b + last) = ratio * ln(b); the left side wins near b = 1, the right for large b.
    let f = |b: f64| (b + last).ln() - ratio * b.ln();
    let (mut lo, mut hi) = (1.0 + 1e-15, 2.0);
    while f(hi) > 0.0 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let b = 0.5 * (lo + hi);
    let a = b.ln() / hot; // T_hot = a / ln b
    (0..num_sweeps)
        .map(|t| ((b + t as f64).ln() / a).clamp(hot, cold))
        .collect()
}

impl Schedule {
    /// Number of sweeps this schedule runs when `num_sweeps` is asked for (custom: its length).
    pub fn sweeps(&self, num_sweeps: usize) -> usize {
        match self {
            Schedule::Custom(b) => b.len(),
            _ => num_sweeps,
        }
    }

    /// Validates the schedule and turns it into a driver for `num_sweeps` sweeps over `beta_range`.
    /// One beta per sweep for the deterministic schedules (all but adaptive and Langevin), checked as
    /// [`crate::simulated_annealing`] checks them.
    ///
    /// # Errors
    /// The schedule's own errors, and [`crate::Error::InvalidArgument`] naming `schedule` for the adaptive and
    /// Langevin schedules, which steer each read separately.
    pub fn fixed_betas(&self, beta_range: (f64, f64), num_sweeps: usize) -> Result<Vec<f64>> {
        match self.driver(beta_range, num_sweeps)? {
            Driver::Fixed(betas) => Ok(betas),
            _ => Err(invalid(
                "schedule",
                "adaptive and Langevin schedules have no fixed betas",
            )),
        }
    }

    pub(crate) fn driver(&self, beta_range: (f64, f64), num_sweeps: usize) -> Result<Driver> {
        let sweeps = self.sweeps(num_sweeps);
        if sweeps == 0 {
            return Err(invalid("num_sweeps", "must be at least 1"));
        }
        if let Schedule::Custom(betas) = self {
            for (t, &b) in betas.iter().enumerate() {
                if !(b.is_finite() && b > 0.0) {
                    return Err(invalid(
                        "beta_schedule",
                        format!("beta must be finite and > 0; sweep {t} has {b}"),
                    ));
                }
            }
            return Ok(Driver::Fixed(betas.clone()));
        }
        let (hot, cold) = check_beta_range(beta_range)?;
        let span = (sweeps.max(2) - 1) as f64;
        Ok(match *self {
            Schedule::Geometric => Driver::Fixed(geometric(hot, cold, sweeps)),
            Schedule::Linear => Driver::Fixed(
                (0..sweeps)
                    .map(|t| {
                        if sweeps == 1 {
                            cold
                        } else {
                            hot + (cold - hot) * t as f64 / span
                        }
                    })
                    .collect(),
            ),
            Schedule::Logarithmic => Driver::Fixed(logarithmic(hot, cold, sweeps)),
            Schedule::Adaptive {
                initial_acceptance,
                final_acceptance,
            } => {
                for (name, a) in [
                    ("initial_acceptance", initial_acceptance),
                    ("final_acceptance", final_acceptance),
                ] {
                    if !(a > 0.0 && a < 1.0) {
                        return Err(invalid(name, format!("must be in (0, 1), got {a}")));
                    }
                }
                Driver::Adaptive {
                    beta_hot: hot,
                    initial: initial_acceptance,
                    last: final_acceptance,
                    sweeps,
                }
            }
            Schedule::Langevin { gamma, eta } => {
                let (t_hot, t_cold) = (1.0 / hot, 1.0 / cold);
                let gamma = match gamma {
                    Some(g) => positive("gamma", g)?,
                    None => ((t_hot / t_cold).ln() / span).max(f64::MIN_POSITIVE),
                };
                let eta = match eta {
                    Some(e) if e.is_finite() && e >= 0.0 => e,
                    Some(e) => {
                        return Err(invalid("eta", format!("must be finite and >= 0, got {e}")))
                    }
                    None => 0.5 * gamma * t_hot.sqrt(),
                };
                Driver::Langevin {
                    t_hot,
                    t_cold,
                    gamma,
                    eta,
                    sweeps,
                }
            }
            Schedule::Custom(_) => unreachable!("handled above"),
        })
    }
}

impl Driver {
    /// Number of sweeps.
    pub(crate) fn sweeps(&self) -> usize {
        match self {
            Driver::Fixed(b) => b.len(),
            Driver::Adaptive { sweeps, .. } | Driver::Langevin { sweeps, .. } => *sweeps,
        }
    }

    /// The per-read state that yields beta sweep by sweep.
    pub(crate) fn start(&self, seed: u64, read: u64) -> Cursor<'_> {
        let beta = match *self {
            Driver::Fixed(ref b) => b[0],
            Driver::Adaptive { beta_hot, .. } => beta_hot,
            Driver::Langevin { t_hot, .. } => 1.0 / t_hot,
        };
        let noise = match self {
            Driver::Langevin { .. } => Some(rng_for(seed, Stream::Schedule, read)),
            _ => None,
        };
        Cursor {
            driver: self,
            beta,
            temperature: 1.0 / beta,
            noise,
        }
    }
}

/// Beta of the current sweep of one read.
pub(crate) struct Cursor<'a> {
    driver: &'a Driver,
    beta: f64,
    temperature: f64,
    noise: Option<Rng>,
}

impl Cursor<'_> {
    /// Beta for sweep `t`.
    #[inline]
    pub(crate) fn beta(&self, t: usize) -> f64 {
        match self.driver {
            Driver::Fixed(b) => b[t],
            _ => self.beta,
        }
    }

    /// Moves on after sweep `t`, which accepted `acceptance` of its attempts.
    pub(crate) fn after_sweep(&mut self, t: usize, acceptance: f64) {
        match *self.driver {
            Driver::Fixed(_) => {}
            Driver::Adaptive {
                initial,
                last,
                sweeps,
                ..
            } => {
                let frac = (t + 1) as f64 / (sweeps.max(2) - 1) as f64;
                let target = initial * (last / initial).powf(frac.min(1.0));
                // Multiplicative feedback on the log-acceptance error, bounded so one noisy sweep
                // cannot throw beta far; the floor avoids log(0) on frozen sweeps.
                let err = acceptance.max(1e-6).ln() - target.ln();
                self.beta *= err.clamp(-0.25, 0.25).exp();
            }
            Driver::Langevin {
                t_hot,
                t_cold,
                gamma,
                eta,
                ..
            } => {
                let xi: f64 = match self.noise.as_mut() {
                    Some(r) => r.sample(StandardNormal),
                    None => 0.0,
                };
                let t_now = self.temperature;
                let next = t_now - gamma * t_now + eta * t_now.sqrt() * xi;
                self.temperature = next.clamp(t_cold, 10.0 * t_hot);
                self.beta = 1.0 / self.temperature;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(s: &Schedule, range: (f64, f64), n: usize) -> Vec<f64> {
        match s.driver(range, n).unwrap() {
            Driver::Fixed(b) => b,
            _ => panic!("not fixed"),
        }
    }

    #[test]
    fn deterministic_schedules_span_the_range() {
        let g = fixed(&Schedule::Geometric, (0.1, 10.0), 5);
        assert!((g[0] - 0.1).abs() < 1e-12 && (g[4] - 10.0).abs() < 1e-9);
        assert!((g[2] - 1.0).abs() < 1e-9);
        let l = fixed(&Schedule::Linear, (1.0, 3.0), 3);
        assert_eq!(l, vec![1.0, 2.0, 3.0]);
        let lg = fixed(&Schedule::Logarithmic, (0.5, 100.0), 1000);
        assert!(
            (lg[0] - 0.5).abs() < 1e-9 && (lg[999] - 100.0).abs() < 1e-6,
            "{lg:?}"
        );
        assert!(lg.windows(2).all(|w| w[1] > w[0]));
        // beta_t = ln(b + t) / a: concave, its increments shrink like 1 / (b + t).
        let steps: Vec<f64> = lg.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(steps.windows(2).all(|w| w[1] < w[0]));
        assert!(steps[0] / steps[998] > 100.0);
    }

    #[test]
    fn bad_schedules_are_rejected() {
        assert!(Schedule::Geometric.driver((0.0, 1.0), 10).is_err());
        assert!(Schedule::Geometric.driver((2.0, 1.0), 10).is_err());
        assert!(Schedule::Geometric.driver((1.0, 2.0), 0).is_err());
        assert!(Schedule::Custom(vec![1.0, -1.0])
            .driver((1.0, 2.0), 10)
            .is_err());
        assert!(Schedule::Custom(vec![]).driver((1.0, 2.0), 10).is_err());
        let a = Schedule::Adaptive {
            initial_acceptance: 1.5,
            final_acceptance: 0.1,
        };
        assert!(a.driver((1.0, 2.0), 10).is_err());
    }

    #[test]
    fn langevin_mean_path_cools_towards_cold_end() {
        let d = Schedule::Langevin {
            gamma: None,
            eta: Some(0.0),
        }
        .driver((0.1, 10.0), 101)
        .unwrap();
        let mut c = d.start(1, 0);
        for t in 0..100 {
            c.after_sweep(t, 0.5);
        }
        // Euler steps of exp decay land near (not exactly at) T_cold; the clamp keeps T >= T_cold.
        assert!(
            c.beta(100) > 5.0 && c.beta(100) <= 10.0 + 1e-9,
            "{}",
            c.beta(100)
        );
    }
}
