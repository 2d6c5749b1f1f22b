//! The analyses. Each module turns [`Facts`] into a plain struct and never formats;
//! [`analyze`] runs them all into a [`Report`].

pub(crate) mod attribution;
pub mod comparison;
pub(crate) mod facts;
pub(crate) mod memory;
pub(crate) mod natural;
pub(crate) mod overhead;
pub(crate) mod predict;
pub mod ranking;
pub(crate) mod recommend;
pub mod scaling;
pub(crate) mod seed;
pub(crate) mod stats;
pub(crate) mod uncertainty;
pub(crate) mod verdict;
pub(crate) mod tree;
pub mod workload;

use serde::Serialize;

pub use facts::{Facts, Rollup};

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
    /// Workloads analysed, by number (1-based, see `workload::workloads`); `None`: all, one
    /// section each.
    pub workloads: Option<Vec<usize>>,
    /// Lengths (tokens) to predict every component's and the forward's time at.
    pub predict_tokens: Vec<u64>,
    /// Frame counts to predict at (converted with the recorded tokens per latent frame).
    pub predict_frames: Vec<u32>,
}

/// Default report title.
pub(crate) const DEFAULT_TITLE: &str = "MLX forward pass profile";

/// Where the data came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Inputs {
    /// Trace files analysed.
    pub(crate) files: Vec<String>,
    /// Files skipped, with reasons.
    pub(crate) skipped: Vec<Skipped>,
    /// Load warnings.
    pub(crate) warnings: Vec<String>,
    /// Runs analysed.
    pub(crate) runs: usize,
    /// Events analysed.
    pub(crate) events: usize,
    /// Machines (`machine` of each trace), distinct.
    pub(crate) machines: Vec<String>,
    /// Recorder command lines, distinct.
    pub(crate) commands: Vec<String>,
    /// Backends, dtypes and presets seen, distinct (`backend/dtype/preset`).
    pub(crate) setups: Vec<String>,
    /// Rollup used.
    pub(crate) rollup: Rollup,
    /// Variant shown by the single-variant analyses (`None`: all runs).
    pub(crate) variant: Option<String>,
    /// Every variant in the traces, sorted.
    pub(crate) variants: Vec<String>,
}

/// Every analysis of one invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Title.
    pub(crate) title: String,
    /// Only the summary, the comparison and how it was run are rendered.
    pub(crate) comparison_only: bool,
    /// Inputs.
    pub(crate) inputs: Inputs,
    /// The workload this report describes; `None` when it holds several, one per section.
    pub(crate) workload: Option<workload::Workload>,
    /// Every workload of the inputs (top-level report only).
    pub(crate) workloads: Vec<workload::Workload>,
    /// One line saying which workloads were separated or left out, and the flag that picks them.
    pub(crate) separation: Option<String>,
    /// Lines about analyses that could not be made for this workload, and why.
    pub(crate) notes: Vec<String>,
    /// Ranking (absent without component-synced or attributed runs).
    pub(crate) ranking: Option<ranking::Ranking>,
    /// Attribution sets of the shown variant (empty without attributed runs), in the rollup.
    pub(crate) attribution: Vec<attribution::AttributedSet>,
    /// Distribution tree.
    pub(crate) distribution: Option<tree::Distribution>,
    /// Scaling table and fits.
    pub(crate) scaling: scaling::Scaling,
    /// Instrumentation overhead.
    pub(crate) overhead: overhead::Overhead,
    /// Memory.
    pub(crate) memory: memory::Memory,
    /// Comparison, when asked for.
    pub(crate) comparison: Option<comparison::Comparison>,
    /// Variants against `baseline`, whenever the traces hold a baseline and other variants.
    pub(crate) variants: Option<comparison::Comparison>,
    /// Variants that remove components: their fused saving beside the attributed cost of what
    /// they remove.
    pub(crate) natural: Vec<natural::NaturalExperiment>,
    /// The seed report's claims against this data (empty for other models than the built-in one).
    pub(crate) seed_claims: seed::SeedClaims,
    /// Every component is the built-in video model's: lengths are frames, and the seed claims
    /// apply. Traces of other models (an mlx-lm model) are spoken of in tokens.
    pub(crate) builtin_model: bool,
    /// Recommendations whose saving the data supports, by the lower end of the saving.
    pub(crate) recommendations: Vec<recommend::Recommendation>,
    /// Effects the recording does not support, each with the reason (one line in the report).
    pub(crate) not_supported: Vec<String>,
    /// Predictions asked for with `--predict-tokens` / `--predict-frames`.
    pub(crate) predictions: Vec<predict::Prediction>,
    /// The few claims this recording supports, each with its number and interval, in the order
    /// the report leads with them.
    pub(crate) findings: Vec<Finding>,
    /// With several workloads: one report per workload (the fields above then hold only the
    /// title, the inputs of all of them, the separation line and a comparison by a trace key
    /// across them); empty otherwise.
    pub(crate) sections: Vec<Report>,
}

