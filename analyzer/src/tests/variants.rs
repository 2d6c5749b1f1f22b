//! Variant-aware analyses, the per-frame variant table, measured recommendations and the seed
//! claims, against hand calculations on generated traces with known durations.

use super::common::{close, facts, load, simple_spec};
use crate::analysis::comparison::{compare, run_groups, CompareOptions};
use crate::analysis::seed::seed_claims;
use crate::analysis::{analyze, base_name, strip_dirs, AnalyzeOptions};
use trace_synth::{SynthComponent, SynthSpec};
use trace_format::{Drift, SyncMode};

const GIB: u64 = 1 << 30;

/// Baseline per forward (component-synced): embed/time 1 ms + 2 blocks x (ffn 3 + sdpa 1 +
/// injector 0.5 + scale_shift 0.5) = 11 ms; fused 0.9 x 11 = 9.9 ms. Frames 5 and 11.
fn base() -> SynthSpec {
    let mut s = SynthSpec { syncs: vec![SyncMode::Component, SyncMode::None], frames: vec![5, 11], tokens: Some(vec![1000, 2000]), ..simple_spec() };
    s.components.push(SynthComponent::new("block/camera/injector", 0.5e6, 0.0, 0.0));
    s.components.push(SynthComponent::new("block/camera/scale_shift", 0.5e6, 0.0, 0.0));
    s
}

/// `cam`: no injector or scale_shift, a 0.25 ms block/camera/apply instead: 1 + 2 x 4.25 =
/// 9.5 ms, fused 8.55 ms. Setup 5 ms keeping 2 GiB; 1 GiB more fixed memory (peak = 1.25 x
/// active, so +1.25 GiB peak); exact output.
fn cam() -> SynthSpec {
    let mut s = base();
    s.variant = "cam".into();
    s.components.retain(|c| !c.name.starts_with("block/camera/"));
    s.components.push(SynthComponent::new("block/camera/apply", 0.25e6, 0.0, 0.0));
    s.setups = vec![("setup/camera_cache".into(), 5_000_000)];
    s.setup_memory_bytes = 2 * GIB;
    s.memory_fixed += GIB;
    s.drift = Some(Drift { max_rel: 0.0, mean_rel: 0.0 });
    s
}

