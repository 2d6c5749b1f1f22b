//! Per-run component totals: the common input of every analysis. The runs are the dataset's
//! typed rows ([`Run`]); the heavy step, summing millions of events per run and component, is
//! a polars group-by made while loading (the `components` table of [`Dataset`]); this module
//! turns that table's rows, a few dozen per run, into the typed [`Facts`] the statistics work on.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;
use trace_format::{Perturbation, SyncMode};

use crate::error::Result;

/// The taxonomy's areas and seed buckets, defined in the format crate (shared with the recorder).
pub(crate) use trace_format::taxonomy::{area_of, seed_bucket, Area};
use crate::load::Dataset;
use crate::tables::runs::Run;

/// How components are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rollup {
    /// The recorder's own component names.
    #[default]
    Fine,
    /// The seed report's buckets.
    Seed,
}

/// One component's totals in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CompStat {
    /// Index into [`Facts::names`].
    pub(crate) component: u32,
    /// Sum of event durations, ns.
    pub(crate) total_ns: f64,
    /// Invocations (events).
    pub(crate) calls: u64,
    /// FLOPs of all invocations.
    pub(crate) flops: f64,
    /// Bytes of all invocations.
    pub(crate) bytes: f64,
    /// Highest block index seen (-1: none).
    pub(crate) max_block: i32,
}

/// One run and its component totals: a row of the typed runs table (its fields read through
/// `Deref`: `r.frames`, `r.forward_ns`) with what the analyses add.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunFacts {
    /// Row in the runs table.
    pub(crate) run_id: u32,
    /// The run as loaded, except that its perturbation is kept only on attributed runs and
    /// without `target_parent` (nesting is read from the dataset's component parents).
    pub(crate) row: Run,
    /// Totals per component, sorted by component.
    pub(crate) comps: Vec<CompStat>,
}

impl std::ops::Deref for RunFacts {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.row
    }
}

impl std::ops::DerefMut for RunFacts {
    fn deref_mut(&mut self) -> &mut Run {
        &mut self.row
    }
}

impl RunFacts {
    /// The facts of row `run_id`, before its component totals are added.
    pub(crate) fn new(run_id: u32, run: &Run) -> RunFacts {
        let mut row = run.clone();
        let attributed = row.sync == SyncMode::Attributed;
        row.perturbation = row.perturbation.filter(|_| attributed).map(|p| Perturbation { target_parent: None, ..p });
        RunFacts { run_id, row, comps: Vec::new() }
    }

    /// Sum of all event durations, ns.
    pub(crate) fn event_total_ns(&self) -> f64 {
        self.comps.iter().map(|c| c.total_ns).sum()
    }
    /// The totals of one component, if it ran.
    pub(crate) fn comp(&self, component: u32) -> Option<&CompStat> {
        self.comps.iter().find(|c| c.component == component)
    }
}

/// What the analyses need to know about a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TraceFacts {
    /// File name.
    pub(crate) file: String,
    /// Transformer blocks per forward (0: unknown).
    pub(crate) blocks: u32,
    /// Calibrated matmul rate, FLOP/s.
    pub(crate) matmul_flops_per_s: Option<f64>,
    /// Calibrated bandwidth, bytes/s.
    pub(crate) bandwidth_bytes_per_s: Option<f64>,
    /// Calibrated bandwidth of passes that fit in the last-level cache, bytes/s (CPU only).
    pub(crate) cache_bandwidth_bytes_per_s: Option<f64>,
    /// The CPU's last-level cache, bytes.
    pub(crate) llc_bytes: Option<u64>,
    /// Calibrated cost of one minor page fault, ns.
    pub(crate) page_fault_ns: Option<f64>,
}

impl TraceFacts {
    /// The memory ceiling of a component moving `bytes_per_call` bytes per invocation: the
    /// cache's where the call fits in the last-level cache and the cache was calibrated, else
    /// the DRAM ceiling.
    pub(crate) fn bandwidth_for(&self, bytes_per_call: f64) -> Option<f64> {
        trace_format::memory_ceiling(
            self.bandwidth_bytes_per_s.unwrap_or(0.0),
            self.cache_bandwidth_bytes_per_s.unwrap_or(0.0),
            self.llc_bytes.unwrap_or(0),
            bytes_per_call,
        )
    }
}

