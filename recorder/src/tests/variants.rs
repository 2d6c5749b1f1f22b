//! Every variant against the baseline on the tiny model, same weights and inputs: caches and
//! compiled kernels must reproduce the baseline up to float rounding; quantized FFNs within
//! stated bounds.

use super::common::{Tiny, tiny};
use crate::config::DType;
use crate::cost::CostModel;
use crate::instrument::Probe;
use crate::model::{ForwardOptions, Inputs, Model};
use crate::variants::{self, Variant};
use mlx_rs::Array;
use trace_format::{RunRecord, SyncMode};

fn forward(model: &Model, inputs: &Inputs, costs: &CostModel, opts: &ForwardOptions, mode: SyncMode) -> Array {
    let mut probe = Probe::new(RunRecord::new(0, "test", mode, inputs.geometry.frames, inputs.geometry.tokens()), costs);
    let out = model.forward(inputs, &mut probe, opts).unwrap();
    out.eval().unwrap();
    out
}

#[test]
fn variants_match_the_baseline_within_their_bounds() {
    let _serial = super::common::serial();
    let Tiny { config, geometry, model, inputs, costs } = tiny(9, 64, 64, DType::F32, 11, 12);
    let baseline = forward(&model, &inputs, &costs, &ForwardOptions::default(), SyncMode::None);

    for variant in Variant::ALL.into_iter().filter(|v| *v != Variant::Baseline) {
        let prepared = variants::prepare(&model, variant, &inputs).unwrap();
        for mode in [SyncMode::None, SyncMode::Component] {
            let out = forward(&model, &inputs, &costs, &prepared.options(), mode);
            assert_eq!(out.shape(), baseline.shape());
            let (max_rel, mean_rel) = variants::drift(&out, &baseline).unwrap();
            // Bounds: caches and compiled kernels compute the same values (f32 rounding of a
            // different evaluation order at most); 8-bit affine quantization with groups of 64
            // keeps about 2-3 significant digits; 4-bit about one.
            let (max_bound, mean_bound) = match variant {
                Variant::FfnQ8 => (1e-2, 5e-3),
                Variant::FfnQ4 => (1e-1, 5e-2),
                _ => (1e-5, 1e-6),
            };
            assert!(max_rel <= max_bound && mean_rel <= mean_bound, "{} ({mode:?}): max {max_rel:e}, mean {mean_rel:e}", variant.name());
            if matches!(variant, Variant::FfnQ8 | Variant::FfnQ4) {
                // Quantization must actually change the result (it is not the baseline path).
                assert!(max_rel > 0.0, "{}: identical to baseline", variant.name());
            }
        }
        // The caches record their one-off cost and the memory they keep.
        let names: Vec<&str> = prepared.setups.iter().map(|s| s.0.as_str()).collect();
        match variant {
            Variant::CameraCache => assert_eq!(names, ["setup/camera_cache"]),
            Variant::CrossKvCache => assert_eq!(names, ["setup/cross_kv_cache"]),
            Variant::Cached | Variant::CompiledCached | Variant::Optimized => assert_eq!(names, ["setup/camera_cache", "setup/cross_kv_cache"]),
            Variant::FfnQ8 | Variant::FfnQ4 => assert_eq!(names, ["setup/ffn_quantize"]),
            _ => assert!(names.is_empty()),
        }
        // Camera cache memory: blocks x 2 arrays x L x dim x 4 bytes.
        if variant == Variant::CameraCache {
            let bytes = prepared.setups[0].2;
            assert_eq!(bytes, config.blocks as u64 * 2 * geometry.tokens() * config.dim as u64 * 4);
        }
    }
}

#[test]
fn cached_variants_skip_the_cached_components() {
    let _serial = super::common::serial();
    let Tiny { geometry, model, inputs, costs, .. } = tiny(5, 32, 32, DType::F32, 1, 2);
    let prepared = variants::prepare(&model, Variant::Cached, &inputs).unwrap();
    let mut probe = Probe::new(RunRecord::new(0, "cached", SyncMode::Component, 5, geometry.tokens()), &costs);
    model.forward(&inputs, &mut probe, &prepared.options()).unwrap();
    let names: Vec<String> = probe.into_run().components.into_iter().map(|c| c.name).collect();
    assert!(names.iter().any(|n| n == "block/camera/apply"));
    for gone in ["block/camera/injector", "block/camera/scale_shift", "block/cross_attn/kv"] {
        assert!(!names.iter().any(|n| n == gone), "{gone} still timed");
    }
}
