//! A recording: checks the plan, calibrates, builds the model, runs every frame count x variant
//! x repetition x synchronisation mode, and streams each run into the trace file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use mlx_rs::Array;
use trace_format::{Drift, Header, ModelConfig, RunRecord, SetupRecord, SyncMode, TraceFile};

use crate::api::{self, Around, Recorder, Schedule, Shape};
use crate::config::{DType, Geometry, Preset};
use crate::cost::CostModel;
use crate::estimate;
use crate::instrument::Probe;
use crate::machine::{self, Backend, gib};
use crate::model::{Inputs, Model, Weights, names};
use crate::precision::{self, Stopping};
use crate::progress::Progress;
use crate::rounds;
use crate::variants::{self, Variant};

/// Everything a recording needs, validated.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Model preset.
    pub(crate) preset: Preset,
    /// Configuration (blocks possibly overridden).
    pub(crate) config: ModelConfig,
    /// Compute dtype.
    pub(crate) dtype: DType,
    /// Backend.
    pub(crate) backend: Backend,
    /// Frame counts, each with the same height and width.
    pub(crate) geometries: Vec<Geometry>,
    /// Timed runs per frame count, variant and mode: the exact count, or the minimum of a
    /// precision-driven recording ([`Stopping::min_reps`]).
    pub(crate) runs: u32,
    /// When a set has enough repetitions.
    pub(crate) stopping: Stopping,
    /// Warm-up runs per frame count and variant.
    pub(crate) warmup: u32,
    /// Synchronisation modes.
    pub(crate) sync_modes: Vec<SyncMode>,
    /// Attributed mode: extra copies of the perturbed component per invocation.
    pub(crate) copies: u32,
    /// Attributed, precision-driven: the copies of every other round (0: none), see
    /// [`crate::api::Schedule::check_copies`].
    pub(crate) check_copies: u32,
    /// Test builds: a stage made deliberately more expensive, (name, extra copies of its work).
    pub(crate) inflate: Option<(String, u32)>,
    /// Variants (baseline first).
    pub(crate) variants: Vec<Variant>,
    /// Seed of weights and inputs.
    pub(crate) seed: u64,
    /// Checkpoint directory; random weights when `None`.
    pub(crate) weights: Option<PathBuf>,
    /// Final trace path.
    pub(crate) out: PathBuf,
    /// `--force`: a finished trace at `out` is replaced when the recording completes.
    pub(crate) replace: bool,
    /// `out` was generated, not given: take the next free numbered name instead of failing.
    pub(crate) next_free_name: bool,
    /// Skip the memory check.
    pub(crate) skip_memory_check: bool,
    /// No progress bar.
    pub(crate) quiet: bool,
    /// Skip the calibration (tests).
    pub(crate) calibrate: bool,
    /// User labels for the header.
    pub(crate) labels: BTreeMap<String, String>,
}

impl Plan {
    /// Largest sequence length of the plan.
    pub(crate) fn max_tokens(&self) -> u64 {
        self.geometries.iter().map(Geometry::tokens).max().unwrap_or(0)
    }

    /// Refuses a plan whose estimated memory exceeds what the machine has.
    pub(crate) fn check_memory(&self, budget: u64, budget_what: &str) -> Result<()> {
        let tokens = self.max_tokens();
        let c = &self.config;
        // Each variant's extra memory (quantized copies, caches) lives only while it runs, so
        // only the largest counts.
        let extra = |v: &Variant| {
            variants::extra_bytes_per_block(*v, c.dim as u64, c.ffn_dim as u64, tokens, c.text_len as u64, self.dtype.size())
        };
        let extra_per_block: u64 = self.variants.iter().map(extra).max().unwrap_or(0);
        let e = estimate::estimate(c, tokens, self.dtype, self.backend, extra_per_block * c.blocks as u64);
        if e.total() <= budget {
            return Ok(());
        }
        let mut advice = Vec::new();
        if let Some(b) = estimate::max_blocks_fitting(c, tokens, self.dtype, self.backend, extra_per_block, budget) {
            advice.push(format!("--blocks {b} (at most {b} of {} blocks fit)", c.blocks));
        }
        if self.dtype == DType::F32 {
            advice.push("--dtype bf16 (halves the weights; slow on the CPU)".into());
        }
        if self.preset != Preset::Wan1_3b && self.preset != Preset::Tiny {
            advice.push("--preset wan-1.3b".into());
        }
        if self.geometries.len() > 1 || tokens > 3120 {
            advice.push("fewer or smaller --frames, or a lower --height/--width".into());
        }
        bail!(
            "this configuration needs about {} (weights {} + activations {} at {} tokens{}), \
             more than the {} {budget_what}.\nTry: {}\n(--skip-memory-check records anyway)",
            gib(e.total()),
            gib(e.weights),
            gib(e.activations),
            tokens,
            if e.variants > 0 { format!(" + variants {}", gib(e.variants)) } else { String::new() },
            gib(budget),
            advice.join("; ")
        )
    }

