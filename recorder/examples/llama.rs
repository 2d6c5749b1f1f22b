//! A decoder-only transformer (Llama-shaped) instrumented with the `mlx_record::api` library:
//! a model that is not the built-in one, with its own component names and analytic costs.
//!
//! ```sh
//! cargo run -p mlx-record --example llama -- --out llama.msgpack     # seconds on a CPU
//! target/debug/mlx-analyze llama.msgpack
//! ```
//!
//! Each layer: RMSNorm, one q/k/v projection, rotary embedding (MLX's `fast::rope`), causal
//! attention, output projection + residual; RMSNorm, SwiGLU MLP (gate and up projections, SiLU,
//! down projection) + residual. Components: `embed/tokens`, `layer/attn/{norm,qkv,rope,sdpa,out}`,
//! `layer/mlp/{norm,up,down}`, `head/{norm,logits}`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use mlx_record::api::{self, Cost, Mark, Mode, Probe, Recorder, Schedule, Shape};
use mlx_record::api::DType;
use mlx_rs::fast::{self, ScaledDotProductAttentionMask};
use mlx_rs::{Array, random};
use trace_format::ModelConfig;

#[derive(Parser, Debug)]
#[command(
    name = "llama",
    about = "Record a small Llama-shaped decoder (random weights) with the mlx-record library API",
    long_about = "Record a small Llama-shaped decoder (random weights) with the mlx-record library API.\n\n\
        Every sequence length is run --warmup + --runs times in each --sync mode; an attributed repetition is \
        a whole attribution round (a reference, the control, every component duplicated, a reference after \
        every four duplicates: 15 fused forwards for this model). Analyse the trace with mlx-analyze."
)]
struct Opt {
    /// Trace file to write (FILE.partial while recording).
    #[arg(long)]
    out: std::path::PathBuf,
    /// Sequence lengths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "128")]
    seq: Vec<u32>,
    /// Decoder layers.
    #[arg(long, default_value_t = 2)]
    layers: u32,
    /// Model width.
    #[arg(long, default_value_t = 256)]
    dim: u32,
    /// Attention heads (dim / heads must be even).
    #[arg(long, default_value_t = 4)]
    heads: u32,
    /// MLP hidden width.
    #[arg(long, default_value_t = 688)]
    ffn: u32,
    /// Vocabulary size.
    #[arg(long, default_value_t = 1024)]
    vocab: u32,
    /// Compute dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    dtype: DType,
    /// Modes, comma-separated: none, component, attributed.
    #[arg(long, value_delimiter = ',', default_value = "none,attributed,component", value_parser = parse_mode)]
    sync: Vec<Mode>,
    /// Timed repetitions (attributed: rounds) per sequence length and mode.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Warm-up repetitions.
    #[arg(long, default_value_t = 1)]
    warmup: u32,
    /// Attributed: extra copies of the perturbed component per invocation.
    #[arg(long, default_value_t = 4)]
    copies: u32,
    /// Seed of the weights and the tokens.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run on the CPU even when a GPU is available.
    #[arg(long)]
    cpu: bool,
    /// Skip measuring the machine's matmul rate and bandwidth.
    #[arg(long)]
    no_calibrate: bool,
    /// Replace an existing trace when the recording completes.
    #[arg(long)]
    force: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "none" => Ok(Mode::None),
        "component" => Ok(Mode::Component),
        "attributed" => Ok(Mode::Attributed),
        _ => Err(format!("unknown mode `{s}` (choose none, component or attributed)")),
    }
}

/// Shape of the model.
#[derive(Debug, Clone, Copy)]
struct Config {
    layers: u32,
    dim: i32,
    heads: i32,
    ffn: i32,
    vocab: i32,
    eps: f32,
}

impl Config {
    fn head_dim(&self) -> i32 {
        self.dim / self.heads
    }
}

struct Layer {
    attn_norm: Array,
    wqkv: Array,
    wo: Array,
    mlp_norm: Array,
    wgate: Array,
    wup: Array,
    wdown: Array,
}

struct Llama {
    cfg: Config,
    dtype: DType,
    embed: Array,
    layers: Vec<Layer>,
    norm: Array,
    out: Array,
}

