//! Comparison of groups of runs (by machine, variant, dtype, any metadata key): per component,
//! the ratio of times against a baseline group with a 95% Welch t interval on log times (see
//! `ratio_interval` and `docs/statistics.md`); a change is significant only when the data
//! support a change beyond a noise threshold, decided with every row of the comparison
//! together (false claims controlled across them). With fewer than `MIN_SAMPLES` samples
//! on either side there is no interval and no significance: the spread cannot be estimated.
//! Grouped by variant, it adds output drift and the per-clip saving after one-off setup costs.

use serde::Serialize;
use trace_format::SyncMode;

use super::facts::{Area, Facts, RunFacts};
use super::stats::{change_p_values, median, welch_log_ratio, RatioInterval};
use super::verdict::Test;

/// Forwards per generated clip (40 sampling steps, conditional and unconditional).
pub(crate) const FORWARDS_PER_CLIP: f64 = 80.0;

/// Name of the fused-forward row.
pub(crate) const FORWARD_ROW: &str = "forward (fused)";

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
    /// Bootstrap resamples: no longer used (intervals are Welch t intervals, which need none);
    /// kept so that callers setting it still build.
    pub resamples: usize,
    /// Interval level.
    pub level: f64,
    /// Threads (0: one per core); unused since the intervals are closed-form.
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
    pub(crate) key: String,
    /// Baseline group.
    pub(crate) baseline: String,
    /// Frame count compared: the largest one every group shares with the baseline, else the
    /// largest of the per-group frame counts (see [`GroupInfo::frames`]).
    pub(crate) frames: u32,
    /// Noise threshold used.
    pub(crate) noise: f64,
    /// Interval level.
    pub(crate) level: f64,
    /// Whether block components are compared per block (the groups run different block counts).
    pub(crate) per_block: bool,
    /// Groups with their sizes.
    pub(crate) groups: Vec<GroupInfo>,
    /// Sampling unit of the bootstrap per compared group.
    pub(crate) units: Vec<GroupUnit>,
    /// Rows: per group (other than the baseline) and component.
    pub rows: Vec<CompareRow>,
    /// Fused forward per group and frame count against the baseline at the same frame count.
    pub(crate) forward: Vec<ForwardRow>,
    /// Variant details (grouping by `variant` only).
    pub(crate) variants: Vec<VariantSummary>,
    /// How ratios and intervals are computed, one paragraph for the report.
    pub(crate) method: String,
    /// Rows left without interval and significance, and why (fewer than [`MIN_SAMPLES`] a side).
    pub(crate) notes: Vec<String>,
}

/// Fewest samples (runs, or traces when resampling traces) per side for an interval and a
/// significance verdict. With two, the spread of each side rests on one difference, and the t
/// quantile for the one or two degrees of freedom left is so large that the interval says
/// nothing; with one there is no spread at all.
pub(crate) const MIN_SAMPLES: usize = 3;

/// Ratio of `group`'s times to `baseline`'s with its interval at `level`: the Welch t interval
/// on log times ([`welch_log_ratio`]); `None` with fewer than [`MIN_SAMPLES`] values a side or a
/// non-positive time. Chosen over the percentile bootstrap of the ratio of medians, whose
/// coverage at 3 runs a side is near 88% for a nominal 95%: a bootstrap from three values can
/// only recombine those three, so it underestimates the spread (the test
/// `interval_coverage.rs` measures both).
pub(crate) fn ratio_interval(baseline: &[f64], group: &[f64], level: f64) -> Option<RatioInterval> {
    if baseline.len() < MIN_SAMPLES || group.len() < MIN_SAMPLES {
        return None;
    }
    welch_log_ratio(baseline, group, level)
}

/// Ratio of geometric means of `group` over `baseline` (the point estimate shown when there is
/// no interval); `None` when a side is empty or holds a non-positive time.
fn geometric_ratio(baseline: &[f64], group: &[f64]) -> Option<f64> {
    let mean_log = |v: &[f64]| -> Option<f64> {
        if v.is_empty() || v.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
            return None;
        }
        Some(v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64)
    };
    Some((mean_log(group)? - mean_log(baseline)?).exp())
}

