//! The values a trace holds. Structs are written as MessagePack maps (field names kept, so
//! fields can be added without breaking readers), except [`Event`], written as a 4-element
//! array of integers because there are millions of them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// First field of every trace header.
pub const MAGIC: &str = "mlx-trace";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The first value of a trace file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`MAGIC`].
    pub magic: String,
    /// The format version, [`FORMAT_VERSION`] when written by this crate.
    pub format_version: u32,
    /// Where and how the trace was recorded.
    pub metadata: Metadata,
}

impl Header {
    /// A header of the current format version.
    pub fn new(metadata: Metadata) -> Self {
        Header { magic: MAGIC.to_string(), format_version: FORMAT_VERSION, metadata }
    }
}

/// Machine, software and configuration of a recording.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    /// Host name.
    pub host: String,
    /// Operating system and kernel, e.g. `Linux 6.1.0`.
    pub os: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Logical CPU cores.
    pub cpu_cores: u32,
    /// Installed memory in bytes.
    pub ram_bytes: u64,
    /// GPU name, when the backend runs on one.
    pub gpu_name: Option<String>,
    /// GPU memory in bytes, when known.
    pub gpu_memory_bytes: Option<u64>,
    /// MLX version, e.g. `0.32.2`.
    pub mlx_version: String,
    /// MLX backend: `cpu`, `cuda` or `metal`.
    pub backend: String,
    /// BLAS library serving f32 matmul on the CPU (as loaded, e.g. `libopenblas.so.0`).
    pub blas: String,
    /// Compute dtype: `f32`, `bf16` or `f16`.
    pub dtype: String,
    /// Model preset name, e.g. `lingbot-14b`.
    pub preset: String,
    /// The model's full configuration.
    pub model: ModelConfig,
    /// Video height in pixels.
    pub height: u32,
    /// Video width in pixels.
    pub width: u32,
    /// Weights: `synthetic` or the checkpoint directory.
    pub weights: String,
    /// Seed of the random weights and inputs.
    pub seed: u64,
    /// Recorder version.
    pub recorder_version: String,
    /// Git commit of the recorder build, when known.
    pub git_commit: String,
    /// The command line that made the trace.
    pub command_line: String,
    /// Start of the recording, RFC 3339 UTC.
    pub start_time: String,
    /// Free-form extra keys (user labels such as `--label machine=m2-max`).
    pub labels: BTreeMap<String, String>,
}

/// The transformer's shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// Hidden size.
    pub dim: u32,
    /// Attention heads.
    pub heads: u32,
    /// Head dimension (dim / heads).
    pub head_dim: u32,
    /// Transformer blocks run (after any `--blocks` override).
    pub blocks: u32,
    /// Blocks of the full preset.
    pub preset_blocks: u32,
    /// Feed-forward hidden size.
    pub ffn_dim: u32,
    /// Text encoder width.
    pub text_dim: u32,
    /// Text tokens.
    pub text_len: u32,
    /// Sinusoidal time-embedding width.
    pub freq_dim: u32,
    /// Input latent channels.
    pub in_dim: u32,
    /// Output latent channels.
    pub out_dim: u32,
    /// Whether the blocks carry the camera injection.
    pub camera: bool,
    /// Patch size (frames, height, width).
    pub patch: [u32; 3],
    /// Normalisation epsilon.
    pub eps: f64,
}

/// How often a forward pass was synchronised while it was timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Evaluated after every component: per-component times, no cross-component fusion.
    Component,
    /// Evaluated after every block.
    Block,
    /// One evaluation for the whole forward: the real speed.
    None,
    /// One evaluation for the whole forward, part of an attribution set: a plain reference, a
    /// control, or a forward with one component's work duplicated (see [`Perturbation`]).
    Attributed,
}

impl SyncMode {
    /// The mode's name as written in traces and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Component => "component",
            SyncMode::Block => "block",
            SyncMode::None => "none",
            SyncMode::Attributed => "attributed",
        }
    }

    /// Every mode, in the order the command lines list them.
    pub const ALL: [SyncMode; 4] = [SyncMode::None, SyncMode::Attributed, SyncMode::Component, SyncMode::Block];
}

