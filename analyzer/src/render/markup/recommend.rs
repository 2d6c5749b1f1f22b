//! Recommendations, with the saving each one's evidence supports.

use crate::analysis::Report;
use crate::units::ms;

use super::Block;

/// The recommendations section, and the claims this recording does not support.
pub(super) fn blocks(doc: &mut Vec<Block>, report: &Report, h: u8) {
    doc.push(Block::Heading(h, "Recommendations".into()));
    if report.recommendations.is_empty() {
        doc.push(Block::Paragraph("None that this recording supports.".into()));
    } else {
        doc.push(Block::List(
            report
                .recommendations
                .iter()
                .map(|r| {
                    let saving = match (r.saving_ms > 0.0, r.saving_ci95_ms) {
                        (true, Some([lo, hi])) => format!(" (saves {} to {} ms per forward)", ms(lo.max(0.0)), ms(hi)),
                        (true, None) => format!(" (up to {} ms per forward)", ms(r.saving_ms)),
                        _ => String::new(),
                    };
                    format!("{}{saving}. {}", r.title, r.detail)
                })
                .collect(),
        ));
    }
    if !report.not_supported.is_empty() {
        doc.push(Block::Paragraph(format!("Not supported by this recording: {}.", report.not_supported.join("; "))));
    }
}
