//! The report as a format-neutral document (headings, paragraphs, tables, preformatted text,
//! lists, chart slots), and the [`Markup`] trait: a format that can write those blocks gets a
//! [`Render`] implementation for free. Tables, Markdown and HTML share this.

use crate::analysis::comparison::{Comparison, ForwardRow, FORWARD_ROW};
use crate::analysis::seed::{
    AttentionVerdict, BucketVerdict, FfnVerdict, NormShare, NormsVerdict, SeedClaims, TokenClaim, TokensVerdict, SEED_NORMS, SEED_SELF_ATTN_MS,
};
use crate::analysis::facts::{Area, Rollup};
use crate::analysis::overhead::{SumVerdict, SUM_TOLERANCE_PCT};
use crate::analysis::ranking::{Ceiling, Method};
use crate::analysis::tree::TreeNode;
use crate::analysis::Report;
use crate::error::Result;

use super::Render;

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column headers, with units.
    pub headers: Vec<String>,
    /// Alignment per column.
    pub align: Vec<Align>,
    /// Cells.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(headers: &[&str]) -> Self {
        let align = headers.iter().enumerate().map(|(i, _)| if i == 0 { Align::Left } else { Align::Right }).collect();
        Table { headers: headers.iter().map(|h| h.to_string()).collect(), align, rows: Vec::new() }
    }
    fn left(mut self, columns: &[usize]) -> Self {
        for &c in columns {
            self.align[c] = Align::Left;
        }
        self
    }
}

/// Which chart goes where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// Ranking bars.
    Ranking,
    /// Distribution stacked bar.
    Distribution,
    /// Scaling log-log.
    Scaling,
    /// Comparison bars with intervals.
    Comparison,
}

/// A block of the document.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Heading of level 1-3.
    Heading(u8, String),
    /// Paragraph.
    Paragraph(String),
    /// Table.
    Table(Table),
    /// Preformatted text.
    Pre(String),
    /// Numbered list.
    List(Vec<String>),
    /// A chart (only formats that can show it do), of the report or of its section N.
    Chart(ChartKind, Option<usize>),
}

/// A format that writes document blocks.
pub trait Markup {
    /// Start of the document.
    fn begin(&self, _out: &mut String, _title: &str) {}
    /// End of the document.
    fn end(&self, _out: &mut String) {}
    /// A heading.
    fn heading(&self, out: &mut String, level: u8, text: &str);
    /// A paragraph.
    fn paragraph(&self, out: &mut String, text: &str);
    /// A table.
    fn table(&self, out: &mut String, table: &Table);
    /// Preformatted text.
    fn pre(&self, out: &mut String, text: &str);
    /// A numbered list.
    fn list(&self, out: &mut String, items: &[String]);
    /// A chart; formats without pictures skip it.
    fn chart(&self, _out: &mut String, _kind: ChartKind, _report: &Report) -> Result<()> {
        Ok(())
    }
}

impl<T: Markup> Render for T {
    fn render(&self, report: &Report) -> Result<Vec<u8>> {
        let mut out = String::new();
        self.begin(&mut out, &report.title);
        for block in document(report) {
            match &block {
                Block::Heading(l, t) => self.heading(&mut out, *l, t),
                Block::Paragraph(t) => self.paragraph(&mut out, t),
                Block::Table(t) => self.table(&mut out, t),
                Block::Pre(t) => self.pre(&mut out, t),
                Block::List(items) => self.list(&mut out, items),
                Block::Chart(kind, sec) => {
                    let of = sec.and_then(|k| report.sections.get(k)).unwrap_or(report);
                    self.chart(&mut out, *kind, of)?
                }
            }
        }
        self.end(&mut out);
        Ok(out.into_bytes())
    }
}

pub use super::units::{ms, pct};

/// A percentage (already in percent) with its sign, `+1.5%`; `0.0%` where it rounds to zero.
pub fn signed_pct(v: f64) -> String {
    let text = format!("{v:+.1}%");
    if text == "+0.0%" || text == "-0.0%" { "0.0%".into() } else { text }
}

pub use super::units::no_negative_zero;

/// Bytes in GiB.
pub fn gib(v: f64) -> String {
    format!("{:.2}", v / (1u64 << 30) as f64)
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".into(), f)
}

/// The document of a report.
pub fn document(report: &Report) -> Vec<Block> {
    let mut doc = Vec::new();
    let i = &report.inputs;
    doc.push(Block::Heading(1, report.title.clone()));
    doc.push(Block::Heading(2, "Summary".into()));
    let mut summary = format!(
        "{} trace(s) from {} machine(s) ({}), {} runs, {} events.",
        i.files.len(),
        i.machines.len(),
        i.machines.join(", "),
        i.runs,
        i.events
    );
    if let Some(w) = &report.workload {
        summary.push_str(&format!(" Workload: {}.", w.label));
    }
    if report.sections.is_empty() {
        summary.push_str(&findings(report));
    }
    doc.push(Block::Paragraph(summary));
    if !report.findings.is_empty() {
        doc.push(Block::Heading(2, "Findings".into()));
        doc.push(Block::List(report.findings.iter().map(|f| format!("{} (see {})", f.text, f.evidence)).collect()));
    }
    if let Some(line) = &report.separation {
        doc.push(Block::Paragraph(line.clone()));
    }
    if !i.skipped.is_empty() {
        doc.push(Block::List(i.skipped.iter().map(|s| format!("skipped {}: {}", s.file, s.reason)).collect()));
    }
    if !i.warnings.is_empty() {
        let mut w: Vec<String> = i.warnings.iter().take(20).map(|w| format!("warning: {w}")).collect();
        if i.warnings.len() > 20 {
            w.push(format!("... and {} more warnings", i.warnings.len() - 20));
        }
        doc.push(Block::List(w));
    }
    if report.sections.is_empty() {
        if report.comparison_only {
            if let Some(c) = &report.comparison {
                comparison_blocks(&mut doc, c, 2, None);
            }
        } else {
            body(&mut doc, report, None, 2);
        }
    } else {
        if !report.comparison_only {
            for (k, s) in report.sections.iter().enumerate() {
                let si = &s.inputs;
                doc.push(Block::Heading(2, s.workload.as_ref().map_or_else(|| format!("Workload {}", k + 1), |w| w.heading())));
                doc.push(Block::Paragraph(format!(
                    "{} trace(s) ({}), {} runs, {} events.{}",
                    si.files.len(),
                    si.files.join(", "),
                    si.runs,
                    si.events,
                    findings(s)
                )));
                body(&mut doc, s, Some(k), 3);
            }
        }
        if let Some(c) = &report.comparison {
            comparison_blocks(&mut doc, c, 2, None);
        }
    }
    how_blocks(&mut doc, report);
    doc
}

