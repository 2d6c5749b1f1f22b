//! Scaling with sequence length: a table per frame count (tokens, forward time, per-block
//! time per component) and, per component, fits of time against the work it records and
//! against tokens L, each with intervals from the draws of `super::uncertainty`:
//!
//! - the **work model** `t = a + b * w(L)` with `a, b >= 0`, where `w` is the component's time at
//!   the calibrated ceilings (max of FLOPs over the matmul rate and bytes over the DRAM
//!   bandwidth: one ceiling at every length, so w grows exactly as the recorded work), or
//!   its FLOPs or bytes without a calibration. A component whose work is linear in L cannot be
//!   called quadratic by this model, whatever the noise; the elasticity of time to work (the
//!   log-log slope of t against w) says whether its time grows faster than its work.
//! - the **power law** `t = k * L^p`, whose exponent p (with its interval) is what "grows like
//!   L^p" claims rest on; and, where the trace has no costs, the only fit (said so).
//! - `t = a + b*L + c*L^2` with non-negative coefficients, only with at least four lengths: with
//!   three, a three-parameter curve passes through every point and cannot be told from a line.
//!
//! Claims (grows faster than its work, superlinear in L, a quadratic term that matters) are
//! `Test`s, decided with every other claim of the report.

use std::collections::HashMap;

use serde::Serialize;
use trace_format::SyncMode;

use super::facts::{Area, Facts, RunFacts};
use super::ranking::{frame_counts, snapshot, Snapshot};
use super::stats::{fit_line, median, nnls, r_squared};
use super::uncertainty::{interval, prob_at_least, prob_at_most, sample_draws, DRAWS};
use super::verdict::Test;

/// Fewest distinct token counts a fit needs.
pub(crate) const MIN_POINTS: usize = 3;

/// Fewest distinct token counts for the quadratic in L (three parameters and one degree of
/// freedom left to test it).
pub(crate) const MIN_POINTS_QUADRATIC: usize = 4;

/// How much faster than its work (elasticity above 1) or than L (exponent above 1) a time must
/// grow for a growth claim to be worth making.
pub(crate) const GROWTH_MARGIN: f64 = 0.2;

/// The share of the time at the longest L a quadratic term must take to be worth stating.
pub(crate) const QUADRATIC_SHARE: f64 = 0.1;

/// The scaling analysis.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Scaling {
    /// One row per frame count, ascending.
    pub(crate) rows: Vec<ScaleRow>,
    /// One fit per component (and `forward` for the fused forward, when recorded).
    pub fits: Vec<ComponentFit>,
    /// Why there are no fits, when there are none.
    pub(crate) note: Option<String>,
}

/// One frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ScaleRow {
    /// Frames.
    pub(crate) frames: u32,
    /// Tokens L.
    pub(crate) tokens: u64,
    /// Median fused (`none`-synced) forward, ms.
    pub(crate) forward_ms: Option<f64>,
    /// Median component-synced forward, ms.
    pub(crate) synced_forward_ms: Option<f64>,
    /// Achieved rate of the fused forward: its analytic FLOPs over its median time, TFLOP/s.
    pub(crate) fused_tflops: Option<f64>,
    /// That rate as a share of the trace's calibrated matmul rate (median over runs), 0..1.
    pub(crate) fused_matmul_share: Option<f64>,
    /// Per component: ms per block (block components) or per forward (overhead).
    pub(crate) cells: Vec<ScaleCell>,
    /// Blocks per forward at this frame count (what per-block cells multiply by).
    pub(crate) blocks: u32,
    /// 95% interval of `forward_ms` (of the median fused forward).
    pub(crate) forward_ci95: Option<[f64; 2]>,
    /// Draws of `forward_ms`.
    #[serde(skip)]
    pub(crate) forward_draws: Option<Vec<f64>>,
    /// The fused forward's work at the ceilings, ms (sum of the components' roofline times).
    pub(crate) forward_roofline_ms: Option<f64>,
}