/// A claim the recording supports, for the report's opening.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Finding {
    /// The claim with its number and interval.
    pub(crate) text: String,
    /// The section holding the evidence.
    pub(crate) evidence: String,
}

/// Runs every analysis.
pub fn analyze(ds: &Dataset, options: &AnalyzeOptions) -> Result<Report> {
    let fine = Facts::from_dataset(ds)?;
    analyze_facts(ds, &fine, options)
}

/// Keys read from the run rather than the trace: grouping by them compares runs inside one
/// workload, so such a comparison is made in every workload's section.
pub(crate) const RUN_KEYS: [&str; 3] = ["variant", "sync", "frames"];

/// Runs every analysis on facts already read from `ds`. Runs of different workloads
/// (`workload::Workload`) are never pooled: with several workloads, the report holds one
/// section per workload (`Report::sections`), and a comparison by a trace key (machine,
/// backend, ...) is made once across them, each group being one workload.
pub fn analyze_facts(ds: &Dataset, all: &Facts, options: &AnalyzeOptions) -> Result<Report> {
    let workloads = workload::workloads(ds);
    let list = |ws: &[workload::Workload]| ws.iter().map(|w| format!("{}: {}", w.index, w.label)).collect::<Vec<_>>().join("; ");
    let chosen: Vec<&workload::Workload> = match &options.workloads {
        None => workloads.iter().collect(),
        Some(picked) => {
            if let Some(bad) = picked.iter().find(|n| **n == 0 || **n > workloads.len()) {
                return Err(Error::Invalid(format!(
                    "--workload {bad}: the inputs hold {} workload(s): {}",
                    workloads.len(),
                    list(&workloads)
                )));
            }
            workloads.iter().filter(|w| picked.contains(&w.index)).collect()
        }
    };
    let trace_key = options.compare.as_ref().filter(|c| !RUN_KEYS.contains(&c.key.as_str()));
    if chosen.len() == 1 {
        let w = chosen[0];
        let mut report = analyze_workload(ds, &all.only_traces(&w.traces), options, w, false)?;
        if workloads.len() > 1 {
            let others: Vec<String> = workloads.iter().filter(|x| x.index != w.index).map(|x| format!("{}: {}", x.index, x.label)).collect();
            report.separation = Some(format!(
                "The inputs hold {} workloads; this report is workload {} alone (--workload {}), the others are left out: {}.",
                workloads.len(),
                w.index,
                w.index,
                others.join("; ")
            ));
        }
        report.workloads = workloads.clone();
        return Ok(report);
    }

    // Several workloads: one section each; a trace-key comparison across them.
    let section_options = AnalyzeOptions { compare: options.compare.clone().filter(|_| trace_key.is_none()), ..options.clone() };
    let mut sections = Vec::new();
    for w in &chosen {
        sections.push(analyze_workload(ds, &all.only_traces(&w.traces), &section_options, w, true)?);
    }
    let comparison = match trace_key {
        Some(c) => Some(compare_workloads(ds, all, options, c, &chosen, &sections)?),
        None => None,
    };
    let chosen_traces: Vec<u32> = chosen.iter().flat_map(|w| w.traces.iter().copied()).collect();
    let picked = match &options.workloads {
        Some(_) => format!(" (--workload {})", chosen.iter().map(|w| w.index.to_string()).collect::<Vec<_>>().join(",")),
        None => String::new(),
    };
    let left_out = workloads.len() - chosen.len();
    let how = if options.comparison_only && trace_key.is_some() {
        format!("the comparison by {} below compares them, one workload per group, never pooling two", trace_key.map_or("", |c| c.key.as_str()))
    } else {
        "they are analysed separately, one section each, and never pooled".to_string()
    };
    let separation = format!(
        "The inputs hold {} workloads{}; {how}: {}.{} `--workload N` (or a list such as 1,3) picks which.",
        workloads.len(),
        picked,
        chosen.iter().map(|w| format!("{}: {}", w.index, w.label)).collect::<Vec<_>>().join("; "),
        if left_out > 0 { format!(" {left_out} other workload(s) left out.") } else { String::new() }
    );
    let mut inputs = inputs(ds, all, &chosen_traces, options.rollup);
    inputs.variants = all.only_traces(&chosen_traces).variants();
    Ok(Report {
        title: options.title.clone().unwrap_or_else(|| DEFAULT_TITLE.to_string()),
        comparison_only: options.comparison_only && options.compare.is_some(),
        inputs,
        workload: None,
        workloads: workloads.clone(),
        separation: Some(separation),
        notes: Vec::new(),
        ranking: None,
        attribution: Vec::new(),
        distribution: None,
        scaling: scaling::Scaling::default(),
        overhead: overhead::Overhead::default(),
        memory: memory::Memory::default(),
        comparison,
        variants: None,
        natural: Vec::new(),
        seed_claims: seed::SeedClaims::default(),
        builtin_model: true,
        recommendations: Vec::new(),
        not_supported: Vec::new(),
        predictions: Vec::new(),
        findings: Vec::new(),
        sections,
    })
}

