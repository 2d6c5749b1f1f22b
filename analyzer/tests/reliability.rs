//! Reliability of the analyzer's input side: many files with a few bad ones, the regression
//! corpus through the loading path, and every flag given a wrong value.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::{scratch, simple_spec};
use mlx_analyze::load::{load_bytes, load_files, LoadOptions};
use trace_synth::generate;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mlx-analyze"))
}

#[test]
fn a_thousand_traces_with_a_few_corrupt_ones_analyze_and_name_the_bad_ones() {
    let dir = scratch("thousand");
    let mut spec = simple_spec();
    spec.runs = 1;
    spec.warmup_runs = 0;
    let good = generate(&spec, true);
    // A thousand distinct recordings (identical files would count once).
    for i in 0..1000 {
        let mut one = spec.clone();
        one.metadata.start_time = format!("2025-01-01 00:{:02}:{:02}", i / 60, i % 60);
        fs::write(dir.join(format!("t{i:04}.msgpack")), generate(&one, true)).unwrap();
    }
    // Overwrite a few with damage of different kinds.
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("t0013.msgpack", good[..30].to_vec()),
        ("t0200.msgpack", br#"{"magic": "mlx-trace"}"#.to_vec()),
        ("t0555.msgpack", Vec::new()),
        ("t0777.msgpack", good.iter().map(|b| b ^ 0x5a).collect()),
        ("t0999.msgpack", fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../trace-format/tests/corpus/version-2.msgpack")).unwrap()),
    ];
    for (name, bytes) in &bad {
        fs::write(dir.join(name), bytes).unwrap();
    }
    // Cut inside its last record: still used, with a warning.
    fs::write(dir.join("t0500.msgpack"), &good[..good.len() - 5]).unwrap();

    let report = dir.join("report.json");
    let out = bin().arg(&dir).args(["--format", "json", "--out"]).arg(&report).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for (name, _) in &bad {
        assert!(
            stderr.lines().any(|l| l.starts_with("mlx-analyze: skipped") && l.contains(name)),
            "{name} not named as skipped:\n{stderr}"
        );
    }
    assert!(stderr.contains("supports version 1"), "{stderr}");
    assert!(stderr.lines().any(|l| l.contains("warning") && l.contains("t0500.msgpack")), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.contains("skipped")).count(), bad.len(), "{stderr}");
    assert!(fs::read_to_string(&report).unwrap().starts_with('{'));

    // The library agrees: 995 loaded, 5 skipped, named.
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "msgpack")).collect();
    paths.sort();
    let ds = load_files(&paths, &LoadOptions::default()).unwrap();
    assert_eq!(ds.trace_info.len(), 995);
    let mut skipped: Vec<String> = ds.skipped.iter().map(|s| PathBuf::from(&s.file).file_name().unwrap().to_string_lossy().to_string()).collect();
    skipped.sort();
    assert_eq!(skipped, bad.iter().map(|b| b.0.to_string()).collect::<Vec<_>>());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn regression_corpus_goes_through_the_loading_path() {
    let good = generate(&simple_spec(), true);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../trace-format/tests");
    let mut count = 0;
    for sub in ["corpus", "data"] {
        for entry in fs::read_dir(root.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let bytes = fs::read(&path).unwrap();
            for include_warmup in [false, true] {
                let ds = load_bytes(vec![("good".into(), good.clone()), (name.clone(), bytes.clone())], &LoadOptions { include_warmup, threads: 1, ..Default::default() })
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let loaded = ds.trace_info.len() == 2;
                let skipped = ds.skipped.iter().any(|s| s.file == name && !s.reason.is_empty() && !s.reason.contains('\n'));
                assert!(loaded != skipped, "{name}: loaded {loaded}, skipped {:?}", ds.skipped);
            }
            count += 1;
        }
    }
    assert!(count >= 12);
}

/// Runs the binary with one wrong flag value; checks exit code 2, a one-line error naming the
/// flag, and the usage hint; nothing is written.
fn refuses(trace: &PathBuf, args: &[&str], mentions: &str) {
    let out = bin().arg(trace).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: wrote a report");
    let first = stderr.lines().next().unwrap_or("");
    assert!(first.starts_with("error:") || first.starts_with("mlx-analyze:"), "{args:?}: {stderr}");
    // clap lists missing companion flags on the line after its error line.
    let head: String = stderr.lines().take(2).collect::<Vec<_>>().join(" ");
    assert!(head.contains(mentions), "{args:?}: {mentions:?} not in {head:?}");
    assert!(stderr.contains("try '--help'"), "{args:?}: no usage hint: {stderr}");
    let lines = stderr.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(lines <= 5, "{args:?}: {lines} lines: {stderr}");
}

#[test]
fn every_flag_with_a_wrong_value_exits_2_with_a_usage_hint() {
    let dir = scratch("flags");
    let trace = dir.join("good.msgpack");
    fs::write(&trace, generate(&simple_spec(), true)).unwrap();
    let missing = dir.join("no-such-dir").join("x");
    let m = missing.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--format", "pdf"], "--format"),
        (vec!["--rollup", "coarse"], "--rollup"),
        (vec!["--frames", "abc"], "--frames"),
        (vec!["--frames", "-5"], "--frames"),
        (vec!["--threads", "-1"], "--threads"),
        (vec!["--chrome-trace", "x.json", "--run", "-1"], "--run"),
        (vec!["--frames", "999"], "--frames 999"),
        (vec!["--by", "colour"], "colour"),
        (vec!["--by", "variant", "--baseline", "nope"], "--by variant"),
        (vec!["--baseline", "x"], "--by"),
        (vec!["--noise", "abc"], "--noise"),
        (vec!["--noise", "-0.5"], "--noise"),
        (vec!["--noise", "nan"], "--noise"),
        (vec!["--noise", "1.5"], "--noise"),
        (vec!["--resamples", "0"], "--resamples"),
        (vec!["--resamples", "-1"], "--resamples"),
        (vec!["--threads", "many"], "--threads"),
        (vec!["--out", &m], "--out"),
        (vec!["--out", dir.to_str().unwrap()], "--out"),
        (vec!["--html", &m], "--html"),
        (vec!["--charts", trace.to_str().unwrap()], "--charts"),
        (vec!["--export-csv", &m], "--export-csv"),
        (vec!["--export-parquet", &m], "--export-parquet"),
        (vec!["--chrome-trace", &m], "--chrome-trace"),
        (vec!["--run", "3"], "--chrome-trace"),
        (vec!["--chrome-trace", "x.json", "--run", "abc"], "--run"),
        (vec!["--bogus"], "--bogus"),
        (vec!["--out"], "--out"),
    ];
    for (args, mentions) in &cases {
        refuses(&trace, args, mentions);
    }
    let out = dir.join("ct.json");
    refuses(&trace, &["--chrome-trace", out.to_str().unwrap(), "--run", "999"], "no run 999");
    assert!(!out.exists());
    let _ = fs::remove_dir_all(&dir);
}
