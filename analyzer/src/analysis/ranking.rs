//! Ranking: where the time goes, per component, at one frame count: share, ms per block and per
//! forward, achieved TFLOP/s and GB/s against the trace's calibrated ceilings, compute- or
//! memory-bound, and a priority from the time that could be saved. The times are the attributed
//! costs inside the fused forward where the traces hold attributed runs at that frame count,
//! else the component-synced times (the seed profiler's method); each snapshot says which.

use serde::Serialize;
use trace_format::SyncMode;

use super::attribution;
use super::facts::{Area, CompStat, Facts, RunFacts, TraceFacts};
use super::stats::{median, median_in_place};
use super::uncertainty::{combine, interval, pooled_draws, prob_at_least, prob_at_most};
use super::verdict::{Test, Verdict};

/// Where a snapshot's component times come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Method {
    /// Costs inside the fused forward, from attributed (perturbed) runs.
    Attributed,
    /// Times of component-synced runs (an evaluation after every component).
    Synced,
}

impl Method {
    /// Lower-case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Attributed => "attributed",
            Method::Synced => "synced",
        }
    }
}

/// Compute- or memory-bound.
///
/// Achieved FLOP/s over the calibrated matmul rate, divided by achieved bytes/s over the
/// calibrated bandwidth, equals the arithmetic intensity over the ridge point, so both
/// criteria give the same answer: compute-bound when intensity >= ridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Bound {
    /// Intensity at or above the ridge point.
    Compute,
    /// Intensity below the ridge point.
    Memory,
    /// No calibration or no FLOP/byte counts.
    Unknown,
}

impl Bound {
    /// Lower-case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Bound::Compute => "compute",
            Bound::Memory => "memory",
            Bound::Unknown => "unknown",
        }
    }
}

/// How much attention a component deserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Priority {
    /// Could save at least 10% of the forward.
    High,
    /// Could save 3-10%.
    Medium,
    /// Less.
    Low,
}

impl Priority {
    /// Upper-case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Priority::High => "HIGH",
            Priority::Medium => "MEDIUM",
            Priority::Low => "LOW",
        }
    }
}

/// The components at one frame count: attributed costs, or medians over component-synced runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Snapshot {
    /// Where the times come from.
    pub(crate) method: Method,
    /// Attributed: the mean plain fused forward, ns.
    pub(crate) fused_ns: Option<f64>,
    /// Attributed: fused forward minus the sum of the components' costs, ns.
    pub(crate) rest_ns: Option<f64>,
    /// Attributed from one set: the 95% interval of the top-level components' summed cost, ns
    /// (the overhead section's, from the same set); `None` otherwise.
    pub(crate) sum_ci95_ns: Option<[f64; 2]>,
    /// Frame count.
    pub(crate) frames: u32,
    /// Tokens at that frame count (median over runs).
    pub(crate) tokens: u64,
    /// Runs used.
    pub(crate) runs: usize,
    /// Blocks per forward (median over runs).
    pub(crate) blocks: u32,
    /// One entry per component seen.
    pub(crate) comps: Vec<SnapComp>,
    /// Attributed: components perturbed at other frame counts but never at this one (the
    /// recording stopped mid-round): the costs here lack them.
    pub(crate) missing: Vec<String>,
}

/// One component in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SnapComp {
    /// Index into the facts' names.
    pub(crate) component: u32,
    /// Name.
    pub(crate) name: String,
    /// Area.
    pub(crate) area: Area,
    /// Time per forward, ns: the attributed cost, or the median synced total.
    pub(crate) total_ns: f64,
    /// The component-synced median, ns, when such runs exist at this frame count.
    pub(crate) synced_ns: Option<f64>,
    /// Attributed: 95% interval of `total_ns`.
    pub(crate) ci_ns: Option<[f64; 2]>,
    /// Attributed: the interval reaches zero, so the cost is below the measurement noise.
    pub(crate) below_noise: bool,
    /// Analytic FLOPs per forward (median over runs).
    pub(crate) flops: f64,
    /// Analytic minimum bytes per forward.
    pub(crate) bytes: f64,
    /// Median invocations per forward.
    pub(crate) calls: f64,
    /// Median achieved FLOP/s (None without FLOP counts).
    pub(crate) flops_per_s: Option<f64>,
    /// Median achieved bytes/s.
    pub(crate) bytes_per_s: Option<f64>,
    /// Median fraction of the calibrated matmul rate.
    pub(crate) flops_util: Option<f64>,
    /// Median fraction of the calibrated bandwidth.
    pub(crate) bytes_util: Option<f64>,
    /// FLOPs per byte.
    pub(crate) intensity: Option<f64>,
    /// Calibrated FLOP/s over the component's memory ceiling.
    pub(crate) ridge: Option<f64>,
    /// The time at the matmul and DRAM ceilings, ns per forward: one ceiling at every length, so
    /// it grows exactly as the recorded work does (the scaling fits' work; `roofline_ns` can
    /// jump where the calls outgrow the cache).
    pub(crate) work_ns: Option<f64>,
    /// The memory ceiling it is placed against, bytes/s: the last-level cache's where its bytes
    /// per call fit there and the recording calibrated the cache, else DRAM's.
    pub(crate) bandwidth_ceiling: Option<f64>,
    /// `bandwidth_ceiling` is the cache's.
    pub(crate) cache_resident: bool,
    /// The time at the calibrated ceilings, ns per forward: max(FLOPs / matmul rate, bytes /
    /// bandwidth); `None` without costs or calibration.
    pub(crate) roofline_ns: Option<f64>,
    /// Draws of `total_ns` (joint with the other components of the snapshot where the method
    /// allows; see [`super::uncertainty`]); `None` without an interval.
    #[serde(skip)]
    pub(crate) draws: Option<Vec<f64>>,
}

