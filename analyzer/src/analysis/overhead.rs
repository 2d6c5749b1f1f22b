//! Instrumentation overhead: how much slower a forward gets when it is synchronised after
//! every component (or block) than when it runs fused, per token count.

use serde::Serialize;
use trace_format::SyncMode;

use super::facts::Facts;
use super::stats::median;

/// Overhead per frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overhead {
    /// Rows, ascending frame count.
    pub rows: Vec<OverheadRow>,
}

/// One frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverheadRow {
    /// Frames.
    pub frames: u32,
    /// Tokens L.
    pub tokens: u64,
    /// Median component-synced forward, ms.
    pub component_ms: Option<f64>,
    /// Median block-synced forward, ms.
    pub block_ms: Option<f64>,
    /// Median fused forward, ms.
    pub fused_ms: Option<f64>,
    /// (component / fused - 1) * 100.
    pub component_pct: Option<f64>,
    /// (block / fused - 1) * 100.
    pub block_pct: Option<f64>,
    /// Median host time building the lazy graph in fused runs, ms (newer traces only): time in
    /// which the accelerator has nothing queued.
    pub graph_ms: Option<f64>,
}

/// Builds the overhead table.
pub fn overhead(facts: &Facts) -> Overhead {
    let mut frames: Vec<u32> = facts.runs.iter().map(|r| r.frames).collect();
    frames.sort_unstable();
    frames.dedup();
    let rows = frames
        .into_iter()
        .map(|f| {
            let of = |mode: SyncMode| {
                median(&facts.runs.iter().filter(|r| r.frames == f && r.sync == mode).map(|r| r.forward_ns / 1e6).collect::<Vec<_>>())
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
                    .filter_map(|r| r.graph_ns.map(|g| g / 1e6))
                    .collect::<Vec<_>>(),
            );
            let pct = |x: Option<f64>| match (x, n) {
                (Some(x), Some(n)) if n > 0.0 => Some((x / n - 1.0) * 100.0),
                _ => None,
            };
            OverheadRow { frames: f, tokens, component_ms: c, block_ms: b, fused_ms: n, component_pct: pct(c), block_pct: pct(b), graph_ms: graph }
        })
        .collect();
    Overhead { rows }
}