impl Llama {
    /// Random weights ~ N(0, 1/fan_in) from `seed`, norms one.
    fn new(cfg: Config, dtype: DType, seed: u64) -> Result<Self> {
        let mut n = 0u64;
        let mut w = |shape: &[i32]| -> Result<Array> {
            n += 1;
            let key = random::key(seed.wrapping_mul(1_000_003).wrapping_add(n))?;
            let std = 1.0 / (shape[1] as f32).sqrt();
            Ok(random::normal::<f32>(shape, None, std, &key)?.as_dtype(dtype.mlx())?)
        };
        let ones = |d: i32| -> Result<Array> { Ok(Array::ones::<f32>(&[d])?.as_dtype(dtype.mlx())?) };
        let (d, f) = (cfg.dim, cfg.ffn);
        let embed = w(&[cfg.vocab, d])?;
        let mut layers = Vec::new();
        for _ in 0..cfg.layers {
            let layer = Layer {
                attn_norm: ones(d)?,
                wqkv: w(&[3 * d, d])?,
                wo: w(&[d, d])?,
                mlp_norm: ones(d)?,
                wgate: w(&[f, d])?,
                wup: w(&[f, d])?,
                wdown: w(&[d, f])?,
            };
            mlx_rs::transforms::eval([&layer.attn_norm, &layer.wqkv, &layer.wo, &layer.mlp_norm, &layer.wgate, &layer.wup, &layer.wdown])?;
            layers.push(layer);
        }
        let (norm, out) = (ones(d)?, w(&[cfg.vocab, d])?);
        mlx_rs::transforms::eval([&embed, &norm, &out])?;
        Ok(Llama { cfg, dtype, embed, layers, norm, out })
    }

    /// Analytic cost of one invocation of each component at `l` tokens: a multiply-add counts 2;
    /// bytes are the weights, inputs and outputs moved once.
    fn cost(&self, name: &str, l: f64) -> Cost {
        let c = &self.cfg;
        let (d, f, h, v, s) = (c.dim as f64, c.ffn as f64, c.heads as f64, c.vocab as f64, self.dtype.size() as f64);
        let linear = |i: f64, o: f64| Cost { flops: 2.0 * l * i * o, bytes: s * (i * o + l * i + l * o) };
        let norm = Cost { flops: 4.0 * l * d, bytes: s * (2.0 * l * d + d) };
        let residual = Cost { flops: l * d, bytes: s * l * d };
        match name {
            "embed/tokens" => Cost { flops: 0.0, bytes: s * 2.0 * l * d },
            "layer/attn/norm" | "layer/mlp/norm" | "head/norm" => norm,
            "layer/attn/qkv" => linear(d, 3.0 * d),
            "layer/attn/rope" => Cost { flops: 6.0 * l * d, bytes: s * 4.0 * l * d },
            // Causal: half of the L x L scores; QK^T and PV, and the softmax.
            "layer/attn/sdpa" => Cost { flops: 2.0 * l * l * d + 2.5 * h * l * l, bytes: s * 4.0 * l * d },
            "layer/attn/out" | "layer/mlp/down" => {
                let (i, o) = if name == "layer/attn/out" { (d, d) } else { (f, d) };
                linear(i, o) + residual
            }
            // gate and up projections, SiLU(gate) * up.
            "layer/mlp/up" => Cost { flops: 2.0 * linear(d, f).flops + 5.0 * l * f, bytes: s * (2.0 * d * f + l * d + l * f) },
            "head/logits" => linear(d, v),
            _ => Cost::default(),
        }
    }

    /// Logits `[L, vocab]` of tokens `[L]`, every component marked on `probe`.
    fn forward(&self, tokens: &Array, probe: &mut Probe) -> Result<Array> {
        let c = self.cfg;
        let l = tokens.shape()[0];
        let lf = l as f64;
        let (heads, hd) = (c.heads, c.head_dim());
        let to_heads = |t: &Array| -> Result<Array> { Ok(t.reshape(&[1, l, heads, hd])?.transpose_axes(&[0, 2, 1, 3])?) };
        let mut x = probe.mark_with_cost("embed/tokens", None, self.cost("embed/tokens", lf), || Ok(self.embed.take_axis(tokens, 0)?))?;
        for (i, p) in self.layers.iter().enumerate() {
            let b = Some(i as u32);
            let at = |name: &str| self.cost(name, lf);
            let y = probe.mark_with_cost("layer/attn/norm", b, at("layer/attn/norm"), || Ok(fast::rms_norm(&x, Some(&p.attn_norm), c.eps)?))?;
            let (q, k, v) = probe.mark_with_cost("layer/attn/qkv", b, at("layer/attn/qkv"), || {
                let qkv = y.matmul(p.wqkv.t())?.split_equal(3, -1)?;
                Ok((qkv[0].clone(), qkv[1].clone(), qkv[2].clone()))
            })?;
            let (q, k) = probe.mark_with_cost("layer/attn/rope", b, at("layer/attn/rope"), || {
                let rope = |t: &Array| -> Result<Array> { Ok(fast::rope(to_heads(t)?, hd, false, 10_000.0, 1.0, 0, None)?) };
                Ok((rope(&q)?, rope(&k)?))
            })?;
            let scale = 1.0 / (hd as f32).sqrt();
            let o = probe.mark_with_cost("layer/attn/sdpa", b, at("layer/attn/sdpa"), || {
                let o = fast::scaled_dot_product_attention(&q, &k, to_heads(&v)?, scale, ScaledDotProductAttentionMask::Causal, None)?;
                Ok(o.transpose_axes(&[0, 2, 1, 3])?.reshape(&[l, c.dim])?)
            })?;
            x = probe.mark_with_cost("layer/attn/out", b, at("layer/attn/out"), || Ok(x.add(o.matmul(p.wo.t())?)?))?;
            let y = probe.mark_with_cost("layer/mlp/norm", b, at("layer/mlp/norm"), || Ok(fast::rms_norm(&x, Some(&p.mlp_norm), c.eps)?))?;
            let h = probe.mark_with_cost("layer/mlp/up", b, at("layer/mlp/up"), || {
                let g = y.matmul(p.wgate.t())?;
                Ok(g.multiply(mlx_rs::ops::sigmoid(&g)?)?.multiply(y.matmul(p.wup.t())?)?)
            })?;
            x = probe.mark_with_cost("layer/mlp/down", b, at("layer/mlp/down"), || Ok(x.add(h.matmul(p.wdown.t())?)?))?;
        }
        let y = probe.mark_with_cost("head/norm", None, self.cost("head/norm", lf), || Ok(fast::rms_norm(&x, Some(&self.norm), c.eps)?))?;
        probe.mark_with_cost("head/logits", None, self.cost("head/logits", lf), || Ok(y.matmul(self.out.t())?))
    }
}

