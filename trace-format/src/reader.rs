//! Trace reader: validates the header, then decodes records until the end marker or the end
//! of the data. A trace without end marker (interrupted recording) still yields its complete
//! records, with a warning.
//!
//! Robustness: the reader never panics on any input, and allocation is bounded by the size of
//! the input. Length prefixes in the data are never trusted for preallocation (serde caps
//! sequence preallocation, and strings are read through a growing buffer), nesting is limited
//! to [`MAX_DEPTH`] levels. A record that fails to decode while its MessagePack framing is
//! intact (a field of the wrong type, a record kind this version does not know) is skipped with
//! a warning and reading goes on after it; damage to the framing itself (a reserved marker,
//! nesting past [`MAX_DEPTH`], data ending inside a value) ends the trace with a warning that
//! keeps every record before it.

use std::path::Path;

use serde::Deserialize;

use crate::error::Error;
use crate::run_decoder;
use crate::types::{Calibration, Header, Record, RunRecord, SetupRecord, FORMAT_VERSION, MAGIC};

/// Deepest nesting of arrays and maps accepted. Trace values nest four levels (record, run,
/// events, event); the margin leaves room for future fields while keeping recursion, and so
/// stack use, small on any thread.
pub const MAX_DEPTH: usize = 32;

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
    format_version: Option<VersionField>,
}

/// A version field of any type, so a wrong type is reported as such.
#[derive(Deserialize)]
#[serde(untagged)]
enum VersionField {
    Number(u64),
    Other(serde::de::IgnoredAny),
}

/// Reads a whole trace file; every error names the file.
pub fn read_trace_file(path: &Path) -> Result<Trace, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    read_trace(&bytes).map_err(|source| Error::File { path: path.to_path_buf(), reason: Box::new(source) })
}

/// A MessagePack decoder over a byte slice that knows how far it has read.
struct Decoder<'a> {
    de: rmp_serde::Deserializer<rmp_serde::decode::ReadReader<std::io::Cursor<&'a [u8]>>>,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
        de.set_max_depth(MAX_DEPTH);
        Decoder { de }
    }

    /// Bytes consumed so far.
    fn position(&self) -> usize {
        self.de.position() as usize
    }

    fn next<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, rmp_serde::decode::Error> {
        T::deserialize(&mut self.de)
    }
}

/// Whether decoding failed because the data ended inside a value.
fn is_eof(e: &rmp_serde::decode::Error) -> bool {
    use rmp_serde::decode::Error as E;
    match e {
        E::InvalidMarkerRead(io) | E::InvalidDataRead(io) => io.kind() == std::io::ErrorKind::UnexpectedEof,
        _ => false,
    }
}

/// Decodes a trace held in memory.
pub fn read_trace(bytes: &[u8]) -> Result<Trace, Error> {
    let header = read_header(bytes)?;
    let mut decoder = Decoder::new(bytes);
    // Skip the header: decode it again, now we know it is one.
    let _: Header = decoder.next().map_err(|e| Error::BadHeader(e.to_string()))?;
    // Offset of the decoder's first byte in `bytes` (a new decoder starts after a skipped record).
    let mut base = 0usize;
    let mut skipped = 0usize;

    let mut trace = Trace {
        header,
        calibrations: Vec::new(),
        runs: Vec::new(),
        setups: Vec::new(),
        complete: false,
        warnings: Vec::new(),
    };
    loop {
        let at = base + decoder.position();
        if at >= bytes.len() {
            trace.warnings.push(format!(
                "incomplete trace (recording interrupted?): no end marker; {} complete run(s) read",
                trace.runs.len()
            ));
            break;
        }
        // Run records, nearly all of a trace, take the dedicated path; anything it does not
        // handle goes through serde below, which accepts and reports exactly as before.
        if let Some((run, len)) = run_decoder::decode_run(&bytes[at..]) {
            trace.runs.push(run);
            base = at + len;
            decoder = Decoder::new(&bytes[base..]);
            continue;
        }
        match decoder.next::<Record>() {
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
                let end = base + decoder.position();
                if end < bytes.len() {
                    trace.warnings.push(format!("{} byte(s) after the end marker ignored", bytes.len() - end));
                }
                break;
            }
            Err(e) if is_eof(&e) => {
                trace.warnings.push(format!(
                    "incomplete trace (recording interrupted or file truncated): the last record, at byte {at}, \
                     is cut short after {} byte(s); {} complete run(s) read",
                    bytes.len() - at,
                    trace.runs.len()
                ));
                break;
            }
            Err(e) => match skip_value(bytes, at) {
                // The framing holds: drop this record only and read on after it.
                Ok(end) if skipped < MAX_SKIPPED => {
                    skipped += 1;
                    trace.warnings.push(format!(
                        "damaged trace: record at byte {at} unreadable ({e}); skipped its {} byte(s) and read on, \
                         {} complete run(s) before it",
                        end - at,
                        trace.runs.len()
                    ));
                    base = end;
                    decoder = Decoder::new(&bytes[end..]);
                }
                Ok(_) => {
                    trace.warnings.push(format!(
                        "damaged trace: record at byte {at} unreadable ({e}), more than {MAX_SKIPPED} undecodable \
                         records; reading stopped there, {} complete run(s) read",
                        trace.runs.len()
                    ));
                    break;
                }
                Err(_) => {
                    trace.warnings.push(format!(
                        "damaged trace: record at byte {at} unreadable ({e}); reading stopped there, {} complete run(s) read",
                        trace.runs.len()
                    ));
                    break;
                }
            },
        }
    }
    Ok(trace)
}

