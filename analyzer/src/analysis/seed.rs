//! The seed report's claims, checked against the loaded traces. The seed's numbers are
//! constants of that document; every number on our side is computed from the data.

use serde::Serialize;

use super::facts::{Area, Facts, Rollup};
use super::ranking::{frame_counts, snapshot, snapshot_by, Method, Snapshot};
use super::scaling::{fit_component, Point};
use super::stats::median;
use super::uncertainty::{combine, interval, prob_at_least, prob_at_most};
use super::verdict::{Test, Verdict};

/// Tokens per latent frame at the seed's resolution, 480x832: (480 / 16) x (832 / 16). The
/// seed's counts can only be compared with traces recorded there.
pub(crate) const SEED_RESOLUTION_TOKENS_PER_LATENT_FRAME: u64 = 30 * 52;

/// The seed's Norms bucket misses a material part of the block's norms when the three norms
/// take at least this many times norm1's time.
pub(crate) const NORMS_MISSED_RATIO: f64 = 1.5;

/// The seed calls self-attention O(n^2); its exponent must reach this for the claim to hold.
pub(crate) const QUADRATIC_EXPONENT: f64 = 1.5;

/// The seed's token counts per frame count (390 tokens per latent frame).
pub(crate) const SEED_TOKENS: [(u32, u64); 3] = [(5, 780), (11, 1170), (21, 2340)];
/// Token ratios (ours over the seed's) within this relative distance of 1 agree, and within it of
/// each other are one factor.
pub(crate) const TOKENS_TOLERANCE: f64 = 0.01;
/// The seed's "Norms" share of the forward (norm1 only), as a range.
pub(crate) const SEED_NORMS: (f64, f64) = (0.006, 0.007);
/// The seed's Self-Attention ms per block at its first and last length (5 and 21 frames).
pub(crate) const SEED_SELF_ATTN_MS: (f64, f64) = (15.4, 34.2);
/// The seed's bucket shares (low, high).
pub(crate) const SEED_BUCKETS: [(&str, f64, f64); 4] =
    [("FFN", 0.27, 0.30), ("Self-Attention", 0.25, 0.27), ("Camera Injection", 0.19, 0.21), ("Cross-Attention", 0.15, 0.20)];
/// Components of the seed's Self-Attention bucket.
pub(crate) const SELF_ATTN_PARTS: [&str; 4] = ["block/self_attn/qkv", "block/self_attn/qk_norm", "block/self_attn/sdpa", "block/self_attn/out"];
/// The three norms of a block.
pub(crate) const NORMS: [&str; 3] = ["block/norm1", "block/norm2", "block/cross_attn/norm3"];

/// Every checked claim.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct SeedClaims {
    /// Where the shares and times come from: attributed when every frame count checked has
    /// attributed runs, synced when none has, `None` when mixed or absent.
    pub(crate) method: Option<Method>,
    /// (a) token counts.
    pub(crate) tokens: Vec<TokenClaim>,
    /// (b) the Norms bucket, per recorded frame count.
    pub(crate) norms: Vec<NormShare>,
    /// (c) self-attention scaling.
    pub(crate) self_attention: Option<AttentionClaim>,
    /// (d) FFN bound, per recorded frame count.
    pub(crate) ffn: Vec<FfnBound>,
    /// (e) bucket shares.
    pub(crate) buckets: Vec<BucketShare>,
    /// The verdict on each claim, decided here so that every output carries it.
    pub(crate) verdicts: SeedVerdicts,
    /// Per bucket with attributed and synced shares: the length where the two methods differ
    /// most (what attribution changes against the seed's method).
    pub(crate) method_changes: Vec<MethodChange>,
    /// (b) The claim that the three norms take at least [`NORMS_MISSED_RATIO`] times norm1's
    /// time at every length (so the seed's bucket misses them), decided with the report's claims.
    pub(crate) norms_test: Option<Test>,
    /// (c) The seed's claim that self-attention grows as L^2 (exponent at least
    /// [`QUADRATIC_EXPONENT`]).
    pub(crate) self_attention_test: Option<Test>,
}

