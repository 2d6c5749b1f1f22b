//! SVG charts drawn with plotters: ranking bars, distribution stacked bars, scaling log-log
//! with fitted curves, comparison ratios with their intervals. Units on every axis.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::analysis::comparison::FORWARD_ROW;
use crate::analysis::Report;
use crate::error::{Error, Result};

use super::markup::ChartKind;

/// A drawn chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File stem, e.g. `ranking`.
    pub name: &'static str,
    /// Caption.
    pub title: &'static str,
    /// The SVG document.
    pub svg: String,
}

const FONT: &str = "sans-serif";

fn err(chart: &'static str) -> impl Fn(String) -> Error {
    move |reason| Error::Chart { chart, reason }
}

macro_rules! try_draw {
    ($chart:expr, $e:expr) => {
        $e.map_err(|e| err($chart)(e.to_string()))?
    };
}

/// Every chart the report has data for.
pub fn all(report: &Report) -> Result<Vec<Chart>> {
    let mut out = Vec::new();
    for kind in [ChartKind::Ranking, ChartKind::Distribution, ChartKind::Scaling, ChartKind::Comparison] {
        if let Some(c) = chart(kind, report)? {
            out.push(c);
        }
    }
    Ok(out)
}

/// One chart, `None` when the report lacks its data.
pub fn chart(kind: ChartKind, report: &Report) -> Result<Option<Chart>> {
    match kind {
        ChartKind::Ranking => ranking(report),
        ChartKind::Distribution => distribution(report),
        ChartKind::Scaling => scaling(report),
        ChartKind::Comparison => comparison(report),
    }
}

fn label_width(labels: &[String]) -> u32 {
    (labels.iter().map(|l| l.chars().count()).max().unwrap_or(8) as u32 * 7 + 20).clamp(80, 320)
}

fn ranking(report: &Report) -> Result<Option<Chart>> {
    const NAME: &str = "ranking";
    let Some(r) = &report.ranking else { return Ok(None) };
    if r.rows.is_empty() {
        return Ok(None);
    }
    let labels: Vec<String> = r.rows.iter().map(|x| x.name.clone()).collect();
    let values: Vec<f64> = r.rows.iter().map(|x| x.share * 100.0).collect();
    let n = labels.len();
    let height = (80 + 24 * n as u32).max(240);
    let max = values.iter().copied().fold(0.0, f64::max) * 1.15 + 0.5;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        try_draw!(NAME, root.fill(&WHITE));
        let caption = format!("Share of forward time by component ({} frames, {} tokens)", r.frames, r.tokens);
        let mut chart = try_draw!(
            NAME,
            ChartBuilder::on(&root)
                .caption(caption, (FONT, 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(label_width(&labels))
                .build_cartesian_2d(0.0..max, (0..n).into_segmented())
        );
        let names = labels.clone();
        try_draw!(
            NAME,
            chart
                .configure_mesh()
                .disable_y_mesh()
                .x_desc("share of summed component time (%)")
                .y_labels(n)
                .y_label_formatter(&move |v| match v {
                    // Largest at the top.
                    SegmentValue::CenterOf(i) => n.checked_sub(1 + *i).and_then(|k| names.get(k)).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .label_style((FONT, 13))
                .draw()
        );
        try_draw!(
            NAME,
            chart.draw_series(values.iter().enumerate().map(|(i, v)| {
                let y = n - 1 - i;
                let mut bar = Rectangle::new([(0.0, SegmentValue::Exact(y)), (*v, SegmentValue::Exact(y + 1))], Palette99::pick(0).filled());
                bar.set_margin(3, 3, 0, 0);
                bar
            }))
        );
        try_draw!(
            NAME,
            chart.draw_series(values.iter().enumerate().map(|(i, v)| {
                Text::new(format!("{v:.1}%"), (*v + max * 0.01, SegmentValue::CenterOf(n - 1 - i)), (FONT, 12))
            }))
        );
        try_draw!(NAME, root.present());
    }
    Ok(Some(Chart { name: NAME, title: "Share of forward time by component", svg }))
}

fn distribution(report: &Report) -> Result<Option<Chart>> {
    const NAME: &str = "distribution";
    let Some(d) = &report.distribution else { return Ok(None) };
    let tops: Vec<_> = d.root.children.iter().collect();
    if tops.is_empty() {
        return Ok(None);
    }
    let n = tops.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 200 + 22 * d.root.children.iter().map(|c| c.children.len().max(1)).sum::<usize>() as u32 / 2))
            .into_drawing_area();
        try_draw!(NAME, root.fill(&WHITE));
        let (upper, lower) = root.split_vertically(150);
        let labels: Vec<String> = tops.iter().map(|t| format!("{} {:.1}%", t.name, t.share * 100.0)).collect();
        let mut chart = try_draw!(
            NAME,
            ChartBuilder::on(&upper)
                .caption(format!("Time distribution ({} frames, {} tokens)", d.frames, d.tokens), (FONT, 18))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(label_width(&labels))
                .build_cartesian_2d(0.0..100.0, (0..n).into_segmented())
        );
        let names = labels.clone();
        try_draw!(
            NAME,
            chart
                .configure_mesh()
                .disable_y_mesh()
                .x_desc("share of forward (%)")
                .y_labels(n)
                .y_label_formatter(&move |v| match v {
                    SegmentValue::CenterOf(i) => n.checked_sub(1 + *i).and_then(|k| names.get(k)).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .label_style((FONT, 13))
                .draw()
        );
        let mut legend = Vec::new();
        let mut color = 0usize;
        for (i, top) in tops.iter().enumerate() {
            let y = n - 1 - i;
            let mut x = 0.0;
            let parts: Vec<(String, f64)> = if top.children.is_empty() {
                vec![(top.name.clone(), top.share * 100.0)]
            } else {
                top.children.iter().map(|c| (c.name.clone(), c.share * 100.0)).collect()
            };
            for (name, w) in parts {
                let style = Palette99::pick(color).filled();
                let mut bar = Rectangle::new([(x, SegmentValue::Exact(y)), (x + w, SegmentValue::Exact(y + 1))], style);
                bar.set_margin(4, 4, 0, 0);
                try_draw!(NAME, chart.draw_series(std::iter::once(bar)));
                legend.push((format!("{}: {name} {w:.1}%", top.name), color));
                color += 1;
                x += w;
            }
        }
        // Legend below, two columns.
        let rows = legend.len().div_ceil(2);
        for (k, (text, c)) in legend.iter().enumerate() {
            let col = (k / rows.max(1)) as i32;
            let row = (k % rows.max(1)) as i32;
            let (x, y) = (20 + col * 440, 8 + row * 22);
            try_draw!(NAME, lower.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], Palette99::pick(*c).filled())));
            try_draw!(NAME, lower.draw(&Text::new(text.clone(), (x + 20, y), (FONT, 13))));
        }
        try_draw!(NAME, root.present());
    }
    Ok(Some(Chart { name: NAME, title: "Time distribution: blocks and overhead", svg }))
}

