//! The adaptive replica-exchange ladder on Sherrington-Kirkpatrick N = 256 over the default beta range
//! (a ratio of ~3700 between the ends): the geometric ladder leaves swap acceptances from ~0 to ~1 and
//! no configuration crosses it; after adaptation every neighbouring pair accepts within 0.1 of the
//! mean and configurations make round trips.

use thermoconsensus_anneal::{instances, replica_exchange, Keep, PtParams};

fn run(adaptive: bool) -> (Vec<f64>, u64) {
    let p = instances::sherrington_kirkpatrick(256, 11).expect("valid instance");
    let params = PtParams {
        num_reads: 2,
        num_replicas: 24,
        num_sweeps: 12_000,
        adaptive,
        keep: Keep::Best,
        seed: 3,
        ..Default::default()
    };
    let r = replica_exchange(&p, &params, None).expect("runs");
    (r.swap_acceptance, r.round_trips)
}

#[test]
fn adaptive_ladder_equalises_swap_acceptance_and_makes_round_trips() {
    let (fixed, fixed_trips) = run(false);
    let (adapted, trips) = run(true);
    let mean = adapted.iter().sum::<f64>() / adapted.len() as f64;
    let worst = adapted.iter().map(|a| (a - mean).abs()).fold(0.0, f64::max);
    assert!(
        worst <= 0.1,
        "acceptances {adapted:.2?} stray {worst:.3} from their mean {mean:.3}"
    );
    assert!(trips > 0, "no round trips: {adapted:.2?}");
    // The check is not vacuous: the geometric ladder fails it.
    let fixed_mean = fixed.iter().sum::<f64>() / fixed.len() as f64;
    let fixed_worst = fixed
        .iter()
        .map(|a| (a - fixed_mean).abs())
        .fold(0.0, f64::max);
    assert!(fixed_worst > 0.3, "geometric ladder {fixed:.2?}");
    println!("geometric: {fixed:.2?}, {fixed_trips} round trips; adapted: {adapted:.2?}, {trips}");
}
