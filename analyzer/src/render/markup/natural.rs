//! Natural experiments: what a variant removes, its attributed cost against the fused time it
//! saves.

use crate::analysis::attribution::Estimate;
use crate::analysis::natural::NaturalExperiment;
use crate::units::{ms, signed_pct};

use super::{opt, yes_no, Block, Table};

/// The natural-experiments section, when a variant removes components.
pub(super) fn blocks(doc: &mut Vec<Block>, natural: &[NaturalExperiment], h: u8) {
    if natural.is_empty() {
        return;
    }
    doc.push(Block::Heading(h, "Natural experiments: what a variant removes, attributed and saved".into()));
    let mut t = Table::new(&["Variant", "Frames", "Tokens", "Removed", "attributed cost (ms)", "95% interval", "fused saving (ms)", "95% interval", "attributed vs saving", "intervals overlap"]);
    let ci = |e: &Estimate| e.ci95.map_or_else(|| "-".to_string(), |[lo, hi]| format!("{} to {}", ms(lo), ms(hi)));
    for n in natural {
        t.rows.push(vec![
            n.variant.clone(),
            n.frames.to_string(),
            n.tokens.to_string(),
            n.removed.join(", "),
            ms(n.attributed.ms),
            ci(&n.attributed),
            ms(n.saving.ms),
            ci(&n.saving),
            opt(n.difference_pct, signed_pct),
            n.agree.map_or("-".into(), yes_no),
        ]);
    }
    doc.push(Block::Table(t));
    doc.push(Block::Paragraph("A variant that computes some components once per clip instead of in every forward measures what they cost by the fused time it saves: an independent check of their attributed cost (the baseline's, from duplicating their work). Both from the same recording; the saving's interval combines the two variants' fused references.".into()));
}
