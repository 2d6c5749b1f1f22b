//! The tidy events table as Parquet (zstd-compressed, through polars-io's eager writer): one row
//! per event, each carrying the keys of its trace and run, so that any Parquet reader (DuckDB,
//! Spark, pandas, polars) can group and filter without joins. The columns are [`EVENT_COLUMNS`];
//! `docs/tables.md` gives their types and meaning.
//!
//! The file also holds, as file-level key/value metadata under [`EXPORT_KEY`], a JSON document
//! with everything else the analyzer loaded (each trace's metadata, calibration, runs with their
//! component costs, setups), so that `mlx-analyze events.parquet` rebuilds the same
//! [`Dataset`] and gives the same report as the traces it was exported from
//! (`crate::load_parquet`).

use std::io::Write;

use polars::prelude::*;
use polars_io::parquet::write::{KeyValueMetadata, ParquetWriter};
use trace_format::{ComponentInfo, SetupRecord};

use crate::error::Result;
use crate::load::Dataset;
use crate::tables::events_export::{ExportDoc, TraceDoc, BLOCK, COMPONENT, RUN_KEY_COLUMNS, TRACE};
use crate::tables::runs::{RUN_COLUMNS, TRACE_ID};
pub use crate::tables::events_export::{EVENT_COLUMNS, EXPORT_KEY};
pub(crate) use crate::tables::events_export::{EXPORT_KIND, EXPORT_VERSION};

use super::Export;

/// Parquet file of the tidy events, with the trace and run keys on every row.
pub struct ParquetExport;

/// Events per row group: the keyed rows are built and written one group at a time, so the
/// export needs memory for one group beside the loaded events, not for all the keyed rows.
const ROWS_PER_GROUP: usize = 1 << 18;

impl Export for ParquetExport {
    fn write(&self, ds: &Dataset, out: &mut dyn Write) -> Result<()> {
        let document = serde_json::to_string(&document(ds)?)?;
        let keys = run_keys(ds)?;
        let total = ds.events.height();
        let mut batch = keyed_slice(ds, &keys, 0, total.min(ROWS_PER_GROUP))?;
        let mut writer = ParquetWriter::new(out)
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(vec![(EXPORT_KEY.to_string(), document)])))
            .batched(batch.schema())?;
        let mut written = 0;
        loop {
            batch.rechunk_mut_par();
            writer.write_batch(&batch)?;
            written += batch.height();
            if written >= total {
                break;
            }
            batch = keyed_slice(ds, &keys, written, ROWS_PER_GROUP)?;
        }
        writer.finish()?;
        Ok(())
    }
}

/// The embedded document of a loaded dataset: each trace with its runs (the rows of the runs
/// table as records, with their component costs) and setups.
fn document(ds: &Dataset) -> Result<ExportDoc> {
    let mut traces: Vec<TraceDoc> = ds
        .trace_info
        .iter()
        .map(|t| TraceDoc {
            file: t.file.clone(),
            metadata: t.metadata.clone(),
            calibration: t.calibration.clone(),
            complete: t.complete,
            setups: Vec::new(),
            runs: Vec::new(),
            event_counts: Vec::new(),
        })
        .collect();
    let mut counts = vec![0u64; ds.runs.len()];
    for r in ds.events.column("run_id")?.u32()?.iter().flatten() {
        if let Some(c) = counts.get_mut(r as usize) {
            *c += 1;
        }
    }
    for ((run, components), count) in ds.runs.iter().zip(component_costs(ds)?).zip(counts) {
        let Some(doc) = traces.get_mut(run.trace_id as usize) else { continue };
        let mut r = run.to_record();
        // Nesting as loaded: the target's parent among the dataset's components.
        if let Some(p) = r.perturbation.as_mut() {
            p.target_parent = p
                .target
                .as_ref()
                .and_then(|t| ds.component_names.iter().position(|n| n == t))
                .and_then(|c| ds.component_parents.get(c).cloned().flatten());
        }
        r.components = components;
        doc.runs.push(r);
        doc.event_counts.push(count);
    }
    add_setups(ds, &mut traces)?;
    Ok(ExportDoc { kind: EXPORT_KIND.to_string(), version: EXPORT_VERSION, traces })
}

/// Component costs per run, in the order they were recorded.
fn component_costs(ds: &Dataset) -> Result<Vec<Vec<ComponentInfo>>> {
    let mut costs: Vec<Vec<ComponentInfo>> = vec![Vec::new(); ds.runs.len()];
    let c_run = ds.components.column("run_id")?.u32()?;
    let c_comp = ds.components.column("component_id")?.u32()?;
    let c_flops = ds.components.column("flops")?.f64()?;
    let c_bytes = ds.components.column("bytes")?.f64()?;
    for i in 0..ds.components.height() {
        let (Some(r), Some(c)) = (c_run.get(i), c_comp.get(i)) else { continue };
        let name = ds.component_names.get(c as usize).cloned().unwrap_or_default();
        if let Some(list) = costs.get_mut(r as usize) {
            let parent = ds.component_parents.get(c as usize).cloned().flatten();
            list.push(ComponentInfo { name, flops: c_flops.get(i).unwrap_or(0.0), bytes: c_bytes.get(i).unwrap_or(0.0), parent });
        }
    }
    Ok(costs)
}

