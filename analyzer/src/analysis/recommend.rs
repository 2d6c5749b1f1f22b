//! Recommendations derived from the other analyses, ranked by the time they could save per
//! forward. Each one states the measured numbers it rests on; nothing is emitted without data.

use serde::Serialize;

use super::comparison::{Comparison, VariantSummary, FORWARD_ROW};
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

/// Growth exponent between the two largest token counts from which a component counts as
/// growing super-linearly.
const SUPERLINEAR_EXPONENT: f64 = 1.3;

/// Components whose result depends only on an input that does not change across a clip's
/// forwards (computed once and cached by a variant), with that input.
pub const CACHEABLE: [(&[&str], &str); 2] =
    [(&["block/camera/injector", "block/camera/scale_shift"], "the camera input"), (&["block/cross_attn/kv"], "the text context")];

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Builds the recommendations, largest saving first.
pub fn recommend(ranking: Option<&Ranking>, scaling: Option<&Scaling>, overhead: Option<&Overhead>, comparison: Option<&Comparison>) -> Vec<Recommendation> {
    recommend_measured(ranking, scaling, overhead, comparison, None)
}

/// Fraction as a percentage with enough digits for small drifts.
fn drift_pct(x: f64) -> String {
    if x == 0.0 {
        "0 (exact)".into()
    } else if x >= 0.01 {
        format!("{:.1}%", x * 100.0)
    } else if x >= 1e-4 {
        format!("{:.2}%", x * 100.0)
    } else {
        format!("{:.2e}", x)
    }
}

/// What a variant changes, from the data: components it drops or adds, its setups, and its
/// largest significant component changes.
pub fn variant_description(v: &VariantSummary, c: &Comparison) -> String {
    let mut parts = Vec::new();
    if !v.removed.is_empty() {
        parts.push(format!("drops {} from the forward", v.removed.join(", ")));
    }
    if !v.added.is_empty() {
        parts.push(format!("adds {}", v.added.join(", ")));
    }
    if !v.setups.is_empty() {
        parts.push(format!("one-off {}", v.setups.join(", ")));
    }
    let mut changed: Vec<&super::comparison::CompareRow> =
        c.rows.iter().filter(|r| r.group == v.variant && r.component != FORWARD_ROW && r.significant && (r.ratio - 1.0).abs() > 0.2).collect();
    changed.sort_by(|a, b| (b.group_ms - b.baseline_ms).abs().total_cmp(&(a.group_ms - a.baseline_ms).abs()).then(a.component.cmp(&b.component)));
    if !changed.is_empty() {
        let list: Vec<String> = changed.iter().take(3).map(|r| format!("{} {:.2}x time", r.component, r.ratio)).collect();
        parts.push(format!("changes {}", list.join(", ")));
    }
    if parts.is_empty() {
        format!("`{}`", v.variant)
    } else {
        format!("`{}` ({})", v.variant, parts.join("; "))
    }
}

