//! Trace reader: validates the header, then decodes records until the end marker or the end
//! of the data. A trace without end marker (interrupted recording) still yields its complete
//! records, with a warning.

use std::io::Cursor;
use std::path::Path;

use serde::Deserialize;

use crate::error::Error;
use crate::types::{Calibration, Header, Record, RunRecord, SetupRecord, FORMAT_VERSION, MAGIC};

/// A decoded trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The header.
    pub header: Header,
    /// Calibration records (normally one).
    pub calibrations: Vec<Calibration>,
    /// Forward passes, warm-up included.
    pub runs: Vec<RunRecord>,
    /// One-off setup costs.
    pub setups: Vec<SetupRecord>,
    /// Whether the end marker was found.
    pub complete: bool,
    /// Problems that did not stop reading (truncation, trailing garbage).
    pub warnings: Vec<String>,
}

/// Only the fields needed to tell a trace from any other MessagePack value.
#[derive(Deserialize)]
struct HeaderProbe {
    #[serde(default)]
    magic: Option<String>,
    #[serde(default)]
    format_version: Option<u32>,
}

/// Reads a whole trace file; errors name the file.
pub fn read_trace_file(path: &Path) -> Result<Trace, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    read_trace(&bytes)
}

/// Decodes a trace held in memory.
pub fn read_trace(bytes: &[u8]) -> Result<Trace, Error> {
    let header = read_header(bytes)?;
    let mut cursor = Cursor::new(bytes);
    // Skip the header: decode it again, now we know it is one.
    let _: Header = rmp_serde::from_read(&mut cursor).map_err(|e| Error::BadHeader(e.to_string()))?;

    let mut trace = Trace {
        header,
        calibrations: Vec::new(),
        runs: Vec::new(),
        setups: Vec::new(),
        complete: false,
        warnings: Vec::new(),
    };
    loop {
        let at = cursor.position() as usize;
        if at >= bytes.len() {
            trace.warnings.push(format!(
                "incomplete trace (recording interrupted?): no end marker; {} complete run(s) read",
                trace.runs.len()
            ));
            break;
        }
        match rmp_serde::from_read::<_, Record>(&mut cursor) {
            Ok(Record::Calibration(c)) => trace.calibrations.push(c),
            Ok(Record::Run(r)) => trace.runs.push(r),
            Ok(Record::Setup(s)) => trace.setups.push(s),
            Ok(Record::End { runs }) => {
                trace.complete = true;
                if runs as usize != trace.runs.len() {
                    trace.warnings.push(format!(
                        "end marker counts {runs} run(s) but {} were read",
                        trace.runs.len()
                    ));
                }
                if (cursor.position() as usize) < bytes.len() {
                    trace.warnings.push(format!(
                        "{} byte(s) after the end marker ignored",
                        bytes.len() - cursor.position() as usize
                    ));
                }
                break;
            }
            Err(e) => {
                trace.warnings.push(format!(
                    "incomplete trace: record at byte {at} unreadable ({e}); {} complete run(s) read",
                    trace.runs.len()
                ));
                break;
            }
        }
    }
    Ok(trace)
}

fn read_header(bytes: &[u8]) -> Result<Header, Error> {
    let first = bytes.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        None if bytes.is_empty() => return Err(Error::Empty),
        None => return Err(Error::NotATrace("only whitespace".into())),
        Some(b'{') | Some(b'[') if looks_like_text(bytes) => {
            return Err(Error::NotATrace("looks like JSON or text, expected MessagePack".into()));
        }
        _ => {}
    }
    let probe: HeaderProbe = rmp_serde::from_slice(bytes)
        .or_else(|_| rmp_serde::from_read(Cursor::new(bytes)))
        .map_err(|_| Error::NotATrace("the first value is not an mlx-trace header".into()))?;
    if probe.magic.as_deref() != Some(MAGIC) {
        return Err(Error::NotATrace(match probe.magic {
            Some(m) => format!("header magic is {m:?}, expected {MAGIC:?}"),
            None => "the first value has no mlx-trace magic".into(),
        }));
    }
    let found = probe.format_version.ok_or_else(|| Error::BadHeader("no format_version".into()))?;
    if found != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion { found, expected: FORMAT_VERSION });
    }
    rmp_serde::from_read(Cursor::new(bytes)).map_err(|e| Error::BadHeader(e.to_string()))
}

fn looks_like_text(bytes: &[u8]) -> bool {
    bytes.iter().take(256).all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
}
