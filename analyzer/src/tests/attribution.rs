//! Attribution on generated traces whose per-component costs inside the fused forward are known:
//! the estimates, their intervals, their coverage, and the sections that use them.

use super::common::{close, facts, simple_spec};
use crate::analysis::attribution::attribution;
use crate::analysis::facts::Rollup;
use crate::analysis::ranking::{rank, Method};
use crate::analysis::{analyze_facts, overhead, tree, AnalyzeOptions};
use trace_synth::{fused_cost_ns, lingbot_like_components, SynthSpec};
use trace_format::SyncMode;

fn attributed_spec(jitter: f64, runs: u32, seed: u64) -> SynthSpec {
    SynthSpec { syncs: vec![SyncMode::Attributed], jitter, runs, seed, fused_factor: 0.8, ..simple_spec() }
}

#[test]
fn without_noise_every_cost_is_recovered_exactly() {
    let spec = attributed_spec(0.0, 3, 1);
    let (_, f) = facts(&[spec.clone()]);
    let sets = attribution(&f);
    assert_eq!(sets.len(), 1);
    let set = &sets[0];
    assert_eq!((set.frames, set.tokens, set.rounds, set.references, set.controls), (5, 1000, 3, 3, 3));
    for c in &spec.components {
        let truth = fused_cost_ns(&spec, c, 1000) / 1e6;
        let got = set.comps.iter().find(|x| x.name == c.name).unwrap();
        assert!(close(got.estimate.ms, truth, 1e-6), "{}: {} vs {truth}", c.name, got.estimate.ms);
        // No noise: the interval collapses onto the value.
        let [lo, hi] = got.estimate.ci95.unwrap();
        assert!(close(lo, truth, 1e-6) && close(hi, truth, 1e-6));
        assert!(!got.below_noise);
    }
    // The control is 2% of the fused forward (9 ms x 0.8); the costs sum to the forward exactly.
    assert!(close(set.fused.ms, 7.2, 1e-6));
    assert!(close(set.control_ms.unwrap(), 0.02 * 7.2, 1e-6));
    assert!(close(set.sum.ms, 7.2, 1e-6));
    assert!(set.rest_ms.abs() < 1e-6 && set.sum_error_pct.abs() < 1e-6);
}

#[test]
fn ranking_tree_and_overhead_use_the_attributed_costs() {
    // Component-synced runs (true 9 ms) beside attributed ones (fused at 0.8x: 7.2 ms).
    let spec = SynthSpec { syncs: vec![SyncMode::Component, SyncMode::None, SyncMode::Attributed], ..attributed_spec(0.0, 3, 2) };
    let (ds, f) = facts(&[spec]);
    let r = rank(&f, None).unwrap();
    assert_eq!(r.method, Method::Attributed);
    assert!(close(r.fused_ms.unwrap(), 7.2, 1e-6));
    let ffn = r.rows.iter().find(|x| x.name == "block/ffn/up").unwrap();
    assert_eq!(ffn.method, Method::Attributed);
    assert!(close(ffn.ms_per_forward, 2.0 * 3.0 * 0.8, 1e-6));
    assert!(close(ffn.synced_ms.unwrap(), 6.0, 1e-6), "the synced time stays a column");
    assert!(close(ffn.share, 6.0 / 9.0, 1e-6));
    let t = tree::distribution(&f, None).unwrap();
    assert_eq!(t.method, Method::Attributed);
    assert!(close(t.root.ns / 1e6, 7.2, 1e-6));
    let o = overhead::overhead(&f);
    let row = &o.rows[0];
    assert!(close(row.attributed_sum.unwrap().ms, 7.2, 1e-6));
    assert!(row.attributed_sum_pct.unwrap().abs() < 1e-6);
    // The synced sum against the `none` runs (7.2 ms): +25%.
    assert!(close(row.synced_sum_pct.unwrap(), 25.0, 1e-6), "{:?}", row.synced_sum_pct);
    // JSON rows carry the method, the time and its interval.
    let report = analyze_facts(&ds, &f, &AnalyzeOptions::default()).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let row = &json["ranking"]["rows"][0];
    assert_eq!(row["method"], "attributed");
    assert!(row["ms_per_forward"].as_f64().unwrap() > 0.0);
    assert_eq!(row["ci95_ms"].as_array().unwrap().len(), 2);
}

#[test]
fn seed_buckets_sum_their_components_with_one_interval() {
    let spec = SynthSpec { components: lingbot_like_components(), blocks: 4, ..attributed_spec(0.0, 3, 3) };
    let (_, f) = facts(&[spec.clone()]);
    let seed = f.rolled_up(Rollup::Seed);
    let set = &attribution(&seed)[0];
    let truth: f64 = spec
        .components
        .iter()
        .filter(|c| c.name.starts_with("block/self_attn/"))
        .map(|c| fused_cost_ns(&spec, c, 1000))
        .sum::<f64>()
        / 1e6;
    let sa = set.comps.iter().find(|c| c.name == "Self-Attention").unwrap();
    // The seed's Self-Attention excludes RoPE, which has a bucket of its own.
    let rope = fused_cost_ns(&spec, spec.components.iter().find(|c| c.name == "block/self_attn/rope").unwrap(), 1000) / 1e6;
    assert!(close(sa.estimate.ms, truth - rope, 1e-6), "{} vs {}", sa.estimate.ms, truth - rope);
}