/// One sentence of measured evidence for a variant: speedup with interval at its compared
/// frame count, the range over frame counts, drift, per-clip saving and memory.
pub fn measured_text(v: &VariantSummary, c: &Comparison) -> String {
    let Some(speedup) = v.speedup else {
        return format!("Measured: {} has no fused (sync none) runs to time.", variant_description(v, c));
    };
    let (lo, hi) = v.speedup_interval.unwrap_or((speedup, speedup));
    let how = if !v.significant {
        format!("runs at {speedup:.2}x (no significant change)")
    } else if speedup >= 1.0 {
        format!("runs {speedup:.2}x faster")
    } else {
        format!("is {speedup:.2}x (slower)")
    };
    let rows: Vec<_> = c.forward.iter().filter(|r| r.group == v.variant).collect();
    let range = if rows.len() > 1 {
        let min = rows.iter().map(|r| r.speedup).fold(f64::INFINITY, f64::min);
        let max = rows.iter().map(|r| r.speedup).fold(f64::NEG_INFINITY, f64::max);
        let tmin = rows.iter().map(|r| r.tokens).min().unwrap_or(0);
        let tmax = rows.iter().map(|r| r.tokens).max().unwrap_or(0);
        format!(", {min:.2}-{max:.2}x over {tmin}-{tmax} tokens")
    } else {
        String::new()
    };
    let drift = match (v.drift_max_rel, v.drift_mean_rel) {
        (Some(0.0), _) => "drift 0 (exact)".to_string(),
        (Some(m), Some(a)) => format!("max drift {} (mean {})", drift_pct(m), drift_pct(a)),
        (Some(m), None) => format!("max drift {}", drift_pct(m)),
        _ => "no drift recorded".to_string(),
    };
    let clip = v.saving_ms_per_clip.map_or(String::new(), |s| {
        let setup = if v.setup_ms > 0.0 { format!(" after a {:.0} ms one-off setup", v.setup_ms) } else { String::new() };
        let mem = if v.setup_memory_bytes > 0.0 { format!(", keeping {:.2} GiB alive", v.setup_memory_bytes / (1u64 << 30) as f64) } else { String::new() };
        if s >= 0.0 {
            format!("; saves {:.1} s per 80-forward clip{setup}{mem}", s / 1000.0)
        } else {
            format!("; costs {:.1} s per 80-forward clip{setup}{mem}", -s / 1000.0)
        }
    });
    format!(
        "Measured: {} {how} at {} tokens [{:.0}% CI {lo:.3}-{hi:.3}]{range}, {drift}{clip}.",
        variant_description(v, c),
        v.tokens,
        c.level * 100.0
    )
}

