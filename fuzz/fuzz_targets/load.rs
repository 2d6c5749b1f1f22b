//! Fuzz target: the analyzer's loading path (decode, validate, build the tables) on arbitrary
//! bytes, as one trace among two, beside a known-good one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlx_analyze::load::{load_bytes, LoadOptions};

const GOOD: &[u8] = include_bytes!("../../trace-format/tests/data/tiny-variants.msgpack");

fuzz_target!(|data: &[u8]| {
    let options = LoadOptions { include_warmup: data.first().is_some_and(|b| b & 1 == 1), threads: 1 };
    let traces = vec![("good.msgpack".to_string(), GOOD.to_vec()), ("fuzzed.msgpack".to_string(), data.to_vec())];
    let ds = load_bytes(traces, &options).expect("the good trace always loads");
    assert!(!ds.trace_info.is_empty());
    // Either the fuzzed trace loaded or it is named among the skipped files.
    assert!(ds.trace_info.len() == 2 || ds.skipped.iter().any(|s| s.file == "fuzzed.msgpack"));
});
