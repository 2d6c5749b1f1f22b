//! Synthetic traces with known durations, written through the trace-format crate.
//!
//! Every component's time follows `t(L) = (a + b*L + c*L^2) * speed`, times a deterministic
//! jitter factor, so tests can compare the analyzer's results against hand calculations and the
//! benchmark can produce realistic volumes without MLX.

use std::collections::BTreeMap;

use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;

use trace_format::{
    Calibration, Drift, Header, Metadata, ModelConfig, PerturbKind, Perturbation, RunRecord, SetupRecord, SyncMode,
    TraceWriter,
};

/// One synthetic component and its cost model.
#[derive(Debug, Clone)]
pub struct SynthComponent {
    /// Hierarchical name, e.g. `block/ffn/up`.
    pub name: String,
    /// Constant term of the duration, ns.
    pub a_ns: f64,
    /// Linear term, ns per token.
    pub b_ns: f64,
    /// Quadratic term, ns per token squared.
    pub c_ns: f64,
    /// FLOPs per invocation: `flops_fixed + flops_per_token * L + flops_per_token2 * L^2`.
    pub flops_per_token: f64,
    /// Constant FLOP term (work on the text context, independent of L).
    pub flops_fixed: f64,
    /// Quadratic FLOP term.
    pub flops_per_token2: f64,
    /// Bytes per invocation: `bytes_fixed + bytes_per_token * L`.
    pub bytes_fixed: f64,
    /// Bytes per token.
    pub bytes_per_token: f64,
}

impl SynthComponent {
    /// A component costing `a + b*L + c*L^2` ns with no FLOP or byte counts.
    pub fn new(name: &str, a_ns: f64, b_ns: f64, c_ns: f64) -> Self {
        SynthComponent {
            name: name.to_string(),
            a_ns,
            b_ns,
            c_ns,
            flops_per_token: 0.0,
            flops_fixed: 0.0,
            flops_per_token2: 0.0,
            bytes_fixed: 0.0,
            bytes_per_token: 0.0,
        }
    }

    /// Sets the FLOP model.
    pub fn flops(mut self, per_token: f64, per_token2: f64) -> Self {
        self.flops_per_token = per_token;
        self.flops_per_token2 = per_token2;
        self
    }

    /// Sets the constant FLOP term.
    pub fn flops_fixed(mut self, flops: f64) -> Self {
        self.flops_fixed = flops;
        self
    }

    /// Sets the byte model.
    pub fn bytes(mut self, fixed: f64, per_token: f64) -> Self {
        self.bytes_fixed = fixed;
        self.bytes_per_token = per_token;
        self
    }

    /// Noise-free duration at `tokens`, ns.
    pub fn duration_ns(&self, tokens: u64) -> f64 {
        let l = tokens as f64;
        self.a_ns + self.b_ns * l + self.c_ns * l * l
    }

    /// FLOPs of one invocation at `tokens`.
    pub fn flops_at(&self, tokens: u64) -> f64 {
        let l = tokens as f64;
        self.flops_fixed + self.flops_per_token * l + self.flops_per_token2 * l * l
    }

    /// Bytes of one invocation at `tokens`.
    pub fn bytes_at(&self, tokens: u64) -> f64 {
        self.bytes_fixed + self.bytes_per_token * tokens as f64
    }

