//! A recording: checks the plan, calibrates, builds the model, runs every frame count x variant
//! x repetition x synchronisation mode, and streams each run into the trace file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use mlx_rs::Array;
use trace_format::{Drift, Header, ModelConfig, PerturbKind, SetupRecord, SyncMode, TraceFile};

use crate::api::{self, Recorder, Shape};
use crate::config::{DType, Geometry, Preset};
use crate::cost::CostModel;
use crate::estimate::{self, gib};
use crate::instrument::{Perturb, Probe, StageInfo};
use crate::machine::{self, Backend};
use crate::model::{Inputs, Model, Weights, names};
use crate::precision::{self, Next, SetTracker, Stopping};
use crate::progress::Progress;
use crate::variants::{self, Variant};

/// Set by the SIGINT handler: stop after the run in progress.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Everything a recording needs, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Model preset.
    pub preset: Preset,
    /// Configuration (blocks possibly overridden).
    pub config: ModelConfig,
    /// Compute dtype.
    pub dtype: DType,
    /// Backend.
    pub backend: Backend,
    /// Frame counts, each with the same height and width.
    pub geometries: Vec<Geometry>,
    /// Timed runs per frame count, variant and mode: the exact count, or the minimum of a
    /// precision-driven recording ([`Stopping::min_reps`]).
    pub runs: u32,
    /// When a set has enough repetitions.
    pub stopping: Stopping,
    /// Warm-up runs per frame count and variant.
    pub warmup: u32,
    /// Synchronisation modes.
    pub sync_modes: Vec<SyncMode>,
    /// Attributed mode: extra copies of the perturbed component per invocation.
    pub copies: u32,
    /// Test builds: a stage made deliberately more expensive, (name, extra copies of its work).
    pub inflate: Option<(String, u32)>,
    /// Variants (baseline first).
    pub variants: Vec<Variant>,
    /// Seed of weights and inputs.
    pub seed: u64,
    /// Checkpoint directory; random weights when `None`.
    pub weights: Option<PathBuf>,
    /// Final trace path.
    pub out: PathBuf,
    /// `--force`: a finished trace at `out` is replaced when the recording completes.
    pub replace: bool,
    /// `out` was generated, not given: take the next free numbered name instead of failing.
    pub next_free_name: bool,
    /// Skip the memory check.
    pub skip_memory_check: bool,
    /// No progress bar.
    pub quiet: bool,
    /// Skip the calibration (tests).
    pub calibrate: bool,
    /// User labels for the header.
    pub labels: BTreeMap<String, String>,
}

impl Plan {
    /// Largest sequence length of the plan.
    pub fn max_tokens(&self) -> u64 {
        self.geometries.iter().map(Geometry::tokens).max().unwrap_or(0)
    }

    /// Refuses a plan whose estimated memory exceeds what the machine has.
    pub fn check_memory(&self, budget: u64, budget_what: &str) -> Result<()> {
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
    pub fn total_runs(&self) -> u64 {
        let targets = baseline_stage_count(&self.config);
        let per_rep: u64 =
            self.sync_modes.iter().map(|&m| if m == SyncMode::Attributed { attribution_round(0, targets, self.copies).len() as u64 } else { 1 }).sum();
        let per_variant = (self.warmup + self.runs) as u64 * per_rep;
        self.geometries.len() as u64 * self.variants.len() as u64 * per_variant
    }
}

impl Plan {
    /// The plan's work in the progress bar's unit (analytic FLOPs, component-synced runs
    /// weighted 1.2): the ETA then follows the real cost of the runs left, not their count.
    pub fn total_weight(&self) -> f64 {
        self.set_weights().iter().sum::<f64>() * (self.warmup + self.runs) as f64
    }

    /// The weight of one repetition of each set (frame count x variant), in recording order.
    pub fn set_weights(&self) -> Vec<f64> {
        self.geometries
            .iter()
            .flat_map(|g| {
                let w = self.rep_weight(g, &self.sync_modes);
                std::iter::repeat_n(w, self.variants.len())
            })
            .collect()
    }

