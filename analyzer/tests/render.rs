//! Rendering: SVG charts and the HTML report are well-formed XML and carry the expected labels;
//! Markdown has the seed report's sections; JSON reads back through serde.

mod common;

use common::facts;
use mlx_analyze::analysis::comparison::CompareOptions;
use mlx_analyze::analysis::{analyze_facts, AnalyzeOptions, Report};
use mlx_analyze::render::{svg, RenderFormat};
use mlx_analyze::synth::{with_label, SynthSpec};
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
    let names: Vec<&str> = charts.iter().map(|c| c.name).collect();
    assert_eq!(names, ["ranking", "distribution", "scaling", "comparison"]);
    for c in &charts {
        let doc = roxmltree::Document::parse(&c.svg).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let t = texts(&doc);
        match c.name {
            "ranking" => {
                assert!(t.contains("share of summed component time (%)"));
                assert!(t.contains("block/ffn/up"));
                let top = &r.ranking.as_ref().unwrap().rows[0];
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
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("svg")).count(), 4, "four inline charts");
    assert!(doc.descendants().filter(|n| n.has_tag_name("table")).count() >= 5);
    assert!(!html.contains("src=\"http"), "no external resources");
    let t = texts(&doc);
    assert!(t.contains("Bottleneck ranking") && t.contains("Recommendations") && t.contains("Comparison by machine"));
}

#[test]
fn markdown_has_the_seed_sections_and_json_reads_back() {
    let r = report();
    let md = String::from_utf8(RenderFormat::Markdown.renderer().render(&r).unwrap()).unwrap();
    let order = ["## Summary", "## Bottleneck ranking", "## Scaling with sequence length", "## Time distribution", "## Recommendations", "## How it was run"];
    let pos: Vec<usize> = order.iter().map(|h| md.find(h).unwrap_or_else(|| panic!("{h} missing"))).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]));
    assert!(md.contains("Blocks: ") && md.contains("├── ") && md.contains("└── "));
    assert!(md.contains("| block/ffn/up |"));

    let json = RenderFormat::Json.renderer().render(&r).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let rows = v["ranking"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), r.ranking.as_ref().unwrap().rows.len());
    assert_eq!(rows[0]["name"], r.ranking.as_ref().unwrap().rows[0].name.as_str());
    assert_eq!(v["comparison"]["baseline"], "m1");
    let table = String::from_utf8(RenderFormat::Table.renderer().render(&r).unwrap()).unwrap();
    // Aligned: every line of the ranking table has the same width up to trailing spaces.
    assert!(table.contains("% of time") && table.contains("ms/block"));
}
