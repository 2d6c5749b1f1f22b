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
    /// Minor page faults of every recorded run, slow ones included (a slow run's memory is
    /// not the interference its time is).
    faults: Vec<f64>,
}

impl Sample {
    fn n(&self) -> usize {
        self.values.len()
    }
    fn mean(&self) -> f64 {
        self.values.iter().sum::<f64>() / self.values.len().max(1) as f64
    }
    fn mean_faults(&self) -> f64 {
        self.faults.iter().sum::<f64>() / self.faults.len().max(1) as f64
    }
}

/// A component's duplicate runs at one number of copies.
#[derive(Debug, Clone, Default)]
struct Level {
    runs: Sample,
    /// k of the formula.
    copies: f64,
    /// f of the formula.
    reduced_fraction: f64,
}

impl Level {
    /// An interval can be had from it: [`MIN_SAMPLES`] runs recorded and some kept.
    fn measured(&self) -> bool {
        self.runs.recorded >= MIN_SAMPLES && self.runs.n() > 0
    }
}

/// One component's duplicate runs in a set, at each number of copies it was recorded with (one
/// level, or two where the recorder cycled through two to check the method's additivity).
#[derive(Debug, Clone, Default)]
struct Target {
    /// Ascending copies.
    levels: Vec<Level>,
    calls: f64,
    flops: f64,
    bytes: f64,
}

impl Target {
    /// The level of `copies` extra copies, added where new.
    fn level_mut(&mut self, copies: f64) -> &mut Level {
        let i = match self.levels.iter().position(|l| l.copies >= copies) {
            Some(i) if self.levels[i].copies == copies => i,
            Some(i) => {
                self.levels.insert(i, Level { copies, ..Level::default() });
                i
            }
            None => {
                self.levels.push(Level { copies, ..Level::default() });
                self.levels.len() - 1
            }
        };
        &mut self.levels[i]
    }

    /// Levels an interval can be had from ([`Level::measured`]).
    fn measured(&self) -> impl Iterator<Item = &Level> {
        self.levels.iter().filter(|l| l.measured())
    }

    /// How the levels pool into the component's cost: weights summing to 1, each level's
    /// proportional to `runs x copies^2`, the inverse of its per-copy estimate's variance
    /// ([`attribution_estimate::level_weights`]). Levels short of [`MIN_SAMPLES`] weigh
    /// nothing while another level has them. (weight, index into `levels`).
    fn pooled(&self) -> Vec<(f64, usize)> {
        let any_measured = self.measured().next().is_some();
        let usable: Vec<usize> = (0..self.levels.len()).filter(|&j| !any_measured || self.levels[j].measured()).collect();
        let raw: Vec<f64> = usable.iter().map(|&j| self.levels[j].runs.n() as f64 * self.levels[j].copies.max(1.0).powi(2)).collect();
        let total: f64 = raw.iter().sum();
        let equal = 1.0 / usable.len().max(1) as f64;
        usable.into_iter().zip(raw).map(|(j, w)| (if total > 0.0 { w / total } else { equal }, j)).collect()
    }

    /// [`Target::pooled`] with the levels themselves.
    fn pooled_levels(&self) -> impl Iterator<Item = (f64, &Level)> {
        self.pooled().into_iter().map(|(a, j)| (a, &self.levels[j]))
    }


    /// Runs kept over all levels.
    fn kept(&self) -> usize {
        self.levels.iter().map(|l| l.runs.n()).sum()
    }

    /// Runs recorded over all levels (the rounds that perturbed it).
    fn recorded(&self) -> usize {
        self.levels.iter().map(|l| l.runs.recorded).sum()
    }
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
    /// A run of the set has no page-fault count (older traces, other recorders).
    faults_missing: bool,
}

impl Set {
    /// The estimate of `sum over names of cost(X)`, ms.
    fn estimate(&self, names: &[&String]) -> Option<Estimate> {
        self.combination(&names.iter().map(|n| (1.0, *n)).collect::<Vec<_>>())
    }

    /// The estimate of `sum over (w, X) of w * cost(X)`, ms: a sum with weights 1, a parent's
    /// self cost with its children at -1. Each cost pools its component's levels.
    fn combination(&self, terms: &[(f64, &String)]) -> Option<Estimate> {
        let mut levels: Vec<(f64, &Level)> = Vec::new();
        for &(w, name) in terms {
            levels.extend(self.targets.get(name)?.pooled_levels().map(|(a, l)| (w * a, l)));
        }
        self.level_combination(&levels)
    }

