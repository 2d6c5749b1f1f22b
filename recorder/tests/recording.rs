//! Recording with the real binary: the memory refusal of the full model and bad flags, both
//! before anything is written. The in-process recording tests are in
//! `recorder/src/tests/recording.rs`.

use std::path::PathBuf;
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlx-record-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_full_model_is_refused_on_this_machine_before_allocating() {
    let dir = temp_dir("refuse");
    let out = dir.join("big.msgpack");
    let output = Command::new(env!("CARGO_BIN_EXE_mlx-record"))
        .args(["--frames", "21", "--cpu", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("needs about") && stderr.contains("Try:"), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| !l.trim().is_empty()).count() <= 4, true, "{stderr}");
    assert!(!out.exists() && !trace_format::partial_path(&out).exists());
}

#[test]
fn bad_flags_exit_with_usage_and_write_nothing() {
    let dir = temp_dir("flags");
    let out = dir.join("x.msgpack");
    for args in [&["--frames", "0"][..], &["--height", "100"], &["--preset", "nope"], &["--runs", "0"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_mlx-record")).args(args).arg("--out").arg(&out).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} accepted");
        assert!(stderr.contains("error"), "{stderr}");
        assert!(!out.exists() && !trace_format::partial_path(&out).exists());
    }
}