/// One component at one frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ScaleCell {
    /// Component.
    pub(crate) name: String,
    /// Area (decides per block or per forward).
    pub(crate) area: Area,
    /// Milliseconds.
    pub(crate) ms: f64,
    /// 95% interval of `ms`; `None` without one.
    pub(crate) ci95: Option<[f64; 2]>,
    /// The interval reaches zero (or the estimate is not positive): below the noise.
    pub(crate) below_noise: bool,
    /// The component's work at the calibrated ceilings, ms, on the same scale as `ms` (per
    /// block or per forward); `None` without costs or calibration.
    pub(crate) roofline_ms: Option<f64>,
    /// Analytic FLOPs on the same scale.
    pub(crate) flops: f64,
    /// Analytic bytes on the same scale.
    pub(crate) bytes: f64,
    /// Draws of `ms`.
    #[serde(skip)]
    pub(crate) draws: Option<Vec<f64>>,
}

impl Scaling {
    /// Once the report has decided its claims: a crossover length is kept only where the
    /// quadratic term is supported.
    pub(crate) fn settle(&mut self) {
        for f in &mut self.fits {
            let found = f.model.as_ref().and_then(|m| m.crossover).filter(|_| f.quadratic.supported());
            f.crossover_tokens = found.map(|c| c.0);
            f.crossover_ci95 = found.and_then(|c| c.1);
        }
    }
}

/// Builds the scaling table and fits.
pub fn scaling(facts: &Facts) -> Scaling {
    let rows: Vec<ScaleRow> = frame_counts_all(facts).into_iter().map(|frames| scale_row(facts, frames)).collect();
    let distinct = {
        let mut t: Vec<u64> = rows.iter().filter(|r| !r.cells.is_empty()).map(|r| r.tokens).collect();
        t.sort_unstable();
        t.dedup();
        t.len()
    };
    let fits = fit_rows(&rows);
    let note = (distinct < MIN_POINTS).then(|| {
        if fits.iter().any(|f| f.work.is_some()) {
            format!("only {distinct} distinct token counts recorded: exponents of L and growth verdicts need at least {MIN_POINTS}, so none is stated. The built-in components' work has a known form in L (two terms, trace_format::taxonomy::work_powers), so their time is fitted against it (t = a + b*work, through both lengths: the interval is the measurements', and nothing tests the model) and --predict-tokens extrapolates it; the whole forward's work has three terms in L, so it is predicted as the sum of its components' predictions.")
        } else {
            format!("only {distinct} distinct token count(s) recorded: exponents, work fits and growth verdicts need at least {MIN_POINTS}, so none is stated; the times above are the measurements")
        }
    });
    // Decided among themselves here; a report decides them again with all its claims.
    let mut out = Scaling { rows, fits, note };
    {
        let mut tests: Vec<&mut Test> = Vec::new();
        for f in out.fits.iter_mut() {
            tests.push(&mut f.superlinear);
            tests.push(&mut f.quadratic);
            tests.extend(f.faster_than_work.as_mut());
        }
        super::verdict::decide(&mut tests);
    }
    out.settle();
    out
}

/// The scaling table's row at one frame count: the fused forward's time and rate, and each
/// component's time and work from the snapshot.
fn scale_row(facts: &Facts, frames: u32) -> ScaleRow {
    let comp_runs: Vec<_> = facts.runs.iter().filter(|r| r.frames == frames && r.sync == SyncMode::Component).collect();
    let fused_runs: Vec<_> = facts.runs.iter().filter(|r| r.frames == frames && r.sync == SyncMode::None).collect();
    let fused: Vec<f64> = fused_runs.iter().map(|r| r.forward_ns as f64 / 1e6).collect();
    let (fused_tflops, fused_matmul_share) = fused_rates(facts, &comp_runs, &fused_runs);
    let tokens_src: Vec<f64> =
        facts.runs.iter().filter(|r| r.frames == frames).map(|r| r.tokens as f64).collect();
    let tokens = median(&tokens_src).unwrap_or(0.0).round() as u64;
    let snap = snapshot(facts, frames);
    let blocks = snap.as_ref().map_or(0, |s| s.blocks);
    let cells: Vec<ScaleCell> = snap.as_ref().map(scale_cells).unwrap_or_default();
    let forward_ms = median(&fused);
    let forward_draws = forward_ms.and_then(|m| sample_draws(&fused, m, &format!("fused/{frames}")));
    let forward_roofline_ms = snap.as_ref().and_then(|s| s.comps.iter().map(|c| c.roofline_ns).sum::<Option<f64>>()).map(|v| v / 1e6);
    ScaleRow {
        frames,
        tokens,
        forward_ms,
        forward_ci95: forward_draws.as_deref().and_then(interval),
        forward_draws,
        forward_roofline_ms,
        blocks,
        synced_forward_ms: median(&comp_runs.iter().map(|r| r.forward_ns as f64 / 1e6).collect::<Vec<_>>()),
        fused_tflops,
        fused_matmul_share,
        cells,
    }
}

