//! DuckDB reads the Parquet export and reproduces the analyzer's scaling table (medians per
//! component per sequence length), through `scripts/duckdb-scaling.sql`. Needs `.venv` with
//! DuckDB (scripts/setup.sh); without it the test fails and says so.

mod tables_common;

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use serde_json::Value;
use tables_common::*;

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Exports `trace`, runs the DuckDB script, and checks every cell and forward of the report's
/// scaling table against it; returns how many cells were compared.
fn check_scaling(trace: &Path, dir: &Path, tag: &str) -> usize {
    let pq = dir.join(format!("{tag}.parquet"));
    let json = dir.join(format!("{tag}.json"));
    run_ok(&[trace.as_os_str(), os("--format"), os("json"), os("-o"), json.as_os_str(), os("--export-parquet"), pq.as_os_str()]);
    let report: Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    let duck = duckdb_json("duckdb-scaling.sql", &[("events", &pq)]);
    let cells = duck["cells"].as_array().unwrap();
    let forwards = duck["forward"].as_array().unwrap();
    let rows = report["scaling"]["rows"].as_array().unwrap();
    assert!(rows.len() >= 2, "{tag}: the report has a scaling table");
    let mut compared = 0;
    for row in rows {
        let frames = row["frames"].as_u64().unwrap();
        let tokens = row["tokens"].as_u64().unwrap();
        let report_cells = row["cells"].as_array().unwrap();
        let duck_cells: Vec<&Value> = cells.iter().filter(|c| c["frames"].as_u64() == Some(frames)).collect();
        assert_eq!(report_cells.len(), duck_cells.len(), "{tag}: components at {frames} frames: {report_cells:?} vs {duck_cells:?}");
        for cell in report_cells {
            let name = cell["name"].as_str().unwrap();
            let d = duck_cells.iter().find(|c| c["component"] == name).unwrap_or_else(|| panic!("{tag}: DuckDB has no {name} at {frames} frames"));
            assert_eq!(d["tokens"].as_u64(), Some(tokens), "{tag}: tokens at {frames} frames");
            let (a, b) = (cell["ms"].as_f64().unwrap(), d["ms"].as_f64().unwrap());
            assert!(a > 0.0 && close(a, b, 1e-9), "{tag}: {name} at {frames} frames: analyzer {a} ms, DuckDB {b} ms");
            compared += 1;
        }
        match row["forward_ms"].as_f64() {
            Some(f) => {
                let d = forwards.iter().find(|r| r["frames"].as_u64() == Some(frames)).unwrap_or_else(|| panic!("{tag}: no DuckDB forward at {frames}"));
                let b = d["forward_ms"].as_f64().unwrap();
                assert!(close(f, b, 1e-9), "{tag}: forward at {frames} frames: analyzer {f} ms, DuckDB {b} ms");
            }
            None => assert!(forwards.iter().all(|r| r["frames"].as_u64() != Some(frames)), "{tag}: DuckDB found a fused forward the analyzer did not"),
        }
    }
    compared
}

#[test]
fn duckdb_reproduces_the_scaling_table_of_a_committed_trace() {
    let dir = scratch("duckdb-scaling-committed");
    let n = check_scaling(&committed("cpu-wan1.3b-f32-240x416.msgpack"), &dir, "wan");
    // 3 frame counts x the 1.3B model's components.
    assert!(n >= 3 * 15, "{n} cells compared");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn duckdb_reproduces_the_scaling_table_of_known_times() {
    let dir = scratch("duckdb-scaling-known");
    // Three timed runs: times x1, x2, x4, so the median is the middle run's (not the mean); blocks 4.
    let spec = Spec { blocks: 4, frames: vec![1, 5, 9, 13], ..Spec::new("known") };
    let trace = dir.join("known.msgpack");
    fs::write(&trace, spec.bytes()).unwrap();
    let n = check_scaling(&trace, &dir, "known");
    assert_eq!(n, 4 * spec.comps.len());
    // And the values are the known ones: per block for block components.
    let report: Value = serde_json::from_slice(&fs::read(dir.join("known.json")).unwrap()).unwrap();
    for row in report["scaling"]["rows"].as_array().unwrap() {
        let frames = row["frames"].as_u64().unwrap() as u32;
        for c in &spec.comps {
            let cell = row["cells"].as_array().unwrap().iter().find(|x| x["name"] == c.name).unwrap();
            let want = spec.call_ns(c, 1, frames) as f64 / 1e6;
            assert!(close(cell["ms"].as_f64().unwrap(), want, 1e-12), "{} at {frames}: {cell} vs {want}", c.name);
        }
        assert!(close(row["forward_ms"].as_f64().unwrap(), spec.forward_ns(1, frames) as f64 / 1e6, 1e-12));
    }
    let _ = fs::remove_dir_all(&dir);
}
