//! Inputs as a user names them: the same trace given twice counts once (by content, with a
//! note); a single unreadable or missing input says why; a record that fails to decode inside
//! a readable trace is skipped with a warning and the rest of the trace kept.

mod common;

use std::fs;
use std::process::Command;

use common::{scratch, simple_spec};
use mlx_analyze::load::{expand_inputs, load_bytes, load_files, LoadOptions};
use trace_synth::generate;
use trace_format::{Header, Metadata, RunRecord, SyncMode, TraceWriter};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mlx-analyze"))
}

#[test]
fn the_same_trace_named_twice_or_copied_counts_once() {
    let dir = scratch("twice");
    let bytes = generate(&simple_spec(), true);
    fs::write(dir.join("a.msgpack"), &bytes).unwrap();
    fs::write(dir.join("copy.msgpack"), &bytes).unwrap();
    let mut other = simple_spec();
    other.seed = 9;
    other.jitter = 0.05;
    fs::write(dir.join("other.msgpack"), generate(&other, true)).unwrap();

    let once = load_files(&[dir.join("a.msgpack")], &LoadOptions::default()).unwrap();
    // By a glob and by the directory: every file twice.
    let args = [format!("{}/*.msgpack", dir.display()), dir.display().to_string()];
    let (files, skipped) = expand_inputs(&args).unwrap();
    assert!(skipped.is_empty());
    assert_eq!(files.len(), 6);
    let ds = load_files(&files, &LoadOptions::default()).unwrap();
    assert_eq!(ds.trace_info.len(), 2, "a (or its copy) and other");
    assert_eq!(ds.runs.len(), 2 * once.runs.len());
    assert_eq!(ds.event_count(), 2 * once.event_count());
    assert_eq!(ds.skipped.len(), 4, "{:?}", ds.skipped);
    let note = |name: &str| ds.skipped.iter().filter(|s| s.file.ends_with(name)).map(|s| s.reason.clone()).collect::<Vec<_>>();
    // The copy repeats a.msgpack, listed first; each name given again is named as such.
    assert!(note("copy.msgpack").iter().any(|r| r.contains("same content as") && r.contains("a.msgpack") && r.contains("counted once")), "{:?}", ds.skipped);
    assert!(note("a.msgpack").iter().any(|r| r.contains("named more than once")), "{:?}", ds.skipped);
    assert!(note("other.msgpack").iter().any(|r| r.contains("named more than once")), "{:?}", ds.skipped);

    // In memory too, by content whatever the name.
    let ds = load_bytes(vec![("x".into(), bytes.clone()), ("y".into(), bytes.clone())], &LoadOptions::default()).unwrap();
    assert_eq!(ds.trace_info.len(), 1);
    assert_eq!(ds.skipped[0].file, "y");

    // The binary: one trace in the report, the note on stderr.
    let report = dir.join("report.json");
    let out = bin().arg(dir.join("a.msgpack")).arg(dir.join("a.msgpack")).args(["--format", "json", "--out"]).arg(&report).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("a.msgpack: named more than once; counted once"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["inputs"]["files"].as_array().map(|f| f.len()), Some(1), "{}", json["inputs"]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_single_unreadable_or_missing_input_says_why() {
    let dir = scratch("why");
    fs::write(dir.join("text.msgpack"), b"hello, not a trace\n").unwrap();
    fs::write(dir.join("empty.msgpack"), b"").unwrap();

    let out = bin().arg(dir.join("text.msgpack")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("text.msgpack") && stderr.contains("looks like text"), "no reason given: {stderr}");

    // Several unreadable inputs: each one's reason.
    let out = bin().arg(dir.join("text.msgpack")).arg(dir.join("empty.msgpack")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("looks like text") && stderr.contains("empty.msgpack") && stderr.contains("empty"), "{stderr}");
    assert!(stderr.contains("no readable traces among 2 input file(s)"), "{stderr}");

    // A missing file: named as missing, and no talk of "0 input files".
    let out = bin().arg(dir.join("nope.msgpack")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.contains("nope.msgpack") && stderr.contains("no such file"), "{stderr}");
    assert!(!stderr.contains("among 0"), "{stderr}");

    // Through the library: the error carries the reason.
    let err = load_files(&[dir.join("empty.msgpack")], &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("empty.msgpack") && err.contains("empty"), "{err}");
    let err = load_files(&[dir.join("gone.msgpack")], &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("gone.msgpack") && err.contains("no such file"), "{err}");
    let err = load_files(&[], &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("nothing to read") && !err.contains("among 0"), "{err}");
    let _ = fs::remove_dir_all(&dir);
}

/// A trace of four runs with an undecodable record (framing intact) after the second.
fn trace_with_a_bad_record() -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), &Header::new(Metadata { host: "h".into(), ..Metadata::default() })).unwrap();
    for i in 0..4u32 {
        if i == 2 {
            // {"Run": {"frames": "five"}}: a run record whose field has the wrong type.
            let mut bad = vec![0x81, 0xa3];
            bad.extend_from_slice(b"Run");
            bad.extend_from_slice(&[0x81, 0xa6]);
            bad.extend_from_slice(b"frames");
            bad.push(0xa4);
            bad.extend_from_slice(b"five");
            w.get_mut().extend_from_slice(&bad);
        }
        let mut run = RunRecord::new(i, "baseline", SyncMode::Component, 5, 1000);
        let c = run.component("block/ffn/up", 1e9, 1e6);
        run.push_event(c, Some(0), 0, 1_000_000 + u64::from(i));
        run.forward_ns = 1_000_000 + u64::from(i);
        w.add_run(&run).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn an_undecodable_record_is_skipped_and_the_later_runs_kept() {
    let ds = load_bytes(vec![("t.msgpack".into(), trace_with_a_bad_record())], &LoadOptions::default()).unwrap();
    let runs: Vec<u32> = ds.runs.iter().map(|r| r.run).collect();
    assert_eq!(runs, [0, 1, 2, 3], "every decodable run is kept");
    assert!(ds.warnings.iter().any(|w| w.starts_with("t.msgpack: ") && w.contains("unreadable") && w.contains("skipped")), "{:?}", ds.warnings);

    let dir = scratch("badrecord");
    let path = dir.join("t.msgpack");
    fs::write(&path, trace_with_a_bad_record()).unwrap();
    let report = dir.join("report.json");
    let out = bin().arg(&path).args(["--format", "json", "--out"]).arg(&report).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.lines().any(|l| l.contains("warning") && l.contains("t.msgpack") && l.contains("skipped")), "{stderr}");
    let _ = fs::remove_dir_all(&dir);
}
