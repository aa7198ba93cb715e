//! Times one quantized matrix-vector product of a real model: `matvec MODEL.gguf TENSOR [n_inputs]`.

use thermoconsensus_llm::matmul::QMatrix;
use thermoconsensus_llm::GgufFile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let file = GgufFile::open(&args[1])?;
    let info = file
        .header()
        .tensor(&args[2])
        .ok_or("no such tensor")?
        .clone();
    let n_in: usize = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let m = QMatrix {
        ty: info.ggml_type,
        rows: info.dims[1] as usize,
        cols: info.dims[0] as usize,
        data: file.tensor_data(&info),
    };
    let x: Vec<f32> = (0..m.cols * n_in)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let mut out = vec![0.0; m.rows * n_in];
    let reps = 200;
    let t = std::time::Instant::now();
    for _ in 0..reps {
        m.matmul(&x, &mut out);
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "{} {} x {} ({}), {n_in} input(s): {:.1} us, {:.2} GMAC/s",
        args[2],
        m.rows,
        m.cols,
        m.ty,
        s * 1e6,
        (m.rows * m.cols * n_in) as f64 / s / 1e9
    );
    Ok(())
}
