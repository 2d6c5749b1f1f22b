//! The attribution estimator, shared by the recorder and the analyzer.
//!
//! An attribution set (one length and variant of a recording) holds plain fused forwards (the
//! references), controls and, per component X, forwards with X's work done `k` more times. X's
//! cost per forward is `(mean TX - (1 - f) mean T0 - f mean Tc) / k` (docs/attribution.md).
//!
//! Real machines add two things the textbook model of independent normal noise lacks, and this
//! crate handles both before any mean is taken (docs/statistics.md, "Slow runs and drift"):
//!
//! - **slow runs**: a few forwards much slower than the rest (another process, a page fault
//!   storm, a clock change). A run more than [`SLOW_Z`] robust standard deviations above its
//!   group's median is set aside. Only slow runs: interference never makes a forward faster.
//! - **drift**: the machine getting slower or faster over the recording (throttling, other
//!   tenants). A trend in the references, when significant at 1%, is removed from every run.
//!
//! The recorder uses the same functions to decide when a recording is precise enough, so what
//! it promises is what the analyzer reports.

pub mod schedule;
pub mod student;

/// Fewest samples a mean may keep after slow runs are set aside: the noise is pooled over the
/// set, so even a mean of one run has a well-founded variance.
pub const MIN_KEPT: usize = 1;

/// The threshold above a small group's fastest run: the range of three normal runs passes
/// 4.5 standard deviations in about 1% of groups, and the spread itself is estimated, so a
/// threshold as low as the median's would set aside plain noise (and bias the costs down).
pub const SLOW_Z_SMALL: f64 = 6.0;

/// Groups with fewer runs than this are measured from their fastest run, not their median.
pub const SMALL_GROUP: usize = 6;

/// A run this many robust standard deviations (log scale) above its group's median is slow.
/// Chosen by simulation (`tests/coverage.rs`): lower values set aside runs of pure log-normal
/// noise often enough to bias small components; higher ones keep 1.3x runs at 5% noise.
pub const SLOW_Z: f64 = 4.5;

/// Rounds a precision-driven recording takes at least once it has set a slow run aside: with
/// a tenth of runs slow, three rounds leave all runs of some component slow too often
/// (`tests/coverage.rs`), five do not.
pub const MIN_ROUNDS_WITH_SLOW_RUNS: u32 = 5;

/// A trend in the references is removed when its t statistic passes this two-sided level.
pub const DRIFT_LEVEL: f64 = 0.01;

/// What a timed run of an attribution set is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A plain fused forward.
    Reference,
    /// Every component's outputs forced once, nothing duplicated.
    Control,
    /// Target `i`'s work duplicated.
    Duplicate(usize),
}

/// One timed run: its role, its position in the recording (any increasing measure of time:
/// run index or seconds) and its wall time.
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    /// Role.
    pub role: Role,
    /// Position in the recording.
    pub order: f64,
    /// Wall time, any unit (ns in traces).
    pub time: f64,
}

/// How target `i`'s duplicates relate to the references and controls.
#[derive(Debug, Clone, Copy)]
pub struct TargetSpec {
    /// Extra copies per invocation (k).
    pub copies: f64,
    /// f: the share of the control's extra cost its duplicates also pay.
    pub reduced_fraction: f64,
}

/// The run times of a set after slow runs and drift are dealt with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// References.
    pub references: Vec<f64>,
    /// Controls.
    pub controls: Vec<f64>,
    /// Duplicates, per target.
    pub targets: Vec<Vec<f64>>,
}

/// A trend found in the references.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    /// Relative change of the fitted reference from the first run to the last (0.03: 3% slower
    /// at the end).
    pub change: f64,
    /// 95% interval of `change`.
    pub ci95: [f64; 2],
    /// Whether the trend passed [`DRIFT_LEVEL`] and was removed from every run.
    pub corrected: bool,
}

