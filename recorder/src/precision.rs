//! When a recording has enough runs: an exact count, or until every estimate is as precise as
//! asked (criterion and hyperfine also size their samples from the data).
//!
//! Each set (one frame count and variant) runs repetitions (attributed: whole rounds) until the
//! 95% interval of what the analyzer will report reaches the target: the attributed sum and
//! every component of at least [`attribution_estimate::PRECISION_SHARE`] of the forward; in the
//! other modes, the mean forward. The estimate is the analyzer's own
//! ([`attribution_estimate`]: slow runs set aside, drift removed), so the promise holds in the
//! report. Extra repetitions run only the modes still short of the target.

use std::time::{Duration, Instant};

use attribution_estimate::{Role, TargetSpec, Timed, clean, mean_precision, precision_of};
use trace_format::{PerturbKind, SyncMode};

/// How many repetitions a set gets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stopping {
    /// Exactly this many (`--runs`).
    Exact(u32),
    /// Until every estimate's 95% interval is within `target` of its value (relative
    /// half-width), or the recording's `max_time` is spent; at least `MIN_REPS`.
    Precision {
        /// Relative half-width of the 95% intervals.
        target: f64,
        /// Time for the timed runs of the whole recording.
        max_time: Duration,
    },
}

/// The default target: 5% half-width reads a share of 20% as 19-21%, enough to rank the
/// components and size a saving; tighter targets cost rounds as 1/target^2.
pub(crate) const DEFAULT_PRECISION: f64 = 0.05;

/// The default time for the timed runs: ten minutes bounds a recording whose machine cannot
/// reach the target (a noisy laptop) while leaving a GPU recording of the 14B model at 5 and 21
/// frames (about 2.5 minutes for three rounds) room to add rounds.
pub(crate) const DEFAULT_MAX_TIME: Duration = Duration::from_secs(600);

/// Fewest repetitions of a precision-driven set: intervals need three runs of every mean.
pub(crate) const MIN_REPS: u32 = 3;

/// Most repetitions of a set, whatever the target.
pub(crate) const MAX_REPS: u32 = 10_000;

impl Default for Stopping {
    fn default() -> Self {
        Stopping::Precision { target: DEFAULT_PRECISION, max_time: DEFAULT_MAX_TIME }
    }
}

impl Stopping {
    /// Repetitions every set runs at least (what the progress bar plans for).
    pub(crate) fn min_reps(&self) -> u32 {
        match self {
            Stopping::Exact(n) => *n,
            Stopping::Precision { .. } => MIN_REPS,
        }
    }
}

/// One mode's precision so far.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModeStatus {
    /// Mode.
    pub(crate) mode: SyncMode,
    /// The least precise relative half-width waited on; `None` without an interval yet.
    pub(crate) precision: Option<f64>,
    /// Attributed: the target index of the least precise component, if it is not the sum.
    pub(crate) worst_target: Option<usize>,
    /// Runs set aside as slow so far.
    pub(crate) slow_runs: usize,
    /// Timed runs of this mode so far (a mode that met its target early stops repeating while
    /// the others go on, so this is not the set's repetition count).
    pub(crate) runs: usize,
}

impl ModeStatus {
    /// Repetitions behind this status: `set_reps` (the set's rounds) for attributed mode, this
    /// mode's own runs for the others.
    pub(crate) fn reps(&self, set_reps: u32) -> u32 {
        if self.mode == SyncMode::Attributed { set_reps } else { self.runs as u32 }
    }
}

/// The runs of one set, as the stopping rule sees them.
#[derive(Debug, Clone)]
pub(crate) struct SetTracker {
    modes: Vec<SyncMode>,
    targets: usize,
    /// Copies levels the rounds cycle through: target `i` at level `l` is the estimator's
    /// target `i * levels + l`.
    levels: usize,
    /// Attributed runs: role, position, time.
    attributed: Vec<Timed>,
    /// Per target and level: copies and extra scalars (arrays, else bytes) of each duplicate.
    target_measure: Vec<(f64, Vec<f64>)>,
    control_measure: Vec<f64>,
    /// Other modes: forward times.
    plain: Vec<(SyncMode, Vec<f64>)>,
}

