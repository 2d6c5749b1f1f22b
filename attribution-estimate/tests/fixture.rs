//! One synthetic attribution set (slow runs and a drift included) with the estimator's results,
//! kept as a JSON fixture: the Python recorder's port of the estimator
//! (`python/mlx_trace/estimate.py`) is checked against the same file, so both give the same
//! answers. `UPDATE_FIXTURE=1 cargo test -p attribution-estimate --test fixture` rewrites it
//! after a deliberate change of the estimator.

use attribution_estimate::{Role, TargetSpec, Timed, clean, cost, fused, precision, schedule};
use serde_json::{Value, json};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/synthetic-set.json");

/// Deterministic run times: a 100 ms forward drifting 0.4% per run, three targets of 20, 5 and
/// 1 ms duplicated 4 times, a control 2 ms dearer, alternating +-1% noise and two slow runs.
fn runs() -> (Vec<Timed>, Vec<TargetSpec>) {
    let costs = [20.0, 5.0, 1.0];
    let specs: Vec<TargetSpec> = costs.iter().map(|_| TargetSpec { copies: 4.0, reduced_fraction: 1.0 / 3.0 }).collect();
    let mut runs = Vec::new();
    for r in 0..6 {
        for role in schedule::round(r, costs.len()) {
            let i = runs.len();
            let truth = match role {
                Role::Reference => 100.0,
                Role::Control => 102.0,
                Role::Duplicate(t) => 100.0 + 4.0 * costs[t] + 2.0 / 3.0,
            };
            let noise = [1.01, 0.99, 1.004, 0.996, 1.0, 1.007, 0.993][i % 7];
            let slow = if i == 7 || i == 22 { 1.8 } else { 1.0 };
            runs.push(Timed { role, order: i as f64, time: truth * noise * slow * (0.004 * i as f64).exp() });
        }
    }
    (runs, specs)
}

fn results() -> Value {
    let (runs, specs) = runs();
    let c = clean(&runs, specs.len());
    let cost_json = |which: &[usize]| {
        let e = cost(&c.samples, &specs, which).unwrap();
        json!({"value": e.value, "half": e.half})
    };
    let p = precision(&c.samples, &specs);
    let f = fused(&c.samples).unwrap();
    json!({
        "runs": runs.iter().map(|r| json!({
            "role": match r.role { Role::Reference => "reference".to_string(), Role::Control => "control".to_string(), Role::Duplicate(i) => format!("duplicate:{i}") },
            "order": r.order,
            "time": r.time,
        })).collect::<Vec<_>>(),
        "specs": specs.iter().map(|s| json!({"copies": s.copies, "reduced_fraction": s.reduced_fraction})).collect::<Vec<_>>(),
        "expected": {
            "slow_runs": c.slow_runs,
            "kept": [c.samples.references.len(), c.samples.controls.len(), c.samples.targets.iter().map(Vec::len).collect::<Vec<_>>()],
            "drift": c.drift.map(|d| json!({"change": d.change, "ci95": d.ci95, "corrected": d.corrected})),
            "robust_sd": c.robust_sd,
            "costs": (0..specs.len()).map(|i| cost_json(&[i])).collect::<Vec<_>>(),
            "sum": cost_json(&[0, 1, 2]),
            "fused": {"value": f.value, "half": f.half},
            "precision": {"sum": p.sum, "components": p.components},
        }
    })
}

#[test]
fn the_fixture_matches_the_estimator() {
    let now = results();
    if std::env::var_os("UPDATE_FIXTURE").is_some() {
        std::fs::write(PATH, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).expect("fixture present")).unwrap();
    assert_eq!(stored, now, "the estimator's results changed: rerun with UPDATE_FIXTURE=1 if that was meant, then the Python tests");
    // The fixture exercises what it is for.
    assert_eq!(now["expected"]["slow_runs"], 2);
    assert_eq!(now["expected"]["drift"]["corrected"], true);
}
