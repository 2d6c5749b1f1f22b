//! Terminal tables fit the terminal's width (here given by COLUMNS): every line of the report
//! over the committed traces fits, and nothing is lost against the unfitted report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn report(columns: Option<usize>, extra: &[&str]) -> String {
    let traces = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../traces");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlx-analyze"));
    cmd.arg(&traces).arg("-q").args(extra);
    match columns {
        Some(c) => cmd.env("COLUMNS", c.to_string()),
        None => cmd.env_remove("COLUMNS"),
    };
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Workloads among the committed traces, from the line of the report that lists them.
fn workload_count() -> usize {
    let text = report(Some(10_000), &[]);
    let line = text.lines().find(|l| l.starts_with("The inputs hold ")).expect("several workloads in traces/");
    line.trim_start_matches("The inputs hold ").split_whitespace().next().unwrap().parse().unwrap()
}

/// How often each word occurs, rules and the split notes left out.
fn word_counts(text: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with("(a table of") && !l.starts_with("columns; each part")) {
        for w in line.split_whitespace().filter(|w| !w.chars().all(|c| c == '-' || c == '=')) {
            *counts.entry(w.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn the_report_fits_80_and_60_columns_and_keeps_every_word() {
    // The 2-block lingbot CPU trace and the H200 traces: one workload per backend. Workloads are
    // numbered in input order (the files sorted by name): the lingbot CPU trace first, the H200
    // traces last.
    let last = workload_count();
    let cpu_and_gpu = format!("1,{last}");
    for extra in [&[][..], &["--by", "backend", "--workload", cpu_and_gpu.as_str()][..], &["--by", "variant"][..]] {
        let whole = report(None, extra);
        let widest = whole.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest > 200, "{extra:?}: the unfitted report is only {widest} wide; the test would prove nothing");
        for columns in [80, 60] {
            let fitted = report(Some(columns), extra);
            for l in fitted.lines() {
                assert!(l.chars().count() <= columns, "{extra:?} at {columns}: {} characters: {l}", l.chars().count());
            }
            assert!(fitted.contains("split into"), "{extra:?} at {columns}: the split is not said");
            // Every word of the whole report is still there (split tables repeat their first
            // column, so words may occur more often, never less).
            let fitted_words = word_counts(&fitted);
            let joined = fitted.split_whitespace().collect::<String>();
            for (w, n) in word_counts(&whole) {
                let have = fitted_words.get(&w).copied().unwrap_or(0);
                // A word longer than a text column's floor (30) may be broken across lines.
                assert!(have >= n || (w.chars().count() > 30 && joined.contains(&w)), "{extra:?} at {columns}: {w:?} {n} times in the whole report, {have} when fitted");
            }
        }
    }
}
