//! Every analysis against hand-computed expectations on generated traces with known durations.

use super::common::{close, facts, simple_spec};
use crate::analysis::comparison::{compare, run_groups, CompareOptions, FORWARD_ROW};
use crate::analysis::facts::{seed_bucket, Rollup};
use crate::analysis::ranking::{rank, Bound, Priority};
use crate::analysis::{memory, overhead, recommend, scaling, tree};
use trace_synth::{with_label, SynthComponent, SynthSpec};
use trace_format::{Drift, SyncMode};

#[test]
fn ranking_shares_rates_and_bound_match_hand_calculation() {
    let (_, f) = facts(&[simple_spec()]);
    let r = rank(&f, None).unwrap();
    // Per forward: embed 1 ms, FFN 2 x 3 ms, SDPA 2 x 1 ms = 9 ms.
    assert_eq!(r.frames, 5);
    assert_eq!(r.tokens, 1000);
    assert_eq!(r.runs, 3, "warm-up excluded");
    assert!(close(r.total_ms, 9.0, 1e-12));
    let names: Vec<&str> = r.rows.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["block/ffn/up", "block/self_attn/sdpa", "embed/time"]);
    let ffn = &r.rows[0];
    assert!(close(ffn.share, 6.0 / 9.0, 1e-12));
    assert!(close(ffn.ms_per_block.unwrap(), 3.0, 1e-12));
    assert!(close(ffn.ms_per_forward, 6.0, 1e-12));
    // 1.5e11 FLOP in 3 ms = 50 TFLOP/s = 50% of 100; 3e8 B in 3 ms = 100 GB/s = 10% of 1 TB/s.
    assert!(close(ffn.tflops.unwrap(), 50.0, 1e-9));
    assert!(close(ffn.gbps.unwrap(), 100.0, 1e-9));
    assert!(close(ffn.flops_util.unwrap(), 0.5, 1e-9));
    assert!(close(ffn.bytes_util.unwrap(), 0.1, 1e-9));
    // Intensity 500 FLOP/B >= ridge 100: compute-bound; 50% headroom of 6 ms = 3 ms = 33% of 9.
    assert!(close(ffn.intensity.unwrap(), 500.0, 1e-12));
    assert!(close(ffn.ridge.unwrap(), 100.0, 1e-12));
    assert_eq!(ffn.bound, Bound::Compute);
    assert!(close(ffn.savable_ms, 3.0, 1e-9));
    assert_eq!(ffn.priority, Priority::High);
    let sdpa = &r.rows[1];
    // 1e10 FLOP / 1e9 B = 10 < 100: memory-bound at 1e9 B / 1 ms = 1 TB/s = 100%.
    assert_eq!(sdpa.bound, Bound::Memory);
    assert!(close(sdpa.bytes_util.unwrap(), 1.0, 1e-9));
    assert_eq!(sdpa.priority, Priority::Low);
    let embed = &r.rows[2];
    assert_eq!(embed.ms_per_block, None, "overhead has no per-block time");
    assert_eq!(embed.bound, Bound::Unknown);
}

#[test]
fn seed_rollup_puts_norm2_in_ffn_and_only_norm1_in_norms() {
    assert_eq!(seed_bucket("block/norm2"), "FFN");
    assert_eq!(seed_bucket("block/norm1"), "Norms");
    assert_eq!(seed_bucket("block/cross_attn/norm3"), "Cross-Attention");
    assert_eq!(seed_bucket("block/self_attn/rope"), "RoPE");
    assert_eq!(seed_bucket("block/self_attn/qk_norm"), "Self-Attention");
    assert_eq!(seed_bucket("head"), "Other");
    assert_eq!(seed_bucket("block/new/thing"), "block/new/thing");
    let spec = SynthSpec {
        components: vec![
            SynthComponent::new("block/norm1", 1e6, 0.0, 0.0),
            SynthComponent::new("block/norm2", 2e6, 0.0, 0.0),
            SynthComponent::new("block/ffn/up", 4e6, 0.0, 0.0),
            SynthComponent::new("block/cross_attn/norm3", 3e6, 0.0, 0.0),
        ],
        blocks: 1,
        ..simple_spec()
    };
    let (_, f) = facts(&[spec]);
    let seed = f.rolled_up(Rollup::Seed);
    let r = rank(&seed, None).unwrap();
    let get = |n: &str| r.rows.iter().find(|x| x.name == n).unwrap().ms_per_forward;
    assert!(close(get("FFN"), 6.0, 1e-12));
    assert!(close(get("Norms"), 1.0, 1e-12));
    assert!(close(get("Cross-Attention"), 3.0, 1e-12));
    assert_eq!(r.rows.len(), 3);
}