/// The summary's findings of one workload: the ranking's top, the fused forward, the variant shown.
fn findings(report: &Report) -> String {
    let i = &report.inputs;
    let mut summary = String::new();
    if let Some(r) = &report.ranking {
        let top: Vec<String> = r.rows.iter().filter(|x| !x.group).take(3).map(|x| format!("{} {}", x.name, pct(x.share))).collect();
        match (r.method, r.fused_ms) {
            (Method::Attributed, Some(fused)) => summary.push_str(&format!(
                " At {} the attributed component costs of the fused forward sum to {} ms of its {} ms over {} blocks; largest: {}.",
                at_length(report, r.frames, r.tokens),
                ms(r.total_ms),
                ms(fused),
                r.blocks,
                top.join(", ")
            )),
            _ => summary.push_str(&format!(
                " At {} the component-synced forward sums to {} ms over {} blocks; largest: {}.",
                at_length(report, r.frames, r.tokens),
                ms(r.total_ms),
                r.blocks,
                top.join(", ")
            )),
        }
    }
    if let Some(row) = report.scaling.rows.iter().rev().find(|r| r.forward_ms.is_some()) {
        summary.push_str(&format!(" Fused forward at {} tokens: {} ms.", row.tokens, ms(row.forward_ms.unwrap_or(0.0))));
    }
    if let Some(v) = &i.variant {
        if i.variants.len() > 1 {
            let why = if i.variants.iter().any(|x| x == "baseline") || v != "baseline" && i.variants.contains(&"baseline".to_string()) {
                String::new()
            } else {
                " (no `baseline` run; variants are never pooled)".to_string()
            };
            summary.push_str(&format!(
                " Variant shown in the ranking, distribution, scaling, overhead and memory sections: `{v}`{why} (the traces hold {}; `--variant NAME` shows another).",
                i.variants.join(", ")
            ));
        }
    }
    summary
}