/// A one-off setup cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SetupFacts {
    /// Trace.
    pub(crate) trace_id: u32,
    /// Variant paying it.
    pub(crate) variant: String,
    /// What was computed.
    pub(crate) name: String,
    /// Frames.
    pub(crate) frames: u32,
    /// Wall time, ns.
    pub(crate) duration_ns: f64,
    /// Memory its result keeps alive, bytes.
    pub(crate) memory_bytes: u64,
}

/// Per-run component totals of everything loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Component (or bucket) names.
    pub(crate) names: Vec<String>,
    /// Area of each name.
    pub(crate) areas: Vec<Area>,
    /// Traces, by trace id.
    pub(crate) traces: Vec<TraceFacts>,
    /// Runs, by run id.
    pub(crate) runs: Vec<RunFacts>,
    /// Setup costs.
    pub(crate) setups: Vec<SetupFacts>,
    /// How [`Facts::names`] group the recorder's components.
    pub(crate) rollup: Rollup,
    /// Component name -> the component it runs inside, for traces that nest components (a
    /// module and its sub-modules); empty for flat traces. A nested component's cost is part of
    /// its parent's: only components without a parent add up to the forward.
    pub(crate) parents: BTreeMap<String, String>,
    /// Per name: the distinct blocks its events ran in, for models outside the built-in one (a
    /// layer type present in some blocks only, such as MoE experts after a dense first layer);
    /// 0 where unknown or the model is the built-in one (every block component in every block).
    pub(crate) component_blocks: Vec<u32>,
    /// Snapshots already computed (ranking, scaling, tree and seed claims each ask for the same
    /// frame counts); empty in every copy or subset, which has other runs.
    pub(crate) snapshots: Memo<super::ranking::Snapshot>,
}

/// Values computed once per key and frame count; a clone starts empty, and two memos are always
/// equal (what they hold follows from the rest of the facts).
pub(crate) struct Memo<V>(std::sync::Mutex<std::collections::HashMap<(u32, u8), Option<V>>>);

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo(std::sync::Mutex::new(std::collections::HashMap::new()))
    }
}

impl<V> Clone for Memo<V> {
    fn clone(&self) -> Self {
        Memo::default()
    }
}

impl<V> PartialEq for Memo<V> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<V> std::fmt::Debug for Memo<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Memo")
    }
}

impl<V: Clone> Memo<V> {
    /// The value at `key`, computed by `make` the first time. The lock is not held while
    /// computing: `make` may ask the memo for other keys.
    pub(crate) fn get_or(&self, key: (u32, u8), make: impl FnOnce() -> Option<V>) -> Option<V> {
        let lock = || self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = lock().get(&key) {
            return v.clone();
        }
        let v = make();
        lock().insert(key, v.clone());
        v
    }
}

