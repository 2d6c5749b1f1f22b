//! Shared helpers of these tests: small synthetic specs, loaded (as `analyzer/tests/common`).

use trace_format::{Calibration, SyncMode};
use trace_synth::{generate, SynthComponent, SynthSpec};

use crate::analysis::Facts;
use crate::load::{load_bytes, Dataset, LoadOptions};

/// Three components with constant durations: embed/time 1 ms, block/ffn/up 3 ms, and
/// block/self_attn/sdpa 1 ms, 2 blocks, 1000 tokens. FFN: 1.5e11 FLOPs and 3e8 bytes per call;
/// SDPA: 1e10 FLOPs and 1e9 bytes per call. Calibration 100 TFLOP/s, 1 TB/s.
pub(super) fn simple_spec() -> SynthSpec {
    SynthSpec {
        components: vec![
            SynthComponent::new("embed/time", 1e6, 0.0, 0.0),
            SynthComponent::new("block/ffn/up", 3e6, 0.0, 0.0).flops(1.5e8, 0.0).bytes(3e8, 0.0),
            SynthComponent::new("block/self_attn/sdpa", 1e6, 0.0, 0.0).flops(1e7, 0.0).bytes(1e9, 0.0),
        ],
        blocks: 2,
        frames: vec![5],
        tokens: Some(vec![1000]),
        runs: 3,
        warmup_runs: 1,
        syncs: vec![SyncMode::Component],
        calibration: Some(Calibration {
            matmul_flops_per_s: 100e12,
            bandwidth_bytes_per_s: 1e12,
            ..Default::default()
        }),
        ..SynthSpec::default()
    }
}

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
