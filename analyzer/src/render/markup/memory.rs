//! Memory per frame count.

use crate::analysis::memory::Memory;
use crate::units::gib;

use super::{Block, Table};

/// The memory section: active and peak memory per frame count.
pub(super) fn blocks(doc: &mut Vec<Block>, memory: &Memory, h: u8) {
    doc.push(Block::Heading(h, "Memory".into()));
    let mut t = Table::new(&["Frames", "Tokens", "Runs", "Active, median (GiB)", "Peak, max (GiB)"]);
    for m in &memory.by_frames {
        t.rows.push(vec![m.frames.to_string(), m.tokens.to_string(), m.runs.to_string(), gib(m.active_median_bytes), gib(m.peak_max_bytes as f64)]);
    }
    doc.push(Block::Table(t));
}