#[test]
fn distribution_tree_splits_blocks_and_overhead_by_path() {
    let (_, f) = facts(&[simple_spec()]);
    let d = tree::distribution(&f, None).unwrap();
    let blocks = &d.root.children[0];
    let over = &d.root.children[1];
    assert_eq!(blocks.name, "Blocks");
    assert!(close(blocks.share, 8.0 / 9.0, 1e-12));
    assert!(close(over.share, 1.0 / 9.0, 1e-12));
    // Blocks -> ffn -> up, Blocks -> self_attn -> sdpa.
    assert_eq!(blocks.children[0].name, "ffn");
    assert_eq!(blocks.children[0].children[0].name, "up");
    assert!(close(blocks.children[1].share, 2.0 / 9.0, 1e-12));
    assert_eq!(over.children[0].name, "embed");
    assert_eq!(over.children[0].children[0].name, "time");
    let sum: f64 = d.root.children.iter().map(|c| c.share).sum();
    assert!(close(sum, 1.0, 1e-12));
}

fn scaling_spec(tokens: Vec<u64>) -> SynthSpec {
    SynthSpec {
        components: vec![
            // Exactly quadratic: t = 0.001 L^2 ns.
            SynthComponent::new("block/self_attn/sdpa", 0.0, 0.0, 0.001),
            // t = 1e5 + 100 L + 0.01 L^2 ns: quadratic overtakes linear at L = 100 / 0.01 = 10000.
            SynthComponent::new("block/mixed", 1e5, 100.0, 0.01),
            // Linear: t = 50 L ns.
            SynthComponent::new("block/ffn/up", 0.0, 50.0, 0.0),
        ],
        blocks: 2,
        frames: (0..tokens.len() as u32).map(|i| 1 + 4 * i).collect(),
        tokens: Some(tokens),
        runs: 2,
        warmup_runs: 0,
        syncs: vec![SyncMode::Component, SyncMode::None],
        ..SynthSpec::default()
    }
}

#[test]
fn scaling_fits_recover_exponents_and_crossover() {
    let (_, f) = facts(&[scaling_spec(vec![1000, 2000, 4000, 8000, 16000])]);
    let s = scaling::scaling(&f);
    assert!(s.note.is_none());
    assert_eq!(s.rows.len(), 5);
    // Per-block ms of the quadratic component at L = 4000: 0.001 * 4000^2 ns = 16000 ns = 0.016 ms.
    let row = s.rows.iter().find(|r| r.tokens == 4000).unwrap();
    let sdpa = row.cells.iter().find(|c| c.name == "block/self_attn/sdpa").unwrap();
    assert!(close(sdpa.ms, 0.016, 1e-6));
    let fit = |n: &str| s.fits.iter().find(|x| x.name == n).unwrap();
    let q = fit("block/self_attn/sdpa");
    let p = q.power.unwrap();
    assert!(close(p.exponent, 2.0, 1e-6), "exponent {}", p.exponent);
    assert!(p.r2 > 0.999999);
    let poly = q.poly.unwrap();
    assert!(poly.c > 0.0);
    assert!(close(poly.c, 1e-9, 1e-6), "c = {} ms/token^2", poly.c);
    assert!(poly.b.abs() < 1e-9 && poly.a.abs() < 1e-6);
    let m = fit("block/mixed").poly.unwrap();
    assert!(close(m.a, 0.1, 1e-4) && close(m.b, 1e-4, 1e-4) && close(m.c, 1e-8, 1e-4));
    assert!(close(fit("block/mixed").crossover_tokens.unwrap(), 10000.0, 1e-3));
    let lin = fit("block/ffn/up");
    assert!(close(lin.power.unwrap().exponent, 1.0, 1e-6));
    assert!(lin.poly.unwrap().c.abs() < 1e-15);
    assert_eq!(lin.crossover_tokens, None, "no quadratic term, no crossover");
    // Fused forward is recorded too: 0.9 x sum of component times.
    let fwd = fit("forward");
    let l: f64 = 2000.0;
    let expected = 0.9 * 2.0 * (0.001 * l * l + 1e5 + 100.0 * l + 0.01 * l * l + 50.0 * l) / 1e6;
    assert!(close(fwd.points[1].1, expected, 1e-6));
}

