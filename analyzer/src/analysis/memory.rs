//! Memory: MLX active and peak memory of every run, and a summary per frame count.

use serde::Serialize;
use trace_format::SyncMode;

use super::facts::Facts;
use super::stats::median;

/// Memory per run and per frame count.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Memory {
    /// Every run.
    pub(crate) runs: Vec<MemoryRun>,
    /// Per frame count: median active, largest peak.
    pub(crate) by_frames: Vec<MemorySummary>,
}

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MemoryRun {
    /// Trace file.
    pub(crate) file: String,
    /// Run index in the trace.
    pub(crate) run: u32,
    /// Variant.
    pub(crate) variant: String,
    /// Sync mode.
    pub(crate) sync: SyncMode,
    /// Frames.
    pub(crate) frames: u32,
    /// Tokens.
    pub(crate) tokens: u64,
    /// Active memory after the forward, bytes.
    pub(crate) active_bytes: u64,
    /// Peak memory during the forward, bytes.
    pub(crate) peak_bytes: u64,
}

/// One frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MemorySummary {
    /// Frames.
    pub(crate) frames: u32,
    /// Tokens.
    pub(crate) tokens: u64,
    /// Runs.
    pub(crate) runs: usize,
    /// Median active bytes.
    pub(crate) active_median_bytes: f64,
    /// Largest peak bytes.
    pub(crate) peak_max_bytes: u64,
}

/// Builds the memory tables.
pub(crate) fn memory(facts: &Facts) -> Memory {
    // Perturbed attribution runs do extra work with extra memory: only their plain references
    // count as forwards here.
    let plain = |r: &&super::facts::RunFacts| r.perturbation.as_ref().is_none_or(|p| p.kind == trace_format::PerturbKind::Reference);
    let runs: Vec<MemoryRun> = facts
        .runs
        .iter()
        .filter(plain)
        .map(|r| MemoryRun {
            file: facts.traces.get(r.trace_id as usize).map(|t| t.file.clone()).unwrap_or_default(),
            run: r.run,
            variant: r.variant.clone(),
            sync: r.sync,
            frames: r.frames,
            tokens: r.tokens,
            active_bytes: r.active_memory_bytes,
            peak_bytes: r.peak_memory_bytes,
        })
        .collect();
    let mut frames: Vec<u32> = runs.iter().map(|r| r.frames).collect();
    frames.sort_unstable();
    frames.dedup();
    let by_frames = frames
        .into_iter()
        .map(|f| {
            let rs: Vec<&MemoryRun> = runs.iter().filter(|r| r.frames == f).collect();
            MemorySummary {
                frames: f,
                tokens: median(&rs.iter().map(|r| r.tokens as f64).collect::<Vec<_>>()).unwrap_or(0.0).round() as u64,
                runs: rs.len(),
                active_median_bytes: median(&rs.iter().map(|r| r.active_bytes as f64).collect::<Vec<_>>()).unwrap_or(0.0),
                peak_max_bytes: rs.iter().map(|r| r.peak_bytes).max().unwrap_or(0),
            }
        })
        .collect();
    Memory { runs, by_frames }
}