    /// `sum over (w, level) of w * (that level's cost formula)` as coefficients of the set's
    /// sample means: `(coefficient, sample)`.
    fn coefficients<'s>(&'s self, terms: &[(f64, &'s Level)]) -> Vec<(f64, &'s Sample)> {
        let mut coefficient_ref = 0.0;
        let mut coefficient_ctrl = 0.0;
        let mut parts: Vec<(f64, &Sample)> = Vec::new();
        for &(w, level) in terms.iter().filter(|(w, _)| *w != 0.0) {
            let k = level.copies.max(1.0);
            let f = if self.controls.n() > 0 { level.reduced_fraction } else { 0.0 };
            parts.push((w / k, &level.runs));
            coefficient_ref -= w * (1.0 - f) / k;
            coefficient_ctrl -= w * f / k;
        }
        parts.push((coefficient_ref, &self.references));
        if coefficient_ctrl != 0.0 {
            parts.push((coefficient_ctrl, &self.controls));
        }
        parts
    }

    /// The estimate of `sum over (w, level) of w * (that level's cost estimate)`, ms.
    fn level_combination(&self, terms: &[(f64, &Level)]) -> Option<Estimate> {
        let parts = self.coefficients(terms);
        let point: f64 = parts.iter().map(|(c, s)| c * s.mean()).sum();
        let enough = parts.iter().all(|(_, s)| s.recorded >= MIN_SAMPLES);
        let slices: Vec<(f64, &[f64])> = parts.iter().map(|(c, s)| (*c, s.values.as_slice())).collect();
        let half = self.noise().filter(|_| enough).and_then(|noise| attribution_estimate::combination_half_width(&slices, noise));
        Some(Estimate { ms: point / 1e6, ci95: half.map(|h| [(point - h) / 1e6, (point + h) / 1e6]) })
    }

    /// The cost formula of `sum over names of cost(X)` applied to the runs' page faults instead
    /// of their times: the faults per forward that those costs include beyond the plain
    /// forward's. `None` where a run has no count.
    /// With its 95% interval (Welch's: a fault count's noise is not relative to the forward's
    /// time as the times' is); none when a mean has fewer than [`MIN_SAMPLES`] runs.
    fn extra_faults(&self, names: &[&String]) -> Option<(f64, Option<[f64; 2]>)> {
        if self.faults_missing {
            return None;
        }
        let mut levels: Vec<(f64, &Level)> = Vec::new();
        for name in names {
            levels.extend(self.targets.get(*name)?.pooled_levels());
        }
        let parts = self.coefficients(&levels);
        let point: f64 = parts.iter().map(|(c, s)| c * s.mean_faults()).sum();
        let enough = parts.iter().all(|(_, s)| s.faults.len() >= MIN_SAMPLES);
        let slices: Vec<(f64, &[f64])> = parts.iter().map(|(c, s)| (*c, s.faults.as_slice())).collect();
        let interval = enough.then(|| super::stats::welch_combination(&slices)).flatten().map(|(_, se, df)| {
            // All counts equal: no spread, the interval is the point.
            let half = if se > 0.0 { t_975(df) * se } else { 0.0 };
            [point - half, point + half]
        });
        Some((point, interval))
    }
}

/// Joint draws of a set's sample means (see [`super::uncertainty`]): one pooled variance drawn
/// per index for the whole set, then every mean around its measured value.
struct MeanDraws {
    references: Vec<f64>,
    controls: Vec<f64>,
    /// Per target, per level (as [`Target::levels`]).
    targets: BTreeMap<String, Vec<Vec<f64>>>,
}

impl Set {
    fn key(&self) -> String {
        format!("attribution/{}/{}/{}", self.trace_id, self.variant, self.frames)
    }

