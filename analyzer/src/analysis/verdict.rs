//! Three-valued verdicts, and the control of false claims across a whole report.
//!
//! A claim compares a quantity with a threshold: it is `supported` when the data shows the
//! quantity beyond the threshold that matters, `contradicted` when it shows it on the other
//! side of the threshold that would make the claim worth stating, `inconclusive` otherwise. Each
//! side has a p-value (the probability, from the draws, of the quantity being on the wrong side;
//! see [`super::uncertainty::prob_at_most`]). A report makes dozens of claims at once, so a 5%
//! test per claim would state a false one in most reports: every p-value of the report goes
//! through one Benjamini-Hochberg procedure at [`FALSE_CLAIM_RATE`], and only the claims it keeps
//! are decided. Claims that cannot be tested (no interval, a ceiling exceeded, settings that do
//! not match) are inconclusive with the reason.

use serde::Serialize;

/// The expected share of false claims among the decided ones, over the whole report.
pub(crate) const FALSE_CLAIM_RATE: f64 = 0.05;

/// The verdict on one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    /// The data supports the claim (after the report-wide control of false claims).
    Supported,
    /// The data contradicts it.
    Contradicted,
    /// The data cannot decide it.
    #[default]
    Inconclusive,
}

impl Verdict {
    /// Lower-case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verdict::Supported => "supported",
            Verdict::Contradicted => "contradicted",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// A claim under test: its p-values on each side, and the verdict once the report decides.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub(crate) struct Test {
    /// The verdict.
    pub(crate) verdict: Verdict,
    /// Probability that the claim is false (the quantity on or below its threshold); 1 when the
    /// claim cannot be tested.
    pub(crate) p_support: f64,
    /// Probability that the claim's opposite is false; 1 when it cannot be tested.
    pub(crate) p_contradict: f64,
    /// Why the verdict is what it is, in words a reader can check.
    pub(crate) why: String,
}

impl Test {
    /// A claim to be decided from its two p-values; `why` names the quantity and thresholds.
    pub(crate) fn new(p_support: f64, p_contradict: f64, why: String) -> Self {
        Test { verdict: Verdict::Inconclusive, p_support, p_contradict, why }
    }

    /// A claim that cannot be tested, with the reason.
    pub(crate) fn untestable(why: String) -> Self {
        Test { verdict: Verdict::Inconclusive, p_support: 1.0, p_contradict: 1.0, why }
    }

    /// Supported.
    pub(crate) fn supported(&self) -> bool {
        self.verdict == Verdict::Supported
    }
}

/// Which of the p-values Benjamini-Hochberg rejects at level `q`.
pub(crate) fn benjamini_hochberg(p: &[f64], q: f64) -> Vec<bool> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut k = 0;
    for (rank, &i) in order.iter().enumerate() {
        if p[i] <= q * (rank + 1) as f64 / m as f64 {
            k = rank + 1;
        }
    }
    let mut out = vec![false; m];
    for &i in &order[..k] {
        out[i] = true;
    }
    out
}

/// Decides every test of one report together (see the module's doc).
pub(crate) fn decide(tests: &mut [&mut Test]) {
    // Claims that cannot be tested (both p-values 1) are left out of the family: they can
    // never be decided, and counting them would only raise the bar for the others.
    let testable: Vec<usize> = (0..tests.len()).filter(|&i| tests[i].p_support < 1.0 || tests[i].p_contradict < 1.0).collect();
    let p: Vec<f64> = testable.iter().flat_map(|&i| [tests[i].p_support, tests[i].p_contradict]).collect();
    let kept = benjamini_hochberg(&p, FALSE_CLAIM_RATE);
    let mut keep = vec![false; 2 * tests.len()];
    for (k, &i) in testable.iter().enumerate() {
        keep[2 * i] = kept[2 * k];
        keep[2 * i + 1] = kept[2 * k + 1];
    }
    for (i, t) in tests.iter_mut().enumerate() {
        t.verdict = match (keep[2 * i], keep[2 * i + 1]) {
            (true, false) => Verdict::Supported,
            (false, true) => Verdict::Contradicted,
            _ => Verdict::Inconclusive,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benjamini_hochberg_by_hand() {
        // m = 5, q = 0.05: thresholds 0.01, 0.02, 0.03, 0.04, 0.05. Sorted p: 0.001, 0.015,
        // 0.035, 0.041, 0.6: the largest k with p(k) <= k q / m is 2 (0.035 > 0.03, 0.041 >
        // 0.04), so two are rejected even though 0.015 > 0.01 alone would not be by Bonferroni.
        let p = [0.6, 0.015, 0.001, 0.041, 0.035];
        assert_eq!(benjamini_hochberg(&p, 0.05), vec![false, true, true, false, false]);
        // Step-up: 0.04 at rank 4 of 4 passes, which takes every smaller one with it.
        assert_eq!(benjamini_hochberg(&[0.04, 0.03, 0.035, 0.02], 0.05), vec![true; 4]);
        assert!(benjamini_hochberg(&[], 0.05).is_empty());
    }

    #[test]
    fn decide_is_three_valued() {
        let mut a = Test::new(0.0001, 0.9, "a".into());
        let mut b = Test::new(0.9, 0.0001, "b".into());
        let mut c = Test::new(0.3, 0.4, "c".into());
        let mut d = Test::untestable("d".into());
        decide(&mut [&mut a, &mut b, &mut c, &mut d]);
        assert_eq!([a.verdict, b.verdict, c.verdict, d.verdict], [Verdict::Supported, Verdict::Contradicted, Verdict::Inconclusive, Verdict::Inconclusive]);
    }
}
