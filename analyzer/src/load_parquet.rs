//! Parquet input: an events export of this analyzer (`--export-parquet`) read back into the
//! traces it was made from, which then load exactly like decoded trace files, so the report of
//! `mlx-analyze events.parquet` is the report of the original traces.
//!
//! The rows give the events (`trace`, `run`, `component`, `block`, `start_ns`, `duration_ns`);
//! the JSON document under [`EXPORT_KEY`] gives everything else (see
//! [`crate::tables::events_export`]). Parquet files without that document, and files that only
//! look like Parquet, are refused with a reason that says so.

use std::io::Cursor;

use polars::prelude::*;
use polars_io::parquet::read::ParquetReader;
use polars_io::SerReader;
use trace_format::{Header, Trace};

use crate::tables::events_export::{run_index, ExportDoc, BLOCK, COMPONENT, DURATION_NS, EXPORT_KEY, EXPORT_KIND, EXPORT_VERSION, START_NS, TRACE};
use crate::tables::runs::RUN;

/// Whether `bytes` start like a Parquet file (`PAR1`).
pub(crate) fn is_parquet(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PAR1")
}

/// One trace read back from an export.
pub(crate) struct ParquetTrace {
    /// The trace's name as it was loaded when exported.
    pub(crate) name: String,
    /// Identity of the trace's content (its document and events: length hashed and two
    /// independent hashes), for de-duplication across inputs.
    pub(crate) identity: (usize, u64, u64),
    /// The trace, with the runs that were exported.
    pub(crate) trace: Trace,
}

/// The traces of an events export. The error is one line, read after the file's name. A
/// damaged file that makes the Parquet reader panic is refused like any other damage.
pub(crate) fn read_traces(bytes: &[u8]) -> Result<Vec<ParquetTrace>, String> {
    std::panic::catch_unwind(|| read_traces_inner(bytes)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown reason".into());
        Err(format!("a damaged Parquet file (the reader failed: {})", one_line(&why)))
    })
}

fn read_traces_inner(bytes: &[u8]) -> Result<Vec<ParquetTrace>, String> {
    if bytes.len() < 12 || !bytes.ends_with(b"PAR1") {
        return Err("starts like a Parquet file but is truncated or damaged (no Parquet footer)".into());
    }
    check_pages(bytes)?;
    let mut reader = ParquetReader::new(Cursor::new(bytes));
    let doc = export_document(&mut reader)?;
    let events = run_events(reader, &doc)?;
    check_event_counts(&doc, &events)?;
    into_traces(doc, events)
}

/// Every page header against its column chunk, before polars decodes the pages: a damaged
/// header whose value count is negative or larger than its chunk's makes the decoder allocate
/// without bound, and that aborts the process (no panic to catch).
fn check_pages(bytes: &[u8]) -> Result<(), String> {
    use polars_parquet::parquet::page::{CompressedPage, DataPageHeader};
    use polars_parquet::parquet::read::{get_page_iterator, read_metadata};
    let damaged = |what: String| format!("a damaged Parquet file ({what})");
    let metadata = read_metadata(&mut Cursor::new(bytes)).map_err(|e| format!("not a readable Parquet file: {}", one_line(&e.to_string())))?;
    let buffer = polars_buffer::Buffer::from(bytes.to_vec());
    for group in &metadata.row_groups {
        for chunk in group.parquet_columns() {
            let total = chunk.num_values();
            let pages = get_page_iterator(chunk, Cursor::new(buffer.clone()), Vec::new(), bytes.len())
                .map_err(|e| damaged(one_line(&e.to_string())))?;
            let mut seen: i64 = 0;
            for page in pages {
                let values = match page.map_err(|e| damaged(one_line(&e.to_string())))? {
                    CompressedPage::Data(p) => match p.header() {
                        DataPageHeader::V1(h) => i64::from(h.num_values),
                        DataPageHeader::V2(h) => i64::from(h.num_values),
                    },
                    // A dictionary's entries are not the chunk's values (a negative count is
                    // refused by the page reader itself).
                    CompressedPage::Dict(_) => continue,
                };
                seen += values;
                if values < 0 || seen > total {
                    return Err(damaged(format!("a page of {values} values in a column chunk of {total}")));
                }
            }
        }
    }
    Ok(())
}

