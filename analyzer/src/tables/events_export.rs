//! The format of the Parquet events export (`--export-parquet`), shared by its writer
//! ([`crate::export::parquet`]) and its reader ([`crate::load_parquet`]): the columns of its
//! rows, and the JSON document under [`EXPORT_KEY`] that holds what the rows do not.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use trace_format::{Calibration, Metadata, RunRecord, SetupRecord};

use super::runs::{FRAMES, RUN, SYNC, TOKENS, VARIANT, WARMUP};

/// Key of the file-level metadata that marks a Parquet file as an export of this analyzer.
pub const EXPORT_KEY: &str = "mlx-trace.export";
/// The `kind` of an events export in that document.
pub(crate) const EXPORT_KIND: &str = "mlx-analyze events";
/// Version of the embedded document (and of the columns).
pub(crate) const EXPORT_VERSION: u32 = 1;

/// The index of the row's trace in the document's list.
pub(crate) const TRACE: &str = "trace";
/// The event's component, by name.
pub(crate) const COMPONENT: &str = "component";
/// The event's block, NULL outside the blocks.
pub(crate) const BLOCK: &str = "block";
/// The event's start, from the start of the run.
pub(crate) const START_NS: &str = "start_ns";
/// The event's duration.
pub(crate) const DURATION_NS: &str = "duration_ns";

/// The run's own keys on every row, as the runs table names them (in this order).
pub(crate) const RUN_KEY_COLUMNS: [&str; 6] = [VARIANT, SYNC, FRAMES, TOKENS, RUN, WARMUP];

/// Columns of the exported events, in order: the keys of a run, on every row (its trace: `file`
/// and the trace's machine, backend, GPU, dtype, model and resolution; and the run itself,
/// `RUN_KEY_COLUMNS`), then the event.
pub const EVENT_COLUMNS: [&str; 19] = [
    TRACE, "file", "machine", "backend", "gpu", "dtype", "preset", "blocks", "resolution", VARIANT, SYNC, FRAMES, TOKENS, RUN, WARMUP,
    COMPONENT, BLOCK, START_NS, DURATION_NS,
];

/// The embedded document: what the events rows do not hold.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ExportDoc {
    /// Always [`EXPORT_KIND`].
    pub(crate) kind: String,
    /// [`EXPORT_VERSION`] when written by this version.
    pub(crate) version: u32,
    /// One entry per trace; the `trace` column indexes this list.
    pub(crate) traces: Vec<TraceDoc>,
}

/// One trace of an export: its runs without their events (the rows hold them).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TraceDoc {
    /// The trace's name as it was loaded.
    pub(crate) file: String,
    /// Header metadata.
    pub(crate) metadata: Metadata,
    /// The first calibration record.
    pub(crate) calibration: Option<Calibration>,
    /// Whether the trace had its end marker.
    pub(crate) complete: bool,
    /// One-off setup costs.
    pub(crate) setups: Vec<SetupRecord>,
    /// The runs loaded (warm-up runs only when loaded with them), with component costs and
    /// no events: each one [`crate::tables::runs::Run::to_record`] of a row of the runs table.
    pub(crate) runs: Vec<RunRecord>,
    /// Event rows of each run, in the order of `runs`: the reader checks the rows against
    /// them, so an export whose rows were removed or duplicated is refused. Empty in exports
    /// written before it existed (not checked then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) event_counts: Vec<u64>,
}

/// Index of every (trace, run as recorded) in the document, for readers.
pub(crate) fn run_index(doc: &ExportDoc) -> HashMap<(u32, u32), (usize, usize)> {
    let mut index = HashMap::new();
    for (t, trace) in doc.traces.iter().enumerate() {
        for (r, run) in trace.runs.iter().enumerate() {
            index.insert((t as u32, run.run), (t, r));
        }
    }
    index
}