    fn in_block(&self) -> bool {
        self.name.starts_with("block/")
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthSpec {
    /// Components in execution order (the `block/...` ones run once per block).
    pub components: Vec<SynthComponent>,
    /// Transformer blocks.
    pub blocks: u32,
    /// Frame counts; tokens are `1560 * ((frames - 1) / 4 + 1)` unless `tokens` is set.
    pub frames: Vec<u32>,
    /// Explicit token count per frame count (same length as `frames`), if wanted.
    pub tokens: Option<Vec<u64>>,
    /// Timed runs per (frame count, sync mode).
    pub runs: u32,
    /// Warm-up runs per (frame count, sync mode), recorded with `warmup = true` before the timed ones.
    pub warmup_runs: u32,
    /// Synchronisation modes recorded.
    pub syncs: Vec<SyncMode>,
    /// Multiplier on every duration (2.0: a machine twice as slow).
    pub speed: f64,
    /// Fused forward time as a fraction of the component-synced sum (`none` mode).
    pub fused_factor: f64,
    /// Multiplies the FLOPs recorded on fused runs' `forward` event (a recorder that records the
    /// standard forward's cost for a variant doing less work).
    pub forward_flops_factor: f64,
    /// Block-synced time as a fraction of the component-synced sum (`block` mode).
    pub block_factor: f64,
    /// Relative jitter amplitude (0.02: uniform in +-2%).
    pub jitter: f64,
    /// Seed of the jitter.
    pub seed: u64,
    /// Variant name of the runs.
    pub variant: String,
    /// Drift written on every run, for variants.
    pub drift: Option<Drift>,
    /// Setup records (name, ns) written once per frame count.
    pub setups: Vec<(String, u64)>,
    /// `memory_bytes` of every setup record.
    pub setup_memory_bytes: u64,
    /// Header metadata (labels included); `model.blocks` is overwritten by `blocks`.
    pub metadata: Metadata,
    /// Calibration written, if any.
    pub calibration: Option<Calibration>,
    /// Active memory per token, bytes (active = fixed + per_token * L).
    pub memory_per_token: u64,
    /// Fixed active memory, bytes.
    pub memory_fixed: u64,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            components: lingbot_like_components(),
            blocks: 4,
            frames: vec![5, 11, 21],
            tokens: None,
            runs: 3,
            warmup_runs: 1,
            syncs: vec![SyncMode::Component, SyncMode::None],
            speed: 1.0,
            fused_factor: 0.9,
            forward_flops_factor: 1.0,
            block_factor: 0.95,
            jitter: 0.0,
            seed: 1,
            variant: "baseline".into(),
            drift: None,
            setups: Vec::new(),
            setup_memory_bytes: 0,
            metadata: Metadata {
                host: "synth-host".into(),
                backend: "cpu".into(),
                dtype: "bf16".into(),
                preset: "synthetic".into(),
                mlx_version: "0.0.0".into(),
                command_line: "mlx-record --synthetic".into(),
                model: ModelConfig { dim: 5120, heads: 40, head_dim: 128, ffn_dim: 13824, camera: true, ..Default::default() },
                // The resolution of `tokens_for_frames`.
                height: 480,
                width: 832,
                ..Default::default()
            },
            calibration: Some(Calibration {
                dtype: "bf16".into(),
                matmul_flops_per_s: 100e12,
                matmul_shape: [4096, 4096, 4096],
                bandwidth_bytes_per_s: 1e12,
                bandwidth_bytes: 1 << 30,
                ..Default::default()
            }),
            memory_per_token: 1 << 20,
            memory_fixed: 36 << 30,
        }
    }
}

/// Three components with constant durations: embed/time 1 ms, block/ffn/up 3 ms, and
/// block/self_attn/sdpa 1 ms, 2 blocks, 1000 tokens, 3 component-synced runs after a warm-up.
/// FFN: 1.5e11 FLOPs and 3e8 bytes per call; SDPA: 1e10 FLOPs and 1e9 bytes per call.
/// Calibration 100 TFLOP/s, 1 TB/s. Small enough to check results by hand.
pub fn simple_spec() -> SynthSpec {
    SynthSpec {
        components: vec![
            SynthComponent::new("embed/time", 1e6, 0.0, 0.0),
            SynthComponent::new("block/ffn/up", 3e6, 0.0, 0.0).flops(1.5e8, 0.0).bytes(3e8, 0.0),
            SynthComponent::new("block/self_attn/sdpa", 1e6, 0.0, 0.0).flops(1e7, 0.0).bytes(1e9, 0.0),
        ],
        blocks: 2,
        frames: vec![5],
        tokens: Some(vec![1000]),
        runs: 3,
        warmup_runs: 1,
        syncs: vec![SyncMode::Component],
        calibration: Some(Calibration {
            matmul_flops_per_s: 100e12,
            bandwidth_bytes_per_s: 1e12,
            ..Default::default()
        }),
        ..SynthSpec::default()
    }
}