/// Why a comparison of `n_baseline` against `n_group` samples has no interval, if it has none.
pub(crate) fn why_no_interval(n_baseline: usize, n_group: usize) -> Option<String> {
    (n_baseline < MIN_SAMPLES || n_group < MIN_SAMPLES).then(|| {
        format!(
            "{n_baseline} baseline and {n_group} group sample(s): an interval and a significance verdict need at least {MIN_SAMPLES} a side, since with fewer the run-to-run spread cannot be estimated"
        )
    })
}

impl CompareRow {
    /// Whether the row has an interval (and so can be significant).
    pub(crate) fn has_interval(&self) -> bool {
        self.low.is_finite() && self.high.is_finite()
    }
}

impl ForwardRow {
    /// Whether the row has an interval (and so can be significant).
    pub(crate) fn has_interval(&self) -> bool {
        self.low.is_finite() && self.high.is_finite()
    }
}

/// Fewest traces per side for resampling whole traces instead of runs.
pub(crate) const MIN_TRACES: usize = 3;

/// What the bootstrap resampled for one group against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct GroupUnit {
    /// Group.
    pub(crate) group: String,
    /// `trace` (per-trace medians) or `run`.
    pub(crate) unit: String,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct GroupInfo {
    /// Value of the key.
    pub(crate) value: String,
    /// Traces.
    pub(crate) traces: usize,
    /// Runs at the group's compared frame count.
    pub(crate) runs: usize,
    /// Frame count its components are compared at (largest shared with the baseline).
    pub(crate) frames: Option<u32>,
}

/// One component of one group against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareRow {
    /// Group.
    pub(crate) group: String,
    /// Component (or `FORWARD_ROW`).
    pub component: String,
    /// Area.
    pub(crate) area: Area,
    /// Frame count compared.
    pub(crate) frames: u32,
    /// Baseline median, ms per forward (per block for block components when per_block).
    pub(crate) baseline_ms: f64,
    /// Group median, same unit.
    pub(crate) group_ms: f64,
    /// group / baseline (2: twice as slow): ratio of geometric means of the samples.
    pub ratio: f64,
    /// Interval, lower end; NaN when there is no interval (see [`MIN_SAMPLES`]).
    pub(crate) low: f64,
    /// Interval, upper end; NaN when there is none.
    pub(crate) high: f64,
    /// Baseline samples.
    pub(crate) n_baseline: usize,
    /// Group samples.
    pub(crate) n_group: usize,
    /// The change beyond the noise threshold is supported, decided with every row of the
    /// comparison (false claims controlled across them).
    pub(crate) significant: bool,
    /// The claim "changed by more than the noise threshold, either way".
    pub(crate) change: Test,
}

/// The fused (`none`-synced) forward of one group at one frame count against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ForwardRow {
    /// Group.
    pub(crate) group: String,
    /// Frames.
    pub(crate) frames: u32,
    /// Tokens (median over the group's runs).
    pub(crate) tokens: u64,
    /// Baseline median, ms.
    pub(crate) baseline_ms: f64,
    /// Group median, ms.
    pub(crate) group_ms: f64,
    /// baseline / group (2: twice as fast): ratio of geometric means of the runs.
    pub(crate) speedup: f64,
    /// Interval of the speedup, lower end; NaN when there is no interval (see [`MIN_SAMPLES`]).
    pub(crate) low: f64,
    /// Upper end; NaN when there is none.
    pub(crate) high: f64,
    /// Baseline runs.
    pub(crate) n_baseline: usize,
    /// Group runs.
    pub(crate) n_group: usize,
    /// The change beyond the noise threshold is supported (as for [`CompareRow::significant`]).
    pub(crate) significant: bool,
    /// The claim "changed by more than the noise threshold, either way".
    pub(crate) change: Test,
    /// Variant details (grouping by `variant` only).
    pub(crate) variant: Option<VariantFrames>,
}

