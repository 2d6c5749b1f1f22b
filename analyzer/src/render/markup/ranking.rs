//! The bottleneck ranking: one row per component, the footnotes its marks refer to, and how
//! its times were measured.

use crate::analysis::facts::Rollup;
use crate::analysis::ranking::{self, Ceiling, CeilingExcess, Method, RankRow, Ranking};
use crate::analysis::verdict::Verdict;
use crate::analysis::Report;
use crate::units::{bytes_rate, flops_rate, ms, pct};

use super::{in_words, method_words, opt, Block, ChartKind, Table};

/// The ranking section, or why there is none.
pub(super) fn blocks(doc: &mut Vec<Block>, report: &Report, sec: Option<usize>, h: u8) {
    let Some(r) = &report.ranking else {
        doc.push(Block::Paragraph("No ranking: the traces hold no component-synced or attributed runs, or their component costs sum to zero or less (an attribution recording too noisy for its length: record more `--runs` or `--copies`).".into()));
        return;
    };
    let runs = if r.method == Method::Attributed { format!("{} rounds", r.runs) } else { format!("{} runs", r.runs) };
    doc.push(Block::Heading(h, format!("Bottleneck ranking ({}, {runs}, {})", in_words(report, r.frames, r.tokens), method_words(r.method))));
    doc.push(Block::Table(table(r)));
    if !r.missing.is_empty() {
        let them = if r.missing.len() == 1 { "it" } else { "them" };
        doc.push(Block::Paragraph(format!(
            "Incomplete attribution at {} frames: {} never perturbed here though the same recording perturbs {them} at other frame counts (a recording stopped in the middle of a round). The costs and shares above lack {them}; record this frame count again.",
            r.frames,
            r.missing.join(", "),
        )));
    }
    footnotes(doc, r);
    doc.push(Block::Chart(ChartKind::Ranking, sec));
    doc.push(Block::Paragraph(format!("{} {} {}", method_note(r), names_note(report, r), legend())));
}

fn table(r: &Ranking) -> Table {
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
    t.rows = r.rows.iter().map(|row| cells(r, row)).collect();
    t
}

/// One component's row; `*` marks a rate above its ceiling beyond the noise, `†` a rate of the
/// cache's bandwidth.
fn cells(r: &Ranking, row: &RankRow) -> Vec<String> {
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
    vec![
        row.name.clone(),
        share,
        if row.share_max <= 0.0 { "< noise".into() } else { format!("{}-{}", pct(row.share_min), pct(row.share_max)) },
        if noise { "< noise".into() } else { opt(row.ms_per_block, ms) },
        if noise { "< noise".into() } else { ms(row.ms_per_forward) },
        row.ci95_ms.map_or_else(|| "-".into(), |[lo, hi]| format!("{} to {}", ms(lo), ms(hi))),
        opt(row.synced_ms, ms),
        opt(row.tflops, |v| flops_rate(v * 1e12)),
        opt(row.gbps, |v| bytes_rate(v * 1e9)),
        fu,
        bu,
        if row.bound_verdict == Verdict::Supported { row.bound.as_str().into() } else { format!("{} (inconclusive)", row.bound.as_str()) },
        if row.group { "group".into() } else { row.priority.as_str().into() },
    ]
}

