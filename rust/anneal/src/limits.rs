//! Up-front limits on what one call may ask for, checked before anything is allocated or run, so that an
//! absurd count gives a clear error naming the argument instead of aborting the process on a failed
//! allocation, overflowing a size, or running for years.
//!
//! * Work: a run may make at most [`MAX_SPIN_UPDATES`] (2^44) single-spin updates (reads x sweeps x spins, times
//!   Trotter slices or replicas); beyond that [`crate::Error::InvalidArgument`] names the largest count.
//! * Memory: the bytes the run will hold at once are estimated and reserved once, fallibly, before it
//!   starts; when the reservation fails (or the size overflows) [`crate::Error::OutOfMemory`] names the
//!   argument that sized it. The reservation is released at once; it only proves the memory is there.

use crate::error::{Error, Result};

/// Most single-spin updates one call may make: 2^44 (about 1.8e13: hours of CPU time, minutes on a GPU).
pub const MAX_SPIN_UPDATES: u128 = 1 << 44;

/// Refuses a run whose work, the product of `counts`, exceeds [`MAX_SPIN_UPDATES`]; the error names
/// the largest of the counts.
pub(crate) fn check_work(counts: &[(&'static str, usize)]) -> Result<()> {
    let work = counts
        .iter()
        .fold(1u128, |acc, &(_, c)| acc.saturating_mul(c as u128));
    if work <= MAX_SPIN_UPDATES {
        return Ok(());
    }
    let &(name, _) = counts
        .iter()
        .max_by_key(|&&(_, c)| c)
        .unwrap_or(&("num_sweeps", 0));
    let listed = counts
        .iter()
        .map(|(n, c)| format!("{n}={c}"))
        .collect::<Vec<_>>()
        .join(" x ");
    Err(crate::error::invalid(
        name,
        format!(
            "the run would make {work} spin updates ({listed}), more than the {MAX_SPIN_UPDATES} \
             (2^44) one call accepts"
        ),
    ))
}

/// Checks that `parts` (element counts times bytes per element) can be allocated together: the sum is
/// reserved fallibly and released. `name` is the argument blamed when it cannot.
pub(crate) fn check_memory(name: &'static str, parts: &[(usize, usize)]) -> Result<()> {
    let bytes = parts.iter().fold(0u128, |acc, &(n, size)| {
        acc.saturating_add((n as u128).saturating_mul(size as u128))
    });
    let oom = || Error::OutOfMemory { name, bytes };
    let want = usize::try_from(bytes)
        .ok()
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(oom)?;
    let mut probe: Vec<u8> = Vec::new();
    probe.try_reserve_exact(want).map_err(|_| oom())
}

/// The memory checks every sampler makes: `num_reads` returned states and energies of `n` spins, their
/// energy traces (one point every `trace_every` of `sweeps`), and on each worker thread `per_read_bytes`
/// of buffers (blamed on `per_read_name`).
pub(crate) fn check_sampler_memory(
    num_reads: usize,
    n: usize,
    (sweeps, trace_every): (usize, usize),
    per_read_name: &'static str,
    per_read_bytes: usize,
) -> Result<()> {
    check_memory("num_reads", &[(num_reads, n.saturating_add(48))])?;
    let points = sweeps.checked_div(trace_every).unwrap_or(0);
    check_memory("trace_every", &[(num_reads, points.saturating_mul(8))])?;
    let threads = rayon::current_num_threads().min(num_reads).max(1);
    check_memory(per_read_name, &[(threads, per_read_bytes)])
}

/// `a * b`, or an [`Error::OutOfMemory`] naming `name` when the product overflows.
pub(crate) fn product(name: &'static str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or(Error::OutOfMemory {
        name,
        bytes: u128::MAX,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_work_and_memory_are_refused_by_name() {
        assert!(check_work(&[("num_reads", 10), ("num_sweeps", 1000)]).is_ok());
        let e = check_work(&[("num_reads", 1), ("num_sweeps", 1 << 62), ("spins", 10)]);
        assert!(matches!(
            e,
            Err(Error::InvalidArgument {
                name: "num_sweeps",
                ..
            })
        ));
        assert!(check_memory("num_reads", &[(1000, 8)]).is_ok());
        let e = check_memory("trotter_slices", &[(usize::MAX, 9)]);
        assert!(matches!(
            e,
            Err(Error::OutOfMemory {
                name: "trotter_slices",
                ..
            })
        ));
        assert!(product("chains", usize::MAX, 2).is_err());
    }
}