/// Events of one run, in file order: (start, duration, component index, block).
type RunEvents = Vec<(u64, u64, u32, Option<u32>)>;

/// The export's JSON document from the file's metadata; an error when the file is not an
/// events export of a version this analyzer reads.
fn export_document(reader: &mut ParquetReader<Cursor<&[u8]>>) -> Result<ExportDoc, String> {
    let metadata = reader.get_metadata().map_err(|e| format!("not a readable Parquet file: {}", one_line(&e.to_string())))?;
    let document = metadata
        .key_value_metadata
        .as_ref()
        .and_then(|kv| kv.iter().find(|k| k.key == EXPORT_KEY))
        .and_then(|k| k.value.clone())
        .ok_or_else(|| {
            format!("a Parquet file, but not an events export of mlx-analyze (no {EXPORT_KEY:?} metadata); only files written by --export-parquet are read back")
        })?;
    let kind = serde_json::from_str::<serde_json::Value>(&document)
        .ok()
        .and_then(|v| Some((v.get("kind")?.as_str()?.to_string(), v.get("version")?.as_u64()?)));
    match kind {
        Some((kind, _)) if kind != EXPORT_KIND => {
            return Err(format!("a Parquet file of mlx-analyze, but a {kind:?} file, not an events export; only files written by --export-parquet are read back"));
        }
        Some((_, version)) if version > u64::from(EXPORT_VERSION) => {
            return Err(format!("an events export of version {version}, newer than this analyzer reads ({EXPORT_VERSION}); use a newer mlx-analyze"));
        }
        None => return Err(format!("a Parquet file whose {EXPORT_KEY:?} metadata is not an mlx-analyze document")),
        _ => {}
    }
    serde_json::from_str(&document).map_err(|e| format!("the {EXPORT_KEY:?} metadata is damaged: {}", one_line(&e.to_string())))
}

/// The rows as events of the document's runs (per trace, per run). The runs themselves come
/// from the document's records (read by `Run::from_record` when loaded, as a trace file's
/// are); the rows give the events and the run they belong to.
fn run_events(reader: ParquetReader<Cursor<&[u8]>>, doc: &ExportDoc) -> Result<Vec<Vec<RunEvents>>, String> {
    let columns = [TRACE, RUN, COMPONENT, BLOCK, START_NS, DURATION_NS];
    let df = reader
        .with_columns(Some(columns.iter().map(|c| c.to_string()).collect()))
        .finish()
        .map_err(|e| format!("cannot read the events: {}", one_line(&e.to_string())))?;
    let column = |name: &str, dtype: DataType| -> Result<Column, String> {
        let c = df.column(name).map_err(|_| format!("no column {name:?}"))?;
        c.cast(&dtype).map_err(|_| format!("column {name:?} is {}, expected {dtype}", c.dtype()))
    };
    let trace = column(TRACE, DataType::UInt32)?;
    let run = column(RUN, DataType::UInt32)?;
    let component = column(COMPONENT, DataType::String)?;
    let block = column(BLOCK, DataType::UInt32)?;
    let start = column(START_NS, DataType::UInt64)?;
    let duration = column(DURATION_NS, DataType::UInt64)?;
    let (trace, run, component) = (trace.u32().unwrap(), run.u32().unwrap(), component.str().unwrap());
    let (block, start, duration) = (block.u32().unwrap(), start.u64().unwrap(), duration.u64().unwrap());

    let index = run_index(doc);
    if index.len() != doc.traces.iter().map(|t| t.runs.len()).sum::<usize>() {
        return Err("the metadata lists a run twice in one trace".into());
    }
    let mut events: Vec<Vec<RunEvents>> = doc.traces.iter().map(|t| vec![Vec::new(); t.runs.len()]).collect();
    for i in 0..df.height() {
        let (Some(t), Some(r), Some(name), Some(s), Some(d)) = (trace.get(i), run.get(i), component.get(i), start.get(i), duration.get(i)) else {
            return Err(format!("row {i}: a key or time is NULL"));
        };
        let &(ti, ri) = index.get(&(t, r)).ok_or_else(|| format!("row {i}: trace {t} run {r} is not among the runs of the metadata"))?;
        let local = doc.traces[ti].runs[ri]
            .components
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| format!("row {i}: component {name:?} is not among the components of trace {t} run {r}"))?;
        events[ti][ri].push((s, d, local as u32, block.get(i)));
    }
    Ok(events)
}

