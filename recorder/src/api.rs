//! Instrument any mlx-rs model: open a trace, run forwards with a probe, write.
//!
//! The built-in LingBot/Wan model is one user of this API; `recorder/examples/llama.rs` is
//! another. A model marks its components on the [`Probe`] it is given, one closure per
//! component, with the name the analyzer will show (`/` separates the levels of the
//! distribution tree) and, optionally, the analytic cost of one invocation:
//!
//! ```no_run
//! use mlx_record::api::{Cost, Mark, Mode, Probe, Recorder, Schedule, Shape};
//! use mlx_rs::Array;
//!
//! fn forward(x: &Array, w: &Array, probe: &mut Probe) -> anyhow::Result<Array> {
//!     let mut x = x.clone();
//!     for layer in 0..2 {
//!         let cost = Cost { flops: 2.0 * 128.0 * 256.0 * 256.0, bytes: 4.0 * 3.0 * 256.0 * 256.0 };
//!         x = probe.mark_with_cost("layer/mlp/up", Some(layer), cost, || Ok(x.matmul(w)?))?;
//!         x = probe.mark("layer/act", Some(layer), || Ok(mlx_rs::ops::tanh(&x)?))?;
//!     }
//!     Ok(x)
//! }
//!
//! # fn main() -> anyhow::Result<()> {
//! let (x, w) = (Array::ones::<f32>(&[128, 256])?, Array::ones::<f32>(&[256, 256])?);
//! let meta = mlx_record::api::metadata("my-model", mlx_record::api::DType::F32);
//! let mut rec = Recorder::create("my-model.msgpack", meta)?;
//! rec.calibrate()?;
//! let schedule = Schedule { modes: vec![Mode::None, Mode::Attributed, Mode::Component], ..Schedule::default() };
//! rec.record(&Shape::new(128), &schedule, |probe| forward(&x, &w, probe))?;
//! println!("{}", rec.finish()?.display());
//! # Ok(()) }
//! ```
//!
//! Modes ([`Mode`], the trace's `sync`): `None` evaluates once per forward (the real speed);
//! `Component` evaluates after every component (per-component times, no fusion across them);
//! `Attributed` keeps the forward one evaluation and attributes its time to the components by
//! duplicating each one's work in turn against plain references and a control (the schedule of
//! `rounds::attribution_round`, docs/attribution.md). `Block` needs the model to call
//! [`Probe::begin_group`] and [`Probe::end_group`].
//!
//! A component's closure must be pure: calling it again must redo the same work (an attributed
//! run calls it `copies` more times). Its outputs are one or more arrays ([`Outputs`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use trace_format::{Calibration, Header, Metadata, ModelConfig, PerturbKind, Perturbation, RunRecord, SetupRecord, TraceFile};

pub use crate::cost::{Cost, CostModel};
pub use crate::instrument::{Outputs, Perturb, Probe, StageInfo};
pub use trace_format::SyncMode as Mode;
// What a program recording its own model needs besides the recorder: the compute dtype, the
// backend, a fast BLAS on Linux and the stop request its signal handler makes.
pub use crate::blas::ensure_fast_openblas;
pub use crate::config::DType;
pub use crate::machine::{Backend, detect_backend};
pub use crate::rounds::{request_stop, stop_requested};

use crate::machine;
use crate::progress::Progress;
use crate::precision::{self, Next, SetTracker};
pub use crate::precision::Stopping;
use crate::machine::gib;
use crate::rounds;

/// Marking components on a [`Probe`] without the built-in model's cost table.
///
/// `Probe::stage` looks the cost up in the built-in model's [`CostModel`] (whose names it
/// checks in debug builds); other models use these.
pub trait Mark {
    /// Runs one invocation of component `name` (cost unknown: recorded as 0). `block`: the
    /// block (layer) index, `None` outside the blocks.
    fn mark<T: Outputs>(&mut self, name: &str, block: Option<u32>, f: impl FnMut() -> Result<T>) -> Result<T>;
    /// Runs one invocation of component `name` whose analytic cost is `cost`.
    fn mark_with_cost<T: Outputs>(&mut self, name: &str, block: Option<u32>, cost: Cost, f: impl FnMut() -> Result<T>) -> Result<T>;
}

