//! Numbers as a reader wants them: milliseconds with sensible precision, shares, intervals, and
//! rates and sizes scaled to their unit (MB/s to TB/s, GFLOP/s to TFLOP/s), so that nothing
//! that is not zero prints as 0 of a unit. Shared by every renderer and by the analyses' words.

/// Milliseconds with sensible precision.
pub fn ms(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.001 || a == 0.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1e}")
    }
}

/// An interval of milliseconds, `12.3 to 14.1 ms`.
pub fn interval_ms([lo, hi]: [f64; 2]) -> String {
    format!("{} to {} ms", ms(lo), ms(hi))
}

/// A 0..1 fraction as a percentage.
pub fn pct(v: f64) -> String {
    if v > 0.0 && v < 0.001 {
        "<0.1%".into()
    } else {
        no_negative_zero(format!("{:.1}%", v * 100.0))
    }
}

/// A whole number with thousands separators: `607,914,936,721`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (k, ch) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `-0.0...` (a tiny negative number rounded) written without its sign.
pub fn no_negative_zero(text: String) -> String {
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| !c.is_ascii_digit() || c == '0') => rest.to_string(),
        _ => text,
    }
}

/// A value with the largest SI prefix (k, M, G, T, P) that leaves at least 1, three significant
/// digits, and the unit: `flops_rate`/`bytes_rate` build on it.
fn scaled(v: f64, unit: &str, prefixes: &[(&str, f64)]) -> String {
    let a = v.abs();
    let (p, f) = prefixes.iter().rev().find(|(_, f)| a >= *f).copied().unwrap_or(prefixes[0]);
    let x = v / f;
    let digits = if x.abs() >= 100.0 { 0 } else if x.abs() >= 10.0 { 1 } else { 2 };
    format!("{x:.digits$} {p}{unit}")
}

/// FLOP/s scaled from MFLOP/s to PFLOP/s.
pub fn flops_rate(v: f64) -> String {
    scaled(v, "FLOP/s", &[("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15)])
}

/// Bytes per second scaled from kB/s to TB/s (decimal units, as bandwidths are quoted).
pub fn bytes_rate(v: f64) -> String {
    scaled(v, "B/s", &[("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)])
}

/// Bytes scaled from kB to TB.
pub fn bytes(v: f64) -> String {
    scaled(v, "B", &[("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(20_000_000), "20,000,000");
        assert_eq!(thousands(607_914_936_721), "607,914,936,721");
    }

    #[test]
    fn rates_scale_and_never_print_zero() {
        assert_eq!(flops_rate(2.5e14), "250 TFLOP/s");
        assert_eq!(flops_rate(1.73e11), "173 GFLOP/s");
        assert_eq!(flops_rate(4.2e7), "42.0 MFLOP/s");
        assert_eq!(bytes_rate(3.35e12), "3.35 TB/s");
        assert_eq!(bytes_rate(8.0e8), "800 MB/s");
        assert_eq!(bytes_rate(1.5e4), "15.0 kB/s");
        assert_eq!(bytes(2.0e9), "2.00 GB");
        // Small but not zero: never "0".
        for v in [1e-4, 0.0004, 3e-6] {
            assert!(!ms(v).trim_start_matches(['0', '.']).is_empty(), "{}", ms(v));
        }
        assert_eq!(ms(0.0), "0.000");
        assert_eq!(pct(0.0004), "<0.1%");
        assert_eq!(pct(-0.00001), "0.0%");
    }
}
