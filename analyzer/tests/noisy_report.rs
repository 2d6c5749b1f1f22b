//! A report of noisy CPU recordings (committed attributed traces of wan-1.3b on 2 cores) states no
//! negative share anywhere and prints no rate as zero of a unit: costs whose interval reaches
//! zero read "< noise".

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mlx-analyze")).args(args).current_dir(root).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

const TRACES: [&str; 2] = [
    "traces/repeats/cpu-wan1.3b-2blocks-f32-240x416-attributed-only-copies2.msgpack",
    "traces/repeats/cpu-wan1.3b-2blocks-f32-240x416-attributed-full-warmup.msgpack",
];

fn walk(node: &serde_json::Value, bad: &mut Vec<String>) {
    if node["share"].as_f64().is_some_and(|s| s < 0.0) && node["below_noise"] != serde_json::Value::Bool(true) {
        bad.push(node["name"].to_string());
    }
    for c in node["children"].as_array().into_iter().flatten() {
        walk(c, bad);
    }
}

#[test]
fn noisy_recordings_state_no_negative_share_and_no_zero_rate() {
    for trace in TRACES {
        let json: serde_json::Value = serde_json::from_str(&run(&[trace, "--format", "json", "-o", "-"])).unwrap();
        let mut bad = Vec::new();
        for row in json["ranking"]["rows"].as_array().into_iter().flatten() {
            if row["share"].as_f64().is_some_and(|s| s <= 0.0) && row["below_noise"] != serde_json::Value::Bool(true) {
                bad.push(row["name"].to_string());
            }
        }
        // The trace must hold what the test is about: a cost estimated below zero.
        assert!(
            json["ranking"]["rows"].as_array().unwrap().iter().any(|r| r["ms_per_forward"].as_f64().unwrap() < 0.0),
            "{trace}: no negative cost, the test would prove nothing"
        );
        walk(&json["distribution"]["root"], &mut bad);
        assert!(bad.is_empty(), "{trace}: negative shares not marked below the noise: {bad:?}");

        let md = run(&[trace, "--format", "markdown", "-o", "-"]);
        for line in md.lines().filter(|l| l.starts_with("| block/") || l.starts_with("| embed/") || l.starts_with("| head")) {
            let share = line.split('|').nth(2).unwrap_or("").trim();
            assert!(!share.starts_with('-'), "{trace}: negative share in {line}");
        }
        for line in md.lines() {
            assert!(!line.contains("  ├── ") || !line.contains(": -"), "{trace}: negative share in the tree: {line}");
            for unit in ["FLOP/s", "B/s"] {
                for (i, _) in line.match_indices(unit) {
                    let before: String = line[..i].chars().rev().take_while(|c| *c != '|' && *c != '(').collect::<String>().chars().rev().collect();
                    let number: String = before.trim().split(' ').next().unwrap_or("").to_string();
                    if let Ok(v) = number.parse::<f64>() {
                        assert!(v != 0.0, "{trace}: a rate printed as 0: {line}");
                    }
                }
            }
        }
    }
}

/// Whether `text` holds a negative percentage ("-1.3%"), not a range ("1.0%-1.3%", "504-1008").
fn negative_percent(text: &str) -> Option<String> {
    let b = text.as_bytes();
    for (i, _) in text.match_indices('-') {
        let starts_number = i == 0 || matches!(b[i - 1], b' ' | b'(' | b'[');
        let digits: String = text[i + 1..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        if starts_number && !digits.is_empty() && text[i + 1 + digits.len()..].starts_with('%') {
            return Some(format!("-{digits}%"));
        }
    }
    None
}

/// The demo's recording under load (tiny model, 100 s cap): the three norms' summed cost is below
/// zero at 1,008 tokens. The seed claims say "< noise" there, never a negative share.
#[test]
fn seed_claims_state_no_negative_share() {
    let trace = "traces/noisy/cpu-tiny-192x336-5-9-13frames-demo-100s.msgpack";
    let json: serde_json::Value = serde_json::from_str(&run(&[trace, "--format", "json", "-o", "-"])).unwrap();
    let norms = json["seed_claims"]["norms"].as_array().unwrap();
    assert!(norms.iter().any(|n| n["all"].as_f64().unwrap() < 0.0), "no negative norms share: the test would prove nothing");
    let md = run(&[trace, "--format", "markdown", "-o", "-"]);
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| (b)") || l.starts_with("| (e)")).collect();
    assert!(rows.len() >= 2, "seed claim rows missing");
    for line in rows {
        // The seed's own column quotes the seed; only ours must not be negative.
        let ours = line.split('|').nth(3).unwrap_or("");
        assert_eq!(negative_percent(ours), None, "negative share in {line}");
    }
    assert_eq!(negative_percent("L = 504-1008: 1.0%-1.3% (synced: 2.8%-3.6%)"), None);
    assert_eq!(negative_percent("norm1+norm2+norm3 -1.3%-2.4%"), Some("-1.3%".into()));
}

/// A rate above a calibrated ceiling is called an excess beyond the noise only when the whole
/// interval of the utilisation (the cost's interval, inverted) lies above 100%. On the committed
/// H100 trace at 21 frames, qk_norm is above over its whole interval while block/modulation
/// reaches above 100% only at its point estimate.
#[test]
fn ceiling_excesses_are_judged_with_their_interval() {
    let trace = "traces/h100/h100-lingbot14b-bf16-attributed-5-21frames-calibrated.msgpack";
    let json: serde_json::Value = serde_json::from_str(&run(&[trace, "--format", "json", "-o", "-"])).unwrap();
    let rows = json["ranking"]["rows"].as_array().unwrap();
    let excesses = json["ranking"]["above_ceiling"].as_array().unwrap();
    assert!(!excesses.is_empty(), "the trace must hold an excess, or the test proves nothing");
    let mut flags = Vec::new();
    for x in excesses {
        let name = x["name"].as_str().unwrap();
        let row = rows.iter().find(|r| r["name"] == name).unwrap();
        let key = if x["ceiling"] == "bandwidth" { "bytes_util" } else { "flops_util" };
        let util = row[key].as_f64().unwrap();
        assert!(util > 1.0 && (x["util"].as_f64().unwrap() - util).abs() < 1e-12);
        // By hand: utilisation is proportional to 1/time.
        let ms = row["ms_per_forward"].as_f64().unwrap();
        let (lo, hi) = (row["ci95_ms"][0].as_f64().unwrap(), row["ci95_ms"][1].as_f64().unwrap());
        let (ulo, uhi) = (util * ms / hi, util * ms / lo);
        assert!((x["util_ci95"][0].as_f64().unwrap() - ulo).abs() < 1e-9 && (x["util_ci95"][1].as_f64().unwrap() - uhi).abs() < 1e-9);
        assert_eq!(x["beyond_noise"].as_bool().unwrap(), ulo > 1.0, "{name}");
        flags.push((name.to_string(), ulo > 1.0));
    }
    assert!(flags.contains(&("block/self_attn/qk_norm".into(), true)), "{flags:?}");
    assert!(flags.contains(&("block/modulation".into(), false)), "{flags:?}");
    let text = run(&[trace, "-o", "-"]);
    assert!(text.contains("Above 100% within the noise: block/modulation"), "the report names the excess within the noise");
}