/// Median TFLOP/s of the fused runs and median share of the calibrated matmul rate.
fn fused_rates(facts: &Facts, comp_runs: &[&RunFacts], fused_runs: &[&RunFacts]) -> (Option<f64>, Option<f64>) {
    // Per run: the work its forward does over its wall time. The work is the sum of the
    // component costs of a component-synced run of the same trace and variant (a variant
    // that skips components does less than the standard forward whose cost the recorder
    // puts on the `forward` event); without one, the `forward` event's cost.
    let mut synced_work: HashMap<(u32, &str), Vec<f64>> = HashMap::new();
    for c in comp_runs {
        let work: f64 = c.comps.iter().map(|x| x.flops).sum();
        if work > 0.0 {
            synced_work.entry((c.trace_id, c.variant.as_str())).or_default().push(work);
        }
    }
    let synced_work: HashMap<_, f64> = synced_work.into_iter().filter_map(|(k, v)| median(&v).map(|m| (k, m))).collect();
    let work_of = |r: &RunFacts| -> f64 {
        synced_work.get(&(r.trace_id, r.variant.as_str())).copied().unwrap_or_else(|| r.comps.iter().map(|c| c.flops).sum())
    };
    let rates: Vec<(f64, Option<f64>)> = fused_runs
        .iter()
        .filter(|r| r.forward_ns > 0)
        .filter_map(|r| {
            let flops = work_of(r);
            (flops > 0.0).then(|| {
                let rate = flops / (r.forward_ns as f64 / 1e9);
                let ceiling = facts.traces.get(r.trace_id as usize).and_then(|t| t.matmul_flops_per_s);
                (rate, ceiling.filter(|c| *c > 0.0).map(|c| rate / c))
            })
        })
        .collect();
    let fused_tflops = median(&rates.iter().map(|r| r.0 / 1e12).collect::<Vec<_>>());
    let fused_matmul_share = median(&rates.iter().filter_map(|r| r.1).collect::<Vec<_>>());
    (fused_tflops, fused_matmul_share)
}

/// The snapshot's components as cells: ms per block for block components, per forward else.
fn scale_cells(s: &Snapshot) -> Vec<ScaleCell> {
    s.comps
        .iter()
        .map(|c| {
            let per = match c.area {
                Area::Blocks if s.blocks > 0 => s.blocks as f64,
                _ => 1.0,
            };
            let scale = 1e6 * per;
            ScaleCell {
                name: c.name.clone(),
                area: c.area,
                ms: c.total_ns / scale,
                ci95: c.ci_ns.map(|[lo, hi]| [lo / scale, hi / scale]),
                below_noise: c.below_noise || c.total_ns <= 0.0,
                roofline_ms: c.work_ns.map(|r| r / scale),
                flops: c.flops / per,
                bytes: c.bytes / per,
                draws: c.draws.as_ref().map(|d| d.iter().map(|v| v / scale).collect()),
            }
        })
        .collect()
}

/// One fit per component in order of first appearance (a point per distinct token count),
/// then the fused forward's.
fn fit_rows(rows: &[ScaleRow]) -> Vec<ComponentFit> {
    let mut fits = Vec::new();
    let mut names: Vec<(String, Area)> = Vec::new();
    for row in rows {
        for c in &row.cells {
            if !names.iter().any(|(n, _)| *n == c.name) {
                names.push((c.name.clone(), c.area));
            }
        }
    }
    for (name, area) in names {
        let mut points: Vec<Point> = Vec::new();
        for r in rows {
            if points.iter().any(|p| p.tokens == r.tokens as f64) {
                continue;
            }
            if let Some(c) = r.cells.iter().find(|c| c.name == name) {
                points.push(Point { tokens: r.tokens as f64, ms: c.ms, draws: c.draws.clone(), work: work_of(c) });
            }
        }
        fits.push(fit_component(&name, area, points));
    }
    let mut fused: Vec<Point> = Vec::new();
    for r in rows {
        if let Some(m) = r.forward_ms {
            if !fused.iter().any(|p| p.tokens == r.tokens as f64) {
                fused.push(Point { tokens: r.tokens as f64, ms: m, draws: r.forward_draws.clone(), work: r.forward_roofline_ms.map(|w| (WorkMeasure::Roofline, w)) });
            }
        }
    }
    if !fused.is_empty() {
        fits.push(fit_component("forward", Area::Overhead, fused));
    }
    fits
}

