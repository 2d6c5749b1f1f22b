//! Durations past 2^64 ns in the library's facts (the same trace as the binary's test of every
//! output, `analyzer/tests/outputs.rs`).

use trace_format::{Header, Metadata, RunRecord, SyncMode, TraceWriter};

use crate::load::{load_bytes, LoadOptions};

/// A well-formed trace whose durations and forward times sum past 2^64 ns.
fn huge_trace() -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), &Header::new(Metadata { backend: "cpu".into(), preset: "tiny".into(), ..Metadata::default() })).unwrap();
    let mut index = 0;
    for frames in [5u32, 9] {
        for sync in [SyncMode::Component, SyncMode::None] {
            for rep in 0..3 {
                let mut run = RunRecord::new(index, "baseline", sync, frames, u64::MAX / 2);
                run.warmup = rep == 0;
                run.forward_ns = u64::MAX - rep as u64;
                run.graph_ns = Some(u64::MAX);
                run.active_memory_bytes = u64::MAX;
                run.peak_memory_bytes = u64::MAX;
                let names: &[&str] = if sync == SyncMode::None { &["forward"] } else { &["block/ffn/up", "block/self_attn/sdpa", "head"] };
                for name in names {
                    let c = run.component(name, f64::MAX, f64::MAX);
                    for block in 0..4 {
                        run.push_event(c, Some(block), 0, u64::MAX - block as u64);
                    }
                }
                w.add_run(&run).unwrap();
                index += 1;
            }
        }
    }
    w.finish().unwrap()
}

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
