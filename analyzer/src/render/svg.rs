//! SVG charts drawn with plotters: ranking bars, distribution stacked bars, scaling log-log
//! with fitted curves, comparison ratios with their intervals. Units on every axis.

use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::ranged1d::{SegmentValue, SegmentedCoord};
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analysis::comparison::{CompareRow, FORWARD_ROW};
use crate::analysis::scaling::ComponentFit;
use crate::analysis::Report;
use crate::error::{Error, Result};

use super::markup::ChartKind;
// The ratio words moved to `units` (the tables write them too); re-exported for existing paths.
pub(crate) use crate::units::{factor_text, ratio_words};

/// A drawn chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File stem, e.g. `ranking`, or `workload2-ranking` in a report of several workloads.
    pub name: String,
    /// Caption.
    pub(crate) title: &'static str,
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
    // Several workloads: each section's charts, named after its workload number.
    for s in &report.sections {
        let n = s.workload.as_ref().map_or(0, |w| w.index);
        for mut c in all(s)? {
            c.name = format!("workload{n}-{}", c.name);
            out.push(c);
        }
    }
    for kind in [ChartKind::Ranking, ChartKind::Distribution, ChartKind::Scaling, ChartKind::Comparison] {
        if let Some(c) = chart(kind, report)? {
            out.push(c);
        }
    }
    Ok(out)
}

/// One chart, `None` when the report lacks its data.
pub(crate) fn chart(kind: ChartKind, report: &Report) -> Result<Option<Chart>> {
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
    // A cost below the noise has no share to draw: no bar, the words "< noise".
    let values: Vec<f64> = r.rows.iter().map(|x| if x.below_noise { 0.0 } else { x.share.max(0.0) * 100.0 }).collect();
    let whiskers: Vec<Option<[f64; 2]>> = r.rows.iter().map(|x| x.share_ci95.filter(|_| !x.below_noise).map(|[lo, hi]| [lo.max(0.0) * 100.0, hi * 100.0])).collect();
    let n = labels.len();
    let height = (80 + 24 * n as u32).max(240);
    let max = values.iter().chain(whiskers.iter().flatten().map(|w| &w[1])).copied().fold(0.0, f64::max) * 1.15 + 0.5;
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
                .x_desc("share of summed component time (%), whiskers: 95% interval")
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
        // Whiskers: the share's 95% interval.
        try_draw!(
            NAME,
            chart.draw_series(whiskers.iter().enumerate().filter_map(|(i, w)| {
                let [lo, hi] = (*w)?;
                Some(PathElement::new(vec![(lo, SegmentValue::CenterOf(n - 1 - i)), (hi, SegmentValue::CenterOf(n - 1 - i))], BLACK.stroke_width(2)))
            }))
        );
        try_draw!(
            NAME,
            chart.draw_series(values.iter().enumerate().map(|(i, v)| {
                let text = if r.rows[i].below_noise {
                    "< noise".to_string()
                } else if *v > 0.0 && *v < 0.05 {
                    "<0.1%".to_string()
                } else {
                    crate::units::no_negative_zero(format!("{v:.1}%"))
                };
                let x = whiskers[i].map_or(*v, |w| w[1].max(*v));
                Text::new(text, (x + max * 0.01, SegmentValue::CenterOf(n - 1 - i)), (FONT, 12))
            }))
        );
        try_draw!(NAME, root.present());
    }
    Ok(Some(Chart { name: NAME.to_string(), title: "Share of forward time by component", svg }))
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
        let labels: Vec<String> = tops.iter().map(|t| format!("{} {}", t.name, crate::units::pct(t.share))).collect();
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
                legend.push((format!("{}: {name} {}", top.name, crate::units::no_negative_zero(format!("{w:.1}%"))), color));
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
    Ok(Some(Chart { name: NAME.to_string(), title: "Time distribution: blocks and overhead", svg }))
}

