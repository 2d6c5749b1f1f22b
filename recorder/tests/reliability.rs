//! `mlx-record` never destroys a file, never panics on large numbers, and fails before computing:
//! existing traces and `.partial` files, devices and FIFOs are refused as outputs; default names
//! are unique; a second recorder on a path stops at once; huge flag values exit 2; a bad
//! checkpoint exits 2 before any file exists; the memory check sees process limits; SIGTERM and
//! SIGHUP keep the trace like SIGINT; a write failure names the file and the runs it keeps.
//! Real `mlx-record` processes, CPU backend, tiny preset.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mlx_record::api::DType;
use mlx_record::{Preset, Weights};
use mlx_rs::Array;
use trace_format::{partial_path, read_trace, read_trace_file};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlx-record-reliability-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A quick valid recording (one run of a 16x16 frame), less `--out`.
const QUICK: [&str; 17] =
    ["--preset", "tiny", "--cpu", "--no-calibrate", "--quiet", "--frames", "1", "--height", "16", "--width", "16", "--runs", "1", "--warmup", "0", "--sync", "none"];

fn record() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mlx-record"))
}

fn quick(out: &Path) -> Command {
    let mut c = record();
    c.args(QUICK).arg("--out").arg(out);
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2, the first line an `error:` naming `mentions`, the help hint, no panic.
fn refused(o: &Output, mentions: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    let first = e.lines().next().unwrap_or("");
    assert!(first.starts_with("error:") && first.contains(mentions), "{mentions:?} not in {first:?}");
    assert!(e.contains("try '--help'"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

/// A recording of the tiny model long enough to be signalled mid-way (several seconds).
fn start_long(out: &Path, frames: &str) -> Child {
    record()
        .args(["--preset", "tiny", "--cpu", "--no-calibrate", "--quiet", "--runs", "3", "--warmup", "0", "--sync", "component,none"])
        .args(["--frames", frames, "--height", "256", "--width", "256", "--out"])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn runs_in(partial: &Path) -> usize {
    fs::read(partial).ok().and_then(|b| read_trace(&b).ok()).map_or(0, |t| t.runs.len())
}

fn wait_for_runs(child: &mut Child, partial: &Path, runs: usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while runs_in(partial) < runs {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("mlx-record ended ({status}) before {runs} runs were written");
        }
        assert!(Instant::now() < deadline, "no {runs} runs after 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    assert!(Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap().success());
}

#[test]
fn existing_traces_partials_and_special_files_are_never_replaced() {
    let dir = scratch("overwrites");
    let out = dir.join("t.msgpack");
    let o = quick(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let first = fs::read(&out).unwrap();
    assert!(read_trace(&first).unwrap().complete);

    // An existing trace: refused, untouched, nothing created beside it.
    let o = quick(&out).output().unwrap();
    refused(&o, "exists");
    assert!(stderr(&o).contains("--force"));
    assert_eq!(fs::read(&out).unwrap(), first);
    assert!(!partial_path(&out).exists());

    // With --force it is replaced by a new, complete trace.
    let o = quick(&out).arg("--force").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let second = read_trace_file(&out).unwrap();
    assert!(second.complete && second.runs.len() == 1);
    assert_ne!(fs::read(&out).unwrap(), first, "the start time differs");

    // A .partial in the way (an interrupted recording): refused, with or without --force.
    let other = dir.join("u.msgpack");
    let partial = partial_path(&other);
    fs::write(&partial, b"an interrupted recording").unwrap();
    for force in [false, true] {
        let mut c = quick(&other);
        if force {
            c.arg("--force");
        }
        let o = c.output().unwrap();
        refused(&o, &partial.display().to_string());
        assert_eq!(fs::read(&partial).unwrap(), b"an interrupted recording");
        assert!(!other.exists());
    }

    // Devices and FIFOs, and links to them: never a destination, even with --force.
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let link = dir.join("null-link");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    for target in [Path::new("/dev/null"), &fifo, &link] {
        let o = quick(target).arg("--force").output().unwrap();
        refused(&o, "not a regular file");
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::metadata("/dev/null").unwrap().file_type().is_char_device(), "/dev/null was replaced");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(!Path::new("/dev/null.partial").exists() && !partial_path(&fifo).exists());
    let o = quick(Path::new("-")).current_dir(&dir).output().unwrap();
    refused(&o, "--out -");
    assert!(!dir.join("-").exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn quick_recordings_with_default_names_never_share_a_file() {
    let dir = scratch("default-names");
    // Six at once (same millisecond possible) then three in quick succession.
    let children: Vec<Child> = (0..6).map(|_| record().args(QUICK).current_dir(&dir).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()).collect();
    let mut printed = Vec::new();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        printed.push(String::from_utf8_lossy(&o.stdout).trim().to_string());
    }
    for _ in 0..3 {
        let o = record().args(QUICK).current_dir(&dir).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        printed.push(String::from_utf8_lossy(&o.stdout).trim().to_string());
    }
    let traces: Vec<PathBuf> = fs::read_dir(dir.join("traces")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(traces.len(), 9, "{traces:?}");
    let mut unique = printed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 9, "{printed:?}");
    for t in &traces {
        assert!(t.extension().is_some_and(|e| e == "msgpack"), "{}", t.display());
        let trace = read_trace_file(t).unwrap();
        assert!(trace.complete && trace.runs.len() == 1, "{}", t.display());
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_second_recorder_on_the_same_path_stops_before_computing() {
    let dir = scratch("two-recorders");
    let out = dir.join("t.msgpack");
    let partial = partial_path(&out);
    let mut first = start_long(&out, "5,9,13");
    wait_for_runs(&mut first, &partial, 1);
    let started = Instant::now();
    let o = quick(&out).output().unwrap();
    let took = started.elapsed();
    refused(&o, &partial.display().to_string());
    assert!(stderr(&o).contains("another mlx-record"), "{}", stderr(&o));
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // The first recording goes on undisturbed and finishes with all its runs, in order.
    let o = first.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let trace = read_trace_file(&out).unwrap();
    assert!(trace.complete && trace.warnings.is_empty(), "{:?}", trace.warnings);
    assert_eq!(trace.runs.len(), 3 * 3 * 2);
    for (i, run) in trace.runs.iter().enumerate() {
        assert_eq!(run.run as usize, i);
    }
    assert!(!partial.exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn huge_numbers_exit_2_or_are_refused_by_the_memory_check_never_a_panic() {
    let dir = scratch("huge");
    let out = dir.join("t.msgpack");
    for (flag, value) in [
        ("--height", "2147483648"),
        ("--width", "2147483648"),
        ("--height", "16400"),
        ("--warmup", "4294967295"),
        ("--warmup", "1001"),
        ("--runs", "4294967295"),
        ("--runs", "10001"),
        ("--height", "4294967296"),
    ] {
        let mut args: Vec<&str> = QUICK.to_vec();
        let i = args.iter().position(|a| *a == flag).unwrap();
        args[i + 1] = value;
        let o = record().args(&args).arg("--out").arg(&out).output().unwrap();
        refused(&o, flag.trim_start_matches('-'));
        assert!(!out.exists() && !partial_path(&out).exists());
    }
    // The largest geometry accepted: its estimate saturates and is refused, exit 1, no file.
    let o = record()
        .args(["--preset", "lingbot-14b", "--cpu", "--frames", "1281", "--height", "16384", "--width", "16384", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("needs about 16+ EiB") && e.contains("336592896 tokens"), "{e}");
    assert!(!e.contains("panicked") && !out.exists() && !partial_path(&out).exists());
    let _ = fs::remove_dir_all(&dir);
}

/// Saves `arrays` as one safetensors file in a fresh directory.
fn checkpoint(name: &str, arrays: &HashMap<String, Array>) -> PathBuf {
    let dir = scratch(name);
    Array::save_safetensors(arrays, None, dir.join("model.safetensors")).unwrap();
    dir
}

#[test]
fn bad_checkpoints_exit_2_before_any_file_exists_naming_file_and_tensor() {
    let config = Preset::Tiny.config();
    let good = Weights::synthetic(&config, DType::F32, 3).unwrap().arrays().clone();
    let dir = scratch("weights");
    let out = dir.join("t.msgpack");
    let with = |name: &str, edit: &dyn Fn(&mut HashMap<String, Array>)| {
        let mut a = good.clone();
        edit(&mut a);
        checkpoint(name, &a)
    };
    let empty = scratch("weights-empty");
    let garbage = scratch("weights-garbage");
    fs::write(garbage.join("model.safetensors"), b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}").unwrap();
    let cut = with("weights-cut", &|_| {});
    let file = cut.join("model.safetensors");
    let len = fs::metadata(&file).unwrap().len();
    fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(len - 100).unwrap();
    // A FIFO would block the open forever; a link to /dev/zero reads as an endless file.
    let fifo = scratch("weights-fifo");
    let made = Command::new("mkfifo").arg(fifo.join("model.safetensors")).status().unwrap();
    assert!(made.success());
    let zero = scratch("weights-zero");
    std::os::unix::fs::symlink("/dev/zero", zero.join("model.safetensors")).unwrap();
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (fifo, vec!["model.safetensors", "is a FIFO (named pipe), not a regular file"]),
        (zero, vec!["model.safetensors", "is a character device, not a regular file"]),
        (empty, vec!["no *.safetensors"]),
        (garbage, vec!["model.safetensors", "not JSON"]),
        (with("weights-shape", &|a| {
            a.insert("blocks.0.ffn.0.weight".into(), Array::zeros::<f32>(&[511, 256]).unwrap());
        }), vec!["model.safetensors", "blocks.0.ffn.0.weight", "[512, 256]"]),
        (with("weights-dtype", &|a| {
            a.insert("head.head.bias".into(), Array::zeros::<i32>(&[64]).unwrap());
        }), vec!["model.safetensors", "head.head.bias", "I32"]),
        (with("weights-missing", &|a| {
            a.remove("blocks.1.cam_scale_layer.weight");
        }), vec!["blocks.1.cam_scale_layer.weight"]),
        (cut.clone(), vec!["model.safetensors", "file truncated?"]),
    ];
    for (weights, mentions) in &cases {
        // With calibration on: the refusal comes before it.
        let started = Instant::now();
        let o = record()
            .args(["--preset", "tiny", "--cpu", "--frames", "1", "--height", "16", "--width", "16", "--runs", "1", "--sync", "none", "--weights"])
            .arg(weights)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        refused(&o, "--weights");
        let e = stderr(&o);
        for m in mentions {
            assert!(e.contains(m), "{m:?} not in {e}");
        }
        assert!(!e.contains(".cpp") && !e.contains(" at /"), "a build path: {e}");
        assert!(!out.exists() && !partial_path(&out).exists(), "{}: a file was created", weights.display());
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    // NaN and infinite weights record, with one warning naming them.
    let nan = with("weights-nan", &|a| {
        a.insert("head.head.bias".into(), Array::from_slice(&[f32::NAN; 64], &[64]));
        a.insert("blocks.0.norm3.bias".into(), Array::from_slice(&[f32::INFINITY; 256], &[256]));
    });
    let o = record().args(QUICK).arg("--weights").arg(&nan).arg("--out").arg(&out).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    let warning = e.lines().find(|l| l.contains("warning")).expect("a warning");
    assert!(warning.contains("2 parameter(s)") && warning.contains("head.head.bias") && warning.contains("blocks.0.norm3.bias"), "{warning}");
    assert!(read_trace_file(&out).unwrap().complete);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_memory_check_sees_the_process_limit() {
    let dir = scratch("rlimit");
    let out = dir.join("t.msgpack");
    // 81 frames at 512x512 (21,504 tokens) needs about 15 GiB on the CPU; the limit is 1.5 GiB.
    let script = format!(
        "ulimit -v 1500000 && exec {} --preset tiny --cpu --no-calibrate --quiet --frames 81 --height 512 --width 512 --runs 1 --sync none --out {}",
        env!("CARGO_BIN_EXE_mlx-record"),
        out.display()
    );
    let o = Command::new("bash").args(["-c", &script]).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("needs about") && e.contains("address-space limit (ulimit -v)"), "{e}");
    assert!(!out.exists() && !partial_path(&out).exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_and_sighup_keep_completed_runs_like_sigint() {
    for name in ["TERM", "HUP"] {
        let dir = scratch(&format!("sig{name}"));
        let out = dir.join("t.msgpack");
        let partial = partial_path(&out);
        let mut child = start_long(&out, "5,9,13,17,21,25,29,33");
        wait_for_runs(&mut child, &partial, 2);
        signal(&child, name);
        let o = child.wait_with_output().unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(130), "SIG{name}: {e}");
        assert!(e.contains("interrupted; ") && e.contains(&partial.display().to_string()), "SIG{name}: {e}");
        assert!(!out.exists());
        let trace = read_trace_file(&partial).unwrap();
        assert!(!trace.complete && trace.runs.len() >= 2 && trace.runs.len() < 8 * 3 * 2);
        assert_eq!(trace.warnings.len(), 1, "{:?}", trace.warnings);
        let kept: usize = e.split("interrupted; ").nth(1).and_then(|s| s.split(' ').next()).and_then(|s| s.parse().ok()).unwrap();
        assert_eq!(kept, trace.runs.len());
        let _ = fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_signal_during_the_last_run_finishes_the_trace() {
    let dir = scratch("last-run");
    let out = dir.join("t.msgpack");
    let partial = partial_path(&out);
    // Two runs of a few seconds each; the signal comes while the second, last, one runs.
    let mut child = record()
        .args(["--preset", "tiny", "--cpu", "--no-calibrate", "--quiet", "--runs", "2", "--warmup", "0", "--sync", "component"])
        .args(["--frames", "41", "--height", "384", "--width", "384", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_runs(&mut child, &partial, 1);
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the last run was too short to be interrupted");
    signal(&child, "INT");
    let o = child.wait_with_output().unwrap();
    let e = stderr(&o);
    assert!(e.contains("finishing the current run"), "the signal did not arrive during the run: {e}");
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(e.contains("the recording is complete"), "{e}");
    let trace = read_trace_file(&out).unwrap();
    assert!(trace.complete && trace.runs.len() == 2, "{:?}", trace.warnings);
    assert!(!partial.exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_write_failure_names_the_file_and_the_runs_kept_and_the_cause_once() {
    let dir = scratch("disk-full");
    let out = dir.join("t.msgpack");
    // A 2 KiB file-size limit (SIGXFSZ ignored): writes past it fail with EFBIG, as a full disk
    // fails them with ENOSPC.
    let script = format!(
        "ulimit -f 2 && trap '' XFSZ && exec {} --preset tiny --cpu --no-calibrate --quiet --frames 5,9,13 --height 64 --width 64 --runs 3 --warmup 0 --sync none --out {}",
        env!("CARGO_BIN_EXE_mlx-record"),
        out.display()
    );
    let o = Command::new("bash").args(["-c", &script]).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    let partial = partial_path(&out);
    let line = e.lines().find(|l| l.starts_with("mlx-record: error:")).expect("an error line");
    assert!(line.contains(&partial.display().to_string()), "{line}");
    assert_eq!(line.matches("os error").count(), 1, "{line}");
    let trace = read_trace_file(&partial).unwrap();
    assert!(!trace.runs.is_empty() && trace.runs.len() < 9);
    assert!(line.contains(&format!("the {} completed run(s)", trace.runs.len())), "{line}");

    // A file that cannot be created: the cause once.
    let o = quick(Path::new("/sys/mlx-record-test.msgpack")).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.matches("os error").count(), 1, "{e}");
    let _ = fs::remove_dir_all(&dir);
}

/// A reader that went away (`mlx-record ... | true`, a closed terminal): the trace is complete,
/// so the exit status is 0, never a panic (101) for the path printed at the end.
#[test]
fn closed_stdout_and_stderr_are_a_quiet_terminal() {
    let dir = scratch("closed-pipes");
    let out = dir.join("t.msgpack");
    // Both pipes closed before the recorder writes to them.
    let mut child = quick(&out).arg("--force").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(out.exists(), "the trace is written");
    let _ = fs::remove_dir_all(&dir);
}
