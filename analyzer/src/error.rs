//! Errors of the analyzer library: loading, analysing, rendering and exporting.

use std::path::PathBuf;

/// Why an analyzer step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing to a stream failed.
    #[error("write failed: {0}")]
    Write(#[from] std::io::Error),
    /// A command-line path pattern is malformed.
    #[error("bad file pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// None of the inputs was a readable trace.
    #[error("no readable traces among {0} input file(s)")]
    NothingLoaded(usize),
    /// A DataFrame operation failed.
    #[error("table operation failed: {0}")]
    Table(#[from] polars::error::PolarsError),
    /// A chart could not be drawn.
    #[error("chart {chart}: {reason}")]
    Chart {
        /// Which chart.
        chart: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// JSON encoding failed.
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The request cannot be served by the loaded data.
    #[error("{0}")]
    Invalid(String),
}

/// Result with the analyzer's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
