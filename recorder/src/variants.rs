//! Variants: optimisations of the same forward, recorded side by side with the baseline.
//!
//! - `baseline`: the reference forward.
//! - `ffn-q8`, `ffn-q4`: FFN Linear layers through MLX's quantized matmul (affine, group 64).
//! - `camera-cache`: each block's camera scale/shift, which depend only on the camera input,
//!   computed once per clip outside the timed forward.
//! - `cross-kv-cache`: each block's text keys/values, likewise.
//! - `cached`: both caches together.
//! - `compiled`: elementwise chains (norm + modulate, RoPE, gated residuals) as compiled kernels;
//!   on CUDA, LayerNorm and q/k RMSNorm+RoPE as hand-written kernels (`model::cuda`).
//! - `compiled-cached`: `compiled` plus both caches.
//! - `uniform-time`: every token shares the timestep (plain sampling), so the time embedding and
//!   modulation are computed for one token and broadcast, and modulation folds into LayerNorm.
//! - `optimized`: everything above that keeps the output (within rounding): `compiled`, both
//!   caches and `uniform-time`.

use std::str::FromStr;
use std::time::Instant;

use anyhow::Result;
use mlx_rs::Array;

use crate::model::{ClipCache, ForwardOptions, Inputs, Model, QuantLinear};

/// Quantization group size of the `ffn-q*` variants.
pub(crate) const QUANT_GROUP: i32 = 64;

/// A named variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// The reference forward.
    Baseline,
    /// 8-bit FFN weights.
    FfnQ8,
    /// 4-bit FFN weights.
    FfnQ4,
    /// Camera scale/shift per clip.
    CameraCache,
    /// Text K/V per clip.
    CrossKvCache,
    /// Both caches.
    Cached,
    /// Elementwise chains compiled.
    Compiled,
    /// Compiled and both caches.
    CompiledCached,
    /// One timestep for all tokens.
    UniformTime,
    /// Compiled, both caches and uniform time.
    Optimized,
}

impl Variant {
    /// Every variant.
    pub(crate) const ALL: [Variant; 10] = [
        Variant::Baseline,
        Variant::FfnQ8,
        Variant::FfnQ4,
        Variant::CameraCache,
        Variant::CrossKvCache,
        Variant::Cached,
        Variant::Compiled,
        Variant::CompiledCached,
        Variant::UniformTime,
        Variant::Optimized,
    ];

    /// Name on the command line and in traces.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Variant::Baseline => "baseline",
            Variant::FfnQ8 => "ffn-q8",
            Variant::FfnQ4 => "ffn-q4",
            Variant::CameraCache => "camera-cache",
            Variant::CrossKvCache => "cross-kv-cache",
            Variant::Cached => "cached",
            Variant::Compiled => "compiled",
            Variant::CompiledCached => "compiled-cached",
            Variant::UniformTime => "uniform-time",
            Variant::Optimized => "optimized",
        }
    }

    fn quant_bits(self) -> Option<i32> {
        match self {
            Variant::FfnQ8 => Some(8),
            Variant::FfnQ4 => Some(4),
            _ => None,
        }
    }

    fn caches_camera(self) -> bool {
        matches!(self, Variant::CameraCache | Variant::Cached | Variant::CompiledCached | Variant::Optimized)
    }

    fn caches_cross_kv(self) -> bool {
        matches!(self, Variant::CrossKvCache | Variant::Cached | Variant::CompiledCached | Variant::Optimized)
    }

    /// Whether the variant runs compiled elementwise kernels.
    pub(crate) fn fuses(self) -> bool {
        matches!(self, Variant::Compiled | Variant::CompiledCached | Variant::Optimized)
    }

    /// Whether the variant computes the time embedding once for all tokens.
    pub(crate) fn uniform_time(self) -> bool {
        matches!(self, Variant::UniformTime | Variant::Optimized)
    }

    /// Whether the variant needs per-clip preparation that depends on the inputs.
    pub(crate) fn per_clip(self) -> bool {
        self.caches_camera() || self.caches_cross_kv()
    }
}

impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Variant::ALL.into_iter().find(|v| v.name() == s).ok_or_else(|| {
            let names: Vec<_> = Variant::ALL.iter().map(|v| v.name()).collect();
            format!("unknown variant `{s}` (choose from: {}, or `all`)", names.join(", "))
        })
    }
}

/// Parses `baseline,ffn-q8` or `all`; baseline is always included first (drift needs it).
pub(crate) fn parse_variants(s: &str) -> Result<Vec<Variant>, String> {
    let mut out = vec![Variant::Baseline];
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "all" {
            out = Variant::ALL.to_vec();
            continue;
        }
        let v: Variant = part.parse()?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

/// What a variant prepared: options for the forward and the one-off costs paid.
#[derive(Default)]
pub(crate) struct Prepared {
    /// Per-clip caches.
    pub(crate) cache: Option<ClipCache>,
    /// Quantized FFN layers.
    pub(crate) ffn_quant: Option<Vec<(QuantLinear, QuantLinear)>>,
    /// One-off costs: (name, ns, bytes kept alive).
    pub(crate) setups: Vec<(String, u64, u64)>,
    /// Compiled elementwise kernels.
    pub(crate) fuse: bool,
    /// One timestep for all tokens.
    pub(crate) uniform_time: bool,
}

impl Prepared {
    /// Options for [`Model::forward`].
    pub(crate) fn options(&self) -> ForwardOptions<'_> {
        ForwardOptions {
            cache: self.cache.as_ref(),
            ffn_quant: self.ffn_quant.as_deref(),
            fuse: self.fuse,
            uniform_time: self.uniform_time,
        }
    }
}