impl SeedClaims {
    /// The claims to decide with the rest of the report.
    pub(crate) fn tests_mut(&mut self) -> impl Iterator<Item = &mut Test> {
        self.norms_test.iter_mut().chain(self.self_attention_test.iter_mut())
    }

    /// Once decided: verdicts that the data cannot carry become inconclusive.
    pub(crate) fn settle(&mut self) {
        if let (Some(t), Some(v)) = (&self.norms_test, &self.verdicts.norms) {
            if matches!(v, NormsVerdict::MissesNorm2AndNorm3 { .. }) && !t.supported() {
                let reason = if self.norms.iter().any(|n| n.norm1_below_noise) { NormsUndecided::Norm1BelowNoise } else { NormsUndecided::RatioNotClear };
                self.verdicts.norms = Some(NormsVerdict::Inconclusive { reason });
            }
        }
        if let (Some(t), Some(v)) = (&self.self_attention_test, &self.verdicts.self_attention) {
            let exponent = match v {
                AttentionVerdict::NotQuadratic { exponent } | AttentionVerdict::CloseToQuadratic { exponent } => Some(*exponent),
                _ => None,
            };
            if let Some(exponent) = exponent {
                self.verdicts.self_attention = Some(match t.verdict {
                    Verdict::Supported => AttentionVerdict::CloseToQuadratic { exponent },
                    Verdict::Contradicted => AttentionVerdict::NotQuadratic { exponent },
                    Verdict::Inconclusive => AttentionVerdict::Inconclusive { exponent },
                });
            }
        }
    }
}

/// The verdict on each of the seed's claims (absent where the data holds nothing to check).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct SeedVerdicts {
    /// (a) token counts.
    pub(crate) tokens: Option<TokensVerdict>,
    /// (b) the Norms bucket.
    pub(crate) norms: Option<NormsVerdict>,
    /// (c) self-attention scaling.
    pub(crate) self_attention: Option<AttentionVerdict>,
    /// (d) FFN bound.
    pub(crate) ffn: Option<FfnVerdict>,
    /// (e) one per bucket of [`SeedClaims::buckets`] with shares, in its order.
    pub(crate) buckets: Vec<BucketVerdict>,
}

/// (a) The seed's token counts against the traces'.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub(crate) enum TokensVerdict {
    /// No run at the seed's frame counts.
    NotChecked,
    /// Recorded at another resolution: the counts cannot be compared.
    NotComparable {
        /// Tokens per latent frame in the traces (1,560 at the seed's 480x832).
        tokens_per_latent_frame: u64,
        /// How many times too small the seed's counts are at its own resolution by the formula:
        /// [`SEED_RESOLUTION_TOKENS_PER_LATENT_FRAME`] over the seed's tokens per latent frame.
        seed_resolution_factor: f64,
    },
    /// Within [`TOKENS_TOLERANCE`] at every recorded frame count.
    Agrees,
    /// The traces hold `low`-`high` times the seed's counts.
    TooSmall {
        /// Smallest ratio (ours / seed's).
        low: f64,
        /// Largest ratio.
        high: f64,
        /// The one factor (`low`) when the ratios lie within [`TOKENS_TOLERANCE`] of each other,
        /// so that a report states a single factor instead of a range.
        factor: Option<f64>,
    },
}

/// (b) Whether the seed's Norms bucket holds the block's norms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub(crate) enum NormsVerdict {
    /// No norm1 time recorded.
    NoNorm1,
    /// The norms' times are too noisy to say.
    Inconclusive {
        /// Why: norm1 below the noise at some length, or the ratio's interval not clearing the
        /// threshold.
        reason: NormsUndecided,
    },
    /// The three norms take `low`-`high` times norm1's time, which the seed's bucket alone holds.
    MissesNorm2AndNorm3 {
        /// Smallest ratio over the recorded lengths.
        low: f64,
        /// Largest ratio.
        high: f64,
    },
}

/// Why the Norms claim is inconclusive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NormsUndecided {
    /// norm1's cost cannot be told from zero at some length, so ratios to it mean nothing.
    Norm1BelowNoise,
    /// The ratio's interval does not clear the threshold (the test's `why` says how far).
    RatioNotClear,
}