impl Mark for Probe<'_> {
    fn mark<T: Outputs>(&mut self, name: &str, block: Option<u32>, f: impl FnMut() -> Result<T>) -> Result<T> {
        self.stage_with_cost(name, block, Cost::default(), f)
    }
    fn mark_with_cost<T: Outputs>(&mut self, name: &str, block: Option<u32>, cost: Cost, f: impl FnMut() -> Result<T>) -> Result<T> {
        self.stage_with_cost(name, block, cost, f)
    }
}

/// The header metadata of a recording on this machine: host, OS, CPU, memory, GPU, the libmlx
/// loaded, backend (MLX's default device), BLAS, recorder version, start time, command line.
/// The caller fills what describes the model (`model`: [`ModelConfig`], `height`, `width`,
/// `weights`, `seed`, `labels`).
pub fn metadata(model: &str, dtype: DType) -> Metadata {
    let backend = current_backend();
    let host = machine::host();
    let (gpu_name, gpu_memory_bytes) = if backend.is_gpu() { machine::gpu_info() } else { (None, None) };
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(name) = args.first().and_then(|a| Path::new(a).file_name()).map(|n| n.to_string_lossy().into_owned()) {
        args[0] = name;
    }
    Metadata {
        host: host.name,
        os: host.os,
        cpu_model: host.cpu_model,
        cpu_cores: host.cpu_cores,
        ram_bytes: host.ram_bytes,
        gpu_name,
        gpu_memory_bytes,
        mlx_version: machine::mlx_runtime_version(),
        backend: backend.name().into(),
        blas: machine::loaded_blas(),
        dtype: dtype.name().into(),
        preset: model.into(),
        model: ModelConfig::default(),
        height: 0,
        width: 0,
        weights: "synthetic".into(),
        seed: 0,
        recorder_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: option_env!("MLX_TRACE_GIT_COMMIT").unwrap_or("unknown").into(),
        command_line: args.join(" "),
        start_time: utc_now(),
        labels: Default::default(),
    }
}

/// The backend MLX's default device runs on: the GPU's backend when the default device is the
/// GPU, else the CPU.
pub fn current_backend() -> Backend {
    let on_gpu = mlx_rs::Device::try_default().and_then(|d| d.get_type()).is_ok_and(|t| matches!(t, mlx_rs::DeviceType::Gpu));
    if on_gpu { machine::detect_backend() } else { Backend::Cpu }
}

/// One input shape of a forward: what the analyzer groups runs by.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Variant name (`baseline` unless an optimisation is being compared).
    pub variant: String,
    /// The analyzer's key of one input shape: a video model's frame count; for other models any
    /// number that tells the recorded shapes apart (by default the sequence length). Attribution
    /// sets are the attributed runs of one variant and `frames`.
    pub frames: u32,
    /// Sequence length (tokens): the x axis of the analyzer's scaling fits.
    pub tokens: u64,
    /// The built-in model's cost table, consulted by `Probe::stage`; `None` for other models.
    pub costs: Option<CostModel>,
    /// Cost of the whole forward, stored with the `forward` event of fused runs; `None`: the
    /// sum of the components' costs times their invocations.
    pub forward_cost: Option<Cost>,
}

impl Shape {
    /// A `baseline` shape of `tokens` tokens, `frames` = `tokens`.
    pub fn new(tokens: u64) -> Self {
        Shape { variant: "baseline".into(), frames: tokens.min(u32::MAX as u64) as u32, tokens, costs: None, forward_cost: None }
    }

    /// The same shape with another `frames` key.
    pub fn frames(mut self, frames: u32) -> Self {
        self.frames = frames;
        self
    }

    /// The same shape under another variant name.
    pub fn variant(mut self, variant: &str) -> Self {
        self.variant = variant.into();
        self
    }
}

