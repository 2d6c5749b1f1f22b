//! Timing of a forward pass at the chosen synchronisation granularity.
//!
//! MLX evaluates lazily: timing a component means forcing its outputs with `eval` and reading the
//! clock afterwards. In `component` mode every stage is evaluated on its own (per-component times,
//! but no fusion across components and one synchronisation each); in `block` mode only groups
//! (embeddings, each block, head) are; in `none` mode nothing is, and only the whole forward is
//! timed by the caller.
//!
//! In `attributed` mode the forward is fused as in `none`, and the probe may add work to it: the
//! outputs of every stage reduced to scalars (the control), or one target stage's work done
//! `copies` more times with each copy reduced to a scalar (a duplicate). The stage's outputs are
//! then made to depend on those scalars (MLX's `depends`, which moves no data), so the extra
//! work runs inside the same evaluation, is never pruned, and runs right where the stage runs:
//! its buffers are freed at once instead of every block's waiting for the end of the forward.
//! The difference of the forward times is the target's cost inside the fused forward.

use std::time::Instant;

use anyhow::Result;
use mlx_rs::Array;
use trace_format::{RunRecord, SyncMode};

use crate::cost::{Cost, CostModel};

/// The arrays a stage produces, so the probe can evaluate them or attach work to them.
pub trait Outputs: Sized {
    /// Borrow every output array.
    fn arrays(&self) -> Vec<&Array>;
    /// The same outputs rebuilt from `arrays` (as many, in the order of [`Outputs::arrays`]).
    fn from_arrays(arrays: Vec<Array>) -> Self;
}

impl Outputs for Array {
    fn arrays(&self) -> Vec<&Array> {
        vec![self]
    }
    fn from_arrays(mut arrays: Vec<Array>) -> Self {
        arrays.swap_remove(0)
    }
}

impl Outputs for (Array, Array) {
    fn arrays(&self) -> Vec<&Array> {
        vec![&self.0, &self.1]
    }
    fn from_arrays(arrays: Vec<Array>) -> Self {
        let mut it = arrays.into_iter();
        let (a, b) = (it.next(), it.next());
        (a.expect("two outputs"), b.expect("two outputs"))
    }
}

impl Outputs for (Array, Array, Array) {
    fn arrays(&self) -> Vec<&Array> {
        vec![&self.0, &self.1, &self.2]
    }
    fn from_arrays(arrays: Vec<Array>) -> Self {
        let mut it = arrays.into_iter();
        let (a, b, c) = (it.next(), it.next(), it.next());
        (a.expect("three outputs"), b.expect("three outputs"), c.expect("three outputs"))
    }
}

impl Outputs for Vec<Array> {
    fn arrays(&self) -> Vec<&Array> {
        self.iter().collect()
    }
    fn from_arrays(arrays: Vec<Array>) -> Self {
        arrays
    }
}

/// `inputs`, made to depend on `dependencies`: the same values and buffers (nothing is copied),
/// but whatever consumes them runs after the dependencies are computed (MLX's `depends`).
pub(crate) fn depends(inputs: &[&Array], dependencies: &[Array]) -> Result<Vec<Array>> {
    // SAFETY: every vector is created, filled with live arrays (mlx-c takes its own references),
    // read and freed here; each output handle is owned by the returned `Array`.
    unsafe {
        let vector = |arrays: &mut dyn Iterator<Item = &Array>| {
            let v = mlx_sys::mlx_vector_array_new();
            for a in arrays {
                mlx_sys::mlx_vector_array_append_value(v, a.as_ptr());
            }
            v
        };
        let ins = vector(&mut inputs.iter().copied());
        let deps = vector(&mut dependencies.iter());
        let mut outs = mlx_sys::mlx_vector_array_new();
        let status = mlx_sys::mlx_depends(&mut outs, ins, deps);
        mlx_sys::mlx_vector_array_free(ins);
        mlx_sys::mlx_vector_array_free(deps);
        let mut result = Vec::with_capacity(inputs.len());
        if status == 0 {
            for i in 0..mlx_sys::mlx_vector_array_size(outs) {
                let mut a = mlx_sys::mlx_array_new();
                if mlx_sys::mlx_vector_array_get(&mut a, outs, i) != 0 {
                    mlx_sys::mlx_array_free(a);
                    break;
                }
                result.push(Array::from_ptr(a));
            }
        }
        mlx_sys::mlx_vector_array_free(outs);
        if status != 0 || result.len() != inputs.len() {
            anyhow::bail!("MLX could not attach the attribution's extra work to a stage's outputs (depends failed)");
        }
        Ok(result)
    }
}