impl Facts {
    /// Reads the facts out of a dataset.
    pub fn from_dataset(ds: &Dataset) -> Result<Facts> {
        let traces = trace_facts(ds)?;
        let mut runs: Vec<RunFacts> = ds.runs.iter().enumerate().map(|(i, r)| RunFacts::new(i as u32, r)).collect();

        for t in component_totals(ds)? {
            let Some(facts) = runs.get_mut(t.run_id as usize) else { continue };
            facts.comps.push(CompStat {
                component: t.component,
                total_ns: t.total_ns as f64,
                calls: t.calls,
                flops: t.flops * t.calls as f64,
                bytes: t.bytes * t.calls as f64,
                max_block: t.max_block,
            });
        }
        for r in &mut runs {
            if !r.comps.is_sorted_by_key(|c| c.component) {
                r.comps.sort_by_key(|c| c.component);
            }
        }

        let mut setups = Vec::new();
        if ds.setups.height() > 0 {
            let trace = ds.setups.column("trace_id")?.u32()?;
            let variant = ds.setups.column("variant")?.str()?;
            let name = ds.setups.column("name")?.str()?;
            let frames = ds.setups.column("frames")?.u32()?;
            let duration = ds.setups.column("duration_ns")?.u64()?;
            let memory = ds.setups.column("memory_bytes")?.u64()?;
            for (((((t, v), n), f), d), m) in
                trace.iter().zip(variant.iter()).zip(name.iter()).zip(frames.iter()).zip(duration.iter()).zip(memory.iter())
            {
                setups.push(SetupFacts {
                    trace_id: t.unwrap_or(0),
                    variant: v.unwrap_or("").to_string(),
                    name: n.unwrap_or("").to_string(),
                    frames: f.unwrap_or(0),
                    duration_ns: d.unwrap_or(0) as f64,
                    memory_bytes: m.unwrap_or(0),
                });
            }
        }
        let mut names = ds.component_names.clone();
        // Components known only as attribution targets (no event of theirs was timed).
        for r in &runs {
            if let Some(target) = r.perturbation.as_ref().and_then(|p| p.target.as_ref()) {
                if !names.contains(target) {
                    names.push(target.clone());
                }
            }
        }
        // A component is inside the blocks when its name says so (the built-in model's `block/`)
        // or when its events carry a block index: models of users name their repeated layers
        // their own way (`layer/attn/qkv`).
        let mut areas: Vec<Area> = names.iter().map(|n| area_of(n)).collect();
        for c in runs.iter().flat_map(|r| &r.comps) {
            if c.max_block >= 0 {
                if let Some(a) = areas.get_mut(c.component as usize) {
                    *a = Area::Blocks;
                }
            }
        }
        let parents = ds
            .component_names
            .iter()
            .zip(&ds.component_parents)
            .filter_map(|(name, parent)| Some((name.clone(), parent.clone()?)))
            .collect();
        let component_blocks = if names.iter().all(|n| trace_format::taxonomy::is_builtin(n)) {
            vec![0; names.len()]
        } else {
            distinct_blocks(ds, names.len())?
        };
        Ok(Facts { names, areas, traces, runs, setups, rollup: Rollup::Fine, parents, component_blocks, snapshots: Memo::default() })
    }

    /// Blocks a component runs in: the distinct blocks its events carry where known, else the
    /// run's blocks ([`Facts::blocks_of`]).
    pub(crate) fn blocks_of_component(&self, component: u32, run_blocks: u32) -> u32 {
        match self.component_blocks.get(component as usize) {
            Some(&b) if b > 0 => b,
            _ => run_blocks,
        }
    }