/// The analyses of one workload, headings at level `h`; `sec`: its section index in a report of
/// several workloads (for its charts).
fn body(doc: &mut Vec<Block>, report: &Report, sec: Option<usize>, h: u8) {
    let i = &report.inputs;
    for n in &report.notes {
        doc.push(Block::Paragraph(n.clone()));
    }
    if let Some(r) = &report.ranking {
        let attributed = r.method == Method::Attributed;
        let runs = if attributed { format!("{} rounds", r.runs) } else { format!("{} runs", r.runs) };
        doc.push(Block::Heading(h, format!("Bottleneck ranking ({}, {runs}, {})", in_words(report, r.frames, r.tokens), method_words(r.method))));
        let mut t = Table::new(&[
            "Component",
            "% of time",
            "range over L",
            "ms/block",
            "ms/forward",
            "95% interval",
            "synced ms/forward",
            "FLOP/s",
            "bytes/s",
            "% matmul peak",
            "% bandwidth",
            "bound",
            "priority",
        ])
        .left(&[11, 12]);
        for row in &r.rows {
            let above = |c: Ceiling| r.above_ceiling.iter().any(|x| x.name == row.name && x.ceiling == c && x.beyond_noise);
            let mark = |v: f64, c: Ceiling| if above(c) { format!("{}*", pct(v)) } else { pct(v) };
            let fu = row.flops_util.map(|v| mark(v, Ceiling::Matmul)).unwrap_or_else(|| "-".into());
            let cache = if row.cache_resident { "\u{2020}" } else { "" };
            let bu = row.bytes_util.map(|v| format!("{}{cache}", mark(v, Ceiling::Bandwidth))).unwrap_or_else(|| "-".into());
            let noise = row.below_noise;
            let share = match (noise, row.share_ci95) {
                (true, _) => "< noise".to_string(),
                (false, Some([lo, hi])) => format!("{} ({} to {})", pct(row.share), pct(lo.max(0.0)), pct(hi)),
                (false, None) => pct(row.share),
            };
            t.rows.push(vec![
                row.name.clone(),
                share,
                if row.share_max <= 0.0 { "< noise".into() } else { format!("{}-{}", pct(row.share_min), pct(row.share_max)) },
                if noise { "< noise".into() } else { opt(row.ms_per_block, ms) },
                if noise { "< noise".into() } else { ms(row.ms_per_forward) },
                row.ci95_ms.map_or_else(|| "-".into(), |[lo, hi]| format!("{} to {}", ms(lo), ms(hi))),
                opt(row.synced_ms, ms),
                opt(row.tflops, |v| super::units::flops_rate(v * 1e12)),
                opt(row.gbps, |v| super::units::bytes_rate(v * 1e9)),
                fu,
                bu,
                if row.bound_verdict == crate::analysis::verdict::Verdict::Supported { row.bound.as_str().into() } else { format!("{} (inconclusive)", row.bound.as_str()) },
                if row.group { "group".into() } else { row.priority.as_str().into() },
            ]);
        }
        doc.push(Block::Table(t));
        if !r.missing.is_empty() {
            doc.push(Block::Paragraph(format!(
                "Incomplete attribution at {} frames: {} never perturbed here though the same recording perturbs {} at other frame counts (a recording stopped in the middle of a round). The costs and shares above lack {}; record this frame count again.",
                r.frames,
                r.missing.join(", "),
                if r.missing.len() == 1 { "it" } else { "them" },
                if r.missing.len() == 1 { "it" } else { "them" },
            )));
        }
        let (cached, dram): (Vec<_>, Vec<_>) = r.rows.iter().filter(|x| x.bytes_util.is_some()).partition(|x| x.cache_resident);
        if let Some(c) = cached.iter().filter_map(|x| x.bandwidth_ceiling_gbps).reduce(f64::max) {
            let d = dram.iter().filter_map(|x| x.bandwidth_ceiling_gbps).reduce(f64::max);
            doc.push(Block::Paragraph(format!(
                "\u{2020} Of the last-level cache's bandwidth ({}, the best streaming pass over sizes that fit in the cache): the component's bytes per call fit in the cache, where the DRAM ceiling{} does not bound it. The other rates are of the DRAM bandwidth.",
                super::units::bytes_rate(c * 1e9),
                d.map_or_else(String::new, |d| format!(" ({})", super::units::bytes_rate(d * 1e9))),
            )));
        }
        let excess = |x: &crate::analysis::ranking::CeilingExcess| match x.util_ci95 {
            Some([lo, hi]) => format!("{} ({}, {} with interval {} to {})", x.name, x.ceiling.as_str(), pct(x.util), pct(lo), pct(hi)),
            None => format!("{} ({}, {}, no interval)", x.name, x.ceiling.as_str(), pct(x.util)),
        };
        let (beyond, within): (Vec<_>, Vec<_>) = r.above_ceiling.iter().partition(|x| x.beyond_noise);
        if !beyond.is_empty() {
            doc.push(Block::Paragraph(format!(
                "* Above 100% beyond the noise: the achieved rate exceeds the trace's calibrated ceiling over its whole interval ({}). A ceiling cannot be exceeded, so either the calibration measured less than the machine can do, or the time is below what the component's recorded work needs (an attributed cost runs low where a copy finds its inputs in a cache, docs/attribution.md); these percentages and the bound they imply are uncertain.",
                beyond.iter().map(|x| excess(x)).collect::<Vec<_>>().join(", ")
            )));
        }
        if !within.is_empty() {
            doc.push(Block::Paragraph(format!(
                "Above 100% within the noise: {}. The interval reaches below the ceiling, so the data do not show the ceiling exceeded; the bound stays inconclusive.",
                within.iter().map(|x| excess(x)).collect::<Vec<_>>().join(", ")
            )));
        }
        doc.push(Block::Chart(ChartKind::Ranking, sec));
        let builtin = r.rows.iter().all(|x| trace_format::taxonomy::is_builtin(&x.name));
        let nested = r.rows.iter().any(|x| x.group || x.parent.is_some());
        let note = if i.rollup == Rollup::Seed && builtin {
            "Buckets as in the seed report (Norms holds norm1 only; norm2 is inside FFN, norm3 inside Cross-Attention).".to_string()
        } else if builtin {
            "Fine component names; `--rollup seed` groups them into the seed report's buckets.".to_string()
        } else {
            format!(
                "Component names as recorded{}.",
                if i.rollup == Rollup::Seed { " (`--rollup seed` applies to the built-in model only, so it changes nothing here)" } else { "" }
            )
        };
        let note = if nested {
            format!("{note} Components nest (a module and its sub-modules): only the top-level ones add up to the forward, a nested component's cost is part of its parent's, and \"group\" marks a module holding instrumented components (no priority of its own: the time distribution shows its children and its self time, the work it does between them).")
        } else {
            note
        };
        let method_note = match (r.method, r.fused_ms, r.rest_ms) {
            (Method::Attributed, Some(fused), Some(rest)) => format!(
                "Times: each component's cost inside the fused forward (attributed: its work duplicated inside the same evaluation, the difference to the plain fused forward; docs/attribution.md), mean over rounds with its 95% interval; \"< noise\" where the interval reaches zero. The costs sum to {} ms of the {} ms fused forward (unattributed rest {} ms). Shares are of that sum. \"synced\": the same component's median in component-synced runs (an evaluation after every component, the seed profiler's method), for comparison.",
                ms(r.total_ms),
                ms(fused),
                ms(rest)
            ),
            _ => "Times: medians of component-synced runs (an evaluation after every component, the seed profiler's method), which break MLX's fusion and add a synchronisation per component (see the overhead section); the interval is that of the mean over runs. Record with `--sync attributed` for costs inside the fused forward.".to_string(),
        };
        doc.push(Block::Paragraph(format!(
            "{method_note} {note} Bound: arithmetic intensity (FLOP/byte) against the ridge point (calibrated FLOP/s over the component's calibrated memory ceiling). Priority: HIGH when the lower end of the interval of what reaching the bounding ceiling would save is at least 10% of the forward, MEDIUM 3-10%, and only where that claim is supported together with the report's other claims (false claims controlled across the report, docs/statistics.md). \"(inconclusive)\" after a bound: the intensity is within 25% of the ridge, or the component runs above a ceiling. \"< noise\": the cost's interval reaches zero, so no share is stated."
        )));
    } else {
        doc.push(Block::Paragraph("No ranking: the traces hold no component-synced or attributed runs, or their component costs sum to zero or less (an attribution recording too noisy for its length: record more `--runs` or `--copies`).".into()));
    }

    doc.push(Block::Heading(h, "Scaling with sequence length".into()));
    let s = &report.scaling;
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
            row.fused_tflops.map_or("-".into(), |v| super::units::flops_rate(v * 1e12)),
            row.fused_matmul_share.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v)),
        ]);
    }
    doc.push(Block::Table(t));
    doc.push(Block::Paragraph(
        "Fused FLOP/s: the analytic FLOPs of the work the forward does (the sum of the component costs recorded in a \
         component-synced run of the same variant, else the forward's recorded cost) over the median fused time; \
         % of matmul ceiling: that rate against the trace's calibrated matmul rate."
            .into(),
    ));
    if !s.fits.is_empty() {
        let with_cells: Vec<_> = s.rows.iter().filter(|r| !r.cells.is_empty()).collect();
        let mut headers: Vec<String> = vec!["Component (ms/block; overhead ms/forward)".into()];
        headers.extend(with_cells.iter().map(|r| format!("L={}", r.tokens)));
        headers.extend(["exponent of L (95%)", "work grows as", "time vs work (elasticity, 95%)", "faster than L^1.2", "faster than its work"].map(String::from));
        let quadratic = s.fits.iter().any(|f| f.poly.is_some());
        if quadratic {
            headers.extend(["quadratic term >= 10% at max L", "quadratic > linear at L (95%)"].map(String::from));
        }
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut t = Table::new(&refs);
        let order = |name: &str| report.ranking.as_ref().and_then(|r| r.rows.iter().position(|x| x.name == name)).unwrap_or(usize::MAX);
        let mut fits: Vec<_> = s.fits.iter().collect();
        fits.sort_by_key(|f| (f.name != "forward", order(&f.name)));
        let verdict = |t: &crate::analysis::verdict::Test| t.verdict.as_str().to_string();
        for f in fits {
            let mut cells = vec![if f.name == "forward" { "forward (fused, ms/forward)".to_string() } else { f.name.clone() }];
            for r in &with_cells {
                let v = if f.name == "forward" {
                    r.forward_ms.map(|m| ms(m))
                } else {
                    r.cells.iter().find(|c| c.name == f.name).map(|c| if c.below_noise { "< noise".to_string() } else { ms(c.ms) })
                };
                cells.push(v.unwrap_or_else(|| "-".into()));
            }
            cells.push(match f.power {
                Some(p) => match p.exponent_ci95 {
                    Some([lo, hi]) => format!("{:.2} ({lo:.2} to {hi:.2})", p.exponent),
                    None => format!("{:.2} (no interval)", p.exponent),
                },
                // No fit: the paragraph below says why (too few lengths).
                None if f.points.len() < crate::analysis::scaling::MIN_POINTS => "-".into(),
                None => "< noise".into(),
            });
            let fitted = f.points.len() >= crate::analysis::scaling::MIN_POINTS;
            cells.push(f.work.map_or(if fitted { "no costs" } else { "-" }.into(), |w| format!("L^{:.2} ({})", w.work_exponent, match w.measure {
                crate::analysis::scaling::WorkMeasure::Roofline => "time at ceilings",
                crate::analysis::scaling::WorkMeasure::Flops => "FLOPs",
                crate::analysis::scaling::WorkMeasure::Bytes => "bytes",
            })));
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
            t.rows.push(cells);
        }
        doc.push(Block::Table(t));
    }
    if let Some(note) = &s.note {
        doc.push(Block::Paragraph(note.clone()));
    } else {
        let lengths = s.fits.iter().map(|f| f.points.len()).max().unwrap_or(0);
        doc.push(Block::Paragraph(format!(
            "Fits per component over the distinct token counts, every interval from the run-level data (docs/statistics.md). Exponent of L: the log-log slope of the time over the recorded range. Work: the component's recorded FLOPs and bytes at each L, as its time at the calibrated ceilings; the time is fitted as t = a + b*work, so a component whose work is linear cannot be called quadratic, and the elasticity (log-log slope of time against work; 1 is proportional) says whether its time grows faster than its work. Verdicts are supported, contradicted or inconclusive, decided with all the report's claims together; a growth claim needs 20% more than linear. {}.",
            if lengths >= crate::analysis::scaling::MIN_POINTS_QUADRATIC {
                format!("{lengths} lengths: t = a + b*L + c*L^2 is fitted too, and its quadratic term tested")
            } else {
                format!("{lengths} lengths cannot separate a quadratic in L from a line (a quadratic has 3 parameters), so no quadratic is fitted")
            }
        )));
        doc.push(Block::Chart(ChartKind::Scaling, sec));
    }
    if !report.predictions.is_empty() {
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
                    crate::analysis::scaling::PredictionModel::Work => "a + b*work".into(),
                    crate::analysis::scaling::PredictionModel::PowerLaw => "k*L^p".into(),
                    crate::analysis::scaling::PredictionModel::ComponentSum => "sum of components".into(),
                },
                yes_no(p.extrapolated),
            ]);
        }
        doc.push(Block::Table(t));
        doc.push(Block::Paragraph("The interval is that of the predicted median time, from the fitted parameters' draws; it does not hold what the model may miss beyond the recorded lengths (docs/statistics.md measures held-out errors).".into()));
    }

    if let Some(d) = &report.distribution {
        doc.push(Block::Heading(h, format!("Time distribution ({}, {})", in_words(report, d.frames, d.tokens), method_words(d.method))));
        doc.push(Block::Pre(tree_text(&d.root)));
        if let (Some(fused), Some(rest)) = (d.fused_ms, d.rest_ms) {
            doc.push(Block::Paragraph(format!(
                "Shares of the attributed costs' sum, {} ms; the plain fused forward took {} ms, so {} ms are unattributed (the interaction between components that no single duplicate accounts for, and noise).",
                ms(d.root.ns / 1e6),
                ms(fused),
                ms(rest)
            )));
        }
        doc.push(Block::Chart(ChartKind::Distribution, sec));
    }

    let o = &report.overhead;
    if o.rows.iter().any(|r| r.component_pct.is_some() || r.block_pct.is_some() || r.attributed_sum.is_some()) {
        doc.push(Block::Heading(h, "Instrumentation overhead and each method's sum".into()));
        let graph = o.rows.iter().any(|r| r.graph_ms.is_some());
        let attributed = o.rows.iter().any(|r| r.attributed_sum.is_some());
        let mut head = vec!["Frames", "Tokens", "fused (ms)", "component-synced (ms)", "component overhead", "block-synced (ms)", "block overhead", "synced sum (ms)", "synced sum vs fused"];
        if attributed {
            head.extend(["attributed sum (ms)", "95% interval", "attributed sum vs fused", "unattributed rest (ms)"]);
        }
        if graph {
            head.push("fused: host graph build (ms)");
        }
        let mut t = Table::new(&head);
        let signed = signed_pct;
        for r in &o.rows {
            let mut row = vec![
                r.frames.to_string(),
                r.tokens.to_string(),
                opt(r.fused_ms, ms),
                opt(r.component_ms, ms),
                opt(r.component_pct, signed),
                opt(r.block_ms, ms),
                opt(r.block_pct, signed),
                opt(r.synced_sum_ms, ms),
                opt(r.synced_sum_pct, signed),
            ];
            if attributed {
                row.push(opt(r.attributed_sum.map(|e| e.ms), ms));
                row.push(r.attributed_sum.and_then(|e| e.ci95).map_or_else(|| "-".into(), |[lo, hi]| format!("{} to {}", ms(lo), ms(hi))));
                row.push(opt(r.attributed_sum_pct, signed));
                row.push(opt(r.attributed_rest_ms, ms));
            }
            if graph {
                row.push(opt(r.graph_ms, ms));
            }
            t.rows.push(row);
        }
        doc.push(Block::Table(t));
        doc.push(Block::Paragraph(
            "Overhead: how much slower a synchronised forward is than the fused one. Sum vs fused: how much of the fused forward each method's per-component times account for; the synced sum includes the synchronisation it adds, the attributed sum is compared with its own plain fused references, and the rest is what no component's duplicate accounts for.".into(),
        ));
        for r in &o.rows {
            let (Some(verdict), Some(sum), Some(fused), Some(pct)) = (r.attributed_sum_verdict, r.attributed_sum, r.attributed_fused_ms, r.attributed_sum_pct) else {
                continue;
            };
            let Some([lo, hi]) = sum.ci95 else { continue };
            let what = match verdict {
                SumVerdict::Agrees | SumVerdict::Close => continue,
                SumVerdict::Exceeds => "outside the interval: the duplicated work cost more than the forward's own (possible causes: memory or cache pressure of the copies, interference while they ran), so the attributed costs at this length are too high by that much together",
                SumVerdict::FallsShort => "outside the interval: part of the forward is in no component, or the copies overlapped with other work",
            };
            doc.push(Block::Paragraph(format!(
                "At {} tokens the attributed costs sum to {} ms ({} to {}), {} against the set's fused forward of {} ms, more than {}% and {what}. Another recording on an idle machine, or more `--runs`, tells a lasting effect from an unlucky one.",
                r.tokens,
                ms(sum.ms),
                ms(lo),
                ms(hi),
                signed_pct(pct),
                ms(fused),
                SUM_TOLERANCE_PCT,
            )));
        }
        for r in &o.rows {
            if r.attributed_slow_runs > 0 {
                doc.push(Block::Paragraph(format!(
                    "At {} tokens, {} attributed run(s) were set aside as slow ({} on average over their group's typical time): a run more than a few robust standard deviations above the rest of its group is taken as interference, not as the cost of what it measured (docs/statistics.md).",
                    r.tokens,
                    r.attributed_slow_runs,
                    signed_pct(r.attributed_slow_excess * 100.0)
                )));
            }
            if let Some(d) = r.attributed_drift.filter(|d| d.corrected) {
                doc.push(Block::Paragraph(format!(
                    "At {} tokens the machine drifted: the plain fused forward changed by {} ({} to {}) from the first attributed run to the last. The trend was removed from every run before the costs were estimated.",
                    r.tokens,
                    signed_pct(d.change * 100.0),
                    signed_pct(d.ci95[0] * 100.0),
                    signed_pct(d.ci95[1] * 100.0)
                )));
            }
        }
        if graph {
            doc.push(Block::Paragraph(
                "Host graph build: the part of a fused forward spent building MLX's lazy graph before evaluation starts, during which the accelerator has nothing queued.".into(),
            ));
        }
    }

    doc.push(Block::Heading(h, "Memory".into()));
    let mut t = Table::new(&["Frames", "Tokens", "Runs", "Active, median (GiB)", "Peak, max (GiB)"]);
    for m in &report.memory.by_frames {
        t.rows.push(vec![m.frames.to_string(), m.tokens.to_string(), m.runs.to_string(), gib(m.active_median_bytes), gib(m.peak_max_bytes as f64)]);
    }
    doc.push(Block::Table(t));

    match (&report.comparison, &report.variants) {
        (Some(c), _) if c.key == "variant" => comparison_blocks(doc, c, h, sec),
        (c, v) => {
            if let Some(v) = v {
                doc.push(Block::Heading(h, format!("Variants against {}", v.baseline)));
                variant_blocks(doc, v, true);
            }
            if let Some(c) = c {
                comparison_blocks(doc, c, h, sec);
            }
        }
    }

    if !report.natural.is_empty() {
        doc.push(Block::Heading(h, "Natural experiments: what a variant removes, attributed and saved".into()));
        let mut t = Table::new(&["Variant", "Frames", "Tokens", "Removed", "attributed cost (ms)", "95% interval", "fused saving (ms)", "95% interval", "attributed vs saving", "intervals overlap"]);
        let ci = |e: &crate::analysis::attribution::Estimate| e.ci95.map_or_else(|| "-".to_string(), |[lo, hi]| format!("{} to {}", ms(lo), ms(hi)));
        for n in &report.natural {
            t.rows.push(vec![
                n.variant.clone(),
                n.frames.to_string(),
                n.tokens.to_string(),
                n.removed.join(", "),
                ms(n.attributed.ms),
                ci(&n.attributed),
                ms(n.saving.ms),
                ci(&n.saving),
                opt(n.difference_pct, signed_pct),
                n.agree.map_or("-".into(), yes_no),
            ]);
        }
        doc.push(Block::Table(t));
        doc.push(Block::Paragraph("A variant that computes some components once per clip instead of in every forward measures what they cost by the fused time it saves: an independent check of their attributed cost (the baseline's, from duplicating their work). Both from the same recording; the saving's interval combines the two variants' fused references.".into()));
    }

    if report.builtin_model {
        seed_blocks(doc, &report.seed_claims, h);
    }

    doc.push(Block::Heading(h, "Recommendations".into()));
    if report.recommendations.is_empty() {
        doc.push(Block::Paragraph("None that this recording supports.".into()));
    } else {
        doc.push(Block::List(
            report
                .recommendations
                .iter()
                .map(|r| {
                    let saving = match (r.saving_ms > 0.0, r.saving_ci95_ms) {
                        (true, Some([lo, hi])) => format!(" (saves {} to {} ms per forward)", ms(lo.max(0.0)), ms(hi)),
                        (true, None) => format!(" (up to {} ms per forward)", ms(r.saving_ms)),
                        _ => String::new(),
                    };
                    format!("{}{saving}. {}", r.title, r.detail)
                })
                .collect(),
        ));
    }
    if !report.not_supported.is_empty() {
        doc.push(Block::Paragraph(format!("Not supported by this recording: {}.", report.not_supported.join("; "))));
    }
}

