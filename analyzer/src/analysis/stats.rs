//! Small numeric helpers: medians and quantiles, least squares, non-negative least squares for
//! a handful of unknowns, Student's t distribution, the Welch t interval of a ratio of times on
//! log scale (what comparisons use), and the percentile bootstrap of a ratio of medians (kept
//! for comparison: it covers too rarely at a few runs a side, see `docs/statistics.md`).

#[cfg(test)]
use rand_xoshiro::rand_core::{Rng, SeedableRng};
#[cfg(test)]
use rand_xoshiro::SplitMix64;

/// Median of the values (NaN-free); `None` when empty.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// Linear-interpolated quantile `q` in [0, 1]; `None` when empty.
pub(crate) fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Some(quantile_sorted(&v, q))
}

/// Quantile of sorted values.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Median by selection (reorders `values`); the mean of the two middle values for even lengths.
pub(crate) fn median_in_place(values: &mut [f64]) -> f64 {
    let n = values.len();
    let mid = n / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *m;
    if n % 2 == 1 {
        upper
    } else {
        let lower = values[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// Straight-line fit y = intercept + slope * x, with R^2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LineFit {
    /// Intercept.
    pub(crate) intercept: f64,
    /// Slope.
    pub(crate) slope: f64,
    /// Coefficient of determination.
    pub(crate) r2: f64,
}

/// Ordinary least squares on (x, y); `None` with fewer than two distinct x.
pub(crate) fn fit_line(x: &[f64], y: &[f64]) -> Option<LineFit> {
    let n = x.len() as f64;
    if x.len() < 2 || x.len() != y.len() {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let r2 = r_squared(y, &x.iter().map(|v| intercept + slope * v).collect::<Vec<_>>());
    Some(LineFit { intercept, slope, r2 })
}

/// R^2 of predictions against observations (1 when the observations are constant and matched).
pub(crate) fn r_squared(y: &[f64], predicted: &[f64]) -> f64 {
    let n = y.len() as f64;
    let my = y.iter().sum::<f64>() / n;
    let ss_tot: f64 = y.iter().map(|v| (v - my).powi(2)).sum();
    let ss_res: f64 = y.iter().zip(predicted).map(|(a, p)| (a - p).powi(2)).sum();
    if ss_tot <= f64::EPSILON * my.abs().max(1.0) {
        if ss_res <= f64::EPSILON * my.abs().max(1.0) { 1.0 } else { 0.0 }
    } else {
        1.0 - ss_res / ss_tot
    }
}

/// Non-negative least squares, min |A x - y| subject to x >= 0, for a few columns: every subset
/// of columns is solved unconstrained and the best feasible solution kept (exact for small
/// problems). `columns[j][i]` is A's entry of row i, column j.
pub(crate) fn nnls(columns: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let k = columns.len();
    // The unconstrained solution, when feasible, has the least residual of all subsets: the
    // common case, one solve instead of 2^k - 1 (this runs once per draw of every fit).
    if let Some(full) = least_squares(&columns.iter().map(Vec::as_slice).collect::<Vec<_>>(), y) {
        if full.iter().all(|v| *v > 0.0 && v.is_finite()) {
            return full;
        }
    }
    let mut best = vec![0.0; k];
    let mut best_res = y.iter().map(|v| v * v).sum::<f64>();
    for mask in 1u32..(1 << k) {
        let active: Vec<usize> = (0..k).filter(|j| mask & (1 << j) != 0).collect();
        let Some(sol) = least_squares(&active.iter().map(|&j| columns[j].as_slice()).collect::<Vec<_>>(), y) else {
            continue;
        };
        if sol.iter().any(|v| *v < 0.0 || !v.is_finite()) {
            continue;
        }
        let mut x = vec![0.0; k];
        for (s, &j) in sol.iter().zip(&active) {
            x[j] = *s;
        }
        let res: f64 = (0..y.len())
            .map(|i| {
                let p: f64 = (0..k).map(|j| columns[j][i] * x[j]).sum();
                (y[i] - p).powi(2)
            })
            .sum();
        if res < best_res * (1.0 - 1e-12) {
            best_res = res;
            best = x;
        }
    }
    best
}

/// Unconstrained least squares through the normal equations (Gaussian elimination with
/// partial pivoting); `None` when singular.
pub(crate) fn least_squares(columns: &[&[f64]], y: &[f64]) -> Option<Vec<f64>> {
    let k = columns.len();
    let mut m = vec![vec![0.0; k + 1]; k];
    for a in 0..k {
        for b in 0..k {
            m[a][b] = columns[a].iter().zip(columns[b]).map(|(p, q)| p * q).sum();
        }
        m[a][k] = columns[a].iter().zip(y).map(|(p, q)| p * q).sum();
    }
    let scale = (0..k).map(|a| m[a][a].abs()).fold(0.0, f64::max);
    for c in 0..k {
        let pivot = (c..k).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs()))?;
        if m[pivot][c].abs() <= scale * 1e-13 {
            return None;
        }
        m.swap(c, pivot);
        for r in 0..k {
            if r != c {
                let f = m[r][c] / m[c][c];
                for j in c..=k {
                    m[r][j] -= f * m[c][j];
                }
            }
        }
    }
    Some((0..k).map(|c| m[c][k] / m[c][c]).collect())
}

/// An estimate of a ratio b / a with an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RatioInterval {
    /// The estimate: median(b) / median(a) for the bootstrap, the ratio of geometric means for
    /// the Welch interval.
    pub(crate) ratio: f64,
    /// Lower end of the interval.
    pub(crate) low: f64,
    /// Upper end.
    pub(crate) high: f64,
}

