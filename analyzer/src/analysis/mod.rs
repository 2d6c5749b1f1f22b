//! The analyses. Each module turns [`Facts`] into a plain struct and never formats;
//! [`analyze`] runs them all into a [`Report`].

pub mod attribution;
pub mod comparison;
pub mod facts;
pub mod memory;
pub mod overhead;
pub mod ranking;
pub mod recommend;
pub mod scaling;
pub mod seed;
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
    /// Variant of the single-variant analyses (ranking, tree, scaling, overhead, memory);
    /// default: `baseline` when the traces hold it, else every run.
    pub variant: Option<String>,
    /// Report title (default: `MLX forward pass profile`).
    pub title: Option<String>,
    /// Render only the summary, the comparison and how it was run.
    pub comparison_only: bool,
}

/// Default report title.
pub const DEFAULT_TITLE: &str = "MLX forward pass profile";

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
    /// Variant shown by the single-variant analyses (`None`: all runs).
    pub variant: Option<String>,
    /// Every variant in the traces, sorted.
    pub variants: Vec<String>,
}

/// Every analysis of one invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Title.
    pub title: String,
    /// Only the summary, the comparison and how it was run are rendered.
    pub comparison_only: bool,
    /// Inputs.
    pub inputs: Inputs,
    /// Ranking (absent without component-synced or attributed runs).
    pub ranking: Option<ranking::Ranking>,
    /// Attribution sets of the shown variant (empty without attributed runs), in the rollup.
    pub attribution: Vec<attribution::AttributedSet>,
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
    /// Variants against `baseline`, whenever the traces hold a baseline and other variants.
    pub variants: Option<comparison::Comparison>,
    /// The seed report's claims against this data.
    pub seed_claims: seed::SeedClaims,
    /// Recommendations, largest saving first.
    pub recommendations: Vec<recommend::Recommendation>,
}

/// Runs every analysis.
pub fn analyze(ds: &Dataset, options: &AnalyzeOptions) -> Result<Report> {
    let fine = Facts::from_dataset(ds)?;
    analyze_facts(ds, &fine, options)
}

/// Runs every analysis on facts already read from `ds`.
pub fn analyze_facts(ds: &Dataset, all: &Facts, options: &AnalyzeOptions) -> Result<Report> {
    let variants = all.variants();
    let shown = match &options.variant {
        Some(v) if variants.contains(v) => Some(v.clone()),
        Some(v) => return Err(Error::Invalid(format!("--variant {v:?}: no run has this variant; variants: {}", variants.join(", ")))),
        None if variants.iter().any(|v| v == "baseline") && variants.len() > 1 => Some("baseline".to_string()),
        None if variants.len() == 1 => Some(variants[0].clone()),
        None => None,
    };
    let fine_owned;
    let fine = match &shown {
        Some(v) if variants.len() > 1 => {
            fine_owned = all.only_variant(v);
            &fine_owned
        }
        _ => all,
    };
    let facts = fine.rolled_up(options.rollup);
    if let Some(f) = options.frames {
        if !facts.runs.iter().any(|r| r.frames == f) {
            return Err(Error::Invalid(format!("--frames {f}: no run has {f} frames")));
        }
    }
    let ranking = ranking::rank(&facts, options.frames);
    let distribution = tree::distribution(&facts, options.frames);
    let scaling = scaling::scaling(&facts);
    let overhead = overhead::overhead(fine);
    let attribution = attribution::attribution(&facts);
    let memory = memory::memory(&facts);
    // Variants against the baseline, from every run (the fine names, whatever the rollup).
    let variant_comparison = if variants.len() > 1 && variants.iter().any(|v| v == "baseline") {
        let base = options.compare.clone().unwrap_or_default();
        let opts = comparison::CompareOptions { key: "variant".into(), baseline: None, frames: None, ..base };
        let groups = comparison::run_groups(all, "variant", None);
        comparison::compare(all, &groups, &opts).ok()
    } else {
        None
    };
    let comparison = match &options.compare {
        // Grouped by variant: every run, in the chosen rollup.
        Some(c) if c.key == "variant" => Some(compare(ds, &all.rolled_up(options.rollup), c)?),
        // Grouped by anything else: the shown variant's runs only.
        Some(c) => Some(compare(ds, &facts, c)?),
        None => None,
    };
    // Recommendations always look at the fine components (the buckets blur bound and caching).
    let fine_ranking = if options.rollup == Rollup::Fine { ranking.clone() } else { ranking::rank(fine, options.frames) };
    let fine_scaling = if options.rollup == Rollup::Fine { None } else { Some(scaling::scaling(fine)) };
    let recommendations = recommend::recommend_measured(
        fine_ranking.as_ref(),
        Some(fine_scaling.as_ref().unwrap_or(&scaling)),
        Some(&overhead),
        comparison.as_ref().filter(|c| c.key != "variant"),
        variant_comparison.as_ref(),
    );
    let seed_claims = seed::seed_claims(fine);
    let mut inputs = inputs(ds, &facts, options.rollup);
    inputs.variant = shown;
    inputs.variants = variants;
    Ok(Report {
        title: options.title.clone().unwrap_or_else(|| DEFAULT_TITLE.to_string()),
        comparison_only: options.comparison_only && options.compare.is_some(),
        inputs,
        ranking,
        attribution,
        distribution,
        scaling,
        overhead,
        memory,
        comparison,
        variants: variant_comparison,
        recommendations,
        seed_claims,
    })
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
        files: ds.trace_info.iter().map(|t| base_name(&t.file)).collect(),
        skipped: ds.skipped.iter().map(|s| Skipped { file: base_name(&s.file), reason: strip_dirs(&s.reason) }).collect(),
        warnings: ds.warnings.iter().map(|w| strip_dirs(w)).collect(),
        runs: facts.runs.len(),
        events: ds.event_count(),
        machines: distinct(ds.trace_info.iter().map(|t| crate::load::machine_of(&t.metadata)).collect()),
        commands: distinct(ds.trace_info.iter().map(|t| strip_dirs(&t.metadata.command_line)).collect()),
        setups: distinct(
            ds.trace_info
                .iter()
                .map(|t| format!("{}/{}/{}", t.metadata.backend, t.metadata.dtype, t.metadata.preset))
                .collect(),
        ),
        rollup,
        variant: None,
        variants: Vec::new(),
    }
}

/// The last path component of a file name (reports name files without their directories, so
/// they read the same wherever the traces lie).
pub fn base_name(file: &str) -> String {
    file.rsplit(['/', '\\']).next().unwrap_or(file).to_string()
}

/// Every whitespace-separated word that is a path (holds a `/`) reduced to its last component,
/// e.g. `./mlx-record --out /data/x.msgpack:` -> `mlx-record --out x.msgpack:`. Words such as
/// component names (`block/ffn/up`) are paths too by this rule, so it is only applied to file
/// names, warnings and recorder command lines.
pub fn strip_dirs(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            let looks_like_path = w.starts_with('/') || w.starts_with("./") || w.starts_with("../") || w.starts_with('~') || w.contains(".msgpack");
            if looks_like_path && w.contains('/') { base_name(w) } else { w.to_string() }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