fn scaling(report: &Report) -> Result<Option<Chart>> {
    const NAME: &str = "scaling";
    let s = &report.scaling;
    // The fused forward and the largest components at the largest L.
    let order = |name: &str| report.ranking.as_ref().and_then(|r| r.rows.iter().position(|x| x.name == name)).unwrap_or(usize::MAX);
    let mut fits: Vec<_> = s.fits.iter().filter(|f| f.points.iter().filter(|p| p.0 > 0.0 && p.1 > 0.0).count() >= 2).collect();
    fits.sort_by_key(|f| (f.name != "forward", order(&f.name)));
    fits.truncate(7);
    if fits.is_empty() {
        return Ok(None);
    }
    let xs: Vec<f64> = fits.iter().flat_map(|f| f.points.iter().map(|p| p.0)).filter(|v| *v > 0.0).collect();
    let ys: Vec<f64> = fits.iter().flat_map(|f| f.points.iter().map(|p| p.1)).filter(|v| *v > 0.0).collect();
    let (xmin, xmax) = (xs.iter().copied().fold(f64::MAX, f64::min) / 1.3, xs.iter().copied().fold(0.0, f64::max) * 1.3);
    let (ymin, ymax) = (ys.iter().copied().fold(f64::MAX, f64::min) / 2.0, ys.iter().copied().fold(0.0, f64::max) * 2.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        try_draw!(NAME, root.fill(&WHITE));
        let mut chart = try_draw!(
            NAME,
            ChartBuilder::on(&root)
                .caption("Time against sequence length (log-log), with fits a + bL + cL^2", (FONT, 18))
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .build_cartesian_2d((xmin..xmax).log_scale(), (ymin..ymax).log_scale())
        );
        try_draw!(
            NAME,
            chart
                .configure_mesh()
                .x_desc("tokens L")
                .y_desc("ms (per block; forward and overhead per forward)")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| format!("{v:.3}"))
                .label_style((FONT, 12))
                .draw()
        );
        for (i, f) in fits.iter().enumerate() {
            let color = Palette99::pick(i);
            let pts: Vec<(f64, f64)> = f.points.iter().copied().filter(|p| p.0 > 0.0 && p.1 > 0.0).collect();
            let label = match (f.power, f.poly) {
                (Some(p), _) => format!("{} (p={:.2})", f.name, p.exponent),
                _ => f.name.clone(),
            };
            let anno = try_draw!(NAME, chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled()))));
            let legend_color = color.to_rgba();
            anno.label(label).legend(move |(x, y)| Circle::new((x + 10, y), 4, legend_color.filled()));
            if let Some(poly) = f.poly {
                let (lo, hi) = (pts[0].0, pts[pts.len() - 1].0);
                let curve: Vec<(f64, f64)> = (0..=60)
                    .map(|k| lo * (hi / lo).powf(k as f64 / 60.0))
                    .map(|l| (l, poly.at(l)))
                    .filter(|p| p.1 > 0.0)
                    .collect();
                try_draw!(NAME, chart.draw_series(LineSeries::new(curve, color.stroke_width(2))));
            }
        }
        try_draw!(
            NAME,
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font((FONT, 12))
                .draw()
        );
        try_draw!(NAME, root.present());
    }
    Ok(Some(Chart { name: NAME, title: "Scaling with sequence length", svg }))
}

