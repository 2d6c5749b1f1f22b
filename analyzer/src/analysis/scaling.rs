//! Scaling with sequence length: a table per frame count (tokens, forward time, per-block
//! time per component) and, per component, two fits of time against tokens L: a power law
//! `t = k * L^p` (least squares in log-log, with R^2) and `t = a + b*L + c*L^2` with
//! non-negative coefficients, whose quadratic term overtakes the linear one at `L = b / c`.

use std::collections::HashMap;

use serde::Serialize;
use trace_format::SyncMode;

use super::facts::{Area, Facts, RunFacts};
use super::ranking::{frame_counts, snapshot};
use super::stats::{fit_line, median, nnls, r_squared};

/// Fewest distinct token counts a fit needs.
pub const MIN_POINTS: usize = 3;

/// The scaling analysis.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Scaling {
    /// One row per frame count, ascending.
    pub rows: Vec<ScaleRow>,
    /// One fit per component (and `forward` for the fused forward, when recorded).
    pub fits: Vec<ComponentFit>,
    /// Why there are no fits, when there are none.
    pub note: Option<String>,
}

/// One frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleRow {
    /// Frames.
    pub frames: u32,
    /// Tokens L.
    pub tokens: u64,
    /// Median fused (`none`-synced) forward, ms.
    pub forward_ms: Option<f64>,
    /// Median component-synced forward, ms.
    pub synced_forward_ms: Option<f64>,
    /// Achieved rate of the fused forward: its analytic FLOPs over its median time, TFLOP/s.
    pub fused_tflops: Option<f64>,
    /// That rate as a share of the trace's calibrated matmul rate (median over runs), 0..1.
    pub fused_matmul_share: Option<f64>,
    /// Per component: ms per block (block components) or per forward (overhead).
    pub cells: Vec<ScaleCell>,
}

/// One component at one frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleCell {
    /// Component.
    pub name: String,
    /// Area (decides per block or per forward).
    pub area: Area,
    /// Milliseconds.
    pub ms: f64,
}

/// Power law `t = coefficient * L^exponent`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PowerFit {
    /// Exponent p.
    pub exponent: f64,
    /// Coefficient k (ms at L = 1).
    pub coefficient: f64,
    /// R^2 in log-log space.
    pub r2: f64,
}

/// `t = a + b*L + c*L^2` in ms, coefficients non-negative.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PolyFit {
    /// Constant, ms.
    pub a: f64,
    /// Linear, ms per token.
    pub b: f64,
    /// Quadratic, ms per token^2.
    pub c: f64,
    /// R^2.
    pub r2: f64,
}

impl PolyFit {
    /// Predicted ms at `l` tokens.
    pub fn at(&self, l: f64) -> f64 {
        self.a + self.b * l + self.c * l * l
    }
}

/// Fits of one component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentFit {
    /// Component (or `forward`).
    pub name: String,
    /// Area.
    pub area: Area,
    /// (tokens, ms) points fitted: medians per distinct token count.
    pub points: Vec<(f64, f64)>,
    /// Power law, when at least [`MIN_POINTS`] positive points.
    pub power: Option<PowerFit>,
    /// Quadratic, when at least [`MIN_POINTS`] points.
    pub poly: Option<PolyFit>,
    /// L where `c*L^2` overtakes `b*L` (`b / c`); 0 when there is no linear term; `None` when
    /// the quadratic term is absent or under 1% of the time at the longest L.
    pub crossover_tokens: Option<f64>,
    /// Why there is no fit.
    pub note: Option<String>,
}

