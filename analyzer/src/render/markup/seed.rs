//! The seed report's claims against this data, point by point: (a) tokens, (b) the Norms
//! bucket, (c) self-attention's growth, (d) the FFN's bound, (e) the bucket shares. Every
//! verdict is the analysis's (`analysis::seed`); this only words it.

use crate::analysis::ranking::Method;
use crate::analysis::scaling::{MIN_POINTS, MIN_POINTS_QUADRATIC};
use crate::analysis::seed::{
    AttentionClaim, AttentionVerdict, BucketShare, BucketVerdict, FfnVerdict, NormShare, NormsUndecided, NormsVerdict, SeedClaims, TokenClaim, TokensVerdict, QUADRATIC_EXPONENT,
    SEED_NORMS, SEED_RESOLUTION_TOKENS_PER_LATENT_FRAME, SEED_SELF_ATTN_MS, SEED_TOKENS,
};
use crate::units::{or_list, pct, signed_pct};

use super::{Block, Table};

/// The seed claims section.
pub(super) fn blocks(doc: &mut Vec<Block>, s: &SeedClaims, h: u8) {
    doc.push(Block::Heading(h, "Seed report claims against this data".into()));
    let source = match s.method {
        Some(Method::Attributed) => "the shown variant's attributed costs inside the fused forward, shares of their sum; the component-synced shares, the seed's own method, in parentheses",
        Some(Method::Synced) => "the shown variant's component-synced runs, shares of the summed component time",
        None => "attributed costs where a frame count has them, else component-synced times; shares of the summed component time",
    };
    doc.push(Block::Paragraph(format!(
        "The seed report's numbers are quoted from that document; every number on the right is computed from the traces loaded here ({source})."
    )));
    let mut t = Table::new(&["Claim", "The seed says", "This data", "Verdict"]).left(&[1, 2, 3]);
    t.rows.push(tokens_row(s));
    if !s.norms.is_empty() {
        t.rows.push(norms_row(s));
    }
    if let Some(a) = &s.self_attention {
        t.rows.push(attention_row(a, s.verdicts.self_attention));
    }
    if !s.ffn.is_empty() {
        t.rows.push(ffn_row(s));
    }
    for (b, v) in s.buckets.iter().filter(|b| !b.shares.is_empty()).zip(&s.verdicts.buckets) {
        t.rows.push(bucket_row(b, v));
    }
    doc.push(Block::Table(t));
    if let Some(p) = method_changes(s) {
        doc.push(Block::Paragraph(p));
    }
}

/// (a) The seed's token counts against the recorded ones.
fn tokens_row(s: &SeedClaims) -> Vec<String> {
    let claim = "(a) tokens per frame count".to_string();
    let recorded: Vec<&TokenClaim> = s.tokens.iter().filter(|c| c.tokens.is_some()).collect();
    let seed_side = s.tokens.iter().map(|c| format!("{} frames: {}", c.frames, c.seed_tokens)).collect::<Vec<_>>().join(", ");
    if recorded.is_empty() {
        let frames: Vec<String> = SEED_TOKENS.iter().map(|(f, _)| f.to_string()).collect();
        return vec![claim, seed_side, format!("no run at {} frames", or_list(&frames)), "not checked".into()];
    }
    // A ratio only where the resolutions match; otherwise the counts alone.
    let comparable = !matches!(s.verdicts.tokens, Some(TokensVerdict::NotComparable { .. }));
    let ours = recorded
        .iter()
        .map(|c| if comparable { format!("{} frames: {} ({:.1}x)", c.frames, c.tokens.unwrap_or(0), c.ratio.unwrap_or(0.0)) } else { format!("{} frames: {}", c.frames, c.tokens.unwrap_or(0)) })
        .collect::<Vec<_>>()
        .join(", ");
    let verdict = match s.verdicts.tokens {
        Some(TokensVerdict::Agrees) => "agrees".to_string(),
        Some(TokensVerdict::TooSmall { factor: Some(f), .. }) => format!("the seed's counts are {f:.2}x too small"),
        Some(TokensVerdict::TooSmall { low, high, factor: None }) => format!("the seed's counts are {low:.2}-{high:.2}x too small"),
        Some(TokensVerdict::NotComparable { tokens_per_latent_frame, seed_resolution_factor }) => format!(
            "inconclusive: not comparable, recorded at {tokens_per_latent_frame} tokens per latent frame, not the seed's 480x832 ({SEED_RESOLUTION_TOKENS_PER_LATENT_FRAME}); by the formula the seed's counts are {seed_resolution_factor:.0}x too small there"
        ),
        Some(TokensVerdict::NotChecked) | None => "not checked".to_string(),
    };
    vec![claim, seed_side, ours, verdict]
}