/// (c) Whether self-attention grows like L^2.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub(crate) enum AttentionVerdict {
    /// Too few lengths to fit.
    TooFewLengths,
    /// Exponent below [`QUADRATIC_EXPONENT`]: the projections, linear in L, dominate.
    NotQuadratic {
        /// The bucket's exponent.
        exponent: f64,
    },
    /// Exponent at least [`QUADRATIC_EXPONENT`].
    CloseToQuadratic {
        /// The bucket's exponent.
        exponent: f64,
    },
    /// The exponent's interval does not decide it.
    Inconclusive {
        /// The bucket's exponent.
        exponent: f64,
    },
}

/// (d) Whether the FFN is memory-bandwidth bound.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub(crate) enum FfnVerdict {
    /// No FLOP/byte counts or calibration.
    Unknown,
    /// Intensity at or above the ridge at every length with both.
    ComputeBound,
    /// Below the ridge at every such length (the seed's claim holds).
    MemoryBound,
    /// Compute-bound at some lengths only.
    Mixed {
        /// Lengths at or above the ridge.
        compute_bound: usize,
        /// Lengths with intensity and ridge.
        known: usize,
    },
}

/// (e) A bucket's shares against the seed's range.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub(crate) enum BucketVerdict {
    /// The model has no component of this bucket.
    NotApplicable {
        /// Bucket.
        bucket: String,
    },
    /// Inside the range (within half a point) at every length.
    Within {
        /// Bucket.
        bucket: String,
    },
    /// Below the range at every length; `low`-`high` the shares.
    Below {
        /// Bucket.
        bucket: String,
        /// Smallest share.
        low: f64,
        /// Largest share.
        high: f64,
    },
    /// Above the range at every length.
    Above {
        /// Bucket.
        bucket: String,
        /// Smallest share.
        low: f64,
        /// Largest share.
        high: f64,
    },
    /// Inside at `inside` of `lengths` lengths.
    Partly {
        /// Bucket.
        bucket: String,
        /// Lengths inside the range.
        inside: usize,
        /// Lengths with a share.
        lengths: usize,
        /// Smallest share.
        low: f64,
        /// Largest share.
        high: f64,
    },
}

/// One bucket at the length where its attributed and synced shares differ most.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MethodChange {
    /// Bucket.
    pub(crate) bucket: String,
    /// Tokens.
    pub(crate) tokens: u64,
    /// Attributed share.
    pub(crate) attributed: f64,
    /// Component-synced share.
    pub(crate) synced: f64,
}

fn range(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    (values.clone().fold(f64::INFINITY, f64::min), values.fold(f64::NEG_INFINITY, f64::max))
}

/// Latent frames of a clip of `frames` frames (the VAE keeps the first frame and compresses the
/// rest fourfold in time).
fn latent_frames(frames: u32) -> u64 {
    (frames as u64 - 1) / 4 + 1
}

/// (a) The verdict on the seed's token counts.
fn tokens_verdict(tokens: &[TokenClaim]) -> TokensVerdict {
    let ratios: Vec<f64> = tokens.iter().filter(|t| t.tokens.is_some()).filter_map(|t| t.ratio).collect();
    let per_latent: Vec<u64> = tokens.iter().filter_map(|t| t.tokens.map(|n| n / latent_frames(t.frames))).collect();
    if tokens.iter().all(|t| t.tokens.is_none()) {
        return TokensVerdict::NotChecked;
    }
    if let Some(&p) = per_latent.iter().find(|p| **p != SEED_RESOLUTION_TOKENS_PER_LATENT_FRAME) {
        let (frames, seed_tokens) = SEED_TOKENS[0];
        let seed_per_latent = seed_tokens as f64 / latent_frames(frames) as f64;
        return TokensVerdict::NotComparable { tokens_per_latent_frame: p, seed_resolution_factor: SEED_RESOLUTION_TOKENS_PER_LATENT_FRAME as f64 / seed_per_latent };
    }
    let (lo, hi) = range(ratios.iter().copied());
    if (lo - 1.0).abs() < TOKENS_TOLERANCE && (hi - 1.0).abs() < TOKENS_TOLERANCE {
        TokensVerdict::Agrees
    } else {
        TokensVerdict::TooSmall { low: lo, high: hi, factor: ((hi - lo) / hi < TOKENS_TOLERANCE).then_some(lo) }
    }
}

