//! Every flag of `mlx-record` given a wrong value: exit code 2, an error line naming the flag
//! or value, the usage hint, before any compute and without creating a trace.

use std::process::Command;

#[test]
fn every_flag_with_a_wrong_value_exits_2_with_a_usage_hint() {
    let dir = std::env::temp_dir().join(format!("mlx-record-cli-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("never.msgpack");
    let o = out.to_str().unwrap();
    let d = dir.to_str().unwrap();
    let missing = dir.join("no-such-dir");
    let m = missing.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--preset", "big"], "--preset"),
        (vec!["--blocks", "0"], "--blocks"),
        (vec!["--blocks", "-2"], "--blocks"),
        (vec!["--blocks", "99"], "--blocks 99"),
        (vec!["--frames", "0"], "--frames"),
        (vec!["--frames", "x"], "--frames"),
        (vec!["--frames", "5,,9"], "--frames"),
        (vec!["--frames", "99999"], "--frames"),
        (vec!["--height", "481"], "height 481"),
        (vec!["--height", "-16"], "--height"),
        (vec!["--width", "abc"], "--width"),
        (vec!["--width", "0"], "width 0"),
        (vec!["--dtype", "f64"], "--dtype"),
        (vec!["--runs", "0"], "--runs"),
        (vec!["--runs", "many"], "--runs"),
        (vec!["--warmup", "-1"], "--warmup"),
        (vec!["--sync", "always"], "--sync"),
        (vec!["--variant", "nope"], "--variant"),
        (vec!["--weights", m], "--weights"),
        (vec!["--seed", "-1"], "--seed"),
        (vec!["--out", d], "--out"),
        (vec!["--label", "novalue"], "--label"),
        (vec!["--label", "=v"], "--label"),
        (vec!["--label", "m=a", "--label", "m=b"], "--label m: given twice"),
        (vec!["--frames", "4294967296"], "too large"),
        (vec!["--bogus"], "--bogus"),
        (vec!["--out"], "--out"),
    ];
    for (args, mentions) in &cases {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlx-record"));
        // A valid, tiny configuration, less the flags the case sets itself (none may repeat).
        for (flag, value) in [("--preset", "tiny"), ("--frames", "5"), ("--height", "32"), ("--width", "32"), ("--out", o)] {
            if !args.contains(&flag) {
                cmd.args([flag, value]);
            }
        }
        let output = cmd.arg("--quiet").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or("");
        assert!(first.starts_with("error:"), "{args:?}: {stderr}");
        assert!(first.contains(mentions), "{args:?}: {mentions:?} not in {first:?}");
        assert!(stderr.contains("try '--help'"), "{args:?}: no usage hint: {stderr}");
        assert!(stderr.lines().filter(|l| !l.trim().is_empty()).count() <= 4, "{args:?}: {stderr}");
        assert!(!out.exists() && !dir.join("never.msgpack.partial").exists(), "{args:?} wrote a trace");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
