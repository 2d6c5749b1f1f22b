//! docs/results.md must be what scripts/make-results.sh makes from the committed traces with
//! this build of mlx-analyze. The script runs with MLX_ANALYZE pointing at the test binary and
//! `--stdout`, so it writes nothing.

use std::path::Path;
use std::process::Command;

#[test]
fn docs_results_md_matches_the_committed_traces() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let out = Command::new("bash")
        .arg(root.join("scripts/make-results.sh"))
        .arg("--stdout")
        .env("MLX_ANALYZE", env!("CARGO_BIN_EXE_mlx-analyze"))
        .current_dir(root)
        .output()
        .expect("running scripts/make-results.sh");
    assert!(out.status.success(), "scripts/make-results.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8(out.stdout).expect("UTF-8 report");
    assert!(generated.contains("## Seed report claims against this data"), "the generated report lacks the seed claims");
    let committed = std::fs::read_to_string(root.join("docs/results.md")).unwrap_or_default();
    if generated != committed {
        let first = generated.lines().zip(committed.lines()).position(|(a, b)| a != b).unwrap_or(generated.lines().count().min(committed.lines().count()));
        panic!(
            "docs/results.md is out of date with traces/*.msgpack and this mlx-analyze: run scripts/make-results.sh and commit docs/results.md and docs/results.html.\nFirst difference at line {}:\n  committed: {:?}\n  generated: {:?}",
            first + 1,
            committed.lines().nth(first).unwrap_or("<end of file>"),
            generated.lines().nth(first).unwrap_or("<end of file>")
        );
    }
}