/// Resamples `a` and `b` with replacement `resamples` times and returns the percentile
/// interval at `level` (e.g. 0.95) of the ratio of medians. `None` when either side is empty or
/// a median is zero.
#[cfg(test)]
pub(crate) fn bootstrap_median_ratio(a: &[f64], b: &[f64], resamples: usize, level: f64, seed: u64) -> Option<RatioInterval> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let ma = median(a)?;
    let mb = median(b)?;
    if ma == 0.0 {
        return None;
    }
    let ratio = mb / ma;
    let mut rng = SplitMix64::from_seed(seed.to_le_bytes());
    let mut ra = vec![0.0; a.len()];
    let mut rb = vec![0.0; b.len()];
    let mut ratios = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for v in ra.iter_mut() {
            *v = a[below(&mut rng, a.len())];
        }
        for v in rb.iter_mut() {
            *v = b[below(&mut rng, b.len())];
        }
        let da = median_in_place(&mut ra);
        if da != 0.0 {
            ratios.push(median_in_place(&mut rb) / da);
        }
    }
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some(RatioInterval { ratio, low: quantile_sorted(&ratios, tail), high: quantile_sorted(&ratios, 1.0 - tail) })
}

/// A uniform index in `0..n` (n > 0) from the top 32 bits of the next number (the mapping the
/// bootstrap has always used, so that its intervals stay the same).
#[cfg(test)]
fn below(rng: &mut SplitMix64, n: usize) -> usize {
    ((rng.next_u64() >> 32) * n as u64 >> 32) as usize
}

pub(crate) use attribution_estimate::student::{student_t_cdf, student_t_quantile};

/// Welch t interval, on log scale, of the ratio of `b`'s times to `a`'s: the logs of each side
/// are taken as normal with their own variance (times with multiplicative, log-normal noise),
/// the difference of the mean logs gets a t interval with Welch-Satterthwaite degrees of
/// freedom, and everything is exponentiated back. `ratio` is the ratio of geometric means, the
/// interval's centre on log scale. Under the log-normal model the geometric mean estimates the
/// median, so this is an interval of the ratio of median times. `None` with fewer than two
/// values a side or a value that is not positive and finite. Both sides constant: the interval
/// is the point.
pub(crate) fn welch_log_ratio(a: &[f64], b: &[f64], level: f64) -> Option<RatioInterval> {
    let (diff, se, df) = welch_log_moments(a, b)?;
    let ratio = diff.exp();
    if se <= 0.0 {
        return Some(RatioInterval { ratio, low: ratio, high: ratio });
    }
    let half = student_t_quantile(0.5 + level / 2.0, df) * se;
    Some(RatioInterval { ratio, low: (diff - half).exp(), high: (diff + half).exp() })
}

/// The Welch t statistic's parts for `ln(b) - ln(a)`: difference of mean logs, its standard
/// error and the Welch-Satterthwaite degrees of freedom. `None` below 2 values a side or with a
/// non-positive value.
pub(crate) fn welch_log_moments(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.len() < 2 || b.len() < 2 || a.iter().chain(b).any(|v| !(v.is_finite() && *v > 0.0)) {
        return None;
    }
    let logs = |v: &[f64]| -> Vec<f64> { v.iter().map(|x| x.ln()).collect() };
    welch_combination(&[(-1.0, &logs(a)), (1.0, &logs(b))])
}

