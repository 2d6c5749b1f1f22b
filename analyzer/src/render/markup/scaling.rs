//! Scaling with sequence length: the fused forward per frame count, the fits per component,
//! and predictions at lengths not recorded.

use crate::analysis::scaling::{ComponentFit, PredictionModel, ScaleRow, Scaling, WorkMeasure, GROWTH_MARGIN, MIN_POINTS, MIN_POINTS_QUADRATIC, QUADRATIC_SHARE};
use crate::analysis::verdict::Test;
use crate::analysis::Report;
use crate::units::{flops_rate, ms};

use super::{opt, yes_no, Block, ChartKind, Table};

/// The scaling section: forward per frame count, then the fits (or why there are none).
pub(super) fn blocks(doc: &mut Vec<Block>, report: &Report, sec: Option<usize>, h: u8) {
    doc.push(Block::Heading(h, "Scaling with sequence length".into()));
    let s = &report.scaling;
    doc.push(Block::Table(forward_table(s)));
    doc.push(Block::Paragraph(
        "Fused FLOP/s: the analytic FLOPs of the work the forward does (the sum of the component costs recorded in a \
         component-synced run of the same variant, else the forward's recorded cost) over the median fused time; \
         % of matmul ceiling: that rate against the trace's calibrated matmul rate."
            .into(),
    ));
    if !s.fits.is_empty() {
        doc.push(Block::Table(fits_table(report, s)));
    }
    if let Some(note) = &s.note {
        doc.push(Block::Paragraph(note.clone()));
    } else {
        let lengths = s.fits.iter().map(|f| f.points.len()).max().unwrap_or(0);
        doc.push(Block::Paragraph(format!(
            "Fits per component over the distinct token counts, every interval from the run-level data (docs/statistics.md). Exponent of L: the log-log slope of the time over the recorded range. Work: the component's recorded FLOPs and bytes at each L, as its time at the calibrated ceilings; the time is fitted as t = a + b*work, so a component whose work is linear cannot be called quadratic, and the elasticity (log-log slope of time against work; 1 is proportional) says whether its time grows faster than its work. Verdicts are supported, contradicted or inconclusive, decided with all the report's claims together; a growth claim needs {:.0}% more than linear. {}.",
            GROWTH_MARGIN * 100.0,
            if lengths >= MIN_POINTS_QUADRATIC {
                format!("{lengths} lengths: t = a + b*L + c*L^2 is fitted too, and its quadratic term tested")
            } else {
                format!("{lengths} lengths cannot separate a quadratic in L from a line (a quadratic has 3 parameters), so no quadratic is fitted")
            }
        )));
        doc.push(Block::Chart(ChartKind::Scaling, sec));
    }
}

fn forward_table(s: &Scaling) -> Table {
    let mut t = Table::new(&["Frames", "Tokens", "Forward fused (ms)", "Forward synced (ms)", "Fused FLOP/s", "% of matmul ceiling"]);
    for row in &s.rows {
        t.rows.push(vec![
            row.frames.to_string(),
            row.tokens.to_string(),
            match (row.forward_ms, row.forward_ci95) {
                (Some(m), Some([lo, hi])) => format!("{} ({} to {})", ms(m), ms(lo), ms(hi)),
                (m, _) => opt(m, ms),
            },
            opt(row.synced_forward_ms, ms),
            row.fused_tflops.map_or("-".into(), |v| flops_rate(v * 1e12)),
            row.fused_matmul_share.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v)),
        ]);
    }
    t
}

/// One row per fit, the fused forward first, then the components in the ranking's order.
fn fits_table(report: &Report, s: &Scaling) -> Table {
    let with_cells: Vec<&ScaleRow> = s.rows.iter().filter(|r| !r.cells.is_empty()).collect();
    let mut headers: Vec<String> = vec!["Component (ms/block; overhead ms/forward)".into()];
    headers.extend(with_cells.iter().map(|r| format!("L={}", r.tokens)));
    headers.extend([
        "exponent of L (95%)".to_string(),
        "work grows as".into(),
        "time vs work (elasticity, 95%)".into(),
        format!("faster than L^{}", 1.0 + GROWTH_MARGIN),
        "faster than its work".into(),
    ]);
    let quadratic = s.fits.iter().any(|f| f.poly.is_some());
    if quadratic {
        headers.extend([format!("quadratic term >= {:.0}% at max L", QUADRATIC_SHARE * 100.0), "quadratic > linear at L (95%)".into()]);
    }
    let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut t = Table::new(&refs);
    let order = |name: &str| report.ranking.as_ref().and_then(|r| r.rows.iter().position(|x| x.name == name)).unwrap_or(usize::MAX);
    let mut fits: Vec<_> = s.fits.iter().collect();
    fits.sort_by_key(|f| (f.name != "forward", order(&f.name)));
    t.rows = fits.into_iter().map(|f| fit_cells(f, &with_cells, quadratic)).collect();
    t
}

