//! Comparison of groups of runs (by machine, variant, dtype, any metadata key): per component,
//! the ratio of median times against a baseline group with a bootstrap 95% interval; a change
//! is significant only when the interval excludes 1 and the change exceeds a noise threshold.
//! Grouped by variant, it adds output drift and the per-clip saving after one-off setup costs.

use serde::Serialize;
use trace_format::SyncMode;

use super::facts::{Area, Facts, RunFacts};
use super::stats::{bootstrap_median_ratio, median};

/// Forwards per generated clip (40 sampling steps, conditional and unconditional).
pub const FORWARDS_PER_CLIP: f64 = 80.0;

/// Name of the fused-forward row.
pub const FORWARD_ROW: &str = "forward (fused)";

/// Settings of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareOptions {
    /// The metadata key grouped by.
    pub key: String,
    /// Baseline group; default: `baseline` for variants, else the first group in sort order.
    pub baseline: Option<String>,
    /// Frame count compared; default: the largest one every group has.
    pub frames: Option<u32>,
    /// Smallest relative change counted as real (0.05: 5%).
    pub noise: f64,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Interval level.
    pub level: f64,
    /// Threads for the bootstrap (0: one per core).
    pub threads: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions { key: "machine".into(), baseline: None, frames: None, noise: 0.05, resamples: 1000, level: 0.95, threads: 0 }
    }
}

/// A comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Key grouped by.
    pub key: String,
    /// Baseline group.
    pub baseline: String,
    /// Frame count compared.
    pub frames: u32,
    /// Noise threshold used.
    pub noise: f64,
    /// Interval level.
    pub level: f64,
    /// Groups with their sizes.
    pub groups: Vec<GroupInfo>,
    /// Sampling unit of the bootstrap per compared group.
    pub units: Vec<GroupUnit>,
    /// Rows: per group (other than the baseline) and component.
    pub rows: Vec<CompareRow>,
    /// Variant details (grouping by `variant` only).
    pub variants: Vec<VariantSummary>,
}

/// Fewest traces per side for resampling whole traces instead of runs.
pub const MIN_TRACES: usize = 3;

/// What the bootstrap resampled for one group against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupUnit {
    /// Group.
    pub group: String,
    /// `trace` (per-trace medians) or `run`.
    pub unit: String,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupInfo {
    /// Value of the key.
    pub value: String,
    /// Traces.
    pub traces: usize,
    /// Runs at the compared frame count.
    pub runs: usize,
}

/// One component of one group against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareRow {
    /// Group.
    pub group: String,
    /// Component (or [`FORWARD_ROW`]).
    pub component: String,
    /// Area.
    pub area: Area,
    /// Baseline median, ms per forward.
    pub baseline_ms: f64,
    /// Group median, ms per forward.
    pub group_ms: f64,
    /// group / baseline (2: twice as slow).
    pub ratio: f64,
    /// Interval, lower end.
    pub low: f64,
    /// Interval, upper end.
    pub high: f64,
    /// Baseline samples.
    pub n_baseline: usize,
    /// Group samples.
    pub n_group: usize,
    /// Interval excludes 1 and |ratio - 1| > noise.
    pub significant: bool,
}

/// A variant against the baseline variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantSummary {
    /// Variant.
    pub variant: String,
    /// Median max relative drift.
    pub drift_max_rel: Option<f64>,
    /// Median mean relative drift.
    pub drift_mean_rel: Option<f64>,
    /// Baseline fused forward / variant fused forward.
    pub speedup: Option<f64>,
    /// Fused forward saved per forward, ms.
    pub saving_ms_per_forward: Option<f64>,
    /// One-off setup cost per clip, ms.
    pub setup_ms: f64,
    /// `80 * saving - setup`, ms per clip.
    pub saving_ms_per_clip: Option<f64>,
}

/// Group value of every run for `key`: `variant`, `sync` and `frames` are read from the run,
/// anything else from the trace (via `trace_values`, indexed by trace id).
pub fn run_groups(facts: &Facts, key: &str, trace_values: Option<&[String]>) -> Vec<String> {
    facts
        .runs
        .iter()
        .map(|r| match key {
            "variant" => r.variant.clone(),
            "sync" => r.sync.as_str().to_string(),
            "frames" => r.frames.to_string(),
            _ => trace_values.and_then(|v| v.get(r.trace_id as usize)).cloned().unwrap_or_else(|| "(none)".into()),
        })
        .collect()
}

