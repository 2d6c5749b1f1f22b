//! `--export-summary DIR`: hive-partitioned per-trace summaries, escaped partition names, no
//! replacing without --force, values against the traces; and `scripts/duckdb-summary.sql`'s
//! ranking and machine comparison against the analyzer's own ranking and the known times.
//! The DuckDB part needs `.venv` with DuckDB (scripts/setup.sh); without it the test fails.

mod tables_common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use polars_io::parquet::read::ParquetReader;
use polars_io::SerReader;
use serde_json::Value;
use tables_common::*;

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn parts(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(parts(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn specs() -> Vec<Spec> {
    vec![
        Spec::new("fast"),
        Spec { speed: 3.0, start_time: "2026-12-01T01:00:00Z", ..Spec::new("slow/box=1 %") },
        Spec { speed: 3.0, start_time: "2026-12-01T02:00:00Z", frames: vec![9], ..Spec::new("slow/box=1 %") },
    ]
}

fn write_traces(dir: &Path) -> Vec<PathBuf> {
    specs()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = dir.join(format!("t{i}.msgpack"));
            fs::write(&p, s.bytes()).unwrap();
            p
        })
        .collect()
}

#[test]
fn summaries_are_partitioned_escaped_and_never_replaced_without_force() {
    let dir = scratch("summary-files");
    let traces = write_traces(&dir);
    let out = dir.join("summaries");
    let mut args: Vec<&OsStr> = traces.iter().map(|p| p.as_os_str()).collect();
    let report = dir.join("r1.txt");
    args.extend([os("--export-summary"), out.as_os_str(), os("-o"), report.as_os_str()]);
    run_ok(&args);
    let files = parts(&out);
    let rel: Vec<String> = files.iter().map(|p| p.strip_prefix(&out).unwrap().display().to_string()).collect();
    assert_eq!(rel.len(), 2, "{rel:?}");
    assert!(rel[0].starts_with("machine=fast/backend=cpu/preset=tiny/part-") && rel[0].ends_with(".parquet"), "{rel:?}");
    assert!(rel[1].starts_with("machine=slow%2Fbox%3D1 %25/backend=cpu/preset=tiny/part-"), "{rel:?}");

    // The rows, against the traces: one per (trace, variant, sync, frames, component).
    let df = ParquetReader::new(fs::File::open(&files[1]).unwrap()).finish().unwrap();
    assert!(df.column("machine").is_err(), "partition columns live in the directory names");
    let specs = specs();
    // Trace 1: 2 frames x (4 synced components + fused forward); trace 2: 1 frame x 5.
    assert_eq!(df.height(), 2 * 5 + 5);
    let file = df.column("file").unwrap().str().unwrap();
    let sync = df.column("sync").unwrap().str().unwrap();
    let frames = df.column("frames").unwrap().u32().unwrap();
    let component = df.column("component").unwrap().str().unwrap();
    let runs = df.column("runs").unwrap().u32().unwrap();
    let median_ns = df.column("median_ns").unwrap().f64().unwrap();
    let forward = df.column("forward_median_ns").unwrap().f64().unwrap();
    let share = df.column("share").unwrap().f64().unwrap();
    let calls = df.column("calls").unwrap().f64().unwrap();
    for i in 0..df.height() {
        let t = if file.get(i).unwrap().ends_with("t1.msgpack") { 1 } else { 2 };
        let spec = &specs[t];
        let f = frames.get(i).unwrap();
        assert_eq!(runs.get(i), Some(3));
        let name = component.get(i).unwrap();
        let (want, want_calls) = if sync.get(i) == Some("none") {
            assert_eq!(name, "forward");
            (spec.forward_ns(1, f) as f64, 1.0)
        } else {
            let c = spec.comps.iter().find(|c| c.name == name).unwrap();
            let n = if name.starts_with("block/") { spec.blocks } else { 1 };
            (spec.call_ns(c, 1, f) as f64 * f64::from(n), f64::from(n))
        };
        assert!(close(median_ns.get(i).unwrap(), want, 1e-12), "row {i}: {name} {:?} vs {want}", median_ns.get(i));
        assert_eq!(calls.get(i), Some(want_calls));
        assert!(close(share.get(i).unwrap(), median_ns.get(i).unwrap() / forward.get(i).unwrap(), 1e-12));
    }

    // Again: the same files, refused without --force, nothing written.
    let before: Vec<Vec<u8>> = files.iter().map(|p| fs::read(p).unwrap()).collect();
    let mut again: Vec<&OsStr> = traces.iter().map(|p| p.as_os_str()).collect();
    let report2 = dir.join("r2.txt");
    again.extend([os("--export-summary"), out.as_os_str(), os("-o"), report2.as_os_str()]);
    let o = bin().args(&again).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("exists; choose another name, or --force"), "{}", stderr(&o));
    assert!(!dir.join("r2.txt").exists(), "nothing written");
    again.push(os("--force"));
    run_ok(&again);
    assert_eq!(parts(&out), files);
    assert_eq!(files.iter().map(|p| fs::read(p).unwrap()).collect::<Vec<_>>(), before, "same traces, same bytes");

    // Other traces into the same directory: new files beside the old ones.
    let other = dir.join("other.msgpack");
    fs::write(&other, Spec { start_time: "2026-12-02T00:00:00Z", ..Spec::new("fast") }.bytes()).unwrap();
    run_ok(&[other.as_os_str(), os("--export-summary"), out.as_os_str(), os("-o"), dir.join("r3.txt").as_os_str()]);
    assert_eq!(parts(&out).len(), 3);

    // A file where the directory should be.
    let o = bin().arg(&other).arg("--export-summary").arg(&traces[0]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("exists and is not a directory"), "{}", stderr(&o));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn duckdb_ranking_and_machine_comparison_from_summaries() {
    let dir = scratch("summary-duckdb");
    let traces = write_traces(&dir);
    let out = dir.join("summaries");
    let mut args: Vec<&OsStr> = traces.iter().map(|p| p.as_os_str()).collect();
    let report = dir.join("r.txt");
    args.extend([os("--export-summary"), out.as_os_str(), os("-o"), report.as_os_str()]);
    run_ok(&args);
    let glob = out.join("**").join("*.parquet");
    let duck = duckdb_json("duckdb-summary.sql", &[("summaries", &glob)]);
    let ranking = duck["ranking"].as_array().unwrap();
    let specs = specs();

    // Ranking: per machine at its largest frame count (9), by time per forward.
    let mut by_machine: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for r in ranking {
        by_machine.entry(r["machine"].as_str().unwrap()).or_default().push(r);
    }
    assert_eq!(by_machine.keys().copied().collect::<Vec<_>>(), vec!["fast", "slow/box=1 %"], "escaped names read back");
    for (machine, rows) in &by_machine {
        let spec = specs.iter().find(|s| s.machine == *machine).unwrap();
        let mut want: Vec<(f64, &str)> = spec
            .comps
            .iter()
            .map(|c| (spec.call_ns(c, 1, 9) as f64 * if c.name.starts_with("block/") { f64::from(spec.blocks) } else { 1.0 } / 1e6, c.name))
            .collect();
        want.sort_by(|a, b| b.0.total_cmp(&a.0));
        assert_eq!(rows.len(), want.len());
        for (i, (row, (ms, name))) in rows.iter().zip(&want).enumerate() {
            assert_eq!(row["rank"], i + 1);
            assert_eq!(row["component"], *name, "{row}");
            assert_eq!(row["frames"], 9);
            assert!(close(row["ms"].as_f64().unwrap(), (ms * 1000.0).round() / 1000.0, 1e-9), "{row} vs {ms}");
            // The slow machine has two traces at 9 frames.
            assert_eq!(row["traces"], if *machine == "fast" { 1 } else { 2 });
        }
    }

    // Machine comparison: achieved FLOP/s of each heavy component; the slow machine at a third.
    let machines = duck["machines"].as_array().unwrap();
    for name in ["block/ffn/up", "block/self_attn/sdpa"] {
        let rows: Vec<&Value> = machines.iter().filter(|r| r["component"] == name).collect();
        assert_eq!(rows.len(), 2, "{machines:?}");
        assert_eq!(rows[0]["machine"], "fast");
        assert_eq!(rows[0]["times_slower"].as_f64(), Some(1.0));
        assert_eq!(rows[1]["times_slower"].as_f64(), Some(3.0), "{rows:?}");
        let spec = &specs[0];
        let c = spec.comps.iter().find(|c| c.name == name).unwrap();
        let rate = c.flops / (spec.call_ns(c, 1, 9) as f64 * 1e-9);
        assert!(close(rows[0]["tflops"].as_f64().unwrap(), (rate / 1e12 * 1000.0).round() / 1000.0, 1e-9), "{rows:?} vs {rate}");
        assert!(close(rows[0]["pct_of_ceiling"].as_f64().unwrap(), (rate / 1e12 * 1000.0).round() / 10.0, 1e-9), "{rows:?}");
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn duckdb_ranking_of_a_committed_trace_matches_the_analyzer() {
    let dir = scratch("summary-committed");
    let trace = committed("cpu-wan1.3b-f32-240x416.msgpack");
    let out = dir.join("summaries");
    let json = dir.join("r.json");
    run_ok(&[trace.as_os_str(), os("--export-summary"), out.as_os_str(), os("--format"), os("json"), os("-o"), json.as_os_str()]);
    let report: Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    let duck = duckdb_json("duckdb-summary.sql", &[("summaries", &out.join("**").join("*.parquet"))]);
    let ranking = duck["ranking"].as_array().unwrap();
    assert_eq!(ranking.len(), 5);
    // The analyzer's ranking (component-synced, at the largest frame count): its first five by
    // time per forward are DuckDB's, with the same times.
    let rows = report["ranking"]["rows"].as_array().expect("a ranking with rows");
    let mut analyzer: Vec<(f64, String)> = rows
        .iter()
        .map(|r| (r["ms_per_forward"].as_f64().expect("a time per forward"), r["name"].as_str().unwrap().to_string()))
        .collect();
    analyzer.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (row, (ms, name)) in ranking.iter().zip(&analyzer) {
        assert_eq!(row["component"], name.as_str(), "{row}");
        assert!(close(row["ms"].as_f64().unwrap(), (ms * 1000.0).round() / 1000.0, 1e-9), "{row} vs {ms}");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// An output inside the `--export-summary` directory would be replaced by a part file (or the
/// reverse, with `--force`): refused before anything is computed or written.
#[test]
fn an_output_inside_the_summary_directory_is_refused_before_computing() {
    let dir = scratch("summary-clash");
    let traces = write_traces(&dir);
    let out = dir.join("summaries");
    let inside = out.join("machine=fast/backend=cpu/preset=tiny/part-0.parquet");
    let mut args: Vec<&OsStr> = traces.iter().map(|p| p.as_os_str()).collect();
    args.extend([os("--export-summary"), out.as_os_str(), os("--force"), os("-o"), inside.as_os_str()]);
    let o = bin().args(&args).output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("inside the --export-summary directory"), "{e}");
    assert!(!out.exists(), "nothing written");
    let _ = fs::remove_dir_all(&dir);
}