/// What an attributed run adds to the fused forward.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Perturb {
    /// Nothing: the plain forward.
    #[default]
    Nothing,
    /// Every stage's outputs reduced once as extra outputs.
    Control,
    /// The target stage's work done `copies` more times per invocation.
    Duplicate {
        /// Stage name.
        target: String,
        /// Extra copies per invocation.
        copies: u32,
    },
    /// Benchmarks: what a duplicate adds besides the copies' work: `copies` scalars of the
    /// target's own outputs per invocation, attached as a duplicate's are.
    #[cfg(feature = "bench")]
    Scalars {
        /// Stage name.
        target: String,
        /// Scalars per output and invocation.
        copies: u32,
    },
    /// Benchmarks: at each invocation of the target, evaluate everything so far, then time
    /// `reps` copies of the target's work evaluated together: the stage alone, inputs ready.
    Isolate {
        /// Stage name.
        target: String,
        /// Copies per timed evaluation.
        reps: u32,
    },
}

/// A stage as the probe saw it during one forward.
#[derive(Debug, Clone, PartialEq)]
pub struct StageInfo {
    /// Component name.
    pub name: String,
    /// Invocations per forward.
    pub calls: u32,
    /// Analytic cost of one invocation.
    pub cost: Cost,
    /// Bytes of the outputs of one invocation.
    pub output_bytes: u64,
}

/// Records the events of one forward pass into a [`RunRecord`].
pub struct Probe<'a> {
    mode: SyncMode,
    costs: &'a CostModel,
    t0: Instant,
    group_start: Option<(Instant, &'static str, Option<u32>)>,
    run: RunRecord,
    perturb: Perturb,
    inflate: Option<(String, u32)>,
    reduced_bytes: u64,
    reduced_arrays: u64,
    stages: Vec<StageInfo>,
    isolated_ns: Vec<f64>,
}

impl<'a> Probe<'a> {
    /// A probe for one run; the clock starts now.
    pub(crate) fn new(run: RunRecord, costs: &'a CostModel) -> Self {
        Probe {
            mode: run.sync,
            costs,
            t0: Instant::now(),
            group_start: None,
            run,
            perturb: Perturb::Nothing,
            inflate: None,
            reduced_bytes: 0,
            reduced_arrays: 0,
            stages: Vec::new(),
            isolated_ns: Vec::new(),
        }
    }

    /// Adds `perturb` to the forward (only `attributed` runs honour it).
    pub(crate) fn with_perturbation(mut self, perturb: Perturb) -> Self {
        self.perturb = perturb;
        self
    }

    /// Makes the stage `name` more expensive in every mode: its work is done `extra` more times
    /// per invocation and evaluated with it. For tests of the attribution: the extra work is
    /// known, so the test can check that it is charged to this stage.
    pub(crate) fn with_inflation(mut self, inflate: Option<(String, u32)>) -> Self {
        self.inflate = inflate;
        self
    }

    /// The stages seen so far, in first-seen order.
    pub(crate) fn stages(&self) -> &[StageInfo] {
        &self.stages
    }

    /// Bytes of the outputs whose computation the perturbation forced.
    pub(crate) fn reduced_bytes(&self) -> u64 {
        self.reduced_bytes
    }

    /// Extra scalar outputs the perturbation added (one per output array it forced).
    pub(crate) fn reduced_arrays(&self) -> u64 {
        self.reduced_arrays
    }

    /// [`Perturb::Isolate`]: the time of one copy of the target, ns, per invocation.
    // Used by the benchmarks only.
    #[cfg(feature = "bench")]
    pub(crate) fn isolated_ns(&self) -> &[f64] {
        &self.isolated_ns
    }

    /// Restarts the clock (call right before the forward).
    pub(crate) fn start_clock(&mut self) {
        self.t0 = Instant::now();
    }

    /// Runs one component; in `component` mode evaluates and times it. `f` builds the
    /// component's work; an attributed run may call it more than once.
    pub(crate) fn stage<T: Outputs>(&mut self, name: &str, block: Option<u32>, f: impl FnMut() -> Result<T>) -> Result<T> {
        let cost = self.costs.of(name).unwrap_or_default();
        self.stage_with_cost(name, block, cost, f)
    }

