//! The analyzer's outputs never destroy a file: not an input, not another output, not a device,
//! FIFO or existing file (without --force); `-` is standard output; interrupted runs leave no
//! temporary file. Large numbers in flags and traces are refused or absorbed, never a panic.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{scratch, simple_spec};
use mlx_analyze::analysis::comparison::CompareOptions;
use mlx_analyze::analysis::{analyze, AnalyzeOptions, Rollup};
use mlx_analyze::export::chrome_trace::ChromeTraceExport;
use mlx_analyze::export::csv::CsvExport;
use mlx_analyze::export::parquet::ParquetExport;
use mlx_analyze::export::Export;
use mlx_analyze::load::{load_bytes, LoadOptions};
use mlx_analyze::render::{svg, RenderFormat};
use trace_synth::{generate, huge_trace};
use trace_format::{Header, Metadata, RunRecord, SyncMode, TraceWriter};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mlx-analyze"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A usage refusal: exit 2, one line naming `mentions`, the help hint, no panic.
fn refused(o: &Output, mentions: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.lines().next().unwrap_or("").contains(mentions), "{mentions:?} not in the first line of {e:?}");
    assert!(e.contains("try '--help'"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

/// A directory with one small trace, `t.msgpack`.
fn with_trace(name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
    let dir = scratch(name);
    let bytes = generate(&simple_spec(), true);
    let trace = dir.join("t.msgpack");
    fs::write(&trace, &bytes).unwrap();
    (dir, trace, bytes)
}

#[test]
fn inputs_are_never_replaced_by_any_output() {
    let (dir, trace, bytes) = with_trace("input-as-output");
    let link = dir.join("link.msgpack");
    std::os::unix::fs::symlink(&trace, &link).unwrap();
    for flag in ["--out", "--html", "--export-csv", "--export-parquet", "--chrome-trace"] {
        for target in [&trace, &link] {
            // Even with --force: an input is never an output.
            for force in [false, true] {
                let mut cmd = bin();
                cmd.arg(&trace).arg(flag).arg(target);
                if force {
                    cmd.arg("--force");
                }
                let o = cmd.output().unwrap();
                refused(&o, "is one of the input traces");
                assert_eq!(fs::read(&trace).unwrap(), bytes, "{flag} {} changed the input", target.display());
            }
        }
    }
    // A directory input: its traces are inputs too.
    let o = bin().arg(&dir).arg("--out").arg(&trace).arg("--force").output().unwrap();
    refused(&o, "is one of the input traces");
    assert_eq!(fs::read(&trace).unwrap(), bytes);
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn two_outputs_on_one_file_and_existing_outputs_are_refused() {
    let (dir, trace, _) = with_trace("two-outputs");
    let r = dir.join("r.html");
    let o = bin().arg(&trace).arg("-o").arg(&r).arg("--html").arg(&r).output().unwrap();
    refused(&o, "for two outputs");
    assert!(!r.exists());
    // The same file under two spellings.
    let o = bin().arg(&trace).arg("--export-csv").arg(dir.join("e.csv")).arg("--chrome-trace").arg(dir.join(".").join("e.csv")).output().unwrap();
    refused(&o, "for two outputs");
    // Standard output twice: the report (no --out) and --html -.
    let o = bin().arg(&trace).args(["--html", "-"]).output().unwrap();
    refused(&o, "standard output for two outputs");

    // An existing file: refused without --force, and left as it was.
    let report = dir.join("report.md");
    fs::write(&report, b"keep me").unwrap();
    let o = bin().arg(&trace).args(["--format", "markdown", "-o"]).arg(&report).output().unwrap();
    refused(&o, "exists");
    assert_eq!(fs::read(&report).unwrap(), b"keep me");
    let o = bin().arg(&trace).args(["--format", "markdown", "--force", "-o"]).arg(&report).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(fs::read_to_string(&report).unwrap().starts_with('#'));

    // A chart that exists is refused before anything is written.
    let charts = dir.join("charts");
    fs::create_dir(&charts).unwrap();
    fs::write(charts.join("ranking.svg"), b"old").unwrap();
    let csv = dir.join("events.csv");
    let o = bin().arg(&trace).arg("--charts").arg(&charts).arg("--export-csv").arg(&csv).arg("-o").arg(dir.join("new.md")).output().unwrap();
    refused(&o, "ranking.svg");
    assert_eq!(fs::read(charts.join("ranking.svg")).unwrap(), b"old");
    assert!(!csv.exists() && !dir.join("new.md").exists(), "an output was written before the refusal");
    // No temporary file is left anywhere.
    let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.contains(".tmp-")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn devices_fifos_and_links_to_them_are_never_replaced_and_dash_is_stdout() {
    let (dir, trace, _) = with_trace("special");
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let link = dir.join("null-link");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    for target in [Path::new("/dev/null"), &fifo, &link] {
        for flag in ["--out", "--export-csv"] {
            let o = bin().arg(&trace).arg(flag).arg(target).arg("--force").output().unwrap();
            refused(&o, "only regular files are written");
        }
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());

    // `-o -`: the report on standard output, no file named `-`.
    let o = bin().current_dir(&dir).arg(&trace).args(["--format", "json", "-o", "-"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report on stdout");
    assert!(json.is_object());
    // An export to standard output beside a report in a file.
    let o = bin().current_dir(&dir).arg(&trace).args(["--export-csv", "-", "-o", "r.txt"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("file,run,variant"));
    assert!(!dir.join("-").exists() && dir.join("r.txt").exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_link_to_a_regular_output_is_followed_and_kept() {
    let (dir, trace, _) = with_trace("link-output");
    let real = dir.join("real.md");
    fs::write(&real, b"old").unwrap();
    let link = dir.join("link.md");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = bin().arg(&trace).args(["--format", "markdown", "--force", "-o"]).arg(&link).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced by a file");
    assert!(fs::read_to_string(&real).unwrap().starts_with('#'));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn huge_flag_values_are_refused_with_exit_2() {
    let (dir, trace, _) = with_trace("huge-flags");
    for (args, mentions) in [
        (vec!["--by", "variant", "--resamples", "18446744073709551615"], "--resamples"),
        (vec!["--by", "variant", "--resamples", "100001"], "--resamples"),
        (vec!["--by", "variant", "--resamples", "1e10"], "--resamples"),
        (vec!["--by", "variant", "--resamples", "99999999999999999999999"], "--resamples"),
        (vec!["--threads", "18446744073709551615"], "--threads"),
        (vec!["--threads", "1025"], "--threads"),
        (vec!["--frames", "4294967296"], "--frames"),
        (vec!["--chrome-trace", "x.json", "--run", "4294967296"], "--run"),
    ] {
        let o = bin().current_dir(&dir).arg(&trace).args(&args).output().unwrap();
        refused(&o, mentions);
    }
    let o = bin().arg(&trace).args(["--resamples", "100000", "--threads", "1024"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "the bounds themselves are accepted: {}", stderr(&o));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn by_trace_id_is_refused_and_never_offered() {
    let (dir, trace, _) = with_trace("by-key");
    for key in ["trace_id", "colour"] {
        let o = bin().arg(&trace).args(["--by", key]).output().unwrap();
        refused(&o, &format!("--by {key}"));
        let e = stderr(&o);
        let keys = e.lines().next().unwrap().split("known keys: ").nth(1).expect("the keys are listed");
        let keys: Vec<&str> = keys.split(", ").collect();
        assert!(!keys.contains(&"trace_id"), "{e}");
        // Every key offered is accepted.
        for k in ["variant", "machine", "file", "frames"] {
            assert!(keys.contains(&k), "{k} missing: {e}");
        }
    }
    for key in ["variant", "file", "sync", "frames"] {
        let o = bin().arg(&trace).args(["--by", key]).output().unwrap();
        let e = stderr(&o);
        assert!(!e.contains("no metadata key"), "--by {key}: {e}");
        assert!(!e.contains("panicked"), "{e}");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// What the fuzz target `load` does with one input: load it beside a good trace, then every
/// analysis, report, chart and export in memory.
fn everything(name: &str, bytes: &[u8]) {
    let good = generate(&simple_spec(), true);
    for include_warmup in [false, true] {
        let ds = load_bytes(vec![("good.msgpack".into(), good.clone()), (name.into(), bytes.to_vec())], &LoadOptions { include_warmup, threads: 1, ..Default::default() })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (rollup, key) in [(Rollup::Fine, None), (Rollup::Seed, Some("file")), (Rollup::Fine, Some("variant")), (Rollup::Fine, Some("frames"))] {
            let options = AnalyzeOptions {
                rollup,
                compare: key.map(|k| CompareOptions { key: k.into(), resamples: 16, threads: 1, ..CompareOptions::default() }),
                ..AnalyzeOptions::default()
            };
            let Ok(report) = analyze(&ds, &options) else { continue };
            for format in [RenderFormat::Table, RenderFormat::Markdown, RenderFormat::Json, RenderFormat::Html] {
                let _ = format.renderer().render(&report);
            }
            let _ = svg::all(&report);
        }
        let mut sink = Vec::new();
        let _ = CsvExport.write(&ds, &mut sink);
        let _ = ParquetExport.write(&ds, &mut sink);
        for run_id in 0..ds.runs.len() as u32 {
            let _ = ChromeTraceExport { run_id }.write(&ds, &mut sink);
        }
    }
}

#[test]
fn durations_past_2_pow_64_analyze_without_overflow() {
    let bytes = huge_trace();
    everything("huge.msgpack", &bytes);
    // The library alone (its component totals: `src/tests/outputs.rs`), then the whole command
    // line with every output.
    let dir = scratch("huge-durations");
    let trace = dir.join("huge.msgpack");
    fs::write(&trace, &bytes).unwrap();
    let o = bin()
        .arg(&trace)
        .args(["--format", "markdown", "-o"])
        .arg(dir.join("r.md"))
        .arg("--html")
        .arg(dir.join("r.html"))
        .arg("--charts")
        .arg(dir.join("charts"))
        .arg("--export-csv")
        .arg(dir.join("e.csv"))
        .arg("--export-parquet")
        .arg(dir.join("e.parquet"))
        .arg("--chrome-trace")
        .arg(dir.join("c.json"))
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(!e.contains("panicked") && !e.contains("overflow"), "{e}");
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(fs::read_to_string(dir.join("r.md")).unwrap().starts_with('#'));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn regression_corpus_goes_through_every_analysis_and_output() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../trace-format/tests");
    let mut count = 0;
    for sub in ["corpus", "data"] {
        for entry in fs::read_dir(root.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "msgpack") {
                continue;
            }
            everything(&path.file_name().unwrap().to_string_lossy(), &fs::read(&path).unwrap());
            count += 1;
        }
    }
    assert!(count >= 10, "{count} corpus files");
}

#[test]
fn write_errors_name_the_destination_and_print_the_cause_once() {
    let (dir, trace, _) = with_trace("write-errors");
    // /proc/self exists, but no file can be created in it.
    let target = Path::new("/proc/self/report.md");
    let o = bin().arg(&trace).arg("-o").arg(target).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    let line = e.lines().find(|l| l.starts_with("mlx-analyze:")).expect("an error line");
    assert!(line.contains("/proc/self/report.md:"), "{line}");
    assert!(!line.contains(".tmp-"), "names the temporary file: {line}");
    assert_eq!(line.matches("os error").count(), 1, "{line}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn an_interrupted_run_removes_its_temporary_files() {
    // Enough events that exporting them as CSV takes a while (hundreds of milliseconds).
    let dir = scratch("interrupted");
    let mut spec = simple_spec();
    spec.blocks = 400;
    spec.frames = vec![5, 9, 13, 17];
    spec.tokens = None;
    spec.runs = 20;
    spec.syncs = vec![SyncMode::Component];
    let bytes = generate(&spec, true);
    for i in 0..4 {
        fs::write(dir.join(format!("t{i}.msgpack")), &bytes).unwrap();
    }
    let csv = dir.join("events.csv");
    let out = dir.join("out");
    fs::create_dir(&out).unwrap();
    let mut tried = 0;
    let mut caught = false;
    while tried < 5 && !caught {
        tried += 1;
        let mut child = bin()
            .arg(&dir)
            .arg("--export-csv")
            .arg(out.join("events.csv"))
            .arg("--force")
            .arg("-o")
            .arg(out.join("r.txt"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let tmp = loop {
            let found = fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().contains(".tmp-"));
            if found.is_some() || child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let Some(tmp) = tmp else {
            let _ = child.wait();
            continue;
        };
        assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
        let o = child.wait_with_output().unwrap();
        if o.status.code() == Some(0) {
            continue; // finished before the signal arrived
        }
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(130), "{e}");
        assert!(e.contains("interrupted"), "{e}");
        assert!(!tmp.exists(), "{} left behind", tmp.display());
        caught = true;
    }
    assert!(caught, "never caught the export while its temporary file existed ({tried} tries)");
    let leftovers: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().contains(".tmp-")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!csv.exists());
    let _ = fs::remove_dir_all(&dir);
}

/// A few-KB trace with the largest indices a trace can hold: run u32::MAX, block i32::MAX, start
/// deltas of 2^63 and a duration of u64::MAX (issue: one string per block index, 51 GB, and
/// overflows of `run + 1`, `start + duration` and `blocks seen + 1` panicked).
#[test]
fn extreme_indices_and_times_export_without_panic() {
    let mut w = TraceWriter::new(Vec::new(), &Header::new(Metadata { backend: "cpu".into(), preset: "tiny".into(), ..Metadata::default() })).unwrap();
    for (i, sync) in [(u32::MAX - 1, SyncMode::Component), (u32::MAX, SyncMode::Component), (7, SyncMode::None)] {
        let mut run = RunRecord::new(i, "baseline", sync, 5, 1000);
        run.forward_ns = 1_000_000;
        let c = run.component(if sync == SyncMode::None { "forward" } else { "block/ffn/up" }, 1.0, 1.0);
        run.push_event(c, Some(i32::MAX as u32), 1 << 63, u64::MAX);
        run.push_event(c, Some(0), 1 << 63, 5);
        w.add_run(&run).unwrap();
    }
    let bytes = w.finish().unwrap();
    let start = Instant::now();
    everything("extreme.msgpack", &bytes);
    let dir = scratch("extreme-indices");
    let trace = dir.join("extreme.msgpack");
    fs::write(&trace, &bytes).unwrap();
    let o = bin().arg(&trace).args(["--run", "all", "-q", "-o"]).arg(dir.join("r.md")).arg("--chrome-trace").arg(dir.join("c.json")).output().unwrap();
    let e = stderr(&o);
    assert!(!e.contains("panicked") && !e.contains("overflow"), "{e}");
    assert_eq!(o.status.code(), Some(0), "{e}");
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("c.json")).unwrap()).unwrap();
    let names: Vec<&str> = doc["traceEvents"].as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(names.contains(&"block 2147483647"), "the block span keeps its index");
    // Seconds, not the minutes (or the abort) of a string per block index.
    assert!(start.elapsed() < Duration::from_secs(60), "{:?}", start.elapsed());
    let _ = fs::remove_dir_all(&dir);
}

/// A legal output name of 253 bytes: the temporary file beside it cannot take its suffix (the
/// name would pass 255 bytes), so a short one is used and the report is written.
#[test]
fn an_output_name_near_the_length_limit_is_written() {
    let dir = scratch("long-name");
    let trace = dir.join("t.msgpack");
    fs::write(&trace, generate(&simple_spec(), true)).unwrap();
    let out = dir.join(format!("{}.md", "r".repeat(250)));
    let o = bin().arg(&trace).arg("-q").arg("-o").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(fs::read_to_string(&out).unwrap().contains("forward pass profile"));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 2, "no temporary file left");
    let _ = fs::remove_dir_all(&dir);
}

/// An interrupted trace followed by a thousand zero bytes (a file preallocated, then cut):
/// every zero is a value the reader warns about, yet at most ten lines per file are printed,
/// then one line with the count of the rest.
#[test]
fn warnings_are_capped_per_file() {
    let dir = scratch("zero-tail");
    let trace = dir.join("zeros.msgpack");
    let mut bytes = generate(&simple_spec(), false);
    bytes.extend(std::iter::repeat_n(0u8, 1000));
    fs::write(&trace, &bytes).unwrap();
    let o = bin().arg(&trace).args(["-o", "-"]).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    let lines = e.lines().filter(|l| l.starts_with("mlx-analyze: warning:")).count();
    assert!(lines <= 11, "{lines} warning lines:\n{e}");
    let _ = fs::remove_dir_all(&dir);
}

/// A run that fails after writing some of its outputs (here the CSV export, before the Chrome
/// trace's run selection is found to name no run) leaves no new file behind, and a file that
/// existed before (replaced with --force) is never deleted.
#[test]
fn a_failed_run_removes_the_outputs_it_created() {
    let dir = scratch("failed-run-cleanup");
    let trace = dir.join("t.msgpack");
    fs::write(&trace, generate(&simple_spec(), true)).unwrap();
    // The summary's partition directories are created too: removed again, being left empty.
    let o = bin()
        .arg(&trace)
        .arg("-q")
        .arg("-o")
        .arg(dir.join("r.md"))
        .arg("--export-summary")
        .arg(dir.join("s").join("deeper"))
        .arg("--export-csv")
        .arg(dir.join("e.csv"))
        .arg("--chrome-trace")
        .arg(dir.join("c.json"))
        .args(["--run", "99999"])
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_ne!(o.status.code(), Some(0), "{e}");
    assert!(e.contains("removed the output(s) this failed run had written") && e.contains("e.csv"), "{e}");
    let mut left: Vec<String> = fs::read_dir(&dir).unwrap().map(|d| d.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, vec!["t.msgpack".to_string()], "{e}");
    // An existing file replaced with --force stays (it cannot be given back, and is not lost).
    fs::write(dir.join("e.csv"), "old").unwrap();
    let o = bin().arg(&trace).arg("-q").arg("--force").arg("-o").arg(dir.join("r.md")).arg("--export-csv").arg(dir.join("e.csv")).arg("--chrome-trace").arg(dir.join("c.json")).args(["--run", "99999"]).output().unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(dir.join("e.csv").exists(), "{}", stderr(&o));
    let _ = fs::remove_dir_all(&dir);
}