/// The variant the single-variant analyses show: `--variant`, else `baseline` when the runs hold
/// it, else the first variant in sort order (variants are never pooled).
fn shown_variant(variants: &[String], asked: Option<&String>, w: &workload::Workload, several: bool) -> Result<Option<String>> {
    Ok(match asked {
        Some(v) if variants.contains(v) => Some(v.clone()),
        Some(v) if several => {
            return Err(Error::Invalid(format!(
                "--variant {v:?}: workload {} ({}) has no run of this variant; its variants: {}; `--workload N` picks workloads",
                w.index,
                w.label,
                variants.join(", ")
            )))
        }
        Some(v) => return Err(Error::Invalid(format!("--variant {v:?}: no run has this variant; variants: {}", variants.join(", ")))),
        None if variants.iter().any(|v| v == "baseline") => Some("baseline".to_string()),
        None => variants.first().cloned(),
    })
}

/// The comparison by a trace key across several workloads: the shown variant of each workload,
/// every group one workload (so that each row compares one workload with another, never a pool).
fn compare_workloads(
    ds: &Dataset,
    all: &Facts,
    options: &AnalyzeOptions,
    c: &comparison::CompareOptions,
    chosen: &[&workload::Workload],
    sections: &[Report],
) -> Result<comparison::Comparison> {
    let mut runs = Vec::new();
    for (w, s) in chosen.iter().zip(sections) {
        let f = all.only_traces(&w.traces);
        let f = match &s.inputs.variant {
            Some(v) => f.only_variant(v),
            None => f,
        };
        runs.extend(f.runs);
    }
    let facts = Facts { runs, ..all.clone() }.rolled_up(options.rollup);
    let trace_values = trace_key_values(&ds.traces, &c.key)?;
    let groups = comparison::run_groups(&facts, &c.key, Some(&trace_values));
    let of_trace = workload::workload_of_trace(chosen.iter().map(|w| (*w).clone()).collect::<Vec<_>>().as_slice(), ds.trace_info.len());
    let mut values: Vec<&String> = groups.iter().collect();
    values.sort();
    values.dedup();
    let workloads_of = |v: &String| -> Vec<usize> {
        let mut ws: Vec<usize> = facts.runs.iter().zip(&groups).filter(|(_, g)| *g == v).map(|(r, _)| of_trace[r.trace_id as usize]).collect();
        ws.sort_unstable();
        ws.dedup();
        ws
    };
    let mut group_workload: Vec<(String, usize)> = Vec::new();
    for v in &values {
        let ws = workloads_of(v);
        if ws.len() > 1 {
            // Selections that leave one workload per group: each of this group's workloads
            // with the first workload of every other group.
            let others: Vec<usize> = values.iter().filter(|o| *o != v).filter_map(|o| workloads_of(o).first().copied()).collect();
            let picks: Vec<String> = ws
                .iter()
                .map(|&w| {
                    let mut pick: Vec<usize> = others.iter().copied().chain(std::iter::once(w)).map(|i| chosen[i].index).collect();
                    pick.sort_unstable();
                    pick.dedup();
                    format!("--workload {}", pick.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","))
                })
                .collect();
            return Err(Error::Invalid(format!(
                "--by {}: group {v:?} holds runs of {} workloads ({}); a comparison group must be one workload, else its runs would be pooled. Choose one workload per group with --workload: {}",
                c.key,
                ws.len(),
                ws.iter().map(|&i| format!("{}: {}", chosen[i].index, chosen[i].label)).collect::<Vec<_>>().join("; "),
                picks.join(" or "),
            )));
        }
        group_workload.push(((*v).clone(), ws[0]));
    }
    let mut result = comparison::compare(&facts, &groups, c).map_err(Error::Invalid)?;
    let base = group_workload.iter().find(|(g, _)| *g == result.baseline).map(|x| x.1);
    if let Some(b) = base {
        for (g, w) in group_workload.iter().filter(|(g, _)| *g != result.baseline) {
            let d = chosen[b].differences(chosen[*w], &c.key);
            if !d.is_empty() {
                result.notes.push(format!(
                    "{} (the baseline, workload {}) and {} (workload {}) differ in more than {}: {}.",
                    result.baseline,
                    chosen[b].index,
                    g,
                    chosen[*w].index,
                    c.key,
                    d.join(", ")
                ));
            }
        }
    }
    Ok(result)
}