/// A command-line value that is wrong: exit code 2, like clap's own errors.
fn usage(message: String) -> anyhow::Error {
    anyhow::Error::new(mlx_record::UsageError(message))
}

fn run(opt: Opt) -> Result<std::path::PathBuf> {
    for (name, v) in [("layers", opt.layers), ("dim", opt.dim), ("heads", opt.heads), ("ffn", opt.ffn), ("vocab", opt.vocab), ("runs", opt.runs), ("copies", opt.copies)] {
        if v == 0 {
            return Err(usage(format!("--{name} must be at least 1")));
        }
    }
    if opt.dim % opt.heads != 0 || (opt.dim / opt.heads) % 2 != 0 {
        return Err(usage(format!("--dim {} must be a multiple of --heads {} with an even head size", opt.dim, opt.heads)));
    }
    if opt.seq.is_empty() || opt.seq.contains(&0) {
        return Err(usage("--seq must list positive sequence lengths".into()));
    }
    if opt.cpu {
        mlx_rs::Device::set_default(&mlx_rs::Device::cpu());
    } else if mlx_record::api::detect_backend().is_gpu() {
        mlx_rs::Device::set_default(&mlx_rs::Device::gpu());
    }
    let cfg = Config { layers: opt.layers, dim: opt.dim as i32, heads: opt.heads as i32, ffn: opt.ffn as i32, vocab: opt.vocab as i32, eps: 1e-5 };
    let mut meta = api::metadata("llama-example", opt.dtype);
    meta.model = ModelConfig {
        dim: opt.dim,
        heads: opt.heads,
        head_dim: opt.dim / opt.heads,
        blocks: opt.layers,
        preset_blocks: opt.layers,
        ffn_dim: opt.ffn,
        eps: cfg.eps as f64,
        ..ModelConfig::default()
    };
    meta.seed = opt.seed;
    meta.labels.insert("vocab".into(), opt.vocab.to_string());
    let mut rec = Recorder::create_with(&opt.out, meta, opt.force)?;
    if !opt.no_calibrate {
        rec.calibrate()?;
    }
    let model = Llama::new(cfg, opt.dtype, opt.seed)?;
    let schedule = Schedule { modes: opt.sync.clone(), runs: opt.runs, warmup: opt.warmup, copies: opt.copies, quiet: opt.quiet, ..Schedule::default() };
    for &l in &opt.seq {
        let tokens = random::randint::<_, i32>(0, cfg.vocab, &[l as i32], &random::key(opt.seed + l as u64)?)?;
        tokens.eval()?;
        rec.record(&Shape::new(l as u64), &schedule, |probe| model.forward(&tokens, probe))?;
        if rec.interrupted() {
            break;
        }
    }
    rec.finish()
}

fn main() -> ExitCode {
    mlx_record::api::ensure_fast_openblas();
    let opt = Opt::parse();
    let _ = ctrlc::set_handler(|| {
        if mlx_record::api::request_stop() {
            std::process::exit(130);
        }
        eprintln!("\nllama: interrupted, finishing the current run (interrupt again to stop now)");
    });
    match run(opt) {
        Ok(path) => {
            println!("{}", path.display());
            if mlx_record::api::stop_requested() { ExitCode::from(130) } else { ExitCode::SUCCESS }
        }
        Err(e) => {
            eprintln!("llama: error: {}", mlx_record::clean_mlx_message(&format!("{e:#}")));
            // Nothing was done: a wrong value, or an output in the way.
            let usage = e.is::<mlx_record::UsageError>()
                || e.chain().any(|c| matches!(c.downcast_ref::<trace_format::Error>(), Some(trace_format::Error::Exists { .. } | trace_format::Error::NotRegular { .. })));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
