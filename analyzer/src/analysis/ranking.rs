//! Ranking: where the time goes, per component, at one frame count of the component-synced
//! runs: share, ms per block and per forward, achieved TFLOP/s and GB/s against the trace's
//! calibrated ceilings, compute- or memory-bound, and a priority from the time that could be
//! saved.

use serde::Serialize;
use trace_format::SyncMode;

use super::facts::{Area, Facts, RunFacts};
use super::stats::{median, median_in_place};

/// Compute- or memory-bound.
///
/// Achieved FLOP/s over the calibrated matmul rate, divided by achieved bytes/s over the
/// calibrated bandwidth, equals the arithmetic intensity over the ridge point, so both
/// criteria give the same answer: compute-bound when intensity >= ridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// Intensity at or above the ridge point.
    Compute,
    /// Intensity below the ridge point.
    Memory,
    /// No calibration or no FLOP/byte counts.
    Unknown,
}

impl Bound {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Compute => "compute",
            Bound::Memory => "memory",
            Bound::Unknown => "unknown",
        }
    }
}

/// How much attention a component deserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Priority {
    /// Could save at least 10% of the forward.
    High,
    /// Could save 3-10%.
    Medium,
    /// Less.
    Low,
}

impl Priority {
    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "HIGH",
            Priority::Medium => "MEDIUM",
            Priority::Low => "LOW",
        }
    }
}

/// Medians over the component-synced runs of one frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Frame count.
    pub frames: u32,
    /// Tokens at that frame count (median over runs).
    pub tokens: u64,
    /// Runs used.
    pub runs: usize,
    /// Blocks per forward (median over runs).
    pub blocks: u32,
    /// One entry per component seen.
    pub comps: Vec<SnapComp>,
}

/// One component in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapComp {
    /// Index into the facts' names.
    pub component: u32,
    /// Name.
    pub name: String,
    /// Area.
    pub area: Area,
    /// Median total ns per forward.
    pub total_ns: f64,
    /// Median invocations per forward.
    pub calls: f64,
    /// Median achieved FLOP/s (None without FLOP counts).
    pub flops_per_s: Option<f64>,
    /// Median achieved bytes/s.
    pub bytes_per_s: Option<f64>,
    /// Median fraction of the calibrated matmul rate.
    pub flops_util: Option<f64>,
    /// Median fraction of the calibrated bandwidth.
    pub bytes_util: Option<f64>,
    /// FLOPs per byte.
    pub intensity: Option<f64>,
    /// Calibrated FLOP/s over calibrated bytes/s.
    pub ridge: Option<f64>,
}

/// Component-synced runs at `frames` (all frames when `None`).
pub fn component_runs(facts: &Facts, frames: Option<u32>) -> impl Iterator<Item = &RunFacts> {
    facts.runs.iter().filter(move |r| r.sync == SyncMode::Component && frames.is_none_or(|f| r.frames == f))
}

/// The largest frame count among component-synced runs.
pub fn default_frames(facts: &Facts) -> Option<u32> {
    component_runs(facts, None).map(|r| r.frames).max()
}

/// Frame counts among component-synced runs, ascending.
pub fn frame_counts(facts: &Facts) -> Vec<u32> {
    let mut f: Vec<u32> = component_runs(facts, None).map(|r| r.frames).collect();
    f.sort_unstable();
    f.dedup();
    f
}

/// Builds the snapshot at `frames`; `None` if no component-synced run has that frame count.
pub fn snapshot(facts: &Facts, frames: u32) -> Option<Snapshot> {
    let runs: Vec<&RunFacts> = component_runs(facts, Some(frames)).collect();
    if runs.is_empty() {
        return None;
    }
    let tokens = median(&runs.iter().map(|r| r.tokens as f64).collect::<Vec<_>>())?.round() as u64;
    let blocks = median(&runs.iter().map(|r| facts.blocks_of(r) as f64).collect::<Vec<_>>())?.round() as u32;
    // One pass over the runs into per-component sample vectors.
    #[derive(Default)]
    struct Samples {
        seen: bool,
        total: Vec<f64>,
        calls: Vec<f64>,
        fps: Vec<f64>,
        bps: Vec<f64>,
        fu: Vec<f64>,
        bu: Vec<f64>,
        ridge: Vec<f64>,
        flops: f64,
        bytes: f64,
    }
    let mut per: Vec<Samples> = (0..facts.names.len()).map(|_| Samples::default()).collect();
    for r in &runs {
        let trace = &facts.traces[r.trace_id as usize];
        for c in &r.comps {
            let Some(s) = per.get_mut(c.component as usize) else { continue };
            s.seen = true;
            s.total.push(c.total_ns);
            s.calls.push(c.calls as f64);
            s.flops += c.flops;
            s.bytes += c.bytes;
            if c.total_ns > 0.0 && c.flops > 0.0 {
                let rate = c.flops / (c.total_ns * 1e-9);
                s.fps.push(rate);
                if let Some(peak) = trace.matmul_flops_per_s {
                    s.fu.push(rate / peak);
                }
            }
            if c.total_ns > 0.0 && c.bytes > 0.0 {
                let rate = c.bytes / (c.total_ns * 1e-9);
                s.bps.push(rate);
                if let Some(peak) = trace.bandwidth_bytes_per_s {
                    s.bu.push(rate / peak);
                }
            }
            if let (Some(f), Some(b)) = (trace.matmul_flops_per_s, trace.bandwidth_bytes_per_s) {
                s.ridge.push(f / b);
            }
        }
    }
    let med = |v: &mut Vec<f64>| if v.is_empty() { None } else { Some(median_in_place(v)) };
    let comps = per
        .iter_mut()
        .enumerate()
        .filter(|(_, s)| s.seen)
        .map(|(id, s)| SnapComp {
            component: id as u32,
            name: facts.names[id].clone(),
            area: facts.areas[id],
            total_ns: med(&mut s.total).unwrap_or(0.0),
            calls: med(&mut s.calls).unwrap_or(0.0),
            flops_per_s: med(&mut s.fps),
            bytes_per_s: med(&mut s.bps),
            flops_util: med(&mut s.fu),
            bytes_util: med(&mut s.bu),
            intensity: (s.flops > 0.0 && s.bytes > 0.0).then(|| s.flops / s.bytes),
            ridge: med(&mut s.ridge),
        })
        .collect();
    Some(Snapshot { frames, tokens, runs: runs.len(), blocks, comps })
}