/// The time at the ceilings: max(flops / peak, bytes / bandwidth), ns.
fn roofline_ns(flops: f64, bytes: f64, peak: Option<f64>, bw: Option<f64>) -> Option<f64> {
    let f = peak.filter(|p| *p > 0.0 && flops > 0.0).map(|p| flops / p * 1e9);
    let b = bw.filter(|b| *b > 0.0 && bytes > 0.0).map(|b| bytes / b * 1e9);
    match (f, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Component-synced runs at `frames` (all frames when `None`).
pub(crate) fn component_runs(facts: &Facts, frames: Option<u32>) -> impl Iterator<Item = &RunFacts> {
    facts.runs.iter().filter(move |r| r.sync == SyncMode::Component && frames.is_none_or(|f| r.frames == f))
}

/// The largest frame count among component-synced or attributed runs.
pub(crate) fn default_frames(facts: &Facts) -> Option<u32> {
    frame_counts(facts).last().copied()
}

/// Frame counts among component-synced or attributed runs, ascending.
pub(crate) fn frame_counts(facts: &Facts) -> Vec<u32> {
    let mut f: Vec<u32> = component_runs(facts, None).map(|r| r.frames).collect();
    f.extend(attribution::frame_counts(facts));
    f.sort_unstable();
    f.dedup();
    f
}

/// The snapshot at `frames`: attributed where attributed runs exist, else synced; `None`
/// without either.
pub(crate) fn snapshot(facts: &Facts, frames: u32) -> Option<Snapshot> {
    snapshot_by(facts, frames, Method::Attributed).or_else(|| synced_snapshot(facts, frames))
}

/// The snapshot at `frames` by one method only.
pub(crate) fn snapshot_by(facts: &Facts, frames: u32, method: Method) -> Option<Snapshot> {
    match method {
        Method::Synced => synced_snapshot(facts, frames),
        Method::Attributed => facts.snapshots.get_or((frames, 1), || attributed_snapshot(facts, frames, synced_snapshot(facts, frames).as_ref())),
    }
}

/// Attributed costs at `frames` (averaged over the traces that hold a set there).
fn attributed_snapshot(facts: &Facts, frames: u32, synced: Option<&Snapshot>) -> Option<Snapshot> {
    let sets = attribution::sets_at(facts, frames);
    if sets.is_empty() {
        return None;
    }
    let m = sets.len() as f64;
    let mut names: Vec<&str> = sets.iter().flat_map(|s| s.comps.iter().map(|c| c.name.as_str())).collect();
    names.sort_unstable();
    names.dedup();
    let blocks = median(&sets.iter().map(|s| facts.traces.get(s.trace_id as usize).map_or(0, |t| t.blocks) as f64).collect::<Vec<_>>())?.round() as u32;
    let peak = median(&sets.iter().filter_map(|s| facts.traces.get(s.trace_id as usize)?.matmul_flops_per_s).collect::<Vec<_>>());
    let dram = median(&sets.iter().filter_map(|s| facts.traces.get(s.trace_id as usize)?.bandwidth_bytes_per_s).collect::<Vec<_>>());
    let comps = names
        .into_iter()
        .filter_map(|name| {
            let id = facts.id_of(name)?;
            let found: Vec<_> = sets.iter().filter_map(|s| s.comps.iter().find(|c| c.name == name)).collect();
            let ms = found.iter().map(|c| c.estimate.ms).sum::<f64>() / found.len() as f64;
            // Independent sets: half-widths add in quadrature, divided by their count.
            let ci = found.iter().map(|c| c.estimate.ci95).collect::<Option<Vec<_>>>().map(|cis| {
                let half = cis.iter().map(|[lo, hi]| ((hi - lo) / 2.0).powi(2)).sum::<f64>().sqrt() / found.len() as f64;
                [(ms - half) * 1e6, (ms + half) * 1e6]
            });
            // Independent sets: the mean of their draws, index by index.
            let draws = found.iter().map(|c| c.draws.as_deref()).collect::<Option<Vec<_>>>().map(|ds| {
                let k = ds.len() as f64;
                combine(&ds, |v| v.iter().sum::<f64>() / k * 1e6)
            });
            let below_noise = ci.is_some_and(|[lo, _]| lo <= 0.0) || ms <= 0.0;
            let flops = found[0].flops;
            let bytes = found[0].bytes;
            let per_call = bytes / found[0].calls.max(1.0);
            let bw = median(&sets.iter().filter_map(|s| facts.traces.get(s.trace_id as usize)?.bandwidth_for(per_call)).collect::<Vec<_>>());
            let ns = ms * 1e6;
            let measurable = ns > 0.0 && !below_noise;
            let fps = (measurable && flops > 0.0).then(|| flops / (ns * 1e-9));
            let bps = (measurable && bytes > 0.0).then(|| bytes / (ns * 1e-9));
            Some(SnapComp {
                component: id,
                name: name.to_string(),
                area: facts.areas[id as usize],
                total_ns: ns,
                synced_ns: synced.and_then(|s| s.comps.iter().find(|c| c.component == id)).map(|c| c.total_ns),
                ci_ns: ci,
                below_noise,
                flops,
                bytes,
                calls: found[0].calls,
                flops_per_s: fps,
                bytes_per_s: bps,
                flops_util: fps.zip(peak).map(|(f, p)| f / p),
                bytes_util: bps.zip(bw).map(|(b, p)| b / p),
                intensity: (flops > 0.0 && bytes > 0.0).then(|| flops / bytes),
                ridge: peak.zip(bw).map(|(p, b)| p / b),
                roofline_ns: roofline_ns(flops, bytes, peak, bw),
                work_ns: roofline_ns(flops, bytes, peak, dram),
                bandwidth_ceiling: bw,
                cache_resident: bw.zip(dram).is_some_and(|(b, d)| b > d),
                draws,
            })
        })
        .collect();
    let fused = sets.iter().map(|s| s.fused.ms).sum::<f64>() / m * 1e6;
    let rest = sets.iter().map(|s| s.rest_ms).sum::<f64>() / m * 1e6;
    Some(Snapshot {
        method: Method::Attributed,
        fused_ns: Some(fused),
        rest_ns: Some(rest),
        sum_ci95_ns: match sets.as_slice() {
            [one] => one.sum.ci95.map(|[lo, hi]| [lo * 1e6, hi * 1e6]),
            _ => None,
        },
        frames,
        tokens: sets[0].tokens,
        runs: sets.iter().map(|s| s.rounds).sum(),
        blocks,
        comps,
        missing: {
            let mut m: Vec<String> = sets.iter().flat_map(|s| s.missing.iter().cloned()).collect();
            m.sort();
            m.dedup();
            m
        },
    })
}

/// Medians over the component-synced runs at `frames`; `None` without such runs.
pub(crate) fn synced_snapshot(facts: &Facts, frames: u32) -> Option<Snapshot> {
    facts.snapshots.get_or((frames, 0), || synced_snapshot_of(facts, frames))
}

fn synced_snapshot_of(facts: &Facts, frames: u32) -> Option<Snapshot> {
    let runs: Vec<&RunFacts> = component_runs(facts, Some(frames)).collect();
    if runs.is_empty() {
        return None;
    }
    let tokens = median(&runs.iter().map(|r| r.tokens as f64).collect::<Vec<_>>())?.round() as u64;
    let blocks = median(&runs.iter().map(|r| facts.blocks_of(r) as f64).collect::<Vec<_>>())?.round() as u32;
    // One pass over the runs into per-component sample vectors.
    let mut per: Vec<Samples> = (0..facts.names.len()).map(|_| Samples::default()).collect();
    for r in &runs {
        let trace = &facts.traces[r.trace_id as usize];
        for c in &r.comps {
            let Some(s) = per.get_mut(c.component as usize) else { continue };
            s.add(c, trace);
        }
    }
    let ceilings = Ceilings {
        peak: median(&runs.iter().filter_map(|r| facts.traces[r.trace_id as usize].matmul_flops_per_s).collect::<Vec<_>>()),
        dram: median(&runs.iter().filter_map(|r| facts.traces[r.trace_id as usize].bandwidth_bytes_per_s).collect::<Vec<_>>()),
        n_runs: runs.len() as f64,
    };
    let seen: Vec<usize> = (0..per.len()).filter(|&i| per[i].seen).collect();
    let mut pooled = pooled_draws(&seen.iter().map(|&i| per[i].total.as_slice()).collect::<Vec<_>>(), &format!("synced/{frames}")).into_iter();
    let mut draws_of: Vec<Option<Vec<f64>>> = vec![None; per.len()];
    for &i in &seen {
        draws_of[i] = pooled.next().flatten();
    }
    let comps = per.iter_mut().enumerate().filter(|(_, s)| s.seen).map(|(id, s)| s.snap_comp(facts, id, draws_of[id].take(), &ceilings)).collect();
    let mut snap = Snapshot { method: Method::Synced, fused_ns: None, rest_ns: None, sum_ci95_ns: None, frames, tokens, runs: runs.len(), blocks, comps, missing: Vec::new() };
    for c in &mut snap.comps {
        c.synced_ns = Some(c.total_ns);
    }
    Some(snap)
}

/// One component's samples over the component-synced runs at one frame count.
#[derive(Default)]
struct Samples {
    /// Some run records the component.
    seen: bool,
    /// Total ns per run.
    total: Vec<f64>,
    /// Invocations per run.
    calls: Vec<f64>,
    /// Achieved FLOP/s per run.
    fps: Vec<f64>,
    /// Achieved bytes/s per run.
    bps: Vec<f64>,
    /// Fraction of the calibrated matmul rate per run.
    fu: Vec<f64>,
    /// Fraction of the memory ceiling per run.
    bu: Vec<f64>,
    /// Ridge point per run.
    ridge: Vec<f64>,
    /// Memory ceiling per run.
    ceiling: Vec<f64>,
    /// Runs whose memory ceiling is the cache's.
    cached: usize,
    /// FLOPs summed over runs.
    flops: f64,
    /// Bytes summed over runs.
    bytes: f64,
}

/// The calibration a synced snapshot's roofline times are placed against (medians over its
/// runs), with the number of runs.
struct Ceilings {
    /// Matmul FLOP/s.
    peak: Option<f64>,
    /// DRAM bytes/s.
    dram: Option<f64>,
    /// Runs in the snapshot.
    n_runs: f64,
}

impl Samples {
    /// Adds one run's totals of the component, rated against its trace's calibration.
    fn add(&mut self, c: &CompStat, trace: &TraceFacts) {
        self.seen = true;
        self.total.push(c.total_ns);
        self.calls.push(c.calls as f64);
        self.flops += c.flops;
        self.bytes += c.bytes;
        if c.total_ns > 0.0 && c.flops > 0.0 {
            let rate = c.flops / (c.total_ns * 1e-9);
            self.fps.push(rate);
            if let Some(peak) = trace.matmul_flops_per_s {
                self.fu.push(rate / peak);
            }
        }
        let bw = trace.bandwidth_for(c.bytes / (c.calls as f64).max(1.0));
        if let Some(b) = bw {
            self.ceiling.push(b);
            self.cached += usize::from(trace.bandwidth_bytes_per_s.is_some_and(|d| b > d));
        }
        if c.total_ns > 0.0 && c.bytes > 0.0 {
            let rate = c.bytes / (c.total_ns * 1e-9);
            self.bps.push(rate);
            if let Some(peak) = bw {
                self.bu.push(rate / peak);
            }
        }
        if let (Some(f), Some(b)) = (trace.matmul_flops_per_s, bw) {
            self.ridge.push(f / b);
        }
    }

    /// The component's snapshot entry: medians of its samples, its interval from `draws` (else
    /// the t-interval of its mean), and its times at the ceilings.
    fn snap_comp(&mut self, facts: &Facts, id: usize, draws: Option<Vec<f64>>, k: &Ceilings) -> SnapComp {
        let med = |v: &mut Vec<f64>| if v.is_empty() { None } else { Some(median_in_place(v)) };
        let s = self;
        let ci_ns = draws.as_deref().and_then(interval).or_else(|| mean_interval(&s.total));
        let total_ns = med(&mut s.total).unwrap_or(0.0);
        let cache_resident = 2 * s.cached > s.ceiling.len();
        let bw = med(&mut s.ceiling);
        SnapComp {
            component: id as u32,
            name: facts.names[id].clone(),
            area: facts.areas[id],
            ci_ns,
            total_ns,
            cache_resident,
            bandwidth_ceiling: bw,
            roofline_ns: roofline_ns(s.flops / k.n_runs, s.bytes / k.n_runs, k.peak, bw),
            work_ns: roofline_ns(s.flops / k.n_runs, s.bytes / k.n_runs, k.peak, k.dram),
            draws,
            synced_ns: None,
            below_noise: false,
            flops: s.flops / k.n_runs,
            bytes: s.bytes / k.n_runs,
            calls: med(&mut s.calls).unwrap_or(0.0),
            flops_per_s: med(&mut s.fps),
            bytes_per_s: med(&mut s.bps),
            flops_util: med(&mut s.fu),
            bytes_util: med(&mut s.bu),
            intensity: (s.flops > 0.0 && s.bytes > 0.0).then(|| s.flops / s.bytes),
            ridge: med(&mut s.ridge),
        }
    }
}

/// The 95% t-interval of the mean of `v` (at least three values).
fn mean_interval(v: &[f64]) -> Option<[f64; 2]> {
    let n = v.len();
    if n < attribution::MIN_SAMPLES {
        return None;
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    let half = attribution::t_975((n - 1) as f64) * (var / n as f64).sqrt();
    Some([mean - half, mean + half])
}

/// The ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranking {
    /// Where the times come from.
    pub(crate) method: Method,
    /// Attributed: the mean plain fused forward, ms.
    pub(crate) fused_ms: Option<f64>,
    /// Attributed: fused forward minus the summed costs, ms (the unattributed rest).
    pub(crate) rest_ms: Option<f64>,
    /// Frame count ranked.
    pub(crate) frames: u32,
    /// Tokens at that frame count.
    pub(crate) tokens: u64,
    /// Component-synced runs used.
    pub(crate) runs: usize,
    /// Blocks per forward.
    pub(crate) blocks: u32,
    /// Sum of the components' times, ms (synced: the component-synced forward without gaps).
    pub(crate) total_ms: f64,
    /// Its 95% interval, ms, where the attribution set gives one.
    pub(crate) total_ci95_ms: Option<[f64; 2]>,
    /// Rows, largest share first.
    pub rows: Vec<RankRow>,
    /// Rates above the trace's calibrated ceiling, in row order: the calibration is then likely
    /// too low, and the utilisation and bound it implies uncertain.
    pub(crate) above_ceiling: Vec<CeilingExcess>,
    /// Components perturbed at other frame counts but not at this one: the attribution here is
    /// incomplete (its shares are of the components it holds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) missing: Vec<String>,
}

/// A component whose achieved rate exceeds a calibrated ceiling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CeilingExcess {
    /// Component or bucket.
    pub(crate) name: String,
    /// The ceiling exceeded.
    pub(crate) ceiling: Ceiling,
    /// The rate as a fraction of the ceiling (above 1).
    pub(crate) util: f64,
    /// Its 95% interval, from the cost's (a rate is work over time); `None` without one.
    pub(crate) util_ci95: Option<[f64; 2]>,
    /// Whether the whole interval lies above the ceiling: then the excess is measured, not noise.
    /// Without an interval, the point estimate is all there is and counts as measured.
    pub(crate) beyond_noise: bool,
}

/// The ceilings a row's point estimate exceeds, each with the interval of its utilisation.
fn ceiling_excesses(r: &RankRow) -> Vec<CeilingExcess> {
    [(r.flops_util, Ceiling::Matmul), (r.bytes_util, Ceiling::Bandwidth)]
        .into_iter()
        .filter_map(|(u, ceiling)| {
            let util = u.filter(|&u| u > 1.0)?;
            // The rate is proportional to 1/time: the cost's interval ends swap.
            let util_ci95 = r.ci95_ms.filter(|[lo, _]| *lo > 0.0).map(|[lo, hi]| [util * r.ms_per_forward / hi, util * r.ms_per_forward / lo]);
            let beyond_noise = util_ci95.is_none_or(|[lo, _]| lo > 1.0);
            Some(CeilingExcess { name: r.name.clone(), ceiling, util, util_ci95, beyond_noise })
        })
        .collect()
}

/// A calibrated ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Ceiling {
    /// The matmul rate.
    Matmul,
    /// The memory bandwidth.
    Bandwidth,
}

