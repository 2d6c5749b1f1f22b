//! Predictions at lengths not recorded, from the scaling fits: each component's time and the
//! fused forward's, with the 95% interval of the predicted median time (the fitted parameters'
//! draws; what the model itself may miss beyond the recorded range is not in it, see
//! `docs/statistics.md`).

use serde::Serialize;

use super::facts::Area;
use super::scaling::{PredictionModel, Scaling};
use super::uncertainty::interval;

/// The row name of the whole fused forward.
pub(crate) const FORWARD: &str = "forward";

/// One predicted time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Prediction {
    /// Component, or `forward` for the fused forward.
    pub(crate) component: String,
    /// Frames, when asked by frames (or when the length is a whole frame count).
    pub(crate) frames: Option<u32>,
    /// Tokens L.
    pub(crate) tokens: u64,
    /// Predicted ms per forward.
    pub(crate) ms_per_forward: f64,
    /// 95% interval of the predicted median, ms per forward; `None` without draws.
    pub(crate) interval_ms: Option<[f64; 2]>,
    /// The fit it comes from.
    pub(crate) model: PredictionModel,
    /// Whether L lies outside the recorded lengths (an extrapolation).
    pub(crate) extrapolated: bool,
}

/// Tokens per latent frame of the recorded rows (`tokens / ((frames - 1) / 4 + 1)`), when
/// every row agrees.
pub(crate) fn tokens_per_latent_frame(s: &Scaling) -> Option<u64> {
    let per: Vec<u64> = s.rows.iter().filter(|r| r.frames > 0).map(|r| r.tokens / ((r.frames as u64 - 1) / 4 + 1)).collect();
    let first = *per.first()?;
    per.iter().all(|p| *p == first).then_some(first)
}

/// The lengths asked for: `tokens` as given, and `frames` through the recorded tokens per
/// latent frame. Err names what cannot be converted.
pub(crate) fn lengths(s: &Scaling, tokens: &[u64], frames: &[u32]) -> Result<Vec<(Option<u32>, u64)>, String> {
    let mut out: Vec<(Option<u32>, u64)> = tokens.iter().map(|t| (None, *t)).collect();
    if !frames.is_empty() {
        let per = tokens_per_latent_frame(s).ok_or("--predict-frames: the recorded lengths do not share one number of tokens per latent frame; use --predict-tokens")?;
        out.extend(frames.iter().map(|f| (Some(*f), per * ((*f as u64).saturating_sub(1) / 4 + 1))));
    }
    Ok(out)
}

/// Every component's and the forward's predicted time at each length.
pub(crate) fn predict(s: &Scaling, at: &[(Option<u32>, u64)]) -> Vec<Prediction> {
    let blocks = s.rows.iter().rev().find(|r| r.blocks > 0).map_or(1, |r| r.blocks) as f64;
    let mut out = Vec::new();
    for &(frames, tokens) in at {
        // Per component: ms per forward and its draws, summed into the forward when the
        // forward has no prediction of its own.
        let mut sum: Option<(f64, Vec<f64>)> = Some((0.0, Vec::new()));
        let mut components = 0;
        let mut forward_predicted = false;
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        for fit in &s.fits {
            let prediction = fit.predict_draws(tokens as f64);
            let Some((ms, draws, model)) = prediction else {
                if fit.name != FORWARD {
                    sum = None;
                }
                continue;
            };
            let per = if fit.area == Area::Blocks && fit.name != FORWARD { blocks } else { 1.0 };
            let (first, last) = (fit.points.first().map_or(0.0, |p| p.0), fit.points.last().map_or(0.0, |p| p.0));
            if fit.name == FORWARD {
                forward_predicted = true;
            } else {
                components += 1;
                (lo, hi) = (lo.min(first), hi.max(last));
                if let Some((total, total_draws)) = sum.as_mut() {
                    *total += ms * per;
                    if total_draws.is_empty() {
                        *total_draws = draws.iter().map(|d| d * per).collect();
                    } else if total_draws.len() == draws.len() {
                        total_draws.iter_mut().zip(&draws).for_each(|(t, d)| *t += d * per);
                    } else {
                        total_draws.clear();
                    }
                }
            }
            out.push(Prediction {
                component: fit.name.clone(),
                frames,
                tokens,
                ms_per_forward: ms * per,
                interval_ms: interval(&draws).map(|[a, b]| [a * per, b * per]),
                model,
                extrapolated: (tokens as f64) < first || (tokens as f64) > last,
            });
        }
        if let (false, Some((total, draws))) = (forward_predicted, sum) {
            if components > 0 {
                out.push(Prediction {
                    component: FORWARD.into(),
                    frames,
                    tokens,
                    ms_per_forward: total,
                    interval_ms: interval(&draws),
                    model: PredictionModel::ComponentSum,
                    extrapolated: (tokens as f64) < lo || (tokens as f64) > hi,
                });
            }
        }
    }
    out
}
