//! Held-out prediction on the committed H200 recordings: the 81-frame (32,760-token) forward
//! predicted from the 5- and 21-frame trace alone, against what the 81-frame trace measured.
//! Two lengths fit the built-in components' time against their work, whose form in L is known;
//! the forward is the sum of the components. The errors are in docs/statistics.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn traces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces")
}

fn json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_mlx-analyze")).args(args).args(["--quiet", "--format", "json", "-o", "-"]).output().unwrap();
    assert!(out.status.success(), "mlx-analyze {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_81_frame_forward_is_predicted_from_5_and_21_frames() {
    let fit = traces().join("h200-lingbot14b-bf16-attributed-5-21frames.msgpack");
    let held_out = traces().join("h200-lingbot14b-bf16-attributed-81frames.msgpack");
    let predicted = json(&[fit.to_str().unwrap(), "--predict-frames", "81"]);
    let measured = json(&[held_out.to_str().unwrap()]);

    let ranking = &measured["ranking"];
    assert_eq!(ranking["method"], "attributed");
    assert_eq!(ranking["tokens"], 32760);
    let rows = ranking["rows"].as_array().unwrap();
    let sum: f64 = rows.iter().map(|r| r["ms_per_forward"].as_f64().unwrap()).sum();
    let fused = ranking["fused_ms"].as_f64().unwrap();

    let predictions = predicted["predictions"].as_array().unwrap();
    let at = |name: &str| predictions.iter().find(|p| p["component"] == name && p["tokens"] == 32760);
    let forward = at("forward").expect("a forward prediction from two lengths");
    assert_eq!(forward["model"], "component_sum");
    let f = forward["ms_per_forward"].as_f64().unwrap();
    println!("forward: predicted {f:.1} ms, measured attributed sum {sum:.1} ({:+.1}%), fused {fused:.1} ({:+.1}%)", 100.0 * (f / sum - 1.0), 100.0 * (f / fused - 1.0));
    assert!((f / sum - 1.0).abs() < 0.05, "forward {f} against the attributed sum {sum}");
    assert!((f / fused - 1.0).abs() < 0.05, "forward {f} against the fused median {fused}");

    // Every component of at least 5% of the forward within 10% of its measured cost.
    let mut checked = 0;
    for r in rows {
        let (name, ms) = (r["name"].as_str().unwrap(), r["ms_per_forward"].as_f64().unwrap());
        let p = at(name).unwrap_or_else(|| panic!("{name}: no prediction"));
        assert_eq!(p["model"], "work", "{name}");
        let pm = p["ms_per_forward"].as_f64().unwrap();
        println!("{name:28} predicted {pm:8.1} measured {ms:8.1} {:+6.1}%", 100.0 * (pm / ms - 1.0));
        if ms / sum >= 0.05 {
            checked += 1;
            assert!((pm / ms - 1.0).abs() < 0.10, "{name}: predicted {pm} against {ms}");
        }
    }
    assert!(checked >= 5, "only {checked} components of at least 5%");
}
