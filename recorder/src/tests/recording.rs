//! Recording in-process end to end: trace round trip, bytes per event, partial-trace recovery,
//! checkpoint loading (good and bad). The binary's refusals are in `recorder/tests/recording.rs`.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::cli::Opt;
use crate::config::{DType, Geometry, Preset};
use crate::cost::CostModel;
use crate::instrument::Probe;
use crate::machine::Backend;
use crate::model::weights::WeightError;
use crate::model::{ForwardOptions, Inputs, Model, Weights};
use crate::session;
use mlx_rs::Array;
use trace_format::{RunRecord, SyncMode, read_trace, read_trace_file};

use super::common::serial;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlx-record-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn plan(out: PathBuf, extra: &[&str]) -> session::Plan {
    let mut args = vec!["mlx-record", "--preset", "tiny", "--frames", "5,9", "--height", "64", "--width", "64", "--runs", "2", "--quiet"];
    args.extend_from_slice(extra);
    let out_s = out.display().to_string();
    args.extend_from_slice(&["--out", &out_s]);
    use clap::Parser;
    Opt::parse_from(args).to_plan(Backend::Cpu).unwrap()
}

#[test]
fn recorded_trace_reads_back_with_every_run() {
    let _serial = serial();
    let dir = temp_dir("roundtrip");
    let out = dir.join("t.msgpack");
    let mut p = plan(out.clone(), &["--no-calibrate", "--sync", "component,none"]);
    p.calibrate = false;
    let header = session::header(&p, "test");
    let summary = session::record(&p, &header).unwrap();
    assert!(!summary.interrupted);
    assert!(out.exists() && !trace_format::partial_path(&out).exists());

    let trace = read_trace_file(&out).unwrap();
    assert!(trace.complete, "{:?}", trace.warnings);
    assert_eq!(trace.header.metadata.preset, "tiny");
    assert_eq!(trace.header.metadata.backend, "cpu");
    // 2 frame counts x (1 warm-up + 2 runs) x 2 sync modes
    assert_eq!(trace.runs.len() as u64, p.total_runs());
    assert_eq!(trace.runs.len(), 12);
    let tokens: Vec<u64> = trace.runs.iter().map(|r| r.tokens).collect();
    assert!(tokens.contains(&Geometry::new(5, 64, 64).unwrap().tokens()));
    for run in &trace.runs {
        assert!(run.forward_ns > 0 && run.peak_memory_bytes > 0);
        let events: Vec<_> = run.events().collect();
        match run.sync {
            SyncMode::Component => {
                assert_eq!(events.len(), 4 + 17 * 2 + 1);
                // Components are timed one after another inside the forward.
                let sum: u64 = events.iter().map(|e| e.duration_ns).sum();
                assert!(sum <= run.forward_ns, "{sum} > {}", run.forward_ns);
                for pair in events.windows(2) {
                    assert!(pair[1].start_ns >= pair[0].start_ns + pair[0].duration_ns);
                }
                let sdpa = run.components.iter().find(|c| c.name == "block/self_attn/sdpa").unwrap();
                let cfg = Preset::Tiny.config();
                let l = run.tokens as f64;
                assert_eq!(sdpa.flops, 4.0 * l * l * cfg.dim as f64 + 5.0 * cfg.heads as f64 * l * l);
            }
            SyncMode::None => {
                assert_eq!(events.len(), 1);
                assert_eq!(run.components[0].name, "forward");
            }
            SyncMode::Block | SyncMode::Attributed => unreachable!("not requested"),
        }
    }
    assert_eq!(trace.runs.iter().filter(|r| r.warmup).count(), 4);
}

#[test]
fn truncated_trace_keeps_every_completed_run() {
    let _serial = serial();
    let dir = temp_dir("partial");
    let out = dir.join("t.msgpack");
    let p = plan(out.clone(), &["--no-calibrate", "--sync", "component"]);
    let summary = session::record(&p, &session::header(&p, "test")).unwrap();
    let bytes = std::fs::read(&summary.path).unwrap();
    let full = read_trace(&bytes).unwrap();
    // Cut inside the last run record and at the end of each run record: the reader keeps the
    // runs before the cut and warns.
    let mut ends = Vec::new();
    for n in 1..full.runs.len() {
        let cut = bytes.len() * n / full.runs.len();
        let t = read_trace(&bytes[..cut]).unwrap();
        assert!(!t.complete);
        assert!(!t.warnings.is_empty());
        assert!(t.runs.len() < full.runs.len());
        assert_eq!(t.runs[..], full.runs[..t.runs.len()]);
        ends.push(t.runs.len());
    }
    assert!(ends.windows(2).all(|w| w[0] <= w[1]));
    // Without the end marker only: every run, flagged incomplete.
    let no_end = read_trace(&bytes[..bytes.len() - 8]).unwrap();
    assert_eq!(no_end.runs.len(), full.runs.len());
    assert!(!no_end.complete);
}