    /// Runs the plan would record. Attributed rounds are counted for the baseline's stages;
    /// a variant with other stages changes the count by a few runs.
    pub(crate) fn total_runs(&self) -> u64 {
        let targets = baseline_stage_count(&self.config);
        let per_rep = rounds::runs_per_rep(&self.sync_modes, targets, self.copies);
        let per_variant = (self.warmup_reps() + self.planned_reps()) as u64 * per_rep;
        self.geometries.len() as u64 * self.variants.len() as u64 * per_variant
    }
}

impl Plan {
    /// The plan's work in the progress bar's unit (analytic FLOPs, component-synced runs
    /// weighted 1.2): the ETA then follows the real cost of the runs left, not their count.
    pub(crate) fn total_weight(&self) -> f64 {
        self.set_weights().iter().sum::<f64>() * (self.warmup_reps() + self.planned_reps()) as f64
    }

    /// Warm-up repetitions per set: `warmup` at each copies level.
    pub(crate) fn warmup_reps(&self) -> u32 {
        self.warmup * self.levels()
    }

    /// Timed repetitions planned per set: `runs` at each copies level the rounds cycle through.
    pub(crate) fn planned_reps(&self) -> u32 {
        self.runs * self.levels()
    }

    /// The copies levels the attribution rounds cycle through (1 or 2).
    fn levels(&self) -> u32 {
        crate::api::copies_levels(self.copies, self.check_copies, Some(self.stopping), &self.sync_modes).len() as u32
    }

    /// The weight of one repetition of each set (frame count x variant), in recording order.
    pub(crate) fn set_weights(&self) -> Vec<f64> {
        self.geometries
            .iter()
            .flat_map(|g| {
                let w = self.rep_weight(g, &self.sync_modes);
                std::iter::repeat_n(w, self.variants.len())
            })
            .collect()
    }

    /// The weight of one repetition of `modes` at `geometry` ([`rounds::rep_weight`]).
    pub(crate) fn rep_weight(&self, geometry: &Geometry, modes: &[SyncMode]) -> f64 {
        let forward = CostModel::new(&self.config, geometry.tokens(), self.dtype.size()).of(names::FORWARD).unwrap_or_default().flops.max(1.0);
        rounds::rep_weight(forward, modes, baseline_stage_count(&self.config), self.copies)
    }
}

/// Stages of the baseline forward: the embeddings, the block's components and the head.
fn baseline_stage_count(config: &ModelConfig) -> usize {
    let kept = |n: &&&str| config.camera || !n.contains("camera");
    names::EMBED.iter().filter(kept).count() + names::BLOCK.iter().filter(kept).count() + 1
}

/// The trace header of a plan: this machine's metadata ([`api::metadata`]) with the plan's
/// backend, model, geometry, weights, seed and labels.
pub(crate) fn header(plan: &Plan, command_line: &str) -> Header {
    let mut m = api::metadata(plan.preset.name(), plan.dtype);
    let (gpu_name, gpu_memory_bytes) = if plan.backend.is_gpu() { machine::gpu_info() } else { (None, None) };
    m.gpu_name = gpu_name;
    m.gpu_memory_bytes = gpu_memory_bytes;
    m.backend = plan.backend.name().into();
    m.model = plan.config.clone();
    m.height = plan.geometries.first().map_or(0, |g| g.height);
    m.width = plan.geometries.first().map_or(0, |g| g.width);
    m.weights = plan.weights.as_ref().map_or("synthetic".into(), |p| p.display().to_string());
    m.seed = plan.seed;
    m.command_line = command_line.into();
    m.labels = plan.labels.clone();
    Header::new(m)
}

