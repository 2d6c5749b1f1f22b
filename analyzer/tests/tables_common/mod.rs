//! Helpers of the Parquet, SQL and summary tests: the binary, scratch directories, traces
//! written with the format crate's writer (independent of the analyzer), and DuckDB through
//! the repository's `.venv`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trace_format::{Calibration, Header, Metadata, ModelConfig, RunRecord, SyncMode, TraceWriter};

/// The analyzer binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mlx-analyze"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A committed trace.
pub fn committed(name: &str) -> PathBuf {
    root().join("traces").join(name)
}

/// A fresh scratch directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlx-analyze-tables-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs the binary, asserting success; returns standard output.
pub fn run_ok(args: &[&std::ffi::OsStr]) -> String {
    let o = bin().args(args).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "mlx-analyze {args:?} failed: {}", stderr(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// The `.venv` Python with DuckDB, or a failure saying how to get it (the test never passes
/// without it).
pub fn duckdb_python() -> PathBuf {
    let python = root().join(".venv/bin/python3");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh (it creates .venv with DuckDB, which this test needs)",
        python.display()
    );
    let probe = Command::new(&python).args(["-c", "import duckdb; print(duckdb.__version__)"]).output().unwrap();
    assert!(
        probe.status.success(),
        "the duckdb Python package is missing from .venv: run scripts/setup.sh ({})",
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    python
}

/// Runs `scripts/duckdb-run.py SCRIPT PARAMS --format json` and returns its JSON.
pub fn duckdb_json(script: &str, params: &[(&str, &Path)]) -> serde_json::Value {
    let python = duckdb_python();
    let mut cmd = Command::new(python);
    cmd.arg(root().join("scripts/duckdb-run.py")).arg(root().join("scripts").join(script));
    for (k, v) in params {
        cmd.arg(format!("{k}={}", v.display()));
    }
    let o = cmd.args(["--format", "json"]).output().unwrap();
    assert!(o.status.success(), "duckdb-run.py {script} failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// One component of a hand-made trace: name, block-local (`block/...`), ns per call, FLOPs per call.
#[derive(Clone)]
pub struct Comp {
    pub name: &'static str,
    pub ns: u64,
    pub flops: f64,
}

/// A hand-made trace: `runs` component-synced and `runs` fused runs per frame count (and one
/// warm-up of each), component times `ns * frames * 2^run * speed` (so medians are known, and
/// differ from means), blocks `blocks`, machine label `machine`.
pub struct Spec {
    pub machine: &'static str,
    pub backend: &'static str,
    pub preset: &'static str,
    pub gpu: Option<&'static str>,
    pub blocks: u32,
    pub frames: Vec<u32>,
    pub runs: u32,
    pub speed: f64,
    pub comps: Vec<Comp>,
    pub start_time: &'static str,
}

impl Spec {
    pub fn new(machine: &'static str) -> Self {
        Spec {
            machine,
            backend: "cpu",
            preset: "tiny",
            gpu: None,
            blocks: 2,
            frames: vec![5, 9],
            runs: 3,
            speed: 1.0,
            comps: vec![
                Comp { name: "embed/time", ns: 1_000_000, flops: 1e6 },
                Comp { name: "block/self_attn/sdpa", ns: 2_000_000, flops: 4e9 },
                Comp { name: "block/ffn/up", ns: 3_000_000, flops: 9e9 },
                Comp { name: "head", ns: 500_000, flops: 1e6 },
            ],
            start_time: "2026-12-01T00:00:00Z",
        }
    }

    /// Tokens at `frames`.
    pub fn tokens(frames: u32) -> u64 {
        u64::from((frames - 1) / 4 + 1) * 100
    }

    /// Time of one call of `c` in timed run `k` (0-based) at `frames`.
    pub fn call_ns(&self, c: &Comp, k: u32, frames: u32) -> u64 {
        ((c.ns * u64::from(frames) * (1u64 << k)) as f64 * self.speed) as u64
    }

    /// The trace's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("machine".to_string(), self.machine.to_string());
        let metadata = Metadata {
            host: "test-host".into(),
            backend: self.backend.into(),
            dtype: "f32".into(),
            preset: self.preset.into(),
            gpu_name: self.gpu.map(str::to_string),
            model: ModelConfig { blocks: self.blocks, dim: 64, heads: 2, head_dim: 32, ..Default::default() },
            height: 160,
            width: 160,
            start_time: self.start_time.into(),
            labels,
            ..Default::default()
        };
        let mut w = TraceWriter::new(Vec::new(), &Header::new(metadata)).unwrap();
        w.add_calibration(&Calibration { dtype: "f32".into(), matmul_flops_per_s: 1e12, bandwidth_bytes_per_s: 1e10, ..Default::default() })
            .unwrap();
        let mut index = 0;
        for &frames in &self.frames {
            let tokens = Self::tokens(frames);
            for sync in [SyncMode::Component, SyncMode::None] {
                for k in 0..=self.runs {
                    let warmup = k == 0;
                    let timed = k.saturating_sub(1);
                    let mut run = RunRecord::new(index, "baseline", sync, frames, tokens);
                    index += 1;
                    run.warmup = warmup;
                    let mut t = 0u64;
                    match sync {
                        SyncMode::Component => {
                            let mut order: Vec<(&Comp, Option<u32>)> = Vec::new();
                            for c in self.comps.iter().filter(|c| !c.name.starts_with("block/") && c.name != "head") {
                                order.push((c, None));
                            }
                            for b in 0..self.blocks {
                                for c in self.comps.iter().filter(|c| c.name.starts_with("block/")) {
                                    order.push((c, Some(b)));
                                }
                            }
                            for c in self.comps.iter().filter(|c| c.name == "head") {
                                order.push((c, None));
                            }
                            for (c, block) in order {
                                let id = run.component(c.name, c.flops, c.flops / 10.0);
                                let d = self.call_ns(c, timed, frames);
                                run.push_event(id, block, t, d);
                                t += d;
                            }
                        }
                        _ => {
                            let id = run.component("forward", 1e12, 1e9);
                            let d = self.forward_ns(timed, frames);
                            run.push_event(id, None, 0, d);
                            t = d;
                        }
                    }
                    run.forward_ns = t;
                    w.add_run(&run).unwrap();
                }
            }
        }
        w.finish().unwrap()
    }

    /// The fused forward of timed run `k`: 80% of the component-synced sum.
    pub fn forward_ns(&self, k: u32, frames: u32) -> u64 {
        let sum: u64 = self
            .comps
            .iter()
            .map(|c| self.call_ns(c, k, frames) * if c.name.starts_with("block/") { u64::from(self.blocks) } else { 1 })
            .sum();
        sum * 8 / 10
    }
}

/// The median of values (mean of the middle two for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    assert!(n > 0);
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Relative closeness.
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}