fn frame_counts_all(facts: &Facts) -> Vec<u32> {
    let mut f: Vec<u32> = facts.runs.iter().map(|r| r.frames).collect();
    f.extend(frame_counts(facts));
    f.sort_unstable();
    f.dedup();
    f
}

/// The work a cell's time is fitted against: its time at the ceilings where calibrated, else
/// its FLOPs, else its bytes; `None` without costs.
fn work_of(c: &ScaleCell) -> Option<(WorkMeasure, f64)> {
    match c.roofline_ms {
        Some(r) if r > 0.0 => Some((WorkMeasure::Roofline, r)),
        _ if c.flops > 0.0 => Some((WorkMeasure::Flops, c.flops)),
        _ if c.bytes > 0.0 => Some((WorkMeasure::Bytes, c.bytes)),
        _ => None,
    }
}

/// What a component's work is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WorkMeasure {
    /// Its time at the calibrated ceilings, ms: max(FLOPs / matmul rate, bytes / bandwidth).
    Roofline,
    /// Its analytic FLOPs (no calibration).
    Flops,
    /// Its analytic bytes (no FLOPs, no calibration).
    Bytes,
}

/// One length of a component: its time, the draws of it, and its work.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    /// Tokens L.
    pub(crate) tokens: f64,
    /// Time, ms.
    pub(crate) ms: f64,
    /// Draws of `ms`.
    pub(crate) draws: Option<Vec<f64>>,
    /// The work, when recorded.
    pub(crate) work: Option<(WorkMeasure, f64)>,
}

/// Power law `t = coefficient * L^exponent` (log-log least squares): the exponent is the
/// log-log slope of the time over the recorded range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct PowerFit {
    /// Exponent p.
    pub(crate) exponent: f64,
    /// 95% interval of p; `None` without draws or when the time's draws reach zero.
    pub(crate) exponent_ci95: Option<[f64; 2]>,
    /// Coefficient k (ms at L = 1).
    pub(crate) coefficient: f64,
    /// R^2 in log-log space.
    pub(crate) r2: f64,
}

/// The work model `t = a + b * w` (non-negative least squares), and how time grows with work.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct WorkFit {
    /// What w is.
    pub(crate) measure: WorkMeasure,
    /// How the work grows with L: the log-log slope of w against L (exact, from the costs).
    pub(crate) work_exponent: f64,
    /// Constant, ms.
    pub(crate) a_ms: f64,
    /// Its 95% interval.
    pub(crate) a_ci95: Option<[f64; 2]>,
    /// ms per unit of work (with `Roofline`: 1 / the fraction of the ceilings reached by the
    /// work-proportional part).
    pub(crate) b: f64,
    /// Its 95% interval.
    pub(crate) b_ci95: Option<[f64; 2]>,
    /// Elasticity: the log-log slope of time against work (1: time proportional to work).
    pub(crate) elasticity: Option<f64>,
    /// Its 95% interval.
    pub(crate) elasticity_ci95: Option<[f64; 2]>,
    /// R^2 of the work model.
    pub(crate) r2: f64,
}

/// `t = a + b*L + c*L^2` in ms, coefficients non-negative (only with four lengths or more).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct PolyFit {
    /// Constant, ms.
    pub(crate) a: f64,
    /// Linear, ms per token.
    pub(crate) b: f64,
    /// Quadratic, ms per token^2.
    pub(crate) c: f64,
    /// R^2.
    pub(crate) r2: f64,
}

impl PolyFit {
    /// Predicted ms at `l` tokens.
    pub(crate) fn at(&self, l: f64) -> f64 {
        self.a + self.b * l + self.c * l * l
    }
}

