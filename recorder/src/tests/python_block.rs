//! The LingBot block written with MLX's Python API (`python/mlx_trace/examples/lingbot_block.py`,
//! the Python side of the Rust/Python cross-check) computes what the Rust model's block computes:
//! the tiny model's block 0, its weights, inputs and output are saved here, and the Python block
//! is run on them with the project's Python (`MLX_PYTHON`, `.venv/bin/python3` by default).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::DType;
use crate::instrument::Probe;
use crate::model::ForwardOptions;
use mlx_rs::Array;
use trace_format::{RunRecord, SyncMode};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python block's largest difference to the saved Rust output, relative to its largest value.
fn python_error(path: &Path, heads: u32, ffn: u32) -> f64 {
    let python = std::env::var_os("MLX_PYTHON").map(PathBuf::from).unwrap_or_else(|| workspace().join(".venv/bin/python3"));
    let code = format!(
        "from mlx_trace.examples.lingbot_block import compare_with_rust as c; print(c({:?}, {heads}, {ffn}))",
        path.to_str().unwrap()
    );
    let out = Command::new(&python).args(["-c", &code]).env("PYTHONPATH", workspace().join("python")).output().unwrap_or_else(|e| {
        panic!("{} does not run ({e}): run scripts/setup.sh (it installs MLX's Python bindings into .venv)", python.display())
    });
    assert!(out.status.success(), "the Python block failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a number")
}

#[test]
fn the_python_block_computes_what_the_rust_block_computes() {
    let _serial = super::common::serial();
    let t = super::common::tiny(5, 64, 96, DType::F32, 11, 12);
    let (l, d, text) = (t.geometry.tokens() as i32, t.config.dim as i32, t.config.text_len as i32);
    let normal = |shape: &[i32], seed: u64| mlx_rs::random::normal::<f32>(shape, None, None, &mlx_rs::random::key(seed).unwrap()).unwrap();
    let (x, e0, context, camera) = (normal(&[l, d], 1), normal(&[l, 6 * d], 2), normal(&[text, d], 3), normal(&[l, d], 4));
    let mut probe = Probe::new(RunRecord::new(0, "", SyncMode::None, 0, 0), &t.costs);
    let out = t.model.block(0, x.clone(), &e0, &context, Some(&camera), &t.inputs, &mut probe, &ForwardOptions::default()).unwrap();
    out.eval().unwrap();

    let mut arrays: Vec<(String, Array)> =
        t.model.weights.arrays().iter().filter(|(k, _)| k.starts_with("blocks.0.")).map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(arrays.len(), 1 + 2 * (4 * 2 + 2) + 2 + 2 * 2 + 4 * 2, "the block's parameters");
    for (name, a) in [("x", &x), ("e0", &e0), ("context", &context), ("camera", &camera), ("rope_a", &t.inputs.rope.0), ("rope_b", &t.inputs.rope.1), ("out", &out)] {
        arrays.push((name.to_string(), a.clone()));
    }
    let dir = std::env::temp_dir().join(format!("mlx-record-python-block-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("block.safetensors");
    Array::save_safetensors(arrays.iter().map(|(k, v)| (k.as_str(), v)), None, &path).unwrap();

    let (heads, ffn) = (t.config.heads, t.config.ffn_dim);
    let error = python_error(&path, heads, ffn);
    eprintln!("Python block against the Rust block: {error:e} of the largest output value");
    assert!(error < 1e-5, "the Python block differs from the Rust block by {error:e} of the output's largest value");
    // The comparison can fail: the same file with the input moved by 1% of its scale, the
    // output left as it was.
    let moved = x.add(normal(&[l, d], 5).multiply(Array::from_f32(0.01)).unwrap()).unwrap();
    let moved_path = dir.join("moved.safetensors");
    Array::save_safetensors(arrays.iter().map(|(k, v)| (k.as_str(), if k == "x" { &moved } else { v })), None, &moved_path).unwrap();
    let wrong = python_error(&moved_path, heads, ffn);
    assert!(wrong > 1e-3, "a moved input should give another output: {wrong:e}");
    let _ = std::fs::remove_dir_all(&dir);
}