#[test]
fn scaling_with_two_token_counts_says_so_instead_of_fitting() {
    let (_, f) = facts(&[scaling_spec(vec![1000, 2000])]);
    let s = scaling::scaling(&f);
    assert!(s.note.as_deref().unwrap().contains("only 2 distinct token count"));
    assert!(s.fits.iter().all(|x| x.poly.is_none() && x.power.is_none() && x.note.is_some()));
}

#[test]
fn overhead_compares_synced_and_fused_forward() {
    let spec = SynthSpec { fused_factor: 0.8, ..scaling_spec(vec![1000, 2000, 4000]) };
    let (_, f) = facts(&[spec]);
    let o = overhead::overhead(&f);
    let row = o.rows.iter().find(|r| r.tokens == 1000).unwrap();
    let l: f64 = 1000.0;
    let per_block = 0.001 * l * l + 1e5 + 100.0 * l + 0.01 * l * l + 50.0 * l;
    let sum = 2.0 * per_block; // ns, 2 blocks
    let synced = sum + 6.0 * 1000.0; // six events, 1 us gap after each
    let fused = 0.8 * sum;
    assert!(close(row.component_ms.unwrap(), synced / 1e6, 1e-9));
    assert!(close(row.fused_ms.unwrap(), fused / 1e6, 1e-9));
    assert!(close(row.component_pct.unwrap(), (synced / fused - 1.0) * 100.0, 1e-9));
    assert_eq!(row.block_ms, None);
    // The synthetic host graph build is 1% of the fused forward (whole ns).
    assert!((row.graph_ms.unwrap() - (fused / 100.0).floor() / 1e6).abs() < 1e-6);
}

#[test]
fn memory_reports_active_and_peak_per_run() {
    let spec = SynthSpec { memory_fixed: 1000, memory_per_token: 10, ..simple_spec() };
    let (_, f) = facts(&[spec]);
    let m = memory::memory(&f);
    assert_eq!(m.runs.len(), 3);
    // active = 1000 + 10 * 1000 = 11000; peak = active + active/4 = 13750.
    assert!(m.runs.iter().all(|r| r.active_bytes == 11000 && r.peak_bytes == 13750));
    assert_eq!(m.by_frames[0].peak_max_bytes, 13750);
    assert_eq!(m.by_frames[0].active_median_bytes, 11000.0);
}

fn machine(name: &str, speed: f64, seed: u64) -> SynthSpec {
    SynthSpec {
        metadata: with_label(SynthSpec::default().metadata, "machine", name),
        speed,
        seed,
        jitter: 0.02,
        runs: 5,
        syncs: vec![SyncMode::Component, SyncMode::None],
        ..simple_spec()
    }
}

#[test]
fn comparison_finds_a_machine_twice_as_slow() {
    let (ds, f) = facts(&[machine("fast", 1.0, 1), machine("slow", 2.0, 2)]);
    let values = crate::load::trace_key_values(&ds.traces, "machine").unwrap();
    assert_eq!(values, ["fast", "slow"]);
    let groups = run_groups(&f, "machine", Some(&values));
    let c = compare(&f, &groups, &CompareOptions { resamples: 400, ..CompareOptions::default() }).unwrap();
    assert_eq!(c.baseline, "fast");
    let ffn = c.rows.iter().find(|r| r.component == "block/ffn/up").unwrap();
    assert!(close(ffn.ratio, 2.0, 0.05), "ratio {}", ffn.ratio);
    assert!(ffn.low <= 2.0 && ffn.high >= 2.0, "interval {}-{}", ffn.low, ffn.high);
    assert!(ffn.low > 1.8 && ffn.high < 2.2);
    assert!(ffn.significant);
    let fwd = c.rows.iter().find(|r| r.component == FORWARD_ROW).unwrap();
    assert!(close(fwd.ratio, 2.0, 0.05) && fwd.significant);
}