fn how_blocks(doc: &mut Vec<Block>, report: &Report) {
    let i = &report.inputs;
    doc.push(Block::Heading(2, "How it was run".into()));
    let mut how = vec![format!("Analyzed with mlx-analyze {} over {} file(s).", env!("CARGO_PKG_VERSION"), i.files.len())];
    how.extend(i.commands.iter().map(|c| format!("Recorded with: {c}")));
    how.extend(i.setups.iter().map(|s| format!("backend/dtype/preset: {s}")));
    how.push("Warm-up runs excluded unless --include-warmup; times are medians over runs.".into());
    doc.push(Block::List(how));
}

fn comparison_blocks(doc: &mut Vec<Block>, c: &Comparison, h: u8, sec: Option<usize>) {
    let mut fs: Vec<u32> = c.groups.iter().filter(|g| g.value != c.baseline).filter_map(|g| g.frames).collect();
    fs.sort_unstable();
    fs.dedup();
    let at = match fs.as_slice() {
        [one] => format!("{one} frames"),
        _ => "each group at the largest frame count it shares with the baseline".into(),
    };
    doc.push(Block::Heading(h, format!("Comparison by {} (baseline {}, {at})", c.key, c.baseline)));
    let groups: Vec<String> = c
        .groups
        .iter()
        .map(|g| format!("{}: {} trace(s), {} run(s) at {} frames", g.value, g.traces, g.runs, g.frames.map_or("-".into(), |f| f.to_string())))
        .collect();
    let units: Vec<String> = c.units.iter().map(|u| format!("{}: {}s", u.group, u.unit)).collect();
    let per_block = if c.per_block {
        " The groups run different block counts: block components are compared in ms per block, overhead components in ms per forward; whole forwards are not compared."
    } else {
        ""
    };
    doc.push(Block::Paragraph(format!(
        "Groups: {}. Each group is compared at the largest frame count it shares with the baseline; the baseline and group columns are medians (ms per forward). {} Samples: {}.{per_block}",
        groups.join("; "),
        c.method,
        units.join(", "),
    )));
    if !c.notes.is_empty() {
        doc.push(Block::List(c.notes.clone()));
    }
    if c.key == "variant" {
        variant_blocks(doc, c, false);
    } else if !c.forward.is_empty() {
        let mut t = Table::new(&["Group", "Frames", "Tokens", "baseline fused (ms)", "group fused (ms)", "speedup", "95% CI", "significant"]).left(&[7]);
        for r in &c.forward {
            t.rows.push(forward_cells(r));
        }
        doc.push(Block::Table(t));
    }
    let mut t = Table::new(&["Component", "Group", "Frames", "baseline (ms)", "group (ms)", "ratio", "interval", "significant"]).left(&[1, 7]);
    let mut rows: Vec<_> = c.rows.iter().collect();
    rows.sort_by(|a, b| {
        (a.component != FORWARD_ROW)
            .cmp(&(b.component != FORWARD_ROW))
            .then(b.baseline_ms.total_cmp(&a.baseline_ms))
            .then(a.component.cmp(&b.component))
            .then(a.group.cmp(&b.group))
    });
    for r in rows {
        t.rows.push(vec![
            r.component.clone(),
            r.group.clone(),
            r.frames.to_string(),
            ms(r.baseline_ms),
            ms(r.group_ms),
            ratio_text(r.ratio),
            if r.has_interval() { interval_text(r.low, r.high) } else { "-".into() },
            yes_no(r.significant),
        ]);
    }
    doc.push(Block::Table(t));
    doc.push(Block::Chart(ChartKind::Comparison, sec));
}