    /// Whether a component counts toward the forward's sum: it has no parent among `present`
    /// (the names measured alongside it), so its time is not part of another's.
    pub(crate) fn is_top_level<'a>(&self, name: &str, mut present: impl Iterator<Item = &'a str>) -> bool {
        match self.parents.get(name) {
            None => true,
            Some(parent) => !present.any(|n| n == parent),
        }
    }

    /// A component-synced run's event time over its top-level components (all of them when
    /// nothing nests), ns.
    pub(crate) fn top_level_total_ns(&self, run: &RunFacts) -> f64 {
        if self.parents.is_empty() {
            return run.event_total_ns();
        }
        let name = |c: &CompStat| self.names.get(c.component as usize).map_or("", String::as_str);
        run.comps.iter().filter(|c| self.is_top_level(name(c), run.comps.iter().map(name))).map(|c| c.total_ns).sum()
    }

    /// Regroups the components (sums of times, calls, FLOPs and bytes).
    pub(crate) fn rolled_up(&self, rollup: Rollup) -> Facts {
        // Nested components have no seed buckets (they are not the built-in model's).
        if rollup == self.rollup || rollup == Rollup::Fine || !self.parents.is_empty() {
            return self.clone();
        }
        let mut names: Vec<String> = Vec::new();
        let mut areas: Vec<Area> = Vec::new();
        let mut map = Vec::with_capacity(self.names.len());
        for (name, area) in self.names.iter().zip(&self.areas) {
            let bucket = seed_bucket(name);
            let id = match names.iter().position(|n| *n == bucket) {
                Some(i) => i,
                None => {
                    names.push(bucket);
                    areas.push(*area);
                    names.len() - 1
                }
            };
            map.push(id as u32);
        }
        let runs = self
            .runs
            .iter()
            .map(|r| {
                let mut comps: Vec<CompStat> = Vec::new();
                for c in &r.comps {
                    let id = map[c.component as usize];
                    match comps.iter_mut().find(|x| x.component == id) {
                        Some(x) => {
                            x.total_ns += c.total_ns;
                            x.calls += c.calls;
                            x.flops += c.flops;
                            x.bytes += c.bytes;
                            x.max_block = x.max_block.max(c.max_block);
                        }
                        None => comps.push(CompStat { component: id, ..*c }),
                    }
                }
                comps.sort_by_key(|c| c.component);
                RunFacts { comps, ..r.clone() }
            })
            .collect();
        let component_blocks = vec![0; names.len()];
        Facts { names, areas, traces: self.traces.clone(), runs, setups: self.setups.clone(), rollup, parents: BTreeMap::new(), component_blocks, snapshots: Memo::default() }
    }

    /// Blocks per forward of a run: from the trace's model config, else from the block indices seen.
    pub(crate) fn blocks_of(&self, run: &RunFacts) -> u32 {
        let declared = self.traces.get(run.trace_id as usize).map_or(0, |t| t.blocks);
        if declared > 0 {
            return declared;
        }
        let seen = run.comps.iter().map(|c| c.max_block).max().unwrap_or(-1);
        // i64: a crafted block index of i32::MAX must not overflow.
        (i64::from(seen) + 1).max(0) as u32
    }

    /// Only the runs of one variant (setups of every variant are kept).
    pub(crate) fn only_variant(&self, variant: &str) -> Facts {
        Facts {
            names: self.names.clone(),
            areas: self.areas.clone(),
            traces: self.traces.clone(),
            runs: self.runs.iter().filter(|r| r.variant == variant).cloned().collect(),
            setups: self.setups.clone(),
            rollup: self.rollup,
            parents: self.parents.clone(),
            component_blocks: self.component_blocks.clone(),
            snapshots: Memo::default(),
        }
    }

    /// Only the runs and setups of the given traces (trace ids stay as they are).
    pub(crate) fn only_traces(&self, traces: &[u32]) -> Facts {
        Facts {
            names: self.names.clone(),
            areas: self.areas.clone(),
            traces: self.traces.clone(),
            runs: self.runs.iter().filter(|r| traces.contains(&r.trace_id)).cloned().collect(),
            setups: self.setups.iter().filter(|s| traces.contains(&s.trace_id)).cloned().collect(),
            rollup: self.rollup,
            parents: self.parents.clone(),
            component_blocks: self.component_blocks.clone(),
            snapshots: Memo::default(),
        }
    }

    /// Distinct variant names, sorted.
    pub(crate) fn variants(&self) -> Vec<String> {
        let mut v: Vec<String> = self.runs.iter().map(|r| r.variant.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The id of a name.
    pub(crate) fn id_of(&self, name: &str) -> Option<u32> {
        self.names.iter().position(|n| n == name).map(|i| i as u32)
    }
}

fn trace_facts(ds: &Dataset) -> Result<Vec<TraceFacts>> {
    let blocks = ds.traces.column("blocks")?.u32()?;
    let flops = ds.traces.column("matmul_flops_per_s")?.f64()?;
    let bw = ds.traces.column("bandwidth_bytes_per_s")?.f64()?;
    let cache_bw = ds.traces.column("cache_bandwidth_bytes_per_s")?.f64()?;
    let llc = ds.traces.column("llc_bytes")?.u64()?;
    let fault = ds.traces.column("page_fault_ns")?.f64()?;
    let file = ds.traces.column("file")?.str()?;
    Ok((0..ds.traces.height())
        .map(|i| TraceFacts {
            file: file.get(i).unwrap_or("").to_string(),
            blocks: blocks.get(i).unwrap_or(0),
            matmul_flops_per_s: flops.get(i).filter(|v| *v > 0.0),
            bandwidth_bytes_per_s: bw.get(i).filter(|v| *v > 0.0),
            cache_bandwidth_bytes_per_s: cache_bw.get(i).filter(|v| *v > 0.0),
            llc_bytes: llc.get(i).filter(|v| *v > 0),
            page_fault_ns: fault.get(i).filter(|v| *v > 0.0),
        })
        .collect())
}

/// Sum, count and highest block of one (run, component) that has events, with its costs.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub(crate) struct ComponentTotal {
    /// Run.
    pub(crate) run_id: u32,
    /// Component.
    pub(crate) component: u32,
    /// Sum of durations, ns.
    pub(crate) total_ns: u64,
    /// Events.
    pub(crate) calls: u64,
    /// Highest block index (-1: none).
    pub(crate) max_block: i32,
    /// FLOPs of one invocation.
    pub(crate) flops: f64,
    /// Bytes of one invocation.
    pub(crate) bytes: f64,
}