/// Most undecodable records skipped in one trace before reading stops: beyond this the data is
/// more likely garbage that happens to parse than a few bad records.
pub const MAX_SKIPPED: usize = 1000;

/// Why [`skip_value`] could not find the end of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// The data ends inside the value.
    CutShort,
    /// A reserved marker, or nesting deeper than [`MAX_DEPTH`].
    Broken,
}

/// End offset of the MessagePack value starting at `start`, from its markers and length prefixes
/// alone (no decoding of the contents). Iterative, so it uses no stack however deep the data
/// claims to nest; nesting past [`MAX_DEPTH`] counts as broken framing, as for the decoder.
fn skip_value(bytes: &[u8], start: usize) -> Result<usize, Framing> {
    fn take(bytes: &[u8], pos: &mut usize, n: u64) -> Result<u64, Framing> {
        let end = (*pos as u64).checked_add(n).filter(|e| *e <= bytes.len() as u64).ok_or(Framing::CutShort)?;
        let mut value = 0u64;
        if n <= 8 {
            for &b in &bytes[*pos..end as usize] {
                value = (value << 8) | u64::from(b);
            }
        }
        *pos = end as usize;
        Ok(value)
    }
    let mut pos = start;
    // Values still to read at each open level of nesting (the outermost: the one value asked for).
    let mut open: Vec<u64> = vec![1];
    while let Some(left) = open.last_mut() {
        if *left == 0 {
            open.pop();
            continue;
        }
        *left -= 1;
        let marker = take(bytes, &mut pos, 1)? as u8;
        // (bytes of length prefix or payload, values contained)
        let (skip, children): (u64, u64) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => (0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (u64::from(marker & 0x1f), 0),
            0xc1 => return Err(Framing::Broken),
            0xc4 | 0xd9 => (take(bytes, &mut pos, 1)?, 0),
            0xc5 | 0xda => (take(bytes, &mut pos, 2)?, 0),
            0xc6 | 0xdb => (take(bytes, &mut pos, 4)?, 0),
            0xc7 => (take(bytes, &mut pos, 1)? + 1, 0),
            0xc8 => (take(bytes, &mut pos, 2)? + 1, 0),
            0xc9 => (take(bytes, &mut pos, 4)? + 1, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, take(bytes, &mut pos, 2)?),
            0xdd => (0, take(bytes, &mut pos, 4)?),
            0xde => (0, 2 * take(bytes, &mut pos, 2)?),
            0xdf => (0, 2 * take(bytes, &mut pos, 4)?),
        };
        take(bytes, &mut pos, skip)?;
        if children > 0 {
            if open.len() > MAX_DEPTH {
                return Err(Framing::Broken);
            }
            open.push(children);
        }
    }
    Ok(pos)
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
    let probe: HeaderProbe = match Decoder::new(bytes).next() {
        Ok(probe) => probe,
        // A header cut short: the data ends inside the first value, which carries the magic.
        Err(e) if is_eof(&e) && mentions_magic(bytes) => {
            return Err(Error::BadHeader(format!("the header is cut short after {} byte(s) (file truncated?)", bytes.len())));
        }
        Err(_) if looks_like_text(bytes) => {
            return Err(Error::NotATrace("looks like text, expected MessagePack".into()));
        }
        Err(_) => return Err(Error::NotATrace("the first value is not an mlx-trace header".into())),
    };
    if probe.magic.as_deref() != Some(MAGIC) {
        return Err(Error::NotATrace(match probe.magic {
            Some(m) => format!("header magic is {:?}, expected {MAGIC:?}", truncate(&m, 40)),
            None => "the first value has no mlx-trace magic".into(),
        }));
    }
    let found = match probe.format_version {
        None => return Err(Error::BadHeader("no format_version".into())),
        Some(VersionField::Other(_)) => return Err(Error::BadHeader("format_version is not a whole number".into())),
        Some(VersionField::Number(n)) => n,
    };
    if found != u64::from(FORMAT_VERSION) {
        return Err(Error::UnsupportedVersion { found, expected: FORMAT_VERSION });
    }
    Decoder::new(bytes).next().map_err(|e| Error::BadHeader(e.to_string()))
}

/// Whether the magic string, as MessagePack writes it, is among the first bytes.
fn mentions_magic(bytes: &[u8]) -> bool {
    let mut needle = vec![0xa0 | MAGIC.len() as u8];
    needle.extend_from_slice(MAGIC.as_bytes());
    let head = &bytes[..bytes.len().min(64)];
    head.windows(needle.len()).any(|w| w == needle.as_slice())
}

/// Whether the start of the data is text: UTF-8 without control characters other than
/// whitespace (a character cut at the 256-byte mark is allowed).
fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(256)];
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return false,
    };
    !valid.is_empty() && valid.chars().all(|c| !c.is_control() || c.is_ascii_whitespace())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}...", s.chars().take(max).collect::<String>()) }
}
