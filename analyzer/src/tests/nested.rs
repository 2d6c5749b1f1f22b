//! Traces whose components nest: the Python recorder's `profile` of an mlx-lm llama (4 layers,
//! hidden 512, random weights, 128 and 256 tokens, this project's 2-core CPU), where `model`
//! holds `layers`, which holds `self_attn`, which holds `self_attn/q_proj`, ... Nothing may be
//! counted twice: sums are of the top-level components, parents equal their children plus their
//! self time, and recordings at different depths are separate workloads.

use std::path::PathBuf;

use crate::analysis::attribution::attribution;
use crate::analysis::facts::Facts;
use crate::analysis::tree::{distribution, TreeNode};
use crate::analysis::workload::workloads;
use crate::analysis::{overhead, ranking};
use crate::load::{load_files, LoadOptions};

fn lm(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../traces/lm").join(name)
}

const ALL_LEVELS: &str = "llama-4layers-512-128-256tokens.msgpack";
const DEPTH_2: &str = "llama-4layers-512-128-256tokens-depth2.msgpack";

fn facts(files: &[&str]) -> (crate::load::Dataset, Facts) {
    let paths: Vec<PathBuf> = files.iter().map(|f| lm(f)).collect();
    let ds = load_files(&paths, &LoadOptions::default()).unwrap();
    let f = Facts::from_dataset(&ds).unwrap();
    (ds, f)
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-12)
}

#[test]
fn nested_costs_are_counted_once() {
    let (_, f) = facts(&[ALL_LEVELS]);
    assert_eq!(f.parents.get("self_attn/q_proj").map(String::as_str), Some("self_attn"));
    assert_eq!(f.parents.get("self_attn").map(String::as_str), Some("layers"));
    assert_eq!(f.parents.get("model"), None);

    let sets = attribution(&f);
    assert_eq!(sets.len(), 2);
    for set in &sets {
        // The sum is the top-level components' (the model and the tied head called after it).
        let top: Vec<_> = set.comps.iter().filter(|c| c.parent.is_none()).collect();
        assert_eq!(top.len(), 2, "{:?}", top.iter().map(|c| &c.name).collect::<Vec<_>>());
        let top_sum: f64 = top.iter().map(|c| c.estimate.ms).sum();
        assert!(close(set.sum.ms, top_sum, 1e-9), "{} vs {top_sum}", set.sum.ms);
        // Every component summed would count the model several times over.
        let all: f64 = set.comps.iter().map(|c| c.estimate.ms).sum();
        assert!(all > 2.5 * set.fused.ms, "all {all} fused {}", set.fused.ms);
        assert!((set.sum.ms / set.fused.ms - 1.0).abs() < 0.10, "{} tokens: sum {} fused {}", set.tokens, set.sum.ms, set.fused.ms);
        // A parent's self cost plus its children's costs is its cost, interval included.
        let parents: Vec<_> = set.comps.iter().filter(|c| c.self_cost.is_some()).collect();
        assert!(parents.len() >= 4, "model, layers, self_attn, mlp");
        for p in parents {
            let kids: f64 = set.comps.iter().filter(|k| k.parent.as_deref() == Some(p.name.as_str())).map(|k| k.estimate.ms).sum();
            let own = p.self_cost.unwrap();
            assert!(close(own.ms + kids, p.estimate.ms, 1e-9), "{}: self {} + children {kids} vs {}", p.name, own.ms, p.estimate.ms);
            let ([lo, hi], [plo, phi]) = (own.ci95.unwrap(), p.estimate.ci95.unwrap());
            assert!(lo < own.ms && own.ms < hi && plo < p.estimate.ms && p.estimate.ms < phi);
        }
    }

    // The tree: every node is the sum of its children; the root is the top-level sum.
    let t = distribution(&f, None).unwrap();
    fn check(n: &TreeNode) {
        if !n.children.is_empty() {
            let kids: f64 = n.children.iter().map(|c| c.ns).sum();
            assert!(close(n.ns, kids, 1e-9), "{}: {} vs children {kids}", n.name, n.ns);
            n.children.iter().for_each(check);
        }
    }
    check(&t.root);
    let at = sets.iter().find(|s| s.tokens == t.tokens).unwrap();
    assert!(close(t.root.ns / 1e6, at.sum.ms, 1e-9));
    let model = t.root.children.iter().find(|c| c.name == "model").unwrap();
    let layers = model.children.iter().find(|c| c.name == "layers").unwrap();
    assert!(layers.children.iter().any(|c| c.name == "self") && layers.children.iter().any(|c| c.name == "self_attn"));
    let attn = layers.children.iter().find(|c| c.name == "self_attn").unwrap();
    assert!(attn.children.iter().any(|c| c.name == "q_proj"), "children named relative to their parent");

    // The ranking: shares of the top-level sum, parents marked as groups without a priority claim.
    let r = ranking::rank(&f, None).unwrap();
    assert!(close(r.total_ms, at.sum.ms, 1e-9));
    let row = |name: &str| r.rows.iter().find(|x| x.name == name).unwrap();
    assert!(row("model").group && row("layers").group && !row("self_attn/q_proj").group);
    assert_eq!(row("self_attn/q_proj").parent.as_deref(), Some("self_attn"));
    assert!(row("model").attention.p_support >= 1.0, "a group makes no claim of its own");
    assert!(r.rows.iter().all(|x| x.share <= 1.0 + 1e-9));

    // The synced sum counts each event once: within 20% of the fused forward, not +280%.
    let o = overhead::overhead(&f);
    for row in &o.rows {
        let pct = row.synced_sum_pct.unwrap();
        assert!(pct.abs() < 20.0, "{} tokens: synced sum {pct:+.1}%", row.tokens);
    }
}

#[test]
fn recordings_at_different_depths_are_separate_workloads() {
    let (ds, _) = facts(&[ALL_LEVELS, DEPTH_2]);
    let w = workloads(&ds);
    assert_eq!(w.len(), 2, "{:?}", w.iter().map(|x| &x.label).collect::<Vec<_>>());
    assert!(w[0].components > w[1].components);
    assert_ne!(w[0].label, w[1].label);
    // No resolution to name for a language model.
    assert!(!w[0].label.contains("resolution"), "{}", w[0].label);
}
