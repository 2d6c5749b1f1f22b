//! The tidy events table as CSV, written row by row (no polars CSV stack needed).

use std::io::Write;

use crate::error::Result;
use crate::load::Dataset;

use super::{Export, RunLookup, TIDY_COLUMNS};

/// CSV with a header row; fields quoted when they hold a comma, quote or newline.
pub struct CsvExport;

fn field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")).into() } else { s.into() }
}

impl Export for CsvExport {
    fn write(&self, ds: &Dataset, out: &mut dyn Write) -> Result<()> {
        let look = RunLookup::new(ds)?;
        let names: Vec<String> = ds.component_names.iter().map(|n| field(n).into_owned()).collect();
        let files: Vec<String> = look.file.iter().map(|n| field(n).into_owned()).collect();
        let variants: Vec<String> = look.variant.iter().map(|n| field(n).into_owned()).collect();
        writeln!(out, "{}", TIDY_COLUMNS.join(","))?;
        let ev = &ds.events;
        let run = ev.column("run_id")?.u32()?;
        let comp = ev.column("component_id")?.u32()?;
        let block = ev.column("block")?.i32()?;
        let start = ev.column("start_ns")?.u64()?;
        let dur = ev.column("duration_ns")?.u64()?;
        for ((((r, c), b), s), d) in run.iter().zip(comp.iter()).zip(block.iter()).zip(start.iter()).zip(dur.iter()) {
            let r = r.unwrap_or(0) as usize;
            writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{}",
                files[r],
                look.run[r],
                variants[r],
                look.sync[r],
                look.warmup[r],
                look.frames[r],
                look.tokens[r],
                names.get(c.unwrap_or(0) as usize).map_or("", |s| s.as_str()),
                b.unwrap_or(-1),
                s.unwrap_or(0),
                d.unwrap_or(0)
            )?;
        }
        Ok(())
    }
}
