//! Rendering: SVG charts and the HTML report are well-formed XML and carry the expected labels;
//! Markdown has the seed report's sections; JSON reads back through serde.

use super::common::facts;
use crate::analysis::comparison::CompareOptions;
use crate::analysis::{analyze_facts, AnalyzeOptions, Report};
use crate::render::{svg, RenderFormat};
use trace_synth::{with_label, SynthSpec};
use trace_format::SyncMode;

fn report() -> Report {
    let spec = |name: &str, speed: f64, seed: u64| SynthSpec {
        metadata: with_label(SynthSpec::default().metadata, "machine", name),
        speed,
        seed,
        jitter: 0.01,
        blocks: 2,
        frames: vec![5, 9, 21],
        syncs: vec![SyncMode::Component, SyncMode::None],
        ..SynthSpec::default()
    };
    let (ds, f) = facts(&[spec("m1", 1.0, 1), spec("m2", 1.5, 2)]);
    let opts = AnalyzeOptions {
        compare: Some(CompareOptions { key: "machine".into(), resamples: 200, ..CompareOptions::default() }),
        ..AnalyzeOptions::default()
    };
    analyze_facts(&ds, &f, &opts).unwrap()
}

fn texts(doc: &roxmltree::Document) -> String {
    doc.descendants().filter(|n| n.is_text()).map(|n| n.text().unwrap_or("").trim().to_string()).collect::<Vec<_>>().join("\n")
}

#[test]
fn svg_charts_are_well_formed_with_labels_and_units() {
    let r = report();
    let charts = svg::all(&r).unwrap();
    // Two machines are two workloads: each has its own charts, the comparison is made across them.
    let names: Vec<&str> = charts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["workload1-ranking", "workload1-distribution", "workload1-scaling", "workload2-ranking", "workload2-distribution", "workload2-scaling", "comparison"]
    );
    for c in &charts {
        let doc = roxmltree::Document::parse(&c.svg).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let t = texts(&doc);
        match c.name.rsplit('-').next().unwrap() {
            "ranking" => {
                assert!(t.contains("share of summed component time (%)"));
                assert!(t.contains("block/ffn/up"));
                let section = &r.sections[if c.name.starts_with("workload1") { 0 } else { 1 }];
                let top = &section.ranking.as_ref().unwrap().rows[0];
                assert!(t.contains(&format!("{:.1}%", top.share * 100.0)));
            }
            "distribution" => assert!(t.contains("share of forward (%)") && t.contains("Blocks") && t.contains("Overhead")),
            "scaling" => assert!(t.contains("tokens L") && t.contains("ms (per block") && t.contains("forward")),
            "comparison" => assert!(t.contains("ratio of median times") && t.contains("machine = m1")),
            _ => unreachable!(),
        }
    }
}

#[test]
fn html_report_is_self_contained_and_well_formed() {
    let r = report();
    let html = String::from_utf8(RenderFormat::Html.renderer().render(&r).unwrap()).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    let body = html.trim_start_matches("<!DOCTYPE html>");
    let doc = roxmltree::Document::parse(body).expect("HTML is well-formed XML");
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("svg")).count(), 7, "three inline charts per workload and the comparison");
    assert!(doc.descendants().filter(|n| n.has_tag_name("table")).count() >= 5);
    assert!(!html.contains("src=\"http"), "no external resources");
    let t = texts(&doc);
    assert!(t.contains("Bottleneck ranking") && t.contains("Recommendations") && t.contains("Comparison by machine"));
}

#[test]
fn markdown_has_the_seed_sections_and_json_reads_back() {
    let r = report();
    let md = String::from_utf8(RenderFormat::Markdown.renderer().render(&r).unwrap()).unwrap();
    let order = [
        "## Summary",
        "## Workload 1: synthetic (dim 5120), 2 blocks, bf16, 480x832, m1",
        "### Bottleneck ranking",
        "### Scaling with sequence length",
        "### Time distribution",
        "### Recommendations",
        "## Workload 2: synthetic (dim 5120), 2 blocks, bf16, 480x832, m2",
        "### Bottleneck ranking",
        "## Comparison by machine",
        "## How it was run",
    ];
    let mut from = 0;
    for h in order {
        from += md[from..].find(h).unwrap_or_else(|| panic!("{h} missing after byte {from}")) + h.len();
    }
    assert!(md.contains("Blocks: ") && md.contains("├── ") && md.contains("└── "));
    assert!(md.contains("| block/ffn/up |"));

    let json = RenderFormat::Json.renderer().render(&r).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let rows = v["sections"][0]["ranking"]["rows"].as_array().unwrap();
    let ranking = r.sections[0].ranking.as_ref().unwrap();
    assert_eq!(rows.len(), ranking.rows.len());
    assert_eq!(rows[0]["name"], ranking.rows[0].name.as_str());
    assert!(v["ranking"].is_null(), "nothing is pooled at the top level");
    assert_eq!(v["comparison"]["baseline"], "m1");
    let table = String::from_utf8(RenderFormat::Table.renderer().render(&r).unwrap()).unwrap();
    // Aligned: every line of the ranking table has the same width up to trailing spaces.
    assert!(table.contains("% of time") && table.contains("ms/block"));
}

