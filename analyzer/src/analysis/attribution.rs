//! Attribution: each component's cost inside the fused forward, from the attributed runs.
//!
//! An attribution set (one trace, variant and frame count) holds plain fused forwards (the
//! references, mean `T0`), controls (every component's outputs forced once through an extra
//! scalar, mean `Tc`) and, per component X, forwards with X's work done `k` more times (mean
//! `TX`). With `f = extra scalars of X's copies / extra scalars of the control` (their bytes in
//! older traces, which summed whole outputs), X's cost per forward is
//!
//! ```text
//! cost(X) = (TX - (1 - f) T0 - f Tc) / k
//! ```
//!
//! a linear combination of independent sample means. Costs of a group of components (a seed
//! bucket, a tree node, the whole forward) add up the same way, so every estimate gets its 95%
//! interval from one rule: the variance of the combination and Student's t. The run-to-run
//! noise is taken as relative (a forward twice as long varies twice as much) and pooled over
//! every sample of the set: with three runs per mean, per-mean variances are too unreliable
//! (Welch-Satterthwaite intervals held the truth in only 90% of simulated recordings), while
//! the pooled estimate has the degrees of freedom of all runs together. An estimate whose
//! interval reaches zero is below the noise.

use std::collections::BTreeMap;

use serde::Serialize;
use trace_format::{PerturbKind, SyncMode};

use super::facts::{Facts, RunFacts, Rollup, seed_bucket};
use super::uncertainty::{Sampler, DRAWS};

/// Fewest samples of every mean in an estimate for it to get an interval.
pub(crate) const MIN_SAMPLES: usize = 3;

/// A cost with its 95% interval (ms per forward).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Estimate {
    /// Point estimate.
    pub(crate) ms: f64,
    /// 95% interval; `None` when a mean has fewer than [`MIN_SAMPLES`] samples.
    pub(crate) ci95: Option<[f64; 2]>,
}

impl Estimate {
    /// The interval reaches zero (or below): the cost cannot be told apart from nothing.
    pub(crate) fn below_noise(&self) -> bool {
        self.ci95.is_some_and(|[lo, _]| lo <= 0.0)
    }
}

/// One sample mean of forward times: the runs kept after slow runs are set aside (and a
/// significant drift removed, see [`attribution_estimate::clean`]).
#[derive(Debug, Clone, Default)]
struct Sample {
    values: Vec<f64>,
    /// Runs recorded, slow ones included: an interval needs [`MIN_SAMPLES`] of them.
    recorded: usize,
}

impl Sample {
    fn n(&self) -> usize {
        self.values.len()
    }
    fn mean(&self) -> f64 {
        self.values.iter().sum::<f64>() / self.values.len().max(1) as f64
    }
}

/// One component's duplicate runs in a set.
#[derive(Debug, Clone, Default)]
struct Target {
    runs: Sample,
    copies: f64,
    /// f of the formula.
    reduced_fraction: f64,
    calls: f64,
    flops: f64,
    bytes: f64,
}

/// The runs of one attribution set.
#[derive(Debug, Clone, Default)]
struct Set {
    trace_id: u32,
    variant: String,
    frames: u32,
    tokens: u64,
    references: Sample,
    controls: Sample,
    targets: BTreeMap<String, Target>,
    /// Runs set aside as slow, and their mean excess over their group.
    slow_runs: usize,
    slow_excess: f64,
    /// The references' trend over the set.
    drift: Option<attribution_estimate::Drift>,
}

impl Set {
    /// The estimate of `sum over names of cost(X)`, ms.
    fn estimate(&self, names: &[&String]) -> Option<Estimate> {
        self.combination(&names.iter().map(|n| (1.0, *n)).collect::<Vec<_>>())
    }