    /// `None` when a mean has fewer than [`MIN_SAMPLES`] samples or there is no noise estimate.
    fn mean_draws(&self) -> Option<MeanDraws> {
        let noise = self.noise()?;
        if self.references.recorded < MIN_SAMPLES || self.targets.values().any(|t| t.measured().next().is_none()) {
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
        // Levels short of samples weigh nothing in [`Target::pooled`]: their means stay fixed.
        let targets = self
            .targets
            .iter()
            .map(|(k, t)| (k.clone(), t.levels.iter().map(|l| if l.measured() { draw(&l.runs) } else { vec![l.runs.mean(); DRAWS] }).collect()))
            .collect();
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
            let (Some(t), Some(levels)) = (self.targets.get(name), draws.targets.get(name)) else { continue };
            for (a, j) in t.pooled() {
                let (level, tx) = (&t.levels[j], &levels[j]);
                let k = level.copies.max(1.0);
                let f = if self.controls.n() > 0 { level.reduced_fraction } else { 0.0 };
                for (i, o) in out.iter_mut().enumerate() {
                    *o += w * a * (tx[i] - (1.0 - f) * draws.references[i] - f * draws.controls[i]) / k / 1e6;
                }
            }
        }
        out
    }
}

use attribution_estimate::Noise;

impl Set {
    fn samples(&self) -> impl Iterator<Item = &Sample> {
        std::iter::once(&self.references).chain(std::iter::once(&self.controls)).chain(self.targets.values().flat_map(|t| t.levels.iter().map(|l| &l.runs)))
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

/// An attributed run as the cleaning sees it: kind, target, copies, position, time.
type TimedRun = (PerturbKind, Option<String>, u32, f64, f64);

fn sets_of<'a>(runs: impl Iterator<Item = &'a RunFacts>) -> Vec<Set> {
    let mut sets: BTreeMap<(u32, String, u32), Set> = BTreeMap::new();
    // The extra scalars of the controls, and of each target's duplicates per copies level.
    let mut reduced: BTreeMap<(u32, String, u32), (Vec<f64>, BTreeMap<(String, u32), Vec<f64>>)> = BTreeMap::new();
    // Each run's target (None: reference or control), position and time, for the cleaning.
    let mut timed: BTreeMap<(u32, String, u32), Vec<TimedRun>> = BTreeMap::new();
    for r in runs.filter(|r| r.sync == SyncMode::Attributed && !r.warmup) {
        let Some(p) = &r.perturbation else { continue };
        let key = (r.trace_id, r.variant.clone(), r.frames);
        timed.entry(key.clone()).or_default().push((p.kind, p.target.clone(), p.copies, r.run as f64, r.forward_ns as f64));
        let set = sets.entry(key.clone()).or_insert_with(|| Set {
            trace_id: r.trace_id,
            variant: r.variant.clone(),
            frames: r.frames,
            tokens: r.tokens,
            ..Set::default()
        });
        let red = reduced.entry(key).or_default();
        set.faults_missing |= r.minor_faults.is_none();
        let faults = r.minor_faults.unwrap_or(0) as f64;
        let add = |sample: &mut Sample| {
            sample.values.push(r.forward_ns as f64);
            sample.faults.push(faults);
        };
        match (p.kind, &p.target) {
            (PerturbKind::Reference, _) => add(&mut set.references),
            (PerturbKind::Control, _) => {
                add(&mut set.controls);
                red.0.push(extra_measure(p));
            }
            (PerturbKind::Duplicate, Some(name)) if p.copies > 0 => {
                let t = set.targets.entry(name.clone()).or_default();
                add(&mut t.level_mut(p.copies as f64).runs);
                t.calls = p.target_calls as f64;
                t.flops = p.target_flops * p.target_calls as f64;
                t.bytes = p.target_bytes * p.target_calls as f64;
                red.1.entry((name.clone(), p.copies)).or_default().push(extra_measure(p));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (key, mut set) in sets {
        let (ctrl, per_target) = &reduced[&key];
        let ctrl_bytes = ctrl.iter().sum::<f64>() / ctrl.len().max(1) as f64;
        for (name, t) in set.targets.iter_mut() {
            for level in t.levels.iter_mut() {
                let b = &per_target[&(name.clone(), level.copies as u32)];
                let mean = b.iter().sum::<f64>() / b.len().max(1) as f64;
                level.reduced_fraction = if ctrl_bytes > 0.0 { mean / ctrl_bytes } else { 0.0 };
            }
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
/// Each copies level of each target is a group of its own, as the recorder's tracker has it.
fn clean_set(set: &mut Set, runs: &[TimedRun]) {
    use attribution_estimate::{Role, Timed};
    let index: BTreeMap<(&String, u32), usize> =
        set.targets.iter().flat_map(|(n, t)| t.levels.iter().map(move |l| (n, l.copies as u32))).enumerate().map(|(i, key)| (key, i)).collect();
    let timed: Vec<Timed> = runs
        .iter()
        .filter_map(|(kind, target, copies, order, time)| {
            let role = match (kind, target) {
                (PerturbKind::Reference, _) => Role::Reference,
                (PerturbKind::Control, _) => Role::Control,
                (PerturbKind::Duplicate, Some(name)) if *copies > 0 => Role::Duplicate(*index.get(&(name, *copies))?),
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
    for level in set.targets.values_mut().flat_map(|t| t.levels.iter_mut()) {
        keep(&mut level.runs, targets.next().unwrap_or_default());
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
    /// Extra copies per duplicate (the largest of the components' first levels).
    pub(crate) copies: u32,
    /// Where components were duplicated at two numbers of copies: whether a copy costs the
    /// same at both (the method's additivity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) additivity: Option<Additivity>,
    /// Where every run counted its page faults: the fresh memory the attributed costs include.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fresh_memory: Option<FreshMemory>,
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

/// The additivity check of a set whose components were duplicated at two numbers of copies.
///
/// The method takes `k` copies of a component to cost `k` times what the component costs inside
/// the forward. If a copy's cost depended on how many there are (the copies evicting each
/// other's data, or the allocator's fresh buffers), the per-copy estimates at the two levels
/// would differ, and the attributed costs would carry that dependence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Additivity {
    /// The copies compared: fewer, more (the most common pair among the components).
    pub(crate) copies: [u32; 2],
    /// Top-level components measured at two levels, and all top-level components.
    pub(crate) components: [usize; 2],
    /// Summed over those components, the cost estimated at the higher level minus at the
    /// lower, ms: zero when the copies are additive.
    pub(crate) difference: Estimate,
    /// The attributed sum with each of those components' cost taken where the line through its
    /// two levels meets zero copies (`(k2 c1 - k1 c2) / (k2 - k1)`), ms: the cost a copy would
    /// have if its dependence on the number of copies were linear.
    pub(crate) extrapolated_sum: Estimate,
    /// What the difference's interval says.
    pub(crate) verdict: AdditivityVerdict,
    /// Three explanations of the sum's excess over the set's fused forward, each with the
    /// difference it predicts; `None` without an interval.
    pub(crate) explanations: Option<[Explanation; 3]>,
}

/// One explanation of an attributed sum that differs from its fused forward by `E`, and the
/// difference between the levels it predicts. With pooled weights `a1`, `a2` of the levels
/// (`k1 < k2` copies):
///
/// - a fixed cost `A` per duplicated forward, whatever its copies: `E = A (a1/k1 + a2/k2)` and
///   the difference is `A (1/k2 - 1/k1)`;
/// - an extra cost per copy growing linearly with the copies, `d k`: `E = d (a1 k1 + a2 k2)` and
///   the difference is `d (k2 - k1)`;
/// - a constant extra cost per copy: the difference is 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Explanation {
    /// Which.
    pub(crate) model: ExcessModel,
    /// The difference it predicts, ms.
    pub(crate) predicted_ms: f64,
    /// The difference's 95% interval excludes the prediction.
    pub(crate) contradicted: bool,
}

/// An explanation of the attributed sum's excess (see [`Explanation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ExcessModel {
    /// A fixed cost per duplicated forward.
    FixedPerForward,
    /// An extra cost per copy growing linearly with the copies.
    GrowingPerCopy,
    /// A constant extra cost per copy.
    ConstantPerCopy,
}

/// What the additivity check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AdditivityVerdict {
    /// The difference's interval holds zero: no dependence on the number of copies larger than
    /// the interval.
    Additive,
    /// The whole interval lies above zero: a copy costs more when there are more of them.
    CostlierWithMore,
    /// The whole interval lies below zero: a copy costs less when there are more of them.
    CheaperWithMore,
    /// Too few rounds at a level for an interval.
    Unknown,
}

/// The additivity check over the top-level components `top` (see [`Additivity`]), whose pooled
/// costs sum to `excess` ms more than the set's fused forward; `None` when no component was
/// measured at two levels.
fn additivity(set: &Set, top: &[&String], excess: f64) -> Option<Additivity> {
    let mut pairs: BTreeMap<[u32; 2], usize> = BTreeMap::new();
    // The pooled weight of the fewer copies, over the components measured at two levels.
    let mut lower_weight: Vec<f64> = Vec::new();
    let mut difference: Vec<(f64, &Level)> = Vec::new();
    let mut extrapolated: Vec<(f64, &Level)> = Vec::new();
    let mut measured = 0;
    for name in top {
        let t = &set.targets[*name];
        let levels: Vec<&Level> = if t.measured().count() >= 2 { t.measured().collect() } else { t.levels.iter().collect() };
        match (levels.first(), levels.last()) {
            (Some(lo), Some(hi)) if hi.copies > lo.copies => {
                *pairs.entry([lo.copies as u32, hi.copies as u32]).or_default() += 1;
                measured += 1;
                difference.extend([(1.0, *hi), (-1.0, *lo)]);
                lower_weight.extend(t.pooled_levels().filter(|(_, l)| l.copies == lo.copies).map(|(a, _)| a));
                let span = hi.copies - lo.copies;
                extrapolated.extend([(hi.copies / span, *lo), (-lo.copies / span, *hi)]);
            }
            _ => extrapolated.extend(t.pooled_levels()),
        }
    }
    let copies = pairs.iter().max_by_key(|(_, n)| **n).map(|(p, _)| *p)?;
    let difference = set.level_combination(&difference)?;
    let verdict = match difference.ci95 {
        None => AdditivityVerdict::Unknown,
        Some([lo, _]) if lo > 0.0 => AdditivityVerdict::CostlierWithMore,
        Some([_, hi]) if hi < 0.0 => AdditivityVerdict::CheaperWithMore,
        Some(_) => AdditivityVerdict::Additive,
    };
    let explanations = difference.ci95.map(|[lo, hi]| {
        let (k1, k2) = (copies[0] as f64, copies[1] as f64);
        let a1 = lower_weight.iter().sum::<f64>() / lower_weight.len().max(1) as f64;
        let a2 = 1.0 - a1;
        let explain = |model, predicted_ms: f64| Explanation { model, predicted_ms, contradicted: !(lo..=hi).contains(&predicted_ms) };
        [
            explain(ExcessModel::FixedPerForward, excess * (1.0 / k2 - 1.0 / k1) / (a1 / k1 + a2 / k2)),
            explain(ExcessModel::GrowingPerCopy, excess * (k2 - k1) / (a1 * k1 + a2 * k2)),
            explain(ExcessModel::ConstantPerCopy, 0.0),
        ]
    });
    Some(Additivity { copies, components: [measured, top.len()], difference, extrapolated_sum: set.level_combination(&extrapolated)?, verdict, explanations })
}

/// The page faults of a set's runs: fresh memory the OS handed out, which the plain forward
/// mostly reuses from one forward to the next. Copies that took fresh memory where the
/// component's own outputs reuse it would pay faults the component does not, and the cost
/// formula would charge them to the component: a cost per copy that no number of copies
/// reveals (MLX's CPU allocator caches only 32 MiB of freed buffers; docs/attribution.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct FreshMemory {
    /// Mean minor page faults of a plain forward.
    pub(crate) reference_faults: f64,
    /// The cost formula applied to the runs' faults, summed over the components the attributed
    /// sum adds up: faults per forward that the attributed costs include.
    pub(crate) extra_faults: f64,
    /// Its 95% interval.
    pub(crate) extra_faults_ci95: Option<[f64; 2]>,
    /// The trace's calibrated cost of one fault, ns.
    pub(crate) page_fault_ns: Option<f64>,
    /// `extra_faults` at that cost, ms: the part of the attributed sum that is fresh memory.
    pub(crate) extra_ms: Option<f64>,
    /// What the faults say.
    pub(crate) verdict: FreshMemoryVerdict,
}

/// Below this share of the fused forward (percent), the time of the extra faults is too small
/// to matter beside the sum's own interval.
pub(crate) const FRESH_MEMORY_PCT: f64 = 1.0;

/// What a set's page faults say of its copies' memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FreshMemoryVerdict {
    /// The extra faults' interval holds zero, or their time is under [`FRESH_MEMORY_PCT`] of the
    /// fused forward: the copies reused memory as the forward does.
    Reused,
    /// The interval lies above zero and the faults' time reaches [`FRESH_MEMORY_PCT`]: the
    /// copies took fresh memory, and the attributed costs include its time.
    FreshCopies,
    /// The interval lies below zero and the time reaches [`FRESH_MEMORY_PCT`]: the attributed
    /// runs faulted less than the plain forward, and the costs lack that time.
    FewerFaults,
    /// No calibrated cost of a fault, or too few runs for an interval.
    Unknown,
}

impl FreshMemoryVerdict {
    /// The verdict for `faults` extra faults with interval `ci95`, costing `ns` each, against a
    /// fused forward of `fused_ms`.
    pub(crate) fn of(faults: f64, ci95: Option<[f64; 2]>, ns: Option<f64>, fused_ms: f64) -> FreshMemoryVerdict {
        let (Some([lo, hi]), Some(ns)) = (ci95, ns) else { return FreshMemoryVerdict::Unknown };
        let share = faults * ns / 1e6 / fused_ms * 100.0;
        if lo > 0.0 && share >= FRESH_MEMORY_PCT {
            FreshMemoryVerdict::FreshCopies
        } else if hi < 0.0 && share <= -FRESH_MEMORY_PCT {
            FreshMemoryVerdict::FewerFaults
        } else {
            FreshMemoryVerdict::Reused
        }
    }
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

fn attributed_set(set: &Set, rollup: Rollup, parents: &BTreeMap<String, String>, page_fault_ns: Option<f64>) -> Option<AttributedSet> {
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
                runs: ts.iter().map(|t| t.kept()).min().unwrap_or(0),
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
        rounds: set.targets.values().map(Target::recorded).min().unwrap_or(0),
        copies: set.targets.values().flat_map(|t| t.levels.first()).map(|l| l.copies as u32).max().unwrap_or(0),
        additivity: additivity(set, &top, sum.ms - fused_ms),
        fresh_memory: set.extra_faults(&top).map(|(extra_faults, ci95)| FreshMemory {
            reference_faults: set.references.mean_faults(),
            extra_faults,
            extra_faults_ci95: ci95,
            page_fault_ns,
            extra_ms: page_fault_ns.map(|ns| extra_faults * ns / 1e6),
            verdict: FreshMemoryVerdict::of(extra_faults, ci95, page_fault_ns, fused_ms),
        }),
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

/// The calibrated cost of a page fault in the trace of `set`.
fn fault_ns(facts: &Facts, set: &Set) -> Option<f64> {
    facts.traces.get(set.trace_id as usize).and_then(|t| t.page_fault_ns)
}

/// Every attribution set of the facts' runs, in the facts' rollup, by frames then trace.
pub(crate) fn attribution(facts: &Facts) -> Vec<AttributedSet> {
    let mut out: Vec<AttributedSet> = sets_of(facts.runs.iter()).iter().filter_map(|s| attributed_set(s, facts.rollup, &facts.parents, fault_ns(facts, s))).collect();
    mark_missing(facts, &mut out);
    out.sort_by(|a, b| (a.frames, a.trace_id, &a.variant).cmp(&(b.frames, b.trace_id, &b.variant)));
    out
}

/// The attribution sets at `frames`.
pub(crate) fn sets_at(facts: &Facts, frames: u32) -> Vec<AttributedSet> {
    let runs = facts.runs.iter().filter(|r| r.frames == frames);
    let mut out: Vec<AttributedSet> = sets_of(runs).iter().filter_map(|s| attributed_set(s, facts.rollup, &facts.parents, fault_ns(facts, s))).collect();
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
        Sample { values: v.to_vec(), recorded: v.len(), faults: Vec::new() }
    }

    #[test]
    fn the_cost_formula_by_hand() {
        // T0 = 100, Tc = 110 (the reductions of everything cost 10), X duplicated twice with
        // reductions of 30% of the control's bytes: TX = 100 + 2 * 20 + 0.3 * 10 = 143.
        let mut set = Set { references: sample(&[99.0, 100.0, 101.0]), controls: sample(&[110.0, 110.0, 110.0]), ..Set::default() };
        set.targets.insert(
            "x".into(),
            Target { levels: vec![Level { runs: sample(&[142.0, 143.0, 144.0]), copies: 2.0, reduced_fraction: 0.3 }], calls: 1.0, flops: 0.0, bytes: 0.0 },
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

    fn with_faults(times: &[f64], faults: &[f64]) -> Sample {
        Sample { faults: faults.to_vec(), ..sample(times) }
    }

    #[test]
    fn the_fault_formula_by_hand() {
        // The cost formula on fault counts: references 1000 faults (spread 10), controls 1200,
        // X's duplicates (2 copies, 30% of the control's scalars) 1000 + 2 * 5000 + 0.3 * 200.
        // X's extra faults per forward: (11060 - 0.7 * 1000 - 0.3 * 1200) / 2 = 5000.
        let mut set = Set {
            references: with_faults(&[100.0; 3], &[990.0, 1000.0, 1010.0]),
            controls: with_faults(&[110.0; 3], &[1200.0; 3]),
            ..Set::default()
        };
        let runs = with_faults(&[143.0; 3], &[11_040.0, 11_060.0, 11_080.0]);
        set.targets.insert("x".into(), Target { levels: vec![Level { runs, copies: 2.0, reduced_fraction: 0.3 }], ..Target::default() });
        let x = "x".to_string();
        let (faults, ci) = set.extra_faults(&[&x]).unwrap();
        assert!((faults - 5000.0).abs() < 1e-9, "{faults}");
        // Welch: variances 100 (references) and 400 (duplicates) over 3 runs, with the
        // coefficients -0.35 and 1/2; the controls have no spread.
        let (vr, vx) = (0.35f64.powi(2) * 100.0 / 3.0, 0.25 * 400.0 / 3.0);
        let df = (vr + vx).powi(2) / (vr * vr / 2.0 + vx * vx / 2.0);
        let [lo, hi] = ci.unwrap();
        assert!(((hi - lo) / 2.0 - t_975(df) * (vr + vx).sqrt()).abs() < 1e-9);
        // At 2 µs a fault, 5000 faults are 10 ms: 10% of a 100 ms forward, 0.5% of a 2 s one.
        assert_eq!(FreshMemoryVerdict::of(faults, ci, Some(2000.0), 100.0), FreshMemoryVerdict::FreshCopies);
        assert_eq!(FreshMemoryVerdict::of(faults, ci, Some(2000.0), 2000.0), FreshMemoryVerdict::Reused);
        assert_eq!(FreshMemoryVerdict::of(-faults, ci.map(|[l, h]| [-h, -l]), Some(2000.0), 100.0), FreshMemoryVerdict::FewerFaults);
        assert_eq!(FreshMemoryVerdict::of(faults, ci, None, 100.0), FreshMemoryVerdict::Unknown);
        // An interval holding zero: reused, whatever the point.
        assert_eq!(FreshMemoryVerdict::of(faults, Some([-10.0, 10_010.0]), Some(2000.0), 100.0), FreshMemoryVerdict::Reused);
        // A run without a count: no check.
        set.faults_missing = true;
        assert!(set.extra_faults(&[&x]).is_none());
    }

    #[test]
    fn fewer_than_three_samples_give_no_interval() {
        let mut set = Set { references: sample(&[100.0, 101.0]), ..Set::default() };
        set.targets.insert("x".into(), Target { levels: vec![Level { runs: sample(&[120.0, 121.0, 119.0]), copies: 1.0, reduced_fraction: 0.0 }], ..Target::default() });
        let e = set.estimate(&[&"x".to_string()]).unwrap();
        assert!(e.ci95.is_none() && !e.below_noise());
        assert!((e.ms * 1e6 - 19.5).abs() < 1e-9);
    }

    /// A set with one component duplicated 4 times in some rounds and 8 in others, costing
    /// `c4` and `c8` per copy on top of a 100 (ns) forward.
    fn two_levels(c4: f64, c8: f64) -> Set {
        let mut set = Set { references: sample(&[99.0, 100.0, 101.0, 100.0, 99.5, 100.5]), ..Set::default() };
        let level = |k: f64, c: f64| Level { runs: sample(&[100.0 + k * c - 1.0, 100.0 + k * c, 100.0 + k * c + 1.0]), copies: k, reduced_fraction: 0.0 };
        set.targets.insert("x".into(), Target { levels: vec![level(4.0, c4), level(8.0, c8)], ..Target::default() });
        set
    }

    #[test]
    fn two_levels_pool_by_precision_and_check_additivity() {
        let x = "x".to_string();
        // Additive: 20 per copy at both levels.
        let set = two_levels(20.0, 20.0);
        assert!((set.estimate(&[&x]).unwrap().ms * 1e6 - 20.0).abs() < 1e-9);
        let a = additivity(&set, &[&x], 0.0).unwrap();
        assert_eq!((a.copies, a.components, a.verdict), ([4, 8], [1, 1], AdditivityVerdict::Additive));
        assert!(a.difference.ms.abs() < 1e-12 && (a.extrapolated_sum.ms * 1e6 - 20.0).abs() < 1e-9);
        // 20 per copy at 4 copies, 22 at 8: by hand, the levels weigh 3 x 16 and 3 x 64, so the
        // pooled cost is 0.2 x 20 + 0.8 x 22 = 21.6; the difference is 2 and the line through
        // (4, 20) and (8, 22) meets zero copies at 18.
        let set = two_levels(20.0, 22.0);
        assert!((set.estimate(&[&x]).unwrap().ms * 1e6 - 21.6).abs() < 1e-9);
        // The pooled cost exceeds a true 18 by 3.6: a growth of 0.5 per copy predicts the
        // difference of 2 (3.6 x 4 / (0.2 x 4 + 0.8 x 8)); a fixed cost per forward predicts
        // 3.6 x (1/8 - 1/4) / (0.2/4 + 0.8/8) = -3; a constant cost per copy 0.
        let a = additivity(&set, &[&x], 3.6e-6).unwrap();
        let [fixed, growing, constant] = a.explanations.unwrap();
        assert!((fixed.predicted_ms * 1e6 + 3.0).abs() < 1e-9 && fixed.contradicted, "{fixed:?}");
        assert!((growing.predicted_ms * 1e6 - 2.0).abs() < 1e-9 && !growing.contradicted, "{growing:?}");
        assert!(constant.predicted_ms == 0.0 && constant.contradicted, "{constant:?}");
        assert!((a.difference.ms * 1e6 - 2.0).abs() < 1e-9, "{:?}", a.difference);
        assert!((a.extrapolated_sum.ms * 1e6 - 18.0).abs() < 1e-9, "{:?}", a.extrapolated_sum);
        assert_eq!(a.verdict, AdditivityVerdict::CostlierWithMore, "{:?}", a.difference);
        // The difference's interval by hand: coefficients 1/8 (8-copy runs), -1/4 (4-copy runs)
        // and 1/4 - 1/8 (references), pooled relative variance, Student's t.
        let rel = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            v.iter().map(|x| ((x - m) / m).powi(2)).sum::<f64>()
        };
        let groups = [vec![99.0, 100.0, 101.0, 100.0, 99.5, 100.5], vec![179.0, 180.0, 181.0], vec![275.0, 276.0, 277.0]];
        let rv = groups.iter().map(|g| rel(g)).sum::<f64>() / 9.0;
        let var = (1.0f64 / 8.0).powi(2) * rv * 276.0f64.powi(2) / 3.0 + (1.0f64 / 4.0).powi(2) * rv * 180.0f64.powi(2) / 3.0 + (1.0f64 / 8.0).powi(2) * rv * 100.0f64.powi(2) / 6.0;
        let [lo, hi] = a.difference.ci95.unwrap();
        assert!(((hi - lo) / 2.0 * 1e6 - t_975(9.0) * var.sqrt()).abs() < 1e-9);
        // A level short of three runs weighs nothing and is not compared.
        let mut set = two_levels(20.0, 22.0);
        set.targets.get_mut(&x).unwrap().levels[1].runs = sample(&[276.0, 276.0]);
        assert!((set.estimate(&[&x]).unwrap().ms * 1e6 - 20.0).abs() < 1e-9);
        assert!(additivity(&set, &[&x], 0.0).is_none_or(|a| a.verdict == AdditivityVerdict::Unknown && a.explanations.is_none()));
    }
}
