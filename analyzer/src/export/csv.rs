//! The tidy events table as CSV, written row by row through the `csv` crate (quoting as
//! RFC 4180: a field holding a comma, quote or line break is quoted; no polars CSV stack needed).

use std::io::Write;

use crate::error::{Error, Result};
use crate::load::Dataset;

use super::{Export, TIDY_COLUMNS};

/// CSV with a header row; fields quoted when they hold a comma, quote or newline.
pub struct CsvExport;

/// A CSV writer's error as an I/O error (a closed pipe stays one).
fn csv_error(e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::from(io),
        other => Error::from(std::io::Error::other(format!("writing CSV: {other:?}"))),
    }
}

impl Export for CsvExport {
    fn write(&self, ds: &Dataset, out: &mut dyn Write) -> Result<()> {
        let files: Vec<&str> = ds.trace_info.iter().map(|t| t.file.as_str()).collect();
        let mut w = csv::WriterBuilder::new().from_writer(out);
        w.write_record(TIDY_COLUMNS).map_err(csv_error)?;
        let ev = &ds.events;
        let run = ev.column("run_id")?.u32()?;
        let comp = ev.column("component_id")?.u32()?;
        let block = ev.column("block")?.i32()?;
        let start = ev.column("start_ns")?.u64()?;
        let dur = ev.column("duration_ns")?.u64()?;
        let mut record = csv::ByteRecord::new();
        for ((((r, c), b), s), d) in run.iter().zip(comp.iter()).zip(block.iter()).zip(start.iter()).zip(dur.iter()) {
            // An event of no loaded run (not made by loading) still gets a row, of empty keys.
            let run = ds.runs.get(r.unwrap_or(0) as usize);
            record.clear();
            record.push_field(run.and_then(|r| files.get(r.trace_id as usize)).map_or("", |f| f).as_bytes());
            record.push_field(run.map_or(0, |r| r.run).to_string().as_bytes());
            record.push_field(run.map_or("", |r| r.variant.as_str()).as_bytes());
            record.push_field(run.map_or("", |r| r.sync.as_str()).as_bytes());
            record.push_field(if run.is_some_and(|r| r.warmup) { b"true" } else { b"false" });
            record.push_field(run.map_or(0, |r| r.frames).to_string().as_bytes());
            record.push_field(run.map_or(0, |r| r.tokens).to_string().as_bytes());
            record.push_field(ds.component_names.get(c.unwrap_or(0) as usize).map_or("", |s| s.as_str()).as_bytes());
            record.push_field(b.unwrap_or(-1).to_string().as_bytes());
            record.push_field(s.unwrap_or(0).to_string().as_bytes());
            record.push_field(d.unwrap_or(0).to_string().as_bytes());
            w.write_byte_record(&record).map_err(csv_error)?;
        }
        w.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{load_bytes, LoadOptions};
    use trace_synth::{generate, SynthComponent, SynthSpec};

    /// The quoting the export had before it used the crate, written out.
    fn by_hand(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
    }

    #[test]
    fn fields_are_quoted_as_before_and_read_back() {
        let odd = "block/a,\"b\"";
        let spec = SynthSpec {
            components: vec![SynthComponent::new(odd, 1e6, 0.0, 0.0), SynthComponent::new("embed/time", 2e6, 0.0, 0.0)],
            blocks: 2,
            frames: vec![5],
            runs: 1,
            warmup_runs: 0,
            ..SynthSpec::default()
        };
        let ds = load_bytes(vec![("a,b.msgpack".into(), generate(&spec, true))], &LoadOptions::default()).unwrap();
        let mut out = Vec::new();
        CsvExport.write(&ds, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(TIDY_COLUMNS.join(",").as_str()));
        let row = lines.find(|l| l.contains("block/a")).unwrap();
        assert!(row.starts_with(&format!("{},", by_hand("a,b.msgpack"))), "{row}");
        assert!(row.contains(&format!(",{},", by_hand(odd))), "{row}");
        // Read back by a CSV reader: the same fields.
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let names: Vec<String> = reader.records().map(|r| r.unwrap()[7].to_string()).collect();
        assert_eq!(names.len(), ds.events.height());
        assert!(names.iter().any(|n| n == odd));
        assert!(text.ends_with('\n') && !text.contains('\r'));
    }
}