/// Default trace path: `DIR/<host>-<preset>-<backend>-<timestamp>.msgpack`.
/// The stamp has millisecond resolution; a name still taken (a trace or a `.partial` of it) is
/// numbered when the file is created (`NAME-2.msgpack`, ...), so every recording gets its own.
pub(crate) fn default_out(dir: &Path, preset: Preset, backend: Backend) -> PathBuf {
    let host: String = machine::host().name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    // The milliseconds of the same second as the date and time.
    let (seconds, millis) = loop {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let seconds = api::utc_now();
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        if before.as_secs() == after.as_secs() {
            break (seconds, after.subsec_millis());
        }
    };
    let stamp = seconds.replace([':', '-'], "").replace('T', "-").trim_end_matches('Z').to_string();
    dir.join(format!("{host}-{}-{}-{stamp}.{millis:03}.msgpack", preset.name(), backend.name()))
}

/// Summary of a finished recording.
pub(crate) struct Summary {
    /// Trace written.
    pub(crate) path: PathBuf,
    /// Runs written.
    pub(crate) runs: u32,
    /// Whether SIGINT stopped it early (the trace stays `.partial`).
    pub(crate) interrupted: bool,
}

/// Records the plan into `plan.out` (via `NAME.partial`).
// The binary records through record_with.
#[cfg(any(test, feature = "bench"))]
pub(crate) fn record(plan: &Plan, header: &Header) -> Result<Summary> {
    record_with(plan, header, &mut None)
}

/// [`record`], setting `partial` to the `.partial` file once it is created, so that a caller
/// can say what a failure leaves behind.
pub(crate) fn record_with(plan: &Plan, header: &Header, partial: &mut Option<PathBuf>) -> Result<Summary> {
    if let Some(dir) = plan.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create output directory {}", dir.display()))?;
    }
    let file = TraceFile::create_with(&plan.out, header, plan.replace, plan.next_free_name)
        .with_context(|| format!("cannot write trace {}", plan.out.display()))?;
    *partial = Some(file.partial_path().to_path_buf());
    // The built-in model is recorded through the library API, as any other model is.
    let mut rec = Recorder::from_file(file, plan.backend, plan.dtype);
    let mut progress = Progress::new(plan.total_runs(), plan.total_weight(), plan.quiet);
    let model = calibrate_and_build(plan, &mut rec, &mut progress)?;
    progress.runs_begin();
    let runs_start = Instant::now();
    let set_weights = plan.set_weights();
    let mut set_index = 0usize;
    // Copies are sized by the loop against the memory the first plain forward leaves.
    let schedule = Schedule {
        modes: plan.sync_modes.clone(),
        runs: plan.runs,
        warmup: plan.warmup,
        copies: plan.copies,
        check_copies: plan.check_copies,
        headroom: None,
        inflate: plan.inflate.clone(),
        quiet: plan.quiet,
        stopping: Some(plan.stopping),
    };

    'outer: for geometry in &plan.geometries {
        let costs = CostModel::new(&plan.config, geometry.tokens(), plan.dtype.size());
        let inputs = Inputs::synthetic(&plan.config, *geometry, plan.dtype, plan.seed)?;
        // The baseline's output at this length, which the other variants' drift is measured against.
        let mut reference: Option<Array> = None;
        for &variant in &plan.variants {
            let set = Set { geometry: *geometry, variant, inputs: &inputs, costs: &costs, runs_start, weights_left: &set_weights[set_index..] };
            set_index += 1;
            record_set(&mut rec, &mut progress, plan, &schedule, &model, set, &mut reference)?;
            if rec.interrupted() {
                break 'outer;
            }
        }
    }
    progress.finish();
    // A signal during the last run leaves nothing unrecorded: the trace is finished as usual.
    if rec.interrupted() {
        return Ok(Summary { path: rec.partial_path().to_path_buf(), runs: rec.runs(), interrupted: true });
    }
    let runs = rec.runs();
    let path = rec.finish()?;
    Ok(Summary { path, runs, interrupted: false })
}