/// The verdicts on the claims; the thresholds are those the report states.
pub(crate) fn verdicts(c: &SeedClaims) -> SeedVerdicts {
    let tokens = tokens_verdict(&c.tokens);
    let norms = (!c.norms.is_empty()).then(|| {
        let (lo, hi) = range(c.norms.iter().filter(|n| n.norm1 > 0.0).map(|n| n.all / n.norm1));
        if lo.is_finite() { NormsVerdict::MissesNorm2AndNorm3 { low: lo, high: hi } } else { NormsVerdict::NoNorm1 }
    });
    let self_attention = c.self_attention.as_ref().map(|a| match a.exponent {
        Some(p) if p < QUADRATIC_EXPONENT => AttentionVerdict::NotQuadratic { exponent: p },
        Some(p) => AttentionVerdict::CloseToQuadratic { exponent: p },
        None => AttentionVerdict::TooFewLengths,
    });
    let ffn = (!c.ffn.is_empty()).then(|| {
        let above = c.ffn.iter().filter(|f| matches!((f.intensity, f.ridge), (Some(i), Some(r)) if i >= r)).count();
        let known = c.ffn.iter().filter(|f| f.intensity.is_some() && f.ridge.is_some()).count();
        if known == 0 {
            FfnVerdict::Unknown
        } else if above == known {
            FfnVerdict::ComputeBound
        } else if above == 0 {
            FfnVerdict::MemoryBound
        } else {
            FfnVerdict::Mixed { compute_bound: above, known }
        }
    });
    let buckets = c
        .buckets
        .iter()
        .filter(|b| !b.shares.is_empty())
        .map(|b| {
            let bucket = b.bucket.clone();
            if !b.present {
                return BucketVerdict::NotApplicable { bucket };
            }
            // By the intervals where there are some: below (above) only when a share's whole
            // interval is; inside when it lies within the range.
            let ci = |i: usize| b.shares_ci95.get(i).copied().flatten().unwrap_or([b.shares[i].2, b.shares[i].2]);
            let n = b.shares.len();
            let inside = (0..n).filter(|&i| ci(i)[0] >= b.seed_low - 0.005 && ci(i)[1] <= b.seed_high + 0.005).count();
            let below = (0..n).filter(|&i| ci(i)[1] < b.seed_low).count();
            let above = (0..n).filter(|&i| ci(i)[0] > b.seed_high).count();
            let (low, high) = range(b.shares.iter().map(|x| x.2));
            if inside == n {
                BucketVerdict::Within { bucket }
            } else if below == n {
                BucketVerdict::Below { bucket, low, high }
            } else if above == n {
                BucketVerdict::Above { bucket, low, high }
            } else {
                BucketVerdict::Partly { bucket, inside, lengths: b.shares.len(), low, high }
            }
        })
        .collect();
    SeedVerdicts { tokens: Some(tokens), norms, self_attention, ffn, buckets }
}

/// Per present bucket, the length where attributed and synced shares differ most.
fn method_changes(buckets: &[BucketShare]) -> Vec<MethodChange> {
    buckets
        .iter()
        .filter(|b| b.present)
        .filter_map(|b| {
            let pairs = b.shares.iter().filter_map(|&(f, t, x)| Some((t, x, b.synced_shares.iter().find(|y| y.0 == f)?.2)));
            let (tokens, attributed, synced) = pairs.max_by(|a, b| (a.1 - a.2).abs().total_cmp(&(b.1 - b.2).abs()))?;
            Some(MethodChange { bucket: b.bucket.clone(), tokens, attributed, synced })
        })
        .collect()
}