/// Compares the groups given by `groups` (one value per run of `facts`). Errors are messages
/// for the user: one group only, unknown baseline, no common frame count.
pub fn compare(facts: &Facts, groups: &[String], options: &CompareOptions) -> Result<Comparison, String> {
    let mut values: Vec<String> = groups.to_vec();
    values.sort();
    values.dedup();
    if values.len() < 2 {
        return Err(format!(
            "--by {}: all runs share the value {:?}; a comparison needs at least two groups",
            options.key,
            values.first().cloned().unwrap_or_default()
        ));
    }
    let baseline = match &options.baseline {
        Some(b) if values.contains(b) => b.clone(),
        Some(b) => return Err(format!("--baseline {b:?} is not a value of {}; values: {}", options.key, values.join(", "))),
        None if options.key == "variant" && values.iter().any(|v| v == "baseline") => "baseline".into(),
        None => values[0].clone(),
    };
    let in_group = |g: &str| -> Vec<&RunFacts> { facts.runs.iter().zip(groups).filter(|(_, v)| *v == g).map(|(r, _)| r).collect() };
    let frames = match options.frames {
        Some(f) => f,
        None => {
            let mut common: Option<Vec<u32>> = None;
            for v in &values {
                let mut f: Vec<u32> = in_group(v).iter().map(|r| r.frames).collect();
                f.sort_unstable();
                f.dedup();
                common = Some(match common {
                    None => f,
                    Some(c) => c.into_iter().filter(|x| f.contains(x)).collect(),
                });
            }
            *common.unwrap_or_default().iter().max().ok_or("the groups share no frame count; pass --frames")?
        }
    };

    // Samples per group: ms per forward of each component, and of the fused forward. With at
    // least MIN_TRACES traces on both sides the sampling unit is the trace (median of its runs):
    // runs of one recording share its conditions, so resampling them alone would understate
    // the spread between recordings.
    let by_group: Vec<(String, Vec<&RunFacts>)> =
        values.iter().map(|v| (v.clone(), in_group(v).into_iter().filter(|r| r.frames == frames).collect())).collect();
    let group_runs = |g: &str| by_group.iter().find(|(v, _)| v == g).map_or(&[][..], |(_, r)| r.as_slice());
    let traces_of = |g: &str| {
        let mut t: Vec<u32> = group_runs(g).iter().map(|r| r.trace_id).collect();
        t.sort_unstable();
        t.dedup();
        t.len()
    };
    let samples_unit = |g: &str, comp: Option<u32>, per_trace: bool| -> Vec<f64> {
        let mut pairs: Vec<(u32, f64)> = group_runs(g)
            .iter()
            .filter_map(|r| match comp {
                Some(id) if r.sync == SyncMode::Component => r.comp(id).map(|c| (r.trace_id, c.total_ns / 1e6)),
                None if r.sync == SyncMode::None => Some((r.trace_id, r.forward_ns / 1e6)),
                _ => None,
            })
            .collect();
        if !per_trace {
            return pairs.into_iter().map(|p| p.1).collect();
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.chunk_by(|a, b| a.0 == b.0).filter_map(|c| median(&c.iter().map(|p| p.1).collect::<Vec<_>>())).collect()
    };
    let samples = |g: &str, comp: Option<u32>| samples_unit(g, comp, false);
    let mut jobs: Vec<(String, String, Area, Vec<f64>, Vec<f64>)> = Vec::new();
    let mut units = Vec::new();
    for g in values.iter().filter(|v| **v != baseline) {
        let per_trace = traces_of(&baseline) >= MIN_TRACES && traces_of(g) >= MIN_TRACES;
        units.push(GroupUnit { group: g.clone(), unit: if per_trace { "trace" } else { "run" }.into() });
        let b = samples_unit(&baseline, None, per_trace);
        let s = samples_unit(g, None, per_trace);
        if !b.is_empty() && !s.is_empty() {
            jobs.push((g.clone(), FORWARD_ROW.into(), Area::Overhead, b, s));
        }
        for (id, name) in facts.names.iter().enumerate() {
            let b = samples_unit(&baseline, Some(id as u32), per_trace);
            let s = samples_unit(g, Some(id as u32), per_trace);
            if !b.is_empty() && !s.is_empty() {
                jobs.push((g.clone(), name.clone(), facts.areas[id], b, s));
            }
        }
    }
    let rows = run_bootstraps(jobs, options);

    let groups_info = values
        .iter()
        .map(|v| {
            let runs = in_group(v);
            let mut traces: Vec<u32> = runs.iter().map(|r| r.trace_id).collect();
            traces.sort_unstable();
            traces.dedup();
            GroupInfo { value: v.clone(), traces: traces.len(), runs: runs.iter().filter(|r| r.frames == frames).count() }
        })
        .collect();

    let variants = if options.key == "variant" {
        let fused = |g: &str| median(&samples(g, None));
        let base = fused(&baseline);
        values
            .iter()
            .filter(|v| **v != baseline)
            .map(|v| {
                let runs = in_group(v);
                let dmax: Vec<f64> = runs.iter().filter_map(|r| r.drift.map(|d| d.0)).collect();
                let dmean: Vec<f64> = runs.iter().filter_map(|r| r.drift.map(|d| d.1)).collect();
                let setup_ms = setup_cost_ms(facts, v, frames);
                let this = fused(v);
                let saving = match (base, this) {
                    (Some(b), Some(t)) => Some(b - t),
                    _ => None,
                };
                VariantSummary {
                    variant: v.clone(),
                    drift_max_rel: median(&dmax),
                    drift_mean_rel: median(&dmean),
                    speedup: match (base, this) {
                        (Some(b), Some(t)) if t > 0.0 => Some(b / t),
                        _ => None,
                    },
                    saving_ms_per_forward: saving,
                    setup_ms,
                    saving_ms_per_clip: saving.map(|s| FORWARDS_PER_CLIP * s - setup_ms),
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Comparison {
        key: options.key.clone(),
        baseline,
        frames,
        noise: options.noise,
        level: options.level,
        groups: groups_info,
        units,
        rows,
        variants,
    })
}

/// Setup cost of a variant at a frame count: per setup name the median over traces, summed.
fn setup_cost_ms(facts: &Facts, variant: &str, frames: u32) -> f64 {
    let mut names: Vec<&str> = facts.setups.iter().filter(|s| s.variant == variant && s.frames == frames).map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            let d: Vec<f64> = facts
                .setups
                .iter()
                .filter(|s| s.variant == variant && s.frames == frames && s.name == n)
                .map(|s| s.duration_ns / 1e6)
                .collect();
            median(&d).unwrap_or(0.0)
        })
        .sum()
}

type Job = (String, String, Area, Vec<f64>, Vec<f64>);

fn run_bootstraps(jobs: Vec<Job>, options: &CompareOptions) -> Vec<CompareRow> {
    let threads = if options.threads == 0 { std::thread::available_parallelism().map_or(1, |p| p.get()) } else { options.threads }
        .clamp(1, jobs.len().max(1));
    let one = |job: &Job| -> Option<CompareRow> {
        let (group, component, area, b, s) = job;
        let seed = component.bytes().chain(group.bytes()).fold(0xcbf2_9ce4_8422_2325u64, |h, c| (h ^ c as u64).wrapping_mul(0x100_0000_01b3));
        let ci = bootstrap_median_ratio(b, s, options.resamples, options.level, seed)?;
        let significant = (ci.low > 1.0 || ci.high < 1.0) && (ci.ratio - 1.0).abs() > options.noise;
        Some(CompareRow {
            group: group.clone(),
            component: component.clone(),
            area: *area,
            baseline_ms: median(b)?,
            group_ms: median(s)?,
            ratio: ci.ratio,
            low: ci.low,
            high: ci.high,
            n_baseline: b.len(),
            n_group: s.len(),
            significant,
        })
    };
    let per = jobs.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs.chunks(per).map(|chunk| scope.spawn(move || chunk.iter().filter_map(one).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}