impl SetTracker {
    /// A set recording `modes` with `targets` attributed components, duplicated at `levels`
    /// copies levels (at least 1).
    pub(crate) fn new(modes: &[SyncMode], targets: usize, levels: usize) -> Self {
        let levels = levels.max(1);
        SetTracker {
            modes: modes.to_vec(),
            targets,
            levels,
            attributed: Vec::new(),
            target_measure: vec![(1.0, Vec::new()); targets * levels],
            control_measure: Vec::new(),
            plain: modes.iter().filter(|m| **m != SyncMode::Attributed).map(|m| (*m, Vec::new())).collect(),
        }
    }

    /// A timed run (not a warm-up). `target`: the duplicated target and the round's copies
    /// level; `order`: its position in the recording.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(&mut self, mode: SyncMode, kind: PerturbKind, target: Option<(usize, usize)>, copies: u32, order: u32, forward_ns: u64, reduced_arrays: u64, reduced_bytes: u64) {
        let time = forward_ns as f64;
        let measure = if reduced_arrays > 0 { reduced_arrays as f64 } else { reduced_bytes as f64 };
        if mode == SyncMode::Attributed {
            let role = match (kind, target) {
                (PerturbKind::Reference, _) => Role::Reference,
                (PerturbKind::Control, _) => {
                    self.control_measure.push(measure);
                    Role::Control
                }
                (PerturbKind::Duplicate, Some((i, level))) if i < self.targets && level < self.levels => {
                    let v = i * self.levels + level;
                    self.target_measure[v].0 = copies.max(1) as f64;
                    self.target_measure[v].1.push(measure);
                    Role::Duplicate(v)
                }
                _ => return,
            };
            self.attributed.push(Timed { role, order: order as f64, time });
        } else if let Some((_, v)) = self.plain.iter_mut().find(|(m, _)| *m == mode) {
            v.push(time);
        }
    }

    /// Every mode's precision so far.
    pub(crate) fn status(&self) -> Vec<ModeStatus> {
        self.modes
            .iter()
            .map(|&mode| {
                if mode == SyncMode::Attributed {
                    let cleaned = clean(&self.attributed, self.targets * self.levels);
                    let ctrl = attribution_estimate::mean(&self.control_measure);
                    let specs: Vec<TargetSpec> = self
                        .target_measure
                        .iter()
                        .map(|(k, m)| TargetSpec { copies: *k, reduced_fraction: if ctrl > 0.0 { attribution_estimate::mean(m) / ctrl } else { 0.0 } })
                        .collect();
                    let components: Vec<Vec<usize>> = (0..self.targets).map(|i| (i * self.levels..(i + 1) * self.levels).collect()).collect();
                    let p = precision_of(&cleaned.samples, &specs, &components);
                    let worst_target = p.components.first().filter(|c| p.sum.is_some_and(|s| c.1 > s)).map(|c| c.0);
                    ModeStatus { mode, precision: p.worst(), worst_target, slow_runs: cleaned.slow_runs, runs: self.attributed.len() }
                } else {
                    let times = self.plain.iter().find(|(m, _)| *m == mode).map_or(&[][..], |(_, v)| v.as_slice());
                    let runs: Vec<Timed> = times.iter().enumerate().map(|(i, &t)| Timed { role: Role::Reference, order: i as f64, time: t }).collect();
                    let slow_runs = clean(&runs, 0).slow_runs;
                    ModeStatus { mode, precision: mean_precision(times), worst_target: None, slow_runs, runs: times.len() }
                }
            })
            .collect()
    }
}

/// Whether a mode's status meets the target.
pub(crate) fn met(status: &ModeStatus, target: f64) -> bool {
    status.precision.is_some_and(|p| p <= target)
}

