//! The `runs` table: one row per forward pass loaded. [`Run`] is the row, filled from the
//! decoded [`RunRecord`]; [`RUN_COLUMNS`] declares the table's columns. A new run field is a
//! field of [`Run`], its line in `Run::from_record` and `Run::to_record`, and its column
//! below (then its row in `docs/tables.md`, which a test checks).

use trace_format::{Drift, Perturbation, RunRecord, SyncMode};

/// One forward pass, as loaded (its events and component costs are in the other tables).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Index of its trace in the `traces` table.
    pub(crate) trace_id: u32,
    /// The run's index in its trace, as recorded.
    pub run: u32,
    /// Variant name.
    pub(crate) variant: String,
    /// Synchronisation mode.
    pub sync: SyncMode,
    /// A warm-up run.
    pub(crate) warmup: bool,
    /// Video frames.
    pub(crate) frames: u32,
    /// Sequence length L.
    pub(crate) tokens: u64,
    /// Wall time of the forward, ns.
    pub(crate) forward_ns: u64,
    /// Fused runs: host time building the graph, ns.
    pub(crate) graph_ns: Option<u64>,
    /// MLX active memory after the forward, bytes.
    pub(crate) active_memory_bytes: u64,
    /// MLX peak memory during the forward, bytes.
    pub(crate) peak_memory_bytes: u64,
    /// Minor page faults during the forward (fresh memory from the OS), where counted.
    pub(crate) minor_faults: Option<u64>,
    /// Output drift against the baseline.
    pub(crate) drift: Option<Drift>,
    /// Attributed runs: what was added to the fused forward, as recorded.
    pub(crate) perturbation: Option<Perturbation>,
}

impl Run {
    /// The row of a decoded run of trace `trace_id`.
    pub(crate) fn from_record(trace_id: u32, r: &RunRecord) -> Run {
        Run {
            trace_id,
            run: r.run,
            variant: r.variant.clone(),
            sync: r.sync,
            warmup: r.warmup,
            frames: r.frames,
            tokens: r.tokens,
            forward_ns: r.forward_ns,
            graph_ns: r.graph_ns,
            active_memory_bytes: r.active_memory_bytes,
            peak_memory_bytes: r.peak_memory_bytes,
            minor_faults: r.minor_faults,
            drift: r.drift,
            perturbation: r.perturbation.clone(),
        }
    }

    /// The record of the run without its components and events (the Parquet export's
    /// document holds these, read back by [`Run::from_record`]).
    pub(crate) fn to_record(&self) -> RunRecord {
        let mut r = RunRecord::new(self.run, &self.variant, self.sync, self.frames, self.tokens);
        r.warmup = self.warmup;
        r.forward_ns = self.forward_ns;
        r.graph_ns = self.graph_ns;
        r.active_memory_bytes = self.active_memory_bytes;
        r.peak_memory_bytes = self.peak_memory_bytes;
        r.minor_faults = self.minor_faults;
        r.drift = self.drift;
        r.perturbation = self.perturbation.clone();
        r
    }

    /// One value of the perturbation, NULL outside attributed runs.
    fn perturb<T>(&self, f: impl Fn(&Perturbation) -> T) -> Option<T> {
        self.perturbation.as_ref().map(f)
    }
}

columns! { RUN_COLUMNS: Run {
    RUN_ID = "run_id": u32, "run_id", "row number: the run in the other tables of this load", |i, _| i as u32;
    TRACE_ID = "trace_id": u32, "trace_id", "its trace", |_, r| r.trace_id;
    RUN = "run": u32, "run", "the run's index in its trace", |_, r| r.run;
    VARIANT = "variant": &str, "variant", "`baseline` or the optimisation tried", |_, r| r.variant.as_str();
    SYNC = "sync": &str, "sync", "`none` (fused), `attributed`, `component`, `block`", |_, r| r.sync.as_str();
    WARMUP = "warmup": bool, "warmup", "a warm-up run", |_, r| r.warmup;
    FRAMES = "frames": u32, "frames", "video frames", |_, r| r.frames;
    TOKENS = "tokens": u64, "tokens", "sequence length L", |_, r| r.tokens;
    FORWARD_NS = "forward_ns": u64, "forward_ns", "wall time of the forward", |_, r| r.forward_ns;
    "graph_ns": Option<u64>, "graph_ns", "fused runs: host time building the graph", |_, r| r.graph_ns;
    "active_memory_bytes": u64, "memory", "MLX memory after the forward", |_, r| r.active_memory_bytes;
    "peak_memory_bytes": u64, "memory", "MLX memory during the forward", |_, r| r.peak_memory_bytes;
    "minor_faults": Option<u64>, "memory", "pages the OS handed out fresh during the forward", |_, r| r.minor_faults;
    "drift_max_rel": Option<f64>, "drift", "output difference against the baseline, max", |_, r| r.drift.map(|d| d.max_rel);
    "drift_mean_rel": Option<f64>, "drift", "output difference against the baseline, mean", |_, r| r.drift.map(|d| d.mean_rel);
    PERTURB_KIND = "perturb_kind": Option<&str>, "perturbation", "`reference`, `control` or `duplicate`", |_, r| r.perturb(|p| p.kind.as_str());
    "perturb_target": Option<String>, "perturbation", "the component duplicated", |_, r| r.perturb(|p| p.target.clone()).flatten();
    "perturb_copies": Option<u32>, "perturbation", "extra copies per invocation", |_, r| r.perturb(|p| p.copies);
    "perturb_round": Option<u32>, "perturbation", "round of the attribution schedule", |_, r| r.perturb(|p| p.round);
    "reduced_bytes": Option<u64>, "perturbation", "bytes the extra scalars forced", |_, r| r.perturb(|p| p.reduced_bytes);
    "reduced_arrays": Option<u64>, "perturbation", "extra scalar outputs", |_, r| r.perturb(|p| p.reduced_arrays);
    "target_calls": Option<u32>, "perturbation", "invocations of the target per forward", |_, r| r.perturb(|p| p.target_calls);
    "target_flops": Option<f64>, "perturbation", "FLOPs of one invocation of the target", |_, r| r.perturb(|p| p.target_flops);
    "target_bytes": Option<f64>, "perturbation", "bytes of one invocation of the target", |_, r| r.perturb(|p| p.target_bytes);
}}
