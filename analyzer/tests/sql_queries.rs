//! `--sql`: the documented examples give what the traces hold (computed here from the traces
//! decoded by the format crate), every output format, and bad queries as one-line usage errors.

mod tables_common;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;

use serde_json::Value;
use tables_common::*;

/// The three examples of `--help` and docs/tables.md.
const MEDIAN_PER_MACHINE: &str = "SELECT machine, preset, frames, MEDIAN(duration_ns) / 1000000.0 AS ms FROM events_wide \
    WHERE component = 'block/self_attn/sdpa' AND sync = 'component' GROUP BY machine, preset, frames ORDER BY machine, preset, frames";
const SLOWEST_BLOCKS: &str = "SELECT file, run, block, SUM(duration_ns) / 1000000.0 AS ms FROM events_wide \
    WHERE sync = 'component' AND block IS NOT NULL GROUP BY file, run, block ORDER BY ms DESC LIMIT 10";
const DRIFT_PER_VARIANT: &str = "SELECT variant, frames, COUNT(*) AS runs, MAX(drift_max_rel) AS drift_max, MEDIAN(forward_ns) / 1000000.0 AS forward_ms \
    FROM runs WHERE sync = 'none' GROUP BY variant, frames ORDER BY frames, forward_ms";

fn two_machines(dir: &std::path::Path) -> Vec<PathBuf> {
    let fast = Spec::new("fast");
    let slow = Spec { speed: 2.5, start_time: "2026-12-01T01:00:00Z", ..Spec::new("slow") };
    let (a, b) = (dir.join("fast.msgpack"), dir.join("slow.msgpack"));
    fs::write(&a, fast.bytes()).unwrap();
    fs::write(&b, slow.bytes()).unwrap();
    vec![a, b]
}

fn sql_json(files: &[PathBuf], query: &str) -> Vec<Value> {
    let mut cmd = bin();
    cmd.args(files).args(["--sql", query, "--format", "json"]);
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{query}: {}", stderr(&o));
    serde_json::from_slice::<Value>(&o.stdout).unwrap().as_array().unwrap().clone()
}

