//! Shared helpers of the integration tests: small synthetic specs and scratch directories.
#![allow(dead_code)]

use std::path::PathBuf;

use mlx_analyze::analysis::Facts;
use mlx_analyze::load::{load_bytes, Dataset, LoadOptions};
// Not every test binary that includes this module uses it.
#[allow(unused_imports)]
pub use trace_synth::simple_spec;
use trace_synth::{generate, SynthSpec};

/// A fresh scratch directory under the system temp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlx-analyze-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Loads generated traces.
pub fn load(specs: &[SynthSpec]) -> Dataset {
    let traces = specs.iter().enumerate().map(|(i, s)| (format!("synth-{i}.msgpack"), generate(s, true))).collect();
    load_bytes(traces, &LoadOptions::default()).unwrap()
}

/// Loads and reads facts.
pub fn facts(specs: &[SynthSpec]) -> (Dataset, Facts) {
    let ds = load(specs);
    let f = Facts::from_dataset(&ds).unwrap();
    (ds, f)
}

/// Relative closeness.
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}