/// A variant at one frame count: what it costs and saves per clip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct VariantFrames {
    /// baseline - variant fused forward, ms.
    pub(crate) saving_ms_per_forward: f64,
    /// One-off setup cost, ms (per setup name: the records at this frame count, else all of
    /// the variant's records of that name; median over traces; summed over names).
    pub(crate) setup_ms: f64,
    /// Memory the setup results keep alive, bytes (same selection, summed).
    pub(crate) setup_memory_bytes: f64,
    /// Median peak memory of the variant's fused runs minus the baseline's, bytes.
    pub(crate) peak_delta_bytes: Option<f64>,
    /// `80 * saving - setup`, ms per clip.
    pub(crate) saving_ms_per_clip: f64,
    /// Largest max_rel drift of the variant's runs at this frame count.
    pub(crate) drift_max_rel: Option<f64>,
    /// Median mean_rel drift.
    pub(crate) drift_mean_rel: Option<f64>,
}

/// A variant against the baseline variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct VariantSummary {
    /// Variant.
    pub(crate) variant: String,
    /// Frame count of the summary (the group's compared frame count).
    pub(crate) frames: u32,
    /// Tokens at that frame count.
    pub(crate) tokens: u64,
    /// Largest max relative drift over the variant's runs (all frame counts).
    pub(crate) drift_max_rel: Option<f64>,
    /// Median mean relative drift.
    pub(crate) drift_mean_rel: Option<f64>,
    /// Baseline fused forward / variant fused forward.
    pub(crate) speedup: Option<f64>,
    /// Interval of the speedup (low, high).
    pub(crate) speedup_interval: Option<(f64, f64)>,
    /// The fused forward's change beyond the noise threshold is supported.
    pub(crate) significant: bool,
    /// Fused forward saved per forward, ms.
    pub(crate) saving_ms_per_forward: Option<f64>,
    /// One-off setup cost per clip, ms.
    pub(crate) setup_ms: f64,
    /// Memory kept alive by the setup results, bytes.
    pub(crate) setup_memory_bytes: f64,
    /// Setup names paid.
    pub(crate) setups: Vec<String>,
    /// `80 * saving - setup`, ms per clip.
    pub(crate) saving_ms_per_clip: Option<f64>,
    /// Components the baseline runs that the variant's component-synced runs never run.
    pub(crate) removed: Vec<String>,
    /// Components the variant runs that the baseline does not.
    pub(crate) added: Vec<String>,
    /// Components whose time the variant changes significantly (see
    /// [`CompareRow::significant`]), the largest change in ms first.
    pub(crate) changed: Vec<String>,
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
    let (values, baseline) = group_values(groups, options)?;
    let g = Grouping::new(facts, groups, values, baseline, options)?;
    let frames = g.compared_frames(options);
    let (jobs, units) = g.component_jobs();
    let mut rows = run_intervals(jobs, options);
    let mut forward = g.forward_rows(options);
    let groups_info = g.group_infos();
    decide_together(&mut rows, &mut forward);
    let variants = if options.key == "variant" { g.variant_summaries(&rows, &forward) } else { Vec::new() };
    let notes = interval_notes(&rows, &forward);
    Ok(Comparison {
        key: options.key.clone(),
        baseline: g.baseline,
        frames,
        noise: options.noise,
        level: options.level,
        per_block: g.per_block,
        groups: groups_info,
        units,
        rows,
        forward,
        variants,
        method: method_text(options),
        notes,
    })
}

/// The distinct group values in sort order and the baseline among them: the one asked for,
/// else `baseline` for variants, else the first.
fn group_values(groups: &[String], options: &CompareOptions) -> Result<(Vec<String>, String), String> {
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
    Ok((values, baseline))
}

/// The runs split into groups, with the frame count each group is compared at.
struct Grouping<'a> {
    /// The facts compared.
    facts: &'a Facts,
    /// Group value of each run of `facts`.
    groups: &'a [String],
    /// Distinct group values, sorted.
    values: Vec<String>,
    /// Baseline group.
    baseline: String,
    /// The baseline's frame counts, sorted.
    base_frames: Vec<u32>,
    /// Per group: the frame count its components are compared at.
    group_frames: Vec<(String, Option<u32>)>,
    /// Whether block components are compared per block (the runs have different block counts).
    per_block: bool,
}