impl std::str::FromStr for SyncMode {
    type Err = String;

    /// A mode by the name [`SyncMode::as_str`] gives it.
    fn from_str(s: &str) -> Result<SyncMode, String> {
        SyncMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown synchronisation mode `{s}` (choose none, attributed, component or block)"))
    }
}

/// Every value after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// The machine's measured ceilings.
    Calibration(Calibration),
    /// One timed (or warm-up) forward pass.
    Run(RunRecord),
    /// A one-off cost outside the forward passes (e.g. building a cache once per clip).
    Setup(SetupRecord),
    /// Last value of a complete trace.
    End {
        /// Runs written before it.
        runs: u32,
    },
}

/// What this machine achieves through MLX, measured at the start of a recording.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Calibration {
    /// dtype of the measurement (the run's dtype).
    pub dtype: String,
    /// Best achieved matmul rate, FLOP/s (the best of `matmul_probes` where present).
    pub matmul_flops_per_s: f64,
    /// The matmul shape that achieved it, (m, k, n).
    pub matmul_shape: [u64; 3],
    /// Best achieved memory bandwidth (read + write), bytes/s.
    pub bandwidth_bytes_per_s: f64,
    /// Bytes moved per bandwidth measurement (of the best size).
    pub bandwidth_bytes: u64,
    /// Every matmul measured, the built-in model's own GEMM shapes and one large square; the
    /// best of them is `matmul_flops_per_s`. Empty in traces recorded before it existed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matmul_probes: Vec<MatmulProbe>,
    /// Every streaming pass measured, each size well beyond the last-level cache; the best of
    /// them is `bandwidth_bytes_per_s`. Empty in traces recorded before it existed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bandwidth_probes: Vec<BandwidthProbe>,
    /// The CPU's last-level cache in bytes, as read where the bandwidth sizes were chosen; 0 when
    /// unknown or not measured.
    #[serde(skip_serializing_if = "is_zero")]
    pub llc_bytes: u64,
    /// Best achieved bandwidth of the streaming pass over sizes that fit in the last-level cache,
    /// bytes/s: the ceiling of a component whose bytes per call fit there (a DRAM ceiling would
    /// put it above 100%). 0 when not measured (a GPU, an unknown cache, older traces).
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub cache_bandwidth_bytes_per_s: f64,
    /// Every cache-resident streaming pass measured; the best is `cache_bandwidth_bytes_per_s`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cache_bandwidth_probes: Vec<BandwidthProbe>,
    /// What one minor page fault costs the recording process, ns: the OS handing out a fresh
    /// (zeroed) page, timed over a new anonymous mapping written page by page and divided by
    /// the faults counted (median of several passes). It sizes the runs' `minor_faults` in
    /// time. 0 when not measured (older traces, platforms without `getrusage`).
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub page_fault_ns: f64,
}

impl Calibration {
    /// The memory ceiling for a component moving `bytes_per_call` bytes per invocation, bytes/s
    /// (see [`memory_ceiling`]).
    pub fn bandwidth_for(&self, bytes_per_call: f64) -> Option<f64> {
        memory_ceiling(self.bandwidth_bytes_per_s, self.cache_bandwidth_bytes_per_s, self.llc_bytes, bytes_per_call)
    }
}

/// The memory ceiling of a component moving `bytes_per_call` bytes per invocation, bytes/s:
/// the cache's (`cache`, never below `dram`) where it was measured and the call's bytes fit in
/// the last-level cache of `llc` bytes, else the DRAM ceiling `dram`; `None` without a ceiling
/// (zero means not measured).
pub fn memory_ceiling(dram: f64, cache: f64, llc: u64, bytes_per_call: f64) -> Option<f64> {
    let dram = (dram > 0.0).then_some(dram);
    let fits = cache > 0.0 && llc > 0 && bytes_per_call > 0.0 && bytes_per_call <= llc as f64;
    if fits {
        Some(dram.map_or(cache, |d| d.max(cache)))
    } else {
        dram
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// One matmul of the calibration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatmulProbe {
    /// (m, k, n) as measured (the rows may be fewer than the model's, see docs/trace-format.md).
    pub shape: [u64; 3],
    /// Best achieved rate, FLOP/s.
    pub flops_per_s: f64,
    /// Where the shape comes from: a component name of the model, or `square`.
    pub source: String,
}

/// One size of the calibration's streaming pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BandwidthProbe {
    /// Bytes moved per pass (read + write).
    pub bytes: u64,
    /// Best achieved bandwidth, bytes/s.
    pub bytes_per_s: f64,
}

