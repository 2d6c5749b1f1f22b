//! Loading: expands file arguments, decodes and validates each trace, and turns the traces
//! into the typed runs and DataFrames of a [`Dataset`]. This is the only module that builds
//! tables from trace records.
//!
//! Tables (a star schema: `events` is the one tidy fact table, keyed into the others):
//! - `traces`: one row per loaded file: machine, software, model and calibration columns, plus
//!   one `label.KEY` column per user label.
//! - `runs`: one row per forward pass (warm-up runs only with `include_warmup`), kept typed
//!   ([`crate::tables::runs`] declares its row and columns).
//! - `components`: per run and component, the FLOPs and bytes of one invocation, and the run's
//!   totals of its events (`calls`, `total_ns`, `max_block`): the common input of the analyses.
//! - `events`: one row per timed interval: run, component, block (-1 outside), start, duration.
//! - `setups`: one-off costs per variant.
//!
//! Files are decoded on all cores (rayon), each into its own small frames: the per-run
//! component totals are a polars group-by over the file's events, joined to the component
//! costs, while the file is decoded. The events themselves are kept only when asked
//! ([`LoadOptions::skip_events`] false, the default): each file's events then become one chunk of
//! the event columns (moved, not copied). Without them, memory holds only the totals, so ten
//! thousand traces (170 million events) fit in a few GiB.
//!
//! Each trace counts once: a file whose bytes equal those of a file loaded before it (the same
//! file named twice, or by a glob and by its directory, or a copy) is listed in
//! [`Dataset::skipped`] with the file it repeats, and not loaded again.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use polars::prelude::*;
use rayon::prelude::*;
use trace_format::{Calibration, Metadata, SetupRecord};

use crate::error::{Error, Result};
use crate::tables::runs::{Run, RUN_COLUMNS};

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Keep warm-up runs (excluded by default).
    pub include_warmup: bool,
    /// Decoding threads (0: one per core).
    pub threads: usize,
    /// Leave the `events` table empty (with its columns): the analyses read the per-run totals
    /// of `components`, which are computed either way; the event exports need the events.
    pub skip_events: bool,
    /// Draw a progress bar over the files on standard error (only when it is a terminal and
    /// there are enough files for loading to take a while).
    pub progress: bool,
}

/// A file that was not analysed, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Skipped {
    /// The file as named.
    pub file: String,
    /// The reason, one line.
    pub reason: String,
}

/// Typed facts about one loaded trace, beside its row in the `traces` table.
#[derive(Debug, Clone)]
pub struct TraceInfo {
    /// The file as named.
    pub file: String,
    /// Header metadata.
    pub metadata: Metadata,
    /// The first calibration record, if any.
    pub calibration: Option<Calibration>,
    /// Whether the end marker was present.
    pub complete: bool,
}

/// Everything loaded.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// One row per trace (`trace_id` = row index).
    pub traces: DataFrame,
    /// One row per run (`run_id` = index), typed; [`Dataset::runs_frame`] is its DataFrame.
    pub runs: Vec<Run>,
    /// Per run and component: FLOPs and bytes per invocation, and the totals of the run's events
    /// (`calls`, `total_ns`, `max_block`; 0, 0 and -1 when it has none).
    pub components: DataFrame,
    /// One row per event (no rows when loaded with [`LoadOptions::skip_events`]).
    pub events: DataFrame,
    /// One-off setup costs.
    pub setups: DataFrame,
    /// `component_id` -> name.
    pub component_names: Vec<String>,
    /// `component_id` -> the name of the component it runs inside (nested components, as the
    /// Python recorder's `profile` writes them); `None` at the top level.
    pub(crate) component_parents: Vec<Option<String>>,
    /// Typed per-trace facts, indexed by `trace_id`.
    pub trace_info: Vec<TraceInfo>,
    /// Files skipped, with reasons.
    pub skipped: Vec<Skipped>,
    /// Warnings (`file: text`) about files that were loaded.
    pub warnings: Vec<String>,
}

impl Dataset {
    /// The `runs` table as a DataFrame, for polars (`--sql`, exports, summaries): the columns
    /// [`RUN_COLUMNS`] declares.
    pub fn runs_frame(&self) -> Result<DataFrame> {
        Ok(crate::tables::frame(RUN_COLUMNS, &self.runs)?)
    }

    /// Number of events loaded (the sum of the per-run component totals' calls, so it is known
    /// whether the events table was kept or not).
    pub fn event_count(&self) -> usize {
        self.components
            .column("calls")
            .ok()
            .and_then(|c| c.as_materialized_series().sum::<u64>().ok())
            .map_or(self.events.height(), |n| n as usize)
    }
}