/// What the table's `†` and `*` mean, with the components they mark.
fn footnotes(doc: &mut Vec<Block>, r: &Ranking) {
    let (cached, dram): (Vec<_>, Vec<_>) = r.rows.iter().filter(|x| x.bytes_util.is_some()).partition(|x| x.cache_resident);
    if let Some(c) = cached.iter().filter_map(|x| x.bandwidth_ceiling_gbps).reduce(f64::max) {
        let d = dram.iter().filter_map(|x| x.bandwidth_ceiling_gbps).reduce(f64::max);
        doc.push(Block::Paragraph(format!(
            "\u{2020} Of the last-level cache's bandwidth ({}, the best streaming pass over sizes that fit in the cache): the component's bytes per call fit in the cache, where the DRAM ceiling{} does not bound it. The other rates are of the DRAM bandwidth.",
            bytes_rate(c * 1e9),
            d.map_or_else(String::new, |d| format!(" ({})", bytes_rate(d * 1e9))),
        )));
    }
    let excess = |x: &&CeilingExcess| match x.util_ci95 {
        Some([lo, hi]) => format!("{} ({}, {} with interval {} to {})", x.name, x.ceiling.as_str(), pct(x.util), pct(lo), pct(hi)),
        None => format!("{} ({}, {}, no interval)", x.name, x.ceiling.as_str(), pct(x.util)),
    };
    let (beyond, within): (Vec<_>, Vec<_>) = r.above_ceiling.iter().partition(|x| x.beyond_noise);
    if !beyond.is_empty() {
        doc.push(Block::Paragraph(format!(
            "* Above 100% beyond the noise: the achieved rate exceeds the trace's calibrated ceiling over its whole interval ({}). A ceiling cannot be exceeded, so either the calibration measured less than the machine can do, or the time is below what the component's recorded work needs (an attributed cost runs low where a copy finds its inputs in a cache, docs/attribution.md); these percentages and the bound they imply are uncertain.",
            beyond.iter().map(excess).collect::<Vec<_>>().join(", ")
        )));
    }
    if !within.is_empty() {
        doc.push(Block::Paragraph(format!(
            "Above 100% within the noise: {}. The interval reaches below the ceiling, so the data do not show the ceiling exceeded; the bound stays inconclusive.",
            within.iter().map(excess).collect::<Vec<_>>().join(", ")
        )));
    }
}

/// Where the times come from: attributed costs with their sum against the fused forward, or
/// component-synced medians.
fn method_note(r: &Ranking) -> String {
    match (r.method, r.fused_ms, r.rest_ms) {
        (Method::Attributed, Some(fused), Some(rest)) => format!(
            "Times: each component's cost inside the fused forward (attributed: its work duplicated inside the same evaluation, the difference to the plain fused forward; docs/attribution.md), mean over rounds with its 95% interval; \"< noise\" where the interval reaches zero. The costs sum to {} ms of the {} ms fused forward (unattributed rest {} ms). Shares are of that sum. \"synced\": the same component's median in component-synced runs (an evaluation after every component, the seed profiler's method), for comparison.",
            ms(r.total_ms),
            ms(fused),
            ms(rest)
        ),
        _ => "Times: medians of component-synced runs (an evaluation after every component, the seed profiler's method), which break MLX's fusion and add a synchronisation per component (see the overhead section); the interval is that of the mean over runs. Record with `--sync attributed` for costs inside the fused forward.".to_string(),
    }
}

/// What the component names are (fine, the seed's buckets, or a model's own) and how nested
/// ones add up.
fn names_note(report: &Report, r: &Ranking) -> String {
    let rollup = report.inputs.rollup;
    let builtin = r.rows.iter().all(|x| trace_format::taxonomy::is_builtin(&x.name));
    let nested = r.rows.iter().any(|x| x.group || x.parent.is_some());
    let note = if rollup == Rollup::Seed && builtin {
        "Buckets as in the seed report (Norms holds norm1 only; norm2 is inside FFN, norm3 inside Cross-Attention).".to_string()
    } else if builtin {
        "Fine component names; `--rollup seed` groups them into the seed report's buckets.".to_string()
    } else {
        format!(
            "Component names as recorded{}.",
            if rollup == Rollup::Seed { " (`--rollup seed` applies to the built-in model only, so it changes nothing here)" } else { "" }
        )
    };
    if nested {
        format!("{note} Components nest (a module and its sub-modules): only the top-level ones add up to the forward, a nested component's cost is part of its parent's, and \"group\" marks a module holding instrumented components (no priority of its own: the time distribution shows its children and its self time, the work it does between them).")
    } else {
        note
    }
}

/// What the ranking's Bound and Priority columns mean, with the analysis's own thresholds.
fn legend() -> String {
    let percent = |x: f64| format!("{:.0}", x * 100.0);
    format!(
        "Bound: arithmetic intensity (FLOP/byte) against the ridge point (calibrated FLOP/s over the component's calibrated memory ceiling). Priority: HIGH when the lower end of the interval of what reaching the bounding ceiling would save is at least {high}% of the forward, MEDIUM {medium}-{high}%, and only where that claim is supported together with the report's other claims (false claims controlled across the report, docs/statistics.md). \"(inconclusive)\" after a bound: the intensity is within {margin}% of the ridge, or the component runs above a ceiling. \"< noise\": the cost's interval reaches zero, so no share is stated.",
        high = percent(ranking::HIGH_SHARE),
        medium = percent(ranking::ATTENTION_SHARE),
        margin = percent(ranking::RIDGE_MARGIN - 1.0),
    )
}