/// Static cost of one invocation of a component, for the shapes of its run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// Hierarchical name, e.g. `block/self_attn/sdpa`.
    pub name: String,
    /// Analytic floating-point operations (a multiply-add counts 2).
    pub flops: f64,
    /// Minimum bytes moved: weights, inputs read and outputs written once.
    pub bytes: f64,
    /// The component this one runs inside, when components nest (a module and its
    /// sub-modules, as the Python recorder's `profile` instruments them); `None` at the top.
    /// Its cost is part of its parent's, so only top-level components add up to the forward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// One timed interval: `[component index, block (-1: none), start delta ns, duration ns]`.
///
/// `start_delta_ns` is the start minus the previous event's start (the first event's is from the
/// run's start), which keeps most events under 12 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event(pub u32, pub i32, pub u64, pub u64);

/// An event with absolute times, as returned by [`RunRecord::events`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventView {
    /// Index into the run's [`RunRecord::components`].
    pub component: u32,
    /// Block index, `None` outside the blocks.
    pub block: Option<u32>,
    /// Start in ns from the start of the run.
    pub start_ns: u64,
    /// Duration in ns.
    pub duration_ns: u64,
}

/// Output difference of a variant against the baseline on the same inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// max |x - ref| / max |ref|.
    pub max_rel: f64,
    /// mean |x - ref| / mean |ref|.
    pub mean_rel: f64,
}

/// One forward pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Index of this run in the trace.
    pub run: u32,
    /// Variant name, `baseline` unless an optimisation is being tried.
    pub variant: String,
    /// Synchronisation mode.
    pub sync: SyncMode,
    /// Warm-up runs are recorded but excluded from analysis by default.
    pub warmup: bool,
    /// Video frames.
    pub frames: u32,
    /// Sequence length (video tokens).
    pub tokens: u64,
    /// Wall time of the whole forward pass, inputs ready to output evaluated, ns.
    pub forward_ns: u64,
    /// MLX active memory after the forward, bytes.
    pub active_memory_bytes: u64,
    /// MLX peak memory during the forward, bytes.
    pub peak_memory_bytes: u64,
    /// Output drift against the baseline, for variants.
    #[serde(default)]
    pub drift: Option<Drift>,
    /// Fused runs: host time spent building the lazy graph before the evaluation starts, ns
    /// (part of `forward_ns`, during which the accelerator has nothing queued).
    #[serde(default)]
    pub graph_ns: Option<u64>,
    /// Minor page faults of the recording process during the forward: pages the OS handed out
    /// fresh (zeroed) because no freed memory was reused. `None` where not counted (traces
    /// written before it existed, platforms without `getrusage`).
    #[serde(default)]
    pub minor_faults: Option<u64>,
    /// Attributed runs: what was added to the fused forward (absent in other modes).
    #[serde(default)]
    pub perturbation: Option<Perturbation>,
    /// Components referenced by the events, with their per-invocation costs.
    pub components: Vec<ComponentInfo>,
    /// Timed intervals, in start order.
    pub events: Vec<Event>,
    /// Start of the last pushed event (to compute deltas); not stored.
    #[serde(skip)]
    last_start_ns: u64,
}

impl RunRecord {
    /// An empty run.
    pub fn new(run: u32, variant: &str, sync: SyncMode, frames: u32, tokens: u64) -> Self {
        RunRecord {
            run,
            variant: variant.to_string(),
            sync,
            warmup: false,
            frames,
            tokens,
            forward_ns: 0,
            active_memory_bytes: 0,
            peak_memory_bytes: 0,
            drift: None,
            graph_ns: None,
            minor_faults: None,
            perturbation: None,
            components: Vec::new(),
            events: Vec::new(),
            last_start_ns: 0,
        }
    }

