//! The report as a format-neutral document (headings, paragraphs, tables, preformatted text,
//! lists, chart slots), and the [`Markup`] trait: a format that can write those blocks gets a
//! [`Render`] implementation for free. Tables, Markdown and HTML share this.
//!
//! This file holds the document's types and its outline; each section of a workload's body is
//! laid out by the submodule named after the analysis it shows. Sections only format: every
//! verdict and threshold comes from the analyses (so that `--format json` carries it too), and
//! numbers are written by [`super::units`].

mod comparison;
mod memory;
mod natural;
mod overhead;
mod ranking;
mod recommend;
mod scaling;
mod seed;
mod tree;

use crate::analysis::ranking::Method;
use crate::analysis::Report;
use crate::error::Result;

use super::Render;

// The number formats live in `units`; re-exported here for the paths other modules use.
pub(crate) use crate::units::{ms, pct};

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    /// Column headers, with units.
    pub(crate) headers: Vec<String>,
    /// Alignment per column.
    pub(crate) align: Vec<Align>,
    /// Cells.
    pub(crate) rows: Vec<Vec<String>>,
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
pub(crate) enum ChartKind {
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
pub(crate) enum Block {
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
pub(crate) trait Markup {
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

/// The document of a report.
pub(crate) fn document(report: &Report) -> Vec<Block> {
    let mut doc = Vec::new();
    doc.push(Block::Heading(1, report.title.clone()));
    summary_blocks(&mut doc, report);
    if report.sections.is_empty() {
        if report.comparison_only {
            if let Some(c) = &report.comparison {
                comparison::blocks(&mut doc, c, 2, None);
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
            comparison::blocks(&mut doc, c, 2, None);
        }
    }
    how_blocks(&mut doc, report);
    doc
}

/// The summary, the findings, the workloads' separation and what was skipped or warned about.
fn summary_blocks(doc: &mut Vec<Block>, report: &Report) {
    let i = &report.inputs;
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
}

/// "1 block", "40 blocks".
fn blocks(n: u32) -> String {
    format!("{n} block{}", if n == 1 { "" } else { "s" })
}

/// The summary's findings of one workload: the ranking's top, the fused forward, the variant shown.
fn findings(report: &Report) -> String {
    let i = &report.inputs;
    let mut summary = String::new();
    if let Some(r) = &report.ranking {
        let top: Vec<String> = r.rows.iter().filter(|x| !x.group).take(3).map(|x| format!("{} {}", x.name, pct(x.share))).collect();
        match (r.method, r.fused_ms) {
            (Method::Attributed, Some(fused)) => summary.push_str(&format!(
                " At {} the attributed component costs of the fused forward sum to {} ms{} of the {} ms the same rounds' plain fused forwards took, over {}; largest: {}.",
                at_length(report, r.frames, r.tokens),
                ms(r.total_ms),
                r.total_ci95_ms.map_or(String::new(), |ci| format!(" ({})", crate::units::interval_ms(ci))),
                ms(fused),
                blocks(r.blocks),
                top.join(", ")
            )),
            _ => summary.push_str(&format!(
                " At {} the component-synced forward sums to {} ms over {}; largest: {}.",
                at_length(report, r.frames, r.tokens),
                ms(r.total_ms),
                blocks(r.blocks),
                top.join(", ")
            )),
        }
    }
    if let Some(row) = report.scaling.rows.iter().rev().find(|r| r.forward_ms.is_some()) {
        summary.push_str(&format!(" Fused forward at {} tokens: {} ms (median of the separate fused runs, --sync none).", row.tokens, ms(row.forward_ms.unwrap_or(0.0))));
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

/// The analyses of one workload, one section each, headings at level `h`; `sec`: its section
/// index in a report of several workloads (for its charts).
fn body(doc: &mut Vec<Block>, report: &Report, sec: Option<usize>, h: u8) {
    for n in &report.notes {
        doc.push(Block::Paragraph(n.clone()));
    }
    ranking::blocks(doc, report, sec, h);
    scaling::blocks(doc, report, sec, h);
    scaling::prediction_blocks(doc, report, h);
    tree::blocks(doc, report, sec, h);
    overhead::blocks(doc, &report.overhead, h);
    memory::blocks(doc, &report.memory, h);
    comparison::workload_blocks(doc, report, sec, h);
    natural::blocks(doc, &report.natural, h);
    if report.builtin_model {
        seed::blocks(doc, &report.seed_claims, h);
    }
    recommend::blocks(doc, report, h);
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

/// A value formatted by `f`, or "-" where there is none.
fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".into(), f)
}

fn yes_no(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}

/// How a table's component times were measured, in a few words.
fn method_words(m: Method) -> &'static str {
    match m {
        Method::Attributed => "attributed costs inside the fused forward",
        Method::Synced => "component-synced times",
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

#[cfg(test)]
mod tests {
    #[test]
    fn one_block_is_singular() {
        assert_eq!(super::blocks(1), "1 block");
        assert_eq!(super::blocks(40), "40 blocks");
    }
}