fn fit_cells(f: &ComponentFit, with_cells: &[&ScaleRow], quadratic: bool) -> Vec<String> {
    let verdict = |t: &Test| t.verdict.as_str().to_string();
    let mut cells = vec![if f.name == "forward" { "forward (fused, ms/forward)".to_string() } else { f.name.clone() }];
    for r in with_cells {
        let v = if f.name == "forward" {
            r.forward_ms.map(ms)
        } else {
            r.cells.iter().find(|c| c.name == f.name).map(|c| if c.below_noise { "< noise".to_string() } else { ms(c.ms) })
        };
        cells.push(v.unwrap_or_else(|| "-".into()));
    }
    let fitted = f.points.len() >= MIN_POINTS;
    cells.push(match f.power {
        Some(p) => match p.exponent_ci95 {
            Some([lo, hi]) => format!("{:.2} ({lo:.2} to {hi:.2})", p.exponent),
            None => format!("{:.2} (no interval)", p.exponent),
        },
        // No fit: the paragraph below the table says why (too few lengths).
        None if !fitted => "-".into(),
        None => "< noise".into(),
    });
    cells.push(f.work.map_or(if fitted { "no costs" } else { "-" }.into(), |w| {
        let measure = match w.measure {
            WorkMeasure::Roofline => "time at ceilings",
            WorkMeasure::Flops => "FLOPs",
            WorkMeasure::Bytes => "bytes",
        };
        format!("L^{:.2} ({measure})", w.work_exponent)
    }));
    cells.push(f.work.map_or("-".into(), |w| match (w.elasticity, w.elasticity_ci95) {
        (Some(e), Some([lo, hi])) => format!("{e:.2} ({lo:.2} to {hi:.2})"),
        (Some(e), None) => format!("{e:.2} (no interval)"),
        _ => "< noise".into(),
    }));
    cells.push(verdict(&f.superlinear));
    cells.push(f.faster_than_work.as_ref().map_or("-".into(), verdict));
    if quadratic {
        cells.push(if f.poly.is_some() { verdict(&f.quadratic) } else { "-".into() });
        cells.push(match (f.crossover_tokens, f.crossover_ci95) {
            (Some(x), Some([lo, hi])) => format!("{x:.0} ({lo:.0} to {})", if hi.is_finite() { format!("{hi:.0}") } else { "none".into() }),
            (Some(x), None) => format!("{x:.0}"),
            _ => "-".into(),
        });
    }
    cells
}

/// Predictions at lengths not recorded, when asked for.
pub(super) fn prediction_blocks(doc: &mut Vec<Block>, report: &Report, h: u8) {
    if report.predictions.is_empty() {
        return;
    }
    doc.push(Block::Heading(h, "Predictions at lengths not recorded".into()));
    let mut t = Table::new(&["Component", "Frames", "Tokens", "ms/forward", "95% interval", "model", "extrapolated"]);
    for p in &report.predictions {
        t.rows.push(vec![
            p.component.clone(),
            p.frames.map_or("-".into(), |f| f.to_string()),
            p.tokens.to_string(),
            ms(p.ms_per_forward),
            p.interval_ms.map_or("-".into(), |[lo, hi]| format!("{} to {}", ms(lo), ms(hi))),
            match p.model {
                PredictionModel::Work => "a + b*work".into(),
                PredictionModel::PowerLaw => "k*L^p".into(),
                PredictionModel::ComponentSum => "sum of components".into(),
            },
            yes_no(p.extrapolated),
        ]);
    }
    doc.push(Block::Table(t));
    doc.push(Block::Paragraph("The interval is that of the predicted median time, from the fitted parameters' draws; it does not hold what the model may miss beyond the recorded lengths (docs/statistics.md measures held-out errors).".into()));
}