impl Ceiling {
    /// The ceiling's name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Ceiling::Matmul => "matmul",
            Ceiling::Bandwidth => "bandwidth",
        }
    }
}

/// One component of the ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankRow {
    /// Component or bucket.
    pub name: String,
    /// The component it runs inside, when components nest (its time is part of the parent's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) parent: Option<String>,
    /// It holds nested components: no priority of its own (see its children and self time).
    pub(crate) group: bool,
    /// Inside the blocks or overhead.
    pub(crate) area: Area,
    /// Share of the summed component time, 0..1.
    pub(crate) share: f64,
    /// Smallest share over the frame counts where its cost is above the noise (0 where never).
    pub(crate) share_min: f64,
    /// Largest share over those frame counts (0 where never: the report says "< noise").
    pub(crate) share_max: f64,
    /// ms per block (block components only).
    pub(crate) ms_per_block: Option<f64>,
    /// Where the time comes from.
    pub(crate) method: Method,
    /// ms per forward.
    pub(crate) ms_per_forward: f64,
    /// 95% interval of `ms_per_forward` (attributed: of the cost; synced: of the mean over runs);
    /// `None` below three samples.
    pub(crate) ci95_ms: Option<[f64; 2]>,
    /// The interval reaches zero: below the measurement noise.
    pub(crate) below_noise: bool,
    /// The component-synced median, ms, when such runs exist at this frame count.
    pub(crate) synced_ms: Option<f64>,
    /// Achieved TFLOP/s.
    pub(crate) tflops: Option<f64>,
    /// Achieved GB/s.
    pub(crate) gbps: Option<f64>,
    /// Achieved / calibrated matmul rate, 0..1.
    pub(crate) flops_util: Option<f64>,
    /// Achieved / calibrated bandwidth, 0..1.
    pub(crate) bytes_util: Option<f64>,
    /// The memory ceiling `bytes_util` is relative to, GB/s.
    pub(crate) bandwidth_ceiling_gbps: Option<f64>,
    /// That ceiling is the last-level cache's: the component's bytes per call fit there.
    pub(crate) cache_resident: bool,
    /// FLOPs per byte.
    pub(crate) intensity: Option<f64>,
    /// Ridge point, FLOPs per byte.
    pub(crate) ridge: Option<f64>,
    /// Compute or memory.
    pub(crate) bound: Bound,
    /// Utilisation of the bounding resource, 0..1.
    pub(crate) bound_util: Option<f64>,
    /// ms per forward that reaching the bounding ceiling would save.
    pub(crate) savable_ms: f64,
    /// Priority from the lower end of the savable share's interval, once its claim is supported
    /// (see [`Ranking::settle_priorities`]).
    pub(crate) priority: Priority,
    /// 95% interval of `share` (from the draws); `None` without one.
    pub(crate) share_ci95: Option<[f64; 2]>,
    /// 95% interval of `ms_per_block`.
    pub(crate) ms_per_block_ci95: Option<[f64; 2]>,
    /// 95% interval of `savable_ms`.
    pub(crate) savable_ci95_ms: Option<[f64; 2]>,
    /// Whether `bound` can be stated: inconclusive when the achieved rate exceeds a calibrated
    /// ceiling (the ceiling is then no ceiling) or the intensity is within 25% of the ridge.
    pub(crate) bound_verdict: Verdict,
    /// The claim "worth attention": the savable time (or, without ceilings, the share) is at
    /// least [`ATTENTION_SHARE`] of the forward.
    pub(crate) attention: Test,
}

