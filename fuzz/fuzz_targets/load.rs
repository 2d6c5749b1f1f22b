//! Fuzz target: the analyzer on arbitrary bytes, as one trace among two beside a known-good
//! one: decoding, validation and the tables (loading), then every analysis, every report
//! format, the charts, every export and a `--sql` query (the second byte picks which), all in
//! memory. Errors are allowed (a request the data
//! cannot serve); panics, overflows in debug builds and unbounded allocation are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlx_analyze::analysis::comparison::CompareOptions;
use mlx_analyze::analysis::{analyze, AnalyzeOptions, Rollup};
use mlx_analyze::export::chrome_trace::ChromeTraceExport;
use mlx_analyze::export::csv::CsvExport;
use mlx_analyze::export::parquet::ParquetExport;
use mlx_analyze::export::Export;
use mlx_analyze::load::{load_bytes, LoadOptions};
use mlx_analyze::render::{svg, RenderFormat};
use mlx_analyze::sql::{self, SqlFormat};

/// Queries over every table, a keyed join and a cross join (refused past its row limit).
const QUERIES: [&str; 5] = [
    "SELECT component, SUM(total_ns) AS t, MAX(calls) AS c FROM components GROUP BY component ORDER BY t DESC",
    "SELECT * FROM events_wide WHERE block IS NOT NULL ORDER BY duration_ns DESC LIMIT 50",
    "SELECT r.variant, t.machine, COUNT(*) AS n, MEDIAN(r.forward_ns) AS f FROM runs r JOIN traces t ON r.trace_id = t.trace_id GROUP BY r.variant, t.machine",
    "SELECT COUNT(*) AS n FROM events a, events b, runs c, components d",
    "SELECT s.name, s.duration_ns / 1000000.0 AS ms, n.component FROM setups s, component_names n LIMIT 20",
];

const GOOD: &[u8] = include_bytes!("../../trace-format/tests/data/tiny-variants.msgpack");

fuzz_target!(|data: &[u8]| {
    let flags = data.first().copied().unwrap_or(0);
    let query = QUERIES[data.get(1).copied().unwrap_or(0) as usize % QUERIES.len()];
    let options = LoadOptions { include_warmup: flags & 1 == 1, threads: 1, ..LoadOptions::default() };
    let traces = vec![("good.msgpack".to_string(), GOOD.to_vec()), ("fuzzed.msgpack".to_string(), data.to_vec())];
    let ds = load_bytes(traces, &options).expect("the good trace always loads");
    assert!(!ds.trace_info.is_empty());
    // Either the fuzzed trace loaded or it is named among the skipped files.
    assert!(ds.trace_info.len() == 2 || ds.skipped.iter().any(|s| s.file == "fuzzed.msgpack"));

    // The analyses, with the options the first byte picks: rollup, and a comparison by one of
    // the keys the command line offers.
    let key = ["variant", "sync", "frames", "machine", "file"][(flags as usize >> 1) % 5];
    let analyze_options = AnalyzeOptions {
        rollup: if flags & 0x40 != 0 { Rollup::Seed } else { Rollup::Fine },
        compare: (flags & 0x80 != 0).then(|| CompareOptions { key: key.into(), resamples: 16, threads: 1, ..CompareOptions::default() }),
        ..AnalyzeOptions::default()
    };
    if let Ok(df) = sql::query(&ds, query) {
        for format in [SqlFormat::Table, SqlFormat::Markdown, SqlFormat::Html, SqlFormat::Csv, SqlFormat::Json] {
            let _ = sql::render(&df, format, Some(100));
        }
    }
    let Ok(report) = analyze(&ds, &analyze_options) else { return };
    for format in [RenderFormat::Table, RenderFormat::Markdown, RenderFormat::Json, RenderFormat::Html] {
        let _ = format.renderer().render(&report);
    }
    let _ = svg::all(&report);
    let mut sink = Vec::new();
    let _ = CsvExport.write(&ds, &mut sink);
    sink.clear();
    let _ = ParquetExport.write(&ds, &mut sink);
    for run_id in 0..ds.runs.len().min(4) as u32 {
        sink.clear();
        let _ = ChromeTraceExport { run_id }.write(&ds, &mut sink);
    }
});
