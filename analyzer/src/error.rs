//! Errors of the analyzer library: loading, analysing, rendering and exporting.
//!
//! Every message contains its cause, so [`std::error::Error::source`] returns `None`: printers
//! that walk the chain (`anyhow`'s `{:#}`) would otherwise print the OS error twice.

use std::fmt;
use std::path::PathBuf;

/// Why an analyzer step failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    Io {
        /// The file concerned (for outputs: the destination, not its temporary file).
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing to a stream failed.
    Write(std::io::Error),
    /// A command-line path pattern is malformed.
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// None of the inputs was a readable trace.
    NothingLoaded(usize),
    /// A DataFrame operation failed.
    Table(polars::error::PolarsError),
    /// A chart could not be drawn.
    Chart {
        /// Which chart.
        chart: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// JSON encoding failed.
    Json(serde_json::Error),
    /// The request cannot be served by the loaded data.
    Invalid(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Write(e) => write!(f, "write failed: {e}"),
            Error::Pattern { pattern, reason } => write!(f, "bad file pattern {pattern:?}: {reason}"),
            Error::NothingLoaded(n) => write!(f, "no readable traces among {n} input file(s)"),
            Error::Table(e) => write!(f, "table operation failed: {e}"),
            Error::Chart { chart, reason } => write!(f, "chart {chart}: {reason}"),
            Error::Json(e) => write!(f, "cannot encode JSON: {e}"),
            Error::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Write(e)
    }
}

impl From<polars::error::PolarsError> for Error {
    fn from(e: polars::error::PolarsError) -> Self {
        Error::Table(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e)
    }
}

impl Error {
    /// The OS error behind this one, if any (for callers that react to its kind).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            Error::Io { source, .. } | Error::Write(source) => Some(source),
            _ => None,
        }
    }
}

/// Result with the analyzer's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