/// Expands file arguments: plain files, directories (their `*.msgpack` and `*.msgpack.partial`
/// files) and glob patterns. Patterns matching nothing and missing files are reported as skipped.
pub fn expand_inputs(args: &[String]) -> Result<(Vec<PathBuf>, Vec<Skipped>)> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for arg in args {
        let is_pattern = arg.contains(['*', '?', '[']);
        if is_pattern {
            let paths = glob::glob(arg).map_err(|e| Error::Pattern { pattern: arg.clone(), reason: e.to_string() })?;
            let mut matched: Vec<PathBuf> = paths.filter_map(|p| p.ok()).filter(|p| p.is_file()).collect();
            matched.sort();
            if matched.is_empty() {
                skipped.push(Skipped { file: arg.clone(), reason: "pattern matched no files".into() });
            }
            files.extend(matched);
        } else {
            let path = PathBuf::from(arg);
            if path.is_dir() {
                let mut inside: Vec<PathBuf> = std::fs::read_dir(&path)
                    .map_err(|source| Error::Io { path: path.clone(), source })?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        let name = p.to_string_lossy();
                        p.is_file() && (name.ends_with(".msgpack") || name.ends_with(".msgpack.partial"))
                    })
                    .collect();
                inside.sort();
                if inside.is_empty() {
                    skipped.push(Skipped { file: arg.clone(), reason: "directory holds no .msgpack files".into() });
                }
                files.extend(inside);
            } else if path.exists() {
                files.push(path);
            } else {
                skipped.push(Skipped { file: arg.clone(), reason: "no such file".into() });
            }
        }
    }
    Ok((files, skipped))
}

/// Loads trace files. Unreadable or foreign files are skipped and listed in
/// [`Dataset::skipped`]; it is an error only when nothing could be loaded.
pub fn load_files(paths: &[PathBuf], options: &LoadOptions) -> Result<Dataset> {
    let sources: Vec<Source> = paths.iter().map(|p| Source::File(p.clone())).collect();
    load_sources(sources, options)
}

/// Loads traces held in memory, each with a display name (for tests and tools).
pub fn load_bytes(traces: Vec<(String, Vec<u8>)>, options: &LoadOptions) -> Result<Dataset> {
    let sources = traces.into_iter().map(|(name, bytes)| Source::Bytes(name, bytes)).collect();
    load_sources(sources, options)
}

enum Source {
    File(PathBuf),
    Bytes(String, Vec<u8>),
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Bytes(n, _) => n.clone(),
        }
    }
}

/// Identity of a file's content: its length and the two halves of its 128-bit XXH3 hash.
type ContentKey = (usize, u64, u64);

fn content_key(bytes: &[u8]) -> ContentKey {
    let h = xxhash_rust::xxh3::xxh3_128(bytes);
    (bytes.len(), h as u64, (h >> 64) as u64)
}

/// One decoded file, before ids are made global.
struct FileChunk {
    content: ContentKey,
    info: TraceInfo,
    warnings: Vec<String>,
    names: Vec<String>,
    /// Parent of each local component, when the trace nests them.
    parents: Vec<Option<String>>,
    /// The runs, their `trace_id` set when the trace is merged.
    runs: Vec<Run>,
    /// Per (run index in this file, local component id): costs and event totals.
    components: DataFrame,
    /// The file's events with local ids (no rows with [`LoadOptions::skip_events`]).
    events: DataFrame,
    /// What the totals are computed from, one entry per event: `run << 32 | component`
    /// (local ids), block and duration; emptied once the totals are made.
    keys: Vec<u64>,
    blocks: Vec<i32>,
    durations: Vec<u64>,
    /// The durations sum past u64::MAX (summed as f64 then, saturating).
    huge: bool,
    setups: Vec<SetupRecord>,
}

/// Columns of the `components` table, in order.
pub(crate) const COMPONENT_COLUMNS: [&str; 7] = ["run_id", "component_id", "flops", "bytes", "calls", "total_ns", "max_block"];

fn component_schema() -> Schema {
    Schema::from_iter([
        Field::new("run_id".into(), DataType::UInt32),
        Field::new("component_id".into(), DataType::UInt32),
        Field::new("flops".into(), DataType::Float64),
        Field::new("bytes".into(), DataType::Float64),
        Field::new("calls".into(), DataType::UInt64),
        Field::new("total_ns".into(), DataType::UInt64),
        Field::new("max_block".into(), DataType::Int32),
    ])
}

/// Adds the totals of the events to a per-run component table (`run_id`, `component_id`,
/// `flops`, `bytes`): `calls`, `total_ns` and `max_block` of each (run, component), by a polars
/// group-by over `events` left-joined to the table (0, 0 and -1 where a component has no
/// event), sorted by run and component. Loading calls it per file; a reader of other inputs that has the events can call it.
pub(crate) fn with_event_totals(costs: DataFrame, events: &DataFrame) -> Result<DataFrame> {
    let keyed = events
        .clone()
        .lazy()
        .select([
            (col("run_id").cast(DataType::UInt64) * lit(1u64 << 32) + col("component_id").cast(DataType::UInt64)).alias("key"),
            col("block"),
            col("duration_ns"),
        ])
        .collect()?;
    // Whether the durations could sum past u64::MAX: then they are summed as f64.
    let huge = events.column("duration_ns")?.u64()?.iter().flatten().try_fold(0u64, |a, d| a.checked_add(d)).is_none();
    totals_by_key(costs, keyed, huge)
}

