//! The tidy events table as Parquet (zstd-compressed, through polars-io's eager writer): one row
//! per event, each carrying the keys of its trace and run, so that any Parquet reader (DuckDB,
//! Spark, pandas, polars) can group and filter without joins. The columns are [`EVENT_COLUMNS`];
//! `docs/tables.md` gives their types and meaning.
//!
//! The file also holds, as file-level key/value metadata under [`EXPORT_KEY`], a JSON document
//! with everything else the analyzer loaded (each trace's metadata, calibration, runs with their
//! component costs, setups), so that `mlx-analyze events.parquet` rebuilds the same
//! [`Dataset`] and gives the same report as the traces it was exported from
//! ([`crate::load_parquet`]).

use std::collections::HashMap;
use std::io::Write;

use polars::prelude::*;
use polars_io::parquet::write::{KeyValueMetadata, ParquetWriter};
use serde::{Deserialize, Serialize};
use trace_format::{Calibration, ComponentInfo, Drift, Metadata, Perturbation, RunRecord, SetupRecord};

use crate::error::{Error, Result};
use crate::load::Dataset;

use super::Export;

/// Parquet file of the tidy events, with the trace and run keys on every row.
pub struct ParquetExport;

/// Key of the file-level metadata that marks a Parquet file as an export of this analyzer.
pub const EXPORT_KEY: &str = "mlx-trace.export";
/// The `kind` of an events export in that document.
pub const EXPORT_KIND: &str = "mlx-analyze events";
/// Version of the embedded document (and of the columns).
pub const EXPORT_VERSION: u32 = 1;

/// Keys of a run, on every row: its trace (`file` and the trace's machine, backend, GPU, dtype,
/// model and resolution) and the run itself.
pub const KEY_COLUMNS: [&str; 15] = [
    "trace", "file", "machine", "backend", "gpu", "dtype", "preset", "blocks", "resolution", "variant", "sync", "frames", "tokens", "run",
    "warmup",
];

/// Columns of the exported events, in order: [`KEY_COLUMNS`], then the event.
pub const EVENT_COLUMNS: [&str; 19] = [
    "trace", "file", "machine", "backend", "gpu", "dtype", "preset", "blocks", "resolution", "variant", "sync", "frames", "tokens", "run",
    "warmup", "component", "block", "start_ns", "duration_ns",
];

/// Events per row group: the keyed rows are built and written one group at a time, so the
/// export needs memory for one group beside the loaded events, not for all the keyed rows.
const ROWS_PER_GROUP: usize = 1 << 18;

impl Export for ParquetExport {
    fn write(&self, ds: &Dataset, out: &mut dyn Write) -> Result<()> {
        let document = serde_json::to_string(&ExportDoc::of(ds)?)?;
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

/// The embedded document: what the events rows do not hold.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ExportDoc {
    /// Always [`EXPORT_KIND`].
    pub kind: String,
    /// [`EXPORT_VERSION`] when written by this version.
    pub version: u32,
    /// One entry per trace; the `trace` column indexes this list.
    pub traces: Vec<TraceDoc>,
}

/// One trace of an export: its runs without their events (the rows hold them).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TraceDoc {
    /// The trace's name as it was loaded.
    pub file: String,
    /// Header metadata.
    pub metadata: Metadata,
    /// The first calibration record.
    pub calibration: Option<Calibration>,
    /// Whether the trace had its end marker.
    pub complete: bool,
    /// One-off setup costs.
    pub setups: Vec<SetupRecord>,
    /// The runs loaded (warm-up runs only when loaded with them), with component costs and
    /// no events.
    pub runs: Vec<RunRecord>,
    /// Event rows of each run, in the order of `runs`: the reader checks the rows against
    /// them, so an export whose rows were removed or duplicated is refused. Empty in exports
    /// written before it existed (not checked then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_counts: Vec<u64>,
}

fn strings(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    Ok(df.column(name)?.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

fn parse_enum<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| Error::Invalid(format!("unknown {what} {text:?} in the loaded runs")))
}