/// (a) One frame count of the seed's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TokenClaim {
    /// Frames.
    pub(crate) frames: u32,
    /// The seed's tokens.
    pub(crate) seed_tokens: u64,
    /// Tokens in the traces (median over runs), if recorded.
    pub(crate) tokens: Option<u64>,
    /// tokens / seed_tokens.
    pub(crate) ratio: Option<f64>,
}

/// (b) Norm shares at one frame count (component-synced, shares of the summed component time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct NormShare {
    /// Frames.
    pub(crate) frames: u32,
    /// Tokens.
    pub(crate) tokens: u64,
    /// norm1 alone (the seed's Norms bucket).
    pub(crate) norm1: f64,
    /// norm1 + norm2 + norm3.
    pub(crate) all: f64,
    /// The same two shares from component-synced runs, when the shares above are attributed.
    pub(crate) synced: Option<(f64, f64)>,
    /// 95% interval of `all / norm1`.
    pub(crate) ratio_ci95: Option<[f64; 2]>,
    /// 95% interval of `norm1`'s share.
    pub(crate) norm1_ci95: Option<[f64; 2]>,
    /// norm1's cost cannot be told from zero.
    pub(crate) norm1_below_noise: bool,
    /// Draws of `all / norm1`.
    #[serde(skip)]
    ratio_draws: Option<Vec<f64>>,
}

/// (c) Power-law exponents and crossover of the seed's Self-Attention bucket and of SDPA.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AttentionClaim {
    /// (tokens, ms per block) of the bucket.
    pub(crate) points: Vec<(f64, f64)>,
    /// Bucket exponent p of t = k L^p.
    pub(crate) exponent: Option<f64>,
    /// Its 95% interval.
    pub(crate) exponent_ci95: Option<[f64; 2]>,
    /// Its R^2 (log-log).
    pub(crate) r2: Option<f64>,
    /// SDPA alone: exponent.
    pub(crate) sdpa_exponent: Option<f64>,
    /// L where the bucket's quadratic term overtakes its linear term (b / c of the
    /// non-negative quadratic fit); `None` without a quadratic term.
    pub(crate) crossover_tokens: Option<f64>,
    /// Share of the bucket's time taken by SDPA at the longest L.
    pub(crate) sdpa_share_at_max: Option<f64>,
    /// The exponent implied by the seed's own numbers (15.4 -> 34.2 ms for 3x tokens).
    pub(crate) seed_exponent: f64,
}

/// (d) The FFN matmuls (block/ffn/*) at one frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct FfnBound {
    /// Frames.
    pub(crate) frames: u32,
    /// Tokens.
    pub(crate) tokens: u64,
    /// FLOP per byte.
    pub(crate) intensity: Option<f64>,
    /// Ridge point of the traces, FLOP per byte.
    pub(crate) ridge: Option<f64>,
    /// Achieved FLOP/s over the calibrated matmul rate.
    pub(crate) matmul_util: Option<f64>,
    /// Achieved bytes/s over the calibrated bandwidth.
    pub(crate) bandwidth_util: Option<f64>,
}

/// (e) One seed bucket's share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct BucketShare {
    /// Bucket.
    pub(crate) bucket: String,
    /// The seed's range.
    pub(crate) seed_low: f64,
    /// The seed's range.
    pub(crate) seed_high: f64,
    /// Per recorded frame count: (frames, tokens, share).
    pub(crate) shares: Vec<(u32, u64, f64)>,
    /// 95% interval of each share, in the same order.
    pub(crate) shares_ci95: Vec<Option<[f64; 2]>>,
    /// The shares from component-synced runs at the same frame counts, when `shares` are
    /// attributed: what the seed's method would say on this data.
    pub(crate) synced_shares: Vec<(u32, u64, f64)>,
    /// Whether the model has a component of this bucket at all (wan-1.3b has no camera): when
    /// not, the claim is not applicable and the zero shares mean nothing.
    pub(crate) present: bool,
}

/// Draws of the summed cost of `names` in a snapshot, ns; `None` when one lacks draws.
fn draws_of(snap: &Snapshot, names: &[&str]) -> Option<Vec<f64>> {
    let parts: Vec<&[f64]> = snap.comps.iter().filter(|c| names.contains(&c.name.as_str())).map(|c| c.draws.as_deref()).collect::<Option<Vec<_>>>()?;
    (!parts.is_empty()).then(|| combine(&parts, |v| v.iter().sum()))
}