#[test]
fn events_are_compact_for_a_realistic_block_count() {
    // 40 blocks as in the real model, 1 tiny-sized run: measures the encoding, not MLX.
    let mut config = Preset::Tiny.config();
    config.blocks = 40;
    let costs = CostModel::new(&config, 9360, 2);
    let mut run = RunRecord::new(7, "baseline", SyncMode::Component, 21, 9360);
    let mut t = 0u64;
    let names: Vec<&str> = crate::model::names::BLOCK.to_vec();
    for b in 0..40 {
        for n in &names {
            let c = costs.of(n).unwrap();
            let id = run.component(n, c.flops, c.bytes);
            t += 40_000;
            run.push_event(id, Some(b), t, 1_234_567);
            t += 1_234_567;
        }
    }
    let mut w = trace_format::TraceWriter::new(Vec::new(), &trace_format::Header::new(Default::default())).unwrap();
    let before = w.get_mut().len();
    w.add_run(&run).unwrap();
    let per_event = (w.get_mut().len() - before) as f64 / run.events.len() as f64;
    assert!(per_event <= 16.0, "{per_event} bytes per event");
}

fn save_checkpoint(dir: &PathBuf, arrays: &HashMap<String, Array>, shards: usize) {
    let mut names: Vec<&String> = arrays.keys().collect();
    names.sort();
    for (i, chunk) in names.chunks(names.len().div_ceil(shards)).enumerate() {
        let part: HashMap<String, Array> = chunk.iter().map(|n| ((*n).clone(), arrays[*n].clone())).collect();
        Array::save_safetensors(&part, None, dir.join(format!("model-{i:05}.safetensors"))).unwrap();
    }
}

#[test]
fn checkpoint_loads_and_reproduces_the_forward() {
    let _serial = serial();
    let config = Preset::Tiny.config();
    let original = Weights::synthetic(&config, DType::F32, 5).unwrap();
    let dir = temp_dir("ckpt-good");
    save_checkpoint(&dir, original.arrays(), 3);
    // An unrelated key is ignored.
    Array::save_safetensors(&HashMap::from([("extra.weight".to_string(), Array::from_slice(&[1.0f32], &[1]))]), None, dir.join("z-extra.safetensors")).unwrap();
    let loaded = Weights::load(&dir, &config, DType::F32).unwrap();

    let geometry = Geometry::new(5, 32, 32).unwrap();
    let inputs = Inputs::synthetic(&config, geometry, DType::F32, 9).unwrap();
    let costs = CostModel::new(&config, geometry.tokens(), 4);
    let run = |w: Weights| {
        let model = Model::new(config.clone(), DType::F32, w);
        let mut probe = Probe::new(RunRecord::new(0, "baseline", SyncMode::None, 5, geometry.tokens()), &costs);
        let out = model.forward(&inputs, &mut probe, &ForwardOptions::default()).unwrap();
        out.eval().unwrap();
        out.as_slice::<f32>().to_vec()
    };
    assert_eq!(run(original), run(loaded));
}

#[test]
fn bad_checkpoints_are_refused_naming_the_key() {
    let config = Preset::Tiny.config();
    let good = Weights::synthetic(&config, DType::F32, 5).unwrap();
    let case = |name: &str, edit: &dyn Fn(&mut HashMap<String, Array>)| -> WeightError {
        let mut arrays = good.arrays().clone();
        edit(&mut arrays);
        let dir = temp_dir(name);
        save_checkpoint(&dir, &arrays, 2);
        match Weights::load(&dir, &config, DType::F32) {
            Err(e) => e,
            Ok(_) => panic!("{name}: accepted"),
        }
    };
    let e = case("missing", &|a| {
        a.remove("blocks.1.cam_scale_layer.weight");
    });
    assert!(matches!(e, WeightError::Missing { .. }) && e.to_string().contains("blocks.1.cam_scale_layer.weight"), "{e}");
    let e = case("shape", &|a| {
        a.insert("blocks.0.ffn.0.weight".into(), Array::zeros::<f32>(&[511, 256]).unwrap());
    });
    assert!(e.to_string().contains("blocks.0.ffn.0.weight") && e.to_string().contains("[512, 256]"), "{e}");
    let e = case("dtype", &|a| {
        a.insert("head.head.bias".into(), Array::zeros::<i32>(&[64]).unwrap());
    });
    assert!(matches!(e, WeightError::Dtype { .. }) && e.to_string().contains("head.head.bias"), "{e}");
    let empty = temp_dir("empty");
    assert!(Weights::load(&empty, &config, DType::F32).err().unwrap().to_string().contains("no *.safetensors"));
    let junk = temp_dir("junk");
    std::fs::write(junk.join("a.safetensors"), b"not a checkpoint").unwrap();
    assert!(matches!(Weights::load(&junk, &config, DType::F32), Err(WeightError::Unreadable { .. })));
}