/// One input: a trace file, or (starting with `PAR1`) an events export of this analyzer,
/// which holds any number of traces ([`crate::load_parquet`]).
fn decode(source: &Source, options: &LoadOptions) -> std::result::Result<Vec<FileChunk>, String> {
    let name = source.name();
    let read;
    let bytes: &[u8] = match source {
        Source::File(path) => {
            read = std::fs::read(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
                _ => e.to_string(),
            })?;
            &read
        }
        Source::Bytes(_, bytes) => bytes,
    };
    if crate::load_parquet::is_parquet(bytes) {
        let traces = crate::load_parquet::read_traces(bytes)?;
        return traces.into_iter().map(|t| decode_trace(t.name, t.identity, t.trace, options)).collect();
    }
    let content = content_key(bytes);
    let trace = trace_format::read_trace(bytes).map_err(|e| e.to_string())?;
    Ok(vec![decode_trace(name, content, trace, options)?])
}

/// One decoded trace, named `name`, into its frames.
fn decode_trace(name: String, content: ContentKey, trace: trace_format::Trace, options: &LoadOptions) -> std::result::Result<FileChunk, String> {
    let mut warnings: Vec<String> = trace.warnings.iter().map(|w| format!("{name}: {w}")).collect();
    if name.ends_with(".partial") {
        warnings.push(format!("{name}: partial trace (recording still running or interrupted); using its complete runs"));
    }
    let mut comps = LocalComponents::default();
    let mut runs = Vec::new();
    let mut events = EventBuf::default();
    let kept: Vec<_> = trace.runs.into_iter().filter(|r| options.include_warmup || !r.warmup).collect();
    let total: usize = kept.iter().map(|r| r.events.len()).sum();
    if !options.skip_events {
        events.reserve(total);
    }
    let mut sums = TotalsInput::with_capacity(total);
    for run in &kept {
        let r = runs.len() as u32;
        let local = comps.add_run(r, run);
        let bad = sums.add_run(r, run, &local, comps.ids.names.len(), (!options.skip_events).then_some(&mut events));
        if bad > 0 {
            warnings.push(format!("{name}: run {}: {bad} event(s) name no component of the run; dropped", run.run));
        }
        runs.push(Run::from_record(0, run));
    }
    drop(kept);
    if runs.is_empty() {
        warnings.push(format!("{name}: no {}runs to analyse", if options.include_warmup { "" } else { "timed (non-warm-up) " }));
    }
    let LocalComponents { ids: ComponentNames { names, parents, .. }, c_run, c_component, c_flops, c_bytes } = comps;
    let costs = DataFrame::new(
        c_run.len(),
        vec![
            Column::new("run_id".into(), c_run),
            Column::new("component_id".into(), c_component),
            Column::new("flops".into(), c_flops),
            Column::new("bytes".into(), c_bytes),
        ],
    )
    .map_err(|e| e.to_string())?;
    let events = events.into_frame().map_err(|e| e.to_string())?;
    // The totals are added by `add_totals`, over several files at once.
    let components = costs;
    Ok(FileChunk {
        content,
        info: TraceInfo {
            file: name,
            metadata: trace.header.metadata,
            calibration: trace.calibrations.first().cloned(),
            complete: trace.complete,
        },
        warnings,
        names,
        parents,
        runs,
        components,
        events,
        keys: sums.keys,
        blocks: sums.blocks,
        durations: sums.durations,
        huge: sums.huge,
        setups: trace.setups,
    })
}

/// Component names under ids in order of first appearance, each with the first parent named
/// for it: one trace's (local ids) or the whole load's (global ids).
#[derive(Default)]
struct ComponentNames {
    /// Name per id.
    names: Vec<String>,
    /// Parent per id, when the traces nest them.
    parents: Vec<Option<String>>,
    /// Id per name.
    index: HashMap<String, u32>,
}

impl ComponentNames {
    /// The id of `name`, registered on first sight.
    fn id(&mut self, name: &String) -> u32 {
        let (names, parents) = (&mut self.names, &mut self.parents);
        *self.index.entry(name.clone()).or_insert_with(|| {
            names.push(name.clone());
            parents.push(None);
            (names.len() - 1) as u32
        })
    }

    /// Gives `id` the parent `parent` unless it already has one.
    fn name_parent(&mut self, id: u32, parent: Option<&String>) {
        if self.parents[id as usize].is_none() {
            self.parents[id as usize] = parent.cloned();
        }
    }
}

