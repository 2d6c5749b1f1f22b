//! The uncertainty of derived numbers, by simulation from the run-level data.
//!
//! Every measured quantity a report builds on (an attributed cost, a component-synced mean, a
//! fused forward) is given [`DRAWS`] draws from its sampling distribution. Draws with the same
//! index belong together: the costs of one attribution set are computed from the same drawn
//! sample means, so that components sharing the references move together, as they do in the
//! data. A derived number (a share, a fit exponent, a prediction, a saving) is computed once
//! per draw index, and its 95% interval is the 2.5% and 97.5% quantiles of those values. This
//! propagates the data's noise through any formula, linear or not, without a formula per case;
//! `docs/statistics.md` gives the model behind the draws and the coverage measured by simulation.
//!
//! How a sample mean is drawn: the run-to-run noise is relative, with a variance estimated
//! from the runs (`s^2` on `df` degrees of freedom); a draw first draws the variance,
//! `s^2 * df / chi2(df)`, then the mean, normal around the measured one with that variance over
//! the sample size. For one mean, or any linear combination of the means of one set, this is
//! exactly Student's t interval the attribution already used; it is the posterior of the means
//! under the usual non-informative prior, so nonlinear functions of it get intervals of the
//! same kind.

use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;

/// Draws per measured quantity.
pub(crate) const DRAWS: usize = 1000;

/// Confidence level of every interval.
pub(crate) const LEVEL: f64 = 0.95;

/// A value's draws that are undefined (NaN: a log of a cost drawn at or below zero, say) beyond
/// this fraction leave it without an interval: its interval is unbounded.
const MAX_UNDEFINED: f64 = 0.025;

/// A stable seed from a key (FNV-1a), so that a report is the same at every run.
pub(crate) fn seed_of(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A random source with the few distributions the draws need.
pub(crate) struct Sampler {
    rng: SplitMix64,
    spare: Option<f64>,
}

impl Sampler {
    /// A sampler seeded from `key`.
    pub(crate) fn new(key: &str) -> Self {
        Sampler { rng: SplitMix64::from_seed(seed_of(key).to_le_bytes()), spare: None }
    }

    /// Uniform in (0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        ((self.rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller, both values used).
    pub(crate) fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * v;
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }

    /// Gamma(shape, 1) (Marsaglia and Tsang; shapes below 1 by the boost `U^(1/shape)`).
    pub(crate) fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            return self.gamma(shape + 1.0) * self.uniform().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let z = self.normal();
            let v = (1.0 + c * z).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Chi-squared with `df` degrees of freedom.
    pub(crate) fn chi2(&mut self, df: f64) -> f64 {
        2.0 * self.gamma(df / 2.0)
    }

    /// A variance factor `df / chi2(df)`: multiplies an estimated variance into a drawn one.
    pub(crate) fn variance_factor(&mut self, df: f64) -> f64 {
        if df.is_finite() && df > 0.0 { df / self.chi2(df).max(f64::MIN_POSITIVE) } else { 1.0 }
    }
}

/// The interval `[low, high]` at [`LEVEL`] of a quantity's draws; `None` without draws or when
/// more than [`MAX_UNDEFINED`] of them are undefined (the interval is then unbounded).
pub(crate) fn interval(draws: &[f64]) -> Option<[f64; 2]> {
    if draws.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = draws.iter().copied().filter(|x| x.is_finite()).collect();
    if ((draws.len() - v.len()) as f64) > MAX_UNDEFINED * draws.len() as f64 {
        return None;
    }
    let tail = (1.0 - LEVEL) / 2.0;
    Some([quantile_by_selection(&mut v, tail), quantile_by_selection(&mut v, 1.0 - tail)])
}