/// Marker shapes, so that series of similar size stay apart without colour.
fn marker<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::combinators::WithKeyPoints<plotters::coord::combinators::LogCoord<f64>>, plotters::coord::combinators::LogCoord<f64>>>,
    shape: usize,
    points: &[(f64, f64)],
    color: RGBAColor,
) -> std::result::Result<(), String> {
    let style = color.filled();
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    match shape % 4 {
        0 => chart.draw_series(points.iter().map(|p| Circle::new(*p, 5, style))).map(|_| ()).map_err(e),
        1 => chart.draw_series(points.iter().map(|p| TriangleMarker::new(*p, 6, style))).map(|_| ()).map_err(e),
        2 => chart.draw_series(points.iter().map(|p| EmptyElement::at(*p) + Rectangle::new([(-4, -4), (4, 4)], style))).map(|_| ()).map_err(e),
        _ => chart.draw_series(points.iter().map(|p| Cross::new(*p, 5, color.stroke_width(2)))).map(|_| ()).map_err(e),
    }
}

/// The scaling chart's plot area: log tokens with ticks at the measured lengths, log ms.
type ScalingChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<WithKeyPoints<LogCoord<f64>>, LogCoord<f64>>>;

/// The comparison chart's plot area: ratios (or their logs) across, one segment per row.
type RatioChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, SegmentedCoord<RangedCoordusize>>>;

fn scaling(report: &Report) -> Result<Option<Chart>> {
    const NAME: &str = "scaling";
    let s = &report.scaling;
    // The fused forward and the largest components at the largest L.
    let order = |name: &str| report.ranking.as_ref().and_then(|r| r.rows.iter().position(|x| x.name == name)).unwrap_or(usize::MAX);
    let mut fits: Vec<_> = s.fits.iter().filter(|f| f.points.iter().filter(|p| p.0 > 0.0 && p.1 > 0.0).count() >= 2).collect();
    fits.sort_by_key(|f| (f.name != "forward", order(&f.name)));
    // Two panels, each in one unit: the forward and overhead components per forward, block
    // components per block.
    let per_forward: Vec<_> = fits.iter().copied().filter(|f| f.name == "forward" || f.area != crate::analysis::facts::Area::Blocks).take(4).collect();
    let per_block: Vec<_> = fits.iter().copied().filter(|f| f.name != "forward" && f.area == crate::analysis::facts::Area::Blocks).take(6).collect();
    if per_forward.is_empty() && per_block.is_empty() {
        return Ok(None);
    }
    // Ticks at the measured token counts.
    let mut ls: Vec<f64> = fits.iter().flat_map(|f| f.points.iter().map(|p| p.0)).filter(|v| *v > 0.0).collect();
    ls.sort_by(f64::total_cmp);
    ls.dedup();
    let panels: Vec<(&str, Vec<_>)> = [("ms (per forward): fused forward and components outside the blocks", per_forward), ("ms (per block): components inside each block", per_block)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let panel_h = 330u32;
    let height = 40 + panel_h * panels.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, height)).into_drawing_area();
        try_draw!(NAME, root.fill(&WHITE));
        let (title, body) = root.split_vertically(36);
        try_draw!(
            NAME,
            title.draw(&Text::new("Time against sequence length L (log-log); lines: fits a + b*work (else k*L^p), whiskers: 95% intervals, p: exponent of L", (20, 10), (FONT, 17)))
        );
        let mut color_index = 0usize;
        for (k, (unit, series)) in panels.iter().enumerate() {
            let area = body.split_evenly((panels.len(), 1))[k].clone();
            scaling_panel(&area, unit, series, &ls, &mut color_index)?;
        }
        try_draw!(NAME, root.present());
    }
    Ok(Some(Chart { name: NAME.to_string(), title: "Scaling with sequence length", svg }))
}