fn strings(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    Ok(df.column(name)?.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

/// The setups table's rows, each into its trace's document.
fn add_setups(ds: &Dataset, traces: &mut [TraceDoc]) -> Result<()> {
    let s = &ds.setups;
    let s_trace = s.column("trace_id")?.u32()?;
    let s_variant = strings(s, "variant")?;
    let s_name = strings(s, "name")?;
    let s_frames = s.column("frames")?.u32()?;
    let s_tokens = s.column("tokens")?.u64()?;
    let s_duration = s.column("duration_ns")?.u64()?;
    let s_memory = s.column("memory_bytes")?.u64()?;
    for i in 0..s.height() {
        let Some(doc) = traces.get_mut(s_trace.get(i).unwrap_or(0) as usize) else { continue };
        doc.setups.push(SetupRecord {
            variant: s_variant[i].clone().unwrap_or_default(),
            name: s_name[i].clone().unwrap_or_default(),
            frames: s_frames.get(i).unwrap_or(0),
            tokens: s_tokens.get(i).unwrap_or(0),
            duration_ns: s_duration.get(i).unwrap_or(0),
            memory_bytes: s_memory.get(i).unwrap_or(0),
        });
    }
    Ok(())
}

/// One row per run (row index = `run_id`): the key columns of [`EVENT_COLUMNS`] (all but the
/// event's own). `gpu` is NULL on machines without one; `resolution` is `HEIGHTxWIDTH` in pixels.
pub(crate) fn run_keys(ds: &Dataset) -> Result<DataFrame> {
    let tr = &ds.traces;
    let heights = tr.column("height")?.u32()?;
    let widths = tr.column("width")?.u32()?;
    let resolution: Vec<String> =
        heights.iter().zip(widths.iter()).map(|(h, w)| format!("{}x{}", h.unwrap_or(0), w.unwrap_or(0))).collect();
    let gpu: Vec<Option<String>> = tr.column("gpu_name")?.str()?.iter().map(|g| g.filter(|g| !g.is_empty()).map(str::to_string)).collect();
    let per_trace = DataFrame::new(
        tr.height(),
        vec![
            tr.column("file")?.clone(),
            tr.column("machine")?.clone(),
            tr.column("backend")?.clone(),
            Column::new("gpu".into(), gpu),
            tr.column("dtype")?.clone(),
            tr.column("preset")?.clone(),
            tr.column("blocks")?.clone(),
            Column::new("resolution".into(), resolution),
        ],
    )?;
    let trace_ids = UInt32Chunked::from_vec(TRACE_ID.into(), ds.runs.iter().map(|r| r.trace_id).collect());
    let mut columns: Vec<Column> = vec![Column::new(TRACE.into(), trace_ids.clone().into_series())];
    let gathered = per_trace.take(&trace_ids)?;
    columns.extend(gathered.columns().iter().cloned());
    columns.extend(crate::tables::select(RUN_COLUMNS, &ds.runs, &RUN_KEY_COLUMNS)?);
    Ok(DataFrame::new(ds.runs.len(), columns)?)
}

/// The events with their trace and run keys, in the loaded order: the columns
/// [`EVENT_COLUMNS`]; `block` is NULL for events outside the blocks.
pub(crate) fn keyed_events(ds: &Dataset) -> Result<DataFrame> {
    keyed_slice(ds, &run_keys(ds)?, 0, ds.events.height())
}

/// [`keyed_events`] of `len` events from `offset` on, with the [`run_keys`] given.
fn keyed_slice(ds: &Dataset, keys: &DataFrame, offset: usize, len: usize) -> Result<DataFrame> {
    let ev = &ds.events.slice(offset as i64, len);
    let run_ids = ev.column("run_id")?.u32()?.clone();
    let mut columns: Vec<Column> = keys.take(&run_ids)?.columns().to_vec();
    let names = Series::new(COMPONENT.into(), ds.component_names.clone());
    columns.push(names.take(ev.column("component_id")?.u32()?)?.into());
    let block: UInt32Chunked = ev.column("block")?.i32()?.iter().map(|b| b.and_then(|b| u32::try_from(b).ok())).collect();
    columns.push(block.with_name(BLOCK.into()).into_series().into());
    columns.push(ev.column("start_ns")?.clone());
    columns.push(ev.column("duration_ns")?.clone());
    Ok(DataFrame::new(ev.height(), columns)?)
}