/// 95% interval of the share of `names` in a snapshot.
fn share_ci(snap: &Snapshot, names: &[&str]) -> Option<[f64; 2]> {
    let all: Vec<&str> = snap.comps.iter().map(|c| c.name.as_str()).collect();
    let (part, total) = (draws_of(snap, names)?, draws_of(snap, &all)?);
    interval(&combine(&[&part, &total], |v| v[0] / v[1]))
}

fn share_of(snap: &Snapshot, names: &[&str]) -> f64 {
    let total: f64 = snap.comps.iter().map(|c| c.total_ns).sum();
    if total <= 0.0 {
        return 0.0;
    }
    snap.comps.iter().filter(|c| names.contains(&c.name.as_str())).map(|c| c.total_ns).sum::<f64>() / total
}

/// Checks the seed's claims on fine facts (one variant's runs).
pub(crate) fn seed_claims(fine: &Facts) -> SeedClaims {
    let tokens = token_claims(fine);
    let snaps: Vec<Snapshot> = frame_counts(fine).into_iter().filter_map(|f| snapshot(fine, f)).collect();
    let method = match snaps.first().map(|s| s.method) {
        Some(m) if snaps.iter().all(|s| s.method == m) => Some(m),
        _ => None,
    };
    let (norms, norms_test) = norm_shares(fine, &snaps);
    let (self_attention, self_attention_test) = attention_claim(&snaps);
    let ffn = ffn_bounds(fine, &snaps);
    let buckets = bucket_shares(fine);
    let method_changes = method_changes(&buckets);
    let mut claims = SeedClaims { method, tokens, norms, self_attention, ffn, buckets, verdicts: SeedVerdicts::default(), method_changes, norms_test, self_attention_test };
    claims.verdicts = verdicts(&claims);
    claims
}

/// The recorded tokens at each of the seed's frame counts against the seed's.
fn token_claims(fine: &Facts) -> Vec<TokenClaim> {
    SEED_TOKENS
        .iter()
        .map(|&(frames, seed_tokens)| {
            let t = median(&fine.runs.iter().filter(|r| r.frames == frames).map(|r| r.tokens as f64).collect::<Vec<_>>()).map(|v| v.round() as u64);
            TokenClaim { frames, seed_tokens, tokens: t, ratio: t.map(|t| t as f64 / seed_tokens as f64) }
        })
        .collect()
}

/// What the seed's own method gives on the same data, beside an attributed snapshot.
fn synced_at(facts: &Facts, s: &Snapshot) -> Option<Snapshot> {
    if s.method == Method::Attributed {
        snapshot_by(facts, s.frames, Method::Synced)
    } else {
        None
    }
}

/// The norms' shares per length, and claim (b) as one claim over every length: the smallest
/// ratio of the three norms' time over norm1's must clear the threshold.
fn norm_shares(fine: &Facts, snaps: &[Snapshot]) -> (Vec<NormShare>, Option<Test>) {
    let norms = snaps
        .iter()
        .map(|s| NormShare {
            frames: s.frames,
            tokens: s.tokens,
            norm1: share_of(s, &NORMS[..1]),
            all: share_of(s, &NORMS),
            synced: synced_at(fine, s).map(|y| (share_of(&y, &NORMS[..1]), share_of(&y, &NORMS))),
            ratio_draws: draws_of(s, &NORMS).zip(draws_of(s, &NORMS[..1])).map(|(a, b)| combine(&[&a, &b], |v| if v[1] > 0.0 { v[0] / v[1] } else { f64::NAN })),
            ratio_ci95: None,
            norm1_ci95: share_ci(s, &NORMS[..1]),
            norm1_below_noise: s.comps.iter().find(|c| c.name == NORMS[0]).is_none_or(|c| c.below_noise || c.total_ns <= 0.0),
        })
        .collect::<Vec<NormShare>>();
    let norms: Vec<NormShare> = norms.into_iter().map(|mut n| {
        n.ratio_ci95 = n.ratio_draws.as_deref().and_then(interval);
        n
    }).collect();
    let norms_test = (!norms.is_empty()).then(|| {
        let all: Option<Vec<&[f64]>> = norms.iter().map(|n| n.ratio_draws.as_deref()).collect();
        match all {
            Some(ds) => {
                let min = combine(&ds, |v| v.iter().copied().fold(f64::INFINITY, f64::min));
                Test::new(prob_at_most(&min, NORMS_MISSED_RATIO), prob_at_least(&min, NORMS_MISSED_RATIO), format!("the three norms' time over norm1's, at its smallest over the lengths, against {NORMS_MISSED_RATIO}"))
            }
            None => Test::untestable("norm1's cost has no interval at some length".into()),
        }
    });
    (norms, norms_test)
}