/// [`recommend`] with the measured variants (a comparison by `variant` against `baseline`):
/// recommendations a variant measured say so, with its numbers.
pub fn recommend_measured(
    ranking: Option<&Ranking>,
    scaling: Option<&Scaling>,
    overhead: Option<&Overhead>,
    comparison: Option<&Comparison>,
    variants: Option<&Comparison>,
) -> Vec<Recommendation> {
    let variants = variants.filter(|c| c.key == "variant");
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
                    let (title, advice) = if u >= 1.0 {
                        (
                            format!("{}: at or above the calibrated matmul rate ({})", row.name, pct(u)),
                            "the calibration's matmul is slower than this component's own shapes, so the calibrated rate is no ceiling here; only fewer FLOPs (caching, pruning, lower-precision compute) would help",
                        )
                    } else if u >= 0.5 {
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
                            "{where_} and runs at {} of this machine's calibrated matmul rate{rates}{ii}: {advice}.{}",
                            pct(u),
                            if u < 1.0 { format!(" Reaching the ceiling would save at most {:.2} ms per forward.", row.savable_ms) } else { String::new() }
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
        for (names, input) in CACHEABLE {
            let rows: Vec<_> = names.iter().filter_map(|n| r.rows.iter().find(|x| x.name == *n)).collect();
            if rows.is_empty() {
                continue;
            }
            let listed: Vec<String> = rows.iter().map(|x| x.name.clone()).collect();
            let ms_fwd: f64 = rows.iter().map(|x| x.ms_per_forward).sum();
            let share: f64 = rows.iter().map(|x| x.share).sum();
            let per: Vec<String> = rows
                .iter()
                .map(|x| format!("{} {:.2} ms per forward ({})", x.name, x.ms_per_forward, x.ms_per_block.map_or("-".into(), |m| format!("{m:.3} ms per block"))))
                .collect();
            let verb = if rows.len() > 1 { "depend" } else { "depends" };
            let mut detail = format!(
                "{} {verb} only on {input}, not on the latents or the timestep; together {} of the forward at {} tokens ({}). Computing {} once per clip and reusing {} in all 80 forwards would save about {:.2} ms per forward, about {:.1} s per clip, for memory holding the outputs for {} blocks.",
                listed.join(" and "),
                pct(share),
                r.tokens,
                per.join("; "),
                if rows.len() > 1 { "them" } else { "it" },
                if rows.len() > 1 { "them" } else { "it" },
                ms_fwd,
                ms_fwd * 79.0 / 1000.0,
                r.blocks
            );
            let measured: Vec<&VariantSummary> = variants
                .map(|c| c.variants.iter().filter(|v| listed.iter().any(|n| v.removed.contains(n))).collect())
                .unwrap_or_default();
            for v in &measured {
                detail.push_str(&format!(" {}", measured_text(v, variants.expect("measured implies variants"))));
            }
            out.push(Recommendation {
                title: format!("cache {} once per clip{}", listed.join(" and "), if measured.is_empty() { "" } else { " (measured)" }),
                component: Some(listed[0].clone()),
                saving_ms: ms_fwd,
                saving_share: ms_fwd / total,
                detail,
            });
        }
    }
    if let Some(s) = scaling {
        for fit in &s.fits {
            let (Some(poly), Some(cross), Some(last)) = (fit.poly, fit.crossover_tokens, fit.points.last()) else { continue };
            if poly.c <= 0.0 || last.1 <= 0.0 || fit.name == "forward" {
                continue;
            }
            // Only growth the measurements show: between the two largest token counts the time
            // must grow clearly faster than L, and the quadratic fit must explain the data. A
            // quadratic term fitted to a small, noisy, linear component is no reason to chunk it.
            let n = fit.points.len();
            let local_exponent = if n >= 2 {
                let ((l1, t1), (l2, t2)) = (fit.points[n - 2], fit.points[n - 1]);
                if l2 > l1 && t1 > 0.0 && t2 > 0.0 { (t2 / t1).ln() / (l2 / l1).ln() } else { 0.0 }
            } else {
                0.0
            };
            if local_exponent < SUPERLINEAR_EXPONENT || poly.r2 < 0.98 {
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
                saving_ms: (row.baseline_ms - row.group_ms).max(0.0),
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
    if let Some(c) = variants {
        // Component recommendations a variant changed by more than 20% (significantly).
        for rec in out.iter_mut() {
            let Some(comp) = rec.component.clone() else { continue };
            if rec.title.starts_with("cache ") {
                continue;
            }
            for row in c.rows.iter().filter(|r| r.component == comp && r.significant && (r.ratio - 1.0).abs() > 0.2) {
                let Some(v) = c.variants.iter().find(|v| v.variant == row.group) else { continue };
                rec.detail.push_str(&format!(
                    " Measured: with `{}` {comp} takes {:.2}x its baseline time at {} frames [{:.0}% CI {:.2}-{:.2}] and the fused forward {}.",
                    v.variant,
                    row.ratio,
                    row.frames,
                    c.level * 100.0,
                    row.low,
                    row.high,
                    v.speedup.map_or("is not timed".into(), |s| format!("runs at {s:.2}x speed"))
                ));
            }
        }
        for v in &c.variants {
            let Some(speedup) = v.speedup else { continue };
            let saving = v.saving_ms_per_forward.unwrap_or(0.0);
            let title = if !v.significant {
                format!("measured: `{}` makes no significant difference ({speedup:.2}x)", v.variant)
            } else if speedup >= 1.0 {
                format!("measured: `{}` runs {speedup:.2}x faster at {} tokens", v.variant, v.tokens)
            } else {
                format!("measured: `{}` is {speedup:.2}x (slower) at {} tokens; keep the baseline", v.variant, v.tokens)
            };
            out.push(Recommendation {
                title,
                component: None,
                saving_ms: if v.significant { saving.max(0.0) } else { 0.0 },
                saving_share: 0.0,
                detail: measured_text(v, c),
            });
        }
    }
    out.sort_by(|a, b| b.saving_ms.total_cmp(&a.saving_ms).then_with(|| a.title.cmp(&b.title)));
    out
}
