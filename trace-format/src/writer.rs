//! Streaming trace writer: header first, then one record at a time, each flushed.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;
use crate::types::{Calibration, Header, Record, RunRecord, SetupRecord};

/// Writes a trace to any writer. Each `add_*` call writes one complete MessagePack value and
/// flushes it, so whatever was added survives if the process dies afterwards.
pub struct TraceWriter<W: Write> {
    out: W,
    runs: u32,
    buf: Vec<u8>,
}

impl<W: Write> TraceWriter<W> {
    /// Starts a trace by writing its header.
    pub fn new(out: W, header: &Header) -> Result<Self, Error> {
        let mut writer = TraceWriter { out, runs: 0, buf: Vec::new() };
        writer.put(header)?;
        Ok(writer)
    }

    /// Adds the machine's calibration.
    pub fn add_calibration(&mut self, calibration: &Calibration) -> Result<(), Error> {
        self.put(&RecordRef::Calibration(calibration))
    }

    /// Adds one forward pass.
    pub fn add_run(&mut self, run: &RunRecord) -> Result<(), Error> {
        self.put(&RecordRef::Run(run))?;
        self.runs += 1;
        Ok(())
    }

    /// Adds a one-off setup cost.
    pub fn add_setup(&mut self, setup: &SetupRecord) -> Result<(), Error> {
        self.put(&RecordRef::Setup(setup))
    }

    /// Runs added so far.
    pub fn runs(&self) -> u32 {
        self.runs
    }

    /// Writes the end marker and returns the writer.
    pub fn finish(mut self) -> Result<W, Error> {
        self.put(&Record::End { runs: self.runs })?;
        Ok(self.out)
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    fn put<T: Serialize>(&mut self, value: &T) -> Result<(), Error> {
        // Encoded whole first, so that an encoding error writes nothing and a write error is a
        // plain I/O error. Struct fields as map keys: readers tolerate added and removed fields.
        self.buf.clear();
        let mut ser = rmp_serde::Serializer::new(&mut self.buf).with_struct_map();
        value.serialize(&mut ser)?;
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok(())
    }
}

/// Borrowing twin of [`Record`] so writing needs no clone; serializes identically.
#[derive(Serialize)]
enum RecordRef<'a> {
    Calibration(&'a Calibration),
    Run(&'a RunRecord),
    Setup(&'a SetupRecord),
}

/// The name a trace has while it is being written: `NAME.partial`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Most numbered names `next_free_name` tries.
const MAX_NAME_ATTEMPTS: u32 = 10_000;

#[derive(Clone, Copy)]
struct Options {
    replace: bool,
    next_free_name: bool,
}

/// A trace file written as `NAME.partial` and renamed to `NAME` by [`TraceFile::finish`].
/// If the recording is interrupted, the `.partial` file holds every completed record.
///
/// `NAME.partial` is created exclusively (`O_EXCL`): a second recorder aimed at the same name
/// fails at once instead of mixing its records into the first one's file.
pub struct TraceFile {
    writer: TraceWriter<BufWriter<File>>,
    path: PathBuf,
    partial: PathBuf,
    replace: bool,
}

/// What a file that is not a regular file is, for messages; `None` for a regular file. Shared by
/// every program that refuses to write over such files.
pub fn special_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some(if t.is_dir() { "a directory" } else { "not a regular file" })
}

/// `dir/name.msgpack` numbered `n`: `dir/name-n.msgpack`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    if n <= 1 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}

/// Refuses a destination that is not a regular file (whatever a symbolic link points to),
/// and one that exists when it may not be replaced.
fn check_destination(path: &Path, replace: bool) -> Result<(), Error> {
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(Error::Io { path: path.to_path_buf(), source }),
    };
    let meta = if link.file_type().is_symlink() {
        match std::fs::metadata(path) {
            Ok(m) => m,
            Err(_) => return Err(Error::NotRegular { path: path.to_path_buf(), kind: "a dangling symbolic link" }),
        }
    } else {
        link
    };
    if let Some(kind) = special_kind(&meta) {
        return Err(Error::NotRegular { path: path.to_path_buf(), kind });
    }
    if !replace {
        return Err(Error::Exists { path: path.to_path_buf(), what: "it is not replaced without --force".into() });
    }
    Ok(())
}

impl TraceFile {
    /// Creates `path.partial` exclusively and writes the header; never replaces anything.
    pub fn create(path: &Path, header: &Header) -> Result<Self, Error> {
        Self::create_with(path, header, false, false)
    }

