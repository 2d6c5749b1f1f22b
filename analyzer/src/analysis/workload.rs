//! Workloads: what a run computed and where. Runs of different workloads are never pooled: the
//! analyses run once per workload, and comparisons (`--by KEY`) compare groups that are each one
//! workload.
//!
//! A workload is the model (preset and every dimension of its configuration, blocks run
//! included), the compute dtype, the video resolution (height x width) and the machine
//! (`crate::load::machine_of`), and the program that recorded it (two implementations of one
//! model, such as `mlx-record` and the Python recorder, are compared, never pooled). The variant
//! is not part of it: the single-variant analyses of a
//! workload show one variant (see [`super::AnalyzeOptions::variant`]), and the variants of a
//! workload are compared with one another.

use serde::Serialize;
use trace_format::Metadata;

use crate::load::{machine_of, Dataset};

/// One workload of the loaded traces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Workload {
    /// Number shown to the user and taken by `--workload` (1-based, in input order).
    pub(crate) index: usize,
    /// Human-readable name, e.g. `lingbot-14b (dim 5120), 40 blocks, bf16, 480x832, NVIDIA H200`.
    pub(crate) label: String,
    /// Model preset.
    pub(crate) preset: String,
    /// Hidden size.
    pub(crate) dim: u32,
    /// Blocks run.
    pub(crate) blocks: u32,
    /// Whether the model has the camera injection.
    pub(crate) camera: bool,
    /// Compute dtype.
    pub(crate) dtype: String,
    /// Video height, pixels.
    pub(crate) height: u32,
    /// Video width, pixels.
    pub(crate) width: u32,
    /// Machine.
    pub(crate) machine: String,
    /// The recording program when it names itself in `recorder_version` (`mlx-trace-python
    /// 0.1.0`); empty for `mlx-record`, whose version field is the bare version.
    pub(crate) recorder: String,
    /// For models outside the built-in one: how many components its traces time (traces of one
    /// model instrumented at different depths are different workloads); 0 for the built-in
    /// model, whose component set follows from its configuration.
    pub(crate) components: usize,
    /// Trace ids (rows of the traces table) of this workload.
    pub(crate) traces: Vec<u32>,
    /// Their file names (without directories).
    pub(crate) files: Vec<String>,
}

/// The fields that make two traces the same workload. The model configuration is compared as a
/// whole (every dimension), apart from the normalisation epsilon and the preset's full block
/// count (a `--blocks N` run of a preset is its own workload through `blocks`).
fn key(m: &Metadata) -> String {
    let c = &m.model;
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{:?}|{}|{}x{}|{}|{}",
        m.preset,
        c.dim,
        c.heads,
        c.head_dim,
        c.blocks,
        c.ffn_dim,
        c.text_dim,
        c.text_len,
        c.freq_dim,
        c.in_dim,
        c.out_dim,
        c.camera,
        c.patch,
        m.dtype,
        m.height,
        m.width,
        machine_of(m),
        recorder_of(m)
    )
}

/// The recording program's name: `recorder_version` without its trailing version number.
fn recorder_of(m: &Metadata) -> String {
    match m.recorder_version.trim().rsplit_once(' ') {
        Some((name, _version)) => name.trim().to_string(),
        None => String::new(),
    }
}

/// The workloads of a dataset, numbered in the order their first trace was loaded.
pub(crate) fn workloads(ds: &Dataset) -> Vec<Workload> {
    let sets = component_sets(ds);
    let mut keys: Vec<String> = Vec::new();
    let mut out: Vec<Workload> = Vec::new();
    for (id, t) in ds.trace_info.iter().enumerate() {
        let m = &t.metadata;
        // The component set is part of a workload for models outside the built-in taxonomy:
        // pooling a depth-1 and a depth-2 recording would add a module to its own children.
        let set = sets.get(id).filter(|s| s.iter().any(|n| !trace_format::taxonomy::is_builtin(n)));
        let k = match set {
            Some(names) => format!("{}|{}", key(m), names.iter().cloned().collect::<Vec<_>>().join("\u{1f}")),
            None => key(m),
        };
        let file = super::base_name(&t.file);
        match keys.iter().position(|x| *x == k) {
            Some(i) => {
                out[i].traces.push(id as u32);
                out[i].files.push(file);
            }
            None => {
                keys.push(k);
                out.push(Workload {
                    index: out.len() + 1,
                    label: String::new(),
                    preset: m.preset.clone(),
                    dim: m.model.dim,
                    blocks: m.model.blocks,
                    camera: m.model.camera,
                    dtype: m.dtype.clone(),
                    height: m.height,
                    width: m.width,
                    machine: machine_of(m),
                    recorder: recorder_of(m),
                    components: set.map_or(0, |s| s.len()),
                    traces: vec![id as u32],
                    files: vec![file],
                });
            }
        }
    }
    for w in &mut out {
        w.label = base_label(w);
    }
    // Workloads that differ only in dimensions the label does not name: number them apart.
    let labels: Vec<String> = out.iter().map(|w| w.label.clone()).collect();
    for w in &mut out {
        if labels.iter().filter(|l| **l == w.label).count() > 1 {
            w.label = format!("{} (model config {})", w.label, w.index);
        }
    }
    out
}

