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
    let x: Vec<f64> = (0..n).map(|_| u() + u() + u()).collect();
    let y: Vec<f64> = x
        .iter()
        .map(|v| 0.6 * v + 0.8 * (u() + u() + u()))
        .collect();
    let z: Vec<f64> = y.iter().map(|v| v + u()).collect();
    let (xm, ym, zm) = (
        MatrixRef::column("x", &x).expect("x"),
        MatrixRef::column("y", &y).expect("y"),
        MatrixRef::column("z", &z).expect("z"),
    );
    if what == "parts" {
        use thermoconsensus_info::kdtree::KdTree;
        let joint: Vec<f64> = x.iter().zip(&y).flat_map(|(a, b)| [*a, *b]).collect();
        let t = std::time::Instant::now();
        let tree = KdTree::new(&joint, 2);
        println!("build {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let mut buf = Vec::new();
        let mut s = 0.0;
        for pos in 0..n {
            tree.knn(pos, 4, &mut buf);
            s += buf[3].dist;
        }
        println!("knn {:?} ({s})", t.elapsed());
        let t = std::time::Instant::now();
        let mut v = x.clone();
        v.sort_unstable_by(f64::total_cmp);
        println!("sort {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let mut c = 0usize;
        for (i, &q) in x.iter().enumerate() {
            let r = 0.001 + (i % 7) as f64 * 1e-4;
            c += v.partition_point(|&p| p - q < r) - v.partition_point(|&p| q - p >= r);
        }
        println!("count {:?} ({c})", t.elapsed());
        return;
    }
    let t = std::time::Instant::now();
    let v = thermoconsensus_info::run_with_threads(Some(1), || match what {
        "cmi" => conditional_mutual_information(xm, ym, zm, 4, Algorithm::One),
        _ => mutual_information(xm, ym, 4, Algorithm::One),
    });
    println!("{what} = {v:?} in {:?}", t.elapsed());
}

#[allow(dead_code)]
fn unused() {}