/// The share of the forward a component must be able to save (or take, without ceilings) for
/// its priority to rise above LOW: the smallest effect worth acting on.
pub(crate) const ATTENTION_SHARE: f64 = 0.03;

/// The savable share of the forward (its interval's lower end) from which a priority is HIGH.
pub(crate) const HIGH_SHARE: f64 = 0.10;

/// How close to the ridge point an intensity leaves the bound undecided: within this factor
/// either side.
pub(crate) const RIDGE_MARGIN: f64 = 1.25;

impl Ranking {
    /// Priorities once the report has decided its claims: HIGH when the lower end of the
    /// savable share's interval (without ceilings: of the share, with doubled thresholds) is at
    /// least 10%, MEDIUM at least 3%, and only for components whose attention claim is
    /// supported; LOW otherwise.
    pub(crate) fn settle_priorities(&mut self) {
        let total = self.total_ms.max(f64::MIN_POSITIVE);
        for row in &mut self.rows {
            row.priority = if !row.attention.supported() {
                Priority::Low
            } else if row.bound_util.is_some() {
                let low = row.savable_ci95_ms.map_or(0.0, |[lo, _]| lo) / total;
                if low >= HIGH_SHARE { Priority::High } else if low >= ATTENTION_SHARE { Priority::Medium } else { Priority::Low }
            } else {
                let low = row.share_ci95.map_or(0.0, |[lo, _]| lo);
                if low >= 2.0 * HIGH_SHARE { Priority::High } else if low >= 2.0 * ATTENTION_SHARE { Priority::Medium } else { Priority::Low }
            };
        }
    }
}