/// A ratio with three decimals, or three significant digits when it is tiny (CPU against GPU).
/// How a table's component times were measured, in a few words.
fn method_words(m: Method) -> &'static str {
    match m {
        Method::Attributed => "attributed costs inside the fused forward",
        Method::Synced => "component-synced times",
    }
}

fn ratio_text(v: f64) -> String {
    if v > 0.0 && !(0.01..=100.0).contains(&v) { super::svg::ratio_words(v) } else { format!("{v:.3}") }
}

/// Whether a speedup is shown in words (far from 1: a CPU against a GPU).
fn speedup_in_words(speedup: f64) -> bool {
    speedup > 0.0 && !(0.01..=100.0).contains(&speedup)
}

/// A speedup (baseline over group): `1.299x`, or the time ratio in words when far from 1.
fn speedup_text(speedup: f64) -> String {
    if speedup_in_words(speedup) { super::svg::ratio_words(1.0 / speedup) } else { format!("{speedup:.3}x") }
}

/// An interval of a ratio: `0.951-1.120`, or in words where both ends are tiny or huge
/// (`2,700-3,100x faster`).
fn interval_text(low: f64, high: f64) -> String {
    use super::svg::factor_text;
    if low > 0.0 && high < 0.01 {
        format!("{}-{}x faster", factor_text(1.0 / high), factor_text(1.0 / low))
    } else if low > 100.0 {
        format!("{}-{}x slower", factor_text(low), factor_text(high))
    } else {
        format!("{}-{}", ratio_text(low), ratio_text(high))
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}

fn drift(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x == 0.0 => "0".into(),
        Some(x) if x >= 0.001 => format!("{:.2}%", x * 100.0),
        Some(x) => format!("{x:.1e}"),
    }
}

