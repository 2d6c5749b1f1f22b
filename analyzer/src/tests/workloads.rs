//! Runs of different workloads (model, blocks, dtype, resolution, machine) are never pooled:
//! each workload gets its own section, fits and token counts; comparisons by a trace key need
//! one workload per group; variants are never pooled either. Synthetic traces with known
//! answers.

use super::common::{close, facts, simple_spec};
use crate::analysis::comparison::CompareOptions;
use crate::analysis::{analyze_facts, AnalyzeOptions, Report};
use crate::render::RenderFormat;
use trace_synth::{with_label, SynthComponent, SynthSpec};
use trace_format::SyncMode;

fn render(r: &Report, format: RenderFormat) -> String {
    String::from_utf8(format.renderer().render(r).unwrap()).unwrap()
}

/// A trace of `simple_spec` at one frame count and one resolution: 5 frames are 2 latent
/// frames, so 480x832 gives 2 x 30 x 52 = 3120 tokens and 240x416 gives 2 x 15 x 26 = 780.
fn at_resolution(height: u32, width: u32, frames: u32, seed: u64) -> SynthSpec {
    let tokens = ((frames as u64 - 1) / 4 + 1) * (height as u64 / 16) * (width as u64 / 16);
    let mut spec = simple_spec();
    spec.metadata.height = height;
    spec.metadata.width = width;
    spec.frames = vec![frames];
    spec.tokens = Some(vec![tokens]);
    spec.syncs = vec![SyncMode::Component, SyncMode::None];
    spec.seed = seed;
    spec
}