/// Every analysis of one workload's runs (`facts` holds only them).
fn analyze_workload(ds: &Dataset, all: &Facts, options: &AnalyzeOptions, w: &workload::Workload, several: bool) -> Result<Report> {
    let variants = all.variants();
    let shown = shown_variant(&variants, options.variant.as_ref(), w, several)?;
    let fine_owned;
    let fine = match &shown {
        Some(v) if variants.len() > 1 => {
            fine_owned = all.only_variant(v);
            &fine_owned
        }
        _ => all,
    };
    let facts = fine.rolled_up(options.rollup);
    check_frames(&facts, options.frames, w, several)?;
    let mut ranking = ranking::rank(&facts, options.frames);
    let distribution = tree::distribution(&facts, options.frames);
    let mut scaling = scaling::scaling(&facts);
    let overhead = overhead::overhead(fine);
    let attribution = attribution::attribution(&facts);
    let memory = memory::memory(&facts);
    let variant_comparison = variant_comparison(all, &variants, options);
    let mut notes = Vec::new();
    let comparison = requested_comparison(ds, all, &facts, options, several, &mut notes)?;
    // Recommendations always look at the fine components (the buckets blur bound and caching).
    let mut fine_ranking = if options.rollup == Rollup::Fine { None } else { ranking::rank(fine, options.frames) };
    let mut fine_scaling = if options.rollup == Rollup::Fine { None } else { Some(scaling::scaling(fine)) };
    let builtin_model = fine.names.iter().all(|n| trace_format::taxonomy::is_builtin(n));
    // The seed report is about the built-in video model; its claims mean nothing for others.
    let mut seed_claims = if builtin_model { seed::seed_claims(fine) } else { seed::SeedClaims::default() };
    decide_report_claims([ranking.as_mut(), fine_ranking.as_mut()], [Some(&mut scaling), fine_scaling.as_mut()], &mut seed_claims);
    let (recommendations, not_supported) = recommend::recommend_measured(
        fine_ranking.as_ref().or(ranking.as_ref()),
        Some(fine_scaling.as_ref().unwrap_or(&scaling)),
        Some(&overhead),
        comparison.as_ref().filter(|c| c.key != "variant"),
        variant_comparison.as_ref(),
    );
    let predictions = if options.predict_tokens.is_empty() && options.predict_frames.is_empty() {
        Vec::new()
    } else {
        let at = predict::lengths(fine_scaling.as_ref().unwrap_or(&scaling), &options.predict_tokens, &options.predict_frames).map_err(Error::Invalid)?;
        predict::predict(fine_scaling.as_ref().unwrap_or(&scaling), &at)
    };
    let findings = findings(ranking.as_ref(), &scaling, &recommendations);
    let mut inputs = inputs(ds, all, &w.traces, options.rollup);
    inputs.variant = shown;
    inputs.variants = variants;
    Ok(Report {
        title: options.title.clone().unwrap_or_else(|| DEFAULT_TITLE.to_string()),
        comparison_only: options.comparison_only && options.compare.is_some(),
        inputs,
        workload: Some(w.clone()),
        workloads: Vec::new(),
        separation: None,
        notes,
        ranking,
        attribution,
        distribution,
        scaling,
        overhead,
        memory,
        comparison,
        variants: variant_comparison,
        natural: natural::natural_experiments(all),
        recommendations,
        not_supported,
        predictions,
        findings,
        seed_claims,
        builtin_model,
        sections: Vec::new(),
    })
}