/// What [`Recorder::record`] runs at one shape.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Modes, each run once per repetition (an attributed repetition is a whole round).
    pub modes: Vec<Mode>,
    /// Timed repetitions (attributed: rounds).
    pub runs: u32,
    /// Warm-up repetitions, recorded with `warmup` set (the analyzer leaves them out); with two
    /// copies levels, this many at each.
    pub warmup: u32,
    /// Attributed: extra copies of the perturbed component per invocation, lowered per component
    /// to what the memory left by the plain forward holds.
    pub copies: u32,
    /// Attributed, precision-driven ([`Schedule::stopping`]): every other round duplicates
    /// with this many copies instead of `copies`, so that the analyzer can tell whether a copy
    /// costs the same however many there are (the method's additivity, docs/attribution.md).
    /// Each component's cost pools both levels. 0, or equal to `copies`: one level. An exact
    /// count of rounds always uses `copies` alone.
    pub check_copies: u32,
    /// Bytes the copies may use; `None`: what the backend has (GPU memory on CUDA, available
    /// memory elsewhere) minus the peak of the first plain forward.
    pub headroom: Option<u64>,
    /// Tests: a component made deliberately more expensive, (name, extra copies of its work).
    pub inflate: Option<(String, u32)>,
    /// No progress bar.
    pub quiet: bool,
    /// Record until the estimates are precise ([`Stopping::Precision`], `runs` ignored);
    /// `None`: exactly `runs` repetitions.
    pub stopping: Option<Stopping>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule { modes: vec![Mode::None, Mode::Attributed], runs: 3, warmup: 1, copies: 4, check_copies: 8, headroom: None, inflate: None, quiet: true, stopping: None }
    }
}

impl Schedule {
    /// Refuses schedules that cannot record anything.
    pub fn check(&self) -> Result<()> {
        if self.modes.is_empty() {
            bail!("no synchronisation mode to record");
        }
        if self.runs == 0 {
            bail!("runs must be at least 1");
        }
        if self.copies == 0 && self.modes.contains(&Mode::Attributed) {
            bail!("copies must be at least 1 in attributed mode");
        }
        Ok(())
    }

    /// The copies levels the attribution rounds cycle through: `copies`, then `check_copies`
    /// where it applies (precision-driven stopping, a different count).
    pub(crate) fn copies_levels(&self) -> Vec<u32> {
        copies_levels(self.copies, self.check_copies, self.stopping, &self.modes)
    }

    /// Warm-up repetitions: `warmup` at each copies level.
    pub(crate) fn warmup_reps(&self) -> u32 {
        self.warmup * self.copies_levels().len() as u32
    }
}

/// [`Schedule::copies_levels`], for the built-in model's plan too.
pub(crate) fn copies_levels(copies: u32, check_copies: u32, stopping: Option<Stopping>, modes: &[Mode]) -> Vec<u32> {
    let precise = matches!(stopping, Some(Stopping::Precision { .. }));
    if precise && check_copies > 0 && check_copies != copies && modes.contains(&Mode::Attributed) {
        vec![copies, check_copies]
    } else {
        vec![copies]
    }
}

/// A run as [`Recorder::forward_once`] measured it, before it is written.
pub struct Measured<T> {
    /// The run record (index assigned when written).
    pub run: RunRecord,
    /// The forward's (evaluated) output.
    pub output: T,
    /// Bytes of the outputs the perturbation forced, per forward.
    pub reduced_bytes: u64,
    /// Extra scalar outputs the perturbation added, per forward.
    pub reduced_arrays: u64,
}

/// A trace being written: header, calibration, setups, runs; `NAME.partial` until finished.
///
/// Record from one thread at a time per process: MLX's peak-memory counter is process-global, so
/// a second recording resets it under the first (its runs then read a peak of 0 and its copies
/// are sized from it), and two recordings at once time each other.
pub struct Recorder {
    file: TraceFile,
    backend: Backend,
    dtype: DType,
    interrupted: bool,
    precision: Vec<String>,
}

impl Recorder {
    /// Creates `path.partial` (exclusively) with the header; an existing `path` is never
    /// replaced (see [`Recorder::create_with`]).
    pub fn create(path: impl AsRef<Path>, metadata: Metadata) -> Result<Self> {
        Self::create_with(path, metadata, false)
    }

