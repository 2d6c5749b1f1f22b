//! Small numeric helpers: medians and quantiles, least squares, non-negative least squares for
//! a handful of unknowns, and the bootstrap of a ratio of medians.

use crate::synth::SplitMix;

/// Median of the values (NaN-free); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// Linear-interpolated quantile `q` in [0, 1]; `None` when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Some(quantile_sorted(&v, q))
}

/// Quantile of sorted values.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Median by selection (reorders `values`); the mean of the two middle values for even lengths.
pub fn median_in_place(values: &mut [f64]) -> f64 {
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
pub struct LineFit {
    /// Intercept.
    pub intercept: f64,
    /// Slope.
    pub slope: f64,
    /// Coefficient of determination.
    pub r2: f64,
}

/// Ordinary least squares on (x, y); `None` with fewer than two distinct x.
pub fn fit_line(x: &[f64], y: &[f64]) -> Option<LineFit> {
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
pub fn r_squared(y: &[f64], predicted: &[f64]) -> f64 {
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
pub fn nnls(columns: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let k = columns.len();
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
fn least_squares(columns: &[&[f64]], y: &[f64]) -> Option<Vec<f64>> {
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

/// Bootstrap percentile interval of median(b) / median(a).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioInterval {
    /// median(b) / median(a) on the data.
    pub ratio: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// Resamples `a` and `b` with replacement `resamples` times and returns the percentile
/// interval at `level` (e.g. 0.95) of the ratio of medians. `None` when either side is empty or
/// a median is zero.
pub fn bootstrap_median_ratio(a: &[f64], b: &[f64], resamples: usize, level: f64, seed: u64) -> Option<RatioInterval> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let ma = median(a)?;
    let mb = median(b)?;
    if ma == 0.0 {
        return None;
    }
    let ratio = mb / ma;
    let mut rng = SplitMix::new(seed);
    let mut ra = vec![0.0; a.len()];
    let mut rb = vec![0.0; b.len()];
    let mut ratios = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for v in ra.iter_mut() {
            *v = a[rng.below(a.len())];
        }
        for v in rb.iter_mut() {
            *v = b[rng.below(b.len())];
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bootstrap_interval_contains_true_ratio() {
        let a: Vec<f64> = (0..30).map(|i| 10.0 + (i % 5) as f64 * 0.1).collect();
        let b: Vec<f64> = a.iter().map(|v| v * 2.0).collect();
        let ci = bootstrap_median_ratio(&a, &b, 500, 0.95, 7).unwrap();
        assert!((ci.ratio - 2.0).abs() < 1e-12);
        assert!(ci.low <= 2.0 && ci.high >= 2.0 && ci.low > 1.9 && ci.high < 2.1);
    }
}