/// What to do after `reps` timed repetitions of a set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Next {
    /// Another repetition of these modes.
    Continue(Vec<SyncMode>),
    /// The set is done.
    Stop(StopReason),
}

/// Why a set stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// The exact count was reached.
    Count,
    /// Every mode met the target.
    Met,
    /// The set's share of the time ran out first.
    Time,
    /// [`MAX_REPS`] repetitions.
    Cap,
}

/// The stopping rule: at least [`MIN_REPS`] (five once a mode has set a slow run aside, see
/// [`attribution_estimate::MIN_ROUNDS_WITH_SLOW_RUNS`]) at each of the `levels` copies levels
/// the rounds cycle through, then until every mode meets the target or `deadline` passes.
pub(crate) fn next(stopping: Stopping, reps: u32, levels: u32, status: &[ModeStatus], deadline: Option<Instant>) -> Next {
    let all: Vec<SyncMode> = status.iter().map(|s| s.mode).collect();
    match stopping {
        Stopping::Exact(n) => {
            if reps >= n {
                Next::Stop(StopReason::Count)
            } else {
                Next::Continue(all)
            }
        }
        Stopping::Precision { target, .. } => {
            let slow = status.iter().any(|s| s.slow_runs > 0);
            let floor = levels.max(1) * if slow { attribution_estimate::MIN_ROUNDS_WITH_SLOW_RUNS } else { MIN_REPS };
            if reps < floor {
                return Next::Continue(all);
            }
            let short: Vec<SyncMode> = status.iter().filter(|s| !met(s, target)).map(|s| s.mode).collect();
            if short.is_empty() {
                Next::Stop(StopReason::Met)
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                Next::Stop(StopReason::Time)
            } else if reps >= MAX_REPS {
                Next::Stop(StopReason::Cap)
            } else {
                Next::Continue(short)
            }
        }
    }
}

/// The repetitions a mode still needs, from the rate at which intervals narrow (as 1/sqrt(n));
/// `set_reps`: the set's repetitions so far.
pub(crate) fn reps_to_go(status: &ModeStatus, set_reps: u32, target: f64) -> Option<u32> {
    let p = status.precision?;
    if p <= target {
        return Some(0);
    }
    let reps = status.reps(set_reps);
    let needed = reps as f64 * (p / target).powi(2);
    Some((needed.ceil() as u32).saturating_sub(reps).max(1))
}

/// One line on a set's precision, for the end of its runs: e.g. `attributed ±3.1% after 6
/// rounds (target 5%: met)`. `name_of` names an attributed target.
pub(crate) fn summary(status: &ModeStatus, reps: u32, stopping: Stopping, reason: StopReason, name_of: impl Fn(usize) -> String) -> String {
    let unit = if status.mode == SyncMode::Attributed { "rounds" } else { "runs" };
    let p = status.precision.map_or("no interval".to_string(), |p| format!("±{:.1}%", p * 100.0));
    let verdict = match stopping {
        Stopping::Exact(_) => String::new(),
        Stopping::Precision { target, .. } => {
            let why = match reason {
                StopReason::Time => ", time limit",
                StopReason::Cap => ", repetition cap",
                _ => "",
            };
            let worst = status.worst_target.map_or(String::new(), |i| format!("; least precise: {}", name_of(i)));
            if met(status, target) {
                format!(" (target {:.1}%: met)", target * 100.0)
            } else {
                format!(" (target {:.1}%: not met{why}{worst})", target * 100.0)
            }
        }
    };
    format!("{} {p} after {} {unit}{verdict}", status.mode.as_str(), status.reps(reps))
}

/// The deadline of the next set: the time left, shared among the sets still to run in
/// proportion to their expected cost (`weights`, this set's first).
pub(crate) fn set_deadline(start: Instant, max_time: Duration, weights: &[f64]) -> Instant {
    let now = Instant::now();
    let left = max_time.saturating_sub(now.duration_since(start));
    let total: f64 = weights.iter().sum();
    let share = if total > 0.0 { weights[0] / total } else { 1.0 };
    now + left.mul_f64(share.clamp(0.0, 1.0))
}

