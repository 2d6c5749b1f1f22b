//! The mlx-trace file format: what `mlx-record` writes and `mlx-analyze` reads.
//!
//! A trace is a stream of MessagePack values (see `docs/trace-format.md`):
//! one [`Header`], then any number of [`Record`]s, then [`Record::End`]. Records are written
//! and flushed one at a time, so a recording cut short leaves a readable prefix: the reader
//! returns every complete record and flags the trace as incomplete.
//!
//! ```
//! use trace_format::{Header, RunRecord, SyncMode, TraceWriter, read_trace};
//!
//! let mut writer = TraceWriter::new(Vec::new(), &Header::new(Default::default())).unwrap();
//! let mut run = RunRecord::new(0, "baseline", SyncMode::Component, 5, 3120);
//! let ffn = run.component("block/ffn", 2.0e9, 1.0e8);
//! run.push_event(ffn, Some(0), 1_000, 250_000);
//! writer.add_run(&run).unwrap();
//! let bytes = writer.finish().unwrap();
//!
//! let trace = read_trace(&bytes).unwrap();
//! assert!(trace.complete);
//! assert_eq!(trace.runs[0].events().next().unwrap().duration_ns, 250_000);
//! ```
#![deny(missing_docs)]

mod error;
mod reader;
mod run_decoder;
pub mod taxonomy;
mod types;
mod writer;

pub use error::Error;
pub use reader::{read_trace, read_trace_file, Trace, MAX_DEPTH};
pub use types::{
    BandwidthProbe, Calibration, ComponentInfo, Drift, Event, EventView, Header, Metadata, MatmulProbe, ModelConfig, PerturbKind,
    Perturbation, Record, RunRecord, SetupRecord, SyncMode, FORMAT_VERSION, MAGIC,
};
pub use types::memory_ceiling;
pub use writer::{partial_path, special_kind, TraceFile, TraceWriter};