/// Quantizes the FFN of every block (once per recording, independent of the inputs).
pub(crate) fn quantize_ffn(model: &Model, bits: i32) -> Result<Vec<(QuantLinear, QuantLinear)>> {
    let w = &model.weights;
    (0..model.config.blocks)
        .map(|b| {
            let p = format!("blocks.{b}.ffn");
            Ok((
                QuantLinear::new(w.get(&format!("{p}.0.weight"))?, w.get(&format!("{p}.0.bias"))?, QUANT_GROUP, bits)?,
                QuantLinear::new(w.get(&format!("{p}.2.weight"))?, w.get(&format!("{p}.2.bias"))?, QUANT_GROUP, bits)?,
            ))
        })
        .collect()
}

/// Prepares `variant` for one clip (one set of inputs), recording each one-off cost.
pub(crate) fn prepare(model: &Model, variant: Variant, inputs: &Inputs) -> Result<Prepared> {
    let mut prepared = Prepared { fuse: variant.fuses(), uniform_time: variant.uniform_time(), ..Default::default() };
    if let Some(bits) = variant.quant_bits() {
        let t = Instant::now();
        let q = quantize_ffn(model, bits)?;
        let bytes = q.iter().map(|(a, b)| a.nbytes() + b.nbytes()).sum();
        prepared.setups.push(("setup/ffn_quantize".into(), t.elapsed().as_nanos() as u64, bytes));
        prepared.ffn_quant = Some(q);
    }
    if !variant.per_clip() {
        return Ok(prepared);
    }
    let mut cache = ClipCache::default();
    let (context, camera) = model.embed_conditions(inputs)?;
    mlx_rs::transforms::eval(std::iter::once(&context).chain(camera.as_ref()))?;
    if variant.caches_camera() {
        if let Some(c) = &camera {
            let t = Instant::now();
            let mut per_block = Vec::new();
            for b in 0..model.config.blocks {
                let (scale, shift) = model.camera_scale_shift(b, c)?;
                mlx_rs::transforms::eval([&scale, &shift])?;
                per_block.push((scale, shift));
            }
            let bytes = nbytes(per_block.iter().flat_map(|(a, b)| [a, b]));
            prepared.setups.push(("setup/camera_cache".into(), t.elapsed().as_nanos() as u64, bytes));
            cache.camera = Some(per_block);
        }
    }
    if variant.caches_cross_kv() {
        let t = Instant::now();
        let mut per_block = Vec::new();
        for b in 0..model.config.blocks {
            let (k, v) = model.cross_kv(b, &context)?;
            mlx_rs::transforms::eval([&k, &v])?;
            per_block.push((k, v));
        }
        let bytes = nbytes(per_block.iter().flat_map(|(a, b)| [a, b]));
        prepared.setups.push(("setup/cross_kv_cache".into(), t.elapsed().as_nanos() as u64, bytes));
        cache.cross_kv = Some(per_block);
    }
    prepared.cache = Some(cache);
    Ok(prepared)
}

fn nbytes<'a>(arrays: impl Iterator<Item = &'a Array>) -> u64 {
    arrays.map(|a| a.nbytes() as u64).sum()
}

/// Extra memory per block a variant keeps, for the memory estimate.
pub(crate) fn extra_bytes_per_block(variant: Variant, dim: u64, ffn: u64, tokens: u64, text_len: u64, dtype_size: u64) -> u64 {
    let mut bytes = 0;
    if let Some(bits) = variant.quant_bits() {
        // Packed weights plus a scale and a bias per group of 64.
        let w = 2 * dim * ffn;
        bytes += w * bits as u64 / 8 + 2 * (w / QUANT_GROUP as u64) * dtype_size;
    }
    if variant.caches_camera() {
        bytes += 2 * tokens * dim * dtype_size;
    }
    if variant.caches_cross_kv() {
        bytes += 2 * text_len * dim * dtype_size;
    }
    bytes
}

/// Output difference against the baseline: (max |x-r| / max |r|, mean |x-r| / mean |r|), in f32.
pub(crate) fn drift(output: &Array, reference: &Array) -> Result<(f64, f64)> {
    let x = output.as_dtype(mlx_rs::Dtype::Float32)?;
    let r = reference.as_dtype(mlx_rs::Dtype::Float32)?;
    let diff = x.subtract(&r)?.abs()?;
    let r_abs = r.abs()?;
    let vals = [diff.max(None)?, r_abs.max(None)?, diff.mean(None)?, r_abs.mean(None)?];
    mlx_rs::transforms::eval(vals.iter())?;
    let v: Vec<f64> = vals.iter().map(|a| a.item_exact::<f32>() as f64).collect();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { a };
    Ok((ratio(v[0], v[1]), ratio(v[2], v[3])))
}