/// One panel of the scaling chart: its axes in `unit`, then each series with its legend
/// entry beside the plot; colours continue from `color_index`.
fn scaling_panel(area: &DrawingArea<SVGBackend<'_>, Shift>, unit: &str, series: &[&ComponentFit], ls: &[f64], color_index: &mut usize) -> Result<()> {
    const NAME: &str = "scaling";
    let (xmin, xmax) = (ls[0] / 1.25, ls[ls.len() - 1] * 1.25);
    let (plot, legend) = area.split_horizontally(700);
    let ys: Vec<f64> = series.iter().flat_map(|f| f.points.iter().map(|p| p.1)).filter(|v| *v > 0.0).collect();
    let (ymin, ymax) = (ys.iter().copied().fold(f64::MAX, f64::min) / 1.6, ys.iter().copied().fold(0.0, f64::max) * 1.6);
    let mut chart = try_draw!(
        NAME,
        ChartBuilder::on(&plot)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d((xmin..xmax).log_scale().with_key_points(ls.to_vec()), (ymin..ymax).log_scale())
    );
    try_draw!(
        NAME,
        chart
            .configure_mesh()
            .x_desc("tokens L (ticks: measured)")
            .y_desc(unit)
            .y_labels(6)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| if *v >= 10.0 { format!("{v:.0}") } else if *v >= 1.0 { format!("{v:.1}") } else { format!("{v:.2}") })
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()
    );
    for (i, f) in series.iter().enumerate() {
        let color = Palette99::pick(*color_index).to_rgba();
        *color_index += 1;
        scaling_series(&mut chart, i, f, color, (ymin, ymax))?;
        scaling_legend_entry(&legend, i, f, color)?;
    }
    Ok(())
}

/// One fit on the scaling chart: its points as markers of shape `i`, their 95% whiskers
/// (clipped to the axis `ylim`), and the curve predictions are made from (the work model,
/// else the power law).
fn scaling_series(chart: &mut ScalingChart<'_, '_>, i: usize, f: &ComponentFit, color: RGBAColor, ylim: (f64, f64)) -> Result<()> {
    const NAME: &str = "scaling";
    let (ymin, ymax) = ylim;
    let pts: Vec<(f64, f64)> = f.points.iter().copied().filter(|p| p.0 > 0.0 && p.1 > 0.0).collect();
    try_draw!(NAME, marker(chart, i, &pts, color));
    // Whiskers: each point's 95% interval (the lower end clipped to the axis).
    let bars: Vec<((f64, f64), (f64, f64))> = f
        .points
        .iter()
        .zip(&f.points_ci95)
        .filter_map(|(p, ci)| ci.map(|[lo, hi]| ((p.0, lo.max(ymin)), (p.0, hi.min(ymax)))))
        .filter(|(a, b)| a.0 > 0.0 && b.1 > a.1)
        .collect();
    try_draw!(NAME, chart.draw_series(bars.into_iter().map(|(a, b)| PathElement::new(vec![a, b], color.stroke_width(1)))));
    // The fit predictions are made from (the work model, else the power law).
    if pts.len() >= 2 {
        let (lo, hi) = (pts[0].0, pts[pts.len() - 1].0);
        let curve: Vec<(f64, f64)> = (0..=60)
            .map(|k| lo * (hi / lo).powf(k as f64 / 60.0))
            .filter_map(|l| f.predict(l).map(|p| (l, p.0)))
            .filter(|p| p.1 > 0.0)
            .collect();
        try_draw!(NAME, chart.draw_series(LineSeries::new(curve, color.stroke_width(2))));
    }
    Ok(())
}

/// The legend entry of series `i` beside the plot, never over the data: line, marker, name
/// and exponent of L with its interval.
fn scaling_legend_entry(legend: &DrawingArea<SVGBackend<'_>, Shift>, i: usize, f: &ComponentFit, color: RGBAColor) -> Result<()> {
    const NAME: &str = "scaling";
    let label = match f.power {
        Some(p) => match p.exponent_ci95 {
            Some([a, b]) => format!("{} (p = {:.2}, {a:.2} to {b:.2})", f.name, p.exponent),
            None => format!("{} (p = {:.2}, no interval)", f.name, p.exponent),
        },
        None => f.name.clone(),
    };
    let y = 24 + 24 * i as i32;
    try_draw!(NAME, legend.draw(&PathElement::new(vec![(4, y + 6), (30, y + 6)], color.stroke_width(2))));
    let swatch: DynElement<'_, _, (i32, i32)> = match i % 4 {
        0 => Circle::new((17, y + 6), 5, color.filled()).into_dyn(),
        1 => TriangleMarker::new((17, y + 6), 6, color.filled()).into_dyn(),
        2 => Rectangle::new([(13, y + 2), (21, y + 10)], color.filled()).into_dyn(),
        _ => Cross::new((17, y + 6), 5, color.stroke_width(2)).into_dyn(),
    };
    try_draw!(NAME, legend.draw(&swatch));
    try_draw!(NAME, legend.draw(&Text::new(label, (38, y), (FONT, 12))));
    Ok(())
}