impl<'a> Grouping<'a> {
    /// Picks each group's compared frame count; an error when no group other than the
    /// baseline has one.
    fn new(facts: &'a Facts, groups: &'a [String], values: Vec<String>, baseline: String, options: &CompareOptions) -> Result<Self, String> {
        // Different block counts (e.g. a 2-block CPU run against a 40-block GPU run): block
        // components are compared per block.
        let per_block = {
            let mut b: Vec<u32> = facts.runs.iter().map(|r| facts.blocks_of(r)).collect();
            b.sort_unstable();
            b.dedup();
            b.len() > 1
        };
        let mut g = Grouping { facts, groups, values, baseline, base_frames: Vec::new(), group_frames: Vec::new(), per_block };
        g.base_frames = g.frames_of(&g.baseline);
        g.group_frames = g
            .values
            .iter()
            .map(|v| {
                let f = match options.frames {
                    Some(f) => g.frames_of(v).contains(&f).then_some(f),
                    None if *v == g.baseline => g.base_frames.last().copied(),
                    None => g.frames_of(v).into_iter().filter(|x| g.base_frames.contains(x)).max(),
                };
                (v.clone(), f)
            })
            .collect();
        if g.others().all(|v| g.frames_for(v).is_none()) {
            return Err(match options.frames {
                Some(f) => format!("--frames {f}: no group other than the baseline has runs at {f} frames"),
                None => "the groups share no frame count with the baseline; pass --frames".into(),
            });
        }
        Ok(g)
    }

    /// The group values other than the baseline.
    fn others(&self) -> impl Iterator<Item = &String> {
        self.values.iter().filter(|v| **v != self.baseline)
    }