/// Totals per (run, component) with at least one event, sorted by run and component: the rows
/// of the `components` table the loading's group-by filled.
pub(crate) fn component_totals(ds: &Dataset) -> Result<Vec<ComponentTotal>> {
    // A table made elsewhere than by loading may lack the totals: made from the events.
    let components = if ds.components.schema().contains("calls") {
        ds.components.clone()
    } else {
        crate::load::with_event_totals(ds.components.select(["run_id", "component_id", "flops", "bytes"])?, &ds.events)?
    };
    let table = components
        .lazy()
        .filter(col("calls").gt(lit(0u64)))
        .sort(["run_id", "component_id"], SortMultipleOptions::default())
        .collect()?;
    let run = table.column("run_id")?.u32()?;
    let comp = table.column("component_id")?.u32()?;
    let total = table.column("total_ns")?.u64()?;
    let calls = table.column("calls")?.u64()?;
    let max_block = table.column("max_block")?.i32()?;
    let flops = table.column("flops")?.f64()?;
    let bytes = table.column("bytes")?.f64()?;
    let mut out = Vec::with_capacity(table.height());
    // The columns' buffers when they are whole and without nulls (the loader's tables), else
    // value by value.
    if let (Ok(run), Ok(comp), Ok(total), Ok(calls), Ok(max_block), Ok(flops), Ok(bytes)) =
        (run.cont_slice(), comp.cont_slice(), total.cont_slice(), calls.cont_slice(), max_block.cont_slice(), flops.cont_slice(), bytes.cont_slice())
    {
        for i in 0..run.len() {
            out.push(ComponentTotal {
                run_id: run[i],
                component: comp[i],
                total_ns: total[i],
                calls: calls[i],
                max_block: max_block[i],
                flops: flops[i],
                bytes: bytes[i],
            });
        }
        return Ok(out);
    }
    for i in 0..table.height() {
        let (Some(run_id), Some(component)) = (run.get(i), comp.get(i)) else { continue };
        out.push(ComponentTotal {
            run_id,
            component,
            total_ns: total.get(i).unwrap_or(0),
            calls: calls.get(i).unwrap_or(0),
            max_block: max_block.get(i).unwrap_or(-1),
            flops: flops.get(i).unwrap_or(0.0),
            bytes: bytes.get(i).unwrap_or(0.0),
        });
    }
    Ok(out)
}

/// Per component id: the distinct non-negative blocks of its events (0 without any).
fn distinct_blocks(ds: &Dataset, names: usize) -> Result<Vec<u32>> {
    let mut out = vec![0u32; names];
    if ds.events.height() == 0 {
        return Ok(out);
    }
    let per = ds
        .events
        .clone()
        .lazy()
        .filter(col("block").gt_eq(lit(0i32)))
        .group_by([col("component_id")])
        .agg([col("block").n_unique().cast(DataType::UInt32).alias("blocks")])
        .collect()?;
    let ids = per.column("component_id")?.u32()?;
    let blocks = per.column("blocks")?.u32()?;
    for (id, b) in ids.iter().zip(blocks.iter()) {
        if let (Some(id), Some(b)) = (id, b) {
            if let Some(x) = out.get_mut(id as usize) {
                *x = b;
            }
        }
    }
    Ok(out)
}