/// An error when `--frames` names a frame count the workload has no run at.
fn check_frames(facts: &Facts, frames: Option<u32>, w: &workload::Workload, several: bool) -> Result<()> {
    if let Some(f) = frames {
        if !facts.runs.iter().any(|r| r.frames == f) {
            return Err(Error::Invalid(if several {
                format!("--frames {f}: workload {} ({}) has no run at {f} frames; `--workload N` picks workloads", w.index, w.label)
            } else {
                format!("--frames {f}: no run has {f} frames")
            }));
        }
    }
    Ok(())
}

/// Variants against the baseline, from every run (the fine names, whatever the rollup), when
/// the workload has a `baseline` variant and others.
fn variant_comparison(all: &Facts, variants: &[String], options: &AnalyzeOptions) -> Option<comparison::Comparison> {
    if variants.len() > 1 && variants.iter().any(|v| v == "baseline") {
        let base = options.compare.clone().unwrap_or_default();
        let opts = comparison::CompareOptions { key: "variant".into(), baseline: None, frames: None, ..base };
        let groups = comparison::run_groups(all, "variant", None);
        comparison::compare(all, &groups, &opts).ok()
    } else {
        None
    }
}

/// The comparison `--by` asks for: by variant over every run in the chosen rollup, by
/// anything else over the shown variant's runs. With several workloads, one that cannot be
/// compared by this key gets a note instead of an error (the others still are compared).
fn requested_comparison(ds: &Dataset, all: &Facts, facts: &Facts, options: &AnalyzeOptions, several: bool, notes: &mut Vec<String>) -> Result<Option<comparison::Comparison>> {
    let Some(c) = &options.compare else { return Ok(None) };
    let result = if c.key == "variant" {
        // Grouped by variant: every run, in the chosen rollup.
        compare(ds, &all.rolled_up(options.rollup), c)
    } else {
        // Grouped by anything else: the shown variant's runs only.
        compare(ds, facts, c)
    };
    match result {
        Ok(c) => Ok(Some(c)),
        Err(Error::Invalid(why)) if several => {
            notes.push(format!("No comparison in this workload: {why}."));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Decides every claim of this report together (false claims controlled across them), then
/// settles what depends on the verdicts.
fn decide_report_claims(mut rankings: [Option<&mut ranking::Ranking>; 2], mut scalings: [Option<&mut scaling::Scaling>; 2], seed_claims: &mut seed::SeedClaims) {
    {
        let mut tests: Vec<&mut verdict::Test> = Vec::new();
        for r in rankings.iter_mut().flatten() {
            tests.extend(r.rows.iter_mut().map(|x| &mut x.attention));
        }
        for s in scalings.iter_mut().flatten() {
            for f in s.fits.iter_mut() {
                tests.push(&mut f.superlinear);
                tests.push(&mut f.quadratic);
                if let Some(t) = f.faster_than_work.as_mut() {
                    tests.push(t);
                }
            }
        }
        tests.extend(seed_claims.tests_mut());
        verdict::decide(&mut tests);
    }
    for r in rankings.iter_mut().flatten() {
        r.settle_priorities();
    }
    for s in scalings.iter_mut().flatten() {
        s.settle();
    }
    seed_claims.settle();
}

/// The few claims a recording supports, for the report's opening: the fused forward, the
/// largest components whose cost is above the noise, growth the data supports, and the
/// recommendation with the largest supported saving.
fn findings(ranking: Option<&ranking::Ranking>, scaling: &scaling::Scaling, recs: &[recommend::Recommendation]) -> Vec<Finding> {
    use crate::units::{interval_ms, ms, pct};
    let mut out = Vec::new();
    if let Some(row) = scaling.rows.iter().rev().find(|r| r.forward_ms.is_some()) {
        out.push(Finding {
            text: format!("The fused forward takes {} ms at {} tokens{}.", ms(row.forward_ms.unwrap_or(0.0)), row.tokens, row.forward_ci95.map_or(String::new(), |c| format!(" ({})", interval_ms(c)))),
            evidence: "Scaling with sequence length".into(),
        });
    }
    if let Some(r) = ranking {
        let top: Vec<String> = r
            .rows
            .iter()
            .filter(|x| !x.group && !x.below_noise && x.share_ci95.is_some_and(|[lo, _]| lo > 0.0))
            .take(3)
            .map(|x| format!("{} {} ({} to {})", x.name, pct(x.share), pct(x.share_ci95.map_or(0.0, |c| c[0])), pct(x.share_ci95.map_or(0.0, |c| c[1]))))
            .collect();
        if !top.is_empty() {
            out.push(Finding {
                text: format!("Largest shares at {} tokens ({}), with 95% intervals: {}.", r.tokens, r.method.as_str(), top.join(", ")),
                evidence: "Bottleneck ranking".into(),
            });
        }
    }
    for f in scaling.fits.iter().filter(|f| f.name != predict::FORWARD) {
        if let (true, Some(p)) = (f.superlinear.supported(), f.power) {
            let why = match f.work {
                Some(w) => format!("; its recorded work grows as L^{:.2}", w.work_exponent),
                None => String::new(),
            };
            out.push(Finding {
                text: format!("{} grows as L^{:.2}{} over the recorded lengths{why}.", f.name, p.exponent, p.exponent_ci95.map_or(String::new(), |[a, b]| format!(" ({a:.2} to {b:.2})"))),
                evidence: "Scaling with sequence length".into(),
            });
        }
        if let (Some(t), Some(w)) = (&f.faster_than_work, f.work) {
            if t.supported() {
                out.push(Finding {
                    text: format!(
                        "{}'s time grows faster than its recorded work: elasticity {:.2}{}.",
                        f.name,
                        w.elasticity.unwrap_or(f64::NAN),
                        w.elasticity_ci95.map_or(String::new(), |[a, b]| format!(" ({a:.2} to {b:.2})"))
                    ),
                    evidence: "Scaling with sequence length".into(),
                });
            }
        }
    }
    if let Some(r) = recs.first() {
        out.push(Finding { text: format!("First recommendation: {}.", r.title), evidence: "Recommendations".into() });
    }
    out
}

/// Compares groups of runs by a metadata key.
pub(crate) fn compare(ds: &Dataset, facts: &Facts, options: &comparison::CompareOptions) -> Result<comparison::Comparison> {
    let trace_values = match options.key.as_str() {
        "variant" | "sync" | "frames" => None,
        key => Some(trace_key_values(&ds.traces, key)?),
    };
    let groups = comparison::run_groups(facts, &options.key, trace_values.as_deref());
    comparison::compare(facts, &groups, options).map_err(Error::Invalid)
}

/// What the report is made from: the given traces of `ds` and their runs in `facts`.
fn inputs(ds: &Dataset, facts: &Facts, traces: &[u32], rollup: Rollup) -> Inputs {
    let distinct = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        v.retain(|s| !s.is_empty());
        v
    };
    let info: Vec<&crate::load::TraceInfo> = traces.iter().filter_map(|&t| ds.trace_info.get(t as usize)).collect();
    let runs: Vec<&facts::RunFacts> = facts.runs.iter().filter(|r| traces.contains(&r.trace_id)).collect();
    let events = if info.len() == ds.trace_info.len() {
        ds.event_count()
    } else {
        runs.iter().flat_map(|r| r.comps.iter()).map(|c| c.calls as usize).sum()
    };
    Inputs {
        files: info.iter().map(|t| base_name(&t.file)).collect(),
        skipped: ds.skipped.iter().map(|s| Skipped { file: base_name(&s.file), reason: strip_dirs(&s.reason) }).collect(),
        warnings: ds.warnings.iter().map(|w| strip_dirs(w)).collect(),
        runs: runs.len(),
        events,
        machines: distinct(info.iter().map(|t| crate::load::machine_of(&t.metadata)).collect()),
        commands: distinct(info.iter().map(|t| strip_dirs(&t.metadata.command_line)).collect()),
        setups: distinct(info.iter().map(|t| format!("{}/{}/{}", t.metadata.backend, t.metadata.dtype, t.metadata.preset)).collect()),
        rollup,
        variant: None,
        variants: Vec::new(),
    }
}

/// The last path component of a file name (reports name files without their directories, so
/// they read the same wherever the traces lie).
pub(crate) fn base_name(file: &str) -> String {
    file.rsplit(['/', '\\']).next().unwrap_or(file).to_string()
}

/// Every whitespace-separated word that is a path (holds a `/`) reduced to its last component,
/// e.g. `./mlx-record --out /data/x.msgpack:` -> `mlx-record --out x.msgpack:`. Words such as
/// component names (`block/ffn/up`) are paths too by this rule, so it is only applied to file
/// names, warnings and recorder command lines.
pub(crate) fn strip_dirs(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            let looks_like_path = w.starts_with('/') || w.starts_with("./") || w.starts_with("../") || w.starts_with('~') || w.contains(".msgpack");
            if looks_like_path && w.contains('/') { base_name(w) } else { w.to_string() }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