/// One trace's components under local ids with their parents, and the costs of each (run,
/// component).
#[derive(Default)]
struct LocalComponents {
    /// The trace's names under local ids.
    ids: ComponentNames,
    /// Run index in this file, one row per (run, component).
    c_run: Vec<u32>,
    /// Local component id, same rows.
    c_component: Vec<u32>,
    /// FLOPs, same rows.
    c_flops: Vec<f64>,
    /// Bytes, same rows.
    c_bytes: Vec<f64>,
}

impl LocalComponents {
    /// Registers run `r`'s components and their costs, and the parent its duplicate names for
    /// its target; returns the local id of each of the run's components, by position.
    fn add_run(&mut self, r: u32, run: &trace_format::RunRecord) -> Vec<u32> {
        let mut local = Vec::with_capacity(run.components.len());
        for c in &run.components {
            let id = self.ids.id(&c.name);
            // A parent named by any run counts (none is never an ancestor of itself).
            self.ids.name_parent(id, c.parent.as_ref().filter(|p| **p != c.name));
            // A name listed twice in one run keeps its first costs (its events are one component).
            if !local.contains(&id) {
                self.c_run.push(r);
                self.c_component.push(id);
                self.c_flops.push(c.flops);
                self.c_bytes.push(c.bytes);
            }
            local.push(id);
        }
        // A duplicate run names its target's parent too (the target may have no event).
        if let Some((target, parent)) = run.perturbation.as_ref().and_then(|p| Some((p.target.as_ref()?, p.target_parent.as_ref()?))) {
            let id = self.ids.id(target);
            self.ids.name_parent(id, Some(parent).filter(|p| p != &target));
        }
        local
    }
}

/// What a trace's event totals are computed from, one entry per event, laid out sorted by
/// (run, component): `run << 32 | component` (local ids), block and duration.
struct TotalsInput {
    /// `run << 32 | component` per event.
    keys: Vec<u64>,
    /// Block per event (-1: none).
    blocks: Vec<i32>,
    /// Duration per event, ns.
    durations: Vec<u64>,
    /// Sum of the durations so far (0 once it overflowed).
    duration_sum: u64,
    /// The durations sum past u64::MAX.
    huge: bool,
    /// Scratch, reused across runs: events per local component, then where each goes.
    counts: Vec<usize>,
    /// Scratch, reused across runs: the run's (component, block, duration) in file order.
    run_events: Vec<(u32, i32, u64)>,
}

impl TotalsInput {
    /// Room for `total` events.
    fn with_capacity(total: usize) -> Self {
        TotalsInput {
            keys: Vec::with_capacity(total),
            blocks: Vec::with_capacity(total),
            durations: Vec::with_capacity(total),
            duration_sum: 0,
            huge: false,
            counts: Vec::new(),
            run_events: Vec::new(),
        }
    }

    /// Adds run `r`'s events (components by `local` position, `n_names` local ids so far),
    /// copying them into `events` unless events are skipped; returns how many name no
    /// component of the run (dropped). The layout is a counting sort by component within the
    /// run: polars then groups them as contiguous slices, without hashing (an order of
    /// magnitude faster than a hash group-by).
    fn add_run(&mut self, r: u32, run: &trace_format::RunRecord, local: &[u32], n_names: usize, mut events: Option<&mut EventBuf>) -> usize {
        let TotalsInput { keys, blocks, durations, duration_sum, huge, counts, run_events } = self;
        let mut bad = 0usize;
        let first = keys.len();
        counts.clear();
        counts.resize(n_names, 0);
        run_events.clear();
        for e in run.events() {
            let Some(&id) = local.get(e.component as usize) else {
                bad += 1;
                continue;
            };
            let block = e.block.map_or(-1, |b| b as i32);
            counts[id as usize] += 1;
            run_events.push((id, block, e.duration_ns));
            (*duration_sum, *huge) = match duration_sum.checked_add(e.duration_ns) {
                Some(sum) => (sum, *huge),
                None => (0, true),
            };
            if let Some(events) = events.as_deref_mut() {
                events.run.push(r);
                events.component.push(id);
                events.block.push(block);
                events.start.push(e.start_ns);
                events.duration.push(e.duration_ns);
            }
        }
        let mut at = first;
        for c in counts.iter_mut() {
            (*c, at) = (at, at + *c);
        }
        keys.resize(at, 0);
        blocks.resize(at, 0);
        durations.resize(at, 0);
        for &(id, block, duration) in run_events.iter() {
            let p = &mut counts[id as usize];
            keys[*p] = u64::from(r) << 32 | u64::from(id);
            blocks[*p] = block;
            durations[*p] = duration;
            *p += 1;
        }
        bad
    }
}