/// The self-attention bucket's growth in L against the seed's, with the claim that its
/// exponent reaches the quadratic; `None` when no length records it.
fn attention_claim(snaps: &[Snapshot]) -> (Option<AttentionClaim>, Option<Test>) {
    let mut points = Vec::new();
    let mut sdpa_points = Vec::new();
    let mut bucket_points: Vec<Point> = Vec::new();
    let mut sdpa_fit_points: Vec<Point> = Vec::new();
    for s in snaps {
        let blocks = s.blocks.max(1) as f64;
        let parts: Vec<_> = s.comps.iter().filter(|c| SELF_ATTN_PARTS.contains(&c.name.as_str())).collect();
        if parts.is_empty() {
            continue;
        }
        let ms = parts.iter().map(|c| c.total_ns).sum::<f64>() / 1e6 / blocks;
        points.push((s.tokens as f64, ms));
        let scale = |d: Vec<f64>| d.into_iter().map(|v| v / 1e6 / blocks).collect::<Vec<f64>>();
        bucket_points.push(Point { tokens: s.tokens as f64, ms, draws: draws_of(s, &SELF_ATTN_PARTS).map(scale), work: None });
        if let Some(c) = parts.iter().find(|c| c.name == "block/self_attn/sdpa") {
            sdpa_points.push((s.tokens as f64, c.total_ns / 1e6 / blocks));
            sdpa_fit_points.push(Point { tokens: s.tokens as f64, ms: c.total_ns / 1e6 / blocks, draws: c.draws.clone().map(scale), work: None });
        }
    }
    if points.is_empty() {
        return (None, None);
    }
    let fit = fit_component("Self-Attention", Area::Blocks, bucket_points);
    let sdpa = fit_component("block/self_attn/sdpa", Area::Blocks, sdpa_fit_points);
    let test = match (&fit.model, fit.power.and_then(|p| p.exponent_ci95)) {
        (Some(_), Some(_)) => {
            let d = fit.exponent_draws();
            Test::new(prob_at_most(&d, QUADRATIC_EXPONENT), prob_at_least(&d, QUADRATIC_EXPONENT), format!("the bucket's exponent of L against {QUADRATIC_EXPONENT}"))
        }
        _ => Test::untestable("the bucket's exponent has no interval (too few lengths or runs, or a cost at or below zero)".into()),
    };
    let claim = AttentionClaim {
        exponent: fit.power.map(|p| p.exponent),
        exponent_ci95: fit.power.and_then(|p| p.exponent_ci95),
        r2: fit.power.map(|p| p.r2),
        sdpa_exponent: sdpa.power.map(|p| p.exponent),
        // Only where four lengths or more let a quadratic be told from a line.
        crossover_tokens: fit.poly.filter(|p| p.c > 0.0).map(|p| p.b / p.c),
        sdpa_share_at_max: match (points.last(), sdpa_points.last()) {
            (Some(a), Some(b)) if a.0 == b.0 && a.1 > 0.0 => Some(b.1 / a.1),
            _ => None,
        },
        seed_exponent: (SEED_SELF_ATTN_MS.1 / SEED_SELF_ATTN_MS.0).ln() / (SEED_TOKENS[2].1 as f64 / SEED_TOKENS[0].1 as f64).ln(),
        points,
    };
    (Some(claim), Some(test))
}

