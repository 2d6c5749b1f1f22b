//! Instrumentation overhead and each method's sum against the fused forward, with the
//! attribution's warnings (a sum outside its interval, slow runs set aside, drift removed).

use crate::analysis::attribution::{Additivity, AdditivityVerdict, ExcessModel, FreshMemory, FreshMemoryVerdict};
use crate::analysis::overhead::{Overhead, OverheadRow, SumVerdict, SUM_TOLERANCE_PCT};
use crate::units::{ms, pct, signed_pct, thousands};

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
    let costlier = r.attributed_additivity.is_some_and(|a| a.verdict == AdditivityVerdict::CostlierWithMore);
    let what = match verdict {
        SumVerdict::Agrees | SumVerdict::Close => return None,
        SumVerdict::Exceeds if costlier => "outside the interval: the duplicated work cost more than the forward's own, and the additivity check below measured why: a copy costs more the more copies there are",
        SumVerdict::Exceeds => "outside the interval: the duplicated work cost more than the forward's own (possible causes: memory or cache pressure of the copies, interference while they ran), so the attributed costs at this length are too high by that much together",
        SumVerdict::FallsShort => "outside the interval: part of the forward is in no component, or the copies overlapped with other work",
    };
    Some(format!(
        "At {} tokens the attributed costs sum to {} ms ({} to {}), {} against the set's fused forward of {} ms, more than {}% and {what}. Another recording on an idle machine, or a longer `--max-time`, tells a lasting effect from an unlucky one.",
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
    if let (Some(a), Some(fused)) = (r.attributed_additivity, r.attributed_fused_ms) {
        let mut note = additivity_note(r.tokens, &a, fused);
        // Where the sum misses its fused forward beyond the noise, what the check says of why.
        if let (Some(SumVerdict::Close | SumVerdict::Exceeds | SumVerdict::FallsShort), Some(sum)) = (r.attributed_sum_verdict, r.attributed_sum) {
            note.push(' ');
            note.push_str(&explanations_note(&a, sum.ms - fused));
        }
        doc.push(Block::Paragraph(note));
    }
    if let (Some(m), Some(fused)) = (r.attributed_fresh_memory, r.attributed_fused_ms) {
        doc.push(Block::Paragraph(fresh_memory_note(r.tokens, &m, fused, r.attributed_sum.map(|s| s.ms))));
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

/// What the runs' page faults say of the copies' memory at one length (the analysis's
/// [`FreshMemoryVerdict`]).
fn fresh_memory_note(tokens: u64, m: &FreshMemory, fused: f64, sum: Option<f64>) -> String {
    let count = |v: f64| {
        let text = thousands(v.abs().round() as u64);
        if v <= -0.5 { format!("-{text}") } else { text }
    };
    let interval = m.extra_faults_ci95.map_or_else(String::new, |[lo, hi]| format!(" (extra faults {} to {})", count(lo), count(hi)));
    let faults = count(m.reference_faults);
    let plural = if faults == "1" { "" } else { "s" };
    // The interval stays signed; the point estimate reads as "more" or "fewer".
    let extra = format!("{} {}", count(m.extra_faults.abs()), if m.extra_faults <= -0.5 { "fewer" } else { "more" });
    let head = format!(
        "At {tokens} tokens a plain forward took {faults} page fault{plural} (fresh pages from the OS). Applied to the runs' fault counts instead of their times, the cost formula finds {extra} per forward in the attributed costs{interval}",
    );
    let time = match (m.extra_ms, m.page_fault_ns) {
        (Some(t), Some(ns)) => format!(": at the calibrated {:.2} µs per fault, {} ms ({} of the fused forward)", ns / 1e3, ms(t), pct(t.abs() / fused)),
        _ => String::new(),
    };
    let net = |t: f64| sum.map_or_else(String::new, |s| format!(" Without that time the attributed sum would be {} ms, {} against the fused forward.", ms(s - t), signed_pct(((s - t) / fused - 1.0) * 100.0)));
    match (m.verdict, m.extra_ms) {
        (FreshMemoryVerdict::FreshCopies, Some(t)) => format!(
            "{head}{time}. The copies took fresh memory where the components' own outputs reuse theirs, and the costs charge that time to the components: a measured non-additivity of the method (docs/attribution.md).{}",
            net(t)
        ),
        (FreshMemoryVerdict::FewerFaults, Some(t)) => format!("{head}{time}. The attributed runs faulted less than the plain forward, so the costs lack that time.{}", net(t)),
        (FreshMemoryVerdict::Reused, _) => format!("{head}{time}. The copies reused memory as the forward does."),
        _ => format!("{head}{time}; too few runs, or no calibrated cost of a fault, to size it."),
    }
}

/// What the additivity check of one length found (the analysis's [`AdditivityVerdict`]).
fn additivity_note(tokens: u64, a: &Additivity, fused: f64) -> String {
    let [k1, k2] = a.copies;
    let [measured, all] = a.components;
    let interval = |e: &crate::analysis::attribution::Estimate| e.ci95.map_or_else(String::new, |[lo, hi]| format!(" ({} to {})", ms(lo), ms(hi)));
    let of_fused = |v: f64| signed_pct((v / fused - 1.0) * 100.0);
    let difference = format!("{} ms{}", ms(a.difference.ms), interval(&a.difference));
    let head = format!("At {tokens} tokens the rounds duplicated {measured} of {all} components {k1} and {k2} times");
    match a.verdict {
        AdditivityVerdict::Unknown => format!("{head}, to check that a copy costs the same however many there are; a level has too few rounds for an interval (their costs differ by {difference})."),
        AdditivityVerdict::Additive => format!(
            "{head}: a copy costs the same at both within the noise (the costs at {k2} copies minus those at {k1}: {difference}), so the copies are additive here to that precision. The costs above pool both levels."
        ),
        AdditivityVerdict::CostlierWithMore | AdditivityVerdict::CheaperWithMore => {
            let more_or_less = if a.verdict == AdditivityVerdict::CostlierWithMore { "more" } else { "less" };
            format!(
                "{head}, and the copies are not additive here: a copy costs {more_or_less} when there are {k2} than when there are {k1}, by {difference} summed over those components ({} of the fused forward). The costs above pool both levels and carry this dependence. If a copy's cost changes linearly with the number of copies, the costs at no copies (each component's line through its two levels, at zero) sum to {} ms{}, {} against the set's fused forward of {} ms.",
                signed_pct(a.difference.ms / fused * 100.0),
                ms(a.extrapolated_sum.ms),
                interval(&a.extrapolated_sum),
                of_fused(a.extrapolated_sum.ms),
                ms(fused),
            )
        }
    }
}

/// The explanations of a sum's excess that the additivity check contradicts or not.
fn explanations_note(a: &Additivity, excess: f64) -> String {
    let Some(explanations) = a.explanations else {
        return String::new();
    };
    let parts: Vec<String> = explanations
        .iter()
        .map(|e| {
            let what = match e.model {
                ExcessModel::FixedPerForward => "a fixed cost per duplicated forward",
                ExcessModel::GrowingPerCopy => "an extra cost per copy growing with the copies",
                ExcessModel::ConstantPerCopy => "a constant extra cost per copy",
            };
            let predicted = if e.predicted_ms == 0.0 { "0".to_string() } else { ms(e.predicted_ms) };
            format!("{what} predicts a difference of {predicted} ms ({})", if e.contradicted { "contradicted" } else { "inconclusive" })
        })
        .collect();
    format!(
        "Of three explanations of the sum's {}{} ms against the fused forward, {}: the difference's interval decides each, and a constant extra cost per copy cannot be told from the components' own costs by any number of copies.",
        if excess >= 0.0 { "+" } else { "" },
        ms(excess),
        parts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fresh_memory_note_sizes_the_faults_and_names_the_non_additivity() {
        // The benchmark's default-cache numbers: 55,028 extra faults per forward at 1.6 µs are
        // 88.04 ms, 5.1% of a 1,723.8 ms forward; the sum of 1,838.2 ms less them is 1,750.2 ms,
        // +1.5%.
        let m = FreshMemory {
            reference_faults: 16_748.0,
            extra_faults: 55_028.0,
            extra_faults_ci95: Some([50_000.0, 60_000.0]),
            page_fault_ns: Some(1600.0),
            extra_ms: Some(55_028.0 * 1600.0 / 1e6),
            verdict: FreshMemoryVerdict::FreshCopies,
        };
        let note = fresh_memory_note(780, &m, 1723.8, Some(1838.2));
        for part in ["took 16,748 page faults", "finds 55,028 more per forward in the attributed costs (extra faults 50,000 to 60,000)", "1.60 µs per fault, 88.0 ms (5.1% of the fused forward)", "measured non-additivity", "would be 1750 ms, +1.5% against"] {
            assert!(note.contains(part), "{part:?} not in {note}");
        }
        // Reused: no sum without the faults' time, no non-additivity.
        let reused = FreshMemory { extra_faults: 0.36, extra_faults_ci95: Some([-0.08, 0.79]), extra_ms: Some(0.36 * 1475.0 / 1e6), verdict: FreshMemoryVerdict::Reused, ..m };
        let note = fresh_memory_note(780, &reused, 1697.3, Some(1690.1));
        assert!(note.contains("more per forward in the attributed costs (extra faults 0 to 1)") && note.contains("(<0.1% of the fused forward)"), "{note}");
        assert!(note.ends_with("The copies reused memory as the forward does.") && !note.contains("would be"), "{note}");
        // The H100 recording's numbers: one fault per plain forward, 50 fewer in the duplicates.
        let fewer = FreshMemory { reference_faults: 1.0, extra_faults: -50.0, extra_faults_ci95: Some([-263.0, 162.0]), extra_ms: Some(-50.0 * 1475.0 / 1e6), ..reused };
        let note = fresh_memory_note(3120, &fewer, 231.0, Some(232.0));
        // The share is of the time's size, so a tiny negative time reads "<0.1%", not "0.0%".
        for part in ["took 1 page fault (", "finds 50 fewer per forward in the attributed costs (extra faults -263 to 162)", "-0.074 ms (<0.1% of the fused forward)"] {
            assert!(note.contains(part), "{part:?} not in {note}");
        }
    }
}
