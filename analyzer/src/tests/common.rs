//! Shared helpers of these tests: small synthetic specs, loaded (as `analyzer/tests/common`).

pub(super) use trace_synth::simple_spec;
use trace_synth::{generate, SynthSpec};

use crate::analysis::Facts;
use crate::load::{load_bytes, Dataset, LoadOptions};

/// Loads generated traces.
pub(super) fn load(specs: &[SynthSpec]) -> Dataset {
    let traces = specs.iter().enumerate().map(|(i, s)| (format!("synth-{i}.msgpack"), generate(s, true))).collect();
    load_bytes(traces, &LoadOptions::default()).unwrap()
}

/// Loads and reads facts.
pub(super) fn facts(specs: &[SynthSpec]) -> (Dataset, Facts) {
    let ds = load(specs);
    let f = Facts::from_dataset(&ds).unwrap();
    (ds, f)
}

/// Relative closeness.
pub(super) fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}