/// Whether a snapshot's component adds to the forward's sum (no parent among the snapshot's).
pub(crate) fn top_level(facts: &Facts, snap: &Snapshot, name: &str) -> bool {
    facts.parents.is_empty() || facts.is_top_level(name, snap.comps.iter().map(|c| c.name.as_str()))
}

/// Ranks components at `frames` (the largest frame count when `None`). `None` when there are
/// no component-synced runs.
pub fn rank(facts: &Facts, frames: Option<u32>) -> Option<Ranking> {
    let frames = frames.or_else(|| default_frames(facts))?;
    let (snap, total) = ranked_snapshot(facts, frames)?;
    // Share range over every frame count.
    let others: Vec<Snapshot> = frame_counts(facts).into_iter().filter_map(|f| snapshot(facts, f)).collect();
    // Draws of the total, when every component has them (jointly drawn or independent).
    let total_draws = snap
        .comps
        .iter()
        .filter(|c| top_level(facts, &snap, &c.name))
        .map(|c| c.draws.as_deref())
        .collect::<Option<Vec<_>>>()
        .map(|ds| combine(&ds, |v| v.iter().sum()));
    let mut rows: Vec<RankRow> = snap.comps.iter().map(|c| rank_row(facts, &snap, c, total, total_draws.as_ref(), &others)).collect();
    rows.sort_by(|a, b| b.share.total_cmp(&a.share).then_with(|| a.name.cmp(&b.name)));
    let above_ceiling = rows.iter().flat_map(ceiling_excesses).collect();
    // Decided among themselves here; a report decides them again with all its claims.
    super::verdict::decide(&mut rows.iter_mut().map(|r| &mut r.attention).collect::<Vec<_>>());
    let mut ranking = Ranking {
        method: snap.method,
        fused_ms: snap.fused_ns.map(|v| v / 1e6),
        rest_ms: snap.rest_ns.map(|v| v / 1e6),
        frames,
        tokens: snap.tokens,
        runs: snap.runs,
        blocks: snap.blocks,
        total_ms: total / 1e6,
        total_ci95_ms: snap.sum_ci95_ns.map(|[lo, hi]| [lo / 1e6, hi / 1e6]),
        rows,
        above_ceiling,
        missing: snap.missing.clone(),
    };
    ranking.settle_priorities();
    Some(ranking)
}

