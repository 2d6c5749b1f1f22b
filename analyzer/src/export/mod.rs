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

/// An export of the loaded data.
pub trait Export {
    /// Writes the export.
    fn write(&self, ds: &Dataset, out: &mut dyn Write) -> Result<()>;
}

/// Writes an export into `path` through a temporary file.
pub fn export_to_file(exporter: &dyn Export, ds: &Dataset, path: &Path) -> Result<()> {
    write_atomic_with(path, |w| exporter.write(ds, w))
}

/// Columns of the exported tidy table, in order.
pub const TIDY_COLUMNS: [&str; 11] =
    ["file", "run", "variant", "sync", "warmup", "frames", "tokens", "component", "block", "start_ns", "duration_ns"];

/// Per-run values needed to spell out an event row.
pub(crate) struct RunLookup {
    pub file: Vec<String>,
    pub run: Vec<u32>,
    pub variant: Vec<String>,
    pub sync: Vec<String>,
    pub warmup: Vec<bool>,
    pub frames: Vec<u32>,
    pub tokens: Vec<u64>,
}

impl RunLookup {
    pub(crate) fn new(ds: &Dataset) -> Result<Self> {
        let runs = &ds.runs;
        let trace = runs.column("trace_id")?.u32()?;
        let s = |name: &str| -> Result<Vec<String>> {
            Ok(runs.column(name)?.str()?.iter().map(|v| v.unwrap_or("").to_string()).collect())
        };
        Ok(RunLookup {
            file: trace.iter().map(|t| ds.trace_info.get(t.unwrap_or(0) as usize).map(|i| i.file.clone()).unwrap_or_default()).collect(),
            run: runs.column("run")?.u32()?.iter().map(|v| v.unwrap_or(0)).collect(),
            variant: s("variant")?,
            sync: s("sync")?,
            warmup: runs.column("warmup")?.bool()?.iter().map(|v| v.unwrap_or(false)).collect(),
            frames: runs.column("frames")?.u32()?.iter().map(|v| v.unwrap_or(0)).collect(),
            tokens: runs.column("tokens")?.u64()?.iter().map(|v| v.unwrap_or(0)).collect(),
        })
    }
}

/// The events with run and component spelled out (joins on `run_id` and `component_id`).
pub fn tidy_events(ds: &Dataset) -> Result<DataFrame> {
    let look = RunLookup::new(ds)?;
    let n = look.run.len();
    let runs = DataFrame::new(
        n,
        vec![
            Column::new("run_id".into(), (0..n as u32).collect::<Vec<u32>>()),
            Column::new("file".into(), look.file),
            Column::new("run".into(), look.run),
            Column::new("variant".into(), look.variant),
            Column::new("sync".into(), look.sync),
            Column::new("warmup".into(), look.warmup),
            Column::new("frames".into(), look.frames),
            Column::new("tokens".into(), look.tokens),
        ],
    )?;
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
        .left_join(runs.lazy(), col("run_id"), col("run_id"))
        .left_join(names.lazy(), col("component_id"), col("component_id"))
        .select(cols)
        .collect()?)
}
