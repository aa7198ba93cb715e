//! Seeded benchmark instances: Sherrington-Kirkpatrick, random d-regular, and planted frustrated loops
//! (Hen et al. 2015) whose ground energy is known by construction.

use crate::error::{invalid, Result};
use crate::limits::{check_memory, check_work};
use crate::problem::{Coupling, IsingProblem};
use crate::rng::{rng_for, Rng, Stream};
use rand::{Rng as _, RngExt};

fn random_sign(rng: &mut Rng) -> f64 {
    if rng.next_u64() >> 63 == 0 {
        -1.0
    } else {
        1.0
    }
}

/// Bytes one coupling costs while a problem is built (the triple, its merged copy, two CSR entries).
const BYTES_PER_COUPLING: usize = 96;

/// Problems hold spin indices as u32.
fn check_spins(n: usize) -> Result<()> {
    if n > u32::MAX as usize {
        return Err(invalid("n", format!("at most 2^32 - 1 spins, got {n}")));
    }
    Ok(())
}

/// Sherrington-Kirkpatrick: all pairs coupled with J_ij = +-1 (equally likely), no fields.
pub fn sherrington_kirkpatrick(n: usize, seed: u64) -> Result<IsingProblem> {
    if n < 2 {
        return Err(invalid("n", format!("must be at least 2, got {n}")));
    }
    check_spins(n)?;
    // n (n - 1) / 2 pairs, each held about four times over while the problem is built.
    check_memory(
        "n",
        &[(n, ((n - 1) / 2).saturating_mul(BYTES_PER_COUPLING))],
    )?;
    let mut rng = rng_for(seed, Stream::Read, 0);
    let mut j = Vec::with_capacity(n * (n - 1) / 2);
    for a in 0..n {
        for b in a + 1..n {
            j.push((a, b, random_sign(&mut rng)));
        }
    }
    IsingProblem::new(vec![0.0; n], &j, 0.0)
}

/// The edges of a uniformly random simple d-regular graph (configuration model with rejection).
pub fn regular_graph(n: usize, degree: usize, seed: u64) -> Result<Vec<(usize, usize)>> {
    if degree == 0 || degree >= n || !n.saturating_mul(degree).is_multiple_of(2) {
        return Err(invalid(
            "degree",
            format!("need 0 < degree < n and n * degree even, got n = {n}, degree = {degree}"),
        ));
    }
    check_spins(n)?;
    // n d stubs, then n d / 2 edges and their couplings.
    check_memory("n", &[(n, degree.saturating_mul(BYTES_PER_COUPLING))])?;
    let mut rng = rng_for(seed, Stream::Read, 1);
    for _attempt in 0..10_000 {
        let mut stubs: Vec<usize> = (0..n)
            .flat_map(|v| std::iter::repeat_n(v, degree))
            .collect();
        for i in (1..stubs.len()).rev() {
            stubs.swap(i, rng.random_range(0..=i));
        }
        let mut edges: Vec<(usize, usize)> = stubs
            .chunks(2)
            .map(|p| (p[0].min(p[1]), p[0].max(p[1])))
            .collect();
        edges.sort_unstable();
        let simple = edges.iter().all(|&(a, b)| a != b) && edges.windows(2).all(|w| w[0] != w[1]);
        if simple {
            return Ok(edges);
        }
    }
    Err(invalid(
        "degree",
        "no simple regular graph found in 10000 tries; lower the degree",
    ))
}

/// Random d-regular graph with J_ij = +-1 on its edges, no fields.
pub fn random_regular(n: usize, degree: usize, seed: u64) -> Result<IsingProblem> {
    let edges = regular_graph(n, degree, seed)?;
    let mut rng = rng_for(seed, Stream::Read, 2);
    let j: Vec<Coupling> = edges
        .into_iter()
        .map(|(a, b)| (a, b, random_sign(&mut rng)))
        .collect();
    IsingProblem::new(vec![0.0; n], &j, 0.0)
}

/// A planted instance: `loops` frustrated cycles of `loop_length` distinct random spins. Each cycle is
/// satisfied by a hidden random state on all its edges but one, so every cycle's energy is at least
/// -(L - 2) and the hidden state reaches that on all cycles at once. Returns the problem, the hidden
/// state and the ground energy -(L - 2) * loops.
pub fn planted_frustrated_loops(
    n: usize,
    loops: usize,
    loop_length: usize,
    seed: u64,
) -> Result<(IsingProblem, Vec<i8>, f64)> {
    if loop_length < 3 || loop_length > n {
        return Err(invalid(
            "loop_length",
            format!("must be in 3..=n, got {loop_length} for n = {n}"),
        ));
    }
    if loops == 0 {
        return Err(invalid("loops", "must be at least 1"));
    }
    check_spins(n)?;
    check_work(&[("loops", loops), ("loop_length", loop_length)])?;
    check_memory("n", &[(n, 24)])?;
    check_memory(
        "loops",
        &[(loops, loop_length.saturating_mul(BYTES_PER_COUPLING))],
    )?;
    let mut rng = rng_for(seed, Stream::Read, 3);
    let hidden: Vec<i8> = (0..n).map(|_| random_sign(&mut rng) as i8).collect();
    let mut j = Vec::with_capacity(loops * loop_length);
    let mut pool: Vec<usize> = (0..n).collect();
    for _ in 0..loops {
        // Partial Fisher-Yates: the first loop_length entries are distinct random spins.
        for i in 0..loop_length {
            let k = rng.random_range(i..n);
            pool.swap(i, k);
        }
        let frustrated = rng.random_range(0..loop_length);
        for e in 0..loop_length {
            let (a, b) = (pool[e], pool[(e + 1) % loop_length]);
            let satisfied = -(hidden[a] * hidden[b]) as f64;
            j.push((
                a,
                b,
                if e == frustrated {
                    -satisfied
                } else {
                    satisfied
                },
            ));
        }
    }
    let problem = IsingProblem::new(vec![0.0; n], &j, 0.0)?;
    let ground = -(((loop_length - 2) * loops) as f64);
    Ok((problem, hidden, ground))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_graph_is_simple_and_regular() {
        let e = regular_graph(100, 3, 7).unwrap();
        let mut deg = vec![0; 100];
        for &(a, b) in &e {
            deg[a] += 1;
            deg[b] += 1;
        }
        assert!(deg.iter().all(|&d| d == 3));
        assert!(regular_graph(5, 3, 1).is_err());
    }

    #[test]
    fn planted_state_has_the_planted_energy() {
        let (p, hidden, ground) = planted_frustrated_loops(50, 30, 5, 3).unwrap();
        assert!((p.energy(&hidden) - ground).abs() < 1e-9);
        let flipped: Vec<i8> = hidden.iter().map(|&s| -s).collect();
        assert!((p.energy(&flipped) - ground).abs() < 1e-9);
    }
}