/// Parses `5%` or `0.05` into a relative half-width in (0, 1).
pub(crate) fn parse_precision(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("'{s}' is not a precision: give a percentage such as 5% (or a fraction such as 0.05)"))?;
    if !(v.is_finite() && v > 0.0 && v < 1.0) {
        return Err(format!("'{s}': the precision must be above 0% and below 100%"));
    }
    Ok(v)
}

/// Parses `90s`, `10m`, `1h` or plain seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, scale) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1.0),
        Some('m') => (&t[..t.len() - 1], 60.0),
        Some('h') => (&t[..t.len() - 1], 3600.0),
        _ => (t, 1.0),
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("'{s}' is not a duration: give seconds, or a number with s, m or h (90s, 10m, 1h)"))?;
    let secs = v * scale;
    if !(secs.is_finite() && secs > 0.0 && secs <= 30.0 * 86_400.0) {
        return Err(format!("'{s}': the time must be above 0 and at most 30 days"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(mode: SyncMode, precision: Option<f64>, slow: usize) -> ModeStatus {
        ModeStatus { mode, precision, worst_target: None, slow_runs: slow, runs: 3 }
    }

    #[test]
    fn the_rule_waits_for_the_minimum_then_for_every_mode() {
        let stop = Stopping::Precision { target: 0.05, max_time: Duration::from_secs(60) };
        let good = [status(SyncMode::None, Some(0.01), 0), status(SyncMode::Attributed, Some(0.04), 0)];
        assert_eq!(next(stop, 2, 1, &good, None), Next::Continue(vec![SyncMode::None, SyncMode::Attributed]));
        assert_eq!(next(stop, 3, 1, &good, None), Next::Stop(StopReason::Met));
        // Only the mode short of the target runs again.
        let short = [status(SyncMode::None, Some(0.01), 0), status(SyncMode::Attributed, Some(0.09), 0)];
        assert_eq!(next(stop, 3, 1, &short, None), Next::Continue(vec![SyncMode::Attributed]));
        // No interval yet is short of any target.
        assert_eq!(next(stop, 3, 1, &[status(SyncMode::None, None, 0)], None), Next::Continue(vec![SyncMode::None]));
        // A slow run set aside: five repetitions at least.
        let slow = [status(SyncMode::None, Some(0.01), 1)];
        assert_eq!(next(stop, 4, 1, &slow, None), Next::Continue(vec![SyncMode::None]));
        assert_eq!(next(stop, 5, 1, &slow, None), Next::Stop(StopReason::Met));
        // Past the deadline, after the minimum.
        let past = Instant::now() - Duration::from_secs(1);
        assert_eq!(next(stop, 3, 1, &short, Some(past)), Next::Stop(StopReason::Time));
        assert_eq!(next(stop, 1, 1, &short, Some(past)), Next::Continue(vec![SyncMode::None, SyncMode::Attributed]));
        // An exact count ignores precision.
        assert_eq!(next(Stopping::Exact(2), 2, 1, &short, None), Next::Stop(StopReason::Count));
        assert_eq!(next(Stopping::Exact(2), 1, 1, &good, None), Next::Continue(vec![SyncMode::None, SyncMode::Attributed]));
    }

    #[test]
    fn repetitions_to_go_follow_one_over_root_n() {
        // ±10% after 3: (10/5)^2 * 3 = 12 in all, 9 more.
        assert_eq!(reps_to_go(&status(SyncMode::None, Some(0.10), 0), 3, 0.05), Some(9));
        assert_eq!(reps_to_go(&status(SyncMode::None, Some(0.04), 0), 3, 0.05), Some(0));
        assert_eq!(reps_to_go(&status(SyncMode::None, None, 0), 3, 0.05), None);
    }

    #[test]
    fn the_tracker_sees_a_precise_attribution() {
        // Two targets of 20 and 30 ms in a 100 ms forward, +-0.5% alternating noise.
        let mut t = SetTracker::new(&[SyncMode::None, SyncMode::Attributed], 2, 1);
        let mut order = 0;
        for r in 0..4u32 {
            let noise = if r % 2 == 0 { 1.005 } else { 0.995 };
            t.add(SyncMode::None, PerturbKind::Reference, None, 0, order, (100e6 * noise) as u64, 0, 0);
            order += 1;
            for (kind, target, ns) in [(PerturbKind::Reference, None, 100e6), (PerturbKind::Duplicate, Some((0, 0)), 180e6), (PerturbKind::Duplicate, Some((1, 0)), 220e6), (PerturbKind::Reference, None, 100e6)] {
                t.add(SyncMode::Attributed, kind, target, 4, order, (ns * noise) as u64, 0, 0);
                order += 1;
            }
        }
        let s = t.status();
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|m| met(m, 0.05)), "{s:?}");
        assert!(!s.iter().all(|m| met(m, 0.001)), "{s:?}");
        let line = summary(&s[1], 4, Stopping::default(), StopReason::Met, |i| format!("t{i}"));
        assert!(line.starts_with("attributed ±") && line.ends_with("after 4 rounds (target 5.0%: met)"), "{line}");
        // A plain mode that stopped repeating early counts its own runs, not the set's rounds.
        t.add(SyncMode::Attributed, PerturbKind::Reference, None, 4, order, 100e6 as u64, 0, 0);
        let s = t.status();
        assert_eq!(s[0].runs, 4);
        let line = summary(&s[0], 9, Stopping::default(), StopReason::Met, |i| format!("t{i}"));
        assert!(line.contains("after 4 runs"), "{line}");
    }

    #[test]
    fn two_copies_levels_pool_into_one_precision() {
        // One 20 ms target in a 100 ms forward, duplicated 4 times in even rounds and 8 in odd
        // ones, with +-2% noise: by hand, the per-copy estimates are 20 ms at
        // both levels, and pooling them weighs the 8-copy level four times as much per run, so
        // the pooled interval is narrower than the 4-copy level's alone.
        let runs = |levels: &[u32]| {
            let mut t = SetTracker::new(&[SyncMode::Attributed], 1, levels.len());
            let mut order = 0;
            for r in 0..8u32 {
                let level = r as usize % levels.len();
                let k = levels[level];
                for (kind, target, ns) in [(PerturbKind::Reference, None, 100e6), (PerturbKind::Duplicate, Some((0, level)), 100e6 + 20e6 * k as f64)] {
                    // Alternating every two rounds, so that each level's runs spread too.
                    let noise = if (r / 2) % 2 == 0 { 1.02 } else { 0.98 };
                    t.add(SyncMode::Attributed, kind, target, k, order, (ns * noise) as u64, 0, 0);
                    order += 1;
                }
            }
            t.status()[0].precision.unwrap()
        };
        let (four, pooled) = (runs(&[4]), runs(&[4, 8]));
        assert!(pooled < four, "pooled {pooled} vs one level {four}");
        // A target index past the levels is ignored, not counted at another level.
        let mut t = SetTracker::new(&[SyncMode::Attributed], 1, 2);
        t.add(SyncMode::Attributed, PerturbKind::Duplicate, Some((0, 2)), 8, 0, 1, 0, 0);
        assert!(t.attributed.is_empty());
    }

    #[test]
    fn parsers_take_percentages_and_durations() {
        assert_eq!(parse_precision("5%"), Ok(0.05));
        assert_eq!(parse_precision("0.02"), Ok(0.02));
        for bad in ["0%", "100%", "-1%", "x", "", "nan"] {
            assert!(parse_precision(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_secs_f64(2.5)));
        for bad in ["0", "-5m", "m", "10 minutes", "1e9h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_time_is_shared_by_weight() {
        let start = Instant::now();
        let d = set_deadline(start, Duration::from_secs(100), &[1.0, 3.0]);
        let share = d.duration_since(start).as_secs_f64();
        assert!((share - 25.0).abs() < 0.5, "{share}");
    }
}
