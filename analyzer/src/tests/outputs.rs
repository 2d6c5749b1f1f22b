//! Durations past 2^64 ns in the library's facts (the same trace as the binary's test of every
//! output, `analyzer/tests/outputs.rs`).

use trace_format::SyncMode;
use trace_synth::huge_trace;

use crate::load::{load_bytes, LoadOptions};

#[test]
fn durations_past_2_pow_64_saturate_the_component_totals() {
    let bytes = huge_trace();
    let ds = load_bytes(vec![("huge.msgpack".into(), bytes.clone())], &LoadOptions::default()).unwrap();
    let facts = crate::analysis::Facts::from_dataset(&ds).unwrap();
    let ffn = facts.names.iter().position(|n| n == "block/ffn/up").unwrap() as u32;
    let synced = facts.runs.iter().find(|r| r.sync == SyncMode::Component).unwrap();
    // Four events of nearly 2^64 ns each: the sum saturates instead of wrapping to a small value.
    assert_eq!(synced.comp(ffn).unwrap().total_ns, u64::MAX as f64);
}