/// GiB with a sign.
fn gib_signed(v: f64) -> String {
    let text = format!("{:+.2}", v / (1u64 << 30) as f64);
    if text == "-0.00" || text == "+0.00" { "0.00".into() } else { text }
}

/// Group, frames, tokens, both fused times, speedup, its interval and significance of one
/// fused-forward comparison row.
fn forward_cells(r: &ForwardRow) -> Vec<String> {
    let words = speedup_in_words(r.speedup);
    vec![
        r.group.clone(),
        r.frames.to_string(),
        r.tokens.to_string(),
        ms(r.baseline_ms),
        ms(r.group_ms),
        speedup_text(r.speedup),
        match (r.has_interval(), words) {
            (false, _) => "-".into(),
            // In words, the interval of the time ratio (the inverse of the speedup's).
            (true, true) => interval_text(1.0 / r.high, 1.0 / r.low),
            (true, false) => format!("{:.3}-{:.3}", r.low, r.high),
        },
        yes_no(r.significant),
    ]
}

/// The variant tables: fused forward per frame count, and what each variant changes.
fn variant_blocks(doc: &mut Vec<Block>, c: &Comparison, standalone: bool) {
    doc.push(Block::Paragraph(format!(
        "Fused forward (sync none) of each variant against `{}` at every frame count both recorded. Speedup = baseline over variant with its {:.0}% interval (\"-\" where there is none); significant when the data support a change of more than {:.0}% either way, decided with every row of the comparison together (see the method above). Setup: one-off cost per clip (a setup recorded at one frame count only, such as quantizing weights, counts at every frame count). Per clip: {} forwards x saving - setup. Peak delta: median peak memory of the variant's fused runs minus the baseline's. Drift: largest max_rel and median mean_rel of the variant's output against the baseline.",
        c.baseline,
        c.level * 100.0,
        c.noise * 100.0,
        crate::analysis::comparison::FORWARDS_PER_CLIP
    )));
    if standalone {
        doc.push(Block::Paragraph(c.method.clone()));
        if !c.notes.is_empty() {
            doc.push(Block::List(c.notes.clone()));
        }
    }
    let mut t = Table::new(&[
        "Variant",
        "Frames",
        "Tokens",
        "baseline (ms)",
        "variant (ms)",
        "speedup",
        "95% CI",
        "significant",
        "saved ms/forward",
        "setup (ms)",
        "setup memory (GiB)",
        "peak delta (GiB)",
        "saved s/clip",
        "drift max",
        "drift mean",
    ])
    .left(&[7]);
    for r in &c.forward {
        let v = r.variant.as_ref();
        let mut row = forward_cells(r);
        row.extend([
            v.map_or("-".into(), |v| ms(v.saving_ms_per_forward)),
            v.map_or("-".into(), |v| ms(v.setup_ms)),
            v.map_or("-".into(), |v| gib(v.setup_memory_bytes)),
            v.and_then(|v| v.peak_delta_bytes).map_or("-".into(), gib_signed),
            v.map_or("-".into(), |v| format!("{:.2}", v.saving_ms_per_clip / 1000.0)),
            drift(v.and_then(|v| v.drift_max_rel)),
            drift(v.and_then(|v| v.drift_mean_rel)),
        ]);
        t.rows.push(row);
    }
    doc.push(Block::Table(t));
    if !c.variants.is_empty() {
        let mut t = Table::new(&["Variant", "Frames", "removed from the forward", "added", "setups", "significant component changes (ratio of time)"]).left(&[2, 3, 4, 5]);
        for v in &c.variants {
            let mut changed: Vec<_> = c.rows.iter().filter(|r| r.group == v.variant && r.component != FORWARD_ROW && r.significant).collect();
            changed.sort_by(|a, b| (b.group_ms - b.baseline_ms).abs().total_cmp(&(a.group_ms - a.baseline_ms).abs()).then(a.component.cmp(&b.component)));
            let list = |l: &[String]| if l.is_empty() { "-".to_string() } else { l.join(", ") };
            t.rows.push(vec![
                v.variant.clone(),
                v.frames.to_string(),
                list(&v.removed),
                list(&v.added),
                list(&v.setups),
                if changed.is_empty() {
                    "-".into()
                } else {
                    changed.iter().map(|r| format!("{} {:.2}x ({}-{})", r.component, r.ratio, format_args!("{:.2}", r.low), format_args!("{:.2}", r.high))).collect::<Vec<_>>().join(", ")
                },
            ]);
        }
        doc.push(Block::Table(t));
    }
}

/// "21 frames (9360 tokens)" for the built-in video model, "256 tokens" for others (their
/// frame count is only the recorder's key of one input shape).
fn at_length(report: &Report, frames: u32, tokens: u64) -> String {
    if report.builtin_model { format!("{frames} frames ({tokens} tokens)") } else { format!("{tokens} tokens") }
}

/// "21 frames, 9360 tokens", or "256 tokens".
fn in_words(report: &Report, frames: u32, tokens: u64) -> String {
    if report.builtin_model { format!("{frames} frames, {tokens} tokens") } else { format!("{tokens} tokens") }
}