/// A well-formed trace whose durations, forward times, memory and costs are all at or near the
/// largest values the format holds, so that every sum over them passes 2^64 ns: what an
/// analyzer must saturate, never overflow.
pub fn huge_trace() -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), &Header::new(Metadata { backend: "cpu".into(), preset: "tiny".into(), ..Metadata::default() })).unwrap();
    let mut index = 0;
    for frames in [5u32, 9] {
        for sync in [SyncMode::Component, SyncMode::None] {
            for rep in 0..3 {
                let mut run = RunRecord::new(index, "baseline", sync, frames, u64::MAX / 2);
                run.warmup = rep == 0;
                run.forward_ns = u64::MAX - rep as u64;
                run.graph_ns = Some(u64::MAX);
                run.active_memory_bytes = u64::MAX;
                run.peak_memory_bytes = u64::MAX;
                let names: &[&str] = if sync == SyncMode::None { &["forward"] } else { &["block/ffn/up", "block/self_attn/sdpa", "head"] };
                for name in names {
                    let c = run.component(name, f64::MAX, f64::MAX);
                    for block in 0..4 {
                        run.push_event(c, Some(block), 0, u64::MAX - block as u64);
                    }
                }
                w.add_run(&run).unwrap();
                index += 1;
            }
        }
    }
    w.finish().unwrap()
}

/// Tokens of a 480x832 video of `frames` frames: 1560 per latent frame (the taxonomy's formula).
pub fn tokens_for_frames(frames: u32) -> u64 {
    trace_format::taxonomy::tokens(frames, 480, 832)
}

/// The recorder's component taxonomy with costs loosely shaped like the 14B model
/// (linear layers linear in L, attention with a quadratic term).
pub fn lingbot_like_components() -> Vec<SynthComponent> {
    let dim = 5120.0_f64;
    let ffn = 13824.0_f64;
    // Matmuls at 55% of a 100 TFLOP/s machine, elementwise work at 70% of 1 TB/s, plus 20 us
    // launch overhead: times follow from the FLOP and byte counts.
    let matmul_ns = |flops: f64| flops / 55e12 * 1e9;
    let memory_ns = |bytes: f64| bytes / 0.7e12 * 1e9;
    let lin = |name: &str, k: f64, n: f64| {
        SynthComponent::new(name, 20_000.0 + memory_ns(2.0 * k * n), matmul_ns(2.0 * k * n), 0.0)
            .flops(2.0 * k * n, 0.0)
            .bytes(2.0 * k * n, 2.0 * (k + n))
    };
    let elem = |name: &str| SynthComponent::new(name, 10_000.0, memory_ns(4.0 * dim), 0.0).flops(8.0 * dim, 0.0).bytes(0.0, 4.0 * dim);
    let text_kv = 2.0 * 512.0 * dim * 2.0 * dim;
    vec![
        lin("embed/patch", 144.0, dim),
        lin("embed/time", 256.0, dim),
        SynthComponent::new("embed/text", 20_000.0 + matmul_ns(2.0 * 512.0 * 4096.0 * dim), 0.0, 0.0)
            .flops_fixed(2.0 * 512.0 * 4096.0 * dim)
            .bytes(2.0 * 4096.0 * dim, 0.0),
        lin("embed/camera", 1536.0, dim),
        elem("block/modulation"),
        elem("block/norm1"),
        lin("block/self_attn/qkv", dim, 3.0 * dim),
        elem("block/self_attn/qk_norm"),
        elem("block/self_attn/rope"),
        SynthComponent::new("block/self_attn/sdpa", 30_000.0, memory_ns(8.0 * dim), matmul_ns(4.0 * dim) * 1.3)
            .flops(0.0, 4.0 * dim)
            .bytes(0.0, 8.0 * dim),
        lin("block/self_attn/out", dim, dim),
        lin("block/camera/injector", dim, 2.0 * dim),
        lin("block/camera/scale_shift", dim, 2.0 * dim),
        elem("block/cross_attn/norm3"),
        lin("block/cross_attn/q", dim, dim),
        SynthComponent::new("block/cross_attn/kv", 20_000.0 + matmul_ns(text_kv), 0.0, 0.0).flops_fixed(text_kv).bytes(4.0 * dim * dim, 0.0),
        SynthComponent::new("block/cross_attn/sdpa", 20_000.0, matmul_ns(4.0 * 512.0 * dim) * 1.5, 0.0)
            .flops(4.0 * 512.0 * dim, 0.0)
            .bytes(0.0, 4.0 * dim),
        lin("block/cross_attn/out", dim, dim),
        elem("block/norm2"),
        lin("block/ffn/up", dim, ffn),
        lin("block/ffn/down", ffn, dim),
        lin("head", dim, 64.0),
    ]
}

