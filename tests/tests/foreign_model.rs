//! A model that is not the built-in one: the Llama-shaped decoder of
//! `recorder/examples/llama.rs`, recorded through the `mlx_record::api` library in attributed,
//! fused and component-synced modes, then analysed by the real `mlx-analyze` with its own
//! component names (`embed/tokens`, `layer/attn/qkv`, `layer/mlp/up`, ...).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const NAMES: [&str; 11] = [
    "embed/tokens",
    "layer/attn/norm",
    "layer/attn/qkv",
    "layer/attn/rope",
    "layer/attn/sdpa",
    "layer/attn/out",
    "layer/mlp/norm",
    "layer/mlp/up",
    "layer/mlp/down",
    "head/norm",
    "head/logits",
];

/// The examples and the analyzer.
fn built() -> (PathBuf, PathBuf) {
    (mlx_trace_tests::example("llama"), mlx_trace_tests::binary("mlx-analyze"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlx-trace-foreign-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().expect("binary runs")
}

/// One recording of two sequence lengths in the three modes, and its JSON report.
fn report() -> &'static (trace_format::Trace, serde_json::Value) {
    static REPORT: OnceLock<(trace_format::Trace, serde_json::Value)> = OnceLock::new();
    REPORT.get_or_init(|| {
        let (llama, analyze) = built();
        let out = temp_dir("trace").join("llama.msgpack");
        let o = run(&llama, &["--out", out.to_str().unwrap(), "--seq", "64,128", "--runs", "3", "--warmup", "1", "--copies", "2", "--quiet", "--no-calibrate", "--cpu"]);
        assert!(o.status.success(), "llama example failed: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), out.display().to_string());
        let trace = trace_format::read_trace_file(&out).unwrap();
        let o = run(&analyze, &[out.to_str().unwrap(), "--format", "json", "-o", "-"]);
        assert!(o.status.success(), "mlx-analyze failed: {}", String::from_utf8_lossy(&o.stderr));
        (trace, serde_json::from_slice(&o.stdout).expect("JSON report"))
    })
}

#[test]
fn the_example_records_its_own_names_in_every_mode() {
    let (trace, _) = report();
    assert!(trace.complete);
    assert_eq!(trace.header.metadata.preset, "llama-example");
    assert_eq!((trace.header.metadata.model.dim, trace.header.metadata.model.blocks), (256, 2));
    // Per length and repetition: none 1, component 1, attributed 1 + 1 + 11 + 2 (a reference
    // after the 4th and the 8th duplicate); four repetitions (one warm-up) at two lengths.
    assert_eq!(trace.runs.len(), 2 * 4 * (1 + 1 + 15));
    let synced = trace.runs.iter().find(|r| r.sync == trace_format::SyncMode::Component).unwrap();
    let names: Vec<&str> = synced.events().filter(|e| e.block != Some(1)).map(|e| synced.components[e.component as usize].name.as_str()).collect();
    assert_eq!(names, NAMES);
    // Analytic costs as the example states them: qkv is 2 L d 3d FLOPs.
    let qkv = synced.components.iter().find(|c| c.name == "layer/attn/qkv").unwrap();
    assert_eq!(qkv.flops, 2.0 * synced.tokens as f64 * 256.0 * 768.0);
    for run in trace.runs.iter().filter(|r| r.sync == trace_format::SyncMode::Attributed) {
        let p = run.perturbation.as_ref().unwrap();
        if let Some(t) = &p.target {
            assert!(NAMES.contains(&t.as_str()), "{t}");
            assert_eq!(p.target_calls, if t.starts_with("layer/") { 2 } else { 1 }, "{t}");
        }
    }
}

#[test]
fn the_analyzer_attributes_the_foreign_names_and_groups_them_by_prefix() {
    let (_, report) = report();
    let sets = report["attribution"].as_array().expect("attribution sets");
    assert_eq!(sets.len(), 2, "one attribution set per sequence length");
    for set in sets {
        let mut names: Vec<&str> = set["comps"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        names.sort();
        let mut want = NAMES.to_vec();
        want.sort();
        assert_eq!(names, want);
        assert_eq!(set["rounds"], 3);
    }
    let rows = report["ranking"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), NAMES.len());
    assert!(rows.iter().all(|r| r["method"] == "attributed"));
    assert_eq!(report["scaling"]["rows"].as_array().unwrap().iter().map(|r| r["tokens"].as_u64().unwrap()).collect::<Vec<_>>(), [64, 128]);
    // The distribution tree splits names at '/': layer -> attn, mlp; head -> norm, logits.
    let tree = report["distribution"]["root"].to_string();
    for node in ["\"layer\"", "\"attn\"", "\"mlp\"", "\"qkv\"", "\"logits\"", "\"tokens\""] {
        assert!(tree.contains(node), "{node} missing from the tree {tree}");
    }
}

/// Components timed with a block index are the model's repeated blocks, whatever their names:
/// the decoder's `layer/*` components are inside the blocks, with a per-block time.
#[test]
fn components_with_a_block_index_are_inside_the_blocks() {
    let (_, report) = report();
    for row in report["ranking"]["rows"].as_array().unwrap() {
        let name = row["name"].as_str().unwrap();
        let inside = name.starts_with("layer/");
        assert_eq!(row["area"], if inside { "blocks" } else { "overhead" }, "{name}");
        if inside {
            let per_block = row["ms_per_block"].as_f64().unwrap_or_else(|| panic!("{name} has no per-block time"));
            let per_forward = row["ms_per_forward"].as_f64().unwrap();
            assert!((per_block * 2.0 - per_forward).abs() <= 1e-9 * per_forward.abs().max(1.0), "{name}: {per_block} x 2 blocks vs {per_forward}");
        }
    }
    let blocks = report["distribution"]["root"]["children"].as_array().unwrap().iter().find(|c| c["name"] == "Blocks").unwrap();
    assert!(blocks["children"].as_array().unwrap().iter().any(|c| c["name"] == "attn" || c["name"] == "layer"), "{blocks}");
}

#[test]
fn help_and_bad_arguments() {
    let (llama, _) = built();
    let o = run(&llama, &["--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for word in ["--out", "--sync", "--seq", "attribution round", "mlx-analyze"] {
        assert!(help.contains(word), "--help lacks {word}: {help}");
    }
    let dir = temp_dir("bad");
    let out = dir.join("x.msgpack");
    let o = run(&llama, &["--out", out.to_str().unwrap(), "--sync", "fast"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown mode `fast`"));
    let o = run(&llama, &["--out", out.to_str().unwrap(), "--dim", "250", "--no-calibrate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("multiple of --heads"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.exists());
    std::fs::write(&out, b"keep").unwrap();
    let o = run(&llama, &["--out", out.to_str().unwrap(), "--runs", "1", "--no-calibrate", "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
}

/// docs/instrumenting.md's Rust example, as a user runs it.
#[test]
fn the_minimal_example_of_the_walk_through_records_a_trace_the_analyzer_reads() {
    let (llama, analyze) = built();
    let minimal = llama.with_file_name("minimal");
    let out = temp_dir("minimal").join("my-model.msgpack");
    let o = run(&minimal, &[out.to_str().unwrap()]);
    assert!(o.status.success(), "minimal example failed: {}", String::from_utf8_lossy(&o.stderr));
    let o = run(&analyze, &[out.to_str().unwrap(), "--format", "json", "-o", "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut names: Vec<&str> = report["attribution"][0]["comps"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["layer/mlp/act", "layer/mlp/up"]);
    assert_eq!(report["attribution"][0]["rounds"], 3);
}