#[test]
fn comparison_of_equal_machines_is_not_significant() {
    let (ds, f) = facts(&[machine("a", 1.0, 11), machine("b", 1.0, 12)]);
    let values = crate::load::trace_key_values(&ds.traces, "machine").unwrap();
    let groups = run_groups(&f, "machine", Some(&values));
    let c = compare(&f, &groups, &CompareOptions { resamples: 400, ..CompareOptions::default() }).unwrap();
    for r in &c.rows {
        assert!(close(r.ratio, 1.0, 0.05), "{} ratio {}", r.component, r.ratio);
        assert!(!r.significant, "{} flagged", r.component);
    }
    // One group only: a clear message, not a table.
    let one = vec!["x".to_string(); f.runs.len()];
    assert!(compare(&f, &one, &CompareOptions::default()).unwrap_err().contains("at least two groups"));
}

#[test]
fn comparison_by_variant_reports_speedup_drift_and_per_clip_saving() {
    let base = SynthSpec { syncs: vec![SyncMode::Component, SyncMode::None], ..simple_spec() };
    let mut cached = base.clone();
    cached.variant = "cache".into();
    cached.components.retain(|c| c.name != "block/self_attn/sdpa");
    cached.drift = Some(Drift { max_rel: 1e-3, mean_rel: 1e-4 });
    cached.setups = vec![("setup/camera_cache".into(), 5_000_000)];
    let (_, f) = facts(&[base, cached]);
    let groups = run_groups(&f, "variant", None);
    let c = compare(&f, &groups, &CompareOptions { key: "variant".into(), resamples: 200, ..CompareOptions::default() }).unwrap();
    assert_eq!(c.baseline, "baseline");
    let v = &c.variants[0];
    // Fused: 0.9 x 9 ms = 8.1 ms against 0.9 x 7 ms = 6.3 ms.
    assert!(close(v.speedup.unwrap(), 9.0 / 7.0, 1e-9));
    assert!(close(v.saving_ms_per_forward.unwrap(), 1.8, 1e-9));
    assert!(close(v.setup_ms, 5.0, 1e-12));
    assert!(close(v.saving_ms_per_clip.unwrap(), 80.0 * 1.8 - 5.0, 1e-9));
    assert_eq!(v.drift_max_rel, Some(1e-3));
}

#[test]
fn recommendations_state_their_numbers_and_rank_by_saving() {
    let (_, f) = facts(&[simple_spec()]);
    let r = rank(&f, None).unwrap();
    let recs = recommend::recommend(Some(&r), None, None, None);
    assert!(!recs.is_empty());
    let first = &recs[0];
    assert_eq!(first.component.as_deref(), Some("block/ffn/up"));
    assert!(close(first.saving_ms, 3.0, 1e-9));
    assert!(first.detail.contains("50%"), "{}", first.detail);
    assert!(first.detail.contains("compute-bound"));
    assert!(first.detail.contains("50.0 TFLOP/s of 100 TFLOP/s"), "{}", first.detail);
    for w in recs.windows(2) {
        assert!(w[0].saving_ms >= w[1].saving_ms);
    }
    // SDPA is memory-bound: its recommendation names the bandwidth share and half its time.
    let sdpa = recs.iter().find(|x| x.component.as_deref() == Some("block/self_attn/sdpa")).unwrap();
    assert!(sdpa.detail.contains("memory-bound") && sdpa.detail.contains("100%"));
    assert!(close(sdpa.saving_ms, 1.0, 1e-9));
}

#[test]
fn unknown_component_names_are_kept_and_treed() {
    let spec = SynthSpec {
        components: vec![SynthComponent::new("block/experimental/gate/inner", 1e6, 0.0, 0.0), SynthComponent::new("weird", 1e6, 0.0, 0.0)],
        blocks: 1,
        ..simple_spec()
    };
    let (_, f) = facts(&[spec]);
    let d = tree::distribution(&f, None).unwrap();
    let blocks = &d.root.children[0];
    assert_eq!(blocks.children[0].name, "experimental");
    assert_eq!(blocks.children[0].children[0].children[0].name, "inner");
    assert!(close(blocks.share, 0.5, 1e-12));
}