/// Deterministic pseudo-random numbers: SplitMix64 from `rand_xoshiro`, the generator the
/// analyzer's bootstrap uses too.
#[derive(Debug, Clone)]
pub struct SplitMix(SplitMix64);

impl SplitMix {
    /// A generator from a seed (the generator's state).
    pub fn new(seed: u64) -> Self {
        SplitMix(SplitMix64::from_seed(seed.to_le_bytes()))
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Generates the trace described by `spec` as bytes. With `complete = false` the end marker is
/// left out, as in an interrupted recording.
pub fn generate(spec: &SynthSpec, complete: bool) -> Vec<u8> {
    let mut metadata = spec.metadata.clone();
    metadata.model.blocks = spec.blocks;
    if metadata.model.preset_blocks == 0 {
        metadata.model.preset_blocks = spec.blocks;
    }
    let mut writer = TraceWriter::new(Vec::new(), &Header::new(metadata)).expect("in-memory write");
    if let Some(c) = &spec.calibration {
        writer.add_calibration(c).expect("in-memory write");
    }
    let mut rng = SplitMix::new(spec.seed);
    let mut index = 0u32;
    for (fi, &frames) in spec.frames.iter().enumerate() {
        let tokens = spec.tokens.as_ref().and_then(|t| t.get(fi).copied()).unwrap_or_else(|| tokens_for_frames(frames));
        for (name, ns) in &spec.setups {
            let setup = SetupRecord {
                variant: spec.variant.clone(),
                name: name.clone(),
                frames,
                tokens,
                duration_ns: *ns,
                memory_bytes: spec.setup_memory_bytes,
            };
            writer.add_setup(&setup).expect("in-memory write");
        }
        for &sync in &spec.syncs {
            for r in 0..spec.warmup_runs + spec.runs {
                let warmup = r < spec.warmup_runs;
                if sync == SyncMode::Attributed {
                    for mut run in attributed_round(spec, &mut index, frames, tokens, warmup, r.saturating_sub(spec.warmup_runs), &mut rng) {
                        run.warmup = warmup;
                        writer.add_run(&run).expect("in-memory write");
                    }
                    continue;
                }
                let mut run = make_run(spec, index, sync, frames, tokens, &mut rng);
                run.warmup = warmup;
                writer.add_run(&run).expect("in-memory write");
                index += 1;
            }
        }
    }
    if complete {
        writer.finish().expect("in-memory write")
    } else {
        std::mem::take(writer.get_mut())
    }
}

/// Extra copies per duplicate in synthetic attributed runs.
pub const SYNTH_COPIES: u32 = 2;
/// What the control's reductions cost in synthetic attributed runs, as a fraction of the fused
/// forward.
pub const SYNTH_CONTROL_FRACTION: f64 = 0.02;

/// A component's time per forward inside the fused forward: its synced time scaled by the
/// spec's speed and fused factor (the truth that attribution must recover).
pub fn fused_cost_ns(spec: &SynthSpec, c: &SynthComponent, tokens: u64) -> f64 {
    c.duration_ns(tokens) * if c.in_block() { spec.blocks as f64 } else { 1.0 } * spec.speed * spec.fused_factor
}

/// One attribution round: a reference, then (timed rounds) the control and a duplicate of
/// every component, each forward the sum of the fused costs plus what was added, with jitter.
fn attributed_round(spec: &SynthSpec, index: &mut u32, frames: u32, tokens: u64, warmup: bool, round: u32, rng: &mut SplitMix) -> Vec<RunRecord> {
    let base: f64 = spec.components.iter().map(|c| fused_cost_ns(spec, c, tokens)).sum();
    let calls = |c: &SynthComponent| if c.in_block() { spec.blocks } else { 1 };
    let out_bytes = |c: &SynthComponent| c.bytes_at(tokens).max(1.0) * calls(c) as f64;
    let all_bytes: f64 = spec.components.iter().map(out_bytes).sum();
    let control_ns = SYNTH_CONTROL_FRACTION * base;
    let mut plan: Vec<(PerturbKind, Option<&SynthComponent>)> = vec![(PerturbKind::Reference, None)];
    if !warmup {
        plan.push((PerturbKind::Control, None));
        plan.extend(spec.components.iter().map(|c| (PerturbKind::Duplicate, Some(c))));
    }
    let mut out = Vec::new();
    for (kind, target) in plan {
        let mut run = RunRecord::new(*index, &spec.variant, SyncMode::Attributed, frames, tokens);
        *index += 1;
        run.drift = spec.drift;
        run.active_memory_bytes = spec.memory_fixed + spec.memory_per_token * tokens;
        run.peak_memory_bytes = run.active_memory_bytes + run.active_memory_bytes / 4;
        let (added, reduced) = match (kind, target) {
            (PerturbKind::Control, _) => (control_ns, all_bytes),
            (PerturbKind::Duplicate, Some(c)) => {
                let k = SYNTH_COPIES as f64;
                let reduced = k * out_bytes(c);
                (k * fused_cost_ns(spec, c, tokens) + control_ns * reduced / all_bytes, reduced)
            }
            _ => (0.0, 0.0),
        };
        let d = ((base + added) * (1.0 + spec.jitter * (2.0 * rng.next_f64() - 1.0))).round().max(1.0) as u64;
        let id = run.component("forward", 0.0, 0.0);
        run.push_event(id, None, 0, d);
        run.forward_ns = d;
        run.graph_ns = Some(d / 100);
        run.perturbation = Some(Perturbation {
            kind,
            target: target.map(|c| c.name.clone()),
            copies: if target.is_some() { SYNTH_COPIES } else { 0 },
            round,
            reduced_bytes: reduced as u64,
            // Shared out by bytes, as in traces recorded when whole outputs were summed.
            reduced_arrays: 0,
            target_calls: target.map_or(0, calls),
            target_flops: target.map_or(0.0, |c| c.flops_at(tokens)),
            target_bytes: target.map_or(0.0, |c| c.bytes_at(tokens)),
            target_parent: None,
        });
        out.push(run);
    }
    out
}

fn make_run(spec: &SynthSpec, index: u32, sync: SyncMode, frames: u32, tokens: u64, rng: &mut SplitMix) -> RunRecord {
    let mut run = RunRecord::new(index, &spec.variant, sync, frames, tokens);
    run.drift = spec.drift;
    run.active_memory_bytes = spec.memory_fixed + spec.memory_per_token * tokens;
    run.peak_memory_bytes = run.active_memory_bytes + run.active_memory_bytes / 4;
    let mut jitter = |rng: &mut SplitMix| 1.0 + spec.jitter * (2.0 * rng.next_f64() - 1.0);
    let gap = 1_000u64;
    let mut now = 0u64;
    let overhead_before: Vec<&SynthComponent> =
        spec.components.iter().filter(|c| !c.in_block() && c.name != "head").collect();
    let in_block: Vec<&SynthComponent> = spec.components.iter().filter(|c| c.in_block()).collect();
    let after: Vec<&SynthComponent> = spec.components.iter().filter(|c| c.name == "head").collect();
    let dur = |c: &SynthComponent, rng: &mut SplitMix, jitter: &mut dyn FnMut(&mut SplitMix) -> f64| {
        (c.duration_ns(tokens) * spec.speed * jitter(rng)).round().max(1.0) as u64
    };
    match sync {
        SyncMode::Component => {
            let mut emit = |c: &SynthComponent, block: Option<u32>, run: &mut RunRecord, rng: &mut SplitMix| {
                let id = run.component(&c.name, c.flops_at(tokens), c.bytes_at(tokens));
                let d = dur(c, rng, &mut jitter);
                run.push_event(id, block, now, d);
                now += d + gap;
            };
            for c in &overhead_before {
                emit(c, None, &mut run, rng);
            }
            for b in 0..spec.blocks {
                for c in &in_block {
                    emit(c, Some(b), &mut run, rng);
                }
            }
            for c in &after {
                emit(c, None, &mut run, rng);
            }
        }
        SyncMode::Block => {
            let sum = |cs: &[&SynthComponent]| cs.iter().map(|c| c.duration_ns(tokens)).sum::<f64>();
            let scale = spec.speed * spec.block_factor;
            let flops = |cs: &[&SynthComponent]| cs.iter().map(|c| c.flops_at(tokens)).sum::<f64>();
            let bytes = |cs: &[&SynthComponent]| cs.iter().map(|c| c.bytes_at(tokens)).sum::<f64>();
            let embed = run.component("embed", flops(&overhead_before), bytes(&overhead_before));
            let block = run.component("block", flops(&in_block), bytes(&in_block));
            let head = run.component("head", flops(&after), bytes(&after));
            let d = (sum(&overhead_before) * scale * jitter(rng)).round() as u64;
            run.push_event(embed, None, now, d);
            now += d + gap;
            for b in 0..spec.blocks {
                let d = (sum(&in_block) * scale * jitter(rng)).round() as u64;
                run.push_event(block, Some(b), now, d);
                now += d + gap;
            }
            let d = (sum(&after) * scale * jitter(rng)).round() as u64;
            run.push_event(head, None, now, d);
            now += d + gap;
        }
        SyncMode::None | SyncMode::Attributed => {
            let total: f64 = spec
                .components
                .iter()
                .map(|c| c.duration_ns(tokens) * if c.in_block() { spec.blocks as f64 } else { 1.0 })
                .sum();
            let flops: f64 = spec
                .components
                .iter()
                .map(|c| c.flops_at(tokens) * if c.in_block() { spec.blocks as f64 } else { 1.0 })
                .sum();
            let id = run.component("forward", flops * spec.forward_flops_factor, 0.0);
            let d = (total * spec.speed * spec.fused_factor * jitter(rng)).round() as u64;
            run.push_event(id, None, now, d);
            // Graph building: a fixed 1% of the fused forward.
            run.graph_ns = Some(d / 100);
            now += d;
        }
    }
    run.forward_ns = now;
    run
}

/// Convenience: a metadata value with a `machine` label.
pub fn with_label(mut metadata: Metadata, key: &str, value: &str) -> Metadata {
    let mut labels = BTreeMap::new();
    std::mem::swap(&mut labels, &mut metadata.labels);
    labels.insert(key.to_string(), value.to_string());
    metadata.labels = labels;
    metadata
}

#[cfg(test)]
mod rng_tests {
    use super::SplitMix;

    /// SplitMix64 written out (Steele, Lea and Flood), the generator these traces were made with
    /// before the crate's: the streams must stay equal, or every generated trace would change.
    fn reference(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn the_crate_generator_is_the_reference_splitmix64() {
        for seed in [0u64, 1, 42, u64::MAX] {
            let (mut rng, mut state) = (SplitMix::new(seed), seed);
            for _ in 0..1000 {
                assert_eq!(rng.next_u64(), reference(&mut state));
            }
        }
        let mut rng = SplitMix::new(7);
        assert!((0..1000).map(|_| rng.next_f64()).all(|x| (0.0..1.0).contains(&x)));
    }
}
