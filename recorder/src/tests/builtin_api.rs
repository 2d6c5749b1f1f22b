//! The built-in model recorded through the library API (`api::Recorder`), as `mlx-record` does:
//! every component staged, costed by the built-in cost table, and written.

use trace_format::read_trace_file;

use super::common::{self, serial};
use crate::api::{self, Mode, Recorder, Schedule, Shape};
use crate::config::DType;
use crate::model::ForwardOptions;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mlx-record-builtin-api-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_built_in_model_records_through_the_same_api() {
    let _serial = serial();
    let t = common::tiny(5, 64, 96, DType::F32, 1, 2);
    let path = temp_dir("builtin").join("tiny.msgpack");
    let mut meta = api::metadata("tiny", DType::F32);
    meta.model = t.config.clone();
    let mut rec = Recorder::create(&path, meta).unwrap();
    let shape = Shape { costs: Some(t.costs.clone()), ..Shape::new(t.geometry.tokens()).frames(5) };
    let opts = ForwardOptions::default();
    let stages = Recorder::stages(&shape, |p| t.model.forward(&t.inputs, p, &opts)).unwrap();
    // 4 embeddings + 17 block components + head, as the built-in recorder's rounds perturb.
    assert_eq!(stages.len(), 22);
    let schedule = Schedule { modes: vec![Mode::Component, Mode::Attributed], runs: 1, warmup: 0, copies: 1, ..Schedule::default() };
    rec.record(&shape, &schedule, |p| t.model.forward(&t.inputs, p, &opts)).unwrap();
    rec.finish().unwrap();
    let trace = read_trace_file(&path).unwrap();
    let synced = trace.runs.iter().find(|r| r.sync == Mode::Component).unwrap();
    // The built-in cost table still gives every component its cost.
    let qkv = synced.components.iter().find(|c| c.name == "block/self_attn/qkv").unwrap();
    assert_eq!(qkv.flops, t.costs.of("block/self_attn/qkv").unwrap().flops);
    assert_eq!(trace.runs.len(), 1 + (1 + 1 + 22 + 5));
}
