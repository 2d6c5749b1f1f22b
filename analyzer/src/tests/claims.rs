//! Simulated recordings with known truth: the report's growth claims are not fooled by noise,
//! and the intervals of fit exponents, predictions and shares hold the truth at their level.
//!
//! Each recording draws every run as the true time times a log-normal factor (the noise level
//! is its standard deviation on log scale), at three lengths with three runs each, as a
//! component-synced recording of a 2-core CPU would; the analyses see only those runs.

use crate::analysis::facts::Area;
use crate::analysis::scaling::{fit_component, Point, WorkMeasure};
use crate::analysis::stats::median;
use crate::analysis::uncertainty::{combine, interval, pooled_draws, Sampler};
use crate::analysis::verdict::{decide, Test, Verdict};

const LENGTHS: [f64; 3] = [3120.0, 9360.0, 32760.0];
const RUNS: usize = 3;

/// A component's true time (ms) and work (FLOPs) at L.
struct Truth {
    name: &'static str,
    ms: fn(f64) -> f64,
    flops: fn(f64) -> f64,
}

/// Five linear components (work linear in L, time a + b L) and one quadratic, like SDPA.
fn truths() -> Vec<Truth> {
    vec![
        Truth { name: "qkv", ms: |l| 0.2 + 4e-4 * l, flops: |l| 3e7 * l },
        Truth { name: "qk_norm", ms: |l| 0.05 + 2e-5 * l, flops: |l| 1e4 * l },
        Truth { name: "ffn_up", ms: |l| 1e-3 * l, flops: |l| 8e7 * l },
        Truth { name: "modulation", ms: |l| 0.3 + 1e-6 * l, flops: |l| 1e3 * l + 1e6 },
        Truth { name: "norm1", ms: |l| 2e-5 * l, flops: |l| 1e4 * l },
        Truth { name: "sdpa", ms: |l| 2e-8 * l * l + 1e-5 * l, flops: |l| 4e3 * l * l },
    ]
}

/// One simulated recording: per component, one point per length with the draws of its time
/// (drawn as the analyzer draws a component-synced snapshot: noise pooled over components).
fn record(noise: f64, seed: u64) -> Vec<(String, Vec<Point>, Vec<Vec<f64>>)> {
    let mut s = Sampler::new(&format!("recording/{noise}/{seed}"));
    let ts = truths();
    let runs: Vec<Vec<Vec<f64>>> = LENGTHS.iter().map(|&l| ts.iter().map(|t| (0..RUNS).map(|_| (t.ms)(l) * (noise * s.normal()).exp()).collect()).collect()).collect();
    let draws: Vec<Vec<Option<Vec<f64>>>> = runs
        .iter()
        .enumerate()
        .map(|(k, at)| pooled_draws(&at.iter().map(Vec::as_slice).collect::<Vec<_>>(), &format!("{k}/{seed}/{noise}")))
        .collect();
    ts.iter()
        .enumerate()
        .map(|(c, t)| {
            let points = LENGTHS
                .iter()
                .enumerate()
                .map(|(k, &l)| Point { tokens: l, ms: median(&runs[k][c]).unwrap(), draws: draws[k][c].clone(), work: Some((WorkMeasure::Flops, (t.flops)(l))) })
                .collect();
            (t.name.to_string(), points, runs.iter().map(|at| at[c].clone()).collect())
        })
        .collect()
}