/// Samples of a set, with what was done to them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cleaned {
    /// Run times kept, drift removed where it was significant.
    pub samples: Samples,
    /// Runs set aside as slow.
    pub slow_runs: usize,
    /// Their mean excess over their group's median (0.4: 40% slower).
    pub slow_excess: f64,
    /// The references' trend; `None` with fewer than 6 references or no spread in time.
    pub drift: Option<Drift>,
    /// Robust relative standard deviation of one run (log scale), `None` without enough runs.
    pub robust_sd: Option<f64>,
}

/// The median of `v` (not empty).
fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 { s[n / 2] } else { 0.5 * (s[n / 2 - 1] + s[n / 2]) }
}

/// 1.4826 x the median absolute deviation from `centre`: the standard deviation under normal
/// noise, unmoved by a few outliers.
fn mad_sd(v: &[f64], centre: f64) -> f64 {
    let dev: Vec<f64> = v.iter().map(|x| (x - centre).abs()).collect();
    1.4826 * median(&dev)
}

/// Ordinary least squares of y on x: (slope, its standard error, residual degrees of freedom).
fn ols_slope(x: &[f64], y: &[f64]) -> Option<(f64, f64, f64)> {
    let n = x.len();
    if n < 4 {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let b = x.iter().zip(y).map(|(a, c)| (a - mx) * (c - my)).sum::<f64>() / sxx;
    let rss: f64 = x.iter().zip(y).map(|(a, c)| (c - my - b * (a - mx)).powi(2)).sum();
    let df = (n - 2) as f64;
    Some((b, (rss / df / sxx).sqrt(), df))
}

/// Sets slow runs aside and removes a significant drift (see the crate's documentation).
/// Runs whose time is not positive and finite are dropped. `targets` is the number of targets.
pub fn clean(runs: &[Timed], targets: usize) -> Cleaned {
    let runs: Vec<Timed> = runs.iter().copied().filter(|r| r.time.is_finite() && r.time > 0.0).collect();
    let mut log: Vec<f64> = runs.iter().map(|r| r.time.ln()).collect();
    let drift = remove_drift(&runs, &mut log);
    let members = group_members(&runs, targets);
    let medians: Vec<Option<f64>> =
        members.iter().map(|m| (!m.is_empty()).then(|| median(&m.iter().map(|&i| log[i]).collect::<Vec<_>>()))).collect();
    let robust_sd = robust_spread(&members, &medians, &log);
    let (slow, excess) = match robust_sd.filter(|s| *s > 0.0) {
        Some(sd) => slow_runs(&members, &medians, &log, sd),
        None => (vec![false; runs.len()], Vec::new()),
    };

    let mut samples = Samples { targets: vec![Vec::new(); targets], ..Samples::default() };
    for (i, r) in runs.iter().enumerate() {
        if slow[i] {
            continue;
        }
        // Untouched times stay exact; only a removed trend changes them.
        let t = if drift.is_some_and(|d| d.corrected) { log[i].exp() } else { r.time };
        match r.role {
            Role::Reference => samples.references.push(t),
            Role::Control => samples.controls.push(t),
            Role::Duplicate(j) if j < targets => samples.targets[j].push(t),
            Role::Duplicate(_) => {}
        }
    }
    Cleaned {
        samples,
        slow_runs: excess.len(),
        slow_excess: if excess.is_empty() { 0.0 } else { excess.iter().sum::<f64>() / excess.len() as f64 },
        drift,
        robust_sd,
    }
}

/// The references' trend over the recording, removed from every run's log time where it is
/// significant: a robust line through the references (Theil-Sen), their slow runs set aside by
/// its residuals, then least squares on the rest for the slope's standard error.
fn remove_drift(runs: &[Timed], log: &mut [f64]) -> Option<Drift> {
    let refs: Vec<(f64, f64)> =
        runs.iter().zip(log.iter()).filter(|(r, _)| r.role == Role::Reference).map(|(r, y)| (r.order, *y)).collect();
    if refs.len() < 6 {
        return None;
    }
    let mut slopes = Vec::new();
    for i in 0..refs.len() {
        for j in i + 1..refs.len() {
            let dx = refs[j].0 - refs[i].0;
            if dx != 0.0 {
                slopes.push((refs[j].1 - refs[i].1) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let b0 = median(&slopes);
    let resid: Vec<f64> = refs.iter().map(|(x, y)| y - b0 * x).collect();
    let a0 = median(&resid);
    let sd = mad_sd(&resid, a0);
    let keep: Vec<&(f64, f64)> = refs.iter().zip(&resid).filter(|(_, r)| sd == 0.0 || **r - a0 <= SLOW_Z * sd).map(|(p, _)| p).collect();
    let x: Vec<f64> = keep.iter().map(|p| p.0).collect();
    let y: Vec<f64> = keep.iter().map(|p| p.1).collect();
    let (b, se, df) = ols_slope(&x, &y)?;
    let span = x.iter().copied().fold(f64::NEG_INFINITY, f64::max) - x.iter().copied().fold(f64::INFINITY, f64::min);
    let t = student::student_t_quantile(0.975, df);
    let corrected = se > 0.0 && (b / se).abs() > student::student_t_quantile(1.0 - DRIFT_LEVEL / 2.0, df)
        || se == 0.0 && b != 0.0;
    if corrected {
        let centre = x.iter().sum::<f64>() / x.len() as f64;
        for (r, y) in runs.iter().zip(log.iter_mut()) {
            *y -= b * (r.order - centre);
        }
    }
    Some(Drift {
        change: (b * span).exp_m1(),
        ci95: [((b - t * se) * span).exp_m1(), ((b + t * se) * span).exp_m1()],
        corrected,
    })
}

/// The indices of the runs of each group: references, controls, then each target.
fn group_members(runs: &[Timed], targets: usize) -> Vec<Vec<usize>> {
    let groups = 2 + targets;
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups];
    for (i, r) in runs.iter().enumerate() {
        let g = match r.role {
            Role::Reference => 0,
            Role::Control => 1,
            Role::Duplicate(i) => 2 + i,
        };
        if g < groups {
            members[g].push(i);
        }
    }
    members
}

/// The run-to-run spread: from the references where there are enough of them (many, spread
/// over the whole recording), else pooled over every group's deviations from its median.
fn robust_spread(members: &[Vec<usize>], medians: &[Option<f64>], log: &[f64]) -> Option<f64> {
    if members[0].len() >= 8 {
        let v: Vec<f64> = members[0].iter().map(|&i| log[i]).collect();
        return Some(mad_sd(&v, medians[0].unwrap_or_default()));
    }
    let dev: Vec<f64> = members
        .iter()
        .zip(medians)
        .filter(|(m, _)| m.len() >= 3)
        .flat_map(|(m, c)| m.iter().map(|&i| log[i] - c.unwrap_or_default()).filter(|d| *d != 0.0).collect::<Vec<_>>())
        .collect();
    (dev.len() >= 6).then(|| mad_sd(&dev, 0.0))
}

/// Which runs are slow (more than the threshold of robust spreads `sd` above their group's
/// centre), and each one's excess over that centre.
fn slow_runs(members: &[Vec<usize>], medians: &[Option<f64>], log: &[f64], sd: f64) -> (Vec<bool>, Vec<f64>) {
    let mut slow = vec![false; log.len()];
    let mut excess = Vec::new();
    for (g, m) in members.iter().enumerate() {
        let Some(mut c) = medians[g] else { continue };
        let mut z = SLOW_Z;
        // A group of a few runs is measured from its fastest: with 10% of runs slow, two of
        // three runs of some component are slow in half of all 22-component recordings, and
        // their median is then a slow run itself.
        if m.len() < SMALL_GROUP {
            c = m.iter().map(|&i| log[i]).fold(f64::INFINITY, f64::min);
            z = SLOW_Z_SMALL;
        }
        let mut flagged: Vec<usize> = m.iter().copied().filter(|&i| log[i] - c > z * sd).collect();
        // Never leave a group with fewer than MIN_KEPT runs: keep the least slow.
        flagged.sort_by(|a, b| log[*a].total_cmp(&log[*b]));
        while m.len() - flagged.len() < MIN_KEPT.min(m.len()) && !flagged.is_empty() {
            flagged.remove(0);
        }
        for i in flagged {
            slow[i] = true;
            excess.push((log[i] - c).exp_m1());
        }
    }
    (slow, excess)
}

/// Mean of `v` (0 when empty).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Run-to-run noise of a set: the relative variance pooled over every sample of two or more
/// runs, and its degrees of freedom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Pooled relative variance of one run.
    pub relative_var: f64,
    /// Degrees of freedom.
    pub df: f64,
}

/// The pooled noise of `groups`; `None` without a group of two or more runs.
pub fn pooled_noise<'a>(groups: impl IntoIterator<Item = &'a [f64]>) -> Option<Noise> {
    let mut ss = 0.0;
    let mut df = 0usize;
    for g in groups.into_iter().filter(|g| g.len() >= 2) {
        let m = mean(g);
        if m != 0.0 {
            ss += g.iter().map(|v| ((v - m) / m).powi(2)).sum::<f64>();
        }
        df += g.len() - 1;
    }
    (df > 0).then(|| Noise { relative_var: ss / df as f64, df: df as f64 })
}

/// Half-width of the 95% interval of `sum c_j * mean_j`; `None` when a mean has fewer than
/// [`MIN_KEPT`] samples or the variance is not finite.
pub fn combination_half_width(parts: &[(f64, &[f64])], noise: Noise) -> Option<f64> {
    if parts.iter().any(|(c, s)| *c != 0.0 && s.len() < MIN_KEPT) {
        return None;
    }
    let var: f64 = parts.iter().filter(|(c, _)| *c != 0.0).map(|(c, s)| c * c * noise.relative_var * mean(s).powi(2) / s.len() as f64).sum();
    var.is_finite().then(|| student::student_t_quantile(0.975, noise.df.max(1.0)) * var.sqrt())
}

/// A cost with the half-width of its 95% interval, in the unit of the run times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Point estimate.
    pub value: f64,
    /// Half-width of the 95% interval; `None` when it cannot be had.
    pub half: Option<f64>,
}

impl Cost {
    /// Half-width relative to the value (infinite for a value of zero or below).
    pub fn relative_half(&self) -> Option<f64> {
        self.half.map(|h| if self.value > 0.0 { h / self.value } else { f64::INFINITY })
    }
}

/// The sum of the costs of the targets `which` (by the cost formula), with its interval.
pub fn cost(samples: &Samples, specs: &[TargetSpec], which: &[usize]) -> Option<Cost> {
    combination(samples, specs, &which.iter().map(|&i| (i, 1.0)).collect::<Vec<_>>())
}

/// `sum over (i, w) of w * cost(target i)`, with its interval: a sum with weights 1, one
/// component pooled over its copies levels ([`level_weights`]), or the difference of two levels.
pub fn combination(samples: &Samples, specs: &[TargetSpec], terms: &[(usize, f64)]) -> Option<Cost> {
    let has_controls = !samples.controls.is_empty();
    let (mut c_ref, mut c_ctrl, mut value) = (0.0, 0.0, 0.0);
    let mut parts: Vec<(f64, &[f64])> = Vec::new();
    for &(i, w) in terms {
        let (runs, spec) = (samples.targets.get(i)?, specs.get(i)?);
        if w == 0.0 {
            continue;
        }
        if runs.is_empty() {
            return None;
        }
        let k = spec.copies.max(1.0);
        let f = if has_controls { spec.reduced_fraction } else { 0.0 };
        parts.push((w / k, runs));
        c_ref -= w * (1.0 - f) / k;
        c_ctrl -= w * f / k;
        value += w * mean(runs) / k;
    }
    if samples.references.is_empty() {
        return None;
    }
    value += c_ref * mean(&samples.references) + c_ctrl * mean(&samples.controls);
    parts.push((c_ref, &samples.references));
    if c_ctrl != 0.0 {
        parts.push((c_ctrl, &samples.controls));
    }
    let groups = std::iter::once(samples.references.as_slice())
        .chain(std::iter::once(samples.controls.as_slice()))
        .chain(samples.targets.iter().map(Vec::as_slice));
    let half = pooled_noise(groups).and_then(|n| combination_half_width(&parts, n));
    Some(Cost { value, half })
}

/// How one component's estimates at several copies levels (each a target of its own: the
/// same component duplicated `k` times in some rounds and `k'` in others) pool into its cost:
/// weights summing to 1, each level's proportional to `runs x k^2`, the inverse of the variance
/// of its per-copy estimate (a forward's noise hardly depends on the copies it adds, and is
/// divided by `k`). Levels without runs get 0; a component without any run weighs its levels
/// equally, so that its cost, like [`cost`]'s, has no estimate.
pub fn level_weights(samples: &Samples, specs: &[TargetSpec], levels: &[usize]) -> Vec<f64> {
    let raw: Vec<f64> = levels
        .iter()
        .map(|&i| {
            let n = samples.targets.get(i).map_or(0, Vec::len) as f64;
            let k = specs.get(i).map_or(1.0, |s| s.copies.max(1.0));
            n * k * k
        })
        .collect();
    let total: f64 = raw.iter().sum();
    let equal = 1.0 / levels.len().max(1) as f64;
    raw.iter().map(|w| if total > 0.0 { w / total } else { equal }).collect()
}

/// The terms of `components` pooled over their levels (see [`level_weights`]), for
/// [`combination`].
pub fn pooled_terms(samples: &Samples, specs: &[TargetSpec], components: &[Vec<usize>]) -> Vec<(usize, f64)> {
    components.iter().flat_map(|levels| levels.iter().copied().zip(level_weights(samples, specs, levels))).collect()
}

/// The mean plain forward with its interval (the set's pooled noise).
pub fn fused(samples: &Samples) -> Option<Cost> {
    if samples.references.is_empty() {
        return None;
    }
    let groups = std::iter::once(samples.references.as_slice())
        .chain(std::iter::once(samples.controls.as_slice()))
        .chain(samples.targets.iter().map(Vec::as_slice));
    let half = pooled_noise(groups).and_then(|n| combination_half_width(&[(1.0, &samples.references)], n));
    Some(Cost { value: mean(&samples.references), half })
}

/// Components whose precision a recording waits for: those at or above this share of the
/// forward. The rounds a component needs for a given relative precision grow as 1/share^2, so
/// a 1% component needs 25 times the rounds of a 5% one; smaller ones get their interval as
/// measured (often "< noise").
pub const PRECISION_SHARE: f64 = 0.05;

/// How precise a set is: the relative half-widths the recorder waits on.
#[derive(Debug, Clone, PartialEq)]
pub struct Precision {
    /// Relative half-width of the sum of all costs; `None` without an interval.
    pub sum: Option<f64>,
    /// (target, relative half-width) of the targets at or above [`PRECISION_SHARE`] of the
    /// forward, least precise first.
    pub components: Vec<(usize, f64)>,
}

impl Precision {
    /// The least precise of the sum and the components waited on.
    pub fn worst(&self) -> Option<f64> {
        let s = self.sum?;
        Some(self.components.iter().map(|c| c.1).fold(s, f64::max))
    }
}

/// The precision of a set's estimates, after [`clean`], each target its own component.
pub fn precision(samples: &Samples, specs: &[TargetSpec]) -> Precision {
    precision_of(samples, specs, &(0..specs.len()).map(|i| vec![i]).collect::<Vec<_>>())
}

/// The precision of a set's estimates, after [`clean`], with each component measured at the
/// copies levels (targets) it lists, pooled by [`level_weights`]; [`Precision::components`]
/// indexes `components`.
pub fn precision_of(samples: &Samples, specs: &[TargetSpec], components: &[Vec<usize>]) -> Precision {
    let sum = combination(samples, specs, &pooled_terms(samples, specs, components)).and_then(|c| c.relative_half());
    let forward = mean(&samples.references);
    let mut parts: Vec<(usize, f64)> = components
        .iter()
        .enumerate()
        .filter_map(|(i, levels)| {
            let c = combination(samples, specs, &pooled_terms(samples, specs, std::slice::from_ref(levels)))?;
            (forward > 0.0 && c.value >= PRECISION_SHARE * forward).then_some((i, c.relative_half()?))
        })
        .collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    Precision { sum, components: parts }
}

/// The relative half-width of the 95% interval of the mean of `times` (the other modes' fused
/// or synced forwards), after their slow runs are set aside by the same rule.
pub fn mean_precision(times: &[f64]) -> Option<f64> {
    let runs: Vec<Timed> = times.iter().enumerate().map(|(i, &t)| Timed { role: Role::Reference, order: i as f64, time: t }).collect();
    let cleaned = clean(&runs, 0);
    fused(&cleaned.samples)?.relative_half()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(role: Role, order: usize, time: f64) -> Timed {
        Timed { role, order: order as f64, time }
    }

    #[test]
    fn a_slow_run_is_set_aside_and_nothing_else() {
        // References alternate 99/101 with one 2x run; a target's three runs hold one 1.5x run.
        let mut runs: Vec<Timed> = (0..12).map(|i| timed(Role::Reference, i, if i % 2 == 0 { 99.0 } else { 101.0 })).collect();
        runs[5].time = 200.0;
        runs.push(timed(Role::Duplicate(0), 12, 120.0));
        runs.push(timed(Role::Duplicate(0), 13, 121.0));
        runs.push(timed(Role::Duplicate(0), 14, 180.0));
        let c = clean(&runs, 1);
        assert_eq!(c.slow_runs, 2, "{c:?}");
        assert_eq!(c.samples.references.len(), 11);
        assert_eq!(c.samples.targets[0], vec![120.0, 121.0]);
        assert!(c.drift.is_some_and(|d| !d.corrected), "no trend in alternating references: {:?}", c.drift);
        // The fast side is never touched: a run at half the time stays.
        runs[5].time = 50.0;
        let c = clean(&runs, 1);
        assert_eq!(c.samples.references.len(), 12);
    }

    #[test]
    fn a_linear_drift_is_found_and_removed() {
        // Every run 1% slower than the one before it (by position), with small alternating noise.
        let at = |i: usize, base: f64| base * (0.01 * i as f64).exp() * if i % 2 == 0 { 1.001 } else { 0.999 };
        let mut runs = Vec::new();
        for i in 0..30 {
            let role = if i % 3 == 0 { Role::Reference } else { Role::Duplicate(i % 3 - 1) };
            let base = match role {
                Role::Reference => 100.0,
                Role::Duplicate(0) => 110.0,
                _ => 130.0,
            };
            runs.push(timed(role, i, at(i, base)));
        }
        let c = clean(&runs, 2);
        let d = c.drift.unwrap();
        assert!(d.corrected);
        // From the first reference (position 0) to the last (27): e^0.27 - 1.
        assert!((d.change - 0.27f64.exp_m1()).abs() < 0.01, "{d:?}");
        // After the correction the targets differ from the references by their own costs.
        let specs = [TargetSpec { copies: 1.0, reduced_fraction: 0.0 }; 2];
        let a = cost(&c.samples, &specs, &[0]).unwrap().value / mean(&c.samples.references);
        let b = cost(&c.samples, &specs, &[1]).unwrap().value / mean(&c.samples.references);
        assert!((a - 0.10).abs() < 0.005 && (b - 0.30).abs() < 0.005, "{a} {b}");
        assert_eq!(c.slow_runs, 0);
    }

    #[test]
    fn the_interval_by_hand() {
        // T0 = 100, Tc = 110, X duplicated twice with f = 0.3: TX = 143, cost 20.
        let s = Samples { references: vec![99.0, 100.0, 101.0], controls: vec![110.0; 3], targets: vec![vec![142.0, 143.0, 144.0]] };
        let spec = [TargetSpec { copies: 2.0, reduced_fraction: 0.3 }];
        let c = cost(&s, &spec, &[0]).unwrap();
        assert!((c.value - 20.0).abs() < 1e-9);
        let rv = (2.0 * 0.01f64.powi(2) + 2.0 * (1.0f64 / 143.0).powi(2)) / 6.0;
        let v = 0.25 * rv * 143.0f64.powi(2) / 3.0 + 0.35f64.powi(2) * rv * 1e4 / 3.0 + 0.15f64.powi(2) * rv * 110.0f64.powi(2) / 3.0;
        let t = student::student_t_quantile(0.975, 6.0);
        assert!((c.half.unwrap() - t * v.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn precision_waits_only_on_large_components() {
        let s = Samples { references: vec![99.0, 100.0, 101.0], controls: vec![], targets: vec![vec![119.0, 120.0, 121.0], vec![101.0, 102.0, 100.0]] };
        let spec = [TargetSpec { copies: 1.0, reduced_fraction: 0.0 }; 2];
        let p = precision(&s, &spec);
        // Target 1 costs 1% of the forward: not waited on.
        assert_eq!(p.components.len(), 1);
        assert_eq!(p.components[0].0, 0);
        assert!(p.worst().unwrap() >= p.sum.unwrap());
    }

    #[test]
    fn levels_pool_by_runs_times_copies_squared() {
        // One component at 4 copies (targets[0]) and 8 (targets[1]), 20 per copy at 4 and 22 at
        // 8: weights 3 x 16 and 3 x 64 of their sum, so the pooled cost is 0.2 x 20 + 0.8 x 22.
        let s = Samples { references: vec![99.0, 100.0, 101.0], controls: vec![], targets: vec![vec![179.0, 180.0, 181.0], vec![275.0, 276.0, 277.0]] };
        let spec = [TargetSpec { copies: 4.0, reduced_fraction: 0.0 }, TargetSpec { copies: 8.0, reduced_fraction: 0.0 }];
        let w = level_weights(&s, &spec, &[0, 1]);
        assert!((w[0] - 0.2).abs() < 1e-12 && (w[1] - 0.8).abs() < 1e-12, "{w:?}");
        let pooled = combination(&s, &spec, &pooled_terms(&s, &spec, &[vec![0, 1]])).unwrap();
        assert!((pooled.value - 21.6).abs() < 1e-9, "{pooled:?}");
        // The difference of the levels, and the same component pooled in the precision.
        let diff = combination(&s, &spec, &[(1, 1.0), (0, -1.0)]).unwrap();
        assert!((diff.value - 2.0).abs() < 1e-9);
        let p = precision_of(&s, &spec, &[vec![0, 1]]);
        assert_eq!(p.components.len(), 1);
        assert!((p.sum.unwrap() - pooled.relative_half().unwrap()).abs() < 1e-12);
        // Without runs a component has no estimate, as with one level.
        let empty = Samples { targets: vec![vec![], vec![]], ..s };
        assert_eq!(level_weights(&empty, &spec, &[0, 1]), vec![0.5, 0.5]);
        assert!(combination(&empty, &spec, &pooled_terms(&empty, &spec, &[vec![0, 1]])).is_none());
    }
}