/// Fits of one component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentFit {
    /// Component (or `forward`).
    pub(crate) name: String,
    /// Area.
    pub(crate) area: Area,
    /// (tokens, ms) points fitted, one per distinct token count.
    pub(crate) points: Vec<(f64, f64)>,
    /// 95% interval of each point's ms, in the same order.
    pub(crate) points_ci95: Vec<Option<[f64; 2]>>,
    /// Power law in L, when at least [`MIN_POINTS`] positive points.
    pub(crate) power: Option<PowerFit>,
    /// Time against the recorded work, when the trace records costs at every length.
    pub(crate) work: Option<WorkFit>,
    /// Quadratic in L, with at least [`MIN_POINTS_QUADRATIC`] points.
    pub(crate) poly: Option<PolyFit>,
    /// L where `c*L^2` overtakes `b*L`, only when the quadratic claim is supported.
    pub(crate) crossover_tokens: Option<f64>,
    /// Its 95% interval.
    pub(crate) crossover_ci95: Option<[f64; 2]>,
    /// Claim: the time grows faster than L by at least [`GROWTH_MARGIN`] in exponent.
    pub(crate) superlinear: Test,
    /// Claim: the time grows faster than its recorded work (elasticity above 1 + margin).
    pub(crate) faster_than_work: Option<Test>,
    /// Claim: a quadratic term takes at least [`QUADRATIC_SHARE`] of the time at the longest L.
    pub(crate) quadratic: Test,
    /// What the lengths recorded can and cannot decide about the model.
    pub(crate) model_note: String,
    /// Why there is no fit.
    pub(crate) note: Option<String>,
    /// Draws of the fitted parameters, for predictions.
    #[serde(skip)]
    pub(crate) model: Option<Model>,
}

/// What predictions are made from: the work model when the work is a polynomial of L (known
/// at unrecorded lengths), else the power law. Each parameter with its draws.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Model {
    /// The work as terms (power of L / 1000, coefficient), exact at every recorded L.
    work_poly: Option<Vec<(i32, f64)>>,
    a: f64,
    b: f64,
    a_draws: Vec<f64>,
    b_draws: Vec<f64>,
    ln_k: f64,
    p: f64,
    ln_k_draws: Vec<f64>,
    p_draws: Vec<f64>,
    /// The quadratic's crossover b / c and its interval, shown once the quadratic is supported.
    crossover: Option<(f64, Option<[f64; 2]>)>,
}

/// How a prediction was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PredictionModel {
    /// t = a + b * w(L), with the work at L from the recorded costs.
    Work,
    /// t = k * L^p.
    PowerLaw,
    /// The whole forward as the sum of its components' predictions (two lengths: the forward's
    /// own work has three terms in L); the unattributed rest is not in it.
    ComponentSum,
}

impl ComponentFit {
    /// Draws of the power law's exponent (NaN where a drawn time is not positive); empty
    /// without draws.
    pub(crate) fn exponent_draws(&self) -> Vec<f64> {
        self.model.as_ref().map_or_else(Vec::new, |m| m.p_draws.clone())
    }

    /// The predicted ms at `tokens` (on the fit's scale: per block or per forward), with the
    /// 95% interval of the predicted median time and the model used; `None` without a fit.
    pub(crate) fn predict(&self, tokens: f64) -> Option<(f64, Option<[f64; 2]>, PredictionModel)> {
        self.predict_draws(tokens).map(|(ms, draws, model)| (ms, interval(&draws), model))
    }

    /// As [`predict`](Self::predict), with the prediction's draws (by index, joint with the
    /// other components' of the same recording; empty without draws) instead of its interval.
    pub(crate) fn predict_draws(&self, tokens: f64) -> Option<(f64, Vec<f64>, PredictionModel)> {
        let m = self.model.as_ref()?;
        if let Some(poly) = &m.work_poly {
            let x = tokens / 1000.0;
            let w: f64 = poly.iter().map(|(p, c)| c * x.powi(*p)).sum();
            if w >= 0.0 {
                let draws: Vec<f64> = m.a_draws.iter().zip(&m.b_draws).map(|(a, b)| a + b * w).collect();
                return Some((m.a + m.b * w, draws, PredictionModel::Work));
            }
        }
        if m.p.is_finite() {
            let draws: Vec<f64> = m.ln_k_draws.iter().zip(&m.p_draws).map(|(k, p)| (k + p * tokens.ln()).exp()).collect();
            return Some(((m.ln_k + m.p * tokens.ln()).exp(), draws, PredictionModel::PowerLaw));
        }
        None
    }
}

