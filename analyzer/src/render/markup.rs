//! The report as a format-neutral document (headings, paragraphs, tables, preformatted text,
//! lists, chart slots), and the [`Markup`] trait: a format that can write those blocks gets a
//! [`Render`] implementation for free. Tables, Markdown and HTML share this.

use crate::analysis::comparison::Comparison;
use crate::analysis::facts::{Area, Rollup};
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
    /// A chart (only formats that can show it do).
    Chart(ChartKind),
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
        self.begin(&mut out, "MLX forward pass profile");
        for block in document(report) {
            match &block {
                Block::Heading(l, t) => self.heading(&mut out, *l, t),
                Block::Paragraph(t) => self.paragraph(&mut out, t),
                Block::Table(t) => self.table(&mut out, t),
                Block::Pre(t) => self.pre(&mut out, t),
                Block::List(items) => self.list(&mut out, items),
                Block::Chart(kind) => self.chart(&mut out, *kind, report)?,
            }
        }
        self.end(&mut out);
        Ok(out.into_bytes())
    }
}

/// Milliseconds with sensible precision.
pub fn ms(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A 0..1 fraction as a percentage.
pub fn pct(v: f64) -> String {
    if v > 0.0 && v < 0.001 { "<0.1%".into() } else { format!("{:.1}%", v * 100.0) }
}

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
    doc.push(Block::Heading(1, "MLX forward pass profile".into()));
    doc.push(Block::Heading(2, "Summary".into()));
    let mut summary = format!(
        "{} trace(s) from {} machine(s) ({}), {} runs, {} events.",
        i.files.len(),
        i.machines.len(),
        i.machines.join(", "),
        i.runs,
        i.events
    );
    if let Some(r) = &report.ranking {
        let top: Vec<String> = r.rows.iter().take(3).map(|x| format!("{} {}", x.name, pct(x.share))).collect();
        summary.push_str(&format!(
            " At {} frames ({} tokens) the component-synced forward sums to {} ms over {} blocks; largest: {}.",
            r.frames,
            r.tokens,
            ms(r.total_ms),
            r.blocks,
            top.join(", ")
        ));
    }
    if let Some(row) = report.scaling.rows.iter().rev().find(|r| r.forward_ms.is_some()) {
        summary.push_str(&format!(" Fused forward at {} tokens: {} ms.", row.tokens, ms(row.forward_ms.unwrap_or(0.0))));
    }
    doc.push(Block::Paragraph(summary));
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

    if let Some(r) = &report.ranking {
        doc.push(Block::Heading(2, format!("Bottleneck ranking ({} frames, {} tokens, {} runs)", r.frames, r.tokens, r.runs)));
        let mut t = Table::new(&[
            "Component",
            "% of time",
            "range over L",
            "ms/block",
            "ms/forward",
            "TFLOP/s",
            "GB/s",
            "% matmul peak",
            "% bandwidth",
            "bound",
            "priority",
        ])
        .left(&[9, 10]);
        for row in &r.rows {
            t.rows.push(vec![
                row.name.clone(),
                pct(row.share),
                format!("{}-{}", pct(row.share_min), pct(row.share_max)),
                opt(row.ms_per_block, ms),
                ms(row.ms_per_forward),
                opt(row.tflops, |v| format!("{v:.2}")),
                opt(row.gbps, |v| format!("{v:.0}")),
                opt(row.flops_util, pct),
                opt(row.bytes_util, pct),
                row.bound.as_str().into(),
                row.priority.as_str().into(),
            ]);
        }
        doc.push(Block::Table(t));
        doc.push(Block::Chart(ChartKind::Ranking));
        let note = if i.rollup == Rollup::Seed {
            "Buckets as in the seed report (Norms holds norm1 only; norm2 is inside FFN, norm3 inside Cross-Attention)."
        } else {
            "Fine component names; `--rollup seed` groups them into the seed report's buckets."
        };
        doc.push(Block::Paragraph(format!(
            "{note} Bound: arithmetic intensity (FLOP/byte) against the ridge point (calibrated FLOP/s over calibrated bytes/s). Priority: HIGH when reaching the bounding ceiling would save at least 10% of the forward, MEDIUM 3-10%."
        )));
    } else {
        doc.push(Block::Paragraph("No component-synced runs: no ranking or distribution.".into()));
    }

    doc.push(Block::Heading(2, "Scaling with sequence length".into()));
    let s = &report.scaling;
    let mut t = Table::new(&["Frames", "Tokens", "Forward fused (ms)", "Forward synced (ms)"]);
    for row in &s.rows {
        t.rows.push(vec![row.frames.to_string(), row.tokens.to_string(), opt(row.forward_ms, ms), opt(row.synced_forward_ms, ms)]);
    }
    doc.push(Block::Table(t));
    if !s.fits.is_empty() {
        let with_cells: Vec<_> = s.rows.iter().filter(|r| !r.cells.is_empty()).collect();
        let mut headers: Vec<String> = vec!["Component (ms/block; overhead ms/forward)".into()];
        headers.extend(with_cells.iter().map(|r| format!("L={}", r.tokens)));
        headers.extend(["exponent", "R^2", "a (ms)", "b (ms/token)", "c (ms/token^2)", "quadratic > linear at L"].map(String::from));
        let refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut t = Table::new(&refs);
        let order = |name: &str| report.ranking.as_ref().and_then(|r| r.rows.iter().position(|x| x.name == name)).unwrap_or(usize::MAX);
        let mut fits: Vec<_> = s.fits.iter().collect();
        fits.sort_by_key(|f| (f.name != "forward", order(&f.name)));
        for f in fits {
            let mut cells = vec![if f.name == "forward" { "forward (fused, ms/forward)".to_string() } else { f.name.clone() }];
            for r in &with_cells {
                let v = if f.name == "forward" { r.forward_ms } else { r.cells.iter().find(|c| c.name == f.name).map(|c| c.ms) };
                cells.push(opt(v, ms));
            }
            cells.push(opt(f.power.map(|p| p.exponent), |v| format!("{v:.2}")));
            cells.push(opt(f.power.map(|p| p.r2), |v| format!("{v:.3}")));
            cells.push(opt(f.poly.map(|p| p.a), |v| format!("{v:.3}")));
            cells.push(opt(f.poly.map(|p| p.b), |v| format!("{v:.3e}")));
            cells.push(opt(f.poly.map(|p| p.c), |v| format!("{v:.3e}")));
            let lmax = f.points.last().map_or(0.0, |p| p.0);
            cells.push(opt(f.crossover_tokens, |v| if v > 10.0 * lmax { format!("> {:.0} (beyond 10x range)", 10.0 * lmax) } else { format!("{v:.0}") }));
            t.rows.push(cells);
        }
        doc.push(Block::Table(t));
    }
    if let Some(note) = &s.note {
        doc.push(Block::Paragraph(note.clone()));
    } else {
        doc.push(Block::Paragraph(
            "Fits per component over the distinct token counts: power law t = k*L^p (log-log least squares) and t = a + b*L + c*L^2 with non-negative coefficients; the quadratic term overtakes the linear one at L = b/c.".into(),
        ));
        doc.push(Block::Chart(ChartKind::Scaling));
    }

    if let Some(d) = &report.distribution {
        doc.push(Block::Heading(2, format!("Time distribution ({} frames, {} tokens)", d.frames, d.tokens)));
        doc.push(Block::Pre(tree_text(&d.root)));
        doc.push(Block::Chart(ChartKind::Distribution));
    }

    let o = &report.overhead;
    if o.rows.iter().any(|r| r.component_pct.is_some() || r.block_pct.is_some()) {
        doc.push(Block::Heading(2, "Instrumentation overhead".into()));
        let mut t = Table::new(&["Frames", "Tokens", "component-synced (ms)", "block-synced (ms)", "fused (ms)", "component overhead", "block overhead"]);
        for r in &o.rows {
            t.rows.push(vec![
                r.frames.to_string(),
                r.tokens.to_string(),
                opt(r.component_ms, ms),
                opt(r.block_ms, ms),
                opt(r.fused_ms, ms),
                opt(r.component_pct, |v| format!("{v:+.1}%")),
                opt(r.block_pct, |v| format!("{v:+.1}%")),
            ]);
        }
        doc.push(Block::Table(t));
    }

    doc.push(Block::Heading(2, "Memory".into()));
    let mut t = Table::new(&["Frames", "Tokens", "Runs", "Active, median (GiB)", "Peak, max (GiB)"]);
    for m in &report.memory.by_frames {
        t.rows.push(vec![m.frames.to_string(), m.tokens.to_string(), m.runs.to_string(), gib(m.active_median_bytes), gib(m.peak_max_bytes as f64)]);
    }
    doc.push(Block::Table(t));

    if let Some(c) = &report.comparison {
        comparison_blocks(&mut doc, c);
    }

    doc.push(Block::Heading(2, "Recommendations".into()));
    if report.recommendations.is_empty() {
        doc.push(Block::Paragraph("None: the data holds no component with a known bound, no cacheable component and no quadratic trend.".into()));
    } else {
        doc.push(Block::List(
            report
                .recommendations
                .iter()
                .map(|r| {
                    let saving = if r.saving_ms > 0.0 { format!(" (up to {} ms per forward)", ms(r.saving_ms)) } else { String::new() };
                    format!("{}{saving}. {}", r.title, r.detail)
                })
                .collect(),
        ));
    }

    doc.push(Block::Heading(2, "How it was run".into()));
    let mut how = vec![format!("Analyzed with mlx-analyze {} over {} file(s).", env!("CARGO_PKG_VERSION"), i.files.len())];
    how.extend(i.commands.iter().map(|c| format!("Recorded with: {c}")));
    how.extend(i.setups.iter().map(|s| format!("backend/dtype/preset: {s}")));
    how.push("Warm-up runs excluded unless --include-warmup; times are medians over runs.".into());
    doc.push(Block::List(how));
    doc
}