/// Bar colour of a significant change.
const SIGNIFICANT: RGBColor = RGBColor(214, 96, 77);
/// Bar colour of a change that is not significant.
const UNCHANGED: RGBColor = RGBColor(150, 150, 150);
/// Bar colour of a row without an interval.
const NO_INTERVAL: RGBColor = RGBColor(196, 196, 220);

/// Where a ratio sits on the comparison's axis: its log10 on a log axis.
fn ratio_x(log: bool, v: f64) -> f64 {
    if log {
        v.log10()
    } else {
        v
    }
}

fn comparison(report: &Report) -> Result<Option<Chart>> {
    const NAME: &str = "comparison";
    let Some(c) = &report.comparison else { return Ok(None) };
    let mut rows: Vec<_> = c.rows.iter().filter(|r| r.ratio.is_finite() && r.ratio > 0.0).collect();
    rows.sort_by(|a, b| (a.component != FORWARD_ROW).cmp(&(b.component != FORWARD_ROW)).then(b.baseline_ms.total_cmp(&a.baseline_ms)));
    rows.truncate(16);
    if rows.is_empty() {
        return Ok(None);
    }
    let multi = c.groups.len() > 2;
    let labels: Vec<String> =
        rows.iter().map(|r| if multi { format!("{} [{}]", r.component, r.group) } else { r.component.clone() }).collect();
    let n = rows.len();
    // The values drawn: ratios and the ends of the intervals there are.
    let values: Vec<f64> = rows.iter().flat_map(|r| [r.ratio, r.low, r.high]).filter(|v| v.is_finite() && *v > 0.0).chain([1.0]).collect();
    let (vmin, vmax) = (values.iter().copied().fold(f64::INFINITY, f64::min), values.iter().copied().fold(0.0, f64::max));
    // Ratios spanning more than 10x (a CPU against a GPU): a log axis, bars from 1.
    let log = vmax / vmin > 10.0;
    let f = move |v: f64| ratio_x(log, v);
    let (lo, hi) = if log { (f(vmin) - 0.3, f(vmax) + 0.3) } else { (0.0, vmax * 1.12) };
    // Room on the right of each bar for its words.
    let hi = hi + (hi - lo) * 0.22;
    let mut frames: Vec<u32> = rows.iter().map(|r| r.frames).collect();
    frames.sort_unstable();
    frames.dedup();
    let at = match frames.as_slice() {
        [one] => format!("{one} frames"),
        _ => "each group at its largest frame count shared with the baseline".to_string(),
    };
    let height = (130 + 26 * n as u32).max(260);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        try_draw!(NAME, root.fill(&WHITE));
        let (plot, legend_area) = root.split_vertically(height - 34);
        let mut chart = try_draw!(
            NAME,
            ChartBuilder::on(&plot)
                .caption(format!("Time against {} = {} ({at})", c.key, c.baseline), (FONT, 18))
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(label_width(&labels))
                .build_cartesian_2d(lo..hi, (0..n).into_segmented())
        );
        ratio_mesh(&mut chart, &labels, log, (lo, hi), c.level)?;
        let base = if log { 0.0 } else { 0.0_f64.max(lo) };
        for (i, r) in rows.iter().enumerate() {
            ratio_bar(&mut chart, n - 1 - i, r, log, base, (hi - lo) * 0.01)?;
        }
        try_draw!(
            NAME,
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(f(1.0), SegmentValue::Exact(0)), (f(1.0), SegmentValue::Exact(n))],
                BLACK.stroke_width(1)
            )))
        );
        ratio_legend(&legend_area, c.noise)?;
        try_draw!(NAME, root.present());
    }
    Ok(Some(Chart { name: NAME.to_string(), title: "Comparison: ratios of times with their intervals", svg }))
}

