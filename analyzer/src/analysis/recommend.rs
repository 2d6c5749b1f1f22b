//! Recommendations derived from the other analyses, ranked by the time they could save per
//! forward. Each one states the measured numbers it rests on; nothing is emitted without data.

use serde::Serialize;

use super::comparison::{Comparison, VariantSummary, FORWARD_ROW};
use super::overhead::Overhead;
use super::ranking::{Bound, RankRow, Ranking};
use super::scaling::{ComponentFit, PolyFit, PowerFit, Scaling};

/// One recommendation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Recommendation {
    /// Short headline.
    pub(crate) title: String,
    /// Component concerned, if one.
    pub(crate) component: Option<String>,
    /// Upper estimate of time saved per forward, ms (0 for observations).
    pub(crate) saving_ms: f64,
    /// The saving as a share of the component-synced forward, 0..1.
    pub(crate) saving_share: f64,
    /// 95% interval of the saving, ms; recommendations are ranked by its lower end.
    pub(crate) saving_ci95_ms: Option<[f64; 2]>,
    /// The reasoning with its numbers.
    pub(crate) detail: String,
}

/// Smallest share of the forward worth a recommendation.
const MIN_SHARE: f64 = 0.02;


/// Components whose result depends only on an input that does not change across a clip's
/// forwards (computed once and cached by a variant), with that input.
pub(crate) const CACHEABLE: [(&[&str], &str); 2] =
    [(&["block/camera/injector", "block/camera/scale_shift"], "the camera input"), (&["block/cross_attn/kv"], "the text context")];

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Builds the recommendations, largest saving first.
#[cfg(test)]
pub(crate) fn recommend(ranking: Option<&Ranking>, scaling: Option<&Scaling>, overhead: Option<&Overhead>, comparison: Option<&Comparison>) -> Vec<Recommendation> {
    recommend_measured(ranking, scaling, overhead, comparison, None).0
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
pub(crate) fn variant_description(v: &VariantSummary, c: &Comparison) -> String {
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
pub(crate) fn measured_text(v: &VariantSummary, c: &Comparison) -> String {
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
/// recommendations a variant measured say so, with its numbers. Only effects whose interval
/// supports them are recommended, ranked by the lower end of their saving; the second list
/// names the effects this recording does not support, each with the reason.
pub(crate) fn recommend_measured(
    ranking: Option<&Ranking>,
    scaling: Option<&Scaling>,
    overhead: Option<&Overhead>,
    comparison: Option<&Comparison>,
    variants: Option<&Comparison>,
) -> (Vec<Recommendation>, Vec<String>) {
    let variants = variants.filter(|c| c.key == "variant");
    let mut out = Vec::new();
    let mut not_supported: Vec<String> = Vec::new();
    if let Some(r) = ranking {
        ranking_recommendations(r, &mut out, &mut not_supported);
        caching_recommendations(r, variants, &mut out, &mut not_supported);
    }
    if let Some(s) = scaling {
        for fit in s.fits.iter().filter(|f| f.name != "forward") {
            growth_recommendations(fit, &mut out, &mut not_supported);
        }
    }
    if let Some(o) = overhead {
        out.extend(overhead_recommendation(o));
    }
    if let Some(c) = comparison {
        comparison_recommendations(c, &mut out);
    }
    if let Some(c) = variants {
        annotate_measured_components(c, &mut out);
        variant_recommendations(c, &mut out);
    }
    // By the lower end of the saving (the point where there is no interval), then the title.
    let low = |r: &Recommendation| r.saving_ci95_ms.map_or(r.saving_ms, |[lo, _]| lo.max(0.0));
    out.sort_by(|a, b| low(b).total_cmp(&low(a)).then_with(|| b.saving_ms.total_cmp(&a.saving_ms)).then_with(|| a.title.cmp(&b.title)));
    (out, not_supported)
}

/// An observation (no saving claimed) about one component.
fn observation(title: String, component: Option<String>, detail: String) -> Recommendation {
    Recommendation { title, component, saving_ms: 0.0, saving_share: 0.0, saving_ci95_ms: None, detail }
}

/// Why a ranked component's bound-based saving is not supported by this recording, if it is not.
fn ranking_unsupported_reason(row: &RankRow) -> Option<String> {
    if row.below_noise {
        return Some(format!("{} (its cost's interval reaches zero: too few runs for its size)", row.name));
    }
    if matches!(row.bound_util, Some(u) if u > 1.0) {
        return Some(format!(
            "{} (it runs above this machine's calibrated {} ceiling, so that ceiling is no ceiling for it and the time it could save is unknown)",
            row.name,
            if row.bound == Bound::Compute { "matmul" } else { "bandwidth" }
        ));
    }
    if row.bound_util.is_some() && row.bound_verdict != super::verdict::Verdict::Supported {
        return Some(format!("{} (its intensity is within 25% of the ridge point: compute- or memory-bound cannot be told)", row.name));
    }
    // Compute-bound: the saving is what reaching the ceiling would save, a claim of its
    // own. Memory-bound: halving its bytes saves about half its time, which stands on
    // the cost being above the noise (checked above).
    if row.bound == Bound::Compute && row.bound_util.is_some() && !row.attention.supported() {
        return Some(format!(
            "{} (the time reaching its ceiling would save, {}, is not shown to reach {:.0}% of the forward)",
            row.name,
            row.savable_ci95_ms.map_or("without an interval".to_string(), |[lo, hi]| format!("{lo:.3} to {hi:.3} ms")),
            super::ranking::ATTENTION_SHARE * 100.0
        ));
    }
    None
}

/// Bound-based recommendations for the ranked components large enough to matter; the ones
/// the recording cannot support go to `not_supported` with the reason.
fn ranking_recommendations(r: &Ranking, out: &mut Vec<Recommendation>, not_supported: &mut Vec<String>) {
    let total = r.total_ms.max(f64::MIN_POSITIVE);
    for row in r.rows.iter().filter(|row| row.share >= MIN_SHARE || row.attention.supported()) {
        if let Some(reason) = ranking_unsupported_reason(row) {
            not_supported.push(reason);
            continue;
        }
        let where_ = format!("{} takes {} of the forward ({:.2} ms per forward at {} tokens)", row.name, pct(row.share), row.ms_per_forward, r.tokens);
        match (row.bound, row.bound_util) {
            (Bound::Compute, Some(u)) => out.push(compute_bound_recommendation(row, u, &where_, total)),
            (Bound::Memory, Some(u)) => out.push(memory_bound_recommendation(row, u, &where_, total)),
            _ => {}
        }
    }
}

/// The advice for a compute-bound component at utilisation `u` of the matmul ceiling.
fn compute_bound_recommendation(row: &RankRow, u: f64, where_: &str, total: f64) -> Recommendation {
    let rates = match (row.tflops, row.flops_util) {
        (Some(t), Some(fu)) if fu > 0.0 => {
            format!(" ({} of {})", crate::units::flops_rate(t * 1e12), crate::units::flops_rate(t * 1e12 / fu))
        }
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
    Recommendation {
        title,
        component: Some(row.name.clone()),
        saving_ms: row.savable_ms,
        saving_share: row.savable_ms / total,
        saving_ci95_ms: row.savable_ci95_ms,
        detail: format!(
            "{where_} and runs at {} of this machine's calibrated matmul rate{rates}{ii}: {advice}.{}",
            pct(u),
            if u < 1.0 { format!(" Reaching the ceiling would save at most {:.2} ms per forward.", row.savable_ms) } else { String::new() }
        ),
    }
}

/// The advice for a memory-bound component at utilisation `u` of the bandwidth ceiling:
/// halving its bytes saves about half its time.
fn memory_bound_recommendation(row: &RankRow, u: f64, where_: &str, total: f64) -> Recommendation {
    let half = row.ms_per_forward / 2.0;
    let gb = row.gbps.map_or(String::new(), |g| format!(" ({})", crate::units::bytes_rate(g * 1e9)));
    let ii = match (row.intensity, row.ridge) {
        (Some(i), Some(rd)) => format!("; intensity {i:.1} FLOP/byte is below the ridge point of {rd:.0}"),
        _ => String::new(),
    };
    Recommendation {
        title: format!("{}: memory-bound at {} of the bandwidth ceiling", row.name, pct(u)),
        component: Some(row.name.clone()),
        saving_ms: half,
        saving_share: half / total,
        saving_ci95_ms: row.ci95_ms.map(|[lo, hi]| [lo.max(0.0) / 2.0, hi / 2.0]),
        detail: format!(
            "{where_} and moves data at {} of the calibrated bandwidth{gb}{ii}: memory-bound, so halving its bytes (8-bit weights, fusing it with its neighbours) could save up to {half:.2} ms per forward.",
            pct(u)
        ),
    }
}

/// Caching recommendations for the [`CACHEABLE`] components, when their cost is told from
/// zero, with the measured variants that dropped them.
fn caching_recommendations(r: &Ranking, variants: Option<&Comparison>, out: &mut Vec<Recommendation>, not_supported: &mut Vec<String>) {
    let total = r.total_ms.max(f64::MIN_POSITIVE);
    for (names, input) in CACHEABLE {
        let rows: Vec<_> = names.iter().filter_map(|n| r.rows.iter().find(|x| x.name == *n)).collect();
        if rows.is_empty() {
            continue;
        }
        let listed: Vec<String> = rows.iter().map(|x| x.name.clone()).collect();
        let ms_fwd: f64 = rows.iter().map(|x| x.ms_per_forward).sum();
        // The summed intervals' ends (conservative: the costs' errors taken as moving together).
        let ci: Option<[f64; 2]> = rows.iter().map(|x| x.ci95_ms).collect::<Option<Vec<[f64; 2]>>>().map(|v| [v.iter().map(|c| c[0]).sum(), v.iter().map(|c| c[1]).sum()]);
        if ci.is_none_or(|[lo, _]| lo <= 0.0) {
            not_supported.push(format!(
                "caching {} (its cost {} cannot be told from zero)",
                listed.join(" and "),
                ci.map_or("has no interval and".to_string(), |[lo, hi]| format!("of {lo:.3} to {hi:.3} ms per forward"))
            ));
            continue;
        }
        let mut detail = caching_detail(r, &rows, &listed, input, ms_fwd);
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
            saving_ci95_ms: ci,
            detail,
        });
    }
}

/// The reasoning for caching `rows` (which depend only on `input`): their share, per-forward
/// and per-block costs, and the saving per forward and per clip.
fn caching_detail(r: &Ranking, rows: &[&RankRow], listed: &[String], input: &str, ms_fwd: f64) -> String {
    let share: f64 = rows.iter().map(|x| x.share).sum();
    let per: Vec<String> = rows
        .iter()
        .map(|x| format!("{} {:.2} ms per forward ({})", x.name, x.ms_per_forward, x.ms_per_block.map_or("-".into(), |m| format!("{m:.3} ms per block"))))
        .collect();
    let verb = if rows.len() > 1 { "depend" } else { "depends" };
    format!(
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
    )
}

/// Observations on how one component's time grows with length: superlinear growth, a
/// quadratic term that takes over, or time outgrowing its recorded work.
fn growth_recommendations(fit: &ComponentFit, out: &mut Vec<Recommendation>, not_supported: &mut Vec<String>) {
    let Some(p) = fit.power else { return };
    let exp_ci = p.exponent_ci95.map_or(String::new(), |[a, b]| format!(" (95% interval {a:.2} to {b:.2})"));
    let lmax = fit.points.last().map_or(0.0, |x| x.0);
    if fit.superlinear.supported() {
        out.push(superlinear_observation(fit, p, &exp_ci, lmax));
    } else if let (true, Some(poly), Some(cross)) = (fit.quadratic.supported() && p.exponent > 1.0, fit.poly, fit.crossover_tokens) {
        out.push(quadratic_observation(fit, poly, cross, lmax));
    } else if p.exponent > 1.0 + super::scaling::GROWTH_MARGIN {
        not_supported.push(format!(
            "{} growing faster than L (exponent {:.2}{exp_ci}: {})",
            fit.name,
            p.exponent,
            if p.exponent_ci95.is_none() { "no interval".to_string() } else { format!("the interval does not clear {:.1} with the report's other claims", 1.0 + super::scaling::GROWTH_MARGIN) }
        ));
    }
    if let (Some(t), Some(w)) = (&fit.faster_than_work, fit.work) {
        if t.supported() && !fit.superlinear.supported() {
            out.push(observation(
                format!("{}: time grows faster than its recorded work", fit.name),
                Some(fit.name.clone()),
                format!(
                    "{}'s time grows with elasticity {:.2}{} to its work (1 would be proportional): the kernel loses efficiency as L grows, or the cost model misses work; profile it at the longest length.",
                    fit.name,
                    w.elasticity.unwrap_or(f64::NAN),
                    w.elasticity_ci95.map_or(String::new(), |[a, b]| format!(" ({a:.2} to {b:.2})"))
                ),
            ));
        }
    }
}

/// A component growing faster than linearly, with whether its work or its efficiency is why.
fn superlinear_observation(fit: &ComponentFit, p: PowerFit, exp_ci: &str, lmax: f64) -> Recommendation {
    let because = match fit.work {
        Some(w) if w.work_exponent > 1.0 + super::scaling::GROWTH_MARGIN => format!(
            " Its recorded work grows as L^{:.2} too, so this is the work itself (attention's score matrix is L x L), not an inefficiency: longer clips make it the first target (chunked, windowed or sparse attention).",
            w.work_exponent
        ),
        Some(w) => format!(
            " Its recorded work grows only as L^{:.2}: the kernel loses efficiency at longer lengths (a working set that leaves the cache, or work the cost model does not count); profile it at the longest length.",
            w.work_exponent
        ),
        None => " The trace records no costs for it, so whether its work or its efficiency grows cannot be said.".to_string(),
    };
    observation(
        format!("{}: grows as L^{:.2} over {} to {:.0} tokens", fit.name, p.exponent, fit.points[0].0, lmax),
        Some(fit.name.clone()),
        format!("{} grows as L^{:.2}{exp_ci} between the recorded lengths ({}).{because}", fit.name, p.exponent, fit.model_note),
    )
}

/// A component whose quadratic term takes a material share of its time at the longest length
/// (four lengths or more): where it overtakes the linear term, with its interval.
fn quadratic_observation(fit: &ComponentFit, poly: PolyFit, cross: f64, lmax: f64) -> Recommendation {
    let share = poly.c * lmax * lmax / poly.at(lmax).max(f64::MIN_POSITIVE);
    observation(
        format!("{}: quadratic in tokens beyond about {cross:.0} tokens", fit.name),
        Some(fit.name.clone()),
        format!(
            "{} fits t = {:.3} + {:.3e}*L + {:.3e}*L^2 ms over {} lengths; the quadratic term is {} of its time at L = {lmax:.0} and overtakes the linear one at L = {cross:.0}{}, so longer clips make it a growing share.",
            fit.name,
            poly.a,
            poly.b,
            poly.c,
            fit.points.len(),
            pct(share),
            fit.crossover_ci95.map_or(String::new(), |[a, b]| format!(" (95% interval {a:.0} to {})", if b.is_finite() { format!("{b:.0}") } else { "none".into() }))
        ),
    )
}

/// A warning when per-component timing inflates the forward by more than 5%.
fn overhead_recommendation(o: &Overhead) -> Option<Recommendation> {
    let (row, p) = o.rows.iter().filter_map(|r| r.component_pct.map(|p| (r, p))).max_by(|a, b| a.1.total_cmp(&b.1))?;
    (p > 5.0).then(|| observation(
        format!("per-component timing inflates the forward by up to {p:.0}%"),
        None,
        format!(
            "At {} tokens the component-synced forward takes {:.1} ms against {:.1} ms fused ({p:.1}% more): the per-component times include synchronisation and lost fusion; use the fused forward for end-to-end numbers and the shares for where the time goes.",
            row.tokens,
            row.component_ms.unwrap_or(0.0),
            row.fused_ms.unwrap_or(0.0)
        ),
    ))
}

/// One recommendation per group whose fused forward differs significantly from the baseline.
fn comparison_recommendations(c: &Comparison, out: &mut Vec<Recommendation>) {
    for row in c.rows.iter().filter(|r| r.significant && r.component == FORWARD_ROW) {
        out.push(Recommendation {
            title: format!("{} = {}: forward {:.2}x the baseline", c.key, row.group, row.ratio),
            component: None,
            saving_ms: (row.baseline_ms - row.group_ms).max(0.0),
            saving_share: 0.0,
            saving_ci95_ms: None,
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

/// Adds to each component recommendation (other than caching) what the variants that changed
/// that component by more than 20% (significantly) measured.
fn annotate_measured_components(c: &Comparison, out: &mut [Recommendation]) {
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
}

/// One recommendation per timed variant: faster, slower, or no significant difference.
fn variant_recommendations(c: &Comparison, out: &mut Vec<Recommendation>) {
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
            saving_ci95_ms: None,
            detail: measured_text(v, c),
        });
    }
}