/// Sum of the top-level components' times in a snapshot, ns: shares are of it, since a nested
/// component's time is in its parent's.
fn top_total(facts: &Facts, s: &Snapshot) -> f64 {
    s.comps.iter().filter(|c| top_level(facts, s, &c.name)).map(|c| c.total_ns).sum()
}

/// The snapshot ranked at `frames` with its top-level total, ns; `None` when the total is not
/// positive. Attributed costs that sum to nothing (a recording far too noisy for its length)
/// cannot be shares: the synced times are ranked instead when there are any (the ranking
/// names its method).
fn ranked_snapshot(facts: &Facts, frames: u32) -> Option<(Snapshot, f64)> {
    let mut snap = snapshot(facts, frames)?;
    let mut total: f64 = top_total(facts, &snap);
    if total <= 0.0 && snap.method == Method::Attributed {
        if let Some(synced) = synced_snapshot(facts, frames) {
            total = top_total(facts, &synced);
            snap = synced;
        }
    }
    if total <= 0.0 {
        return None;
    }
    Some((snap, total))
}

/// Whether a component is compute- or memory-bound, its use of that ceiling, whether it runs
/// above a calibrated ceiling, and whether the bound is told (not near the ridge point, not
/// above a ceiling, not below the noise).
fn bound_of(c: &SnapComp) -> (Bound, Option<f64>, bool, Verdict) {
    let near_ridge = matches!((c.intensity, c.ridge), (Some(i), Some(r)) if i > r / RIDGE_MARGIN && i < r * RIDGE_MARGIN);
    let bound = match (c.intensity, c.ridge) {
        (Some(i), Some(r)) if i >= r => Bound::Compute,
        (Some(_), Some(_)) => Bound::Memory,
        _ => Bound::Unknown,
    };
    let bound_util = match bound {
        Bound::Compute => c.flops_util,
        Bound::Memory => c.bytes_util,
        Bound::Unknown => None,
    };
    let above = c.flops_util.is_some_and(|u| u > 1.0) || c.bytes_util.is_some_and(|u| u > 1.0);
    let bound_verdict = if bound == Bound::Unknown || above || near_ridge || c.below_noise { Verdict::Inconclusive } else { Verdict::Supported };
    (bound, bound_util, above, bound_verdict)
}

