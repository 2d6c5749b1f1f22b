//! Fuzz target: the trace reader on arbitrary bytes. It must return (a trace or an error),
//! never panic, and every decoded trace must be safe to walk.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match trace_format::read_trace(data) {
        Ok(trace) => {
            // Walk everything the analyzer walks: absolute event times and component lookups.
            for run in &trace.runs {
                let mut last = 0u64;
                for e in run.events() {
                    assert!(e.start_ns >= last, "absolute starts are a running sum and never decrease");
                    last = e.start_ns;
                    let _ = run.components.get(e.component as usize);
                }
            }
            // Incomplete traces always say so.
            assert!(trace.complete || !trace.warnings.is_empty());
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
    }
});