#[test]
fn loaded_totals_equal_a_naive_sum_over_the_decoded_records() {
    use crate::analysis::facts::component_totals;
    use crate::load::{load_bytes, LoadOptions};
    use trace_synth::generate;
    use std::collections::BTreeMap;
    let specs = [machine("a", 1.0, 3), scaling_spec(vec![1000, 2000, 4000])];
    let bytes: Vec<Vec<u8>> = specs.iter().map(|s| generate(s, true)).collect();
    // Naive reference: every timed run of every file in order, events summed by component name.
    let mut naive: Vec<BTreeMap<String, (u64, u64, i32, f64)>> = Vec::new();
    for b in &bytes {
        let trace = trace_format::read_trace(b).unwrap();
        for run in trace.runs.iter().filter(|r| !r.warmup) {
            let mut m = BTreeMap::new();
            for e in run.events() {
                let c = &run.components[e.component as usize];
                let t = m.entry(c.name.clone()).or_insert((0u64, 0u64, -1i32, c.flops));
                t.0 += e.duration_ns;
                t.1 += 1;
                t.2 = t.2.max(e.block.map_or(-1, |b| b as i32));
            }
            naive.push(m);
        }
    }
    for skip_events in [false, true] {
        let inputs = bytes.iter().enumerate().map(|(i, b)| (format!("t{i}.msgpack"), b.clone())).collect();
        let ds = load_bytes(inputs, &LoadOptions { skip_events, ..Default::default() }).unwrap();
        assert_eq!(ds.events.height() == 0, skip_events);
        let totals = component_totals(&ds).unwrap();
        assert!(!totals.is_empty());
        let mut got: Vec<BTreeMap<String, (u64, u64, i32, f64)>> = vec![BTreeMap::new(); ds.runs.len()];
        for t in &totals {
            got[t.run_id as usize].insert(ds.component_names[t.component as usize].clone(), (t.total_ns, t.calls, t.max_block, t.flops));
        }
        assert_eq!(got, naive, "skip_events {skip_events}");
        let events: u64 = naive.iter().flat_map(|m| m.values()).map(|t| t.1).sum();
        assert_eq!(ds.event_count() as u64, events);
        // Hand check: every component-synced run of the simple spec has FFN twice at 3 ms.
        let ffn = ds.component_names.iter().position(|n| n == "block/ffn/up").unwrap() as u32;
        let t = totals.iter().find(|t| t.component == ffn).unwrap();
        assert_eq!((t.calls, t.max_block), (2, 1));
    }
}

#[test]
fn comparison_resamples_whole_traces_when_there_are_enough() {
    let specs: Vec<SynthSpec> = (0..4).map(|i| machine("fast", 1.0, 100 + i)).chain((0..4).map(|i| machine("slow", 2.0, 200 + i))).collect();
    let (ds, f) = facts(&specs);
    let values = crate::load::trace_key_values(&ds.traces, "machine").unwrap();
    let groups = run_groups(&f, "machine", Some(&values));
    let c = compare(&f, &groups, &CompareOptions { resamples: 400, ..CompareOptions::default() }).unwrap();
    assert_eq!(c.units[0].unit, "trace");
    let ffn = c.rows.iter().find(|r| r.component == "block/ffn/up").unwrap();
    // Four per-trace medians per side.
    assert_eq!((ffn.n_baseline, ffn.n_group), (4, 4));
    assert!(ffn.low <= 2.0 && ffn.high >= 2.0 && ffn.significant);
    // Two traces per side are too few: runs are resampled.
    let (ds, f) = facts(&[machine("fast", 1.0, 1), machine("slow", 2.0, 2)]);
    let values = crate::load::trace_key_values(&ds.traces, "machine").unwrap();
    let c = compare(&f, &run_groups(&f, "machine", Some(&values)), &CompareOptions { resamples: 100, ..CompareOptions::default() }).unwrap();
    assert_eq!(c.units[0].unit, "run");
}

#[test]
fn fused_forward_rate_is_its_flops_over_its_time() {
    let spec = SynthSpec { syncs: vec![SyncMode::Component, SyncMode::None], fused_factor: 1.0, ..super::common::simple_spec() };
    let (_, f) = facts(&[spec]);
    let row = scaling::scaling(&f).rows.into_iter().next().unwrap();
    // Fused forward: embed/time 1 ms + 2 blocks x (3 + 1) ms = 9 ms; FLOPs 2 x 1000 x (1.5e8 + 1e7).
    let flops = 2.0 * 1000.0 * (1.5e8 + 1e7);
    let rate = flops / 9e-3;
    assert!(close(row.forward_ms.unwrap(), 9.0, 1e-9));
    assert!(close(row.fused_tflops.unwrap(), rate / 1e12, 1e-9), "{:?}", row.fused_tflops);
    assert!(close(row.fused_matmul_share.unwrap(), rate / 100e12, 1e-9));
}

