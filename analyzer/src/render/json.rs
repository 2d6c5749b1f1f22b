//! JSON for machines: the whole [`Report`] as serialised by serde.

use crate::analysis::Report;
use crate::error::Result;

use super::Render;

/// Pretty-printed JSON.
pub(crate) struct JsonRender;

impl Render for JsonRender {
    fn render(&self, report: &Report) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(report)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}
