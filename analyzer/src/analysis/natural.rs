//! Natural experiments: a variant that removes components from the forward (`camera-cache`
//! computes the camera's scale and shift once per clip, `cached` also cross-attention's K/V)
//! measures what they cost by the fused time it saves. That saving is an independent check of
//! the attributed cost of the same components, which comes from duplicating their work.

use serde::Serialize;

use super::attribution::{self, AttributedSet, Estimate};
use super::facts::Facts;
use super::uncertainty::interval;

/// One variant's saving against the attributed cost of what it removes, at one length.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct NaturalExperiment {
    /// The variant.
    pub(crate) variant: String,
    /// Frames.
    pub(crate) frames: u32,
    /// Tokens.
    pub(crate) tokens: u64,
    /// Components the baseline's forward runs and the variant's does not.
    pub(crate) removed: Vec<String>,
    /// Their attributed cost in the baseline, ms per forward, with its interval.
    pub(crate) attributed: Estimate,
    /// Baseline fused forward minus the variant's, ms, with its interval.
    pub(crate) saving: Estimate,
    /// (attributed / saving - 1) * 100; `None` when the saving is not above zero.
    pub(crate) difference_pct: Option<f64>,
    /// Whether the two intervals overlap (the two measures agree within their noise).
    pub(crate) agree: Option<bool>,
}

/// Every variant of a trace with attributed runs that removes baseline components, at every
/// length where both were attributed.
pub(crate) fn natural_experiments(facts: &Facts) -> Vec<NaturalExperiment> {
    let sets = attribution::attribution(facts);
    let mut out = Vec::new();
    for v in sets.iter().filter(|s| s.variant != "baseline") {
        // The baseline of the same recording where there is one, else the only baseline at
        // this length among the workload's traces.
        let bases: Vec<&AttributedSet> = sets.iter().filter(|s| s.variant == "baseline" && s.frames == v.frames).collect();
        let base = match bases.iter().find(|s| s.trace_id == v.trace_id) {
            Some(b) => *b,
            None if bases.len() == 1 => bases[0],
            None => continue,
        };
        {
            let kept: Vec<&str> = v.comps.iter().map(|c| c.name.as_str()).collect();
            let removed: Vec<&attribution::AttributedComp> = base.comps.iter().filter(|c| !kept.contains(&c.name.as_str())).collect();
            if removed.is_empty() {
                continue;
            }
            let attributed_ms: f64 = removed.iter().map(|c| c.estimate.ms).sum();
            let attributed_draws: Option<Vec<f64>> = removed.iter().try_fold(vec![0.0; attribution_draws(base)], |mut acc, c| {
                let d = c.draws.as_ref()?;
                acc.iter_mut().zip(d).for_each(|(a, x)| *a += x);
                Some(acc)
            });
            let saving_ms = base.fused.ms - v.fused.ms;
            let saving_draws = base.fused_draws.as_ref().zip(v.fused_draws.as_ref()).map(|(b, x)| b.iter().zip(x).map(|(b, x)| b - x).collect::<Vec<f64>>());
            let attributed = Estimate { ms: attributed_ms, ci95: attributed_draws.as_deref().and_then(interval) };
            let saving = Estimate { ms: saving_ms, ci95: saving_draws.as_deref().and_then(interval) };
            let agree = attributed.ci95.zip(saving.ci95).map(|([a0, a1], [s0, s1])| a0 <= s1 && s0 <= a1);
            out.push(NaturalExperiment {
                variant: v.variant.clone(),
                frames: v.frames,
                tokens: v.tokens,
                removed: removed.iter().map(|c| c.name.clone()).collect(),
                difference_pct: (saving_ms > 0.0).then(|| (attributed_ms / saving_ms - 1.0) * 100.0),
                attributed,
                saving,
                agree,
            });
        }
    }
    out.sort_by(|a, b| (a.frames, &a.variant).cmp(&(b.frames, &b.variant)));
    out
}

/// The number of draws of a set's components (all have the same).
fn attribution_draws(set: &AttributedSet) -> usize {
    set.comps.iter().find_map(|c| c.draws.as_ref().map(Vec::len)).unwrap_or(0)
}
