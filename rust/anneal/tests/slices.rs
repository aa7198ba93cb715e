//! A run of reads [first_read, first_read + num_reads) is exactly that slice of the whole run: how reads
//! are split over machines (thermoconsensus.distributed) and merged back into the whole run's result.

use thermoconsensus_anneal::*;

fn problem() -> IsingProblem {
    instances::random_regular(60, 3, 7).unwrap()
}

/// The slices [0, 2), [2, 3), [3, 7) of 7 reads, as (first_read, num_reads).
const SLICES: [(u64, usize); 3] = [(0, 2), (2, 1), (3, 4)];
const READS: usize = 7;

fn trace_rows(stats: &RunStats) -> Vec<f64> {
    stats
        .trace
        .as_ref()
        .map(|t| t.energies.clone())
        .unwrap_or_default()
}

#[test]
fn simulated_annealing_slices_reproduce_the_whole_run() {
    let p = problem();
    // Langevin: each read also draws its own temperature noise, so final betas differ by read.
    let whole = SaParams {
        num_reads: READS,
        num_sweeps: 120,
        schedule: Schedule::Langevin {
            gamma: None,
            eta: None,
        },
        seed: 21,
        trace_every: 10,
        ..Default::default()
    };
    let full = simulated_annealing(&p, &whole, None).unwrap();
    let parts: Vec<SaResult> = SLICES
        .iter()
        .map(|&(first_read, num_reads)| {
            let params = SaParams {
                first_read,
                num_reads,
                ..whole.clone()
            };
            simulated_annealing(&p, &params, None).unwrap()
        })
        .collect();
    let samples: Vec<SampleSet> = parts.iter().map(|r| r.samples.clone()).collect();
    assert_eq!(SampleSet::merge(&samples).unwrap(), full.samples);
    let cat = |f: &dyn Fn(&SaResult) -> Vec<f64>| parts.iter().flat_map(f).collect::<Vec<f64>>();
    assert_eq!(
        cat(&|r| r.stats.acceptance_rates.clone()),
        full.stats.acceptance_rates
    );
    assert_eq!(cat(&|r| trace_rows(&r.stats)), trace_rows(&full.stats));
    assert_eq!(cat(&|r| r.final_betas.clone()), full.final_betas);
    let attempts: u64 = parts.iter().map(|r| r.stats.flip_attempts).sum();
    assert_eq!(attempts, full.stats.flip_attempts);
    // The offset is what moves a slice: without it, its first read is the run's read 0 again.
    assert_ne!(
        trace_rows(&parts[2].stats)[..12],
        trace_rows(&parts[0].stats)[..12]
    );
}

#[test]
fn path_integral_slices_reproduce_the_whole_run() {
    let p = problem();
    let whole = PimcParams {
        num_reads: READS,
        num_sweeps: 40,
        trotter_slices: 4,
        seed: 5,
        trace_every: 5,
        ..Default::default()
    };
    let full = path_integral_annealing(&p, &whole, None).unwrap();
    let parts: Vec<PimcResult> = SLICES
        .iter()
        .map(|&(first_read, num_reads)| {
            let params = PimcParams {
                first_read,
                num_reads,
                ..whole.clone()
            };
            path_integral_annealing(&p, &params, None).unwrap()
        })
        .collect();
    let samples: Vec<SampleSet> = parts.iter().map(|r| r.samples.clone()).collect();
    assert_eq!(SampleSet::merge(&samples).unwrap(), full.samples);
    let rates: Vec<f64> = parts
        .iter()
        .flat_map(|r| r.stats.acceptance_rates.clone())
        .collect();
    assert_eq!(rates, full.stats.acceptance_rates);
    let traces: Vec<f64> = parts.iter().flat_map(|r| trace_rows(&r.stats)).collect();
    assert_eq!(traces, trace_rows(&full.stats));
}

#[test]
fn replica_exchange_slices_reproduce_the_whole_run() {
    let p = problem();
    let whole = PtParams {
        num_reads: READS,
        num_replicas: 6,
        num_sweeps: 240,
        adaptive: true,
        keep: Keep::Best,
        seed: 13,
        trace_every: 20,
        ..Default::default()
    };
    let full = replica_exchange(&p, &whole, None).unwrap();
    let parts: Vec<PtResult> = SLICES
        .iter()
        .map(|&(first_read, num_reads)| {
            let params = PtParams {
                first_read,
                num_reads,
                ..whole.clone()
            };
            replica_exchange(&p, &params, None).unwrap()
        })
        .collect();
    let samples: Vec<SampleSet> = parts.iter().map(|r| r.samples.clone()).collect();
    assert_eq!(SampleSet::merge(&samples).unwrap(), full.samples);
    let read_betas: Vec<f64> = parts.iter().flat_map(|r| r.read_betas.clone()).collect();
    assert_eq!(read_betas, full.read_betas);
    // The whole run's mean ladder, summed in read order from the slices' per-read ladders.
    let mut mean = vec![0.0; whole.num_replicas];
    for row in read_betas.chunks(whole.num_replicas) {
        for (m, b) in mean.iter_mut().zip(row) {
            *m += b / READS as f64;
        }
    }
    assert_eq!(mean, full.betas);
    let sum =
        |f: &dyn Fn(&PtResult) -> &Vec<u64>, k: usize| parts.iter().map(|r| f(r)[k]).sum::<u64>();
    for k in 0..whole.num_replicas - 1 {
        let (tried, taken) = (sum(&|r| &r.swap_attempts, k), sum(&|r| &r.swap_accepts, k));
        assert_eq!(
            (tried, taken),
            (full.swap_attempts[k], full.swap_accepts[k])
        );
        assert_eq!(taken as f64 / tried.max(1) as f64, full.swap_acceptance[k]);
    }
    let trips: u64 = parts.iter().map(|r| r.round_trips).sum();
    assert_eq!(trips, full.round_trips);
    let traces: Vec<f64> = parts.iter().flat_map(|r| trace_rows(&r.stats)).collect();
    assert_eq!(traces, trace_rows(&full.stats));
}

#[test]
fn a_first_read_past_the_last_stream_is_an_error() {
    let params = SaParams {
        num_reads: 2,
        num_sweeps: 2,
        first_read: u64::MAX,
        ..Default::default()
    };
    let err = simulated_annealing(&problem(), &params, None).unwrap_err();
    assert!(err.to_string().contains("first_read"), "{err}");
}