    /// The runs of group `g`.
    fn in_group(&self, g: &str) -> Vec<&'a RunFacts> {
        self.facts.runs.iter().zip(self.groups).filter(|(_, v)| *v == g).map(|(r, _)| r).collect()
    }

    /// The frame counts group `g` has runs at, sorted.
    fn frames_of(&self, g: &str) -> Vec<u32> {
        let mut f: Vec<u32> = self.in_group(g).iter().map(|r| r.frames).collect();
        f.sort_unstable();
        f.dedup();
        f
    }

    /// The frame count group `g`'s components are compared at.
    fn frames_for(&self, g: &str) -> Option<u32> {
        self.group_frames.iter().find(|(v, _)| v == g).and_then(|(_, f)| *f)
    }

    /// The comparison's frame count: the one asked for, else the largest every group has,
    /// else the largest of the per-group frame counts.
    fn compared_frames(&self, options: &CompareOptions) -> u32 {
        let mut common: Option<Vec<u32>> = None;
        for v in &self.values {
            let f = self.frames_of(v);
            common = Some(match common {
                None => f,
                Some(c) => c.into_iter().filter(|x| f.contains(x)).collect(),
            });
        }
        match options.frames {
            Some(f) => f,
            None => common.unwrap_or_default().into_iter().max().unwrap_or_else(|| self.others().filter_map(|v| self.frames_for(v)).max().unwrap_or(0)),
        }
    }

    /// The runs of group `g` at `f` frames.
    fn group_runs(&self, g: &str, f: u32) -> Vec<&'a RunFacts> {
        self.in_group(g).into_iter().filter(|r| r.frames == f).collect()
    }

    /// How many traces group `g` has runs at `f` frames in.
    fn traces_of(&self, g: &str, f: u32) -> usize {
        let mut t: Vec<u32> = self.group_runs(g, f).iter().map(|r| r.trace_id).collect();
        t.sort_unstable();
        t.dedup();
        t.len()
    }

    /// Samples of group `g` at `f` frames: ms per forward of component `comp` (its
    /// component-synced runs; per block when compared per block), or of the fused forward
    /// (`None`); per run, or the median per trace when `per_trace`.
    fn samples_unit(&self, g: &str, f: u32, comp: Option<u32>, per_trace: bool) -> Vec<f64> {
        let facts = self.facts;
        let mut pairs: Vec<(u32, f64)> = self
            .group_runs(g, f)
            .iter()
            .filter_map(|r| match comp {
                Some(id) if r.sync == SyncMode::Component => r.comp(id).map(|c| {
                    let scale = if self.per_block && facts.areas[id as usize] == Area::Blocks { facts.blocks_of(r).max(1) as f64 } else { 1.0 };
                    (r.trace_id, c.total_ns / 1e6 / scale)
                }),
                None if r.sync == SyncMode::None => Some((r.trace_id, r.forward_ns as f64 / 1e6)),
                _ => None,
            })
            .collect();
        if !per_trace {
            return pairs.into_iter().map(|p| p.1).collect();
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.chunk_by(|a, b| a.0 == b.0).filter_map(|c| median(&c.iter().map(|p| p.1).collect::<Vec<_>>())).collect()
    }

    /// The samples to compare per group and component, with each group's sampling unit. With
    /// at least MIN_TRACES traces on both sides the unit is the trace (median of its runs):
    /// runs of one recording share its conditions, so resampling them alone would understate
    /// the spread between recordings.
    fn component_jobs(&self) -> (Vec<Job>, Vec<GroupUnit>) {
        let baseline = &self.baseline;
        let mut jobs: Vec<Job> = Vec::new();
        let mut units = Vec::new();
        for g in self.others() {
            let Some(f) = self.frames_for(g) else { continue };
            let per_trace = self.traces_of(baseline, f) >= MIN_TRACES && self.traces_of(g, f) >= MIN_TRACES;
            units.push(GroupUnit { group: g.clone(), unit: if per_trace { "trace" } else { "run" }.into() });
            let b = self.samples_unit(baseline, f, None, per_trace);
            let s = self.samples_unit(g, f, None, per_trace);
            // A whole forward of 2 blocks says nothing against one of 40: only compare forwards of
            // equal block counts.
            if !self.per_block && !b.is_empty() && !s.is_empty() {
                jobs.push((g.clone(), FORWARD_ROW.into(), Area::Overhead, f, b, s));
            }
            for (id, name) in self.facts.names.iter().enumerate() {
                let b = self.samples_unit(baseline, f, Some(id as u32), per_trace);
                let s = self.samples_unit(g, f, Some(id as u32), per_trace);
                if !b.is_empty() && !s.is_empty() {
                    jobs.push((g.clone(), name.clone(), self.facts.areas[id], f, b, s));
                }
            }
        }
        (jobs, units)
    }

    /// The fused forward at every frame count a group shares with the baseline (only between
    /// equal block counts, like the forward row of the components).
    fn forward_rows(&self, options: &CompareOptions) -> Vec<ForwardRow> {
        if self.per_block {
            return Vec::new();
        }
        let mut forward = Vec::new();
        for g in self.others() {
            for f in self.frames_of(g).into_iter().filter(|x| self.base_frames.contains(x)) {
                forward.extend(self.forward_row(g, f, options));
            }
        }
        forward
    }

    /// Group `g`'s fused forward at `f` frames against the baseline's (not yet decided), if
    /// both sides have runs.
    fn forward_row(&self, g: &str, f: u32, options: &CompareOptions) -> Option<ForwardRow> {
        let b = self.samples_unit(&self.baseline, f, None, false);
        let s = self.samples_unit(g, f, None, false);
        let (mb, ms) = (median(&b)?, median(&s)?);
        // Speedup = baseline / group: the group's runs are the "baseline" of this ratio.
        let ci = match ratio_interval(&s, &b, options.level) {
            Some(ci) => ci,
            None => RatioInterval { ratio: geometric_ratio(&s, &b)?, low: f64::NAN, high: f64::NAN },
        };
        Some(ForwardRow {
            group: g.to_string(),
            frames: f,
            tokens: self.median_tokens(g, f),
            baseline_ms: mb,
            group_ms: ms,
            speedup: ci.ratio,
            low: ci.low,
            high: ci.high,
            n_baseline: b.len(),
            n_group: s.len(),
            significant: false,
            change: change_test(&b, &s, options),
            variant: (options.key == "variant").then(|| self.variant_frames(g, f, mb - ms)),
        })
    }

    /// Median tokens of group `g`'s runs at `f` frames (0 without runs).
    fn median_tokens(&self, g: &str, f: u32) -> u64 {
        median(&self.group_runs(g, f).iter().map(|r| r.tokens as f64).collect::<Vec<_>>()).unwrap_or(0.0).round() as u64
    }

    /// What variant `g` costs and saves per clip at `f` frames, given its fused-forward saving.
    fn variant_frames(&self, g: &str, f: u32, saving: f64) -> VariantFrames {
        let runs = self.group_runs(g, f);
        let dmax: Vec<f64> = runs.iter().filter_map(|r| r.drift.map(|d| d.max_rel)).collect();
        let dmean: Vec<f64> = runs.iter().filter_map(|r| r.drift.map(|d| d.mean_rel)).collect();
        let (setup_ms, setup_memory_bytes, _) = setup_cost(self.facts, g, f);
        let peak = |v: &str| median(&self.group_runs(v, f).iter().filter(|r| r.sync == SyncMode::None).map(|r| r.peak_memory_bytes as f64).collect::<Vec<_>>());
        VariantFrames {
            saving_ms_per_forward: saving,
            setup_ms,
            setup_memory_bytes,
            peak_delta_bytes: match (peak(g), peak(&self.baseline)) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            },
            saving_ms_per_clip: FORWARDS_PER_CLIP * saving - setup_ms,
            drift_max_rel: dmax.iter().copied().reduce(f64::max),
            drift_mean_rel: median(&dmean),
        }
    }

    /// Every group with its trace count and its run count at its compared frame count.
    fn group_infos(&self) -> Vec<GroupInfo> {
        self.values
            .iter()
            .map(|v| {
                let runs = self.in_group(v);
                let mut traces: Vec<u32> = runs.iter().map(|r| r.trace_id).collect();
                traces.sort_unstable();
                traces.dedup();
                let f = self.frames_for(v);
                GroupInfo { value: v.clone(), traces: traces.len(), runs: runs.iter().filter(|r| Some(r.frames) == f).count(), frames: f }
            })
            .collect()
    }

    /// The components group `g`'s component-synced runs run, sorted.
    fn comps_of(&self, g: &str) -> Vec<u32> {
        let mut c: Vec<u32> = self.in_group(g).iter().filter(|r| r.sync == SyncMode::Component).flat_map(|r| r.comps.iter().map(|c| c.component)).collect();
        c.sort_unstable();
        c.dedup();
        c
    }

    /// Per variant (grouping by `variant`): its drift, speedup, setup costs, saving per clip and
    /// the components it drops, adds and changes, from the decided rows.
    fn variant_summaries(&self, rows: &[CompareRow], forward: &[ForwardRow]) -> Vec<VariantSummary> {
        let base_comps = self.comps_of(&self.baseline);
        let facts = self.facts;
        self.others()
            .filter_map(|v| {
                let f = self.frames_for(v)?;
                let runs = self.in_group(v);
                let dmax: Vec<f64> = runs.iter().filter_map(|r| r.drift.map(|d| d.max_rel)).collect();
                let dmean: Vec<f64> = runs.iter().filter_map(|r| r.drift.map(|d| d.mean_rel)).collect();
                let (setup_ms, setup_memory_bytes, setups) = setup_cost(facts, v, f);
                let fw = forward.iter().find(|r| r.group == *v && r.frames == f);
                let this = self.comps_of(v);
                let has_synced = !this.is_empty();
                let name = |id: &u32| facts.names[*id as usize].clone();
                let saving = fw.map(|r| r.baseline_ms - r.group_ms);
                Some(VariantSummary {
                    variant: v.clone(),
                    frames: f,
                    tokens: fw.map_or_else(|| self.median_tokens(v, f), |r| r.tokens),
                    drift_max_rel: dmax.iter().copied().reduce(f64::max),
                    drift_mean_rel: median(&dmean),
                    speedup: fw.map(|r| r.speedup),
                    speedup_interval: fw.filter(|r| r.has_interval()).map(|r| (r.low, r.high)),
                    significant: fw.is_some_and(|r| r.significant),
                    saving_ms_per_forward: saving,
                    setup_ms,
                    setup_memory_bytes,
                    setups,
                    saving_ms_per_clip: saving.map(|s| FORWARDS_PER_CLIP * s - setup_ms),
                    removed: if has_synced { base_comps.iter().filter(|c| !this.contains(c)).map(name).collect() } else { Vec::new() },
                    added: this.iter().filter(|c| !base_comps.contains(c)).map(name).collect(),
                    changed: significant_changes(rows, v),
                })
            })
            .collect()
    }
}