    /// Creates the trace; `replace`: an existing regular file at `path` is replaced when the
    /// recording completes.
    pub fn create_with(path: impl AsRef<Path>, metadata: Metadata, replace: bool) -> Result<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create output directory {}", dir.display()))?;
        }
        let dtype: DType = metadata.dtype.parse().map_err(|e| anyhow::anyhow!("metadata dtype: {e}"))?;
        let file = TraceFile::create_with(path, &Header::new(metadata), replace, false).with_context(|| format!("cannot write trace {}", path.display()))?;
        Ok(Recorder { file, backend: current_backend(), dtype, interrupted: false, precision: Vec::new() })
    }

    /// Wraps a trace file created elsewhere (the built-in recorder's, with its naming rules).
    pub(crate) fn from_file(file: TraceFile, backend: Backend, dtype: DType) -> Self {
        Recorder { file, backend, dtype, interrupted: false, precision: Vec::new() }
    }

    /// Measures this machine's matmul rate and bandwidth in the trace's dtype and writes them.
    pub fn calibrate(&mut self) -> Result<Calibration> {
        self.calibrate_gemms(&[])
    }

    /// [`Recorder::calibrate`] with the model's own GEMM shapes (source name, [m, k, n]) measured
    /// beside the square: the matmul ceiling is the best of them all.
    pub fn calibrate_gemms(&mut self, gemms: &[(String, [u64; 3])]) -> Result<Calibration> {
        let sizes = crate::calibrate::Sizes::for_machine(self.backend, self.dtype);
        let c = crate::calibrate::calibrate_with(self.backend, self.dtype, gemms, &sizes)?;
        self.file.add_calibration(&c)?;
        Ok(c)
    }

    /// Writes a one-off cost (e.g. building a cache once per clip).
    pub fn add_setup(&mut self, setup: &SetupRecord) -> Result<()> {
        Ok(self.file.add_setup(setup)?)
    }

    /// Runs written so far (the next run's index).
    pub fn runs(&self) -> u32 {
        self.file.runs()
    }

    /// Whether an interrupt (Ctrl-C, SIGTERM, SIGHUP, with the handler of `mlx-record`'s main)
    /// stopped [`Recorder::record`] early.
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// The file being written (`NAME.partial`).
    pub fn partial_path(&self) -> &Path {
        self.file.partial_path()
    }

    /// The components one forward runs, with their invocations, costs and output sizes: one
    /// forward's graph is built and dropped unevaluated.
    pub fn stages<T: Outputs>(shape: &Shape, mut forward: impl FnMut(&mut Probe) -> Result<T>) -> Result<Vec<StageInfo>> {
        let fallback;
        let costs = match &shape.costs {
            Some(c) => c,
            None => {
                fallback = no_costs();
                &fallback
            }
        };
        let mut probe = Probe::new(RunRecord::new(0, "", Mode::None, 0, 0), costs);
        drop(forward(&mut probe)?);
        Ok(probe.stages().to_vec())
    }

    /// One timed forward in `mode` with `perturb` added; nothing is written.
    pub fn forward_once<T: Outputs>(
        shape: &Shape,
        mode: Mode,
        perturb: Perturb,
        inflate: Option<(String, u32)>,
        mut forward: impl FnMut(&mut Probe) -> Result<T>,
    ) -> Result<Measured<T>> {
        let fallback;
        let costs = match &shape.costs {
            Some(c) => c,
            None => {
                fallback = no_costs();
                &fallback
            }
        };
        let fused = matches!(mode, Mode::None | Mode::Attributed);
        mlx_rs::memory::reset_peak_memory()?;
        let run = RunRecord::new(0, &shape.variant, mode, shape.frames, shape.tokens);
        let mut probe = Probe::new(run, costs).with_perturbation(perturb).with_inflation(inflate);
        let faults = machine::minor_faults();
        probe.start_clock();
        let start = Instant::now();
        let output = forward(&mut probe)?;
        let built = Instant::now();
        // One evaluation; a perturbation's extra work is attached to the components' outputs.
        mlx_rs::transforms::eval(output.arrays())?;
        let end = Instant::now();
        let faults = faults.zip(machine::minor_faults()).map(|(before, after)| after.saturating_sub(before));
        if fused {
            let cost = shape.forward_cost.unwrap_or_else(|| {
                probe.stages().iter().fold(Cost::default(), |a, s| a + Cost { flops: s.cost.flops * s.calls as f64, bytes: s.cost.bytes * s.calls as f64 })
            });
            probe.record(crate::model::names::FORWARD, None, cost, start, end);
        }
        let (reduced_bytes, reduced_arrays) = (probe.reduced_bytes(), probe.reduced_arrays());
        let mut run = probe.into_run();
        run.forward_ns = end.duration_since(start).as_nanos() as u64;
        run.minor_faults = faults;
        if fused {
            run.graph_ns = Some(built.duration_since(start).as_nanos() as u64);
        }
        run.active_memory_bytes = mlx_rs::memory::active_memory()? as u64;
        run.peak_memory_bytes = mlx_rs::memory::peak_memory()? as u64;
        Ok(Measured { run, output, reduced_bytes, reduced_arrays })
    }

    /// Writes a run, giving it the next index.
    pub fn write_run(&mut self, mut run: RunRecord) -> Result<()> {
        run.run = self.file.runs();
        Ok(self.file.add_run(&run)?)
    }

    /// Records `forward` at `shape`: `warmup` + `runs` repetitions, each running every mode of the
    /// schedule; an attributed repetition is a whole attribution round. Returns the runs written.
    /// Stops after the run in progress when a stop was requested
    /// ([`crate::rounds::request_stop`], then [`Recorder::interrupted`]).
    pub fn record<T: Outputs>(&mut self, shape: &Shape, schedule: &Schedule, mut forward: impl FnMut(&mut Probe) -> Result<T>) -> Result<u32> {
        schedule.check()?;
        let stopping = schedule.stopping.unwrap_or(Stopping::Exact(schedule.runs));
        let stages = if schedule.modes.contains(&Mode::Attributed) { Self::stages(shape, &mut forward)? } else { Vec::new() };
        let reps = (schedule.warmup_reps() + stopping.min_reps() * schedule.copies_levels().len() as u32) as u64;
        let rep_weight = rounds::rep_weight(forward_weight(shape), &schedule.modes, stages.len(), schedule.copies);
        let mut progress = Progress::new(rounds::runs_per_rep(&schedule.modes, stages.len(), schedule.copies) * reps, rep_weight * reps as f64, schedule.quiet);
        let deadline = match stopping {
            Stopping::Precision { max_time, .. } => Some(Instant::now() + max_time),
            Stopping::Exact(_) => None,
        };
        let around = Around { progress: &mut progress, deadline, label: format!("{} at {} tokens", shape.variant, shape.tokens), plain_output: &mut |_, _| Ok(()) };
        let written = self.record_around(shape, schedule, &stages, around, forward);
        progress.finish();
        written
    }

    /// The one recording loop, [`Recorder::record`]'s and the built-in model's: repetitions of
    /// every mode until `schedule` says stop, each run written as it ends. `stages`: the targets
    /// of the attribution rounds ([`Recorder::stages`]; empty without attributed mode).
    pub(crate) fn record_around<T: Outputs>(
        &mut self,
        shape: &Shape,
        schedule: &Schedule,
        stages: &[StageInfo],
        around: Around<'_, T>,
        mut forward: impl FnMut(&mut Probe) -> Result<T>,
    ) -> Result<u32> {
        let Around { progress, deadline, label, plain_output } = around;
        let stopping = schedule.stopping.unwrap_or(Stopping::Exact(schedule.runs));
        let attributed = schedule.modes.contains(&Mode::Attributed);
        let unit = forward_weight(shape);
        let levels = schedule.copies_levels();
        // Per level, per stage: the copies the memory allows.
        let mut stage_copies: Option<Vec<Vec<u32>>> =
            schedule.headroom.map(|h| levels.iter().map(|&k| stages.iter().map(|s| rounds::copies_within(k, s, h)).collect()).collect());
        let mut tracker = SetTracker::new(&schedule.modes, stages.len(), levels.len());
        // Every run of the set, plain ones included, under the same allocator: copies reuse
        // freed buffers as the component's own outputs do.
        let _cache = attributed.then(|| machine::CacheForCopies::raise(self.backend, machine::memory_budget(self.backend, &machine::host()).0));
        let mut modes_now = schedule.modes.clone();
        let mut shown = String::new();
        let mut written = 0;
        let (mut rep, mut timed) = (0u32, 0u32);
        loop {
            let warmup = rep < schedule.warmup_reps();
            // Rounds cycle through the copies levels, warm-ups too: the first round at a level
            // pays for what later ones reuse (more copies' buffers, a CUDA graph of its own).
            let level = if warmup { rep as usize % levels.len() } else { timed as usize % levels.len() };
            for &mode in &modes_now {
                let plan = if mode == Mode::Attributed { rounds::attribution_round(timed, stages.len(), levels[level]) } else { vec![(PerturbKind::Reference, None, 0)] };
                for (kind, target_index, copies) in plan {
                    if rounds::stop_requested() {
                        self.interrupted = true;
                        return Ok(written);
                    }
                    let copies = match (target_index, &stage_copies) {
                        (Some(i), Some(c)) => c[level][i],
                        _ => copies,
                    };
                    let target = target_index.map(|i| &stages[i]);
                    let (perturb, what) = run_plan(mode, kind, target, copies);
                    let round = round_text(warmup, stopping, timed, &shown);
                    // The most specific first: a narrow terminal cuts the end of the line.
                    progress.message(&format!("{what}; {round}; {label}"));
                    let plain = perturb == Perturb::Nothing;
                    let m = Self::forward_once(shape, mode, perturb, schedule.inflate.clone(), &mut forward)?;
                    let mut run = m.run;
                    run.warmup = warmup;
                    if mode == Mode::Attributed {
                        run.perturbation = Some(perturbation(kind, target, copies, timed, m.reduced_bytes, m.reduced_arrays));
                    }
                    if plain {
                        plain_output(&m.output, &mut run)?;
                        if stage_copies.is_none() && attributed {
                            stage_copies = Some(levels.iter().map(|&k| self.copies_left(k, stages, run.peak_memory_bytes, &label, progress)).collect());
                        }
                    }
                    drop(m.output);
                    if !warmup {
                        tracker.add(mode, kind, target_index.map(|i| (i, level)), copies, self.file.runs(), run.forward_ns, m.reduced_arrays, m.reduced_bytes);
                    }
                    self.write_run(run)?;
                    written += 1;
                    progress.inc_weighted(run_weight(mode, target, copies, unit, stages.len()));
                }
            }
            rep += 1;
            if warmup {
                continue;
            }
            timed += 1;
            let status = tracker.status();
            match precision::next(stopping, timed, levels.len() as u32, &status, deadline) {
                Next::Continue(modes) => {
                    // Past the planned minimum, every repetition extends the bar.
                    if timed >= stopping.min_reps() * levels.len() as u32 {
                        let steps = rounds::runs_per_rep(&modes, stages.len(), schedule.copies);
                        progress.extend(rounds::rep_weight(unit, &modes, stages.len(), schedule.copies), steps);
                    }
                    if let Stopping::Precision { target, .. } = stopping {
                        shown = precision_text(&status, timed, target);
                    }
                    modes_now = modes;
                }
                Next::Stop(reason) => {
                    for st in &status {
                        let line = precision::summary(st, timed, stopping, reason, |i| stages[i].name.clone());
                        if !schedule.quiet {
                            progress.note(&format!("{label}: {line}"));
                        }
                        self.precision.push(line);
                    }
                    return Ok(written);
                }
            }
        }
    }

    /// Copies per attribution target within the memory the plain forward (peak
    /// `peak_bytes`) leaves of [`machine::memory_budget`]; a note for every target lowered.
    fn copies_left(&self, requested: u32, stages: &[StageInfo], peak_bytes: u64, label: &str, progress: &Progress) -> Vec<u32> {
        let headroom = machine::memory_budget(self.backend, &machine::host()).0.saturating_sub(peak_bytes);
        let chosen: Vec<u32> = stages.iter().map(|s| rounds::copies_within(requested, s, headroom)).collect();
        for (s, &k) in stages.iter().zip(&chosen) {
            if k < requested {
                progress.note(&format!(
                    "{label}: {} gets {k} extra copies instead of {requested} (all its copies could need {} of the {} the forward leaves)",
                    s.name,
                    gib(s.output_bytes.saturating_mul(s.calls as u64).saturating_mul(requested as u64)),
                    gib(headroom)
                ));
            }
        }
        chosen
    }

    /// One line per mode of every [`Recorder::record`] call so far: the precision reached, and
    /// whether it met a precision target (`attributed ±3.1% after 6 rounds (target 5.0%: met)`).
    pub fn precision_summary(&self) -> &[String] {
        &self.precision
    }

    /// Ends the trace: writes the end marker and renames `NAME.partial` to `NAME`; returns
    /// `NAME`. After an interrupt the trace stays `NAME.partial` (returned), which
    /// `mlx-analyze` reads.
    pub fn finish(self) -> Result<PathBuf> {
        if self.interrupted {
            return Ok(self.file.partial_path().to_path_buf());
        }
        Ok(self.file.finish()?)
    }
}

