//! Comparisons by a key (`--by`): the groups, the fused forwards and every component against
//! the baseline; grouped by variant, what each variant saves per clip and what it changes.

use crate::analysis::comparison::{Comparison, ForwardRow, FORWARDS_PER_CLIP, FORWARD_ROW};
use crate::analysis::Report;
use crate::units::{gib, gib_signed, ms, ratio_in_words, ratio_interval, ratio_text, relative, speedup_text};

use super::{yes_no, Block, ChartKind, Table};

/// A workload's comparisons: one by variant in place of the variants table, else the variants
/// against the baseline followed by the comparison by another key.
pub(super) fn workload_blocks(doc: &mut Vec<Block>, report: &Report, sec: Option<usize>, h: u8) {
    match (&report.comparison, &report.variants) {
        (Some(c), _) if c.key == "variant" => blocks(doc, c, h, sec),
        (c, v) => {
            if let Some(v) = v {
                doc.push(Block::Heading(h, format!("Variants against {}", v.baseline)));
                variant_blocks(doc, v, true);
            }
            if let Some(c) = c {
                blocks(doc, c, h, sec);
            }
        }
    }
}

/// One comparison, headings at level `h`.
pub(super) fn blocks(doc: &mut Vec<Block>, c: &Comparison, h: u8, sec: Option<usize>) {
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
        t.rows = c.forward.iter().map(forward_cells).collect();
        doc.push(Block::Table(t));
    }
    doc.push(Block::Table(component_table(c)));
    doc.push(Block::Chart(ChartKind::Comparison, sec));
}

/// Every component of every group against the baseline: the fused forward first, then the
/// largest baseline times.
fn component_table(c: &Comparison) -> Table {
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
            if r.has_interval() { ratio_interval(r.low, r.high) } else { "-".into() },
            yes_no(r.significant),
        ]);
    }
    t
}

/// Group, frames, tokens, both fused times, speedup, its interval and significance of one
/// fused-forward comparison row.
fn forward_cells(r: &ForwardRow) -> Vec<String> {
    vec![
        r.group.clone(),
        r.frames.to_string(),
        r.tokens.to_string(),
        ms(r.baseline_ms),
        ms(r.group_ms),
        speedup_text(r.speedup),
        match (r.has_interval(), ratio_in_words(r.speedup)) {
            (false, _) => "-".into(),
            // In words, the interval of the time ratio (the inverse of the speedup's).
            (true, true) => ratio_interval(1.0 / r.high, 1.0 / r.low),
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
        FORWARDS_PER_CLIP
    )));
    if standalone {
        doc.push(Block::Paragraph(c.method.clone()));
        if !c.notes.is_empty() {
            doc.push(Block::List(c.notes.clone()));
        }
    }
    doc.push(Block::Table(variant_forward_table(c)));
    if !c.variants.is_empty() {
        doc.push(Block::Table(variant_changes_table(c)));
    }
}

/// The fused forward of each variant per frame count, with what it saves per clip.
fn variant_forward_table(c: &Comparison) -> Table {
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
    let or_dash = |v: Option<f64>, f: fn(f64) -> String| v.map_or_else(|| "-".into(), f);
    for r in &c.forward {
        let v = r.variant.as_ref();
        let mut row = forward_cells(r);
        row.extend([
            or_dash(v.map(|v| v.saving_ms_per_forward), ms),
            or_dash(v.map(|v| v.setup_ms), ms),
            or_dash(v.map(|v| v.setup_memory_bytes), gib),
            or_dash(v.and_then(|v| v.peak_delta_bytes), gib_signed),
            v.map_or("-".into(), |v| format!("{:.2}", v.saving_ms_per_clip / 1000.0)),
            or_dash(v.and_then(|v| v.drift_max_rel), relative),
            or_dash(v.and_then(|v| v.drift_mean_rel), relative),
        ]);
        t.rows.push(row);
    }
    t
}

/// What each variant removes, adds and sets up, and the component changes the analysis found
/// significant ([`crate::analysis::comparison::VariantSummary::changed`]).
fn variant_changes_table(c: &Comparison) -> Table {
    let mut t = Table::new(&["Variant", "Frames", "removed from the forward", "added", "setups", "significant component changes (ratio of time)"]).left(&[2, 3, 4, 5]);
    let list = |l: &[String]| if l.is_empty() { "-".to_string() } else { l.join(", ") };
    for v in &c.variants {
        let changed: Vec<String> = v
            .changed
            .iter()
            .filter_map(|name| c.rows.iter().find(|r| r.group == v.variant && r.component == *name))
            .map(|r| format!("{} {:.2}x ({:.2}-{:.2})", r.component, r.ratio, r.low, r.high))
            .collect();
        t.rows.push(vec![v.variant.clone(), v.frames.to_string(), list(&v.removed), list(&v.added), list(&v.setups), list(&changed)]);
    }
    t
}