/// Decides every row's claim together, as a report decides its claims, and marks the
/// supported ones significant.
fn decide_together(rows: &mut [CompareRow], forward: &mut [ForwardRow]) {
    {
        let mut tests: Vec<&mut Test> = rows.iter_mut().map(|r| &mut r.change).collect();
        tests.extend(forward.iter_mut().map(|r| &mut r.change));
        super::verdict::decide(&mut tests);
    }
    for r in rows.iter_mut() {
        r.significant = r.change.supported();
    }
    for r in forward.iter_mut() {
        r.significant = r.change.supported();
    }
}

/// Notes on the rows left without an interval: one per group, frame count and reason (listing
/// the components), then one per fused-forward row.
fn interval_notes(rows: &[CompareRow], forward: &[ForwardRow]) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    let mut missing: Vec<((String, u32, String), Vec<String>)> = Vec::new();
    for r in rows.iter().filter(|r| !r.has_interval()) {
        if let Some(why) = why_no_interval(r.n_baseline, r.n_group) {
            let k = (r.group.clone(), r.frames, why);
            match missing.iter_mut().find(|(x, _)| *x == k) {
                Some((_, list)) => list.push(r.component.clone()),
                None => missing.push((k, vec![r.component.clone()])),
            }
        }
    }
    for ((group, frames, why), comps) in missing {
        let what = if comps.len() == 1 { comps[0].clone() } else { format!("{} components ({})", comps.len(), comps.join(", ")) };
        notes.push(format!("{group} {what} at {frames} frames: no interval or significance ({why})."));
    }
    for r in forward.iter().filter(|r| !r.has_interval()) {
        if let Some(why) = why_no_interval(r.n_baseline, r.n_group) {
            notes.push(format!("{} fused forward at {} frames: no interval or significance ({why}).", r.group, r.frames));
        }
    }
    notes
}