    /// The index of a component, registering it (with its costs) on first use.
    pub fn component(&mut self, name: &str, flops: f64, bytes: f64) -> u32 {
        if let Some(i) = self.components.iter().position(|c| c.name == name) {
            return i as u32;
        }
        self.components.push(ComponentInfo { name: name.to_string(), flops, bytes, parent: None });
        (self.components.len() - 1) as u32
    }

    /// Appends an event; events must be pushed in start order.
    pub fn push_event(&mut self, component: u32, block: Option<u32>, start_ns: u64, duration_ns: u64) {
        let delta = start_ns.saturating_sub(self.last_start_ns);
        self.last_start_ns = start_ns;
        let block = block.map_or(-1, |b| b as i32);
        self.events.push(Event(component, block, delta, duration_ns));
    }

    /// The events with absolute start times.
    pub fn events(&self) -> impl Iterator<Item = EventView> + '_ {
        let mut start = 0u64;
        self.events.iter().map(move |e| {
            start = start.saturating_add(e.2);
            EventView {
                component: e.0,
                block: u32::try_from(e.1).ok(),
                start_ns: start,
                duration_ns: e.3,
            }
        })
    }
}

/// What an attributed run added to the plain fused forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PerturbKind {
    /// Nothing: the plain fused forward, the baseline of the differences.
    Reference,
    /// Every component's outputs reduced to a scalar once as extra outputs, no extra work: what
    /// the extra outputs of the duplicate runs cost by themselves.
    Control,
    /// The target component's work done `copies` more times in each of its invocations, each
    /// copy reduced to a scalar as an extra output of the same evaluation.
    Duplicate,
}

impl PerturbKind {
    /// The kind's name as written in traces.
    pub fn as_str(self) -> &'static str {
        match self {
            PerturbKind::Reference => "reference",
            PerturbKind::Control => "control",
            PerturbKind::Duplicate => "duplicate",
        }
    }
}

/// The perturbation of one attributed run. The cost of the target is
/// `(T(duplicate) - T(reference) - f * (T(control) - T(reference))) / copies` with
/// `f = reduced_arrays(duplicate) / reduced_arrays(control)` (bytes where arrays are not
/// recorded; docs/trace-format.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Perturbation {
    /// What was added.
    pub kind: PerturbKind,
    /// Duplicate runs: the component whose work was duplicated.
    pub target: Option<String>,
    /// Duplicate runs: extra copies per invocation.
    pub copies: u32,
    /// Round of the attribution schedule (a round runs every perturbation once).
    pub round: u32,
    /// Bytes of the outputs whose computation the extra scalars forced, per forward.
    pub reduced_bytes: u64,
    /// Extra scalar outputs per forward (one per output array forced); 0 in traces recorded
    /// when every output was summed whole, whose control is then shared out by bytes.
    pub reduced_arrays: u64,
    /// Duplicate runs: invocations of the target per forward.
    pub target_calls: u32,
    /// Duplicate runs: analytic FLOPs of one invocation of the target.
    pub target_flops: f64,
    /// Duplicate runs: analytic minimum bytes of one invocation of the target.
    pub target_bytes: f64,
    /// Duplicate runs: the target's parent component, when components nest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_parent: Option<String>,
}

impl Default for Perturbation {
    fn default() -> Self {
        Perturbation {
            kind: PerturbKind::Reference,
            target: None,
            copies: 0,
            round: 0,
            reduced_bytes: 0,
            reduced_arrays: 0,
            target_calls: 0,
            target_flops: 0.0,
            target_bytes: 0.0,
            target_parent: None,
        }
    }
}

/// A one-off cost paid once per clip rather than per forward pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SetupRecord {
    /// Variant that pays it.
    pub variant: String,
    /// What was computed, e.g. `setup/camera_cache`.
    pub name: String,
    /// Video frames.
    pub frames: u32,
    /// Sequence length.
    pub tokens: u64,
    /// Wall time, ns.
    pub duration_ns: u64,
    /// Memory the result keeps alive, bytes.
    pub memory_bytes: u64,
}
