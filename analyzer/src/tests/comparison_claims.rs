//! The significance of a comparison's rows, by simulation: groups that do not differ from the
//! baseline make (almost) no "significant" claim across a whole comparison, and a real change
//! beyond the noise threshold is found. Each row is decided as `--by KEY` decides it: Welch's t on
//! log times against ln(1.05), every row of the comparison in one Benjamini-Hochberg procedure.

use crate::analysis::stats::{change_p_values, welch_log_ratio};
use crate::analysis::uncertainty::Sampler;
use crate::analysis::verdict::{decide, Test};

/// `n` runs of a time whose log is normal around ln(`ms`) with standard deviation `noise`.
fn runs(s: &mut Sampler, ms: f64, noise: f64, n: usize) -> Vec<f64> {
    (0..n).map(|_| ms * (noise * s.normal()).exp()).collect()
}

/// One comparison of `rows` components, each `ratio` times the baseline; how many rows the
/// decision calls significant.
fn significant_rows(s: &mut Sampler, rows: usize, ratio: f64, noise: f64, n: usize) -> usize {
    let mut tests: Vec<Test> = (0..rows)
        .map(|i| {
            let ms = 1.0 + i as f64;
            let (b, g) = (runs(s, ms, noise, n), runs(s, ms * ratio, noise, n));
            let (change, within) = change_p_values(&b, &g, 0.05).unwrap();
            Test::new(change, within, "change".into())
        })
        .collect();
    let mut refs: Vec<&mut Test> = tests.iter_mut().collect();
    decide(&mut refs);
    tests.iter().filter(|t| t.supported()).count()
}

#[test]
fn no_change_makes_almost_no_significant_claim_and_a_real_one_is_found() {
    let mut s = Sampler::new("comparison-claims");
    // 66 rows (22 components, 3 groups), 5 runs a side, 5% noise: a row-by-row 5% test would
    // be fooled in most comparisons.
    let comparisons = 300;
    let with_false = (0..comparisons).filter(|_| significant_rows(&mut s, 66, 1.0, 0.05, 5) > 0).count();
    // The rule before: a row is significant when its 95% interval excludes 1 and the ratio is
    // beyond 5%, each row on its own.
    let old = (0..comparisons)
        .filter(|_| {
            (0..66).any(|i| {
                let ms = 1.0 + i as f64;
                let (b, g) = (runs(&mut s, ms, 0.05, 5), runs(&mut s, ms, 0.05, 5));
                let ci = welch_log_ratio(&b, &g, 0.95).unwrap();
                (ci.low > 1.0 || ci.high < 1.0) && ci.ratio.ln().abs() > 1.05f64.ln()
            })
        })
        .count();
    println!("{with_false} of {comparisons} comparisons with a false claim (row by row: {old})");
    assert!((with_false as f64) < 0.06 * comparisons as f64, "{with_false} of {comparisons}");
    // Even a true change of 4% (inside the 5% threshold) is not called significant.
    let inside = (0..comparisons).filter(|_| significant_rows(&mut s, 66, 1.04, 0.02, 5) > 0).count();
    assert!((inside as f64) < 0.06 * comparisons as f64, "changes within the threshold called significant in {inside} comparisons");
    // A 25% change of every row with 5% noise is found in nearly every row.
    let found: usize = (0..20).map(|_| significant_rows(&mut s, 66, 1.25, 0.05, 5)).sum();
    assert!(found as f64 > 0.95 * 20.0 * 66.0, "found {found} of {}", 20 * 66);
}