/// Calibrates the machine's ceilings (when the plan asks) and builds the model.
fn calibrate_and_build(plan: &Plan, rec: &mut Recorder, progress: &mut Progress) -> Result<Model> {
    if plan.calibrate {
        progress.message("calibrating matmul rate and memory bandwidth");
        let tokens: Vec<u64> = plan.geometries.iter().map(Geometry::tokens).collect();
        rec.calibrate_gemms(&crate::calibrate::model_gemm_shapes(&plan.config, &tokens))?;
    }
    progress.message("building the model");
    let weights = match &plan.weights {
        Some(dir) => Weights::load(dir, &plan.config, plan.dtype)?,
        None => Weights::synthetic(&plan.config, plan.dtype, plan.seed)?,
    };
    Ok(Model::new(plan.config.clone(), plan.dtype, weights))
}

/// One set of a recording: a variant of the model at one length.
struct Set<'a> {
    geometry: Geometry,
    variant: Variant,
    inputs: &'a Inputs,
    /// The standard per-token cost model at this length.
    costs: &'a CostModel,
    /// When the recording's first run began, and the expected cost of this set and the ones
    /// after it: a precision-driven set gets its share of the time left.
    runs_start: Instant,
    weights_left: &'a [f64],
}

/// Prepares one set's variant afresh, records it through the library's loop and drops it, so
/// that no variant's extra memory (quantized copies, caches) inflates the next one's. The
/// baseline's plain output becomes `reference`; the other variants' drift is measured from it.
fn record_set(
    rec: &mut Recorder,
    progress: &mut Progress,
    plan: &Plan,
    schedule: &Schedule,
    model: &Model,
    set: Set<'_>,
    reference: &mut Option<Array>,
) -> Result<()> {
    let Set { geometry, variant, inputs, costs, runs_start, weights_left } = set;
    let tokens = geometry.tokens();
    progress.message(&format!("{} frames: preparing {}", geometry.frames, variant.name()));
    let mut prepared = variants::prepare(model, variant, inputs)?;
    let costs = costs.clone().with_uniform_time(variant.uniform_time());
    let forward_cost = costs.of(names::FORWARD).unwrap_or_default();
    let shape = Shape { variant: variant.name().into(), frames: geometry.frames, tokens, costs: Some(costs), forward_cost: Some(forward_cost) };
    for (name, ns, bytes) in prepared.setups.drain(..) {
        rec.add_setup(&SetupRecord {
            variant: variant.name().into(),
            name,
            frames: geometry.frames,
            tokens,
            duration_ns: ns,
            memory_bytes: bytes,
        })?;
    }
    // The stages this variant's forward runs: the targets of its attribution rounds.
    let opts = prepared.options();
    let mut forward = |probe: &mut Probe| model.forward(inputs, probe, &opts);
    let stages = if plan.sync_modes.contains(&SyncMode::Attributed) { Recorder::stages(&shape, &mut forward)? } else { Vec::new() };
    let deadline = match plan.stopping {
        Stopping::Precision { max_time, .. } => Some(precision::set_deadline(runs_start, max_time, weights_left)),
        Stopping::Exact(_) => None,
    };
    // Drift of the plain forwards only: a perturbation adds outputs, never changes the
    // forward's own.
    let mut drift = |output: &Array, run: &mut RunRecord| -> Result<()> {
        match (&*reference, variant) {
            (None, Variant::Baseline) => *reference = Some(output.clone()),
            (Some(r), v) if v != Variant::Baseline => {
                let (max_rel, mean_rel) = variants::drift(output, r)?;
                run.drift = Some(Drift { max_rel, mean_rel });
            }
            _ => {}
        }
        Ok(())
    };
    let label = format!("{} frames ({tokens} tokens), {}", geometry.frames, variant.name());
    let around = Around { progress, deadline, label, plain_output: &mut drift };
    rec.record_around(&shape, schedule, &stages, around, forward)?;
    if rec.interrupted() {
        return Ok(());
    }
    drop(opts);
    drop(prepared);
    mlx_rs::memory::clear_cache()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_is_rfc3339() {
        let t = super::api::utc_now();
        assert_eq!(t.len(), 20);
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T');
    }
}