/// Log-log least-squares slope and intercept of y against x; NaN when a value is not positive.
fn log_slope(x: &[f64], y: &[f64]) -> (f64, f64) {
    if x.iter().chain(y).any(|v| !(*v > 0.0)) {
        return (f64::NAN, f64::NAN);
    }
    // As `fit_line` on the logs, in the same order of operations (the same bits), without its
    // allocations and R^2: this runs once per draw (a thousand per component and fit).
    if x.len() < 2 || x.len() != y.len() {
        return (f64::NAN, f64::NAN);
    }
    let n = x.len() as f64;
    let mx = x.iter().map(|v| v.ln()).sum::<f64>() / n;
    let my = y.iter().map(|v| v.ln()).sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v.ln() - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a.ln() - mx) * (b.ln() - my)).sum();
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

/// A polynomial in `x` of the given degree through the points by least squares, and whether
/// it reproduces every point to 0.1%.
fn exact_poly(x: &[f64], y: &[f64], degree: usize) -> Option<Vec<(i32, f64)>> {
    exact_terms(x, y, &(0..=degree as i32).collect::<Vec<_>>())
}

/// The terms `c_i x^powers_i` through the points by least squares, when they reproduce every
/// point to 0.1%.
fn exact_terms(x: &[f64], y: &[f64], powers: &[i32]) -> Option<Vec<(i32, f64)>> {
    let cols: Vec<Vec<f64>> = powers.iter().map(|&d| x.iter().map(|v| v.powi(d)).collect()).collect();
    let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    let c = super::stats::least_squares(&refs, y)?;
    let terms: Vec<(i32, f64)> = powers.iter().copied().zip(c).collect();
    let ok = x.iter().zip(y).all(|(xi, yi)| {
        let p: f64 = terms.iter().map(|(d, ci)| ci * xi.powi(*d)).sum();
        (p - yi).abs() <= 1e-3 * yi.abs().max(f64::MIN_POSITIVE)
    });
    ok.then_some(terms)
}

/// Fits one component's points (one per distinct token count).
pub(crate) fn fit_component(name: &str, area: Area, mut points: Vec<Point>) -> ComponentFit {
    points.sort_by(|a, b| a.tokens.total_cmp(&b.tokens));
    let n = points.len();
    let mut fit = unfitted(name, area, &points);
    // Two lengths pin down a built-in component's work (two known powers of L), so its time
    // against that work can be fitted and extrapolated; nothing about its growth is tested.
    let powers = trace_format::taxonomy::work_powers(name);
    let work_only = n == 2 && powers.is_some() && points.iter().all(|p| p.work.is_some());
    if n < MIN_POINTS && !work_only {
        fit.note = Some(format!("{n} distinct token count(s); {MIN_POINTS} needed"));
        return fit;
    }
    let f = Fitting {
        name,
        n,
        l: points.iter().map(|p| p.tokens).collect(),
        y: points.iter().map(|p| p.ms).collect(),
        // Draws by index: row j holds every point's j-th draw.
        draws: points.iter().map(|p| p.draws.clone()).collect::<Option<Vec<_>>>().map(|d| {
            (0..DRAWS.min(d.iter().map(Vec::len).min().unwrap_or(0))).map(|j| d.iter().map(|v| v[j]).collect()).collect()
        }),
        work_only,
    };
    let mut model = Model::default();
    f.fit_power(&mut fit, &mut model);
    // Work model, when every point has work of one measure.
    let work: Option<(WorkMeasure, Vec<f64>)> = points.iter().map(|p| p.work).collect::<Option<Vec<_>>>().and_then(|w| {
        let m = w[0].0;
        w.iter().all(|x| x.0 == m).then(|| (m, w.iter().map(|x| x.1).collect()))
    });
    if let Some((measure, w)) = work {
        f.fit_work(measure, &w, powers, &mut fit, &mut model);
    }
    if n >= MIN_POINTS_QUADRATIC {
        f.fit_quadratic(&mut fit, &mut model);
        fit.model_note = format!("{n} lengths: a quadratic in L is tested against a line");
    } else if work_only {
        fit.model_note = format!("{n} lengths: the time against the work's known form in L (two terms) only; no exponent or growth verdict");
        fit.note = Some(fit.model_note.clone());
    } else {
        fit.model_note = format!("{n} lengths cannot separate a quadratic in L from a line (a quadratic has 3 parameters)");
    }
    fit.model = Some(model);
    fit
}

