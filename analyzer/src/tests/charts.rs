//! Charts over the committed traces read as a person needs: ratios spanning more than 10x on a
//! log axis in words ("2,800x faster", never "0.00x"), every bar's interval drawn or marked
//! missing with a legend of the colours, and the scaling chart's legend beside (not over) the
//! data, its ticks at the measured token counts, one unit per axis.

use std::path::PathBuf;

use crate::analysis::comparison::CompareOptions;
use crate::analysis::{analyze, AnalyzeOptions, Report};
use crate::load::{load_files, LoadOptions};
use crate::render::svg::{self, factor_text, ratio_words};

fn report(files: &[&str], by: Option<&str>) -> Report {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../traces");
    let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
    let ds = load_files(&paths, &LoadOptions::default()).unwrap();
    let options = AnalyzeOptions {
        compare: by.map(|key| CompareOptions { key: key.into(), ..CompareOptions::default() }),
        ..AnalyzeOptions::default()
    };
    analyze(&ds, &options).unwrap()
}

/// (text, x) of every text element.
fn texts(svg: &str) -> Vec<(String, f64)> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            let text: String = n.descendants().filter(|d| d.is_text()).map(|d| d.text().unwrap_or("")).collect();
            (text.trim().to_string(), n.attribute("x").and_then(|x| x.parse().ok()).unwrap_or(0.0))
        })
        .collect()
}

#[test]
fn ratios_in_words() {
    assert_eq!(ratio_words(4.71e-5), "21,000x faster");
    assert_eq!(ratio_words(1.0 / 2_830.0), "2,800x faster");
    assert_eq!(ratio_words(0.5), "2.00x faster");
    assert_eq!(ratio_words(1.15), "1.15x slower");
    assert_eq!(ratio_words(12.34), "12.3x slower");
    assert_eq!(ratio_words(1.002), "same");
    assert_eq!(factor_text(1_234_567.0), "1,200,000");
}

#[test]
fn cpu_against_gpu_uses_a_log_axis_and_words() {
    let r = report(&["cpu-lingbot14b-2blocks-f32.msgpack", "h200-lingbot14b-bf16-variants.msgpack"], Some("backend"));
    let c = r.comparison.as_ref().unwrap();
    let (lo, hi) = c.rows.iter().fold((f64::MAX, 0.0f64), |(a, b), row| (a.min(row.ratio), b.max(row.ratio)));
    assert!(hi / lo > 10.0 || lo < 0.1 || hi > 10.0, "the traces do not span 10x: {lo}-{hi}");
    let chart = svg::chart(crate::render::markup::ChartKind::Comparison, &r).unwrap().unwrap();
    let t = texts(&chart.svg);
    let all: Vec<&str> = t.iter().map(|x| x.0.as_str()).collect();
    assert!(all.iter().any(|s| s.contains("log scale")), "{all:?}");
    assert!(!all.iter().any(|s| *s == "0.00x" || s.contains("e-")), "unreadable labels: {all:?}");
    // Every drawn row says its ratio in words, and the words match the ratio.
    let drawn: Vec<_> = c.rows.iter().filter(|r| r.ratio.is_finite() && all.contains(&r.component.as_str())).collect();
    assert!(drawn.len() >= 10, "{all:?}");
    for row in drawn {
        let words = ratio_words(row.ratio);
        assert!(all.iter().any(|s| s.starts_with(&words)), "{} {}: {words} missing", row.component, row.ratio);
    }
    assert!(all.iter().any(|s| s.contains("faster")) && all.contains(&"1x"));
    assert!(all.iter().any(|s| s.starts_with("significant")) && all.contains(&"not significant"));
}

#[test]
fn scaling_chart_has_its_legend_beside_the_data_and_ticks_at_measured_l() {
    let r = report(&["h200-lingbot14b-bf16-variants.msgpack"], None);
    let chart = svg::chart(crate::render::markup::ChartKind::Scaling, &r).unwrap().unwrap();
    let t = texts(&chart.svg);
    // Ticks: each measured token count.
    let mut measured: Vec<u64> = r.scaling.fits.iter().flat_map(|f| f.points.iter().map(|p| p.0 as u64)).collect();
    measured.sort_unstable();
    measured.dedup();
    assert!(measured.len() >= 3);
    for l in &measured {
        assert!(t.iter().any(|(s, _)| s == &l.to_string()), "no tick at L = {l}");
    }
    // Legend entries right of the plots (which end at x = 700).
    let legend: Vec<&(String, f64)> = t.iter().filter(|(s, _)| s.contains("(p = ")).collect();
    assert!(legend.len() >= 5, "{t:?}");
    assert!(legend.iter().all(|(_, x)| *x > 700.0), "{legend:?}");
    // One unit per axis: a panel per forward and one per block.
    assert!(t.iter().any(|(s, _)| s.starts_with("ms (per forward)")) && t.iter().any(|(s, _)| s.starts_with("ms (per block)")));
    assert!(t.iter().filter(|(s, _)| s.contains("forward") && s.contains("block")).all(|(s, _)| !s.starts_with("ms (per block;")));
}

#[test]
fn variant_chart_names_the_compared_frame_count_and_draws_whiskers() {
    let r = report(&["h200-lingbot14b-bf16-variants.msgpack"], Some("variant"));
    let c = r.comparison.as_ref().unwrap();
    let mut frames: Vec<u32> = c.rows.iter().map(|r| r.frames).collect();
    frames.sort_unstable();
    frames.dedup();
    let chart = svg::chart(crate::render::markup::ChartKind::Comparison, &r).unwrap().unwrap();
    let t = texts(&chart.svg);
    let caption = &t.iter().find(|(s, _)| s.starts_with("Time against variant")).unwrap().0;
    if let [one] = frames.as_slice() {
        assert!(caption.ends_with(&format!("({one} frames)")), "{caption}");
    }
    // Whiskers: the line and its two caps per row with an interval.
    let doc = roxmltree::Document::parse(&chart.svg).unwrap();
    let black_lines = doc.descendants().filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some("#000000")).count();
    let with_interval = c.rows.iter().take(16).filter(|r| r.has_interval()).count();
    assert!(with_interval > 0 && black_lines >= 3 * with_interval, "{black_lines} lines for {with_interval} intervals");
}