/// The `perturbation` of an attributed run (docs/trace-format.md): what was added, to which
/// component (`target`: its name, invocations and analytic cost), in which round, and what the
/// extra scalars forced.
pub fn perturbation(kind: PerturbKind, target: Option<&StageInfo>, copies: u32, round: u32, reduced_bytes: u64, reduced_arrays: u64) -> Perturbation {
    Perturbation {
        kind,
        target: target.map(|t| t.name.clone()),
        copies,
        round,
        reduced_bytes,
        reduced_arrays,
        target_calls: target.map_or(0, |t| t.calls),
        target_flops: target.map_or(0.0, |t| t.cost.flops),
        target_bytes: target.map_or(0.0, |t| t.cost.bytes),
        target_parent: None,
    }
}

/// The current time as RFC 3339 UTC, seconds (`2026-01-31T12:00:00Z`).
pub(crate) fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a proleptic Gregorian date, by 400-year eras.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let m5 = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * m5 + 2) / 5 + 1;
    let month = if m5 < 10 { m5 + 3 } else { m5 - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The cost table of no model: [`Shape::costs`] `None`.
/// How one shape's runs are shown and bounded by the caller of [`Recorder::record_around`]: the
/// built-in model's session shares one progress bar and one time budget among its shapes.
pub(crate) struct Around<'a, T> {
    /// The bar the runs advance.
    pub progress: &'a mut Progress,
    /// When a precision-driven set stops at the latest.
    pub deadline: Option<Instant>,
    /// The shape in messages and notes (`5 frames (3120 tokens), baseline`).
    pub label: String,
    /// Sees each plain forward's output and run before the run is written (the variants' drift).
    pub plain_output: &'a mut dyn FnMut(&T, &mut RunRecord) -> Result<()>,
}