/// A component's fit before any model: its points and intervals, every claim untestable.
fn unfitted(name: &str, area: Area, points: &[Point]) -> ComponentFit {
    let n = points.len();
    ComponentFit {
        name: name.to_string(),
        area,
        points: points.iter().map(|p| (p.tokens, p.ms)).collect(),
        points_ci95: points.iter().map(|p| p.draws.as_deref().and_then(interval)).collect(),
        power: None,
        work: None,
        poly: None,
        crossover_tokens: None,
        crossover_ci95: None,
        superlinear: Test::untestable(format!("{n} distinct token count(s); {MIN_POINTS} needed")),
        faster_than_work: None,
        quadratic: Test::untestable(format!("{n} distinct token count(s); {MIN_POINTS_QUADRATIC} are needed to tell a quadratic from a line")),
        model_note: String::new(),
        note: None,
        model: None,
    }
}

/// One component's points, sorted by length, as the fits read them.
struct Fitting<'a> {
    /// Component name.
    name: &'a str,
    /// Number of points.
    n: usize,
    /// Tokens L per point.
    l: Vec<f64>,
    /// Ms per point.
    y: Vec<f64>,
    /// Draws by index: row j holds every point's j-th draw; `None` when a point has none.
    draws: Option<Vec<Vec<f64>>>,
    /// Two lengths of a built-in component: only the time against its work is fitted.
    work_only: bool,
}

