//! Instrumentation overhead: how much slower a forward gets when it is synchronised after
//! every component (or block) than when it runs fused, and how close each method's sum of
//! component times comes to the fused forward, per token count.

use serde::Serialize;
use trace_format::SyncMode;

use super::attribution::{self, Estimate};
use super::facts::Facts;
use super::stats::median;

/// Overhead per frame count.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Overhead {
    /// Rows, ascending frame count.
    pub(crate) rows: Vec<OverheadRow>,
}

/// One frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct OverheadRow {
    /// Frames.
    pub(crate) frames: u32,
    /// Tokens L.
    pub(crate) tokens: u64,
    /// Median component-synced forward, ms.
    pub(crate) component_ms: Option<f64>,
    /// Median block-synced forward, ms.
    pub(crate) block_ms: Option<f64>,
    /// Median fused forward, ms.
    pub(crate) fused_ms: Option<f64>,
    /// (component / fused - 1) * 100.
    pub(crate) component_pct: Option<f64>,
    /// (block / fused - 1) * 100.
    pub(crate) block_pct: Option<f64>,
    /// Median host time building the lazy graph in fused runs, ms (newer traces only): time in
    /// which the accelerator has nothing queued.
    pub(crate) graph_ms: Option<f64>,
    /// Sum of the component-synced runs' component times (median over runs), ms: what the
    /// synced method accounts for.
    pub(crate) synced_sum_ms: Option<f64>,
    /// (synced sum / fused - 1) * 100.
    pub(crate) synced_sum_pct: Option<f64>,
    /// Sum of the attributed component costs, ms, with its 95% interval.
    pub(crate) attributed_sum: Option<Estimate>,
    /// Mean plain fused forward of the attribution set, ms (its own reference).
    pub(crate) attributed_fused_ms: Option<f64>,
    /// (attributed sum / its fused forward - 1) * 100.
    pub(crate) attributed_sum_pct: Option<f64>,
    /// Attributed: fused forward minus the sum, ms (the unattributed rest).
    pub(crate) attributed_rest_ms: Option<f64>,
    /// Attributed, one set with an interval: whether the sum's 95% interval holds the set's
    /// fused forward.
    pub(crate) attributed_sum_verdict: Option<SumVerdict>,
    /// Attributed runs set aside as slow at this length (all sets), and their mean excess.
    pub(crate) attributed_slow_runs: usize,
    /// Mean excess of those runs over their group's typical time.
    pub(crate) attributed_slow_excess: f64,
    /// The plain forward's drift over the attributed runs (one set only).
    pub(crate) attributed_drift: Option<attribution::DriftNote>,
    /// Whether a copy costs the same at both numbers of copies the rounds cycled through (one
    /// set only, recorded with two levels).
    pub(crate) attributed_additivity: Option<attribution::Additivity>,
    /// The fresh memory (page faults) the attributed costs include (one set only, where its
    /// runs counted their faults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) attributed_fresh_memory: Option<attribution::FreshMemory>,
}

/// Whether the attributed costs account for the fused forward, within their interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SumVerdict {
    /// The interval holds the fused forward.
    Agrees,
    /// The interval misses the fused forward, but the sum is within [`SUM_TOLERANCE_PCT`] of it:
    /// a small lasting bias (cache effects of the copies, say), within what the method is
    /// checked to.
    Close,
    /// The whole interval lies above the fused forward and the sum exceeds it by more than
    /// [`SUM_TOLERANCE_PCT`]: duplicated work cost more than the original did inside the forward,
    /// so the costs are too high.
    Exceeds,
    /// The whole interval lies below the fused forward and the sum falls short by more than
    /// [`SUM_TOLERANCE_PCT`]: part of the forward is in no component, or the copies overlapped
    /// with other work.
    FallsShort,
}

/// How far (percent of the fused forward) a sum whose interval misses the fused forward may lie
/// before the report warns: the tolerance the method is checked to on the CPU.
pub(crate) const SUM_TOLERANCE_PCT: f64 = 5.0;

impl SumVerdict {
    /// The verdict for a sum `sum` with interval `[lo, hi]` against the fused forward `fused`.
    pub(crate) fn of(sum: f64, lo: f64, hi: f64, fused: f64) -> SumVerdict {
        let off = (sum / fused - 1.0) * 100.0;
        if (lo..=hi).contains(&fused) {
            SumVerdict::Agrees
        } else if off.abs() <= SUM_TOLERANCE_PCT {
            SumVerdict::Close
        } else if lo > fused {
            SumVerdict::Exceeds
        } else {
            SumVerdict::FallsShort
        }
    }
}

