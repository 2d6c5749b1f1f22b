//! Timing of a forward pass at the chosen synchronisation granularity.
//!
//! MLX evaluates lazily: timing a component means forcing its outputs with `eval` and reading the
//! clock afterwards. In `component` mode every stage is evaluated on its own (per-component times,
//! but no fusion across components and one synchronisation each); in `block` mode only groups
//! (embeddings, each block, head) are; in `none` mode nothing is, and only the whole forward is
//! timed by the caller.

use std::time::Instant;

use anyhow::Result;
use mlx_rs::Array;
use trace_format::{RunRecord, SyncMode};

use crate::cost::{Cost, CostModel};

/// The arrays a stage produces, so the probe can evaluate them.
pub trait Outputs {
    /// Borrow every output array.
    fn arrays(&self) -> Vec<&Array>;
}

impl Outputs for Array {
    fn arrays(&self) -> Vec<&Array> {
        vec![self]
    }
}

impl Outputs for (Array, Array) {
    fn arrays(&self) -> Vec<&Array> {
        vec![&self.0, &self.1]
    }
}

impl Outputs for (Array, Array, Array) {
    fn arrays(&self) -> Vec<&Array> {
        vec![&self.0, &self.1, &self.2]
    }
}

impl Outputs for Vec<Array> {
    fn arrays(&self) -> Vec<&Array> {
        self.iter().collect()
    }
}

/// Records the events of one forward pass into a [`RunRecord`].
pub struct Probe<'a> {
    mode: SyncMode,
    costs: &'a CostModel,
    t0: Instant,
    group_start: Option<(Instant, &'static str, Option<u32>)>,
    run: RunRecord,
}

impl<'a> Probe<'a> {
    /// A probe for one run; the clock starts now.
    pub fn new(run: RunRecord, costs: &'a CostModel) -> Self {
        Probe { mode: run.sync, costs, t0: Instant::now(), group_start: None, run }
    }

    /// The synchronisation mode.
    pub fn mode(&self) -> SyncMode {
        self.mode
    }

    /// Restarts the clock (call right before the forward).
    pub fn start_clock(&mut self) {
        self.t0 = Instant::now();
    }

    /// Runs one component; in `component` mode evaluates and times it.
    pub fn stage<T: Outputs>(&mut self, name: &str, block: Option<u32>, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let cost = self.costs.of(name).unwrap_or_default();
        self.stage_with_cost(name, block, cost, f)
    }

    /// Like [`Probe::stage`] with an explicit cost (for variants' own components).
    pub fn stage_with_cost<T: Outputs>(
        &mut self,
        name: &str,
        block: Option<u32>,
        cost: Cost,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if self.mode != SyncMode::Component {
            return f();
        }
        let start = Instant::now();
        let out = f()?;
        mlx_rs::transforms::eval(out.arrays())?;
        let end = Instant::now();
        let id = self.run.component(name, cost.flops, cost.bytes);
        self.push(id, block, start, end);
        Ok(out)
    }

    /// Opens a group (`embed`, `block`, `head`) timed in `block` mode.
    pub fn begin_group(&mut self, name: &'static str, block: Option<u32>) {
        if self.mode == SyncMode::Block {
            self.group_start = Some((Instant::now(), name, block));
        }
    }

    /// Closes the open group: in `block` mode evaluates `outputs` and records the group.
    pub fn end_group(&mut self, outputs: &[&Array]) -> Result<()> {
        if let Some((start, name, block)) = self.group_start.take() {
            let cost = self.costs.of(name).unwrap_or_default();
            mlx_rs::transforms::eval(outputs.iter().copied())?;
            let end = Instant::now();
            let id = self.run.component(name, cost.flops, cost.bytes);
            self.push(id, block, start, end);
        }
        Ok(())
    }

    /// Records a measured interval directly (e.g. the whole forward in `none` mode).
    pub fn record(&mut self, name: &str, block: Option<u32>, cost: Cost, start: Instant, end: Instant) {
        let id = self.run.component(name, cost.flops, cost.bytes);
        self.push(id, block, start, end);
    }

    fn push(&mut self, id: u32, block: Option<u32>, start: Instant, end: Instant) {
        let s = start.saturating_duration_since(self.t0).as_nanos() as u64;
        let d = end.saturating_duration_since(start).as_nanos() as u64;
        self.run.push_event(id, block, s, d);
    }

    /// The time since the clock started.
    pub fn elapsed_ns(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    /// The finished run record.
    pub fn into_run(self) -> RunRecord {
        self.run
    }
}
