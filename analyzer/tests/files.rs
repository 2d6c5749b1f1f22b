//! Loading from disk: globs, bad and foreign files skipped by name, partial traces, warm-up
//! exclusion; exports read back (CSV by hand, Parquet through polars, Chrome trace through serde).

mod common;

use std::fs;

use common::{scratch, simple_spec};
use mlx_analyze::export::chrome_trace::{find_run, ChromeTraceExport};
use mlx_analyze::export::csv::CsvExport;
use mlx_analyze::export::export_to_file;
use mlx_analyze::export::parquet::ParquetExport;
use mlx_analyze::load::{expand_inputs, load_files, LoadOptions};
use trace_synth::generate;
use polars_io::SerReader;

#[test]
fn bad_files_are_skipped_by_name_and_the_rest_analysed() {
    let dir = scratch("bad");
    fs::write(dir.join("good.msgpack"), generate(&simple_spec(), true)).unwrap();
    fs::write(dir.join("empty.msgpack"), b"").unwrap();
    fs::write(dir.join("text.msgpack"), b"{\"hello\": 1}").unwrap();
    fs::write(dir.join("noise.msgpack"), [0xc1u8, 0xff, 0x00, 0x13]).unwrap();
    // A MessagePack map that is not an mlx-trace header.
    fs::write(dir.join("foreign.msgpack"), [0x81u8, 0xa1, b'a', 0x01]).unwrap();
    // Interrupted recording: no end marker, named .partial.
    fs::write(dir.join("cut.msgpack.partial"), generate(&simple_spec(), false)).unwrap();

    let pattern = format!("{}/*", dir.display());
    let (files, skipped) = expand_inputs(&[pattern, dir.join("missing.msgpack").display().to_string()]).unwrap();
    assert_eq!(files.len(), 6);
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].file.ends_with("missing.msgpack") && skipped[0].reason == "no such file");

    let ds = load_files(&files, &LoadOptions::default()).unwrap();
    assert_eq!(ds.trace_info.len(), 2, "good and partial traces load");
    let reason = |name: &str| ds.skipped.iter().find(|s| s.file.ends_with(name)).map(|s| s.reason.clone()).unwrap();
    assert!(reason("empty.msgpack").contains("empty"));
    assert!(reason("text.msgpack").contains("JSON or text"));
    assert!(reason("foreign.msgpack").contains("not an mlx-trace file"));
    assert!(reason("noise.msgpack").contains("not an mlx-trace file"));
    assert_eq!(ds.skipped.len(), 4);
    assert!(ds.warnings.iter().any(|w| w.contains("cut.msgpack.partial") && w.contains("partial trace")));
    assert!(ds.warnings.iter().any(|w| w.contains("cut.msgpack.partial") && w.contains("no end marker")));
    // 2 traces x 3 timed runs (warm-up excluded) x (1 + 2 x 2) events.
    assert_eq!(ds.runs.len(), 6);
    assert_eq!(ds.event_count(), 30);

    let with_warmup = load_files(&files, &LoadOptions { include_warmup: true, ..Default::default() }).unwrap();
    assert_eq!(with_warmup.runs.len(), 8);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn nothing_readable_is_an_error() {
    let dir = scratch("none");
    fs::write(dir.join("a.msgpack"), b"").unwrap();
    let err = load_files(&[dir.join("a.msgpack")], &LoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no readable traces among 1 input file"));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn traces_table_has_machine_and_label_columns() {
    let dir = scratch("meta");
    let mut spec = simple_spec();
    spec.metadata = trace_synth::with_label(spec.metadata, "machine", "m2-max");
    fs::write(dir.join("t.msgpack"), generate(&spec, true)).unwrap();
    let ds = load_files(&[dir.join("t.msgpack")], &LoadOptions::default()).unwrap();
    assert_eq!(ds.traces.column("machine").unwrap().str().unwrap().get(0), Some("m2-max"));
    assert_eq!(ds.traces.column("label.machine").unwrap().str().unwrap().get(0), Some("m2-max"));
    assert_eq!(ds.traces.column("blocks").unwrap().u32().unwrap().get(0), Some(2));
    assert_eq!(ds.traces.column("matmul_flops_per_s").unwrap().f64().unwrap().get(0), Some(100e12));
    assert_eq!(mlx_analyze::load::trace_key_values(&ds.traces, "dtype").unwrap(), ["bf16"]);
    assert!(mlx_analyze::load::trace_key_values(&ds.traces, "nonsense").is_err());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn exports_read_back() {
    let dir = scratch("export");
    fs::write(dir.join("t.msgpack"), generate(&simple_spec(), true)).unwrap();
    let ds = load_files(&[dir.join("t.msgpack")], &LoadOptions::default()).unwrap();
    // Per run: embed 1 ms + 2 blocks x (3 + 1) ms = 9 ms; 3 runs.
    let total_ns: u64 = 3 * 9_000_000;

    let csv = dir.join("events.csv");
    export_to_file(&CsvExport, &ds, &csv).unwrap();
    let text = fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "file,run,variant,sync,warmup,frames,tokens,component,block,start_ns,duration_ns");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 15);
    assert_eq!(rows.iter().map(|r| r[10].parse::<u64>().unwrap()).sum::<u64>(), total_ns);
    assert_eq!(rows[1][7], "block/ffn/up");
    assert_eq!(rows[1][8], "0");
    assert_eq!(rows[0][8], "-1");
    assert!(!dir.read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp-")));

    let pq = dir.join("events.parquet");
    export_to_file(&ParquetExport, &ds, &pq).unwrap();
    let back = polars_io::parquet::read::ParquetReader::new(fs::File::open(&pq).unwrap()).finish().unwrap();
    assert_eq!(back.height(), 15);
    let sum: u64 = back.column("duration_ns").unwrap().u64().unwrap().iter().map(|v| v.unwrap()).sum();
    assert_eq!(sum, total_ns);
    let comps = back.column("component").unwrap().str().unwrap();
    assert_eq!(comps.iter().filter(|c| *c == Some("block/ffn/up")).count(), 6);

    let chrome = dir.join("run.json");
    let run_id = find_run(&ds, 0, 2).unwrap();
    export_to_file(&ChromeTraceExport { run_id }, &ds, &chrome).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&chrome).unwrap()).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let complete: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    // forward + 2 block spans + 5 component events.
    assert_eq!(complete.len(), 8);
    let ffn: Vec<_> = complete.iter().filter(|e| e["name"] == "block/ffn/up").collect();
    assert_eq!(ffn.len(), 2);
    assert_eq!(ffn[0]["dur"].as_f64().unwrap(), 3000.0, "microseconds");
    assert_eq!(v["metadata"]["run"], 2);
    assert!(find_run(&ds, 0, 0).is_err(), "run 0 is the warm-up, excluded");
    let _ = fs::remove_dir_all(&dir);
}
