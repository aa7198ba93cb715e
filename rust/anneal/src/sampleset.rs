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
        Self::aggregate_counted(num_variables, states, energies, None)
    }

    /// The sample set of the reads of several sample sets together: their rows re-aggregated with their
    /// counts. The samplers' energies are functions of the state (each is recomputed from it at the end
    /// of a read), so merging the sets of consecutive slices of reads gives exactly the set of the whole
    /// run. Errors when the sets differ in `num_variables` or one's fields differ in length.
    pub fn merge(parts: &[SampleSet]) -> crate::error::Result<Self> {
        let n = parts.first().map_or(0, |p| p.num_variables);
        for p in parts {
            if p.num_variables != n {
                return Err(crate::error::invalid(
                    "states",
                    format!(
                        "sample sets of {n} and {} variables cannot be merged",
                        p.num_variables
                    ),
                ));
            }
            let rows = p.energies.len();
            if p.num_occurrences.len() != rows || Some(p.states.len()) != rows.checked_mul(n) {
                return Err(crate::error::invalid(
                    "states",
                    format!(
                        "{} state values, {rows} energies and {} counts do not make rows of {n} \
                         variables",
                        p.states.len(),
                        p.num_occurrences.len()
                    ),
                ));
            }
        }
        let mut states = Vec::new();
        let (mut energies, mut counts) = (Vec::new(), Vec::new());
        for p in parts {
            states.extend_from_slice(&p.states);
            energies.extend_from_slice(&p.energies);
            counts.extend_from_slice(&p.num_occurrences);
        }
        Ok(Self::aggregate_counted(
            n,
            &states,
            &energies,
            Some(&counts),
        ))
    }

    /// Aggregates rows (row-major, `energies.len()` of them), each counting `counts[r]` reads (1 when
    /// None), into distinct states sorted by energy, ties by state; a distinct state keeps the energy of
    /// its first row in that order and the sum of the counts.
    fn aggregate_counted(
        num_variables: usize,
        states: &[i8],
        energies: &[f64],
        counts: Option<&[u64]>,
    ) -> Self {
        let n = num_variables;
        let count = |r: usize| counts.map_or(1, |c| c[r]);
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
                        *c += count(r);
                    }
                }
                _ => {
                    out.states.extend_from_slice(row(r));
                    out.energies.push(energies[r]);
                    out.num_occurrences.push(count(r));
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

    #[test]
    fn merging_slices_equals_aggregating_all_reads() {
        // Reads as (state, energy) with the energy a function of the state, as the samplers make them.
        let pick = [3usize, 0, 1, 3, 2, 0, 0, 1, 3, 2, 2];
        let table: [([i8; 2], f64); 4] = [
            ([1, 1], 0.5),
            ([-1, 1], -1.0),
            ([1, -1], 0.5),
            ([-1, -1], 2.0),
        ];
        let states: Vec<i8> = pick.iter().flat_map(|&k| table[k].0).collect();
        let energies: Vec<f64> = pick.iter().map(|&k| table[k].1).collect();
        let whole = SampleSet::aggregate(2, &states, &energies);
        for cut in [(1, 4), (4, 5), (0, 11), (6, 10)] {
            let part = |a: usize, b: usize| {
                SampleSet::aggregate(2, &states[2 * a..2 * b], &energies[a..b])
            };
            let parts = [part(0, cut.0), part(cut.0, cut.1), part(cut.1, 11)];
            assert_eq!(SampleSet::merge(&parts).unwrap(), whole, "{cut:?}");
        }
        let other = SampleSet::aggregate(1, &[1], &[0.0]);
        assert!(SampleSet::merge(&[whole, other]).is_err());
    }
}