    /// The estimate of `sum over (w, X) of w * cost(X)`, ms: a sum with weights 1, a parent's
    /// self cost with its children at -1.
    fn combination(&self, terms: &[(f64, &String)]) -> Option<Estimate> {
        let mut coefficient_ref = 0.0;
        let mut coefficient_ctrl = 0.0;
        let mut point = 0.0;
        let mut parts: Vec<(f64, &Sample)> = Vec::new();
        for &(w, name) in terms {
            let t = self.targets.get(name)?;
            let k = t.copies.max(1.0);
            let f = if self.controls.n() > 0 { t.reduced_fraction } else { 0.0 };
            parts.push((w / k, &t.runs));
            coefficient_ref -= w * (1.0 - f) / k;
            coefficient_ctrl -= w * f / k;
            point += w * t.runs.mean() / k;
        }
        point += coefficient_ref * self.references.mean();
        parts.push((coefficient_ref, &self.references));
        if coefficient_ctrl != 0.0 {
            point += coefficient_ctrl * self.controls.mean();
            parts.push((coefficient_ctrl, &self.controls));
        }
        let enough = parts.iter().all(|(_, s)| s.recorded >= MIN_SAMPLES);
        let slices: Vec<(f64, &[f64])> = parts.iter().map(|(c, s)| (*c, s.values.as_slice())).collect();
        let half = self.noise().filter(|_| enough).and_then(|noise| attribution_estimate::combination_half_width(&slices, noise));
        Some(Estimate { ms: point / 1e6, ci95: half.map(|h| [(point - h) / 1e6, (point + h) / 1e6]) })
    }
}

/// Joint draws of a set's sample means (see [`super::uncertainty`]): one pooled variance drawn
/// per index for the whole set, then every mean around its measured value.
struct MeanDraws {
    references: Vec<f64>,
    controls: Vec<f64>,
    targets: BTreeMap<String, Vec<f64>>,
}

impl Set {
    fn key(&self) -> String {
        format!("attribution/{}/{}/{}", self.trace_id, self.variant, self.frames)
    }

    /// `None` when a mean has fewer than [`MIN_SAMPLES`] samples or there is no noise estimate.
    fn mean_draws(&self) -> Option<MeanDraws> {
        let noise = self.noise()?;
        if self.references.recorded < MIN_SAMPLES || self.targets.values().any(|t| t.runs.recorded < MIN_SAMPLES || t.runs.n() == 0) {
            return None;
        }
        let mut s = Sampler::new(&self.key());
        let factors: Vec<f64> = (0..DRAWS).map(|_| s.variance_factor(noise.df)).collect();
        let mut draw = |sample: &Sample| -> Vec<f64> {
            let m = sample.mean();
            let n = sample.n().max(1) as f64;
            factors.iter().map(|f| m + (noise.relative_var * f / n).sqrt() * m * s.normal()).collect()
        };
        let references = draw(&self.references);
        let controls = if self.controls.recorded >= MIN_SAMPLES && self.controls.n() > 0 { draw(&self.controls) } else { vec![self.controls.mean(); DRAWS] };
        let targets = self.targets.iter().map(|(k, t)| (k.clone(), draw(&t.runs))).collect();
        Some(MeanDraws { references, controls, targets })
    }

    /// Draws of `sum over names of cost(X)`, ms, by the cost formula on drawn means.
    fn cost_draws(&self, draws: &MeanDraws, names: &[&String]) -> Vec<f64> {
        self.combination_draws(draws, &names.iter().map(|n| (1.0, *n)).collect::<Vec<_>>())
    }

    /// Draws of `sum over (w, X) of w * cost(X)`, ms.
    fn combination_draws(&self, draws: &MeanDraws, terms: &[(f64, &String)]) -> Vec<f64> {
        let mut out = vec![0.0; DRAWS];
        for &(w, name) in terms {
            let (Some(t), Some(tx)) = (self.targets.get(name), draws.targets.get(name)) else { continue };
            let k = t.copies.max(1.0);
            let f = if self.controls.n() > 0 { t.reduced_fraction } else { 0.0 };
            for (i, o) in out.iter_mut().enumerate() {
                *o += w * (tx[i] - (1.0 - f) * draws.references[i] - f * draws.controls[i]) / k / 1e6;
            }
        }
        out
    }
}

use attribution_estimate::Noise;

impl Set {
    fn samples(&self) -> impl Iterator<Item = &Sample> {
        std::iter::once(&self.references).chain(std::iter::once(&self.controls)).chain(self.targets.values().map(|t| &t.runs))
    }