/// (b) The seed's Norms bucket (norm1 only) against all three norms.
fn norms_row(s: &SeedClaims) -> Vec<String> {
    // A share at or below zero is noise, never printed as a negative share.
    let range = |f: &dyn Fn(&NormShare) -> f64| {
        let lo = s.norms.iter().map(f).fold(f64::INFINITY, f64::min);
        let hi = s.norms.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
        if hi <= 0.0 {
            "< noise".to_string()
        } else if lo <= 0.0 {
            format!("< noise to {}", pct(hi))
        } else {
            format!("{}-{}", pct(lo), pct(hi))
        }
    };
    let l = s.norms.iter().map(|n| n.tokens).min().unwrap_or(0);
    let h = s.norms.iter().map(|n| n.tokens).max().unwrap_or(0);
    let norm1_noise = s.norms.iter().any(|n| n.norm1_below_noise);
    let ours = format!(
        "norm1 alone {}, norm1+norm2+norm3 {} over L = {l}-{h}{}",
        if norm1_noise { "< noise at some lengths".to_string() } else { range(&|n| n.norm1) },
        range(&|n| n.all),
        if s.norms.iter().all(|n| n.synced.is_some()) {
            format!(" (synced: {} and {})", range(&|n| n.synced.map_or(0.0, |x| x.0)), range(&|n| n.synced.map_or(0.0, |x| x.1)))
        } else {
            String::new()
        }
    );
    let verdict = match s.verdicts.norms {
        Some(NormsVerdict::MissesNorm2AndNorm3 { low, high }) => {
            format!("the seed's bucket misses norm2 and norm3: the three norms take {low:.1}-{high:.1}x norm1's time")
        }
        Some(NormsVerdict::Inconclusive { reason }) => format!(
            "inconclusive: {}",
            match reason {
                NormsUndecided::Norm1BelowNoise => "norm1's cost cannot be told from zero at some length, so ratios to it mean nothing".to_string(),
                NormsUndecided::RatioNotClear => s.norms_test.as_ref().map_or(String::new(), |t| t.why.clone()),
            }
        ),
        Some(NormsVerdict::NoNorm1) | None => "no norm1 time recorded".to_string(),
    };
    vec![
        "(b) Norms bucket".into(),
        format!("Norms {}-{} (norm1 only; norm2 counted in FFN, norm3 in Cross-Attention)", pct(SEED_NORMS.0), pct(SEED_NORMS.1)),
        ours,
        verdict,
    ]
}

/// (c) Self-attention's growth with L against the seed's O(n^2).
fn attention_row(a: &AttentionClaim, verdict: Option<AttentionVerdict>) -> Vec<String> {
    let l = a.points.first().map_or(0.0, |p| p.0);
    let h = a.points.last().map_or(0.0, |p| p.0);
    let cross = match a.crossover_tokens {
        Some(x) if x > 0.0 => format!("; its quadratic term overtakes the linear one at L = {x:.0}"),
        Some(_) => "; the fit has no linear term (quadratic from the start)".into(),
        None if a.points.len() < MIN_POINTS_QUADRATIC => format!("; {} lengths cannot separate a quadratic from a line", a.points.len()),
        None => "; no quadratic term in the fit".into(),
    };
    let sdpa_share = a.sdpa_share_at_max.map_or(String::new(), |x| format!("; SDPA is {} of the bucket at L = {h:.0}", pct(x)));
    let interval = |[lo, hi]: [f64; 2]| format!(" (95% interval {lo:.2} to {hi:.2})");
    let verdict = match verdict {
        Some(AttentionVerdict::NotQuadratic { exponent: p }) => {
            format!("not O(n^2) at these lengths (exponent {p:.2}): the projections (linear in L) dominate; only SDPA approaches quadratic")
        }
        Some(AttentionVerdict::CloseToQuadratic { exponent: p }) => format!("close to quadratic (exponent {p:.2})"),
        Some(AttentionVerdict::Inconclusive { exponent: p }) => format!(
            "inconclusive: exponent {p:.2}{}, which does not decide against {QUADRATIC_EXPONENT}",
            a.exponent_ci95.map_or(" without an interval".to_string(), interval),
        ),
        Some(AttentionVerdict::TooFewLengths) | None => "too few lengths to fit".into(),
    };
    let ours = match a.exponent {
        Some(p) => format!(
            "Self-Attention bucket (qkv, qk_norm, sdpa, out) per block: t ~ L^{p:.2}{} (R^2 {}) over L = {l:.0}-{h:.0}; sdpa alone L^{}{cross}{sdpa_share}",
            a.exponent_ci95.map_or(String::new(), interval),
            a.r2.map_or("-".into(), |p| format!("{p:.3}")),
            a.sdpa_exponent.map_or("-".into(), |p| format!("{p:.2}")),
        ),
        None => format!(
            "Self-Attention bucket (qkv, qk_norm, sdpa, out) per block {}: no exponent, {} length(s) recorded and a fit needs {MIN_POINTS}{sdpa_share}",
            if l == h { format!("at L = {l:.0}") } else { format!("over L = {l:.0}-{h:.0}") },
            a.points.len(),
        ),
    };
    vec![
        "(c) self-attention ~O(n^2)".into(),
        format!(
            "~O(n^2); yet its own table gives {:.1} -> {:.1} ms per block for 3x tokens (exponent {:.2})",
            SEED_SELF_ATTN_MS.0, SEED_SELF_ATTN_MS.1, a.seed_exponent
        ),
        ours,
        verdict,
    ]
}