/// Per length: whether the FFN is compute- or memory-bound (its intensity against the ridge
/// point, and its use of each ceiling).
fn ffn_bounds(fine: &Facts, snaps: &[Snapshot]) -> Vec<FfnBound> {
    snaps
        .iter()
        .filter_map(|s| {
            let parts: Vec<_> = s.comps.iter().filter(|c| c.name.starts_with("block/ffn/")).collect();
            if parts.is_empty() {
                return None;
            }
            let ns: f64 = parts.iter().map(|c| c.total_ns).sum();
            let flops: f64 = parts.iter().map(|c| c.flops).sum();
            let bytes: f64 = parts.iter().map(|c| c.bytes).sum();
            let traces_at = || fine.runs.iter().filter(|r| r.frames == s.frames).map(|r| &fine.traces[r.trace_id as usize]);
            let peak = median(&traces_at().filter_map(|t| t.matmul_flops_per_s).collect::<Vec<_>>());
            // One FFN call runs each of its parts once.
            let per_call: f64 = parts.iter().map(|c| c.bytes / c.calls.max(1.0)).sum();
            let bw = median(&traces_at().filter_map(|t| t.bandwidth_for(per_call)).collect::<Vec<_>>());
            let secs = ns * 1e-9;
            Some(FfnBound {
                frames: s.frames,
                tokens: s.tokens,
                intensity: (flops > 0.0 && bytes > 0.0).then(|| flops / bytes),
                ridge: match (peak, bw) {
                    (Some(p), Some(b)) => Some(p / b),
                    _ => None,
                },
                matmul_util: peak.filter(|_| flops > 0.0 && secs > 0.0).map(|p| flops / secs / p),
                bandwidth_util: bw.filter(|_| bytes > 0.0 && secs > 0.0).map(|b| bytes / secs / b),
            })
        })
        .collect()
}

/// The seed buckets' shares per length (rolled up to the seed's buckets) against the seed's
/// ranges, with the synced method's shares and whether the model has the bucket at all.
fn bucket_shares(fine: &Facts) -> Vec<BucketShare> {
    let seed = fine.rolled_up(Rollup::Seed);
    let seed_snaps: Vec<Snapshot> = frame_counts(&seed).into_iter().filter_map(|f| snapshot(&seed, f)).collect();
    SEED_BUCKETS
        .iter()
        .map(|&(bucket, lo, hi)| BucketShare {
            bucket: bucket.to_string(),
            seed_low: lo,
            seed_high: hi,
            shares: seed_snaps.iter().map(|s| (s.frames, s.tokens, share_of(s, &[bucket]))).collect(),
            shares_ci95: seed_snaps.iter().map(|s| share_ci(s, &[bucket])).collect(),
            synced_shares: seed_snaps.iter().filter_map(|s| synced_at(&seed, s)).map(|y| (y.frames, y.tokens, share_of(&y, &[bucket]))).collect(),
            // Present in the model: recorded by a synced run, or attributed (a recording with
            // attributed runs only has no component events).
            present: seed.id_of(bucket).is_some_and(|id| seed.runs.iter().any(|r| r.comp(id).is_some()))
                || seed_snaps.iter().any(|s| s.comps.iter().any(|c| c.name == bucket)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use trace_format::taxonomy::is_builtin;

    /// The analyzer's own lists of built-in names: a misspelling would silently find nothing.
    #[test]
    fn every_name_the_analyses_look_for_is_in_the_taxonomy() {
        let listed = SELF_ATTN_PARTS.iter().chain(&NORMS).chain(super::super::recommend::CACHEABLE.iter().flat_map(|(n, _)| n.iter()));
        for name in listed {
            assert!(is_builtin(name), "{name}");
        }
        assert!(SELF_ATTN_PARTS.iter().all(|p| super::super::facts::seed_bucket(p) == "Self-Attention"));
        for (bucket, lo, hi) in SEED_BUCKETS {
            assert!(trace_format::taxonomy::SEED_BUCKETS.contains(&bucket), "{bucket}");
            assert!(lo < hi);
        }
    }
}