#[test]
fn quadratic_recommendations_need_measured_superlinear_growth() {
    // sdpa: t = 0.001 L^2 (local exponent 2); block/mixed: quadratic term 60% at L = 16000
    // (local exponent 1.47); block/ffn/up: linear. Plus a component whose quadratic term is 34%
    // of its time at L = 16000 but which grows sub-linearly over the measured range (a large
    // constant): local exponent 0.42, so no advice to chunk it.
    let mut spec = scaling_spec(vec![1000, 2000, 4000, 8000, 16000]);
    spec.components.push(SynthComponent::new("embed/patch", 1e6, 0.0, 0.002));
    let (_, f) = facts(&[spec]);
    let s = scaling::scaling(&f);
    let recs = recommend::recommend(None, Some(&s), None, None);
    // Superlinear growth (sdpa, exponent 2) or a supported quadratic term in a component that
    // grows faster than L (block/mixed, exponent 1.09 over the range).
    let quadratic: Vec<&str> = recs
        .iter()
        .filter(|r| r.title.contains("quadratic in tokens") || r.title.contains("grows as L^"))
        .filter_map(|r| r.component.as_deref())
        .collect();
    assert!(quadratic.contains(&"block/self_attn/sdpa"), "{quadratic:?}");
    assert!(quadratic.contains(&"block/mixed"), "{quadratic:?}");
    assert!(!quadratic.contains(&"block/ffn/up"), "{quadratic:?}");
    assert!(!quadratic.contains(&"embed/patch"), "{quadratic:?}");
    assert!(!quadratic.contains(&"forward"), "{quadratic:?}");
}

#[test]
fn a_component_faster_than_the_calibration_promises_no_saving() {
    // FFN at 150 TFLOP/s against a calibrated 100: above the "ceiling".
    let mut spec = simple_spec();
    let ffn = spec.components.iter_mut().find(|c| c.name == "block/ffn/up").unwrap();
    ffn.flops_per_token *= 3.0;
    let (_, f) = facts(&[spec]);
    let r = rank(&f, None).unwrap();
    // No recommendation rests on a ceiling the component exceeds: it is named among the
    // effects the recording does not support, with the reason.
    let (recs, not_supported) = recommend::recommend_measured(Some(&r), None, None, None, None);
    assert!(!recs.iter().any(|x| x.component.as_deref() == Some("block/ffn/up")), "{recs:?}");
    let line = not_supported.iter().find(|x| x.starts_with("block/ffn/up")).unwrap();
    assert!(line.contains("above this machine's calibrated matmul ceiling"), "{line}");
    assert_eq!(r.rows.iter().find(|x| x.name == "block/ffn/up").unwrap().bound_verdict, crate::analysis::verdict::Verdict::Inconclusive);
}

#[test]
fn fused_rate_counts_the_work_the_variant_does() {
    // The fused run's `forward` event claims twice the work of its components (a variant that
    // skips components, recorded with the standard forward's cost): the rate must follow the
    // component-synced run's sum, so it matches the same spec recorded with the true cost.
    let honest = SynthSpec { fused_factor: 0.8, ..scaling_spec(vec![1000, 2000, 4000]) };
    let inflated = SynthSpec { forward_flops_factor: 2.0, ..honest.clone() };
    for spec in [&honest, &inflated] {
        let spec = SynthSpec {
            components: spec.components.iter().cloned().map(|c| c.flops(1e6, 0.0)).collect(),
            ..spec.clone()
        };
        let (_, f) = facts(&[spec]);
        let s = scaling::scaling(&f);
        let row = s.rows.iter().find(|r| r.tokens == 1000).unwrap();
        // Per block three components of 1e6 FLOP/token at L = 1000, 2 blocks: 6e9 FLOP.
        let l: f64 = 1000.0;
        let per_block = 0.001 * l * l + 1e5 + 100.0 * l + 0.01 * l * l + 50.0 * l;
        let fused_s = 0.8 * 2.0 * per_block / 1e9;
        assert!(close(row.fused_tflops.unwrap(), 6e9 / fused_s / 1e12, 1e-6), "{:?}", row.fused_tflops);
    }
}
