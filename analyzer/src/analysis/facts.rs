//! Per-run component totals, read out of the loaded DataFrames: the common input of every
//! analysis. The heavy step sums millions of events per run and component. It is one pass over
//! the events table's column buffers into a dense (run x component) accumulator: several times
//! faster than a hash group-by and without its temporary memory. [`component_totals_grouped`]
//! is the same aggregation as a polars group-by, kept as the reference the tests compare with.

use std::collections::HashMap;

use polars::prelude::*;
use serde::Serialize;
use trace_format::{PerturbKind, Perturbation, SyncMode};

use crate::error::Result;
use crate::load::Dataset;

/// Where a component runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// Inside the transformer blocks (once per block).
    Blocks,
    /// Outside the blocks: embeddings and head.
    Overhead,
}

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
pub struct CompStat {
    /// Index into [`Facts::names`].
    pub component: u32,
    /// Sum of event durations, ns.
    pub total_ns: f64,
    /// Invocations (events).
    pub calls: u64,
    /// FLOPs of all invocations.
    pub flops: f64,
    /// Bytes of all invocations.
    pub bytes: f64,
    /// Highest block index seen (-1: none).
    pub max_block: i32,
}

/// One run and its component totals.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFacts {
    /// Row in the runs table.
    pub run_id: u32,
    /// Index into [`Facts::traces`].
    pub trace_id: u32,
    /// Run index inside its trace.
    pub run: u32,
    /// Variant name.
    pub variant: String,
    /// Synchronisation mode.
    pub sync: SyncMode,
    /// Warm-up run.
    pub warmup: bool,
    /// Video frames.
    pub frames: u32,
    /// Tokens L.
    pub tokens: u64,
    /// Wall time of the forward, ns.
    pub forward_ns: f64,
    /// Fused runs: host time building the lazy graph before evaluation, ns.
    pub graph_ns: Option<f64>,
    /// Active memory after the forward.
    pub active_memory_bytes: u64,
    /// Peak memory during the forward.
    pub peak_memory_bytes: u64,
    /// (max_rel, mean_rel) drift against the baseline.
    pub drift: Option<(f64, f64)>,
    /// Attributed runs: what was added to the fused forward.
    pub perturbation: Option<Perturbation>,
    /// Totals per component, sorted by component.
    pub comps: Vec<CompStat>,
}

impl RunFacts {
    /// Sum of all event durations, ns.
    pub fn event_total_ns(&self) -> f64 {
        self.comps.iter().map(|c| c.total_ns).sum()
    }
    /// The totals of one component, if it ran.
    pub fn comp(&self, component: u32) -> Option<&CompStat> {
        self.comps.iter().find(|c| c.component == component)
    }
}

/// What the analyses need to know about a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceFacts {
    /// File name.
    pub file: String,
    /// Transformer blocks per forward (0: unknown).
    pub blocks: u32,
    /// Calibrated matmul rate, FLOP/s.
    pub matmul_flops_per_s: Option<f64>,
    /// Calibrated bandwidth, bytes/s.
    pub bandwidth_bytes_per_s: Option<f64>,
}

/// A one-off setup cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetupFacts {
    /// Trace.
    pub trace_id: u32,
    /// Variant paying it.
    pub variant: String,
    /// What was computed.
    pub name: String,
    /// Frames.
    pub frames: u32,
    /// Wall time, ns.
    pub duration_ns: f64,
    /// Memory its result keeps alive, bytes.
    pub memory_bytes: u64,
}

/// Per-run component totals of everything loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Component (or bucket) names.
    pub names: Vec<String>,
    /// Area of each name.
    pub areas: Vec<Area>,
    /// Traces, by trace id.
    pub traces: Vec<TraceFacts>,
    /// Runs, by run id.
    pub runs: Vec<RunFacts>,
    /// Setup costs.
    pub setups: Vec<SetupFacts>,
    /// How [`Facts::names`] group the recorder's components.
    pub rollup: Rollup,
}

/// The area of a component name: `block/...` and `block` are inside the blocks.
pub fn area_of(name: &str) -> Area {
    if name == "block" || name.starts_with("block/") { Area::Blocks } else { Area::Overhead }
}

/// The seed report's bucket of a fine component name. Names the seed had no bucket for keep
/// a bucket of their own so that nothing is lost.
pub fn seed_bucket(name: &str) -> String {
    let bucket = match name {
        "block/norm2" => "FFN",
        "block/self_attn/rope" => "RoPE",
        "block/modulation" => "Modulation",
        "block/norm1" => "Norms",
        "embed/time" => "Time Embedding",
        "embed/camera" => "Camera Embedding",
        "embed/text" => "Text Embedding",
        "embed/patch" | "head" => "Other",
        n if n.starts_with("block/ffn/") => "FFN",
        n if n.starts_with("block/self_attn/") => "Self-Attention",
        n if n.starts_with("block/camera/") => "Camera Injection",
        n if n.starts_with("block/cross_attn/") => "Cross-Attention",
        n => return n.to_string(),
    };
    bucket.to_string()
}

