//! Accuracy of each variant against an f32 reference: the same weights and inputs (the bf16
//! values, cast up) run in f32 through the baseline forward, then every variant in the compute
//! dtype. A variant's drift against the bf16 baseline mixes its own rounding with the baseline's;
//! this table separates them: a variant is no less accurate than the baseline when its error
//! against f32 is no larger than the baseline's.
//!
//! Run with `cargo bench -p mlx-record --features bench --bench accuracy`. ACCURACY_PRESET (default `lingbot-14b`
//! on a GPU, `tiny` on the CPU), ACCURACY_FRAMES (default 5) and ACCURACY_BLOCKS override.

use crate::config::{DType, Geometry, Preset};
use crate::cost::CostModel;
use crate::instrument::Probe;
use crate::machine::{Backend, detect_backend, use_backend};
use crate::model::{ForwardOptions, Inputs, Model, Weights};
use crate::variants::{self, Variant};
use mlx_rs::Array;
use trace_format::{RunRecord, SyncMode};

fn forward(model: &Model, inputs: &Inputs, opts: &ForwardOptions) -> Array {
    let costs = CostModel::new(&model.config, inputs.geometry.tokens(), model.dtype.size());
    let run = RunRecord::new(0, "accuracy", SyncMode::None, inputs.geometry.frames, inputs.geometry.tokens());
    let mut probe = Probe::new(run, &costs);
    let out = model.forward(inputs, &mut probe, opts).unwrap();
    out.eval().unwrap();
    out
}

/// Runs the benchmark and prints its table.
pub fn main() {
    let backend = detect_backend();
    use_backend(backend);
    let gpu = backend != Backend::Cpu;
    let preset: Preset = std::env::var("ACCURACY_PRESET")
        .ok()
        .map(|p| p.parse().expect("ACCURACY_PRESET: a preset name"))
        .unwrap_or(if gpu { Preset::Lingbot14b } else { Preset::Tiny });
    let frames: u32 = std::env::var("ACCURACY_FRAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let mut config = preset.config();
    if let Some(b) = std::env::var("ACCURACY_BLOCKS").ok().and_then(|v| v.parse().ok()) {
        config.blocks = b;
    }
    // The recorder's default dtypes: bf16 on a GPU, f32 on the CPU.
    let dtype = if gpu { DType::Bf16 } else { DType::F32 };
    let geometry = if preset == Preset::Tiny { Geometry::new(frames, 64, 64).unwrap() } else { Geometry::new(frames, 480, 832).unwrap() };
    let weights = Weights::synthetic(&config, dtype, 1).unwrap();
    let inputs = Inputs::synthetic(&config, geometry, dtype, 1).unwrap();

    // The reference: the same values in f32, RoPE tables computed in f32.
    let reference = {
        let model = Model::new(config.clone(), DType::F32, weights.cast(DType::F32).unwrap());
        let f32_inputs = Inputs {
            geometry,
            latent: inputs.latent.as_dtype(mlx_rs::Dtype::Float32).unwrap(),
            context: inputs.context.as_dtype(mlx_rs::Dtype::Float32).unwrap(),
            camera: inputs.camera.as_ref().map(|c| c.as_dtype(mlx_rs::Dtype::Float32).unwrap()),
            rope: crate::model::rope_tables(config.head_dim, geometry.token_grid(), DType::F32).unwrap(),
        };
        forward(&model, &f32_inputs, &ForwardOptions::default())
    };
    mlx_rs::memory::clear_cache().unwrap();

    let model = Model::new(config.clone(), dtype, weights);
    println!(
        "{} ({} blocks), {} frames = {} tokens, {} on {}: error of each variant against the f32 forward",
        preset.name(),
        config.blocks,
        frames,
        geometry.tokens(),
        dtype.name(),
        backend.name()
    );
    println!("(max_rel = max|x - ref| / max|ref|, mean_rel = mean|x - ref| / mean|ref|)");
    println!();
    println!("{:<18} {:>12} {:>12}", "variant", "max_rel", "mean_rel");
    for variant in Variant::ALL {
        let prepared = variants::prepare(&model, variant, &inputs).unwrap();
        let out = forward(&model, &inputs, &prepared.options());
        let (max_rel, mean_rel) = variants::drift(&out, &reference).unwrap();
        println!("{:<18} {:>12.3e} {:>12.3e}", variant.name(), max_rel, mean_rel);
        drop(prepared);
        mlx_rs::memory::clear_cache().unwrap();
    }
}