/// Files decoded before their events are reduced, at most: one polars query per window (a query
/// costs about a millisecond whatever its size, more than decoding a small file).
const WINDOW_FILES: usize = 256;
/// Bytes of files decoded before their events are reduced, at least one file: bounds the
/// memory the decoded events of a window take.
const WINDOW_BYTES: u64 = 64 << 20;

/// Adds the event totals to the `components` of each chunk (which holds the costs alone),
/// one polars group-by for all of them: runs are numbered across the chunks for the query, the
/// chunks' own numbering restored after.
fn add_totals(chunks: &mut [&mut FileChunk]) -> Result<()> {
    if chunks.is_empty() {
        return Ok(());
    }
    let n: usize = chunks.iter().map(|c| c.keys.len()).sum();
    let (mut keys, mut blocks, mut durations) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut costs: Option<DataFrame> = None;
    let mut run_offsets = Vec::with_capacity(chunks.len());
    let mut offset = 0u32;
    let mut huge = false;
    for chunk in chunks.iter_mut() {
        run_offsets.push(offset);
        let shift = u64::from(offset) << 32;
        keys.extend(std::mem::take(&mut chunk.keys).into_iter().map(|k| k + shift));
        blocks.append(&mut chunk.blocks);
        durations.append(&mut chunk.durations);
        huge |= chunk.huge;
        let mut c = chunk.components.clone();
        let run = c.column("run_id")?.u32()? + offset;
        c.with_column(run.into_column())?;
        match &mut costs {
            Some(all) => {
                all.vstack_mut_owned(c)?;
            }
            None => costs = Some(c),
        }
        offset += chunk.runs.len() as u32;
    }
    let Some(mut costs) = costs else { return Ok(()) };
    costs.rechunk_mut();

    // Each chunk's keys are sorted (see `decode_trace`) and the chunks' runs follow each other.
    let mut keys = UInt64Chunked::from_vec("key".into(), keys);
    keys.set_sorted_flag(polars::series::IsSorted::Ascending);
    let events = DataFrame::new(
        n,
        vec![
            keys.into_series().into(),
            Int32Chunked::from_vec("block".into(), blocks).into_series().into(),
            UInt64Chunked::from_vec("duration_ns".into(), durations).into_series().into(),
        ],
    )?;
    // Sorted by run: each chunk's rows are one slice, as many as its cost rows.
    let table = totals_by_key(costs, events, huge)?;

    let mut start = 0i64;
    for (chunk, first_run) in chunks.iter_mut().zip(run_offsets) {
        let rows = chunk.components.height();
        let mut part = table.slice(start, rows);
        let run = part.column("run_id")?.u32()? - first_run;
        part.with_column(run.into_column())?;
        chunk.components = part;
        start += rows as i64;
    }
    Ok(())
}

/// The per-run component table with the totals of the events: `events` holds `key` (`run_id <<
/// 32 | component_id`), `block` and `duration_ns`. With `huge`, durations are summed as f64
/// (exact below 2^53 ns, 104 days) and saturate at u64::MAX instead of wrapping.
fn totals_by_key(costs: DataFrame, events: DataFrame, huge: bool) -> Result<DataFrame> {
    let key = || (col("run_id").cast(DataType::UInt64) * lit(1u64 << 32) + col("component_id").cast(DataType::UInt64)).alias("key");
    let sum = if huge {
        col("duration_ns").cast(DataType::Float64).sum().cast(DataType::UInt64).fill_null(lit(u64::MAX))
    } else {
        col("duration_ns").sum()
    };
    let totals = events.lazy().group_by([col("key")]).agg([
        len().cast(DataType::UInt64).alias("calls"),
        sum.alias("total_ns"),
        col("block").max().alias("max_block"),
    ]);
    Ok(costs
        .lazy()
        .with_column(key())
        .join(totals, [col("key")], [col("key")], JoinArgs::new(JoinType::Left))
        .sort(["key"], SortMultipleOptions::default())
        .with_columns([
            col("calls").fill_null(lit(0u64)),
            col("total_ns").fill_null(lit(0u64)),
            col("max_block").fill_null(lit(-1i32)),
        ])
        .select(COMPONENT_COLUMNS.map(col))
        .collect()?)
}