/// The seed report's claims, point by point.
fn seed_blocks(doc: &mut Vec<Block>, s: &SeedClaims, h: u8) {
    doc.push(Block::Heading(h, "Seed report claims against this data".into()));
    let source = match s.method {
        Some(Method::Attributed) => "the shown variant's attributed costs inside the fused forward, shares of their sum; the component-synced shares, the seed's own method, in parentheses",
        Some(Method::Synced) => "the shown variant's component-synced runs, shares of the summed component time",
        None => "attributed costs where a frame count has them, else component-synced times; shares of the summed component time",
    };
    doc.push(Block::Paragraph(format!(
        "The seed report's numbers are quoted from that document; every number on the right is computed from the traces loaded here ({source})."
    )));
    let mut t = Table::new(&["Claim", "The seed says", "This data", "Verdict"]).left(&[1, 2, 3]);
    // (a) tokens
    let recorded: Vec<&TokenClaim> = s.tokens.iter().filter(|c| c.tokens.is_some()).collect();
    let seed_side = s.tokens.iter().map(|c| format!("{} frames: {}", c.frames, c.seed_tokens)).collect::<Vec<_>>().join(", ");
    if recorded.is_empty() {
        t.rows.push(vec!["(a) tokens per frame count".into(), seed_side, "no run at 5, 11 or 21 frames".into(), "not checked".into()]);
    } else {
        // A ratio only where the resolutions match; otherwise the counts alone.
        let comparable = !matches!(s.verdicts.tokens, Some(TokensVerdict::NotComparable { .. }));
        let ours = recorded
            .iter()
            .map(|c| if comparable { format!("{} frames: {} ({:.1}x)", c.frames, c.tokens.unwrap_or(0), c.ratio.unwrap_or(0.0)) } else { format!("{} frames: {}", c.frames, c.tokens.unwrap_or(0)) })
            .collect::<Vec<_>>()
            .join(", ");
        let verdict = match s.verdicts.tokens {
            Some(TokensVerdict::Agrees) => "agrees".to_string(),
            Some(TokensVerdict::TooSmall { low, high }) if (high - low) / high < 0.01 => format!("the seed's counts are {low:.2}x too small"),
            Some(TokensVerdict::TooSmall { low, high }) => format!("the seed's counts are {low:.2}-{high:.2}x too small"),
            Some(TokensVerdict::NotComparable { tokens_per_latent_frame }) => format!(
                "inconclusive: not comparable, recorded at {tokens_per_latent_frame} tokens per latent frame, not the seed's 480x832 ({}); by the formula the seed's counts are {:.0}x too small there",
                crate::analysis::seed::SEED_RESOLUTION_TOKENS_PER_LATENT_FRAME,
                crate::analysis::seed::SEED_RESOLUTION_TOKENS_PER_LATENT_FRAME as f64 / (s.tokens[0].seed_tokens as f64 / 2.0)
            ),
            Some(TokensVerdict::NotChecked) | None => "not checked".to_string(),
        };
        t.rows.push(vec!["(a) tokens per frame count".into(), seed_side, ours, verdict]);
    }
    // (b) norms
    if !s.norms.is_empty() {
        // A share at or below zero is noise, never printed as a negative share.
        let range = |f: &dyn Fn(&NormShare) -> f64| {
            let lo = s.norms.iter().map(f).fold(f64::INFINITY, f64::min);
            let hi = s.norms.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
            if hi <= 0.0 {
                "< noise".to_string()
            } else if lo <= 0.0 {
                format!("< noise to {}", pct(hi))
            } else {
                format!("{}-{}", pct(lo), pct(hi))
            }
        };
        let l = s.norms.iter().map(|n| n.tokens).min().unwrap_or(0);
        let h = s.norms.iter().map(|n| n.tokens).max().unwrap_or(0);
        t.rows.push(vec![
            "(b) Norms bucket".into(),
            format!("Norms {}-{} (norm1 only; norm2 counted in FFN, norm3 in Cross-Attention)", pct(SEED_NORMS.0), pct(SEED_NORMS.1)),
            format!(
                "norm1 alone {}, norm1+norm2+norm3 {} over L = {l}-{h}{}",
                if s.norms.iter().any(|n| n.norm1_below_noise) { "< noise at some lengths".to_string() } else { range(&|n| n.norm1) },
                range(&|n| n.all),
                if s.norms.iter().all(|n| n.synced.is_some()) {
                    format!(" (synced: {} and {})", range(&|n| n.synced.map_or(0.0, |x| x.0)), range(&|n| n.synced.map_or(0.0, |x| x.1)))
                } else {
                    String::new()
                }
            ),
            match s.verdicts.norms {
                Some(NormsVerdict::MissesNorm2AndNorm3 { low, high }) => {
                    format!("the seed's bucket misses norm2 and norm3: the three norms take {low:.1}-{high:.1}x norm1's time")
                }
                Some(NormsVerdict::Inconclusive) => format!(
                    "inconclusive: {}",
                    if s.norms.iter().any(|n| n.norm1_below_noise) { "norm1's cost cannot be told from zero at some length, so ratios to it mean nothing".to_string() } else { s.norms_test.as_ref().map_or(String::new(), |t| t.why.clone()) }
                ),
                Some(NormsVerdict::NoNorm1) | None => "no norm1 time recorded".to_string(),
            },
        ]);
    }
    // (c) self-attention
    if let Some(a) = &s.self_attention {
        let l = a.points.first().map_or(0.0, |p| p.0);
        let h = a.points.last().map_or(0.0, |p| p.0);
        let cross = match a.crossover_tokens {
            Some(x) if x > 0.0 => format!("; its quadratic term overtakes the linear one at L = {x:.0}"),
            Some(_) => "; the fit has no linear term (quadratic from the start)".into(),
            None if a.points.len() < 4 => format!("; {} lengths cannot separate a quadratic from a line", a.points.len()),
            None => "; no quadratic term in the fit".into(),
        };
        let sdpa_share = a.sdpa_share_at_max.map_or(String::new(), |x| format!("; SDPA is {} of the bucket at L = {h:.0}", pct(x)));
        let verdict = match s.verdicts.self_attention {
            Some(AttentionVerdict::NotQuadratic { exponent: p }) => {
                format!("not O(n^2) at these lengths (exponent {p:.2}): the projections (linear in L) dominate; only SDPA approaches quadratic")
            }
            Some(AttentionVerdict::CloseToQuadratic { exponent: p }) => format!("close to quadratic (exponent {p:.2})"),
            Some(AttentionVerdict::Inconclusive { exponent: p }) => format!(
                "inconclusive: exponent {p:.2}{}, which does not decide against {}",
                a.exponent_ci95.map_or(" without an interval".to_string(), |[lo, hi]| format!(" (95% interval {lo:.2} to {hi:.2})")),
                crate::analysis::seed::QUADRATIC_EXPONENT
            ),
            Some(AttentionVerdict::TooFewLengths) | None => "too few lengths to fit".into(),
        };
        t.rows.push(vec![
            "(c) self-attention ~O(n^2)".into(),
            format!(
                "~O(n^2); yet its own table gives {:.1} -> {:.1} ms per block for 3x tokens (exponent {:.2})",
                SEED_SELF_ATTN_MS.0, SEED_SELF_ATTN_MS.1, a.seed_exponent
            ),
            match a.exponent {
                Some(p) => format!(
                    "Self-Attention bucket (qkv, qk_norm, sdpa, out) per block: t ~ L^{p:.2}{} (R^2 {}) over L = {l:.0}-{h:.0}; sdpa alone L^{}{cross}{sdpa_share}",
                    a.exponent_ci95.map_or(String::new(), |[lo, hi]| format!(" (95% interval {lo:.2} to {hi:.2})")),
                    a.r2.map_or("-".into(), |p| format!("{p:.3}")),
                    a.sdpa_exponent.map_or("-".into(), |p| format!("{p:.2}")),
                ),
                None => format!(
                    "Self-Attention bucket (qkv, qk_norm, sdpa, out) per block {}: no exponent, {} length(s) recorded and a fit needs {}{sdpa_share}",
                    if l == h { format!("at L = {l:.0}") } else { format!("over L = {l:.0}-{h:.0}") },
                    a.points.len(),
                    crate::analysis::scaling::MIN_POINTS
                ),
            },
            verdict,
        ]);
    }
    // (d) FFN bound
    if !s.ffn.is_empty() {
        let cells: Vec<String> = s
            .ffn
            .iter()
            .map(|f| {
                format!(
                    "L={}: {} FLOP/byte vs ridge {}, {} of the matmul rate",
                    f.tokens,
                    f.intensity.map_or("-".into(), |v| format!("{v:.0}")),
                    f.ridge.map_or("-".into(), |v| format!("{v:.0}")),
                    f.matmul_util.map_or("-".into(), pct)
                )
            })
            .collect();
        let verdict = match s.verdicts.ffn {
            Some(FfnVerdict::ComputeBound) => "compute-bound at every recorded L, not bandwidth-bound".to_string(),
            Some(FfnVerdict::MemoryBound) => "memory-bound at every recorded L (agrees)".to_string(),
            Some(FfnVerdict::Mixed { compute_bound, known }) => format!("compute-bound at {compute_bound} of {known} recorded lengths"),
            Some(FfnVerdict::Unknown) | None => "no FLOP/byte counts or calibration".to_string(),
        };
        t.rows.push(vec!["(d) FFN memory-bandwidth bound".into(), "FFN layers are memory-bandwidth bound".into(), cells.join("; "), verdict]);
    }
    // (e) bucket shares
    for (b, v) in s.buckets.iter().filter(|b| !b.shares.is_empty()).zip(&s.verdicts.buckets) {
        if let BucketVerdict::NotApplicable { .. } = v {
            t.rows.push(vec![
                format!("(e) {} share (--rollup seed)", b.bucket),
                format!("{:.0}-{:.0}%", b.seed_low * 100.0, b.seed_high * 100.0),
                "not applicable: this model has no component of this bucket".into(),
                "not applicable".into(),
            ]);
            continue;
        }
        let cells: Vec<String> = b
            .shares
            .iter()
            .enumerate()
            .map(|(i, (f, t, x))| {
                let ci = b.shares_ci95.get(i).copied().flatten();
                let ours = match ci {
                    Some([lo, _]) if lo <= 0.0 && *x <= 0.0 => "< noise".to_string(),
                    Some([lo, hi]) => format!("{} [{} to {}]", pct(*x), pct(lo.max(0.0)), pct(hi)),
                    None if *x < 0.0 => "< noise".to_string(),
                    None => pct(*x),
                };
                match b.synced_shares.iter().find(|y| y.0 == *f) {
                    Some(y) => format!("L={t}: {ours} ({})", pct(y.2)),
                    None => format!("L={t}: {ours}"),
                }
            })
            .collect();
        let verdict = match v {
            BucketVerdict::Below { low, high, .. } => format!("below the seed's range at every L ({}-{})", pct(*low), pct(*high)),
            BucketVerdict::Above { low, high, .. } => format!("above the seed's range at every L ({}-{})", pct(*low), pct(*high)),
            BucketVerdict::Partly { inside, lengths, low, high, .. } => {
                format!("inconclusive: within the seed's range at {inside} of {lengths} lengths by the intervals ({}-{})", pct(low.max(0.0)), pct(*high))
            }
            BucketVerdict::Within { .. } | BucketVerdict::NotApplicable { .. } => "within the seed's range".to_string(),
        };
        t.rows.push(vec![
            format!("(e) {} share (--rollup seed)", b.bucket),
            format!("{:.0}-{:.0}%", b.seed_low * 100.0, b.seed_high * 100.0),
            cells.join(", "),
            verdict,
        ]);
    }
    doc.push(Block::Table(t));
    // What attribution changes against the seed's method: each bucket at the L where the two
    // methods differ most.
    let changes: Vec<String> = s
        .method_changes
        .iter()
        .map(|c| (&c.bucket, c.tokens, c.attributed, c.synced))
        .map(|(bucket, t, x, y)| format!("{bucket} at L={t}: {} attributed against {} synced ({} points)", pct(x), pct(y), signed_pct((x - y) * 100.0).trim_end_matches('%')))
        .collect();
    if !changes.is_empty() {
        doc.push(Block::Paragraph(format!(
            "What changes when the shares come from attribution instead of component-synced runs, for each bucket at the length where the two differ most: {}. The synced shares carry a synchronisation per component, which inflates small components most.",
            changes.join("; ")
        )));
    }
}