/// The comparison's axes: ratios across (ticks at whole decades on a log axis), the row
/// labels down, largest first.
fn ratio_mesh(chart: &mut RatioChart<'_, '_>, labels: &[String], log: bool, (lo, hi): (f64, f64), level: f64) -> Result<()> {
    const NAME: &str = "comparison";
    let n = labels.len();
    let names = labels.to_vec();
    let decades = (hi - lo).ceil() as usize + 1;
    let desc = if log {
        format!("group time / baseline time, log scale; whiskers: {:.0}% Welch t interval", level * 100.0)
    } else {
        format!("ratio of median times (x, group / baseline); whiskers: {:.0}% Welch t interval", level * 100.0)
    };
    try_draw!(
        NAME,
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(desc)
            .x_labels(if log { decades.min(12) } else { 8 })
            .x_label_formatter(&move |v| {
                if log {
                    // Ticks at whole decades only: 1x, 10x slower, 1,000x faster.
                    let decade = v.round();
                    if (decade - v).abs() > 1e-6 {
                        String::new()
                    } else if decade == 0.0 {
                        "1x".into()
                    } else {
                        let factor = factor_text(10f64.powi(decade.abs() as i32)).replace(".00", "").replace(".0", "");
                        format!("{factor}x {}", if decade < 0.0 { "faster" } else { "slower" })
                    }
                } else {
                    format!("{v:.2}")
                }
            })
            .y_labels(n)
            .y_label_formatter(&move |v| match v {
                SegmentValue::CenterOf(i) => n.checked_sub(1 + *i).and_then(|k| names.get(k)).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .label_style((FONT, 12))
            .draw()
    );
    Ok(())
}

/// Row `r` at segment `y`: its bar from `base` coloured by its verdict, its whisker with end
/// caps, and its ratio in words `gap` to the right of both.
fn ratio_bar(chart: &mut RatioChart<'_, '_>, y: usize, r: &CompareRow, log: bool, base: f64, gap: f64) -> Result<()> {
    const NAME: &str = "comparison";
    let f = |v: f64| ratio_x(log, v);
    let color = if !r.has_interval() { NO_INTERVAL } else if r.significant { SIGNIFICANT } else { UNCHANGED };
    let mut bar = Rectangle::new([(base, SegmentValue::Exact(y)), (f(r.ratio), SegmentValue::Exact(y + 1))], color.filled());
    bar.set_margin(6, 6, 0, 0);
    try_draw!(NAME, chart.draw_series(std::iter::once(bar)));
    let mut right = f(r.ratio).max(base);
    if r.has_interval() {
        // Whisker with end caps, drawn over the bar, and never thinner than a few pixels.
        let (a, b) = (f(r.low), f(r.high));
        right = right.max(b);
        try_draw!(
            NAME,
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(a, SegmentValue::CenterOf(y)), (b, SegmentValue::CenterOf(y))],
                BLACK.stroke_width(2)
            )))
        );
        for end in [a, b] {
            try_draw!(
                NAME,
                chart.draw_series(std::iter::once(EmptyElement::at((end, SegmentValue::CenterOf(y))) + PathElement::new(vec![(0, -7), (0, 7)], BLACK.stroke_width(2))))
            );
        }
    }
    let words = if r.has_interval() { ratio_words(r.ratio) } else { format!("{} (no interval)", ratio_words(r.ratio)) };
    try_draw!(
        NAME,
        chart.draw_series(std::iter::once(Text::new(words, (right + gap, SegmentValue::CenterOf(y)), (FONT, 12))))
    );
    Ok(())
}

/// Legend of the bar colours, below the plot.
fn ratio_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, noise: f64) -> Result<()> {
    const NAME: &str = "comparison";
    let entries = [
        (SIGNIFICANT, format!("significant (interval excludes 1, change > {:.0}%)", noise * 100.0)),
        (UNCHANGED, "not significant".to_string()),
        (NO_INTERVAL, "no interval (fewer than 3 samples a side)".to_string()),
    ];
    let mut x = 20;
    for (color, text) in entries {
        try_draw!(NAME, area.draw(&Rectangle::new([(x, 8), (x + 14, 22)], color.filled())));
        try_draw!(NAME, area.draw(&Text::new(text.clone(), (x + 20, 9), (FONT, 12))));
        x += 40 + 7 * text.chars().count() as i32;
    }
    Ok(())
}
