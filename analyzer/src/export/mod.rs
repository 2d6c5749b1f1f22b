//! Exports of the loaded data (not of the analyses): the tidy events table as CSV and Parquet,
//! and one run as a Chrome trace-event JSON for Perfetto or speedscope. Every exporter
//! implements [`Export`] and writes to any `Write`; [`export_to_file`] writes atomically.

pub mod chrome_trace;
pub mod csv;
pub mod parquet;
pub mod summary;

use std::io::Write;
use std::path::Path;

use polars::prelude::*;

use crate::error::Result;
use crate::load::Dataset;
use crate::output::write_atomic_with;
use crate::tables::runs::{FRAMES, RUN, RUN_COLUMNS, RUN_ID, SYNC, TOKENS, VARIANT, WARMUP};

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
pub const TIDY_COLUMNS: [&str; 11] = ["file", RUN, VARIANT, SYNC, WARMUP, FRAMES, TOKENS, "component", "block", "start_ns", "duration_ns"];

/// The events with run and component spelled out (joins on `run_id` and `component_id`).
pub fn tidy_events(ds: &Dataset) -> Result<DataFrame> {
    let n = ds.runs.len();
    let file: Vec<&str> = ds.runs.iter().map(|r| ds.trace_info.get(r.trace_id as usize).map_or("", |i| i.file.as_str())).collect();
    let mut columns = vec![Column::new(RUN_ID.into(), (0..n as u32).collect::<Vec<u32>>()), Column::new(TIDY_COLUMNS[0].into(), file)];
    columns.extend(crate::tables::select(RUN_COLUMNS, &ds.runs, &TIDY_COLUMNS[1..7])?);
    let runs = DataFrame::new(n, columns)?;
    let names = DataFrame::new(
        ds.component_names.len(),
        vec![
            Column::new("component_id".into(), (0..ds.component_names.len() as u32).collect::<Vec<u32>>()),
            Column::new("component".into(), ds.component_names.clone()),
        ],
    )?;
    let cols: Vec<Expr> = TIDY_COLUMNS.iter().map(|c| col(*c)).collect();
    Ok(ds
        .events
        .clone()
        .lazy()
        .left_join(runs.lazy(), col(RUN_ID), col(RUN_ID))
        .left_join(names.lazy(), col("component_id"), col("component_id"))
        .select(cols)
        .collect()?)
}
