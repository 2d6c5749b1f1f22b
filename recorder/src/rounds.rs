//! What one repetition of a recording runs, below the library API: the attribution round's
//! perturbations, how many copies of a component's work the memory holds, the progress weight
//! of a repetition, and the request to stop (set by the binary's signal handler, read by the
//! recording loop between runs).

use std::sync::atomic::{AtomicBool, Ordering};

use trace_format::{PerturbKind, SyncMode};

use crate::instrument::StageInfo;

static STOP: AtomicBool = AtomicBool::new(false);

/// Asks the recording in progress to stop after the run in progress (its trace is finished as
/// usual). Returns whether a stop had already been asked for: a second Ctrl-C, say.
pub fn request_stop() -> bool {
    STOP.swap(true, Ordering::SeqCst)
}

/// Whether [`request_stop`] was called.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The perturbations of one attribution round, in order ([`attribution_estimate::schedule::round`]:
/// a reference, the control and every target once, rotated by the round, a reference after
/// every few targets), with the copies each duplicate asks for.
///
/// Warm-up rounds run the same schedule, untimed: each perturbation is a graph of its own, and
/// the first run of a graph pays for what later runs reuse (MLX's CUDA backend builds a CUDA
/// graph for every new shape of work). On an H200 at 3,120 tokens, duplicates whose graphs were
/// new took 3.5 ms longer each, which over-charged every component of the first round by ~8%.
pub(crate) fn attribution_round(round: u32, targets: usize, copies: u32) -> Vec<(PerturbKind, Option<usize>, u32)> {
    use attribution_estimate::Role;
    attribution_estimate::schedule::round(round, targets)
        .into_iter()
        .map(|role| match role {
            Role::Reference => (PerturbKind::Reference, None, 0),
            Role::Control => (PerturbKind::Control, None, 0),
            Role::Duplicate(i) => (PerturbKind::Duplicate, Some(i), copies),
        })
        .collect()
}

/// The runs of one repetition: an attributed repetition is a whole round, any other mode one run.
pub(crate) fn runs_per_rep(modes: &[SyncMode], targets: usize, copies: u32) -> u64 {
    modes.iter().map(|&m| if m == SyncMode::Attributed { attribution_round(0, targets, copies).len() as u64 } else { 1 }).sum()
}

/// One repetition's work in the progress bar's unit, `forward` being one fused forward's
/// (analytic FLOPs for the built-in model, 1 for a model without costs): the copies of all
/// targets together are `copies` more forwards, and a component-synced forward is counted 1.2
/// (its synchronisations), so the ETA follows the cost of the runs left, not their count.
pub(crate) fn rep_weight(forward: f64, modes: &[SyncMode], targets: usize, copies: u32) -> f64 {
    modes
        .iter()
        .map(|&m| match m {
            SyncMode::Attributed => forward * (attribution_round(0, targets, copies).len() as f64 + copies as f64),
            SyncMode::Component => COMPONENT_WEIGHT * forward,
            _ => forward,
        })
        .sum()
}

/// A component-synced forward's weight relative to a fused one.
pub(crate) const COMPONENT_WEIGHT: f64 = 1.2;

/// The extra copies of `stage`'s work an attributed run may add within `headroom` bytes, at most
/// `requested` and at least 1. It assumes the worst case, every invocation's copies alive at
/// once: a stage whose inputs do not depend on the previous block (the modulation, which reads
/// only the time embedding) can be scheduled that way, and on an H200 at 32,760 tokens its four
/// copies ran out of memory.
pub(crate) fn copies_within(requested: u32, stage: &StageInfo, headroom: u64) -> u32 {
    let per_copy = stage.output_bytes.saturating_mul(stage.calls as u64);
    if per_copy == 0 {
        return requested;
    }
    (headroom / per_copy).clamp(1, requested.max(1) as u64) as u32
}

#[cfg(test)]
mod tests {
    #[test]
    fn copies_fit_the_memory_left() {
        use crate::cost::Cost;
        use crate::instrument::StageInfo;
        // The 14B modulation at 32,760 tokens: 6 x 32,760 x 5,120 bf16 values per block, 40
        // blocks: 80.5 GB per copy of every block's work.
        let modulation = StageInfo { name: "block/modulation".into(), calls: 40, cost: Cost::default(), output_bytes: 6 * 32_760 * 5_120 * 2 };
        let gib = 1u64 << 30;
        assert_eq!(super::copies_within(4, &modulation, 80 * gib), 1);
        assert_eq!(super::copies_within(4, &modulation, 160 * gib), 2);
        assert_eq!(super::copies_within(4, &modulation, 1000 * gib), 4);
        // Never fewer than one copy, never more than asked.
        assert_eq!(super::copies_within(4, &modulation, 0), 1);
        let empty = StageInfo { output_bytes: 0, ..modulation.clone() };
        assert_eq!(super::copies_within(4, &empty, 0), 4);
        // On an H200 (143,771 MiB), what the 40-block forward leaves at 9,360 and 32,760 tokens.
        let config = crate::config::Preset::Lingbot14b.config();
        let h200 = 143_771u64 << 20;
        let left = |tokens: u64| h200.saturating_sub(crate::estimate::estimate(&config, tokens, crate::config::DType::Bf16, crate::machine::Backend::Cuda, 0).total());
        let at_9360 = StageInfo { output_bytes: 6 * 9_360 * 5_120 * 2, ..modulation.clone() };
        assert_eq!(super::copies_within(4, &at_9360, left(9_360)), 4, "all four copies at 9,360 tokens");
        assert!(super::copies_within(4, &modulation, left(32_760)) <= 2, "at most the two copies that ran at 32,760 tokens");
    }
}
