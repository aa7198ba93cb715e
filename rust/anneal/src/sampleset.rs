//! Results of the samplers: aggregated states with energies and counts, plus run statistics.

/// Distinct states found, sorted by energy (ties: by state), with how many reads returned each.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSet {
    /// Number of spins per state.
    pub num_variables: usize,
    /// Distinct states, row-major (len() x num_variables), spins +-1.
    pub states: Vec<i8>,
    /// Energy of each distinct state.
    pub energies: Vec<f64>,
    /// Number of reads that returned each distinct state.
    pub num_occurrences: Vec<u64>,
}

impl SampleSet {
    /// Aggregates one state per read (row-major, `energies.len()` rows) into distinct states.
    pub fn aggregate(num_variables: usize, states: &[i8], energies: &[f64]) -> Self {
        let n = num_variables;
        let mut order: Vec<usize> = (0..energies.len()).collect();
        let row = |r: usize| &states[r * n..(r + 1) * n];
        order.sort_by(|&a, &b| {
            energies[a]
                .total_cmp(&energies[b])
                .then_with(|| row(a).cmp(row(b)))
        });
        let mut out = SampleSet {
            num_variables: n,
            states: Vec::new(),
            energies: Vec::new(),
            num_occurrences: Vec::new(),
        };
        let mut last: Option<usize> = None;
        for r in order {
            match last {
                Some(l) if row(l) == row(r) => {
                    if let Some(c) = out.num_occurrences.last_mut() {
                        *c += 1;
                    }
                }
                _ => {
                    out.states.extend_from_slice(row(r));
                    out.energies.push(energies[r]);
                    out.num_occurrences.push(1);
                    last = Some(r);
                }
            }
        }
        out
    }

    /// Number of distinct states.
    pub fn len(&self) -> usize {
        self.energies.len()
    }

    /// True when there are no states.
    pub fn is_empty(&self) -> bool {
        self.energies.is_empty()
    }

    /// The lowest-energy state and its energy.
    pub fn best(&self) -> Option<(&[i8], f64)> {
        (!self.is_empty()).then(|| (&self.states[..self.num_variables], self.energies[0]))
    }

    /// Number of reads in total.
    pub fn num_reads(&self) -> u64 {
        self.num_occurrences.iter().sum()
    }
}

/// Energies recorded every `every` sweeps of each read (reads x points, row-major).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    /// Sweeps between two recorded energies.
    pub every: usize,
    /// Recorded points per read.
    pub points: usize,
    /// The energies, read by read.
    pub energies: Vec<f64>,
}

/// What every sampler reports besides its states.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunStats {
    /// Fraction of accepted single-spin moves, per read.
    pub acceptance_rates: Vec<f64>,
    /// Single-spin flip attempts over all reads.
    pub flip_attempts: u64,
    /// Wall time of the sampling, in seconds.
    pub elapsed_seconds: f64,
    /// Thinned energy traces, when asked for.
    pub trace: Option<Trace>,
}

/// One read's outcome, before aggregation.
#[derive(Debug, Clone)]
pub(crate) struct ReadOutcome {
    pub state: Vec<i8>,
    pub energy: f64,
    pub accepted: u64,
    pub attempts: u64,
    pub trace: Vec<f64>,
}

/// Aggregates read outcomes into a sample set and run statistics.
pub(crate) fn collect(
    num_variables: usize,
    reads: Vec<ReadOutcome>,
    trace_every: usize,
    elapsed_seconds: f64,
) -> (SampleSet, RunStats) {
    let mut states = Vec::with_capacity(reads.len() * num_variables);
    let mut energies = Vec::with_capacity(reads.len());
    let mut stats = RunStats {
        elapsed_seconds,
        ..Default::default()
    };
    let points = reads.first().map_or(0, |r| r.trace.len());
    let mut trace = Vec::with_capacity(points * reads.len());
    for r in reads {
        states.extend_from_slice(&r.state);
        energies.push(r.energy);
        stats.flip_attempts += r.attempts;
        stats
            .acceptance_rates
            .push(r.accepted as f64 / r.attempts.max(1) as f64);
        trace.extend_from_slice(&r.trace);
    }
    if trace_every > 0 {
        stats.trace = Some(Trace {
            every: trace_every,
            points,
            energies: trace,
        });
    }
    (
        SampleSet::aggregate(num_variables, &states, &energies),
        stats,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_counts_and_sorts() {
        let states = [1, 1, -1, 1, 1, 1, -1, -1];
        let energies = [0.5, -1.0, 0.5, 2.0];
        let s = SampleSet::aggregate(2, &states, &energies);
        assert_eq!(s.energies, vec![-1.0, 0.5, 2.0]);
        assert_eq!(s.num_occurrences, vec![1, 2, 1]);
        assert_eq!(s.best(), Some((&[-1i8, 1][..], -1.0)));
        assert_eq!(s.num_reads(), 4);
    }
}