    /// Like [`Probe::stage`] with an explicit cost (for variants' own components).
    pub(crate) fn stage_with_cost<T: Outputs>(
        &mut self,
        name: &str,
        block: Option<u32>,
        cost: Cost,
        mut f: impl FnMut() -> Result<T>,
    ) -> Result<T> {
        // Test builds' deliberately slower stage: its work is done `inflated` more times inside
        // the stage itself, so a duplicate of the stage duplicates that too.
        let inflated = match &self.inflate {
            Some((target, n)) if target == name => *n,
            _ => 0,
        };
        let mut work = || -> Result<(T, Vec<Array>)> {
            let out = f()?;
            let mut own = Vec::new();
            for _ in 0..inflated {
                own.extend(reduced(&f()?)?.0);
            }
            Ok((out, own))
        };
        let start = Instant::now();
        let (mut out, own_extras) = work()?;
        self.note(name, cost, &out);
        if self.mode == SyncMode::Component {
            mlx_rs::transforms::eval(own_extras.iter().chain(out.arrays()))?;
            let end = Instant::now();
            let id = self.run.component(name, cost.flops, cost.bytes);
            self.push(id, block, start, end);
            return Ok(out);
        }
        let mut extras = own_extras;
        if let Perturb::Isolate { target, reps } = &self.perturb {
            if target == name {
                let reps = (*reps).max(1);
                // Everything upstream, and one warm-up copy, evaluated before the clock starts.
                mlx_rs::transforms::eval(extras.iter().chain(out.arrays()))?;
                let (warm, warm_own) = work()?;
                mlx_rs::transforms::eval(warm_own.iter().chain(warm.arrays()))?;
                drop((warm, warm_own));
                let start = Instant::now();
                let copies = (0..reps).map(|_| work()).collect::<Result<Vec<(T, Vec<Array>)>>>()?;
                mlx_rs::transforms::eval(copies.iter().flat_map(|(c, own)| c.arrays().into_iter().chain(own.iter())))?;
                self.isolated_ns.push(start.elapsed().as_nanos() as f64 / reps as f64);
            }
        }
        if self.mode == SyncMode::Attributed {
            match &self.perturb {
                Perturb::Control => extras.extend(self.reduced_counted(&out)?),
                Perturb::Duplicate { target, copies } if target == name => {
                    for _ in 0..*copies {
                        let (copy, own) = work()?;
                        extras.extend(own);
                        extras.extend(self.reduced_counted(&copy)?);
                    }
                }
                #[cfg(feature = "bench")]
                Perturb::Scalars { target, copies } if target == name => {
                    for _ in 0..*copies {
                        extras.extend(self.reduced_counted(&out)?);
                    }
                }
                _ => {}
            }
        }
        if !extras.is_empty() {
            out = T::from_arrays(depends(&out.arrays(), &extras)?);
        }
        Ok(out)
    }

    fn note<T: Outputs>(&mut self, name: &str, cost: Cost, out: &T) {
        let output_bytes = out.arrays().iter().map(|a| a.nbytes() as u64).sum();
        match self.stages.iter_mut().find(|s| s.name == name) {
            Some(s) => s.calls += 1,
            None => self.stages.push(StageInfo { name: name.to_string(), calls: 1, cost, output_bytes }),
        }
    }

    /// A scalar reduction of each output, counted in the perturbation's reduced bytes: the work
    /// that produced them must run, while their buffers can be freed as soon as the reduction
    /// has read them.
    fn reduced_counted<T: Outputs>(&mut self, out: &T) -> Result<Vec<Array>> {
        let (sums, bytes) = reduced(out)?;
        self.reduced_bytes += bytes;
        self.reduced_arrays += sums.len() as u64;
        Ok(sums)
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
    pub(crate) fn record(&mut self, name: &str, block: Option<u32>, cost: Cost, start: Instant, end: Instant) {
        let id = self.run.component(name, cost.flops, cost.bytes);
        self.push(id, block, start, end);
    }

    fn push(&mut self, id: u32, block: Option<u32>, start: Instant, end: Instant) {
        let s = start.saturating_duration_since(self.t0).as_nanos() as u64;
        let d = end.saturating_duration_since(start).as_nanos() as u64;
        self.run.push_event(id, block, s, d);
    }

    /// The finished run record.
    pub(crate) fn into_run(self) -> RunRecord {
        self.run
    }
}

/// One scalar per output array, and the bytes of the outputs: the sum of the array's first
/// element. MLX computes whole arrays, so depending on one element forces all of the work that
/// produced it, while reading nothing more: the cost of the scalar is a fixed cost per output,
/// whatever its size or layout (summing whole outputs cost 6% of the forward on an H200, and
/// more for strided views).
fn reduced<T: Outputs>(out: &T) -> Result<(Vec<Array>, u64)> {
    let mut scalars = Vec::new();
    let mut bytes = 0;
    for a in out.arrays() {
        bytes += a.nbytes() as u64;
        scalars.push(first_element(a)?.sum(None)?);
    }
    Ok((scalars, bytes))
}

/// The `[1, 1, ...]` slice at the origin of `a` (a view: nothing is copied).
fn first_element(a: &Array) -> Result<Array> {
    let n = a.ndim();
    let (start, stop, strides) = (vec![0i32; n], vec![1i32; n], vec![1i32; n]);
    let stream = mlx_rs::Stream::thread_local_or_default();
    // SAFETY: the result handle is created here and owned by the returned `Array`; the index
    // vectors outlive the call.
    unsafe {
        let mut res = mlx_sys::mlx_array_new();
        let status = mlx_sys::mlx_slice(&mut res, a.as_ptr(), start.as_ptr(), n, stop.as_ptr(), n, strides.as_ptr(), n, stream.as_ptr());
        if status != 0 {
            mlx_sys::mlx_array_free(res);
            anyhow::bail!("MLX could not slice a stage's output for the attribution");
        }
        Ok(Array::from_ptr(res))
    }
}