    fn noise(&self) -> Option<Noise> {
        attribution_estimate::pooled_noise(self.samples().map(|s| s.values.as_slice()))
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (not necessarily whole).
pub(crate) fn t_975(df: f64) -> f64 {
    super::stats::student_t_quantile(0.975, df.max(1.0))
}

/// What the control's cost is shared out by: the count of extra scalar outputs, each of which
/// costs a fixed amount; the bytes they reduced in traces that summed whole outputs.
fn extra_measure(p: &trace_format::Perturbation) -> f64 {
    if p.reduced_arrays > 0 { p.reduced_arrays as f64 } else { p.reduced_bytes as f64 }
}

fn sets_of<'a>(runs: impl Iterator<Item = &'a RunFacts>) -> Vec<Set> {
    let mut sets: BTreeMap<(u32, String, u32), Set> = BTreeMap::new();
    let mut reduced: BTreeMap<(u32, String, u32), (Vec<f64>, BTreeMap<String, Vec<f64>>)> = BTreeMap::new();
    // Each run's target (None: reference or control), position and time, for the cleaning.
    let mut timed: BTreeMap<(u32, String, u32), Vec<(PerturbKind, Option<String>, f64, f64)>> = BTreeMap::new();
    for r in runs.filter(|r| r.sync == SyncMode::Attributed && !r.warmup) {
        let Some(p) = &r.perturbation else { continue };
        let key = (r.trace_id, r.variant.clone(), r.frames);
        timed.entry(key.clone()).or_default().push((p.kind, p.target.clone(), r.run as f64, r.forward_ns as f64));
        let set = sets.entry(key.clone()).or_insert_with(|| Set {
            trace_id: r.trace_id,
            variant: r.variant.clone(),
            frames: r.frames,
            tokens: r.tokens,
            ..Set::default()
        });
        let red = reduced.entry(key).or_default();
        match (p.kind, &p.target) {
            (PerturbKind::Reference, _) => set.references.values.push(r.forward_ns as f64),
            (PerturbKind::Control, _) => {
                set.controls.values.push(r.forward_ns as f64);
                red.0.push(extra_measure(p));
            }
            (PerturbKind::Duplicate, Some(name)) if p.copies > 0 => {
                let t = set.targets.entry(name.clone()).or_default();
                t.runs.values.push(r.forward_ns as f64);
                t.copies = p.copies as f64;
                t.calls = p.target_calls as f64;
                t.flops = p.target_flops * p.target_calls as f64;
                t.bytes = p.target_bytes * p.target_calls as f64;
                red.1.entry(name.clone()).or_default().push(extra_measure(p));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (key, mut set) in sets {
        let (ctrl, per_target) = &reduced[&key];
        let ctrl_bytes = ctrl.iter().sum::<f64>() / ctrl.len().max(1) as f64;
        for (name, t) in set.targets.iter_mut() {
            let b = &per_target[name];
            let mean = b.iter().sum::<f64>() / b.len().max(1) as f64;
            t.reduced_fraction = if ctrl_bytes > 0.0 { mean / ctrl_bytes } else { 0.0 };
        }
        if set.references.n() > 0 && !set.targets.is_empty() {
            clean_set(&mut set, &timed[&key]);
            out.push(set);
        }
    }
    out
}

/// Replaces a set's run times by those [`attribution_estimate::clean`] keeps: slow runs set
/// aside, a significant drift of the references removed.
fn clean_set(set: &mut Set, runs: &[(PerturbKind, Option<String>, f64, f64)]) {
    use attribution_estimate::{Role, Timed};
    let index: BTreeMap<&String, usize> = set.targets.keys().enumerate().map(|(i, n)| (n, i)).collect();
    let timed: Vec<Timed> = runs
        .iter()
        .filter_map(|(kind, target, order, time)| {
            let role = match (kind, target) {
                (PerturbKind::Reference, _) => Role::Reference,
                (PerturbKind::Control, _) => Role::Control,
                (PerturbKind::Duplicate, Some(name)) => Role::Duplicate(*index.get(name)?),
                _ => return None,
            };
            Some(Timed { role, order: *order, time: *time })
        })
        .collect();
    let cleaned = attribution_estimate::clean(&timed, index.len());
    let keep = |sample: &mut Sample, values: Vec<f64>| {
        sample.recorded = sample.values.len();
        sample.values = values;
    };
    let mut targets = cleaned.samples.targets.into_iter();
    for t in set.targets.values_mut() {
        keep(&mut t.runs, targets.next().unwrap_or_default());
    }
    keep(&mut set.references, cleaned.samples.references);
    keep(&mut set.controls, cleaned.samples.controls);
    set.slow_runs = cleaned.slow_runs;
    set.slow_excess = cleaned.slow_excess;
    set.drift = cleaned.drift;
}

/// One component (or bucket) of an attribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AttributedComp {
    /// Component or bucket name.
    pub(crate) name: String,
    /// Cost per forward.
    pub(crate) estimate: Estimate,
    /// Whether the interval reaches zero.
    pub(crate) below_noise: bool,
    /// Invocations per forward.
    pub(crate) calls: f64,
    /// Analytic FLOPs per forward.
    pub(crate) flops: f64,
    /// Analytic minimum bytes per forward.
    pub(crate) bytes: f64,
    /// Duplicate runs behind the estimate (the smallest count among its components).
    pub(crate) runs: usize,
    /// The component it runs inside, when components nest; its cost is part of the parent's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) parent: Option<String>,
    /// For a component with nested components: its cost minus theirs (the work it does
    /// itself, glue between its children included), with its interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) self_cost: Option<Estimate>,
    /// Joint draws of the cost, ms (see [`super::uncertainty`]); `None` without an interval.
    #[serde(skip)]
    pub(crate) draws: Option<Vec<f64>>,
}

/// The attribution of one trace, variant and frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AttributedSet {
    /// Trace.
    pub(crate) trace_id: u32,
    /// Variant.
    pub(crate) variant: String,
    /// Frames.
    pub(crate) frames: u32,
    /// Tokens.
    pub(crate) tokens: u64,
    /// Plain fused forwards (references) used.
    pub(crate) references: usize,
    /// Control runs used.
    pub(crate) controls: usize,
    /// Rounds recorded (duplicate runs per component, smallest, slow ones included).
    pub(crate) rounds: usize,
    /// Extra copies per duplicate (largest).
    pub(crate) copies: u32,
    /// Mean plain fused forward, ms, with its interval.
    pub(crate) fused: Estimate,
    /// What the control's extra outputs cost (Tc - T0), ms.
    pub(crate) control_ms: Option<f64>,
    /// Components (or buckets), largest first.
    pub(crate) comps: Vec<AttributedComp>,
    /// Sum of the components' costs, with its interval: of the top-level ones when components
    /// nest (a child's cost is part of its parent's).
    pub(crate) sum: Estimate,
    /// fused - sum: what no component's duplicate accounts for, ms.
    pub(crate) rest_ms: f64,
    /// (sum / fused - 1) * 100.
    pub(crate) sum_error_pct: f64,
    /// Runs set aside as slow (more than a few robust standard deviations above their group).
    pub(crate) slow_runs: usize,
    /// Their mean excess over their group's typical time (0.4: 40% slower).
    pub(crate) slow_excess: f64,
    /// The references' trend over the recording of this set; removed from every run when
    /// significant (`corrected`).
    pub(crate) drift: Option<DriftNote>,
    /// Draws of the mean plain fused forward, ms, joint with the components' draws.
    #[serde(skip)]
    pub(crate) fused_draws: Option<Vec<f64>>,
    /// Components this trace's variant perturbs at another frame count but this set never did
    /// (a recording stopped in the middle of a round): the set's sum lacks them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) missing: Vec<String>,
}

/// How much the plain forward drifted over a set's runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct DriftNote {
    /// Relative change of the fitted plain forward from its first run to its last.
    pub(crate) change: f64,
    /// 95% interval of the change.
    pub(crate) ci95: [f64; 2],
    /// Significant at 1%, and removed from every run before the costs were estimated.
    pub(crate) corrected: bool,
}

/// The display name of a fine component under a rollup.
fn group_of(name: &str, rollup: Rollup) -> String {
    match rollup {
        Rollup::Fine => name.to_string(),
        Rollup::Seed => seed_bucket(name),
    }
}

fn attributed_set(set: &Set, rollup: Rollup, parents: &BTreeMap<String, String>) -> Option<AttributedSet> {
    // A parent counts only when it was attributed itself; a child of anything else is top-level.
    let parent_of = |name: &str| parents.get(name).filter(|p| set.targets.contains_key(p.as_str())).cloned();
    let mut groups: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for name in set.targets.keys() {
        groups.entry(group_of(name, rollup)).or_default().push(name);
    }
    let mean_draws = set.mean_draws();
    let mut comps: Vec<AttributedComp> = groups
        .iter()
        .filter_map(|(group, names)| {
            let estimate = set.estimate(names)?;
            let draws = mean_draws.as_ref().map(|d| set.cost_draws(d, names));
            let ts: Vec<&Target> = names.iter().map(|n| &set.targets[*n]).collect();
            Some(AttributedComp {
                name: group.clone(),
                below_noise: estimate.below_noise(),
                estimate,
                calls: ts.iter().map(|t| t.calls).sum(),
                flops: ts.iter().map(|t| t.flops).sum(),
                bytes: ts.iter().map(|t| t.bytes).sum(),
                runs: ts.iter().map(|t| t.runs.n()).min().unwrap_or(0),
                parent: if rollup == Rollup::Fine { parent_of(group) } else { None },
                self_cost: None,
                draws,
            })
        })
        .collect();
    // Self costs: a parent's cost minus its attributed children's.
    if rollup == Rollup::Fine {
        for c in comps.iter_mut() {
            let children: Vec<&String> = set.targets.keys().filter(|n| parent_of(n).as_deref() == Some(c.name.as_str())).collect();
            if children.is_empty() {
                continue;
            }
            let mut terms: Vec<(f64, &String)> = vec![(1.0, &c.name)];
            terms.extend(children.iter().map(|n| (-1.0, *n)));
            c.self_cost = set.combination(&terms);
        }
    }
    comps.sort_by(|a, b| b.estimate.ms.total_cmp(&a.estimate.ms).then_with(|| a.name.cmp(&b.name)));
    let top: Vec<&String> = set.targets.keys().filter(|n| parent_of(n).is_none()).collect();
    let sum = set.estimate(&top)?;
    let n0 = set.references.n();
    let fused_ms = set.references.mean() / 1e6;
    let fused_ci = set.noise().filter(|_| set.references.recorded >= MIN_SAMPLES && n0 > 0).map(|noise| {
        let half = t_975(noise.df) * (noise.relative_var / n0 as f64).sqrt() * fused_ms;
        [fused_ms - half, fused_ms + half]
    });
    Some(AttributedSet {
        trace_id: set.trace_id,
        variant: set.variant.clone(),
        frames: set.frames,
        tokens: set.tokens,
        references: n0,
        controls: set.controls.n(),
        rounds: set.targets.values().map(|t| t.runs.recorded).min().unwrap_or(0),
        copies: set.targets.values().map(|t| t.copies as u32).max().unwrap_or(0),
        fused: Estimate { ms: fused_ms, ci95: fused_ci },
        control_ms: (set.controls.n() > 0).then(|| (set.controls.mean() - set.references.mean()) / 1e6),
        comps,
        rest_ms: fused_ms - sum.ms,
        sum_error_pct: if fused_ms > 0.0 { (sum.ms / fused_ms - 1.0) * 100.0 } else { 0.0 },
        sum,
        slow_runs: set.slow_runs,
        slow_excess: set.slow_excess,
        drift: set.drift.map(|d| DriftNote { change: d.change, ci95: d.ci95, corrected: d.corrected }),
        fused_draws: mean_draws.map(|d| d.references.iter().map(|v| v / 1e6).collect()),
        missing: Vec::new(),
    })
}

/// Every trace's and variant's perturbed components (in `rollup`), over all frame counts.
fn perturbed_anywhere(facts: &Facts) -> BTreeMap<(u32, &str), std::collections::BTreeSet<String>> {
    let mut out: BTreeMap<(u32, &str), std::collections::BTreeSet<String>> = BTreeMap::new();
    for r in facts.runs.iter().filter(|r| r.sync == SyncMode::Attributed && !r.warmup) {
        if let Some(target) = r.perturbation.as_ref().and_then(|p| p.target.as_deref()) {
            out.entry((r.trace_id, r.variant.as_str())).or_default().insert(group_of(target, facts.rollup));
        }
    }
    out
}

/// Fills each set's [`AttributedSet::missing`].
fn mark_missing(facts: &Facts, sets: &mut [AttributedSet]) {
    let all = perturbed_anywhere(facts);
    for s in sets {
        if let Some(names) = all.get(&(s.trace_id, s.variant.as_str())) {
            s.missing = names.iter().filter(|n| !s.comps.iter().any(|c| &c.name == *n)).cloned().collect();
        }
    }
}

/// Every attribution set of the facts' runs, in the facts' rollup, by frames then trace.
pub(crate) fn attribution(facts: &Facts) -> Vec<AttributedSet> {
    let mut out: Vec<AttributedSet> = sets_of(facts.runs.iter()).iter().filter_map(|s| attributed_set(s, facts.rollup, &facts.parents)).collect();
    mark_missing(facts, &mut out);
    out.sort_by(|a, b| (a.frames, a.trace_id, &a.variant).cmp(&(b.frames, b.trace_id, &b.variant)));
    out
}

/// The attribution sets at `frames`.
pub(crate) fn sets_at(facts: &Facts, frames: u32) -> Vec<AttributedSet> {
    let runs = facts.runs.iter().filter(|r| r.frames == frames);
    let mut out: Vec<AttributedSet> = sets_of(runs).iter().filter_map(|s| attributed_set(s, facts.rollup, &facts.parents)).collect();
    mark_missing(facts, &mut out);
    out.sort_by(|a, b| (a.trace_id, &a.variant).cmp(&(b.trace_id, &b.variant)));
    out
}

/// Frame counts with attributed runs, ascending.
pub(crate) fn frame_counts(facts: &Facts) -> Vec<u32> {
    let mut f: Vec<u32> = facts.runs.iter().filter(|r| r.sync == SyncMode::Attributed && !r.warmup).map(|r| r.frames).collect();
    f.sort_unstable();
    f.dedup();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_table_and_the_normal_limit() {
        // Printed tables give three decimals.
        assert!((t_975(2.0) - 4.303).abs() < 5e-4);
        assert!((t_975(10.0) - 2.228).abs() < 5e-4);
        // Beyond the table: t(40) = 2.0211, t(120) = 1.9799, t(inf) = 1.95996.
        assert!((t_975(40.0) - 2.0211).abs() < 2e-3, "{}", t_975(40.0));
        assert!((t_975(120.0) - 1.9799).abs() < 1e-3);
        assert!((t_975(1e9) - 1.95996).abs() < 1e-4);
        // Between table entries, between the neighbours.
        let mid = t_975(2.5);
        assert!(mid < 4.303 && mid > 3.182);
    }

    fn sample(v: &[f64]) -> Sample {
        Sample { values: v.to_vec(), recorded: v.len() }
    }

    #[test]
    fn the_cost_formula_by_hand() {
        // T0 = 100, Tc = 110 (the reductions of everything cost 10), X duplicated twice with
        // reductions of 30% of the control's bytes: TX = 100 + 2 * 20 + 0.3 * 10 = 143.
        let mut set = Set { references: sample(&[99.0, 100.0, 101.0]), controls: sample(&[110.0, 110.0, 110.0]), ..Set::default() };
        set.targets.insert(
            "x".into(),
            Target { runs: sample(&[142.0, 143.0, 144.0]), copies: 2.0, reduced_fraction: 0.3, calls: 1.0, flops: 0.0, bytes: 0.0 },
        );
        let names = [&"x".to_string()];
        let e = set.estimate(&names).unwrap();
        assert!((e.ms * 1e6 - 20.0).abs() < 1e-9, "{}", e.ms * 1e6);
        // Pooled relative variance over the three samples (2 degrees of freedom each), then the
        // coefficients 1/2 (X), -(1 - 0.3)/2 (references) and -0.3/2 (controls).
        let rv = (2.0 * 0.01f64.powi(2) + 2.0 * (1.0f64 / 143.0).powi(2)) / 6.0;
        let v = 0.25 * rv * 143.0f64.powi(2) / 3.0 + 0.35f64.powi(2) * rv * 100.0f64.powi(2) / 3.0 + 0.15f64.powi(2) * rv * 110.0f64.powi(2) / 3.0;
        let [lo, hi] = e.ci95.unwrap();
        let half = (hi - lo) / 2.0 * 1e6;
        assert!((half - t_975(6.0) * v.sqrt()).abs() < 1e-9, "{half}");
        assert!(!e.below_noise());
    }

    #[test]
    fn fewer_than_three_samples_give_no_interval() {
        let mut set = Set { references: sample(&[100.0, 101.0]), ..Set::default() };
        set.targets.insert("x".into(), Target { runs: sample(&[120.0, 121.0, 119.0]), copies: 1.0, ..Target::default() });
        let e = set.estimate(&[&"x".to_string()]).unwrap();
        assert!(e.ci95.is_none() && !e.below_noise());
        assert!((e.ms * 1e6 - 19.5).abs() < 1e-9);
    }
}
