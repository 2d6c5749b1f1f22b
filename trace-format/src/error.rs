//! Errors of reading and writing traces.

use std::path::PathBuf;

/// Why a trace could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing to an in-memory or other writer failed.
    #[error("write failed: {0}")]
    Write(#[from] std::io::Error),
    /// A value could not be encoded.
    #[error("cannot encode trace value: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// The file is empty.
    #[error("empty file, not a trace")]
    Empty,
    /// The file is not an mlx-trace file at all.
    #[error("not an mlx-trace file: {0}")]
    NotATrace(String),
    /// The file is a trace of a format version this reader does not know.
    #[error("unsupported trace format version {found} (this reader supports version {expected})")]
    UnsupportedVersion {
        /// Version found in the file.
        found: u64,
        /// Version this crate reads.
        expected: u32,
    },
    /// The header is a trace header but damaged.
    #[error("damaged trace header: {0}")]
    BadHeader(String),
    /// Reading a named file failed: the path, then the reason.
    /// (Not a `source`: the message already includes it.)
    #[error("{path}: {reason}")]
    File {
        /// The file concerned.
        path: PathBuf,
        /// What was wrong with its content.
        reason: Box<Error>,
    },
}