#[test]
fn two_resolutions_at_5_frames_are_two_sections_and_never_1950_tokens() {
    let (ds, f) = facts(&[at_resolution(480, 832, 5, 1), at_resolution(240, 416, 5, 2)]);
    let r = analyze_facts(&ds, &f, &AnalyzeOptions::default()).unwrap();
    assert_eq!(r.workloads.len(), 2);
    assert_eq!(r.sections.len(), 2);
    // Nothing at the top level: no pooled ranking or scaling rows.
    assert!(r.ranking.is_none() && r.scaling.rows.is_empty());
    let tokens: Vec<Vec<u64>> = r.sections.iter().map(|s| s.scaling.rows.iter().map(|x| x.tokens).collect()).collect();
    assert_eq!(tokens, [vec![3120], vec![780]]);
    assert_eq!(r.sections[0].ranking.as_ref().unwrap().tokens, 3120);
    assert_eq!(r.sections[1].ranking.as_ref().unwrap().tokens, 780);
    // Every section's runs are its own: 3 component-synced + 3 fused runs each.
    assert!(r.sections.iter().all(|s| s.inputs.runs == 6 && s.inputs.files.len() == 1));
    for format in [RenderFormat::Table, RenderFormat::Markdown, RenderFormat::Html] {
        let text = render(&r, format);
        // The median of 3120 and 780, the count a pooled table printed.
        assert!(!text.contains("1950"), "{format:?} prints a pooled token count");
        assert!(text.contains("Workload 1: synthetic (dim 5120), 2 blocks, bf16, 480x832, synth-host"), "{format:?}");
        assert!(text.contains("Workload 2: synthetic (dim 5120), 2 blocks, bf16, 240x416, synth-host"), "{format:?}");
        assert!(text.contains("never pooled") && text.contains("--workload N"), "{format:?}: no line saying what was separated");
    }
    // --workload picks one: a plain report of that workload, saying what was left out.
    let one = analyze_facts(&ds, &f, &AnalyzeOptions { workloads: Some(vec![2]), ..Default::default() }).unwrap();
    assert!(one.sections.is_empty());
    assert_eq!(one.workload.as_ref().unwrap().height, 240);
    assert_eq!(one.scaling.rows.iter().map(|x| x.tokens).collect::<Vec<_>>(), [780]);
    assert!(one.separation.as_deref().unwrap().contains("left out: 1: synthetic (dim 5120), 2 blocks, bf16, 480x832"));
    let err = analyze_facts(&ds, &f, &AnalyzeOptions { workloads: Some(vec![3]), ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains("--workload 3") && err.contains("2 workload(s)"), "{err}");
}

/// sdpa costing `c * L^p` ns per block (nothing else), at three token counts.
fn sdpa_spec(machine: &str, blocks: u32, tokens: Vec<u64>, power: i32) -> SynthSpec {
    let sdpa = match power {
        1 => SynthComponent::new("block/self_attn/sdpa", 0.0, 2_000.0, 0.0),
        _ => SynthComponent::new("block/self_attn/sdpa", 0.0, 0.0, 0.5),
    };
    SynthSpec {
        components: vec![SynthComponent::new("embed/time", 1e6, 0.0, 0.0), sdpa],
        blocks,
        frames: vec![5, 9, 13],
        tokens: Some(tokens),
        runs: 3,
        syncs: vec![SyncMode::Component],
        metadata: with_label(SynthSpec::default().metadata, "machine", machine),
        ..SynthSpec::default()
    }
}

#[test]
fn sdpa_exponent_is_fitted_per_workload() {
    // Workload 1: quadratic sdpa at 1000-4000 tokens; workload 2 (another machine, 2 blocks):
    // linear sdpa at 100-400 tokens. Pooled per frame count, the medians of 1000 and 100 tokens
    // etc. would be fitted together; separately the exponents are exactly 2 and 1.
    let (ds, f) = facts(&[sdpa_spec("gpu", 4, vec![1000, 2000, 4000], 2), sdpa_spec("cpu", 2, vec![100, 200, 400], 1)]);
    let r = analyze_facts(&ds, &f, &AnalyzeOptions::default()).unwrap();
    assert_eq!(r.sections.len(), 2);
    let fit = |s: &Report| s.scaling.fits.iter().find(|x| x.name == "block/self_attn/sdpa").unwrap().clone();
    let (quad, lin) = (fit(&r.sections[0]), fit(&r.sections[1]));
    assert_eq!(quad.points.iter().map(|p| p.0).collect::<Vec<_>>(), [1000.0, 2000.0, 4000.0]);
    assert_eq!(lin.points.iter().map(|p| p.0).collect::<Vec<_>>(), [100.0, 200.0, 400.0]);
    // ms per block: 0.5 ns * L^2 and 2000 ns * L.
    assert!(close(quad.points[0].1, 0.5 * 1e6 / 1e6, 1e-6), "{:?}", quad.points);
    assert!(close(lin.points[2].1, 2000.0 * 400.0 / 1e6, 1e-6), "{:?}", lin.points);
    let (pq, pl) = (quad.power.unwrap(), lin.power.unwrap());
    assert!((pq.exponent - 2.0).abs() < 1e-3 && pq.r2 > 0.9999, "quadratic workload: {pq:?}");
    assert!((pl.exponent - 1.0).abs() < 1e-3 && pl.r2 > 0.9999, "linear workload: {pl:?}");
    // The seed claim (c) is checked per workload too.
    assert!((r.sections[0].seed_claims.self_attention.as_ref().unwrap().sdpa_exponent.unwrap() - 2.0).abs() < 1e-3);
}

#[test]
fn comparison_by_machine_is_across_workloads_one_workload_per_group() {
    let spec = |machine: &str, blocks: u32, height: u32, speed: f64, seed: u64| {
        let mut s = at_resolution(height, height * 13 / 7, 5, seed);
        s.metadata = with_label(s.metadata, "machine", machine);
        s.blocks = blocks;
        s.speed = speed;
        s.jitter = 0.01;
        s
    };
    let by_machine = AnalyzeOptions {
        compare: Some(CompareOptions { key: "machine".into(), ..CompareOptions::default() }),
        ..AnalyzeOptions::default()
    };
    // Two machines, one workload each, 2 and 4 blocks: sections per machine, one comparison.
    let (ds, f) = facts(&[spec("m1", 2, 480, 1.0, 1), spec("m2", 4, 480, 2.0, 2)]);
    let r = analyze_facts(&ds, &f, &by_machine).unwrap();
    assert_eq!(r.sections.len(), 2);
    assert!(r.sections.iter().all(|s| s.comparison.is_none()));
    let c = r.comparison.as_ref().unwrap();
    assert!(c.per_block, "different block counts are compared per block");
    // block/ffn/up: 3 ms per block on m1, 6 ms on m2 (speed 2): a ratio of 2 within the jitter.
    let ffn = c.rows.iter().find(|x| x.component == "block/ffn/up").unwrap();
    assert!(close(ffn.ratio, 2.0, 0.03), "{}", ffn.ratio);
    assert!(c.notes.iter().any(|n| n.contains("differ in more than machine") && n.contains("blocks (2 vs 4)")), "{:?}", c.notes);

    // A group holding two workloads (m2 at two resolutions) would pool them: refused, with
    // the selections that leave one workload per group.
    let (ds, f) = facts(&[spec("m1", 2, 480, 1.0, 1), spec("m2", 2, 480, 2.0, 2), spec("m2", 2, 240, 2.0, 3)]);
    let err = analyze_facts(&ds, &f, &by_machine).unwrap_err().to_string();
    assert!(err.contains("group \"m2\" holds runs of 2 workloads"), "{err}");
    assert!(err.contains("--workload 1,2 or --workload 1,3"), "{err}");
    let r = analyze_facts(&ds, &f, &AnalyzeOptions { workloads: Some(vec![1, 3]), ..by_machine.clone() }).unwrap();
    assert_eq!(r.sections.len(), 2);
    assert!(r.comparison.as_ref().unwrap().rows.iter().all(|x| x.frames == 5));
}

#[test]
fn variants_are_never_pooled_without_a_baseline() {
    // One workload, two variants, no `baseline`: the single-variant analyses show the first
    // variant alone (ffn 3 ms x 2 blocks = 6 ms per forward), not a pool with the other (12 ms).
    let mut a = simple_spec();
    a.variant = "a".into();
    let mut b = simple_spec();
    b.variant = "b".into();
    b.speed = 2.0;
    b.seed = 2;
    let (ds, f) = facts(&[a, b]);
    let r = analyze_facts(&ds, &f, &AnalyzeOptions::default()).unwrap();
    assert!(r.sections.is_empty(), "one workload");
    assert_eq!(r.inputs.variant.as_deref(), Some("a"));
    let ranking = r.ranking.as_ref().unwrap();
    assert_eq!(ranking.runs, 3);
    let ffn = ranking.rows.iter().find(|x| x.name == "block/ffn/up").unwrap();
    assert!(close(ffn.ms_per_forward, 6.0, 1e-9), "{}", ffn.ms_per_forward);
    let text = render(&r, RenderFormat::Markdown);
    assert!(text.contains("`a` (no `baseline` run; variants are never pooled)"), "{text}");
}

#[test]
fn by_variant_is_compared_inside_each_workload() {
    // Two workloads (machines), each with a baseline and a variant twice as fast at ffn: the
    // variant comparison is made in each section, against that workload's own baseline.
    let spec = |machine: &str, variant: &str, speed: f64, seed: u64| {
        let mut s = at_resolution(480, 832, 5, seed);
        s.metadata = with_label(s.metadata, "machine", machine);
        s.variant = variant.into();
        s.speed = speed;
        s
    };
    let (ds, f) = facts(&[spec("m1", "baseline", 1.0, 1), spec("m1", "fast", 0.5, 2), spec("m2", "baseline", 3.0, 3), spec("m2", "fast", 1.5, 4)]);
    let opts = AnalyzeOptions { compare: Some(CompareOptions { key: "variant".into(), ..CompareOptions::default() }), ..Default::default() };
    let r = analyze_facts(&ds, &f, &opts).unwrap();
    assert_eq!(r.sections.len(), 2);
    assert!(r.comparison.is_none());
    for (s, base_ms) in r.sections.iter().zip([6.0, 18.0]) {
        let c = s.comparison.as_ref().unwrap();
        let ffn = c.rows.iter().find(|x| x.component == "block/ffn/up" && x.group == "fast").unwrap();
        assert!(close(ffn.baseline_ms, base_ms, 1e-9), "{}", ffn.baseline_ms);
        assert!(close(ffn.ratio, 0.5, 1e-9), "{}", ffn.ratio);
    }
}

/// Two implementations of one model on one machine (mlx-record and the Python recorder) are two
/// workloads, compared by `--by`, never pooled; two versions of one recorder are one workload.
#[test]
fn recordings_of_two_recorder_programs_are_two_workloads() {
    let named = |version: &str, seed: u64| {
        let mut spec = at_resolution(480, 832, 5, seed);
        spec.metadata.recorder_version = version.to_string();
        spec
    };
    let (ds, f) = facts(&[named("0.1.0", 1), named("mlx-trace-python 0.1.0", 2)]);
    let r = analyze_facts(&ds, &f, &AnalyzeOptions::default()).unwrap();
    assert_eq!(r.workloads.len(), 2);
    assert_eq!(r.workloads[0].recorder, "");
    assert_eq!(r.workloads[1].recorder, "mlx-trace-python");
    assert!(r.workloads[1].label.ends_with(", recorded by mlx-trace-python"), "{}", r.workloads[1].label);
    assert_eq!(r.workloads[0].differences(&r.workloads[1], "machine"), ["recording program (mlx-record vs mlx-trace-python)"]);
    // A comparison by the differing key itself finds nothing more to warn about.
    assert!(r.workloads[0].differences(&r.workloads[1], "recording program").is_empty());
    assert!(r.sections.iter().all(|s| s.inputs.runs == 6 && s.inputs.files.len() == 1));

    let (ds, f) = facts(&[named("mlx-trace-python 0.1.0", 1), named("mlx-trace-python 0.2.0", 2)]);
    let r = analyze_facts(&ds, &f, &AnalyzeOptions::default()).unwrap();
    assert_eq!(r.workloads.len(), 1);
    assert_eq!(r.inputs.runs, 12);
}