/// The tree as indented text with box-drawing branches, like the seed report's.
/// A node's share with its interval, or "< noise".
fn node_share(n: &TreeNode) -> String {
    match (n.below_noise, n.share_ci95) {
        (true, _) => "< noise".into(),
        (false, Some([lo, hi])) => format!("{} ({} to {})", pct(n.share), pct(lo.max(0.0)), pct(hi)),
        _ => pct(n.share),
    }
}

pub fn tree_text(root: &TreeNode) -> String {
    let mut out = String::new();
    for top in &root.children {
        out.push_str(&format!("{}: {}\n", top.name, node_share(top)));
        walk(&mut out, top, "  ");
    }
    out
}

fn walk(out: &mut String, node: &TreeNode, prefix: &str) {
    let n = node.children.len();
    for (i, c) in node.children.iter().enumerate() {
        let last = i + 1 == n;
        out.push_str(&format!("{prefix}{} {}: {}\n", if last { "└──" } else { "├──" }, c.name, node_share(c)));
        walk(out, c, &format!("{prefix}{}", if last { "    " } else { "│   " }));
    }
}

/// Area names for display.
pub fn area_name(a: Area) -> &'static str {
    match a {
        Area::Blocks => "blocks",
        Area::Overhead => "overhead",
    }
}