fn comparison_blocks(doc: &mut Vec<Block>, c: &Comparison) {
    doc.push(Block::Heading(2, format!("Comparison by {} (baseline {}, {} frames)", c.key, c.baseline, c.frames)));
    let groups: Vec<String> = c.groups.iter().map(|g| format!("{}: {} trace(s), {} run(s)", g.value, g.traces, g.runs)).collect();
    let units: Vec<String> = c.units.iter().map(|u| format!("{} resampled by {}", u.group, u.unit)).collect();
    doc.push(Block::Paragraph(format!(
        "Groups: {}. Ratio = group median / baseline median of ms per forward; {:.0}% bootstrap interval on the ratio of medians ({}; whole traces when both sides have at least 3); significant when the interval excludes 1 and the change exceeds {:.0}%.",
        groups.join("; "),
        c.level * 100.0,
        units.join(", "),
        c.noise * 100.0
    )));
    let mut t = Table::new(&["Component", "Group", "baseline (ms)", "group (ms)", "ratio", "interval", "significant"]).left(&[1, 6]);
    let mut rows: Vec<_> = c.rows.iter().collect();
    rows.sort_by(|a, b| {
        (a.component != super::super::analysis::comparison::FORWARD_ROW)
            .cmp(&(b.component != super::super::analysis::comparison::FORWARD_ROW))
            .then(b.baseline_ms.total_cmp(&a.baseline_ms))
            .then(a.group.cmp(&b.group))
    });
    for r in rows {
        t.rows.push(vec![
            r.component.clone(),
            r.group.clone(),
            ms(r.baseline_ms),
            ms(r.group_ms),
            format!("{:.3}", r.ratio),
            format!("{:.3}-{:.3}", r.low, r.high),
            if r.significant { "yes".into() } else { "no".into() },
        ]);
    }
    doc.push(Block::Table(t));
    doc.push(Block::Chart(ChartKind::Comparison));
    if !c.variants.is_empty() {
        let mut t = Table::new(&["Variant", "speedup", "saved ms/forward", "setup ms/clip", "saved s/clip (80 forwards)", "drift max", "drift mean"]);
        for v in &c.variants {
            t.rows.push(vec![
                v.variant.clone(),
                opt(v.speedup, |x| format!("{x:.3}x")),
                opt(v.saving_ms_per_forward, ms),
                ms(v.setup_ms),
                opt(v.saving_ms_per_clip, |x| format!("{:.2}", x / 1000.0)),
                opt(v.drift_max_rel, |x| format!("{x:.2e}")),
                opt(v.drift_mean_rel, |x| format!("{x:.2e}")),
            ]);
        }
        doc.push(Block::Table(t));
    }
}

/// The tree as indented text with box-drawing branches, like the seed report's.
pub fn tree_text(root: &TreeNode) -> String {
    let mut out = String::new();
    for top in &root.children {
        out.push_str(&format!("{}: {}\n", top.name, pct(top.share)));
        walk(&mut out, top, "  ");
    }
    out
}

fn walk(out: &mut String, node: &TreeNode, prefix: &str) {
    let n = node.children.len();
    for (i, c) in node.children.iter().enumerate() {
        let last = i + 1 == n;
        out.push_str(&format!("{prefix}{} {}: {}\n", if last { "└──" } else { "├──" }, c.name, pct(c.share)));
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