fn base_label(w: &Workload) -> String {
    let preset = if w.preset.is_empty() { "unnamed model".to_string() } else { w.preset.clone() };
    let blocks = if w.blocks == 1 { "1 block".to_string() } else { format!("{} blocks", w.blocks) };
    // Models without a resolution (language models) have none to name.
    let resolution = if w.height > 0 && w.width > 0 { format!(", {}x{}", w.height, w.width) } else { String::new() };
    let machine = if w.machine.is_empty() { "unknown machine".to_string() } else { w.machine.clone() };
    let dtype = if w.dtype.is_empty() { "dtype unknown".to_string() } else { w.dtype.clone() };
    let recorder = if w.recorder.is_empty() { String::new() } else { format!(", recorded by {}", w.recorder) };
    let components = if w.components > 0 { format!(", {} components", w.components) } else { String::new() };
    format!("{preset} (dim {}), {blocks}, {dtype}{resolution}, {machine}{recorder}{components}", w.dim)
}

impl Workload {
    /// `Workload N: label`.
    pub(crate) fn heading(&self) -> String {
        format!("Workload {}: {}", self.index, self.label)
    }

    /// The fields in which `self` and `other` differ, as `name (a vs b)` phrases.
    /// How this workload differs from `other`, field by field, leaving out `except` (the
    /// comparison's own key: a comparison by machine is expected to differ in machine).
    pub(crate) fn differences(&self, other: &Workload, except: &str) -> Vec<String> {
        let mut d = Vec::new();
        // Whether any named field differs, the excepted one included: labels name the machine,
        // so two workloads that differ only there are not "other model dimensions".
        let mut any = false;
        let mut field = |name: &str, a: String, b: String| {
            any |= a != b;
            if a != b && name != except {
                d.push(format!("{name} ({a} vs {b})"));
            }
        };
        field("preset", self.preset.clone(), other.preset.clone());
        field("dim", self.dim.to_string(), other.dim.to_string());
        field("blocks", self.blocks.to_string(), other.blocks.to_string());
        field("dtype", self.dtype.clone(), other.dtype.clone());
        field("resolution", format!("{}x{}", self.height, self.width), format!("{}x{}", other.height, other.width));
        field("machine", self.machine.clone(), other.machine.clone());
        let named = |r: &str| if r.is_empty() { "mlx-record".to_string() } else { r.to_string() };
        field("recording program", named(&self.recorder), named(&other.recorder));
        if !any && self.label != other.label {
            d.push("other model dimensions".into());
        }
        d
    }
}

/// The workload of each trace id.
pub(crate) fn workload_of_trace(workloads: &[Workload], traces: usize) -> Vec<usize> {
    let mut of = vec![0usize; traces];
    for (i, w) in workloads.iter().enumerate() {
        for &t in &w.traces {
            if let Some(x) = of.get_mut(t as usize) {
                *x = i;
            }
        }
    }
    of
}

/// Parses `--workload`: numbers and ranges separated by commas (`2`, `1,3`, `1-2`).
pub fn parse_selection(text: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        let number = |s: &str| -> Result<usize, String> {
            match s.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!("`{s}` is not a workload number (1, 2, ...); lists and ranges: 1,3 or 1-2")),
            }
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a.trim())?, number(b.trim())?);
                if a > b {
                    return Err(format!("`{part}`: a range runs from the smaller number to the larger"));
                }
                if b - a > 10_000 {
                    return Err(format!("`{part}`: range too long"));
                }
                out.extend(a..=b);
            }
            None => out.push(number(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Per trace id: the names of the components its runs time or attribute.
fn component_sets(ds: &Dataset) -> Vec<std::collections::BTreeSet<String>> {
    let mut out = vec![std::collections::BTreeSet::new(); ds.trace_info.len()];
    let (Ok(c_run), Ok(c_comp)) = (
        ds.components.column("run_id").and_then(|c| c.u32().cloned()),
        ds.components.column("component_id").and_then(|c| c.u32().cloned()),
    ) else {
        return out;
    };
    for (r, c) in c_run.iter().zip(c_comp.iter()) {
        let (Some(r), Some(c)) = (r, c) else { continue };
        let (Some(t), Some(name)) = (ds.runs.get(r as usize).map(|run| run.trace_id), ds.component_names.get(c as usize)) else { continue };
        if let Some(set) = out.get_mut(t as usize) {
            set.insert(name.clone());
        }
    }
    out
}
