//! Attributed recording of the tiny model on the CPU: the schedule is complete, the component
//! costs add up to the fused forward, and a component made deliberately more expensive is
//! charged the extra cost. The costs are computed here with plain arithmetic (median duplicate
//! minus median reference, over the copies), independent of the analyzer's estimator; medians,
//! because on a shared 2-core machine a few runs of a recording are often several times slower
//! than the rest, and one such run moves a mean of five by more than the tolerances below.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use crate::cli::Opt;
use crate::machine::Backend;
use crate::session;
use trace_format::{PerturbKind, SyncMode, read_trace_file};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlx-record-attribution-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Costs {
    fused_ns: f64,
    /// Per component: cost per forward (ns), duplicate runs, invocations per forward.
    comps: BTreeMap<String, (f64, usize, u32)>,
    references: usize,
    controls: usize,
    /// Median peak memory of the references and of the controls, bytes.
    peaks: (f64, f64),
}

fn record(name: &str, inflate: Option<(&str, u32)>) -> Costs {
    let out = temp_dir(name).join("t.msgpack");
    let args = [
        "mlx-record", "--preset", "tiny", "--frames", "5", "--height", "240", "--width", "416", "--runs", "5", "--sync",
        "attributed", "--copies", "4", "--no-calibrate", "--quiet", "--out",
    ];
    let mut plan = Opt::parse_from(args.iter().copied().chain([out.to_str().unwrap()])).to_plan(Backend::Cpu).unwrap();
    plan.inflate = inflate.map(|(n, k)| (n.to_string(), k));
    let header = session::header(&plan, "test");
    session::record(&plan, &header).unwrap();
    let trace = read_trace_file(&out).unwrap();
    assert!(trace.complete);
    let mean = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        if n % 2 == 1 { s[n / 2] } else { 0.5 * (s[n / 2 - 1] + s[n / 2]) }
    };
    let mut refs = Vec::new();
    let mut controls = 0;
    let (mut ref_peaks, mut control_peaks) = (Vec::new(), Vec::new());
    let mut dups: BTreeMap<String, (Vec<f64>, u32, u32)> = BTreeMap::new();
    for run in trace.runs.iter().filter(|r| !r.warmup) {
        assert_eq!(run.sync, SyncMode::Attributed);
        let p = run.perturbation.as_ref().expect("attributed runs carry their perturbation");
        match p.kind {
            PerturbKind::Reference => {
                refs.push(run.forward_ns as f64);
                ref_peaks.push(run.peak_memory_bytes as f64);
            }
            PerturbKind::Control => {
                controls += 1;
                control_peaks.push(run.peak_memory_bytes as f64);
                assert!(p.reduced_bytes > 0);
            }
            PerturbKind::Duplicate => {
                assert_eq!(p.copies, 4);
                assert!(p.reduced_bytes > 0 && p.target_calls > 0);
                let e = dups.entry(p.target.clone().unwrap()).or_insert((Vec::new(), p.copies, p.target_calls));
                e.0.push(run.forward_ns as f64);
            }
        }
    }
    let fused = mean(&refs);
    let comps = dups.into_iter().map(|(n, (v, k, calls))| (n, ((mean(&v) - fused) / k as f64, v.len(), calls))).collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Costs { fused_ns: fused, comps, references: refs.len(), controls, peaks: (median(ref_peaks), median(control_peaks)) }
}

/// The timing claims of one plain and one inflated recording that are out of tolerance: the
/// attributed sums within 25% of their fused forwards, the inflation well above the noise and
/// charged to its component. The recordings' structure is asserted outright.
fn timing_problems(attempt: u32) -> Vec<String> {
    let mut problems = Vec::new();
    let plain = record(&format!("plain-{attempt}"), None);
    // Every stage of the tiny model (4 embeddings + 17 block components + head) perturbed once
    // per round, with its invocations per forward.
    assert_eq!(plain.comps.len(), 4 + 17 + 1, "{:?}", plain.comps.keys().collect::<Vec<_>>());
    for (name, (_, runs, calls)) in &plain.comps {
        assert_eq!(*runs, 5, "{name}");
        assert_eq!(*calls, if name.starts_with("block/") { 2 } else { 1 }, "{name}");
    }
    assert_eq!(plain.controls, 5);
    // The extra outputs are reduced where their stage runs: reducing every stage's outputs keeps
    // no more memory alive than the plain forward (a reduction left for the end of the forward
    // kept every block's outputs: +40% here, out of memory at 32,760 tokens on a GPU).
    assert!(plain.peaks.1 <= 1.1 * plain.peaks.0, "control peak {} against reference peak {}", plain.peaks.1, plain.peaks.0);
    assert!(plain.references >= 5 * 2, "several references per round: {}", plain.references);

    // On a shared 2-core CPU the tiny model's sum came within -3% to +15% of its forward over
    // repeated runs (docs/attribution.md); the GPU and the larger CPU model come within 3-5%.
    let sum: f64 = plain.comps.values().map(|c| c.0).sum();
    let error = sum / plain.fused_ns - 1.0;
    if error.abs() >= 0.25 {
        problems.push(format!("attributed sum {sum} ns against fused {} ns ({:+.1}%)", plain.fused_ns, 100.0 * error));
    }

    // The FFN up-projection with 6 extra copies of its work in every invocation, in every run.
    let inflated = record(&format!("inflated-{attempt}"), Some(("block/ffn/up", 6)));
    let extra = inflated.fused_ns - plain.fused_ns;
    if extra <= 0.15 * plain.fused_ns {
        problems.push(format!("the inflation must be well above the noise: {extra} of {}", plain.fused_ns));
    }
    let charged = inflated.comps["block/ffn/up"].0 - plain.comps["block/ffn/up"].0;
    if (charged / extra - 1.0).abs() >= 0.3 {
        problems.push(format!("charged {charged} ns of an extra {extra} ns"));
    }
    // The inflated recording accounts for its own forward as the plain one does: the extra is
    // not charged a second time to other components. (Comparing the other components across the
    // two recordings instead mixes two recordings' noise, which on a busy 2-core machine reached
    // 90% of the extra.)
    let inflated_sum: f64 = inflated.comps.values().map(|c| c.0).sum();
    let inflated_error = inflated_sum / inflated.fused_ns - 1.0;
    if inflated_error.abs() >= 0.25 {
        problems.push(format!("inflated: attributed sum {inflated_sum} ns against fused {} ns", inflated.fused_ns));
    }
    problems
}

#[test]
fn attribution_sums_to_the_fused_forward_and_charges_an_inflated_component() {
    let _serial = super::common::serial();
    // Timing on a shared 2-core machine has slow spells (one failure in six full test runs);
    // the claims must hold in one of three attempts in a row, as the API's test asks.
    let mut attempts = vec![timing_problems(1)];
    while !attempts.last().unwrap().is_empty() && attempts.len() < 3 {
        attempts.push(timing_problems(attempts.len() as u32 + 1));
    }
    assert!(attempts.last().unwrap().is_empty(), "out of tolerance {} times in a row: {attempts:?}", attempts.len());
}