/// Builds the scaling table and fits.
pub fn scaling(facts: &Facts) -> Scaling {
    let mut rows = Vec::new();
    for frames in frame_counts_all(facts) {
        let comp_runs: Vec<_> = facts.runs.iter().filter(|r| r.frames == frames && r.sync == SyncMode::Component).collect();
        let fused_runs: Vec<_> = facts.runs.iter().filter(|r| r.frames == frames && r.sync == SyncMode::None).collect();
        let fused: Vec<f64> = fused_runs.iter().map(|r| r.forward_ns / 1e6).collect();
        // Per run: the work its forward does over its wall time. The work is the sum of the
        // component costs of a component-synced run of the same trace and variant (a variant
        // that skips components does less than the standard forward whose cost the recorder
        // puts on the `forward` event); without one, the `forward` event's cost.
        let mut synced_work: HashMap<(u32, &str), Vec<f64>> = HashMap::new();
        for c in &comp_runs {
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
            .filter(|r| r.forward_ns > 0.0)
            .filter_map(|r| {
                let flops = work_of(r);
                (flops > 0.0).then(|| {
                    let rate = flops / (r.forward_ns / 1e9);
                    let ceiling = facts.traces.get(r.trace_id as usize).and_then(|t| t.matmul_flops_per_s);
                    (rate, ceiling.filter(|c| *c > 0.0).map(|c| rate / c))
                })
            })
            .collect();
        let fused_tflops = median(&rates.iter().map(|r| r.0 / 1e12).collect::<Vec<_>>());
        let fused_matmul_share = median(&rates.iter().filter_map(|r| r.1).collect::<Vec<_>>());
        let tokens_src: Vec<f64> =
            facts.runs.iter().filter(|r| r.frames == frames).map(|r| r.tokens as f64).collect();
        let tokens = median(&tokens_src).unwrap_or(0.0).round() as u64;
        let cells = snapshot(facts, frames)
            .map(|s| {
                s.comps
                    .iter()
                    .map(|c| ScaleCell {
                        name: c.name.clone(),
                        area: c.area,
                        ms: match c.area {
                            Area::Blocks if s.blocks > 0 => c.total_ns / 1e6 / s.blocks as f64,
                            _ => c.total_ns / 1e6,
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        rows.push(ScaleRow {
            frames,
            tokens,
            forward_ms: median(&fused),
            synced_forward_ms: median(&comp_runs.iter().map(|r| r.forward_ns / 1e6).collect::<Vec<_>>()),
            fused_tflops,
            fused_matmul_share,
            cells,
        });
    }

    let distinct = {
        let mut t: Vec<u64> = rows.iter().filter(|r| !r.cells.is_empty()).map(|r| r.tokens).collect();
        t.sort_unstable();
        t.dedup();
        t.len()
    };
    let mut fits = Vec::new();
    let mut names: Vec<(String, Area)> = Vec::new();
    for row in &rows {
        for c in &row.cells {
            if !names.iter().any(|(n, _)| *n == c.name) {
                names.push((c.name.clone(), c.area));
            }
        }
    }
    for (name, area) in names {
        let points = merge_points(rows.iter().filter_map(|r| r.cells.iter().find(|c| c.name == name).map(|c| (r.tokens as f64, c.ms))));
        fits.push(fit_points(&name, area, points));
    }
    let fused = merge_points(rows.iter().filter_map(|r| r.forward_ms.map(|m| (r.tokens as f64, m))));
    if !fused.is_empty() {
        fits.push(fit_points("forward", Area::Overhead, fused));
    }
    let note = (distinct < MIN_POINTS).then(|| {
        format!("only {distinct} distinct token count(s) among component-synced runs: at least {MIN_POINTS} are needed to fit; fits skipped")
    });
    Scaling { rows, fits, note }
}

fn frame_counts_all(facts: &Facts) -> Vec<u32> {
    let mut f: Vec<u32> = facts.runs.iter().map(|r| r.frames).collect();
    f.extend(frame_counts(facts));
    f.sort_unstable();
    f.dedup();
    f
}

/// Medians of the values per distinct x, sorted by x.
fn merge_points(points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    let mut all: Vec<(f64, f64)> = points.collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let x = all[i].0;
        let ys: Vec<f64> = all[i..].iter().take_while(|p| p.0 == x).map(|p| p.1).collect();
        i += ys.len();
        out.push((x, median(&ys).unwrap_or(0.0)));
    }
    out
}

/// Fits one component's points.
pub fn fit_points(name: &str, area: Area, points: Vec<(f64, f64)>) -> ComponentFit {
    let mut fit = ComponentFit { name: name.to_string(), area, points, power: None, poly: None, crossover_tokens: None, note: None };
    if fit.points.len() < MIN_POINTS {
        fit.note = Some(format!("{} distinct token count(s); {MIN_POINTS} needed", fit.points.len()));
        return fit;
    }
    let positive: Vec<&(f64, f64)> = fit.points.iter().filter(|p| p.0 > 0.0 && p.1 > 0.0).collect();
    if positive.len() >= MIN_POINTS {
        let lx: Vec<f64> = positive.iter().map(|p| p.0.ln()).collect();
        let ly: Vec<f64> = positive.iter().map(|p| p.1.ln()).collect();
        if let Some(line) = fit_line(&lx, &ly) {
            fit.power = Some(PowerFit { exponent: line.slope, coefficient: line.intercept.exp(), r2: line.r2 });
        }
    }
    // Scale L to thousands of tokens for conditioning.
    let s = 1000.0;
    let ones = vec![1.0; fit.points.len()];
    let lin: Vec<f64> = fit.points.iter().map(|p| p.0 / s).collect();
    let quad: Vec<f64> = lin.iter().map(|v| v * v).collect();
    let y: Vec<f64> = fit.points.iter().map(|p| p.1).collect();
    let sol = nnls(&[ones, lin, quad], &y);
    let mut poly = PolyFit { a: sol[0], b: sol[1] / s, c: sol[2] / (s * s), r2: 0.0 };
    let predicted: Vec<f64> = fit.points.iter().map(|p| poly.at(p.0)).collect();
    poly.r2 = r_squared(&y, &predicted);
    fit.poly = Some(poly);
    // A quadratic term under 1% of the time at the longest L is fit noise: no crossover.
    let lmax = fit.points.last().map_or(0.0, |p| p.0);
    let material = poly.c * lmax * lmax >= 0.01 * poly.at(lmax).abs();
    fit.crossover_tokens = if poly.c > 0.0 && material { Some(poly.b / poly.c) } else { None };
    fit
}