/// How ratios and intervals are computed, one paragraph for the report.
fn method_text(options: &CompareOptions) -> String {
    format!(
        "Ratios are of geometric means of the samples (group over baseline for components, baseline over group for speedups); the {level:.0}% interval is a Welch t interval on log times, each side with its own variance, exponentiated back: under multiplicative (log-normal) noise, an interval of the ratio of median times. Samples are runs, or per-trace medians when both sides have at least {MIN_TRACES} traces. A change is significant when the data support a change of more than {noise:.0}% either way (Welch's t on log times against ln(1 + {noise:.0}%), symmetric on the log scale, so a speedup and its time ratio always agree), decided together with every other row of the comparison so that false claims stay below 5% of those made (Benjamini-Hochberg). Below {MIN_SAMPLES} samples a side: no interval and no verdict.",
        level = options.level * 100.0,
        noise = options.noise * 100.0
    )
}

/// Setup cost of a variant at a frame count: (ms, bytes kept alive, setup names). Per setup
/// name, the records at this frame count, else (for costs recorded once, such as quantizing
/// weights) all of the variant's records of that name; the median over records; summed over
/// names.
pub(crate) fn setup_cost(facts: &Facts, variant: &str, frames: u32) -> (f64, f64, Vec<String>) {
    let mut names: Vec<&str> = facts.setups.iter().filter(|s| s.variant == variant).map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut ms = 0.0;
    let mut bytes = 0.0;
    for n in &names {
        let of_name: Vec<_> = facts.setups.iter().filter(|s| s.variant == variant && s.name == *n).collect();
        let here: Vec<_> = of_name.iter().filter(|s| s.frames == frames).collect();
        let pick: Vec<_> = if here.is_empty() { of_name.iter().collect() } else { here };
        ms += median(&pick.iter().map(|s| s.duration_ns / 1e6).collect::<Vec<_>>()).unwrap_or(0.0);
        bytes += median(&pick.iter().map(|s| s.memory_bytes as f64).collect::<Vec<_>>()).unwrap_or(0.0);
    }
    (ms, bytes, names.into_iter().map(str::to_string).collect())
}