fn comparison(report: &Report) -> Result<Option<Chart>> {
    const NAME: &str = "comparison";
    let Some(c) = &report.comparison else { return Ok(None) };
    let mut rows: Vec<_> = c.rows.iter().collect();
    rows.sort_by(|a, b| (a.component != FORWARD_ROW).cmp(&(b.component != FORWARD_ROW)).then(b.baseline_ms.total_cmp(&a.baseline_ms)));
    rows.truncate(16);
    if rows.is_empty() {
        return Ok(None);
    }
    let multi = c.groups.len() > 2;
    let labels: Vec<String> =
        rows.iter().map(|r| if multi { format!("{} [{}]", r.component, r.group) } else { r.component.clone() }).collect();
    let n = rows.len();
    let max = rows.iter().map(|r| r.high.max(r.ratio)).fold(1.0, f64::max) * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, (90 + 26 * n as u32).max(240))).into_drawing_area();
        try_draw!(NAME, root.fill(&WHITE));
        let mut chart = try_draw!(
            NAME,
            ChartBuilder::on(&root)
                .caption(format!("Time ratio against {} = {} ({} frames)", c.key, c.baseline, c.frames), (FONT, 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(label_width(&labels))
                .build_cartesian_2d(0.0..max, (0..n).into_segmented())
        );
        let names = labels.clone();
        try_draw!(
            NAME,
            chart
                .configure_mesh()
                .disable_y_mesh()
                .x_desc(format!("ratio of median times (x), {:.0}% bootstrap interval", c.level * 100.0))
                .y_labels(n)
                .y_label_formatter(&move |v| match v {
                    SegmentValue::CenterOf(i) => n.checked_sub(1 + *i).and_then(|k| names.get(k)).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .label_style((FONT, 13))
                .draw()
        );
        for (i, r) in rows.iter().enumerate() {
            let y = n - 1 - i;
            let color = if r.significant { Palette99::pick(1) } else { Palette99::pick(5) };
            let mut bar = Rectangle::new([(0.0, SegmentValue::Exact(y)), (r.ratio, SegmentValue::Exact(y + 1))], color.mix(0.7).filled());
            bar.set_margin(5, 5, 0, 0);
            try_draw!(NAME, chart.draw_series(std::iter::once(bar)));
            try_draw!(
                NAME,
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(r.low, SegmentValue::CenterOf(y)), (r.high, SegmentValue::CenterOf(y))],
                    BLACK.stroke_width(2)
                )))
            );
            try_draw!(
                NAME,
                chart.draw_series(std::iter::once(Text::new(
                    format!("{:.2}x", r.ratio),
                    (r.high.max(r.ratio) + max * 0.01, SegmentValue::CenterOf(y)),
                    (FONT, 12)
                )))
            );
        }
        try_draw!(
            NAME,
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
                RED.stroke_width(1)
            )))
        );
        try_draw!(NAME, root.present());
    }
    Ok(Some(Chart { name: NAME, title: "Comparison: ratios with bootstrap intervals", svg }))
}