#[test]
fn single_variant_analyses_default_to_baseline_and_variant_picks_another() {
    let ds = load(&[base(), cam()]);
    let r = analyze(&ds, &AnalyzeOptions::default()).unwrap();
    assert_eq!(r.inputs.variant.as_deref(), Some("baseline"));
    assert_eq!(r.inputs.variants, ["baseline", "cam"]);
    let rank = r.ranking.unwrap();
    // Baseline only: 11 ms, no camera/apply, 3 runs (not 6).
    assert!(close(rank.total_ms, 11.0, 1e-6), "{}", rank.total_ms);
    assert_eq!(rank.runs, 3);
    assert!(rank.rows.iter().all(|x| x.name != "block/camera/apply"));
    assert!(r.memory.runs.iter().all(|m| m.variant == "baseline"));
    assert!(r.overhead.rows.iter().all(|o| close(o.fused_ms.unwrap(), 9.9, 1e-6)));

    let r = analyze(&ds, &AnalyzeOptions { variant: Some("cam".into()), ..Default::default() }).unwrap();
    let rank = r.ranking.unwrap();
    assert!(close(rank.total_ms, 9.5, 1e-6));
    assert!(rank.rows.iter().any(|x| x.name == "block/camera/apply"));
    assert!(rank.rows.iter().all(|x| x.name != "block/camera/injector"));

    let err = analyze(&ds, &AnalyzeOptions { variant: Some("nope".into()), ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("nope") && err.to_string().contains("cam"), "{err}");
}

#[test]
fn variant_table_per_frame_count_matches_hand_calculation() {
    // `q8`: FFN twice as slow (1 + 2 x (6 + 1 + 0.5 + 0.5) = 17 ms, fused 15.3 ms), setup recorded in the
    // 5-frame trace only, drift 4% / 0.3%.
    let mut q8_5 = base();
    q8_5.variant = "q8".into();
    q8_5.frames = vec![5];
    q8_5.tokens = Some(vec![1000]);
    q8_5.components[1].a_ns = 6e6;
    q8_5.setups = vec![("setup/ffn_quantize".into(), 40_000_000)];
    q8_5.setup_memory_bytes = 3 * GIB;
    q8_5.drift = Some(Drift { max_rel: 0.04, mean_rel: 0.003 });
    let mut q8_11 = q8_5.clone();
    q8_11.frames = vec![11];
    q8_11.tokens = Some(vec![2000]);
    q8_11.setups.clear();
    q8_11.drift = Some(Drift { max_rel: 0.05, mean_rel: 0.003 });
    let (_, f) = facts(&[base(), cam(), q8_5, q8_11]);
    let groups = run_groups(&f, "variant", None);
    let c = compare(&f, &groups, &CompareOptions { key: "variant".into(), resamples: 200, ..CompareOptions::default() }).unwrap();

    let rows: Vec<_> = c.forward.iter().filter(|r| r.group == "cam").collect();
    assert_eq!(rows.iter().map(|r| (r.frames, r.tokens)).collect::<Vec<_>>(), [(5, 1000), (11, 2000)]);
    for r in &rows {
        assert!(close(r.baseline_ms, 9.9, 1e-6) && close(r.group_ms, 8.55, 1e-6));
        assert!(close(r.speedup, 11.0 / 9.5, 1e-6));
        // No jitter: every resample gives the same ratio.
        assert!(close(r.low, r.speedup, 1e-9) && close(r.high, r.speedup, 1e-9));
        assert!(r.significant);
        let v = r.variant.as_ref().unwrap();
        assert!(close(v.saving_ms_per_forward, 1.35, 1e-6));
        assert!(close(v.setup_ms, 5.0, 1e-12));
        assert!(close(v.setup_memory_bytes, 2.0 * GIB as f64, 1e-12));
        assert!(close(v.peak_delta_bytes.unwrap(), 1.25 * GIB as f64, 1e-12));
        assert!(close(v.saving_ms_per_clip, 80.0 * 1.35 - 5.0, 1e-6));
        assert_eq!((v.drift_max_rel, v.drift_mean_rel), (Some(0.0), Some(0.0)));
    }
    let cam_summary = c.variants.iter().find(|v| v.variant == "cam").unwrap();
    assert_eq!(cam_summary.frames, 11);
    assert_eq!(cam_summary.removed, ["block/camera/injector", "block/camera/scale_shift"]);
    assert_eq!(cam_summary.added, ["block/camera/apply"]);
    assert_eq!(cam_summary.setups, ["setup/camera_cache"]);

    let q8: Vec<_> = c.forward.iter().filter(|r| r.group == "q8").collect();
    assert_eq!(q8.len(), 2);
    for r in &q8 {
        assert!(close(r.speedup, 11.0 / 17.0, 1e-6) && r.significant);
        let v = r.variant.as_ref().unwrap();
        // Quantizing once: the 5-frame setup counts at 11 frames too.
        assert!(close(v.setup_ms, 40.0, 1e-12), "{} frames: {}", r.frames, v.setup_ms);
        assert!(close(v.saving_ms_per_clip, 80.0 * (9.9 - 15.3) - 40.0, 1e-6));
    }
    assert_eq!(q8[1].variant.as_ref().unwrap().drift_max_rel, Some(0.05));
    let q8_summary = c.variants.iter().find(|v| v.variant == "q8").unwrap();
    assert_eq!(q8_summary.drift_max_rel, Some(0.05), "largest over all frame counts");
    assert!(q8_summary.removed.is_empty());
    // Per-component: the FFN takes twice as long.
    let ffn = c.rows.iter().find(|r| r.group == "q8" && r.component == "block/ffn/up").unwrap();
    assert!(close(ffn.ratio, 2.0, 1e-6) && ffn.significant);
}

#[test]
fn recommendations_quote_the_measured_variant() {
    let ds = load(&[base(), cam()]);
    let r = analyze(&ds, &AnalyzeOptions::default()).unwrap();
    assert!(r.variants.is_some(), "variants are compared without --by");
    let rec = r.recommendations.iter().find(|x| x.title.starts_with("cache ") && x.title.contains("camera")).unwrap();
    // Both camera components, 2 x (0.5 + 0.5) = 2 ms per forward.
    assert!(rec.title.contains("block/camera/injector") && rec.title.contains("block/camera/scale_shift"), "{}", rec.title);
    assert!(close(rec.saving_ms, 2.0, 1e-6));
    assert!(rec.detail.contains("Measured: `cam`"), "{}", rec.detail);
    assert!(rec.detail.contains(&format!("runs {:.2}x faster", 11.0 / 9.5)), "{}", rec.detail);
    assert!(rec.detail.contains("drift 0 (exact)"), "{}", rec.detail);
    let v = r.recommendations.iter().find(|x| x.title.starts_with("measured: `cam`")).unwrap();
    assert!(close(v.saving_ms, 1.35, 1e-6));
}

#[test]
fn seed_claims_match_hand_calculation() {
    // 1 block; default tokens 3120 / 4680 / 9360 for 5 / 11 / 21 frames.
    let spec = SynthSpec {
        components: vec![
            SynthComponent::new("block/norm1", 1e6, 0.0, 0.0),
            SynthComponent::new("block/norm2", 1e6, 0.0, 0.0),
            SynthComponent::new("block/cross_attn/norm3", 1e6, 0.0, 0.0),
            SynthComponent::new("block/cross_attn/q", 2e6, 0.0, 0.0),
            // Self-attention: qkv linear (1000 ns per token), sdpa quadratic (0.1 ns per token^2):
            // the quadratic term overtakes at L = 1000 / 0.1 = 10000.
            SynthComponent::new("block/self_attn/qkv", 0.0, 1000.0, 0.0),
            SynthComponent::new("block/self_attn/sdpa", 0.0, 0.0, 0.1),
            // FFN: 2e6 FLOP per token over 1e8 bytes: intensity 0.02 L; 1 ms.
            SynthComponent::new("block/ffn/up", 1e6, 0.0, 0.0).flops(2e6, 0.0).bytes(1e8, 0.0),
        ],
        blocks: 1,
        frames: vec![5, 11, 21],
        tokens: None,
        syncs: vec![SyncMode::Component],
        ..simple_spec()
    };
    let (_, f) = facts(&[spec]);
    let s = seed_claims(&f);
    assert_eq!(s.tokens.iter().map(|t| (t.frames, t.tokens)).collect::<Vec<_>>(), [(5, Some(3120)), (11, Some(4680)), (21, Some(9360))]);
    assert!(s.tokens.iter().all(|t| close(t.ratio.unwrap(), 4.0, 1e-12)));

    let total = |l: f64| 1.0 + 1.0 + 1.0 + 2.0 + 1e-3 * l + 1e-7 * l * l + 1.0; // ms
    for n in &s.norms {
        let t = total(n.tokens as f64);
        assert!(close(n.norm1, 1.0 / t, 1e-6), "{} {}", n.norm1, 1.0 / t);
        assert!(close(n.all, 3.0 / t, 1e-6));
    }
    let a = s.self_attention.unwrap();
    assert!(close(a.sdpa_exponent.unwrap(), 2.0, 1e-6));
    // Three lengths cannot separate a quadratic from a line: no crossover is claimed.
    assert_eq!(a.crossover_tokens, None);
    // Exponent between 1 and 2: log-log slope through the three points by hand.
    let pts: Vec<(f64, f64)> = [3120.0f64, 4680.0, 9360.0].iter().map(|&l| (l.ln(), (1e-3 * l + 1e-7 * l * l).ln())).collect();
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / 3.0;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / 3.0;
    let slope = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / pts.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
    assert!(close(a.exponent.unwrap(), slope, 1e-5), "{} vs {slope}", a.exponent.unwrap());
    assert!(close(a.seed_exponent, (34.2f64 / 15.4).ln() / 3f64.ln(), 1e-12));

    for ffn in &s.ffn {
        let l = ffn.tokens as f64;
        assert!(close(ffn.intensity.unwrap(), 2e6 * l / 1e8, 1e-9));
        assert!(close(ffn.ridge.unwrap(), 100.0, 1e-12));
        // 2e6 L FLOP in 1 ms against 100 TFLOP/s.
        assert!(close(ffn.matmul_util.unwrap(), 2e6 * l / 1e-3 / 100e12, 1e-6));
    }
    // Seed buckets: FFN = ffn/up + norm2; Cross-Attention = q + norm3; no camera.
    let bucket = |name: &str| s.buckets.iter().find(|b| b.bucket == name).unwrap();
    for &(_, l, share) in &bucket("FFN").shares {
        assert!(close(share, 2.0 / total(l as f64), 1e-6));
    }
    for &(_, l, share) in &bucket("Cross-Attention").shares {
        assert!(close(share, 3.0 / total(l as f64), 1e-6));
    }
    assert!(bucket("Camera Injection").shares.iter().all(|x| x.2 == 0.0));
}

#[test]
fn reports_name_files_without_directories() {
    assert_eq!(base_name("/data/run/x.msgpack"), "x.msgpack");
    assert_eq!(base_name("x.msgpack"), "x.msgpack");
    assert_eq!(
        strip_dirs("./mlx-record --frames 5 --out /data/out/h.msgpack"),
        "mlx-record --frames 5 --out h.msgpack"
    );
    assert_eq!(strip_dirs("sdpa block/self_attn/sdpa stays"), "sdpa block/self_attn/sdpa stays");
}

#[test]
fn groups_with_different_block_counts_compare_block_components_per_block() {
    // Same per-block times, 2 blocks against 4: per block the FFN is unchanged (ratio 1). The
    // fused forwards (0.9 x (1 + 2 x 4) = 8.1 ms against 0.9 x (1 + 4 x 4) = 15.3 ms) differ only
    // by the block count, so they are not compared at all.
    let mut small = SynthSpec { syncs: vec![SyncMode::Component, SyncMode::None], ..simple_spec() };
    small.metadata.backend = "cpu".into();
    let mut big = small.clone();
    big.blocks = 4;
    big.metadata.backend = "cuda".into();
    let (ds, f) = facts(&[big, small]);
    let values = crate::load::trace_key_values(&ds.traces, "backend").unwrap();
    let c = compare(&f, &run_groups(&f, "backend", Some(&values)), &CompareOptions { key: "backend".into(), resamples: 100, ..CompareOptions::default() }).unwrap();
    assert!(c.per_block);
    assert_eq!(c.baseline, "cpu");
    let ffn = c.rows.iter().find(|r| r.component == "block/ffn/up").unwrap();
    assert!(close(ffn.ratio, 1.0, 1e-6) && close(ffn.baseline_ms, 3.0, 1e-6) && !ffn.significant);
    let embed = c.rows.iter().find(|r| r.component == "embed/time").unwrap();
    assert!(close(embed.baseline_ms, 1.0, 1e-6), "overhead stays per forward");
    assert!(c.forward.is_empty(), "whole forwards of different block counts compared");
    assert!(!c.rows.iter().any(|r| r.component == crate::analysis::comparison::FORWARD_ROW));
}
