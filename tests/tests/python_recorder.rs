//! The Python recorder's tests (`python/tests/`), run with the project's Python (`MLX_PYTHON`,
//! `.venv/bin/python3` by default) against the working tree's `python/` package and the real
//! `mlx-analyze` binary. A missing piece (MLX's Python bindings, msgpack, the analyzer) fails
//! the test: nothing is skipped.

use std::path::PathBuf;
use std::process::Command;

use mlx_trace_tests::workspace;

fn analyzer() -> PathBuf {
    mlx_trace_tests::binary("mlx-analyze")
}

fn python() -> PathBuf {
    match std::env::var_os("MLX_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => workspace().join(".venv/bin/python3"),
    }
}

#[test]
fn python_recorder_tests_pass() {
    let python = python();
    assert!(python.exists(), "{} not found: run scripts/setup.sh (it installs mlx, msgpack and the mlx_trace package into .venv)", python.display());
    let analyzer = analyzer();
    let root = workspace();
    let out = Command::new(&python)
        .args(["-m", "unittest", "discover", "-s", "python/tests", "-t", "python/tests", "-v"])
        .current_dir(&root)
        .env("PYTHONPATH", root.join("python"))
        .env("MLX_ANALYZE", &analyzer)
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(out.status.success(), "the Python recorder's tests failed:\n{stderr}");
    // unittest reports "OK" or "OK (skipped=N)" on its last line; a skip is a missing piece.
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert_eq!(last.trim(), "OK", "the Python tests must all run: {last}");
    let ran: usize = stderr
        .lines()
        .find_map(|l| l.strip_prefix("Ran ").and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok()))
        .expect("unittest's summary line");
    assert!(ran >= 10, "only {ran} Python tests ran");
}