/// The claim that a component deserves attention: what reaching its ceiling would save (its
/// share without ceilings) against [`ATTENTION_SHARE`] of the forward; untestable for a
/// module holding instrumented components, above a ceiling, or without draws.
fn attention_test(c: &SnapComp, group: bool, above: bool, bounded: bool, draws: Option<&[f64]>) -> Test {
    let what = if bounded { "the time reaching the bounding ceiling would save" } else { "the share of the forward" };
    match draws {
        _ if group => Test::untestable(format!("{} holds instrumented components: they and its self time are ranked instead", c.name)),
        _ if above => Test::untestable(format!("{} runs above a calibrated ceiling, so the time it could save is unknown", c.name)),
        Some(d) => Test::new(prob_at_most(d, ATTENTION_SHARE), prob_at_least(d, ATTENTION_SHARE), format!("{what} against {:.0}% of the forward", ATTENTION_SHARE * 100.0)),
        None => Test::untestable(format!("{} has no interval (fewer than 3 runs a mean)", c.name)),
    }
}

/// One component's row: its share (and range over the frame counts `others`), bound, savable
/// time with intervals, and attention claim (priority settled later).
fn rank_row(facts: &Facts, snap: &Snapshot, c: &SnapComp, total: f64, total_draws: Option<&Vec<f64>>, others: &[Snapshot]) -> RankRow {
    let share = c.total_ns / total;
    let shares: Vec<f64> = others
        .iter()
        .filter_map(|s| {
            let t: f64 = top_total(facts, s);
            s.comps.iter().find(|x| x.component == c.component).filter(|x| !x.below_noise && x.total_ns > 0.0).map(|x| x.total_ns / t)
        })
        .collect();
    let (bound, bound_util, above, bound_verdict) = bound_of(c);
    let ms = c.total_ns / 1e6;
    let roof_ms = c.roofline_ns.map(|r| r / 1e6);
    let savable_ms = roof_ms.filter(|_| bound_util.is_some()).map_or(0.0, |r| (ms - r).max(0.0));
    let share_draws = c.draws.as_ref().zip(total_draws).map(|(d, t)| combine(&[d, t], |v| v[0] / v[1]));
    // What reaching the ceiling would save, per draw; without ceilings, the share itself.
    let savable_draws = c.draws.as_ref().zip(roof_ms).filter(|_| bound_util.is_some()).map(|(d, r)| d.iter().map(|v| (v / 1e6 - r).max(0.0)).collect::<Vec<f64>>());
    let attention_draws: Option<Vec<f64>> = match (&savable_draws, total_draws) {
        (Some(sv), Some(t)) => Some(combine(&[sv, t], |v| v[0] * 1e6 / v[1])),
        (None, _) if bound_util.is_none() => share_draws.clone(),
        _ => None,
    };
    // A module holding instrumented components: its children and its self time are the
    // claims, it is not one itself (its share would repeat theirs).
    let group = !facts.parents.is_empty() && snap.comps.iter().any(|k| facts.parents.get(&k.name) == Some(&c.name));
    let attention = attention_test(c, group, above, bound_util.is_some(), attention_draws.as_deref());
    let blocks = (c.area == Area::Blocks && snap.blocks > 0).then(|| facts.blocks_of_component(c.component, snap.blocks) as f64);
    RankRow {
        name: c.name.clone(),
        parent: facts.parents.get(&c.name).filter(|p| snap.comps.iter().any(|k| k.name == **p)).cloned(),
        group,
        area: c.area,
        share,
        // Over the frame counts where the cost is above the noise (0 and 0 where it never is).
        share_min: if shares.is_empty() { 0.0 } else { shares.iter().copied().fold(f64::INFINITY, f64::min) },
        share_max: shares.iter().copied().fold(0.0, f64::max),
        ms_per_block: blocks.map(|b| ms / b),
        method: snap.method,
        ms_per_forward: ms,
        ci95_ms: c.ci_ns.map(|[lo, hi]| [lo / 1e6, hi / 1e6]),
        below_noise: c.below_noise,
        synced_ms: c.synced_ns.map(|v| v / 1e6),
        tflops: c.flops_per_s.map(|v| v / 1e12),
        gbps: c.bytes_per_s.map(|v| v / 1e9),
        flops_util: c.flops_util,
        bytes_util: c.bytes_util,
        bandwidth_ceiling_gbps: c.bandwidth_ceiling.map(|v| v / 1e9),
        cache_resident: c.cache_resident,
        intensity: c.intensity,
        ridge: c.ridge,
        bound,
        bound_util,
        savable_ms,
        priority: Priority::Low,
        share_ci95: share_draws.as_deref().and_then(interval),
        ms_per_block_ci95: blocks.zip(c.ci_ns).map(|(b, [lo, hi])| [lo / 1e6 / b, hi / 1e6 / b]),
        savable_ci95_ms: savable_draws.as_deref().and_then(interval),
        bound_verdict,
        attention,
    }
}
