//! The binary: exit codes, skipped files named on stderr, files written only when complete.

mod common;

use std::fs;
use std::process::Command;

use common::{scratch, simple_spec};
use trace_synth::generate;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mlx-analyze"))
}

#[test]
fn usage_errors_exit_2() {
    let out = bin().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["x.msgpack", "--format", "pdf"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn runs_end_to_end_and_names_bad_files() {
    let dir = scratch("cli");
    fs::write(dir.join("good.msgpack"), generate(&simple_spec(), true)).unwrap();
    fs::write(dir.join("bad.msgpack"), b"not a trace").unwrap();
    let charts = dir.join("charts");
    let report = dir.join("report.md");
    let out = bin()
        .arg(dir.display().to_string())
        .args(["--format", "markdown", "--out"])
        .arg(&report)
        .arg("--charts")
        .arg(&charts)
        .arg("--html")
        .arg(dir.join("report.html"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("bad.msgpack") && stderr.contains("not an mlx-trace file"), "{stderr}");
    let md = fs::read_to_string(&report).unwrap();
    assert!(md.contains("## Bottleneck ranking"));
    assert!(charts.join("ranking.svg").exists() && charts.join("distribution.svg").exists());
    assert!(fs::read_to_string(dir.join("report.html")).unwrap().contains("<svg"));

    // Unknown --by key: usage error (2), and nothing written.
    let out = bin().arg(dir.join("good.msgpack")).args(["--by", "colour", "--out"]).arg(dir.join("never.txt")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no metadata key \"colour\""));
    assert!(!dir.join("never.txt").exists());

    // Only bad files: failure (1).
    let out = bin().arg(dir.join("bad.msgpack")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let _ = fs::remove_dir_all(&dir);
}