/// Welch-Satterthwaite for `sum of c * mean(values)` over independent samples, each with its
/// own variance: the point, its standard error and the degrees of freedom (infinite when
/// every sample is constant). `None` when a sample has fewer than two values.
pub(crate) fn welch_combination(parts: &[(f64, &[f64])]) -> Option<(f64, f64, f64)> {
    let (mut point, mut var, mut denominator) = (0.0, 0.0, 0.0);
    for &(c, values) in parts {
        if values.len() < 2 {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let spread = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        // This mean's variance in the sum, and its share of the degrees of freedom.
        let w = c * c * spread / n;
        point += c * mean;
        var += w;
        denominator += w * w / (n - 1.0);
    }
    let df = if denominator > 0.0 { var * var / denominator } else { f64::INFINITY };
    Some((point, var.sqrt(), df))
}

/// p-values of a change of `b` against `a` beyond `noise` either way (|ln ratio| > ln(1 +
/// noise)) and of its opposite (the change lies within it), from Welch's t on log times: the
/// first one-sided on the side the estimate lies, the second the larger of two one-sided tests
/// (equivalence). `None` where the moments are undefined.
pub(crate) fn change_p_values(a: &[f64], b: &[f64], noise: f64) -> Option<(f64, f64)> {
    let (d, se, df) = welch_log_moments(a, b)?;
    let delta = noise.ln_1p();
    if se <= 0.0 {
        let beyond = d.abs() > delta;
        return Some(if beyond { (0.0, 1.0) } else { (1.0, 0.0) });
    }
    let upper = |t: f64| 1.0 - student_t_cdf(t, df);
    let change = upper((d.abs() - delta) / se);
    let within = upper((delta - d) / se).max(upper((d + delta) / se));
    Some((change, within))
}

#[cfg(test)]
mod tests {
    use super::*;
    use attribution_estimate::student::ln_gamma;

    #[test]
    fn change_p_values_by_hand() {
        // Logs 0, 0.1, 0.2 against 0.5, 0.6, 0.7: d = 0.5, each side var 0.01 / 3, se = 0.08165,
        // df = 4; against ln 1.05 = 0.04879: t = (0.5 - 0.04879) / 0.08165 = 5.5263.
        let a: Vec<f64> = [0.0f64, 0.1, 0.2].iter().map(|x| x.exp()).collect();
        let b: Vec<f64> = [0.5f64, 0.6, 0.7].iter().map(|x| x.exp()).collect();
        let (d, se, df) = welch_log_moments(&a, &b).unwrap();
        assert!((d - 0.5).abs() < 1e-12 && (se - (0.02f64 / 3.0).sqrt()).abs() < 1e-12 && (df - 4.0).abs() < 1e-9);
        let (change, within) = change_p_values(&a, &b, 0.05).unwrap();
        let t = (0.5 - 1.05f64.ln()) / se;
        assert!((change - (1.0 - student_t_cdf(t, 4.0))).abs() < 1e-12);
        assert!(change < 0.003, "{change}");
        assert!(within > 0.99, "{within}");
        // The same samples: no change, and equivalence within 5% cannot be shown from 3 runs
        // of 10% spread, nor a change.
        let (c2, w2) = change_p_values(&a, &a, 0.05).unwrap();
        assert!(c2 > 0.5 && w2 > 0.05, "{c2} {w2}");
    }

    #[test]
    fn median_and_quantile_by_hand() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(quantile(&[0.0, 10.0], 0.25), Some(2.5));
        let mut v = vec![5.0, 1.0, 4.0, 2.0];
        assert_eq!(median_in_place(&mut v), 3.0);
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn line_fit_recovers_slope() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y: Vec<f64> = x.iter().map(|v| 3.0 + 2.0 * v).collect();
        let f = fit_line(&x, &y).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-12 && (f.intercept - 3.0).abs() < 1e-12);
        assert!((f.r2 - 1.0).abs() < 1e-12);
        assert!(fit_line(&[1.0, 1.0], &[2.0, 3.0]).is_none());
    }

    #[test]
    fn nnls_clamps_negative_coefficient() {
        // y = 2 + 3x exactly: unconstrained and constrained agree.
        let x = [1.0, 2.0, 3.0, 4.0];
        let ones = vec![1.0; 4];
        let y: Vec<f64> = x.iter().map(|v| 2.0 + 3.0 * v).collect();
        let sol = nnls(&[ones.clone(), x.to_vec()], &y);
        assert!((sol[0] - 2.0).abs() < 1e-9 && (sol[1] - 3.0).abs() < 1e-9);
        // y = -1 + x: intercept would be negative; NNLS sets it to 0 and fits the slope alone:
        // slope = sum(x*y)/sum(x*x) = (0+2+6+12)/30 = 2/3.
        let y: Vec<f64> = x.iter().map(|v| v - 1.0).collect();
        let sol = nnls(&[ones, x.to_vec()], &y);
        assert_eq!(sol[0], 0.0);
        assert!((sol[1] - 20.0 / 30.0).abs() < 1e-12);
    }

    #[test]
    fn gamma_and_t_against_closed_forms_and_tables() {
        // Gamma(n) = (n-1)!, Gamma(1/2) = sqrt(pi).
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        assert!((ln_gamma(0.25) - 3.625_609_908_221_908_f64.ln()).abs() < 1e-12);
        // df = 1 is the Cauchy distribution, df = 2 has a closed form too.
        for t in [-30.0, -2.5, -0.3, 0.0, 0.7, 1.0, 4.0, 100.0] {
            let cauchy = 0.5 + f64::atan(t) / std::f64::consts::PI;
            assert!((student_t_cdf(t, 1.0) - cauchy).abs() < 1e-12, "df 1, t {t}");
            let two = 0.5 + t / (2.0 * (2.0 + t * t).sqrt());
            assert!((student_t_cdf(t, 2.0) - two).abs() < 1e-12, "df 2, t {t}");
        }
        // Two-sided 95% critical values from printed tables.
        for (df, t) in [(1.0, 12.706_204_7), (2.0, 4.302_652_7), (3.0, 3.182_446_3), (5.0, 2.570_581_8), (10.0, 2.228_138_9), (30.0, 2.042_272_5)] {
            let q = student_t_quantile(0.975, df);
            assert!((q - t).abs() < 1e-6, "df {df}: {q} against {t}");
        }
        // A large df approaches the normal quantile.
        assert!((student_t_quantile(0.975, 1e7) - 1.959_964).abs() < 1e-5);
        assert!((student_t_quantile(0.025, 3.0) + 3.182_446_3).abs() < 1e-6);
    }

    #[test]
    fn welch_combination_by_hand() {
        // 1 x mean(1, 2, 3) - 0.5 x mean(2, 4, 6): point 2 - 2 = 0; each mean's variance in the
        // sum 1/3 (1/3 and 0.25 x 4/3), so se = sqrt(2/3); df = (2/3)^2 / (2 x (1/3)^2 / 2) = 4.
        let (point, se, df) = welch_combination(&[(1.0, &[1.0, 2.0, 3.0]), (-0.5, &[2.0, 4.0, 6.0])]).unwrap();
        assert!(point.abs() < 1e-12 && (se - (2.0f64 / 3.0).sqrt()).abs() < 1e-12 && (df - 4.0).abs() < 1e-9, "{point} {se} {df}");
        assert_eq!(welch_combination(&[(1.0, &[5.0, 5.0])]), Some((5.0, 0.0, f64::INFINITY)));
        assert!(welch_combination(&[(1.0, &[1.0, 2.0]), (1.0, &[3.0])]).is_none());
    }

    #[test]
    fn welch_interval_by_hand() {
        // Logs of a: 0, ln 2, ln 4 (mean ln 2, var (ln 2)^2); b = 3 x a: the same spread.
        let a = [1.0, 2.0, 4.0];
        let b = [3.0, 6.0, 12.0];
        let ci = welch_log_ratio(&a, &b, 0.95).unwrap();
        assert!((ci.ratio - 3.0).abs() < 1e-12);
        // se^2 = 2 x (ln 2)^2 / 3; equal variances and sizes: df = 4; t(0.975, 4) = 2.776445.
        let half = 2.776_445_105 * (2.0 * 2f64.ln().powi(2) / 3.0).sqrt();
        assert!((ci.low - 3.0 * (-half).exp()).abs() < 1e-6 && (ci.high - 3.0 * half.exp()).abs() < 1e-6);
        assert!(welch_log_ratio(&[1.0], &b, 0.95).is_none());
        assert!(welch_log_ratio(&[1.0, 0.0], &b, 0.95).is_none());
        let flat = welch_log_ratio(&[2.0, 2.0, 2.0], &[5.0, 5.0, 5.0], 0.95).unwrap();
        assert!((flat.low - 2.5).abs() < 1e-12 && (flat.high - 2.5).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_interval_contains_true_ratio() {
        let a: Vec<f64> = (0..30).map(|i| 10.0 + (i % 5) as f64 * 0.1).collect();
        let b: Vec<f64> = a.iter().map(|v| v * 2.0).collect();
        let ci = bootstrap_median_ratio(&a, &b, 500, 0.95, 7).unwrap();
        assert!((ci.ratio - 2.0).abs() < 1e-12);
        assert!(ci.low <= 2.0 && ci.high >= 2.0 && ci.low > 1.9 && ci.high < 2.1);
    }
}
