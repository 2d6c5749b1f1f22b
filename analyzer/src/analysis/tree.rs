//! Distribution tree: the summed component time split into blocks and overhead, then by the
//! `/`-separated path of each component name (or by seed bucket), with shares of the total.

use serde::Serialize;

use super::facts::{Area, Facts};
use super::ranking::{default_frames, snapshot, Method};
use super::uncertainty::{combine, interval};

/// A node of the tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TreeNode {
    /// Label (path segment or bucket).
    pub(crate) name: String,
    /// Median time per forward summed over the node's components, ns.
    pub(crate) ns: f64,
    /// Share of the root's time, 0..1.
    pub(crate) share: f64,
    /// 95% interval of `share`; `None` without draws.
    pub(crate) share_ci95: Option<[f64; 2]>,
    /// The node's cost cannot be told from zero (its interval reaches zero, or it is not
    /// positive): no share is stated for it.
    pub(crate) below_noise: bool,
    /// Draws of `ns` (summed over the node's components); `None` when one lacks draws.
    #[serde(skip)]
    draws: Option<Vec<f64>>,
    /// Whether a component without draws was added.
    #[serde(skip)]
    undrawn: bool,
    /// Children, largest first.
    pub(crate) children: Vec<TreeNode>,
}

/// The distribution at one frame count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Distribution {
    /// Where the times come from.
    pub(crate) method: Method,
    /// Attributed: the mean plain fused forward, ms.
    pub(crate) fused_ms: Option<f64>,
    /// Attributed: fused forward minus the summed costs, ms.
    pub(crate) rest_ms: Option<f64>,
    /// Frame count.
    pub(crate) frames: u32,
    /// Tokens.
    pub(crate) tokens: u64,
    /// Root (`Forward`), children `Blocks` and `Overhead`.
    pub(crate) root: TreeNode,
}

/// Builds the tree at `frames` (largest frame count when `None`).
pub(crate) fn distribution(facts: &Facts, frames: Option<u32>) -> Option<Distribution> {
    let frames = frames.or_else(|| default_frames(facts))?;
    let snap = snapshot(facts, frames)?;
    if !facts.parents.is_empty() {
        return Some(nested(facts, &snap, frames));
    }
    let mut root = TreeNode::new("Forward");
    for c in &snap.comps {
        let (top, rest) = match c.area {
            Area::Blocks => ("Blocks", c.name.strip_prefix("block/").unwrap_or(&c.name)),
            Area::Overhead => ("Overhead", c.name.as_str()),
        };
        let mut path = vec![top];
        path.extend(rest.split('/').filter(|s| !s.is_empty()));
        insert(&mut root, &path, c.total_ns, c.draws.as_deref());
    }
    // Both areas are always shown, even when empty.
    for top in ["Blocks", "Overhead"] {
        if !root.children.iter().any(|c| c.name == top) {
            root.children.push(TreeNode::new(top));
        }
    }
    let total = root.ns;
    let total_draws = root.draws.clone().filter(|_| !root.undrawn);
    finish(&mut root, total, total_draws.as_deref());
    root.children.sort_by_key(|c| if c.name == "Blocks" { 0 } else { 1 });
    Some(Distribution { method: snap.method, fused_ms: snap.fused_ns.map(|v| v / 1e6), rest_ms: snap.rest_ns.map(|v| v / 1e6), frames, tokens: snap.tokens, root })
}

/// The tree of a trace whose components nest (a module and its sub-modules): each component
/// under its parent, a parent's own work as a `self` child (its cost minus its children's), so
/// every time is counted once and the nodes add up to their parents.
fn nested(facts: &Facts, snap: &super::ranking::Snapshot, frames: u32) -> Distribution {
    let present = |name: &str| snap.comps.iter().any(|c| c.name == name);
    let parent_of = |name: &str| facts.parents.get(name).filter(|p| present(p)).cloned();
    let mut root = TreeNode::new("Forward");
    for c in &snap.comps {
        // The chain from the top-level ancestor down to this component (a cycle stops it).
        let mut chain = vec![c.name.clone()];
        while let Some(p) = parent_of(chain.last().expect("not empty")) {
            if chain.contains(&p) || chain.len() > 64 {
                break;
            }
            chain.push(p);
        }
        chain.reverse();
        let mut path: Vec<String> = Vec::with_capacity(chain.len() + 1);
        for (i, name) in chain.iter().enumerate() {
            let shown = if i == 0 { name.as_str() } else { name.strip_prefix(&format!("{}/", chain[i - 1])).unwrap_or(name) };
            path.push(shown.to_string());
        }
        let children: Vec<_> = snap.comps.iter().filter(|k| parent_of(&k.name).as_deref() == Some(c.name.as_str())).collect();
        let (ns, draws) = if children.is_empty() {
            (c.total_ns, c.draws.clone())
        } else {
            path.push("self".into());
            let ns = c.total_ns - children.iter().map(|k| k.total_ns).sum::<f64>();
            let draws = c.draws.as_ref().and_then(|own| {
                let mut d = own.clone();
                for k in &children {
                    let kd = k.draws.as_ref()?;
                    d.iter_mut().zip(kd).for_each(|(a, b)| *a -= b);
                }
                Some(d)
            });
            (ns, draws)
        };
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        insert(&mut root, &refs, ns, draws.as_deref());
    }
    let total = root.ns;
    let total_draws = root.draws.clone().filter(|_| !root.undrawn);
    finish(&mut root, total, total_draws.as_deref());
    Distribution { method: snap.method, fused_ms: snap.fused_ns.map(|v| v / 1e6), rest_ms: snap.rest_ns.map(|v| v / 1e6), frames, tokens: snap.tokens, root }
}

impl TreeNode {
    fn new(name: &str) -> Self {
        TreeNode { name: name.to_string(), ns: 0.0, share: 0.0, share_ci95: None, below_noise: false, children: Vec::new(), draws: None, undrawn: false }
    }
}

fn insert(node: &mut TreeNode, path: &[&str], ns: f64, draws: Option<&[f64]>) {
    node.ns += ns;
    match draws {
        Some(d) => match &mut node.draws {
            Some(acc) => acc.iter_mut().zip(d).for_each(|(a, b)| *a += b),
            None => node.draws = Some(d.to_vec()),
        },
        None => node.undrawn = true,
    }
    let Some((first, rest)) = path.split_first() else { return };
    let i = match node.children.iter().position(|c| c.name == *first) {
        Some(i) => i,
        None => {
            node.children.push(TreeNode::new(first));
            node.children.len() - 1
        }
    };
    insert(&mut node.children[i], rest, ns, draws);
}

fn finish(node: &mut TreeNode, total: f64, total_draws: Option<&[f64]>) {
    node.share = if total > 0.0 { node.ns / total } else { 0.0 };
    let own = node.draws.as_deref().filter(|_| !node.undrawn);
    node.below_noise = (node.draws.is_some() || node.undrawn) && node.ns <= 0.0 || own.and_then(interval).is_some_and(|[lo, _]| lo <= 0.0);
    node.share_ci95 = own.zip(total_draws).and_then(|(d, t)| interval(&combine(&[d, t], |v| v[0] / v[1])));
    for c in &mut node.children {
        finish(c, total, total_draws);
    }
    node.children.sort_by(|a, b| b.ns.total_cmp(&a.ns).then_with(|| a.name.cmp(&b.name)));
}
