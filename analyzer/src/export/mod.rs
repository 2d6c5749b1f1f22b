//! Exports of the loaded data (not of the analyses): the tidy events table as CSV and Parquet,
//! and one run as a Chrome trace-event JSON for Perfetto or speedscope. Every exporter
//! implements [`Export`] and writes to any `Write`; [`export_to_file`] writes atomically.

pub mod chrome_trace;
pub mod csv;
pub mod parquet;
pub mod summary;

use std::io::Write;
use std::path::Path;

use crate::error::Result;
use crate::load::Dataset;
use crate::output::write_atomic_with;
use crate::tables::runs::{FRAMES, RUN, SYNC, TOKENS, VARIANT, WARMUP};

/// An export of the loaded data.
pub trait Export {
    /// Writes the export.
    fn write(&self, ds: &Dataset, out: &mut dyn Write) -> Result<()>;
}

/// Writes an export into `path` through a temporary file.
pub fn export_to_file(exporter: &dyn Export, ds: &Dataset, path: &Path) -> Result<()> {
    write_atomic_with(path, |w| exporter.write(ds, w))
}

/// Columns of the exported tidy table, in order: the file, the run's keys (as the runs table
/// names them), the event.
pub(crate) const TIDY_COLUMNS: [&str; 11] = ["file", RUN, VARIANT, SYNC, WARMUP, FRAMES, TOKENS, "component", "block", "start_ns", "duration_ns"];