#[test]
fn linear_work_is_never_called_superlinear_and_quadratic_work_is_found() {
    let mut false_claims = Vec::new();
    let mut missed = Vec::new();
    for noise in [0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40] {
        for seed in 0..30 {
            let mut fits: Vec<_> = record(noise, seed).into_iter().map(|(name, points, _)| fit_component(&name, Area::Blocks, points)).collect();
            // Decided together, as a report decides all its claims.
            {
                let mut tests: Vec<&mut Test> = Vec::new();
                for f in fits.iter_mut() {
                    tests.push(&mut f.superlinear);
                    tests.push(&mut f.quadratic);
                    tests.extend(f.faster_than_work.as_mut());
                }
                decide(&mut tests);
            }
            for f in &fits {
                let grows = f.superlinear.verdict == Verdict::Supported;
                let faster = f.faster_than_work.as_ref().is_some_and(|t| t.verdict == Verdict::Supported);
                if f.name == "sdpa" {
                    if noise <= 0.25 && !grows {
                        missed.push((noise, seed, f.power.map(|p| (p.exponent, p.exponent_ci95))));
                    }
                    assert!(!faster, "sdpa's time is proportional to its work, yet called faster at noise {noise} seed {seed}");
                } else if grows || faster || f.quadratic.verdict == Verdict::Supported {
                    false_claims.push((f.name.clone(), noise, seed, f.power.map(|p| (p.exponent, p.exponent_ci95))));
                }
            }
        }
    }
    assert!(false_claims.is_empty(), "linear components called superlinear: {false_claims:?}");
    assert!(missed.is_empty(), "quadratic component not found: {missed:?}");
}

#[test]
fn intervals_of_exponents_predictions_and_shares_cover_the_truth() {
    let recordings = 400;
    let noise = 0.2;
    let held_out = 65520.0;
    let (mut exp_hits, mut exp_n) = (0, 0);
    let (mut pred_hits, mut pred_n) = (0, 0);
    let (mut share_hits, mut share_n) = (0, 0);
    for seed in 0..recordings {
        let rec = record(noise, 1000 + seed);
        for ((name, points, _), truth) in rec.iter().zip(truths()) {
            let fit = fit_component(name, Area::Blocks, points.clone());
            // The exponent's truth: the log-log slope of the true times over the lengths.
            let lx: Vec<f64> = LENGTHS.iter().map(|l| l.ln()).collect();
            let ly: Vec<f64> = LENGTHS.iter().map(|l| (truth.ms)(*l).ln()).collect();
            let mx = lx.iter().sum::<f64>() / 3.0;
            let my = ly.iter().sum::<f64>() / 3.0;
            let slope = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum::<f64>() / lx.iter().map(|x| (x - mx).powi(2)).sum::<f64>();
            if let Some([lo, hi]) = fit.power.and_then(|p| p.exponent_ci95) {
                exp_n += 1;
                exp_hits += (lo <= slope && slope <= hi) as usize;
            } else {
                exp_n += 1;
            }
            // A held-out length, from the work model (true here: time is affine in work).
            let (_, ci, _) = fit.predict(held_out).expect("a prediction");
            pred_n += 1;
            if let Some([lo, hi]) = ci {
                let t = (truth.ms)(held_out);
                pred_hits += (lo <= t && t <= hi) as usize;
            }
        }
        // Shares at the longest length: each component's draws over the sum's.
        let draws: Vec<Vec<f64>> = rec.iter().map(|(_, p, _)| p[2].draws.clone().unwrap()).collect();
        let refs: Vec<&[f64]> = draws.iter().map(Vec::as_slice).collect();
        let total = combine(&refs, |v| v.iter().sum());
        let true_total: f64 = truths().iter().map(|t| (t.ms)(LENGTHS[2])).sum();
        for (d, t) in draws.iter().zip(truths()) {
            let share = combine(&[d, &total], |v| v[0] / v[1]);
            let [lo, hi] = interval(&share).unwrap();
            let truth = (t.ms)(LENGTHS[2]) / true_total;
            share_n += 1;
            share_hits += (lo <= truth && truth <= hi) as usize;
        }
    }
    let rate = |h: usize, n: usize| h as f64 / n as f64;
    let (e, p, s) = (rate(exp_hits, exp_n), rate(pred_hits, pred_n), rate(share_hits, share_n));
    println!("coverage over {recordings} recordings at noise {noise}: exponents {e:.3} ({exp_n}), predictions {p:.3} ({pred_n}), shares {s:.3} ({share_n})");
    assert!(e >= 0.93, "exponent coverage {e}");
    assert!(p >= 0.93, "prediction coverage {p}");
    assert!(s >= 0.93, "share coverage {s}");
}
