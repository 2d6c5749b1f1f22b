//! Traces whose components nest: the Python recorder's `profile` of an mlx-lm llama (4 layers,
//! hidden 512, random weights, 128 and 256 tokens, this project's 2-core CPU), where `model`
//! holds `layers`, which holds `self_attn`, which holds `self_attn/q_proj`, ... Nothing may be
//! counted twice: sums are of the top-level components, parents equal their children plus their
//! self time, and recordings at different depths are separate workloads. Those checks read the
//! analyses' internals and are the library's own tests (`src/tests/nested.rs`); here, the report
//! of the binary.

use std::path::PathBuf;

fn lm(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../traces/lm").join(name)
}

const ALL_LEVELS: &str = "llama-4layers-512-128-256tokens.msgpack";

#[test]
fn a_language_model_is_spoken_of_in_tokens_without_seed_claims() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlx-analyze")).arg(lm(ALL_LEVELS)).args(["--quiet", "--format", "markdown", "-o", "-"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("Seed report claims"), "seed claims for a language model");
    assert!(!text.contains(" frames"), "frames named for a language model: {}", text.lines().find(|l| l.contains(" frames")).unwrap_or(""));
    assert!(text.contains("## Bottleneck ranking (256 tokens"));
}