impl Fitting<'_> {
    /// Why a claim cannot be tested for want of draws.
    fn no_interval(&self) -> String {
        format!("{} has no interval at some length (fewer than 3 runs a mean)", self.name)
    }

    /// The power law in L (three lengths or more) and the claim that the time grows faster
    /// than L.
    fn fit_power(&self, fit: &mut ComponentFit, model: &mut Model) {
        let (l, y, n) = (&self.l, &self.y, self.n);
        let (p, ln_k) = if self.work_only { (f64::NAN, f64::NAN) } else { log_slope(l, y) };
        let p_draws: Option<Vec<(f64, f64)>> = if self.work_only { None } else { self.draws.as_ref().map(|d| d.iter().map(|yy| log_slope(l, yy)).collect()) };
        if p.is_finite() {
            let lx: Vec<f64> = l.iter().map(|v| v.ln()).collect();
            let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
            let r2 = fit_line(&lx, &ly).map_or(0.0, |f| f.r2);
            let ci = p_draws.as_ref().and_then(|d| interval(&d.iter().map(|x| x.0).collect::<Vec<_>>()));
            fit.power = Some(PowerFit { exponent: p, exponent_ci95: ci, coefficient: ln_k.exp(), r2 });
            model.p = p;
            model.ln_k = ln_k;
            if let Some(d) = &p_draws {
                model.p_draws = d.iter().map(|x| x.0).collect();
                model.ln_k_draws = d.iter().map(|x| x.1).collect();
            }
        } else {
            model.p = f64::NAN;
        }
        let threshold = 1.0 + GROWTH_MARGIN;
        fit.superlinear = match &p_draws {
            _ if self.work_only => Test::untestable(format!("{n} distinct token count(s); {MIN_POINTS} needed")),
            Some(d) => {
                let e: Vec<f64> = d.iter().map(|x| x.0).collect();
                Test::new(prob_at_most(&e, threshold), prob_at_least(&e, threshold), format!("the exponent of L against {threshold:.1}"))
            }
            None => Test::untestable(self.no_interval()),
        };
    }

    /// The time against the recorded work `w` (t = a + b*work), the claim that the time grows
    /// faster than the work, and the work as a polynomial of L for predictions.
    fn fit_work(&self, measure: WorkMeasure, w: &[f64], powers: Option<[i32; 2]>, fit: &mut ComponentFit, model: &mut Model) {
        let (l, y, n) = (&self.l, &self.y, self.n);
        let scale = w.iter().copied().fold(0.0, f64::max).max(f64::MIN_POSITIVE);
        let ws: Vec<f64> = w.iter().map(|v| v / scale).collect();
        let ones = vec![1.0; n];
        let columns = [ones.clone(), ws.clone()];
        let solve = |yy: &[f64]| {
            let s = nnls(&columns, yy);
            (s[0], s[1] / scale)
        };
        let (a, b) = solve(y);
        let predicted: Vec<f64> = w.iter().map(|v| a + b * v).collect();
        let (el, _) = log_slope(w, y);
        let ab: Option<Vec<(f64, f64)>> = self.draws.as_ref().map(|d| d.iter().map(|yy| solve(yy)).collect());
        let el_draws: Option<Vec<f64>> = self.draws.as_ref().map(|d| d.iter().map(|yy| log_slope(w, yy).0).collect());
        fit.work = Some(WorkFit {
            measure,
            work_exponent: log_slope(l, w).0,
            a_ms: a,
            a_ci95: ab.as_ref().and_then(|d| interval(&d.iter().map(|x| x.0).collect::<Vec<_>>())),
            b,
            b_ci95: ab.as_ref().and_then(|d| interval(&d.iter().map(|x| x.1).collect::<Vec<_>>())),
            elasticity: el.is_finite().then_some(el),
            elasticity_ci95: el_draws.as_deref().and_then(interval),
            r2: r_squared(y, &predicted),
        });
        let threshold = 1.0 + GROWTH_MARGIN;
        fit.faster_than_work = Some(match &el_draws {
            _ if self.work_only => Test::untestable(format!("{n} distinct token count(s); {MIN_POINTS} needed to test the time against the work")),
            Some(e) => Test::new(prob_at_most(e, threshold), prob_at_least(e, threshold), format!("the elasticity of time to work against {threshold:.1}")),
            None => Test::untestable(self.no_interval()),
        });
        // Predictions need the work at unrecorded lengths: a polynomial of L of degree at most
        // two (attention's FLOPs are quadratic) that reproduces every recorded work.
        let x: Vec<f64> = l.iter().map(|v| v / 1000.0).collect();
        model.work_poly = match powers {
            Some(pw) if self.work_only => exact_terms(&x, w, &pw),
            _ => (1..=2.min(n - 1)).find_map(|deg| exact_poly(&x, w, deg)),
        };
        model.a = a;
        model.b = b;
        if let Some(d) = &ab {
            model.a_draws = d.iter().map(|x| x.0).collect();
            model.b_draws = d.iter().map(|x| x.1).collect();
        }
    }

    /// The quadratic in L (only where the lengths can tell it from a line), the claim that its
    /// quadratic term takes a material share of the time, and where it overtakes the linear one.
    fn fit_quadratic(&self, fit: &mut ComponentFit, model: &mut Model) {
        let (l, y, n) = (&self.l, &self.y, self.n);
        let s = 1000.0;
        let ones = vec![1.0; n];
        let lin: Vec<f64> = l.iter().map(|v| v / s).collect();
        let quad: Vec<f64> = lin.iter().map(|v| v * v).collect();
        let lmax = l[n - 1];
        let columns = [ones, lin, quad];
        let solve = |yy: &[f64]| {
            let sol = nnls(&columns, yy);
            PolyFit { a: sol[0], b: sol[1] / s, c: sol[2] / (s * s), r2: 0.0 }
        };
        let mut poly = solve(y);
        poly.r2 = r_squared(y, &l.iter().map(|v| poly.at(*v)).collect::<Vec<_>>());
        fit.poly = Some(poly);
        let share = |p: &PolyFit| p.c * lmax * lmax / p.at(lmax).max(f64::MIN_POSITIVE);
        let polys: Option<Vec<PolyFit>> = self.draws.as_ref().map(|d| d.iter().map(|yy| solve(yy)).collect());
        fit.quadratic = match &polys {
            Some(ps) => {
                let shares: Vec<f64> = ps.iter().map(share).collect();
                Test::new(
                    prob_at_most(&shares, QUADRATIC_SHARE),
                    prob_at_least(&shares, QUADRATIC_SHARE),
                    format!("the quadratic term's share of the time at L = {lmax:.0} against {:.0}%", QUADRATIC_SHARE * 100.0),
                )
            }
            None => Test::untestable(self.no_interval()),
        };
        if poly.c > 0.0 {
            let ci = polys.as_ref().and_then(|ps| interval(&ps.iter().map(|p| if p.c > 0.0 { p.b / p.c } else { f64::INFINITY }).collect::<Vec<_>>()));
            model.crossover = Some((poly.b / poly.c, ci));
        }
    }
}