#[test]
fn a_component_below_the_noise_is_flagged() {
    // embed/time costs 0.8 ms of 7.2; with 50% jitter per run its interval reaches zero.
    let spec = attributed_spec(0.5, 3, 4);
    let (_, f) = facts(&[spec]);
    let set = &attribution(&f)[0];
    let small = set.comps.iter().find(|c| c.name == "embed/time").unwrap();
    assert!(small.below_noise, "{:?}", small.estimate);
    let r = rank(&f, None).unwrap();
    assert!(r.rows.iter().find(|x| x.name == "embed/time").unwrap().below_noise);
}

#[test]
fn interval_coverage_holds_by_simulation() {
    // 400 independent attributed recordings with 3% uniform jitter per run: the 95% interval of
    // each component's cost, and of their sum, holds the true value in at least 93% of them.
    let spec0 = SynthSpec { jitter: 0.03, ..attributed_spec(0.03, 3, 0) };
    let truth: Vec<(String, f64)> = spec0.components.iter().map(|c| (c.name.clone(), fused_cost_ns(&spec0, c, 1000) / 1e6)).collect();
    let total: f64 = truth.iter().map(|t| t.1).sum();
    let trials = 400;
    let mut hits = vec![0usize; truth.len() + 1];
    for seed in 0..trials {
        let spec = SynthSpec { seed: 1000 + seed, ..spec0.clone() };
        let (_, f) = facts(&[spec]);
        let set = &attribution(&f)[0];
        for (i, (name, t)) in truth.iter().enumerate() {
            let [lo, hi] = set.comps.iter().find(|c| &c.name == name).unwrap().estimate.ci95.unwrap();
            hits[i] += usize::from(lo <= *t && *t <= hi);
        }
        let [lo, hi] = set.sum.ci95.unwrap();
        hits[truth.len()] += usize::from(lo <= total && total <= hi);
    }
    for (i, h) in hits.iter().enumerate() {
        let coverage = *h as f64 / trials as f64;
        let name = truth.get(i).map_or("sum", |t| t.0.as_str());
        assert!(coverage >= 0.93, "{name}: coverage {coverage}");
    }
}

/// Attributed costs that sum to less than nothing (a recording far too noisy for its length)
/// cannot be shares: the ranking falls back to the synced times and says so by its method,
/// instead of vanishing as if the traces held no runs to rank.
#[test]
fn a_ranking_whose_attributed_costs_sum_below_zero_falls_back_to_the_synced_times() {
    let spec = SynthSpec { syncs: vec![SyncMode::Component, SyncMode::Attributed], ..attributed_spec(0.0, 3, 5) };
    let (_, mut f) = facts(&[spec]);
    let reference = f
        .runs
        .iter()
        .find(|r| r.perturbation.as_ref().is_some_and(|p| p.kind == trace_format::PerturbKind::Reference))
        .map(|r| r.forward_ns)
        .unwrap();
    // Every duplicate 1 ms faster than the references: every attributed cost is negative.
    for r in &mut f.runs {
        if r.perturbation.as_ref().is_some_and(|p| p.kind == trace_format::PerturbKind::Duplicate) {
            r.forward_ns = reference - 1_000_000;
        }
    }
    let sets = attribution(&f);
    assert!(sets[0].sum.ms < 0.0, "the set's sum is {}", sets[0].sum.ms);
    let r = rank(&f, None).expect("a ranking from the synced runs");
    assert_eq!(r.method, Method::Synced);
    let ffn = r.rows.iter().find(|x| x.name == "block/ffn/up").unwrap();
    assert!(close(ffn.ms_per_forward, 6.0, 1e-6), "{}", ffn.ms_per_forward);
    assert!(r.rows.iter().all(|x| x.method == Method::Synced));
}

#[test]
fn a_variant_that_removes_a_component_saves_its_attributed_cost() {
    use crate::analysis::natural::natural_experiments;
    // The baseline runs three components; `camera-cache` the same without embed/time.
    let base = attributed_spec(0.01, 5, 11);
    let mut without = SynthSpec { variant: "camera-cache".into(), seed: 12, ..base.clone() };
    without.components.retain(|c| c.name != "embed/time");
    let (_, f) = facts(&[base.clone(), without]);
    let n = natural_experiments(&f);
    assert_eq!(n.len(), 1, "{n:?}");
    let e = &n[0];
    assert_eq!((e.variant.as_str(), e.frames, e.removed.clone()), ("camera-cache", 5, vec!["embed/time".to_string()]));
    // Truth: embed/time's fused cost, once per forward (it is outside the blocks).
    let truth = fused_cost_ns(&base, &base.components[0], 1000) / 1e6;
    assert!(close(e.attributed.ms, truth, 0.1), "{} vs {truth}", e.attributed.ms);
    assert!(close(e.saving.ms, truth, 0.25), "{} vs {truth}", e.saving.ms);
    let [lo, hi] = e.saving.ci95.unwrap();
    assert!(lo <= truth && truth <= hi, "{lo} {hi} {truth}");
    assert_eq!(e.agree, Some(true));
    // Without a variant that removes something, nothing is reported.
    let (_, f) = facts(&[base]);
    assert!(natural_experiments(&f).is_empty());
}
