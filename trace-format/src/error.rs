//! Errors of reading and writing traces.
//!
//! Every message already contains its cause (the OS error, the decoder's reason), so
//! [`std::error::Error::source`] returns `None`: printers that walk the chain (`anyhow`'s
//! `{:#}`) would otherwise repeat the cause.

use std::fmt;
use std::path::PathBuf;

/// Why a trace could not be written or read.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The file system refused.
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing to an in-memory or other writer failed.
    Write(std::io::Error),
    /// A value could not be encoded.
    Encode(rmp_serde::encode::Error),
    /// The file to create exists already (another recording's `.partial`, or a finished trace).
    Exists {
        /// The file that is in the way.
        path: PathBuf,
        /// What it probably is, for the message.
        what: String,
    },
    /// The destination exists and is not a regular file (a device, a FIFO, a directory):
    /// renaming over it would replace it.
    NotRegular {
        /// The destination.
        path: PathBuf,
        /// What it is ("a character device", ...).
        kind: &'static str,
    },
    /// Writing a record failed part-way through a recording: the runs written before are kept.
    Record {
        /// The `.partial` file.
        path: PathBuf,
        /// Completed runs in it.
        runs: u32,
        /// Why writing failed.
        source: std::io::Error,
    },
    /// The file is empty.
    Empty,
    /// The file is not an mlx-trace file at all.
    NotATrace(String),
    /// The file is a trace of a format version this reader does not know.
    UnsupportedVersion {
        /// Version found in the file.
        found: u64,
        /// Version this crate reads.
        expected: u32,
    },
    /// The header is a trace header but damaged.
    BadHeader(String),
    /// Reading a named file failed: the path, then the reason.
    File {
        /// The file concerned.
        path: PathBuf,
        /// What was wrong with its content.
        reason: Box<Error>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Write(e) => write!(f, "write failed: {e}"),
            Error::Encode(e) => write!(f, "cannot encode trace value: {e}"),
            Error::Exists { path, what } => write!(f, "{} exists ({what})", path.display()),
            Error::NotRegular { path, kind } => {
                write!(f, "{} is {kind}, not a regular file; a trace is never renamed over it", path.display())
            }
            Error::Record { path, runs, source } => write!(
                f,
                "{}: {source}; the {runs} completed run(s) written before are kept in it (mlx-analyze reads it)",
                path.display()
            ),
            Error::Empty => f.write_str("empty file, not a trace"),
            Error::NotATrace(why) => write!(f, "not an mlx-trace file: {why}"),
            Error::UnsupportedVersion { found, expected } => {
                write!(f, "unsupported trace format version {found} (this reader supports version {expected})")
            }
            Error::BadHeader(why) => write!(f, "damaged trace header: {why}"),
            Error::File { path, reason } => write!(f, "{}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Write(e)
    }
}

impl From<rmp_serde::encode::Error> for Error {
    fn from(e: rmp_serde::encode::Error) -> Self {
        Error::Encode(e)
    }
}

impl Error {
    /// The OS error behind this one, if any (for callers that react to its kind).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            Error::Io { source, .. } | Error::Record { source, .. } | Error::Write(source) => Some(source),
            Error::File { reason, .. } => reason.io_error(),
            _ => None,
        }
    }
}
