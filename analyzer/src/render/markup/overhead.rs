//! Instrumentation overhead and each method's sum against the fused forward, with the
//! attribution's warnings (a sum outside its interval, slow runs set aside, drift removed).

use crate::analysis::overhead::{Overhead, OverheadRow, SumVerdict, SUM_TOLERANCE_PCT};
use crate::units::{ms, signed_pct};

use super::{opt, Block, Table};

/// The overhead section, when a synchronised or attributed method was recorded.
pub(super) fn blocks(doc: &mut Vec<Block>, o: &Overhead, h: u8) {
    if !o.rows.iter().any(|r| r.component_pct.is_some() || r.block_pct.is_some() || r.attributed_sum.is_some()) {
        return;
    }
    doc.push(Block::Heading(h, "Instrumentation overhead and each method's sum".into()));
    let graph = o.rows.iter().any(|r| r.graph_ms.is_some());
    doc.push(Block::Table(table(o, graph)));
    doc.push(Block::Paragraph(
        "Overhead: how much slower a synchronised forward is than the fused one. Sum vs fused: how much of the fused forward each method's per-component times account for; the synced sum includes the synchronisation it adds, the attributed sum is compared with its own plain fused references, and the rest is what no component's duplicate accounts for.".into(),
    ));
    for r in &o.rows {
        if let Some(p) = sum_warning(r) {
            doc.push(Block::Paragraph(p));
        }
    }
    for r in &o.rows {
        attribution_notes(doc, r);
    }
    if graph {
        doc.push(Block::Paragraph(
            "Host graph build: the part of a fused forward spent building MLX's lazy graph before evaluation starts, during which the accelerator has nothing queued.".into(),
        ));
    }
}

/// Columns for the attributed sum only where there is one, and for the host graph build only
/// where traces record it.
fn table(o: &Overhead, graph: bool) -> Table {
    let attributed = o.rows.iter().any(|r| r.attributed_sum.is_some());
    let mut head = vec!["Frames", "Tokens", "fused (ms)", "component-synced (ms)", "component overhead", "block-synced (ms)", "block overhead", "synced sum (ms)", "synced sum vs fused"];
    if attributed {
        head.extend(["attributed sum (ms)", "95% interval", "attributed sum vs fused", "unattributed rest (ms)"]);
    }
    if graph {
        head.push("fused: host graph build (ms)");
    }
    let mut t = Table::new(&head);
    for r in &o.rows {
        let mut row = vec![
            r.frames.to_string(),
            r.tokens.to_string(),
            opt(r.fused_ms, ms),
            opt(r.component_ms, ms),
            opt(r.component_pct, signed_pct),
            opt(r.block_ms, ms),
            opt(r.block_pct, signed_pct),
            opt(r.synced_sum_ms, ms),
            opt(r.synced_sum_pct, signed_pct),
        ];
        if attributed {
            row.push(opt(r.attributed_sum.map(|e| e.ms), ms));
            row.push(r.attributed_sum.and_then(|e| e.ci95).map_or_else(|| "-".into(), |[lo, hi]| format!("{} to {}", ms(lo), ms(hi))));
            row.push(opt(r.attributed_sum_pct, signed_pct));
            row.push(opt(r.attributed_rest_ms, ms));
        }
        if graph {
            row.push(opt(r.graph_ms, ms));
        }
        t.rows.push(row);
    }
    t
}

/// The warning for an attributed sum whose interval misses the fused forward by more than the
/// tolerance (the analysis's [`SumVerdict`]).
fn sum_warning(r: &OverheadRow) -> Option<String> {
    let (Some(verdict), Some(sum), Some(fused), Some(pct)) = (r.attributed_sum_verdict, r.attributed_sum, r.attributed_fused_ms, r.attributed_sum_pct) else {
        return None;
    };
    let [lo, hi] = sum.ci95?;
    let what = match verdict {
        SumVerdict::Agrees | SumVerdict::Close => return None,
        SumVerdict::Exceeds => "outside the interval: the duplicated work cost more than the forward's own (possible causes: memory or cache pressure of the copies, interference while they ran), so the attributed costs at this length are too high by that much together",
        SumVerdict::FallsShort => "outside the interval: part of the forward is in no component, or the copies overlapped with other work",
    };
    Some(format!(
        "At {} tokens the attributed costs sum to {} ms ({} to {}), {} against the set's fused forward of {} ms, more than {}% and {what}. Another recording on an idle machine, or more `--runs`, tells a lasting effect from an unlucky one.",
        r.tokens,
        ms(sum.ms),
        ms(lo),
        ms(hi),
        signed_pct(pct),
        ms(fused),
        SUM_TOLERANCE_PCT,
    ))
}

/// Slow attributed runs set aside and drift removed at one length, where the analysis did so.
fn attribution_notes(doc: &mut Vec<Block>, r: &OverheadRow) {
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
