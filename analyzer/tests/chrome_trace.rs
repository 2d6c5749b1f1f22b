//! Chrome trace export of the committed traces: children end inside their parents as a viewer
//! computes ends (ts + dur in double precision), components merge across blocks, every chosen
//! run is one track.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use mlx_analyze::export::chrome_trace::{ChromeTraceRuns, RunSelection};
use mlx_analyze::export::Export;
use mlx_analyze::load::{load_files, Dataset, LoadOptions};

fn committed_traces() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../traces");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "msgpack")).collect();
    v.sort();
    assert!(v.len() >= 4, "committed traces missing: {v:?}");
    v
}

fn export_all(ds: &Dataset) -> serde_json::Value {
    let run_ids = RunSelection::all().resolve(ds).unwrap();
    assert_eq!(run_ids.len(), ds.runs.len());
    let mut out = Vec::new();
    ChromeTraceRuns { run_ids }.write(ds, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[derive(Debug, Clone)]
struct Slice {
    name: String,
    args: String,
    ts: f64,
    end: f64,
}

/// Complete events per track, in the order a viewer nests them (start, then longest first).
fn tracks(doc: &serde_json::Value) -> BTreeMap<(u64, u64), Vec<Slice>> {
    let mut t: BTreeMap<(u64, u64), Vec<Slice>> = BTreeMap::new();
    for e in doc["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == "X") {
        let ts = e["ts"].as_f64().unwrap();
        let dur = e["dur"].as_f64().unwrap();
        assert!(dur >= 0.0);
        t.entry((e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap())).or_default().push(Slice {
            name: e["name"].as_str().unwrap().to_string(),
            args: e["args"].to_string(),
            ts,
            end: ts + dur,
        });
    }
    for v in t.values_mut() {
        v.sort_by(|a, b| a.ts.total_cmp(&b.ts).then(b.end.total_cmp(&a.end)));
    }
    t
}

#[test]
fn every_child_ends_inside_its_parent_in_the_committed_traces() {
    let mut hazards = 0usize;
    let mut flush_ends = 0usize;
    for path in committed_traces() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let ds = load_files(&[path.clone()], &LoadOptions::default()).unwrap();
        // How often converting start and duration separately overshoots the exact end.
        let start = ds.events.column("start_ns").unwrap().u64().unwrap().clone();
        let dur = ds.events.column("duration_ns").unwrap().u64().unwrap().clone();
        for (s, d) in start.into_no_null_iter().zip(dur.into_no_null_iter()) {
            if s as f64 / 1000.0 + d as f64 / 1000.0 > (s + d) as f64 / 1000.0 {
                hazards += 1;
            }
        }
        let doc = export_all(&ds);
        let tracks = tracks(&doc);
        assert_eq!(tracks.len(), ds.runs.len(), "{name}: one track per run");
        for ((pid, tid), slices) in &tracks {
            let mut stack: Vec<&Slice> = Vec::new();
            for s in slices {
                while stack.last().is_some_and(|top| top.end <= s.ts) {
                    stack.pop();
                }
                if let Some(parent) = stack.last() {
                    assert!(
                        s.end <= parent.end,
                        "{name} track {pid}/{tid}: {} [{}, {}] ends after its parent {} [{}, {}]",
                        s.name, s.ts, s.end, parent.name, parent.ts, parent.end
                    );
                    if s.end == parent.end {
                        flush_ends += 1;
                    }
                    // A block component sits in its block's span.
                    if s.name.starts_with("block/") {
                        assert!(parent.name.starts_with("block "), "{name}: {} directly under {}", s.name, parent.name);
                    }
                } else {
                    assert!(s.name == "forward", "{name} track {pid}/{tid}: {} has no parent", s.name);
                }
                stack.push(s);
            }
        }
    }
    // The data exercises the case that broke viewers: separate conversion overshoots, and
    // children end exactly where their parent does.
    assert!(hazards > 0 && flush_ends > 0, "hazards {hazards}, flush ends {flush_ends}");
}

#[test]
fn ends_are_the_recorded_nanoseconds_and_components_merge_across_blocks() {
    let path = committed_traces().into_iter().find(|p| p.to_string_lossy().contains("81frames")).unwrap();
    let ds = load_files(&[path], &LoadOptions::default()).unwrap();
    // Reference: the recorded events of the first component-synced run, from the dataset.
    let run_id = ds.runs.iter().position(|r| r.sync == trace_format::SyncMode::Component).unwrap() as u32;
    let ev = &ds.events;
    let ids = ev.column("run_id").unwrap().u32().unwrap();
    let comp = ev.column("component_id").unwrap().u32().unwrap();
    let block = ev.column("block").unwrap().i32().unwrap();
    let start = ev.column("start_ns").unwrap().u64().unwrap();
    let dur = ev.column("duration_ns").unwrap().u64().unwrap();
    let mut recorded: Vec<(String, u64, u64, i32)> = Vec::new();
    for i in 0..ev.height() {
        if ids.get(i) == Some(run_id) {
            let (s, d) = (start.get(i).unwrap(), dur.get(i).unwrap());
            let name = ds.component_names[comp.get(i).unwrap() as usize].clone();
            recorded.push((name, s, s + d, block.get(i).unwrap()));
        }
    }
    let mut out = Vec::new();
    ChromeTraceRuns { run_ids: vec![run_id] }.write(&ds, &mut out).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let slices: Vec<Slice> = tracks(&doc).into_values().next().unwrap();
    // Back to nanoseconds as a viewer would: start and ts + dur, times 1000.
    let ns = |us: f64| (us * 1000.0).round() as u64;
    for (name, start, end, _) in &recorded {
        assert!(
            slices.iter().any(|s| &s.name == name && ns(s.ts) == *start && ns(s.end) == *end),
            "{name} [{start}, {end}] ns not exported with exact start and end"
        );
    }
    // Every event of a component carries the same arguments, so viewers merge them.
    let mut keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in slices.iter().filter(|s| !s.name.starts_with("block ") && s.name != "forward") {
        keys.entry(s.name.as_str()).or_default().insert(s.args.as_str());
    }
    assert!(keys.len() > 10);
    for (name, args) in &keys {
        assert_eq!(args.len(), 1, "{name}: {args:?}");
    }
    // One span per block, named by the block.
    let blocks: BTreeSet<i32> = recorded.iter().map(|r| r.3).filter(|b| *b >= 0).collect();
    let spans: BTreeSet<String> = slices.iter().filter(|s| s.name.starts_with("block ")).map(|s| s.name.clone()).collect();
    assert_eq!(spans, blocks.iter().map(|b| format!("block {b}")).collect::<BTreeSet<_>>());
    let sdpa = slices.iter().filter(|s| s.name == "block/self_attn/sdpa").count();
    assert_eq!(sdpa, blocks.len());
}

#[test]
fn the_binary_exports_every_chosen_run_and_says_which() {
    let dir = common::scratch("chrome");
    let traces = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../traces");
    let cpu = traces.join("cpu-lingbot14b-2blocks-f32.msgpack");
    let ds = load_files(&[cpu.clone()], &LoadOptions::default()).unwrap();
    let recorded: Vec<u32> = ds.runs.iter().map(|r| r.run).collect();
    let run = |args: &[&str], out: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_mlx-analyze"))
            .arg(&cpu)
            .args(["--format", "json", "--out"])
            .arg(dir.join(format!("{out}.report.json")))
            .arg("--chrome-trace")
            .arg(dir.join(out))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(0), "{stderr}");
        let doc: serde_json::Value = serde_json::from_slice(&fs::read(dir.join(out)).unwrap()).unwrap();
        let runs: Vec<u64> = doc["metadata"]["runs"].as_array().unwrap().iter().map(|r| r["run"].as_u64().unwrap()).collect();
        (runs, tracks(&doc).len(), stderr)
    };
    // Default: every run.
    let (runs, n, stderr) = run(&[], "all.json");
    assert_eq!(runs, recorded.iter().map(|&r| u64::from(r)).collect::<Vec<_>>());
    assert_eq!(n, recorded.len());
    assert!(stderr.contains(&format!("Chrome trace: {} run(s), one track each", recorded.len())), "{stderr}");
    // Two chosen: both exported.
    let pick = format!("{},{}", recorded[0], recorded[recorded.len() - 1]);
    let (runs, n, _) = run(&["--run", &pick], "two.json");
    assert_eq!(runs, [u64::from(recorded[0]), u64::from(recorded[recorded.len() - 1])]);
    assert_eq!(n, 2);
    // By sync mode.
    let (runs, _, _) = run(&["--run", "none"], "none.json");
    let fused: Vec<u64> = ds.runs.iter().filter(|r| r.sync == trace_format::SyncMode::None).map(|r| u64::from(r.run)).collect();
    assert!(!fused.is_empty());
    assert_eq!(runs, fused);

    // A header-only trace: the error says there is nothing to export, not that `--run` (never
    // given) matched nothing.
    let header_only = dir.join("header-only.msgpack");
    let mut w = trace_format::TraceWriter::new(Vec::new(), &trace_format::Header::new(trace_format::Metadata::default())).unwrap();
    let bytes = std::mem::take(w.get_mut());
    fs::write(&header_only, &bytes).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_mlx-analyze")).arg(&header_only).arg("--chrome-trace").arg(dir.join("none-at-all.json")).args(["-o", "-"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("hold no runs to export") && !stderr.contains("--run:"), "{stderr}");
    assert!(!dir.join("none-at-all.json").exists());
    let _ = fs::remove_dir_all(&dir);
}