    /// The weight of one repetition of `modes` at `geometry`.
    pub fn rep_weight(&self, geometry: &Geometry, modes: &[SyncMode]) -> f64 {
        let targets = baseline_stage_count(&self.config);
        let forward = CostModel::new(&self.config, geometry.tokens(), self.dtype.size()).of(names::FORWARD).unwrap_or_default().flops.max(1.0);
        modes
            .iter()
            .map(|&m| match m {
                SyncMode::Attributed => {
                    let runs = attribution_round(0, targets, self.copies).len() as f64;
                    // The copies of all targets together are `copies` more forwards.
                    forward * (runs + self.copies as f64)
                }
                SyncMode::Component => 1.2 * forward,
                _ => forward,
            })
            .sum()
    }
}

/// Stages of the baseline forward: the embeddings, the block's components and the head.
fn baseline_stage_count(config: &ModelConfig) -> usize {
    let kept = |n: &&&str| config.camera || !n.contains("camera");
    names::EMBED.iter().filter(kept).count() + names::BLOCK.iter().filter(kept).count() + 1
}

/// The extra copies of `stage`'s work an attributed run may add within `headroom` bytes, at most
/// `requested` and at least 1. It assumes the worst case, every invocation's copies alive at
/// once: a stage whose inputs do not depend on the previous block (the modulation, which reads
/// only the time embedding) can be scheduled that way, and on an H200 at 32,760 tokens its four
/// copies ran out of memory.
pub fn copies_within(requested: u32, stage: &StageInfo, headroom: u64) -> u32 {
    let per_copy = stage.output_bytes.saturating_mul(stage.calls as u64);
    if per_copy == 0 {
        return requested;
    }
    (headroom / per_copy).clamp(1, requested.max(1) as u64) as u32
}

/// The perturbations of one attribution round, in order ([`attribution_estimate::schedule::round`]:
/// a reference, the control and every target once, rotated by the round, a reference after
/// every few targets), with the copies each duplicate asks for.
///
/// Warm-up rounds run the same schedule, untimed: each perturbation is a graph of its own, and
/// the first run of a graph pays for what later runs reuse (MLX's CUDA backend builds a CUDA
/// graph for every new shape of work). On an H200 at 3,120 tokens, duplicates whose graphs were
/// new took 3.5 ms longer each, which over-charged every component of the first round by ~8%.
pub fn attribution_round(round: u32, targets: usize, copies: u32) -> Vec<(PerturbKind, Option<usize>, u32)> {
    use attribution_estimate::Role;
    attribution_estimate::schedule::round(round, targets)
        .into_iter()
        .map(|role| match role {
            Role::Reference => (PerturbKind::Reference, None, 0),
            Role::Control => (PerturbKind::Control, None, 0),
            Role::Duplicate(i) => (PerturbKind::Duplicate, Some(i), copies),
        })
        .collect()
}

/// The progress text of a precision-driven set: the least precise estimate against the
/// target, and the repetitions that would take at the rate intervals narrow.
fn precision_text(status: &[precision::ModeStatus], reps: u32, target: f64) -> String {
    let worst = status.iter().filter(|s| !precision::met(s, target)).max_by(|a, b| a.precision.unwrap_or(f64::INFINITY).total_cmp(&b.precision.unwrap_or(f64::INFINITY)));
    match worst {
        None => String::new(),
        Some(st) => {
            let p = st.precision.map_or("no interval yet".into(), |p| format!("±{:.1}%", p * 100.0));
            let more = precision::reps_to_go(st, reps, target).map_or(String::new(), |n| format!(", ~{n} more"));
            format!(" ({} {p} of {:.1}%{more})", st.mode.as_str(), target * 100.0)
        }
    }
}

/// The trace header of a plan: this machine's metadata ([`api::metadata`]) with the plan's
/// backend, model, geometry, weights, seed and labels.
pub fn header(plan: &Plan, command_line: &str) -> Header {
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
pub fn default_out(dir: &Path, preset: Preset, backend: Backend) -> PathBuf {
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
pub struct Summary {
    /// Trace written.
    pub path: PathBuf,
    /// Runs written.
    pub runs: u32,
    /// Whether SIGINT stopped it early (the trace stays `.partial`).
    pub interrupted: bool,
}

/// Records the plan into `plan.out` (via `NAME.partial`).
pub fn record(plan: &Plan, header: &Header) -> Result<Summary> {
    record_with(plan, header, &mut None)
}

/// [`record`], setting `partial` to the `.partial` file once it is created, so that a caller
/// can say what a failure leaves behind.
pub fn record_with(plan: &Plan, header: &Header, partial: &mut Option<PathBuf>) -> Result<Summary> {
    if let Some(dir) = plan.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create output directory {}", dir.display()))?;
    }
    let file = TraceFile::create_with(&plan.out, header, plan.replace, plan.next_free_name)
        .with_context(|| format!("cannot write trace {}", plan.out.display()))?;
    *partial = Some(file.partial_path().to_path_buf());
    // The built-in model is recorded through the library API, as any other model is.
    let mut rec = Recorder::from_file(file, plan.backend, plan.dtype);
    let mut progress = Progress::new(plan.total_runs(), plan.total_weight(), plan.quiet);

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
    let model = Model::new(plan.config.clone(), plan.dtype, weights);
    progress.runs_begin();
    let runs_start = std::time::Instant::now();
    let set_weights = plan.set_weights();
    let mut set_index = 0usize;
    let mut interrupted = false;

    'outer: for geometry in &plan.geometries {
        let tokens = geometry.tokens();
        let standard_costs = CostModel::new(&plan.config, tokens, plan.dtype.size());
        let inputs = Inputs::synthetic(&plan.config, *geometry, plan.dtype, plan.seed)?;
        let mut reference: Option<Array> = None;
        for &variant in &plan.variants {
            progress.message(&format!("{} frames: preparing {}", geometry.frames, variant.name()));
            // Every variant is prepared afresh and dropped after its runs, so no variant's extra
            // memory (quantized copies, caches) inflates the memory measured for the next one.
            let mut prepared = variants::prepare(&model, variant, &inputs)?;
            let costs = standard_costs.clone().with_uniform_time(variant.uniform_time());
            let forward_cost = costs.of(names::FORWARD).unwrap_or_default();
            let shape = Shape {
                variant: variant.name().into(),
                frames: geometry.frames,
                tokens,
                costs: Some(costs),
                forward_cost: Some(forward_cost),
            };
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
            let forward = |probe: &mut Probe| model.forward(&inputs, probe, &opts);
            let stages = if plan.sync_modes.contains(&SyncMode::Attributed) { Recorder::stages(&shape, forward)? } else { Vec::new() };
            // Copies per stage, within the memory the plain forward leaves.
            let headroom = machine::memory_budget(plan.backend, &machine::host())
                .0
                .saturating_sub(estimate::estimate(&plan.config, tokens, plan.dtype, plan.backend, 0).total());
            let stage_copies: Vec<u32> = stages.iter().map(|st| copies_within(plan.copies, st, headroom)).collect();
            for (st, &k) in stages.iter().zip(&stage_copies) {
                if k < plan.copies && !plan.quiet {
                    progress.note(&format!(
                        "attribution at {tokens} tokens: {} gets {k} extra copies instead of {} (all its copies could need {} of the {} the forward leaves)",
                        st.name,
                        plan.copies,
                        gib(st.output_bytes.saturating_mul(st.calls as u64).saturating_mul(plan.copies as u64)),
                        gib(headroom)
                    ));
                }
            }
            let forward_weight = forward_cost.flops.max(1.0);
            let deadline = match plan.stopping {
                Stopping::Precision { max_time, .. } => Some(precision::set_deadline(runs_start, max_time, &set_weights[set_index..])),
                Stopping::Exact(_) => None,
            };
            set_index += 1;
            let mut tracker = SetTracker::new(&plan.sync_modes, stages.len());
            let mut modes_now = plan.sync_modes.clone();
            let mut shown = String::new();
            let (mut rep, mut timed) = (0u32, 0u32);
            loop {
                let warmup = rep < plan.warmup;
                for &mode in &modes_now {
                    let schedule = if mode == SyncMode::Attributed {
                        attribution_round(timed, stages.len(), plan.copies)
                    } else {
                        vec![(PerturbKind::Reference, None, 0)]
                    };
                    for (kind, target_index, copies) in schedule {
                        let copies = target_index.map_or(copies, |i| stage_copies[i]);
                        if INTERRUPTED.load(Ordering::SeqCst) {
                            interrupted = true;
                            break 'outer;
                        }
                        let target = target_index.map(|i| &stages[i]);
                        let what = match (mode, kind, target) {
                            (SyncMode::Attributed, PerturbKind::Duplicate, Some(t)) => format!("perturbing {} x{copies}", t.name),
                            (SyncMode::Attributed, k, _) => format!("attributed {}", k.as_str()),
                            (m, _, _) => format!("sync {}", m.as_str()),
                        };
                        let round = match (warmup, plan.stopping) {
                            (true, _) => "warm-up".to_string(),
                            (false, Stopping::Exact(n)) => format!("round {}/{n}", timed + 1),
                            (false, Stopping::Precision { .. }) => format!("round {}{shown}", timed + 1),
                        };
                        // The most specific first: a narrow terminal cuts the end of the line.
                        progress.message(&format!("{what}; {round}; {} frames ({tokens} tokens), {}", geometry.frames, variant.name()));
                        let perturb = match (mode, kind, target) {
                            (SyncMode::Attributed, PerturbKind::Control, _) => Perturb::Control,
                            (SyncMode::Attributed, PerturbKind::Duplicate, Some(t)) => Perturb::Duplicate { target: t.name.clone(), copies },
                            _ => Perturb::Nothing,
                        };
                        let plain = perturb == Perturb::Nothing;
                        let measured = Recorder::forward_once(&shape, mode, perturb, plan.inflate.clone(), forward)?;
                        let mut run = measured.run;
                        run.warmup = warmup;
                        if mode == SyncMode::Attributed {
                            run.perturbation = Some(api::perturbation(kind, target, copies, timed, measured.reduced_bytes, measured.reduced_arrays));
                        }
                        let output = measured.output;
                        // Drift of the plain forwards only: a perturbation adds outputs, never
                        // changes the forward's own.
                        if plain {
                            match (&reference, variant) {
                                (None, Variant::Baseline) => reference = Some(output),
                                (Some(r), v) if v != Variant::Baseline => {
                                    let (max_rel, mean_rel) = variants::drift(&output, r)?;
                                    run.drift = Some(Drift { max_rel, mean_rel });
                                }
                                _ => {}
                            }
                        }
                        if !warmup {
                            tracker.add(mode, kind, target_index, copies, rec.runs(), run.forward_ns, measured.reduced_arrays, measured.reduced_bytes);
                        }
                        rec.write_run(run)?;
                        let extra = target.map_or(0.0, |t| copies as f64 * t.calls as f64 * t.cost.flops);
                        let slower = if mode == SyncMode::Component { 1.2 } else { 1.0 };
                        progress.inc_weighted(slower * (forward_weight + extra));
                    }
                }
                rep += 1;
                if warmup {
                    continue;
                }
                timed += 1;
                let status = tracker.status();
                match precision::next(plan.stopping, timed, &status, deadline) {
                    Next::Continue(modes) => {
                        // Past the planned minimum, every repetition extends the bar.
                        if timed >= plan.runs {
                            let steps = modes.iter().map(|&m| if m == SyncMode::Attributed { attribution_round(0, stages.len(), plan.copies).len() as u64 } else { 1 }).sum();
                            progress.extend(plan.rep_weight(geometry, &modes), steps);
                        }
                        if let Stopping::Precision { target, .. } = plan.stopping {
                            shown = precision_text(&status, timed, target);
                        }
                        modes_now = modes;
                    }
                    Next::Stop(reason) => {
                        if !plan.quiet {
                            for st in &status {
                                let line = precision::summary(st, timed, plan.stopping, reason, |i| stages[i].name.clone());
                                progress.note(&format!("{} frames, {}: {line}", geometry.frames, variant.name()));
                            }
                        }
                        break;
                    }
                }
            }
            drop(opts);
            drop(prepared);
            mlx_rs::memory::clear_cache()?;
        }
    }
    progress.finish();
    // A signal during the last run leaves nothing unrecorded: the trace is finished as usual.
    if interrupted {
        return Ok(Summary { path: rec.partial_path().to_path_buf(), runs: rec.runs(), interrupted: true });
    }
    let runs = rec.runs();
    let path = rec.finish()?;
    Ok(Summary { path, runs, interrupted: false })
}

#[cfg(test)]
mod tests {
    #[test]
    fn copies_fit_the_memory_left() {
        use crate::cost::Cost;
        use crate::instrument::StageInfo;
        // The 14B modulation at 32,760 tokens: 6 x 32,760 x 5,120 bf16 values per block, 40
        // blocks: 80.5 GB per copy of every block's work.
        let modulation = StageInfo { name: "block/modulation".into(), calls: 40, cost: Cost::default(), output_bytes: 6 * 32_760 * 5_120 * 2 };
        let gib = 1u64 << 30;
        assert_eq!(super::copies_within(4, &modulation, 80 * gib), 1);
        assert_eq!(super::copies_within(4, &modulation, 160 * gib), 2);
        assert_eq!(super::copies_within(4, &modulation, 1000 * gib), 4);
        // Never fewer than one copy, never more than asked.
        assert_eq!(super::copies_within(4, &modulation, 0), 1);
        let empty = StageInfo { output_bytes: 0, ..modulation.clone() };
        assert_eq!(super::copies_within(4, &empty, 0), 4);
        // On an H200 (143,771 MiB), what the 40-block forward leaves at 9,360 and 32,760 tokens.
        let config = crate::config::Preset::Lingbot14b.config();
        let h200 = 143_771u64 << 20;
        let left = |tokens: u64| h200.saturating_sub(crate::estimate::estimate(&config, tokens, crate::config::DType::Bf16, super::Backend::Cuda, 0).total());
        let at_9360 = StageInfo { output_bytes: 6 * 9_360 * 5_120 * 2, ..modulation.clone() };
        assert_eq!(super::copies_within(4, &at_9360, left(9_360)), 4, "all four copies at 9,360 tokens");
        assert!(super::copies_within(4, &modulation, left(32_760)) <= 2, "at most the two copies that ran at 32,760 tokens");
    }

    #[test]
    fn timestamp_is_rfc3339() {
        let t = super::api::utc_now();
        assert_eq!(t.len(), 20);
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T');
    }
}