/// [`super::stats::quantile_sorted`]'s value (the same interpolation between the same two order
/// statistics) by selection instead of a full sort: intervals are taken of thousands of draw
/// vectors in a report.
fn quantile_by_selection(v: &mut [f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let (_, a, rest) = v.select_nth_unstable_by(lo, f64::total_cmp);
    let a = *a;
    let b = if hi > lo { rest.iter().copied().min_by(f64::total_cmp).unwrap_or(a) } else { a };
    a + (b - a) * (pos - lo as f64)
}

/// The probability, from the draws, that the quantity is at most `threshold` (undefined draws
/// count as at most: they cannot support a claim that it is larger). Where no draw is that low,
/// the normal tail of the draws' mean and spread, so that a strong effect is not limited to a
/// p-value of 1 / DRAWS. 1 without draws.
pub(crate) fn prob_at_most(draws: &[f64], threshold: f64) -> f64 {
    if draws.is_empty() {
        return 1.0;
    }
    let low = draws.iter().filter(|x| !(x.is_finite() && **x > threshold)).count();
    if low > 0 {
        return (low as f64 + 1.0) / (draws.len() as f64 + 1.0);
    }
    let n = draws.len() as f64;
    let mean = draws.iter().sum::<f64>() / n;
    let sd = (draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    if sd <= 0.0 {
        return 0.0;
    }
    normal_cdf((threshold - mean) / sd).min(1.0 / (n + 1.0))
}

/// The probability, from the draws, that the quantity is at least `threshold`.
pub(crate) fn prob_at_least(draws: &[f64], threshold: f64) -> f64 {
    let negated: Vec<f64> = draws.iter().map(|x| -x).collect();
    prob_at_most(&negated, -threshold)
}

/// Standard normal CDF (Abramowitz and Stegun 7.1.26 on erf; absolute error below 1.5e-7),
/// with the far tail from the asymptotic series so that small probabilities keep their size.
pub(crate) fn normal_cdf(z: f64) -> f64 {
    if z < -6.0 {
        let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        return pdf / -z * (1.0 - 1.0 / (z * z));
    }
    if z > 6.0 {
        return 1.0 - normal_cdf(-z);
    }
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

/// Draws of a mean measured as `center` from `n` runs with relative variance `relative_var` on
/// `df` degrees of freedom; `None` with fewer than 2 runs (no spread to go on).
pub(crate) fn mean_draws(center: f64, relative_var: f64, n: usize, df: f64, key: &str) -> Option<Vec<f64>> {
    if n < 2 || !(df > 0.0) || !relative_var.is_finite() {
        return None;
    }
    let mut s = Sampler::new(key);
    Some(
        (0..DRAWS)
            .map(|_| {
                let var = relative_var * s.variance_factor(df) * center * center / n as f64;
                center + var.sqrt() * s.normal()
            })
            .collect(),
    )
}

/// The variance of a sample median over that of a sample mean, for normal data (pi/2, its
/// large-sample value; below it for 3 to 10 values): the draws of a median widen the mean's by
/// its square root.
pub(crate) const MEDIAN_VARIANCE_RATIO: f64 = std::f64::consts::FRAC_PI_2;

/// Draws of the median time of the runs `values` (`center`, the report's point): timing noise is
/// multiplicative, so the draws are on log scale, centred on ln(`center`), with the spread of the
/// mean of the logs (Student's t on `n - 1` degrees of freedom, as a scale mixture) widened by
/// [`MEDIAN_VARIANCE_RATIO`]. Centred on the median, not the geometric mean: a few slow runs pull
/// the geometric mean up, and an interval around it could then exclude the median printed
/// beside it (seen: 79.3 ms with an interval of 79.6 to 86.6). Runs that are not all positive
/// are drawn on the linear scale around `center`. `None` below 2 values.
pub(crate) fn sample_draws(values: &[f64], center: f64, key: &str) -> Option<Vec<f64>> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    if values.iter().any(|v| !(v.is_finite() && *v > 0.0)) || !(center.is_finite() && center > 0.0) {
        let mean = values.iter().sum::<f64>() / n as f64;
        if mean == 0.0 {
            return Some(vec![center; DRAWS]);
        }
        let rv = values.iter().map(|v| ((v - mean) / mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        return mean_draws(center, rv, n, (n - 1) as f64, key);
    }
    let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
    let m = logs.iter().sum::<f64>() / n as f64;
    let var = logs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64 * MEDIAN_VARIANCE_RATIO;
    let df = (n - 1) as f64;
    let c = center.ln();
    let mut s = Sampler::new(key);
    Some((0..DRAWS).map(|_| (c + (var * s.variance_factor(df) / n as f64).sqrt() * s.normal()).exp()).collect())
}

/// Draws of the medians of several times measured by the same runs (the components of one
/// snapshot), each drawn on log scale around ln(median) as [`sample_draws`] but with the noise
/// pooled over all of them, as the attribution pools it over a set: each time's log-variance is
/// the larger of its own and the pooled one (a noisier time keeps its own), with the pooled degrees of freedom, and one
/// variance factor per draw index shared by all. With three runs each, a time alone has 2
/// degrees of freedom and t(0.975, 2) = 4.3; pooled over a model's components the intervals
/// hold their level with far fewer wasted draws in the tails. `None` for a time below 2 runs or
/// with a value that is not positive.
pub(crate) fn pooled_draws(samples: &[&[f64]], key: &str) -> Vec<Option<Vec<f64>>> {
    let stats: Vec<Option<(f64, f64, usize)>> = samples
        .iter()
        .map(|v| {
            let n = v.len();
            if n < 2 || v.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
                return None;
            }
            let m = v.iter().map(|x| x.ln()).sum::<f64>() / n as f64;
            let ss = v.iter().map(|x| (x.ln() - m).powi(2)).sum::<f64>();
            // Centred on the median the snapshot reports (see `sample_draws`).
            let mut sorted = v.to_vec();
            Some((super::stats::median_in_place(&mut sorted).ln(), ss, n))
        })
        .collect();
    let df: usize = stats.iter().flatten().map(|s| s.2 - 1).sum();
    if df == 0 {
        return vec![None; samples.len()];
    }
    let pooled = stats.iter().flatten().map(|s| s.1).sum::<f64>() / df as f64;
    let mut rng = Sampler::new(key);
    let factors: Vec<f64> = (0..DRAWS).map(|_| rng.variance_factor(df as f64)).collect();
    stats
        .iter()
        .map(|st| {
            let (m, ss, n) = (*st)?;
            let var = (ss / (n - 1) as f64).max(pooled) * MEDIAN_VARIANCE_RATIO;
            Some(factors.iter().map(|f| (m + (var * f / n as f64).sqrt() * rng.normal()).exp()).collect())
        })
        .collect()
}

/// Index-wise combination of several quantities' draws (all of [`DRAWS`] length).
pub(crate) fn combine(parts: &[&[f64]], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut args = vec![0.0; parts.len()];
    (0..parts.first().map_or(0, |p| p.len()))
        .map(|i| {
            for (a, p) in args.iter_mut().zip(parts) {
                *a = p[i];
            }
            f(&args)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_selection_equal_those_of_the_sorted_draws() {
        let mut s = Sampler::new("quantile-selection");
        for n in [1usize, 2, 3, 40, 1000, 1001] {
            let v: Vec<f64> = (0..n).map(|_| s.normal()).collect();
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            for q in [0.0, 0.025, 0.5, 0.975, 1.0] {
                let mut w = v.clone();
                assert_eq!(quantile_by_selection(&mut w, q), crate::analysis::stats::quantile_sorted(&sorted, q), "n {n} q {q}");
            }
        }
    }

    #[test]
    fn samplers_have_their_moments() {
        let mut s = Sampler::new("moments");
        let n = 200_000;
        let z: Vec<f64> = (0..n).map(|_| s.normal()).collect();
        let mean = z.iter().sum::<f64>() / n as f64;
        let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.01, "{mean} {var}");
        // Chi-squared(df): mean df, variance 2 df; also below shape 1 (df 1).
        for df in [1.0, 2.0, 7.5, 40.0] {
            let x: Vec<f64> = (0..n).map(|_| s.chi2(df)).collect();
            let m = x.iter().sum::<f64>() / n as f64;
            let v = x.iter().map(|a| (a - m).powi(2)).sum::<f64>() / n as f64;
            assert!((m / df - 1.0).abs() < 0.02, "df {df}: mean {m}");
            assert!((v / (2.0 * df) - 1.0).abs() < 0.05, "df {df}: var {v}");
        }
    }

    #[test]
    fn mean_draws_reproduce_the_t_interval() {
        // A mean of 100 from 4 runs with relative sd 0.1: t(0.975, 3) = 3.182446 x 100 x 0.1 / 2.
        let d = mean_draws(100.0, 0.01, 4, 3.0, "t").unwrap();
        let [lo, hi] = interval(&d).unwrap();
        let half = 3.182_446 * 5.0;
        assert!((hi - lo) / 2.0 > half * 0.9 && (hi - lo) / 2.0 < half * 1.1, "{lo} {hi} against +-{half}");
        assert!(mean_draws(100.0, 0.01, 1, 0.0, "t").is_none());
    }

    #[test]
    fn normal_cdf_against_tables() {
        for (z, p) in [(0.0, 0.5), (1.959_964, 0.975), (-1.644_854, 0.05), (-3.090_232, 0.001), (-8.0, 6.220_96e-16)] {
            let c = normal_cdf(z);
            assert!((c - p).abs() <= 2e-7_f64.max(p * 0.02), "{z}: {c} against {p}");
        }
    }

    #[test]
    fn probabilities_from_draws() {
        let d: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        assert!((prob_at_most(&d, 99.5) - 101.0 / 1001.0).abs() < 1e-12);
        assert!((prob_at_least(&d, 899.5) - 101.0 / 1001.0).abs() < 1e-12);
        // No draw below: the normal tail, at most 1 / (N + 1).
        let p = prob_at_most(&d, -2000.0);
        assert!(p > 0.0 && p < 1e-6);
        // Undefined draws count against the claim.
        let mut e = d.clone();
        e[..100].iter_mut().for_each(|x| *x = f64::NAN);
        assert!(prob_at_most(&e, 50.0) > 0.1);
        assert!(interval(&e).is_none());
    }
}
