//! Records the tiny model with the real `mlx-record` binary, then analyzes the trace with the
//! real `mlx-analyze` binary, and checks the report against the recording's own numbers.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(mlx_trace_tests::binary(name)).args(args).output().expect("binary runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlx-trace-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One recording shared by the tests (a few seconds on a CPU).
fn recorded_trace() -> &'static PathBuf {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| {
        let dir = temp_dir("trace");
        let out = dir.join("tiny.msgpack");
        let o = run(
            "mlx-record",
            &[
                "--preset", "tiny", "--frames", "5,9,13", "--height", "64", "--width", "96", "--runs", "2",
                "--cpu", "--quiet", "--out", out.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "mlx-record failed: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), out.display().to_string());
        out
    })
}

#[test]
fn report_matches_the_recording() {
    let trace_path = recorded_trace();
    let trace = trace_format::read_trace_file(trace_path).unwrap();
    assert!(trace.complete);

    let o = run("mlx-analyze", &[trace_path.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report");

    // Scaling rows: one per frame count, tokens from the formula (F-1)/4+1 x 4 x 6.
    let rows = report["scaling"]["rows"].as_array().expect("scaling rows");
    let tokens: Vec<u64> = rows.iter().map(|r| r["tokens"].as_u64().unwrap()).collect();
    assert_eq!(tokens, vec![2 * 4 * 6, 3 * 4 * 6, 4 * 4 * 6]);

    // The fused forward of each frame count is the median of the recorded `none` runs.
    for row in rows {
        let frames = row["frames"].as_u64().unwrap() as u32;
        let mut fused: Vec<f64> = trace
            .runs
            .iter()
            .filter(|r| r.frames == frames && !r.warmup && r.sync == trace_format::SyncMode::None)
            .map(|r| r.forward_ns as f64 / 1e6)
            .collect();
        fused.sort_by(f64::total_cmp);
        let median = if fused.len() % 2 == 1 { fused[fused.len() / 2] } else { (fused[fused.len() / 2 - 1] + fused[fused.len() / 2]) / 2.0 };
        let reported = row["forward_ms"].as_f64().expect("fused forward");
        assert!((reported - median).abs() <= 1e-6 * median.max(1.0), "{frames} frames: {reported} vs {median}");
    }

    // Ranking: every block component of the taxonomy, shares summing to 1.
    let ranking = report["ranking"]["rows"].as_array().expect("ranking rows");
    let names: Vec<&str> = ranking.iter().map(|r| r["name"].as_str().unwrap()).collect();
    for expected in ["block/self_attn/sdpa", "block/ffn/up", "block/camera/scale_shift", "embed/time", "head"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let total: f64 = ranking.iter().map(|r| r["share"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9, "shares sum to {total}");
}

#[test]
fn markdown_report_charts_and_exports_are_written() {
    let trace_path = recorded_trace();
    let dir = temp_dir("outputs");
    let md = dir.join("report.md");
    let charts = dir.join("charts");
    let html = dir.join("report.html");
    let csv = dir.join("events.csv");
    let chrome = dir.join("run.json");
    let o = run(
        "mlx-analyze",
        &[
            trace_path.to_str().unwrap(), "--format", "markdown", "--out", md.to_str().unwrap(), "--charts",
            charts.to_str().unwrap(), "--html", html.to_str().unwrap(), "--export-csv", csv.to_str().unwrap(),
            "--chrome-trace", chrome.to_str().unwrap(), "--rollup", "seed",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&md).unwrap();
    for heading in ["Bottleneck ranking", "Scaling", "Recommendations"] {
        assert!(text.contains(heading), "markdown lacks {heading}");
    }
    // Seed buckets under --rollup seed.
    assert!(text.contains("FFN") && text.contains("Self-Attention") && text.contains("Camera Injection"));
    assert!(std::fs::read_dir(&charts).unwrap().any(|e| e.unwrap().path().extension().is_some_and(|x| x == "svg")));
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));
    let events: usize = trace_format::read_trace_file(trace_path).unwrap().runs.iter().filter(|r| !r.warmup).map(|r| r.events.len()).sum();
    let csv_rows = std::fs::read_to_string(&csv).unwrap().lines().count() - 1;
    assert_eq!(csv_rows, events, "CSV has one row per (non warm-up) event");
    let chrome_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&chrome).unwrap()).unwrap();
    assert!(chrome_json.to_string().contains("block/ffn/up"));
}

#[test]
fn a_bad_file_among_good_ones_is_named_and_skipped() {
    let trace_path = recorded_trace();
    let dir = temp_dir("bad");
    let bad = dir.join("garbage.msgpack");
    std::fs::write(&bad, b"\x93\x01\x02").unwrap();
    let o = run("mlx-analyze", &[trace_path.to_str().unwrap(), bad.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("garbage.msgpack"), "{stderr}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("block/ffn/up"));
}

/// A precision-driven recording alternates 4 and 8 copies by round (the default
/// `--check-copies`), and the analyzer reports the additivity check of each length from them.
#[test]
fn a_precision_driven_recording_checks_additivity() {
    let dir = temp_dir("levels");
    let out = dir.join("levels.msgpack");
    // A time cap far below what 5% needs: the recording stops at its floor, 3 rounds per level
    // (5 once a slow run was set aside).
    let o = run(
        "mlx-record",
        &[
            "--preset", "tiny", "--frames", "5", "--height", "64", "--width", "96", "--sync", "none,attributed", "--max-time", "1s",
            "--cpu", "--quiet", "--out", out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "mlx-record failed: {}", String::from_utf8_lossy(&o.stderr));
    let trace = trace_format::read_trace_file(&out).unwrap();
    let mut copies_of_round = std::collections::BTreeMap::new();
    for r in trace.runs.iter().filter(|r| !r.warmup) {
        if let Some(p) = r.perturbation.as_ref().filter(|p| p.kind == trace_format::PerturbKind::Duplicate) {
            copies_of_round.entry(p.round).or_insert_with(std::collections::BTreeSet::new).insert(p.copies);
        }
    }
    let rounds = copies_of_round.len() as u32;
    // Six at least; more when a slow run was set aside after some round (the floor is then 10,
    // and can drop back once later runs show it was not slow).
    assert!(rounds >= 6, "{copies_of_round:?}");
    let expected: std::collections::BTreeMap<u32, std::collections::BTreeSet<u32>> =
        (0..rounds).map(|r| (r, [if r % 2 == 0 { 4 } else { 8 }].into_iter().collect())).collect();
    assert_eq!(copies_of_round, expected, "rounds alternate 4 and 8 copies");
    // The warm-up runs a round at each number of copies: the first round at a level pays for
    // what later ones reuse.
    let warm: std::collections::BTreeSet<u32> = trace
        .runs
        .iter()
        .filter(|r| r.warmup)
        .filter_map(|r| r.perturbation.as_ref())
        .filter(|p| p.kind == trace_format::PerturbKind::Duplicate)
        .map(|p| p.copies)
        .collect();
    assert_eq!(warm, [4, 8].into_iter().collect(), "a warm-up round at each number of copies");
    // Every run counts its page faults, and the calibration what one costs.
    assert!(trace.runs.iter().all(|r| r.minor_faults.is_some()));
    let fault_ns = trace.calibrations.first().map_or(0.0, |c| c.page_fault_ns);
    assert!(fault_ns > 10.0 && fault_ns < 1e6, "{fault_ns} ns per page fault");

    let o = run("mlx-analyze", &[out.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON report");
    let set = &report["attribution"][0];
    assert_eq!(set["rounds"], rounds);
    let a = &set["additivity"];
    assert_eq!(a["copies"], serde_json::json!([4, 8]), "{a}");
    let components = a["components"].as_array().unwrap();
    assert_eq!(components[0], components[1], "every component measured at both levels: {a}");
    assert!(["additive", "costlier_with_more", "cheaper_with_more"].contains(&a["verdict"].as_str().unwrap()), "{a}");
    let [lo, hi] = [0, 1].map(|i| a["difference"]["ci95"][i].as_f64().unwrap());
    let d = a["difference"]["ms"].as_f64().unwrap();
    assert!(lo <= d && d <= hi, "{a}");
    assert_eq!(report["overhead"]["rows"][0]["attributed_additivity"], *a);
    // The fresh-memory check: the fault formula, sized at the calibrated cost of a fault.
    let m = &set["fresh_memory"];
    assert!(["reused", "fresh_copies", "fewer_faults"].contains(&m["verdict"].as_str().unwrap()), "{m}");
    assert_eq!(m["page_fault_ns"].as_f64().unwrap(), fault_ns);
    let extra = m["extra_faults"].as_f64().unwrap();
    assert!((m["extra_ms"].as_f64().unwrap() - extra * fault_ns / 1e6).abs() < 1e-9, "{m}");
    assert_eq!(report["overhead"]["rows"][0]["attributed_fresh_memory"], *m);
    let _ = std::fs::remove_dir_all(&dir);
}