    /// Creates `path.partial` exclusively and writes the header.
    ///
    /// - `replace`: an existing regular file at `path` is replaced when the recording
    ///   completes. Without it, a destination that exists, or appears while recording, is
    ///   never replaced.
    /// - `next_free_name`: when `NAME` or `NAME.partial` exists, the first free of `NAME-2`,
    ///   `NAME-3`, ... (numbered before the extension) is used instead (for generated names).
    ///
    /// Fails with [`Error::Exists`] when the `.partial` exists (another recording writes it, or
    /// an interrupted one left it) or when the destination exists and may not be replaced, and
    /// with [`Error::NotRegular`] when the destination is a device, FIFO, directory or anything
    /// else but a regular file (whatever a symbolic link points to).
    pub fn create_with(path: &Path, header: &Header, replace: bool, next_free_name: bool) -> Result<Self, Error> {
        let options = Options { replace, next_free_name };
        let attempts = if options.next_free_name { MAX_NAME_ATTEMPTS } else { 1 };
        let mut last = None;
        for n in 1..=attempts {
            let candidate = numbered(path, n);
            // A symbolic link to a regular file: the file it points to is the destination, so
            // the link survives and the partial file lies beside the file it will replace.
            let candidate = match std::fs::symlink_metadata(&candidate) {
                Ok(m) if m.file_type().is_symlink() && options.replace => {
                    check_destination(&candidate, true)?;
                    std::fs::canonicalize(&candidate).map_err(|source| Error::Io { path: candidate.clone(), source })?
                }
                _ => candidate,
            };
            if let Err(e) = check_destination(&candidate, options.replace) {
                if options.next_free_name && matches!(e, Error::Exists { .. }) {
                    last = Some(e);
                    continue;
                }
                return Err(e);
            }
            let partial = partial_path(&candidate);
            let file = match OpenOptions::new().write(true).create_new(true).open(&partial) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let e = Error::Exists {
                        path: partial,
                        what: "another mlx-record is writing it, or an interrupted recording left it; \
                               mlx-analyze reads it, remove or rename it to record under this name"
                            .into(),
                    };
                    if options.next_free_name {
                        last = Some(e);
                        continue;
                    }
                    return Err(e);
                }
                Err(source) => return Err(Error::Io { path: partial, source }),
            };
            let writer = match TraceWriter::new(BufWriter::new(file), header) {
                Ok(w) => w,
                Err(e) => {
                    // Only the header was (partly) written: nothing of value to keep.
                    let _ = std::fs::remove_file(&partial);
                    return Err(match e {
                        Error::Write(source) => Error::Io { path: partial, source },
                        e => e,
                    });
                }
            };
            return Ok(TraceFile { writer, path: candidate, partial, replace: options.replace });
        }
        Err(last.unwrap_or_else(|| Error::Exists { path: path.to_path_buf(), what: "no free name".into() }))
    }

    /// The file being written (`NAME.partial`).
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// The name the trace gets when finished.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs written so far.
    pub fn runs(&self) -> u32 {
        self.writer.runs()
    }

    /// Adds the calibration record.
    pub fn add_calibration(&mut self, calibration: &Calibration) -> Result<(), Error> {
        let r = self.writer.add_calibration(calibration);
        self.kept(r)?;
        self.sync()
    }

    /// Adds a run and makes it durable.
    pub fn add_run(&mut self, run: &RunRecord) -> Result<(), Error> {
        let r = self.writer.add_run(run);
        self.kept(r)?;
        self.sync()
    }

    /// Adds a setup record.
    pub fn add_setup(&mut self, setup: &SetupRecord) -> Result<(), Error> {
        let r = self.writer.add_setup(setup);
        self.kept(r)?;
        self.sync()
    }

    /// Writes the end marker and renames `NAME.partial` to `NAME`. Unless the file was created
    /// with `replace`, a `NAME` that appeared meanwhile is not replaced: the
    /// trace then stays complete in `NAME.partial` and the error says so.
    pub fn finish(self) -> Result<PathBuf, Error> {
        let partial = self.partial.clone();
        let runs = self.writer.runs();
        let out = self.writer.finish().map_err(|e| match e {
            Error::Write(source) => Error::Record { path: partial.clone(), runs, source },
            e => e,
        })?;
        let file = out.into_inner().map_err(|e| Error::Record { path: partial.clone(), runs, source: e.into_error() })?;
        file.sync_all().map_err(|source| Error::Record { path: partial.clone(), runs, source })?;
        drop(file);
        let kept = |e: Error| match e {
            Error::Exists { path, .. } => Error::Exists {
                path,
                what: format!("it appeared during the recording and is not replaced; the complete trace is kept as {}", partial.display()),
            },
            Error::NotRegular { path, kind } => Error::NotRegular { path, kind },
            e => e,
        };
        check_destination(&self.path, self.replace).map_err(kept)?;
        if self.replace {
            std::fs::rename(&partial, &self.path).map_err(|source| Error::Io { path: self.path.clone(), source })?;
        } else {
            // A hard link fails if the name exists, where a rename would replace it.
            match std::fs::hard_link(&partial, &self.path) {
                Ok(()) => std::fs::remove_file(&partial).map_err(|source| Error::Io { path: partial.clone(), source })?,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    return Err(kept(Error::Exists { path: self.path.clone(), what: String::new() }));
                }
                // File systems without hard links: the check above, then a rename.
                Err(_) => std::fs::rename(&partial, &self.path).map_err(|source| Error::Io { path: self.path.clone(), source })?,
            }
        }
        // Make the new name durable too (best effort: not every file system syncs directories).
        if let Some(dir) = self.path.parent().map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d }) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(self.path)
    }

    /// A failed write, reported with the file and the runs it keeps.
    fn kept(&self, result: Result<(), Error>) -> Result<(), Error> {
        result.map_err(|e| match e {
            Error::Write(source) => Error::Record { path: self.partial.clone(), runs: self.writer.runs(), source },
            e => e,
        })
    }

    fn sync(&mut self) -> Result<(), Error> {
        let (partial, runs) = (&self.partial, self.writer.runs());
        self.writer
            .get_mut()
            .get_ref()
            .sync_data()
            .map_err(|source| Error::Record { path: partial.clone(), runs, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(numbered(Path::new("d/t.msgpack"), 1), PathBuf::from("d/t.msgpack"));
        assert_eq!(numbered(Path::new("d/t.msgpack"), 3), PathBuf::from("d/t-3.msgpack"));
        assert_eq!(numbered(Path::new("t"), 2), PathBuf::from("t-2"));
    }
}