impl Facts {
    /// Reads the facts out of a dataset.
    pub fn from_dataset(ds: &Dataset) -> Result<Facts> {
        let traces = trace_facts(ds)?;
        let mut runs = run_facts(&ds.runs)?;

        // Per-invocation costs, per run (a run has a few dozen components: linear search).
        let mut costs: Vec<Vec<(u32, f64, f64)>> = vec![Vec::new(); runs.len()];
        {
            let run = ds.components.column("run_id")?.u32()?;
            let comp = ds.components.column("component_id")?.u32()?;
            let flops = ds.components.column("flops")?.f64()?;
            let bytes = ds.components.column("bytes")?.f64()?;
            for (((r, c), f), b) in run.iter().zip(comp.iter()).zip(flops.iter()).zip(bytes.iter()) {
                if let (Some(r), Some(c)) = (r, c) {
                    if let Some(list) = costs.get_mut(r as usize) {
                        list.push((c, f.unwrap_or(0.0), b.unwrap_or(0.0)));
                    }
                }
            }
        }

        for t in component_totals(ds)? {
            let Some(facts) = runs.get_mut(t.run_id as usize) else { continue };
            let (f, b) = costs[t.run_id as usize].iter().find(|x| x.0 == t.component).map_or((0.0, 0.0), |x| (x.1, x.2));
            facts.comps.push(CompStat {
                component: t.component,
                total_ns: t.total_ns as f64,
                calls: t.calls,
                flops: f * t.calls as f64,
                bytes: b * t.calls as f64,
                max_block: t.max_block,
            });
        }
        for r in &mut runs {
            r.comps.sort_by_key(|c| c.component);
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
        let areas = names.iter().map(|n| area_of(n)).collect();
        Ok(Facts { names, areas, traces, runs, setups, rollup: Rollup::Fine })
    }

    /// Regroups the components (sums of times, calls, FLOPs and bytes).
    pub fn rolled_up(&self, rollup: Rollup) -> Facts {
        if rollup == self.rollup || rollup == Rollup::Fine {
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
        Facts { names, areas, traces: self.traces.clone(), runs, setups: self.setups.clone(), rollup }
    }

    /// Blocks per forward of a run: from the trace's model config, else from the block indices seen.
    pub fn blocks_of(&self, run: &RunFacts) -> u32 {
        let declared = self.traces.get(run.trace_id as usize).map_or(0, |t| t.blocks);
        if declared > 0 {
            return declared;
        }
        let seen = run.comps.iter().map(|c| c.max_block).max().unwrap_or(-1);
        (seen + 1).max(0) as u32
    }

    /// Only the runs of one variant (setups of every variant are kept).
    pub fn only_variant(&self, variant: &str) -> Facts {
        Facts {
            names: self.names.clone(),
            areas: self.areas.clone(),
            traces: self.traces.clone(),
            runs: self.runs.iter().filter(|r| r.variant == variant).cloned().collect(),
            setups: self.setups.clone(),
            rollup: self.rollup,
        }
    }

    /// Only the runs and setups of the given traces (trace ids stay as they are).
    pub fn only_traces(&self, traces: &[u32]) -> Facts {
        Facts {
            names: self.names.clone(),
            areas: self.areas.clone(),
            traces: self.traces.clone(),
            runs: self.runs.iter().filter(|r| traces.contains(&r.trace_id)).cloned().collect(),
            setups: self.setups.iter().filter(|s| traces.contains(&s.trace_id)).cloned().collect(),
            rollup: self.rollup,
        }
    }

    /// Distinct variant names, sorted.
    pub fn variants(&self) -> Vec<String> {
        let mut v: Vec<String> = self.runs.iter().map(|r| r.variant.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The id of a name.
    pub fn id_of(&self, name: &str) -> Option<u32> {
        self.names.iter().position(|n| n == name).map(|i| i as u32)
    }
}

fn trace_facts(ds: &Dataset) -> Result<Vec<TraceFacts>> {
    let blocks = ds.traces.column("blocks")?.u32()?;
    let flops = ds.traces.column("matmul_flops_per_s")?.f64()?;
    let bw = ds.traces.column("bandwidth_bytes_per_s")?.f64()?;
    let file = ds.traces.column("file")?.str()?;
    Ok(blocks
        .iter()
        .zip(flops.iter())
        .zip(bw.iter())
        .zip(file.iter())
        .map(|(((b, f), w), n)| TraceFacts {
            file: n.unwrap_or("").to_string(),
            blocks: b.unwrap_or(0),
            matmul_flops_per_s: f.filter(|v| *v > 0.0),
            bandwidth_bytes_per_s: w.filter(|v| *v > 0.0),
        })
        .collect())
}

fn run_facts(runs: &DataFrame) -> Result<Vec<RunFacts>> {
    let run_id = runs.column("run_id")?.u32()?;
    let trace = runs.column("trace_id")?.u32()?;
    let run = runs.column("run")?.u32()?;
    let variant = runs.column("variant")?.str()?;
    let sync = runs.column("sync")?.str()?;
    let warmup = runs.column("warmup")?.bool()?;
    let frames = runs.column("frames")?.u32()?;
    let tokens = runs.column("tokens")?.u64()?;
    let forward = runs.column("forward_ns")?.u64()?;
    let graph = runs.column("graph_ns")?.u64()?;
    let active = runs.column("active_memory_bytes")?.u64()?;
    let peak = runs.column("peak_memory_bytes")?.u64()?;
    let dmax = runs.column("drift_max_rel")?.f64()?;
    let dmean = runs.column("drift_mean_rel")?.f64()?;
    let p_kind = runs.column("perturb_kind")?.str()?;
    let p_target = runs.column("perturb_target")?.str()?;
    let p_copies = runs.column("perturb_copies")?.u32()?;
    let p_round = runs.column("perturb_round")?.u32()?;
    let p_reduced = runs.column("reduced_bytes")?.u64()?;
    let p_arrays = runs.column("reduced_arrays")?.u64()?;
    let p_calls = runs.column("target_calls")?.u32()?;
    let p_flops = runs.column("target_flops")?.f64()?;
    let p_bytes = runs.column("target_bytes")?.f64()?;
    let mut out = Vec::with_capacity(runs.height());
    for i in 0..runs.height() {
        let sync = match sync.get(i) {
            Some("component") => SyncMode::Component,
            Some("block") => SyncMode::Block,
            Some("attributed") => SyncMode::Attributed,
            _ => SyncMode::None,
        };
        let kind = match p_kind.get(i) {
            Some("reference") => Some(PerturbKind::Reference),
            Some("control") => Some(PerturbKind::Control),
            Some("duplicate") => Some(PerturbKind::Duplicate),
            _ => None,
        };
        let perturbation = kind.filter(|_| sync == SyncMode::Attributed).map(|kind| Perturbation {
            kind,
            target: p_target.get(i).map(str::to_string),
            copies: p_copies.get(i).unwrap_or(0),
            round: p_round.get(i).unwrap_or(0),
            reduced_bytes: p_reduced.get(i).unwrap_or(0),
            reduced_arrays: p_arrays.get(i).unwrap_or(0),
            target_calls: p_calls.get(i).unwrap_or(0),
            target_flops: p_flops.get(i).unwrap_or(0.0),
            target_bytes: p_bytes.get(i).unwrap_or(0.0),
        });
        out.push(RunFacts {
            run_id: run_id.get(i).unwrap_or(i as u32),
            trace_id: trace.get(i).unwrap_or(0),
            run: run.get(i).unwrap_or(0),
            variant: variant.get(i).unwrap_or("").to_string(),
            sync,
            warmup: warmup.get(i).unwrap_or(false),
            frames: frames.get(i).unwrap_or(0),
            tokens: tokens.get(i).unwrap_or(0),
            forward_ns: forward.get(i).unwrap_or(0) as f64,
            graph_ns: graph.get(i).map(|g| g as f64),
            active_memory_bytes: active.get(i).unwrap_or(0),
            peak_memory_bytes: peak.get(i).unwrap_or(0),
            drift: match (dmax.get(i), dmean.get(i)) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => None,
            },
            perturbation,
            comps: Vec::new(),
        });
    }
    Ok(out)
}

/// Sum, count and highest block of one (run, component).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ComponentTotal {
    /// Run.
    pub run_id: u32,
    /// Component.
    pub component: u32,
    /// Sum of durations, ns.
    pub total_ns: u64,
    /// Events.
    pub calls: u64,
    /// Highest block index (-1: none).
    pub max_block: i32,
}

#[derive(Clone, Copy, Default)]
struct Acc {
    total: u64,
    calls: u64,
    max_block: i32,
}

/// Totals per (run, component) by one pass over the event columns, sorted by run and component.
pub fn component_totals(ds: &Dataset) -> Result<Vec<ComponentTotal>> {
    let ev = &ds.events;
    let run = ev.column("run_id")?.u32()?;
    let comp = ev.column("component_id")?.u32()?;
    let block = ev.column("block")?.i32()?;
    let dur = ev.column("duration_ns")?.u64()?;
    let n_runs = ds.runs.height();
    let n_comp = ds.component_names.len();
    let dense = n_runs.saturating_mul(n_comp) <= 32 << 20;
    let mut grid: Vec<Acc> = if dense { vec![Acc::default(); n_runs * n_comp] } else { Vec::new() };
    let mut sparse: HashMap<(u32, u32), Acc> = HashMap::new();
    fn add(grid: &mut [Acc], sparse: &mut HashMap<(u32, u32), Acc>, dense: bool, n_runs: usize, n_comp: usize, e: (u32, u32, i32, u64)) {
        let (r, c, b, d) = e;
        let acc = if dense {
            if (r as usize) >= n_runs || (c as usize) >= n_comp {
                return;
            }
            &mut grid[r as usize * n_comp + c as usize]
        } else {
            sparse.entry((r, c)).or_insert(Acc { total: 0, calls: 0, max_block: -1 })
        };
        acc.max_block = if acc.calls == 0 { b } else { acc.max_block.max(b) };
        acc.total = acc.total.saturating_add(d);
        acc.calls += 1;
    }
    let aligned = run.chunks().len() == comp.chunks().len()
        && run.chunks().len() == block.chunks().len()
        && run.chunks().len() == dur.chunks().len()
        && run.null_count() + comp.null_count() + block.null_count() + dur.null_count() == 0
        && run.downcast_iter().zip(comp.downcast_iter()).zip(block.downcast_iter()).zip(dur.downcast_iter()).all(
            |(((a, b), c), d)| a.len() == b.len() && a.len() == c.len() && a.len() == d.len(),
        );
    if aligned {
        // Fast path: plain slices, chunk by chunk.
        for (((r, c), b), d) in run.downcast_iter().zip(comp.downcast_iter()).zip(block.downcast_iter()).zip(dur.downcast_iter()) {
            let (r, c, b, d) = (r.values().as_slice(), c.values().as_slice(), b.values().as_slice(), d.values().as_slice());
            if dense && r.iter().all(|&x| (x as usize) < n_runs) && c.iter().all(|&x| (x as usize) < n_comp) {
                for i in 0..r.len() {
                    let acc = &mut grid[r[i] as usize * n_comp + c[i] as usize];
                    acc.max_block = if acc.calls == 0 { b[i] } else { acc.max_block.max(b[i]) };
                    acc.total = acc.total.saturating_add(d[i]);
                    acc.calls += 1;
                }
            } else {
                for i in 0..r.len() {
                    add(&mut grid, &mut sparse, dense, n_runs, n_comp, (r[i], c[i], b[i], d[i]));
                }
            }
        }
    } else {
        for (((r, c), b), d) in run.iter().zip(comp.iter()).zip(block.iter()).zip(dur.iter()) {
            if let (Some(r), Some(c)) = (r, c) {
                add(&mut grid, &mut sparse, dense, n_runs, n_comp, (r, c, b.unwrap_or(-1), d.unwrap_or(0)));
            }
        }
    }
    let mut out = Vec::new();
    if dense {
        for (i, acc) in grid.iter().enumerate().filter(|(_, a)| a.calls > 0) {
            out.push(ComponentTotal {
                run_id: (i / n_comp) as u32,
                component: (i % n_comp) as u32,
                total_ns: acc.total,
                calls: acc.calls,
                max_block: acc.max_block,
            });
        }
    } else {
        for ((r, c), acc) in sparse {
            out.push(ComponentTotal { run_id: r, component: c, total_ns: acc.total, calls: acc.calls, max_block: acc.max_block });
        }
        out.sort();
    }
    Ok(out)
}

/// The same totals through a polars group-by (reference implementation), sorted.
pub fn component_totals_grouped(ds: &Dataset) -> Result<Vec<ComponentTotal>> {
    let agg = ds
        .events
        .clone()
        .lazy()
        .group_by([col("run_id"), col("component_id")])
        .agg([col("duration_ns").sum().alias("total_ns"), len().alias("calls"), col("block").max().alias("max_block")])
        .collect()?;
    let run = agg.column("run_id")?.u32()?;
    let comp = agg.column("component_id")?.u32()?;
    let total = agg.column("total_ns")?.u64()?;
    let calls = agg.column("calls")?.cast(&DataType::UInt64)?;
    let calls = calls.u64()?;
    let max_block = agg.column("max_block")?.i32()?;
    let mut out: Vec<ComponentTotal> = run
        .iter()
        .zip(comp.iter())
        .zip(total.iter())
        .zip(calls.iter())
        .zip(max_block.iter())
        .filter_map(|((((r, c), t), n), b)| {
            Some(ComponentTotal { run_id: r?, component: c?, total_ns: t.unwrap_or(0), calls: n.unwrap_or(0), max_block: b.unwrap_or(-1) })
        })
        .collect();
    out.sort();
    Ok(out)
}