/// Input order cut into windows of at most [`WINDOW_FILES`] files and about [`WINDOW_BYTES`].
fn windows(sources: &[Source]) -> Vec<std::ops::Range<usize>> {
    let size = |s: &Source| match s {
        Source::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
        Source::Bytes(_, b) => b.len() as u64,
    };
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0usize, 0u64);
    for (i, s) in sources.iter().enumerate() {
        bytes += size(s);
        if i + 1 - start >= WINDOW_FILES || bytes >= WINDOW_BYTES {
            out.push(start..i + 1);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < sources.len() {
        out.push(start..sources.len());
    }
    out
}

fn load_sources(sources: Vec<Source>, options: &LoadOptions) -> Result<Dataset> {
    // Each window's files are decoded on all cores (rayon), then their events reduced by one
    // polars query (itself on all cores) and merged in input order, so that ids do not depend
    // on thread timing. A panic while decoding propagates (rayon re-raises it) instead of
    // losing the file.
    let pool = match options.threads {
        0 => None,
        n => Some(
            rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(|e| Error::Invalid(format!("--threads {n}: {e}")))?,
        ),
    };
    let decode_window = |window: &[Source]| -> Vec<std::result::Result<Vec<FileChunk>, String>> {
        let run = || window.par_iter().map(|s| decode(s, options)).collect();
        match &pool {
            Some(pool) => pool.install(run),
            // polars' own pool: one pool for decoding and for the queries, whose idle threads
            // would otherwise spin beside the other's.
            None => polars_core::runtime::THREAD_POOL.install(run),
        }
    };
    let mut merger = Merger::default();
    let ranges = windows(&sources);
    let bar = progress_bar(options.progress && ranges.len() > 1, sources.len());
    // While one window's events are reduced, the next window is decoded.
    let mut next = ranges.first().map(|r| decode_window(&sources[r.clone()]));
    for (i, range) in ranges.iter().enumerate() {
        let window = &sources[range.clone()];
        let Some(mut decoded) = next.take() else { break };
        let (reduced, following) = std::thread::scope(|scope| {
            let following = ranges.get(i + 1).map(|r| scope.spawn(|| decode_window(&sources[r.clone()])));
            let mut chunks: Vec<&mut FileChunk> = decoded.iter_mut().filter_map(|r| r.as_mut().ok()).flatten().collect();
            let reduced = add_totals(&mut chunks);
            (reduced, following.map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))))
        });
        reduced?;
        next = following;
        for (source, result) in window.iter().zip(decoded) {
            match result {
                Ok(chunks) => {
                    for chunk in chunks {
                        match merger.seen.get(&chunk.content) {
                            Some(first) => {
                                let reason = if *first == chunk.info.file {
                                    "named more than once; counted once".to_string()
                                } else {
                                    format!("same content as {first}; counted once")
                                };
                                merger.skipped.push(Skipped { file: chunk.info.file, reason });
                            }
                            None => {
                                merger.seen.insert(chunk.content, chunk.info.file.clone());
                                merger.add(chunk)?;
                            }
                        }
                    }
                }
                Err(reason) => merger.skipped.push(Skipped { file: source.name(), reason }),
            }
        }
        bar.inc(window.len() as u64);
    }
    bar.finish_and_clear();
    if merger.trace_info.is_empty() {
        return Err(nothing_loaded(&merger.skipped));
    }
    merger.finish()
}

