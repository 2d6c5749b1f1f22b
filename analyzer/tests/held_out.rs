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

/// The forward and each component at the held-out length: (name, predicted, measured) and the
/// measured attributed sum and fused median.
struct HeldOut {
    forward: f64,
    sum: f64,
    fused: f64,
    rows: Vec<(String, f64, f64)>,
}

fn held_out(fit: &Path, held_out: &Path, frames: u32, tokens: u64) -> HeldOut {
    let predicted = json(&[fit.to_str().unwrap(), "--predict-frames", &frames.to_string()]);
    let measured = json(&[held_out.to_str().unwrap()]);

    let ranking = &measured["ranking"];
    assert_eq!(ranking["method"], "attributed");
    assert_eq!(ranking["tokens"], tokens);
    let rows = ranking["rows"].as_array().unwrap();
    let sum: f64 = rows.iter().map(|r| r["ms_per_forward"].as_f64().unwrap()).sum();
    let fused = ranking["fused_ms"].as_f64().unwrap();
    let predictions = predicted["predictions"].as_array().unwrap();
    let at = |name: &str| predictions.iter().find(|p| p["component"] == name && p["tokens"] == tokens);
    let forward = at("forward").expect("a forward prediction from two lengths");
    assert_eq!(forward["model"], "component_sum");
    let f = forward["ms_per_forward"].as_f64().unwrap();
    println!("forward: predicted {f:.1} ms, measured attributed sum {sum:.1} ({:+.1}%), fused {fused:.1} ({:+.1}%)", 100.0 * (f / sum - 1.0), 100.0 * (f / fused - 1.0));
    let rows = rows
        .iter()
        .map(|r| {
            let (name, ms) = (r["name"].as_str().unwrap(), r["ms_per_forward"].as_f64().unwrap());
            let p = at(name).unwrap_or_else(|| panic!("{name}: no prediction"));
            assert_eq!(p["model"], "work", "{name}");
            let pm = p["ms_per_forward"].as_f64().unwrap();
            println!("{name:28} predicted {pm:8.2} measured {ms:8.2} share {:5.1}% {:+6.1}%", 100.0 * ms / sum, 100.0 * (pm / ms - 1.0));
            (name.to_string(), pm, ms)
        })
        .collect();
    HeldOut { forward: f, sum, fused, rows }
}

/// Components of at least `share` of the measured sum, each within `tolerance` of its cost.
fn large_components_within(h: &HeldOut, share: f64, tolerance: f64) -> usize {
    let large: Vec<_> = h.rows.iter().filter(|(_, _, ms)| ms / h.sum >= share).collect();
    for (name, pm, ms) in &large {
        assert!((pm / ms - 1.0).abs() < tolerance, "{name}: predicted {pm} against {ms}");
    }
    large.len()
}

#[test]
fn the_81_frame_forward_is_predicted_from_5_and_21_frames() {
    let h = held_out(
        &traces().join("h200-lingbot14b-bf16-attributed-5-21frames.msgpack"),
        &traces().join("h200-lingbot14b-bf16-attributed-81frames.msgpack"),
        81,
        32760,
    );
    assert!((h.forward / h.sum - 1.0).abs() < 0.05, "forward {} against the attributed sum {}", h.forward, h.sum);
    assert!((h.forward / h.fused - 1.0).abs() < 0.05, "forward {} against the fused median {}", h.forward, h.fused);
    assert!(large_components_within(&h, 0.05, 0.10) >= 5);
}

/// The tiny model on a 2-core CPU (`mlx-record --preset tiny --height 192 --width 336 --cpu`,
/// `--frames 5,9 --max-time 90s` and, in another process, `--frames 13 --max-time 60s`): noisier,
/// so the bounds are wider.
#[test]
fn the_13_frame_cpu_forward_is_predicted_from_5_and_9_frames() {
    let dir = traces().join("held-out");
    let h = held_out(&dir.join("cpu-tiny-192x336-5-9frames.msgpack"), &dir.join("cpu-tiny-192x336-13frames.msgpack"), 13, 1008);
    assert!((h.forward / h.sum - 1.0).abs() < 0.10, "forward {} against the attributed sum {}", h.forward, h.sum);
    assert!((h.forward / h.fused - 1.0).abs() < 0.15, "forward {} against the fused median {}", h.forward, h.fused);
    assert!(large_components_within(&h, 0.10, 0.15) >= 2);
}
