//! A recording stopped in the middle of an attributed round leaves components never perturbed at
//! its last frame count. The ranking there must say that its costs and shares lack them, instead
//! of ranking the components it has as if they were the whole forward.

use std::process::Command;

use trace_format::{read_trace, SyncMode, TraceWriter};
use trace_synth::{generate, SynthSpec};

fn analyze(bytes: &[u8], name: &str) -> (serde_json::Value, String) {
    let dir = std::env::temp_dir().join(format!("mlx-analyze-incomplete-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.msgpack");
    std::fs::write(&path, bytes).unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_mlx-analyze")).arg(&path).args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let json = serde_json::from_str(&run(&["--format", "json", "-o", "-", "--frames", "9"])).unwrap();
    let text = run(&["-o", "-", "--frames", "9"]);
    let _ = std::fs::remove_dir_all(&dir);
    (json, text)
}

#[test]
fn components_never_perturbed_at_a_frame_count_are_named() {
    let spec = SynthSpec { frames: vec![5, 9], runs: 4, syncs: vec![SyncMode::None, SyncMode::Attributed], ..SynthSpec::default() };
    let full = generate(&spec, true);
    let trace = read_trace(&full).unwrap();
    let dropped = ["block/ffn/up", "block/self_attn/sdpa"];
    let mut w = TraceWriter::new(Vec::new(), &trace.header).unwrap();
    for c in &trace.calibrations {
        w.add_calibration(c).unwrap();
    }
    let mut removed = 0;
    for r in &trace.runs {
        let target = r.perturbation.as_ref().and_then(|p| p.target.as_deref());
        if r.frames == 9 && target.is_some_and(|t| dropped.contains(&t)) {
            removed += 1;
            continue;
        }
        w.add_run(r).unwrap();
    }
    assert!(removed > 0, "the synthetic trace must perturb the dropped components");
    let cut = w.finish().unwrap();

    let (json, text) = analyze(&cut, "cut");
    let missing: Vec<&str> = json["ranking"]["missing"].as_array().expect("missing listed").iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(missing, dropped.to_vec());
    assert!(text.contains("Incomplete attribution at 9 frames"), "{text}");

    // The complete trace names nothing.
    let (json, text) = analyze(&full, "full");
    assert!(json["ranking"].get("missing").is_none(), "{}", json["ranking"]["missing"]);
    assert!(!text.contains("Incomplete attribution"));
}
