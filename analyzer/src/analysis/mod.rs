//! The analyses. Each module turns [`Facts`] into a plain struct and never formats;
//! [`analyze`] runs them all into a [`Report`].

pub mod comparison;
pub mod facts;
pub mod memory;
pub mod overhead;
pub mod ranking;
pub mod recommend;
pub mod scaling;
pub mod stats;
pub mod tree;

use serde::Serialize;

pub use facts::{Area, Facts, Rollup};

use crate::error::{Error, Result};
use crate::load::{trace_key_values, Dataset, Skipped};

/// What to analyse.
#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    /// Component grouping.
    pub rollup: Rollup,
    /// Frame count for ranking and distribution (largest when `None`).
    pub frames: Option<u32>,
    /// Comparison, when grouping by a key.
    pub compare: Option<comparison::CompareOptions>,
}

/// Where the data came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inputs {
    /// Trace files analysed.
    pub files: Vec<String>,
    /// Files skipped, with reasons.
    pub skipped: Vec<Skipped>,
    /// Load warnings.
    pub warnings: Vec<String>,
    /// Runs analysed.
    pub runs: usize,
    /// Events analysed.
    pub events: usize,
    /// Machines (`machine` of each trace), distinct.
    pub machines: Vec<String>,
    /// Recorder command lines, distinct.
    pub commands: Vec<String>,
    /// Backends, dtypes and presets seen, distinct (`backend/dtype/preset`).
    pub setups: Vec<String>,
    /// Rollup used.
    pub rollup: Rollup,
}

/// Every analysis of one invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Inputs.
    pub inputs: Inputs,
    /// Ranking (absent without component-synced runs).
    pub ranking: Option<ranking::Ranking>,
    /// Distribution tree.
    pub distribution: Option<tree::Distribution>,
    /// Scaling table and fits.
    pub scaling: scaling::Scaling,
    /// Instrumentation overhead.
    pub overhead: overhead::Overhead,
    /// Memory.
    pub memory: memory::Memory,
    /// Comparison, when asked for.
    pub comparison: Option<comparison::Comparison>,
    /// Recommendations, largest saving first.
    pub recommendations: Vec<recommend::Recommendation>,
}

/// Runs every analysis.
pub fn analyze(ds: &Dataset, options: &AnalyzeOptions) -> Result<Report> {
    let fine = Facts::from_dataset(ds)?;
    analyze_facts(ds, &fine, options)
}

/// Runs every analysis on facts already read from `ds`.
pub fn analyze_facts(ds: &Dataset, fine: &Facts, options: &AnalyzeOptions) -> Result<Report> {
    let facts = fine.rolled_up(options.rollup);
    if let Some(f) = options.frames {
        if !facts.runs.iter().any(|r| r.frames == f) {
            return Err(Error::Invalid(format!("--frames {f}: no run has {f} frames")));
        }
    }
    let ranking = ranking::rank(&facts, options.frames);
    let distribution = tree::distribution(&facts, options.frames);
    let scaling = scaling::scaling(&facts);
    let overhead = overhead::overhead(&facts);
    let memory = memory::memory(&facts);
    let comparison = match &options.compare {
        Some(c) => Some(compare(ds, &facts, c)?),
        None => None,
    };
    // Recommendations always look at the fine components (the buckets blur bound and caching).
    let fine_ranking = if options.rollup == Rollup::Fine { ranking.clone() } else { ranking::rank(fine, options.frames) };
    let fine_scaling = if options.rollup == Rollup::Fine { None } else { Some(scaling::scaling(fine)) };
    let recommendations = recommend::recommend(
        fine_ranking.as_ref(),
        Some(fine_scaling.as_ref().unwrap_or(&scaling)),
        Some(&overhead),
        comparison.as_ref(),
    );
    Ok(Report { inputs: inputs(ds, &facts, options.rollup), ranking, distribution, scaling, overhead, memory, comparison, recommendations })
}

/// Compares groups of runs by a metadata key.
pub fn compare(ds: &Dataset, facts: &Facts, options: &comparison::CompareOptions) -> Result<comparison::Comparison> {
    let trace_values = match options.key.as_str() {
        "variant" | "sync" | "frames" => None,
        key => Some(trace_key_values(&ds.traces, key)?),
    };
    let groups = comparison::run_groups(facts, &options.key, trace_values.as_deref());
    comparison::compare(facts, &groups, options).map_err(Error::Invalid)
}

fn inputs(ds: &Dataset, facts: &Facts, rollup: Rollup) -> Inputs {
    let distinct = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        v.retain(|s| !s.is_empty());
        v
    };
    Inputs {
        files: ds.trace_info.iter().map(|t| t.file.clone()).collect(),
        skipped: ds.skipped.clone(),
        warnings: ds.warnings.clone(),
        runs: facts.runs.len(),
        events: ds.event_count(),
        machines: distinct(ds.trace_info.iter().map(|t| crate::load::machine_of(&t.metadata)).collect()),
        commands: distinct(ds.trace_info.iter().map(|t| t.metadata.command_line.clone()).collect()),
        setups: distinct(
            ds.trace_info
                .iter()
                .map(|t| format!("{}/{}/{}", t.metadata.backend, t.metadata.dtype, t.metadata.preset))
                .collect(),
        ),
        rollup,
    }
}
