//! The time distribution: the component tree as indented text, like the seed report's.

use crate::analysis::tree::TreeNode;
use crate::analysis::Report;
use crate::units::{ms, pct};

use super::{in_words, method_words, Block, ChartKind};

/// The distribution section, when there is one.
pub(super) fn blocks(doc: &mut Vec<Block>, report: &Report, sec: Option<usize>, h: u8) {
    let Some(d) = &report.distribution else { return };
    doc.push(Block::Heading(h, format!("Time distribution ({}, {})", in_words(report, d.frames, d.tokens), method_words(d.method))));
    doc.push(Block::Pre(tree_text(&d.root)));
    if let (Some(fused), Some(rest)) = (d.fused_ms, d.rest_ms) {
        doc.push(Block::Paragraph(format!(
            "Shares of the attributed costs' sum, {} ms; the plain fused forward took {} ms, so {} ms are unattributed (the interaction between components that no single duplicate accounts for, and noise).",
            ms(d.root.ns / 1e6),
            ms(fused),
            ms(rest)
        )));
    }
    doc.push(Block::Chart(ChartKind::Distribution, sec));
}

/// A node's share with its interval, or "< noise".
fn node_share(n: &TreeNode) -> String {
    match (n.below_noise, n.share_ci95) {
        (true, _) => "< noise".into(),
        (false, Some([lo, hi])) => format!("{} ({} to {})", pct(n.share), pct(lo.max(0.0)), pct(hi)),
        _ => pct(n.share),
    }
}

/// The tree as indented text with box-drawing branches, like the seed report's.
pub(crate) fn tree_text(root: &TreeNode) -> String {
    let mut out = String::new();
    for top in &root.children {
        out.push_str(&format!("{}: {}\n", top.name, node_share(top)));
        walk(&mut out, top, "  ");
    }
    out
}

fn walk(out: &mut String, node: &TreeNode, prefix: &str) {
    let n = node.children.len();
    for (i, c) in node.children.iter().enumerate() {
        let last = i + 1 == n;
        out.push_str(&format!("{prefix}{} {}: {}\n", if last { "└──" } else { "├──" }, c.name, node_share(c)));
        walk(out, c, &format!("{prefix}{}", if last { "    " } else { "│   " }));
    }
}