/// One fused forward's weight in the progress bar: its analytic FLOPs where the shape has
/// costs, else 1.
fn forward_weight(shape: &Shape) -> f64 {
    shape.forward_cost.map_or(1.0, |c| c.flops.max(1.0))
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

fn no_costs() -> CostModel {
    CostModel::new(&ModelConfig::default(), 0, 4)
}

/// What one run of `mode` does to the forward, and the first words of its progress line.
fn run_plan(mode: Mode, kind: PerturbKind, target: Option<&StageInfo>, copies: u32) -> (Perturb, String) {
    let perturb = match (mode, kind, target) {
        (Mode::Attributed, PerturbKind::Control, _) => Perturb::Control,
        (Mode::Attributed, PerturbKind::Duplicate, Some(t)) => Perturb::Duplicate { target: t.name.clone(), copies },
        _ => Perturb::Nothing,
    };
    let what = match target {
        Some(t) => format!("perturbing {} x{copies}", t.name),
        None if mode == Mode::Attributed => format!("attributed {}", kind.as_str()),
        None => format!("sync {}", mode.as_str()),
    };
    (perturb, what)
}

/// The progress line's round: warm-up, `round i/n`, or `round i` and the precision so far.
fn round_text(warmup: bool, stopping: Stopping, timed: u32, shown: &str) -> String {
    match (warmup, stopping) {
        (true, _) => "warm-up".to_string(),
        (false, Stopping::Exact(n)) => format!("round {}/{n}", timed + 1),
        (false, Stopping::Precision { .. }) => format!("round {}{shown}", timed + 1),
    }
}

/// A run's weight on the progress bar, in units of work: a component-synced run is slower, and
/// a duplicate adds its copies (the copies of all targets together are `copies` forwards).
fn run_weight(mode: Mode, target: Option<&StageInfo>, copies: u32, unit: f64, stages: usize) -> f64 {
    let extra = target.map_or(0.0, |t| {
        if t.cost.flops > 0.0 { copies as f64 * t.calls as f64 * t.cost.flops } else { copies as f64 * unit / stages as f64 }
    });
    let slower = if mode == Mode::Component { rounds::COMPONENT_WEIGHT } else { 1.0 };
    slower * (unit + extra)
}