type Job = (String, String, Area, u32, Vec<f64>, Vec<f64>);

/// The components of `variant` whose change against the baseline is significant, the largest
/// absolute change in time first (ties by name).
fn significant_changes(rows: &[CompareRow], variant: &str) -> Vec<String> {
    let mut changed: Vec<&CompareRow> = rows.iter().filter(|r| r.group == variant && r.component != FORWARD_ROW && r.significant).collect();
    changed.sort_by(|a, b| (b.group_ms - b.baseline_ms).abs().total_cmp(&(a.group_ms - a.baseline_ms).abs()).then(a.component.cmp(&b.component)));
    changed.into_iter().map(|r| r.component.clone()).collect()
}

/// Whether a ratio (or speedup) is further from 1 than the noise threshold, symmetric on the log
/// scale: a speedup of 1.052 and its time ratio 0.951 get the same verdict.
#[cfg(test)]
fn beyond_noise(ratio: f64, noise: f64) -> bool {
    ratio.ln().abs() > noise.ln_1p()
}

/// The claim that `group` differs from `baseline` by more than the noise threshold either way
/// (symmetric on the log scale), untestable below [`MIN_SAMPLES`] a side.
fn change_test(baseline: &[f64], group: &[f64], options: &CompareOptions) -> Test {
    let what = format!("the change against {:.0}% either way", options.noise * 100.0);
    match change_p_values(baseline, group, options.noise).filter(|_| baseline.len() >= MIN_SAMPLES && group.len() >= MIN_SAMPLES) {
        Some((change, within)) => Test::new(change, within, what),
        None => Test::untestable(why_no_interval(baseline.len(), group.len()).unwrap_or_else(|| "a time is not positive".into())),
    }
}

fn run_intervals(jobs: Vec<Job>, options: &CompareOptions) -> Vec<CompareRow> {
    jobs.iter()
        .filter_map(|job| {
            let (group, component, area, frames, b, s) = job;
            let ci = match ratio_interval(b, s, options.level) {
                Some(ci) => ci,
                None => RatioInterval { ratio: geometric_ratio(b, s)?, low: f64::NAN, high: f64::NAN },
            };
            let significant = false;
            let change = change_test(b, s, options);
            Some(CompareRow {
                group: group.clone(),
                component: component.clone(),
                area: *area,
                frames: *frames,
                baseline_ms: median(b)?,
                group_ms: median(s)?,
                ratio: ci.ratio,
                low: ci.low,
                high: ci.high,
                n_baseline: b.len(),
                n_group: s.len(),
                significant,
                change,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::beyond_noise;

    #[test]
    fn a_speedup_and_its_time_ratio_get_one_verdict() {
        // 746 ms against 712 ms: speedup 1.0478, ratio 0.9544; both inside 5% on the log scale.
        let (speedup, ratio) = (746.0 / 712.0, 712.0 / 746.0);
        assert_eq!(beyond_noise(speedup, 0.05), beyond_noise(ratio, 0.05));
        // 1.052x faster (time ratio 0.9506): beyond 5% both ways, though |0.9506 - 1| < 0.05.
        assert!(beyond_noise(1.052, 0.05) && beyond_noise(1.0 / 1.052, 0.05));
        assert!(!beyond_noise(1.049, 0.05) && !beyond_noise(1.0 / 1.049, 0.05));
    }
}
