//! Recommendations derived from the other analyses, ranked by the time they could save per
//! forward. Each one states the measured numbers it rests on; nothing is emitted without data.

use serde::Serialize;

use super::comparison::{Comparison, FORWARD_ROW};
use super::overhead::Overhead;
use super::ranking::{Bound, Ranking};
use super::scaling::Scaling;

/// One recommendation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Short headline.
    pub title: String,
    /// Component concerned, if one.
    pub component: Option<String>,
    /// Upper estimate of time saved per forward, ms (0 for observations).
    pub saving_ms: f64,
    /// The saving as a share of the component-synced forward, 0..1.
    pub saving_share: f64,
    /// The reasoning with its numbers.
    pub detail: String,
}

/// Smallest share of the forward worth a recommendation.
const MIN_SHARE: f64 = 0.02;

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Builds the recommendations, largest saving first.
pub fn recommend(ranking: Option<&Ranking>, scaling: Option<&Scaling>, overhead: Option<&Overhead>, comparison: Option<&Comparison>) -> Vec<Recommendation> {
    let mut out = Vec::new();
    if let Some(r) = ranking {
        let total = r.total_ms.max(f64::MIN_POSITIVE);
        for row in r.rows.iter().filter(|row| row.share >= MIN_SHARE) {
            let where_ = format!("{} takes {} of the forward ({:.2} ms per forward at {} tokens)", row.name, pct(row.share), row.ms_per_forward, r.tokens);
            match (row.bound, row.bound_util) {
                (Bound::Compute, Some(u)) => {
                    let rates = match (row.tflops, row.flops_util) {
                        (Some(t), Some(fu)) if fu > 0.0 => format!(" ({t:.1} of {:.1} TFLOP/s)", t / fu),
                        _ => String::new(),
                    };
                    let ii = match (row.intensity, row.ridge) {
                        (Some(i), Some(rd)) => format!("; intensity {i:.0} FLOP/byte against a ridge point of {rd:.0}"),
                        _ => String::new(),
                    };
                    let (title, advice) = if u >= 0.5 {
                        (
                            format!("{}: compute-bound at {} of the matmul ceiling", row.name, pct(u)),
                            "compute-bound; 8-bit weights cut bytes, not FLOPs, so expect little from quantization here; only fewer FLOPs (caching, pruning, lower-precision compute) would help",
                        )
                    } else {
                        (
                            format!("{}: compute-bound but only {} of the matmul ceiling", row.name, pct(u)),
                            "compute-bound yet far from the calibrated rate: look at kernel shapes, layouts and fusion before quantizing",
                        )
                    };
                    out.push(Recommendation {
                        title,
                        component: Some(row.name.clone()),
                        saving_ms: row.savable_ms,
                        saving_share: row.savable_ms / total,
                        detail: format!(
                            "{where_} and runs at {} of this machine's calibrated matmul rate{rates}{ii}: {advice}. Reaching the ceiling would save at most {:.2} ms per forward.",
                            pct(u),
                            row.savable_ms
                        ),
                    });
                }
                (Bound::Memory, Some(u)) => {
                    let half = row.ms_per_forward / 2.0;
                    let gb = row.gbps.map_or(String::new(), |g| format!(" ({g:.0} GB/s)"));
                    let ii = match (row.intensity, row.ridge) {
                        (Some(i), Some(rd)) => format!("; intensity {i:.1} FLOP/byte is below the ridge point of {rd:.0}"),
                        _ => String::new(),
                    };
                    out.push(Recommendation {
                        title: format!("{}: memory-bound at {} of the bandwidth ceiling", row.name, pct(u)),
                        component: Some(row.name.clone()),
                        saving_ms: half,
                        saving_share: half / total,
                        detail: format!(
                            "{where_} and moves data at {} of the calibrated bandwidth{gb}{ii}: memory-bound, so halving its bytes (8-bit weights, fusing it with its neighbours) could save up to {half:.2} ms per forward.",
                            pct(u)
                        ),
                    });
                }
                _ => {}
            }
        }
        for (name, input) in [("block/camera/scale_shift", "the camera input"), ("block/cross_attn/kv", "the text context")] {
            if let Some(row) = r.rows.iter().find(|x| x.name == name) {
                out.push(Recommendation {
                    title: format!("cache {name} once per clip"),
                    component: Some(name.into()),
                    saving_ms: row.ms_per_forward,
                    saving_share: row.ms_per_forward / total,
                    detail: format!(
                        "{name} depends only on {input}, not on the latents or the timestep; it takes {} of the forward ({:.2} ms per forward, {} per block). Computing it once per clip and reusing it in all 80 forwards saves about {:.2} ms per forward, about {:.1} s per clip, for memory holding its outputs for {} blocks.",
                        pct(row.share),
                        row.ms_per_forward,
                        row.ms_per_block.map_or("-".into(), |m| format!("{m:.3} ms")),
                        row.ms_per_forward,
                        row.ms_per_forward * 79.0 / 1000.0,
                        r.blocks
                    ),
                });
            }
        }
    }
    if let Some(s) = scaling {
        for fit in &s.fits {
            let (Some(poly), Some(cross), Some(last)) = (fit.poly, fit.crossover_tokens, fit.points.last()) else { continue };
            if poly.c <= 0.0 || last.1 <= 0.0 {
                continue;
            }
            let lmax = last.0;
            let quad_share = poly.c * lmax * lmax / poly.at(lmax).max(f64::MIN_POSITIVE);
            if quad_share < 0.05 && cross > 4.0 * lmax {
                continue;
            }
            let exponent = fit.power.map_or(String::new(), |p| format!("; the measured power law has exponent {:.2} (R^2 {:.3})", p.exponent, p.r2));
            out.push(Recommendation {
                title: format!("{}: quadratic in tokens beyond about {:.0} tokens", fit.name, cross),
                component: Some(fit.name.clone()),
                saving_ms: 0.0,
                saving_share: 0.0,
                detail: format!(
                    "{} fits t = {:.3} + {:.3e}*L + {:.3e}*L^2 ms (R^2 {:.3}){exponent}; the quadratic term overtakes the linear one at L = {:.0} tokens and is {} of its time at the longest measured L = {:.0}. Longer clips make it the first target (chunked or sparse attention).",
                    fit.name, poly.a, poly.b, poly.c, poly.r2, cross, pct(quad_share), lmax
                ),
            });
        }
    }
    if let Some(o) = overhead {
        let worst = o.rows.iter().filter_map(|r| r.component_pct.map(|p| (r, p))).max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((row, p)) = worst {
            if p > 5.0 {
                out.push(Recommendation {
                    title: format!("per-component timing inflates the forward by up to {p:.0}%"),
                    component: None,
                    saving_ms: 0.0,
                    saving_share: 0.0,
                    detail: format!(
                        "At {} tokens the component-synced forward takes {:.1} ms against {:.1} ms fused ({p:.1}% more): the per-component times include synchronisation and lost fusion; use the fused forward for end-to-end numbers and the shares for where the time goes.",
                        row.tokens,
                        row.component_ms.unwrap_or(0.0),
                        row.fused_ms.unwrap_or(0.0)
                    ),
                });
            }
        }
    }
    if let Some(c) = comparison {
        for row in c.rows.iter().filter(|r| r.significant && r.component == FORWARD_ROW) {
            out.push(Recommendation {
                title: format!("{} = {}: forward {:.2}x the baseline", c.key, row.group, row.ratio),
                component: None,
                saving_ms: (row.group_ms - row.baseline_ms).max(0.0),
                saving_share: 0.0,
                detail: format!(
                    "With {} = {} the fused forward takes {:.1} ms against {:.1} ms for {} ({:.2}x, {:.0}% interval {:.2}-{:.2}, {} and {} runs).",
                    c.key,
                    row.group,
                    row.group_ms,
                    row.baseline_ms,
                    c.baseline,
                    row.ratio,
                    c.level * 100.0,
                    row.low,
                    row.high,
                    row.n_group,
                    row.n_baseline
                ),
            });
        }
    }
    out.sort_by(|a, b| b.saving_ms.total_cmp(&a.saving_ms).then_with(|| a.title.cmp(&b.title)));
    out
}