#[test]
fn median_per_machine_matches_the_traces() {
    let dir = scratch("sql-median");
    let files = two_machines(&dir);
    let rows = sql_json(&files, MEDIAN_PER_MACHINE);
    // Independent: every sdpa call of the timed component-synced runs, per machine and frames.
    let mut calls: BTreeMap<(String, u32), Vec<f64>> = BTreeMap::new();
    for f in &files {
        let t = trace_format::read_trace_file(f).unwrap();
        let machine = t.header.metadata.labels["machine"].clone();
        for r in t.runs.iter().filter(|r| !r.warmup && r.sync == trace_format::SyncMode::Component) {
            for e in r.events() {
                if r.components[e.component as usize].name == "block/self_attn/sdpa" {
                    calls.entry((machine.clone(), r.frames)).or_default().push(e.duration_ns as f64 / 1e6);
                }
            }
        }
    }
    assert_eq!(rows.len(), calls.len());
    for (row, ((machine, frames), v)) in rows.iter().zip(calls) {
        assert_eq!(row["machine"], machine.as_str());
        assert_eq!(row["frames"], frames);
        let want = median(v);
        assert!(close(row["ms"].as_f64().unwrap(), want, 1e-12), "{row} vs {want}");
    }
    // Column order kept in the JSON objects.
    let o = bin().args(&files).args(["--sql", MEDIAN_PER_MACHINE, "--format", "json"]).output().unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    let (m, f, ms) = (text.find("\"machine\"").unwrap(), text.find("\"frames\"").unwrap(), text.find("\"ms\"").unwrap());
    assert!(m < f && f < ms, "{text}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn slowest_blocks_match_the_traces() {
    let dir = scratch("sql-blocks");
    let files = two_machines(&dir);
    let rows = sql_json(&files, SLOWEST_BLOCKS);
    assert_eq!(rows.len(), 10);
    let mut per_block: HashMap<(String, u32, u32), u64> = HashMap::new();
    for f in &files {
        let t = trace_format::read_trace_file(f).unwrap();
        for r in t.runs.iter().filter(|r| !r.warmup && r.sync == trace_format::SyncMode::Component) {
            for e in r.events() {
                if let Some(b) = e.block {
                    *per_block.entry((f.display().to_string(), r.run, b)).or_default() += e.duration_ns;
                }
            }
        }
    }
    let mut sums: Vec<u64> = per_block.values().copied().collect();
    sums.sort_unstable_by(|a, b| b.cmp(a));
    for (row, want) in rows.iter().zip(&sums) {
        assert!(close(row["ms"].as_f64().unwrap(), *want as f64 / 1e6, 1e-12), "{row} vs {want}");
        let key = (row["file"].as_str().unwrap().to_string(), row["run"].as_u64().unwrap() as u32, row["block"].as_u64().unwrap() as u32);
        assert_eq!(per_block[&key], *want, "{row}");
    }
    // The slowest block is the slow machine's.
    assert!(rows[0]["file"].as_str().unwrap().ends_with("slow.msgpack"), "{rows:?}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn drift_per_variant_matches_the_committed_variant_trace() {
    let trace = committed("h200-lingbot14b-bf16-variants.msgpack");
    let rows = sql_json(std::slice::from_ref(&trace), DRIFT_PER_VARIANT);
    let t = trace_format::read_trace_file(&trace).unwrap();
    let mut per: BTreeMap<(String, u32), (usize, Option<f64>, Vec<f64>)> = BTreeMap::new();
    for r in t.runs.iter().filter(|r| !r.warmup && r.sync == trace_format::SyncMode::None) {
        let e = per.entry((r.variant.clone(), r.frames)).or_default();
        e.0 += 1;
        if let Some(d) = r.drift {
            e.1 = Some(e.1.map_or(d.max_rel, |m: f64| m.max(d.max_rel)));
        }
        e.2.push(r.forward_ns as f64 / 1e6);
    }
    assert!(per.len() >= 10, "{per:?}");
    assert_eq!(rows.len(), per.len());
    let mut last = (0, 0.0);
    for row in &rows {
        let frames = row["frames"].as_u64().unwrap() as u32;
        let (n, drift, fwd) = per[&(row["variant"].as_str().unwrap().to_string(), frames)].clone();
        assert_eq!(row["runs"].as_u64().unwrap() as usize, n);
        assert_eq!(row["drift_max"].as_f64(), drift, "{row}");
        let f = row["forward_ms"].as_f64().unwrap();
        assert!(close(f, median(fwd), 1e-12), "{row}");
        assert!((frames, f) >= last, "ordered by frames, then forward_ms");
        last = (frames, f);
    }
}

#[test]
fn formats_and_output_files() {
    let dir = scratch("sql-formats");
    let files = two_machines(&dir);
    let q = "SELECT machine, COUNT(*) AS events, MIN(block) AS first_block FROM events_wide GROUP BY machine ORDER BY machine";
    let table = bin().args(&files).args(["--sql", q]).output().unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.lines().next().unwrap().starts_with("machine"), "{text}");
    assert!(text.contains("fast") && text.contains("slow") && text.trim_end().ends_with("(2 rows)"), "{text}");

    let csv = dir.join("r.csv");
    run_ok(&[files[0].as_os_str(), files[1].as_os_str(), "--sql".as_ref(), q.as_ref(), "--format".as_ref(), "csv".as_ref(), "-o".as_ref(), csv.as_os_str()]);
    let csv_text = fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = csv_text.lines().collect();
    assert_eq!(lines[0], "machine,events,first_block");
    // Per machine: 2 frame counts x 3 runs x (2 + 2 x 2 block events) component-synced, + 2 x 3 fused.
    assert_eq!(lines[1], "fast,42,0");
    assert_eq!(lines[2], "slow,42,0");
    // Existing output: refused without --force.
    let o = bin().args(&files).args(["--sql", q, "--format", "csv", "-o"]).arg(&csv).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("exists"), "{}", stderr(&o));

    let md = bin().args(&files).args(["--sql", q, "--format", "markdown"]).output().unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.starts_with("| machine | events | first_block |\n|---|---:|---:|\n| fast | 42 | 0 |"), "{md}");
    let html = bin().args(&files).args(["--sql", q, "--format", "html"]).output().unwrap();
    let html = String::from_utf8(html.stdout).unwrap();
    assert!(html.contains("<table") && html.contains("fast") && html.contains("</html>"), "{html}");

    // NULL: a block outside the blocks.
    let rows = sql_json(&files, "SELECT component, block FROM events_wide WHERE component = 'head' LIMIT 1");
    assert_eq!(rows[0]["block"], Value::Null);
    // The other tables are there.
    for table in ["traces", "runs", "components", "events", "setups", "component_names"] {
        let o = bin().args(&files).args(["--sql", &format!("SELECT COUNT(*) AS n FROM {table}"), "--format", "csv"]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{table}: {}", stderr(&o));
    }
    // The events are kept when a query names them (and only then).
    assert_eq!(sql_json(&files, "SELECT COUNT(*) AS n FROM events")[0]["n"], 84);
    let comps = sql_json(&files, "SELECT component, SUM(calls) AS calls FROM components GROUP BY component ORDER BY component");
    assert_eq!(comps.len(), 5, "{comps:?}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn bad_queries_are_one_line_usage_errors() {
    let dir = scratch("sql-errors");
    let files = two_machines(&dir);
    for (q, expect) in [
        ("SELEC 1", "--sql:"),
        ("SELECT * FROM nowhere", "nowhere"),
        ("SELECT no_such_column FROM runs", "no_such_column"),
        ("SELECT machine FROM traces; SELECT 1", "--sql:"),
        ("   ", "empty"),
        ("SELECT SUM(variant) FROM runs", "--sql:"),
    ] {
        let o = bin().args(&files).args(["--sql", q]).output().unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{q}: {e}");
        assert!(!e.contains("panicked"), "{q}: {e}");
        let first = e.lines().next().unwrap();
        assert!(first.starts_with("mlx-analyze: --sql") && first.contains(expect), "{q}: {e}");
        assert_eq!(e.lines().count(), 2, "one line and the --help hint: {e}");
        assert!(o.stdout.is_empty());
    }
    // Nothing is written by a query that cannot run.
    let out = dir.join("out.csv");
    let pq = dir.join("e.parquet");
    let o = bin().args(&files).args(["--sql", "SELEC", "-o"]).arg(&out).arg("--export-parquet").arg(&pq).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists() && !pq.exists());
    // CSV is for query results only; --sql replaces the report, so report-only outputs conflict.
    let o = bin().args(&files).args(["--format", "csv"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--format csv applies to --sql"), "{}", stderr(&o));
    let o = bin().args(&files).args(["--sql", "SELECT 1 AS x", "--html"]).arg(dir.join("r.html")).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let _ = fs::remove_dir_all(&dir);
}

/// Queries deeper than the parser can take (2,000 `OR` terms, 3,000 `+`, parentheses 200 deep)
/// overflowed the stack (SIGABRT): refused with a reason instead, and an ordinary query of a
/// few dozen terms still runs.
#[test]
fn queries_too_deep_to_parse_are_refused_not_aborted() {
    let dir = tables_common::scratch("sql-depth");
    let files = two_machines(&dir);
    let ors = (0..2000).map(|i| format!("run = {i}")).collect::<Vec<_>>().join(" OR ");
    let plus = (0..3000).map(|_| "1").collect::<Vec<_>>().join(" + ");
    let nested = format!("SELECT {}1{} AS x FROM runs", "(".repeat(200), ")".repeat(200));
    for query in [format!("SELECT * FROM runs WHERE {ors}"), format!("SELECT {plus} AS x FROM runs"), nested] {
        let o = tables_common::bin().args(&files).args(["--sql", &query]).output().unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.code().is_some_and(|c| c == 1 || c == 2), "{:?}: {e}", o.status);
        assert!(e.contains("--sql:") && (e.contains("operators") || e.contains("nest")), "{e}");
    }
    let some = (0..40).map(|i| format!("run = {i}")).collect::<Vec<_>>().join(" OR ");
    let rows = sql_json(&files, &format!("SELECT run FROM runs WHERE {some}"));
    assert!(!rows.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A cross join of four tables builds the product of their rows before anything filters it:
/// the allocation aborted the process. Refused before running, with the estimate; a small cross
/// join still runs and counts what it should, and a keyed join is not mistaken for one.
#[test]
fn cross_joins_too_large_to_build_are_refused_not_aborted() {
    let dir = tables_common::scratch("sql-cross");
    let files = two_machines(&dir);
    let o = tables_common::bin()
        .args(&files)
        .args(["--sql", "SELECT COUNT(*) AS n FROM events a, events b, events c, events d"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("--sql:") && e.contains("rows, more than"), "{e}");
    let runs = sql_json(&files, "SELECT COUNT(*) AS n FROM runs")[0]["n"].as_u64().unwrap();
    let pairs = sql_json(&files, "SELECT COUNT(*) AS n FROM runs a CROSS JOIN runs b")[0]["n"].as_u64().unwrap();
    assert_eq!(pairs, runs * runs);
    let events = sql_json(&files, "SELECT COUNT(*) AS n FROM events")[0]["n"].as_u64().unwrap();
    let keyed = sql_json(&files, "SELECT COUNT(*) AS n FROM events e JOIN runs r ON e.run_id = r.run_id")[0]["n"].as_u64().unwrap();
    assert_eq!(keyed, events);
    let _ = std::fs::remove_dir_all(&dir);
}
