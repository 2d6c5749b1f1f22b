//! The copies of an attributed recording reuse memory as the component's own outputs do: on the
//! CPU, where MLX caches only 32 MiB of freed buffers, copies whose outputs exceed that would
//! otherwise come back as fresh pages in every forward, and the attribution would charge their
//! page faults to the component. Its own test binary: page faults are counted per process.

use mlx_record::api::{self, Mark, Mode, Probe, Recorder, Schedule, Shape};
use mlx_rs::Array;
use trace_format::{PerturbKind, read_trace_file};

/// Output elements of the big component: 64 MiB of f32, twice MLX's CPU cache.
const ROWS: i32 = 2048;
const COLS: i32 = 8192;

fn forward(x: &Array, probe: &mut Probe) -> anyhow::Result<Array> {
    let big = probe.mark("big", None, || Ok(mlx_rs::ops::exp(x)?))?;
    probe.mark("head", None, || Ok(big.sum(None)?))
}

#[test]
fn copies_take_no_fresh_memory_after_the_first_round() {
    api::ensure_fast_openblas();
    mlx_rs::Device::set_default(&mlx_rs::Device::cpu());
    let dir = std::env::temp_dir().join(format!("mlx-record-fresh-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("fresh.msgpack");
    let x = mlx_rs::random::normal::<f32>(&[ROWS, COLS], None, None, &mlx_rs::random::key(1).unwrap()).unwrap();
    x.eval().unwrap();
    let mut rec = Recorder::create(&out, api::metadata("fresh-memory", api::DType::F32)).unwrap();
    let schedule = Schedule { modes: vec![Mode::Attributed], runs: 3, warmup: 1, copies: 2, ..Schedule::default() };
    rec.record(&Shape::new(ROWS as u64), &schedule, |probe| forward(&x, probe)).unwrap();
    rec.finish().unwrap();

    let trace = read_trace_file(&out).unwrap();
    assert!(trace.runs.iter().all(|r| r.minor_faults.is_some()), "every run counts its page faults");
    let timed = |kind: PerturbKind, target: Option<&str>| -> Vec<f64> {
        trace
            .runs
            .iter()
            .filter(|r| !r.warmup)
            .filter(|r| r.perturbation.as_ref().is_some_and(|p| p.kind == kind && p.target.as_deref() == target))
            .map(|r| r.minor_faults.unwrap() as f64)
            .collect()
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (references, duplicates) = (timed(PerturbKind::Reference, None), timed(PerturbKind::Duplicate, Some("big")));
    assert!(!references.is_empty() && duplicates.len() == 3);
    // Each copy's output is 16,384 pages of 4 KiB; from the OS afresh, every copy would fault
    // them all in.
    let pages = (ROWS as f64) * (COLS as f64) * 4.0 / 4096.0;
    let per_copy = (mean(&duplicates) - mean(&references)) / 2.0;
    assert!(per_copy < 0.1 * pages, "copies faulted {per_copy} pages each (references {references:?}, duplicates {duplicates:?})");
    let _ = std::fs::remove_dir_all(&dir);
}