/// The ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranking {
    /// Frame count ranked.
    pub frames: u32,
    /// Tokens at that frame count.
    pub tokens: u64,
    /// Component-synced runs used.
    pub runs: usize,
    /// Blocks per forward.
    pub blocks: u32,
    /// Sum of the components' median times, ms (the component-synced forward, without gaps).
    pub total_ms: f64,
    /// Rows, largest share first.
    pub rows: Vec<RankRow>,
}

/// One component of the ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankRow {
    /// Component or bucket.
    pub name: String,
    /// Inside the blocks or overhead.
    pub area: Area,
    /// Share of the summed component time, 0..1.
    pub share: f64,
    /// Smallest share over all frame counts.
    pub share_min: f64,
    /// Largest share over all frame counts.
    pub share_max: f64,
    /// ms per block (block components only).
    pub ms_per_block: Option<f64>,
    /// ms per forward.
    pub ms_per_forward: f64,
    /// Achieved TFLOP/s.
    pub tflops: Option<f64>,
    /// Achieved GB/s.
    pub gbps: Option<f64>,
    /// Achieved / calibrated matmul rate, 0..1.
    pub flops_util: Option<f64>,
    /// Achieved / calibrated bandwidth, 0..1.
    pub bytes_util: Option<f64>,
    /// FLOPs per byte.
    pub intensity: Option<f64>,
    /// Ridge point, FLOPs per byte.
    pub ridge: Option<f64>,
    /// Compute or memory.
    pub bound: Bound,
    /// Utilisation of the bounding resource, 0..1.
    pub bound_util: Option<f64>,
    /// ms per forward that reaching the bounding ceiling would save.
    pub savable_ms: f64,
    /// Priority from the savable share of the forward.
    pub priority: Priority,
}

/// Ranks components at `frames` (the largest frame count when `None`). `None` when there are
/// no component-synced runs.
pub fn rank(facts: &Facts, frames: Option<u32>) -> Option<Ranking> {
    let frames = frames.or_else(|| default_frames(facts))?;
    let snap = snapshot(facts, frames)?;
    let total: f64 = snap.comps.iter().map(|c| c.total_ns).sum();
    if total <= 0.0 {
        return None;
    }
    // Share range over every frame count.
    let others: Vec<Snapshot> = frame_counts(facts).into_iter().filter_map(|f| snapshot(facts, f)).collect();
    let mut rows: Vec<RankRow> = snap
        .comps
        .iter()
        .map(|c| {
            let share = c.total_ns / total;
            let shares: Vec<f64> = others
                .iter()
                .filter_map(|s| {
                    let t: f64 = s.comps.iter().map(|x| x.total_ns).sum();
                    s.comps.iter().find(|x| x.component == c.component).map(|x| x.total_ns / t)
                })
                .collect();
            let bound = match (c.intensity, c.ridge) {
                (Some(i), Some(r)) if i >= r => Bound::Compute,
                (Some(_), Some(_)) => Bound::Memory,
                _ => Bound::Unknown,
            };
            let bound_util = match bound {
                Bound::Compute => c.flops_util,
                Bound::Memory => c.bytes_util,
                Bound::Unknown => None,
            };
            let ms = c.total_ns / 1e6;
            let savable_ms = bound_util.map_or(0.0, |u| ms * (1.0 - u.min(1.0)));
            let savable_share = savable_ms * 1e6 / total;
            let priority = if bound_util.is_some() {
                if savable_share >= 0.10 {
                    Priority::High
                } else if savable_share >= 0.03 {
                    Priority::Medium
                } else {
                    Priority::Low
                }
            } else if share >= 0.20 {
                Priority::High
            } else if share >= 0.05 {
                Priority::Medium
            } else {
                Priority::Low
            };
            RankRow {
                name: c.name.clone(),
                area: c.area,
                share,
                share_min: shares.iter().copied().fold(share, f64::min),
                share_max: shares.iter().copied().fold(share, f64::max),
                ms_per_block: (c.area == Area::Blocks && snap.blocks > 0).then(|| ms / snap.blocks as f64),
                ms_per_forward: ms,
                tflops: c.flops_per_s.map(|v| v / 1e12),
                gbps: c.bytes_per_s.map(|v| v / 1e9),
                flops_util: c.flops_util,
                bytes_util: c.bytes_util,
                intensity: c.intensity,
                ridge: c.ridge,
                bound,
                bound_util,
                savable_ms,
                priority,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.share.total_cmp(&a.share).then_with(|| a.name.cmp(&b.name)));
    Some(Ranking { frames, tokens: snap.tokens, runs: snap.runs, blocks: snap.blocks, total_ms: total / 1e6, rows })
}