/// A bar over `files` on standard error, hidden unless `show` and stderr is a terminal.
fn progress_bar(show: bool, files: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !show || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(files as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("reading traces [{bar:24}] {pos}/{len} files, ETA {eta}") {
        bar.set_style(style.progress_chars("#>-"));
    }
    bar
}

/// The error when no input could be loaded, with every input's reason: the caller never gets
/// the dataset's skipped list in that case, so the error carries it.
fn nothing_loaded(skipped: &[Skipped]) -> Error {
    let Some(first) = skipped.first() else {
        return Error::Invalid(
            "nothing to read: no argument names an existing file, a directory holding .msgpack files, or a pattern matching a file"
                .into(),
        );
    };
    let kind = if first.reason == "no such file" { std::io::ErrorKind::NotFound } else { std::io::ErrorKind::InvalidData };
    let mut text = first.reason.clone();
    for s in &skipped[1..] {
        text.push_str(&format!("\n{}: {}", s.file, s.reason));
    }
    text.push_str(&format!("\n{}", Error::NothingLoaded(skipped.len())));
    Error::Io { path: PathBuf::from(&first.file), source: std::io::Error::new(kind, text) }
}

#[derive(Default)]
struct Merger {
    /// Content of every trace loaded so far -> its name.
    seen: HashMap<ContentKey, String>,
    /// Component names under the load's global ids.
    components_named: ComponentNames,
    trace_info: Vec<TraceInfo>,
    skipped: Vec<Skipped>,
    warnings: Vec<String>,
    // runs table
    runs: Vec<Run>,
    // components table: one frame per file, ids made global
    components: Vec<DataFrame>,
    // setups table
    s_trace: Vec<u32>,
    s_variant: Vec<String>,
    s_name: Vec<String>,
    s_frames: Vec<u32>,
    s_tokens: Vec<u64>,
    s_duration: Vec<u64>,
    s_memory: Vec<u64>,
    // events
    events: Option<DataFrame>,
}

#[derive(Default)]
struct EventBuf {
    run: Vec<u32>,
    component: Vec<u32>,
    block: Vec<i32>,
    start: Vec<u64>,
    duration: Vec<u64>,
}

impl EventBuf {
    fn reserve(&mut self, n: usize) {
        self.run.reserve_exact(n);
        self.component.reserve_exact(n);
        self.block.reserve_exact(n);
        self.start.reserve_exact(n);
        self.duration.reserve_exact(n);
    }

    fn into_frame(self) -> Result<DataFrame> {
        let height = self.run.len();
        Ok(DataFrame::new(
            height,
            vec![
                UInt32Chunked::from_vec("run_id".into(), self.run).into_series().into(),
                UInt32Chunked::from_vec("component_id".into(), self.component).into_series().into(),
                Int32Chunked::from_vec("block".into(), self.block).into_series().into(),
                UInt64Chunked::from_vec("start_ns".into(), self.start).into_series().into(),
                UInt64Chunked::from_vec("duration_ns".into(), self.duration).into_series().into(),
            ],
        )?)
    }
}

impl Merger {
    fn add(&mut self, chunk: FileChunk) -> Result<()> {
        let trace_id = self.trace_info.len() as u32;
        let remap: Vec<u32> = chunk
            .names
            .iter()
            .zip(&chunk.parents)
            .map(|(name, parent)| {
                let id = self.components_named.id(name);
                self.components_named.name_parent(id, parent.as_ref());
                id
            })
            .collect();
        let first_run = self.runs.len() as u32;
        self.runs.extend(chunk.runs.into_iter().map(|r| Run { trace_id, ..r }));
        // Local ids made global: runs by their offset, components through the file's remap.
        let mut components = chunk.components;
        let run = components.column("run_id")?.u32()? + first_run;
        let local = components.column("component_id")?.u32()?.clone();
        let component = UInt32Chunked::from_slice("component_id".into(), &remap).take(&local)?;
        components.with_column(run.into_column())?;
        components.with_column(component.into_column())?;
        self.components.push(components);
        for s in &chunk.setups {
            self.s_trace.push(trace_id);
            self.s_variant.push(s.variant.clone());
            self.s_name.push(s.name.clone());
            self.s_frames.push(s.frames);
            self.s_tokens.push(s.tokens);
            self.s_duration.push(s.duration_ns);
            self.s_memory.push(s.memory_bytes);
        }
        // The file's columns become one chunk of each events column, without copying: run
        // and component ids are made global in place.
        let mut events = chunk.events;
        if events.height() > 0 {
            let run = events.column("run_id")?.u32()? + first_run;
            let local = events.column("component_id")?.u32()?.clone();
            let component = UInt32Chunked::from_slice("component_id".into(), &remap).take(&local)?;
            events.with_column(run.into_column())?;
            events.with_column(component.into_column())?;
            self.append(events)?;
        }
        self.warnings.extend(chunk.warnings);
        self.trace_info.push(chunk.info);
        Ok(())
    }

    fn append(&mut self, frame: DataFrame) -> Result<()> {
        match &mut self.events {
            None => self.events = Some(frame),
            Some(events) => {
                events.vstack_mut_owned(frame)?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Dataset> {
        if self.events.is_none() {
            self.append(EventBuf::default().into_frame()?)?;
        }
        let traces = traces_frame(&self.trace_info)?;
        let mut components = match self.components.split_first_mut() {
            Some((first, rest)) => {
                let mut all = std::mem::take(first);
                for frame in rest {
                    all.vstack_mut_owned(std::mem::take(frame))?;
                }
                all
            }
            None => DataFrame::empty_with_schema(&component_schema()),
        };
        components.rechunk_mut();
        let setups = DataFrame::new(
            self.s_trace.len(),
            vec![
                Column::new("trace_id".into(), self.s_trace),
                Column::new("variant".into(), self.s_variant),
                Column::new("name".into(), self.s_name),
                Column::new("frames".into(), self.s_frames),
                Column::new("tokens".into(), self.s_tokens),
                Column::new("duration_ns".into(), self.s_duration),
                Column::new("memory_bytes".into(), self.s_memory),
            ],
        )?;
        Ok(Dataset {
            traces,
            runs: self.runs,
            components,
            events: self.events.take().expect("flushed above"),
            setups,
            component_names: self.components_named.names,
            component_parents: self.components_named.parents,
            trace_info: self.trace_info,
            skipped: self.skipped,
            warnings: self.warnings,
        })
    }
}

/// The `machine` of a trace: its `machine` label, else the GPU name, else the host name.
pub(crate) fn machine_of(metadata: &Metadata) -> String {
    if let Some(m) = metadata.labels.get("machine") {
        return m.clone();
    }
    match &metadata.gpu_name {
        Some(g) if !g.is_empty() => g.clone(),
        _ => metadata.host.clone(),
    }
}

fn traces_frame(info: &[TraceInfo]) -> Result<DataFrame> {
    let n = info.len();
    let s = |f: &dyn Fn(&TraceInfo) -> String| -> Vec<String> { info.iter().map(f).collect() };
    let u = |f: &dyn Fn(&TraceInfo) -> u32| -> Vec<u32> { info.iter().map(f).collect() };
    let mut columns = vec![
        Column::new("trace_id".into(), (0..n as u32).collect::<Vec<u32>>()),
        Column::new("file".into(), s(&|t| t.file.clone())),
        Column::new("machine".into(), s(&|t| machine_of(&t.metadata))),
        Column::new("host".into(), s(&|t| t.metadata.host.clone())),
        Column::new("os".into(), s(&|t| t.metadata.os.clone())),
        Column::new("cpu_model".into(), s(&|t| t.metadata.cpu_model.clone())),
        Column::new("cpu_cores".into(), u(&|t| t.metadata.cpu_cores)),
        Column::new("ram_bytes".into(), info.iter().map(|t| t.metadata.ram_bytes).collect::<Vec<u64>>()),
        Column::new("gpu_name".into(), s(&|t| t.metadata.gpu_name.clone().unwrap_or_default())),
        Column::new("mlx_version".into(), s(&|t| t.metadata.mlx_version.clone())),
        Column::new("backend".into(), s(&|t| t.metadata.backend.clone())),
        Column::new("blas".into(), s(&|t| t.metadata.blas.clone())),
        Column::new("dtype".into(), s(&|t| t.metadata.dtype.clone())),
        Column::new("preset".into(), s(&|t| t.metadata.preset.clone())),
        Column::new("blocks".into(), u(&|t| t.metadata.model.blocks)),
        Column::new("dim".into(), u(&|t| t.metadata.model.dim)),
        Column::new("height".into(), u(&|t| t.metadata.height)),
        Column::new("width".into(), u(&|t| t.metadata.width)),
        Column::new("weights".into(), s(&|t| t.metadata.weights.clone())),
        Column::new("recorder_version".into(), s(&|t| t.metadata.recorder_version.clone())),
        Column::new("git_commit".into(), s(&|t| t.metadata.git_commit.clone())),
        Column::new("start_time".into(), s(&|t| t.metadata.start_time.clone())),
        Column::new("complete".into(), info.iter().map(|t| t.complete).collect::<Vec<bool>>()),
        Column::new(
            "matmul_flops_per_s".into(),
            info.iter().map(|t| t.calibration.as_ref().map(|c| c.matmul_flops_per_s)).collect::<Vec<Option<f64>>>(),
        ),
        Column::new(
            "bandwidth_bytes_per_s".into(),
            info.iter().map(|t| t.calibration.as_ref().map(|c| c.bandwidth_bytes_per_s)).collect::<Vec<Option<f64>>>(),
        ),
        Column::new(
            "cache_bandwidth_bytes_per_s".into(),
            info.iter()
                .map(|t| t.calibration.as_ref().map(|c| c.cache_bandwidth_bytes_per_s).filter(|v| *v > 0.0))
                .collect::<Vec<Option<f64>>>(),
        ),
        Column::new(
            "llc_bytes".into(),
            info.iter().map(|t| t.calibration.as_ref().map(|c| c.llc_bytes).filter(|v| *v > 0)).collect::<Vec<Option<u64>>>(),
        ),
        Column::new(
            "page_fault_ns".into(),
            info.iter().map(|t| t.calibration.as_ref().map(|c| c.page_fault_ns).filter(|v| *v > 0.0)).collect::<Vec<Option<f64>>>(),
        ),
    ];
    let keys: BTreeSet<&String> = info.iter().flat_map(|t| t.metadata.labels.keys()).collect();
    for key in keys {
        let values: Vec<Option<String>> = info.iter().map(|t| t.metadata.labels.get(key).cloned()).collect();
        columns.push(Column::new(format!("label.{key}").into(), values));
    }
    Ok(DataFrame::new(n, columns)?)
}

/// Values of a metadata key per trace, read from the `traces` table: a column of that name, else
/// the label `KEY` (column `label.KEY`). Missing values read as `(none)`.
pub fn trace_key_values(traces: &DataFrame, key: &str) -> Result<Vec<String>> {
    let column = traces
        .column(key)
        .ok()
        .filter(|_| key != "trace_id")
        .or_else(|| traces.column(&format!("label.{key}")).ok())
        .ok_or_else(|| {
            let known: Vec<String> = traces.get_column_names().iter().map(|c| c.trim_start_matches("label.").to_string()).collect();
            Error::Invalid(format!("no metadata key {key:?}; known keys: variant, sync, {}", known.join(", ")))
        })?;
    let strings = column.cast(&DataType::String)?;
    let ca = strings.str()?;
    Ok(ca.iter().map(|v| v.map_or_else(|| "(none)".to_string(), str::to_string)).collect())
}
