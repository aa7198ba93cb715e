//! Runs one KSG estimate repeatedly for profiling: `cargo run --release --example profile_mi -- mi|cmi 100000`.
use thermoconsensus_info::{
    conditional_mutual_information, mutual_information, Algorithm, MatrixRef,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map_or("mi", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    // A cheap deterministic pseudo-random stream (LCG) keeps the example dependency-free.
    let mut s = 12345u64;
    let mut u = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let x: Vec<f64> = (0..n).map(|_| u()).collect();
    let y: Vec<f64> = x.iter().map(|v| v + u()).collect();
    let z: Vec<f64> = y.iter().map(|v| v + u()).collect();
    let (xm, ym, zm) = (
        MatrixRef::column("x", &x).expect("x"),
        MatrixRef::column("y", &y).expect("y"),
        MatrixRef::column("z", &z).expect("z"),
    );
    let t = std::time::Instant::now();
    let v = match what {
        "cmi" => conditional_mutual_information(xm, ym, zm, 4, Algorithm::One),
        _ => mutual_information(xm, ym, 4, Algorithm::One),
    };
    println!("{what} = {v:?} in {:?}", t.elapsed());
}