fn markdown(r: &Report) -> String {
    String::from_utf8(RenderFormat::Markdown.renderer().render(r).unwrap()).unwrap()
}

/// The comparison table's row of `component`, as Markdown cells.
fn comparison_row(md: &str, component: &str) -> Vec<String> {
    let line = md
        .lines()
        .find(|l| l.starts_with(&format!("| {component} | ")) && l.contains(" | m2 | "))
        .unwrap_or_else(|| panic!("no comparison row for {component}"));
    line.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect()
}

#[test]
fn comparison_rows_without_interval_show_a_dash_the_method_and_why() {
    // One run a side: no interval (fewer than 3 samples), which the table shows as "-".
    let spec = |name: &str, speed: f64| SynthSpec {
        metadata: with_label(SynthSpec::default().metadata, "machine", name),
        speed,
        runs: 1,
        frames: vec![5],
        ..SynthSpec::default()
    };
    let (ds, f) = facts(&[spec("m1", 1.0), spec("m2", 2.0)]);
    let opts = AnalyzeOptions { compare: Some(CompareOptions { key: "machine".into(), ..CompareOptions::default() }), ..AnalyzeOptions::default() };
    let r = analyze_facts(&ds, &f, &opts).unwrap();
    let c = r.comparison.as_ref().unwrap();
    let md = markdown(&r);
    assert!(!md.contains("NaN"), "an interval printed from NaN");
    // Component, group, frames, baseline, group, ratio, interval, significant.
    let row = comparison_row(&md, "block/ffn/up");
    assert_eq!(row[5], "2.000", "{row:?}");
    assert_eq!(row[6], "-", "{row:?}");
    assert_eq!(row[7], "no", "{row:?}");
    let fused = md.lines().find(|l| l.starts_with("| m2 | 5 | 3120 |")).expect("fused forward row");
    assert!(fused.contains("| 0.500x | - | no |"), "{fused}");
    // The comparison's own method and its notes, not a fixed wording.
    assert!(md.contains(&c.method) && !md.contains("bootstrap"), "method text missing");
    assert!(!c.notes.is_empty());
    for n in &c.notes {
        assert!(md.contains(n.as_str()), "note missing: {n}");
    }
}

#[test]
fn tiny_ratios_are_words_and_no_negative_zero() {
    // m2 takes 1/3000 of m1's time: "3,000x faster", never "3.33e-4".
    let spec = |name: &str, speed: f64| SynthSpec {
        metadata: with_label(SynthSpec::default().metadata, "machine", name),
        speed,
        frames: vec![5],
        ..SynthSpec::default()
    };
    let (ds, f) = facts(&[spec("m1", 3000.0), spec("m2", 1.0)]);
    let opts = AnalyzeOptions { compare: Some(CompareOptions { key: "machine".into(), ..CompareOptions::default() }), ..AnalyzeOptions::default() };
    let md = markdown(&analyze_facts(&ds, &f, &opts).unwrap());
    let row = comparison_row(&md, "block/ffn/up");
    assert_eq!(row[5], "3,000x faster", "{row:?}");
    assert_eq!(row[6], "3,000-3,000x faster", "{row:?}");
    assert!(!md.contains("e-4") && !md.contains("e-3"), "a ratio in exponent notation");
    let fused = md.lines().find(|l| l.starts_with("| m2 | 5 | 3120 |")).expect("fused forward row");
    assert!(fused.contains("| 3,000x faster | 3,000-3,000x faster |"), "{fused}");

    use crate::units::{pct, signed_pct};
    assert_eq!(pct(-0.00001), "0.0%");
    assert_eq!(pct(-0.02), "-2.0%");
    assert_eq!(pct(0.0004), "<0.1%");
    assert_eq!(signed_pct(-0.04), "0.0%");
    assert_eq!(signed_pct(0.04), "0.0%");
    assert_eq!(signed_pct(-1.5), "-1.5%");
    assert_eq!(signed_pct(53.25), "+53.2%");
}

#[test]
fn a_bucket_the_model_lacks_is_not_applicable() {
    // A model without camera (like wan-1.3b): the seed's Camera Injection claim does not apply.
    let mut spec = SynthSpec { frames: vec![5], ..SynthSpec::default() };
    spec.components.retain(|c| !c.name.contains("camera"));
    spec.metadata.model.camera = false;
    let (ds, f) = facts(&[spec]);
    let r = analyze_facts(&ds, &f, &AnalyzeOptions::default()).unwrap();
    let camera = r.seed_claims.buckets.iter().find(|b| b.bucket == "Camera Injection").unwrap();
    assert!(!camera.present);
    assert!(r.seed_claims.buckets.iter().find(|b| b.bucket == "FFN").unwrap().present);
    let md = markdown(&r);
    let line = md.lines().find(|l| l.starts_with("| (e) Camera Injection share")).unwrap();
    assert!(line.ends_with("| not applicable |") && !line.contains("0.0%"), "{line}");
    let ffn = md.lines().find(|l| l.starts_with("| (e) FFN share")).unwrap();
    assert!(!ffn.contains("not applicable"), "{ffn}");
}