/// Rows against the metadata's counts: an export whose event rows were removed or duplicated
/// after it was written would otherwise be read as a different recording.
fn check_event_counts(doc: &ExportDoc, events: &[Vec<RunEvents>]) -> Result<(), String> {
    for (t, (trace_doc, per_run)) in doc.traces.iter().zip(events).enumerate() {
        if trace_doc.event_counts.is_empty() {
            continue;
        }
        if trace_doc.event_counts.len() != per_run.len() {
            return Err(format!("trace {t}: the metadata counts events for {} runs, it lists {}", trace_doc.event_counts.len(), per_run.len()));
        }
        for ((run, rows), &count) in trace_doc.runs.iter().zip(per_run).zip(&trace_doc.event_counts) {
            if rows.len() as u64 != count {
                return Err(format!(
                    "trace {t} run {}: {} event row(s) where the export wrote {count}: rows were removed or duplicated after the export",
                    run.run,
                    rows.len()
                ));
            }
        }
    }
    Ok(())
}

/// The document's traces with their runs' events, each with the identity of its content.
fn into_traces(mut doc: ExportDoc, events: Vec<Vec<RunEvents>>) -> Result<Vec<ParquetTrace>, String> {
    let mut out = Vec::with_capacity(doc.traces.len());
    for (mut trace_doc, mut per_run) in doc.traces.drain(..).zip(events) {
        let mut identity = Identity::new(&serde_json::to_vec(&trace_doc).map_err(|e| e.to_string())?);
        for (run, evs) in trace_doc.runs.iter_mut().zip(per_run.iter_mut()) {
            // Starts are stored as deltas: events go in start order (a stable sort keeps the
            // recorded order of equal starts, and leaves an export's rows as they are).
            evs.sort_by_key(|e| e.0);
            for &(s, d, c, b) in evs.iter() {
                run.push_event(c, b, s, d);
                identity.add(&s.to_le_bytes());
                identity.add(&d.to_le_bytes());
                identity.add(&c.to_le_bytes());
                identity.add(&b.unwrap_or(u32::MAX).to_le_bytes());
            }
        }
        let header = Header::new(trace_doc.metadata);
        out.push(ParquetTrace {
            name: trace_doc.file,
            identity: identity.finish(),
            trace: Trace {
                header,
                calibrations: trace_doc.calibration.into_iter().collect(),
                runs: trace_doc.runs,
                setups: trace_doc.setups,
                complete: trace_doc.complete,
                warnings: Vec::new(),
            },
        });
    }
    Ok(out)
}

/// Two independent hashes over the bytes fed, and their count.
struct Identity {
    len: usize,
    a: std::hash::DefaultHasher,
    b: std::hash::DefaultHasher,
}

impl Identity {
    fn new(first: &[u8]) -> Self {
        use std::hash::Hasher;
        let mut b = std::hash::DefaultHasher::new();
        b.write_u64(0x7061_7271_7565_7421);
        let mut id = Identity { len: 0, a: std::hash::DefaultHasher::new(), b };
        id.add(first);
        id
    }

    fn add(&mut self, bytes: &[u8]) {
        use std::hash::Hasher;
        self.len += bytes.len();
        self.a.write(bytes);
        self.b.write(bytes);
    }

    fn finish(&self) -> (usize, u64, u64) {
        use std::hash::Hasher;
        (self.len, self.a.finish(), self.b.finish())
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