/// Builds the overhead table.
pub(crate) fn overhead(facts: &Facts) -> Overhead {
    let mut frames: Vec<u32> = facts.runs.iter().map(|r| r.frames).collect();
    frames.sort_unstable();
    frames.dedup();
    let rows = frames
        .into_iter()
        .map(|f| {
            let of = |mode: SyncMode| {
                median(&facts.runs.iter().filter(|r| r.frames == f && r.sync == mode).map(|r| r.forward_ns as f64 / 1e6).collect::<Vec<_>>())
            };
            let tokens = median(&facts.runs.iter().filter(|r| r.frames == f).map(|r| r.tokens as f64).collect::<Vec<_>>())
                .unwrap_or(0.0)
                .round() as u64;
            let (c, b, n) = (of(SyncMode::Component), of(SyncMode::Block), of(SyncMode::None));
            let graph = median(
                &facts
                    .runs
                    .iter()
                    .filter(|r| r.frames == f && r.sync == SyncMode::None)
                    .filter_map(|r| r.graph_ns.map(|g| g as f64 / 1e6))
                    .collect::<Vec<_>>(),
            );
            // Fused forwards: the `none` runs, else the attribution sets' references.
            let sets = attribution::sets_at(facts, f);
            let n = n.or_else(|| (!sets.is_empty()).then(|| sets.iter().map(|s| s.fused.ms).sum::<f64>() / sets.len() as f64));
            let pct = |x: Option<f64>| match (x, n) {
                (Some(x), Some(n)) if n > 0.0 => Some((x / n - 1.0) * 100.0),
                _ => None,
            };
            let synced_sum = median(
                &facts.runs.iter().filter(|r| r.frames == f && r.sync == SyncMode::Component).map(|r| facts.top_level_total_ns(r) / 1e6).collect::<Vec<_>>(),
            );
            // One set: its own sum and reference; several (traces, variants): their means, without
            // an interval.
            let (attributed_sum, attributed_fused) = match sets.as_slice() {
                [] => (None, None),
                [one] => (Some(one.sum), Some(one.fused.ms)),
                many => {
                    let m = many.len() as f64;
                    (
                        Some(Estimate { ms: many.iter().map(|s| s.sum.ms).sum::<f64>() / m, ci95: None }),
                        Some(many.iter().map(|s| s.fused.ms).sum::<f64>() / m),
                    )
                }
            };
            OverheadRow {
                frames: f,
                tokens,
                component_ms: c,
                block_ms: b,
                fused_ms: n,
                component_pct: pct(c),
                block_pct: pct(b),
                graph_ms: graph,
                synced_sum_ms: synced_sum,
                synced_sum_pct: pct(synced_sum),
                attributed_sum,
                attributed_fused_ms: attributed_fused,
                attributed_sum_pct: match (attributed_sum, attributed_fused) {
                    (Some(s), Some(t)) if t > 0.0 => Some((s.ms / t - 1.0) * 100.0),
                    _ => None,
                },
                attributed_rest_ms: attributed_sum.zip(attributed_fused).map(|(s, t)| t - s.ms),
                attributed_slow_runs: sets.iter().map(|s| s.slow_runs).sum(),
                attributed_slow_excess: {
                    let n: usize = sets.iter().map(|s| s.slow_runs).sum();
                    if n == 0 { 0.0 } else { sets.iter().map(|s| s.slow_excess * s.slow_runs as f64).sum::<f64>() / n as f64 }
                },
                attributed_drift: match sets.as_slice() {
                    [one] => one.drift,
                    _ => None,
                },
                attributed_additivity: match sets.as_slice() {
                    [one] => one.additivity,
                    _ => None,
                },
                attributed_fresh_memory: match sets.as_slice() {
                    [one] => one.fresh_memory,
                    _ => None,
                },
                attributed_sum_verdict: attributed_sum
                    .and_then(|s| s.ci95.map(|ci| (s.ms, ci)))
                    .zip(attributed_fused.filter(|t| *t > 0.0))
                    .map(|((sum, [lo, hi]), t)| SumVerdict::of(sum, lo, hi, t)),
            }
        })
        .collect();
    Overhead { rows }
}

#[cfg(test)]
mod tests {
    use super::SumVerdict;

    #[test]
    fn the_verdict_says_where_the_interval_lies() {
        // The CPU recording at +17.9%, the one at +5.1%, an H200 one at +2.0% whose narrow
        // interval misses, and one short by 12%.
        assert_eq!(SumVerdict::of(2826.0, 2517.0, 3135.0, 2398.0), SumVerdict::Exceeds);
        assert_eq!(SumVerdict::of(2438.0, 2157.0, 2719.0, 2319.0), SumVerdict::Agrees);
        assert_eq!(SumVerdict::of(725.4, 717.5, 733.3, 711.3), SumVerdict::Close);
        assert_eq!(SumVerdict::of(198.0, 180.0, 210.0, 225.7), SumVerdict::FallsShort);
        // The bounds count as inside.
        assert_eq!(SumVerdict::of(105.0, 100.0, 110.0, 110.0), SumVerdict::Agrees);
    }
}