impl ExportDoc {
    /// The document of a loaded dataset.
    pub(crate) fn of(ds: &Dataset) -> Result<Self> {
        let runs = &ds.runs;
        let trace = runs.column("trace_id")?.u32()?;
        let run = runs.column("run")?.u32()?;
        let variant = strings(runs, "variant")?;
        let sync = strings(runs, "sync")?;
        let warmup = runs.column("warmup")?.bool()?;
        let frames = runs.column("frames")?.u32()?;
        let tokens = runs.column("tokens")?.u64()?;
        let forward = runs.column("forward_ns")?.u64()?;
        let graph = runs.column("graph_ns")?.u64()?;
        let active = runs.column("active_memory_bytes")?.u64()?;
        let peak = runs.column("peak_memory_bytes")?.u64()?;
        let drift_max = runs.column("drift_max_rel")?.f64()?;
        let drift_mean = runs.column("drift_mean_rel")?.f64()?;
        let p_kind = strings(runs, "perturb_kind")?;
        let p_target = strings(runs, "perturb_target")?;
        let p_copies = runs.column("perturb_copies")?.u32()?;
        let p_round = runs.column("perturb_round")?.u32()?;
        let p_rbytes = runs.column("reduced_bytes")?.u64()?;
        let p_rarrays = runs.column("reduced_arrays")?.u64()?;
        let p_calls = runs.column("target_calls")?.u32()?;
        let p_flops = runs.column("target_flops")?.f64()?;
        let p_bytes = runs.column("target_bytes")?.f64()?;

        // Component costs per run, in the order they were recorded.
        let mut costs: Vec<Vec<ComponentInfo>> = vec![Vec::new(); runs.height()];
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
        let mut counts = vec![0u64; runs.height()];
        for r in ds.events.column("run_id")?.u32()?.iter().flatten() {
            if let Some(c) = counts.get_mut(r as usize) {
                *c += 1;
            }
        }
        for (i, components) in costs.into_iter().enumerate() {
            let t = trace.get(i).unwrap_or(0) as usize;
            let Some(doc) = traces.get_mut(t) else { continue };
            let sync_mode = parse_enum(sync[i].as_deref().unwrap_or(""), "sync mode")?;
            let mut r = RunRecord::new(run.get(i).unwrap_or(0), variant[i].as_deref().unwrap_or(""), sync_mode, frames.get(i).unwrap_or(0), tokens.get(i).unwrap_or(0));
            r.warmup = warmup.get(i).unwrap_or(false);
            r.forward_ns = forward.get(i).unwrap_or(0);
            r.graph_ns = graph.get(i);
            r.active_memory_bytes = active.get(i).unwrap_or(0);
            r.peak_memory_bytes = peak.get(i).unwrap_or(0);
            r.drift = drift_max.get(i).map(|max_rel| Drift { max_rel, mean_rel: drift_mean.get(i).unwrap_or(0.0) });
            r.perturbation = match &p_kind[i] {
                None => None,
                Some(kind) => Some(Perturbation {
                    kind: parse_enum(kind, "perturbation kind")?,
                    target: p_target[i].clone(),
                    copies: p_copies.get(i).unwrap_or(0),
                    round: p_round.get(i).unwrap_or(0),
                    reduced_bytes: p_rbytes.get(i).unwrap_or(0),
                    reduced_arrays: p_rarrays.get(i).unwrap_or(0),
                    target_calls: p_calls.get(i).unwrap_or(0),
                    target_flops: p_flops.get(i).unwrap_or(0.0),
                    target_bytes: p_bytes.get(i).unwrap_or(0.0),
                    target_parent: p_target[i]
                        .as_ref()
                        .and_then(|t| ds.component_names.iter().position(|n| n == t))
                        .and_then(|c| ds.component_parents.get(c).cloned().flatten()),
                }),
            };
            r.components = components;
            doc.runs.push(r);
            doc.event_counts.push(counts[i]);
        }

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
        Ok(ExportDoc { kind: EXPORT_KIND.to_string(), version: EXPORT_VERSION, traces })
    }
}

/// One row per run (row index = `run_id`): the columns [`KEY_COLUMNS`]. `gpu` is NULL on
/// machines without one; `resolution` is `HEIGHTxWIDTH` in pixels.
pub fn run_keys(ds: &Dataset) -> Result<DataFrame> {
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
    let runs = &ds.runs;
    let trace_ids = runs.column("trace_id")?.u32()?.clone();
    let mut columns: Vec<Column> = vec![Column::new("trace".into(), trace_ids.clone().into_series())];
    let gathered = per_trace.take(&trace_ids)?;
    columns.extend(gathered.columns().iter().cloned());
    for name in ["variant", "sync", "frames", "tokens", "run", "warmup"] {
        columns.push(runs.column(name)?.clone());
    }
    Ok(DataFrame::new(runs.height(), columns)?)
}

/// The events with their trace and run keys, in the loaded order: the columns
/// [`EVENT_COLUMNS`]; `block` is NULL for events outside the blocks.
pub fn keyed_events(ds: &Dataset) -> Result<DataFrame> {
    keyed_slice(ds, &run_keys(ds)?, 0, ds.events.height())
}

/// [`keyed_events`] of `len` events from `offset` on, with the [`run_keys`] given.
fn keyed_slice(ds: &Dataset, keys: &DataFrame, offset: usize, len: usize) -> Result<DataFrame> {
    let ev = &ds.events.slice(offset as i64, len);
    let run_ids = ev.column("run_id")?.u32()?.clone();
    let mut columns: Vec<Column> = keys.take(&run_ids)?.columns().to_vec();
    let names = Series::new("component".into(), ds.component_names.clone());
    columns.push(names.take(ev.column("component_id")?.u32()?)?.into());
    let block: UInt32Chunked = ev.column("block")?.i32()?.iter().map(|b| b.and_then(|b| u32::try_from(b).ok())).collect();
    columns.push(block.with_name("block".into()).into_series().into());
    columns.push(ev.column("start_ns")?.clone());
    columns.push(ev.column("duration_ns")?.clone());
    Ok(DataFrame::new(ev.height(), columns)?)
}

/// Index of every (trace, run as recorded) in the runs table, for readers.
pub(crate) fn run_index(doc: &ExportDoc) -> HashMap<(u32, u32), (usize, usize)> {
    let mut index = HashMap::new();
    for (t, trace) in doc.traces.iter().enumerate() {
        for (r, run) in trace.runs.iter().enumerate() {
            index.insert((t as u32, run.run), (t, r));
        }
    }
    index
}
