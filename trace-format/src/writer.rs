//! Streaming trace writer: header first, then one record at a time, each flushed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;
use crate::types::{Calibration, Header, Record, RunRecord, SetupRecord};

/// Writes a trace to any writer. Each `add_*` call writes one complete MessagePack value and
/// flushes it, so whatever was added survives if the process dies afterwards.
pub struct TraceWriter<W: Write> {
    out: W,
    runs: u32,
}

impl<W: Write> TraceWriter<W> {
    /// Starts a trace by writing its header.
    pub fn new(out: W, header: &Header) -> Result<Self, Error> {
        let mut writer = TraceWriter { out, runs: 0 };
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
        // Struct fields as map keys: readers tolerate added and removed fields.
        let mut ser = rmp_serde::Serializer::new(&mut self.out).with_struct_map();
        value.serialize(&mut ser)?;
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

/// A trace file written as `NAME.partial` and renamed to `NAME` by [`TraceFile::finish`].
/// If the recording is interrupted, the `.partial` file holds every completed record.
pub struct TraceFile {
    writer: TraceWriter<BufWriter<File>>,
    path: PathBuf,
    partial: PathBuf,
}

impl TraceFile {
    /// Creates `path.partial` and writes the header.
    pub fn create(path: &Path, header: &Header) -> Result<Self, Error> {
        let partial = partial_path(path);
        let io = |source| Error::Io { path: partial.clone(), source };
        let file = File::create(&partial).map_err(io)?;
        let writer = TraceWriter::new(BufWriter::new(file), header)?;
        Ok(TraceFile { writer, path: path.to_path_buf(), partial })
    }

    /// The file being written (`NAME.partial`).
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// Adds the calibration record.
    pub fn add_calibration(&mut self, calibration: &Calibration) -> Result<(), Error> {
        self.writer.add_calibration(calibration)?;
        self.sync()
    }

    /// Adds a run and makes it durable.
    pub fn add_run(&mut self, run: &RunRecord) -> Result<(), Error> {
        self.writer.add_run(run)?;
        self.sync()
    }

    /// Adds a setup record.
    pub fn add_setup(&mut self, setup: &SetupRecord) -> Result<(), Error> {
        self.writer.add_setup(setup)?;
        self.sync()
    }

    /// Writes the end marker and renames `NAME.partial` to `NAME`.
    pub fn finish(self) -> Result<PathBuf, Error> {
        let partial = self.partial.clone();
        let out = self.writer.finish()?;
        let file = out.into_inner().map_err(|e| Error::Io { path: partial.clone(), source: e.into_error() })?;
        file.sync_all().map_err(|source| Error::Io { path: partial.clone(), source })?;
        std::fs::rename(&partial, &self.path).map_err(|source| Error::Io { path: self.path.clone(), source })?;
        Ok(self.path)
    }

    fn sync(&mut self) -> Result<(), Error> {
        let partial = &self.partial;
        self.writer
            .get_mut()
            .get_ref()
            .sync_data()
            .map_err(|source| Error::Io { path: partial.clone(), source })
    }
}
