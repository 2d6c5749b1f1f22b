//! A recording stopped by SIGINT or killed by SIGKILL leaves `NAME.partial` holding every
//! completed run, readable by `trace_format`. SIGINT ends the run in progress, explains itself
//! and exits 130; SIGKILL gives no chance to clean up, and the fsync after each record is what
//! keeps the runs. Real `mlx-record` processes on the CPU backend, tiny preset.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use trace_format::{partial_path, read_trace};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlx-record-interrupt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts a recording long enough (tens of seconds) to be interrupted mid-way.
fn start(out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mlx-record"))
        .args(["--preset", "tiny", "--cpu", "--no-calibrate", "--quiet", "--runs", "3", "--sync", "component,none"])
        .args(["--frames", "5,9,13,17,21,25,29,33", "--height", "256", "--width", "256", "--out"])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mlx-record starts")
}

/// Completed runs in the partial file now (0 while it does not exist or holds only the header).
fn runs_in(partial: &Path) -> usize {
    std::fs::read(partial).ok().and_then(|b| read_trace(&b).ok()).map_or(0, |t| t.runs.len())
}

/// Waits until the partial trace holds at least `runs` completed runs.
fn wait_for_runs(child: &mut Child, partial: &Path, runs: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let n = runs_in(partial);
        if n >= runs {
            return n;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("mlx-record ended ({status}) before {runs} runs were written; the recording is too short to interrupt");
        }
        assert!(Instant::now() < deadline, "no {runs} runs after 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -{name} failed");
}

#[test]
fn sigint_keeps_completed_runs_and_exits_130_with_a_message() {
    let dir = scratch("sigint");
    let out = dir.join("t.msgpack");
    let partial = partial_path(&out);
    let mut child = start(&out);
    let before = wait_for_runs(&mut child, &partial, 2);
    signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted") && stderr.contains(&partial.display().to_string()), "{stderr}");
    assert!(!out.exists(), "an interrupted recording must not look finished");

    let trace = read_trace(&std::fs::read(&partial).unwrap()).unwrap();
    assert!(!trace.complete);
    // Every run completed before the signal, plus the one in progress, which SIGINT lets finish.
    assert!(trace.runs.len() >= before, "{} runs after SIGINT, {before} before", trace.runs.len());
    assert!(trace.runs.len() < 8 * 4 * 2, "the recording finished before the signal");
    for (i, run) in trace.runs.iter().enumerate() {
        assert_eq!(run.run as usize, i);
        assert!(run.forward_ns > 0 && !run.events.is_empty());
    }
    // The file ends on a record boundary: nothing half-written.
    assert_eq!(trace.warnings.len(), 1, "{:?}", trace.warnings);
    assert!(trace.warnings[0].contains("no end marker"), "{:?}", trace.warnings);
    let n: usize = stderr.split("interrupted; ").nth(1).and_then(|s| s.split(' ').next()).and_then(|s| s.parse().ok()).expect("run count in message");
    assert_eq!(n, trace.runs.len(), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigkill_leaves_a_partial_trace_with_every_completed_run() {
    let dir = scratch("sigkill");
    let out = dir.join("t.msgpack");
    let partial = partial_path(&out);
    let mut child = start(&out);
    let before = wait_for_runs(&mut child, &partial, 3);
    let snapshot = read_trace(&std::fs::read(&partial).unwrap()).unwrap();
    signal(&child, "KILL");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
    assert!(!out.exists());

    let trace = read_trace(&std::fs::read(&partial).unwrap()).unwrap();
    assert!(!trace.complete && !trace.warnings.is_empty());
    assert!(trace.runs.len() >= before, "{} runs after SIGKILL, {before} before", trace.runs.len());
    // The runs seen before the kill are intact, byte for byte the same values.
    assert_eq!(trace.runs[..before], snapshot.runs[..before]);
    assert_eq!(trace.header, snapshot.header);
    let _ = std::fs::remove_dir_all(&dir);
}