/// (d) The FFN's intensity against the ridge at every recorded length.
fn ffn_row(s: &SeedClaims) -> Vec<String> {
    let cells: Vec<String> = s
        .ffn
        .iter()
        .map(|f| {
            format!(
                "L={}: {} FLOP/byte vs ridge {}, {} of the matmul rate",
                f.tokens,
                f.intensity.map_or("-".into(), |v| format!("{v:.0}")),
                f.ridge.map_or("-".into(), |v| format!("{v:.0}")),
                f.matmul_util.map_or("-".into(), pct)
            )
        })
        .collect();
    let verdict = match s.verdicts.ffn {
        Some(FfnVerdict::ComputeBound) => "compute-bound at every recorded L, not bandwidth-bound".to_string(),
        Some(FfnVerdict::MemoryBound) => "memory-bound at every recorded L (agrees)".to_string(),
        Some(FfnVerdict::Mixed { compute_bound, known }) => format!("compute-bound at {compute_bound} of {known} recorded lengths"),
        Some(FfnVerdict::Unknown) | None => "no FLOP/byte counts or calibration".to_string(),
    };
    vec!["(d) FFN memory-bandwidth bound".into(), "FFN layers are memory-bandwidth bound".into(), cells.join("; "), verdict]
}

/// (e) One bucket's shares against the seed's range.
fn bucket_row(b: &BucketShare, v: &BucketVerdict) -> Vec<String> {
    let claim = format!("(e) {} share (--rollup seed)", b.bucket);
    let seed = format!("{:.0}-{:.0}%", b.seed_low * 100.0, b.seed_high * 100.0);
    if let BucketVerdict::NotApplicable { .. } = v {
        return vec![claim, seed, "not applicable: this model has no component of this bucket".into(), "not applicable".into()];
    }
    let cells: Vec<String> = b
        .shares
        .iter()
        .enumerate()
        .map(|(i, (f, t, x))| {
            let ci = b.shares_ci95.get(i).copied().flatten();
            let ours = match ci {
                Some([lo, _]) if lo <= 0.0 && *x <= 0.0 => "< noise".to_string(),
                Some([lo, hi]) => format!("{} [{} to {}]", pct(*x), pct(lo.max(0.0)), pct(hi)),
                None if *x < 0.0 => "< noise".to_string(),
                None => pct(*x),
            };
            match b.synced_shares.iter().find(|y| y.0 == *f) {
                Some(y) => format!("L={t}: {ours} ({})", pct(y.2)),
                None => format!("L={t}: {ours}"),
            }
        })
        .collect();
    let verdict = match v {
        BucketVerdict::Below { low, high, .. } => format!("below the seed's range at every L ({}-{})", pct(*low), pct(*high)),
        BucketVerdict::Above { low, high, .. } => format!("above the seed's range at every L ({}-{})", pct(*low), pct(*high)),
        BucketVerdict::Partly { inside, lengths, low, high, .. } => {
            format!("inconclusive: within the seed's range at {inside} of {lengths} lengths by the intervals ({}-{})", pct(low.max(0.0)), pct(*high))
        }
        BucketVerdict::Within { .. } | BucketVerdict::NotApplicable { .. } => "within the seed's range".to_string(),
    };
    vec![claim, seed, cells.join(", "), verdict]
}

/// What attribution changes against the seed's method: each bucket at the L where the two
/// methods differ most (the analysis's `method_changes`).
fn method_changes(s: &SeedClaims) -> Option<String> {
    let changes: Vec<String> = s
        .method_changes
        .iter()
        .map(|c| format!("{} at L={}: {} attributed against {} synced ({} points)", c.bucket, c.tokens, pct(c.attributed), pct(c.synced), signed_pct((c.attributed - c.synced) * 100.0).trim_end_matches('%')))
        .collect();
    (!changes.is_empty()).then(|| {
        format!(
            "What changes when the shares come from attribution instead of component-synced runs, for each bucket at the length where the two differ most: {}. The synced shares carry a synchronisation per component, which inflates small components most.",
            changes.join("; ")
        )
    })
}
