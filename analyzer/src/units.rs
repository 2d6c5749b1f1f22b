//! Numbers as a reader wants them: milliseconds with sensible precision, shares, intervals, and
//! rates and sizes scaled to their unit (MB/s to TB/s, GFLOP/s to TFLOP/s), so that nothing
//! that is not zero prints as 0 of a unit. Shared by every renderer and by the analyses' words.

/// Milliseconds with sensible precision.
pub(crate) fn ms(v: f64) -> String {
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
pub(crate) fn interval_ms([lo, hi]: [f64; 2]) -> String {
    format!("{} to {} ms", ms(lo), ms(hi))
}

/// A 0..1 fraction as a percentage.
pub(crate) fn pct(v: f64) -> String {
    if v > 0.0 && v < 0.001 {
        "<0.1%".into()
    } else {
        no_negative_zero(format!("{:.1}%", v * 100.0))
    }
}

/// A whole number with thousands separators: `607,914,936,721`.
pub(crate) fn thousands(n: u64) -> String {
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
pub(crate) fn no_negative_zero(text: String) -> String {
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
pub(crate) fn flops_rate(v: f64) -> String {
    scaled(v, "FLOP/s", &[("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15)])
}

/// Bytes per second scaled from kB/s to TB/s (decimal units, as bandwidths are quoted).
pub(crate) fn bytes_rate(v: f64) -> String {
    scaled(v, "B/s", &[("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)])
}

/// Bytes scaled from kB to TB.
#[cfg(test)]
pub(crate) fn bytes(v: f64) -> String {
    scaled(v, "B", &[("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)])
}

/// A percentage (already in percent) with its sign, `+1.5%`; `0.0%` where it rounds to zero.
pub(crate) fn signed_pct(v: f64) -> String {
    let text = format!("{v:+.1}%");
    if text == "+0.0%" || text == "-0.0%" { "0.0%".into() } else { text }
}

/// Bytes in GiB, two decimals (the unit is in the column header).
pub(crate) fn gib(v: f64) -> String {
    format!("{:.2}", v / (1u64 << 30) as f64)
}

/// Bytes in GiB with a sign, `+0.25`; `0.00` where it rounds to zero.
pub(crate) fn gib_signed(v: f64) -> String {
    let text = format!("{:+.2}", v / (1u64 << 30) as f64);
    if text == "-0.00" || text == "+0.00" { "0.00".into() } else { text }
}

/// A relative difference (0.0123 for 1.23%): a percentage, or in exponent notation where a
/// percentage with two decimals would read 0.00% (an output drift of 1e-6).
pub(crate) fn relative(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x >= 0.001 {
        format!("{:.2}%", x * 100.0)
    } else {
        format!("{x:.1e}")
    }
}

/// A list of items joined as a sentence reads it: `5, 11 or 21`.
pub(crate) fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// A ratio of times in words: `21,000x faster`, `1.15x slower`, `same`.
pub(crate) fn ratio_words(ratio: f64) -> String {
    if !ratio.is_finite() || ratio <= 0.0 {
        return "-".into();
    }
    if (ratio - 1.0).abs() < 0.005 {
        return "same".into();
    }
    let (factor, word) = if ratio < 1.0 { (1.0 / ratio, "faster") } else { (ratio, "slower") };
    format!("{}x {word}", factor_text(factor))
}

/// A factor of at least 1 with precision that reads: 1.15, 12.3, 210, 21,000.
pub(crate) fn factor_text(f: f64) -> String {
    if f < 10.0 {
        format!("{f:.2}")
    } else if f < 100.0 {
        format!("{f:.1}")
    } else {
        // Two significant digits for large factors, with thousands separators.
        let digits = f.log10().floor() as i32;
        let step = 10f64.powi((digits - 1).max(0));
        thousands(((f / step).round() * step) as u64)
    }
}

/// A ratio further than this factor from 1 either way is written in words: three decimals of
/// 0.0003 (a CPU against a GPU) say nothing.
const IN_WORDS_BEYOND: f64 = 100.0;

/// Whether a ratio (or speedup) is far enough from 1 to be written in words.
pub(crate) fn ratio_in_words(v: f64) -> bool {
    v > 0.0 && !(1.0 / IN_WORDS_BEYOND..=IN_WORDS_BEYOND).contains(&v)
}

/// A ratio with three decimals, `1.250`, or in words when far from 1 (`2,800x faster`).
pub(crate) fn ratio_text(v: f64) -> String {
    if ratio_in_words(v) { ratio_words(v) } else { format!("{v:.3}") }
}

/// A speedup (baseline over group): `1.299x`, or the time ratio in words when far from 1.
pub(crate) fn speedup_text(speedup: f64) -> String {
    if ratio_in_words(speedup) { ratio_words(1.0 / speedup) } else { format!("{speedup:.3}x") }
}

/// An interval of a ratio of times: `0.951-1.120`, or in words where both ends are far from 1
/// on the same side (`2,700-3,100x faster`).
pub(crate) fn ratio_interval(low: f64, high: f64) -> String {
    if low > 0.0 && high < 1.0 / IN_WORDS_BEYOND {
        format!("{}-{}x faster", factor_text(1.0 / high), factor_text(1.0 / low))
    } else if low > IN_WORDS_BEYOND {
        format!("{}-{}x slower", factor_text(low), factor_text(high))
    } else {
        format!("{}-{}", ratio_text(low), ratio_text(high))
    }
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

    #[test]
    fn signed_values_never_print_negative_zero() {
        assert_eq!(signed_pct(53.25), "+53.2%");
        assert_eq!(signed_pct(-1.5), "-1.5%");
        assert_eq!(signed_pct(-0.04), "0.0%");
        assert_eq!(signed_pct(0.04), "0.0%");
        let g = (1u64 << 30) as f64;
        assert_eq!(gib(1.5 * g), "1.50");
        assert_eq!(gib(0.0), "0.00");
        assert_eq!(gib_signed(0.25 * g), "+0.25");
        assert_eq!(gib_signed(-2.0 * g), "-2.00");
        assert_eq!(gib_signed(-0.001 * g), "0.00");
        assert_eq!(no_negative_zero("-0.0%".into()), "0.0%");
        assert_eq!(no_negative_zero("-0.1%".into()), "-0.1%");
    }

    #[test]
    fn relative_differences_and_lists() {
        assert_eq!(relative(0.0), "0");
        assert_eq!(relative(0.0123), "1.23%");
        assert_eq!(relative(0.00042), "4.2e-4");
        assert_eq!(or_list(&[]), "");
        assert_eq!(or_list(&["5".into()]), "5");
        assert_eq!(or_list(&["5".into(), "11".into()]), "5 or 11");
        assert_eq!(or_list(&["5".into(), "11".into(), "21".into()]), "5, 11 or 21");
    }

    #[test]
    fn ratios_far_from_one_are_words() {
        assert_eq!(ratio_text(1.25), "1.250");
        assert_eq!(ratio_text(0.5), "0.500");
        assert_eq!(ratio_text(0.0), "0.000");
        assert_eq!(ratio_text(4.71e-5), "21,000x faster");
        assert_eq!(ratio_text(250.0), "250x slower");
        assert_eq!(speedup_text(1.299), "1.299x");
        assert_eq!(speedup_text(2830.0), "2,800x faster");
        assert_eq!(ratio_interval(0.951, 1.12), "0.951-1.120");
        assert_eq!(ratio_interval(1.0 / 3100.0, 1.0 / 2700.0), "2,700-3,100x faster");
        assert_eq!(ratio_interval(210.0, 260.0), "210-260x slower");
        assert_eq!(factor_text(12.34), "12.3");
        assert_eq!(ratio_words(1.002), "same");
    }
}
